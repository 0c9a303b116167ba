//! Spawning one native worker and owning it until it is reaped.
//!
//! Owns: [`RunningWorker`] (the handle the supervisor adapter holds), the
//! spawn sequence, signalling the worker's process group, and the exit task
//! that sees the death, cleans up what the worker left and reaps it.
//!
//! Spawn: `std::process::Command` with no `pre_exec` closure, so the standard
//! library uses `posix_spawn` (`CLONE_VFORK`: the call returns once the
//! child's `execve` has succeeded); `process_group(0)` gives the worker its
//! own group through a spawn attribute. What is executed is a gate,
//! `/bin/sh -c GATE PROGRAM ARGS…` ([`GATE`]), which waits for one line on
//! its stdin and then executes the program in its place (same pid, same
//! start time). Meanwhile a pidfd is opened (the child cannot have been
//! reaped, so it names the worker for good), the rlimits are set with
//! `prlimit` (see [`KernelCeilings`]) and the process is moved into the
//! worker's own cgroup when there is one ([`cgroup`](super::cgroup)); then
//! the host writes the line. So no instruction of the program runs without
//! its rlimits, and nothing it forks starts outside its cgroup (before the
//! gate, a process the program forked and lost in its first microseconds
//! could escape both). The gate costs a shell's start: `warden bench
//! spawn`, from a worker's death to its replacement running the program,
//! p50 1.02–1.08 ms against 0.74–0.75 ms when the worker was instead held
//! with `SIGSTOP` for the move (alternating, 2-core VM).
//!
//! Stop: the tree is walked once more and remembered ([`reaper`]), then
//! `SIGTERM` goes to the group, to the cgroup's members and to every
//! remembered or escaped descendant, so those that left the group get
//! their chance to end cleanly too.
//!
//! Exit: the pidfd becomes readable when the worker dies, before anyone
//! reaps it, so death is seen within milliseconds with no polling. While the
//! dead leader is not reaped its pid, and so its group number, cannot be
//! reused: the exit task first sends `SIGKILL` to the group, kills the
//! cgroup (`cgroup.kill`), kills and reaps the escaped and remembered
//! descendants ([`reaper`]), waits for the cgroup to empty, then reaps the
//! leader, publishes one [`ExitInfo`] and removes the cgroup.
//!
//! Guarantees: every signal to the group is sent under the `life` lock while
//! the leader is not reaped, so no signal reaches a reused group; the exit
//! reason names the host's request when there was one (first request wins);
//! dropping a [`RunningWorker`] kills its worker.
//!
//! Must never: wait for "any child", or signal a pid it has not proven is
//! the worker's.

use std::future::Future;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, kill_process_group, pidfd_open, waitid,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::cgroup::{CgroupMode, CgroupUnavailable, WorkerCgroup};
use super::exit::{ExitInfo, ExitReason, LimitKind, RawExit, StopCause, classify};
use super::health::HealthReport;
use super::identity::{INVOCATION_ENV, ProcessIdentity, WorkerId, raw_pid};
use super::logs::{self, LineProbe, LogBuffer, LogSink, Stream};
use super::procfs;
use super::readiness::{self, Readiness, ReadinessError, ReadyState};
use super::reaper;
use super::rlimits::KernelCeilings;
use super::sampler::WorkerStats;
use super::spec::{ProcessLimits, WorkerSpec};
use crate::now_ms;

/// How long the exit task waits for a dead worker's leftovers to die before
/// reaping the leader anyway (a process in uninterruptible sleep can take
/// longer; the periodic sweep reaps it later).
const LEFTOVER_WAIT: Duration = Duration::from_secs(1);

/// Why a worker could not be started. Nothing is left running on error.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// [`RunningWorker::spawn`] was called outside a tokio runtime.
    #[error("worker `{worker}`: spawning needs a tokio runtime with I/O enabled")]
    NoRuntime {
        /// The worker's name.
        worker: String,
    },
    /// The log directory of the worker's [`LogSpec`](super::LogSpec) could
    /// not be created.
    #[error("worker `{worker}`: cannot create the log directory {dir}: {source}")]
    LogDir {
        /// The worker's name.
        worker: String,
        /// The log file's path (empty when no directory was set).
        dir: PathBuf,
        /// The error creating it.
        #[source]
        source: io::Error,
    },
    /// The spec asks for [`CgroupMode::Required`] and the worker's cgroup
    /// could not be created.
    #[error("worker `{worker}`: cgroup = \"required\" but {source}")]
    Cgroup {
        /// The worker's name.
        worker: String,
        /// Why this host cannot give workers cgroups.
        #[source]
        source: CgroupUnavailable,
    },
    /// `posix_spawn` failed: nothing was started.
    #[error("worker `{worker}`: cannot start {command}: {source}")]
    Spawn {
        /// The worker's name.
        worker: String,
        /// The program's path.
        command: PathBuf,
        /// The error from the spawn (the `execve` error included).
        #[source]
        source: io::Error,
    },
    /// The program started but a step after the spawn failed; the worker's
    /// group was killed and the leader reaped before this was returned.
    #[error(
        "worker `{worker}`: started {command} (pid {pid}) but could not {step}, so it was killed: {source}"
    )]
    Setup {
        /// The worker's name.
        worker: String,
        /// The program's path.
        command: PathBuf,
        /// The killed process's pid.
        pid: u32,
        /// The step that failed.
        step: SetupStep,
        /// Its error.
        #[source]
        source: io::Error,
    },
}

/// The step of [`SpawnError::Setup`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStep {
    /// Setting its rlimits with `prlimit` (see [`KernelCeilings`]).
    ApplyLimits,
    /// Opening the pidfd that names it for the rest of its life.
    OpenPidfd,
    /// Reading its start time or the boot id from `/proc`.
    ReadIdentity,
    /// Moving it into its cgroup (fatal only with
    /// [`CgroupMode::Required`]).
    JoinCgroup,
    /// Letting its program start: the process waits at an exec gate until
    /// its rlimits and cgroup are in place (see `GATE`).
    Release,
    /// Handing its stdout and stderr pipes to the runtime.
    CaptureOutput,
}

impl std::fmt::Display for SetupStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ApplyLimits => "apply its rlimits",
            Self::OpenPidfd => "open its pidfd",
            Self::ReadIdentity => "read its identity",
            Self::JoinCgroup => "move it into its cgroup",
            Self::Release => "let its program start",
            Self::CaptureOutput => "capture its output",
        })
    }
}

/// Whether the leader has been reaped; while it has not, the host's stop
/// request (first wins) is kept here.
#[derive(Debug, Clone, Copy)]
enum Life {
    Running { cause: Option<StopCause> },
    Reaped,
}

/// What the monitor last saw.
#[derive(Debug, Default)]
struct Observed {
    stats: Option<WorkerStats>,
    health: Option<HealthReport>,
}

/// State shared by the handle, the exit task and the monitor.
/// When a worker's child restarted, and the window that counts.
#[derive(Debug, Default)]
struct RestartHistory {
    restarts: Vec<Instant>,
    window: Duration,
}

impl RestartHistory {
    fn within(&self, now: Instant) -> u32 {
        let n = self
            .restarts
            .iter()
            .filter(|&&at| now.saturating_duration_since(at) < self.window)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[derive(Debug)]
pub(crate) struct WorkerShared {
    pub(crate) id: WorkerId,
    pub(crate) name: String,
    pub(crate) identity: ProcessIdentity,
    pgid: Pid,
    /// Its own cgroup, when it has one.
    cgroup: Option<WorkerCgroup>,
    pub(crate) limits: ProcessLimits,
    pub(crate) spawned: Instant,
    started_at_ms: i64,
    life: Mutex<Life>,
    observed: Mutex<Observed>,
    restarts: Mutex<RestartHistory>,
    /// The host's liveness check failed at its last run.
    liveness_failed: AtomicBool,
    /// A lower memory limit in force for now (MiB; 0: none), set by a
    /// memory-pressure experiment.
    memory_squeeze_mb: AtomicU64,
    pub(crate) ready: watch::Receiver<ReadyState>,
}

impl WorkerShared {
    /// Records `cause` (unless another request came first) and sends `sig`
    /// to the group. Returns whether `cause` was recorded.
    pub(crate) fn request_stop(&self, cause: StopCause, sig: Signal) -> bool {
        let mut life = self.life.lock().unwrap_or_else(PoisonError::into_inner);
        let Life::Running { cause: recorded } = &mut *life else {
            return false;
        };
        let first = recorded.is_none();
        if first {
            *recorded = Some(cause);
        } else if let (StopCause::Kill, Some(StopCause::Shutdown { forced })) = (cause, recorded) {
            // A kill while a graceful stop is pending forces that stop.
            *forced = true;
        }
        if let Err(e) = kill_process_group(self.pgid, sig) {
            tracing::debug!(worker = %self.name, pid = self.identity.pid, error = %e, "signalling the group failed");
        }
        first
    }

    /// The graceful stop ran out of time: `SIGKILL` the group.
    fn escalate(&self) {
        let mut life = self.life.lock().unwrap_or_else(PoisonError::into_inner);
        if let Life::Running { cause } = &mut *life {
            if let Some(StopCause::Shutdown { forced }) = cause {
                *forced = true;
            }
            let _ = kill_process_group(self.pgid, Signal::KILL);
        }
    }

    /// Marks the leader reaped; returns the recorded stop request.
    fn mark_reaped(&self) -> Option<StopCause> {
        let mut life = self.life.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *life, Life::Reaped) {
            Life::Running { cause } => cause,
            Life::Reaped => None,
        }
    }

    pub(crate) fn is_reaped(&self) -> bool {
        matches!(
            *self.life.lock().unwrap_or_else(PoisonError::into_inner),
            Life::Reaped
        )
    }

    pub(crate) fn set_observed(&self, stats: WorkerStats, health: HealthReport) {
        let mut o = self.observed.lock().unwrap_or_else(PoisonError::into_inner);
        o.stats = Some(stats);
        o.health = Some(health);
    }

    fn observed_stats(&self) -> Option<WorkerStats> {
        self.observed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
            .clone()
    }

    /// Restarts within the window, counted now: a restart leaves the count
    /// once it is older than the window.
    pub(crate) fn recent_restarts(&self) -> u32 {
        self.restarts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .within(Instant::now())
    }

    /// The limits the monitor applies now: the spec's, with the memory
    /// limit lowered while squeezed.
    pub(crate) fn limits_now(&self) -> ProcessLimits {
        let squeeze = self.memory_squeeze_mb.load(Ordering::Relaxed);
        let mut limits = self.limits;
        if squeeze > 0 {
            limits.memory_mb = Some(limits.memory_mb.map_or(squeeze, |mb| mb.min(squeeze)));
        }
        limits
    }

    pub(crate) fn liveness_failed(&self) -> bool {
        self.liveness_failed.load(Ordering::Relaxed)
    }

    /// The record published when the exit task could not run to the end.
    fn lost_exit(&self) -> ExitInfo {
        let now = now_ms();
        ExitInfo {
            worker: self.id,
            identity: self.identity.clone(),
            reason: ExitReason::Unknown,
            raw: RawExit::Unknown,
            started_at_ms: self.started_at_ms,
            exited_at_ms: now,
            runtime: self.spawned.elapsed(),
            peak_rss_bytes: self.observed_stats().map_or(0, |s| s.peak_rss_bytes),
            cpu_time: Duration::ZERO,
            leftovers_killed: 0,
            detected_at: Instant::now(),
        }
    }
}

/// A started worker. Dropping the handle kills the worker.
#[derive(Debug)]
pub struct RunningWorker {
    shared: Arc<WorkerShared>,
    logs: LogBuffer,
    exit: watch::Receiver<Option<ExitInfo>>,
}

impl RunningWorker {
    /// Starts a worker. Must be called inside a tokio runtime with I/O and
    /// time enabled. Returns once the worker's program has been executed
    /// (not once it is ready: see [`ready`](Self::ready)).
    pub fn spawn(spec: &WorkerSpec) -> Result<Self, SpawnError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SpawnError::NoRuntime {
                worker: spec.name.clone(),
            });
        }
        let id = WorkerId::random();
        let sink = LogSink::new(&spec.name, &spec.logs).map_err(|source| SpawnError::LogDir {
            worker: spec.name.clone(),
            dir: spec.logs.path().unwrap_or_default(),
            source,
        })?;
        let cwd = spec
            .cwd
            .as_ref()
            .map_or_else(|| Path::new("/"), |c| c.path());
        // The program is executed by the gate (see `GATE`), which reports
        // a missing or unrunnable program only as its exit status: it is
        // checked here, so such a spawn fails as one `posix_spawn` of it
        // would.
        rustix::fs::access(spec.command.path(), rustix::fs::Access::EXEC_OK).map_err(|e| {
            SpawnError::Spawn {
                worker: spec.name.clone(),
                command: spec.command.path().to_path_buf(),
                source: io::Error::from(e),
            }
        })?;
        let sets_pwd = spec.env.iter().any(|(name, _)| name == "PWD")
            || (spec.inherit_env.iter().any(|name| name == "PWD")
                && std::env::var_os("PWD").is_some());
        let mut cmd = Command::new(GATE_SHELL);
        cmd.arg("-c")
            .arg(if sets_pwd { GATE } else { GATE_WITHOUT_PWD })
            .arg(spec.command.path())
            .args(&spec.args)
            .env_clear()
            .current_dir(cwd)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in &spec.inherit_env {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        for (name, value) in &spec.env {
            cmd.env(name, value);
        }
        cmd.env(INVOCATION_ENV, id.to_string());

        let cgroup = match spec.cgroup {
            CgroupMode::Off => None,
            CgroupMode::Auto => match WorkerCgroup::create(id) {
                Ok(cgroup) => Some(cgroup),
                Err(e) => {
                    note_no_cgroup(&e);
                    None
                }
            },
            CgroupMode::Required => {
                Some(
                    WorkerCgroup::create(id).map_err(|source| SpawnError::Cgroup {
                        worker: spec.name.clone(),
                        source,
                    })?,
                )
            }
        };
        reaper::begin_spawn(id);
        let spawned = Instant::now();
        let started_at_ms = now_ms();
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => {
                reaper::forget(id);
                return Err(SpawnError::Spawn {
                    worker: spec.name.clone(),
                    command: spec.command.path().to_path_buf(),
                    source,
                });
            }
        };
        let pid = child.id();
        let setup = Setup {
            id,
            spec,
            cwd,
            spawned,
            started_at_ms,
            cgroup,
        };
        match setup.adopt(&mut child, sink) {
            Ok(worker) => Ok(worker),
            Err((step, source)) => {
                if let Some(raw) = raw_pid(pid).ok().and_then(Pid::from_raw) {
                    let _ = kill_process_group(raw, Signal::KILL);
                }
                // The child is ours and was just killed: this returns at once.
                let _ = child.wait();
                reaper::forget(id);
                Err(SpawnError::Setup {
                    worker: spec.name.clone(),
                    command: spec.command.path().to_path_buf(),
                    pid,
                    step,
                    source,
                })
            }
        }
    }

    /// The incarnation's random id (also in the worker's environment as
    /// [`INVOCATION_ENV`]).
    pub fn id(&self) -> WorkerId {
        self.shared.id
    }

    /// The worker's name (its path in the tree).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Pid, start time and boot id of the worker's main process.
    pub fn identity(&self) -> &ProcessIdentity {
        &self.shared.identity
    }

    /// The pid of the worker's main process, which is also its process
    /// group id. It stays the worker's until the exit record is published
    /// (the leader is not reaped before).
    pub fn pid(&self) -> u32 {
        self.shared.identity.pid
    }

    /// The limits the monitor holds the worker to now (its spec's, with
    /// the memory limit lowered while [squeezed](Self::squeeze_memory)).
    pub fn limits(&self) -> ProcessLimits {
        self.shared.limits_now()
    }

    /// The worker's own cgroup directory, when it has one.
    pub fn cgroup(&self) -> Option<&Path> {
        self.shared.cgroup.as_ref().map(|c| c.dir().path())
    }

    /// Unix milliseconds at spawn.
    pub fn started_at_ms(&self) -> i64 {
        self.shared.started_at_ms
    }

    /// The exit record, once the worker has ended and been reaped.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.borrow().clone()
    }

    /// Resolves when the worker has ended, its leftovers are gone and it is
    /// reaped. Can be called any number of times; the future does not
    /// borrow the handle.
    pub fn wait_exit(&self) -> impl Future<Output = ExitInfo> + Send + 'static {
        let mut exit = self.exit.clone();
        let shared = Arc::clone(&self.shared);
        async move {
            match exit.wait_for(Option::is_some).await {
                Ok(info) => info.clone().unwrap_or_else(|| shared.lost_exit()),
                Err(_) => shared.lost_exit(),
            }
        }
    }

    /// Resolves when the worker is ready (at once when it has no readiness
    /// check), or with why it never will be. It does not stop the worker.
    pub async fn ready(&self) -> Result<Duration, ReadinessError> {
        readiness::wait_ready(self.shared.ready.clone()).await
    }

    /// Stops the worker: `SIGTERM` to its group, its cgroup and every
    /// descendant that left them, then `SIGKILL` to all of them after
    /// `grace`. Resolves with the exit record once it is reaped. A worker
    /// already stopping for another reason keeps that reason.
    pub async fn terminate(&self, grace: Duration) -> ExitInfo {
        if let Some(info) = self.exit_info() {
            return info;
        }
        // While the leader lives its tree is attributable: remember it all
        // before anyone reacts to the signal and leaves it.
        if let Ok(leader) = raw_pid(self.pid()) {
            reaper::learn_tree(self.shared.id, leader);
        }
        self.shared
            .request_stop(StopCause::Shutdown { forced: false }, Signal::TERM);
        if let Some(cgroup) = &self.shared.cgroup {
            cgroup.signal_members(Signal::TERM);
        }
        reaper::signal_descendants(self.shared.id, Signal::TERM);
        let exit = self.wait_exit();
        tokio::pin!(exit);
        match tokio::time::timeout(grace, &mut exit).await {
            Ok(info) => info,
            Err(_) => {
                tracing::info!(worker = %self.shared.name, pid = self.pid(), ?grace, "worker outlived its shutdown grace; killing it");
                self.shared.escalate();
                exit.await
            }
        }
    }

    /// Kills the worker's group at once; resolves once it is reaped.
    pub async fn kill(&self) -> ExitInfo {
        self.shared.request_stop(StopCause::Kill, Signal::KILL);
        self.wait_exit().await
    }

    /// Stops the worker as the monitor would for a breached limit (for a
    /// caller that enforces a limit of its own, e.g. a cgroup event).
    pub fn stop_for_limit(&self, limit: LimitKind) -> bool {
        self.shared
            .request_stop(StopCause::Limit(limit), Signal::KILL)
    }

    /// The monitor's last sample, if the worker is monitored.
    pub fn stats(&self) -> Option<WorkerStats> {
        self.shared.observed_stats()
    }

    /// The monitor's last health report, if the worker is monitored.
    pub fn health(&self) -> Option<HealthReport> {
        self.shared
            .observed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .health
    }

    /// Tells the health score when this child restarted (whoever restarts
    /// it knows), and over which recent window restarts count: the count
    /// falls again as they age out of it.
    pub fn set_restart_history(&self, restarts: Vec<Instant>, window: Duration) {
        *self
            .shared
            .restarts
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = RestartHistory { restarts, window };
    }

    /// Lowers the memory limit the monitor holds the worker to, to
    /// `limit_mb` (never raises it), until called with `None`: a
    /// memory-pressure experiment. The worker's spec is unchanged.
    pub fn squeeze_memory(&self, limit_mb: Option<u64>) {
        self.shared
            .memory_squeeze_mb
            .store(limit_mb.unwrap_or(0), Ordering::Relaxed);
    }

    /// Whether its memory limit is lowered now ([`Self::squeeze_memory`]).
    pub fn memory_squeezed(&self) -> bool {
        self.shared.memory_squeeze_mb.load(Ordering::Relaxed) > 0
    }

    /// Records the outcome of the host's liveness check (`false`: the
    /// worker counts as unresponsive until a check passes again).
    pub fn set_liveness(&self, alive: bool) {
        self.shared.liveness_failed.store(!alive, Ordering::Relaxed);
    }

    /// Where the worker is on its way to ready.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready.borrow().clone()
    }

    /// The last lines of output (still readable after the worker ended).
    pub fn logs(&self) -> LogBuffer {
        self.logs.clone()
    }

    pub(crate) fn shared(&self) -> &Arc<WorkerShared> {
        &self.shared
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        if !self.shared.is_reaped() {
            self.shared.request_stop(StopCause::Kill, Signal::KILL);
        }
    }
}

/// Says once per process why workers run without cgroups.
fn note_no_cgroup(why: &CgroupUnavailable) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::info!(reason = %why, "workers run without cgroups of their own; descendants are tracked by group, marker, process tree and subreaper");
    });
}

/// The shell that runs [`GATE`].
pub(crate) const GATE_SHELL: &str = "/bin/sh";

/// What a worker's process runs first, as `sh -c GATE PROGRAM ARGS…`:
/// it waits for one line on its stdin, then executes the program in its
/// place (same pid, same start time) with stdin from `/dev/null`. The host
/// writes that line once the rlimits are set and the process is in its
/// cgroup, so no instruction of the program runs without them, and
/// nothing it forks lands outside the cgroup. A host that dies before
/// closes the pipe: `read` fails and the program never runs.
pub(crate) const GATE: &str = r#"read -r _ && exec "$0" "$@" </dev/null"#;

/// [`GATE`] for a worker whose environment has no `PWD`: the shell
/// exports one of its own, which the program must not inherit.
pub(crate) const GATE_WITHOUT_PWD: &str = r#"unset PWD; read -r _ && exec "$0" "$@" </dev/null"#;

/// The steps after `posix_spawn` returned.
struct Setup<'a> {
    id: WorkerId,
    spec: &'a WorkerSpec,
    cwd: &'a Path,
    spawned: Instant,
    started_at_ms: i64,
    cgroup: Option<WorkerCgroup>,
}

impl Setup<'_> {
    fn adopt(
        self,
        child: &mut std::process::Child,
        sink: LogSink,
    ) -> Result<RunningWorker, (SetupStep, io::Error)> {
        let pid = child.id();
        let raw = raw_pid(pid).map_err(|e| (SetupStep::OpenPidfd, e))?;
        let rpid = Pid::from_raw(raw).ok_or_else(|| {
            (
                SetupStep::OpenPidfd,
                io::Error::new(io::ErrorKind::InvalidData, "pid 0"),
            )
        })?;
        let pidfd = pidfd_open(rpid, PidfdFlags::empty())
            .map_err(|e| (SetupStep::OpenPidfd, io::Error::from(e)))?;
        // The process waits at the gate: nothing of the program runs yet.
        KernelCeilings::for_limits(&self.spec.limits)
            .apply(rpid)
            .map_err(|e| (SetupStep::ApplyLimits, e))?;
        let cgroup = match self.cgroup {
            Some(cgroup) => match cgroup.adopt(raw) {
                Ok(()) => Some(cgroup),
                Err(e) if self.spec.cgroup == CgroupMode::Required => {
                    return Err((SetupStep::JoinCgroup, e));
                }
                Err(e) => {
                    tracing::warn!(worker = %self.spec.name, error = %e, "cannot move the worker into its cgroup; tracking it without");
                    None
                }
            },
            None => None,
        };
        let release = |e: io::Error| (SetupStep::Release, e);
        let mut gate = child
            .stdin
            .take()
            .ok_or_else(|| release(io::Error::other("pipe not created")))?;
        gate.write_all(b"\n").map_err(release)?;
        drop(gate);
        let start_time = procfs::read_stat(raw, &mut Vec::with_capacity(512))
            .map_err(|e| (SetupStep::ReadIdentity, e))?
            .start_time;
        reaper::spawned(self.id, raw, start_time);
        let boot_id = procfs::boot_id()
            .map_err(|e| (SetupStep::ReadIdentity, e))?
            .to_owned();
        let identity = ProcessIdentity {
            pid,
            start_time,
            boot_id,
        };
        let capture = |e: io::Error| (SetupStep::CaptureOutput, e);
        let missing = || capture(io::Error::other("pipe not created"));
        let stdout =
            tokio::process::ChildStdout::from_std(child.stdout.take().ok_or_else(missing)?)
                .map_err(capture)?;
        let stderr =
            tokio::process::ChildStderr::from_std(child.stderr.take().ok_or_else(missing)?)
                .map_err(capture)?;
        let pidfd = AsyncPidfd::new(pidfd);

        let (probe, line_rx) = match self.spec.readiness.as_ref().map(|r| &r.check) {
            Some(Readiness::LineMatches(needle)) => {
                let (probe, rx) = LineProbe::new(needle.clone());
                (Some(probe), Some(rx))
            }
            _ => (None, None),
        };
        let readiness_spec = self.spec.readiness.clone().map(|mut r| {
            if let Readiness::FileExists(path) = &mut r.check
                && path.is_relative()
            {
                *path = self.cwd.join(&*path);
            }
            r
        });
        let (exit_tx, exit_rx) = watch::channel(None);
        let ready =
            readiness::watch_readiness(readiness_spec, self.spawned, line_rx, exit_rx.clone());
        let logs = sink.buffer();
        let sink = Arc::new(sink);
        tokio::spawn(logs::capture(
            Stream::Stdout,
            stdout,
            Arc::clone(&sink),
            probe,
        ));
        tokio::spawn(logs::capture(Stream::Stderr, stderr, sink, None));

        let shared = Arc::new(WorkerShared {
            id: self.id,
            name: self.spec.name.clone(),
            identity,
            pgid: rpid,
            cgroup,
            limits: self.spec.limits,
            spawned: self.spawned,
            started_at_ms: self.started_at_ms,
            life: Mutex::new(Life::Running { cause: None }),
            observed: Mutex::new(Observed::default()),
            restarts: Mutex::new(RestartHistory::default()),
            liveness_failed: AtomicBool::new(false),
            memory_squeeze_mb: AtomicU64::new(0),
            ready,
        });
        tracing::debug!(worker = %shared.name, pid, id = %shared.id, command = %self.spec.command.path().display(), "worker spawned");
        tokio::spawn(watch_exit(Arc::clone(&shared), pidfd, exit_tx));
        Ok(RunningWorker {
            shared,
            logs,
            exit: exit_rx,
        })
    }
}

/// A pidfd waited on through the runtime's reactor, or by polling every few
/// milliseconds if it cannot be registered.
enum AsyncPidfd {
    Reactor(AsyncFd<OwnedFd>),
    Polled(OwnedFd),
}

impl AsyncPidfd {
    // One of the two places the workspace allows `unsafe`: see SAFETY below.
    #[allow(unsafe_code)]
    fn new(fd: OwnedFd) -> Self {
        // SAFETY: `register_with_interest` needs the descriptor to stay open
        // and to be the same one for the whole life of the `AsyncFd`. The
        // `OwnedFd` is moved into it and only ever lent out by shared
        // reference (`get_ref`), so nothing can close or replace it first.
        let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
        match registered {
            Ok(fd) => Self::Reactor(fd),
            Err(e) => {
                let (fd, err) = e.into_parts();
                tracing::warn!(error = %err, "cannot register a pidfd with the reactor; polling it");
                Self::Polled(fd)
            }
        }
    }

    fn fd(&self) -> &OwnedFd {
        match self {
            Self::Reactor(fd) => fd.get_ref(),
            Self::Polled(fd) => fd,
        }
    }

    /// Resolves when the process has died.
    async fn dead(&self) {
        match self {
            Self::Reactor(fd) => match fd.readable().await {
                Ok(mut guard) => guard.retain_ready(),
                Err(e) => {
                    tracing::warn!(error = %e, "waiting on a pidfd failed; polling it");
                    poll_until_readable(fd.get_ref()).await;
                }
            },
            Self::Polled(fd) => poll_until_readable(fd).await,
        }
    }
}

async fn poll_until_readable(fd: &OwnedFd) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The exit task: death → leftovers killed and reaped → leader reaped →
/// one [`ExitInfo`].
async fn watch_exit(
    shared: Arc<WorkerShared>,
    pidfd: AsyncPidfd,
    exit_tx: watch::Sender<Option<ExitInfo>>,
) {
    pidfd.dead().await;
    let detected_at = Instant::now();
    let exited_at_ms = now_ms();
    let ticks = procfs::clock_ticks();
    let zombie_ticks = raw_pid(shared.identity.pid)
        .and_then(|raw| procfs::read_stat(raw, &mut Vec::with_capacity(512)))
        .map(|s| s.total_ticks())
        .unwrap_or(0);
    let last = shared.observed_stats();
    let cpu_time = Duration::from_millis(zombie_ticks.saturating_mul(1000) / ticks)
        .max(last.as_ref().map_or(Duration::ZERO, |s| s.cpu_time));

    // The leader is dead but not reaped: its group number is still its own.
    let _ = kill_process_group(shared.pgid, Signal::KILL);
    let mut contained = 0;
    if let Some(cgroup) = &shared.cgroup {
        let mut members = Vec::new();
        let _ = cgroup.dir().members(&mut members);
        contained = members.len();
        if let Err(e) = cgroup.dir().kill() {
            tracing::warn!(worker = %shared.name, error = %e, "cannot kill the worker's cgroup");
        }
    }
    let mut leftovers = reaper::kill_leftovers(shared.id);
    let mut leftovers_killed = leftovers.signalled;
    loop {
        let populated = shared
            .cgroup
            .as_ref()
            .is_some_and(|c| c.dir().populated().unwrap_or(false));
        if leftovers.pending == 0 && !populated {
            break;
        }
        if detected_at.elapsed() >= LEFTOVER_WAIT {
            tracing::warn!(worker = %shared.name, pending = leftovers.pending, populated, "leftover processes did not die in time; the sweep will reap them");
            reaper::retire_group(shared.id, shared.pgid.as_raw_nonzero().get());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        leftovers = reaper::kill_leftovers(shared.id);
        leftovers_killed += leftovers.signalled;
    }
    // Members killed through the cgroup are counted even when no other
    // rule saw them.
    let leftovers_killed = leftovers_killed.max(contained);

    let raw = reap_leader(pidfd.fd()).await;
    let cause = shared.mark_reaped();
    reaper::forget(shared.id);
    let cpu_limit = shared.limits.cpu_secs.map(Duration::from_secs);
    let reason = classify(cause, raw, cpu_time, cpu_limit);
    let info = ExitInfo {
        worker: shared.id,
        identity: shared.identity.clone(),
        reason,
        raw,
        started_at_ms: shared.started_at_ms,
        exited_at_ms,
        runtime: detected_at.saturating_duration_since(shared.spawned),
        peak_rss_bytes: last.map_or(0, |s| s.peak_rss_bytes),
        cpu_time,
        leftovers_killed,
        detected_at,
    };
    if reason.is_normal() {
        tracing::debug!(worker = %shared.name, pid = info.identity.pid, %reason, "worker exited");
    } else {
        tracing::info!(worker = %shared.name, pid = info.identity.pid, %reason, "worker exited");
    }
    // Empty of live processes by now (or handed to the sweep): removing it
    // costs ~30 µs.
    if let Some(cgroup) = &shared.cgroup {
        cgroup.settle();
    }
    exit_tx.send_replace(Some(info));
}

async fn reap_leader(fd: &OwnedFd) -> RawExit {
    for _ in 0..100 {
        match waitid(
            WaitId::PidFd(fd.as_fd()),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(Some(status)) => {
                if let Some(code) = status.exit_status() {
                    return RawExit::Code(code);
                }
                if let Some(signal) = status.terminating_signal() {
                    return RawExit::Signal(signal);
                }
                return RawExit::Unknown;
            }
            // Readable but not yet waitable: only a brief kernel race.
            Ok(None) => tokio::time::sleep(Duration::from_millis(1)).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reap a worker");
                return RawExit::Unknown;
            }
        }
    }
    RawExit::Unknown
}
