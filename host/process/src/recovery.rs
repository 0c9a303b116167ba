//! Orphans of a previous host: killing what is left of incarnations that
//! were running when the host died (e.g. `kill -9`), and nothing else.
//!
//! Owns: [`kill_recorded`], given recorded workers (from the registry).
//!
//! What is provably a recorded worker's, and so killed:
//! - its cgroup, recorded by name (`warden-<id>`, on a cgroup2
//!   filesystem): every process in it, with `cgroup.kill`;
//! - the leader, if the pid still holds the process that started at the
//!   recorded time during this boot, and then every member of its group;
//! - every process whose environment carries its [`WorkerId`] in
//!   [`INVOCATION_ENV`] (descendants that left the group);
//! - every recorded descendant whose (pid, start time, boot id) still
//!   matches (descendants that left the group *and* dropped the marker,
//!   seen in the worker's tree by the previous host's monitor);
//! - every child, recursively, of a process already taken above.
//!
//! A leader that is gone, or whose pid now holds another process, or that
//! ran during another boot, is left alone, and so is its group number; its
//! cgroup, marked descendants and recorded descendants are still killed
//! (they prove themselves).
//!
//! Order matters. Every process found is first *stopped* (`SIGSTOP`), not
//! killed: a stopped process cannot fork, and a stopped leader holds its
//! group number, so every process found in that group afterwards really is
//! a member (a number is reused only once no process uses it); a stopped
//! parent keeps its children attached. `/proc` is re-scanned until no new
//! one appears; then all of them get `SIGKILL`, and the call waits, up to a
//! bound, for them to die and for the cgroups to empty, then removes those.
//!
//! The gap without a cgroup: a descendant that left the group, dropped the
//! marker and left the tree within one monitor interval before the crash
//! was never recorded, and nothing on the system links it to the worker.
//!
//! Guarantees: every signal goes through a pidfd opened before the target
//! was re-checked, so a pid that changes hands meanwhile receives nothing.
//!
//! Must never: signal a process whose identity or membership was not
//! re-checked after its pidfd was opened.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use serde::Serialize;

use super::cgroup::CgroupDir;
use super::identity::{INVOCATION_ENV, Liveness, ProcessIdentity, WorkerId, raw_pid};
use super::procfs;

/// How many times groups and markers are re-scanned for processes forked
/// meanwhile.
const ROUNDS: usize = 5;
/// How long to wait for killed processes to die.
const DEATH_WAIT: Duration = Duration::from_secs(2);

/// A worker recorded as running by a previous host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordedWorker {
    /// Its leader as recorded at spawn.
    pub identity: ProcessIdentity,
    /// Its [`WorkerId`], when recorded: finds descendants outside its group.
    pub invocation: Option<WorkerId>,
    /// Its own cgroup, when it had one.
    pub cgroup: Option<PathBuf>,
    /// Descendants the previous host saw in its tree.
    pub descendants: Vec<ProcessIdentity>,
}

/// What [`kill_recorded`] did about one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum OrphanOutcome {
    /// Something of the worker was alive: these pids (leader, group
    /// members, cgroup members, marked, recorded and attached descendants)
    /// were killed.
    Killed {
        /// Every process signalled, sorted.
        pids: Vec<u32>,
        /// Pids still alive when the wait ran out (normally empty).
        survivors: Vec<u32>,
    },
    /// Nothing was signalled: the worker and everything provably its own
    /// are gone, or its pid now belongs to another process, or it ran
    /// during another boot.
    Gone {
        /// What became of the leader: gone, its pid reused, or another
        /// boot (`Same` only when it died between its check and its stop).
        why: Liveness,
    },
}

/// One record being handled.
struct Target {
    index: usize,
    /// The verified leader's group, while the leader is held stopped.
    pgid: Option<i32>,
    invocation: Option<WorkerId>,
    why: Liveness,
    cgroup: Option<CgroupDir>,
    /// Every process taken, stopped (or killed through the cgroup).
    taken: Vec<(u32, Option<OwnedFd>)>,
}

/// Kills what is left of each recorded worker (see the module docs).
/// Returns one outcome per record, in order.
pub(crate) fn kill_recorded(records: &[RecordedWorker]) -> Vec<io::Result<OrphanOutcome>> {
    let mut outcomes: Vec<Option<io::Result<OrphanOutcome>>> = Vec::with_capacity(records.len());
    let mut targets = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    let mut taken: HashSet<u32> = HashSet::new();
    let boot = match procfs::boot_id() {
        Ok(boot) => boot,
        Err(e) => {
            let kind = e.kind();
            return records
                .iter()
                .map(|_| {
                    Err(io::Error::new(
                        kind,
                        format!("cannot read the boot id: {e}"),
                    ))
                })
                .collect();
        }
    };
    for (index, record) in records.iter().enumerate() {
        let mut target = Target {
            index,
            pgid: None,
            invocation: record.invocation,
            why: Liveness::Same,
            cgroup: None,
            taken: Vec::new(),
        };
        match verify(&record.identity, boot, &mut buf) {
            Ok(Ok(pidfd)) => {
                if pidfd_send_signal(&pidfd, Signal::STOP).is_ok() {
                    target.pgid = raw_pid(record.identity.pid).ok();
                    taken.insert(record.identity.pid);
                    target.taken.push((record.identity.pid, Some(pidfd)));
                }
            }
            Ok(Err(why)) => target.why = why,
            Err(e) => {
                outcomes.push(Some(Err(e)));
                continue;
            }
        }
        if record.identity.boot_id != boot {
            // Nothing of another boot is left running.
            outcomes.push(Some(Ok(OrphanOutcome::Gone {
                why: Liveness::OtherBoot,
            })));
            continue;
        }
        if let (Some(path), Some(id)) = (&record.cgroup, record.invocation) {
            match CgroupDir::recorded(path, id) {
                Ok(Some(dir)) => {
                    let mut members = Vec::new();
                    let _ = dir.members(&mut members);
                    if let Err(e) = dir.kill() {
                        tracing::warn!(cgroup = %path.display(), error = %e, "cannot kill an orphaned worker's cgroup");
                    }
                    for pid in members.into_iter().filter_map(|p| u32::try_from(p).ok()) {
                        if taken.insert(pid) {
                            target.taken.push((pid, None));
                        }
                    }
                    target.cgroup = Some(dir);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(cgroup = %path.display(), error = %e, "recorded cgroup refused");
                }
            }
        }
        for d in &record.descendants {
            if d.boot_id != boot || taken.contains(&d.pid) {
                continue;
            }
            if let Some(pidfd) = open_if(d.pid, &mut buf, |s| {
                s.start_time == d.start_time && !s.is_dead()
            }) && pidfd_send_signal(&pidfd, Signal::STOP).is_ok()
            {
                taken.insert(d.pid);
                target.taken.push((d.pid, Some(pidfd)));
            }
        }
        targets.push(target);
        outcomes.push(None);
    }

    let scan_table = targets
        .iter()
        .any(|t| t.pgid.is_some() || t.invocation.is_some());
    let with_markers = targets.iter().any(|t| t.invocation.is_some());
    for round in 0..ROUNDS {
        let mut new = 0;
        for t in &mut targets {
            new += take_children(t, &mut taken, &mut buf);
        }
        if scan_table {
            let table = match ProcTable::scan(with_markers, &mut buf) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot scan /proc for orphan processes");
                    break;
                }
            };
            for t in &mut targets {
                for (pid, start_time) in table.targets(t.pgid, t.invocation) {
                    if taken.contains(&pid) {
                        continue;
                    }
                    if let Some(pidfd) =
                        open_checked(pid, start_time, t.pgid, t.invocation, &mut buf)
                        && pidfd_send_signal(&pidfd, Signal::STOP).is_ok()
                    {
                        taken.insert(pid);
                        t.taken.push((pid, Some(pidfd)));
                        new += 1;
                    }
                }
            }
        }
        // At least two rounds: a fork under way when a parent was stopped
        // completes, and its child shows in the second walk.
        if new == 0 && round > 0 {
            break;
        }
    }
    for (_, pidfd) in targets.iter().flat_map(|t| &t.taken) {
        if let Some(pidfd) = pidfd {
            // ESRCH: it died already.
            let _ = pidfd_send_signal(pidfd, Signal::KILL);
        }
    }
    let deadline = Instant::now() + DEATH_WAIT;
    for t in targets {
        let mut pids = Vec::with_capacity(t.taken.len());
        let mut survivors = Vec::new();
        for (pid, pidfd) in &t.taken {
            pids.push(*pid);
            if let Some(pidfd) = pidfd
                && !wait_dead(pidfd, deadline)
            {
                survivors.push(*pid);
            }
        }
        if let Some(dir) = &t.cgroup {
            let left = deadline.saturating_duration_since(Instant::now());
            if dir.wait_empty(left).unwrap_or(false) {
                if let Err(e) = dir.remove() {
                    tracing::warn!(cgroup = %dir.path().display(), error = %e, "cannot remove an orphaned worker's cgroup");
                }
            } else {
                tracing::warn!(cgroup = %dir.path().display(), "an orphaned worker's cgroup did not empty in time");
            }
        }
        pids.sort_unstable();
        outcomes[t.index] = Some(Ok(if pids.is_empty() {
            OrphanOutcome::Gone { why: t.why }
        } else {
            OrphanOutcome::Killed { pids, survivors }
        }));
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(io::Error::other("orphan record left without outcome"))))
        .collect()
}

/// Opens a pidfd on the recorded leader and checks, after opening it, that
/// the pid is still the recorded process.
fn verify(
    identity: &ProcessIdentity,
    boot: &str,
    buf: &mut Vec<u8>,
) -> io::Result<Result<OwnedFd, Liveness>> {
    if identity.boot_id != boot {
        return Ok(Err(Liveness::OtherBoot));
    }
    let Some(pid) = raw_pid(identity.pid).ok().and_then(Pid::from_raw) else {
        return Ok(Err(Liveness::Gone));
    };
    let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(Err(Liveness::Gone)),
        Err(e) => return Err(e.into()),
    };
    match procfs::read_stat(pid.as_raw_nonzero().get(), buf) {
        Ok(stat) if stat.start_time == identity.start_time => Ok(Ok(pidfd)),
        Ok(_) => Ok(Err(Liveness::Reused)),
        Err(e) if procfs::is_gone(&e) => Ok(Err(Liveness::Gone)),
        Err(e) => Err(e),
    }
}

/// Opens a pidfd on `pid` and returns it if the process, read *after*
/// opening it, passes `check`.
fn open_if(
    pid: u32,
    buf: &mut Vec<u8>,
    check: impl FnOnce(&procfs::Stat) -> bool,
) -> Option<OwnedFd> {
    let raw = raw_pid(pid).ok()?;
    let pidfd = pidfd_open(Pid::from_raw(raw)?, PidfdFlags::empty()).ok()?;
    let stat = procfs::read_stat(raw, buf).ok()?;
    check(&stat).then_some(pidfd)
}

/// Stops and takes the children of every process `t` holds stopped
/// (recursively: a stopped parent keeps its children attached). Returns
/// how many it took.
fn take_children(t: &mut Target, taken: &mut HashSet<u32>, buf: &mut Vec<u8>) -> usize {
    let mut new = 0;
    let mut parents: Vec<u32> = t
        .taken
        .iter()
        .filter(|(_, fd)| fd.is_some())
        .map(|(p, _)| *p)
        .collect();
    let mut kids = Vec::new();
    while let Some(parent) = parents.pop() {
        kids.clear();
        if procfs::children_of_all_threads(&parent.to_string(), buf, &mut kids).is_err() {
            continue;
        }
        for &kid in &kids {
            let Ok(kid) = u32::try_from(kid) else {
                continue;
            };
            if taken.contains(&kid) {
                continue;
            }
            let Ok(ppid) = i32::try_from(parent) else {
                continue;
            };
            if let Some(pidfd) = open_if(kid, buf, |s| s.ppid == ppid && !s.is_dead())
                && pidfd_send_signal(&pidfd, Signal::STOP).is_ok()
            {
                taken.insert(kid);
                t.taken.push((kid, Some(pidfd)));
                parents.push(kid);
                new += 1;
            }
        }
    }
    new
}

/// Opens a pidfd on `pid` and re-checks, after opening it, that it is the
/// process seen in the scan and still belongs to the worker.
fn open_checked(
    pid: u32,
    start_time: u64,
    pgid: Option<i32>,
    invocation: Option<WorkerId>,
    buf: &mut Vec<u8>,
) -> Option<OwnedFd> {
    let raw = raw_pid(pid).ok()?;
    let pidfd = open_if(pid, buf, |s| s.start_time == start_time)?;
    let stat = procfs::read_stat(raw, buf).ok()?;
    if pgid.is_some_and(|g| stat.pgrp == g) {
        return Some(pidfd);
    }
    let marker = procfs::environ_value(raw, INVOCATION_ENV, buf).ok()??;
    (invocation.is_some_and(|id| marker.parse::<WorkerId>().ok() == Some(id))).then_some(pidfd)
}

/// Returns whether the process died before `deadline`.
fn wait_dead(pidfd: &OwnedFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// One pass over `/proc`: groups, start times and (if asked) markers.
struct ProcTable {
    /// pid → (pgid, start time).
    procs: HashMap<u32, (i32, u64)>,
    /// worker id → pids carrying it.
    markers: HashMap<WorkerId, Vec<u32>>,
}

impl ProcTable {
    fn scan(with_markers: bool, buf: &mut Vec<u8>) -> io::Result<Self> {
        let mut procs = HashMap::new();
        let mut markers: HashMap<WorkerId, Vec<u32>> = HashMap::new();
        for pid in procfs::all_pids()? {
            let Ok(stat) = procfs::read_stat(pid, buf) else {
                continue;
            };
            let Ok(upid) = u32::try_from(pid) else {
                continue;
            };
            procs.insert(upid, (stat.pgrp, stat.start_time));
            if with_markers
                && !stat.is_dead()
                && let Ok(Some(text)) = procfs::environ_value(pid, INVOCATION_ENV, buf)
                && let Ok(id) = text.parse::<WorkerId>()
            {
                markers.entry(id).or_default().push(upid);
            }
        }
        Ok(Self { procs, markers })
    }

    /// (pid, start time) of the group's members and the marker's carriers.
    fn targets(&self, pgid: Option<i32>, invocation: Option<WorkerId>) -> Vec<(u32, u64)> {
        let mut out: Vec<(u32, u64)> = match pgid {
            Some(pgid) => self
                .procs
                .iter()
                .filter(|(_, (g, _))| *g == pgid)
                .map(|(pid, (_, start))| (*pid, *start))
                .collect(),
            None => Vec::new(),
        };
        if let Some(carriers) = invocation.and_then(|id| self.markers.get(&id)) {
            for pid in carriers {
                if let Some((_, start)) = self.procs.get(pid) {
                    out.push((*pid, *start));
                }
            }
        }
        out
    }
}
