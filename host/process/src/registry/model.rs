//! What the registry stores and answers: rows, statuses, queries, retention.
//!
//! Owns: the data types; [`IncarnationRow`] is what `warden ctl ps --json`
//! prints. Must never: hold a database handle.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ExitInfo, ProcessIdentity, RunningWorker, WorkerId};

/// Where an incarnation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncarnationStatus {
    Running,
    Exited,
    /// Found alive after a host crash and killed.
    OrphanKilled,
    /// Recorded as running after a host crash, but already gone (or its pid
    /// reused): nothing was signalled.
    OrphanGone,
}

impl IncarnationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Exited => "exited",
            Self::OrphanKilled => "orphan_killed",
            Self::OrphanGone => "orphan_gone",
        }
    }
}

impl fmt::Display for IncarnationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not an incarnation status")]
pub struct BadStatus(pub String);

impl FromStr for IncarnationStatus {
    type Err = BadStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "running" => Ok(Self::Running),
            "exited" => Ok(Self::Exited),
            "orphan_killed" => Ok(Self::OrphanKilled),
            "orphan_gone" => Ok(Self::OrphanGone),
            other => Err(BadStatus(other.to_owned())),
        }
    }
}

/// A new incarnation, recorded as `running`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncarnation {
    pub incarnation: WorkerId,
    /// The child's path in the supervision tree.
    pub child: String,
    pub identity: ProcessIdentity,
    pub command: String,
    pub started_at_ms: i64,
    /// Restarts of this child before this incarnation.
    pub restart_count: u32,
    /// The worker's own cgroup, when it has one.
    pub cgroup: Option<PathBuf>,
}

impl NewIncarnation {
    /// The record of a worker just spawned.
    pub fn of_worker(
        child: impl Into<String>,
        worker: &RunningWorker,
        command: impl Into<String>,
        restart_count: u32,
    ) -> Self {
        Self {
            incarnation: worker.id(),
            child: child.into(),
            identity: worker.identity().clone(),
            command: command.into(),
            started_at_ms: worker.started_at_ms(),
            restart_count,
            cgroup: worker.cgroup().map(Path::to_path_buf),
        }
    }
}

/// How an incarnation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncarnationExit {
    pub stopped_at_ms: i64,
    /// [`ExitReason`](crate::ExitReason) as text (`normal`,
    /// `exit_code(3)`, `memory_limit`, …).
    pub reason: String,
    pub peak_memory_bytes: u64,
    pub health: Option<u8>,
}

impl IncarnationExit {
    pub fn of_exit(exit: &ExitInfo, health: Option<u8>) -> Self {
        Self {
            stopped_at_ms: exit.exited_at_ms,
            reason: exit.reason.to_string(),
            peak_memory_bytes: exit.peak_rss_bytes,
            health,
        }
    }
}

/// One stored incarnation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncarnationRow {
    pub id: i64,
    pub incarnation: String,
    pub child: String,
    pub pid: u32,
    pub start_time: u64,
    pub boot_id: String,
    pub command: String,
    pub started_at_ms: i64,
    pub stopped_at_ms: Option<i64>,
    pub exit_reason: Option<String>,
    pub restart_count: u32,
    pub peak_memory_bytes: u64,
    pub health: Option<u8>,
    pub status: IncarnationStatus,
    /// The worker's own cgroup, when it had one.
    pub cgroup: Option<PathBuf>,
}

impl IncarnationRow {
    /// The recorded process identity.
    pub fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
            boot_id: self.boot_id.clone(),
        }
    }
}

/// A filter over incarnations; every set field must match. Newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncarnationQuery {
    pub status: Option<IncarnationStatus>,
    pub child: Option<String>,
    /// Health strictly below this (rows without a health never match).
    pub health_below: Option<u8>,
    /// Started in `[from, to)`, Unix ms.
    pub started_between: Option<(i64, i64)>,
    /// Alive at some moment of `[from, to)`, Unix ms: started before `to`
    /// and not stopped before `from`.
    pub active_between: Option<(i64, i64)>,
    pub limit: Option<u32>,
}

/// How much history is kept. Running incarnations are never deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The newest N incarnations of each child are kept.
    pub keep_per_child: Option<u32>,
    /// Ended incarnations older than this (by stop time) are dropped.
    pub max_age: Option<Duration>,
}

impl Default for Retention {
    /// 100 per child, 30 days.
    fn default() -> Self {
        Self {
            keep_per_child: Some(100),
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// Where the registry lives and what it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    path: PathBuf,
    retention: Retention,
}

impl RegistryConfig {
    /// The database file, e.g. `STATE_DIR/registry.sqlite3` (its directory is
    /// created when opened).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            retention: Retention::default(),
        }
    }

    /// History retention. By default [`Retention::default`].
    pub fn retention(&mut self, retention: Retention) -> &mut Self {
        self.retention = retention;
        self
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn get_retention(&self) -> Retention {
        self.retention
    }
}
