//! The kernel's share of limit enforcement: rlimits set on a worker with
//! `prlimit(2)` while it waits at its exec gate (see `worker.rs`), before
//! its program runs.
//!
//! Owns: the mapping from [`ProcessLimits`] to rlimits ([`KernelCeilings`]),
//! and applying them.
//!
//! Why `prlimit` and not `pre_exec`: a `pre_exec` closure forces `fork`
//! (~35 ms with a large host heap instead of ~0.1–0.5 ms for
//! `posix_spawn`). `prlimit` costs three syscalls (a few µs), made while the
//! spawned process waits at the gate: the program starts with its limits,
//! and so does everything it forks. The ceilings exist for runaways
//! between two of the monitor's polls, not as the primary limit.
//!
//! Guarantees: the monitor enforces each limit at its configured value with
//! a precise reason; the kernel ceilings sit above it so that the reason a
//! worker is stopped is the monitor's (`memory_limit`, `fd_limit`) and not an
//! allocation failure inside the worker:
//! - `RLIMIT_DATA` (not `RLIMIT_AS`, which counts reservations and breaks
//!   runtimes that reserve address space) = 2 × `memory_mb` + 64 MiB;
//! - `RLIMIT_NOFILE` = `open_files` + `open_files` / 4 + 16;
//! - `RLIMIT_CPU`: soft = `cpu_secs` (`SIGXCPU`, reported as `cpu_limit`),
//!   hard = `cpu_secs` + 1 (`SIGKILL`);
//! - `RLIMIT_NPROC` is not set: it counts every process and thread of the
//!   user, host included, so with workers running as the host's user it would
//!   refuse forks for the wrong reason (and root ignores it). `max_processes`
//!   is enforced by the monitor alone.
//!
//! Must never: lower a limit of the host itself (it only targets a pid).

use std::io;

use rustix::process::{Pid, Resource, Rlimit, prlimit};

use super::spec::ProcessLimits;

const MIB: u64 = 1024 * 1024;

/// The rlimits a worker gets for its [`ProcessLimits`]: ceilings above the
/// limits the [`Monitor`](super::Monitor) enforces, so that the monitor's
/// precise reason wins and the kernel only stops a runaway between two
/// polls. `max_processes` has none (`RLIMIT_NPROC` counts every process of
/// the user, the host's included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCeilings {
    /// `RLIMIT_DATA` (not `RLIMIT_AS`, which counts mere reservations), in
    /// bytes: 2 × `memory_mb` + 64 MiB.
    pub data_bytes: Option<u64>,
    /// `RLIMIT_CPU` (soft, hard), in seconds: `cpu_secs` (`SIGXCPU`) and
    /// one more (`SIGKILL`).
    pub cpu_secs: Option<(u64, u64)>,
    /// `RLIMIT_NOFILE`, in descriptors: `open_files` + a quarter + 16.
    pub open_files: Option<u64>,
}

impl KernelCeilings {
    /// The ceilings for `limits`; `None` where that limit is unset. A
    /// `cpu_secs` of 0 gets the ceilings of 1 s.
    pub fn for_limits(limits: &ProcessLimits) -> Self {
        Self {
            data_bytes: limits
                .memory_mb
                .map(|mb| mb.saturating_mul(2).saturating_add(64).saturating_mul(MIB)),
            cpu_secs: limits
                .cpu_secs
                .map(|secs| (secs.max(1), secs.max(1).saturating_add(1))),
            open_files: limits
                .open_files
                .map(|n| n.saturating_add(n / 4).saturating_add(16)),
        }
    }

    /// Whether there is anything to set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Sets the rlimits on `pid`.
    pub(crate) fn apply(&self, pid: Pid) -> io::Result<()> {
        let both = |v: u64| Rlimit {
            current: Some(v),
            maximum: Some(v),
        };
        if let Some(bytes) = self.data_bytes {
            prlimit(Some(pid), Resource::Data, both(bytes))?;
        }
        if let Some((soft, hard)) = self.cpu_secs {
            prlimit(
                Some(pid),
                Resource::Cpu,
                Rlimit {
                    current: Some(soft),
                    maximum: Some(hard),
                },
            )?;
        }
        if let Some(n) = self.open_files {
            prlimit(Some(pid), Resource::Nofile, both(n))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_sit_above_the_monitored_limits() {
        let limits = ProcessLimits {
            memory_mb: Some(100),
            cpu_secs: Some(3),
            open_files: Some(64),
            ..ProcessLimits::default()
        };
        let c = KernelCeilings::for_limits(&limits);
        assert_eq!(c.data_bytes, Some(264 * MIB));
        assert_eq!(c.cpu_secs, Some((3, 4)));
        assert_eq!(c.open_files, Some(96));
        assert!(KernelCeilings::for_limits(&ProcessLimits::default()).is_empty());
    }
}
