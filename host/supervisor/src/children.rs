//! The children of one supervisor, as OTP keeps them: an ordered id list (start
//! order) plus a map (lookup), and one record per child whose state is a single
//! enum.
//!
//! Static children (every strategy but `simple_one_for_one`) appear in `order`.
//! Dynamic children live in the map only (like OTP's `dynamics` map): adding and
//! removing one is O(1), which is what lets a pool hold 100,000 of them; they are
//! listed by creation sequence.
//!
//! Invariant: a child is `Running` exactly when the supervisor owns a live handle
//! for its current generation; `Restarting` means a restart is owed (a `TryAgain`
//! message is queued, or a timer is set); `Stopped` means no incarnation and none
//! owed (never started, ignored, finished as transient, terminated).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::time::{Duration, Instant};

use super::backoff::BackoffState;
use super::child::{ExitReason, RunningChild};
use super::handle::{ChildInfo, ChildStatus};
use super::health::RateWindow;
use super::id::ChildId;
use super::in_place::Allowance;
use super::spec::ChildSpec;
use super::storm::{StormConfig, StormState};

/// The one state of a child.
pub(crate) enum ChildState {
    /// An incarnation is live.
    Running {
        generation: u64,
        since: Instant,
        handle: Box<dyn RunningChild>,
    },
    /// A restart is owed.
    Restarting { retry: Retry },
    /// No incarnation, no restart owed.
    Stopped,
}

/// How an owed restart will happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A `TryAgain` message is in the supervisor's own mailbox (OTP's `try_again`).
    Queued,
    /// A timer fires at `at` (backoff or storm pause of `delay`).
    At { at: Instant, delay: Duration },
}

impl ChildState {
    pub(crate) fn status(&self) -> ChildStatus {
        match self {
            ChildState::Running { .. } => ChildStatus::Running,
            ChildState::Restarting { .. } => ChildStatus::Restarting,
            ChildState::Stopped => ChildStatus::Stopped,
        }
    }

    pub(crate) fn generation(&self) -> Option<u64> {
        match self {
            ChildState::Running { generation, .. } => Some(*generation),
            _ => None,
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self, ChildState::Running { .. })
    }
}

/// Everything the supervisor keeps about one child.
pub(crate) struct ChildRecord {
    pub(crate) spec: Arc<ChildSpec>,
    /// Start arguments of a dynamic child (dropped for temporary ones once started).
    pub(crate) args: Option<Arc<Value>>,
    pub(crate) state: ChildState,
    /// Creation order, for listing dynamic children.
    pub(crate) seq: u64,
    /// Restarts decided for this child by the supervisor (admin restarts excluded).
    pub(crate) restarts: u64,
    /// How the previous incarnation ended.
    pub(crate) last_exit: Option<ExitReason>,
    pub(crate) backoff: Option<BackoffState>,
    pub(crate) storm: Option<Box<StormState>>,
    /// The storm settings in force: the spec's, until changed at run time.
    pub(crate) storm_config: Option<StormConfig>,
    /// Restarts per minute over the last hour, allocated on the first restart.
    pub(crate) rate: Option<Box<RateWindow>>,
    /// How many restarts in place this child may claim now.
    pub(crate) in_place: Arc<Allowance>,
    /// Its restarts in place booked so far.
    pub(crate) in_place_booked: u64,
}

impl ChildRecord {
    pub(crate) fn new(spec: Arc<ChildSpec>, args: Option<Arc<Value>>, seq: u64) -> Self {
        let backoff = spec.backoff().map(|_| BackoffState::default());
        let storm = spec.storm().map(|c| Box::new(StormState::new(c)));
        let storm_config = spec.storm().copied();
        ChildRecord {
            spec,
            args,
            state: ChildState::Stopped,
            seq,
            restarts: 0,
            last_exit: None,
            backoff,
            storm,
            storm_config,
            rate: None,
            in_place: Arc::default(),
            in_place_booked: 0,
        }
    }

    pub(crate) fn info(&self, id: &ChildId) -> ChildInfo {
        let info = match &self.state {
            ChildState::Running { handle, .. } => {
                super::child::guarded(|| handle.info()).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        ChildInfo {
            id: id.clone(),
            kind: self.spec.kind(),
            restart: self.spec.restart(),
            status: self.state.status(),
            generation: self.state.generation(),
            restarts: self.restarts,
            last_exit: self.last_exit.clone(),
            info,
        }
    }
}

/// Ordered ids plus map.
#[derive(Default)]
pub(crate) struct Children {
    order: Vec<ChildId>,
    records: HashMap<ChildId, ChildRecord>,
}

impl Children {
    pub(crate) fn get(&self, id: &(impl AsRef<str> + ?Sized)) -> Option<&ChildRecord> {
        self.records.get(id.as_ref())
    }

    pub(crate) fn get_mut(&mut self, id: &(impl AsRef<str> + ?Sized)) -> Option<&mut ChildRecord> {
        self.records.get_mut(id.as_ref())
    }

    pub(crate) fn contains(&self, id: &(impl AsRef<str> + ?Sized)) -> bool {
        self.records.contains_key(id.as_ref())
    }

    /// Adds a static child at the end of the start order.
    pub(crate) fn push_static(&mut self, id: ChildId, record: ChildRecord) {
        self.order.push(id.clone());
        self.records.insert(id, record);
    }

    /// Adds a dynamic child (no order).
    pub(crate) fn insert_dynamic(&mut self, id: ChildId, record: ChildRecord) {
        self.records.insert(id, record);
    }

    /// Removes a child, static or dynamic.
    pub(crate) fn remove(&mut self, id: &(impl AsRef<str> + ?Sized)) -> Option<ChildRecord> {
        let id = id.as_ref();
        let record = self.records.remove(id)?;
        if let Some(pos) = self.order.iter().position(|o| o.as_str() == id) {
            self.order.remove(pos);
        }
        Some(record)
    }

    /// Static children in start order.
    pub(crate) fn order(&self) -> &[ChildId] {
        &self.order
    }

    /// All children: static in start order, then dynamic by creation.
    pub(crate) fn ids(&self) -> Vec<ChildId> {
        if self.order.len() == self.records.len() {
            return self.order.clone();
        }
        let mut dynamic: Vec<(u64, &ChildId)> = self
            .records
            .iter()
            .filter(|(id, _)| !self.order.contains(id))
            .map(|(id, r)| (r.seq, id))
            .collect();
        dynamic.sort_unstable_by_key(|(seq, _)| *seq);
        let mut ids = self.order.clone();
        ids.extend(dynamic.into_iter().map(|(_, id)| id.clone()));
        ids
    }

    /// Ids of running children, in no particular order.
    pub(crate) fn running_ids(&self) -> Vec<(ChildId, u64)> {
        self.records
            .iter()
            .filter_map(|(id, r)| r.state.generation().map(|g| (id.clone(), g)))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = (&ChildId, &ChildRecord)> {
        self.records.iter()
    }
}
