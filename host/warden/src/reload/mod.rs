//! Hot reload: a component child's code is replaced while it runs, and the
//! child keeps its state and its mailbox.
//!
//! - `watcher` turns file-system events into debounced "these files
//!   changed" batches (editors write a file in several steps);
//! - `pipeline` is the [`Reloader`]: read → hash → compile (or the compile
//!   cache) → world check → link, then the swap in the child's own serve
//!   loop (snapshot old → instantiate new → init → restore → swap, see
//!   [`crate::host::component_child`]), with probation and rollback;
//! - `versions` keeps each child's history of versions.
//!
//! A reload reads the child's source file, or another one given to
//! [`Reloader::reload_from`] (a sandbox swapped to another stored
//! component), which becomes the child's source once the swap is committed.
//!
//! Guarantees: a failure at any [`Stage`] leaves the old version serving
//! with its state, and is reported as `ReloadFailed` naming the stage; a
//! reload is not a restart (the incarnation and its generation live on, so
//! supervisor intensity never sees it); on success the child's program slot
//! holds the new version, so a later restart starts it.
//!
//! State migration is the plugin's business: the SDK's snapshot is
//! `{"schema": N, "state": ...}` and its `restore` hands an older schema to
//! `Actor::migrate` (see `plugins/counter_v2`, which turns counter's
//! `{count}` into `{count, incs}`). A snapshot the new code cannot read
//! fails the `restore` stage.

mod auto;
mod pipeline;
mod versions;
mod watcher;

pub use auto::watch_children;
pub use pipeline::{ReloadError, ReloadOutcome, Reloader};
pub use versions::{VersionOutcome, VersionRecord, Versions};
pub use watcher::{WatchTarget, Watcher};

/// The reload pipeline's steps are named in the reload events, which own them.
pub use crate::events::Stage;
