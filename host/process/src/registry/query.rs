//! The registry's read side: queries through their own connection, which
//! WAL mode lets run while the writer commits.
//!
//! Owns: turning an [`IncarnationQuery`] into SQL and rows into
//! [`IncarnationRow`]s, and an [`AuditQuery`] into [`AuditRow`]s. Guarantees: every value is bound as a parameter,
//! never spliced into the SQL text. Must never: write.

use std::path::PathBuf;

use rusqlite::{Connection, Row, ToSql};

use super::error::RegistryError;
use super::model::{
    AuditQuery, AuditRow, EventQuery, EventRecord, IncarnationQuery, IncarnationRow,
    IncarnationStatus, VersionRow,
};
use crate::ProcessIdentity;

const COLUMNS: &str = "id, incarnation, child, pid, start_time, boot_id, command, started_at, \
     stopped_at, exit_reason, restart_count, peak_memory_bytes, health, status, cgroup";

pub(crate) fn query(
    conn: &Connection,
    q: &IncarnationQuery,
) -> Result<Vec<IncarnationRow>, RegistryError> {
    let mut sql = format!("SELECT {COLUMNS} FROM incarnations WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, value: Box<dyn ToSql>| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(status) = q.status {
        bind(&mut sql, " AND status = ?", Box::new(status.as_str()));
    }
    if let Some(child) = &q.child {
        bind(&mut sql, " AND child = ?", Box::new(child.clone()));
    }
    if let Some(below) = q.health_below {
        bind(&mut sql, " AND health < ?", Box::new(below));
    }
    if let Some((from, to)) = q.started_between {
        bind(&mut sql, " AND started_at >= ?", Box::new(from));
        bind(&mut sql, " AND started_at < ?", Box::new(to));
    }
    if let Some((from, to)) = q.active_between {
        bind(&mut sql, " AND started_at < ?", Box::new(to));
        bind(
            &mut sql,
            " AND (stopped_at IS NULL OR stopped_at >= ?)",
            Box::new(from),
        );
    }
    sql.push_str(" ORDER BY started_at DESC, id DESC");
    if let Some(limit) = q.limit {
        bind(&mut sql, " LIMIT ?", Box::new(limit));
    }
    let mut stmt = conn.prepare_cached(&sql).map_err(RegistryError::Query)?;
    let params: Vec<&dyn ToSql> = args.iter().map(AsRef::as_ref).collect();
    let raw = stmt
        .query_map(params.as_slice(), RawRow::read)
        .map_err(RegistryError::Query)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(RegistryError::Query)?;
    raw.into_iter().map(RawRow::into_row).collect()
}

/// A row as SQLite types, checked into an [`IncarnationRow`].
struct RawRow {
    id: i64,
    incarnation: String,
    child: String,
    pid: i64,
    start_time: i64,
    boot_id: String,
    command: String,
    started_at: i64,
    stopped_at: Option<i64>,
    exit_reason: Option<String>,
    restart_count: i64,
    peak_memory_bytes: i64,
    health: Option<i64>,
    status: String,
    cgroup: Option<String>,
}

impl RawRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            incarnation: row.get(1)?,
            child: row.get(2)?,
            pid: row.get(3)?,
            start_time: row.get(4)?,
            boot_id: row.get(5)?,
            command: row.get(6)?,
            started_at: row.get(7)?,
            stopped_at: row.get(8)?,
            exit_reason: row.get(9)?,
            restart_count: row.get(10)?,
            peak_memory_bytes: row.get(11)?,
            health: row.get(12)?,
            status: row.get(13)?,
            cgroup: row.get(14)?,
        })
    }

    fn into_row(self) -> Result<IncarnationRow, RegistryError> {
        let id = self.id;
        let bad = |what| RegistryError::BadRow { id, what };
        Ok(IncarnationRow {
            id,
            incarnation: self.incarnation,
            child: self.child,
            pid: u32::try_from(self.pid).map_err(|_| bad("pid out of range"))?,
            start_time: u64::try_from(self.start_time).map_err(|_| bad("negative start time"))?,
            boot_id: self.boot_id,
            command: self.command,
            started_at_ms: self.started_at,
            stopped_at_ms: self.stopped_at,
            exit_reason: self.exit_reason,
            restart_count: u32::try_from(self.restart_count)
                .map_err(|_| bad("restart count out of range"))?,
            peak_memory_bytes: u64::try_from(self.peak_memory_bytes)
                .map_err(|_| bad("negative peak memory"))?,
            health: self
                .health
                .map(u8::try_from)
                .transpose()
                .map_err(|_| bad("health out of range"))?,
            status: self
                .status
                .parse::<IncarnationStatus>()
                .map_err(|_| bad("unknown status"))?,
            cgroup: self.cgroup.map(PathBuf::from),
        })
    }
}

/// The audit rows matching `q`, newest first.
pub(crate) fn audit(conn: &Connection, q: &AuditQuery) -> Result<Vec<AuditRow>, RegistryError> {
    let mut sql = String::from(
        "SELECT id, at_ms, token, op, params_sha256, status, outcome, duration_us \
         FROM audit WHERE 1 = 1",
    );
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, value: Box<dyn ToSql>| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(since) = q.since_ms {
        bind(&mut sql, " AND at_ms >= ?", Box::new(since));
    }
    if let Some(op) = &q.op {
        bind(&mut sql, " AND op = ?", Box::new(op.clone()));
    }
    if let Some(token) = &q.token {
        bind(&mut sql, " AND token = ?", Box::new(token.clone()));
    }
    sql.push_str(" ORDER BY at_ms DESC, id DESC");
    bind(&mut sql, " LIMIT ?", Box::new(q.limit));
    let mut stmt = conn.prepare_cached(&sql).map_err(RegistryError::Query)?;
    let params: Vec<&dyn ToSql> = args.iter().map(AsRef::as_ref).collect();
    let raw = stmt
        .query_map(params.as_slice(), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, i64>(7)?,
            ))
        })
        .map_err(RegistryError::Query)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(RegistryError::Query)?;
    raw.into_iter()
        .map(
            |(id, at_ms, token, op, params_sha256, status, outcome, duration_us)| {
                Ok(AuditRow {
                    id,
                    at_ms,
                    token,
                    op,
                    params_sha256,
                    status: u16::try_from(status).map_err(|_| RegistryError::BadRow {
                        id,
                        what: "audit status out of range",
                    })?,
                    outcome,
                    duration_us: u64::try_from(duration_us).map_err(|_| RegistryError::BadRow {
                        id,
                        what: "negative audit duration",
                    })?,
                })
            },
        )
        .collect()
}

/// The events matching `q`, oldest first (the newest `q.limit` of them).
pub(crate) fn events(conn: &Connection, q: &EventQuery) -> Result<Vec<EventRecord>, RegistryError> {
    let mut sql = String::from("SELECT seq, at_ms, path, kind, body FROM events WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(before) = q.before_seq {
        args.push(Box::new(i64::try_from(before).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" AND seq < ?{}", args.len()));
    }
    if let Some(child) = &q.child {
        // The path itself or below it; a prefix compare, so `_` and `%`
        // in ids mean nothing special.
        args.push(Box::new(child.clone()));
        let n = args.len();
        sql.push_str(&format!(
            " AND (path = ?{n} OR substr(path, 1, length(?{n}) + 1) = ?{n} || '/')"
        ));
    }
    if !q.kinds.is_empty() {
        let mut marks = Vec::with_capacity(q.kinds.len());
        for kind in &q.kinds {
            args.push(Box::new(kind.clone()));
            marks.push(format!("?{}", args.len()));
        }
        sql.push_str(&format!(" AND kind IN ({})", marks.join(", ")));
    }
    args.push(Box::new(q.limit));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare(&sql).map_err(RegistryError::Query)?;
    let params: Vec<&dyn ToSql> = args.iter().map(AsRef::as_ref).collect();
    let mut out = stmt
        .query_map(params.as_slice(), |row| {
            Ok(EventRecord {
                seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                at_ms: row.get(1)?,
                path: row.get(2)?,
                kind: row.get(3)?,
                body: row.get(4)?,
            })
        })
        .map_err(RegistryError::Query)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(RegistryError::Query)?;
    out.reverse();
    Ok(out)
}

/// The largest event seq stored (0 when none).
pub(crate) fn last_event_seq(conn: &Connection) -> Result<u64, RegistryError> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| u64::try_from(n).unwrap_or(0))
    .map_err(RegistryError::Query)
}

/// The stored versions of the child at `path`, oldest first.
pub(crate) fn versions(conn: &Connection, path: &str) -> Result<Vec<VersionRow>, RegistryError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_ms, path, version, hash, source, at_ms, outcome, duration_ms
             FROM versions WHERE path = ?1 ORDER BY id",
        )
        .map_err(RegistryError::Query)?;
    stmt.query_map([path], |row| {
        Ok(VersionRow {
            run_ms: row.get(0)?,
            path: row.get(1)?,
            version: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            hash: row.get(3)?,
            source: row.get(4)?,
            at_ms: row.get(5)?,
            outcome: row.get(6)?,
            duration_ms: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
        })
    })
    .map_err(RegistryError::Query)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(RegistryError::Query)
}

/// The descendants recorded for `incarnation`.
pub(crate) fn descendants(
    conn: &Connection,
    incarnation: &str,
) -> Result<Vec<ProcessIdentity>, RegistryError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT pid, start_time, boot_id FROM descendants
             WHERE incarnation = ?1 ORDER BY pid",
        )
        .map_err(RegistryError::Query)?;
    let raw = stmt
        .query_map([incarnation], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(RegistryError::Query)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(RegistryError::Query)?;
    // A row that cannot name a process is skipped: nothing is signalled
    // on its account.
    Ok(raw
        .into_iter()
        .filter_map(|(pid, start_time, boot_id)| {
            Some(ProcessIdentity {
                pid: u32::try_from(pid).ok()?,
                start_time: u64::try_from(start_time).ok()?,
                boot_id,
            })
        })
        .collect())
}
