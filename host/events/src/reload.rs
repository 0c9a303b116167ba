//! What hot reloads add to the host's event stream: [`ReloadEvent`]s, and
//! the pipeline [`Stage`] a failure names.
//!
//! Owns: the shape and JSON of the reload events, their `tracing` level and
//! one-line description. Never does: reload anything (that is
//! the reload module, which publishes these).

use std::fmt;

use serde::Serialize;
use tracing::Level;

/// A step of the reload pipeline, named in `ReloadFailed` events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading the file (missing, unreadable, empty while being written).
    Read,
    /// Parsing, validating and compiling the bytes.
    Compile,
    /// Checking the component against the child's world and linking it.
    World,
    /// Creating the new instance.
    Instantiate,
    /// The new instance's `init`.
    Init,
    /// The old instance's `snapshot`.
    Snapshot,
    /// The new instance's `restore` of the old state.
    Restore,
    /// The new version failed during its probation and was rolled back.
    Probation,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Read => "read",
            Stage::Compile => "compile",
            Stage::World => "world",
            Stage::Instantiate => "instantiate",
            Stage::Init => "init",
            Stage::Snapshot => "snapshot",
            Stage::Restore => "restore",
            Stage::Probation => "probation",
        })
    }
}

/// Which compiler made the code a child runs (see
/// `warden_component::Tier`, which this mirrors for the event stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Winch: swapped in first by a reload of code no cache holds.
    Baseline,
    /// Cranelift: a cached version at once, a fresh one after its
    /// `optimized` step.
    Optimized,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Baseline => "baseline",
            Tier::Optimized => "optimized",
        })
    }
}

/// Something that happened in a hot reload of a component child.
/// Serialized as `"event": "<snake_case>"` beside the fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(tag = "event", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ReloadEvent {
    /// A hot reload of a component child began (its file changed, or asked).
    ReloadStarted {
        /// The version number it would get.
        version: u64,
    },
    /// The child now runs `version`, with its state carried over.
    Reloaded {
        /// The new version number.
        version: u64,
        /// Content hash of the new code.
        hash: String,
        /// From the start of the reload to the swap, in milliseconds.
        duration_ms: u64,
        /// The compiler of the code swapped in: `baseline` (Winch) is
        /// followed by `optimized` (or `optimize_failed`) for the same
        /// version.
        tier: Tier,
    },
    /// The second step of a tiered reload: `version`, serving on baseline
    /// code, now runs its Cranelift code, state and mailbox carried over
    /// and its probation unchanged.
    Optimized {
        /// The version, the same as its `reloaded`.
        version: u64,
        /// From the start of the reload to this second swap, in
        /// milliseconds.
        duration_ms: u64,
    },
    /// The Cranelift step of a tiered reload failed: `version` keeps
    /// serving on its baseline code.
    OptimizeFailed {
        /// The version still on baseline code.
        version: u64,
        /// Why.
        reason: String,
    },
    /// A reload failed; the old version keeps serving, unchanged.
    ReloadFailed {
        /// The version number the attempt would have had.
        version: u64,
        /// The pipeline stage that failed.
        stage: Stage,
        /// Why.
        reason: String,
    },
    /// The child went back to an earlier version, with its state.
    RolledBack {
        /// The version it runs again.
        to_version: u64,
        /// Why (an operator's request, a crash inside probation).
        reason: String,
    },
    /// The host's config was re-read and its difference applied (about
    /// the root supervisor): how many children and plugins each part of
    /// the plan had.
    ConfigReloaded {
        /// Children started.
        added: u64,
        /// Children terminated and deleted.
        removed: u64,
        /// Children restarted with a new spec.
        changed: u64,
        /// Children left as they were.
        unchanged: u64,
        /// Supervisors whose flags changed.
        supervisors_changed: u64,
        /// Operation plugins added, removed or re-registered.
        operations_changed: u64,
    },
    /// A config reload was refused or failed (the file is invalid, a
    /// setting cannot change live, a new component is unusable, or a step
    /// of the apply failed).
    ConfigReloadFailed {
        /// Why.
        reason: String,
    },
}

impl ReloadEvent {
    /// The `tracing` level the event deserves: a warning when the new code
    /// did not make it, debug for the start.
    pub fn level(&self) -> Level {
        match self {
            Self::ReloadFailed { .. }
            | Self::OptimizeFailed { .. }
            | Self::RolledBack { .. }
            | Self::ConfigReloadFailed { .. } => Level::WARN,
            Self::ReloadStarted { .. } => Level::DEBUG,
            Self::Reloaded { .. } | Self::Optimized { .. } | Self::ConfigReloaded { .. } => {
                Level::INFO
            }
        }
    }

    /// The snake_case name the event is serialized with (`reload_failed`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ReloadStarted { .. } => "reload_started",
            Self::Reloaded { .. } => "reloaded",
            Self::Optimized { .. } => "optimized",
            Self::OptimizeFailed { .. } => "optimize_failed",
            Self::ReloadFailed { .. } => "reload_failed",
            Self::RolledBack { .. } => "rolled_back",
            Self::ConfigReloaded { .. } => "config_reloaded",
            Self::ConfigReloadFailed { .. } => "config_reload_failed",
        }
    }
}

impl fmt::Display for ReloadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReloadStarted { version } => write!(f, "reloading (version {version})"),
            Self::Reloaded {
                version,
                hash,
                duration_ms,
                tier,
            } => {
                let short = hash.get(..12).unwrap_or(hash);
                write!(
                    f,
                    "reloaded to version {version} ({short}) in {duration_ms} ms ({tier} code)"
                )
            }
            Self::Optimized {
                version,
                duration_ms,
            } => write!(
                f,
                "version {version} runs optimized code, {duration_ms} ms after its reload began"
            ),
            Self::OptimizeFailed { version, reason } => write!(
                f,
                "optimizing version {version} failed: {reason}; its baseline code keeps serving"
            ),
            Self::ReloadFailed {
                version,
                stage,
                reason,
            } => write!(
                f,
                "reload to version {version} failed at {stage}: {reason}; the old version keeps serving"
            ),
            Self::RolledBack { to_version, reason } => {
                write!(f, "rolled back to version {to_version}: {reason}")
            }
            Self::ConfigReloaded {
                added,
                removed,
                changed,
                unchanged,
                supervisors_changed,
                operations_changed,
            } => write!(
                f,
                "config reloaded: {added} added, {removed} removed, {changed} changed, \
                 {unchanged} unchanged, {supervisors_changed} supervisors changed, \
                 {operations_changed} operation plugins changed"
            ),
            Self::ConfigReloadFailed { reason } => {
                write!(f, "config reload failed: {reason}")
            }
        }
    }
}
