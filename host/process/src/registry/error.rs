//! The registry's errors: each names the file, the step or the row.
//!
//! Owns: [`RegistryError`]. Must never: carry free-form text standing in
//! for a cause (causes are typed `source`s).

use std::io;
use std::path::PathBuf;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The directory of the database file could not be created.
    #[error("cannot create the registry directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The error creating it.
        #[source]
        source: io::Error,
    },
    /// SQLite could not open the file, set its pragmas (WAL, busy
    /// timeout), read its schema version, or open the read connection.
    #[error("cannot open the registry {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer Warden; it is left untouched.
    #[error("the registry {path} has schema version {found}; this Warden knows up to {supported}")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest version this build knows ([`SCHEMA_VERSION`](super::SCHEMA_VERSION)).
        supported: i64,
    },
    /// A migration failed; the file stays at the last whole version.
    #[error("cannot migrate the registry {path} to schema version {version}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version the failed migration was to bring the file to.
        version: i64,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A read failed (preparing, running or reading a row of a query).
    #[error("registry query failed: {0}")]
    Query(#[source] rusqlite::Error),
    /// A stored row holds a value its Rust type cannot: the file was
    /// edited by hand or corrupted.
    #[error("registry row {id} is invalid: {what}")]
    BadRow {
        /// The row's `id`.
        id: i64,
        /// Which value is wrong (`negative start time`, `unknown status`, …).
        what: &'static str,
    },
    /// Queued writes failed since the previous flush (each was logged
    /// when it failed); only a flush reports it
    /// ([`Registry::flush`](super::Registry::flush)).
    #[error("{failed} registry write(s) failed since the last flush (each is in the host log)")]
    WriteFailed {
        /// How many writes failed (a failed commit counts its whole batch).
        failed: u64,
    },
    /// The writer thread is not running any more (it panicked), so
    /// nothing can be written or flushed.
    #[error("the registry writer has stopped")]
    WriterGone,
    /// The writer thread could not be started.
    #[error("cannot start the registry writer thread: {0}")]
    Thread(#[source] io::Error),
}
