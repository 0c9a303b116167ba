//! Test support shipped with the supervision core: an [`EventSink`] that
//! records what it is given, so the supervisor's own tests (and a host's)
//! can assert exact event sequences without any event bus.
//!
//! Never meant for production trees: the record grows without bound until
//! [`EventRecorder::take`] empties it.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::event::{EventSink, SupervisorEvent};
use super::id::ChildPath;

/// One recorded event and the path it concerns. Serializes flat, the way a
/// host's event stream shows it (`{"path": …, "event": …, <fields>}`) minus
/// the timestamp, which the recorder does not take.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recorded {
    /// The supervisor or child concerned.
    pub path: ChildPath,
    /// What happened.
    #[serde(flatten)]
    pub event: SupervisorEvent,
}

/// Records every event, in emission order. Cheap to clone: clones share one
/// record, so a test keeps one clone and hands another to the tree.
#[derive(Clone, Debug, Default)]
pub struct EventRecorder {
    events: Arc<Mutex<Vec<Recorded>>>,
}

impl EventRecorder {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded since the last `take`, oldest first; the record
    /// is left empty.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.lock())
    }

    /// `(path, event name)` of everything recorded since the last `take`
    /// (which this is one of).
    pub fn take_names(&self) -> Vec<(String, &'static str)> {
        self.take()
            .into_iter()
            .map(|r| (r.path.to_string(), r.event.name()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        // A test that panicked while holding the lock left a complete
        // vector behind: keep using it.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventSink for EventRecorder {
    fn emit(&self, path: ChildPath, event: SupervisorEvent) {
        self.lock().push(Recorded { path, event });
    }
}
