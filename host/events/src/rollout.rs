//! What coordinated operations add to the host's event stream:
//! [`RolloutEvent`]s, one per step of a rollout (`rollout.start`):
//! started, each batch started and done, and how it ended (done, failed,
//! rolled back, aborted).
//!
//! Owns: the shape and JSON of these events, their `tracing` level and
//! one-line description. Never does: restart, reload or change anything
//! (the host's rollout runner does, and publishes these).

use std::fmt;

use serde::Serialize;
use tracing::Level;

/// One step of a rollout. Serialized as `"event": "<snake_case>"` beside
/// the fields; every one carries the rollout's `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(tag = "event", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RolloutEvent {
    /// A rollout began.
    RolloutStarted {
        /// The rollout's id (`r1`).
        id: String,
        /// `restart`, `reload` or `strategy`.
        action: String,
        /// How many members it covers.
        members: u64,
        /// In how many batches.
        batches: u64,
    },
    /// A batch's action began on its members.
    BatchStarted {
        /// The rollout's id (`r1`).
        id: String,
        /// From 1.
        batch: u64,
        /// Its members.
        paths: Vec<String>,
    },
    /// A batch's members were changed and stayed healthy for the settle
    /// time.
    BatchDone {
        /// The rollout's id (`r1`).
        id: String,
        /// From 1.
        batch: u64,
    },
    /// Every batch is done.
    RolloutDone {
        /// The rollout's id (`r1`).
        id: String,
    },
    /// A batch failed (its action, or its health gate): the rollout stops
    /// there.
    RolloutFailed {
        /// The rollout's id (`r1`).
        id: String,
        /// The batch that failed, from 1.
        batch: u64,
        /// Why: the action's error or the gate's finding.
        reason: String,
    },
    /// The members a stopped rollout had changed were put back (`failed`
    /// lists the ones that could not be). Not `rolled_back`: that is a
    /// reload's own rollback.
    RolloutRolledBack {
        /// The rollout's id (`r1`).
        id: String,
        /// The members put back.
        paths: Vec<String>,
        /// The members that could not be put back.
        failed: Vec<String>,
    },
    /// An operator aborted the rollout (`rollout.abort`).
    RolloutAborted {
        /// The rollout's id (`r1`).
        id: String,
    },
}

impl RolloutEvent {
    /// The `tracing` level: a warning when a rollout stops short.
    pub fn level(&self) -> Level {
        match self {
            Self::RolloutFailed { .. }
            | Self::RolloutRolledBack { .. }
            | Self::RolloutAborted { .. } => Level::WARN,
            Self::BatchStarted { .. } | Self::BatchDone { .. } => Level::DEBUG,
            Self::RolloutStarted { .. } | Self::RolloutDone { .. } => Level::INFO,
        }
    }

    /// The snake_case name the event is serialized with (`batch_done`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RolloutStarted { .. } => "rollout_started",
            Self::BatchStarted { .. } => "batch_started",
            Self::BatchDone { .. } => "batch_done",
            Self::RolloutDone { .. } => "rollout_done",
            Self::RolloutFailed { .. } => "rollout_failed",
            Self::RolloutRolledBack { .. } => "rollout_rolled_back",
            Self::RolloutAborted { .. } => "rollout_aborted",
        }
    }
}

impl fmt::Display for RolloutEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RolloutStarted {
                id,
                action,
                members,
                batches,
            } => write!(
                f,
                "rollout {id} started: {action} of {members} member(s) in {batches} batch(es)"
            ),
            Self::BatchStarted { id, batch, paths } => {
                write!(
                    f,
                    "rollout {id}: batch {batch} started ({})",
                    paths.join(", ")
                )
            }
            Self::BatchDone { id, batch } => write!(f, "rollout {id}: batch {batch} done"),
            Self::RolloutDone { id } => write!(f, "rollout {id} done"),
            Self::RolloutFailed { id, batch, reason } => {
                write!(f, "rollout {id} failed at batch {batch}: {reason}")
            }
            Self::RolloutRolledBack { id, paths, failed } => {
                write!(f, "rollout {id} rolled back {} member(s)", paths.len())?;
                if !failed.is_empty() {
                    write!(f, "; could not roll back {}", failed.join(", "))?;
                }
                Ok(())
            }
            Self::RolloutAborted { id } => write!(f, "rollout {id} aborted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rollout_event_serializes_under_its_name_and_reads_as_a_line() {
        let id = || "r1".to_string();
        let paths = || vec!["root/a".to_string(), "root/b".to_string()];
        let events = [
            RolloutEvent::RolloutStarted {
                id: id(),
                action: "reload".into(),
                members: 4,
                batches: 2,
            },
            RolloutEvent::BatchStarted {
                id: id(),
                batch: 1,
                paths: paths(),
            },
            RolloutEvent::BatchDone { id: id(), batch: 1 },
            RolloutEvent::RolloutDone { id: id() },
            RolloutEvent::RolloutFailed {
                id: id(),
                batch: 2,
                reason: "boom".into(),
            },
            RolloutEvent::RolloutRolledBack {
                id: id(),
                paths: paths(),
                failed: vec!["root/c".into()],
            },
            RolloutEvent::RolloutAborted { id: id() },
        ];
        for event in &events {
            let json = serde_json::to_value(event).unwrap();
            assert_eq!(json["event"], event.name(), "{json}");
            assert_eq!(json["id"], "r1", "{json}");
            assert!(event.to_string().contains("r1"), "{event}");
        }
        assert_eq!(events[4].to_string(), "rollout r1 failed at batch 2: boom");
        assert_eq!(
            events[5].to_string(),
            "rollout r1 rolled back 2 member(s); could not roll back root/c"
        );
        assert_eq!(events[5].level(), Level::WARN);
        assert_eq!(events[1].level(), Level::DEBUG);
    }
}
