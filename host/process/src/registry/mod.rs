//! The registry: a SQLite file under the host's state dir recording every
//! incarnation of every native worker — who it was (pid, start time, boot
//! id), what it ran, when it started and stopped, why it ended, how it
//! fared, which cgroup held it, and which descendants the monitor saw while
//! it ran — so that `warden ctl ps` can answer and a restarted host can find
//! and kill what a crashed one left running.
//!
//! The nouns:
//! - [`Registry`]: the handle; writes are queued to one writer thread
//!   (batched in transactions), reads use their own connection (WAL).
//! - [`NewIncarnation`], [`IncarnationExit`]: what is written.
//! - [`IncarnationRow`], [`IncarnationQuery`]: what is read (serde rows for
//!   `--json`).
//! - [`Retention`]: how much history is kept (count per child, age).
//! - [`AuditRecord`], [`AuditRow`], [`AuditQuery`]: the HTTP API's audit
//!   log (who called which changing operation, a digest of the params,
//!   the outcome, how long), kept to the newest
//!   [`RegistryConfig::audit_keep`] rows.
//! - [`EventRecord`], [`EventQuery`]: the host's event history, numbered
//!   on across restarts, kept to the newest [`RegistryConfig::keep_events`].
//! - [`VersionRow`]: component children's reload versions (metadata, never
//!   code), the newest [`RegistryConfig::keep_versions`] per child.
//! - [`recover_orphans`]: the start-up pass over rows left `running`.
//!
//! The schema is versioned with `user_version` ([`SCHEMA_VERSION`]).

mod error;
mod model;
mod orphans;
mod query;
mod schema;
mod store;
mod writer;

#[cfg(test)]
mod tests;

pub use error::RegistryError;
pub use model::{
    AuditQuery, AuditRecord, AuditRow, BadStatus, DEFAULT_AUDIT_KEEP, DEFAULT_KEEP_EVENTS,
    DEFAULT_KEEP_VERSIONS, EventQuery, EventRecord, IncarnationExit, IncarnationQuery,
    IncarnationRow, IncarnationStatus, NewIncarnation, RegistryConfig, Retention, VersionRow,
};
pub use orphans::{OrphanAction, OrphanEntry, OrphanReport, recover_orphans};
pub use schema::SCHEMA_VERSION;
pub use store::Registry;
