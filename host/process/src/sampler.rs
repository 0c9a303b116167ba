//! Measuring one worker from `/proc`: memory, CPU, descriptors, threads,
//! processes and runtime.
//!
//! Owns: [`WorkerStats`] and the per-worker [`Sampler`] the monitor keeps.
//!
//! What "the worker" means here: its main process, every descendant reachable
//! through `/proc/PID/task/TID/children` (that is, its process tree, whatever
//! group they moved to), plus the escaped descendants the reaper attributed
//! to it. The tree is what a worker is responsible for, as a cgroup would be;
//! the process group alone would miss children that called `setpgid` and a
//! group scan would need all of `/proc` at every poll.
//! - memory: the sum of RSS over those processes (shared pages are counted
//!   once per process, as `ps` does: an overestimate, never an underestimate);
//! - CPU time: main process (including children it reaped) plus live
//!   descendants; CPU % is its change over the last interval;
//! - open files: the most held by any one of them (`RLIMIT_NOFILE` is per
//!   process);
//! - threads and processes: sums.
//!
//! Guarantees: an idle single-process worker costs three syscalls per
//! sample (a `pread` of its kept-open `stat`, a `pread` of its kept-open
//! `children`, an `lseek` + `getdents` of its kept-open `fd` directory), and
//! no allocation; buffers live in [`Scratch`], shared by all samplers.
//!
//! Must never: signal anything (the monitor decides).

use std::io;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::procfs::{self, ChildrenFile, FdDir, StatFile};
use crate::now_ms;

/// The most processes one sample walks (a fork bomb must not stall the
/// monitor); beyond it the counts are lower bounds.
const MAX_TREE: usize = 4096;

/// One measurement of a worker: its main process, its process tree and its
/// escaped descendants (RSS summed, CPU summed, open files the most held by
/// one process, threads and processes summed).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerStats {
    /// The worker's main process.
    pub pid: u32,
    /// Resident memory summed over its live processes, in bytes (shared
    /// pages counted once per process, as `ps` does).
    pub rss_bytes: u64,
    /// The highest `rss_bytes` of any sample so far, in bytes.
    pub peak_rss_bytes: u64,
    /// CPU used since the previous sample, in percent of one core (200 =
    /// two cores busy); 0 at the first sample.
    pub cpu_percent: f64,
    /// CPU time (user + system) of the main process, the children it
    /// reaped and its live descendants.
    pub cpu_time: Duration,
    /// The most descriptors open in any one of its processes
    /// (`RLIMIT_NOFILE` is per process).
    pub open_fds: u64,
    /// Threads summed over its live processes.
    pub threads: u64,
    /// Its live processes, the main one included (at most 4096 are walked:
    /// beyond that the counts are lower bounds).
    pub processes: u64,
    /// Time since spawn (monotonic clock).
    pub runtime: Duration,
    /// When the sample was taken, in Unix milliseconds.
    pub sampled_at_ms: i64,
    /// Whether the main process is stopped (`SIGSTOP`, state `T`/`t` in
    /// `/proc`): alive, but answering nothing.
    pub stopped: bool,
}

/// Buffers shared by every sampler of one monitor.
#[derive(Debug)]
pub(crate) struct Scratch {
    buf: Vec<u8>,
    pending: Vec<i32>,
    dirents: Vec<MaybeUninit<u8>>,
    /// The live descendants the last sample walked: (pid, start time).
    pub(crate) found: Vec<(i32, u64)>,
    ticks_per_sec: u64,
    page_size: u64,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::with_capacity(4096),
            pending: Vec::with_capacity(64),
            dirents: vec![MaybeUninit::uninit(); 8192],
            found: Vec::new(),
            ticks_per_sec: procfs::clock_ticks(),
            page_size: procfs::page_size(),
        }
    }
}

/// Kept-open `/proc` files of one worker and what the last sample saw.
#[derive(Debug)]
pub(crate) struct Sampler {
    pid: i32,
    stat: Option<StatFile>,
    children: Option<ChildrenFile>,
    fds: Option<FdDir>,
    last: Option<(Instant, u64)>,
    peak_rss: u64,
}

impl Sampler {
    pub(crate) fn new(pid: i32) -> Self {
        Self {
            pid,
            stat: None,
            children: None,
            fds: None,
            last: None,
            peak_rss: 0,
        }
    }

    /// Samples the worker and its descendants; `extra_roots` are escaped
    /// descendants to count as well.
    pub(crate) fn sample(
        &mut self,
        spawned: Instant,
        extra_roots: &[i32],
        s: &mut Scratch,
    ) -> io::Result<WorkerStats> {
        let pid = self.pid;
        s.found.clear();
        let stat_file = match &self.stat {
            Some(f) => f,
            None => self.stat.insert(StatFile::open(pid)?),
        };
        let leader = stat_file.read(&mut s.buf)?;
        let mut rss_pages = leader.rss_pages;
        let mut ticks = leader.total_ticks();
        let mut threads = leader.threads;
        let mut processes = 1u64;
        let fd_dir = match &self.fds {
            Some(d) => d,
            None => self.fds.insert(FdDir::open(pid)?),
        };
        let mut open_fds = fd_dir.count(&mut s.dirents)?;

        s.pending.clear();
        if leader.threads <= 1 {
            let children = match &self.children {
                Some(c) => c,
                None => self.children.insert(ChildrenFile::open(pid)?),
            };
            children.read(&mut s.buf, &mut s.pending)?;
        } else {
            procfs::children_of_all_threads(&pid.to_string(), &mut s.buf, &mut s.pending)?;
        }
        s.pending.extend_from_slice(extra_roots);

        let mut walked = 0;
        while let Some(child) = s.pending.pop() {
            if walked >= MAX_TREE {
                break;
            }
            walked += 1;
            let Ok(st) = procfs::read_stat(child, &mut s.buf) else {
                continue;
            };
            ticks = ticks.saturating_add(st.total_ticks());
            if st.is_dead() {
                continue;
            }
            s.found.push((child, st.start_time));
            rss_pages = rss_pages.saturating_add(st.rss_pages);
            threads = threads.saturating_add(st.threads);
            processes += 1;
            if let Ok(n) = procfs::count_fds(child, &mut s.dirents) {
                open_fds = open_fds.max(n);
            }
            // A child that exits meanwhile simply has no children to add.
            let _ = procfs::children_of_all_threads(&child.to_string(), &mut s.buf, &mut s.pending);
        }

        let now = Instant::now();
        let cpu_percent = match self.last {
            Some((at, before)) => {
                let secs = now.duration_since(at).as_secs_f64();
                let used = ticks.saturating_sub(before) as f64 / s.ticks_per_sec as f64;
                if secs > 0.0 { 100.0 * used / secs } else { 0.0 }
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        let rss_bytes = rss_pages.saturating_mul(s.page_size);
        self.peak_rss = self.peak_rss.max(rss_bytes);
        Ok(WorkerStats {
            pid: u32::try_from(pid).unwrap_or_default(),
            rss_bytes,
            peak_rss_bytes: self.peak_rss,
            cpu_percent,
            cpu_time: Duration::from_millis(ticks.saturating_mul(1000) / s.ticks_per_sec),
            open_fds,
            threads,
            processes,
            runtime: now.saturating_duration_since(spawned),
            sampled_at_ms: now_ms(),
            stopped: matches!(leader.state, b'T' | b't'),
        })
    }
}
