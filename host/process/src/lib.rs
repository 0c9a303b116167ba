//! Native workers: OS processes supervised with the same care as
//! components — spawned without `fork`, limited, watched, scored, logged and
//! stopped together with everything they started.
//!
//! The nouns:
//! - [`ProcessPolicy`]: the host's allow-lists. It turns a configured command
//!   into a [`ResolvedCommand`] (an absolute path, pinned at load) and a
//!   directory into an [`AllowedCwd`]; nothing else can make those.
//! - [`WorkerSpec`]: what to run, with [`ProcessLimits`], an optional
//!   [`ReadinessSpec`] and a [`LogSpec`].
//! - [`RunningWorker`]: a started worker — its [`ProcessIdentity`], its exit
//!   ([`ExitInfo`] with an [`ExitReason`]), stop and kill, stats, health and logs.
//! - [`Monitor`]: one thread polling `/proc` for every registered worker,
//!   stopping those over a limit and reporting [`MonitorEvent`]s.
//! - [`HealthTracker`]: the 0–100 score, its level and trend.
//! - [`ProcessEvent`]: what workers add to the host's event stream (a limit
//!   breached, a health level crossed), typed.
//! - [`kill_recorded`]: orphan recovery for incarnations of a previous host.
//! - [`registry::Registry`]: the SQLite file recording every incarnation,
//!   which is how a restarted host finds what a crashed one left running.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use warden_process::*;
//!
//! enable_subreaper()?;
//! let policy = ProcessPolicy::builder().allow_command("sleep").build()?;
//! let mut spec = WorkerSpec::new("root/sleeper", policy.resolve_command("sleep")?);
//! spec.arg("30").limits(ProcessLimits { memory_mb: Some(64), ..Default::default() });
//! let (monitor, _events) = Monitor::start(MonitorConfig::default())?;
//! let worker = RunningWorker::spawn(&spec)?;
//! monitor.register(&worker);
//! let exit = worker.terminate(Duration::from_secs(5)).await;
//! assert_eq!(exit.reason, ExitReason::Shutdown { forced: false });
//! # Ok(()) }
//! ```
//!
//! Requires Linux ≥ 5.4 (pidfds with `waitid(P_PIDFD)`). Limits use no
//! cgroup controllers (the machines Warden targets delegate none): they are
//! rlimits plus polling (see [`KernelCeilings`] for the rlimits and
//! [`WorkerStats`] for what the monitor counts). Where the host may create
//! cgroup v2 directories below its own, each worker gets one anyway, for
//! membership alone: it is what holds every descendant, whatever it does
//! ([`CgroupMode`], [`cgroup_support`]); elsewhere descendants are tracked
//! by process group, invocation marker, process tree and the subreaper.

mod cgroup;
mod event;
mod exit;
mod health;
mod host;
mod identity;
mod logs;
mod monitor;
mod policy;
mod procfs;
mod readiness;
mod reaper;
mod recovery;
pub mod registry;
mod rlimits;
mod sampler;
mod spec;
mod timestamp;
mod worker;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use cgroup::{CgroupMode, CgroupUnavailable, cgroup_support};
pub use event::ProcessEvent;
pub use exit::{ExitInfo, ExitReason, LimitKind, RawExit};
pub use health::{
    HealthInputs, HealthLevel, HealthReport, HealthTracker, LevelChange, Responsiveness, Trend,
    score as health_score,
};
pub use host::{enable_subreaper, is_subreaper, raise_fd_limit};
pub use identity::{
    BadWorkerId, INVOCATION_ENV, Liveness, ProcessIdentity, WorkerId, is_same_process,
};
pub use logs::{LogBuffer, LogLine, LogSpec, MAX_LINE, Stream};
pub use monitor::{Monitor, MonitorConfig, MonitorEvent};
pub use policy::{
    AllowedCwd, NotExecutable, PolicyBuilder, PolicyError, ProcessPolicy, ResolvedCommand,
};
pub use readiness::{Readiness, ReadinessError, ReadinessSpec, ReadyState};
pub use recovery::{OrphanOutcome, RecordedWorker, kill_recorded};
pub use rlimits::KernelCeilings;
pub use sampler::WorkerStats;
pub use spec::{ProcessLimits, WorkerSpec};
// Worker and registry records stamp time as signed Unix milliseconds
// (SQLite's integer; negative before 1970), so this crate's clock is the
// signed one.
pub use warden_clock::{signed_unix_ms as now_ms, signed_unix_ms_at as unix_ms};
pub use worker::{RunningWorker, SetupStep, SpawnError};
