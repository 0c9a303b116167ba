//! Coordinated operations over several children: `rollout.start`,
//! `rollout.status`, `rollout.list`, `rollout.abort`, in the spirit of
//! Kubernetes' rolling updates (`maxUnavailable`, readiness gates).
//!
//! A rollout applies one action — `restart` (terminate and start again),
//! `reload` (a component child to the code in its file, or a sandbox to a
//! stored `component`) or `strategy` (a supervisor's restart strategy) —
//! to a group's members (sorted by path, as they are when it starts) or a
//! list of paths (in the order given), batch by batch. Before a batch, at
//! most `max_unavailable` members of the whole rollout may be down (a
//! restart batch counts its own members as down, so it is cut to
//! `max_unavailable` members). The batch's members are changed together;
//! then the batch is gated: each member must stay healthy — running, the
//! same incarnation, no new restart, and for a supervisor no child
//! restarting — for `settle_ms`. A failed action or gate stops the
//! rollout and puts back, newest first, every member it changed: a
//! reload is rolled back to the version that ran before (`child.rollback`,
//! state carried over), a strategy changed back (tried again while the
//! supervisor refuses for a child restarting); a restart cannot be
//! undone, and the status says so. `rollout.abort` stops it the same way.
//!
//! Owns: the [`Rollouts`] table (the running rollouts and the last
//! [`KEEP_ENDED`] ended ones, by id `r1`, `r2`…), the runner's steps and
//! their [`RolloutEvent`]s. Guarantees: two running rollouts never share
//! a member (the second is refused, 409); a dry run changes nothing and
//! answers the batches. Never does: restart, reload or change a strategy
//! by any other path than the supervisor handles and the reloader the
//! matching single-child operations use.
//!
//! Roles: starting and aborting is `operate` (what `child.restart` and
//! `child.reload` are); reading, `read`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warden_clock::unix_ms;

use super::groups::group_paths;
use super::{Context, add, admin_error, child_id, invalid, locate, parse, reload_error};
use crate::events::RolloutEvent;
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::reload::ReloadOutcome;
use crate::supervisor::{
    ChangeOutcome, ChildPath, ChildStatus, Strategy, StrategyChangeOptions, SupervisorHandle,
};

/// How many ended rollouts are kept for `rollout.status` and `rollout.list`.
pub const KEEP_ENDED: usize = 32;
/// The most members one rollout covers.
const MAX_MEMBERS: usize = 1_000;
const MAX_SETTLE_MS: u64 = 600_000;
const DEFAULT_SETTLE_MS: u64 = 1_000;
/// How often a gate looks at its members while they settle.
const GATE_POLL: Duration = Duration::from_millis(50);
/// How long a supervisor's strategy is tried back while it refuses.
const STRATEGY_BACK_WAIT: Duration = Duration::from_secs(30);
/// How long `rollout.abort` waits for the rollout to put its members back.
const ABORT_WAIT: Duration = Duration::from_secs(60);

/// The rollouts, running and recently ended. Cheap to clone.
#[derive(Clone, Default)]
pub struct Rollouts {
    inner: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    next: u64,
    /// By number, oldest first.
    all: BTreeMap<u64, Record>,
}

struct Record {
    view: RolloutView,
    abort: Arc<tokio::sync::Notify>,
    aborted: bool,
    ended: tokio::sync::watch::Receiver<bool>,
}

impl Rollouts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut RolloutView)) {
        if let Some(record) = self.lock().all.get_mut(&id) {
            f(&mut record.view);
        }
    }

    fn aborted(&self, id: u64) -> bool {
        self.lock().all.get(&id).is_some_and(|r| r.aborted)
    }
}

/// What a rollout does to each member.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Restart,
    Reload { component: Option<String> },
    Strategy(Strategy),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Reload { .. } => "reload",
            Action::Strategy(_) => "strategy",
        }
    }
}

/// A rollout as `rollout.status` shows it.
#[derive(Clone, Debug, Serialize)]
struct RolloutView {
    id: String,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<Strategy>,
    batch_size: usize,
    max_unavailable: usize,
    settle_ms: u64,
    /// `running`, `succeeded`, `rolled_back`, `aborted` or `failed` (a
    /// member could not be put back).
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    started_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at_ms: Option<u64>,
    batches: Vec<BatchView>,
}

#[derive(Clone, Debug, Serialize)]
struct BatchView {
    /// From 1.
    batch: usize,
    /// `pending`, `running`, `done` or `failed`.
    state: &'static str,
    members: Vec<MemberView>,
}

#[derive(Clone, Debug, Serialize)]
struct MemberView {
    path: String,
    /// `pending`, `changed`, `unchanged`, `failed`, `rolled_back`,
    /// `rollback_failed` or `not_rolled_back` (a restart).
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// How to put a changed member back.
#[derive(Clone, Debug)]
enum Undo {
    Version(u64),
    Strategy(Strategy),
    Nothing,
}

fn view_schema() -> Value {
    let member = json!({
        "type": "object",
        "required": ["path", "outcome"],
        "additionalProperties": false,
        "properties": {
            "path": {"type": "string"},
            "outcome": {"enum": ["pending", "changed", "unchanged", "failed", "rolled_back", "rollback_failed", "not_rolled_back"]},
            "detail": {"type": "string", "description": "What changed (`version 1 → 2`), or why it failed"}
        }
    });
    json!({
        "type": "object",
        "required": ["id", "action", "batch_size", "max_unavailable", "settle_ms", "state", "started_at_ms", "batches"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string"},
            "action": {"enum": ["restart", "reload", "strategy"]},
            "group": {"type": "string"},
            "component": {"type": "string"},
            "strategy": {"enum": ["one_for_one", "one_for_all", "rest_for_one"]},
            "batch_size": {"type": "integer"},
            "max_unavailable": {"type": "integer"},
            "settle_ms": {"type": "integer"},
            "state": {"enum": ["running", "succeeded", "rolled_back", "aborted", "failed"],
                      "description": "failed: stopped and some member could not be put back"},
            "reason": {"type": "string", "description": "Why it stopped"},
            "started_at_ms": {"type": "integer"},
            "ended_at_ms": {"type": "integer"},
            "batches": {"type": "array", "items": {
                "type": "object",
                "required": ["batch", "state", "members"],
                "additionalProperties": false,
                "properties": {
                    "batch": {"type": "integer"},
                    "state": {"enum": ["pending", "running", "done", "failed"]},
                    "members": {"type": "array", "items": member}
                }
            }}
        }
    })
}

fn id_params() -> Value {
    json!({
        "type": "object",
        "properties": {"id": {"type": "string", "minLength": 1, "description": "A rollout id, as rollout.start answers it (`r1`)"}},
        "required": ["id"],
        "additionalProperties": false
    })
}

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "rollout.start",
            "Restarts, reloads or changes the strategy of a group's members or a list of paths \
             batch by batch, each batch gated on its members staying healthy for settle_ms; a \
             failed batch stops it and puts back the members already changed. Answers at once \
             (follow it with rollout.status or the rollout_* events); dry_run answers the batches",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "group": {"type": "string", "minLength": 1, "maxLength": 64, "description": "A group: its members, sorted by path; give this or `paths`"},
                "paths": {"type": "array", "minItems": 1, "maxItems": MAX_MEMBERS, "items": {"type": "string", "minLength": 1},
                          "description": "Children's full paths, in the order the batches take them"},
                "action": {"enum": ["restart", "reload", "strategy"],
                           "description": "restart: any child; reload: component children (from their file, or a sandbox to `component`); strategy: supervisors"},
                "component": {"type": "string", "minLength": 64, "maxLength": 64, "description": "reload only, sandboxes only: the store id to reload to"},
                "strategy": {"enum": ["one_for_one", "one_for_all", "rest_for_one"], "description": "strategy only (required there): the new strategy"},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": MAX_MEMBERS, "description": "Members changed together (default 1)"},
                "max_unavailable": {"type": "integer", "minimum": 0, "maximum": MAX_MEMBERS,
                                    "description": "How many members may be down at once, a restart batch's own included (default 1; at least 1 for restart)"},
                "settle_ms": {"type": "integer", "minimum": 0, "maximum": MAX_SETTLE_MS,
                              "description": format!("How long each batch's members must stay healthy (default {DEFAULT_SETTLE_MS})")},
                "dry_run": {"type": "boolean", "description": "Only answer the batches (default false)"}
            },
            "required": ["action"],
            "additionalProperties": false
        }))
        .example(json!({"group": "ingest", "action": "restart", "batch_size": 1, "max_unavailable": 1, "settle_ms": 5000}))
        .result(json!({
            "type": "object",
            "required": ["dry_run", "action", "batches"],
            "additionalProperties": false,
            "properties": {
                "id": {"type": "string", "description": "For rollout.status and rollout.abort (not for a dry run)"},
                "dry_run": {"type": "boolean"},
                "action": {"enum": ["restart", "reload", "strategy"]},
                "batches": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
            }
        })),
        |ctx, params| async move { start(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "rollout.status",
            format!(
                "A rollout's state, batches and each member's outcome (running ones and the last \
                 {KEEP_ENDED} ended ones are kept)"
            ),
        )
        .role(Role::Read)
        .read_only(true)
        .params(id_params())
        .example(json!({"id": "r1"}))
        .result(view_schema()),
        |ctx, params| async move {
            const OP: &str = "rollout.status";
            let p: IdParam = parse(OP, params)?;
            let n = number(&p.id)?;
            let table = ctx.rollouts.lock();
            let record = table.all.get(&n).ok_or_else(|| unknown(&p.id))?;
            super::to_json(OP, &record.view)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "rollout.list",
            "The running and kept rollouts, oldest first",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({"type": "object", "properties": {}, "additionalProperties": false}))
        .example(json!({}))
        .result(json!({"type": "array", "items": view_schema()})),
        |ctx, _params| async move {
            let views: Vec<RolloutView> = ctx
                .rollouts
                .lock()
                .all
                .values()
                .map(|r| r.view.clone())
                .collect();
            super::to_json("rollout.list", &views)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "rollout.abort",
            "Stops a running rollout and puts back the members it changed, as a failed gate \
             does; answers once it has (state `aborted`). 409 when it already ended",
        )
        .role(Role::Operate)
        .params(id_params())
        .example(json!({"id": "r1"}))
        .result(view_schema()),
        |ctx, params| async move {
            const OP: &str = "rollout.abort";
            let p: IdParam = parse(OP, params)?;
            let n = number(&p.id)?;
            let mut ended = {
                let mut table = ctx.rollouts.lock();
                let record = table.all.get_mut(&n).ok_or_else(|| unknown(&p.id))?;
                if record.view.state != "running" {
                    return Err(OpError::Conflict {
                        message: format!("rollout {} already ended ({})", p.id, record.view.state),
                    });
                }
                record.aborted = true;
                record.abort.notify_one();
                record.ended.clone()
            };
            let waited = tokio::time::timeout(ABORT_WAIT, ended.wait_for(|ended| *ended)).await;
            if waited.is_err() {
                return Err(super::failed(
                    OP,
                    format!(
                        "rollout {} did not stop within {} s",
                        p.id,
                        ABORT_WAIT.as_secs()
                    ),
                ));
            }
            let table = ctx.rollouts.lock();
            let record = table.all.get(&n).ok_or_else(|| unknown(&p.id))?;
            super::to_json(OP, &record.view)
        },
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct IdParam {
    id: String,
}

fn number(id: &str) -> Result<u64, OpError> {
    id.strip_prefix('r')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| unknown(id))
}

fn unknown(id: &str) -> OpError {
    OpError::NotFound {
        what: format!("rollout `{id}`"),
    }
}

#[derive(Deserialize)]
struct StartParams {
    group: Option<String>,
    paths: Option<Vec<String>>,
    action: String,
    component: Option<String>,
    strategy: Option<Strategy>,
    batch_size: Option<usize>,
    max_unavailable: Option<usize>,
    settle_ms: Option<u64>,
    #[serde(default)]
    dry_run: bool,
}

async fn start(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "rollout.start";
    let p: StartParams = parse(OP, params)?;
    let action = match (p.action.as_str(), &p.component, p.strategy) {
        ("restart", None, None) => Action::Restart,
        ("reload", component, None) => Action::Reload {
            component: component.clone(),
        },
        ("strategy", None, Some(Strategy::SimpleOneForOne)) => {
            return Err(invalid(
                OP,
                "/strategy",
                "one_for_one, one_for_all or rest_for_one",
                "simple_one_for_one",
            ));
        }
        ("strategy", None, Some(strategy)) => Action::Strategy(strategy),
        ("strategy", None, None) => {
            return Err(invalid(
                OP,
                "/strategy",
                "the new strategy (action strategy)",
                "nothing",
            ));
        }
        (other, None, None) => {
            return Err(invalid(OP, "/action", "restart, reload or strategy", other));
        }
        (action, Some(_), _) => {
            return Err(invalid(
                OP,
                "/component",
                "no component: it is for action reload",
                format!("action {action}"),
            ));
        }
        (action, _, Some(_)) => {
            return Err(invalid(
                OP,
                "/strategy",
                "no strategy: it is for action strategy",
                format!("action {action}"),
            ));
        }
    };
    let paths: Vec<String> = match (&p.group, p.paths) {
        (Some(group), None) => group_paths(ctx, group)?,
        (None, Some(paths)) => paths
            .into_iter()
            .map(|p| p.trim_matches('/').to_string())
            .collect(),
        (Some(_), Some(_)) => {
            return Err(invalid(
                OP,
                "/paths",
                "`group` or `paths`, not both",
                "both",
            ));
        }
        (None, None) => return Err(invalid(OP, "/group", "a group or `paths`", "nothing")),
    };
    let mut seen = HashSet::new();
    if let Some(twice) = paths.iter().find(|p| !seen.insert(p.as_str())) {
        return Err(invalid(
            OP,
            "/paths",
            "each path once",
            format!("`{twice}` twice"),
        ));
    }
    let max_unavailable = p.max_unavailable.unwrap_or(1);
    let mut batch_size = p.batch_size.unwrap_or(1);
    if action == Action::Restart {
        if max_unavailable == 0 {
            return Err(invalid(
                OP,
                "/max_unavailable",
                "at least 1 for a restart (a restarting member is down)",
                "0",
            ));
        }
        batch_size = batch_size.min(max_unavailable);
    }
    for path in &paths {
        check_member(OP, ctx, &action, path).await?;
    }
    let batches: Vec<Vec<String>> = paths.chunks(batch_size).map(<[String]>::to_vec).collect();
    if p.dry_run {
        return Ok(json!({"dry_run": true, "action": action.name(), "batches": batches}));
    }
    let settle_ms = p.settle_ms.unwrap_or(DEFAULT_SETTLE_MS);
    let abort = Arc::new(tokio::sync::Notify::new());
    let (ended_tx, ended) = tokio::sync::watch::channel(false);
    let n = {
        let mut table = ctx.rollouts.lock();
        let busy = table
            .all
            .values()
            .filter(|r| r.view.state == "running")
            .find_map(|r| {
                let members = r.view.batches.iter().flat_map(|b| &b.members);
                members
                    .map(|m| &m.path)
                    .find(|m| paths.contains(m))
                    .map(|m| (r.view.id.clone(), m.clone()))
            });
        if let Some((id, path)) = busy {
            return Err(OpError::Conflict {
                message: format!("`{path}` is in running rollout {id}: abort it or wait"),
            });
        }
        table.next += 1;
        let n = table.next;
        let view = RolloutView {
            id: format!("r{n}"),
            action: action.name(),
            group: p.group.clone(),
            component: p.component.clone(),
            strategy: p.strategy,
            batch_size,
            max_unavailable,
            settle_ms,
            state: "running",
            reason: None,
            started_at_ms: unix_ms(),
            ended_at_ms: None,
            batches: batches
                .iter()
                .enumerate()
                .map(|(i, paths)| BatchView {
                    batch: i + 1,
                    state: "pending",
                    members: paths
                        .iter()
                        .map(|path| MemberView {
                            path: path.clone(),
                            outcome: "pending",
                            detail: None,
                        })
                        .collect(),
                })
                .collect(),
        };
        table.all.insert(
            n,
            Record {
                view,
                abort: abort.clone(),
                aborted: false,
                ended,
            },
        );
        let running = |r: &Record| r.view.state == "running";
        let ended: Vec<u64> = table
            .all
            .iter()
            .filter(|(_, r)| !running(r))
            .map(|(n, _)| *n)
            .collect();
        for old in ended.iter().take(ended.len().saturating_sub(KEEP_ENDED)) {
            table.all.remove(old);
        }
        n
    };
    let id = format!("r{n}");
    let runner = Runner {
        ctx: ctx.clone(),
        n,
        id: id.clone(),
        action,
        paths,
        max_unavailable,
        settle: Duration::from_millis(settle_ms),
        abort,
        changed: Vec::new(),
    };
    let answer = json!({"id": id, "dry_run": false, "action": p.action, "batches": batches});
    let rollouts = ctx.rollouts.clone();
    tokio::spawn(async move {
        // A runner that panicked must not leave its rollout `running`
        // (and its members taken) for ever.
        if let Err(join) = tokio::spawn(runner.run(batches)).await {
            rollouts.update(n, |view| {
                view.state = "failed";
                view.reason = Some(format!("the rollout's task failed: {join}"));
                view.ended_at_ms = Some(unix_ms());
            });
        }
        let _ = ended_tx.send(true);
    });
    Ok(answer)
}

/// 404 for a path not in the tree, 409 for a member the action cannot
/// apply to.
async fn check_member(op: &str, ctx: &Context, action: &Action, path: &str) -> Result<(), OpError> {
    match action {
        Action::Restart => locate(op, ctx, path).await.map(drop),
        Action::Reload { component } => {
            if ctx.programs.get(path).is_none() {
                locate(op, ctx, path).await?;
                return Err(OpError::Conflict {
                    message: format!("`{path}` is not a component child: it cannot be reloaded"),
                });
            }
            if component.is_some() && !ctx.sandboxes.contains(path) {
                return Err(OpError::Conflict {
                    message: format!(
                        "`component` is for sandboxes: `{path}` is a configured child, which \
                         reloads from its own file"
                    ),
                });
            }
            Ok(())
        }
        Action::Strategy(_) => {
            let sup = ctx
                .root
                .supervisor_at(path)
                .await
                .map_err(|e| admin_error(op, e))?;
            let report = sup.health_report().await.map_err(|e| admin_error(op, e))?;
            if report.strategy == Strategy::SimpleOneForOne {
                return Err(OpError::Conflict {
                    message: format!("`{path}` is simple_one_for_one: its strategy cannot change"),
                });
            }
            Ok(())
        }
    }
}

/// One rollout's task.
struct Runner {
    ctx: Context,
    n: u64,
    id: String,
    action: Action,
    /// Every member, for the unavailability count.
    paths: Vec<String>,
    max_unavailable: usize,
    settle: Duration,
    abort: Arc<tokio::sync::Notify>,
    /// The members changed so far, in order, and how to undo each.
    changed: Vec<(String, Undo)>,
}

/// Why a rollout stops short.
enum Stop {
    Failed(String),
    Aborted,
}

impl Runner {
    fn emit(&self, event: RolloutEvent) {
        self.ctx
            .events
            .emit(ChildPath::supervisor(self.ctx.root.path()), event);
    }

    fn set_member(&self, path: &str, outcome: &'static str, detail: Option<String>) {
        self.ctx.rollouts.update(self.n, |view| {
            for member in view.batches.iter_mut().flat_map(|b| b.members.iter_mut()) {
                if member.path == path {
                    member.outcome = outcome;
                    member.detail = detail.clone();
                }
            }
        });
    }

    fn set_batch(&self, batch: usize, state: &'static str) {
        self.ctx.rollouts.update(self.n, |view| {
            if let Some(b) = view.batches.get_mut(batch) {
                b.state = state;
            }
        });
    }

    async fn run(mut self, batches: Vec<Vec<String>>) {
        self.emit(RolloutEvent::RolloutStarted {
            id: self.id.clone(),
            action: self.action.name().to_string(),
            members: self.paths.len() as u64,
            batches: batches.len() as u64,
        });
        let mut stop = None;
        for (i, batch) in batches.iter().enumerate() {
            if let Err(why) = self.batch(i, batch).await {
                self.set_batch(i, "failed");
                if let Stop::Failed(reason) = &why {
                    self.emit(RolloutEvent::RolloutFailed {
                        id: self.id.clone(),
                        batch: i as u64 + 1,
                        reason: reason.clone(),
                    });
                }
                stop = Some((i, why));
                break;
            }
            self.set_batch(i, "done");
            self.emit(RolloutEvent::BatchDone {
                id: self.id.clone(),
                batch: i as u64 + 1,
            });
        }
        let Some((i, why)) = stop else {
            self.finish("succeeded", None);
            self.emit(RolloutEvent::RolloutDone {
                id: self.id.clone(),
            });
            return;
        };
        if matches!(why, Stop::Aborted) {
            self.emit(RolloutEvent::RolloutAborted {
                id: self.id.clone(),
            });
        }
        let (back, failed) = self.roll_back().await;
        let mut reason = match &why {
            Stop::Failed(reason) => format!("batch {} failed: {reason}", i + 1),
            Stop::Aborted => format!("aborted during batch {}", i + 1),
        };
        if self.action == Action::Restart {
            reason.push_str("; the members already restarted stay so (a restart cannot be undone)");
        }
        if !failed.is_empty() {
            reason.push_str(&format!("; could not roll back {}", failed.join(", ")));
        }
        self.emit(RolloutEvent::RolloutRolledBack {
            id: self.id.clone(),
            paths: back,
            failed: failed.clone(),
        });
        let state = match why {
            _ if !failed.is_empty() => "failed",
            Stop::Aborted => "aborted",
            Stop::Failed(_) => "rolled_back",
        };
        self.finish(state, Some(reason));
    }

    fn finish(&self, state: &'static str, reason: Option<String>) {
        self.ctx.rollouts.update(self.n, |view| {
            view.state = state;
            view.reason = reason;
            view.ended_at_ms = Some(unix_ms());
        });
    }

    /// Checks the unavailability budget, changes the batch's members
    /// together, then gates them.
    async fn batch(&mut self, i: usize, batch: &[String]) -> Result<(), Stop> {
        if self.ctx.rollouts.aborted(self.n) {
            return Err(Stop::Aborted);
        }
        let mut down = Vec::new();
        for path in &self.paths {
            if !batch.contains(path) && healthy(&self.ctx, path).await.is_err() {
                down.push(path.clone());
            }
        }
        let own = if self.action == Action::Restart {
            batch.len()
        } else {
            0
        };
        if down.len() + own > self.max_unavailable {
            return Err(Stop::Failed(format!(
                "{} member(s) down ({}) and {own} about to restart: more than max_unavailable {}",
                down.len(),
                down.join(", "),
                self.max_unavailable
            )));
        }
        self.set_batch(i, "running");
        self.emit(RolloutEvent::BatchStarted {
            id: self.id.clone(),
            batch: i as u64 + 1,
            paths: batch.to_vec(),
        });
        let results = futures_join(batch.iter().map(|path| {
            let (ctx, action, path) = (self.ctx.clone(), self.action.clone(), path.clone());
            async move { apply(&ctx, &action, &path).await }
        }))
        .await;
        let mut failure = None;
        for (path, result) in batch.iter().zip(results) {
            match result {
                Ok(Some((undo, detail))) => {
                    self.set_member(path, "changed", Some(detail));
                    self.changed.push((path.clone(), undo));
                }
                Ok(None) => self.set_member(path, "unchanged", None),
                Err(reason) => {
                    self.set_member(path, "failed", Some(reason.clone()));
                    failure.get_or_insert(format!("`{path}`: {reason}"));
                }
            }
        }
        if let Some(reason) = failure {
            return Err(Stop::Failed(reason));
        }
        self.gate(batch).await
    }

    /// Each member healthy and the same incarnation, without a new
    /// restart, until `settle` has passed.
    async fn gate(&self, batch: &[String]) -> Result<(), Stop> {
        if self.ctx.rollouts.aborted(self.n) {
            return Err(Stop::Aborted);
        }
        let mut baseline = Vec::with_capacity(batch.len());
        for path in batch {
            let seen = healthy(&self.ctx, path)
                .await
                .map_err(|why| Stop::Failed(format!("`{path}` {why}")))?;
            baseline.push(seen);
        }
        let until = tokio::time::Instant::now() + self.settle;
        loop {
            let now = tokio::time::Instant::now();
            if now >= until {
                return Ok(());
            }
            let wake = (now + GATE_POLL).min(until);
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = self.abort.notified() => return Err(Stop::Aborted),
            }
            for (path, before) in batch.iter().zip(&baseline) {
                let now = healthy(&self.ctx, path)
                    .await
                    .map_err(|why| Stop::Failed(format!("`{path}` {why} while settling")))?;
                if now != *before {
                    return Err(Stop::Failed(format!("`{path}` restarted while settling")));
                }
            }
        }
    }

    /// Puts back every changed member, newest first: the paths put back
    /// and those that could not be.
    async fn roll_back(&mut self) -> (Vec<String>, Vec<String>) {
        let (mut back, mut failed) = (Vec::new(), Vec::new());
        for (path, undo) in std::mem::take(&mut self.changed).into_iter().rev() {
            let result = match undo {
                Undo::Nothing => {
                    self.set_member(
                        &path,
                        "not_rolled_back",
                        Some("restarted: nothing to roll back".into()),
                    );
                    continue;
                }
                Undo::Version(version) => self
                    .ctx
                    .reloader
                    .rollback(&path, Some(version))
                    .await
                    .map(|now| format!("back to version {now}"))
                    .map_err(|e| e.to_string()),
                Undo::Strategy(strategy) => match supervisor(&self.ctx, &path).await {
                    Ok(sup) => change_back(&sup, strategy)
                        .await
                        .map(|()| format!("back to {strategy}")),
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(detail) => {
                    self.set_member(&path, "rolled_back", Some(detail));
                    back.push(path);
                }
                Err(reason) => {
                    self.set_member(&path, "rollback_failed", Some(reason));
                    failed.push(path);
                }
            }
        }
        (back, failed)
    }
}

/// Runs the futures concurrently, answers in their order.
async fn futures_join<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(value) => out.push(value),
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
    out
}

/// A member's restarts and generation while it is healthy: running, and
/// for a supervisor none of its children restarting; why not otherwise.
async fn healthy(ctx: &Context, path: &str) -> Result<(u64, Option<u64>), String> {
    let seen = if path == ctx.root.path() {
        // The root has no parent to report it: it runs while the host does.
        (0, None)
    } else {
        let (_, info) = locate("rollout.start", ctx, path)
            .await
            .map_err(|_| "is no longer in the tree".to_string())?;
        if info.status != ChildStatus::Running {
            return Err(format!("is {}", status_name(info.status)));
        }
        (info.restarts, info.generation)
    };
    if let Ok(sup) = ctx.root.supervisor_at(path).await
        && let Ok(children) = sup.which_children().await
        && let Some(child) = children
            .iter()
            .find(|c| c.status == ChildStatus::Restarting)
    {
        return Err(format!("has child `{}` restarting", child.id));
    }
    Ok(seen)
}

fn status_name(status: ChildStatus) -> &'static str {
    match status {
        ChildStatus::Running => "running",
        ChildStatus::Restarting => "restarting",
        ChildStatus::Stopped => "stopped",
    }
}

async fn supervisor(ctx: &Context, path: &str) -> Result<SupervisorHandle, String> {
    ctx.root
        .supervisor_at(path)
        .await
        .map_err(|e| e.to_string())
}

/// [`change_strategy`] back to `to`, again while the supervisor refuses
/// because a child is restarting (a failed gate often means one is), for
/// up to [`STRATEGY_BACK_WAIT`].
async fn change_back(sup: &SupervisorHandle, to: Strategy) -> Result<(), String> {
    let until = tokio::time::Instant::now() + STRATEGY_BACK_WAIT;
    loop {
        match change_strategy(sup, to).await {
            Err(reason) if tokio::time::Instant::now() < until => {
                tracing::debug!(supervisor = sup.path(), %reason, "strategy not changed back yet; retrying");
                tokio::time::sleep(GATE_POLL).await;
            }
            done => return done,
        }
    }
}

async fn change_strategy(sup: &SupervisorHandle, to: Strategy) -> Result<(), String> {
    // The rollout's gate is the settle window: the handle's own is off.
    let options = StrategyChangeOptions {
        settle: Duration::ZERO,
        ..StrategyChangeOptions::default()
    };
    let report = sup
        .change_strategy(to, options)
        .await
        .map_err(|e| e.to_string())?;
    if report.outcome != ChangeOutcome::Applied {
        return Err(format!("the change was not applied ({:?})", report.outcome));
    }
    Ok(())
}

/// Applies the action to one member: how to undo it and what changed,
/// `None` when nothing needed to, or why it failed.
async fn apply(
    ctx: &Context,
    action: &Action,
    path: &str,
) -> Result<Option<(Undo, String)>, String> {
    const OP: &str = "rollout.start";
    match action {
        Action::Restart => {
            let (sup, id) = child_id(OP, ctx, path).await.map_err(|e| e.to_string())?;
            sup.terminate_child(id.clone())
                .await
                .map_err(|e| admin_error(OP, e).to_string())?;
            let started = sup
                .restart_child(id)
                .await
                .map_err(|e| admin_error(OP, e).to_string())?;
            let detail = match started.generation() {
                Some(generation) => format!("restarted (generation {generation})"),
                None => "restarted".to_string(),
            };
            Ok(Some((Undo::Nothing, detail)))
        }
        Action::Reload { component } => {
            let before = ctx.reloader.current_version(path);
            let target = match component {
                Some(component) => {
                    Some(super::reload::stored(ctx, path, component).map_err(|e| e.to_string())?)
                }
                None => None,
            };
            let outcome = ctx
                .reloader
                .reload_from(path, target.as_ref().map(|(_, file)| file.as_path()), false)
                .await
                .map_err(|e| reload_error(OP, e).to_string())?;
            match outcome {
                ReloadOutcome::Unchanged { .. } => Ok(None),
                ReloadOutcome::Reloaded { version, .. } => {
                    if let Some((lease, _)) = target {
                        ctx.sandboxes.add_lease(path, lease);
                    }
                    let from = before.unwrap_or(version.saturating_sub(1));
                    Ok(Some((
                        Undo::Version(from),
                        format!("version {from} → {version}"),
                    )))
                }
                ReloadOutcome::Failed {
                    version,
                    stage,
                    reason,
                } => Err(format!(
                    "reload to version {version} failed at {stage}: {reason}; the old version keeps serving"
                )),
            }
        }
        Action::Strategy(to) => {
            let sup = supervisor(ctx, path).await?;
            let report = sup.health_report().await.map_err(|e| e.to_string())?;
            if report.strategy == *to {
                return Ok(None);
            }
            change_strategy(&sup, *to).await?;
            Ok(Some((
                Undo::Strategy(report.strategy),
                format!("{} → {to}", report.strategy),
            )))
        }
    }
}
