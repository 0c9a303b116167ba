//! Descendants of workers wherever they went, and the zombies they leave:
//! the ledger of who descends from which worker, and the host as child
//! subreaper.
//!
//! With `PR_SET_CHILD_SUBREAPER` (see [`enable_subreaper`](super::enable_subreaper))
//! every orphan below the host is re-parented to the host instead of init: a
//! worker's child that double-forked and called `setsid` ends up a direct
//! child of the host, outside every group Warden kills. This file remembers
//! the descendants each worker had while they were still attributable,
//! finds escaped ones among the host's children, attributes each to the
//! worker it came from, kills them when that worker is gone, and reaps them.
//!
//! Attribution of a host child, in order (a process is only ever touched
//! when attributed):
//! 1. its cgroup is a worker's (`warden-<id>`, see [`super::cgroup`]): a
//!    mark nothing below a worker can shed;
//! 2. its process group is the group of a registered worker (the leader is
//!    not yet reaped, so the group number cannot have been reused);
//! 3. its (pid, start time) was seen in the worker's process tree (the
//!    monitor's sampling pass records the tree at every poll, and a
//!    graceful stop records it once more before signalling: see
//!    [`note_tree`]);
//! 4. its environment carries [`INVOCATION_ENV`] with a worker id: it
//!    descends from that worker (the id is random, 128 bits);
//! 5. it is outside the host's session (only a process that called
//!    `setsid` below a worker gets there: the host's own helpers, e.g. a
//!    `tokio::process` child of another module, share its session) and it
//!    started while a worker ran: it is attributed to *every* worker whose
//!    life (start to end, in boot-clock ticks) contains its start. It is
//!    killed as soon as any of them is gone, and counts against the limits
//!    of each (an overestimate, never an underestimate);
//! 6. a zombie outside the host's session that no worker's life explains
//!    is reaped (its status belongs to nobody).
//!
//! What rules 2 to 5 cannot close without a cgroup: a descendant that
//! stays in the host's session, leaves the worker's group (`setpgid`),
//! drops the marker (`env -i`) and double-forks out of the tree between two
//! samples is indistinguishable from a process another module of the host
//! started, and is left alone. Rule 5 closes the same race for `setsid`
//! (the kind the subreaper sees re-parented with no other mark), at the
//! price of possibly stopping it early when another worker that ran at its
//! birth ends first. A host that can create cgroups has none of these
//! limits (rule 1). Rule 5 assumes that nothing else in the host's
//! process starts a process that calls `setsid` (true of `warden run`; a
//! program embedding the host that does, e.g. a test launching a browser,
//! would see that browser's orphans attributed to its workers).
//!
//! Owns: the process-wide ledger of workers (leader, start, descendants
//! seen), recently ended workers, attributed strays, groups and cgroups
//! still to clean, and the descendant changes not yet handed to the
//! registry ([`take_records`]).
//!
//! Guarantees: a signal goes through a pidfd opened *before* the process
//! was checked, so a pid reused meanwhile gets nothing; a worker's leader is
//! never reaped here (its own exit task does that); a process of another
//! module in the host's session is never signalled or reaped.
//!
//! Must never: call `wait` on "any child" (it would steal the status of
//! children other code waits for).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, pidfd_open, pidfd_send_signal, waitid,
};

use super::cgroup::{self, CgroupDir};
use super::identity::{INVOCATION_ENV, WorkerId};
use super::procfs::{self, Stat};

/// The most descendants remembered per worker (a fork bomb must not grow
/// the ledger without bound; the monitor's walk stops at the same count).
const MAX_KNOWN: usize = 4096;
/// How long an ended worker still explains processes that started during
/// its life (rule 5) and keeps its descendants attributed (rule 3).
const ENDED_KEPT: Duration = Duration::from_secs(60);
const MAX_ENDED: usize = 1024;

/// A process attributed to workers but outside their direct control.
#[derive(Debug)]
struct Stray {
    /// One worker, or (rule 5) every worker that may have started it.
    owners: Vec<WorkerId>,
    pidfd: OwnedFd,
    killed: bool,
}

/// A descendant seen in a worker's tree.
#[derive(Clone, Copy, Debug)]
struct Known {
    start_time: u64,
    killed: bool,
}

/// A registered worker.
#[derive(Debug)]
struct Entry {
    /// `None` while the spawn is under way: its leader carries the marker
    /// (and may already sit in the cgroup) but is no stray.
    leader: Option<i32>,
    /// Start of its leader, in ticks after boot (an earlier bound while
    /// spawning).
    started: u64,
    known: HashMap<i32, Known>,
}

#[derive(Debug)]
struct Ended {
    id: WorkerId,
    started: u64,
    ended: u64,
    at: Instant,
    known: Vec<i32>,
}

/// Changes of one worker's descendants not yet taken by [`take_records`]:
/// `(pid, start time) → alive`.
type Changes = BTreeMap<(i32, u64), bool>;

#[derive(Debug, Default)]
struct Ledger {
    workers: HashMap<WorkerId, Entry>,
    /// Leader pid (= process group) → worker.
    leaders: HashMap<i32, WorkerId>,
    /// Every remembered descendant: pid → (worker, start time).
    known: HashMap<i32, (WorkerId, u64)>,
    /// Recently ended workers, oldest first.
    ended: VecDeque<Ended>,
    /// Groups of exited workers whose leftovers were not all reaped in time.
    retired_groups: HashMap<i32, WorkerId>,
    /// Worker cgroups that could not be removed yet.
    cgroups: Vec<CgroupDir>,
    strays: HashMap<i32, Stray>,
    /// Host children that are not Warden's (pid → start time), read once.
    foreign: HashMap<i32, u64>,
    records: HashMap<WorkerId, Changes>,
    buf: Vec<u8>,
    kids: Vec<i32>,
    sorted: Vec<(i32, u64)>,
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
    ledger().workers.insert(
        id,
        Entry {
            leader: None,
            started: procfs::boot_ticks_now(),
            known: HashMap::new(),
        },
    );
}

/// The worker's leader exists; it started at `start_time` (ticks).
pub(crate) fn spawned(id: WorkerId, pid: i32, start_time: u64) {
    let mut l = ledger();
    if let Some(entry) = l.workers.get_mut(&id) {
        entry.leader = Some(pid);
        entry.started = entry.started.min(start_time);
    }
    l.leaders.insert(pid, id);
    l.strays.remove(&pid);
    l.foreign.remove(&pid);
}

/// The worker is gone (spawn failed, or its leader was reaped). It still
/// explains, for a while, processes started during its life.
pub(crate) fn forget(id: WorkerId) {
    let mut l = ledger();
    let Some(entry) = l.workers.remove(&id) else {
        return;
    };
    if let Some(pid) = entry.leader {
        l.leaders.remove(&pid);
    }
    l.records.remove(&id);
    l.ended.push_back(Ended {
        id,
        started: entry.started,
        ended: procfs::boot_ticks_now(),
        at: Instant::now(),
        known: entry.known.into_keys().collect(),
    });
    while l.ended.len() > MAX_ENDED {
        l.expire_oldest();
    }
}

/// Records the descendants `found` in worker `id`'s tree now, as
/// `(pid, start time)`; forgets remembered ones that died. Returns how
/// many it remembers.
pub(crate) fn note_tree(id: WorkerId, found: &[(i32, u64)]) -> usize {
    let mut l = ledger();
    let Ledger {
        workers,
        known,
        records,
        buf,
        sorted,
        ..
    } = &mut *l;
    let Some(entry) = workers.get_mut(&id) else {
        return 0;
    };
    for &(pid, start_time) in found {
        let fresh = match entry.known.get(&pid) {
            Some(k) => k.start_time != start_time,
            None => entry.known.len() < MAX_KNOWN,
        };
        if fresh {
            entry.known.insert(
                pid,
                Known {
                    start_time,
                    killed: false,
                },
            );
            known.insert(pid, (id, start_time));
            change(records.entry(id).or_default(), (pid, start_time), true);
        }
    }
    if entry.known.len() > found.len() {
        sorted.clear();
        sorted.extend_from_slice(found);
        sorted.sort_unstable();
        entry.known.retain(|&pid, k| {
            let seen = sorted.binary_search(&(pid, k.start_time)).is_ok();
            if seen || alive(pid, k.start_time, buf) {
                return true;
            }
            if known.get(&pid).is_some_and(|(owner, _)| *owner == id) {
                known.remove(&pid);
            }
            change(records.entry(id).or_default(), (pid, k.start_time), false);
            false
        });
    }
    entry.known.len()
}

/// Walks worker `id`'s process tree from its leader now and records it
/// (see [`note_tree`]).
pub(crate) fn learn_tree(id: WorkerId, leader: i32) {
    let mut buf = Vec::with_capacity(4096);
    let mut pending = Vec::new();
    let mut found = Vec::new();
    if procfs::children_of_all_threads(&leader.to_string(), &mut buf, &mut pending).is_err() {
        return;
    }
    while let Some(pid) = pending.pop() {
        if found.len() >= MAX_KNOWN {
            break;
        }
        let Ok(stat) = procfs::read_stat(pid, &mut buf) else {
            continue;
        };
        if stat.is_dead() {
            continue;
        }
        found.push((pid, stat.start_time));
        let _ = procfs::children_of_all_threads(&pid.to_string(), &mut buf, &mut pending);
    }
    note_tree(id, &found);
}

/// A change for the registry: a found then gone pair never taken cancels.
fn change(changes: &mut Changes, key: (i32, u64), alive: bool) {
    match changes.get(&key) {
        Some(true) if !alive => {
            changes.remove(&key);
        }
        _ => {
            changes.insert(key, alive);
        }
    }
}

/// One worker's descendant changes: `(worker, found, gone)`, each as
/// `(pid, start time)`.
pub(crate) type Record = (WorkerId, Vec<(i32, u64)>, Vec<(i32, u64)>);

/// Descendant changes of the workers `ids` (those one monitor watches)
/// since they were last taken.
pub(crate) fn take_records(ids: impl Iterator<Item = WorkerId>) -> Vec<Record> {
    let mut l = ledger();
    if l.records.is_empty() {
        return Vec::new();
    }
    ids.filter_map(|id| {
        let changes = l.records.remove(&id)?;
        let (found, gone): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(_, a)| *a);
        Some((
            id,
            found.into_iter().map(|(k, _)| k).collect(),
            gone.into_iter().map(|(k, _)| k).collect(),
        ))
    })
    .collect()
}

/// Kills what is left of worker `id` whose leader has died (and is not
/// reaped yet, so its group number is still its own): host children
/// attributed to it and the descendants remembered for it. Reaps those
/// already dead. Returns how many are still to be reaped; call again until
/// 0. The caller has already sent `SIGKILL` to the group (and the cgroup).
pub(crate) fn kill_leftovers(id: WorkerId) -> Leftovers {
    let mut l = ledger();
    l.scan();
    let mut signalled = 0;
    for stray in l
        .strays
        .values_mut()
        .filter(|s| s.owners.contains(&id) && !s.killed)
    {
        stray.killed = true;
        // ESRCH: already dead, which is what we want.
        let _ = pidfd_send_signal(&stray.pidfd, Signal::KILL);
        signalled += 1;
    }
    let Ledger {
        workers,
        strays,
        buf,
        ..
    } = &mut *l;
    if let Some(entry) = workers.get_mut(&id) {
        for (&pid, k) in entry.known.iter_mut().filter(|(_, k)| !k.killed) {
            k.killed = true;
            if !strays.contains_key(&pid) && signal_checked(pid, k.start_time, Signal::KILL, buf) {
                signalled += 1;
            }
        }
    }
    l.reap_dead();
    let pending = l.strays.values().filter(|s| s.owners.contains(&id)).count();
    Leftovers { signalled, pending }
}

/// Gives up waiting for `id`'s leftovers: its group is remembered so a
/// later sweep can still attribute and reap its zombies.
pub(crate) fn retire_group(id: WorkerId, pgid: i32) {
    ledger().retired_groups.insert(pgid, id);
}

/// A worker cgroup to remove once its last process is gone (the sweep
/// tries again).
pub(crate) fn retire_cgroup(dir: CgroupDir) {
    ledger().cgroups.push(dir);
}

/// What [`kill_leftovers`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Leftovers {
    /// Signalled by this call.
    pub(crate) signalled: usize,
    /// Attributed to the worker and not reaped yet.
    pub(crate) pending: usize,
}

/// Sends `sig` to the strays and remembered descendants of a live worker
/// (used by a graceful stop, after [`learn_tree`]).
pub(crate) fn signal_descendants(id: WorkerId, sig: Signal) -> usize {
    let mut l = ledger();
    l.scan();
    let mut n = 0;
    for stray in l.strays.values().filter(|s| s.owners.contains(&id)) {
        if pidfd_send_signal(&stray.pidfd, sig).is_ok() {
            n += 1;
        }
    }
    let Ledger {
        workers,
        strays,
        buf,
        ..
    } = &mut *l;
    if let Some(entry) = workers.get(&id) {
        for (&pid, k) in &entry.known {
            if !strays.contains_key(&pid) && signal_checked(pid, k.start_time, sig, buf) {
                n += 1;
            }
        }
    }
    n
}

/// One periodic pass: attributes new host children, kills strays whose
/// worker is gone, reaps the dead, retries cgroups left to remove.
/// Appends `(owner, pid)` of every live stray to `owned` (once per owner),
/// for resource accounting.
pub(crate) fn sweep(owned: &mut Vec<(WorkerId, i32)>) -> SweepReport {
    let mut l = ledger();
    while l
        .ended
        .front()
        .is_some_and(|e| e.at.elapsed() >= ENDED_KEPT)
    {
        l.expire_oldest();
    }
    l.scan();
    let mut report = SweepReport::default();
    let Ledger {
        strays, workers, ..
    } = &mut *l;
    for stray in strays.values_mut() {
        if !stray.killed && stray.owners.iter().any(|o| !workers.contains_key(o)) {
            stray.killed = true;
            if pidfd_send_signal(&stray.pidfd, Signal::KILL).is_ok() {
                report.killed += 1;
            }
        }
    }
    report.reaped += l.reap_dead();
    for (pid, stray) in &l.strays {
        owned.extend(stray.owners.iter().map(|o| (*o, *pid)));
    }
    l.cgroups.retain(|dir| match dir.remove() {
        Ok(()) => false,
        Err(e) => {
            tracing::debug!(dir = %dir.path().display(), error = %e, "worker cgroup not removable yet");
            true
        }
    });
    report
}

/// What one [`sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SweepReport {
    pub(crate) killed: usize,
    pub(crate) reaped: usize,
}

/// How a host child was attributed.
enum Attribution {
    /// To these workers.
    Owners(Vec<WorkerId>),
    /// Part of a worker being spawned: look again later.
    Spawning,
    /// A zombie no worker explains, outside the host's session.
    OrphanZombie,
    /// Not Warden's.
    Foreign,
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
        let owners = match self.attribute(pid, &stat) {
            Attribution::Owners(owners) => Some(owners),
            Attribution::OrphanZombie => None,
            Attribution::Spawning => return,
            Attribution::Foreign => {
                self.foreign.insert(pid, stat.start_time);
                return;
            }
        };
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
        match owners {
            Some(owners) => {
                tracing::debug!(pid, workers = ?owners, "attributed an escaped process");
                self.strays.insert(
                    pid,
                    Stray {
                        owners,
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

    /// The rules of the module docs, in order.
    fn attribute(&mut self, pid: i32, stat: &Stat) -> Attribution {
        if let Ok(Some(path)) = procfs::cgroup_of(pid, &mut self.buf)
            && let Some(owner) = cgroup::owner_of(&path)
        {
            return self.single(owner);
        }
        if let Some(&owner) = self
            .leaders
            .get(&stat.pgrp)
            .or_else(|| self.retired_groups.get(&stat.pgrp))
        {
            return self.single(owner);
        }
        if let Some(&(owner, start_time)) = self.known.get(&pid)
            && start_time == stat.start_time
        {
            return self.single(owner);
        }
        if !stat.is_dead()
            && let Ok(Some(text)) = procfs::environ_value(pid, INVOCATION_ENV, &mut self.buf)
            && let Ok(owner) = text.parse::<WorkerId>()
        {
            return self.single(owner);
        }
        if HOST_SESSION.is_some_and(|host| stat.session != host) {
            let owners = self.alive_at(stat.start_time);
            if !owners.is_empty() {
                return Attribution::Owners(owners);
            }
            if stat.is_dead() {
                return Attribution::OrphanZombie;
            }
        }
        Attribution::Foreign
    }

    fn single(&self, owner: WorkerId) -> Attribution {
        match self.workers.get(&owner) {
            Some(entry) if entry.leader.is_none() => Attribution::Spawning,
            _ => Attribution::Owners(vec![owner]),
        }
    }

    /// Every worker, registered or recently ended, that ran at `ticks`.
    ///
    /// An ended worker counts only if the process started in a tick
    /// strictly before the one it was forgotten in: its replacement's
    /// processes may start within the same tick (10 ms), while its own
    /// were attributed by its exit task's scan before it was forgotten.
    fn alive_at(&self, ticks: u64) -> Vec<WorkerId> {
        let mut owners: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, e)| e.started <= ticks)
            .map(|(id, _)| *id)
            .collect();
        owners.extend(
            self.ended
                .iter()
                .filter(|e| e.started <= ticks && ticks < e.ended)
                .map(|e| e.id),
        );
        owners.sort_unstable();
        owners
    }

    fn expire_oldest(&mut self) {
        if let Some(old) = self.ended.pop_front() {
            for pid in old.known {
                if self
                    .known
                    .get(&pid)
                    .is_some_and(|(owner, _)| *owner == old.id)
                {
                    self.known.remove(&pid);
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
                tracing::debug!(pid, workers = ?stray.owners, "reaped an escaped process");
            }
            !done
        });
        before - self.strays.len()
    }
}

/// Whether `pid` is the live (not zombie) process that started at `start_time`.
fn alive(pid: i32, start_time: u64, buf: &mut Vec<u8>) -> bool {
    procfs::read_stat(pid, buf).is_ok_and(|s| s.start_time == start_time && !s.is_dead())
}

/// Sends `sig` to `pid` if, checked after its pidfd was opened, it is still
/// the process that started at `start_time`. Returns whether it was sent.
fn signal_checked(pid: i32, start_time: u64, sig: Signal, buf: &mut Vec<u8>) -> bool {
    let Some(raw) = Pid::from_raw(pid) else {
        return false;
    };
    let Ok(pidfd) = pidfd_open(raw, PidfdFlags::empty()) else {
        return false;
    };
    alive(pid, start_time, buf) && pidfd_send_signal(&pidfd, sig).is_ok()
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
