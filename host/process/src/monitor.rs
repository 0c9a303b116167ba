//! The monitor: one thread polling `/proc` for every registered worker at a
//! fixed interval, stopping the ones over a limit, scoring their health,
//! sweeping escaped descendants and remembering each worker's process tree
//! (so a descendant that later leaves it stays attributed; the changes are
//! reported as [`MonitorEvent::Descendants`] for the registry).
//!
//! Owns: [`Monitor`] (the handle), [`MonitorConfig`], [`MonitorEvent`] and the
//! polling thread with its per-worker [`Sampler`]s and
//! [`HealthTracker`]s.
//!
//! Why a thread and not a tokio task: a poll of 500 workers is a few
//! milliseconds of blocking reads, which must not sit on a runtime worker
//! that timers depend on; a dedicated thread sleeping in `recv_timeout` also
//! answers register/unregister at once.
//!
//! Cost: 500 idle workers polled at 1 Hz take ~0.4 % of one core on a
//! 2-core VM (~8 µs per worker per poll: a `pread` of `stat`, a `pread` of
//! `children`, an `fstat` of the `fd` directory).
//!
//! Guarantees: a worker over a limit at a poll is sent `SIGKILL` (its group)
//! in that poll, with the limit recorded as its exit reason, so a breach is
//! acted on within one interval of happening; each breach and each health
//! level change is reported once on the event channel; a reaped worker is
//! dropped from the poll set by itself.
//!
//! Must never: block on the event channel (it is unbounded and sends never
//! wait), or reap a worker (the worker's exit task does).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde::Serialize;
use tokio::sync::mpsc as tokio_mpsc;

use super::exit::{LimitKind, StopCause};
use super::health::{
    HealthInputs, HealthReport, HealthThresholds, HealthTracker, LevelChange, Responsiveness, score,
};
use super::identity::{ProcessIdentity, WorkerId};
use super::procfs;
use super::readiness::ReadyState;
use super::reaper;
use super::sampler::{Sampler, Scratch, WorkerStats};
use super::spec::ProcessLimits;
use super::worker::{RunningWorker, WorkerShared};

const MIB: u64 = 1024 * 1024;
/// The host's children are re-read for escaped processes at most this often
/// (the read is quadratic in the number of children in the kernel: ~0.25 ms
/// with 500 workers); worker exits sweep on their own at once.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How the monitor polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    interval: Duration,
    thresholds: HealthThresholds,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(250),
            thresholds: HealthThresholds::default(),
        }
    }
}

impl MonitorConfig {
    /// The score thresholds of the health levels. By default 70/40/15.
    pub fn thresholds(&mut self, thresholds: HealthThresholds) -> &mut Self {
        self.thresholds = thresholds;
        self
    }

    /// Time between two polls. By default 250 ms.
    pub fn interval(&mut self, every: Duration) -> &mut Self {
        self.interval = every.max(Duration::from_millis(1));
        self
    }

    /// The time between two polls, as set (at least 1 ms).
    pub fn get_interval(&self) -> Duration {
        self.interval
    }
}

/// What the monitor reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MonitorEvent {
    /// A worker went over a limit and was killed for it.
    LimitExceeded {
        /// The incarnation killed.
        worker: WorkerId,
        /// Its [`WorkerSpec`](super::WorkerSpec) name (its path in the tree).
        name: String,
        /// Its main process.
        pid: u32,
        /// The first limit found breached at this poll.
        limit: LimitKind,
        /// In the limit's unit: bytes, seconds, descriptors, processes.
        observed: u64,
        /// The configured limit, in the same unit (`memory_mb` as bytes).
        allowed: u64,
    },
    /// A worker's health level changed (warning and critical alerts).
    HealthChanged {
        /// The incarnation scored.
        worker: WorkerId,
        /// Its [`WorkerSpec`](super::WorkerSpec) name (its path in the tree).
        name: String,
        /// The levels before and after, and the score that moved it.
        change: LevelChange,
        /// The full report at this poll, trend included.
        report: HealthReport,
    },
    /// Processes joined (`found`) or left (`gone`) the descendants Warden
    /// remembers for a worker: what a host recovering from a crash kills
    /// besides the worker's group, cgroup and marker (see the registry).
    Descendants {
        /// The incarnation whose tree changed.
        worker: WorkerId,
        /// Processes seen in its tree since the last report.
        found: Vec<ProcessIdentity>,
        /// Remembered processes that have died since the last report.
        gone: Vec<ProcessIdentity>,
    },
}

enum Command {
    Register(Arc<WorkerShared>),
    Unregister(WorkerId),
    Shutdown,
}

/// The handle of the monitoring thread; dropping it stops the thread.
#[derive(Debug)]
pub struct Monitor {
    commands: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Register(w) => write!(f, "Register({})", w.id),
            Self::Unregister(id) => write!(f, "Unregister({id})"),
            Self::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl Monitor {
    /// Starts the monitoring thread; events arrive on the returned receiver.
    pub fn start(
        config: MonitorConfig,
    ) -> std::io::Result<(Self, tokio_mpsc::UnboundedReceiver<MonitorEvent>)> {
        let (commands, inbox) = mpsc::channel();
        let (events, receiver) = tokio_mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("warden-monitor".to_owned())
            .spawn(move || Poller::new(config, events).run(&inbox))?;
        Ok((
            Self {
                commands,
                thread: Some(thread),
            },
            receiver,
        ))
    }

    /// Starts polling `worker` (from the next poll on).
    pub fn register(&self, worker: &RunningWorker) {
        let _ = self
            .commands
            .send(Command::Register(Arc::clone(worker.shared())));
    }

    /// Stops polling a worker (a reaped worker is dropped by itself).
    pub fn unregister(&self, worker: WorkerId) {
        let _ = self.commands.send(Command::Unregister(worker));
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the monitor thread panicked");
        }
    }
}

struct Watched {
    shared: Arc<WorkerShared>,
    sampler: Sampler,
    health: HealthTracker,
    /// Descendants the reaper remembers for it after the last sample.
    remembered: usize,
}

struct Poller {
    interval: Duration,
    thresholds: HealthThresholds,
    events: tokio_mpsc::UnboundedSender<MonitorEvent>,
    watched: Vec<Watched>,
    scratch: Scratch,
    strays: Vec<(WorkerId, i32)>,
    stray_pids: Vec<i32>,
    last_sweep: Option<Instant>,
}

impl Poller {
    fn new(config: MonitorConfig, events: tokio_mpsc::UnboundedSender<MonitorEvent>) -> Self {
        Self {
            interval: config.interval,
            thresholds: config.thresholds,
            events,
            watched: Vec::new(),
            scratch: Scratch::new(),
            strays: Vec::new(),
            stray_pids: Vec::new(),
            last_sweep: None,
        }
    }

    fn run(mut self, inbox: &mpsc::Receiver<Command>) {
        let mut next = Instant::now() + self.interval;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match inbox.recv_timeout(wait) {
                Ok(Command::Register(shared)) => {
                    let pid = i32::try_from(shared.identity.pid).unwrap_or(0);
                    self.watched.push(Watched {
                        shared,
                        sampler: Sampler::new(pid),
                        health: HealthTracker::with_thresholds(self.thresholds),
                        remembered: 0,
                    });
                }
                Ok(Command::Unregister(id)) => self.watched.retain(|w| w.shared.id != id),
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    self.poll();
                    next += self.interval;
                    let now = Instant::now();
                    if next <= now {
                        // A poll longer than the interval: skip, do not burst.
                        next = now + self.interval;
                    }
                }
            }
        }
    }

    fn poll(&mut self) {
        if self.last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            self.last_sweep = Some(Instant::now());
            self.strays.clear();
            let swept = reaper::sweep(&mut self.strays);
            if swept.killed > 0 {
                tracing::info!(
                    killed = swept.killed,
                    "killed escaped processes of exited workers"
                );
            }
            self.strays.sort_unstable();
        }
        self.watched.retain(|w| !w.shared.is_reaped());
        for w in &mut self.watched {
            let id = w.shared.id;
            self.stray_pids.clear();
            let start = self.strays.partition_point(|(owner, _)| *owner < id);
            self.stray_pids.extend(
                self.strays[start..]
                    .iter()
                    .take_while(|(owner, _)| *owner == id)
                    .map(|(_, pid)| *pid),
            );
            let stats =
                match w
                    .sampler
                    .sample(w.shared.spawned, &self.stray_pids, &mut self.scratch)
                {
                    Ok(stats) => stats,
                    // Dead or dying: its exit task takes it from here.
                    Err(e) => {
                        tracing::trace!(worker = %w.shared.name, error = %e, "sample failed");
                        continue;
                    }
                };
            // Skipped for a worker with no descendants then or now (the
            // common case): the ledger's lock is not taken.
            if !self.scratch.found.is_empty() || w.remembered > 0 {
                w.remembered = reaper::note_tree(id, &self.scratch.found);
            }
            let breached = breach(&stats, &w.shared.limits_now());
            let pid = stats.pid;
            let inputs = health_inputs(&stats, &w.shared);
            let (mut report, change) = w.health.observe(score(&inputs));
            report.unresponsive = inputs.responsiveness == Responsiveness::Unresponsive;
            if let Some(change) = change {
                tracing::info!(worker = %w.shared.name, from = ?change.from, to = ?change.to, score = change.score, "worker health changed");
                let _ = self.events.send(MonitorEvent::HealthChanged {
                    worker: id,
                    name: w.shared.name.clone(),
                    change,
                    report,
                });
            }
            // Stored before a stop is asked for: the worker's exit task
            // may reap it at once, and its exit record takes the peak from
            // the samples stored (the one over the limit included).
            w.shared.set_observed(stats, report);
            if let Some((limit, observed, allowed)) = breached
                && w.shared.request_stop(StopCause::Limit(limit), Signal::KILL)
            {
                tracing::warn!(worker = %w.shared.name, pid, %limit, observed, allowed, "worker over its limit; killed");
                let _ = self.events.send(MonitorEvent::LimitExceeded {
                    worker: id,
                    name: w.shared.name.clone(),
                    pid,
                    limit,
                    observed,
                    allowed,
                });
            }
        }
        self.report_descendants();
    }

    /// Hands the descendants found and gone since the last poll to the
    /// event channel (the registry persists them).
    fn report_descendants(&self) {
        let records = reaper::take_records(self.watched.iter().map(|w| w.shared.id));
        if records.is_empty() {
            return;
        }
        let Ok(boot_id) = procfs::boot_id() else {
            return;
        };
        let identity = |(pid, start_time): (i32, u64)| ProcessIdentity {
            pid: u32::try_from(pid).unwrap_or_default(),
            start_time,
            boot_id: boot_id.to_owned(),
        };
        for (worker, found, gone) in records {
            let _ = self.events.send(MonitorEvent::Descendants {
                worker,
                found: found.into_iter().map(identity).collect(),
                gone: gone.into_iter().map(identity).collect(),
            });
        }
    }
}

/// The first limit `stats` is over: (limit, observed, allowed).
fn breach(stats: &WorkerStats, limits: &ProcessLimits) -> Option<(LimitKind, u64, u64)> {
    if let Some(mb) = limits.memory_mb {
        let allowed = mb.saturating_mul(MIB);
        if stats.rss_bytes > allowed {
            return Some((LimitKind::Memory, stats.rss_bytes, allowed));
        }
    }
    if let Some(secs) = limits.cpu_secs
        && stats.cpu_time >= Duration::from_secs(secs)
    {
        return Some((LimitKind::Cpu, stats.cpu_time.as_secs(), secs));
    }
    if let Some(n) = limits.open_files
        && stats.open_fds > n
    {
        return Some((LimitKind::OpenFiles, stats.open_fds, n));
    }
    if let Some(n) = limits.max_processes
        && stats.processes > n
    {
        return Some((LimitKind::Processes, stats.processes, n));
    }
    if let Some(secs) = limits.wall_secs
        && stats.runtime >= Duration::from_secs(secs)
    {
        return Some((LimitKind::Wall, stats.runtime.as_secs(), secs));
    }
    None
}

fn health_inputs(stats: &WorkerStats, shared: &WorkerShared) -> HealthInputs {
    let limits = &shared.limits_now();
    let ratio = |used: f64, limit: Option<u64>| limit.filter(|l| *l > 0).map(|l| used / l as f64);
    let responsiveness = match &*shared.ready.borrow() {
        // Stopped (SIGSTOP) or failing the host's liveness check: alive,
        // answering nothing.
        _ if stats.stopped || shared.liveness_failed() => Responsiveness::Unresponsive,
        ReadyState::Pending => Responsiveness::Starting,
        ReadyState::Ready { .. } => Responsiveness::Ready,
        ReadyState::Failed(_) => Responsiveness::Unresponsive,
    };
    HealthInputs {
        memory_used: ratio(
            stats.rss_bytes as f64,
            limits.memory_mb.map(|mb| mb.saturating_mul(MIB)),
        ),
        cpu_used: ratio(stats.cpu_time.as_secs_f64(), limits.cpu_secs),
        fds_used: ratio(stats.open_fds as f64, limits.open_files),
        processes_used: ratio(stats.processes as f64, limits.max_processes),
        recent_restarts: shared.recent_restarts(),
        responsiveness,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> WorkerStats {
        WorkerStats {
            pid: 1,
            rss_bytes: 10 * MIB,
            peak_rss_bytes: 10 * MIB,
            cpu_percent: 0.0,
            cpu_time: Duration::from_millis(500),
            open_fds: 5,
            threads: 1,
            processes: 1,
            runtime: Duration::from_secs(3),
            sampled_at_ms: 0,
            stopped: false,
        }
    }

    #[test]
    fn breaches_are_checked_against_each_limit() {
        let none = ProcessLimits::default();
        assert_eq!(breach(&stats(), &none), None);
        let mem = ProcessLimits {
            memory_mb: Some(8),
            ..none
        };
        assert_eq!(breach(&stats(), &mem).map(|b| b.0), Some(LimitKind::Memory));
        let fds = ProcessLimits {
            open_files: Some(4),
            ..none
        };
        assert_eq!(
            breach(&stats(), &fds).map(|b| b.0),
            Some(LimitKind::OpenFiles)
        );
        let wall = ProcessLimits {
            wall_secs: Some(3),
            ..none
        };
        assert_eq!(breach(&stats(), &wall).map(|b| b.0), Some(LimitKind::Wall));
        let generous = ProcessLimits {
            memory_mb: Some(100),
            cpu_secs: Some(1),
            open_files: Some(5),
            max_processes: Some(1),
            wall_secs: Some(60),
        };
        assert_eq!(breach(&stats(), &generous), None);
    }
}
