//! The one typed event stream.
//!
//! Everything that happens in the tree becomes an [`Event`]: a timestamp, the path
//! of the supervisor or child it concerns, and an [`EventKind`]. Observers (logs,
//! the HTTP event stream, the dashboard, the registry, metrics) subscribe to the
//! [`EventBus`] and never reach into children.
//!
//! Guarantees:
//! - [`EventBus::publish`] never blocks and never fails: the bus is a bounded
//!   `tokio::sync::broadcast` ring. A subscriber that falls behind loses the oldest
//!   events and is told how many it missed ([`Received::Missed`]).
//! - Every published event is also logged through `tracing` (target
//!   `warden::events`), at the level [`EventKind::level`] gives it.
//!
//! [`EventLog`] keeps the last events (1000 by default) with sequence
//! numbers, fed by a subscriber task, for whoever asks after the fact
//! (`events.recent`, the dashboard's first paint).
//!
//! Events come in six families, each typed by the module that knows what
//! happened: the supervisor's [`SupervisorEvent`]s (published through the
//! bus's [`EventSink`] implementation), hot reloads' [`ReloadEvent`]s,
//! native workers' [`ProcessEvent`]s, persisted component state's
//! [`PersistEvent`]s, and message traces' [`TraceEvent`]s (a `traced`
//! event per recorded message is on the bus but not in the [`EventLog`]:
//! the trace keeps its records), rollouts' [`RolloutEvent`]s
//! (`rollout.start`'s steps) and the health monitor's [`HealthEvent`]s.
//! [`EventKind`] wraps one of them; the
//! JSON is the inner event's alone (`"event": "<snake_case name>"` beside its
//! fields), whatever its family.
//!
//! Adding an event: add a variant to its family's enum, with one arm in that
//! enum's `level`, `name` and `Display` (the log line).
//!
//! Never does: reach into the tree, or depend on anything but the
//! supervisor and process modules whose events it carries (and the clock
//! helpers, for timestamps).

mod failure;
mod health;
mod persist;
mod reload;
mod rollout;
mod trace;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use serde::Serialize;
use tokio::sync::broadcast;
use tracing::Level;

pub use failure::FailureClass;
pub use health::{HealthEvent, HealthLevel, Thresholds};
pub use persist::PersistEvent;
pub use reload::{ReloadEvent, Stage, Tier};
pub use rollout::RolloutEvent;
pub use trace::{Payload, TraceEvent, TraceKind, TraceOutcome, TracedMessage};

use warden_clock::unix_ms;
pub use warden_process::ProcessEvent;
use warden_supervisor::{ChildPath, EventSink};
pub use warden_supervisor::{DelayCause, SupervisorEvent};

/// One thing that happened.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The supervisor or child concerned (`root/workers/counter`).
    pub path: ChildPath,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An event happening now.
    pub fn now(path: ChildPath, kind: impl Into<EventKind>) -> Self {
        let kind = kind.into();
        Event {
            at_ms: unix_ms(),
            path,
            kind,
        }
    }
}

/// What happened: an event of one of the six families. Serialized as the
/// inner event alone (`"event": "<snake_case>"` plus its fields), so a
/// family is not visible in the JSON, only the event's name.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventKind {
    /// A supervisor's: starts, exits, restarts, intensity, storms, shutdowns.
    Supervisor(SupervisorEvent),
    /// A hot reload's.
    Reload(ReloadEvent),
    /// A native worker's: limits, health.
    Process(ProcessEvent),
    /// A component child's persisted state: saved, restored, refused.
    Persist(PersistEvent),
    /// A message trace's records and end.
    Trace(TraceEvent),
    /// A rollout's steps (`rollout.start`).
    Rollout(RolloutEvent),
    /// The health monitor's level changes.
    Health(HealthEvent),
}

impl EventKind {
    /// Every event name the stream can carry (`child_exited`, …), family by
    /// family: derived from the enums (`strum::VariantNames`), never a list
    /// kept by hand.
    pub fn names() -> Vec<&'static str> {
        use strum::VariantNames;
        [
            SupervisorEvent::VARIANTS,
            ReloadEvent::VARIANTS,
            ProcessEvent::VARIANTS,
            PersistEvent::VARIANTS,
            TraceEvent::VARIANTS,
            RolloutEvent::VARIANTS,
            HealthEvent::VARIANTS,
        ]
        .concat()
    }

    /// The `tracing` level the event is logged at.
    pub fn level(&self) -> Level {
        match self {
            EventKind::Supervisor(e) => e.level(),
            EventKind::Reload(e) => e.level(),
            EventKind::Process(e) => e.level(),
            EventKind::Persist(e) => e.level(),
            EventKind::Trace(e) => e.level(),
            EventKind::Rollout(e) => e.level(),
            EventKind::Health(e) => e.level(),
        }
    }

    /// The snake_case name the event is serialized with (`child_exited`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Supervisor(e) => e.name(),
            EventKind::Reload(e) => e.name(),
            EventKind::Process(e) => e.name(),
            EventKind::Persist(e) => e.name(),
            EventKind::Trace(e) => e.name(),
            EventKind::Rollout(e) => e.name(),
            EventKind::Health(e) => e.name(),
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Supervisor(e) => fmt::Display::fmt(e, f),
            EventKind::Reload(e) => fmt::Display::fmt(e, f),
            EventKind::Process(e) => fmt::Display::fmt(e, f),
            EventKind::Persist(e) => fmt::Display::fmt(e, f),
            EventKind::Trace(e) => fmt::Display::fmt(e, f),
            EventKind::Rollout(e) => fmt::Display::fmt(e, f),
            EventKind::Health(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl From<SupervisorEvent> for EventKind {
    fn from(event: SupervisorEvent) -> Self {
        EventKind::Supervisor(event)
    }
}

impl From<ReloadEvent> for EventKind {
    fn from(event: ReloadEvent) -> Self {
        EventKind::Reload(event)
    }
}

impl From<ProcessEvent> for EventKind {
    fn from(event: ProcessEvent) -> Self {
        EventKind::Process(event)
    }
}

impl From<PersistEvent> for EventKind {
    fn from(event: PersistEvent) -> Self {
        EventKind::Persist(event)
    }
}

impl From<RolloutEvent> for EventKind {
    fn from(event: RolloutEvent) -> Self {
        EventKind::Rollout(event)
    }
}

impl From<HealthEvent> for EventKind {
    fn from(event: HealthEvent) -> Self {
        EventKind::Health(event)
    }
}

impl From<TraceEvent> for EventKind {
    fn from(event: TraceEvent) -> Self {
        EventKind::Trace(event)
    }
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Received {
    /// The next event.
    Event(Event),
    /// The subscriber fell behind and this many events were dropped for it.
    Missed(u64),
}

/// The cloneable publishing side of the event stream.
#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(EventBus::DEFAULT_CAPACITY)
    }
}

impl EventBus {
    /// The default ring size.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// The largest ring size accepted; larger requests are clamped.
    pub const MAX_CAPACITY: usize = 1 << 20;

    /// A bus keeping the last `capacity` events for slow subscribers (clamped to
    /// `1..=MAX_CAPACITY`).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.clamp(1, Self::MAX_CAPACITY));
        EventBus { tx }
    }

    /// Logs the event and hands it to every subscriber. Never blocks.
    pub fn publish(&self, event: Event) {
        log(&event);
        // No subscriber is not an error: the event has been logged.
        let _ = self.tx.send(event);
    }

    /// Publishes `kind` about `path`, stamped now.
    pub fn emit(&self, path: ChildPath, kind: impl Into<EventKind>) {
        self.publish(Event::now(path, kind));
    }

    /// A new subscriber, receiving events published from now on.
    pub fn subscribe(&self) -> EventStream {
        EventStream {
            rx: self.tx.subscribe(),
        }
    }

    /// How many subscribers are listening.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// The supervisors of a tree started on the bus publish on it.
impl EventSink for EventBus {
    fn emit(&self, path: ChildPath, event: SupervisorEvent) {
        self.publish(Event::now(path, event));
    }
}

/// One subscriber.
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
}

impl EventStream {
    /// The next event, or how many were missed; `None` once every bus is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        match self.rx.recv().await {
            Ok(e) => Some(Received::Event(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Received::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Like [`recv`](Self::recv) without waiting: `None` when nothing is ready.
    pub fn try_recv(&mut self) -> Option<Received> {
        match self.rx.try_recv() {
            Ok(e) => Some(Received::Event(e)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Received::Missed(n)),
            Err(_) => None,
        }
    }
}

fn log(event: &Event) {
    let path = &event.path;
    let kind = &event.kind;
    match kind.level() {
        Level::ERROR => tracing::error!(target: "warden::events", %path, "{kind}"),
        Level::WARN => tracing::warn!(target: "warden::events", %path, "{kind}"),
        Level::INFO => tracing::info!(target: "warden::events", %path, "{kind}"),
        Level::DEBUG => tracing::debug!(target: "warden::events", %path, "{kind}"),
        _ => tracing::trace!(target: "warden::events", %path, "{kind}"),
    }
}

/// An event with its place in the [`EventLog`]: `seq` grows by one per
/// event the log saw, and jumps over events it missed.
#[derive(Clone, Debug, Serialize)]
pub struct LoggedEvent {
    /// 1 for the first event the log saw.
    pub seq: u64,
    /// The event, flattened beside `seq`.
    #[serde(flatten)]
    pub event: Event,
}

/// Which logged events to return, newest last.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only events about this path or below it (`root/storage` matches
    /// `root/storage/kv`).
    pub child: Option<String>,
    /// Only events of these kinds (`child_exited`, …); empty: all kinds.
    pub kinds: Vec<String>,
    /// At most this many, the newest. By default all that match.
    pub limit: Option<usize>,
}

impl EventFilter {
    /// Whether `event` passes the child and kind filters (not `limit`).
    /// The kind is checked first and the path formatted only when a child
    /// filter needs it: the event stream runs this for every event and
    /// every subscriber.
    pub fn matches(&self, event: &Event) -> bool {
        let kind = event.kind.name();
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && self.child.as_deref().is_none_or(|child| {
                let path = event.path.to_string();
                path == child
                    || path
                        .strip_prefix(child)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

/// The last events of a bus, numbered, in a ring buffer. Cheap to clone.
///
/// A task subscribed to the bus appends every event; it ends once every
/// clone of the log is dropped (at the next event) or the bus is gone.
/// Events published before [`EventLog::start`] are not in it.
#[derive(Clone, Debug)]
pub struct EventLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    capacity: usize,
    ring: Mutex<Ring>,
    /// Told of every logged event, in order (the host's durable history).
    archive: Option<Archive>,
}

impl std::fmt::Debug for LogInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogInner")
            .field("capacity", &self.capacity)
            .field("archived", &self.archive.is_some())
            .finish_non_exhaustive()
    }
}

/// Where an [`EventLog`] hands each event it numbers, to keep it beyond
/// the ring (called from the log's feeder task: it must not block).
pub type Archive = Box<dyn Fn(&LoggedEvent) + Send + Sync>;

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<LoggedEvent>,
    /// The seq the next event gets.
    next: u64,
}

impl EventLog {
    /// The default number of events kept.
    pub const DEFAULT_CAPACITY: usize = 1000;

    /// Starts logging `bus`, keeping the last `capacity` events (at least
    /// one). Must be called inside a tokio runtime.
    pub fn start(bus: &EventBus, capacity: usize) -> Self {
        Self::start_archived(bus, capacity, 1, None)
    }

    /// [`start`](Self::start), numbering from `first_seq` (one past the
    /// newest archived event, so numbers go on across host restarts) and
    /// handing every event to `archive` as it is numbered.
    pub fn start_archived(
        bus: &EventBus,
        capacity: usize,
        first_seq: u64,
        archive: Option<Archive>,
    ) -> Self {
        let inner = Arc::new(LogInner {
            capacity: capacity.max(1),
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                next: first_seq.max(1),
            }),
            archive,
        });
        let stream = bus.subscribe();
        tokio::spawn(feed(stream, Arc::downgrade(&inner)));
        EventLog { inner }
    }

    /// The matching events, oldest first (the newest `limit` of them).
    pub fn recent(&self, filter: &EventFilter) -> Vec<LoggedEvent> {
        let ring = self
            .inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<LoggedEvent> = ring
            .events
            .iter()
            .rev()
            .filter(|e| filter.matches(&e.event))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// The seq from which the ring holds every event it saw: its oldest
    /// event's, or the next one's while it is empty. Older events are only
    /// in the archive, if any.
    pub fn oldest_seq(&self) -> u64 {
        let ring = self
            .inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ring.events.front().map_or(ring.next, |e| e.seq)
    }

    /// The seq of the newest logged event (0 before the first).
    pub fn last_seq(&self) -> u64 {
        let ring = self
            .inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ring.next.saturating_sub(1)
    }
}

async fn feed(mut stream: EventStream, log: Weak<LogInner>) {
    while let Some(received) = stream.recv().await {
        let Some(log) = log.upgrade() else { return };
        let mut ring = log.ring.lock().unwrap_or_else(PoisonError::into_inner);
        match received {
            // A trace keeps its own records (`trace.get`); its traffic would
            // push every other event out of the ring.
            Received::Event(event)
                if matches!(event.kind, EventKind::Trace(TraceEvent::Traced { .. })) => {}
            Received::Event(event) => {
                let seq = ring.next;
                ring.next += 1;
                if ring.events.len() == log.capacity {
                    ring.events.pop_front();
                }
                let logged = LoggedEvent { seq, event };
                if let Some(archive) = &log.archive {
                    archive(&logged);
                }
                ring.events.push_back(logged);
            }
            Received::Missed(n) => {
                tracing::warn!("the event log fell behind and missed {n} events");
                ring.next = ring.next.saturating_add(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use warden_process::{HealthLevel, LimitKind, Trend};
    use warden_supervisor::{ExitReason, ShutdownCause};

    #[tokio::test]
    async fn the_log_keeps_the_newest_events_numbered_and_filters_them() {
        let bus = EventBus::default();
        let log = EventLog::start(&bus, 3);
        let started = |g| SupervisorEvent::ChildStarted { generation: g };
        bus.emit(ChildPath::child("root".into(), "a".into()), started(1));
        bus.emit(
            ChildPath::child("root/storage".into(), "kv".into()),
            started(2),
        );
        bus.emit(
            ChildPath::supervisor("root/storage"),
            SupervisorEvent::ChildIgnored,
        );
        bus.emit(
            ChildPath::child("root".into(), "storage2".into()),
            started(3),
        );
        for _ in 0..100 {
            if log.last_seq() == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let all = log.recent(&EventFilter::default());
        let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3, 4], "the oldest event fell out of the ring");
        let under = log.recent(&EventFilter {
            child: Some("root/storage".into()),
            ..EventFilter::default()
        });
        let paths: Vec<String> = under.iter().map(|e| e.event.path.to_string()).collect();
        assert_eq!(
            paths,
            ["root/storage/kv", "root/storage"],
            "root/storage2 is not below"
        );
        let kinds = log.recent(&EventFilter {
            kinds: vec!["child_started".into()],
            limit: Some(1),
            ..EventFilter::default()
        });
        assert_eq!(kinds.len(), 1);
        assert_eq!(kinds[0].seq, 4);
        let json = serde_json::to_value(&kinds[0]).unwrap();
        assert_eq!(json["seq"], 4);
        assert_eq!(json["event"], "child_started");
        assert_eq!(json["path"], "root/storage2");
    }

    #[test]
    fn events_serialize_flat_with_path_and_timestamp() {
        let event = Event::now(
            ChildPath::child("root/workers".into(), "counter".into()),
            SupervisorEvent::ChildExited {
                generation: 4,
                reason: ExitReason::abnormal(FailureClass::Trap, "unreachable"),
            },
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["path"], "root/workers/counter");
        assert_eq!(json["event"], "child_exited");
        assert_eq!(json["generation"], 4);
        assert_eq!(json["reason"], "abnormal");
        assert_eq!(json["kind"], "trap");
        assert_eq!(json["message"], "unreachable");
        assert!(json["at_ms"].as_u64().unwrap() > 1_600_000_000_000);
        assert_eq!(
            EventKind::from(SupervisorEvent::ChildStarted { generation: 2 }).to_string(),
            "child started (generation 2)"
        );
    }

    /// The exact JSON of one event of each family: the family wrapper adds
    /// nothing, the inner event's tag and fields sit beside `at_ms` and
    /// `path` (and `seq`, once logged).
    #[test]
    fn each_family_serializes_exactly_as_its_own_event() {
        let at = |path: &str, kind: EventKind| Event {
            at_ms: 1_700_000_000_000,
            path: ChildPath::child("root".into(), path.into()),
            kind,
        };
        let exited = at(
            "kv",
            SupervisorEvent::ChildExited {
                generation: 3,
                reason: ExitReason::abnormal(FailureClass::OutOfFuel, "fuel"),
            }
            .into(),
        );
        assert_eq!(
            serde_json::to_value(&exited).unwrap(),
            json!({
                "at_ms": 1_700_000_000_000_u64,
                "path": "root/kv",
                "event": "child_exited",
                "generation": 3,
                "reason": "abnormal",
                "kind": "out_of_fuel",
                "message": "fuel",
            })
        );
        let ignored = at("kv", SupervisorEvent::ChildIgnored.into());
        assert_eq!(
            serde_json::to_value(&ignored).unwrap(),
            json!({"at_ms": 1_700_000_000_000_u64, "path": "root/kv", "event": "child_ignored"})
        );
        let failed = at(
            "counter",
            ReloadEvent::ReloadFailed {
                version: 2,
                stage: Stage::Compile,
                reason: "bad magic".into(),
            }
            .into(),
        );
        assert_eq!(failed.kind.name(), "reload_failed");
        assert_eq!(
            serde_json::to_value(LoggedEvent {
                seq: 9,
                event: failed
            })
            .unwrap(),
            json!({
                "seq": 9,
                "at_ms": 1_700_000_000_000_u64,
                "path": "root/counter",
                "event": "reload_failed",
                "version": 2,
                "stage": "compile",
                "reason": "bad magic",
            })
        );
        let breach = at(
            "worker",
            ProcessEvent::LimitExceeded {
                pid: 42,
                limit: LimitKind::Memory,
                observed: 300 << 20,
                allowed: 256 << 20,
            }
            .into(),
        );
        assert_eq!(
            serde_json::to_value(&breach).unwrap(),
            json!({
                "at_ms": 1_700_000_000_000_u64,
                "path": "root/worker",
                "event": "process_limit_exceeded",
                "pid": 42,
                "limit": "memory_limit",
                "observed": 300_u64 << 20,
                "allowed": 256_u64 << 20,
            })
        );
        let health = at(
            "worker",
            ProcessEvent::Health {
                score: 55,
                level: HealthLevel::Warning,
                trend: Trend::Stable,
            }
            .into(),
        );
        assert_eq!(
            serde_json::to_value(&health).unwrap(),
            json!({
                "at_ms": 1_700_000_000_000_u64,
                "path": "root/worker",
                "event": "process_health",
                "score": 55,
                "level": "warning",
                "trend": "stable",
            })
        );
        assert_eq!(breach.kind.name(), "process_limit_exceeded");
        assert_eq!(health.kind.level(), Level::WARN);
    }

    #[tokio::test]
    async fn traced_events_are_flat_and_stay_out_of_the_log() {
        let bus = EventBus::default();
        let log = EventLog::start(&bus, 10);
        let payload = |text: &str| Payload {
            size: text.len() as u64,
            preview: text.into(),
            encoding: "utf8",
            truncated: false,
        };
        let traced = TraceEvent::Traced {
            trace: "t1".into(),
            message: Box::new(TracedMessage {
                seq: 1,
                kind: TraceKind::Send,
                from: Some("root/a".into()),
                message: payload("inc"),
                outcome: TraceOutcome::Reply,
                reply: payload("1"),
                latency_us: 12,
            }),
        };
        let at = ChildPath::child("root".into(), "b".into());
        bus.emit(at.clone(), traced);
        bus.emit(
            at,
            TraceEvent::TraceEnded {
                trace: "t1".into(),
                reason: "max_messages".into(),
                records: 1,
            },
        );
        bus.emit(
            ChildPath::child("root".into(), "b".into()),
            SupervisorEvent::ChildIgnored,
        );
        // The log numbers only what it keeps: two events, not three.
        for _ in 0..100 {
            if log.recent(&EventFilter::default()).len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(log.last_seq(), 2);
        let kept: Vec<&str> = log
            .recent(&EventFilter::default())
            .iter()
            .map(|e| e.event.kind.name())
            .collect();
        assert_eq!(kept, ["trace_ended", "child_ignored"]);
        let json = serde_json::to_value(TraceEvent::Traced {
            trace: "t2".into(),
            message: Box::new(TracedMessage {
                seq: 3,
                kind: TraceKind::Call,
                from: None,
                message: payload("get"),
                outcome: TraceOutcome::Error,
                reply: payload("no"),
                latency_us: 7,
            }),
        })
        .unwrap();
        assert_eq!(
            json,
            json!({
                "event": "traced", "trace": "t2", "seq": 3, "kind": "call",
                "message": {"size": 3, "preview": "get", "encoding": "utf8", "truncated": false},
                "outcome": "error",
                "reply": {"size": 2, "preview": "no", "encoding": "utf8", "truncated": false},
                "latency_us": 7
            })
        );
    }

    #[test]
    fn the_names_are_every_familys_serialized_names() {
        let names = EventKind::names();
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(names.len(), 16 + 8 + 2 + 4 + 2 + 7 + 1, "{names:?}");
        // One of each family, as serde writes it.
        for event in [
            EventKind::from(SupervisorEvent::ChildIgnored),
            ReloadEvent::RolledBack {
                to_version: 1,
                reason: "x".into(),
            }
            .into(),
            ProcessEvent::Health {
                score: 1,
                level: HealthLevel::Critical,
                trend: Trend::Degrading,
            }
            .into(),
            PersistEvent::RestoreFailed {
                reason: "x".into(),
                kept_as: String::new(),
            }
            .into(),
            TraceEvent::TraceEnded {
                trace: "t1".into(),
                reason: "stopped".into(),
                records: 0,
            }
            .into(),
            RolloutEvent::RolloutRolledBack {
                id: "r1".into(),
                paths: vec![],
                failed: vec![],
            }
            .into(),
            HealthEvent::HealthChanged {
                subject: "supervisor".into(),
                from: health::HealthLevel::Healthy,
                to: health::HealthLevel::Emergency,
                score: 0,
                reasons: Vec::new(),
            }
            .into(),
        ] {
            let json = serde_json::to_value(&event).unwrap();
            let name = json["event"].as_str().unwrap();
            assert_eq!(name, event.name());
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        for name in [
            "child_exited",
            "storm_detected",
            "process_limit_exceeded",
            "persisted",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
    }

    #[test]
    fn levels_and_log_lines_are_the_families_own() {
        let escalated = EventKind::from(SupervisorEvent::SupervisorEscalated {
            cause: ShutdownCause::Storm { child: "a".into() },
        });
        assert_eq!(escalated.level(), Level::ERROR);
        assert_eq!(
            serde_json::to_value(Event::now(ChildPath::supervisor("root"), escalated)).unwrap()["cause"],
            json!({"storm": {"child": "a"}})
        );
        let reloaded = EventKind::from(ReloadEvent::Reloaded {
            version: 3,
            hash: "0123456789abcdef".into(),
            duration_ms: 12,
            tier: crate::Tier::Baseline,
        });
        assert_eq!(reloaded.level(), Level::INFO);
        assert_eq!(
            reloaded.to_string(),
            "reloaded to version 3 (0123456789ab) in 12 ms (baseline code)"
        );
        assert_eq!(
            serde_json::to_value(Event::now(ChildPath::supervisor("root"), reloaded)).unwrap()["tier"],
            json!("baseline")
        );
        let optimize_failed = EventKind::from(ReloadEvent::OptimizeFailed {
            version: 3,
            reason: "compile limit".into(),
        });
        assert_eq!(optimize_failed.level(), Level::WARN);
        assert_eq!(optimize_failed.name(), "optimize_failed");
        let healthy = EventKind::from(ProcessEvent::Health {
            score: 90,
            level: HealthLevel::Healthy,
            trend: Trend::Improving,
        });
        assert_eq!(healthy.level(), Level::INFO);
        assert_eq!(
            healthy.to_string(),
            "worker health healthy: score 90 (improving)"
        );
    }

    #[test]
    fn persist_events_serialize_flat_and_warn_when_state_is_not_kept() {
        let failed = Event {
            at_ms: 1_700_000_000_000,
            path: ChildPath::child("root".into(), "counter".into()),
            kind: PersistEvent::RestoreFailed {
                reason: "the guest's restore refused it: bad".into(),
                kept_as: "/s/persist/root%2Fcounter.snap.rejected".into(),
            }
            .into(),
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({
                "at_ms": 1_700_000_000_000_u64,
                "path": "root/counter",
                "event": "restore_failed",
                "reason": "the guest's restore refused it: bad",
                "kept_as": "/s/persist/root%2Fcounter.snap.rejected",
            })
        );
        assert_eq!(failed.kind.name(), "restore_failed");
        assert_eq!(failed.kind.level(), Level::WARN);
        assert_eq!(
            failed.kind.to_string(),
            "state not restored: the guest's restore refused it: bad; the file is kept as \
             /s/persist/root%2Fcounter.snap.rejected, starting fresh"
        );
        let restored = EventKind::from(PersistEvent::Restored {
            bytes: 33,
            saved_at_ms: 5,
            saved_by: "0123456789abcdef".into(),
        });
        assert_eq!(restored.name(), "restored");
        assert_eq!(restored.level(), Level::INFO);
        assert_eq!(
            restored.to_string(),
            "state restored (33 bytes, saved at 5 ms by 0123456789ab)"
        );
        let persisted = EventKind::from(PersistEvent::Persisted {
            bytes: 33,
            trigger: "interval".into(),
            file: "f.snap".into(),
        });
        assert_eq!(
            serde_json::to_value(&persisted).unwrap(),
            json!({"event": "persisted", "bytes": 33, "trigger": "interval", "file": "f.snap"})
        );
        let not_saved = EventKind::from(PersistEvent::PersistFailed {
            reason: "disk full".into(),
        });
        assert_eq!(not_saved.name(), "persist_failed");
        assert_eq!(not_saved.level(), Level::WARN);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_how_many_events_it_missed() {
        let bus = EventBus::new(2);
        let mut slow = bus.subscribe();
        for generation in 0..5 {
            bus.emit(
                ChildPath::supervisor("root"),
                SupervisorEvent::ChildStarted { generation },
            );
        }
        assert!(matches!(slow.recv().await, Some(Received::Missed(3))));
        for expected in [3, 4] {
            match slow.recv().await {
                Some(Received::Event(Event {
                    kind: EventKind::Supervisor(SupervisorEvent::ChildStarted { generation }),
                    ..
                })) => assert_eq!(generation, expected),
                other => panic!("{other:?}"),
            }
        }
        assert!(slow.try_recv().is_none());
        drop(bus);
        assert!(slow.recv().await.is_none());
        // A zero capacity is clamped, never a panic.
        let tiny = EventBus::new(0);
        tiny.emit(ChildPath::supervisor("x"), SupervisorEvent::ChildIgnored);
        assert_eq!(tiny.subscriber_count(), 0);
    }
}
