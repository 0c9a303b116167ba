//! Orphan recovery at host start-up: incarnations the registry still shows
//! as `running` belong to a host that died without stopping them.
//!
//! Owns: [`recover_orphans`] and its [`OrphanReport`].
//!
//! For each such row, [`kill_recorded`]
//! compares the recorded (pid, start time, boot id) with the live system:
//! a match is killed with its whole group; the row's cgroup, the processes
//! carrying its marker and its recorded descendants (each checked by its
//! own pid, start time and boot id) are killed whether the leader is still
//! there or not; a row with anything killed becomes `orphan_killed`. A pid
//! that is gone or now belongs to an unrelated process (other start time,
//! other boot), with nothing else of its worker left, is left alone and the
//! row becomes `orphan_gone`.
//!
//! Guarantees: nothing is signalled unless the identity matched; every row
//! handled is named in the report; rows are updated before it returns.
//!
//! Must never: run after the host started its own workers (their rows are
//! `running` too): call it before starting the tree.

use std::fmt;

use serde::Serialize;

use super::error::RegistryError;
use super::model::IncarnationStatus;
use super::store::Registry;
use crate::{Liveness, OrphanOutcome, RecordedWorker, WorkerId, kill_recorded, now_ms};

/// One orphan handled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrphanEntry {
    /// The registry row ([`IncarnationRow::id`](super::IncarnationRow::id)).
    pub row: i64,
    /// The child's path in the supervision tree.
    pub child: String,
    /// The incarnation's [`WorkerId`], 32 hex digits.
    pub incarnation: String,
    /// The recorded pid of its main process.
    pub pid: u32,
    /// What recovery did.
    pub action: OrphanAction,
}

/// What was done about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OrphanAction {
    /// Alive: these processes were killed; `survivors` outlived the wait.
    Killed {
        /// Every process signalled, sorted.
        pids: Vec<u32>,
        /// Those still alive when the wait (2 s) ran out; normally empty.
        survivors: Vec<u32>,
    },
    /// Already gone, or its pid belongs to someone else now: untouched.
    Gone {
        /// What became of the recorded process (gone, pid reused, another
        /// boot).
        why: Liveness,
    },
    /// Could not be checked; the row stays `running` for the next start.
    Failed {
        /// The I/O error, as text.
        error: String,
    },
}

/// Every orphan handled at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OrphanReport {
    /// One entry per row that was `running`, in the registry's order
    /// (newest first).
    pub orphans: Vec<OrphanEntry>,
}

impl OrphanReport {
    /// How many orphans had something alive that was killed.
    pub fn killed(&self) -> usize {
        self.orphans
            .iter()
            .filter(|o| matches!(o.action, OrphanAction::Killed { .. }))
            .count()
    }

    /// How many orphans were gone already, with nothing signalled.
    pub fn gone(&self) -> usize {
        self.orphans
            .iter()
            .filter(|o| matches!(o.action, OrphanAction::Gone { .. }))
            .count()
    }
}

impl fmt::Display for OrphanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.orphans.is_empty() {
            return f.write_str("no orphaned workers");
        }
        for o in &self.orphans {
            write!(
                f,
                "{} (pid {}, incarnation {}): ",
                o.child, o.pid, o.incarnation
            )?;
            match &o.action {
                OrphanAction::Killed { pids, survivors } if survivors.is_empty() => {
                    writeln!(f, "killed {} process(es) {pids:?}", pids.len())?;
                }
                OrphanAction::Killed { pids, survivors } => {
                    writeln!(f, "killed {pids:?}, still alive {survivors:?}")?;
                }
                OrphanAction::Gone { why } => writeln!(f, "gone ({why:?}), nothing signalled")?,
                OrphanAction::Failed { error } => writeln!(f, "not checked: {error}")?,
            }
        }
        Ok(())
    }
}

/// Kills what is left of the incarnations recorded as `running` and marks
/// their rows (see the module docs). Blocking (it waits for the killed
/// processes to die, up to 2 s): from async code, call it in
/// `spawn_blocking`.
pub fn recover_orphans(registry: &Registry) -> Result<OrphanReport, RegistryError> {
    let rows = registry.by_status(IncarnationStatus::Running)?;
    let records = rows
        .iter()
        .map(|row| {
            Ok(RecordedWorker {
                identity: row.identity(),
                invocation: row.incarnation.parse::<WorkerId>().ok(),
                cgroup: row.cgroup.clone(),
                descendants: registry.descendants(&row.incarnation)?,
            })
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    let outcomes = kill_recorded(&records);
    let mut report = OrphanReport::default();
    let now = now_ms();
    for (row, outcome) in rows.into_iter().zip(outcomes) {
        let action = match outcome {
            Ok(OrphanOutcome::Killed { pids, survivors }) => {
                registry.record_orphan(
                    row.id,
                    IncarnationStatus::OrphanKilled,
                    "orphan_killed".to_owned(),
                    now,
                );
                OrphanAction::Killed { pids, survivors }
            }
            Ok(OrphanOutcome::Gone { why }) => {
                let reason = match why {
                    Liveness::Reused => "orphan_gone(pid_reused)",
                    Liveness::OtherBoot => "orphan_gone(other_boot)",
                    Liveness::Gone | Liveness::Same => "orphan_gone",
                };
                registry.record_orphan(
                    row.id,
                    IncarnationStatus::OrphanGone,
                    reason.to_owned(),
                    now,
                );
                OrphanAction::Gone { why }
            }
            Err(e) => OrphanAction::Failed {
                error: e.to_string(),
            },
        };
        match &action {
            OrphanAction::Killed { pids, .. } => {
                tracing::warn!(child = %row.child, pid = row.pid, killed = ?pids, "killed an orphaned worker of a previous host");
            }
            OrphanAction::Gone { why } => {
                tracing::info!(child = %row.child, pid = row.pid, ?why, "orphaned worker already gone");
            }
            OrphanAction::Failed { error } => {
                tracing::warn!(child = %row.child, pid = row.pid, %error, "cannot check an orphaned worker");
            }
        }
        report.orphans.push(OrphanEntry {
            row: row.id,
            child: row.child,
            incarnation: row.incarnation,
            pid: row.pid,
            action,
        });
    }
    registry.flush_blocking()?;
    Ok(report)
}
