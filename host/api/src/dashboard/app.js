// Warden's dashboard: the supervision tree, its children, the event log and
// reload history of a running host, live.
//
// Everything comes from the host's public API, the same one `warden ctl`
// uses: `POST /ops/tree` (re-fetched after every event, and every few seconds
// for memory and CPU), `POST /ops/child.versions`, `POST /ops/events.recent`,
// and the Server-Sent Events of `GET /events` (and of `GET /logs/PATH` for
// the log pane), read with fetch() and a
// ReadableStream so the request can carry the Authorization header
// (EventSource cannot). Buttons call `child.restart`, `child.kill` and
// `child.reload` and show the result, or the error body's message, beside
// themselves; the "Send a message" box calls `child.send` and shows the
// reply or the error the same way.
//
// Roles: before anything else the page asks who it is (`GET /whoami`: the
// token's name and role) and what each operation needs (`x-warden-role` in
// `GET /openapi.json`), shows the name and role in the top bar
// (`#whoami[data-role]`), and leaves out every button, and the send box,
// its role may not use: a `read` token sees no Restart, Kill, Reload or
// Send at all. An operation the document does not list counts as `admin`
// (fail closed). The host still checks every call (403 otherwise).
//
// The small charts beside the memory and restart counts are the page's own:
// each tree it fetches adds a sample per child to a ring of the last five
// minutes kept in this tab (the host keeps no history), drawn as inline SVG.
// So they start empty when the page opens and cover what it has seen since.
//
// Markup hooks (kept stable for tests and scripts): children rows are
// `tr[data-path="root/counter"]`, their values `[data-field="status"]`,
// `[data-field="generation"]`, `[data-field="restarts"]`, …; their charts
// `svg[data-chart="memory"|"restarts"]` (memory: `data-points` samples;
// restarts: one `rect[data-count]` per interval with a restart); buttons are
// `button[data-action="restart"|"kill"|"reload"]`, results
// `output[data-field="result"]`; only the buttons the role may use exist.
// The send box is `form#send` in `#send-panel` (hidden without the role) (`#send-child`,
// `#send-message`); its answer `#send-result[data-state="ok"|"error"]` with
// `[data-field="reply"]` or `[data-field="error"]` inside, and tree nodes of
// component children have `button[data-send="PATH"]` to pick them.
//
// The log pane (`#logs-panel`) follows one child's log: `#logs-child`
// picks a worker or component (or a row's `button[data-action="logs"]`
// does), then `GET /logs/PATH?follow=1` streams its last lines and each
// new one into `#logs-lines` as `li[data-source="stdout"|"stderr"|LEVEL]`
// with `.text` inside (at most LOG_ROWS kept); a host that dropped lines
// for this slow reader adds `li.lagged`. `#logs-status[data-state]` says
// `following`, `error` or `ended`.
//
// The trace pane (`#trace-panel`): a component row's
// `button[data-action="trace"]` (admin: `trace.start`) starts a 10 s trace
// of that child; the `traced` events of `GET /events` carrying its id fill
// `#trace-records` as `li[data-seq][data-outcome="reply"|"error"|"trap"]`
// (at most TRACE_ROWS), and `trace_ended` sets `#trace-status[data-state]`
// from `running` to `ended`. `traced` events stay out of the event table
// (they are the trace's, one per message).
//
// The health pane (`#health-panel`): `POST /ops/health` (after the tree,
// and on every `health_changed` event) gives each supervisor's score,
// reasons and recommendations; the level of each supervisor and worker is
// a supervisor's is the report's (its score by the `[health]` thresholds),
// a worker's the one the health monitor last published (`health_changed`,
// from `events.recent` when the page opens and live over SSE after),
// healthy until it says otherwise, as the monitor itself assumes. Rows are
// `#health-body tr[data-path][data-subject]` with `[data-field="level"]`
// (`data-level`), `[data-field="score"]` and `[data-field="reasons"]`;
// recommendations `#recommendations li[data-code][data-supervisor]`.
// The rollouts pane: `POST /ops/rollout.list`, fetched again on every
// `rollout_*` event, as `#rollouts-body tr[data-rollout="r1"]` with
// `[data-field="state"]` (`data-state`), `batches`, `members`, `reason`.
//
// Text from the host is only ever set with textContent, never as markup.

const TOKEN_KEY = "warden.token";
const EVENT_ROWS = 300;
// Also the memory charts' sampling period (each tree fetched is a sample).
const POLL_MS = 2000;
const REFRESH_DEBOUNCE_MS = 120;
const RELOAD_EVENTS = new Set(["reload_started", "reloaded", "reload_failed", "rolled_back"]);
// The charts: how far back they reach, the shortest span they stretch over
// (so the first seconds are not drawn across the whole width), samples
// closer than this merged into one (a restart storm refetches the tree many
// times a second), and bars per restart chart.
const HISTORY_MS = 5 * 60 * 1000;
const MIN_SPAN_MS = 60 * 1000;
const SAMPLE_GAP_MS = 1000;
const RESTART_BARS = 30;
const SEND_LOG_ROWS = 20;
// Lines the log pane keeps, and asks for when it starts following.
const LOG_ROWS = 500;
const LOG_BACKLOG = 200;
const TRACE_ROWS = 500;
const TRACE_MS = 10000;
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_W = 88;
const CHART_H = 22;
const CHART_PAD = 2;

const $ = (id) => document.getElementById(id);

// `read < operate < admin`, as the host orders them.
const ROLE_RANK = { read: 0, operate: 1, admin: 2 };

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  needToken: false,
  // `{name, role}` from `GET /whoami`; null until known (no buttons then).
  me: null,
  // operation -> the role it needs, from the OpenAPI document.
  opRoles: new Map(),
  // path -> child node from `tree`
  children: new Map(),
  // path -> Versions from `child.versions`
  versions: new Map(),
  // signature -> event with its arrival order; the log's events.recent
  // numbers (`seq`) and the stream's SSE ids (per subscription) are not
  // the same sequence, so events met twice are recognised by content.
  events: new Map(),
  arrivals: 0,
  streamAbort: null,
  streamGeneration: 0,
  refreshTimer: null,
  refreshing: null,
  refreshAgain: false,
  pollTimer: null,
  // path -> samples `{ t, memory, restarts, restarted }`, oldest first,
  // none older than HISTORY_MS; `restarted` is how many restarts happened
  // since the sample before.
  history: new Map(),
  // When the first sample was taken: the charts cover no more than that.
  historyStart: null,
  // The component children the send box offers, as `path status` lines.
  sendTargets: "",
  sends: 0,
  // The log pane: the children it offers (as `path` lines), the one it
  // follows, and its stream's abort and generation.
  logTargets: "",
  logPath: "",
  logAbort: null,
  logGeneration: 0,
  // The trace the trace pane shows (its id), if any.
  traceId: "",
  // path -> the health monitor's last word on it: `{ subject, level,
  // score, reasons, at_ms }` from its newest `health_changed` event.
  levels: new Map(),
  // The `health` op's reports, one per supervisor.
  healthReports: [],
  healthTimer: null,
  rolloutTimer: null,
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    const message = body && body.error && body.error.message
      ? body.error.message
      : `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body;
  }
}

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function call(op, params = {}) {
  let response;
  try {
    response = await fetch(`/ops/${op}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
      body: JSON.stringify(params),
      cache: "no-store",
    });
  } catch (err) {
    setConnection("offline", "host unreachable");
    throw new ApiError(0, { error: { message: `cannot reach the host: ${err.message}` } });
  }
  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: { message: text } };
    }
  }
  if (response.status === 401) {
    askForToken(body);
  }
  if (!response.ok) {
    throw new ApiError(response.status, body);
  }
  return body;
}

// A GET route's JSON, with the token; a 401 asks for a token.
async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json", ...authHeaders() }, cache: "no-store" });
  } catch (err) {
    setConnection("offline", "host unreachable");
    throw new ApiError(0, { error: { message: `cannot reach the host: ${err.message}` } });
  }
  const body = await response.json().catch(() => null);
  if (response.status === 401) {
    askForToken(body);
  }
  if (!response.ok) {
    throw new ApiError(response.status, body);
  }
  return body;
}

// ---------------------------------------------------------------- session

// Who this page is, and what each operation needs.
async function loadSession() {
  try {
    const [me, doc] = await Promise.all([getJson("/whoami"), getJson("/openapi.json")]);
    const roles = new Map();
    for (const [path, item] of Object.entries((doc && doc.paths) || {})) {
      if (path.startsWith("/ops/") && item.post) {
        roles.set(path.slice("/ops/".length), item.post["x-warden-role"]);
      }
    }
    setSession(me, roles);
  } catch (err) {
    // A refused token has asked for another; what the page shows stays
    // as it was (every call answers 401 until then). Anything else leaves
    // the role unknown: no buttons.
    if (err.status !== 401) {
      setSession(null, new Map());
    }
  }
}

function setSession(me, roles) {
  state.me = me;
  state.opRoles = roles;
  const who = $("whoami");
  who.hidden = !me;
  who.dataset.role = me ? me.role : "";
  who.textContent = me ? `${me.name} · ${me.role}` : "";
  $("send-panel").hidden = !may("child.send");
  // Rows hold only the buttons their role may use: rebuilt on the next
  // tree (their charts' samples are kept apart, in state.history).
  for (const row of rows.values()) {
    row.tr.remove();
  }
  rows.clear();
}

// Whether this page's token may call `op`.
function may(op) {
  if (!state.me) return false;
  const mine = ROLE_RANK[state.me.role] ?? -1;
  const needed = ROLE_RANK[state.opRoles.get(op)] ?? ROLE_RANK.admin;
  return mine >= needed;
}

// ---------------------------------------------------------------- auth

function askForToken(body) {
  state.needToken = true;
  stopStream();
  setConnection("auth", "token required");
  const form = $("auth");
  form.hidden = false;
  $("token-toggle").setAttribute("aria-expanded", "true");
  $("auth-hint").textContent = state.token
    ? `The host refused this token${body && body.error ? ` (${body.error.message})` : ""}. Enter the right one.`
    : "This host requires a bearer token. It is kept in this tab only (session storage).";
  const tree = $("tree");
  if (!tree.querySelector("ul")) {
    tree.replaceChildren(el("p", { class: "empty", text: "Enter the API token to see the tree." }));
  }
  $("token").focus();
}

function setupAuth() {
  $("token").value = state.token;
  $("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token").value.trim();
    if (state.token) {
      sessionStorage.setItem(TOKEN_KEY, state.token);
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
    }
    state.needToken = false;
    $("auth").hidden = true;
    $("token-toggle").setAttribute("aria-expanded", "false");
    start();
  });
  $("token-forget").addEventListener("click", () => {
    state.token = "";
    $("token").value = "";
    sessionStorage.removeItem(TOKEN_KEY);
  });
  $("token-toggle").addEventListener("click", () => {
    const form = $("auth");
    form.hidden = !form.hidden;
    $("token-toggle").setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) {
      $("token").focus();
    }
  });
}

function setConnection(kind, text) {
  const pill = $("connection");
  pill.dataset.state = kind;
  pill.textContent = text;
}

// ---------------------------------------------------------------- formatting

function bytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) {
    return "—";
  }
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(ms).toLocaleString();
}

function exitText(exit) {
  if (!exit) return "";
  if (exit.reason === "abnormal") {
    return exit.message && exit.message !== exit.kind ? `${exit.kind}: ${exit.message}` : String(exit.kind);
  }
  return String(exit.reason);
}

// A version record's outcome (`{"outcome": "failed", "stage", "reason"}`, …).
function outcomeOf(record) {
  const o = record.outcome && typeof record.outcome === "object"
    ? record.outcome
    : { outcome: String(record.outcome) };
  const detail = o.stage ? `${o.stage}: ${o.reason}` : o.reason || "";
  return { name: String(o.outcome), detail };
}

// The level a kind is logged at on the host (events.rs `EventKind::level`).
function eventLevel(e) {
  switch (e.event) {
    case "child_exited":
      return e.reason === "abnormal" ? "warn" : "info";
    case "child_start_failed":
    case "child_shutdown_timeout":
    case "storm_detected":
    case "failure_injected":
    case "reload_failed":
    case "rolled_back":
    case "config_reload_failed":
    case "process_limit_exceeded":
    case "rollout_failed":
    case "rollout_rolled_back":
    case "rollout_aborted":
      return "warn";
    case "process_health":
      return e.level !== "healthy" ? "warn" : "info";
    case "intensity_reached":
    case "supervisor_escalated":
      return "error";
    case "shutdown_started":
    case "shutdown_completed":
      return e.cause && e.cause !== "requested" && e.cause !== "handles_dropped" ? "error" : "info";
    case "missed":
      return "warn";
    default:
      return "info";
  }
}

// One line for an event, as the host logs it (events.rs `Display`).
function eventText(e) {
  switch (e.event) {
    case "supervisor_started":
      return `${e.strategy}, ${e.children} children`;
    case "child_started":
      return `generation ${e.generation}`;
    case "child_restarted":
      return `generation ${e.generation} after ${e.delay_ms} ms · ${e.restarts} restart${e.restarts === 1 ? "" : "s"} counted`;
    case "child_ignored":
      return "start returned ignore";
    case "child_removed":
      return "removed from its supervisor";
    case "child_start_failed":
      return e.error;
    case "child_exited":
      return `${exitText(e)} (generation ${e.generation})`;
    case "child_shutdown_timeout":
      return `not stopped within ${e.timeout_ms} ms; killed (generation ${e.generation})`;
    case "restart_scheduled":
      return `in ${e.delay_ms} ms (${e.cause})`;
    case "intensity_reached":
      return `${e.restarts} restarts within ${e.period_ms} ms (intensity ${e.intensity}); offender ${e.child}`;
    case "supervisor_escalated":
      return `gave up (${causeText(e.cause)}); escalating`;
    case "storm_detected":
      return `${e.restarts} restarts within a ${e.window} (threshold ${e.threshold}); ${e.action}`;
    case "strategy_changed":
      return `${e.from} → ${e.to}${e.dry_run ? " (dry run)" : ""}${e.rolled_back ? " (rolled back)" : ""}`;
    case "failure_injected":
      return `${e.fault} (generation ${e.generation})`;
    case "shutdown_started":
    case "shutdown_completed":
      return causeText(e.cause);
    case "reload_started":
      return `version ${e.version}`;
    case "reloaded":
      return `version ${e.version} (${String(e.hash || "").slice(0, 12)}) in ${e.duration_ms} ms`;
    case "reload_failed":
      return `version ${e.version} failed at ${e.stage}: ${e.reason}`;
    case "rolled_back":
      return `to version ${e.to_version}: ${e.reason}`;
    case "config_reloaded":
      return `${e.added} added, ${e.removed} removed, ${e.changed} changed, ${e.unchanged} unchanged · ${e.supervisors_changed} supervisors, ${e.operations_changed} operation plugins changed`;
    case "config_reload_failed":
      return e.reason;
    case "process_limit_exceeded":
      return `pid ${e.pid}: ${e.limit} (${e.observed} > ${e.allowed})`;
    case "process_health":
      return `${e.level}: score ${e.score} (${e.trend})`;
    case "trace_ended":
      return `trace ${e.trace}: ${e.reason}, ${e.records} records`;
    case "rollout_started":
      return `rollout ${e.id}: ${e.action} of ${e.members} member${e.members === 1 ? "" : "s"} in ${e.batches} batch${e.batches === 1 ? "" : "es"}`;
    case "batch_started":
      return `rollout ${e.id}: batch ${e.batch} started (${(e.paths || []).join(", ")})`;
    case "batch_done":
      return `rollout ${e.id}: batch ${e.batch} done`;
    case "rollout_done":
      return `rollout ${e.id} done`;
    case "rollout_failed":
      return `rollout ${e.id} failed at batch ${e.batch}: ${e.reason}`;
    case "rollout_rolled_back":
      return `rollout ${e.id} rolled back ${(e.paths || []).join(", ") || "nothing"}${e.failed && e.failed.length ? `; could not roll back ${e.failed.join(", ")}` : ""}`;
    case "rollout_aborted":
      return `rollout ${e.id} aborted`;
    case "missed":
      return `${e.missed} events dropped for this dashboard (it fell behind)`;
    default: {
      const skip = new Set(["seq", "at_ms", "path", "event"]);
      return Object.entries(e)
        .filter(([k]) => !skip.has(k))
        .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
        .join(" ");
    }
  }
}

function causeText(cause) {
  if (cause && typeof cause === "object") {
    return Object.entries(cause)
      .map(([k, v]) => (v && typeof v === "object" ? `${k} (${Object.values(v).join(", ")})` : `${k} ${v}`))
      .join(", ");
  }
  return String(cause);
}

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "title" || k === "for" || k === "type" || k === "scope") {
      node.setAttribute(k, v === true ? "" : String(v));
    } else node[k] = v;
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined || kid === false) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

// Sets a cell's text; marks it briefly when the value changed.
function setText(node, text, title) {
  const value = String(text);
  if (node.textContent !== value) {
    const had = node.dataset.seen === "1";
    node.textContent = value;
    node.dataset.seen = "1";
    if (had) {
      node.classList.remove("changed");
      // Restart the animation.
      void node.offsetWidth;
      node.classList.add("changed");
    }
  }
  if (title !== undefined) {
    node.title = title;
  }
}

// ---------------------------------------------------------------- the tree

function flatten(nodes, out = []) {
  for (const node of nodes || []) {
    out.push(node);
    if (node.type === "supervisor") {
      flatten(node.children, out);
    }
  }
  return out;
}

function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS) {
  if (state.refreshTimer !== null) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refreshTree();
  }, delay);
}

// Fetches the tree; a request arriving while one runs is folded into one
// more fetch after it.
async function refreshTree() {
  if (state.needToken) return;
  if (state.refreshing) {
    state.refreshAgain = true;
    return;
  }
  state.refreshing = (async () => {
    try {
      const tree = await call("tree");
      renderTree(tree);
      renderChildren(tree);
      $("tree-updated").textContent = `updated ${clock(Date.now())}`;
      $("tree").setAttribute("aria-busy", "false");
      const components = flatten(tree.children).filter((c) => c.type === "component");
      renderSendTargets(components);
      renderLogTargets(flatten(tree.children).filter((c) => c.type !== "supervisor"));
      for (const c of components) {
        if (!state.versions.has(c.path)) {
          refreshVersions(c.path);
        }
      }
      for (const path of [...state.versions.keys()]) {
        if (!components.some((c) => c.path === path)) {
          state.versions.delete(path);
        }
      }
      renderVersions();
    } catch (err) {
      if (err.status !== 401) {
        const box = $("tree");
        if (!box.querySelector("ul")) {
          box.replaceChildren(el("p", { class: "empty error", text: `Cannot load the tree: ${err.message}` }));
        }
      }
    } finally {
      state.refreshing = null;
      if (state.refreshAgain) {
        state.refreshAgain = false;
        scheduleRefresh(0);
      }
    }
  })();
  return state.refreshing;
}

function statusBadge(status) {
  return el("span", { class: `status status-${status}`, "data-status": status }, el("span", { class: "dot", "aria-hidden": "true" }), status);
}

function renderTree(tree) {
  const rootItem = el(
    "li",
    { class: "node supervisor", "data-path": tree.path, role: "treeitem", "aria-expanded": "true" },
    el("div", { class: "node-line" },
      el("span", { class: "node-name", text: tree.path }),
      el("span", { class: "tag", text: "supervisor" }),
      el("span", { class: "muted", text: String(tree.strategy) })),
    subtree(tree.children),
  );
  const list = el("ul", { class: "tree-root", role: "tree", "aria-label": "Supervision tree" }, rootItem);
  $("tree").replaceChildren(list);
}

function subtree(children) {
  const ul = el("ul", { role: "group" });
  for (const c of children || []) {
    const isSup = c.type === "supervisor";
    const li = el(
      "li",
      { class: `node ${c.type}`, "data-path": c.path, role: "treeitem", "aria-expanded": isSup ? "true" : null },
      el("div", { class: "node-line" },
        statusBadge(c.status),
        c.type === "component" ? sendPicker(c) : el("span", { class: "node-name", text: c.id }),
        el("span", { class: `tag tag-${c.type}`, text: c.type }),
        isSup ? el("span", { class: "muted", text: String(c.strategy || "") }) : null,
        el("span", { class: "node-meta" },
          el("span", { title: "Generation (incarnation number)", "data-field": "generation" }, `gen ${c.generation ?? "–"}`),
          el("span", { title: "Restarts decided by the supervisor", "data-field": "restarts" }, `${c.restarts} restart${c.restarts === 1 ? "" : "s"}`))),
      isSup ? subtree(c.children) : null,
    );
    ul.append(li);
  }
  return ul;
}

// A component child's name in the tree, as a button that picks it in the
// send box.
function sendPicker(c) {
  const button = el("button", {
    type: "button",
    class: "node-name pick",
    "data-send": c.path,
    title: "Send a message to this child",
    "aria-label": `Send a message to ${c.path}`,
    text: c.id,
  });
  button.addEventListener("click", () => pickSendTarget(c.path));
  return button;
}

// ---------------------------------------------------------------- children table

const rows = new Map();

function renderChildren(tree) {
  const list = flatten(tree.children);
  const body = $("children-body");
  const seen = new Set();
  let running = 0;
  let restarting = 0;
  let stopped = 0;
  let restarts = 0;
  const now = Date.now();
  for (const placeholder of body.querySelectorAll("tr.placeholder")) {
    placeholder.remove();
  }
  list.forEach((c, index) => {
    seen.add(c.path);
    state.children.set(c.path, c);
    let row = rows.get(c.path);
    if (!row) {
      row = makeRow(c);
      rows.set(c.path, row);
    }
    // Keep the tree's order.
    if (body.children[index] !== row.tr) {
      body.insertBefore(row.tr, body.children[index] || null);
    }
    updateRow(row, c);
    record(c, now);
    drawCharts(row, c, now);
    if (c.type !== "supervisor") {
      if (c.status === "running") running += 1;
      else if (c.status === "restarting") restarting += 1;
      else stopped += 1;
    }
    restarts += Number(c.restarts) || 0;
  });
  for (const [path, row] of rows) {
    if (!seen.has(path)) {
      row.tr.remove();
      rows.delete(path);
      state.children.delete(path);
      state.history.delete(path);
    }
  }
  setText($("stat-running"), running);
  setText($("stat-restarting"), restarting);
  setText($("stat-stopped"), stopped);
  setText($("stat-restarts"), restarts);
  if (list.length === 0) {
    body.replaceChildren(el("tr", { class: "placeholder" }, el("td", { colSpan: 10, class: "empty", text: "This tree has no children." })));
  }
}

function makeRow(c) {
  const depth = c.path.split("/").length - 2;
  const cells = {};
  const cell = (field, cls) => {
    const td = el("td", { "data-field": field, class: cls });
    cells[field] = td;
    return td;
  };
  // A number with its chart beside it: the value in its own span (what
  // `[data-field]` finds), the chart in another.
  const charts = {};
  const chartCell = (field) => {
    const value = el("span", { "data-field": field, class: "value" });
    const chart = el("span", { class: "spark", "data-chart-for": field });
    cells[field] = value;
    charts[field] = chart;
    return el("td", { class: "num chart-cell", "data-column": field }, chart, value);
  };
  const pathCell = el("th", { scope: "row", class: "path", "data-field": "path" },
    el("span", { class: "indent", "aria-hidden": "true", text: "\u00a0\u00a0".repeat(Math.max(0, depth)) }),
    el("code", { text: c.path }));
  const output = el("output", { "data-field": "result", "aria-live": "polite", class: "result" });
  const actions = el("div", { class: "actions" });
  const buttons = [
    ["restart", "child.restart", "Restart", "Terminate and start again"],
    ["kill", "child.kill", "Kill", "Kill the incarnation; the supervisor restarts it"],
  ];
  if (c.type === "component") {
    buttons.push(["reload", "child.reload", "Reload", "Hot-reload the component from its file, state kept"]);
    buttons.push(["trace", "trace.start", "Trace", "Record this child's messages for 10 s in the trace pane"]);
  }
  if (c.type !== "supervisor") {
    buttons.push(["logs", "logs.tail", "Logs", "Follow this child's log in the log pane"]);
  }
  for (const [action, op, label, hint] of buttons) {
    if (!may(op)) continue;
    const button = el("button", {
      type: "button",
      class: action === "kill" ? "danger" : "",
      "data-action": action,
      "aria-label": `${label} ${c.path}`,
      title: hint,
      text: label,
    });
    button.addEventListener("click", () => {
      if (action === "logs") pickLogTarget(c.path);
      else if (action === "trace") startTrace(c.path, output);
      else act(op, action, c.path, button, output);
    });
    actions.append(button);
  }
  const tr = el("tr", { "data-path": c.path, "data-type": c.type },
    pathCell,
    cell("type"),
    cell("status"),
    cell("generation", "num"),
    chartCell("restarts"),
    chartCell("memory"),
    cell("cpu", "num"),
    cell("health"),
    cell("version"),
    el("td", { class: "actions-cell" }, actions, output));
  return { tr, cells, charts, output };
}

function updateRow(row, c) {
  const info = c.info && typeof c.info === "object" ? c.info : {};
  const { cells } = row;
  row.tr.dataset.status = c.status;
  setText(cells.type, c.type);
  if (cells.status.dataset.value !== c.status) {
    cells.status.dataset.value = c.status;
    cells.status.replaceChildren(statusBadge(c.status));
  }
  const exit = exitText(c.last_exit);
  cells.status.title = exit ? `last exit: ${exit}` : "";
  setText(cells.generation, c.generation ?? "–");
  setText(cells.restarts, c.restarts ?? 0);

  let memory = "—";
  let memoryTitle = "";
  let cpu = "—";
  let health = "—";
  let healthLevel = "";
  let version = "—";
  let versionTitle = "";
  if (c.type === "component") {
    if (info.hibernated === true) {
      memory = "hibernated";
      memoryTitle = "no instance: its state waits as a snapshot for the next message";
    } else if (typeof info.memory_bytes === "number") {
      const limit = info.limits && info.limits.memory_bytes;
      memory = limit ? `${bytes(info.memory_bytes)} / ${bytes(limit)}` : bytes(info.memory_bytes);
      memoryTitle = "linear memory of the instance / its limit";
    }
    if (info.mailbox) {
      health = `mailbox ${info.mailbox.depth}/${info.mailbox.capacity}`;
      healthLevel = info.mailbox.capacity && info.mailbox.depth >= info.mailbox.capacity ? "critical" : "healthy";
    }
    // Number and hash from the same answer, so they always match.
    const v = state.versions.get(c.path);
    const record = v && (v.records || []).find((r) => r.version === v.current);
    const full = String((record && record.hash) || info.hash || "");
    const hash = full.slice(0, 8);
    if (v) {
      version = hash ? `v${v.current} · ${hash}` : `v${v.current}`;
    } else if (hash) {
      version = hash;
    }
    versionTitle = full ? `sha-256 ${full}` : "";
  } else if (c.type === "process") {
    const stats = info.stats && typeof info.stats === "object" ? info.stats : null;
    if (stats) {
      memory = bytes(stats.rss_bytes);
      memoryTitle = `RSS (peak ${bytes(stats.peak_rss_bytes)}), pid ${stats.pid}`;
      if (typeof stats.cpu_percent === "number") {
        cpu = `${stats.cpu_percent.toFixed(1)} %`;
      }
    } else if (info.pid) {
      memoryTitle = `pid ${info.pid}`;
    }
    const h = info.health && typeof info.health === "object" ? info.health : null;
    if (h) {
      health = `${h.score} ${h.level}${h.trend && h.trend !== "stable" ? ` (${h.trend})` : ""}`;
      healthLevel = h.level;
    }
  }
  setText(cells.memory, memory, memoryTitle);
  setText(cells.cpu, cpu);
  setText(cells.health, health);
  cells.health.dataset.level = healthLevel;
  setText(cells.version, version, versionTitle);
}

// ---------------------------------------------------------------- charts

// The memory a child uses, in bytes: a component's linear memory, a
// process's RSS; null when the tree does not say (supervisors, a process
// not sampled yet).
function memoryOf(c) {
  const info = c.info && typeof c.info === "object" ? c.info : {};
  if (c.type === "component" && typeof info.memory_bytes === "number") {
    return info.memory_bytes;
  }
  if (c.type === "process" && info.stats && typeof info.stats.rss_bytes === "number") {
    return info.stats.rss_bytes;
  }
  return null;
}

// Adds `c` as seen at `now` to its ring; merges it into the last sample when
// that one is younger than SAMPLE_GAP_MS, and drops what is older than the
// window.
function record(c, now) {
  if (state.historyStart === null) state.historyStart = now;
  let ring = state.history.get(c.path);
  if (!ring) {
    ring = [];
    state.history.set(c.path, ring);
  }
  const memory = memoryOf(c);
  const restarts = Number(c.restarts) || 0;
  const last = ring[ring.length - 1];
  // A count that went down (the child was deleted and added again) is a
  // new series, not negative restarts.
  const restarted = last ? Math.max(0, restarts - last.restarts) : 0;
  if (last && now - last.t < SAMPLE_GAP_MS) {
    last.restarted += restarted;
    last.restarts = restarts;
    if (memory !== null) last.memory = memory;
  } else {
    ring.push({ t: now, memory, restarts, restarted });
  }
  while (ring.length && ring[0].t < now - HISTORY_MS) ring.shift();
}

// The time the charts span at `now`: from the first sample (at least
// MIN_SPAN_MS, at most HISTORY_MS).
function chartSpan(now) {
  const seen = state.historyStart === null ? 0 : now - state.historyStart;
  return Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, seen));
}

// How long the ring has watched a child at `now` (what its labels speak of:
// the page knows nothing from before it opened).
function watched(ring, now) {
  return ring.length ? Math.min(HISTORY_MS, now - ring[0].t) : 0;
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  return `${Math.round(s / 60)} min`;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

// An empty chart of `kind` labelled `label` (its accessible name and its
// tooltip, both carrying the current value).
function chartFrame(kind, label) {
  const svg = svgEl("svg", {
    class: `sparkline sparkline-${kind}`,
    "data-chart": kind,
    viewBox: `0 0 ${CHART_W} ${CHART_H}`,
    width: CHART_W,
    height: CHART_H,
    role: "img",
    "aria-label": label,
  });
  const title = svgEl("title");
  title.textContent = label;
  svg.append(title);
  svg.append(svgEl("line", { class: "spark-base", x1: 0, x2: CHART_W, y1: CHART_H - 0.5, y2: CHART_H - 0.5 }));
  return svg;
}

// x of time `t` in a chart ending at `now` and spanning `span`.
function chartX(t, now, span) {
  const inner = CHART_W - 2 * CHART_PAD;
  return CHART_PAD + inner * Math.min(1, Math.max(0, 1 - (now - t) / span));
}

// The memory of `path` over the window: a line (a dot while there is one
// sample), scaled between its own minimum and maximum so that growth shows.
function memoryChart(path, ring, now) {
  const points = ring.filter((p) => p.memory !== null);
  if (points.length === 0) return null;
  const span = chartSpan(now);
  const values = points.map((p) => p.memory);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const last = values[values.length - 1];
  const over = `over the last ${duration(watched(ring, now))}`;
  let range;
  if (points.length === 1) range = "one sample so far";
  else if (max === min) range = `steady ${over}`;
  else range = `between ${bytes(min)} and ${bytes(max)} ${over}`;
  const svg = chartFrame("memory", `Memory of ${path}: ${bytes(last)} now, ${range}`);
  svg.dataset.points = String(points.length);
  svg.dataset.last = String(last);
  const top = CHART_PAD;
  const bottom = CHART_H - CHART_PAD - 1;
  const y = (v) => (max === min ? (top + bottom) / 2 : bottom - ((v - min) / (max - min)) * (bottom - top));
  const coords = points.map((p) => [chartX(p.t, now, span), y(p.memory)]);
  const text = coords.map(([x, yy]) => `${x.toFixed(1)},${yy.toFixed(1)}`).join(" ");
  if (coords.length > 1) {
    const [x0] = coords[0];
    const [xn] = coords[coords.length - 1];
    svg.append(svgEl("polygon", {
      class: "spark-area",
      points: `${x0.toFixed(1)},${bottom + 1} ${text} ${xn.toFixed(1)},${bottom + 1}`,
    }));
    svg.append(svgEl("polyline", { class: "spark-line", points: text }));
  }
  const [lx, ly] = coords[coords.length - 1];
  svg.append(svgEl("circle", { class: "spark-dot", cx: lx.toFixed(1), cy: ly.toFixed(1), r: 1.8 }));
  return svg;
}

// The restarts of `path` over the window: RESTART_BARS intervals, a bar for
// each with restarts, as tall as its count against the busiest one.
function restartChart(path, ring, total, now) {
  const span = chartSpan(now);
  const width = span / RESTART_BARS;
  const counts = new Array(RESTART_BARS).fill(0);
  for (const p of ring) {
    if (p.restarted === 0 || p.t < now - span) continue;
    const i = Math.min(RESTART_BARS - 1, Math.floor((p.t - (now - span)) / width));
    counts[i] += p.restarted;
  }
  const inWindow = counts.reduce((a, b) => a + b, 0);
  const busiest = Math.max(1, ...counts);
  const svg = chartFrame(
    "restarts",
    `Restarts of ${path}: ${inWindow} in the last ${duration(watched(ring, now))} (${total} in all)`,
  );
  svg.dataset.total = String(inWindow);
  const inner = CHART_W - 2 * CHART_PAD;
  const bar = inner / RESTART_BARS;
  const height = CHART_H - CHART_PAD - 1;
  counts.forEach((n, i) => {
    if (n === 0) return;
    const h = Math.max(3, (n / busiest) * height);
    const rect = svgEl("rect", {
      class: "spark-bar",
      x: (CHART_PAD + i * bar + 0.25).toFixed(2),
      y: (CHART_H - 1 - h).toFixed(2),
      width: Math.max(1, bar - 0.5).toFixed(2),
      height: h.toFixed(2),
      "data-count": n,
    });
    const title = svgEl("title");
    const ago = Math.round((span - (i + 1) * width) / 1000);
    title.textContent = `${n} restart${n === 1 ? "" : "s"} ${ago <= 0 ? "just now" : `about ${ago} s ago`}`;
    rect.append(title);
    svg.append(rect);
  });
  return svg;
}

function drawCharts(row, c, now) {
  const ring = state.history.get(c.path) || [];
  row.charts.memory.replaceChildren(...[memoryChart(c.path, ring, now)].filter(Boolean));
  row.charts.restarts.replaceChildren(restartChart(c.path, ring, Number(c.restarts) || 0, now));
}

// ---------------------------------------------------------------- actions

// Runs an action and shows its result (or the error's message) beside the button.
async function act(op, action, path, button, output) {
  button.disabled = true;
  output.dataset.state = "pending";
  output.textContent = `${action}…`;
  try {
    const result = await call(op, { path });
    output.dataset.state = "ok";
    output.textContent = describeResult(action, result);
  } catch (err) {
    output.dataset.state = "error";
    output.textContent = err.message;
  } finally {
    button.disabled = false;
    scheduleRefresh(0);
    if (action === "reload") {
      refreshVersions(path);
    }
  }
}

function describeResult(action, r) {
  if (!r || typeof r !== "object") return `${action}: done`;
  switch (action) {
    case "restart":
      return r.result === "ignored" ? "restart: start returned ignore" : `restarted: generation ${r.generation}`;
    case "kill":
      return `killed generation ${r.generation}; the supervisor restarts it`;
    case "reload":
      if (r.outcome === "unchanged") return `unchanged: the file holds version ${r.version}`;
      if (r.outcome === "reloaded") {
        const ms = typeof r.duration_ms === "number" ? ` in ${r.duration_ms.toFixed(1)} ms` : "";
        return `reloaded to version ${r.version}${ms}`;
      }
      return `reload: ${r.outcome} (version ${r.version})`;
    default:
      return `${action}: ${JSON.stringify(r)}`;
  }
}

// ---------------------------------------------------------------- send box

// Offers the component children of `components` in the send box's select,
// keeping the choice while that child exists.
function renderSendTargets(components) {
  const key = components.map((c) => `${c.path} ${c.status}`).join("\n");
  if (key === state.sendTargets) return;
  state.sendTargets = key;
  const select = $("send-child");
  const chosen = select.value;
  if (components.length === 0) {
    select.replaceChildren(el("option", { value: "", text: "no component children" }));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  select.replaceChildren(...components.map((c) => el("option", {
    value: c.path,
    text: c.status === "running" ? c.path : `${c.path} (${c.status})`,
  })));
  if (components.some((c) => c.path === chosen)) {
    select.value = chosen;
  }
}

// Chooses `path` in the send box (from the tree) and puts the cursor in the
// message field.
function pickSendTarget(path) {
  const select = $("send-child");
  if (![...select.options].some((o) => o.value === path)) return;
  select.value = path;
  const input = $("send-message");
  input.focus();
  input.select();
  $("send").scrollIntoView({ block: "nearest" });
}

// A reply as text: UTF-8 as is, other bytes as their base64 with a note.
function replyText(r) {
  if (!r || typeof r.reply !== "string") return "(no reply)";
  if (r.encoding === "base64") {
    return `${r.reply} (not UTF-8: base64 of the bytes)`;
  }
  return r.reply;
}

// Sends the box's message with `child.send`; the answer (the reply, or the
// error body's message) goes in the result line and at the top of the log.
// Several may be in flight: each fills its own log line, and the result
// line shows the latest one sent.
async function sendMessage(ev) {
  ev.preventDefault();
  const path = $("send-child").value;
  const message = $("send-message").value;
  const result = $("send-result");
  if (!path) {
    result.dataset.state = "error";
    result.replaceChildren(el("span", { "data-field": "error", text: "No component child to send to." }));
    return;
  }
  state.sends += 1;
  const number = state.sends;
  const answer = el("span", { class: "send-answer", text: "…" });
  const line = el("li", { "data-state": "pending", "data-path": path },
    el("code", { class: "send-path", text: path }),
    el("span", { class: "send-message", text: message === "" ? "(empty)" : message }),
    answer);
  const log = $("send-log");
  log.prepend(line);
  while (log.children.length > SEND_LOG_ROWS) log.lastElementChild.remove();
  result.dataset.state = "pending";
  result.replaceChildren(el("span", { class: "muted", text: `sending to ${path}…` }));
  const started = performance.now();
  let outcome;
  try {
    const r = await call("child.send", { path, message });
    const ms = performance.now() - started;
    const text = replyText(r);
    outcome = {
      state: "ok",
      node: el("span", {},
        el("span", { class: "muted", text: `${path} replied in ${ms.toFixed(0)} ms: ` }),
        el("code", { "data-field": "reply", text }),
        text === "" ? el("span", { class: "muted", text: "(an empty reply)" }) : null),
      text: text === "" ? "(an empty reply)" : text,
    };
  } catch (err) {
    outcome = {
      state: "error",
      node: el("span", { "data-field": "error", text: err.message }),
      text: err.message,
    };
  }
  line.dataset.state = outcome.state;
  answer.textContent = outcome.text;
  if (number === state.sends) {
    result.dataset.state = outcome.state;
    result.replaceChildren(outcome.node);
  }
}

function setupSend() {
  $("send").addEventListener("submit", sendMessage);
}

// ---------------------------------------------------------------- reload history

async function refreshVersions(path) {
  try {
    const v = await call("child.versions", { path });
    state.versions.set(path, v);
  } catch (err) {
    if (err.status === 404) {
      state.versions.delete(path);
    } else {
      return;
    }
  }
  const c = state.children.get(path);
  const row = rows.get(path);
  if (c && row) updateRow(row, c);
  renderVersions();
}

function renderVersions() {
  const box = $("versions");
  const paths = [...state.versions.keys()].sort();
  if (paths.length === 0) {
    box.replaceChildren(el("p", { class: "empty", text: "No component children." }));
    return;
  }
  const blocks = paths.map((path) => {
    const v = state.versions.get(path);
    const records = [...(v.records || [])].reverse();
    const body = el("tbody");
    for (const r of records) {
      const o = outcomeOf(r);
      const current = r.version === v.current;
      body.append(el("tr", { "data-version": r.version, class: current ? "current" : "" },
        el("td", {}, `v${r.version}`, current ? el("span", { class: "tag tag-current", text: "current" }) : null),
        el("td", {}, el("span", { class: `outcome outcome-${o.name}`, text: o.name.replaceAll("_", " ") }),
          o.detail ? el("span", { class: "muted detail", text: ` ${o.detail}` }) : null),
        el("td", {}, el("code", { title: r.hash, text: String(r.hash || "").slice(0, 10) || "—" })),
        el("td", { class: "num", text: `${r.duration_ms} ms` }),
        el("td", { title: new Date(r.at_ms).toLocaleString(), text: ago(r.at_ms) })));
    }
    return el("div", { class: "version-block", "data-path": path },
      el("h3", {}, el("code", { text: path }), el("span", { class: "muted", text: ` running v${v.current}` })),
      el("table", { class: "grid compact" },
        el("caption", { class: "visually-hidden", text: `Versions of ${path}` }),
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "Version" }),
          el("th", { scope: "col", text: "Outcome" }),
          el("th", { scope: "col", text: "Hash" }),
          el("th", { scope: "col", class: "num", text: "Took" }),
          el("th", { scope: "col", text: "When" }))),
        body));
  });
  box.replaceChildren(...blocks);
}

// ---------------------------------------------------------------- events

// The same event, whether it came from events.recent or the stream.
function signature(e) {
  const keys = Object.keys(e).filter((k) => k !== "seq").sort();
  return JSON.stringify(keys.map((k) => [k, e[k]]));
}

// Newest first: by time, then by arrival.
function newestFirst(a, b) {
  return (b.at_ms - a.at_ms) || (b.order - a.order);
}

function addEvent(e) {
  const key = e.event === "missed" ? `missed-${state.arrivals}` : signature(e);
  if (state.events.has(key)) return false;
  state.arrivals += 1;
  state.events.set(key, { ...e, at_ms: e.at_ms || Date.now(), order: state.arrivals });
  if (state.events.size > EVENT_ROWS) {
    const oldest = [...state.events.entries()].sort(([, a], [, b]) => newestFirst(a, b)).slice(EVENT_ROWS);
    for (const [k] of oldest) state.events.delete(k);
  }
  return true;
}

let renderEventsQueued = false;
function renderEvents() {
  if (renderEventsQueued) return;
  renderEventsQueued = true;
  requestAnimationFrame(() => {
    renderEventsQueued = false;
    const filter = $("event-filter").value.trim().toLowerCase();
    const events = [...state.events.values()].sort(newestFirst);
    const frag = document.createDocumentFragment();
    let shown = 0;
    for (const e of events) {
      if (filter && !`${e.path} ${e.event}`.toLowerCase().includes(filter)) continue;
      const level = eventLevel(e);
      frag.append(el("tr", { "data-event": e.event, "data-child": e.path || "", class: `level-${level}` },
        el("td", { class: "time", title: new Date(e.at_ms).toISOString(), text: clock(e.at_ms) }),
        el("td", {}, el("code", { text: e.path || "" })),
        el("td", {}, el("span", { class: `kind kind-${level}`, text: e.event })),
        el("td", { class: "details", text: eventText(e) })));
      shown += 1;
    }
    if (shown === 0) {
      frag.append(el("tr", {}, el("td", { colSpan: 4, class: "empty", text: filter ? "No event matches the filter." : "No events yet." })));
    }
    $("events-body").replaceChildren(frag);
    setText($("stat-events"), state.arrivals);
  });
}

function onEvent(e) {
  if (e.event === "traced") {
    onTraced(e);
    return;
  }
  if (e.event === "trace_ended" && e.trace === state.traceId) {
    setTraceStatus("ended", `trace ${e.trace} ended (${e.reason}) with ${e.records} records`);
  }
  if (e.event === "health_changed") {
    noteHealth(e);
    scheduleHealth();
  }
  if (e.event && e.event.startsWith("rollout_")) {
    scheduleRollouts();
  }
  if (!addEvent(e)) return;
  renderEvents();
  scheduleRefresh();
  if (RELOAD_EVENTS.has(e.event) && state.versions.has(e.path)) {
    refreshVersions(e.path);
  }
}

async function loadRecentEvents() {
  try {
    const recent = await call("events.recent", { limit: EVENT_ROWS });
    for (const e of recent) {
      addEvent(e);
      if (e.event === "health_changed") noteHealth(e);
    }
    renderEvents();
    renderHealth();
    scheduleRollouts();
  } catch (err) {
    if (err.status !== 401) {
      $("events-body").replaceChildren(el("tr", {}, el("td", { colSpan: 4, class: "empty error", text: `Cannot load events: ${err.message}` })));
    }
  }
}

function stopStream() {
  state.streamGeneration += 1;
  if (state.streamAbort) {
    state.streamAbort.abort();
    state.streamAbort = null;
  }
}

// Follows `GET /events`; reconnects with a growing pause, and fills the gap
// from `events.recent` each time it (re)connects.
async function followEvents() {
  stopStream();
  const generation = state.streamGeneration;
  let pause = 500;
  while (generation === state.streamGeneration && !state.needToken) {
    const abort = new AbortController();
    state.streamAbort = abort;
    try {
      const response = await fetch("/events", {
        headers: { Accept: "text/event-stream", ...authHeaders() },
        signal: abort.signal,
        cache: "no-store",
      });
      if (response.status === 401) {
        let body = null;
        try { body = await response.json(); } catch { body = null; }
        askForToken(body);
        return;
      }
      if (!response.ok || !response.body) {
        throw new Error(`HTTP ${response.status}`);
      }
      setConnection("live", "live");
      pause = 500;
      // Events published before the stream opened.
      loadRecentEvents();
      scheduleRefresh(0);
      await readStream(response.body, generation);
      if (generation !== state.streamGeneration) return;
      setConnection("connecting", "reconnecting…");
    } catch (err) {
      if (abort.signal.aborted || generation !== state.streamGeneration) return;
      setConnection("offline", `offline (${err.message}); retrying`);
      // Keep the log and the tree current while the stream is down.
      loadRecentEvents();
      scheduleRefresh(0);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10000);
  }
}

async function readStream(body, generation) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || generation !== state.streamGeneration) return;
      buffer += value;
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        dispatch(block);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

// One SSE block as `{kind, payload}`: its `event:` name (by default
// `message`) and its `data:` lines joined and parsed as JSON. `null` for a
// block with no data (comments, keep-alives) or data that is not JSON (not
// ours to show). `id:` is ignored.
function parseSseBlock(block) {
  let kind = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  try {
    return { kind, payload: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}

// One SSE message: `event:` and `data:` lines. Comments (keep-alives) and
// `id:` (numbered per subscription, not the log's `seq`) are ignored.
function dispatch(block) {
  const message = parseSseBlock(block);
  if (!message) return;
  const { kind, payload } = message;
  if (kind === "missed") {
    onEvent({ event: "missed", at_ms: Date.now(), path: "", missed: payload.missed });
    loadRecentEvents();
    return;
  }
  onEvent({ ...payload, event: payload.event || kind });
}

// ---------------------------------------------------------------- log pane

// Offers the workers and components of `children` in the log pane's
// select, keeping the one followed while it exists.
function renderLogTargets(children) {
  const key = children.map((c) => c.path).join("\n");
  if (key === state.logTargets) return;
  state.logTargets = key;
  const select = $("logs-child");
  if (children.length === 0) {
    select.replaceChildren(el("option", { value: "", text: "no workers or components" }));
    select.disabled = true;
    stopLogs();
    return;
  }
  select.disabled = false;
  select.replaceChildren(
    el("option", { value: "", text: "pick a child…" }),
    ...children.map((c) => el("option", { value: c.path, text: `${c.path} (${c.type})` })));
  if (children.some((c) => c.path === state.logPath)) {
    select.value = state.logPath;
  } else if (state.logPath) {
    stopLogs();
  }
}

// Follows `path` in the log pane (from a row's Logs button).
function pickLogTarget(path) {
  const select = $("logs-child");
  if (![...select.options].some((o) => o.value === path)) return;
  select.value = path;
  followLogs(path);
  $("logs-panel").scrollIntoView({ block: "nearest" });
}

function setLogStatus(kind, text) {
  const status = $("logs-status");
  status.dataset.state = kind;
  status.textContent = text;
}

function stopLogs() {
  state.logGeneration += 1;
  state.logPath = "";
  if (state.logAbort) {
    state.logAbort.abort();
    state.logAbort = null;
  }
}

// The path as a URL path: each segment encoded, the slashes kept.
function pathUrl(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

async function followLogs(path) {
  stopLogs();
  $("logs-lines").replaceChildren();
  if (!path) {
    setLogStatus("", "pick a child");
    return;
  }
  state.logPath = path;
  const generation = state.logGeneration;
  const abort = new AbortController();
  state.logAbort = abort;
  setLogStatus("connecting", `opening ${path}…`);
  try {
    const response = await fetch(`/logs/${pathUrl(path)}?follow=1&lines=${LOG_BACKLOG}`, {
      headers: { Accept: "text/event-stream", ...authHeaders() },
      signal: abort.signal,
      cache: "no-store",
    });
    if (!response.ok || !response.body) {
      let body = null;
      try { body = await response.json(); } catch { body = null; }
      throw new ApiError(response.status, body);
    }
    setLogStatus("following", `following ${path}`);
    await readSse(response.body, () => generation === state.logGeneration, onLogMessage);
    if (generation === state.logGeneration) setLogStatus("ended", `${path}: the stream ended`);
  } catch (err) {
    if (abort.signal.aborted || generation !== state.logGeneration) return;
    setLogStatus("error", `${path}: ${err.message}`);
  }
}

// Reads SSE blocks from `body` while `current()` holds, handing each
// `event:` kind and its parsed `data:` to `handle`.
async function readSse(body, current, handle) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || !current()) return;
      buffer += value;
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const message = parseSseBlock(block);
        if (message) handle(message.kind, message.payload);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function onLogMessage(kind, data) {
  const list = $("logs-lines");
  let item;
  if (kind === "lagged") {
    item = el("li", { class: "lagged", text: `… ${data.lost} lines lost (this page read too slowly)` });
  } else if (kind === "line") {
    const source = data.stream || data.level || "";
    item = el("li", { "data-source": source },
      el("span", { class: "time", text: clock(data.at_ms) }),
      el("span", { class: "source", text: source }),
      el("span", { class: "text", text: data.line }));
  } else {
    return;
  }
  // Stay at the bottom only when the reader is there already.
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(item);
  while (list.children.length > LOG_ROWS) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------- trace pane

function setTraceStatus(kind, text) {
  const status = $("trace-status");
  status.dataset.state = kind;
  status.textContent = text;
}

// Starts a TRACE_MS trace of `path`; its records arrive as `traced` events.
async function startTrace(path, output) {
  try {
    const started = await call("trace.start", { path, duration_ms: TRACE_MS, max_messages: TRACE_ROWS });
    state.traceId = started.id;
    $("trace-records").replaceChildren();
    setTraceStatus("running", `trace ${started.id} of ${path}: recording for ${TRACE_MS / 1000} s…`);
    $("trace-panel").hidden = false;
    $("trace-panel").scrollIntoView({ block: "nearest" });
  } catch (err) {
    output.dataset.state = "error";
    setText(output, err.message);
  }
}

function previewText(p) {
  if (!p) return "";
  const text = p.encoding === "hex" ? `hex:${p.preview}` : JSON.stringify(p.preview);
  return p.truncated ? `${text}…` : text;
}

// One `traced` event of the trace shown: `TIME #SEQ KIND IN → OUTCOME OUT
// LATENCY`, the previews beside.
function onTraced(e) {
  if (e.trace !== state.traceId) return;
  const list = $("trace-records");
  const from = e.from ? ` from ${e.from}` : "";
  const item = el("li", { "data-seq": String(e.seq), "data-outcome": e.outcome },
    el("span", { class: "time", text: clock(e.at_ms) }),
    el("span", { class: "source", text: `#${e.seq} ${e.kind}${from}` }),
    el("span", { class: "text", text: `${e.message.size} B → ${e.outcome} ${e.reply.size} B in ${e.latency_us} µs · ${previewText(e.message)} → ${previewText(e.reply)}` }));
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(item);
  while (list.children.length > TRACE_ROWS) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function setupLogs() {
  $("logs-child").addEventListener("change", (ev) => followLogs(ev.target.value));
}

// ---------------------------------------------------------------- health

const LEVEL_RANK = { healthy: 0, warning: 1, critical: 2, emergency: 3 };

// Keeps the newest `health_changed` of each path (events.recent and the
// stream may bring them in any order).
function noteHealth(e) {
  if (!e.path) return;
  const at = e.at_ms || Date.now();
  const known = state.levels.get(e.path);
  if (known && known.at_ms > at) return;
  state.levels.set(e.path, { subject: e.subject, level: e.to, score: e.score, reasons: e.reasons || [], at_ms: at });
  renderHealth();
}

function scheduleHealth(delay = REFRESH_DEBOUNCE_MS) {
  if (state.healthTimer !== null || state.needToken) return;
  state.healthTimer = setTimeout(() => {
    state.healthTimer = null;
    refreshHealth();
  }, delay);
}

async function refreshHealth() {
  if (!may("health")) return;
  try {
    state.healthReports = await call("health");
    renderHealth();
  } catch (err) {
    if (err.status !== 401) {
      $("recommendations").replaceChildren(el("li", { class: "empty error", text: `Cannot load health: ${err.message}` }));
    }
  }
}

function levelBadge(level) {
  return el("span", { class: `health-level health-${level}`, "data-level": level, text: level });
}

let renderHealthQueued = false;
function renderHealth() {
  if (renderHealthQueued) return;
  renderHealthQueued = true;
  requestAnimationFrame(() => {
    renderHealthQueued = false;
    // Supervisors from the reports (their score now), workers from the
    // monitor's events (the score that moved their level).
    const rowsByPath = new Map();
    for (const r of state.healthReports || []) {
      const said = state.levels.get(r.supervisor);
      rowsByPath.set(r.supervisor, {
        path: r.supervisor,
        subject: "supervisor",
        // The level now by the host's thresholds; from the monitor's last
        // event when the host does not say (an older host).
        level: r.level || (said ? said.level : "healthy"),
        score: r.score,
        reasons: r.reasons || [],
      });
    }
    for (const [path, said] of state.levels) {
      if (rowsByPath.has(path)) continue;
      rowsByPath.set(path, { path, subject: said.subject || "worker", level: said.level, score: said.score, reasons: said.reasons });
    }
    const sorted = [...rowsByPath.values()].sort((a, b) =>
      (LEVEL_RANK[b.level] ?? 0) - (LEVEL_RANK[a.level] ?? 0) || a.path.localeCompare(b.path));
    const frag = document.createDocumentFragment();
    for (const row of sorted) {
      frag.append(el("tr", { "data-path": row.path, "data-subject": row.subject },
        el("td", {}, el("code", { text: row.path })),
        el("td", { text: row.subject }),
        el("td", { "data-field": "level" }, levelBadge(row.level)),
        el("td", { class: "num", "data-field": "score", text: row.score ?? "–" }),
        el("td", { class: "details", "data-field": "reasons", text: (row.reasons || []).join("; ") || "–" })));
    }
    if (sorted.length === 0) {
      frag.append(el("tr", {}, el("td", { colSpan: 5, class: "empty", text: "Loading…" })));
    }
    $("health-body").replaceChildren(frag);

    const recs = document.createDocumentFragment();
    for (const r of state.healthReports || []) {
      for (const rec of r.recommendations || []) {
        const where = rec.child ? `${r.supervisor}/${rec.child}` : r.supervisor;
        recs.append(el("li", { "data-code": rec.code, "data-supervisor": r.supervisor, "data-child": rec.child || "" },
          el("code", { class: "rec-code", text: rec.code }),
          el("code", { text: where }), ": ",
          el("span", { "data-field": "message", text: rec.message })));
      }
    }
    if (!recs.hasChildNodes()) {
      recs.append(el("li", { class: "empty", text: "No recommendations." }));
    }
    $("recommendations").replaceChildren(recs);
  });
}

// ---------------------------------------------------------------- rollouts

function scheduleRollouts(delay = REFRESH_DEBOUNCE_MS) {
  if (state.rolloutTimer !== null || state.needToken) return;
  state.rolloutTimer = setTimeout(() => {
    state.rolloutTimer = null;
    refreshRollouts();
  }, delay);
}

async function refreshRollouts() {
  if (!may("rollout.list")) return;
  try {
    renderRollouts(await call("rollout.list"));
  } catch (err) {
    if (err.status !== 401) {
      $("rollouts-body").replaceChildren(el("tr", {}, el("td", { colSpan: 6, class: "empty error", text: `Cannot load rollouts: ${err.message}` })));
    }
  }
}

function renderRollouts(list) {
  const frag = document.createDocumentFragment();
  // Newest first: the ids count up (`r1`, `r2`, …) as started_at_ms does.
  const sorted = [...list].sort((a, b) => (b.started_at_ms - a.started_at_ms) || b.id.localeCompare(a.id));
  for (const r of sorted) {
    const batches = r.batches || [];
    const done = batches.filter((b) => b.state === "done").length;
    const members = batches.flatMap((b) => (b.members || []).map((m) => `${m.path} ${m.outcome}`));
    frag.append(el("tr", { "data-rollout": r.id },
      el("td", {}, el("code", { text: r.id })),
      el("td", { text: r.action + (r.group ? ` of group ${r.group}` : "") }),
      el("td", { "data-field": "state", "data-state": r.state, class: `rollout-state-${r.state}`, text: r.state }),
      el("td", { class: "num", "data-field": "batches", text: `${done}/${batches.length}` }),
      el("td", { class: "details", "data-field": "members", text: members.join(", ") }),
      el("td", { class: "details", "data-field": "reason", text: r.reason || "" })));
  }
  if (sorted.length === 0) {
    frag.append(el("tr", {}, el("td", { colSpan: 6, class: "empty", text: "No rollouts." })));
  }
  $("rollouts-body").replaceChildren(frag);
}

// ---------------------------------------------------------------- start

async function start() {
  setConnection("connecting", "connecting…");
  await loadSession();
  refreshTree();
  refreshHealth();
  refreshRollouts();
  // followEvents loads the recent events once the stream is open, so none
  // published in between is missed.
  followEvents();
}

function init() {
  setupAuth();
  setupSend();
  setupLogs();
  $("event-filter").addEventListener("input", renderEvents);
  // Memory, CPU and health change without events: poll while visible.
  state.pollTimer = setInterval(() => {
    if (document.visibilityState === "visible" && !state.needToken) {
      scheduleRefresh(0);
      scheduleHealth();
    }
  }, POLL_MS);
  window.addEventListener("pagehide", stopStream);
  window.addEventListener("pagehide", stopLogs);
  start();
}

init();
