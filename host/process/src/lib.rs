//! Native workers: OS processes supervised with the same care as
//! components — spawned without `fork`, limited, watched, scored, logged and
//! stopped together with everything they started.
//!
//! The nouns, in the order a host meets them:
//! - [`ProcessPolicy`], built by a [`PolicyBuilder`]: the host's allow-lists
//!   of programs and working directories.
//! - [`ResolvedCommand`] and [`AllowedCwd`]: a program (its absolute path,
//!   pinned at load) and a directory the policy accepted; nothing else can
//!   make one.
//! - [`WorkerSpec`]: what to run, with its [`ProcessLimits`], an optional
//!   [`ReadinessSpec`], a [`LogSpec`] and a [`CgroupMode`].
//! - [`RunningWorker`]: a started worker, named by its [`WorkerId`] and its
//!   [`ProcessIdentity`]: stop, kill, wait, read its state.
//! - [`Monitor`], set up by a [`MonitorConfig`]: the thread polling `/proc`
//!   for every registered worker and reporting [`MonitorEvent`]s.
//! - [`WorkerStats`] and [`HealthReport`]: what the monitor last measured
//!   and scored ([`HealthTracker`] turns scores into levels).
//! - [`ReadyState`]: where a worker is on its way to ready.
//! - [`LogBuffer`]: the last [`LogLine`]s of its output, and followers of
//!   new ones ([`Following`]); a [`LogTap`] in its [`LogSpec`] sees each line.
//! - [`ExitInfo`] and its [`ExitReason`]: how a worker ended, published
//!   once.
//! - [`ProcessEvent`]: what the host's event stream says about a worker (a
//!   limit breached, a health level crossed).
//! - [`registry::Registry`]: the SQLite file recording every incarnation;
//!   [`registry::recover_orphans`] kills what a crashed host left running.
//!
//! Owns: spawning, limiting, measuring, scoring and stopping workers and
//! every descendant they start, their output, and the registry file.
//!
//! Never does: decide whether a worker restarts (the supervisor does,
//! through the host's adapter), publish events (the host turns
//! [`MonitorEvent`]s into [`ProcessEvent`]s where it knows the tree), run
//! a program or enter a directory the policy refused, or signal a process
//! it has not proven is a worker's (a leader not yet reaped, or a pid,
//! start time and boot id re-checked through a pidfd).
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
pub use health::{HealthLevel, HealthReport, HealthThresholds, HealthTracker, LevelChange, Trend};
pub use host::{enable_subreaper, is_subreaper, raise_fd_limit};
pub use identity::{
    BadWorkerId, INVOCATION_ENV, Liveness, ProcessIdentity, WorkerId, is_same_process,
};
pub use logs::{FOLLOW_BUFFER, Following, LogBuffer, LogLine, LogSpec, LogTap, MAX_LINE, Stream};
pub use monitor::{Monitor, MonitorConfig, MonitorEvent};
pub use policy::{
    AllowedCwd, NotExecutable, PolicyBuilder, PolicyError, ProcessPolicy, ResolvedCommand,
};
pub use readiness::{Readiness, ReadinessError, ReadinessSpec, ReadyState};
pub(crate) use recovery::{OrphanOutcome, RecordedWorker, kill_recorded};
pub use rlimits::KernelCeilings;
pub use sampler::WorkerStats;
pub use spec::{ProcessLimits, WorkerSpec};
pub use timestamp::{rfc3339, write_rfc3339};
// Worker and registry records stamp time as signed Unix milliseconds
// (SQLite's integer; negative before 1970), so this crate's clock is the
// signed one.
pub use warden_clock::{signed_unix_ms as now_ms, signed_unix_ms_at as unix_ms};
pub use worker::{RunningWorker, SetupStep, SpawnError};
