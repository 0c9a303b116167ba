//! The registry's errors: each names the file, the step or the row.
//!
//! Owns: [`RegistryError`]. Must never: carry free-form text standing in
//! for a cause (causes are typed `source`s).

use std::io;
use std::path::PathBuf;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot create the registry directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open the registry {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the registry {path} has schema version {found}; this Warden knows up to {supported}")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate the registry {path} to schema version {version}: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("registry query failed: {0}")]
    Query(#[source] rusqlite::Error),
    #[error("registry row {id} is invalid: {what}")]
    BadRow { id: i64, what: &'static str },
    #[error("{failed} registry write(s) failed since the last flush (each is in the host log)")]
    WriteFailed { failed: u64 },
    #[error("the registry writer has stopped")]
    WriterGone,
    #[error("cannot start the registry writer thread: {0}")]
    Thread(#[source] io::Error),
}
