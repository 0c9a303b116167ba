// Drives the dashboard's health and rollouts panes in Debian's headless
// Chromium (through playwright-core):
//
//   node tests/browser/health.mjs URL SCREENSHOT.png FAIL_FILE
//
// The host is expected to run a `rest_for_one` root with two children,
// `root/steady` and `root/flaky`, the latter failing in a loop once
// FAIL_FILE exists, and its health monitor ticking fast. Loads URL, then:
//   1. waits for the `root` supervisor's row in the health pane (a score,
//      level healthy) and the `small_rest_for_one` recommendation, its
//      message naming the number of children;
//   2. creates FAIL_FILE and waits for `root/flaky`'s row to arrive live
//      with a level worse than healthy (a `health_changed` over SSE) and
//      its reasons;
//   3. starts a restart rollout of `root/steady` over the API and waits for
//      it in the rollouts pane as `succeeded`;
// all without the page reloading. Any console error, uncaught exception or
// failed request fails the run. Saves a full-page screenshot to SCREENSHOT
// (also on failure) and prints one JSON line with what it saw.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.WARDEN_CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 30_000;

const [url, screenshot, failFile] = process.argv.slice(2);
if (!url || !screenshot || !failFile) {
  console.error("usage: node health.mjs URL SCREENSHOT.png FAIL_FILE");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "warden-chromium-"));
const problems = [];
const seen = {};
let context;
let page;
let closing = false;

function step(name) {
  seen.step = name;
  console.error(`health: ${name}`);
}

const text = (selector) => page.$eval(selector, (n) => n.textContent.trim());

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 960 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_MS);
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`uncaught exception: ${err.message}`));
  page.on("requestfailed", (req) => {
    const path = new URL(req.url()).pathname;
    if (closing && (path === "/events" || path.startsWith("/logs/"))) return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
  let loads = 0;
  page.on("load", () => {
    loads += 1;
  });

  step(`open ${url}`);
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector('#connection[data-state="live"]');

  step("the root supervisor's health and its recommendation");
  const root = '#health-body tr[data-path="root"][data-subject="supervisor"]';
  await page.waitForSelector(`${root} [data-field="score"]`);
  await page.waitForFunction((sel) => /^\d+$/.test(document.querySelector(sel).textContent), `${root} [data-field="score"]`);
  seen.root_score = Number(await text(`${root} [data-field="score"]`));
  seen.root_level = await page.$eval(`${root} [data-level]`, (n) => n.dataset.level);
  const rec = '#recommendations li[data-code="small_rest_for_one"][data-supervisor="root"]';
  await page.waitForSelector(rec);
  seen.recommendation = await text(`${rec} [data-field="message"]`);
  seen.flaky_row_before = (await page.$('#health-body tr[data-path="root/flaky"]')) !== null;

  step("root/flaky starts failing; its level changes live");
  writeFileSync(failFile, "");
  const flaky = '#health-body tr[data-path="root/flaky"]';
  await page.waitForSelector(`${flaky} [data-level]:not([data-level="healthy"])`);
  seen.flaky_subject = await page.$eval(flaky, (n) => n.dataset.subject);
  seen.flaky_level = await page.$eval(`${flaky} [data-level]`, (n) => n.dataset.level);
  seen.flaky_score = Number(await text(`${flaky} [data-field="score"]`));
  seen.flaky_reasons = await text(`${flaky} [data-field="reasons"]`);

  step("a rollout shows in the rollouts pane");
  const started = await page.evaluate(async () => {
    const response = await fetch("/ops/rollout.start", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ paths: ["root/steady"], action: "restart", settle_ms: 200 }),
    });
    return response.json();
  });
  seen.rollout_id = started.id;
  const row = `#rollouts-body tr[data-rollout="${started.id}"]`;
  await page.waitForSelector(`${row} [data-field="state"][data-state="succeeded"]`);
  seen.rollout_batches = await text(`${row} [data-field="batches"]`);
  seen.rollout_members = await text(`${row} [data-field="members"]`);
  seen.page_loads = loads;
  await page.screenshot({ path: screenshot, fullPage: true });
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
  console.error(`health: failed at "${seen.step}": ${failure.message}`);
}
for (const p of problems) {
  console.error(`health: ${p}`);
}
console.log(JSON.stringify({ ok: !failure && problems.length === 0, problems, ...seen }));
process.exit(failure || problems.length ? 1 : 0);
