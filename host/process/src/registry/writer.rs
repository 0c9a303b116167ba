//! The registry's writer: one thread owning the write connection, fed by a
//! channel, applying writes in batches.
//!
//! Owns: [`WriteOp`], the writer thread, and retention (of incarnations
//! by count and age, of the audit log and the event history by count, of
//! reload versions by count per child).
//!
//! Guarantees: a caller never waits for SQLite (sending is a channel push);
//! ops are applied in the order sent; each batch (everything queued when the
//! thread wakes, or [`GATHER`] later while writes stream in, up to
//! [`MAX_BATCH`]) is one transaction; a flush that wakes the writer is
//! not held back to gather (one queued during a gather waits at most
//! [`GATHER`]); a failed op is logged, counted and reported to the next
//! flush, and never stops the writer; retention never deletes a `running`
//! row.
//!
//! Must never: panic on bad input, or hold a transaction open while waiting
//! for the channel.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;
use warden_clock::millis;

use super::error::RegistryError;
use super::model::{
    AuditRecord, EventRecord, IncarnationExit, IncarnationStatus, NewIncarnation, Retention,
    VersionRow,
};
use crate::{ProcessIdentity, WorkerId, now_ms};

/// The most ops applied in one transaction.
pub(crate) const MAX_BATCH: usize = 512;
/// How long a busy writer lets writes gather before a transaction
/// ([`Writer::run`]): far below anything a reader waits for, long enough
/// that a transaction carries hundreds of API calls' audit rows.
pub(crate) const GATHER: Duration = Duration::from_millis(2);
/// Age-based retention runs at most this often on its own.
const AGE_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Who waits for a flush.
#[derive(Debug)]
pub(crate) enum Ack {
    Async(oneshot::Sender<Result<(), RegistryError>>),
    Blocking(mpsc::SyncSender<Result<(), RegistryError>>),
}

impl Ack {
    fn send(self, result: Result<(), RegistryError>) {
        // A caller that stopped waiting is fine.
        match self {
            Self::Async(tx) => {
                let _ = tx.send(result);
            }
            Self::Blocking(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// One write.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Started(NewIncarnation),
    Sample {
        incarnation: WorkerId,
        health: Option<u8>,
        peak_memory_bytes: u64,
    },
    Exited {
        incarnation: WorkerId,
        exit: IncarnationExit,
    },
    /// Descendants seen (`found`) or no longer alive (`gone`); kept only
    /// while the incarnation is `running`.
    Descendants {
        incarnation: WorkerId,
        found: Vec<ProcessIdentity>,
        gone: Vec<ProcessIdentity>,
    },
    /// Outcome of orphan recovery for a row found `running`.
    Orphan {
        id: i64,
        status: IncarnationStatus,
        reason: String,
        stopped_at_ms: i64,
    },
    /// One call of the API's audit log.
    Audit(AuditRecord),
    /// One event of the host's history (a seq already stored is ignored).
    Event(EventRecord),
    /// One reload version (a version already stored for its run and path
    /// is updated: a rollback changes its outcome).
    Version(VersionRow),
    /// A persisted strategy for a supervisor path (replacing its previous one).
    Strategy {
        path: String,
        strategy: String,
        at_ms: i64,
    },
    Prune,
    Flush(Ack),
}

/// How many rows of each history table the writer keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keep {
    pub(crate) audit: u32,
    pub(crate) events: u32,
    pub(crate) versions: u32,
}

pub(crate) struct Writer {
    conn: Connection,
    retention: Retention,
    keep: Keep,
    failed: u64,
    last_age_prune: Option<Instant>,
    /// Transactions committed, shared with the [`Registry`](super::Registry).
    committed: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        retention: Retention,
        keep: Keep,
        committed: Arc<AtomicU64>,
    ) -> Self {
        Self {
            conn,
            retention,
            keep,
            failed: 0,
            last_age_prune: None,
            committed,
        }
    }

    /// Runs until every sender is dropped, then returns (after the last batch).
    ///
    /// While writes stream in ([`streaming`]: the last batch had more than
    /// one write and was not full), the writer lets them gather for
    /// [`GATHER`] after waking, unless the op that woke it is a flush. One
    /// transaction then commits hundreds of rows instead of a few, and the
    /// senders (API calls writing the audit log) stop waking this thread on
    /// every write. A quiet host writes each op as soon as it comes.
    pub(crate) fn run(mut self, inbox: &mpsc::Receiver<WriteOp>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut gather = false;
        while let Ok(first) = inbox.recv() {
            let awaited = matches!(first, WriteOp::Flush(_));
            batch.push(first);
            if gather && !awaited {
                std::thread::sleep(GATHER);
            }
            while batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            gather = streaming(&batch);
            self.apply(&mut batch);
        }
        tracing::debug!("registry writer stopped");
    }

    fn apply(&mut self, batch: &mut Vec<WriteOp>) {
        let mut acks = Vec::new();
        let mut children = BTreeSet::new();
        let mut prune = false;
        let mut audited = false;
        let mut logged = false;
        let mut versioned = BTreeSet::new();
        let ops = batch.len() as u64;
        match self.conn.transaction() {
            Ok(tx) => {
                let mut failed = 0;
                for op in batch.drain(..) {
                    match op {
                        WriteOp::Flush(ack) => acks.push(ack),
                        WriteOp::Prune => prune = true,
                        op => {
                            if let WriteOp::Started(new) = &op {
                                children.insert(new.child.clone());
                            }
                            audited |= matches!(op, WriteOp::Audit(_));
                            logged |= matches!(op, WriteOp::Event(_));
                            if let WriteOp::Version(row) = &op {
                                versioned.insert(row.path.clone());
                            }
                            if let Err(e) = apply_one(&tx, &op) {
                                tracing::warn!(error = %e, ?op, "registry write failed");
                                failed += 1;
                            }
                        }
                    }
                }
                match tx.commit() {
                    Ok(()) => {
                        self.failed += failed;
                        self.committed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, ops, "registry commit failed");
                        self.failed += ops;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, ops, "registry transaction could not start");
                self.failed += ops;
                for op in batch.drain(..) {
                    if let WriteOp::Flush(ack) = op {
                        acks.push(ack);
                    }
                }
            }
        }
        self.retain(&children, prune);
        if audited || prune {
            self.retain_audit();
        }
        if logged || prune {
            self.retain_events();
        }
        self.retain_versions(&versioned, prune);
        for ack in acks {
            let result = match std::mem::take(&mut self.failed) {
                0 => Ok(()),
                failed => Err(RegistryError::WriteFailed { failed }),
            };
            ack.send(result);
        }
    }

    /// Count retention for the children just inserted (all of them on an
    /// explicit prune); age retention when due or asked.
    fn retain(&mut self, children: &BTreeSet<String>, explicit: bool) {
        if let Some(keep) = self.retention.keep_per_child {
            let result = if explicit {
                self.conn
                    .prepare_cached("SELECT DISTINCT child FROM incarnations")
                    .and_then(|mut stmt| {
                        stmt.query_map([], |row| row.get::<_, String>(0))?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .and_then(|all| {
                        all.iter()
                            .try_for_each(|child| keep_newest(&self.conn, child, keep))
                    })
            } else {
                children
                    .iter()
                    .try_for_each(|child| keep_newest(&self.conn, child, keep))
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "registry count retention failed");
            }
        }
        if let Some(max_age) = self.retention.max_age {
            let due = explicit
                || self
                    .last_age_prune
                    .is_none_or(|at| at.elapsed() >= AGE_PRUNE_EVERY);
            if due {
                self.last_age_prune = Some(Instant::now());
                let cutoff =
                    now_ms().saturating_sub(i64::try_from(millis(max_age)).unwrap_or(i64::MAX));
                match self.conn.execute(
                    "DELETE FROM incarnations
                     WHERE status != 'running' AND coalesce(stopped_at, started_at) < ?1",
                    params![cutoff],
                ) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(deleted = n, "registry age retention"),
                    Err(e) => tracing::warn!(error = %e, "registry age retention failed"),
                }
            }
        }
    }
}

impl Writer {
    /// Keeps the newest `audit_keep` audit rows: run after every batch
    /// that added some, so the table never outgrows it by more than a
    /// batch. Rows are only ever appended (each id one more than the
    /// largest) and deleted from the oldest end, so the newest N are the
    /// ids above `max(id) - N`: one index lookup, not a scan of N rows.
    fn retain_audit(&mut self) {
        let result = self
            .conn
            .prepare_cached("DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?1")
            .and_then(|mut stmt| stmt.execute(params![self.keep.audit]));
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "audit log retention"),
            Err(e) => tracing::warn!(error = %e, "audit log retention failed"),
        }
    }

    /// Keeps the newest `keep.events` events: everything below the Nth
    /// newest seq goes (seqs may skip numbers, so `max - N` would keep
    /// fewer); one walk down the primary key.
    fn retain_events(&mut self) {
        let result = self
            .conn
            .prepare_cached(
                "DELETE FROM events WHERE seq < (
                     SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?1 - 1)",
            )
            .and_then(|mut stmt| stmt.execute(params![self.keep.events]));
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "event history retention"),
            Err(e) => tracing::warn!(error = %e, "event history retention failed"),
        }
    }

    /// Keeps the newest `keep.versions` versions of each child in
    /// `paths` (of every child on an explicit prune).
    fn retain_versions(&mut self, paths: &BTreeSet<String>, explicit: bool) {
        let paths: Vec<String> = if explicit {
            match self
                .conn
                .prepare_cached("SELECT DISTINCT path FROM versions")
                .and_then(|mut stmt| {
                    stmt.query_map([], |row| row.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                }) {
                Ok(all) => all,
                Err(e) => {
                    tracing::warn!(error = %e, "version retention failed");
                    return;
                }
            }
        } else {
            paths.iter().cloned().collect()
        };
        for path in paths {
            let result = self
                .conn
                .prepare_cached(
                    "DELETE FROM versions WHERE path = ?1 AND id NOT IN (
                         SELECT id FROM versions WHERE path = ?1 ORDER BY id DESC LIMIT ?2)",
                )
                .and_then(|mut stmt| stmt.execute(params![path, self.keep.versions]));
            if let Err(e) = result {
                tracing::warn!(error = %e, "version retention failed");
            }
        }
    }
}

fn keep_newest(conn: &Connection, child: &str, keep: u32) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM incarnations
         WHERE child = ?1 AND status != 'running' AND id NOT IN (
             SELECT id FROM incarnations WHERE child = ?1
             ORDER BY started_at DESC, id DESC LIMIT ?2)",
    )?
    .execute(params![child, keep])?;
    Ok(())
}

fn apply_one(tx: &Transaction<'_>, op: &WriteOp) -> rusqlite::Result<()> {
    match op {
        WriteOp::Started(new) => {
            tx.prepare_cached(
                "INSERT INTO incarnations
                    (incarnation, child, pid, start_time, boot_id, command, started_at,
                     restart_count, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running')",
            )?
            .execute(params![
                new.incarnation.to_string(),
                new.child,
                new.identity.pid,
                i64::try_from(new.identity.start_time).unwrap_or(i64::MAX),
                new.identity.boot_id,
                new.command,
                new.started_at_ms,
                new.restart_count,
            ])?;
            if let Some(cgroup) = &new.cgroup {
                tx.prepare_cached("UPDATE incarnations SET cgroup = ?2 WHERE incarnation = ?1")?
                    .execute(params![
                        new.incarnation.to_string(),
                        cgroup.to_string_lossy()
                    ])?;
            }
        }
        WriteOp::Sample {
            incarnation,
            health,
            peak_memory_bytes,
        } => {
            tx.prepare_cached(
                "UPDATE incarnations
                 SET health = coalesce(?2, health),
                     peak_memory_bytes = max(peak_memory_bytes, ?3)
                 WHERE incarnation = ?1",
            )?
            .execute(params![
                incarnation.to_string(),
                health,
                i64::try_from(*peak_memory_bytes).unwrap_or(i64::MAX),
            ])?;
        }
        WriteOp::Exited { incarnation, exit } => {
            tx.prepare_cached(
                "UPDATE incarnations
                 SET status = 'exited', stopped_at = ?2, exit_reason = ?3,
                     peak_memory_bytes = max(peak_memory_bytes, ?4),
                     health = coalesce(?5, health)
                 WHERE incarnation = ?1",
            )?
            .execute(params![
                incarnation.to_string(),
                exit.stopped_at_ms,
                exit.reason,
                i64::try_from(exit.peak_memory_bytes).unwrap_or(i64::MAX),
                exit.health,
            ])?;
            // Its descendants were killed with it.
            tx.prepare_cached("DELETE FROM descendants WHERE incarnation = ?1")?
                .execute(params![incarnation.to_string()])?;
        }
        WriteOp::Descendants {
            incarnation,
            found,
            gone,
        } => {
            let id = incarnation.to_string();
            for d in gone {
                tx.prepare_cached(
                    "DELETE FROM descendants
                     WHERE incarnation = ?1 AND pid = ?2 AND start_time = ?3",
                )?
                .execute(params![
                    id,
                    d.pid,
                    i64::try_from(d.start_time).unwrap_or(i64::MAX)
                ])?;
            }
            for d in found {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO descendants (incarnation, pid, start_time, boot_id)
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (
                         SELECT 1 FROM incarnations WHERE incarnation = ?1 AND status = 'running')",
                )?
                .execute(params![
                    id,
                    d.pid,
                    i64::try_from(d.start_time).unwrap_or(i64::MAX),
                    d.boot_id
                ])?;
            }
        }
        WriteOp::Orphan {
            id,
            status,
            reason,
            stopped_at_ms,
        } => {
            tx.prepare_cached(
                "UPDATE incarnations SET status = ?2, exit_reason = ?3, stopped_at = ?4
                 WHERE id = ?1 AND status = 'running'",
            )?
            .execute(params![id, status.as_str(), reason, stopped_at_ms])?;
            tx.prepare_cached(
                "DELETE FROM descendants WHERE incarnation =
                     (SELECT incarnation FROM incarnations WHERE id = ?1)",
            )?
            .execute(params![id])?;
        }
        WriteOp::Audit(record) => {
            tx.prepare_cached(
                "INSERT INTO audit
                    (at_ms, token, op, params_sha256, status, outcome, duration_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                record.at_ms,
                record.token,
                record.op,
                record.params_sha256,
                record.status,
                record.outcome,
                i64::try_from(record.duration_us).unwrap_or(i64::MAX),
            ])?;
        }
        WriteOp::Event(event) => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO events (seq, at_ms, path, kind, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                i64::try_from(event.seq).unwrap_or(i64::MAX),
                event.at_ms,
                event.path,
                event.kind,
                event.body,
            ])?;
        }
        WriteOp::Version(row) => {
            tx.prepare_cached(
                "INSERT INTO versions
                    (run_ms, path, version, hash, source, at_ms, outcome, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (run_ms, path, version) DO UPDATE SET
                    hash = excluded.hash, source = excluded.source,
                    outcome = excluded.outcome, duration_ms = excluded.duration_ms",
            )?
            .execute(params![
                row.run_ms,
                row.path,
                i64::try_from(row.version).unwrap_or(i64::MAX),
                row.hash,
                row.source,
                row.at_ms,
                row.outcome,
                i64::try_from(row.duration_ms).unwrap_or(i64::MAX),
            ])?;
        }
        WriteOp::Strategy {
            path,
            strategy,
            at_ms,
        } => {
            tx.prepare_cached(
                "INSERT INTO strategies (path, strategy, at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (path) DO UPDATE SET
                    strategy = excluded.strategy, at_ms = excluded.at_ms",
            )?
            .execute(params![path, strategy, at_ms])?;
        }
        WriteOp::Prune | WriteOp::Flush(_) => {}
    }
    Ok(())
}

/// Whether `batch` shows writes streaming in, so that the next wake lets
/// them gather ([`Writer::run`]): more than one write (a flush queued
/// behind a write is a caller waiting, not load), and not a full batch (a
/// full one left a backlog, which must not wait for more).
fn streaming(batch: &[WriteOp]) -> bool {
    batch.len() < MAX_BATCH
        && batch
            .iter()
            .filter(|op| !matches!(op, WriteOp::Flush(_) | WriteOp::Prune))
            .nth(1)
            .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> WriteOp {
        WriteOp::Audit(AuditRecord {
            at_ms: 1,
            token: "ops".into(),
            op: "wc.count".into(),
            params_sha256: None,
            status: 200,
            outcome: "ok".into(),
            duration_us: 1,
        })
    }

    fn flush() -> WriteOp {
        WriteOp::Flush(Ack::Async(oneshot::channel().0))
    }

    #[test]
    fn only_writes_streaming_in_without_a_backlog_are_gathered() {
        assert!(!streaming(&[audit()]), "one write: a quiet host");
        assert!(!streaming(&[audit(), flush()]), "a write and its flush");
        assert!(!streaming(&[audit(), WriteOp::Prune]));
        assert!(streaming(&[audit(), audit()]));
        assert!(streaming(&[audit(), flush(), audit()]));
        let full: Vec<WriteOp> = (0..MAX_BATCH).map(|_| audit()).collect();
        assert!(!streaming(&full), "a full batch left a backlog");
        assert!(streaming(&full[1..]));
    }
}
