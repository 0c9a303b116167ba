//! Process-wide settings the host makes once at start-up, before it spawns
//! any worker.
//!
//! Owns: `PR_SET_CHILD_SUBREAPER` for the host, and raising the host's own
//! descriptor limit (each monitored worker holds a few descriptors in the
//! host: a pidfd, two pipes, kept-open `/proc` files).
//!
//! Must never: be needed for correctness of a single worker's stop (its
//! group is killed either way); without the subreaper, descendants that
//! escaped the group go to init and cannot be found or reaped by the host.

use std::io;

use rustix::process::{Pid, Resource, Rlimit, getpid, getrlimit, set_child_subreaper, setrlimit};

/// Makes the host the child subreaper of everything below it, so a
/// worker's descendant that double-forks out of its group is re-parented to
/// the host, where the monitor's sweep and the worker's stop find, kill and
/// reap it. Call once, early (it affects orphans created after the call).
pub fn enable_subreaper() -> io::Result<()> {
    let me: Pid = getpid();
    set_child_subreaper(Some(me))?;
    tracing::debug!("host is now the child subreaper of its descendants");
    Ok(())
}

/// Whether the host is a child subreaper.
pub fn is_subreaper() -> bool {
    matches!(rustix::process::child_subreaper(), Ok(Some(_)))
}

/// Raises the host's soft `RLIMIT_NOFILE` to its hard limit; returns the
/// new soft limit. Workers get their own limit (`open_files`) or inherit
/// this one.
pub fn raise_fd_limit() -> io::Result<u64> {
    let current = getrlimit(Resource::Nofile);
    let Some(hard) = current.maximum else {
        // Unlimited hard limit: pick a large, safe soft limit.
        let soft = 1 << 20;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(soft),
                maximum: None,
            },
        )?;
        return Ok(soft);
    };
    if current.current != Some(hard) {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        )?;
    }
    Ok(hard)
}
