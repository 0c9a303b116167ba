//! Process children: a native worker ([`crate::process`]) adapted to the
//! supervisor's [`ChildStart`] / [`RunningChild`].
//!
//! Owns: the mapping between the two vocabularies — a start is a spawn (plus
//! the readiness wait), a shutdown is `SIGTERM` to the group then `SIGKILL`
//! after the child's grace, a kill is `SIGKILL` to the group; the worker's
//! [`process::ExitReason`] becomes a supervisor [`ExitReason`] (limits and
//! fault signals keep their own [`FailureClass`]); the monitor's reports
//! become [`ProcessEvent`]s on the host's [`EventBus`], about the worker's
//! path. Every incarnation is written to the
//! [`Registry`] (start and end, and the descendants the monitor sees, queued
//! to its writer thread, never awaited here) and registered with the host's
//! one [`Monitor`].
//!
//! Guarantees: each incarnation reports exactly one exit, from the task that
//! waits for the worker's reaping, so a stop requested by the monitor, by the
//! supervisor or by the process itself all end the same way.
//!
//! Must never: signal a process it did not start (it signals only its own
//! worker, which is not reaped — so its pid cannot be reused — until the
//! exit task has seen it end).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::events::{EventBus, FailureClass};
use crate::host::logs::LogSlot;
use crate::process::{
    self, LimitKind, Monitor, MonitorEvent, ProcessEvent, RunningWorker, WorkerId, WorkerSpec,
};
use crate::registry::{IncarnationExit, NewIncarnation, Registry};
use crate::supervisor::{
    BoxFuture, ChildPath, ChildStart, ExitReason, FailureKind, Fault, InjectError, RunningChild,
    StartContext, StartError, Started,
};

/// What every process child of one host shares: the monitor, the registry,
/// and who each monitored worker is in the tree (for monitor events).
#[derive(Clone)]
pub struct ProcessRuntime {
    pub monitor: Arc<Monitor>,
    pub registry: Registry,
    live: Arc<Mutex<HashMap<WorkerId, ChildPath>>>,
    /// The live incarnation of each process child, by path (for chaos
    /// experiments that act on the worker itself).
    by_path: Arc<Mutex<HashMap<String, Arc<RunningWorker>>>>,
}

impl ProcessRuntime {
    /// Wraps a started monitor and an open registry, and forwards the
    /// monitor's events (limit breaches, health alerts) to `bus`, about the
    /// path of the child each worker is.
    pub fn new(
        monitor: Monitor,
        events: UnboundedReceiver<MonitorEvent>,
        registry: Registry,
        bus: EventBus,
    ) -> Self {
        let runtime = Self {
            monitor: Arc::new(monitor),
            registry,
            live: Arc::default(),
            by_path: Arc::default(),
        };
        tokio::spawn(forward(
            events,
            Arc::clone(&runtime.live),
            runtime.registry.clone(),
            bus,
        ));
        runtime
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<WorkerId, ChildPath>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live incarnation of the process child at `path`, if it runs.
    pub fn worker_at(&self, path: &str) -> Option<Arc<RunningWorker>> {
        self.by_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
    }
}

async fn forward(
    mut events: UnboundedReceiver<MonitorEvent>,
    live: Arc<Mutex<HashMap<WorkerId, ChildPath>>>,
    registry: Registry,
    bus: EventBus,
) {
    while let Some(event) = events.recv().await {
        let (worker, event) = match event {
            // For orphan recovery after a crash, not for the event stream.
            MonitorEvent::Descendants {
                worker,
                found,
                gone,
            } => {
                registry.record_descendants(worker, found, gone);
                continue;
            }
            MonitorEvent::LimitExceeded {
                worker,
                pid,
                limit,
                observed,
                allowed,
                ..
            } => (
                worker,
                ProcessEvent::LimitExceeded {
                    pid,
                    limit,
                    observed,
                    allowed,
                },
            ),
            MonitorEvent::HealthChanged {
                worker,
                change,
                report,
                ..
            } => (
                worker,
                ProcessEvent::Health {
                    score: change.score,
                    level: change.to,
                    trend: report.trend,
                },
            ),
        };
        let target = live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&worker)
            .cloned();
        if let Some(path) = target {
            bus.emit(path, event);
        }
    }
}

/// Everything needed to start one incarnation of a process child.
pub struct ProcessChildStart {
    /// Named after the child's path; command pinned at config load.
    pub spec: WorkerSpec,
    /// Time between `SIGTERM` and `SIGKILL` on shutdown.
    pub grace: Duration,
    pub runtime: ProcessRuntime,
    /// Incarnations started so far (the registry's restart count).
    starts: AtomicU32,
    /// Its log ring, which the spec's log tap feeds.
    log: Option<LogSlot>,
    /// When it restarted within the last `restart_window` (its stability).
    restarts: Mutex<Vec<std::time::Instant>>,
    restart_window: Duration,
    liveness: Option<super::liveness::LivenessSpec>,
    restart_unresponsive: bool,
}

impl ProcessChildStart {
    pub fn new(spec: WorkerSpec, grace: Duration, runtime: ProcessRuntime) -> Self {
        Self {
            spec,
            grace,
            runtime,
            starts: AtomicU32::new(0),
            log: None,
            restarts: Mutex::new(Vec::new()),
            restart_window: Duration::from_secs(600),
            liveness: None,
            restart_unresponsive: false,
        }
    }

    /// Its restarts count against its stability for `restart_window`; its
    /// liveness is checked by `liveness`, and with `restart_unresponsive` a
    /// worker found unresponsive is killed for its supervisor to restart.
    pub(crate) fn with_health(
        mut self,
        restart_window: Duration,
        liveness: Option<super::liveness::LivenessSpec>,
        restart_unresponsive: bool,
    ) -> Self {
        self.restart_window = restart_window;
        self.liveness = liveness;
        self.restart_unresponsive = restart_unresponsive;
        self
    }

    /// Records a start; the restarts (every start after the first) still
    /// within the window.
    fn restart_history(&self, first: bool) -> Vec<std::time::Instant> {
        let now = std::time::Instant::now();
        let mut restarts = self.restarts.lock().unwrap_or_else(PoisonError::into_inner);
        restarts.retain(|at| now.saturating_duration_since(*at) < self.restart_window);
        if !first {
            restarts.push(now);
        }
        restarts.clone()
    }

    /// Keeps `slot` (whose tap the spec's log spec holds) readable while
    /// the child is in the tree.
    pub(crate) fn with_log(mut self, slot: LogSlot) -> Self {
        self.log = Some(slot);
        self
    }

    fn command_line(&self) -> String {
        self.spec.command_line()
    }
}

impl ChildStart for ProcessChildStart {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        if let Some(log) = &self.log {
            log.started();
        }
        let spawned = RunningWorker::spawn(&self.spec);
        let restarts = self.starts.fetch_add(1, Ordering::Relaxed);
        let history = self.restart_history(restarts == 0);
        let window = self.restart_window;
        let liveness = self.liveness.clone();
        let restart_unresponsive = self.restart_unresponsive;
        let runtime = self.runtime.clone();
        let grace = self.grace;
        let command = self.command_line();
        Box::pin(async move {
            let worker = Arc::new(spawned.map_err(|e| StartError::failed(e.to_string()))?);
            worker.set_restart_history(history, window);
            runtime.registry.record_started(NewIncarnation::of_worker(
                ctx.path.to_string(),
                &worker,
                command,
                restarts,
            ));
            runtime.live().insert(worker.id(), ctx.path.clone());
            runtime
                .by_path
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ctx.path.to_string(), Arc::clone(&worker));
            runtime.monitor.register(&worker);
            let exit = worker.wait_exit();
            if let Err(e) = worker.ready().await {
                // Not ready in time, or gone: this incarnation never started.
                let info = worker.kill().await;
                record_exit(&runtime, &worker, &info);
                ctx.exits.discard();
                return Err(StartError::failed(format!("not ready: {e}")));
            }
            let watched = Arc::clone(&worker);
            let exits = ctx.exits;
            let rt = runtime.clone();
            let live = super::liveness::watch(Arc::clone(&worker), liveness, restart_unresponsive);
            tokio::spawn(async move {
                let info = exit.await;
                if let Some(live) = live {
                    live.abort();
                }
                record_exit(&rt, &watched, &info);
                exits.exit(supervisor_reason(&info.reason));
            });
            Ok(Started::Running(Box::new(ProcessChild { worker, grace })))
        })
    }
}

fn record_exit(runtime: &ProcessRuntime, worker: &RunningWorker, info: &process::ExitInfo) {
    runtime.monitor.unregister(worker.id());
    if let Some(path) = runtime.live().remove(&worker.id()) {
        let mut by_path = runtime
            .by_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only this incarnation: its successor may be registered already.
        if by_path
            .get(&path.to_string())
            .is_some_and(|w| w.id() == worker.id())
        {
            by_path.remove(&path.to_string());
        }
    }
    let health = worker.health().map(|h| h.score);
    runtime
        .registry
        .record_exit(worker.id(), IncarnationExit::of_exit(info, health));
}

/// How the supervisor sees a worker's end.
pub fn supervisor_reason(reason: &process::ExitReason) -> ExitReason {
    use process::ExitReason as P;
    match *reason {
        P::Normal => ExitReason::Normal,
        P::Shutdown { forced: false } => ExitReason::Shutdown,
        P::Shutdown { forced: true } | P::Killed => ExitReason::killed(),
        P::Limit { limit } => {
            let kind = match limit {
                LimitKind::Memory => FailureClass::MemoryLimit.into(),
                LimitKind::Cpu => FailureClass::CpuLimit.into(),
                LimitKind::Wall => FailureClass::WallLimit.into(),
                LimitKind::OpenFiles => FailureClass::FdLimit.into(),
                LimitKind::Processes => FailureKind::Crash,
            };
            ExitReason::abnormal(kind, limit.reason_name())
        }
        P::Signal { signal } => {
            let trap = [
                Signal::SEGV,
                Signal::ABORT,
                Signal::BUS,
                Signal::ILL,
                Signal::FPE,
            ]
            .iter()
            .any(|s| s.as_raw() == signal);
            let kind = if trap {
                FailureClass::Trap.into()
            } else {
                FailureKind::Crash
            };
            ExitReason::abnormal(kind, format!("killed by signal {signal}"))
        }
        P::ExitCode { code } => {
            ExitReason::abnormal(FailureKind::Crash, format!("exited with status {code}"))
        }
        P::Unknown => ExitReason::abnormal(FailureKind::Crash, "exit status unknown"),
    }
}

/// One live worker, owned by its supervisor.
struct ProcessChild {
    worker: Arc<RunningWorker>,
    grace: Duration,
}

impl ProcessChild {
    fn signal(&self, signal: Signal, group: bool) -> Result<(), InjectError> {
        let pid = i32::try_from(self.worker.pid())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| InjectError::Failed {
                message: "the worker has no valid pid".into(),
            })?;
        let sent = if group {
            kill_process_group(pid, signal)
        } else {
            kill_process(pid, signal)
        };
        sent.map_err(|e| InjectError::Failed {
            message: format!("cannot signal pid {pid:?}: {e}"),
        })
    }
}

impl RunningChild for ProcessChild {
    fn shutdown(&mut self) {
        let worker = Arc::clone(&self.worker);
        let grace = self.grace;
        tokio::spawn(async move {
            worker.terminate(grace).await;
        });
    }

    fn kill(&mut self) {
        let worker = Arc::clone(&self.worker);
        tokio::spawn(async move {
            worker.kill().await;
        });
    }

    fn inject(&mut self, fault: Fault) -> Result<(), InjectError> {
        match fault {
            Fault::Kill => {
                self.kill();
                Ok(())
            }
            // An abnormal death the host did not ask for, like a crash.
            Fault::Trap => self.signal(Signal::ABORT, false),
            // Frozen: alive, answering nothing, ignoring SIGTERM until killed.
            Fault::Hang => self.signal(Signal::STOP, true),
        }
    }

    fn info(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "process",
            "pid": self.worker.pid(),
            "stats": self.worker.stats(),
            "health": self.worker.health(),
            "limits": self.worker.limits(),
        })
    }
}
