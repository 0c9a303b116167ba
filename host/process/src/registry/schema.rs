//! The registry's schema and its migrations, versioned with SQLite's
//! `user_version`.
//!
//! Owns: the DDL. Guarantees: migrations run in order, each in its own
//! transaction that also bumps `user_version`, so a crash leaves the file at
//! a whole version; a file from a newer Warden is refused, never rewritten.
//! Must never: change a shipped migration (add a new one instead).

use std::path::Path;

use rusqlite::Connection;

use super::error::RegistryError;

/// Migration N brings the file from version N to N + 1.
pub(super) const MIGRATIONS: &[&str] = &[
    // 0 → 1: incarnations.
    "CREATE TABLE incarnations (
        id INTEGER PRIMARY KEY,
        incarnation TEXT NOT NULL UNIQUE,
        child TEXT NOT NULL,
        pid INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        boot_id TEXT NOT NULL,
        command TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        stopped_at INTEGER,
        exit_reason TEXT,
        restart_count INTEGER NOT NULL DEFAULT 0,
        peak_memory_bytes INTEGER NOT NULL DEFAULT 0,
        health INTEGER CHECK (health BETWEEN 0 AND 100),
        status TEXT NOT NULL
            CHECK (status IN ('running', 'exited', 'orphan_killed', 'orphan_gone'))
    ) STRICT;
    CREATE INDEX incarnations_by_status ON incarnations (status, started_at);
    CREATE INDEX incarnations_by_child ON incarnations (child, started_at);
    CREATE INDEX incarnations_by_health ON incarnations (health) WHERE health IS NOT NULL;
    CREATE INDEX incarnations_by_time ON incarnations (started_at);
    CREATE INDEX incarnations_by_stop ON incarnations (stopped_at);",
    // 1 → 2: each incarnation's cgroup, and the descendants its host saw
    // (what orphan recovery kills when group and marker are not enough).
    "ALTER TABLE incarnations ADD COLUMN cgroup TEXT;
    CREATE TABLE descendants (
        incarnation TEXT NOT NULL,
        pid INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        boot_id TEXT NOT NULL,
        PRIMARY KEY (incarnation, pid, start_time)
    ) STRICT, WITHOUT ROWID;",
    // 2 → 3: the API's audit log, one row per call that may change
    // something (the newest `audit_keep` rows are kept).
    "CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        token TEXT NOT NULL,
        op TEXT NOT NULL,
        params_sha256 TEXT,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        duration_us INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_time ON audit (at_ms);",
    // 3 → 4: the host's event history (each event's JSON under its log
    // seq, numbered on across restarts; the newest `keep_events` kept) and
    // its component children's reload versions (metadata only, never the
    // code; the newest `keep_versions` per child kept).
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_by_path ON events (path, seq);
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        run_ms INTEGER NOT NULL,
        path TEXT NOT NULL,
        version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        source TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        UNIQUE (run_ms, path, version)
    ) STRICT;
    CREATE INDEX versions_by_path ON versions (path, id);",
    // 4 → 5: strategy changes asked to outlive the host (`persist: true`),
    // the newest per supervisor path, applied again at the next start.
    "CREATE TABLE strategies (
        path TEXT PRIMARY KEY,
        strategy TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    ) STRICT;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the file at `path` (opened as `conn`) to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), RegistryError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| RegistryError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if found > SCHEMA_VERSION {
        return Err(RegistryError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, ddl) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let version = index as i64 + 1;
        let fail = |source| RegistryError::Migrate {
            path: path.to_path_buf(),
            version,
            source,
        };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(ddl).map_err(fail)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::debug!(path = %path.display(), version, "registry schema migrated");
    }
    Ok(())
}
