//! Naming processes so that a reused pid is never mistaken for the process
//! Warden started.
//!
//! Owns: [`ProcessIdentity`] (pid + start time + boot id), [`WorkerId`] (the
//! random id of one incarnation, also given to the worker in its environment
//! as [`INVOCATION_ENV`]) and the comparison of a recorded identity with the
//! live system.
//!
//! Guarantees: [`ProcessIdentity::check`] answers [`Liveness::Same`] only when
//! the pid is alive *and* its start time and the boot id both match.
//!
//! Must never: signal anything; callers decide what a match allows.

use std::fmt;
use std::io;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::procfs;

/// The environment variable every worker receives, holding its [`WorkerId`]
/// (as systemd gives each service `INVOCATION_ID`). Processes a worker starts
/// inherit it, which is how Warden recognises a worker's descendants that
/// left its process group (double fork + `setsid`), both while the host runs
/// and when a restarted host recovers orphans.
pub const INVOCATION_ENV: &str = "WARDEN_INVOCATION_ID";

/// One process, named so that pid reuse cannot fool a check: the pid, its
/// start time in clock ticks after boot (field 22 of `/proc/PID/stat`), and
/// the boot id (`/proc/sys/kernel/random/boot_id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// When it started, in clock ticks after boot (`starttime` in
    /// `/proc/PID/stat`; `sysconf(_SC_CLK_TCK)` ticks a second, usually
    /// 100): two processes given the same pid in one boot differ here.
    pub start_time: u64,
    /// The kernel's boot id (a UUID): a start time means nothing after a
    /// reboot.
    pub boot_id: String,
}

/// What became of a recorded process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// The same process is still there (it may be a zombie).
    Same,
    /// No process has this pid.
    Gone,
    /// The pid belongs to another process now (its start time differs).
    Reused,
    /// The identity was recorded during another boot.
    OtherBoot,
}

impl ProcessIdentity {
    /// The identity of the live process `pid`.
    pub fn of(pid: u32) -> io::Result<Self> {
        let raw = raw_pid(pid)?;
        let stat = procfs::read_stat(raw, &mut Vec::new())?;
        Ok(Self {
            pid,
            start_time: stat.start_time,
            boot_id: procfs::boot_id()?.to_owned(),
        })
    }

    /// Compares this identity with what the system shows now.
    pub fn check(&self) -> io::Result<Liveness> {
        if self.boot_id != procfs::boot_id()? {
            return Ok(Liveness::OtherBoot);
        }
        let Ok(raw) = raw_pid(self.pid) else {
            return Ok(Liveness::Gone);
        };
        match procfs::read_stat(raw, &mut Vec::new()) {
            Ok(stat) if stat.start_time == self.start_time => Ok(Liveness::Same),
            Ok(_) => Ok(Liveness::Reused),
            Err(e) if procfs::is_gone(&e) => Ok(Liveness::Gone),
            Err(e) => Err(e),
        }
    }

    /// Whether the live process with this pid is the one recorded.
    /// Any doubt (an unreadable `/proc`) answers `false`.
    pub fn is_same_process(&self) -> bool {
        matches!(self.check(), Ok(Liveness::Same))
    }
}

/// Whether the live process with `identity.pid` is the one recorded.
pub fn is_same_process(identity: &ProcessIdentity) -> bool {
    identity.is_same_process()
}

pub(crate) fn raw_pid(pid: u32) -> io::Result<i32> {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid pid {pid}")))
}

/// The random id of one worker incarnation: 128 bits shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(u128);

impl WorkerId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(fastrand::u128(..))
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkerId({self})")
    }
}

/// The text was not 32 hex digits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not a worker id (32 hex digits)")]
pub struct BadWorkerId(pub String);

impl FromStr for WorkerId {
    type Err = BadWorkerId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(BadWorkerId(s.to_owned()));
        }
        u128::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| BadWorkerId(s.to_owned()))
    }
}

impl Serialize for WorkerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WorkerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_identity_matches_and_a_wrong_start_time_does_not() {
        let me = ProcessIdentity::of(std::process::id()).expect("identity");
        assert!(me.is_same_process());
        let reused = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert_eq!(reused.check().expect("check"), Liveness::Reused);
        let other_boot = ProcessIdentity {
            boot_id: "not-this-boot".into(),
            ..me
        };
        assert_eq!(other_boot.check().expect("check"), Liveness::OtherBoot);
    }

    #[test]
    fn worker_id_round_trips() {
        let id = WorkerId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<WorkerId>().expect("parses"), id);
        assert!("xyz".parse::<WorkerId>().is_err());
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(serde_json::from_str::<WorkerId>(&json).expect("back"), id);
    }
}
