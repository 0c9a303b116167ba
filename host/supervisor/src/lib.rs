//! The supervision core: Erlang/OTP supervisor semantics, generic over the kind
//! of child. It knows nothing of Wasm or OS processes; a kind of child plugs in by
//! implementing [`ChildStart`] and [`RunningChild`], and its tests run against an
//! in-memory test child.
//!
//! # Vocabulary
//!
//! - [`SupervisorSpec`]: [`SupervisorFlags`] (strategy, intensity, period) and
//!   [`ChildSpec`]s (id, start, restart type, shutdown, kind; optional
//!   [`Backoff`] and [`StormConfig`]). Validated in one place, before anything
//!   starts; errors are [`SpecError`]s naming the offender.
//! - [`start_root`] starts a tree and returns a [`SupervisorHandle`]: OTP's admin
//!   API (`start_child`, `terminate_child`, `restart_child`, `delete_child`,
//!   `which_children`, `count_children`, with OTP's errors as [`AdminError`]),
//!   plus fault injection, health reports, runtime strategy change, path lookup
//!   (`root/workers/counter`) and stop.
//! - A [`SupervisorSpec`] is itself a [`ChildStart`]: trees nest.
//! - Every lifecycle step becomes a [`SupervisorEvent`], handed to the
//!   [`EventSink`] the tree was started with (the host's event bus; in tests an
//!   [`EventRecorder`](testing::EventRecorder)).
//! - An abnormal exit has a [`FailureKind`]: OTP's classes (killed, crash,
//!   start failure) or a [`ChildFailure`] class the kind of child names.
//!
//! ```no_run
//! use warden_supervisor::{
//!     ChildPath, ChildSpec, EventSink, Restart, Strategy, SupervisorEvent, SupervisorFlags,
//!     SupervisorSpec, start_root,
//! };
//! # use warden_supervisor::{BoxFuture, ChildStart, StartContext, StartError, Started};
//! # struct Counter;
//! # impl ChildStart for Counter {
//! #     fn start(&self, _: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
//! #         Box::pin(async { Ok(Started::Ignore) })
//! #     }
//! # }
//! struct Log;
//! impl EventSink for Log {
//!     fn emit(&self, path: ChildPath, event: SupervisorEvent) {
//!         eprintln!("{path}: {event}");
//!     }
//! }
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let workers = SupervisorSpec::new(SupervisorFlags::new(Strategy::OneForOne))
//!     .child(ChildSpec::worker("counter", Counter).with_restart(Restart::Transient));
//! let root = SupervisorSpec::new(SupervisorFlags::new(Strategy::OneForAll))
//!     .child(ChildSpec::supervisor("workers", workers));
//! let tree = start_root("root", root, Log).await?;
//! let (workers, counter) = tree.child_at("root/workers/counter").await?;
//! workers.restart_child(counter).await.ok();
//! let exit = tree.stop().await; // children stop in reverse start order
//! # Ok(()) }
//! ```
//!
//! # Files, one responsibility each
//!
//! | file | owns |
//! |---|---|
//! | `id.rs` | [`ChildId`], [`ChildPath`] |
//! | `spec.rs` | specs, flags, defaults, validation |
//! | `child.rs` | the child traits, exit reasons and failure classes, the exit sender |
//! | `event.rs` | the supervisor's events and the sink they go to |
//! | `actor.rs` | the supervisor task: spawn, init, loop, end of life |
//! | `restart.rs` | the restart decision table and the strategies |
//! | `terminate.rs` | the shutdown protocol |
//! | `admin.rs` | admin requests |
//! | `handle.rs` | the handle, the mailbox protocol, admin answers and errors |
//! | `children.rs` | ordered ids + map, the child state enum |
//! | `intensity.rs` | the restart-intensity window |
//! | `backoff.rs`, `storm.rs` | Beyond OTP: backoff, storm detector |
//! | `health.rs` | health report, restart rates, recommendations |
//! | `strategy_change.rs` | runtime strategy change |
//! | `nested.rs` | supervisors as children |
//! | `timers.rs` | the supervisor's own timers |
//! | `testing.rs` | an event sink recording events, for tests |
//!
//! # Semantics
//!
//! OTP's `supervisor.erl`, exactly where it speaks: start order left to right,
//! termination in reverse; a child that fails to start during init stops those
//! already started and the start fails; the restart decision table (a permanent
//! child is restarted after *any* exit, `shutdown` included; a transient one only
//! after an abnormal exit; a temporary one never); more than `intensity`
//! restarts within `period` stops all children in reverse order and the
//! supervisor exits with `shutdown`, which a permanent parent restarts (counted
//! against its own intensity); a failed restart is retried through a message to
//! itself; `simple_one_for_one` children stop concurrently.
//!
//! Beyond OTP, all optional: restart [`Backoff`], a restart-storm detector
//! ([`StormConfig`]), runtime strategy change with dry run and rollback, failure
//! injection ([`Fault`]), [`HealthReport`]s, a kill grace for children that do not
//! report their death, and generation numbers on every incarnation so a late exit
//! report is ignored.

mod actor;
mod admin;
mod backoff;
mod child;
mod children;
mod event;
mod handle;
mod health;
mod id;
mod in_place;
mod intensity;
mod nested;
mod restart;
mod spec;
mod storm;
mod strategy_change;
mod terminate;
pub mod testing;
mod timers;

#[cfg(test)]
mod tests;

pub use actor::start_root;
pub use backoff::Backoff;
pub use child::{
    BoxFuture, ChildFailure, ChildStart, ExitReason, ExitSender, Failure, FailureKind, Fault,
    InjectError, RunningChild, StartContext, StartError, Started, UnknownFault,
};
pub use event::{DelayCause, EventSink, SupervisorEvent};
pub use handle::{
    AdminError, ChildCounts, ChildInfo, ChildStatus, ShutdownCause, StartedChild, SupervisorExit,
    SupervisorHandle,
};
pub use health::{
    ChildHealth, HealthReport, LARGE_ONE_FOR_ALL, LARGE_SUPERVISOR, NEAR_LIMIT, Recommendation,
    RecommendationCode, SMALL_REST_FOR_ONE, StormStatus, hourly_limit, near_limit,
};
pub use id::{ChildId, ChildPath};
pub use in_place::{InPlaceClaim, InPlaceClaimer};
pub use restart::{RestartDecision, restart_decision};
pub use spec::{
    ChildKind, ChildSpec, DEFAULT_WORKER_SHUTDOWN, MAX_SHUTDOWN_TIMEOUT, ParseError, Restart,
    Shutdown, SpecError, Strategy, SupervisorFlags, SupervisorSpec,
};
pub use storm::{StormAction, StormConfig, StormWindow};
pub use strategy_change::{
    ChangeOutcome, CouplingChange, Risk, RiskLevel, StrategyChangeOptions, StrategyChangeReport,
    coupling, coupling_changes,
};
