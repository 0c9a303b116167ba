//! What the periodic health monitor adds to the event stream:
//! [`HealthEvent`]s, published when a supervisor's or worker's level changes.
//!
//! Owns: the four levels, the score thresholds that map a score to a level
//! ([`Thresholds`]), and the shape, `tracing` level and one-line description
//! of `health_changed`. Never does: score anything or publish (the host's
//! health monitor does both).

use std::fmt;

use serde::{Deserialize, Serialize};
use tracing::Level;

/// A level of health, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthLevel {
    /// At or above the warning threshold.
    Healthy,
    /// Below the warning threshold.
    Warning,
    /// Below the critical threshold.
    Critical,
    /// Below the emergency threshold.
    Emergency,
}

impl HealthLevel {
    /// `healthy`, `warning`, `critical` or `emergency`, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Emergency => "emergency",
        }
    }
}

impl fmt::Display for HealthLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Score thresholds (0–100) below which a level begins; each lower than
/// the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Below this: warning. By default 70.
    pub warning: u8,
    /// Below this: critical. By default 40.
    pub critical: u8,
    /// Below this: emergency. By default 15.
    pub emergency: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warning: 70,
            critical: 40,
            emergency: 15,
        }
    }
}

impl Thresholds {
    /// Checks the order; the error names the key that breaks it and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.warning > 100 {
            return Err(("warning", "expected a score of 0 to 100".to_owned()));
        }
        if self.critical >= self.warning {
            return Err((
                "critical",
                format!("expected below warning ({})", self.warning),
            ));
        }
        if self.emergency >= self.critical {
            return Err((
                "emergency",
                format!("expected below critical ({})", self.critical),
            ));
        }
        Ok(())
    }

    /// The level of `score`.
    pub fn level(&self, score: u8) -> HealthLevel {
        if score < self.emergency {
            HealthLevel::Emergency
        } else if score < self.critical {
            HealthLevel::Critical
        } else if score < self.warning {
            HealthLevel::Warning
        } else {
            HealthLevel::Healthy
        }
    }
}

/// What the health monitor reports. Serialized as `"event": "health_changed"`
/// beside the fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(tag = "event", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HealthEvent {
    /// A supervisor's or worker's level changed.
    HealthChanged {
        /// `supervisor` or `worker`.
        subject: String,
        /// The level before.
        from: HealthLevel,
        /// The level now.
        to: HealthLevel,
        /// The score (0–100) that moved it.
        score: u8,
        /// Why the score is below 100.
        reasons: Vec<String>,
    },
}

impl HealthEvent {
    /// A warning when the level got worse, info when it improved.
    pub fn level(&self) -> Level {
        match self {
            Self::HealthChanged { from, to, .. } if to > from => Level::WARN,
            Self::HealthChanged { .. } => Level::INFO,
        }
    }

    /// The snake_case name the event is serialized with.
    pub fn name(&self) -> &'static str {
        match self {
            Self::HealthChanged { .. } => "health_changed",
        }
    }
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HealthChanged {
                subject,
                from,
                to,
                score,
                reasons,
            } => {
                write!(f, "{subject} health {from} -> {to}: score {score}")?;
                if !reasons.is_empty() {
                    write!(f, " ({})", reasons.join("; "))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_map_scores_to_levels_and_are_checked() {
        let t = Thresholds::default();
        assert_eq!(t.level(70), HealthLevel::Healthy);
        assert_eq!(t.level(69), HealthLevel::Warning);
        assert_eq!(t.level(39), HealthLevel::Critical);
        assert_eq!(t.level(14), HealthLevel::Emergency);
        let bad = Thresholds {
            critical: 80,
            ..Thresholds::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "critical");
        let bad = Thresholds {
            emergency: 40,
            ..Thresholds::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "emergency");
    }

    #[test]
    fn the_event_serializes_flat() {
        let e = HealthEvent::HealthChanged {
            subject: "worker".into(),
            from: HealthLevel::Healthy,
            to: HealthLevel::Critical,
            score: 30,
            reasons: vec!["unresponsive".into()],
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"event": "health_changed", "subject": "worker", "from": "healthy",
                               "to": "critical", "score": 30, "reasons": ["unresponsive"]})
        );
        assert_eq!(e.level(), Level::WARN);
        assert_eq!(
            e.to_string(),
            "worker health healthy -> critical: score 30 (unresponsive)"
        );
    }
}
