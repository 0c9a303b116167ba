//! Orphans of a previous host: killing what is left of incarnations that
//! were running when the host died (e.g. `kill -9`), and nothing else.
//!
//! Owns: [`kill_recorded`], given recorded identities (from the registry).
//!
//! For each record: if the boot id differs, or no process has the pid, or
//! the process with that pid started at another time, the pid was reused or
//! the worker is gone: nothing is signalled. Otherwise the worker is alive
//! and everything that is provably its own is killed: the leader, every
//! member of its process group, and every process whose environment carries
//! its [`WorkerId`] in [`INVOCATION_ENV`] (descendants that left the group).
//!
//! Order matters. The verified leader is first *stopped* (`SIGSTOP`), not
//! killed: alive, it holds its group number, so every process found in that
//! group afterwards really is a member (a number is reused only once no
//! process uses it). Members and marker carriers are stopped too, so none
//! can fork; `/proc` is re-scanned until no new one appears; then all of
//! them get `SIGKILL`, and the call waits, up to a bound, for them to die.
//!
//! Guarantees: every signal goes through a pidfd opened before the target
//! was re-checked, so a pid that changes hands meanwhile receives nothing.
//!
//! Must never: signal a process whose identity or membership was not
//! re-checked after its pidfd was opened.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use serde::Serialize;

use super::identity::{INVOCATION_ENV, Liveness, ProcessIdentity, WorkerId, raw_pid};
use super::procfs;

/// How many times groups are re-scanned for members forked meanwhile.
const ROUNDS: usize = 5;
/// How long to wait for killed processes to die.
const DEATH_WAIT: Duration = Duration::from_secs(2);

/// A worker recorded as running by a previous host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedWorker {
    pub identity: ProcessIdentity,
    /// Its [`WorkerId`], when recorded: finds descendants outside its group.
    pub invocation: Option<WorkerId>,
}

/// What [`kill_recorded`] did about one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OrphanOutcome {
    /// The worker was alive: these pids (leader, group members, marked
    /// descendants) were killed.
    Killed {
        pids: Vec<u32>,
        /// Pids still alive when the wait ran out (normally empty).
        survivors: Vec<u32>,
    },
    /// Nothing was signalled: the worker is gone, or its pid now belongs to
    /// another process, or it ran during another boot.
    Gone { why: Liveness },
}

struct Live {
    index: usize,
    pgid: i32,
    invocation: Option<WorkerId>,
    killed: Vec<(u32, OwnedFd)>,
}

/// Kills what is left of each recorded worker (see the module docs).
/// Returns one outcome per record, in order.
pub fn kill_recorded(records: &[RecordedWorker]) -> Vec<io::Result<OrphanOutcome>> {
    let mut outcomes: Vec<Option<io::Result<OrphanOutcome>>> = Vec::with_capacity(records.len());
    let mut live = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    for (index, record) in records.iter().enumerate() {
        match verify_leader(&record.identity, &mut buf) {
            Ok(Ok(pidfd)) => {
                let pid = record.identity.pid;
                let pgid = raw_pid(pid).unwrap_or(0);
                let mut me = Live {
                    index,
                    pgid,
                    invocation: record.invocation,
                    killed: Vec::new(),
                };
                if pidfd_send_signal(&pidfd, Signal::STOP).is_ok() {
                    me.killed.push((pid, pidfd));
                }
                live.push(me);
                outcomes.push(None);
            }
            Ok(Err(why)) => outcomes.push(Some(Ok(OrphanOutcome::Gone { why }))),
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }

    if !live.is_empty() {
        let mut signalled: HashSet<u32> = live
            .iter()
            .flat_map(|l| l.killed.iter().map(|(pid, _)| *pid))
            .collect();
        for _ in 0..ROUNDS {
            let table = match ProcTable::scan(live.iter().any(|l| l.invocation.is_some()), &mut buf)
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot scan /proc for orphan processes");
                    break;
                }
            };
            let mut new = 0;
            for l in &mut live {
                for (pid, start_time) in table.targets(l.pgid, l.invocation) {
                    if signalled.contains(&pid) {
                        continue;
                    }
                    if let Some(pidfd) =
                        open_checked(pid, start_time, l.pgid, l.invocation, &mut buf)
                        && pidfd_send_signal(&pidfd, Signal::STOP).is_ok()
                    {
                        signalled.insert(pid);
                        l.killed.push((pid, pidfd));
                        new += 1;
                    }
                }
            }
            if new == 0 {
                break;
            }
        }
        for (_, pidfd) in live.iter().flat_map(|l| &l.killed) {
            // ESRCH: it died already.
            let _ = pidfd_send_signal(pidfd, Signal::KILL);
        }
        let deadline = Instant::now() + DEATH_WAIT;
        for l in live {
            let mut pids = Vec::with_capacity(l.killed.len());
            let mut survivors = Vec::new();
            for (pid, pidfd) in &l.killed {
                pids.push(*pid);
                if !wait_dead(pidfd, deadline) {
                    survivors.push(*pid);
                }
            }
            pids.sort_unstable();
            outcomes[l.index] = Some(Ok(OrphanOutcome::Killed { pids, survivors }));
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(io::Error::other("orphan record left without outcome"))))
        .collect()
}

/// Opens a pidfd on the recorded leader and checks, after opening it, that
/// the pid is still the recorded process.
fn verify_leader(
    identity: &ProcessIdentity,
    buf: &mut Vec<u8>,
) -> io::Result<Result<OwnedFd, Liveness>> {
    if identity.boot_id != procfs::boot_id()? {
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

/// Opens a pidfd on `pid` and re-checks, after opening it, that it is the
/// process seen in the scan and still belongs to the worker.
fn open_checked(
    pid: u32,
    start_time: u64,
    pgid: i32,
    invocation: Option<WorkerId>,
    buf: &mut Vec<u8>,
) -> Option<OwnedFd> {
    let raw = raw_pid(pid).ok()?;
    let pidfd = pidfd_open(Pid::from_raw(raw)?, PidfdFlags::empty()).ok()?;
    let stat = procfs::read_stat(raw, buf).ok()?;
    if stat.start_time != start_time {
        return None;
    }
    if stat.pgrp == pgid {
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
    fn targets(&self, pgid: i32, invocation: Option<WorkerId>) -> Vec<(u32, u64)> {
        let mut out: Vec<(u32, u64)> = self
            .procs
            .iter()
            .filter(|(_, (g, _))| *g == pgid)
            .map(|(pid, (_, start))| (*pid, *start))
            .collect();
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
