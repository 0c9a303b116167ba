//! A worker's health: one score 0–100, a level with hysteresis, and a trend.
//!
//! Owns: the formula ([`score`]), the levels and the tracker that turns a
//! stream of scores into level changes ([`HealthTracker::observe`]).
//!
//! The score is a weighted sum of three parts, each 0–100:
//! - resource headroom (weight 50): the highest of memory / CPU budget / open
//!   files / processes used as a fraction of its limit; 100 up to 60 % used,
//!   falling linearly to 0 at 100 % (no limits: 100);
//! - restart history (weight 30): 100 − 20 per restart in the caller's
//!   recent window, at least 0;
//! - responsiveness (weight 20): ready 100, starting 70, failed readiness,
//!   a failing liveness check or a stopped process (`SIGSTOP`) 0, and an
//!   unresponsive worker scores at most [`UNRESPONSIVE_CAP`] (35, critical).
//!
//! Levels: healthy ≥ 70, warning ≥ 40, critical ≥ 15, emergency below (the
//! thresholds are [`HealthThresholds`], configurable). A level improves only
//! when the score clears the threshold by [`HYSTERESIS`] points, so a score
//! wobbling around 70 does not flap. The trend compares the mean of the
//! newest half of the last [`TREND_WINDOW`] scores with the oldest half
//! (±5 points).
//!
//! Guarantees: pure computation, no I/O; `observe` reports each level change
//! once. Must never: emit alerts itself (the caller turns level changes into
//! events).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Points a score must clear a threshold by before the level improves.
pub const HYSTERESIS: u8 = 5;
/// The highest score an unresponsive worker gets (critical by default).
pub const UNRESPONSIVE_CAP: u8 = 35;
/// How many recent scores the trend looks at.
pub const TREND_WINDOW: usize = 8;

/// The score thresholds of the levels: below `warning` a worker is
/// warning, below `critical` critical, below `emergency` in emergency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthThresholds {
    /// By default 70.
    pub warning: u8,
    /// By default 40.
    pub critical: u8,
    /// By default 15.
    pub emergency: u8,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            warning: 70,
            critical: 40,
            emergency: 15,
        }
    }
}

impl HealthThresholds {
    fn level(&self, score: u8) -> HealthLevel {
        if score >= self.warning {
            HealthLevel::Healthy
        } else if score >= self.critical {
            HealthLevel::Warning
        } else if score >= self.emergency {
            HealthLevel::Critical
        } else {
            HealthLevel::Emergency
        }
    }
}
const TREND_DELTA: f64 = 5.0;

/// Whether the worker answers, from its readiness state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Responsiveness {
    /// Ready (or has no readiness check).
    Ready,
    /// Its readiness check has not passed yet.
    Starting,
    /// Its readiness or liveness check failed, or it is stopped.
    Unresponsive,
}

/// What a score is computed from. Fractions are usage / limit (`None` when
/// that limit is not set); above 1.0 when over it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HealthInputs {
    /// Resident memory / `memory_mb`.
    pub(crate) memory_used: Option<f64>,
    /// CPU time / `cpu_secs`.
    pub(crate) cpu_used: Option<f64>,
    /// Most descriptors held by one process / `open_files`.
    pub(crate) fds_used: Option<f64>,
    /// Processes / `max_processes`.
    pub(crate) processes_used: Option<f64>,
    /// Restarts in the supervisor's recent window.
    pub(crate) recent_restarts: u32,
    /// Ready, starting or failed readiness (100, 70 or 0 points).
    pub(crate) responsiveness: Responsiveness,
}

/// The score for `inputs` (see the module docs for the formula).
pub(crate) fn score(inputs: &HealthInputs) -> u8 {
    let pressure = [
        inputs.memory_used,
        inputs.cpu_used,
        inputs.fds_used,
        inputs.processes_used,
    ]
    .into_iter()
    .flatten()
    .fold(0.0_f64, f64::max);
    let resources = (100.0 * (1.0 - (pressure - 0.6) / 0.4)).clamp(0.0, 100.0);
    let restarts = (100.0 - 20.0 * f64::from(inputs.recent_restarts)).max(0.0);
    let responsive = match inputs.responsiveness {
        Responsiveness::Ready => 100.0,
        Responsiveness::Starting => 70.0,
        Responsiveness::Unresponsive => 0.0,
    };
    let mut total = 0.5 * resources + 0.3 * restarts + 0.2 * responsive;
    if inputs.responsiveness == Responsiveness::Unresponsive {
        // A worker that answers nothing is critical however light it runs.
        total = total.min(f64::from(UNRESPONSIVE_CAP));
    }
    total.round().clamp(0.0, 100.0) as u8
}

/// A level of health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthLevel {
    /// Score below the emergency threshold (15). Levels order from worst to
    /// best, so `Emergency < Critical < Warning < Healthy`.
    Emergency,
    /// Score below the critical threshold (40).
    Critical,
    /// Score below the warning threshold (70).
    Warning,
    /// Score at the warning threshold or more.
    Healthy,
}

impl HealthLevel {
    /// `healthy`, `warning`, `critical` or `emergency`, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Healthy => "healthy",
        }
    }
}

impl fmt::Display for HealthLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the score is heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// The newer half of the recent scores averages at least 5 points
    /// above the older half.
    Improving,
    /// Within 5 points either way, or fewer than 4 scores so far.
    Stable,
    /// The newer half averages at least 5 points below the older half.
    Degrading,
}

impl Trend {
    /// `improving`, `stable` or `degrading`, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Improving => "improving",
            Self::Stable => "stable",
            Self::Degrading => "degrading",
        }
    }
}

impl fmt::Display for Trend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The latest score with its level and trend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The latest score, 0–100.
    pub score: u8,
    /// The level after hysteresis: it can lag the score on the way up.
    pub level: HealthLevel,
    /// Where the recent scores are heading.
    pub trend: Trend,
    /// Whether the last sample found it unresponsive: failed readiness or
    /// liveness check, or stopped.
    #[serde(default)]
    pub unresponsive: bool,
}

/// A level crossed: the caller's cue for a warning or critical alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelChange {
    /// The level before this score.
    pub from: HealthLevel,
    /// The level now.
    pub to: HealthLevel,
    /// The score (0–100) that moved it.
    pub score: u8,
}

/// Follows one worker's scores.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    recent: [u8; TREND_WINDOW],
    len: usize,
    next: usize,
    level: HealthLevel,
    thresholds: HealthThresholds,
}

impl Default for HealthTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthTracker {
    /// Starts healthy, with no history, with the default thresholds.
    pub fn new() -> Self {
        Self::with_thresholds(HealthThresholds::default())
    }

    /// Starts healthy, with no history.
    pub fn with_thresholds(thresholds: HealthThresholds) -> Self {
        Self {
            recent: [0; TREND_WINDOW],
            len: 0,
            next: 0,
            level: HealthLevel::Healthy,
            thresholds,
        }
    }

    /// Takes a new score; returns the report and the level change, if any.
    pub fn observe(&mut self, score: u8) -> (HealthReport, Option<LevelChange>) {
        self.recent[self.next] = score;
        self.next = (self.next + 1) % TREND_WINDOW;
        self.len = (self.len + 1).min(TREND_WINDOW);
        let raw = self.thresholds.level(score);
        let new_level = if raw < self.level {
            raw
        } else if raw > self.level {
            // Improve only past the threshold plus hysteresis.
            self.thresholds
                .level(score.saturating_sub(HYSTERESIS))
                .max(self.level)
        } else {
            self.level
        };
        let change = (new_level != self.level).then_some(LevelChange {
            from: self.level,
            to: new_level,
            score,
        });
        self.level = new_level;
        let report = HealthReport {
            score,
            level: new_level,
            trend: self.trend(),
            unresponsive: false,
        };
        (report, change)
    }

    /// The current level.
    pub fn level(&self) -> HealthLevel {
        self.level
    }

    fn trend(&self) -> Trend {
        if self.len < 4 {
            return Trend::Stable;
        }
        // Oldest first.
        let start = (self.next + TREND_WINDOW - self.len) % TREND_WINDOW;
        let ordered = (0..self.len).map(|i| f64::from(self.recent[(start + i) % TREND_WINDOW]));
        let half = self.len / 2;
        let (mut old, mut new) = (0.0, 0.0);
        for (i, v) in ordered.enumerate() {
            if i < self.len - half {
                old += v;
            } else {
                new += v;
            }
        }
        let delta = new / half as f64 - old / (self.len - half) as f64;
        if delta >= TREND_DELTA {
            Trend::Improving
        } else if delta <= -TREND_DELTA {
            Trend::Degrading
        } else {
            Trend::Stable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(memory: f64, restarts: u32) -> HealthInputs {
        HealthInputs {
            memory_used: Some(memory),
            cpu_used: None,
            fds_used: None,
            processes_used: None,
            recent_restarts: restarts,
            responsiveness: Responsiveness::Ready,
        }
    }

    #[test]
    fn score_follows_headroom_restarts_and_responsiveness() {
        assert_eq!(score(&inputs(0.1, 0)), 100);
        assert_eq!(score(&inputs(0.8, 0)), 75);
        assert_eq!(score(&inputs(1.0, 0)), 50);
        assert_eq!(score(&inputs(0.1, 5)), 70);
        let unresponsive = HealthInputs {
            responsiveness: Responsiveness::Unresponsive,
            ..inputs(1.2, 5)
        };
        assert_eq!(score(&unresponsive), 0);
        let idle_but_stuck = HealthInputs {
            responsiveness: Responsiveness::Unresponsive,
            ..inputs(0.1, 0)
        };
        assert_eq!(score(&idle_but_stuck), UNRESPONSIVE_CAP);
    }

    #[test]
    fn levels_change_once_with_hysteresis() {
        let mut t = HealthTracker::new();
        assert_eq!(t.observe(90).1, None);
        let (_, down) = t.observe(65);
        assert_eq!(down.map(|c| c.to), Some(HealthLevel::Warning));
        // Back to 72: not enough to be healthy again (needs 75).
        assert_eq!(t.observe(72).1, None);
        assert_eq!(t.level(), HealthLevel::Warning);
        let (_, up) = t.observe(80);
        assert_eq!(
            up.map(|c| (c.from, c.to)),
            Some((HealthLevel::Warning, HealthLevel::Healthy))
        );
        let (_, crit) = t.observe(20);
        assert_eq!(crit.map(|c| c.to), Some(HealthLevel::Critical));
        let (_, emergency) = t.observe(10);
        assert_eq!(emergency.map(|c| c.to), Some(HealthLevel::Emergency));
        let strict = HealthThresholds {
            warning: 90,
            critical: 60,
            emergency: 30,
        };
        let mut t = HealthTracker::with_thresholds(strict);
        assert_eq!(t.observe(85).1.map(|c| c.to), Some(HealthLevel::Warning));
        assert_eq!(t.observe(25).1.map(|c| c.to), Some(HealthLevel::Emergency));
    }

    #[test]
    fn trend_compares_recent_with_older_scores() {
        let mut t = HealthTracker::new();
        for s in [90, 90, 90, 90, 60, 60, 60, 60] {
            t.observe(s);
        }
        assert_eq!(t.observe(60).0.trend, Trend::Degrading);
        let mut t = HealthTracker::new();
        for s in [40, 40, 40, 40, 80, 80, 80] {
            t.observe(s);
        }
        assert_eq!(t.observe(80).0.trend, Trend::Improving);
        let mut t = HealthTracker::new();
        for _ in 0..10 {
            t.observe(77);
        }
        assert_eq!(t.observe(77).0.trend, Trend::Stable);
    }
}
