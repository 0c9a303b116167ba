//! How a worker ended, and why.
//!
//! Owns: [`ExitInfo`], [`ExitReason`], [`LimitKind`], the raw wait status
//! ([`RawExit`]) and the one decision table that turns "what the host asked
//! for" plus "what the kernel reported" into a reason ([`classify`]).
//!
//! Guarantees: a stop the host requested (a limit breach, a shutdown, a
//! kill) is reported as that, whatever the process did on its way out; a
//! `SIGXCPU` death, or a `SIGKILL` after the CPU budget was spent (the
//! kernel's hard `RLIMIT_CPU`), is `cpu_limit`.
//!
//! Must never: look at the system; it only classifies.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::identity::{ProcessIdentity, WorkerId};

/// The limits the monitor (or the kernel) enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Resident memory of the worker's processes over `memory_mb`.
    Memory,
    /// CPU time over `cpu_secs`.
    Cpu,
    /// Running time over `wall_secs`.
    Wall,
    /// Open descriptors of one of its processes over `open_files`.
    OpenFiles,
    /// More processes than `max_processes`.
    Processes,
}

impl LimitKind {
    /// The exit reason's name: `memory_limit`, `cpu_limit`, `wall_limit`,
    /// `fd_limit`, `process_limit`.
    pub fn reason_name(self) -> &'static str {
        match self {
            Self::Memory => "memory_limit",
            Self::Cpu => "cpu_limit",
            Self::Wall => "wall_limit",
            Self::OpenFiles => "fd_limit",
            Self::Processes => "process_limit",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason_name())
    }
}

/// What the kernel reported for the worker's main process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawExit {
    /// It exited by itself with this status (0–255).
    Code(i32),
    /// It was killed by this signal number (9 for `SIGKILL`, …), whoever
    /// sent it.
    Signal(i32),
    /// The status could not be collected (reported, never expected).
    Unknown,
}

/// Why a worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ExitReason {
    /// Exited by itself with status 0.
    Normal,
    /// Exited by itself with a non-zero status.
    ExitCode {
        /// The exit status, 1–255.
        code: i32,
    },
    /// Killed by a signal the host did not send.
    Signal {
        /// The signal number (11 for `SIGSEGV`, …).
        signal: i32,
    },
    /// Stopped by the host because it went over a limit.
    Limit {
        /// The limit it went over.
        limit: LimitKind,
    },
    /// Stopped by [`terminate`](super::RunningWorker::terminate).
    Shutdown {
        /// It outlived its grace after `SIGTERM` and was killed.
        forced: bool,
    },
    /// Stopped by [`kill`](super::RunningWorker::kill) (or by dropping its handle).
    Killed,
    /// The host could not collect the status.
    Unknown,
}

impl ExitReason {
    /// Whether OTP would call this a normal exit (`normal` or `shutdown`).
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::Normal | Self::Shutdown { .. })
    }

    /// The limit that ended the worker, if one did.
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            Self::Limit { limit } => Some(*limit),
            _ => None,
        }
    }
}

impl fmt::Display for ExitReason {
    /// `normal`, `exit_code(3)`, `signal(9)`, `memory_limit`, …, `shutdown`,
    /// `shutdown(forced)`, `killed`, `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("normal"),
            Self::ExitCode { code } => write!(f, "exit_code({code})"),
            Self::Signal { signal } => write!(f, "signal({signal})"),
            Self::Limit { limit } => f.write_str(limit.reason_name()),
            Self::Shutdown { forced: false } => f.write_str("shutdown"),
            Self::Shutdown { forced: true } => f.write_str("shutdown(forced)"),
            Self::Killed => f.write_str("killed"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// Why the host stopped a worker (the first request wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopCause {
    Limit(LimitKind),
    Shutdown { forced: bool },
    Kill,
}

/// Everything known about a worker's end.
#[derive(Clone, Debug, Serialize)]
pub struct ExitInfo {
    /// The incarnation that ended.
    pub worker: WorkerId,
    /// Its main process (the group leader), as recorded at spawn.
    pub identity: ProcessIdentity,
    /// Why it ended: the host's request when there was one, else the
    /// kernel's status classified.
    pub reason: ExitReason,
    /// The wait status the kernel reported for the main process.
    pub raw: RawExit,
    /// When it was spawned, in Unix milliseconds.
    pub started_at_ms: i64,
    /// When the host saw it die, in Unix milliseconds (before its
    /// leftovers were cleaned up and it was reaped).
    pub exited_at_ms: i64,
    /// From spawn to the death being seen (monotonic clock).
    pub runtime: Duration,
    /// The highest resident memory the monitor saw (0 when never sampled).
    pub peak_rss_bytes: u64,
    /// CPU time of the worker's processes, as read just before reaping.
    pub cpu_time: Duration,
    /// Processes killed with it: group and cgroup members, escaped and
    /// remembered descendants (each signalled process once, at least).
    pub leftovers_killed: usize,
    /// When the host saw the death (its pidfd became readable).
    #[serde(skip)]
    pub detected_at: Instant,
}

/// The decision table: host request first, then the kernel's verdict.
pub(crate) fn classify(
    cause: Option<StopCause>,
    raw: RawExit,
    cpu_time: Duration,
    cpu_limit: Option<Duration>,
) -> ExitReason {
    const SIGKILL: i32 = 9;
    const SIGXCPU: i32 = 24;
    let over_cpu = cpu_limit.is_some_and(|limit| cpu_time >= limit);
    match (cause, raw) {
        (Some(StopCause::Limit(limit)), _) => ExitReason::Limit { limit },
        (Some(StopCause::Shutdown { forced }), _) => ExitReason::Shutdown { forced },
        (Some(StopCause::Kill), _) => ExitReason::Killed,
        (None, RawExit::Signal(SIGXCPU)) => ExitReason::Limit {
            limit: LimitKind::Cpu,
        },
        (None, RawExit::Signal(SIGKILL)) if over_cpu => ExitReason::Limit {
            limit: LimitKind::Cpu,
        },
        (None, RawExit::Code(0)) => ExitReason::Normal,
        (None, RawExit::Code(code)) => ExitReason::ExitCode { code },
        (None, RawExit::Signal(signal)) => ExitReason::Signal { signal },
        (None, RawExit::Unknown) => ExitReason::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_requests_win_over_the_kernel_status() {
        let secs = Duration::from_secs;
        assert_eq!(
            classify(
                Some(StopCause::Limit(LimitKind::Memory)),
                RawExit::Code(0),
                secs(0),
                None
            ),
            ExitReason::Limit {
                limit: LimitKind::Memory
            }
        );
        assert_eq!(
            classify(
                Some(StopCause::Shutdown { forced: true }),
                RawExit::Signal(9),
                secs(0),
                None
            ),
            ExitReason::Shutdown { forced: true }
        );
        assert_eq!(
            classify(None, RawExit::Signal(24), secs(0), None),
            ExitReason::Limit {
                limit: LimitKind::Cpu
            }
        );
        assert_eq!(
            classify(None, RawExit::Signal(9), secs(3), Some(secs(2))),
            ExitReason::Limit {
                limit: LimitKind::Cpu
            }
        );
        assert_eq!(
            classify(None, RawExit::Signal(9), secs(1), Some(secs(2))),
            ExitReason::Signal { signal: 9 }
        );
        assert_eq!(
            classify(None, RawExit::Code(0), secs(0), None),
            ExitReason::Normal
        );
        assert_eq!(
            classify(None, RawExit::Code(3), secs(0), None).to_string(),
            "exit_code(3)"
        );
    }

    #[test]
    fn reasons_serialise_with_their_names() {
        let json = serde_json::to_string(&ExitReason::Limit {
            limit: LimitKind::OpenFiles,
        })
        .expect("json");
        assert_eq!(json, r#"{"kind":"limit","limit":"open_files"}"#);
        assert_eq!(
            ExitReason::Limit {
                limit: LimitKind::OpenFiles
            }
            .to_string(),
            "fd_limit"
        );
    }
}
