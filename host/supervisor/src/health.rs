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
use super::{ChildSpec, ExitReason};

const MINUTE_MS: u64 = 60_000;
const BUCKETS: u64 = 60;

/// A `one_for_all` supervisor with more children than this gets a recommendation.
pub const LARGE_ONE_FOR_ALL: usize = 10;

/// A child restarted at least this many times in the last hour gets a recommendation.
pub const FREQUENT_RESTARTS_PER_HOUR: u32 = 5;

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
}

/// Inputs for the recommendations about one supervisor.
pub(crate) struct Facts<'a> {
    pub(crate) strategy: Strategy,
    pub(crate) intensity: u32,
    pub(crate) restarts_in_period: usize,
    pub(crate) child_count: usize,
    pub(crate) children: &'a [(ChildId, &'a ChildSpec, u32)],
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
    for (id, spec, last_hour) in f.children {
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
