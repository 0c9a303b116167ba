// Warden's JavaScript runner: the glue componentize-js builds once per
// machine. The student's module arrives as an argument of each call and is
// evaluated here, inside the sandbox; the host maps the exercise's WIT
// types to and from the JSON text exchanged here.

// Longest stack handed back; the host truncates reports again.
const STACK_CHARS = 4000;

function failure(tag, val) {
  // componentize-js turns a thrown object's `payload` into `err(payload)`.
  const error = new Error(tag);
  error.payload = { tag, val };
  return error;
}

function raised(error, name) {
  let message;
  let stack = "";
  if (error instanceof Error) {
    message = error.message || error.name;
    stack = `${error.name}: ${error.message}\n` +
      String(error.stack || "")
        .split("\n")
        .filter((line) => line.includes(name))
        .map((line) => `    at ${fileLines(line, name)}`)
        .join("\n");
  } else {
    message = String(error);
  }
  if (stack.length > STACK_CHARS) {
    stack = stack.slice(0, STACK_CHARS) + "…";
  }
  return failure("raised", { message, traceback: stack });
}

// `export function f`, `export const f`, `export default function f`,
// `export { a, b }`: a plain script whose top-level names the wrapper
// hands back. Only statement-leading `export`s are touched.
function asScript(source) {
  return source
    .replace(/^([ \t]*)export[ \t]+default[ \t]+(?=(async[ \t]+)?function|class)/gm, "$1")
    .replace(/^([ \t]*)export[ \t]+(?=(async[ \t]+)?function|class|const|let|var)/gm, "$1")
    .replace(/^[ \t]*export[ \t]*\{[^}]*\}[ \t]*;?/gm, "");
}

// SpiderMonkey counts the lines of `new Function`'s body from its third
// line (the header takes two); the body's first line is "use strict".
const HEADER_LINES = 3;

// `leap.js:6:11` in a stack, as the line of the student's file.
function fileLines(text, name) {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`${escaped}:(\\d+)`, "g"), (_, line) =>
    `${name}:${Number(line) - HEADER_LINES}`);
}

function load(name, source, functions) {
  const body = `"use strict";\n${asScript(source)}\n;return {${functions
    .map((f) => `${JSON.stringify(f)}: typeof ${f} === "function" ? ${f} : undefined`)
    .join(", ")}};\n//# sourceURL=${name}`;
  let make;
  try {
    make = new Function(body);
  } catch (error) {
    if (error instanceof SyntaxError) {
      const line = typeof error.lineNumber === "number"
        ? error.lineNumber - HEADER_LINES
        : "?";
      throw failure("syntax", `${name}, line ${line}: SyntaxError: ${error.message}`);
    }
    throw raised(error, name);
  }
  try {
    return make();
  } catch (error) {
    throw raised(error, name);
  }
}

function plain(value) {
  if (typeof value === "bigint") {
    // JSON has no BigInt: the digits, marked, unquoted below.
    return { "\u0000bigint": value.toString() };
  }
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  }
  if (value instanceof Set) {
    return [...value].map(plain);
  }
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  if (typeof value === "number" && !Number.isFinite(value)) {
    return null;
  }
  return value === undefined ? null : value;
}

function toJson(value) {
  return JSON.stringify(plain(value)).replace(/\{"\\u0000bigint":"(-?\d+)"\}/g, "$1");
}

export function load_(name, source, functions) {
  const found = load(name, source, functions);
  const missing = functions.filter((f) => found[f] === undefined);
  if (missing.length > 0) {
    throw failure("missing", missing);
  }
}

export { load_ as load };

export function call(name, source, fn, args) {
  const found = load(name, source, [fn]);
  if (found[fn] === undefined) {
    throw failure("missing", [fn]);
  }
  let result;
  try {
    result = found[fn](...JSON.parse(args));
  } catch (error) {
    throw raised(error, name);
  }
  return toJson(result === undefined ? null : result);
}
