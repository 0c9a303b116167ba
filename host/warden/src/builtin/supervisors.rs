//! Supervisors as a whole: `supervisors.list`, `tree`,
//! `supervisor.strategy`, `health`.
//!
//! The tree is walked through the supervisors' own admin API
//! (`which_children`, `child_supervisor`, `health_report`), one message
//! per supervisor; nothing here reaches into a child.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, add, admin_error, parse};
use crate::ops::{BoxFuture, OpError, OpMeta, RegisterError, Registry, Role};
use crate::supervisor::{
    ChildId, ChildInfo, ChildKind, Recommendation, StormAction, StormConfig, Strategy,
    StrategyChangeOptions, SupervisorHandle, near_limit,
};

const STRATEGIES: [&str; 4] = [
    "one_for_one",
    "one_for_all",
    "rest_for_one",
    "simple_one_for_one",
];

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "supervisors.list",
            "Lists every supervisor with its strategy, restart intensity and child counts",
        )
        .role(Role::Read)
        .read_only(true)
        .example(json!({}))
        .result(json!({"type": "array", "items": supervisor_row_schema()})),
        |ctx, _| async move { list(&ctx).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "tree",
            "The whole supervision tree: every supervisor and child with its state, restarts and details",
        )
        .role(Role::Read)
        .read_only(true)
        .example(json!({}))
        .result(tree_schema()),
        |ctx, _| async move { subtree(ctx.clone(), ctx.root.clone()).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "supervisor.strategy",
            "Changes a supervisor's restart strategy (or reports what would change, with dry_run); \
             pre-checks (restarts in the last 5 minutes, children restarting now, host memory pressure) \
             rate its risk, and a high-risk change is refused unless forced; the change is rolled back \
             when the tree does not settle; persist keeps it across a host restart",
        )
        .role(Role::Admin)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": "The supervisor's path (`root`, `root/storage`)"},
                "strategy": {"enum": STRATEGIES},
                "dry_run": {"type": "boolean", "description": "Only report which children's coupling changes (default false)"},
                "settle_ms": {"type": "integer", "minimum": 0, "maximum": 60000,
                              "description": "How long the tree must stay free of restarts (default 5000)"},
                "max_recent_restarts": {"type": "integer", "minimum": 0, "maximum": 1000000,
                              "description": "More restarts of the supervisor than this in the last 5 minutes is high risk (default 10)"},
                "force": {"type": "boolean", "description": "Apply even when the pre-checks find it high risk (default false)"},
                "persist": {"type": "boolean", "description": "Keep the applied change across a host restart (default false)"}
            },
            "required": ["path", "strategy"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root", "strategy": "one_for_all", "dry_run": true}))
        .result(json!({
            "type": "object",
            "required": ["supervisor", "from", "to", "dry_run", "changes", "risk", "outcome", "persisted"],
            "properties": {
                "supervisor": {"type": "string"},
                "from": {"enum": STRATEGIES},
                "to": {"enum": STRATEGIES},
                "dry_run": {"type": "boolean"},
                "changes": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "child": {"type": "string"},
                        "before": {"type": "array", "items": {"type": "string"}},
                        "after": {"type": "array", "items": {"type": "string"}}
                    }
                }},
                "risk": {"type": "object", "required": ["level", "reasons"], "properties": {
                    "level": {"enum": ["low", "high"]},
                    "reasons": {"type": "array", "items": {"type": "string"}}
                }},
                "outcome": {"type": "object", "properties": {"outcome": {"enum": ["dry_run", "applied", "rolled_back"]}}},
                "persisted": {"type": "boolean", "description": "Kept across a host restart"}
            }
        })),
        |ctx, params| async move { strategy(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "supervisor.storm",
            "Changes the restart-storm protection of a supervisor's children (or one child) at run time: \
             thresholds and action (tiered log → pause → escalate, log, pause, escalate), or off",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": "The supervisor's path (`root`, `root/storage`)"},
                "child": {"type": "string", "minLength": 1, "description": "One child's id; every child of the supervisor when left out"},
                "enabled": {"type": "boolean", "description": "false turns the detector off (the other settings must be left out); default true"},
                "per_minute": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "A storm is more restarts than this within a minute (default 10 when neither threshold is given)"},
                "per_hour": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "… or within an hour (default 100)"},
                "action": {"enum": ["tiered", "log", "pause", "escalate"], "description": "Default tiered: the first storm within an hour is logged, the next pause, the escalate_after-th escalates (pause needs cooldown_ms)"},
                "cooldown_ms": {"type": "integer", "minimum": 1, "maximum": 3600000, "description": "How long a pause holds the restart (default 30000; required for pause)"},
                "escalate_after": {"type": "integer", "minimum": 2, "maximum": 1000, "description": "With action tiered only: the storm within an hour that escalates (default 5)"}
            },
            "required": ["path"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root", "per_minute": 20, "action": "tiered", "escalate_after": 3}))
        .result(json!({
            "type": "object",
            "required": ["supervisor", "children", "storm"],
            "properties": {
                "supervisor": {"type": "string"},
                "children": {"type": "array", "items": {"type": "string"}, "description": "The children changed"},
                "storm": {"type": ["object", "null"], "description": "The settings now in force (null: off)",
                          "properties": {"per_minute": {"type": ["integer", "null"]}, "per_hour": {"type": ["integer", "null"]}, "action": {}}}
            }
        })),
        |ctx, params| async move { storm(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "health",
            "Health reports (restart rates, child states, recommendations) of one supervisor, or of all",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {"path": {"type": "string", "minLength": 1, "description": "A supervisor's path; all supervisors when left out"}},
            "additionalProperties": false
        }))
        .example(json!({"path": "root"}))
        .result(json!({"type": "array", "items": health_schema()})),
        |ctx, params| async move { health(&ctx, params).await },
    )?;
    Ok(())
}

/// Every running supervisor, the root first, then breadth-first.
async fn all_supervisors(ctx: &Context) -> Result<Vec<SupervisorHandle>, OpError> {
    let mut out = vec![ctx.root.clone()];
    let mut i = 0;
    while let Some(sup) = out.get(i).cloned() {
        i += 1;
        let children = sup
            .which_children()
            .await
            .map_err(|e| admin_error("supervisors.list", e))?;
        for child in children {
            if child.kind == ChildKind::Supervisor && child.generation.is_some() {
                // A nested supervisor stopping between the two calls is
                // simply not listed.
                if let Ok(nested) = sup.child_supervisor(child.id.clone()).await {
                    out.push(nested);
                }
            }
        }
    }
    Ok(out)
}

async fn list(ctx: &Context) -> Result<Value, OpError> {
    let mut rows = Vec::new();
    for sup in all_supervisors(ctx).await? {
        let report = sup
            .health_report()
            .await
            .map_err(|e| admin_error("supervisors.list", e))?;
        rows.push(json!({
            "path": sup.path(),
            "strategy": report.strategy,
            "intensity": report.intensity,
            "period_ms": report.period_ms,
            "children": report.counts.specs,
            "active": report.counts.active,
        }));
    }
    Ok(Value::Array(rows))
}

/// What a child is: `supervisor`, `component` or `process`.
pub(super) fn child_type(ctx: &Context, path: &str, info: &ChildInfo) -> &'static str {
    if info.kind == ChildKind::Supervisor {
        "supervisor"
    } else if ctx.programs.get(path).is_some() {
        "component"
    } else {
        "process"
    }
}

/// One child as `tree` and `child.info` show it.
pub(super) fn child_json(ctx: &Context, path: &str, info: &ChildInfo) -> Value {
    json!({
        "id": info.id,
        "path": path,
        "type": child_type(ctx, path, info),
        "status": info.status,
        "generation": info.generation,
        "restarts": info.restarts,
        "restart": info.restart,
        "last_exit": info.last_exit,
        "info": info.info,
    })
}

fn subtree(ctx: Context, sup: SupervisorHandle) -> BoxFuture<Result<Value, OpError>> {
    Box::pin(async move {
        let report = sup
            .health_report()
            .await
            .map_err(|e| admin_error("tree", e))?;
        let children = sup
            .which_children()
            .await
            .map_err(|e| admin_error("tree", e))?;
        let mut nodes = Vec::with_capacity(children.len());
        for child in children {
            let path = format!("{}/{}", sup.path(), child.id);
            let mut node = child_json(&ctx, &path, &child);
            if child.kind == ChildKind::Supervisor {
                let nested = match sup.child_supervisor(child.id.clone()).await {
                    Ok(nested) => subtree(ctx.clone(), nested).await?,
                    Err(_) => json!({"strategy": null, "children": []}),
                };
                node["strategy"] = nested["strategy"].clone();
                node["children"] = nested["children"].clone();
            }
            nodes.push(node);
        }
        Ok(json!({
            "path": sup.path(),
            "strategy": report.strategy,
            "children": nodes,
        }))
    })
}

#[derive(Deserialize)]
struct StrategyParams {
    path: String,
    strategy: Strategy,
    #[serde(default)]
    dry_run: bool,
    settle_ms: Option<u64>,
    max_recent_restarts: Option<u32>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    persist: bool,
}

/// Below this share of memory available (`MemAvailable / MemTotal`), the
/// host is under memory pressure.
const LOW_MEMORY: f64 = 0.10;

/// The host's memory pressure, when high: why, with the numbers.
fn memory_pressure() -> Option<String> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    pressure_of(&text, LOW_MEMORY)
}

fn pressure_of(meminfo: &str, low: f64) -> Option<String> {
    let kib = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    let (total, available) = (kib("MemTotal:")?, kib("MemAvailable:")?);
    let share = available as f64 / total.max(1) as f64;
    (share < low).then(|| {
        format!(
            "{} MiB of {} MiB available ({:.0} %, below {:.0} %)",
            available / 1024,
            total / 1024,
            share * 100.0,
            low * 100.0
        )
    })
}

async fn strategy(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "supervisor.strategy";
    let p: StrategyParams = parse(OP, params)?;
    let sup = ctx
        .root
        .supervisor_at(&p.path)
        .await
        .map_err(|e| admin_error(OP, e))?;
    let mut options = StrategyChangeOptions {
        dry_run: p.dry_run,
        force: p.force,
        memory_pressure: memory_pressure(),
        ..StrategyChangeOptions::default()
    };
    if let Some(ms) = p.settle_ms {
        options.settle = Duration::from_millis(ms);
    }
    if let Some(n) = p.max_recent_restarts {
        options.max_recent_restarts = n;
    }
    let report = sup
        .change_strategy(p.strategy, options)
        .await
        .map_err(|e| admin_error(OP, e))?;
    let persisted = p.persist && report.outcome == crate::supervisor::ChangeOutcome::Applied;
    if persisted {
        ctx.workers
            .record_strategy(sup.path(), &p.strategy.to_string());
        ctx.workers
            .flush()
            .await
            .map_err(|e| super::failed(OP, e))?;
    }
    let mut answer = super::to_json(OP, &report)?;
    answer["persisted"] = Value::Bool(persisted);
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_pressure_is_low_available_memory() {
        let meminfo =
            "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    1000000 kB\n";
        let high = pressure_of(meminfo, 0.10).unwrap();
        assert!(
            high.starts_with("976 MiB of 15625 MiB available (6 %"),
            "{high}"
        );
        assert_eq!(pressure_of(meminfo, 0.05), None);
        assert_eq!(pressure_of("nonsense", 0.10), None);
    }

    #[test]
    fn children_near_their_memory_or_fuel_limit_are_recommended_on() {
        let id = ChildId::from("c");
        let component = json!({"kind": "component", "memory_bytes": 900, "fuel_last_call": 10,
                               "limits": {"memory_bytes": 1000, "fuel": 1000}});
        let codes: Vec<_> = limit_recommendations(&id, &component)
            .into_iter()
            .map(|r| r.code)
            .collect();
        assert_eq!(
            codes,
            [crate::supervisor::RecommendationCode::NearMemoryLimit]
        );
        let burning = json!({"kind": "component", "memory_bytes": 0, "fuel_last_call": 950,
                             "limits": {"memory_bytes": 1000, "fuel": 1000}});
        let recs = limit_recommendations(&id, &burning);
        assert_eq!(recs.len(), 1);
        assert!(
            recs[0].message.contains("950 of 1000 (95 %)"),
            "{}",
            recs[0].message
        );
        let process = json!({"kind": "process", "stats": {"rss_bytes": 9 << 20},
                             "limits": {"memory_mb": 10}});
        assert_eq!(limit_recommendations(&id, &process).len(), 1);
        let unlimited = json!({"kind": "process", "stats": {"rss_bytes": 9 << 20},
                               "limits": {"memory_mb": null}});
        assert!(limit_recommendations(&id, &unlimited).is_empty());
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StormParams {
    path: String,
    child: Option<String>,
    enabled: Option<bool>,
    per_minute: Option<u32>,
    per_hour: Option<u32>,
    action: Option<String>,
    cooldown_ms: Option<u64>,
    escalate_after: Option<u32>,
}

/// The settings `p` asks for (`None`: off), or the field that is wrong.
fn storm_settings(p: &StormParams) -> Result<Option<StormConfig>, (&'static str, String)> {
    let settings_given = p.per_minute.is_some()
        || p.per_hour.is_some()
        || p.action.is_some()
        || p.cooldown_ms.is_some()
        || p.escalate_after.is_some();
    if p.enabled == Some(false) {
        if settings_given {
            return Err((
                "/enabled",
                "false with no other setting (off has no thresholds)".to_owned(),
            ));
        }
        return Ok(None);
    }
    let defaults = StormConfig::default();
    let cooldown = p.cooldown_ms.map(Duration::from_millis);
    let action = match p.action.as_deref().unwrap_or("tiered") {
        "tiered" => StormAction::Tiered {
            cooldown: cooldown.unwrap_or(Duration::from_secs(30)),
            escalate_after: p.escalate_after.unwrap_or(5),
        },
        _ if p.escalate_after.is_some() => {
            return Err((
                "/escalate_after",
                "left out unless action is tiered".to_owned(),
            ));
        }
        "log" => StormAction::Log,
        "escalate" => StormAction::Escalate,
        "pause" => StormAction::Pause {
            cooldown: cooldown
                .ok_or(("/cooldown_ms", "cooldown_ms for action pause".to_owned()))?,
        },
        other => {
            return Err((
                "/action",
                format!("tiered, log, pause or escalate, not `{other}`"),
            ));
        }
    };
    let (per_minute, per_hour) = if p.per_minute.is_none() && p.per_hour.is_none() {
        (defaults.per_minute, defaults.per_hour)
    } else {
        (p.per_minute, p.per_hour)
    };
    Ok(Some(StormConfig {
        per_minute,
        per_hour,
        action,
    }))
}

async fn storm(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "supervisor.storm";
    let p: StormParams = parse(OP, params)?;
    let settings = storm_settings(&p).map_err(|(path, expected)| OpError::InvalidParams {
        op: OP.to_owned(),
        violations: vec![crate::ops::Violation {
            path: path.to_owned(),
            expected,
            found: "a conflicting value".to_owned(),
        }],
    })?;
    let sup = ctx
        .root
        .supervisor_at(&p.path)
        .await
        .map_err(|e| admin_error(OP, e))?;
    let changed = sup
        .set_storm(p.child.map(ChildId::from), settings)
        .await
        .map_err(|e| admin_error(OP, e))?;
    Ok(json!({
        "supervisor": sup.path(),
        "children": changed,
        "storm": settings,
    }))
}

#[derive(Deserialize)]
struct HealthParams {
    path: Option<String>,
}

async fn health(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "health";
    let p: HealthParams = parse(OP, params)?;
    let sups = match p.path {
        Some(path) => vec![
            ctx.root
                .supervisor_at(&path)
                .await
                .map_err(|e| admin_error(OP, e))?,
        ],
        None => all_supervisors(ctx).await?,
    };
    let mut reports = Vec::with_capacity(sups.len());
    for sup in sups {
        let mut report = sup.health_report().await.map_err(|e| admin_error(OP, e))?;
        // The supervisor cannot read its children's details; their
        // memory and fuel against their limits are read here.
        let children = sup.which_children().await.map_err(|e| admin_error(OP, e))?;
        for child in &children {
            report
                .recommendations
                .extend(limit_recommendations(&child.id, &child.info));
        }
        let level = ctx.health_thresholds.level(report.score);
        let mut json = super::to_json(OP, &report)?;
        json["level"] = super::to_json(OP, &level)?;
        reports.push(json);
    }
    Ok(Value::Array(reports))
}

/// A child near its memory limit (a component's memory, a process's
/// resident memory) or, a component, its per-call fuel budget (the fuel its
/// last call burned).
fn limit_recommendations(id: &ChildId, info: &Value) -> Vec<Recommendation> {
    const MIB: u64 = 1 << 20;
    let limits = &info["limits"];
    let memory = match info["kind"].as_str() {
        Some("component") => info["memory_bytes"]
            .as_u64()
            .zip(limits["memory_bytes"].as_u64()),
        Some("process") => info["stats"]["rss_bytes"].as_u64().zip(
            limits["memory_mb"]
                .as_u64()
                .map(|mb| mb.saturating_mul(MIB)),
        ),
        _ => None,
    };
    let fuel = info["fuel_last_call"].as_u64().zip(limits["fuel"].as_u64());
    let mut out = Vec::new();
    if let Some((used, limit)) = memory {
        out.extend(near_limit(id, used, limit, false));
    }
    if let Some((used, limit)) = fuel {
        out.extend(near_limit(id, used, limit, true));
    }
    out
}

fn supervisor_row_schema() -> Value {
    json!({
        "type": "object",
        "required": ["path", "strategy", "intensity", "period_ms", "children", "active"],
        "properties": {
            "path": {"type": "string"},
            "strategy": {"enum": STRATEGIES},
            "intensity": {"type": "integer"},
            "period_ms": {"type": "integer"},
            "children": {"type": "integer", "description": "Child specs, running or not"},
            "active": {"type": "integer", "description": "Live incarnations"}
        }
    })
}

/// A child node of `tree` (and the core of `child.info`).
pub(super) fn child_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "path", "type", "status", "generation", "restarts", "restart", "last_exit", "info"],
        "properties": {
            "id": {"type": "string"},
            "path": {"type": "string"},
            "type": {"enum": ["component", "process", "supervisor"]},
            "status": {"enum": ["running", "restarting", "stopped"]},
            "generation": {"type": ["integer", "null"]},
            "restarts": {"type": "integer"},
            "restart": {"enum": ["permanent", "transient", "temporary"]},
            "last_exit": {
                "type": ["object", "null"],
                "properties": {"reason": {"enum": ["normal", "shutdown", "abnormal"]}}
            },
            "info": {"description": "Kind-specific details of the live incarnation: limits, memory (all linear memories and tables) and memory-limit breaches, mailbox and code hash of a component; pid, stats and health of a process"},
            "strategy": {"enum": STRATEGIES, "description": "Supervisors only"},
            "children": {"type": "array", "description": "Supervisors only: its children, same shape"}
        }
    })
}

fn tree_schema() -> Value {
    json!({
        "type": "object",
        "required": ["path", "strategy", "children"],
        "properties": {
            "path": {"type": "string"},
            "strategy": {"enum": STRATEGIES},
            "children": {"type": "array", "items": child_schema()}
        }
    })
}

fn health_schema() -> Value {
    json!({
        "type": "object",
        "required": ["supervisor", "strategy", "intensity", "period_ms", "restarts_in_period",
                     "restarts_total", "restarts_last_hour", "counts", "children", "recommendations",
                     "score", "level", "reasons"],
        "properties": {
            "supervisor": {"type": "string"},
            "strategy": {"enum": STRATEGIES},
            "intensity": {"type": "integer"},
            "period_ms": {"type": "integer"},
            "restarts_in_period": {"type": "integer"},
            "restarts_total": {"type": "integer"},
            "restarts_last_hour": {"type": "integer"},
            "counts": {"type": "object"},
            "children": {"type": "array", "items": {"type": "object"}},
            "recommendations": {"type": "array", "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "child": {"type": ["string", "null"]}, "message": {"type": "string"}}
            }},
            "score": {"type": "integer", "minimum": 0, "maximum": 100,
                      "description": "0–100: less for restarts within the period, children down, a storm, a restart rate over the intensity's"},
            "level": {"enum": ["healthy", "warning", "critical", "emergency"],
                      "description": "The score's level by the `[health]` thresholds, as the monitor's health_changed events name it"},
            "reasons": {"type": "array", "items": {"type": "string"}, "description": "Why the score is below 100"}
        }
    })
}
