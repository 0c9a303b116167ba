//! What native workers add to the host's event stream: [`ProcessEvent`]s,
//! typed, with their `tracing` level and their one-line description.
//!
//! Owns: the shape and JSON of the two worker events (a limit breached, a
//! health level crossed). The host's event type wraps them beside the
//! supervisor's events.
//!
//! Never does: publish. The monitor reports [`MonitorEvent`](super::MonitorEvent)s
//! about workers; whoever knows where each worker sits in a tree turns them
//! into these and publishes them.

use std::fmt;

use serde::{Serialize, Serializer};
use tracing::Level;

use super::exit::LimitKind;
use super::health::{HealthLevel, Trend};

/// Something that happened to a native worker. Serialized as
/// `"event": "process_limit_exceeded"` or `"event": "process_health"`
/// beside the fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(tag = "event")]
pub enum ProcessEvent {
    /// A worker went over a limit; it is being killed (its exit follows
    /// with the limit as reason).
    #[serde(rename = "process_limit_exceeded")]
    #[strum(serialize = "process_limit_exceeded")]
    LimitExceeded {
        /// Its main process.
        pid: u32,
        /// Which limit, by its exit reason's name (`memory_limit`,
        /// `cpu_limit`, `wall_limit`, `fd_limit`, `process_limit`).
        #[serde(serialize_with = "reason_name")]
        limit: LimitKind,
        /// In the limit's unit (bytes, seconds, descriptors, processes).
        observed: u64,
        /// The configured limit, same unit.
        allowed: u64,
    },
    /// A worker's health score crossed a level.
    #[serde(rename = "process_health")]
    #[strum(serialize = "process_health")]
    Health {
        /// 0–100.
        score: u8,
        /// The level it is at now.
        level: HealthLevel,
        /// Where the score is heading.
        trend: Trend,
    },
}

impl ProcessEvent {
    /// The `tracing` level the event deserves: a warning for a breach or a
    /// worker that is no longer healthy.
    pub fn level(&self) -> Level {
        match self {
            Self::LimitExceeded { .. } => Level::WARN,
            Self::Health { level, .. } if *level != HealthLevel::Healthy => Level::WARN,
            Self::Health { .. } => Level::INFO,
        }
    }

    /// The name the event is serialized with (`process_health`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LimitExceeded { .. } => "process_limit_exceeded",
            Self::Health { .. } => "process_health",
        }
    }
}

impl fmt::Display for ProcessEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LimitExceeded {
                pid,
                limit,
                observed,
                allowed,
            } => write!(
                f,
                "worker pid {pid} over its limit: {limit} ({observed} > {allowed}); killing it"
            ),
            Self::Health {
                score,
                level,
                trend,
            } => write!(f, "worker health {level}: score {score} ({trend})"),
        }
    }
}

/// A limit as events name it: by the exit reason it leads to, not by the
/// configuration key [`LimitKind`] serializes as.
fn reason_name<S: Serializer>(limit: &LimitKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(limit.reason_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_the_names_of_their_fields() {
        let breach = ProcessEvent::LimitExceeded {
            pid: 7,
            limit: LimitKind::OpenFiles,
            observed: 300,
            allowed: 256,
        };
        assert_eq!(
            serde_json::to_value(breach).unwrap(),
            serde_json::json!({
                "event": "process_limit_exceeded",
                "pid": 7,
                "limit": "fd_limit",
                "observed": 300,
                "allowed": 256,
            })
        );
        assert_eq!(
            breach.to_string(),
            "worker pid 7 over its limit: fd_limit (300 > 256); killing it"
        );
        let health = ProcessEvent::Health {
            score: 35,
            level: HealthLevel::Critical,
            trend: Trend::Degrading,
        };
        assert_eq!(
            serde_json::to_value(health).unwrap(),
            serde_json::json!({
                "event": "process_health",
                "score": 35,
                "level": "critical",
                "trend": "degrading",
            })
        );
        assert_eq!(
            health.to_string(),
            "worker health critical: score 35 (degrading)"
        );
        assert_eq!(health.level(), Level::WARN);
    }
}
