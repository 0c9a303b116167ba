//! `chaos.run`: a bounded failure experiment on chosen children, cleaned up
//! afterwards, with a report of what happened.
//!
//! Scenarios: `kill_random` (every 1/`rate` s a random target is killed),
//! `cascade` (the targets killed one after another, 1/`rate` s apart, in
//! the order given), `hang` (every target frozen for the whole duration:
//! a process stopped with `SIGSTOP`, a component's actor hung),
//! `memory_pressure` (process targets only: the memory limit the monitor
//! holds each incarnation to is lowered to `limit_mb`, by default half its
//! resident memory at the start, so it is killed for `memory_limit` and
//! restarted, again and again). Afterwards every hang is released (a
//! stopped process continued with `SIGCONT`, a hung component killed so its
//! supervisor restarts it) and every lowered limit restored, and the
//! experiment waits (at most 30 s) for every target to run again.
//!
//! Guarantees: nothing runs unless `[chaos] enabled = true`; a target
//! outside `[chaos] allow` is refused before anything happens (403); the
//! experiment never outlasts `duration_ms` plus its recovery wait; the
//! cleanup runs whatever the injections did. Never does: touch a child not
//! named in `targets`, or change a child's spec or the config.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Context, add, admin_error, child_id, parse};
use crate::events::EventFilter;
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::supervisor::{ChildInfo, ChildKind, ChildStatus, Fault};

/// How long the experiment waits for its targets to run again.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "chaos.run",
            "Runs a bounded failure experiment (kill_random, cascade, hang, memory_pressure) on the target \
             children, releases every hang and restores every lowered limit afterwards and reports restarts, escalations and recovery time; \
             needs `[chaos] enabled = true`, targets within `[chaos] allow`",
        )
        .role(Role::Admin)
        .params(json!({
            "type": "object",
            "properties": {
                "scenario": {"enum": ["kill_random", "cascade", "hang", "memory_pressure"]},
                "targets": {"type": "array", "minItems": 1, "maxItems": 100,
                            "items": {"type": "string", "minLength": 1},
                            "description": "Paths of worker children (components or processes)"},
                "rate": {"type": "number", "minimum": 0.1, "maximum": 100,
                         "description": "kill_random, cascade: kills per second (default 1)"},
                "duration_ms": {"type": "integer", "minimum": 1, "maximum": 60000,
                                "description": "How long the experiment injects faults"},
                "seed": {"type": "integer", "minimum": 0, "description": "kill_random: the random sequence (default from the clock)"},
                "limit_mb": {"type": "integer", "minimum": 1, "maximum": 1048576,
                             "description": "memory_pressure only: the lowered memory limit (default half the target's resident memory, at least 1)"}
            },
            "required": ["scenario", "targets", "duration_ms"],
            "additionalProperties": false
        }))
        .example(json!({"scenario": "kill_random", "targets": ["root/ticker"], "rate": 2, "duration_ms": 1000}))
        .result(json!({
            "type": "object",
            "required": ["scenario", "targets", "injected", "restarts", "escalations", "released", "recovered", "recovery_ms"],
            "properties": {
                "scenario": {"type": "string"},
                "targets": {"type": "array", "items": {"type": "string"}},
                "injected": {"type": "integer", "description": "Faults injected"},
                "restarts": {"type": "integer", "description": "Restarts of the targets during the experiment and its recovery"},
                "escalations": {"type": "integer", "description": "Supervisors that gave up (intensity reached, storm escalation)"},
                "released": {"type": "integer", "description": "Hangs released and lowered limits restored at the end"},
                "recovered": {"type": "boolean", "description": "Every target ran again within 30 s"},
                "recovery_ms": {"type": "integer", "description": "From the end of the injections until every target ran"}
            }
        })),
        |ctx, params| async move { run(&ctx, params).await },
    )?;
    Ok(())
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum Scenario {
    KillRandom,
    Cascade,
    Hang,
    MemoryPressure,
}

#[derive(Deserialize)]
struct Params {
    scenario: Scenario,
    targets: Vec<String>,
    rate: Option<f64>,
    duration_ms: u64,
    seed: Option<u64>,
    limit_mb: Option<u64>,
}

/// Whether `path` is `prefix` or below it.
fn within(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A small deterministic generator (xorshift64*): the experiment's random
/// choices, reproducible with a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// The target's info row, if its supervisor still has it.
async fn info(ctx: &Context, path: &str) -> Option<ChildInfo> {
    let (sup, id) = ctx.root.child_at(path).await.ok()?;
    sup.which_children()
        .await
        .ok()?
        .into_iter()
        .find(|c| c.id == id)
}

async fn run(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "chaos.run";
    let p: Params = parse(OP, params)?;
    if !ctx.chaos.enabled {
        return Err(OpError::Conflict {
            message: "chaos experiments are off: set `[chaos] enabled = true`".to_owned(),
        });
    }
    if p.limit_mb.is_some() && p.scenario != Scenario::MemoryPressure {
        return Err(OpError::InvalidParams {
            op: OP.to_owned(),
            violations: vec![crate::ops::Violation {
                path: "/limit_mb".to_owned(),
                expected: "left out unless scenario is memory_pressure".to_owned(),
                found: "a limit".to_owned(),
            }],
        });
    }
    for target in &p.targets {
        if !ctx.chaos.allow.is_empty() && !ctx.chaos.allow.iter().any(|a| within(target, a)) {
            return Err(OpError::ForbiddenPath {
                op: OP.to_owned(),
                message: format!(
                    "target `{target}` is outside `[chaos] allow` ({})",
                    ctx.chaos.allow.join(", ")
                ),
            });
        }
        child_id(OP, ctx, target).await?;
        match info(ctx, target).await {
            Some(i) if p.scenario == Scenario::MemoryPressure && i.info["kind"] != "process" => {
                return Err(OpError::Conflict {
                    message: format!(
                        "target `{target}` is no native worker: memory_pressure lowers a process's memory limit"
                    ),
                });
            }
            Some(i) if i.kind == ChildKind::Worker => {}
            Some(_) => {
                return Err(OpError::Conflict {
                    message: format!("target `{target}` is a supervisor; name its workers"),
                });
            }
            None => {
                return Err(OpError::NotFound {
                    what: format!("child `{target}`"),
                });
            }
        }
    }
    let restarts_before = restarts(ctx, &p.targets).await;
    let seq_before = ctx.log.last_seq();
    let duration = Duration::from_millis(p.duration_ms);
    let every = Duration::from_secs_f64(1.0 / p.rate.unwrap_or(1.0));
    let started = Instant::now();
    let end = started + duration;
    let mut injected = 0u64;
    // Hung targets and the generation that hangs, to release only that one.
    let mut hung: HashMap<String, u64> = HashMap::new();
    match p.scenario {
        Scenario::KillRandom | Scenario::Cascade => {
            let seed = p.seed.unwrap_or_else(warden_clock::unix_ms) | 1;
            let mut rng = Rng(seed);
            let mut next = 0;
            let mut at = started;
            while at < end {
                tokio::time::sleep_until(at).await;
                let target = match p.scenario {
                    Scenario::KillRandom => &p.targets[rng.below(p.targets.len())],
                    _ => {
                        let t = &p.targets[next % p.targets.len()];
                        next += 1;
                        t
                    }
                };
                if inject(ctx, target, Fault::Kill).await.is_some() {
                    injected += 1;
                }
                at += every;
            }
            tokio::time::sleep_until(end).await;
        }
        Scenario::MemoryPressure => {
            // Each target's limit, fixed at the start.
            let mut limits = HashMap::new();
            for target in &p.targets {
                let rss_mb = ctx
                    .processes
                    .worker_at(target)
                    .and_then(|w| w.stats())
                    .map_or(2, |s| s.rss_bytes >> 20);
                limits.insert(target.clone(), p.limit_mb.unwrap_or((rss_mb / 2).max(1)));
            }
            // New incarnations are squeezed too, until the end.
            while Instant::now() < end {
                for target in &p.targets {
                    if let Some(worker) = ctx.processes.worker_at(target)
                        && !worker.memory_squeezed()
                    {
                        worker.squeeze_memory(limits.get(target).copied());
                        injected += 1;
                    }
                }
                tokio::time::sleep(
                    Duration::from_millis(20).min(end.saturating_duration_since(Instant::now())),
                )
                .await;
            }
        }
        Scenario::Hang => {
            for target in &p.targets {
                if let Some(generation) = inject(ctx, target, Fault::Hang).await {
                    injected += 1;
                    hung.insert(target.clone(), generation);
                }
            }
            tokio::time::sleep_until(end).await;
        }
    }
    let mut released = 0u64;
    if p.scenario == Scenario::MemoryPressure {
        for target in &p.targets {
            if let Some(worker) = ctx.processes.worker_at(target)
                && worker.memory_squeezed()
            {
                worker.squeeze_memory(None);
                released += 1;
            }
        }
    }
    for (target, generation) in &hung {
        if release(ctx, target, *generation).await {
            released += 1;
        }
    }
    let injections_done = Instant::now();
    let recovered = loop {
        if all_running(ctx, &p.targets).await {
            break true;
        }
        if injections_done.elapsed() >= RECOVERY_LIMIT {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovery_ms = warden_clock::millis(injections_done.elapsed());
    let restarts_after = restarts(ctx, &p.targets).await;
    let escalations = ctx
        .log
        .recent(&EventFilter {
            kinds: vec!["intensity_reached".into(), "storm_detected".into()],
            ..EventFilter::default()
        })
        .into_iter()
        .filter(|e| e.seq > seq_before)
        .filter(|e| {
            let json = serde_json::to_value(&e.event).unwrap_or_default();
            json["event"] == "intensity_reached" || json["action"] == "escalate"
        })
        .count();
    tracing::info!(scenario = ?p.scenario, injected, released, recovered, recovery_ms, "chaos experiment done");
    Ok(json!({
        "scenario": p.scenario_name(),
        "targets": p.targets,
        "injected": injected,
        "restarts": restarts_after.saturating_sub(restarts_before),
        "escalations": escalations,
        "released": released,
        "recovered": recovered,
        "recovery_ms": recovery_ms,
    }))
}

impl Params {
    fn scenario_name(&self) -> &'static str {
        match self.scenario {
            Scenario::KillRandom => "kill_random",
            Scenario::Cascade => "cascade",
            Scenario::Hang => "hang",
            Scenario::MemoryPressure => "memory_pressure",
        }
    }
}

/// Injects `fault` into the target's live incarnation; its generation, or
/// `None` when it is not running now (restarting after an earlier kill).
async fn inject(ctx: &Context, target: &str, fault: Fault) -> Option<u64> {
    let (sup, id) = ctx.root.child_at(target).await.ok()?;
    match sup.inject_fault(id, fault).await {
        Ok(generation) => Some(generation),
        Err(e) => {
            tracing::debug!(target, error = %admin_error("chaos.run", e), "fault not injected");
            None
        }
    }
}

/// Releases the hang of `generation` of the target: a process continued,
/// a component killed (its supervisor restarts it). False when that
/// incarnation is gone already.
async fn release(ctx: &Context, target: &str, generation: u64) -> bool {
    let Some(i) = info(ctx, target).await else {
        return false;
    };
    if i.generation != Some(generation) {
        return false;
    }
    if let Some(pid) = i.info["pid"].as_u64().and_then(|p| i32::try_from(p).ok())
        && let Some(pid) = rustix::process::Pid::from_raw(pid)
    {
        // The hang stopped the whole group.
        return rustix::process::kill_process_group(pid, rustix::process::Signal::CONT).is_ok();
    }
    inject(ctx, target, Fault::Kill).await.is_some()
}

async fn all_running(ctx: &Context, targets: &[String]) -> bool {
    for target in targets {
        match info(ctx, target).await {
            Some(i)
                if i.status == ChildStatus::Running
                    && i.info["stats"]["stopped"] != Value::Bool(true) => {}
            _ => return false,
        }
    }
    true
}

async fn restarts(ctx: &Context, targets: &[String]) -> u64 {
    let mut total = 0;
    for target in targets {
        if let Some(i) = info(ctx, target).await {
            total += i.restarts;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_matches_a_subtree_by_whole_segments() {
        assert!(within("root/workers", "root/workers"));
        assert!(within("root/workers/a", "root/workers"));
        assert!(!within("root/workersx", "root/workers"));
        assert!(!within("root", "root/workers"));
    }

    #[test]
    fn the_generator_is_reproducible_and_in_range() {
        let mut a = Rng(7);
        let mut b = Rng(7);
        let xs: Vec<usize> = (0..50).map(|_| a.below(3)).collect();
        let ys: Vec<usize> = (0..50).map(|_| b.below(3)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 3));
        assert!((0..3).all(|v| xs.contains(&v)), "{xs:?}");
    }
}
