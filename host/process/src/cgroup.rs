//! Containment in cgroup v2: one cgroup per worker incarnation, when the
//! host is allowed to create cgroups below its own.
//!
//! Owns: [`CgroupMode`], finding the host's own cgroup v2 directory and
//! probing it once ([`cgroup_support`]), the cgroup of one worker
//! ([`WorkerCgroup`]: create, adopt the leader, list members, `cgroup.kill`,
//! remove) and a previous host's recorded cgroup ([`CgroupDir::recorded`]).
//!
//! Why: a cgroup is the one mark a descendant cannot shed. Forking,
//! `setsid`, `setpgid`, an empty environment (`env -i`) and re-parenting all
//! keep a process in its cgroup; children start in their parent's. Only a
//! write to a `cgroup.procs` file moves it, which needs write access to the
//! cgroup both sides share (here the host's own): a worker running as
//! another user than the host cannot, a worker running as the same user as
//! a root host can (it could as well kill the host). `cgroup.kill`
//! (Linux ≥ 5.14) kills every member at once, forks in flight included.
//! No controller is enabled: membership is all Warden uses (limits stay
//! rlimits plus polling, see the module docs of [`crate`]).
//!
//! Detection: the cgroup2 mount is read from `/proc/self/mountinfo`, the
//! host's cgroup from `/proc/self/cgroup`; a probe cgroup is created in the
//! host's directory and removed again. Where that fails (no cgroup2 mount,
//! a read-only or undelegated hierarchy, a kernel without `cgroup.kill`),
//! [`CgroupMode::Auto`] falls back to the other trackers (process group,
//! invocation marker, process tree, subreaper: see `reaper.rs`).
//!
//! Each worker's cgroup is `HOST_CGROUP/warden-<worker id>`, so a
//! process's cgroup path names its worker (even after that worker was
//! forgotten, and for a recovering host reading the registry).
//!
//! No window: the standard library cannot spawn into a cgroup
//! (`CLONE_INTO_CGROUP`), so the leader is moved right after `posix_spawn`
//! returns, while it waits at its exec gate (see `worker.rs`): its program
//! runs, and forks, only once the move is done. Moving a process waits for
//! an RCU grace period (~1 ms here, up to ~12 ms measured); mounting
//! cgroup2 with `favordynmods` shortens it.
//!
//! Must never: write anywhere but a cgroup directory named `warden-<id>`
//! (or the probe's `warden-probe-*`) below the host's own, or one recorded
//! in the registry (checked to be on a cgroup2 filesystem and named after
//! its incarnation); or enable a controller.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use serde::{Deserialize, Serialize};

use super::identity::WorkerId;
use super::procfs;

/// `statfs` type of a cgroup v2 filesystem.
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
/// Prefix of every worker cgroup's name.
const PREFIX: &str = "warden-";

/// Whether workers are put in cgroups of their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupMode {
    /// When the host may create cgroups below its own; otherwise workers
    /// are tracked without (see [`cgroup_support`]).
    #[default]
    Auto,
    /// Never: track descendants by group, marker, tree and subreaper only.
    Off,
    /// Always: a worker that cannot get a cgroup is not started.
    Required,
}

/// Why workers cannot be put in cgroups on this host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CgroupUnavailable {
    /// `/proc/self/mountinfo` shows no `cgroup2` mount, or
    /// `/proc/self/cgroup` has no v2 (`0::`) line: a v1-only or hybrid
    /// host.
    #[error("no cgroup v2 filesystem is mounted")]
    NoMount,
    /// The host's cgroup (the path `/proc/self/cgroup` shows) lies outside
    /// the mounted part of the hierarchy, as in a container that mounts
    /// only its own subtree while reporting a path from the root.
    #[error("the host's cgroup {0} is not visible under the cgroup v2 mount")]
    NotVisible(String),
    /// The host may not create a cgroup in its own directory, or may not
    /// move processes there (`cgroup.procs` not writable): the hierarchy is
    /// read-only or not delegated to the host's user.
    #[error("cannot create a cgroup in {dir}: {error}")]
    NotWritable {
        /// The host's own cgroup directory, below the cgroup2 mount.
        dir: PathBuf,
        /// The failed step's I/O error, as text (so the probe's answer,
        /// kept for the whole process, can be cloned to every caller).
        error: String,
    },
    /// A cgroup created below the host's has no `cgroup.kill` file: the
    /// kernel is older than 5.14, so a worker's cgroup could not be killed
    /// in one step.
    #[error("{dir} has no cgroup.kill (Linux 5.14 or later is needed)")]
    NoKill {
        /// The host's own cgroup directory, below the cgroup2 mount.
        dir: PathBuf,
    },
}

/// The host's own cgroup, found writable.
#[derive(Debug)]
struct Parent {
    /// Its directory.
    dir: PathBuf,
    /// Its path as `/proc/PID/cgroup` shows it (`/` for the root).
    path: String,
}

static PARENT: OnceLock<Result<Parent, CgroupUnavailable>> = OnceLock::new();

fn parent() -> Result<&'static Parent, &'static CgroupUnavailable> {
    PARENT.get_or_init(probe).as_ref()
}

/// The directory worker cgroups are created in, or why there is none.
/// Probed once per process (the first call creates and removes a probe
/// cgroup); later calls answer from memory.
pub fn cgroup_support() -> Result<&'static Path, CgroupUnavailable> {
    parent().map(|p| p.dir.as_path()).map_err(Clone::clone)
}

fn probe() -> Result<Parent, CgroupUnavailable> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read("/proc/self/cgroup").unwrap_or_default();
    let path = procfs::parse_cgroup_v2(&own).ok_or(CgroupUnavailable::NoMount)?;
    let path = path.trim_end_matches(" (deleted)").to_owned();
    let (root, mount) = cgroup2_mount(&mountinfo).ok_or(CgroupUnavailable::NoMount)?;
    let below = if root == "/" {
        Some(path.as_str())
    } else {
        path.strip_prefix(root.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let below = below.ok_or_else(|| CgroupUnavailable::NotVisible(path.clone()))?;
    let dir = mount.join(below.trim_start_matches('/'));
    let not_writable = |error: io::Error| CgroupUnavailable::NotWritable {
        dir: dir.clone(),
        error: error.to_string(),
    };
    let probe = dir.join(format!(
        "{PREFIX}probe-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    fs::create_dir(&probe).map_err(not_writable)?;
    let checked = (|| {
        if !probe.join("cgroup.kill").exists() {
            return Err(CgroupUnavailable::NoKill { dir: dir.clone() });
        }
        // Moving a process needs write access to the cgroup.procs of the
        // destination and of the cgroup both sides share (the host's).
        for file in [probe.join("cgroup.procs"), dir.join("cgroup.procs")] {
            OpenOptions::new()
                .write(true)
                .open(&file)
                .map_err(not_writable)?;
        }
        Ok(())
    })();
    let _ = fs::remove_dir(&probe);
    checked?;
    tracing::debug!(dir = %dir.display(), "workers get cgroups of their own");
    Ok(Parent { dir, path })
}

/// (root, mount point) of the first cgroup2 mount in a mountinfo text.
fn cgroup2_mount(mountinfo: &str) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut fields = left.split_whitespace();
        let root = unescape(fields.nth(3)?);
        let mount = unescape(fields.next()?);
        Some((root, PathBuf::from(mount)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The worker a cgroup path (as `/proc/PID/cgroup` shows it) belongs to,
/// when it is a worker cgroup of this host, or below one.
pub(crate) fn owner_of(path: &str) -> Option<WorkerId> {
    let parent = parent().ok()?;
    let rest = if parent.path == "/" {
        path.strip_prefix('/')?
    } else {
        path.strip_prefix(parent.path.as_str())?.strip_prefix('/')?
    };
    let name = rest.split('/').next()?;
    name.strip_prefix(PREFIX)?.parse().ok()
}

/// A cgroup directory: what can be done to one, whoever made it.
#[derive(Debug)]
pub(crate) struct CgroupDir(PathBuf);

impl CgroupDir {
    /// A cgroup a previous host recorded for incarnation `id`: `None`
    /// when it no longer exists. Refused (an error) unless it is named
    /// `warden-<id>` and lives on a cgroup v2 filesystem.
    pub(crate) fn recorded(path: &Path, id: WorkerId) -> io::Result<Option<Self>> {
        let expected = format!("{PREFIX}{id}");
        if path.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("recorded cgroup {} is not named {expected}", path.display()),
            ));
        }
        match rustix::fs::statfs(path) {
            Ok(fs) if u64::try_from(fs.f_type).ok() == Some(CGROUP2_SUPER_MAGIC) => {
                Ok(Some(Self(path.to_path_buf())))
            }
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "recorded cgroup {} is not on a cgroup2 filesystem",
                    path.display()
                ),
            )),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .open(self.0.join(file))?
            .write_all(value.as_bytes())
    }

    /// Kills every process in the cgroup and below it (`cgroup.kill`).
    pub(crate) fn kill(&self) -> io::Result<()> {
        self.write("cgroup.kill", "1")
    }

    /// Whether a live process is in it or below it (zombies are not).
    pub(crate) fn populated(&self) -> io::Result<bool> {
        let events = fs::read_to_string(self.0.join("cgroup.events"))?;
        Ok(events.lines().any(|l| l.trim() == "populated 1"))
    }

    /// Appends the pids in it and in the cgroups below it to `out`.
    pub(crate) fn members(&self, out: &mut Vec<i32>) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut dirs = vec![self.0.clone()];
        while let Some(dir) = dirs.pop() {
            buf.clear();
            io::Read::read_to_end(&mut fs::File::open(dir.join("cgroup.procs"))?, &mut buf)?;
            procfs::parse_pids(&buf, out);
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    dirs.push(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Waits (up to `within`) until no live process is left in it.
    pub(crate) fn wait_empty(&self, within: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + within;
        loop {
            if !self.populated()? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Removes it and the cgroups a worker may have made below it; fails
    /// (`EBUSY`) while a live process is in one of them.
    pub(crate) fn remove(&self) -> io::Result<()> {
        remove_tree(&self.0)
    }
}

fn remove_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The cgroup of one worker incarnation, below the host's.
#[derive(Debug)]
pub(crate) struct WorkerCgroup {
    id: WorkerId,
    dir: CgroupDir,
    /// Removed, or handed to the sweep to remove.
    settled: AtomicBool,
}

impl WorkerCgroup {
    /// Creates `HOST_CGROUP/warden-<id>`.
    pub(crate) fn create(id: WorkerId) -> Result<Self, CgroupUnavailable> {
        let parent = parent().map_err(Clone::clone)?;
        let dir = parent.dir.join(format!("{PREFIX}{id}"));
        fs::create_dir(&dir).map_err(|e| CgroupUnavailable::NotWritable {
            dir: dir.clone(),
            error: e.to_string(),
        })?;
        Ok(Self {
            id,
            dir: CgroupDir(dir),
            settled: AtomicBool::new(false),
        })
    }

    pub(crate) fn dir(&self) -> &CgroupDir {
        &self.dir
    }

    /// Moves process `pid` into the cgroup (its children forked later are
    /// born there).
    pub(crate) fn adopt(&self, pid: i32) -> io::Result<()> {
        self.dir.write("cgroup.procs", &pid.to_string())
    }

    /// Sends `sig` to every member, each checked (after its pidfd was
    /// opened) to be in this worker's cgroup still. Returns how many.
    pub(crate) fn signal_members(&self, sig: Signal) -> usize {
        let mut pids = Vec::new();
        if self.dir.members(&mut pids).is_err() {
            return 0;
        }
        let mut buf = Vec::new();
        let mut sent = 0;
        for pid in pids {
            let Some(raw) = Pid::from_raw(pid) else {
                continue;
            };
            let Ok(pidfd) = pidfd_open(raw, PidfdFlags::empty()) else {
                continue;
            };
            let ours = procfs::cgroup_of(pid, &mut buf)
                .ok()
                .flatten()
                .and_then(|path| owner_of(&path))
                == Some(self.id);
            if ours && pidfd_send_signal(&pidfd, sig).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// Removes the cgroup once its worker has been reaped, or leaves it to
    /// the sweep when a process in it has not died yet.
    pub(crate) fn settle(&self) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.dir.remove() {
            tracing::debug!(dir = %self.dir.0.display(), error = %e, "cannot remove a worker cgroup yet");
            super::reaper::retire_cgroup(CgroupDir(self.dir.0.clone()));
        }
    }
}

impl Drop for WorkerCgroup {
    /// Kills what is left and removes the cgroup. The exit task has
    /// normally done both; this covers a runtime shut down under it.
    fn drop(&mut self) {
        if *self.settled.get_mut() {
            return;
        }
        let _ = self.dir.kill();
        let _ = self.dir.wait_empty(Duration::from_millis(200));
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_and_unescapes_it() {
        let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                    41 31 0:38 /sub /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(info),
            Some(("/sub".to_owned(), PathBuf::from("/sys/fs/cgroup/uni fied")))
        );
        assert_eq!(cgroup2_mount("1 2 3:4 / /x rw - ext4 /dev/sda rw\n"), None);
    }

    #[test]
    fn a_recorded_cgroup_must_carry_its_incarnation_name() {
        let id = WorkerId::random();
        let err = CgroupDir::recorded(Path::new("/etc"), id).expect_err("wrong name");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let dir = tempfile::tempdir().expect("tempdir");
        let named = dir.path().join(format!("{PREFIX}{id}"));
        std::fs::create_dir(&named).expect("mkdir");
        let err = CgroupDir::recorded(&named, id).expect_err("not a cgroup fs");
        assert!(err.to_string().contains("cgroup2"), "{err}");
        assert!(
            CgroupDir::recorded(&dir.path().join("gone").join(format!("{PREFIX}{id}")), id)
                .expect("absent is fine")
                .is_none()
        );
    }
}
