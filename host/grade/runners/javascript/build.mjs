// Builds Warden's JavaScript runner: node build.mjs COMPONENTIZE_JS DIR
// (DIR holds runner.js and runner.wit; runner.wasm is written there).
// Run by the grader on its own glue only, never on a student's file.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [componentizeJs, dir] = process.argv.slice(2);
const { componentize } = await import(pathToFileURL(componentizeJs).href);
const { component } = await componentize({
  sourcePath: join(dir, "runner.js"),
  witPath: join(dir, "runner.wit"),
  worldName: "runner",
  // No fetch or http: a solution gets nothing the sandbox does not grant.
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(join(dir, "runner.wasm"), component);
