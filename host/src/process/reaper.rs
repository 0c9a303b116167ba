//! Descendants that escaped a worker's process group, and the zombies they
//! leave: the host as child subreaper.
//!
//! With `PR_SET_CHILD_SUBREAPER` (see [`enable_subreaper`](super::enable_subreaper))
//! every orphan below the host is re-parented to the host instead of init: a
//! worker's child that double-forked and called `setsid` ends up a direct
//! child of the host, outside every group Warden kills. This file finds such
//! processes among the host's children, attributes each to the worker it
//! came from, kills it when that worker is gone, and reaps it.
//!
//! Attribution, in order (a process is only ever touched when attributed):
//! 1. its process group is the group of a registered worker (the leader is
//!    not yet reaped, so the group number cannot have been reused);
//! 2. its environment carries [`INVOCATION_ENV`] with
//!    a worker id: it descends from that worker (the id is random, 128 bits);
//! 3. a zombie child of the host outside the host's session: only a process
//!    that called `setsid` below a worker gets there (the host's own helpers,
//!    e.g. a `tokio::process` child of another module, share its session and
//!    are never reaped here, so their owners still collect their status).
//!
//! Owns: the process-wide ledger of worker leaders and attributed strays.
//!
//! Guarantees: a signal goes through a pidfd opened *before* the process
//! was checked, so a pid reused meanwhile gets nothing; a worker's leader is
//! never reaped here (its own exit task does that); processes of other
//! modules of the host are never signalled or reaped.
//!
//! Must never: call `wait` on "any child" (it would steal the status of
//! children other code waits for).

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{LazyLock, Mutex, PoisonError};

use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, pidfd_open, pidfd_send_signal, waitid,
};

use super::identity::{INVOCATION_ENV, WorkerId};
use super::procfs;

/// A process attributed to a worker but outside its direct control.
#[derive(Debug)]
struct Stray {
    owner: WorkerId,
    pidfd: OwnedFd,
    killed: bool,
}

#[derive(Debug, Default)]
struct Ledger {
    /// Registered workers and their leader once spawned (`None` while the
    /// spawn is under way: its leader carries the marker but is no stray).
    workers: HashMap<WorkerId, Option<i32>>,
    /// Leader pid (= process group) → worker.
    leaders: HashMap<i32, WorkerId>,
    /// Groups of exited workers whose leftovers were not all reaped in time.
    retired_groups: HashMap<i32, WorkerId>,
    strays: HashMap<i32, Stray>,
    /// Host children that are not Warden's (pid → start time), read once.
    foreign: HashMap<i32, u64>,
    buf: Vec<u8>,
    kids: Vec<i32>,
}

static LEDGER: LazyLock<Mutex<Ledger>> = LazyLock::new(|| Mutex::new(Ledger::default()));

static HOST_SESSION: LazyLock<Option<i32>> = LazyLock::new(|| {
    let me = i32::try_from(std::process::id()).ok()?;
    procfs::read_stat(me, &mut Vec::new())
        .ok()
        .map(|s| s.session)
});

fn ledger() -> std::sync::MutexGuard<'static, Ledger> {
    LEDGER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A worker is about to be spawned.
pub(crate) fn begin_spawn(id: WorkerId) {
    ledger().workers.insert(id, None);
}

/// The worker's leader exists.
pub(crate) fn spawned(id: WorkerId, pid: i32) {
    let mut l = ledger();
    l.workers.insert(id, Some(pid));
    l.leaders.insert(pid, id);
    l.strays.remove(&pid);
    l.foreign.remove(&pid);
}

/// The worker is gone (spawn failed, or its leader was reaped).
pub(crate) fn forget(id: WorkerId) {
    let mut l = ledger();
    if let Some(Some(pid)) = l.workers.remove(&id) {
        l.leaders.remove(&pid);
    }
}

/// Kills what is left of worker `id` whose leader has died (and is not
/// reaped yet, so its group number is still its own): host children in its group and strays carrying its id.
/// Reaps those already dead. Returns how many are still to be reaped; call
/// again until 0. The caller has already sent `SIGKILL` to the group.
pub(crate) fn kill_leftovers(id: WorkerId) -> Leftovers {
    let mut l = ledger();
    l.scan();
    let mut signalled = 0;
    for stray in l.strays.values_mut().filter(|s| s.owner == id && !s.killed) {
        stray.killed = true;
        // ESRCH: already dead, which is what we want.
        let _ = pidfd_send_signal(&stray.pidfd, Signal::KILL);
        signalled += 1;
    }
    l.reap_dead();
    let pending = l.strays.values().filter(|s| s.owner == id).count();
    Leftovers { signalled, pending }
}

/// Gives up waiting for `id`'s leftovers: its group is remembered so a
/// later sweep can still attribute and reap its zombies.
pub(crate) fn retire_group(id: WorkerId, pgid: i32) {
    ledger().retired_groups.insert(pgid, id);
}

/// What [`kill_leftovers`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Leftovers {
    /// Signalled by this call.
    pub(crate) signalled: usize,
    /// Attributed to the worker and not reaped yet.
    pub(crate) pending: usize,
}

/// Sends `sig` to the strays of a live worker (used by a graceful stop).
pub(crate) fn signal_strays(id: WorkerId, sig: Signal) -> usize {
    let mut l = ledger();
    l.scan();
    let mut n = 0;
    for stray in l.strays.values().filter(|s| s.owner == id) {
        if pidfd_send_signal(&stray.pidfd, sig).is_ok() {
            n += 1;
        }
    }
    n
}

/// One periodic pass: attributes new host children, kills strays whose
/// worker is gone, reaps the dead. Appends `(owner, pid)` of every live
/// stray to `owned`, for resource accounting.
pub(crate) fn sweep(owned: &mut Vec<(WorkerId, i32)>) -> SweepReport {
    let mut l = ledger();
    l.scan();
    let mut report = SweepReport::default();
    let Ledger {
        strays, workers, ..
    } = &mut *l;
    for stray in strays.values_mut() {
        if !stray.killed && !workers.contains_key(&stray.owner) {
            stray.killed = true;
            if pidfd_send_signal(&stray.pidfd, Signal::KILL).is_ok() {
                report.killed += 1;
            }
        }
    }
    report.reaped += l.reap_dead();
    owned.extend(l.strays.iter().map(|(pid, s)| (s.owner, *pid)));
    report
}

/// What one [`sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SweepReport {
    pub(crate) killed: usize,
    pub(crate) reaped: usize,
}

impl Ledger {
    /// Reads the host's children and attributes the ones not seen before.
    fn scan(&mut self) {
        let Self {
            buf, kids, foreign, ..
        } = self;
        kids.clear();
        if let Err(e) = procfs::host_children(buf, kids) {
            tracing::debug!(error = %e, "cannot list the host's children");
            return;
        }
        foreign.retain(|pid, _| kids.contains(pid));
        let kids = std::mem::take(&mut self.kids);
        for &pid in &kids {
            if self.leaders.contains_key(&pid) || self.strays.contains_key(&pid) {
                continue;
            }
            self.classify(pid);
        }
        self.kids = kids;
        // A retired group is forgotten once none of the host's children is
        // in it (its number may then be reused).
        let kids = &self.kids;
        let buf = &mut self.buf;
        self.retired_groups.retain(|&pgid, _| {
            kids.iter()
                .any(|&pid| procfs::read_stat(pid, buf).is_ok_and(|s| s.pgrp == pgid))
        });
    }

    fn classify(&mut self, pid: i32) {
        let Ok(stat) = procfs::read_stat(pid, &mut self.buf) else {
            return;
        };
        if self.foreign.get(&pid) == Some(&stat.start_time) {
            return;
        }
        let by_group = self
            .leaders
            .get(&stat.pgrp)
            .or_else(|| self.retired_groups.get(&stat.pgrp))
            .copied();
        let owner = match by_group {
            Some(owner) => Some(owner),
            None if stat.is_dead() => None,
            None => match procfs::environ_value(pid, INVOCATION_ENV, &mut self.buf) {
                Ok(Some(text)) => text.parse::<WorkerId>().ok(),
                _ => None,
            },
        };
        if let Some(owner) = owner
            && self.workers.get(&owner) == Some(&None)
        {
            // The leader of a worker being spawned: not a stray.
            return;
        }
        let orphan_zombie = owner.is_none()
            && stat.is_dead()
            && HOST_SESSION.is_some_and(|host| stat.session != host);
        if owner.is_none() && !orphan_zombie {
            self.foreign.insert(pid, stat.start_time);
            return;
        }
        let Some(raw) = Pid::from_raw(pid) else {
            return;
        };
        let Ok(pidfd) = pidfd_open(raw, PidfdFlags::empty()) else {
            return;
        };
        // The pidfd names whatever holds `pid` now: make sure it is still
        // the process we read.
        match procfs::read_stat(pid, &mut self.buf) {
            Ok(again) if again.start_time == stat.start_time => {}
            _ => return,
        }
        match owner {
            Some(owner) => {
                tracing::debug!(pid, worker = %owner, "attributed an escaped process to its worker");
                self.strays.insert(
                    pid,
                    Stray {
                        owner,
                        pidfd,
                        killed: false,
                    },
                );
            }
            None => {
                if reap(&pidfd) {
                    tracing::debug!(
                        pid,
                        "reaped an orphaned zombie from outside the host's session"
                    );
                }
            }
        }
    }

    /// Reaps attributed strays that died; returns how many.
    fn reap_dead(&mut self) -> usize {
        let before = self.strays.len();
        self.strays.retain(|pid, stray| {
            let done = reap(&stray.pidfd);
            if done {
                tracing::debug!(pid, worker = %stray.owner, "reaped an escaped process");
            }
            !done
        });
        before - self.strays.len()
    }
}

/// Reaps the process behind `pidfd` if it has died. `true` when it is gone
/// (reaped now, or not our child any more).
fn reap(pidfd: &OwnedFd) -> bool {
    match waitid(
        WaitId::PidFd(std::os::fd::AsFd::as_fd(pidfd)),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    ) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(e) => {
            let e = io::Error::from(e);
            // ECHILD: reaped by someone else, or never our child.
            e.raw_os_error() == Some(rustix::io::Errno::CHILD.raw_os_error())
        }
    }
}
