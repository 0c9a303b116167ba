//! Message traces: `trace.start` records the messages a set of component
//! children handle (how each came in, its size and first bytes, how the
//! guest's handling ended, what went out, how long it took), bounded in
//! time and in count, publishes each record on the event bus as it is
//! made (`traced`), and keeps the records for `trace.get` while it runs
//! and after it ends (the last [`KEEP_ENDED`] ended traces).
//!
//! Cost when nothing is traced: each child holds a [`TraceTap`] whose flag
//! is one `AtomicBool`, set while a running trace covers the child's path;
//! the mailbox loop does one relaxed load of it per message and nothing
//! else. A sibling's `send` keeps its sender's path only while some trace
//! runs (one relaxed load of [`Traces`]' count).
//!
//! Owns: the running and ended traces, their bounds, the per-path flags.
//! Never does: touch a mailbox or a guest (the component child calls
//! [`TraceTap::record`] around its guest call), or check that a path is a
//! running component child (the `trace.start` operation does, against the
//! router).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use warden_clock::unix_ms;

use crate::events::{Event, EventBus, Payload, TraceEvent, TraceKind, TraceOutcome, TracedMessage};
use crate::supervisor::ChildPath;

/// The longest a trace may run (10 minutes).
pub const MAX_DURATION_MS: u64 = 600_000;
/// The most messages a trace may record.
pub const MAX_MESSAGES: usize = 100_000;
/// How many ended traces are kept for `trace.get`, oldest dropped first.
pub const KEEP_ENDED: usize = 16;
/// How many bytes of a message or reply a record previews.
pub const PREVIEW_BYTES: usize = 64;

/// What to trace and for how long.
#[derive(Clone, Debug)]
pub struct TraceSpec {
    /// The component children's full paths.
    pub paths: Vec<String>,
    /// It ends this long after it starts.
    pub duration: Duration,
    /// It ends once it recorded this many messages.
    pub max_messages: usize,
}

/// Why a trace stopped recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// It recorded `max_messages`.
    MaxMessages,
    /// `duration_ms` passed.
    Duration,
    /// `trace.stop`.
    Stopped,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::MaxMessages => "max_messages",
            Self::Duration => "duration",
            Self::Stopped => "stopped",
        }
    }
}

/// One recorded message: when and where, then what [`TracedMessage`] says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    /// When the guest answered, Unix ms.
    pub at_ms: u64,
    /// The child that handled it.
    pub path: String,
    #[serde(flatten)]
    pub message: TracedMessage,
}

/// A trace as `trace.get` and `trace.list` show it.
#[derive(Clone, Debug, Serialize)]
pub struct TraceView {
    pub id: String,
    pub paths: Vec<String>,
    /// `running` or `ended`.
    pub state: &'static str,
    /// Why it ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
    pub started_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
    pub duration_ms: u64,
    pub max_messages: usize,
    /// How many messages it recorded.
    pub recorded: usize,
    /// The records, oldest first (`trace.get` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<TraceRecord>>,
}

/// No trace has this id (never started, or ended and no longer kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no trace `{id}`")]
pub struct UnknownTrace {
    pub id: String,
}

struct Trace {
    id: String,
    paths: Vec<String>,
    started: Instant,
    started_at_ms: u64,
    duration: Duration,
    max_messages: usize,
    records: Vec<TraceRecord>,
    ended: Option<(EndReason, u64)>,
}

impl Trace {
    fn view(&self, with_records: bool) -> TraceView {
        TraceView {
            id: self.id.clone(),
            paths: self.paths.clone(),
            state: if self.ended.is_some() {
                "ended"
            } else {
                "running"
            },
            reason: self.ended.map(|(reason, _)| reason),
            started_at_ms: self.started_at_ms,
            ended_at_ms: self.ended.map(|(_, at)| at),
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            max_messages: self.max_messages,
            recorded: self.records.len(),
            records: with_records.then(|| self.records.clone()),
        }
    }

    fn ended_event(&self, reason: EndReason) -> Event {
        Event::now(
            child_path(self.paths.first().map_or("", String::as_str)),
            TraceEvent::TraceEnded {
                trace: self.id.clone(),
                reason: reason.as_str().to_string(),
                records: self.records.len() as u64,
            },
        )
    }
}

/// Every trace, running and kept; the bounding logic, free of clocks and
/// buses so it can be tested alone. Whatever it returns is published by
/// [`Traces`] once the lock is let go.
#[derive(Default)]
struct State {
    next_id: u64,
    running: Vec<Trace>,
    ended: VecDeque<Trace>,
    /// One flag per component child path ever tapped: set while a running
    /// trace covers it.
    flags: HashMap<String, Arc<AtomicBool>>,
}

impl State {
    fn start(&mut self, spec: TraceSpec, now: Instant, at_ms: u64) -> String {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        self.running.push(Trace {
            id: id.clone(),
            paths: spec.paths,
            started: now,
            started_at_ms: at_ms,
            duration: spec.duration,
            max_messages: spec.max_messages.max(1),
            records: Vec::new(),
            ended: None,
        });
        self.refresh_flags();
        id
    }

    /// Ends the running trace at `index`; its end event.
    fn end_at(&mut self, index: usize, reason: EndReason, at_ms: u64) -> Event {
        let mut trace = self.running.remove(index);
        trace.ended = Some((reason, at_ms));
        let event = trace.ended_event(reason);
        self.ended.push_back(trace);
        while self.ended.len() > KEEP_ENDED {
            self.ended.pop_front();
        }
        event
    }

    /// Ends `id` if it is still running; its end event, if it was.
    fn end(&mut self, id: &str, reason: EndReason, at_ms: u64) -> Option<Event> {
        let index = self.running.iter().position(|t| t.id == id)?;
        let event = self.end_at(index, reason, at_ms);
        self.refresh_flags();
        Some(event)
    }

    /// Ends every running trace whose time is up at `now`.
    fn expire(&mut self, now: Instant, at_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(index) = self
            .running
            .iter()
            .position(|t| now.saturating_duration_since(t.started) >= t.duration)
        {
            events.push(self.end_at(index, EndReason::Duration, at_ms));
        }
        if !events.is_empty() {
            self.refresh_flags();
        }
        events
    }

    /// Adds `message` (its seq set per trace) to every running trace of
    /// `path`, ending those it fills; the events to publish.
    fn record(
        &mut self,
        path: &str,
        message: &TracedMessage,
        now: Instant,
        at_ms: u64,
    ) -> Vec<Event> {
        let mut events = self.expire(now, at_ms);
        let mut full = Vec::new();
        for (index, trace) in self.running.iter_mut().enumerate() {
            if !trace.paths.iter().any(|p| p == path) {
                continue;
            }
            let mut message = message.clone();
            message.seq = trace.records.len() as u64 + 1;
            events.push(Event::now(
                child_path(path),
                TraceEvent::Traced {
                    trace: trace.id.clone(),
                    message: Box::new(message.clone()),
                },
            ));
            trace.records.push(TraceRecord {
                at_ms,
                path: path.to_string(),
                message,
            });
            if trace.records.len() >= trace.max_messages {
                full.push(index);
            }
        }
        if !full.is_empty() {
            for index in full.into_iter().rev() {
                events.push(self.end_at(index, EndReason::MaxMessages, at_ms));
            }
            self.refresh_flags();
        }
        events
    }

    fn find(&self, id: &str) -> Option<&Trace> {
        self.running
            .iter()
            .chain(self.ended.iter())
            .find(|t| t.id == id)
    }

    fn flag(&mut self, path: &str) -> Arc<AtomicBool> {
        let on = self.covers(path);
        let flag = self.flags.entry(path.to_string()).or_default().clone();
        flag.store(on, Ordering::Relaxed);
        flag
    }

    fn covers(&self, path: &str) -> bool {
        self.running
            .iter()
            .any(|t| t.paths.iter().any(|p| p == path))
    }

    fn refresh_flags(&self) {
        for (path, flag) in &self.flags {
            flag.store(self.covers(path), Ordering::Relaxed);
        }
    }
}

/// The host's traces. Cheap to clone; the router holds it.
#[derive(Clone, Default)]
pub struct Traces {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// How many traces are running (a sibling's `send` names its sender
    /// only while one is).
    running: AtomicUsize,
    bus: OnceLock<EventBus>,
}

impl Traces {
    /// Publishes records and ends on `bus` from now on (the host's bus;
    /// set once, a second call is ignored).
    pub fn publish_to(&self, bus: EventBus) {
        let _ = self.inner.bus.set(bus);
    }

    /// Starts a trace of `spec.paths`; its id. It ends by itself after
    /// `spec.duration` (a timer on the current tokio runtime).
    pub fn start(&self, spec: TraceSpec) -> String {
        let duration = spec.duration;
        let id = self.locked(|state| (state.start(spec, Instant::now(), unix_ms()), Vec::new()));
        let traces = self.clone();
        let ends = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            traces.end(&ends, EndReason::Duration);
        });
        id
    }

    /// Stops `id`; its view (an ended trace is left as it ended).
    pub fn stop(&self, id: &str) -> Result<TraceView, UnknownTrace> {
        self.end(id, EndReason::Stopped);
        self.get(id, false)
    }

    /// The trace `id`, with its records when `records`.
    pub fn get(&self, id: &str, records: bool) -> Result<TraceView, UnknownTrace> {
        self.locked(|state| {
            let expired = state.expire(Instant::now(), unix_ms());
            let view = state.find(id).map(|t| t.view(records));
            (view, expired)
        })
        .ok_or_else(|| UnknownTrace { id: id.to_string() })
    }

    /// Every running and kept trace, without records, oldest first.
    pub fn list(&self) -> Vec<TraceView> {
        self.locked(|state| {
            let expired = state.expire(Instant::now(), unix_ms());
            let mut views: Vec<TraceView> = state
                .ended
                .iter()
                .chain(state.running.iter())
                .map(|t| t.view(false))
                .collect();
            views.sort_by_key(|v| v.id[1..].parse::<u64>().unwrap_or(0));
            (views, expired)
        })
    }

    /// Whether any trace is running (one relaxed load).
    pub(crate) fn any_running(&self) -> bool {
        self.inner.running.load(Ordering::Relaxed) > 0
    }

    /// The tap of the child at `path`, for one incarnation.
    pub(crate) fn tap(&self, path: &str) -> TraceTap {
        let flag = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flag(path);
        TraceTap {
            flag,
            path: path.to_string(),
            traces: self.clone(),
        }
    }

    fn end(&self, id: &str, reason: EndReason) {
        self.locked(|state| ((), state.end(id, reason, unix_ms()).into_iter().collect()));
    }

    /// Runs `f` under the lock, then publishes the events it returned.
    fn locked<R>(&self, f: impl FnOnce(&mut State) -> (R, Vec<Event>)) -> R
    where
        R: Sized,
    {
        let (result, events) = {
            let mut state = self
                .inner
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let out = f(&mut state);
            self.inner
                .running
                .store(state.running.len(), Ordering::Relaxed);
            out
        };
        if let Some(bus) = self.inner.bus.get() {
            for event in events {
                bus.publish(event);
            }
        }
        result
    }
}

/// What a component child holds to record its messages: the flag a
/// running trace of its path sets, checked once per message.
#[derive(Clone)]
pub(crate) struct TraceTap {
    flag: Arc<AtomicBool>,
    path: String,
    traces: Traces,
}

impl TraceTap {
    /// Whether a trace covers this child now (one relaxed load).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Records one handled message in every trace of this child.
    pub(crate) fn record(
        &self,
        kind: TraceKind,
        from: Option<String>,
        message: &[u8],
        outcome: TraceOutcome,
        reply: &[u8],
        latency: Duration,
    ) {
        let message = TracedMessage {
            seq: 0,
            kind,
            from,
            message: payload(message),
            outcome,
            reply: payload(reply),
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        };
        self.traces.locked(|state| {
            let events = state.record(&self.path, &message, Instant::now(), unix_ms());
            ((), events)
        });
    }
}

/// `bytes`' size and first [`PREVIEW_BYTES`]: text when they are UTF-8 (a
/// character cut by the limit is left out), else hex.
pub fn payload(bytes: &[u8]) -> Payload {
    let head = &bytes[..bytes.len().min(PREVIEW_BYTES)];
    let truncated = head.len() < bytes.len();
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        Err(e) if truncated && e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    let (preview, encoding) = match text {
        Some(text) => (text.to_string(), "utf8"),
        None => (head.iter().map(|b| format!("{b:02x}")).collect(), "hex"),
    };
    Payload {
        size: bytes.len() as u64,
        preview,
        encoding,
        truncated,
    }
}

fn child_path(path: &str) -> ChildPath {
    match path.rsplit_once('/') {
        Some((parent, name)) => ChildPath::child(parent.into(), name.into()),
        None => ChildPath::supervisor(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(paths: &[&str], ms: u64, max: usize) -> TraceSpec {
        TraceSpec {
            paths: paths.iter().map(|p| p.to_string()).collect(),
            duration: Duration::from_millis(ms),
            max_messages: max,
        }
    }

    fn msg(bytes: &[u8]) -> TracedMessage {
        TracedMessage {
            seq: 0,
            kind: TraceKind::Call,
            from: None,
            message: payload(bytes),
            outcome: TraceOutcome::Reply,
            reply: payload(b"ok"),
            latency_us: 5,
        }
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.name()).collect()
    }

    #[test]
    fn a_trace_ends_at_max_messages_with_exactly_max_records() {
        let mut state = State::default();
        let flag = state.flag("root/a");
        let now = Instant::now();
        let id = state.start(spec(&["root/a"], 60_000, 3), now, 1);
        assert!(flag.load(Ordering::Relaxed));
        for _ in 0..2 {
            assert_eq!(
                names(&state.record("root/a", &msg(b"x"), now, 2)),
                ["traced"]
            );
        }
        let third = state.record("root/a", &msg(b"x"), now, 3);
        assert_eq!(names(&third), ["traced", "trace_ended"]);
        assert!(
            !flag.load(Ordering::Relaxed),
            "the flag drops with the trace"
        );
        assert!(state.record("root/a", &msg(b"x"), now, 4).is_empty());
        let view = state.find(&id).unwrap().view(true);
        assert_eq!(view.state, "ended");
        assert_eq!(view.reason, Some(EndReason::MaxMessages));
        let seqs: Vec<u64> = view
            .records
            .unwrap()
            .iter()
            .map(|r| r.message.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn a_trace_ends_when_its_time_is_up_and_records_nothing_after() {
        let mut state = State::default();
        let start = Instant::now();
        let id = state.start(spec(&["root/a"], 100, 10), start, 1);
        assert_eq!(
            names(&state.expire(start + Duration::from_millis(99), 2)),
            Vec::<&str>::new()
        );
        let late = state.record("root/a", &msg(b"x"), start + Duration::from_millis(100), 3);
        assert_eq!(names(&late), ["trace_ended"]);
        let view = state.find(&id).unwrap().view(true);
        assert_eq!(view.reason, Some(EndReason::Duration));
        assert_eq!(view.recorded, 0);
    }

    #[test]
    fn only_the_traced_paths_are_recorded_and_flagged() {
        let mut state = State::default();
        let a = state.flag("root/a");
        let b = state.flag("root/b");
        let now = Instant::now();
        let id = state.start(spec(&["root/a"], 60_000, 10), now, 1);
        assert!(a.load(Ordering::Relaxed) && !b.load(Ordering::Relaxed));
        assert!(state.record("root/b", &msg(b"x"), now, 2).is_empty());
        assert_eq!(state.find(&id).unwrap().records.len(), 0);
        assert!(
            state.flag("root/a").load(Ordering::Relaxed),
            "a new incarnation's tap starts on"
        );
        assert!(state.end(&id, EndReason::Stopped, 3).is_some());
        assert!(state.end(&id, EndReason::Stopped, 4).is_none(), "ends once");
        assert!(!a.load(Ordering::Relaxed));
    }

    #[test]
    fn the_last_ended_traces_are_kept() {
        let mut state = State::default();
        let now = Instant::now();
        let ids: Vec<String> = (0..KEEP_ENDED + 2)
            .map(|_| {
                let id = state.start(spec(&["root/a"], 60_000, 10), now, 1);
                state.end(&id, EndReason::Stopped, 2);
                id
            })
            .collect();
        assert!(state.find(&ids[0]).is_none() && state.find(&ids[1]).is_none());
        assert!(ids[2..].iter().all(|id| state.find(id).is_some()));
    }

    #[test]
    fn previews_are_text_cut_at_a_character_or_hex() {
        let p = payload(b"inc");
        assert_eq!(
            (p.size, p.preview.as_str(), p.encoding, p.truncated),
            (3, "inc", "utf8", false)
        );
        let long = "é".repeat(40);
        let p = payload(long.as_bytes());
        assert_eq!((p.size, p.encoding, p.truncated), (80, "utf8", true));
        assert_eq!(p.preview, "é".repeat(32));
        let p = payload(&[0xff, 0x00, 0x10]);
        assert_eq!((p.preview.as_str(), p.encoding), ("ff0010", "hex"));
        assert_eq!(payload(&[0u8; 100]).preview.len(), 64, "NULs are UTF-8");
    }
}
