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
    /// Started and not known to have ended. After a host crash, such rows
    /// are what [`recover_orphans`](super::recover_orphans) handles.
    Running,
    /// Ended while its host watched; the row has its stop time and reason.
    Exited,
    /// Found alive after a host crash and killed.
    OrphanKilled,
    /// Recorded as running after a host crash, but already gone (or its pid
    /// reused): nothing was signalled.
    OrphanGone,
}

impl IncarnationStatus {
    /// The name stored in the `status` column and serialized:
    /// `running`, `exited`, `orphan_killed`, `orphan_gone`.
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
    /// The worker's random id; the row's unique key.
    pub incarnation: WorkerId,
    /// The child's path in the supervision tree.
    pub child: String,
    /// Its main process, as orphan recovery will check it.
    pub identity: ProcessIdentity,
    /// The command line, for people
    /// ([`WorkerSpec::command_line`](crate::WorkerSpec::command_line)).
    pub command: String,
    /// When it was spawned, in Unix milliseconds.
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
    /// When its death was seen, in Unix milliseconds.
    pub stopped_at_ms: i64,
    /// [`ExitReason`](crate::ExitReason) as text (`normal`,
    /// `exit_code(3)`, `memory_limit`, …).
    pub reason: String,
    /// The highest resident memory seen, in bytes (the row keeps the
    /// larger of this and what samples recorded).
    pub peak_memory_bytes: u64,
    /// The last health score, 0–100; `None` keeps the row's value (a
    /// worker never scored has none).
    pub health: Option<u8>,
}

impl IncarnationExit {
    /// The record of `exit`, with the last health score the caller saw
    /// ([`RunningWorker::health`](crate::RunningWorker::health)).
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
    /// The row's id (its SQLite rowid).
    pub id: i64,
    /// The incarnation's [`WorkerId`] as stored, 32 hex digits (`parse`
    /// it back).
    pub incarnation: String,
    /// The child's path in the supervision tree.
    pub child: String,
    /// Its main process's pid.
    pub pid: u32,
    /// That process's start time, in clock ticks after boot (see
    /// [`ProcessIdentity`]).
    pub start_time: u64,
    /// The boot it ran in.
    pub boot_id: String,
    /// The command line, for people.
    pub command: String,
    /// When it was spawned, in Unix milliseconds.
    pub started_at_ms: i64,
    /// When it ended (or was found dead or killed as an orphan), in Unix
    /// milliseconds; `None` while `running`.
    pub stopped_at_ms: Option<i64>,
    /// [`ExitReason`](crate::ExitReason) as text, or `orphan_killed`,
    /// `orphan_gone(pid_reused)`…; `None` while `running`.
    pub exit_reason: Option<String>,
    /// Restarts of this child before this incarnation.
    pub restart_count: u32,
    /// The highest resident memory recorded, in bytes (0 when never
    /// sampled).
    pub peak_memory_bytes: u64,
    /// The last health score recorded, 0–100; `None` when never scored.
    pub health: Option<u8>,
    /// Where it stands.
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
    /// Only rows in this status.
    pub status: Option<IncarnationStatus>,
    /// Only this child's rows (its exact path in the tree).
    pub child: Option<String>,
    /// Health strictly below this (rows without a health never match).
    pub health_below: Option<u8>,
    /// Started in `[from, to)`, Unix ms.
    pub started_between: Option<(i64, i64)>,
    /// Alive at some moment of `[from, to)`, Unix ms: started before `to`
    /// and not stopped before `from`.
    pub active_between: Option<(i64, i64)>,
    /// At most this many rows (the newest).
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

/// One call recorded in the audit log (what the HTTP API's audit hook
/// reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the call arrived, in Unix milliseconds.
    pub at_ms: i64,
    /// The caller's token name.
    pub token: String,
    /// The operation called.
    pub op: String,
    /// SHA-256 (hex) of the params as sent; `None` when they were never
    /// read.
    pub params_sha256: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, or the error's kind.
    pub outcome: String,
    /// How long the call took, in microseconds.
    pub duration_us: u64,
}

/// One stored audit row (`audit.recent`, `warden ctl audit --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// The row's id (its SQLite rowid): later calls have larger ids.
    pub id: i64,
    /// When the call arrived, in Unix milliseconds.
    pub at_ms: i64,
    /// The caller's token name.
    pub token: String,
    /// The operation called.
    pub op: String,
    /// SHA-256 (hex) of the params as sent; `None` when never read.
    pub params_sha256: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, or the error's kind (`forbidden_role`, `not_found`, …).
    pub outcome: String,
    /// How long the call took, in microseconds.
    pub duration_us: u64,
}

/// A filter over the audit log; every set field must match. Newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only calls at or after this Unix millisecond.
    pub since_ms: Option<i64>,
    /// Only calls of this operation.
    pub op: Option<String>,
    /// Only calls with this token name.
    pub token: Option<String>,
    /// At most this many rows (the newest).
    pub limit: u32,
}

impl Default for AuditQuery {
    /// Everything, the newest 100 rows.
    fn default() -> Self {
        Self {
            since_ms: None,
            op: None,
            token: None,
            limit: 100,
        }
    }
}

/// How many audit rows are kept by default (the newest).
pub const DEFAULT_AUDIT_KEEP: u32 = 100_000;

/// How many events are kept by default (the newest).
pub const DEFAULT_KEEP_EVENTS: u32 = 100_000;

/// How many reload versions are kept per child by default (the newest).
pub const DEFAULT_KEEP_VERSIONS: u32 = 20;

/// One event of the host's event history, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Its number in the host's event log; grows across host restarts.
    pub seq: u64,
    /// When it happened, in Unix milliseconds.
    pub at_ms: i64,
    /// The child (or supervisor) it is about.
    pub path: String,
    /// Its kind (`child_started`, `reloaded`, …).
    pub kind: String,
    /// The event as JSON, exactly as `events.recent` shows it.
    pub body: String,
}

/// A filter over the event history; every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events numbered below this.
    pub before_seq: Option<u64>,
    /// Only events about this path or below it.
    pub child: Option<String>,
    /// Only these kinds; empty: all.
    pub kinds: Vec<String>,
    /// At most this many (the newest).
    pub limit: u32,
}

/// One reload version of a component child, as stored (never its code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRow {
    /// When the host run that loaded it started (Unix ms): version numbers
    /// start at 1 again in every run.
    pub run_ms: i64,
    /// The child's path.
    pub path: String,
    /// Its number within its run.
    pub version: u64,
    /// SHA-256 of the component's bytes, hex.
    pub hash: String,
    /// The file it was read from.
    pub source: String,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// How it went, as JSON (`{"outcome": "reloaded"}`, …).
    pub outcome: String,
    /// How long the reload took.
    pub duration_ms: u64,
}

/// Where the registry lives and what it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    path: PathBuf,
    retention: Retention,
    audit_keep: u32,
    keep_events: u32,
    keep_versions: u32,
}

impl RegistryConfig {
    /// The database file, e.g. `STATE_DIR/registry.sqlite3` (its directory is
    /// created when opened).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            retention: Retention::default(),
            audit_keep: DEFAULT_AUDIT_KEEP,
            keep_events: DEFAULT_KEEP_EVENTS,
            keep_versions: DEFAULT_KEEP_VERSIONS,
        }
    }

    /// How many events are kept (the newest; at least one). By default
    /// [`DEFAULT_KEEP_EVENTS`].
    pub fn keep_events(&mut self, rows: u32) -> &mut Self {
        self.keep_events = rows.max(1);
        self
    }

    /// The events kept, set with [`keep_events`](Self::keep_events).
    pub fn get_keep_events(&self) -> u32 {
        self.keep_events
    }

    /// How many reload versions are kept per child (the newest; at least
    /// one). By default [`DEFAULT_KEEP_VERSIONS`].
    pub fn keep_versions(&mut self, rows: u32) -> &mut Self {
        self.keep_versions = rows.max(1);
        self
    }

    /// The versions kept per child, set with
    /// [`keep_versions`](Self::keep_versions).
    pub fn get_keep_versions(&self) -> u32 {
        self.keep_versions
    }

    /// How many audit rows are kept (the newest; at least one). By
    /// default [`DEFAULT_AUDIT_KEEP`].
    pub fn audit_keep(&mut self, rows: u32) -> &mut Self {
        self.audit_keep = rows.max(1);
        self
    }

    /// The audit rows kept, set with [`audit_keep`](Self::audit_keep).
    pub fn get_audit_keep(&self) -> u32 {
        self.audit_keep
    }

    /// History retention. By default [`Retention::default`].
    pub fn retention(&mut self, retention: Retention) -> &mut Self {
        self.retention = retention;
        self
    }

    /// The database file given to [`new`](Self::new).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The retention set with [`retention`](Self::retention).
    pub fn get_retention(&self) -> Retention {
        self.retention
    }
}
