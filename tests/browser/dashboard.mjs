// Drives the dashboard of a running warden host in Debian's headless
// Chromium (through playwright-core, no browser download):
//
//   node tests/browser/dashboard.mjs [--token=TOKEN] [--reload-fails] [--role=ROLE] [--asleep=PATH] URL SCREENSHOT.png [CHILD_PATH]
//
// With --asleep=PATH (a child with `hibernate_after_ms`): once the rows are
// there, PATH's memory cell must say `hibernated` (`asleep_memory`).
// With --role (and --token, a token of that role): once the row is there,
// the page must show the token's role (`#whoami[data-role=ROLE]`); the
// report lists the row's action buttons (`actions`) and whether the send
// box shows (`send_visible`), and the run ends there.
// With --token, the host is expected to want that token: the page must ask
// for it (401 → the token form), refuse a wrong one, then work with it.
// With --reload-fails, the child's file is expected not to load: Reload must
// show the error body's message beside the button (that one 422 expected).
// Loads URL, waits for CHILD_PATH's row (default root/counter) and the live
// event stream, then:
//   1. clicks Restart and waits for the row's generation to go up (an admin
//      restart is terminate + start: a new incarnation, not a restart the
//      supervisor decided, so `restarts` does not move);
//   2. clicks Kill and waits for the row's `restarts` count to go up (the
//      supervisor restarts the killed child and counts it), in the table and
//      in the tree, with `child_restarted` in the event log;
//   3. the row's charts: the restart chart has a bar above zero for that
//      restart, the memory chart a line through at least two samples, both
//      labelled with their current value;
//   4. picks the child in the tree for the send box, sends `get` and `inc`
//      with Enter (the reply to `inc` is one more than to `get`), and an
//      unknown command, whose error (the API's 422 message) is shown inline;
//   4b. clicks the row's Logs button, sends `log from the dashboard`, and
//      waits for that line in the log pane (followed over SSE);
//   4c. (when the role may trace) clicks the row's Trace button, sends
//      `get`, and waits for its record in the trace pane (a `traced` event);
//   5. clicks Reload and waits for its result beside the button, and the
//      child in the reload history (when a new version was swapped in: that
//      version marked current there and shown in the row);
//   5b. (without --token or --reload-fails) starts a reload rollout of the
//      child over the API and waits for its steps in the event log
//      (rollout_started, batch_started, batch_done, rollout_done);
//   6. with --token: enters a wrong token, and a message sent then shows the
//      API's refusal (`wrong bearer token`) inline;
// all without the page reloading. Any console error, uncaught exception or
// failed request fails the run. Saves a full-page screenshot to SCREENSHOT
// (also on failure) and prints one JSON line with what it saw.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.WARDEN_CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 30_000;

const args = process.argv.slice(2);
const tokenArg = args.find((a) => a.startsWith("--token="));
const token = tokenArg ? tokenArg.slice("--token=".length) : null;
const reloadFails = args.includes("--reload-fails");
const roleArg = args.find((a) => a.startsWith("--role="));
const role = roleArg ? roleArg.slice("--role=".length) : null;
const asleepArg = args.find((a) => a.startsWith("--asleep="));
const asleep = asleepArg ? asleepArg.slice("--asleep=".length) : null;
const [url, screenshot, childPath = "root/counter"] = args.filter((a) => !a.startsWith("--"));
if (!url || !screenshot || token === "" || (role !== null && token === null)) {
  console.error("usage: node dashboard.mjs [--token=TOKEN] [--reload-fails] [--role=ROLE] URL SCREENSHOT.png [CHILD_PATH]");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "warden-chromium-"));
const problems = [];
const seen = {};
let context;
let page;
let closing = false;
// While the page has no (right) token, its 401s are expected.
let unauthorized = token !== null;
// While the failing reload runs, its 422 is expected.
let reloading = false;
// While a message the child refuses is sent, its 422 is expected.
let refusedSend = false;

function step(name) {
  seen.step = name;
  console.error(`dashboard: ${name}`);
}

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 960 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_MS);

  page.on("console", (msg) => {
    if (msg.type() === "error") {
      if (unauthorized && msg.text().includes("status of 401")) return;
      if (reloading && reloadFails && msg.text().includes("status of 422")) return;
      if (refusedSend && msg.text().includes("status of 422")) return;
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on("pageerror", (err) => problems.push(`uncaught exception: ${err.message}`));
  page.on("requestfailed", (req) => {
    // The event and log streams are cut when the browser closes, and
    // dropped by the page itself when the host refuses its token; anything
    // else counts.
    const path = new URL(req.url()).pathname;
    if ((closing || unauthorized) && (path === "/events" || path.startsWith("/logs/"))) return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on("response", (res) => {
    if (res.status() === 401 && unauthorized) return;
    if (res.status() === 422 && reloading && reloadFails && res.url().endsWith("/ops/child.reload")) return;
    if (res.status() === 422 && refusedSend && res.url().endsWith("/ops/child.send")) return;
    if (res.status() >= 400) {
      problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
    }
  });
  let loads = 0;
  page.on("load", () => {
    loads += 1;
  });

  step(`open ${url}`);
  await page.goto(url, { waitUntil: "load" });
  if (token !== null) {
    step("the page asks for a token, refuses a wrong one, takes the right one");
    await page.waitForSelector('#connection[data-state="auth"]');
    await page.waitForSelector("#auth:not([hidden])");
    await page.fill("#token", `${token}-wrong`);
    await page.click('#auth button[type="submit"]');
    await page.waitForFunction(() => document.querySelector("#auth-hint").textContent.includes("refused"));
    await page.waitForSelector("#auth:not([hidden])");
    await page.fill("#token", token);
    await page.click('#auth button[type="submit"]');
    await page.waitForSelector('#connection[data-state="live"]');
    unauthorized = false;
    const stored = await page.evaluate(() => sessionStorage.getItem("warden.token"));
    if (stored !== token) {
      problems.push(`the token is not kept in sessionStorage (${stored})`);
    }
    seen.token_accepted = true;
  }
  const row = page.locator(`tr[data-path="${childPath}"]`);
  const field = (name) => row.locator(`[data-field="${name}"]`);
  const number = async (name) => Number((await field(name).textContent()).trim());

  step(`wait for the row of ${childPath}`);
  await row.waitFor();
  await page.waitForSelector('#connection[data-state="live"]');
  await page.waitForFunction(
    (path) => document.querySelector(`tr[data-path="${path}"] [data-field="status"]`)?.textContent.includes("running"),
    childPath,
  );
  if (role !== null) {
    step(`as a ${role} token: its role shown, only the buttons it may use`);
    await page.waitForSelector(`#whoami[data-role="${role}"]`);
    seen.whoami = (await page.locator("#whoami").textContent()).trim();
    await page.waitForSelector(`tr[data-path="${childPath}"] button[data-action], #whoami[data-role="read"]`);
    seen.actions = await row.locator("button[data-action]").evaluateAll((bs) => bs.map((b) => b.dataset.action));
    seen.send_visible = await page.locator("#send-panel").isVisible();
    await page.screenshot({ path: screenshot, fullPage: true });
    return;
  }
  if (asleep !== null) {
    step(`a hibernating child: the memory of ${asleep} says so`);
    await page.waitForFunction(
      (path) => document.querySelector(`tr[data-path="${path}"] [data-field="memory"]`)?.textContent.trim() === "hibernated",
      asleep,
    );
    const memory = page.locator(`tr[data-path="${asleep}"] [data-field="memory"]`);
    seen.asleep_memory = (await memory.textContent()).trim();
    seen.asleep_memory_title = await memory.getAttribute("title");
  }
  // Survives only if the page is never reloaded.
  await page.evaluate(() => {
    window.__wardenMarker = "same page";
  });
  seen.generation_before = await number("generation");
  seen.restarts_before = await number("restarts");

  step("restart: the generation goes up");
  await row.locator('button[data-action="restart"]').click();
  await page.waitForFunction(
    ([path, before]) => {
      const r = document.querySelector(`tr[data-path="${path}"]`);
      return r && Number(r.querySelector('[data-field="generation"]').textContent) > before
        && r.querySelector('output[data-field="result"]').dataset.state === "ok";
    },
    [childPath, seen.generation_before],
  );
  seen.generation_after_restart = await number("generation");
  seen.restart_result = (await field("result").textContent()).trim();

  step("kill: the supervisor restarts it, and the restarts count goes up");
  const restartsBefore = await number("restarts");
  await row.locator('button[data-action="kill"]').click();
  await page.waitForFunction(
    ([path, before]) => {
      const r = document.querySelector(`tr[data-path="${path}"]`);
      return r && Number(r.querySelector('[data-field="restarts"]').textContent) > before;
    },
    [childPath, restartsBefore],
  );
  seen.restarts_after = await number("restarts");
  seen.kill_result = (await field("result").textContent()).trim();
  // The tree shows the same count, and the log the event behind it.
  await page.waitForFunction(
    ([path, after]) => {
      const node = document.querySelector(`#tree li[data-path="${path}"] [data-field="restarts"]`);
      return node && node.textContent.startsWith(`${after} restart`);
    },
    [childPath, seen.restarts_after],
  );
  await page.waitForSelector(`#events-body tr[data-event="child_restarted"][data-child="${childPath}"]`);
  await page.waitForFunction(
    (path) => document.querySelector(`tr[data-path="${path}"] [data-field="status"]`)?.textContent.includes("running"),
    childPath,
  );

  step("charts: a restart bar above zero, a memory line through two samples or more");
  const restartBar = row.locator('svg[data-chart="restarts"] rect[data-count]');
  await page.waitForFunction(
    (path) => [...document.querySelectorAll(`tr[data-path="${path}"] svg[data-chart="restarts"] rect[data-count]`)]
      .some((r) => Number(r.dataset.count) > 0 && Number(r.getAttribute("height")) > 0),
    childPath,
  );
  seen.restart_bars = await restartBar.count();
  seen.restart_chart_label = await row.locator('svg[data-chart="restarts"]').getAttribute("aria-label");
  // The bar stands on the baseline and rises from it: above zero, drawn.
  const bar = await restartBar.first().evaluate((r) => ({ y: Number(r.getAttribute("y")), h: Number(r.getAttribute("height")) }));
  const chartHeight = await row.locator('svg[data-chart="restarts"]').evaluate((svg) => svg.viewBox.baseVal.height);
  if (!(bar.h > 0 && bar.y + bar.h <= chartHeight && bar.y < chartHeight - 1)) {
    problems.push(`the restart bar is not drawn above the baseline: ${JSON.stringify(bar)} in ${chartHeight}`);
  }
  await page.waitForFunction(
    (path) => {
      const svg = document.querySelector(`tr[data-path="${path}"] svg[data-chart="memory"]`);
      const line = svg && svg.querySelector("polyline");
      return svg && Number(svg.dataset.points) >= 2 && line && line.getAttribute("points").trim().split(/\s+/).length >= 2;
    },
    childPath,
  );
  seen.memory_points = Number(await row.locator('svg[data-chart="memory"]').getAttribute("data-points"));
  seen.memory_chart_label = await row.locator('svg[data-chart="memory"]').getAttribute("aria-label");
  seen.memory_chart_title = await row.locator('svg[data-chart="memory"] > title').textContent();

  step("send: pick the child in the tree, Enter sends, the reply or the error is shown");
  await page.locator(`#tree button[data-send="${childPath}"]`).click();
  const chosen = await page.locator("#send-child").inputValue();
  if (chosen !== childPath) {
    problems.push(`picking ${childPath} in the tree chose ${chosen}`);
  }
  if (!(await page.evaluate(() => document.activeElement && document.activeElement.id === "send-message"))) {
    problems.push("picking a child in the tree does not put the cursor in the message field");
  }
  seen.send_get = await send("get", "ok");
  seen.send_inc = await send("inc", "ok");
  refusedSend = true;
  seen.send_error = await send("no-such-command", "error");
  refusedSend = false;
  seen.send_log = await page.locator("#send-log li").count();

  step("logs: the row's Logs button follows the child's log; a line it logs then shows");
  await row.locator('button[data-action="logs"]').click();
  await page.waitForSelector('#logs-status[data-state="following"]');
  seen.log_send = await send("log from the dashboard", "ok");
  await page.waitForSelector('#logs-lines li[data-source="info"] .text:text-is("from the dashboard")');
  seen.log_line = (await page.locator("#logs-lines li").last().textContent()).trim();

  if (await row.locator('button[data-action="trace"]').count()) {
    step("trace: the row's Trace button starts a trace; a message sent then shows in the trace pane");
    await row.locator('button[data-action="trace"]').click();
    await page.waitForSelector('#trace-status[data-state="running"]');
    seen.trace_send = await send("get", "ok");
    await page.waitForSelector('#trace-records li[data-seq="1"][data-outcome="reply"]');
    seen.trace_record = (await page.locator('#trace-records li[data-seq="1"]').textContent()).trim();
  }

  if (await row.locator('button[data-action="reload"]').count()) {
    step("reload: the result is shown beside the button");
    reloading = true;
    await row.locator('button[data-action="reload"]').click();
    await page.waitForFunction(
      ([path, fails]) => {
        const out = document.querySelector(`tr[data-path="${path}"] output[data-field="result"]`);
        return out && (fails
          ? out.dataset.state === "error"
          : out.dataset.state === "ok" && /^(unchanged|reloaded)/.test(out.textContent));
      },
      [childPath, reloadFails],
    );
    reloading = false;
    seen.reload_result = (await field("result").textContent()).trim();
    const reloaded = /^reloaded to version (\d+)/.exec(seen.reload_result);
    if (reloaded) {
      // The history marks the new version current, and the row shows it.
      await page.waitForSelector(
        `#versions .version-block[data-path="${childPath}"] tr.current[data-version="${reloaded[1]}"]`,
      );
      await page.waitForFunction(
        ([path, v]) => document.querySelector(`tr[data-path="${path}"] [data-field="version"]`)?.textContent.startsWith(`v${v} `),
        [childPath, reloaded[1]],
      );
    } else {
      await page.waitForSelector(`#versions .version-block[data-path="${childPath}"] tr[data-version]`);
    }
    seen.version_shown = (await field("version").textContent()).trim();
  }

  if (token === null && !reloadFails) {
    step("a rollout: its steps show in the event log as they happen");
    // A reload rollout of the child, which runs its file's code already:
    // the member is unchanged, the rollout done, the state kept.
    const started = await page.evaluate(async ([base, path]) => {
      const res = await fetch(`${base}/ops/rollout.start`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ paths: [path], action: "reload", settle_ms: 0 }),
      });
      return res.json();
    }, [url.replace(/\/$/, ""), childPath]);
    if (!started.id) throw new Error(`rollout.start: ${JSON.stringify(started)}`);
    const rolloutRow = (name) => `#events-body tr[data-event="${name}"]`;
    for (const name of ["rollout_started", "batch_started", "batch_done", "rollout_done"]) {
      await page.waitForSelector(rolloutRow(name));
    }
    seen.rollout_batch = (await page.locator(`${rolloutRow("batch_started")} td.details`).first().textContent()).trim();
    seen.rollout_done = (await page.locator(`${rolloutRow("rollout_done")} td.details`).first().textContent()).trim();
    seen.rollout_id = started.id;
  }

  if (token !== null) {
    step("a wrong token: a message sent shows the API's refusal");
    unauthorized = true;
    await page.click("#token-toggle");
    await page.waitForSelector("#auth:not([hidden])");
    await page.fill("#token", `${token}-wrong`);
    await page.click('#auth button[type="submit"]');
    await page.waitForSelector('#connection[data-state="auth"]');
    seen.send_unauthorized = await send("get", "error");
  }

  step("the page was never reloaded");
  const marker = await page.evaluate(() => window.__wardenMarker);
  if (marker !== "same page" || loads !== 1) {
    problems.push(`the page reloaded (loads: ${loads}, marker: ${marker})`);
  }
  seen.tree_children = await page.locator("#tree li[data-path]").count();
  seen.events_shown = await page.locator("#events-body tr[data-event]").count();

  // Let the change highlights fade before the picture.
  await page.waitForTimeout(1800);
  await page.mouse.move(0, 0);
  step(`screenshot to ${screenshot}`);
  await page.screenshot({ path: screenshot, fullPage: true });
}

// Types `message` in the send box, presses Enter, and waits for the
// answer in state `expect` ("ok" or "error"); returns its text.
async function send(message, expect) {
  const sent = await page.locator("#send-log li").count();
  await page.fill("#send-message", message);
  await page.press("#send-message", "Enter");
  await page.waitForFunction(
    (n) => {
      const result = document.querySelector("#send-result");
      return document.querySelectorAll("#send-log li").length > n
        && result.dataset.state !== "pending"
        && document.querySelector("#send-log li").dataset.state !== "pending";
    },
    sent,
  );
  const state = await page.locator("#send-result").getAttribute("data-state");
  const field = state === "ok" ? "reply" : "error";
  const text = (await page.locator(`#send-result [data-field="${field}"]`).textContent()).trim();
  if (state !== expect) {
    throw new Error(`sending ${JSON.stringify(message)}: ${state} (${text}), expected ${expect}`);
  }
  return text;
}

let failure = null;
try {
  await main();
} catch (err) {
  failure = err;
  if (page) {
    try {
      await page.screenshot({ path: screenshot, fullPage: true });
    } catch {
      // The failure itself is what matters.
    }
  }
} finally {
  closing = true;
  if (context) {
    await context.close().catch(() => {});
  }
  rmSync(profile, { recursive: true, force: true });
}

if (failure) {
  console.error(`dashboard: failed at "${seen.step}": ${failure.message}`);
}
for (const p of problems) {
  console.error(`dashboard: ${p}`);
}
console.log(JSON.stringify({ ok: !failure && problems.length === 0, problems, ...seen }));
process.exit(failure || problems.length ? 1 : 0);
