//! What persisted component state adds to the host's event stream:
//! [`PersistEvent`]s, published when a component child with `persist`
//! set saves its snapshot to the state dir or gets it back at a start.
//!
//! Owns: the shape and JSON of these events, their `tracing` level and
//! one-line description. Never does: read or write a snapshot file, or
//! call a guest (that is the host's `persist` module and the component
//! child, which publish these).

use std::fmt;

use serde::Serialize;
use tracing::Level;

/// Something that happened to a component child's persisted state.
/// Serialized as `"event": "<snake_case>"` beside the fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(tag = "event", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PersistEvent {
    /// The child's snapshot was written to its file (atomically).
    Persisted {
        /// The snapshot's size, in bytes.
        bytes: u64,
        /// Why now: `shutdown` (a graceful stop) or `interval`.
        trigger: String,
        /// The snapshot file.
        file: String,
    },
    /// The child's snapshot could not be taken or written; the file keeps
    /// the previous one.
    PersistFailed {
        /// Why.
        reason: String,
    },
    /// A new incarnation got the state of its snapshot file back.
    Restored {
        /// The snapshot's size, in bytes.
        bytes: u64,
        /// When the snapshot was written, milliseconds since the Unix epoch.
        saved_at_ms: u64,
        /// Content hash of the code that wrote it (it may differ from the
        /// code running now: the restore migrates).
        saved_by: String,
    },
    /// The snapshot file could not be restored (unreadable, corrupt, or
    /// refused by the guest): it was set aside and the child started
    /// fresh.
    RestoreFailed {
        /// Why.
        reason: String,
        /// Where the file is now (`….rejected`), or empty when it could
        /// not be moved.
        kept_as: String,
    },
}

impl PersistEvent {
    /// The `tracing` level the event deserves: a warning when state was not
    /// saved or not restored.
    pub fn level(&self) -> Level {
        match self {
            Self::PersistFailed { .. } | Self::RestoreFailed { .. } => Level::WARN,
            Self::Persisted { .. } => Level::DEBUG,
            Self::Restored { .. } => Level::INFO,
        }
    }

    /// The snake_case name the event is serialized with (`restore_failed`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Persisted { .. } => "persisted",
            Self::PersistFailed { .. } => "persist_failed",
            Self::Restored { .. } => "restored",
            Self::RestoreFailed { .. } => "restore_failed",
        }
    }
}

impl fmt::Display for PersistEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Persisted {
                bytes,
                trigger,
                file,
            } => write!(f, "state persisted ({bytes} bytes, {trigger}) to {file}"),
            Self::PersistFailed { reason } => {
                write!(
                    f,
                    "state not persisted: {reason}; the file keeps the previous snapshot"
                )
            }
            Self::Restored {
                bytes,
                saved_at_ms,
                saved_by,
            } => {
                let short = saved_by.get(..12).unwrap_or(saved_by);
                write!(
                    f,
                    "state restored ({bytes} bytes, saved at {saved_at_ms} ms by {short})"
                )
            }
            Self::RestoreFailed { reason, kept_as } => {
                if kept_as.is_empty() {
                    write!(f, "state not restored: {reason}; starting fresh")
                } else {
                    write!(
                        f,
                        "state not restored: {reason}; the file is kept as {kept_as}, starting fresh"
                    )
                }
            }
        }
    }
}
