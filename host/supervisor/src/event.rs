//! What a supervisor tells the world: its typed [`SupervisorEvent`]s, and the
//! [`EventSink`] it hands them to.
//!
//! Owns: the supervision vocabulary of events (starts, exits, restarts,
//! intensity, storms, strategy changes, injected faults, shutdowns), each
//! event's `tracing` level and its one-line description.
//!
//! Never does: stamp, buffer, log or fan events out. That is the sink's
//! business: the host's event bus stamps each event with the time, logs it
//! and broadcasts it beside events of other families; a test records them
//! ([`testing::EventRecorder`](super::testing::EventRecorder)). An event
//! names no kind of child: what a kind of child has to say (limits, reloads)
//! it says through its own events, not these.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use tracing::Level;

use super::child::{ExitReason, Fault};
use super::handle::ShutdownCause;
use super::id::{ChildId, ChildPath};
use super::spec::Strategy;
use super::storm::{StormAction, StormWindow};

/// Where a supervisor's events go. Called from the supervisor's own task,
/// once per event, in the order things happened: it must not block (the
/// supervisor handles nothing else meanwhile) and cannot fail.
pub trait EventSink: Send + Sync + 'static {
    /// Takes one event about `path` (the supervisor itself or one of its
    /// children).
    fn emit(&self, path: ChildPath, event: SupervisorEvent);
}

impl<S: EventSink + ?Sized> EventSink for Arc<S> {
    fn emit(&self, path: ChildPath, event: SupervisorEvent) {
        (**self).emit(path, event);
    }
}

/// Why a restart waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayCause {
    /// The child's restart backoff.
    Backoff,
    /// A storm detector's pause.
    StormPause,
}

/// What happened in a supervisor. Serialized as `"event": "<snake_case>"`
/// beside the fields.
#[derive(Clone, Debug, PartialEq, Serialize, strum::VariantNames)]
#[serde(tag = "event", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SupervisorEvent {
    /// A supervisor finished its init (all children started).
    SupervisorStarted {
        /// Its strategy.
        strategy: Strategy,
        /// Children it started with.
        children: usize,
    },
    /// An incarnation started (init, `start_child`, `restart_child`).
    ChildStarted {
        /// Its generation.
        generation: u64,
    },
    /// An incarnation started as a restart decided by the supervisor.
    ChildRestarted {
        /// The new generation.
        generation: u64,
        /// Restarts counted for this child so far (a sibling restarted along
        /// with a failed child under `one_for_all`/`rest_for_one` counts none).
        restarts: u64,
        /// How long the restart waited (backoff, storm pause), in milliseconds.
        delay_ms: u64,
    },
    /// A start returned `ignore`.
    ChildIgnored,
    /// The supervisor forgot the child: deleted by `delete_child`, or a
    /// temporary or dynamic child that ended (or never started).
    ChildRemoved,
    /// A start failed.
    ChildStartFailed {
        /// Why.
        error: String,
    },
    /// An incarnation ended.
    ChildExited {
        /// Its generation.
        generation: u64,
        /// Why.
        #[serde(flatten)]
        reason: ExitReason,
    },
    /// A graceful shutdown timed out; the child was killed.
    ChildShutdownTimeout {
        /// The generation being stopped.
        generation: u64,
        /// The shutdown timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// A restart will happen after a delay.
    RestartScheduled {
        /// The delay, in milliseconds.
        delay_ms: u64,
        /// Why it waits.
        cause: DelayCause,
    },
    /// More than `intensity` restarts within `period`: the supervisor gives up.
    IntensityReached {
        /// The child whose restart went over the limit.
        child: ChildId,
        /// Restarts in the window, this one included.
        restarts: usize,
        /// The limit.
        intensity: u32,
        /// The window, in milliseconds.
        period_ms: u64,
    },
    /// The supervisor gave up and exits with `shutdown`: its parent takes over.
    SupervisorEscalated {
        /// Why.
        cause: ShutdownCause,
    },
    /// A child's restarts went over a storm threshold.
    StormDetected {
        /// Which window.
        window: StormWindow,
        /// Restarts in it.
        restarts: u32,
        /// Its threshold.
        threshold: u32,
        /// What the supervisor does.
        action: StormAction,
    },
    /// A strategy change (or its dry run, or its rollback).
    StrategyChanged {
        /// Before.
        from: Strategy,
        /// After.
        to: Strategy,
        /// Only reported, not applied.
        dry_run: bool,
        /// This change undoes a change that did not settle.
        rolled_back: bool,
    },
    /// A fault was injected into a running incarnation.
    FailureInjected {
        /// The incarnation hit.
        generation: u64,
        /// The fault.
        fault: Fault,
    },
    /// A supervisor began stopping its children.
    ShutdownStarted {
        /// Why.
        cause: ShutdownCause,
    },
    /// A supervisor stopped all its children and exits.
    ShutdownCompleted {
        /// Why it stopped.
        cause: ShutdownCause,
    },
}

impl SupervisorEvent {
    /// The `tracing` level the event deserves: errors when a supervisor gives
    /// up, warnings for failures, debug for routine starts and removals.
    pub fn level(&self) -> Level {
        match self {
            Self::ChildExited { reason, .. } if reason.is_abnormal() => Level::WARN,
            Self::ChildStartFailed { .. }
            | Self::ChildShutdownTimeout { .. }
            | Self::StormDetected { .. }
            | Self::FailureInjected { .. } => Level::WARN,
            Self::IntensityReached { .. } | Self::SupervisorEscalated { .. } => Level::ERROR,
            Self::ShutdownStarted { cause } | Self::ShutdownCompleted { cause }
                if cause.is_escalation() =>
            {
                Level::ERROR
            }
            Self::ChildStarted { .. } | Self::ChildIgnored | Self::ChildRemoved => Level::DEBUG,
            _ => Level::INFO,
        }
    }

    /// The snake_case name the event is serialized with (`child_exited`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SupervisorStarted { .. } => "supervisor_started",
            Self::ChildStarted { .. } => "child_started",
            Self::ChildRestarted { .. } => "child_restarted",
            Self::ChildIgnored => "child_ignored",
            Self::ChildRemoved => "child_removed",
            Self::ChildStartFailed { .. } => "child_start_failed",
            Self::ChildExited { .. } => "child_exited",
            Self::ChildShutdownTimeout { .. } => "child_shutdown_timeout",
            Self::RestartScheduled { .. } => "restart_scheduled",
            Self::IntensityReached { .. } => "intensity_reached",
            Self::SupervisorEscalated { .. } => "supervisor_escalated",
            Self::StormDetected { .. } => "storm_detected",
            Self::StrategyChanged { .. } => "strategy_changed",
            Self::FailureInjected { .. } => "failure_injected",
            Self::ShutdownStarted { .. } => "shutdown_started",
            Self::ShutdownCompleted { .. } => "shutdown_completed",
        }
    }
}

impl fmt::Display for SupervisorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SupervisorStarted { strategy, children } => {
                write!(f, "supervisor started ({strategy}, {children} children)")
            }
            Self::ChildStarted { generation } => {
                write!(f, "child started (generation {generation})")
            }
            Self::ChildRestarted {
                generation,
                restarts,
                delay_ms,
            } => write!(
                f,
                "child restarted (generation {generation}, after {delay_ms} ms; {restarts} restarts counted)"
            ),
            Self::ChildIgnored => f.write_str("child start returned ignore"),
            Self::ChildRemoved => f.write_str("child removed"),
            Self::ChildStartFailed { error } => write!(f, "child failed to start: {error}"),
            Self::ChildExited { generation, reason } => {
                write!(f, "child exited: {reason} (generation {generation})")
            }
            Self::ChildShutdownTimeout {
                generation,
                timeout_ms,
            } => write!(
                f,
                "child did not stop within its {timeout_ms} ms shutdown timeout; killed (generation {generation})"
            ),
            Self::RestartScheduled { delay_ms, cause } => {
                write!(f, "restart scheduled in {delay_ms} ms ({cause:?})")
            }
            Self::IntensityReached {
                child,
                restarts,
                intensity,
                period_ms,
            } => write!(
                f,
                "reached max restart intensity: {restarts} restarts within {period_ms} ms (intensity {intensity}); offender `{child}`"
            ),
            Self::SupervisorEscalated { cause } => {
                write!(f, "supervisor gave up ({cause}); escalating to its parent")
            }
            Self::StormDetected {
                window,
                restarts,
                threshold,
                action,
            } => write!(
                f,
                "restart storm: {restarts} restarts within a {window:?} (threshold {threshold}); action {action:?}"
            ),
            Self::StrategyChanged {
                from,
                to,
                dry_run,
                rolled_back,
            } => {
                let what = if *dry_run {
                    "strategy change (dry run)"
                } else if *rolled_back {
                    "strategy change rolled back"
                } else {
                    "strategy changed"
                };
                write!(f, "{what}: {from} -> {to}")
            }
            Self::FailureInjected { generation, fault } => {
                write!(f, "fault `{fault}` injected (generation {generation})")
            }
            Self::ShutdownStarted { cause } => write!(f, "shutting down: {cause}"),
            Self::ShutdownCompleted { cause } => write!(f, "shut down: {cause}"),
        }
    }
}
