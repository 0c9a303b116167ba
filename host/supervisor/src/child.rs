//! The contract between the supervision core and whatever it supervises.
//!
//! The core knows nothing about Wasm components or OS processes. A kind of child
//! plugs in through two object-safe traits:
//!
//! - [`ChildStart`] lives in the [`ChildSpec`](super::ChildSpec) and is called for
//!   every incarnation (first start, each restart, `restart_child`).
//! - [`RunningChild`] is one live incarnation, owned by the supervisor: it is asked
//!   to [`shutdown`](RunningChild::shutdown), [`kill`](RunningChild::kill) or to
//!   misbehave on purpose ([`inject`](RunningChild::inject)).
//!
//! An incarnation reports its end exactly once through the [`ExitSender`] it was
//! given in its [`StartContext`]. Dropping the sender without reporting counts as a
//! crash, the way a linked Erlang process that dies takes its link with it: a child
//! that panics or forgets cannot leave the supervisor waiting forever.
//!
//! Every exit carries the incarnation's generation; the supervisor ignores an exit
//! whose generation is not the current one (a late report of an old incarnation).
//!
//! What this file must never do: hold supervisor state. It only defines the shapes
//! and the two panic guards the supervisor wraps around foreign code.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::mpsc::UnboundedSender;

use super::event::EventSink;
use super::handle::{Msg, SupervisorHandle};
use super::id::{ChildId, ChildPath};
use super::in_place::{InPlaceClaim, InPlaceClaimer, InPlaceGrant};
use super::spec::SpecError;

/// A boxed, sendable future (the shape of [`ChildStart::start`]).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How to start one incarnation of a child. Held in the child spec and called on
/// every (re)start, from the supervisor's own task: keep it quick, as OTP asks of
/// `start_link` (the supervisor handles nothing else until it returns).
pub trait ChildStart: Send + Sync + 'static {
    /// Starts one incarnation. On success the incarnation must later report its
    /// exit exactly once through `ctx.exits`.
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>>;
}

/// Everything an incarnation gets from its supervisor.
pub struct StartContext {
    /// The child's id within its supervisor.
    pub id: ChildId,
    /// The child's place in the tree (`root/workers/counter`).
    pub path: ChildPath,
    /// This incarnation's generation: unique and increasing within the supervisor.
    pub generation: u64,
    /// Extra start arguments: the `args` of `start_dynamic_child` for a
    /// `simple_one_for_one` child (kept for its restarts), `None` otherwise.
    pub args: Option<Arc<serde_json::Value>>,
    /// Where the incarnation reports its exit, once.
    pub exits: ExitSender,
    /// Where the tree's supervisors send their events: a nested supervisor
    /// started as this child sends its own there too.
    pub events: Arc<dyn EventSink>,
}

/// What a start produced.
pub enum Started {
    /// A live incarnation, now owned by the supervisor.
    Running(Box<dyn RunningChild>),
    /// OTP's `ignore`: nothing was started. The spec is kept (not running),
    /// except for a temporary child, whose spec is dropped.
    Ignore,
}

/// One live incarnation, owned by its supervisor.
pub trait RunningChild: Send + 'static {
    /// Asks the child to stop gracefully (close its mailbox, SIGTERM, …). The child
    /// must report an exit through its [`ExitSender`] eventually; the supervisor
    /// kills it when the shutdown spec's timeout passes.
    fn shutdown(&mut self);

    /// Stops the child at once. The child must report its exit promptly
    /// (normally as [`FailureKind::Killed`]).
    fn kill(&mut self);

    /// Failure injection, for testing fault tolerance. The default supports
    /// [`Fault::Kill`] only (by calling [`kill`](Self::kill)).
    fn inject(&mut self, fault: Fault) -> Result<(), InjectError> {
        match fault {
            Fault::Kill => {
                self.kill();
                Ok(())
            }
            other => Err(InjectError::Unsupported { fault: other }),
        }
    }

    /// Kind-specific details for `which_children` and health reports.
    /// By default `null`.
    fn info(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// The handle of a nested supervisor, so paths like `root/workers/counter` can be
    /// resolved. By default `None` (workers).
    fn supervisor(&self) -> Option<SupervisorHandle> {
        None
    }
}

/// Why an incarnation ended. Follows OTP: `normal`, `shutdown` (including
/// `{shutdown, _}`), or anything else, which is abnormal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ExitReason {
    /// The child finished its work.
    Normal,
    /// The child stopped because it was asked to (or, for a supervisor, because it
    /// gave up after reaching its restart intensity: OTP exits with `shutdown` then).
    Shutdown,
    /// Anything else.
    Abnormal(Failure),
}

impl ExitReason {
    /// An abnormal exit of the given kind (or of a class a kind of child
    /// names, see [`ChildFailure`]).
    pub fn abnormal(kind: impl Into<FailureKind>, message: impl Into<String>) -> Self {
        ExitReason::Abnormal(Failure::new(kind, message))
    }

    /// The exit of a killed incarnation.
    pub fn killed() -> Self {
        ExitReason::abnormal(FailureKind::Killed, "killed")
    }

    /// `true` for anything but `normal` and `shutdown`.
    pub fn is_abnormal(&self) -> bool {
        matches!(self, ExitReason::Abnormal(_))
    }

    /// The failure kind of an abnormal exit.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            ExitReason::Abnormal(f) => Some(f.kind),
            _ => None,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Abnormal(fail) => fmt::Display::fmt(fail, f),
        }
    }
}

/// An abnormal exit: what kind of failure, and a message naming the cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The class of failure.
    pub kind: FailureKind,
    /// A human-readable explanation.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` explained by `message`.
    pub fn new(kind: impl Into<FailureKind>, message: impl Into<String>) -> Self {
        Failure {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}

/// Classes of abnormal exits: OTP's own, plus whatever class a kind of child
/// names for a failure only it can have (a trap, a breached limit, …).
///
/// Serialized and displayed as a snake_case name: `killed`, `crash`,
/// `start_failed`, or the child's class name (`trap`, `out_of_fuel`, …).
/// A child's class is compared by name, so two kinds of children that name
/// the same class (`memory_limit`) report the same class.
///
/// A shutdown that times out is not a class of its own: as in OTP, the child
/// is then killed, and its exit is [`Killed`](Self::Killed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The incarnation was killed (brutal kill, shutdown timeout, injected kill).
    Killed,
    /// Any other crash (a panic, a non-zero exit status, a dropped exit sender, …).
    Crash,
    /// The incarnation failed while starting.
    StartFailed,
    /// A class the kind of child names.
    Child(ChildFailure),
}

impl FailureKind {
    /// The class's snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            FailureKind::Killed => "killed",
            FailureKind::Crash => "crash",
            FailureKind::StartFailed => "start_failed",
            FailureKind::Child(class) => class.name(),
        }
    }

    /// The child's own class, `None` for OTP's classes.
    pub fn child_class(&self) -> Option<ChildFailure> {
        match self {
            FailureKind::Child(class) => Some(*class),
            _ => None,
        }
    }
}

impl From<ChildFailure> for FailureKind {
    fn from(class: ChildFailure) -> Self {
        FailureKind::Child(class)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FailureKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A class of failure named by a kind of child: a snake_case name such as
/// `trap` or `cpu_limit`. The supervisor does not interpret it; it carries
/// it in exit reasons and events, where observers (metrics, logs) read it.
///
/// A kind of child keeps its classes as constants
/// (`const TRAP: ChildFailure = ChildFailure::new("trap")`). The name must not
/// be one of OTP's (`killed`, `crash`, `start_failed`): those are
/// [`FailureKind`]'s own variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildFailure {
    name: &'static str,
}

impl ChildFailure {
    /// The class called `name` (snake_case).
    pub const fn new(name: &'static str) -> Self {
        ChildFailure { name }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A failure to inject into a running child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Kill the incarnation.
    Kill,
    /// Make the incarnation fail as if its own code failed (the kind of child
    /// picks the failure class it reports).
    Trap,
    /// Make the incarnation stop responding (it then ignores graceful shutdown).
    Hang,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Kill => "kill",
            Fault::Trap => "trap",
            Fault::Hang => "hang",
        })
    }
}

impl FromStr for Fault {
    type Err = UnknownFault;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kill" => Ok(Fault::Kill),
            "trap" => Ok(Fault::Trap),
            "hang" => Ok(Fault::Hang),
            other => Err(UnknownFault {
                value: other.to_owned(),
            }),
        }
    }
}

/// A string that names no [`Fault`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{value}` (expected kill, trap or hang)")]
pub struct UnknownFault {
    /// The rejected input.
    pub value: String,
}

/// Why a fault could not be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// This kind of child cannot simulate that fault.
    #[error("this kind of child does not support the `{fault}` fault")]
    Unsupported {
        /// The fault asked for.
        fault: Fault,
    },
    /// The child tried and failed.
    #[error("injecting the fault failed: {message}")]
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// Why a start failed (OTP's `{error, Reason}` from a start function).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    /// The child could not start; the message names the cause.
    #[error("{message}")]
    Failed {
        /// What went wrong.
        message: String,
    },
    /// A nested supervisor's spec is invalid.
    #[error("invalid supervisor spec: {0}")]
    Spec(#[from] SpecError),
    /// A nested supervisor could not start one of its children (OTP's
    /// `{shutdown, {failed_to_start_child, Id, Reason}}`).
    #[error("child `{path}` failed to start: {source}")]
    Child {
        /// The offender.
        path: ChildPath,
        /// Its start error.
        #[source]
        source: Box<StartError>,
    },
    /// The start function panicked; the supervisor caught it.
    #[error("the start function panicked: {message}")]
    Panicked {
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The supervisor task ended before the start finished.
    #[error("the supervisor ended before the start finished")]
    Aborted,
}

impl StartError {
    /// A plain start failure with a message naming the cause.
    pub fn failed(message: impl Into<String>) -> Self {
        StartError::Failed {
            message: message.into(),
        }
    }
}

/// Where one incarnation reports its exit: exactly once, by value.
///
/// Dropping it without calling [`exit`](Self::exit) reports a
/// [`FailureKind::Crash`]; call [`discard`](Self::discard) instead when the start
/// itself fails and the incarnation never existed.
pub struct ExitSender {
    mailbox: Option<UnboundedSender<Msg>>,
    id: ChildId,
    generation: u64,
    /// What the supervisor allows this child to restart in place.
    in_place: Option<InPlaceGrant>,
}

/// One exit report, as the supervisor receives it.
#[derive(Debug)]
pub(crate) struct ChildExit {
    pub(crate) id: ChildId,
    pub(crate) generation: u64,
    pub(crate) reason: ExitReason,
    /// The incarnation restarted in place as this generation, which runs
    /// now under the same handle (see [`super::in_place`]).
    pub(crate) replaced_by: Option<u64>,
}

impl ExitSender {
    pub(crate) fn new(
        mailbox: UnboundedSender<Msg>,
        id: ChildId,
        generation: u64,
        in_place: Option<InPlaceGrant>,
    ) -> Self {
        ExitSender {
            mailbox: Some(mailbox),
            id,
            generation,
            in_place,
        }
    }

    /// Beyond OTP: what claims the right to restart this incarnation in
    /// place after an abnormal exit, where the supervisor would restart it
    /// now and nothing else (see [`super::in_place`]); from any thread.
    /// `None` when it may never restart in place (or its exit is reported).
    pub fn in_place_claimer(&self) -> Option<InPlaceClaimer> {
        self.mailbox.as_ref()?;
        self.in_place.clone().map(InPlaceClaimer)
    }

    /// Reports that this incarnation exited with `reason` and that the new
    /// one of `claim` runs in its place, under the same
    /// [`RunningChild`] handle. From now on this sender reports for the new
    /// incarnation.
    pub fn restarted_in_place(&mut self, reason: ExitReason, claim: InPlaceClaim) {
        let generation = claim.use_up();
        if let Some(tx) = &self.mailbox {
            // A closed mailbox means the supervisor is gone: nobody is left to tell.
            let _ = tx.send(Msg::Exit(ChildExit {
                id: self.id.clone(),
                generation: self.generation,
                reason,
                replaced_by: Some(generation),
            }));
        }
        self.generation = generation;
    }

    /// Reports the incarnation's exit. Never blocks; a report to a supervisor that
    /// is gone is dropped.
    pub fn exit(mut self, reason: ExitReason) {
        self.send(reason);
    }

    /// Drops the sender without reporting (the incarnation never started).
    pub fn discard(mut self) {
        self.mailbox = None;
    }

    /// The id of the child this sender reports for.
    pub fn id(&self) -> &ChildId {
        &self.id
    }

    /// The generation of the incarnation this sender reports for.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn send(&mut self, reason: ExitReason) {
        if let Some(tx) = self.mailbox.take() {
            // A closed mailbox means the supervisor is gone: nobody is left to tell.
            let _ = tx.send(Msg::Exit(ChildExit {
                id: self.id.clone(),
                generation: self.generation,
                reason,
                replaced_by: None,
            }));
        }
    }
}

impl Drop for ExitSender {
    fn drop(&mut self) {
        if self.mailbox.is_some() {
            self.send(ExitReason::abnormal(
                FailureKind::Crash,
                "the incarnation dropped its exit sender without reporting an exit",
            ));
        }
    }
}

impl fmt::Debug for ExitSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitSender")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("armed", &self.mailbox.is_some())
            .finish()
    }
}

/// Polls a start future, turning a panic into an error: foreign code must not take
/// the supervisor down with it.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

/// Runs one call into a child, turning a panic into an error message.
pub(crate) fn guarded<R>(call: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|p| panic_message(p.as_ref()))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}
