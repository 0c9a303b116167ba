//! Beyond OTP: a health report per supervisor — restart counts and the rate over
//! the last hour, the state of every child, and recommendations an operator can
//! act on.
//!
//! Restart rates come from [`RateWindow`]: 60 one-minute buckets, O(1) per
//! restart and a fixed ~250 bytes however busy the child (a child gets one on its
//! first restart only, so 100,000 quiet dynamic children cost nothing here).
//!
//! The report is a snapshot built inside the supervisor's task; it never reaches
//! into a child beyond `RunningChild::info`.

use serde::Serialize;

use super::handle::{ChildCounts, ChildStatus};
use super::id::ChildId;
use super::spec::{ChildKind, Restart, Shutdown, Strategy};
use super::storm::{StormConfig, StormWindow};
use super::{ChildSpec, ExitReason};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const BUCKETS: u64 = 60;

/// A `one_for_all` supervisor with more children than this gets a recommendation.
pub const LARGE_ONE_FOR_ALL: usize = 10;

/// A child restarted at least this many times in the last hour gets a recommendation.
pub const FREQUENT_RESTARTS_PER_HOUR: u32 = 5;

/// A supervisor with more children than this gets a recommendation, whatever its strategy.
pub const LARGE_SUPERVISOR: usize = 20;

/// A `rest_for_one` supervisor with fewer children than this gets a recommendation.
pub const SMALL_REST_FOR_ONE: usize = 3;

/// Restarts per minute over the last hour.
#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    buckets: [u32; BUCKETS as usize],
    /// The minute (since the supervisor's epoch) of the newest bucket.
    head: u64,
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow {
            buckets: [0; BUCKETS as usize],
            head: 0,
        }
    }
}

impl RateWindow {
    pub(crate) fn record(&mut self, now_ms: u64) {
        let minute = now_ms / MINUTE_MS;
        if minute > self.head {
            let gap = minute - self.head;
            if gap >= BUCKETS {
                self.buckets = [0; BUCKETS as usize];
            } else {
                for m in self.head + 1..=minute {
                    self.buckets[(m % BUCKETS) as usize] = 0;
                }
            }
            self.head = minute;
        }
        let slot = &mut self.buckets[(minute % BUCKETS) as usize];
        *slot = slot.saturating_add(1);
    }

    /// Restarts within the last `minutes` minutes ending at `now_ms`
    /// (minute resolution: the current minute counts as one).
    pub(crate) fn last_minutes(&self, now_ms: u64, minutes: u64) -> u32 {
        let now_minute = now_ms / MINUTE_MS;
        (0..minutes.min(BUCKETS))
            .filter_map(|back| now_minute.checked_sub(back))
            .filter(|&m| m <= self.head && m + BUCKETS > self.head)
            .map(|m| self.buckets[(m % BUCKETS) as usize])
            .fold(0u32, u32::saturating_add)
    }

    /// Restarts within the hour ending at `now_ms` (minute resolution).
    pub(crate) fn last_hour(&self, now_ms: u64) -> u32 {
        let now_minute = now_ms / MINUTE_MS;
        (0..BUCKETS)
            .filter_map(|back| self.head.checked_sub(back))
            .filter(|&m| m + BUCKETS > now_minute)
            .map(|m| self.buckets[(m % BUCKETS) as usize])
            .fold(0u32, u32::saturating_add)
    }
}

/// The health of one supervisor.
#[derive(Clone, Debug, Serialize)]
pub struct HealthReport {
    /// The supervisor's path.
    pub supervisor: String,
    /// Its current strategy.
    pub strategy: Strategy,
    /// Its intensity (MaxR).
    pub intensity: u32,
    /// Its period (MaxT), in milliseconds.
    pub period_ms: u64,
    /// Restarts counted in the intensity window right now (one more than
    /// `intensity` and the supervisor gives up).
    pub restarts_in_period: usize,
    /// Restarts since the supervisor started.
    pub restarts_total: u64,
    /// Restarts within the last hour (minute resolution): the restart rate per hour.
    pub restarts_last_hour: u32,
    /// OTP's count_children.
    pub counts: ChildCounts,
    /// Every child, static in start order, then dynamic by creation.
    pub children: Vec<ChildHealth>,
    /// What an operator could change.
    pub recommendations: Vec<Recommendation>,
    /// The health score, 0–100 (see [`HealthReport::score`]).
    pub score: u8,
    /// Why the score is below 100, one sentence per deduction.
    pub reasons: Vec<String>,
}

/// The health of one child.
#[derive(Clone, Debug, Serialize)]
pub struct ChildHealth {
    /// The child's id.
    pub id: ChildId,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: Restart,
    /// Running, restarting or stopped.
    pub status: ChildStatus,
    /// The live incarnation's generation.
    pub generation: Option<u64>,
    /// How long the live incarnation has run, in milliseconds.
    pub uptime_ms: Option<u64>,
    /// Restarts since the child was added.
    pub restarts_total: u64,
    /// Restarts within the last hour.
    pub restarts_last_hour: u32,
    /// How the previous incarnation ended.
    pub last_exit: Option<ExitReason>,
    /// A restart storm going on now (a storm window still over its threshold).
    pub storm: Option<StormStatus>,
    /// The storm-detector settings in force (`None`: off).
    pub storm_settings: Option<StormConfig>,
}

/// A restart storm in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StormStatus {
    /// The window over its threshold.
    pub window: StormWindow,
    /// Restarts within it.
    pub restarts: u32,
    /// Its threshold.
    pub threshold: u32,
}

/// Something an operator could change, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// A stable code for tools.
    pub code: RecommendationCode,
    /// The child concerned, if one.
    pub child: Option<ChildId>,
    /// A sentence for people.
    pub message: String,
}

/// The kinds of recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationCode {
    /// `one_for_all` coupling many children: one failure restarts them all.
    LargeOneForAll,
    /// A child restarts often.
    FrequentRestarts,
    /// Intensity 0: any restart makes the supervisor give up.
    ZeroIntensity,
    /// One more restart within the period and the supervisor gives up.
    NearIntensity,
    /// A nested supervisor can be killed before it has stopped its own children.
    SupervisorShutdownNotInfinity,
    /// The tree's shutdown depends on a worker's cleanup always returning.
    WorkerShutdownInfinity,
    /// More than 20 children under one supervisor.
    LargeSupervisor,
    /// `rest_for_one` over fewer than 3 children: no ordering worth the strategy.
    SmallRestForOne,
    /// Restarts in the last hour above the rate the intensity allows.
    RestartRateOverLimit,
    /// A child near its memory limit.
    NearMemoryLimit,
    /// A component child near its per-call fuel budget.
    NearFuelLimit,
    /// A child in a restart storm right now.
    StormInProgress,
}

/// Inputs for the recommendations about one child.
pub(crate) struct ChildFacts<'a> {
    pub(crate) id: ChildId,
    pub(crate) spec: &'a ChildSpec,
    pub(crate) last_hour: u32,
    pub(crate) storm: Option<StormStatus>,
}

/// Inputs for the recommendations about one supervisor.
pub(crate) struct Facts<'a> {
    pub(crate) strategy: Strategy,
    pub(crate) intensity: u32,
    pub(crate) period_ms: u64,
    pub(crate) restarts_in_period: usize,
    pub(crate) restarts_last_hour: u32,
    pub(crate) child_count: usize,
    pub(crate) children: &'a [ChildFacts<'a>],
}

/// The hourly restart rate `intensity` restarts per `period_ms` allow when
/// sustained (`None` for intensity 0 or no period).
pub fn hourly_limit(intensity: u32, period_ms: u64) -> Option<u64> {
    (intensity > 0 && period_ms > 0)
        .then(|| u64::from(intensity).saturating_mul(HOUR_MS) / period_ms)
}

/// The recommendations, in a stable order: supervisor-wide first, then per child.
pub(crate) fn recommendations(f: &Facts<'_>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    if f.strategy == Strategy::OneForAll && f.child_count > LARGE_ONE_FOR_ALL {
        out.push(Recommendation {
            code: RecommendationCode::LargeOneForAll,
            child: None,
            message: format!(
                "one_for_all with {} children (> {LARGE_ONE_FOR_ALL}): any failure restarts all of them; \
                 consider rest_for_one or grouping coupled children under nested supervisors",
                f.child_count
            ),
        });
    }
    if f.child_count > LARGE_SUPERVISOR {
        out.push(Recommendation {
            code: RecommendationCode::LargeSupervisor,
            child: None,
            message: format!(
                "{} children under one supervisor (> {LARGE_SUPERVISOR}): split them under nested \
                 supervisors so a failure and a restart touch fewer of them",
                f.child_count
            ),
        });
    }
    if f.strategy == Strategy::RestForOne && f.child_count < SMALL_REST_FOR_ONE {
        out.push(Recommendation {
            code: RecommendationCode::SmallRestForOne,
            child: None,
            message: format!(
                "rest_for_one with {} children (< {SMALL_REST_FOR_ONE}): the start order couples \
                 next to nothing; one_for_one (or one_for_all for a pair) says the same more plainly",
                f.child_count
            ),
        });
    }
    if let Some(limit) = hourly_limit(f.intensity, f.period_ms)
        && u64::from(f.restarts_last_hour) > limit
    {
        out.push(Recommendation {
            code: RecommendationCode::RestartRateOverLimit,
            child: None,
            message: format!(
                "{} restarts in the last hour, over the {limit} per hour that intensity {} per {} ms \
                 allows when sustained: find the failing child rather than raising the intensity",
                f.restarts_last_hour, f.intensity, f.period_ms
            ),
        });
    }
    if f.intensity == 0 {
        out.push(Recommendation {
            code: RecommendationCode::ZeroIntensity,
            child: None,
            message: "intensity 0: the first restart makes the supervisor give up".to_owned(),
        });
    } else if f.restarts_in_period >= f.intensity as usize {
        out.push(Recommendation {
            code: RecommendationCode::NearIntensity,
            child: None,
            message: format!(
                "{} restarts within the period with intensity {}: one more and the supervisor gives up",
                f.restarts_in_period, f.intensity
            ),
        });
    }
    for ChildFacts {
        id,
        spec,
        last_hour,
        storm,
    } in f.children
    {
        if let Some(storm) = storm {
            out.push(Recommendation {
                code: RecommendationCode::StormInProgress,
                child: Some(id.clone()),
                message: format!(
                    "child `{id}` is in a restart storm: {} restarts within the last {} (threshold {}); \
                     it keeps failing at start, look at its last exit",
                    storm.restarts,
                    match storm.window {
                        StormWindow::Minute => "minute",
                        StormWindow::Hour => "hour",
                    },
                    storm.threshold
                ),
            });
        }
        if *last_hour >= FREQUENT_RESTARTS_PER_HOUR {
            let advice = if spec.backoff().is_none() {
                "; consider a restart backoff"
            } else {
                ""
            };
            out.push(Recommendation {
                code: RecommendationCode::FrequentRestarts,
                child: Some(id.clone()),
                message: format!(
                    "{} child `{id}` restarted {last_hour} times in the last hour{advice}",
                    spec.restart()
                ),
            });
        }
        match (spec.kind(), spec.shutdown()) {
            (ChildKind::Supervisor, Shutdown::Infinity) | (ChildKind::Worker, Shutdown::BrutalKill) => {}
            (ChildKind::Supervisor, s) => out.push(Recommendation {
                code: RecommendationCode::SupervisorShutdownNotInfinity,
                child: Some(id.clone()),
                message: format!(
                    "supervisor child `{id}` has shutdown {s}: it may be killed before its own children \
                     have stopped; OTP recommends infinity"
                ),
            }),
            (ChildKind::Worker, Shutdown::Infinity) => out.push(Recommendation {
                code: RecommendationCode::WorkerShutdownInfinity,
                child: Some(id.clone()),
                message: format!(
                    "worker `{id}` has shutdown infinity: the tree cannot stop until its cleanup returns"
                ),
            }),
            (ChildKind::Worker, Shutdown::Timeout(_)) => {}
        }
    }
    out
}

/// A child at or above this fraction of its memory or fuel limit is "near" it.
pub const NEAR_LIMIT: f64 = 0.8;

/// The recommendation for a child using `used` of its `limit` of memory
/// (bytes) or, with `fuel`, of its per-call fuel budget; `None` below
/// [`NEAR_LIMIT`]. The supervisor cannot see inside a child, so whoever
/// reads the child's details (the host) asks this.
pub fn near_limit(child: &ChildId, used: u64, limit: u64, fuel: bool) -> Option<Recommendation> {
    if limit == 0 || (used as f64) < NEAR_LIMIT * limit as f64 {
        return None;
    }
    let percent = used.saturating_mul(100) / limit;
    let (code, what, advice) = if fuel {
        (
            RecommendationCode::NearFuelLimit,
            "fuel",
            "its last call burned",
        )
    } else {
        (RecommendationCode::NearMemoryLimit, "memory", "it uses")
    };
    Some(Recommendation {
        code,
        child: Some(child.clone()),
        message: format!(
            "child `{child}` is near its {what} limit: {advice} {used} of {limit} ({percent} %); \
             raise the limit or find what grows"
        ),
    })
}

impl HealthReport {
    /// The supervisor's health score, 0–100, and a reason for every
    /// deduction: up to 40 for restarts within the intensity period (as a
    /// share of the intensity: at the intensity one more gives up), up to
    /// 40 for the share of children down (restarting, or permanent and
    /// stopped), 30 for a child in a restart storm, and 20 for a restart
    /// rate over the one the intensity allows.
    pub fn score(&self) -> (u8, Vec<String>) {
        let mut score = 100.0_f64;
        let mut reasons = Vec::new();
        if self.restarts_in_period > 0 {
            let share = if self.intensity == 0 {
                1.0
            } else {
                (self.restarts_in_period as f64 / f64::from(self.intensity)).min(1.0)
            };
            score -= 40.0 * share;
            reasons.push(format!(
                "{} restarts within the period of {} ms (intensity {})",
                self.restarts_in_period, self.period_ms, self.intensity
            ));
        }
        let down = self
            .children
            .iter()
            .filter(|c| match c.status {
                ChildStatus::Restarting => true,
                ChildStatus::Stopped => c.restart == Restart::Permanent,
                ChildStatus::Running => false,
            })
            .count();
        if down > 0 {
            score -= 40.0 * down as f64 / self.children.len() as f64;
            reasons.push(format!(
                "{down} of {} children down (restarting or stopped)",
                self.children.len()
            ));
        }
        if let Some(c) = self.children.iter().find(|c| c.storm.is_some()) {
            score -= 30.0;
            reasons.push(format!("child `{}` in a restart storm", c.id));
        }
        if let Some(limit) = hourly_limit(self.intensity, self.period_ms)
            && u64::from(self.restarts_last_hour) > limit
        {
            score -= 20.0;
            reasons.push(format!(
                "{} restarts in the last hour (over {limit} per hour)",
                self.restarts_last_hour
            ));
        }
        (score.round().clamp(0.0, 100.0) as u8, reasons)
    }
}
