//! Prometheus metrics of a running host, served at `GET /metrics`.
//!
//! [`Metrics`] owns two kinds of numbers:
//! - what the event stream tells: children by state (running, stopped,
//!   restarting, derived from each child's last lifecycle event), restarts,
//!   reloads by outcome, and limit breaches by limit. A feeder task
//!   ([`Metrics::follow`]) applies every event of its subscription; it
//!   subscribes when the `Metrics` is made, so a `Metrics` made before the
//!   tree starts counts the tree's start too;
//! - what the API's dispatch records ([`Metrics::record_call`]): a latency
//!   histogram and a request count by status, per registered operation.
//!
//! - what the host reads from its children at scrape time, through a
//!   [`ChildGauges`] it hands the API: per-child memory, fuel used, mailbox
//!   depth, restarts, health score and reload version
//!   ([`render_children`]). This crate never depends on the host: the
//!   trait is the whole contract.
//!
//! It never reaches into the tree, and recording a call is lock-free once
//! the operation has been seen (a read lock on the map, then atomics).
//! Only registered operation names become labels, so a client cannot grow
//! the label set by calling made-up names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use warden_events::{
    Event, EventBus, EventKind, EventStream, FailureClass, Received, ReloadEvent, SupervisorEvent,
};
use warden_supervisor::ChildPath;

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The `limit` label values, in exposition order.
const LIMITS: [&str; 6] = ["memory", "fuel", "timeout", "cpu", "wall", "files"];

/// The `outcome` label values of reloads.
const RELOADS: [&str; 3] = ["ok", "failed", "rolled_back"];

/// One child's numbers at scrape time, as the host reads them. `None`
/// means the number does not apply to the child's kind (a worker has no
/// mailbox, a component no health score) and leaves its line out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildSample {
    /// The child's full path (`root/counter`).
    pub path: String,
    /// `component`, `process` or `supervisor`.
    pub kind: String,
    /// Component: bytes of its linear memories and tables; worker: RSS.
    pub memory_bytes: Option<u64>,
    /// Fuel the child's instances burned since it was added (components
    /// compiled with fuel metering).
    pub fuel_used: Option<u64>,
    /// Envelopes waiting in a component's mailbox.
    pub mailbox_depth: Option<u64>,
    /// Restarts its supervisor decided since the child was added.
    pub restarts: u64,
    /// A monitored worker's health score, 0–100.
    pub health_score: Option<u8>,
    /// A component's current reload version.
    pub reload_version: Option<u64>,
    /// Whether a component that may hibernate (`hibernate_after_ms`)
    /// hibernates now.
    pub hibernated: Option<bool>,
}

/// The future [`ChildGauges::sample`] returns.
pub type SampleFuture<'a> = Pin<Box<dyn Future<Output = Vec<ChildSample>> + Send + 'a>>;

/// Where the per-child gauges come from: the host walks its tree and reads
/// each child's numbers. An implementation must not hold one lock across
/// all children (a scrape must not stall the tree).
pub trait ChildGauges: Send + Sync + 'static {
    /// Every child's numbers now, in tree order.
    fn sample(&self) -> SampleFuture<'_>;
}

/// Appends the per-child families for `samples`.
pub fn render_children(out: &mut String, samples: &[ChildSample]) {
    type Pick = fn(&ChildSample) -> Option<String>;
    let families: [(&str, &str, &str, Pick); 7] = [
        (
            "warden_child_memory_bytes",
            "gauge",
            "Memory a child holds: a component's linear memories and tables, a worker's RSS",
            |s| s.memory_bytes.map(|n| n.to_string()),
        ),
        (
            "warden_child_fuel_used_total",
            "counter",
            "Fuel a component child's instances burned since it was added",
            |s| s.fuel_used.map(|n| n.to_string()),
        ),
        (
            "warden_child_mailbox_depth",
            "gauge",
            "Envelopes waiting in a component child's mailbox",
            |s| s.mailbox_depth.map(|n| n.to_string()),
        ),
        (
            "warden_child_restarts_total",
            "counter",
            "Restarts the child's supervisor decided since the child was added",
            |s| Some(s.restarts.to_string()),
        ),
        (
            "warden_child_health_score",
            "gauge",
            "A monitored worker's health score, 0 to 100",
            |s| s.health_score.map(|n| n.to_string()),
        ),
        (
            "warden_child_reload_version",
            "gauge",
            "A component child's current reload version",
            |s| s.reload_version.map(|n| n.to_string()),
        ),
        (
            "warden_child_hibernated",
            "gauge",
            "1 while a component child that may hibernate holds no instance, else 0",
            |s| s.hibernated.map(|h| u8::from(h).to_string()),
        ),
    ];
    for (name, kind, help, pick) in families {
        family(out, name, kind, help);
        for sample in samples {
            if let Some(value) = pick(sample) {
                let _ = writeln!(
                    out,
                    "{name}{{path=\"{}\",kind=\"{}\"}} {value}",
                    escape(&sample.path),
                    escape(&sample.kind)
                );
            }
        }
    }
}

/// A child's state as far as the event stream tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildState {
    Running,
    Stopped,
    Restarting,
}

impl ChildState {
    const ALL: [ChildState; 3] = [
        ChildState::Running,
        ChildState::Stopped,
        ChildState::Restarting,
    ];

    fn label(self) -> &'static str {
        match self {
            ChildState::Running => "running",
            ChildState::Stopped => "stopped",
            ChildState::Restarting => "restarting",
        }
    }
}

/// The numbers the event stream feeds.
#[derive(Debug, Default)]
struct Tree {
    children: HashMap<ChildPath, ChildState>,
    restarts: u64,
    reloads: [u64; 3],
    breaches: [u64; 6],
    missed: u64,
}

impl Tree {
    fn apply(&mut self, event: &Event) {
        let path = event.path.clone();
        match &event.kind {
            EventKind::Supervisor(e) => self.apply_supervisor(path, e),
            EventKind::Reload(ReloadEvent::Reloaded { .. }) => self.reloads[0] += 1,
            EventKind::Reload(ReloadEvent::ReloadFailed { .. }) => self.reloads[1] += 1,
            EventKind::Reload(ReloadEvent::RolledBack { .. }) => self.reloads[2] += 1,
            _ => {}
        }
    }

    fn apply_supervisor(&mut self, path: ChildPath, event: &SupervisorEvent) {
        match event {
            SupervisorEvent::ChildStarted { .. } => {
                self.children.insert(path, ChildState::Running);
            }
            SupervisorEvent::ChildRestarted { .. } => {
                self.restarts += 1;
                self.children.insert(path, ChildState::Running);
            }
            SupervisorEvent::ChildExited { reason, .. } => {
                self.children.insert(path, ChildState::Stopped);
                let limit = match reason.failure_kind().and_then(FailureClass::of) {
                    Some(FailureClass::MemoryLimit) => Some(0),
                    Some(FailureClass::OutOfFuel) => Some(1),
                    Some(FailureClass::Timeout) => Some(2),
                    Some(FailureClass::CpuLimit) => Some(3),
                    Some(FailureClass::WallLimit) => Some(4),
                    Some(FailureClass::FdLimit) => Some(5),
                    _ => None,
                };
                if let Some(i) = limit {
                    self.breaches[i] += 1;
                }
            }
            SupervisorEvent::ChildStartFailed { .. } | SupervisorEvent::ChildIgnored => {
                self.children.insert(path, ChildState::Stopped);
            }
            SupervisorEvent::ChildRemoved => {
                self.children.remove(&path);
            }
            SupervisorEvent::RestartScheduled { .. } => {
                self.children.insert(path, ChildState::Restarting);
            }
            _ => {}
        }
    }
}

/// Latency and status counts of one operation.
#[derive(Debug)]
struct OpStats {
    /// Cumulative counts per bucket (`BUCKETS`, then `+Inf`).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl OpStats {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
            by_status: Mutex::new(BTreeMap::new()),
        }
    }

    fn record(&self, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&upper| seconds <= upper)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut by_status = self.by_status.lock().unwrap_or_else(|p| p.into_inner());
        *by_status.entry(status).or_default() += 1;
    }
}

#[derive(Debug)]
struct Inner {
    tree: Mutex<Tree>,
    ops: RwLock<BTreeMap<String, Arc<OpStats>>>,
    /// The subscription taken at construction, until [`Metrics::follow`]
    /// hands it to the feeder task.
    pending: Mutex<Option<EventStream>>,
}

/// The host's metrics; cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Metrics {
    /// Metrics that will count every event published on `events` from now
    /// on (buffered in the bus until [`follow`](Self::follow) runs).
    pub fn subscribe(events: &EventBus) -> Self {
        Self {
            inner: Arc::new(Inner {
                tree: Mutex::new(Tree::default()),
                ops: RwLock::new(BTreeMap::new()),
                pending: Mutex::new(Some(events.subscribe())),
            }),
        }
    }

    /// Applies events to the counters until the bus closes. Only the first
    /// call follows; later calls return at once (the subscription is gone).
    pub async fn follow(&self) {
        let stream = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut stream) = stream else {
            return;
        };
        while let Some(received) = stream.recv().await {
            self.apply(&received);
        }
    }

    fn apply(&self, received: &Received) {
        let mut tree = self.inner.tree.lock().unwrap_or_else(|p| p.into_inner());
        match received {
            Received::Event(event) => tree.apply(event),
            Received::Missed(n) => {
                tracing::warn!(
                    missed = n,
                    "metrics fell behind the event stream; counts may be low"
                );
                tree.missed += n;
            }
        }
    }

    /// Records one call of registered operation `op`.
    pub fn record_call(&self, op: &str, status: u16, elapsed: Duration) {
        let known = self
            .inner
            .ops
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(op)
            .cloned();
        let stats = match known {
            Some(stats) => stats,
            None => self
                .inner
                .ops
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(op.to_string())
                .or_insert_with(|| Arc::new(OpStats::new()))
                .clone(),
        };
        stats.record(status, elapsed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        {
            let tree = self.inner.tree.lock().unwrap_or_else(|p| p.into_inner());
            family(
                &mut out,
                "warden_children",
                "gauge",
                "Children by state, as the event stream last told",
            );
            for state in ChildState::ALL {
                let n = tree.children.values().filter(|&&s| s == state).count();
                let _ = writeln!(out, "warden_children{{state=\"{}\"}} {n}", state.label());
            }
            family(
                &mut out,
                "warden_restarts_total",
                "counter",
                "Restarts decided by supervisors",
            );
            let _ = writeln!(out, "warden_restarts_total {}", tree.restarts);
            family(
                &mut out,
                "warden_reloads_total",
                "counter",
                "Hot reloads of component children, by outcome",
            );
            for (label, n) in RELOADS.iter().zip(tree.reloads) {
                let _ = writeln!(out, "warden_reloads_total{{outcome=\"{label}\"}} {n}");
            }
            family(
                &mut out,
                "warden_limit_breaches_total",
                "counter",
                "Incarnations ended by a resource limit, by limit",
            );
            for (label, n) in LIMITS.iter().zip(tree.breaches) {
                let _ = writeln!(out, "warden_limit_breaches_total{{limit=\"{label}\"}} {n}");
            }
            family(
                &mut out,
                "warden_events_missed_total",
                "counter",
                "Events the metrics subscriber lost by falling behind",
            );
            let _ = writeln!(out, "warden_events_missed_total {}", tree.missed);
        }
        let ops: Vec<(String, Arc<OpStats>)> = self
            .inner
            .ops
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        family(
            &mut out,
            "warden_operation_duration_seconds",
            "histogram",
            "Time to answer an operation call over HTTP, by operation",
        );
        for (op, stats) in &ops {
            let op = escape(op);
            let mut cumulative = 0;
            for (i, upper) in BUCKETS.iter().enumerate() {
                cumulative += stats.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "warden_operation_duration_seconds_bucket{{op=\"{op}\",le=\"{upper}\"}} {cumulative}"
                );
            }
            cumulative += stats.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "warden_operation_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {cumulative}"
            );
            let sum = stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "warden_operation_duration_seconds_sum{{op=\"{op}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "warden_operation_duration_seconds_count{{op=\"{op}\"}} {cumulative}"
            );
        }
        family(
            &mut out,
            "warden_operation_requests_total",
            "counter",
            "Operation calls over HTTP, by operation and status",
        );
        for (op, stats) in &ops {
            let op = escape(op);
            let by_status = stats.by_status.lock().unwrap_or_else(|p| p.into_inner());
            for (status, n) in by_status.iter() {
                let _ = writeln!(
                    out,
                    "warden_operation_requests_total{{op=\"{op}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_supervisor::{ChildId, ExitReason};

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
    }

    #[test]
    fn metrics_per_child_lines_leave_out_what_does_not_apply() {
        let samples = [
            ChildSample {
                path: "root/counter".into(),
                kind: "component".into(),
                memory_bytes: Some(65536),
                fuel_used: Some(1200),
                mailbox_depth: Some(0),
                restarts: 2,
                health_score: None,
                reload_version: Some(3),
                hibernated: Some(true),
            },
            ChildSample {
                path: "root/we\"ird\\\n".into(),
                kind: "process".into(),
                memory_bytes: Some(4096),
                restarts: 0,
                health_score: Some(97),
                ..ChildSample::default()
            },
        ];
        let mut text = String::new();
        render_children(&mut text, &samples);
        assert!(text.contains("# TYPE warden_child_restarts_total counter\n"));
        assert!(text.contains("# TYPE warden_child_memory_bytes gauge\n"));
        assert!(text.contains(
            "warden_child_memory_bytes{path=\"root/counter\",kind=\"component\"} 65536\n"
        ));
        assert!(
            text.contains(
                "warden_child_reload_version{path=\"root/counter\",kind=\"component\"} 3\n"
            )
        );
        assert!(text.contains(
            "warden_child_health_score{path=\"root/we\\\"ird\\\\\\n\",kind=\"process\"} 97\n"
        ));
        assert!(
            text.contains("warden_child_hibernated{path=\"root/counter\",kind=\"component\"} 1\n")
        );
        assert_eq!(text.matches("warden_child_hibernated{").count(), 1);
        assert_eq!(text.matches("warden_child_mailbox_depth{").count(), 1);
        assert_eq!(text.matches("warden_child_restarts_total{").count(), 2);
        assert_eq!(text.matches("warden_child_health_score{").count(), 1);
    }

    #[tokio::test]
    async fn counts_lifecycle_events_and_calls() {
        let bus = EventBus::default();
        let metrics = Metrics::subscribe(&bus);
        let a = ChildPath::child("root".into(), ChildId::from("a"));
        let b = ChildPath::child("root".into(), ChildId::from("b"));
        bus.emit(a.clone(), SupervisorEvent::ChildStarted { generation: 1 });
        bus.emit(b.clone(), SupervisorEvent::ChildStarted { generation: 1 });
        bus.emit(
            a.clone(),
            SupervisorEvent::ChildExited {
                generation: 1,
                reason: ExitReason::abnormal(FailureClass::OutOfFuel, "fuel"),
            },
        );
        bus.emit(
            a.clone(),
            SupervisorEvent::RestartScheduled {
                delay_ms: 10,
                cause: warden_events::DelayCause::Backoff,
            },
        );
        let follower = tokio::spawn({
            let metrics = metrics.clone();
            async move { metrics.follow().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics.record_call("wc.count", 200, Duration::from_micros(300));
        metrics.record_call("wc.count", 400, Duration::from_secs(10));
        let text = metrics.render();
        assert_eq!(
            line(&text, "warden_children{state=\"running\"}"),
            "warden_children{state=\"running\"} 1"
        );
        assert!(text.contains("warden_children{state=\"restarting\"} 1"));
        assert!(text.contains("warden_limit_breaches_total{limit=\"fuel\"} 1"));
        assert!(text.contains("warden_restarts_total 0"));
        assert!(text.contains(
            "warden_operation_duration_seconds_bucket{op=\"wc.count\",le=\"0.00025\"} 0"
        ));
        assert!(
            text.contains(
                "warden_operation_duration_seconds_bucket{op=\"wc.count\",le=\"0.0005\"} 1"
            )
        );
        assert!(
            text.contains("warden_operation_duration_seconds_bucket{op=\"wc.count\",le=\"5\"} 1")
        );
        assert!(
            text.contains(
                "warden_operation_duration_seconds_bucket{op=\"wc.count\",le=\"+Inf\"} 2"
            )
        );
        assert!(text.contains("warden_operation_requests_total{op=\"wc.count\",status=\"400\"} 1"));
        bus.emit(
            a,
            SupervisorEvent::ChildRestarted {
                generation: 2,
                restarts: 1,
                delay_ms: 10,
            },
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let text = metrics.render();
        assert!(text.contains("warden_restarts_total 1"));
        assert!(text.contains("warden_children{state=\"running\"} 2"));
        // A child the supervisor forgot is counted nowhere.
        bus.emit(
            b.clone(),
            SupervisorEvent::ChildExited {
                generation: 1,
                reason: ExitReason::Normal,
            },
        );
        bus.emit(b, SupervisorEvent::ChildRemoved);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let text = metrics.render();
        assert!(
            text.contains("warden_children{state=\"running\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("warden_children{state=\"stopped\"} 0"),
            "{text}"
        );
        drop(bus);
        follower.await.unwrap();
    }
}
