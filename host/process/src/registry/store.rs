//! [`Registry`]: the handle to the database — the writer thread behind a
//! channel, and a read connection.
//!
//! Owns: opening the file (directory, pragmas, migrations), starting and
//! stopping the writer, and the public write and read API.
//!
//! Guarantees: `record_*` never blocks on SQLite (writes are queued, in
//! order); [`flush`](Registry::flush) resolves once everything queued before
//! it is committed, and reports failed writes; dropping the last handle
//! drains the queue and joins the writer. The file is in WAL mode with
//! `synchronous = NORMAL`: a host crash loses at most the last writes, never
//! the file.
//!
//! Must never: run a query on a tokio worker thread for long (reads are
//! short and indexed; a caller with a big query uses `spawn_blocking`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::error::RegistryError;
use super::model::{
    AuditQuery, AuditRecord, AuditRow, EventQuery, EventRecord, IncarnationExit, IncarnationQuery,
    IncarnationRow, IncarnationStatus, NewIncarnation, RegistryConfig, VersionRow,
};
use super::query;
use super::schema;
use super::writer::{Ack, Keep, WriteOp, Writer};
use crate::{ProcessIdentity, WorkerId};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The incarnation registry. Cheap to clone; all clones share one writer.
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    writes: Mutex<Option<mpsc::Sender<WriteOp>>>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Transactions the writer committed.
    committed: Arc<AtomicU64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish its queue and stop.
        self.writes
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            && thread.join().is_err()
        {
            tracing::error!("the registry writer thread panicked");
        }
    }
}

fn open_error(path: &Path) -> impl Fn(rusqlite::Error) -> RegistryError + '_ {
    move |source| RegistryError::Open {
        path: path.to_path_buf(),
        source,
    }
}

impl Registry {
    /// Opens (creating if needed) the registry file and starts its writer.
    pub fn open(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let path = config.path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| RegistryError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(open_error(path))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error(path))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(open_error(path))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error(path))?;
        schema::migrate(&mut conn, path)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error(path))?;
        reader
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(open_error(path))?;

        let (writes, inbox) = mpsc::channel();
        let keep = Keep {
            audit: config.get_audit_keep(),
            events: config.get_keep_events(),
            versions: config.get_keep_versions(),
        };
        let committed = Arc::new(AtomicU64::new(0));
        let writer = Writer::new(conn, config.get_retention(), keep, committed.clone());
        let thread = std::thread::Builder::new()
            .name("warden-registry".to_owned())
            .spawn(move || writer.run(&inbox))
            .map_err(RegistryError::Thread)?;
        tracing::debug!(path = %path.display(), "registry open");
        Ok(Self {
            inner: Arc::new(Inner {
                writes: Mutex::new(Some(writes)),
                reader: Mutex::new(reader),
                writer: Mutex::new(Some(thread)),
                committed,
            }),
        })
    }

    fn send(&self, op: WriteOp) -> Result<(), RegistryError> {
        let writes = self
            .inner
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sent = writes.as_ref().is_some_and(|tx| tx.send(op).is_ok());
        if sent {
            Ok(())
        } else {
            Err(RegistryError::WriterGone)
        }
    }

    fn queue(&self, op: WriteOp) {
        if self.send(op).is_err() {
            tracing::warn!("registry writer gone; a write was dropped");
        }
    }

    /// Records a new incarnation as `running`.
    pub fn record_started(&self, new: NewIncarnation) {
        self.queue(WriteOp::Started(new));
    }

    /// Updates the health (if given) and raises the peak memory.
    pub fn record_sample(&self, incarnation: WorkerId, health: Option<u8>, peak_memory_bytes: u64) {
        self.queue(WriteOp::Sample {
            incarnation,
            health,
            peak_memory_bytes,
        });
    }

    /// Records descendants of a running incarnation that appeared
    /// (`found`) or died (`gone`), as the monitor reports them
    /// ([`MonitorEvent::Descendants`](crate::MonitorEvent)).
    /// Orphan recovery kills the recorded ones that are still alive.
    pub fn record_descendants(
        &self,
        incarnation: WorkerId,
        found: Vec<ProcessIdentity>,
        gone: Vec<ProcessIdentity>,
    ) {
        if found.is_empty() && gone.is_empty() {
            return;
        }
        self.queue(WriteOp::Descendants {
            incarnation,
            found,
            gone,
        });
    }

    /// The descendants recorded for a running incarnation (empty once it
    /// has ended).
    pub fn descendants(&self, incarnation: &str) -> Result<Vec<ProcessIdentity>, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        query::descendants(&reader, incarnation)
    }

    /// Records how an incarnation ended (status `exited`).
    pub fn record_exit(&self, incarnation: WorkerId, exit: IncarnationExit) {
        self.queue(WriteOp::Exited { incarnation, exit });
    }

    pub(crate) fn record_orphan(
        &self,
        id: i64,
        status: IncarnationStatus,
        reason: String,
        stopped_at_ms: i64,
    ) {
        self.queue(WriteOp::Orphan {
            id,
            status,
            reason,
            stopped_at_ms,
        });
    }

    /// Records one call in the audit log (queued, like every write; the
    /// newest [`RegistryConfig::audit_keep`] rows are kept).
    pub fn record_audit(&self, record: AuditRecord) {
        self.queue(WriteOp::Audit(record));
    }

    /// The audit rows matching `q`, newest first.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        query::audit(&reader, q)
    }

    /// Records one event of the host's history (queued; the newest
    /// [`RegistryConfig::keep_events`] are kept).
    pub fn record_event(&self, event: EventRecord) {
        self.queue(WriteOp::Event(event));
    }

    /// The stored events matching `q`, oldest first (the newest `q.limit`).
    pub fn events(&self, q: &EventQuery) -> Result<Vec<EventRecord>, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        query::events(&reader, q)
    }

    /// The largest event seq stored (0 before the first): a new event log
    /// numbers on from the one after it.
    pub fn last_event_seq(&self) -> Result<u64, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        query::last_event_seq(&reader)
    }

    /// Records (or updates) one reload version (queued; the newest
    /// [`RegistryConfig::keep_versions`] per child are kept).
    pub fn record_version(&self, row: VersionRow) {
        self.queue(WriteOp::Version(row));
    }

    /// Keeps `strategy` as the supervisor at `path`'s strategy across host
    /// restarts (queued; replaces the one kept before).
    pub fn record_strategy(&self, path: &str, strategy: &str) {
        self.queue(WriteOp::Strategy {
            path: path.to_owned(),
            strategy: strategy.to_owned(),
            at_ms: crate::now_ms(),
        });
    }

    /// The persisted strategies, `(supervisor path, strategy)`, by path.
    pub fn strategies(&self) -> Result<Vec<(String, String)>, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut stmt = reader
            .prepare_cached("SELECT path, strategy FROM strategies ORDER BY path")
            .map_err(RegistryError::Query)?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(RegistryError::Query)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(RegistryError::Query)
    }

    /// The stored versions of the child at `path`, oldest first.
    pub fn versions(&self, path: &str) -> Result<Vec<VersionRow>, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        query::versions(&reader, path)
    }

    /// Applies retention to every child now (it also runs by itself after
    /// inserts, and by age once a minute).
    pub fn prune(&self) {
        self.queue(WriteOp::Prune);
    }

    /// Resolves once every write queued before it is committed; reports
    /// writes that failed since the previous flush.
    pub async fn flush(&self) -> Result<(), RegistryError> {
        let (tx, rx) = oneshot::channel();
        self.send(WriteOp::Flush(Ack::Async(tx)))?;
        rx.await.map_err(|_| RegistryError::WriterGone)?
    }

    /// Transactions the writer has committed since the registry opened.
    /// Against the rows written, it tells how well writes are batched.
    pub fn transactions(&self) -> u64 {
        self.inner.committed.load(Ordering::Relaxed)
    }

    /// [`flush`](Self::flush) for blocking code (not from inside an async
    /// task: it blocks the thread).
    pub fn flush_blocking(&self) -> Result<(), RegistryError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(WriteOp::Flush(Ack::Blocking(tx)))?;
        rx.recv().map_err(|_| RegistryError::WriterGone)?
    }

    /// The incarnations matching `q`, newest first.
    pub fn query(&self, q: &IncarnationQuery) -> Result<Vec<IncarnationRow>, RegistryError> {
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        query::query(&reader, q)
    }

    /// Incarnations in `status`, newest first.
    pub fn by_status(
        &self,
        status: IncarnationStatus,
    ) -> Result<Vec<IncarnationRow>, RegistryError> {
        self.query(&IncarnationQuery {
            status: Some(status),
            ..IncarnationQuery::default()
        })
    }

    /// A child's incarnations, newest first.
    pub fn by_child(&self, child: &str) -> Result<Vec<IncarnationRow>, RegistryError> {
        self.query(&IncarnationQuery {
            child: Some(child.to_owned()),
            ..IncarnationQuery::default()
        })
    }

    /// Incarnations whose health is below `score`, newest first.
    pub fn health_below(&self, score: u8) -> Result<Vec<IncarnationRow>, RegistryError> {
        self.query(&IncarnationQuery {
            health_below: Some(score),
            ..IncarnationQuery::default()
        })
    }
}
