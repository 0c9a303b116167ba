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
//! Adding an event: add a variant to [`EventKind`] (serialized with
//! `"event": "<snake_case name>"` beside its fields), one arm in
//! [`EventKind::level`] and one in its `Display` (the log line).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;
use tracing::Level;

use crate::supervisor::{
    ChildPath, ExitReason, Fault, ShutdownCause, StormAction, StormWindow, Strategy,
};

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
    pub fn now(path: ChildPath, kind: EventKind) -> Self {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Event { at_ms, path, kind }
    }
}

/// Why a restart waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayCause {
    /// The child's restart backoff.
    Backoff,
    /// A storm detector's pause.
    StormPause,
}

/// What happened. Serialized as `"event": "<snake_case>"` plus the fields.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A supervisor finished its init (all children started).
    SupervisorStarted {
        /// Its strategy.
        strategy: Strategy,
        /// Children it started with.
        children: usize,
    },
    /// An incarnation started (init, `start_child`, `restart_child`).
    ChildStarted {
        /// Its generation.
        generation: u64,
    },
    /// An incarnation started as a restart decided by the supervisor.
    ChildRestarted {
        /// The new generation.
        generation: u64,
        /// Restarts counted for this child so far (a sibling restarted along
        /// with a failed child under `one_for_all`/`rest_for_one` counts none).
        restarts: u64,
        /// How long the restart waited (backoff, storm pause), in milliseconds.
        delay_ms: u64,
    },
    /// A start returned `ignore`.
    ChildIgnored,
    /// The supervisor forgot the child: deleted by `delete_child`, or a
    /// temporary or dynamic child that ended (or never started).
    ChildRemoved,
    /// A start failed.
    ChildStartFailed {
        /// Why.
        error: String,
    },
    /// An incarnation ended.
    ChildExited {
        /// Its generation.
        generation: u64,
        /// Why.
        #[serde(flatten)]
        reason: ExitReason,
    },
    /// A graceful shutdown timed out; the child was killed.
    ChildShutdownTimeout {
        /// The generation being stopped.
        generation: u64,
        /// The shutdown timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// A restart will happen after a delay.
    RestartScheduled {
        /// The delay, in milliseconds.
        delay_ms: u64,
        /// Why it waits.
        cause: DelayCause,
    },
    /// More than `intensity` restarts within `period`: the supervisor gives up.
    IntensityReached {
        /// The child whose restart went over the limit.
        child: crate::supervisor::ChildId,
        /// Restarts in the window, this one included.
        restarts: usize,
        /// The limit.
        intensity: u32,
        /// The window, in milliseconds.
        period_ms: u64,
    },
    /// The supervisor gave up and exits with `shutdown`: its parent takes over.
    SupervisorEscalated {
        /// Why.
        cause: ShutdownCause,
    },
    /// A child's restarts went over a storm threshold.
    StormDetected {
        /// Which window.
        window: StormWindow,
        /// Restarts in it.
        restarts: u32,
        /// Its threshold.
        threshold: u32,
        /// What the supervisor does.
        action: StormAction,
    },
    /// A strategy change (or its dry run, or its rollback).
    StrategyChanged {
        /// Before.
        from: Strategy,
        /// After.
        to: Strategy,
        /// Only reported, not applied.
        dry_run: bool,
        /// This change undoes a change that did not settle.
        rolled_back: bool,
    },
    /// A fault was injected into a running incarnation.
    FailureInjected {
        /// The incarnation hit.
        generation: u64,
        /// The fault.
        fault: Fault,
    },
    /// A supervisor began stopping its children.
    ShutdownStarted {
        /// Why.
        cause: ShutdownCause,
    },
    /// A supervisor stopped all its children and exits.
    ShutdownCompleted {
        /// Why it stopped.
        cause: ShutdownCause,
    },
    /// A hot reload of a component child began (its file changed, or asked).
    ReloadStarted {
        /// The version number it would get.
        version: u64,
    },
    /// The child now runs `version`, with its state carried over.
    Reloaded {
        /// The new version number.
        version: u64,
        /// Content hash of the new code.
        hash: String,
        /// From the start of the reload to the swap, in milliseconds.
        duration_ms: u64,
    },
    /// A reload failed; the old version keeps serving, unchanged.
    ReloadFailed {
        /// The version number the attempt would have had.
        version: u64,
        /// The pipeline stage that failed (`read`, `compile`, `world`, …).
        stage: crate::reload::Stage,
        /// Why.
        reason: String,
    },
    /// The child went back to an earlier version, with its state.
    RolledBack {
        /// The version it runs again.
        to_version: u64,
        /// Why (an operator's request, a crash inside probation).
        reason: String,
    },
    /// A native worker went over a limit; it is being killed (its exit
    /// follows with the limit as reason).
    ProcessLimitExceeded {
        /// Its main process.
        pid: u32,
        /// `memory_limit`, `cpu_limit`, `wall_limit`, `fd_limit`, `process_limit`.
        limit: String,
        /// In the limit's unit (bytes, seconds, descriptors, processes).
        observed: u64,
        /// The configured limit, same unit.
        allowed: u64,
    },
    /// A native worker's health score crossed a level.
    ProcessHealth {
        /// 0–100.
        score: u8,
        /// `healthy`, `warning`, `critical`.
        level: String,
        /// `improving`, `stable`, `degrading`.
        trend: String,
    },
}

impl EventKind {
    /// The `tracing` level the event is logged at.
    pub fn level(&self) -> Level {
        match self {
            EventKind::ChildExited { reason, .. } if reason.is_abnormal() => Level::WARN,
            EventKind::ChildStartFailed { .. }
            | EventKind::ChildShutdownTimeout { .. }
            | EventKind::StormDetected { .. }
            | EventKind::FailureInjected { .. }
            | EventKind::ReloadFailed { .. }
            | EventKind::RolledBack { .. }
            | EventKind::ProcessLimitExceeded { .. } => Level::WARN,
            EventKind::ProcessHealth { level, .. } if level != "healthy" => Level::WARN,
            EventKind::IntensityReached { .. } | EventKind::SupervisorEscalated { .. } => {
                Level::ERROR
            }
            EventKind::ShutdownStarted { cause } | EventKind::ShutdownCompleted { cause }
                if cause.is_escalation() =>
            {
                Level::ERROR
            }
            EventKind::ChildStarted { .. }
            | EventKind::ChildIgnored
            | EventKind::ChildRemoved
            | EventKind::ReloadStarted { .. } => Level::DEBUG,
            _ => Level::INFO,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::SupervisorStarted { strategy, children } => {
                write!(f, "supervisor started ({strategy}, {children} children)")
            }
            EventKind::ChildStarted { generation } => {
                write!(f, "child started (generation {generation})")
            }
            EventKind::ChildRestarted {
                generation,
                restarts,
                delay_ms,
            } => write!(
                f,
                "child restarted (generation {generation}, after {delay_ms} ms; {restarts} restarts counted)"
            ),
            EventKind::ChildIgnored => f.write_str("child start returned ignore"),
            EventKind::ChildRemoved => f.write_str("child removed"),
            EventKind::ChildStartFailed { error } => write!(f, "child failed to start: {error}"),
            EventKind::ChildExited { generation, reason } => {
                write!(f, "child exited: {reason} (generation {generation})")
            }
            EventKind::ChildShutdownTimeout {
                generation,
                timeout_ms,
            } => write!(
                f,
                "child did not stop within its {timeout_ms} ms shutdown timeout; killed (generation {generation})"
            ),
            EventKind::RestartScheduled { delay_ms, cause } => {
                write!(f, "restart scheduled in {delay_ms} ms ({cause:?})")
            }
            EventKind::IntensityReached {
                child,
                restarts,
                intensity,
                period_ms,
            } => write!(
                f,
                "reached max restart intensity: {restarts} restarts within {period_ms} ms (intensity {intensity}); offender `{child}`"
            ),
            EventKind::SupervisorEscalated { cause } => {
                write!(f, "supervisor gave up ({cause}); escalating to its parent")
            }
            EventKind::StormDetected {
                window,
                restarts,
                threshold,
                action,
            } => write!(
                f,
                "restart storm: {restarts} restarts within a {window:?} (threshold {threshold}); action {action:?}"
            ),
            EventKind::StrategyChanged {
                from,
                to,
                dry_run,
                rolled_back,
            } => {
                let what = if *dry_run {
                    "strategy change (dry run)"
                } else if *rolled_back {
                    "strategy change rolled back"
                } else {
                    "strategy changed"
                };
                write!(f, "{what}: {from} -> {to}")
            }
            EventKind::FailureInjected { generation, fault } => {
                write!(f, "fault `{fault}` injected (generation {generation})")
            }
            EventKind::ShutdownStarted { cause } => write!(f, "shutting down: {cause}"),
            EventKind::ShutdownCompleted { cause } => write!(f, "shut down: {cause}"),
            EventKind::ReloadStarted { version } => write!(f, "reloading (version {version})"),
            EventKind::Reloaded {
                version,
                hash,
                duration_ms,
            } => {
                let short = hash.get(..12).unwrap_or(hash);
                write!(
                    f,
                    "reloaded to version {version} ({short}) in {duration_ms} ms"
                )
            }
            EventKind::ReloadFailed {
                version,
                stage,
                reason,
            } => write!(
                f,
                "reload to version {version} failed at {stage}: {reason}; the old version keeps serving"
            ),
            EventKind::RolledBack { to_version, reason } => {
                write!(f, "rolled back to version {to_version}: {reason}")
            }
            EventKind::ProcessLimitExceeded {
                pid,
                limit,
                observed,
                allowed,
            } => write!(
                f,
                "worker pid {pid} over its limit: {limit} ({observed} > {allowed}); killing it"
            ),
            EventKind::ProcessHealth {
                score,
                level,
                trend,
            } => write!(f, "worker health {level}: score {score} ({trend})"),
        }
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
    pub fn emit(&self, path: ChildPath, kind: EventKind) {
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

impl EventKind {
    /// The snake_case name the event is serialized with (`child_exited`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SupervisorStarted { .. } => "supervisor_started",
            EventKind::ChildStarted { .. } => "child_started",
            EventKind::ChildRestarted { .. } => "child_restarted",
            EventKind::ChildIgnored => "child_ignored",
            EventKind::ChildRemoved => "child_removed",
            EventKind::ChildStartFailed { .. } => "child_start_failed",
            EventKind::ChildExited { .. } => "child_exited",
            EventKind::ChildShutdownTimeout { .. } => "child_shutdown_timeout",
            EventKind::RestartScheduled { .. } => "restart_scheduled",
            EventKind::IntensityReached { .. } => "intensity_reached",
            EventKind::SupervisorEscalated { .. } => "supervisor_escalated",
            EventKind::StormDetected { .. } => "storm_detected",
            EventKind::StrategyChanged { .. } => "strategy_changed",
            EventKind::FailureInjected { .. } => "failure_injected",
            EventKind::ShutdownStarted { .. } => "shutdown_started",
            EventKind::ShutdownCompleted { .. } => "shutdown_completed",
            EventKind::ReloadStarted { .. } => "reload_started",
            EventKind::Reloaded { .. } => "reloaded",
            EventKind::ReloadFailed { .. } => "reload_failed",
            EventKind::RolledBack { .. } => "rolled_back",
            EventKind::ProcessLimitExceeded { .. } => "process_limit_exceeded",
            EventKind::ProcessHealth { .. } => "process_health",
        }
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

#[derive(Debug)]
struct LogInner {
    capacity: usize,
    ring: Mutex<Ring>,
}

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
        let inner = Arc::new(LogInner {
            capacity: capacity.max(1),
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                next: 1,
            }),
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

    /// The seq of the newest logged event (0 before the first).
    pub fn last_seq(&self) -> u64 {
        let ring = self
            .inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ring.next - 1
    }
}

async fn feed(mut stream: EventStream, log: Weak<LogInner>) {
    while let Some(received) = stream.recv().await {
        let Some(log) = log.upgrade() else { return };
        let mut ring = log.ring.lock().unwrap_or_else(PoisonError::into_inner);
        match received {
            Received::Event(event) => {
                let seq = ring.next;
                ring.next += 1;
                if ring.events.len() == log.capacity {
                    ring.events.pop_front();
                }
                ring.events.push_back(LoggedEvent { seq, event });
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
    use super::*;

    #[tokio::test]
    async fn the_log_keeps_the_newest_events_numbered_and_filters_them() {
        let bus = EventBus::default();
        let log = EventLog::start(&bus, 3);
        let started = |g| EventKind::ChildStarted { generation: g };
        bus.emit(ChildPath::child("root".into(), "a".into()), started(1));
        bus.emit(
            ChildPath::child("root/storage".into(), "kv".into()),
            started(2),
        );
        bus.emit(
            ChildPath::supervisor("root/storage"),
            EventKind::ChildIgnored,
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
}
