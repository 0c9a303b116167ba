//! Beyond OTP: changing a supervisor's restart strategy while it runs.
//!
//! The coupling of a child is the set of its siblings that are terminated (and,
//! unless temporary, restarted) when it fails: nobody under `one_for_one`, every
//! other child under `one_for_all`, the children started after it under
//! `rest_for_one`. A temporary child's exit never touches its siblings. A dry run
//! reports the children whose coupling would change and changes nothing.
//!
//! Applying a change takes effect at once; the answer comes after the settle
//! window. If a restart happened in the window, or a child is still waiting to be
//! restarted at its end, the tree did not settle and the previous strategy comes
//! back (`StrategyChanged` with `rolled_back: true`). Switching to or from
//! `simple_one_for_one` is refused: the children are kept differently.
//!
//! Before a change the supervisor assesses its risk ([`Risk`]): high when it
//! restarted more than `max_recent_restarts` times in the last 5 minutes,
//! when a child is restarting right now, or when the caller reports memory
//! pressure. A dry run reports the risk and why; an applied change at high
//! risk is refused unless `force` is set.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::actor::Supervisor;
use super::children::ChildState;
use super::event::SupervisorEvent;
use super::handle::{AdminError, Reply};
use super::id::ChildId;
use super::spec::{Restart, Strategy};
use super::timers::{TimerKind, deadline_after};

/// How to change a strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyChangeOptions {
    /// Only report what would change. By default `false`.
    pub dry_run: bool,
    /// How long the tree must stay free of restarts after the change. By default 5 s.
    pub settle: Duration,
    /// More restarts than this in the last 5 minutes is high risk. By default 10.
    pub max_recent_restarts: u32,
    /// Memory pressure the caller measured (why it is high), if any: high risk.
    pub memory_pressure: Option<String>,
    /// Apply even at high risk. By default `false`.
    pub force: bool,
}

impl Default for StrategyChangeOptions {
    fn default() -> Self {
        StrategyChangeOptions {
            dry_run: false,
            settle: Duration::from_secs(5),
            max_recent_restarts: 10,
            memory_pressure: None,
            force: false,
        }
    }
}

/// How risky a strategy change is right now, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// `low` or `high`.
    pub level: RiskLevel,
    /// One sentence per finding, with its numbers (empty when low).
    pub reasons: Vec<String>,
}

/// A risk level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Nothing found.
    Low,
    /// A pre-check found something: the change is refused unless forced.
    High,
}

/// The children whose coupling changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CouplingChange {
    /// The child.
    pub child: ChildId,
    /// Siblings terminated with it under the old strategy.
    pub before: Vec<ChildId>,
    /// Siblings terminated with it under the new strategy.
    pub after: Vec<ChildId>,
}

/// How the change ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// Nothing was changed.
    DryRun,
    /// The new strategy stays.
    Applied,
    /// The tree did not settle; the old strategy is back.
    RolledBack {
        /// Restarts during the settle window.
        restarts: u64,
        /// Children still waiting for a restart at its end.
        restarting: Vec<ChildId>,
    },
}

/// The answer to a strategy change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StrategyChangeReport {
    /// The supervisor's path.
    pub supervisor: String,
    /// The strategy before.
    pub from: Strategy,
    /// The strategy asked for.
    pub to: Strategy,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Children whose coupling changes, in start order.
    pub changes: Vec<CouplingChange>,
    /// The pre-checks' verdict.
    pub risk: Risk,
    /// What happened.
    pub outcome: ChangeOutcome,
}

/// An applied change waiting for its settle check.
pub(crate) struct PendingChange {
    report: StrategyChangeReport,
    restarts_at_apply: u64,
    reply: Reply<StrategyChangeReport>,
}

/// The siblings terminated when the child at `index` fails under `strategy`.
pub fn coupling(strategy: Strategy, children: &[(ChildId, Restart)], index: usize) -> Vec<ChildId> {
    let Some((_, restart)) = children.get(index) else {
        return Vec::new();
    };
    if *restart == Restart::Temporary {
        return Vec::new();
    }
    match strategy {
        Strategy::OneForOne | Strategy::SimpleOneForOne => Vec::new(),
        Strategy::OneForAll => children
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, (id, _))| id.clone())
            .collect(),
        Strategy::RestForOne => children[index + 1..]
            .iter()
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

/// The coupling changes between two strategies, in start order.
pub fn coupling_changes(
    from: Strategy,
    to: Strategy,
    children: &[(ChildId, Restart)],
) -> Vec<CouplingChange> {
    (0..children.len())
        .filter_map(|i| {
            let before = coupling(from, children, i);
            let after = coupling(to, children, i);
            (before != after).then(|| CouplingChange {
                child: children[i].0.clone(),
                before,
                after,
            })
        })
        .collect()
}

impl Supervisor {
    /// Handles a strategy-change request.
    pub(crate) fn change_strategy(
        &mut self,
        to: Strategy,
        options: StrategyChangeOptions,
        reply: Reply<StrategyChangeReport>,
    ) {
        let from = self.flags.strategy;
        let refuse = |reason| AdminError::StrategyChange { from, to, reason };
        if self.pending_change.is_some() {
            let _ = reply.send(Err(refuse("another change is still settling")));
            return;
        }
        if from != to && (from == Strategy::SimpleOneForOne || to == Strategy::SimpleOneForOne) {
            let _ = reply.send(Err(refuse(
                "simple_one_for_one keeps its children differently",
            )));
            return;
        }
        let children: Vec<(ChildId, Restart)> = self
            .children
            .order()
            .iter()
            .filter_map(|id| {
                self.children
                    .get(id)
                    .map(|r| (id.clone(), r.spec.restart()))
            })
            .collect();
        let risk = self.assess_risk(&options);
        if !options.dry_run && risk.level == RiskLevel::High && !options.force {
            let _ = reply.send(Err(AdminError::StrategyRisk {
                from,
                to,
                reasons: risk.reasons.join("; "),
            }));
            return;
        }
        let mut report = StrategyChangeReport {
            supervisor: self.path.to_string(),
            from,
            to,
            dry_run: options.dry_run,
            changes: coupling_changes(from, to, &children),
            risk,
            outcome: ChangeOutcome::DryRun,
        };
        self.emit_supervisor(SupervisorEvent::StrategyChanged {
            from,
            to,
            dry_run: options.dry_run,
            rolled_back: false,
        });
        if options.dry_run {
            let _ = reply.send(Ok(report));
            return;
        }
        self.flags.strategy = to;
        // Restarts in place only where the new strategy restarts no sibling.
        let now_ms = self.now_ms(Instant::now());
        self.grant_supervisor_in_place(now_ms);
        report.outcome = ChangeOutcome::Applied;
        self.pending_change = Some(PendingChange {
            report,
            restarts_at_apply: self.total_restarts,
            reply,
        });
        self.timers.schedule(
            deadline_after(Instant::now(), options.settle),
            TimerKind::SettleCheck,
        );
    }

    /// The pre-checks: restarts in the last 5 minutes, children restarting
    /// now, the caller's memory pressure.
    fn assess_risk(&self, options: &StrategyChangeOptions) -> Risk {
        let mut reasons = Vec::new();
        let now_ms = self.now_ms(Instant::now());
        let recent = self.rate.last_minutes(now_ms, 5);
        if recent > options.max_recent_restarts {
            reasons.push(format!(
                "{recent} restarts in the last 5 minutes (more than {})",
                options.max_recent_restarts
            ));
        }
        let restarting: Vec<String> = self
            .children
            .ids()
            .into_iter()
            .filter(|id| {
                self.children
                    .get(id)
                    .is_some_and(|r| matches!(r.state, ChildState::Restarting { .. }))
            })
            .map(|id| id.to_string())
            .collect();
        if !restarting.is_empty() {
            reasons.push(format!(
                "{} children restarting now: {}",
                restarting.len(),
                restarting.join(", ")
            ));
        }
        if let Some(pressure) = &options.memory_pressure {
            reasons.push(format!("memory pressure: {pressure}"));
        }
        Risk {
            level: if reasons.is_empty() {
                RiskLevel::Low
            } else {
                RiskLevel::High
            },
            reasons,
        }
    }

    /// The settle window of an applied change has passed: keep it or roll back.
    pub(crate) fn settle_check(&mut self) {
        let Some(pending) = self.pending_change.take() else {
            return;
        };
        let PendingChange {
            mut report,
            restarts_at_apply,
            reply,
        } = pending;
        let restarts = self.total_restarts.saturating_sub(restarts_at_apply);
        let restarting: Vec<ChildId> = self
            .children
            .ids()
            .into_iter()
            .filter(|id| {
                self.children
                    .get(id)
                    .is_some_and(|r| matches!(r.state, ChildState::Restarting { .. }))
            })
            .collect();
        if restarts > 0 || !restarting.is_empty() {
            self.flags.strategy = report.from;
            let now_ms = self.now_ms(Instant::now());
            self.grant_supervisor_in_place(now_ms);
            tracing::warn!(
                supervisor = %self.path,
                restarts,
                "strategy change to {} did not settle; rolled back to {}",
                report.to,
                report.from
            );
            self.emit_supervisor(SupervisorEvent::StrategyChanged {
                from: report.to,
                to: report.from,
                dry_run: false,
                rolled_back: true,
            });
            report.outcome = ChangeOutcome::RolledBack {
                restarts,
                restarting,
            };
        }
        let _ = reply.send(Ok(report));
    }
}
