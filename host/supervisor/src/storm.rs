//! Beyond OTP: a restart-storm detector for one child.
//!
//! Intensity protects the tree; a storm detector looks at one child over longer
//! windows: more than `per_minute` restarts within 60 s, or more than `per_hour`
//! within 3600 s. When a window first goes over its threshold the supervisor emits
//! `StormDetected` and takes the configured action: `log` (only the event),
//! `pause` (the next restart waits the cool-down; the windows start afresh),
//! `escalate` (the supervisor gives up, as when intensity is reached), or
//! `tiered` (the default, [`StormConfig::default`]): the first storm within
//! an hour is logged, the next ones pause, and the `escalate_after`-th
//! escalates.
//!
//! Each window keeps at most `threshold + 1` stamps, so memory is bounded by the
//! configuration and recording is O(1) amortised. A storm is reported once per
//! episode: again only after the window has dropped back to the threshold.

use std::collections::VecDeque;
use std::time::Duration;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use warden_clock::millis;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

/// Storm-detector settings. At least one threshold must be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StormConfig {
    /// A storm is more than this many restarts within one minute.
    pub per_minute: Option<u32>,
    /// A storm is more than this many restarts within one hour.
    pub per_hour: Option<u32>,
    /// What to do about it.
    pub action: StormAction,
}

/// The specification's defaults: more than 10 restarts a minute or 100 an
/// hour is a storm; storms are logged, then pause restarts for 30 s, and
/// the fifth within an hour escalates.
impl Default for StormConfig {
    fn default() -> Self {
        StormConfig {
            per_minute: Some(10),
            per_hour: Some(100),
            action: StormAction::Tiered {
                cooldown: Duration::from_secs(30),
                escalate_after: 5,
            },
        }
    }
}

impl StormConfig {
    /// Checks the settings; the error says which one is wrong.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.per_minute.is_none() && self.per_hour.is_none() {
            return Err("set per_minute, per_hour or both");
        }
        match self.action {
            StormAction::Pause { cooldown } | StormAction::Tiered { cooldown, .. }
                if cooldown.is_zero() =>
            {
                return Err("the pause cool-down must be greater than zero");
            }
            StormAction::Tiered { escalate_after, .. } if escalate_after < 2 => {
                return Err("escalate_after must be at least 2 (the first storm is logged)");
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the supervisor does when a storm is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StormAction {
    /// Emit the event and log it; restarts go on.
    Log,
    /// Hold the next restart for `cooldown`.
    Pause {
        /// How long to hold it.
        cooldown: Duration,
    },
    /// Give up: stop all children and exit with `shutdown`, like reaching intensity.
    Escalate,
    /// Log → pause → escalate: the first storm within an hour is logged,
    /// the next ones hold the restart for `cooldown`, the
    /// `escalate_after`-th escalates.
    Tiered {
        /// How long a pause holds the restart.
        cooldown: Duration,
        /// The storm within an hour that escalates (at least 2).
        escalate_after: u32,
    },
}

impl StormAction {
    /// The action of a fixed tier, or of `Tiered` for the `nth` storm
    /// within the hour (1 = the first).
    pub(crate) fn for_storm(self, nth: usize) -> StormAction {
        match self {
            StormAction::Tiered {
                cooldown,
                escalate_after,
            } => {
                if nth >= escalate_after as usize {
                    StormAction::Escalate
                } else if nth >= 2 {
                    StormAction::Pause { cooldown }
                } else {
                    StormAction::Log
                }
            }
            fixed => fixed,
        }
    }
}

impl Serialize for StormAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StormAction::Log => s.serialize_str("log"),
            StormAction::Escalate => s.serialize_str("escalate"),
            StormAction::Pause { cooldown } => {
                let mut st = s.serialize_struct("Pause", 1)?;
                st.serialize_field("pause_ms", &millis(*cooldown))?;
                st.end()
            }
            StormAction::Tiered {
                cooldown,
                escalate_after,
            } => {
                let mut st = s.serialize_struct("Tiered", 3)?;
                st.serialize_field("tiers", &["log", "pause", "escalate"])?;
                st.serialize_field("pause_ms", &millis(*cooldown))?;
                st.serialize_field("escalate_after", escalate_after)?;
                st.end()
            }
        }
    }
}

/// Which window went over its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StormWindow {
    /// The last 60 seconds.
    Minute,
    /// The last 3600 seconds.
    Hour,
}

/// A storm just detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StormTrip {
    pub(crate) window: StormWindow,
    pub(crate) restarts: u32,
    pub(crate) threshold: u32,
}

#[derive(Debug)]
struct Window {
    span_ms: u64,
    threshold: u32,
    stamps: VecDeque<u64>,
}

impl Window {
    fn new(span_ms: u64, threshold: u32) -> Self {
        Window {
            span_ms,
            threshold,
            stamps: VecDeque::new(),
        }
    }

    /// Restarts that can be recorded from `now_ms` on before the window
    /// goes over its threshold (none while it is over).
    fn headroom(&mut self, now_ms: u64) -> u64 {
        self.expire(now_ms);
        (self.threshold as u64).saturating_sub(self.stamps.len() as u64)
    }

    fn expire(&mut self, now_ms: u64) {
        while self
            .stamps
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= self.span_ms)
        {
            self.stamps.pop_front();
        }
    }

    /// Records a restart; `Some(count)` when the window just went over its threshold.
    fn record(&mut self, now_ms: u64) -> Option<u32> {
        self.expire(now_ms);
        let limit = self.threshold as usize;
        let was_over = self.stamps.len() > limit;
        self.stamps.push_back(now_ms);
        if self.stamps.len() > limit + 1 {
            self.stamps.pop_front();
        }
        let over = self.stamps.len() > limit;
        (over && !was_over).then(|| u32::try_from(self.stamps.len()).unwrap_or(u32::MAX))
    }
}

/// The detector state of one child.
#[derive(Debug)]
pub(crate) struct StormState {
    minute: Option<Window>,
    hour: Option<Window>,
    /// When the storms of the last hour began (for the tiers).
    storms: VecDeque<u64>,
}

impl StormState {
    pub(crate) fn new(config: &StormConfig) -> Self {
        StormState {
            minute: config.per_minute.map(|t| Window::new(MINUTE_MS, t)),
            hour: config.per_hour.map(|t| Window::new(HOUR_MS, t)),
            storms: VecDeque::new(),
        }
    }

    /// Counts a storm that began at `now_ms`; how many began within the
    /// last hour, this one included.
    pub(crate) fn count_storm(&mut self, now_ms: u64) -> usize {
        while self
            .storms
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= HOUR_MS)
        {
            self.storms.pop_front();
        }
        self.storms.push_back(now_ms);
        self.storms.len()
    }

    /// Restarts that can happen from `now_ms` on without a storm being
    /// detected: the smaller headroom of the two windows.
    pub(crate) fn headroom(&mut self, now_ms: u64) -> u64 {
        [self.minute.as_mut(), self.hour.as_mut()]
            .into_iter()
            .flatten()
            .map(|w| w.headroom(now_ms))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Records a restart at `now_ms`; reports a storm that just began.
    pub(crate) fn record(&mut self, now_ms: u64) -> Option<StormTrip> {
        let minute = self.minute.as_mut().and_then(|w| {
            w.record(now_ms).map(|restarts| StormTrip {
                window: StormWindow::Minute,
                restarts,
                threshold: w.threshold,
            })
        });
        let hour = self.hour.as_mut().and_then(|w| {
            w.record(now_ms).map(|restarts| StormTrip {
                window: StormWindow::Hour,
                restarts,
                threshold: w.threshold,
            })
        });
        minute.or(hour)
    }

    /// A storm going on at `now_ms`: a window still over its threshold
    /// (the minute window first).
    pub(crate) fn in_progress(&self, now_ms: u64) -> Option<StormTrip> {
        [
            (self.minute.as_ref(), StormWindow::Minute),
            (self.hour.as_ref(), StormWindow::Hour),
        ]
        .into_iter()
        .find_map(|(w, window)| {
            let w = w?;
            let live = w
                .stamps
                .iter()
                .filter(|&&t| now_ms.saturating_sub(t) < w.span_ms)
                .count();
            (live > w.threshold as usize).then(|| StormTrip {
                window,
                restarts: u32::try_from(live).unwrap_or(u32::MAX),
                threshold: w.threshold,
            })
        })
    }

    /// Forgets the windows (after a pause, counting starts afresh).
    pub(crate) fn clear(&mut self) {
        for w in [self.minute.as_mut(), self.hour.as_mut()]
            .into_iter()
            .flatten()
        {
            w.stamps.clear();
        }
    }
}
