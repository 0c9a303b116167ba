//! Component children: an `actor-plugin` instance behind a bounded mailbox,
//! adapted to the supervisor's [`ChildStart`] / [`RunningChild`].
//!
//! One tokio task per incarnation owns the instance and takes envelopes
//! from the mailbox one at a time. The task is an `Incarnation`, shaped
//! like the supervisor's own actor: one input per turn (a control change
//! before an envelope), one handler per input. Each guest call runs on a
//! fiber inside this task ([`crate::component::ActorInstance`]): no
//! hand-off to another thread per message, and a guest that computes for
//! long yields to the runtime once per epoch tick, so it cannot hold a
//! worker from host timers and other children. A trap, timeout, memory
//! breach or fuel exhaustion ends the incarnation with an abnormal exit;
//! the next incarnation is a fresh Store from the same `InstancePre`.
//! Where the supervisor allows it ([`crate::supervisor::InPlaceClaim`]:
//! it would restart this child and nothing else, at once), that next
//! incarnation starts right here, in the task that saw the failure, and
//! the supervisor is told afterwards; the messages queued behind the failed
//! one are dropped, as a restart drops them. Blocking work (the state's
//! file under `persist`) goes off the runtime's workers (`off_runtime`).
//!
//! Control (stop, kill, injected faults) travels beside the mailbox on a
//! watch channel, so it is never stuck behind a full mailbox; a kill also
//! fires the child's interrupt scope, under which every instance it runs
//! (restarted in place, swapped in by a reload) lives, and which stops a
//! running guest call within one epoch tick.
//!
//! Hot reload ([`crate::reload`]) arrives as one more envelope,
//! `Envelope::Reload`, so the swap happens between two messages: those
//! sent meanwhile wait in the mailbox, none is lost or handled twice, and
//! the incarnation (and its generation) lives on — a reload is not a
//! restart. The swap snapshots the old instance, starts the new version,
//! restores the snapshot into it and only then replaces the old one and the
//! child's [`ProgramSlot`]; any failure drops the new instance and the old
//! one serves on. During the probation after a swap, a guest failure rolls
//! the child back to the previous version with the snapshot taken at the
//! swap instead of ending the incarnation.
//!
//! With `persist` set ([`crate::host::persist`]), a start restores the
//! child's snapshot file into the initialised instance (a file that cannot
//! be restored is set aside and the child starts fresh, from a new
//! instance), a graceful stop writes the snapshot before the exit is
//! reported, and in interval mode a timer beside the mailbox writes it
//! between two messages while the state changed since the last write.
//!
//! With `hibernate_after` set, a child idle that long hibernates, as a
//! `gen_server` started with OTP's `hibernate_after` does: its state is
//! taken with `snapshot` and its instance dropped, which frees its linear
//! memory, its Store and its pool slot; the child keeps only its mailbox,
//! its task and the state's bytes. The next envelope wakes it: a new
//! instance of the version the child runs, `init`, then `restore` of the
//! state, exactly the steps of a reload, before the envelope is handled.
//! A `child.snapshot` is answered from the state without waking, and a
//! `persist` write takes it as it is. A wake the guest fails is a failure
//! of the child (its supervisor restarts it, from `init`); one that finds
//! no instance to be had refuses the envelope and leaves the child asleep
//! with its state.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use warden_clock::millis;

use crate::component::{
    ActorInstance, ActorProgram, Capabilities, ComponentError, HostContext, Interrupt, Limits,
};
use crate::events::{FailureClass, TraceKind, TraceOutcome};
use crate::host::logs::LogSlot;
use crate::host::persist::{Ended, Persistence, Trigger};
use crate::host::router::{Router, SendError};
use crate::host::trace::TraceTap;
use crate::reload::Stage;
use crate::supervisor::{
    BoxFuture, ChildPath, ChildStart, ExitReason, ExitSender, FailureKind, Fault, InPlaceClaim,
    InPlaceClaimer, InjectError, RunningChild, StartContext, StartError, Started,
};

/// The version of a component a child runs; hot reload replaces it.
pub type ProgramSlot = Arc<RwLock<ActorProgram>>;

/// What a component child is asked to do, in mailbox order.
///
/// Kept small, since each one sent is an allocation of its size (see
/// [`Mail`]): a rare, large kind goes behind a `Box` of its own.
pub(crate) enum Envelope {
    Message {
        message: Vec<u8>,
        reply: Option<oneshot::Sender<Reply>>,
        from: Origin,
    },
    Snapshot {
        reply: oneshot::Sender<Reply>,
    },
    Restore {
        state: Vec<u8>,
        reply: oneshot::Sender<Reply>,
    },
    /// Swap in a new version of the code, state carried over.
    Reload(Box<SwapRequest>),
}

/// One slot of a child's mailbox. tokio's channel allocates its first
/// block of 32 slots when the child starts, so every child pays 32 × the
/// slot's size, idle or not: a boxed envelope makes that 32 pointers
/// (256 B) where 32 envelopes took 2 KiB, for one small allocation per
/// envelope sent.
pub(crate) type Mail = Box<Envelope>;

/// Who sent a message, as a trace records it.
pub(crate) enum Origin {
    /// The API or the host.
    Api,
    /// A sibling's `host::send`; its path while a trace runs (else `None`,
    /// sparing the allocation).
    Sibling(Option<Box<str>>),
}

/// A new version for a running incarnation (see the module doc).
pub(crate) struct SwapRequest {
    pub program: ActorProgram,
    /// A guest failure within this time after the swap rolls back. Zero
    /// leaves the probation of an earlier swap as it is (the optimized
    /// step of a tiered reload: the version is the same).
    pub probation: Duration,
    /// Swap only if the child still runs this very program (the baseline
    /// code `program` replaces): a probation rollback in between has
    /// made the optimized code of the left version moot.
    // Boxed: an envelope is as large as its largest kind.
    pub replaces: Option<Box<ActorProgram>>,
    pub reply: oneshot::Sender<Result<(), SwapFailure>>,
    /// Called when probation rolled the child back, with the failure that
    /// caused it.
    pub on_rollback: Box<dyn FnOnce(String) + Send>,
}

/// The reason a swap gives when the program it was to replace no longer
/// runs.
pub(crate) const SUPERSEDED: &str = "the child no longer runs the code this swap replaces";

/// Why a swap did not happen; the old version is still serving unless the
/// old instance itself failed while being snapshotted.
#[derive(Debug)]
pub(crate) struct SwapFailure {
    pub stage: Stage,
    pub reason: String,
}

impl SwapFailure {
    fn new(stage: Stage, reason: impl std::fmt::Display) -> Self {
        Self {
            stage,
            reason: reason.to_string(),
        }
    }
}

/// What a running incarnation needs to start another version of itself.
struct Kit {
    slot: ProgramSlot,
    limits: Limits,
    caps: Capabilities,
    host: HostContext,
    init_config: String,
    /// The child's kill switch: every instance of the incarnation lives
    /// under it.
    scope: Interrupt,
}

impl Kit {
    /// The version the child runs now.
    fn program(&self) -> ActorProgram {
        self.slot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The version before the last swap, kept while the new one is on
/// probation.
struct Probation {
    until: Instant,
    previous: ActorProgram,
    snapshot: Vec<u8>,
    on_rollback: Box<dyn FnOnce(String) + Send>,
}

pub(crate) type Reply = Result<Vec<u8>, ReplyFailure>;

/// Why a request got no value back.
#[derive(Debug)]
pub(crate) enum ReplyFailure {
    /// The guest answered with `err`.
    Refused(String),
    /// The guest failed (the incarnation is over).
    Failed(String),
    /// The child could not take it now, and is unchanged.
    Unavailable(String),
}

impl ReplyFailure {
    pub(crate) fn into_send_error(self, path: &str) -> SendError {
        match self {
            ReplyFailure::Refused(message) => SendError::Refused {
                path: path.to_string(),
                message,
            },
            ReplyFailure::Failed(message) => SendError::Failed {
                path: path.to_string(),
                message,
            },
            ReplyFailure::Unavailable(message) => SendError::Unavailable {
                path: path.to_string(),
                message,
            },
        }
    }
}

/// Control beside the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    Run,
    /// Finish the current message, then exit with `shutdown`.
    Stop,
    /// Exit now (`killed`).
    Kill,
    /// Injected: exit as if the guest trapped.
    Trap,
    /// Injected: stop answering, ignore `Stop`; only `Kill` ends it.
    Hang,
}

/// Everything needed to start one incarnation of a component child.
pub struct ComponentChildStart {
    pub program: ProgramSlot,
    pub init_config: String,
    pub limits: Limits,
    pub caps: Capabilities,
    pub send_to: Vec<String>,
    pub mailbox: usize,
    /// Idle time after which the child hibernates (see the module doc);
    /// `None`: it stays awake.
    pub hibernate_after: Option<Duration>,
    pub router: Router,
    /// What the child's instances hold and were refused, kept across
    /// incarnations.
    pub(crate) usage: Arc<MemoryUsage>,
    /// Where and when its state is saved and restored (`persist`); `None`:
    /// every start is fresh.
    pub(crate) persist: Option<Arc<Persistence>>,
    /// Where its `host::log` lines are kept; `None`: `tracing` only.
    pub(crate) log: Option<LogSlot>,
}

/// A component child's memory as `child.info` shows it: one per child,
/// shared by all its incarnations and instances.
#[derive(Debug, Default)]
pub(crate) struct MemoryUsage {
    /// Bytes the live instance holds: all its linear memories and tables,
    /// as its memory limit counts them.
    bytes: AtomicU64,
    /// Requests the memory limit refused, over every instance the child
    /// ran (refused instantiations included).
    breaches: AtomicU64,
    /// Fuel burned over every instance the child ran.
    fuel_used: AtomicU64,
    /// Fuel the serving instance burned between the last two observations
    /// (one call, as a rule), to weigh against the per-call budget.
    last_fuel: AtomicU64,
    /// Whether an instance ran fuel-metered code (else fuel is no number).
    metered: AtomicBool,
    /// Whether the child hibernates now: it holds no instance.
    hibernated: AtomicBool,
}

impl MemoryUsage {
    /// Whether the child hibernates now.
    pub(crate) fn hibernated(&self) -> bool {
        self.hibernated.load(Ordering::Relaxed)
    }

    /// An instantiation that failed: a refusal stops it at the first one.
    fn failed_to_start(&self, err: &ComponentError) {
        if matches!(err, ComponentError::MemoryLimit { .. }) {
            self.breaches.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An instance that will never serve (its `init` failed or refused).
    fn failed_in_init(&self, actor: &ActorInstance) {
        self.breaches
            .fetch_add(actor.sandbox().memory_refusals(), Ordering::Relaxed);
    }
}

/// Keeps a child's [`MemoryUsage`] current from the one instance that
/// serves it now.
struct Gauge {
    usage: Arc<MemoryUsage>,
    /// Refusals of the serving instance already added to `breaches`.
    seen: u64,
    /// Fuel of the serving instance already added to `fuel_used`.
    burned: u64,
}

impl Gauge {
    /// A gauge for a child whose instance `actor` was just started (and
    /// had none of its refusals counted yet).
    fn new(usage: Arc<MemoryUsage>, actor: &ActorInstance) -> Self {
        usage.hibernated.store(false, Ordering::Relaxed);
        let mut gauge = Self {
            usage,
            seen: 0,
            burned: 0,
        };
        gauge.observe(actor);
        gauge
    }

    /// Reads the serving instance after it ran guest code.
    fn observe(&mut self, actor: &ActorInstance) {
        let sandbox = actor.sandbox();
        self.usage
            .bytes
            .store(sandbox.memory_bytes() as u64, Ordering::Relaxed);
        let refusals = sandbox.memory_refusals();
        self.usage
            .breaches
            .fetch_add(refusals.saturating_sub(self.seen), Ordering::Relaxed);
        self.seen = refusals;
        if let Some(fuel) = sandbox.fuel_used() {
            let delta = fuel.saturating_sub(self.burned);
            self.usage.metered.store(true, Ordering::Relaxed);
            self.usage.fuel_used.fetch_add(delta, Ordering::Relaxed);
            if delta > 0 {
                self.usage.last_fuel.store(delta, Ordering::Relaxed);
            }
            self.burned = fuel;
        }
    }

    /// `actor`, a new instance (a reload or a rollback), serves from now on.
    fn replaced(&mut self, actor: &ActorInstance) {
        self.seen = 0;
        self.burned = 0;
        self.observe(actor);
    }

    /// The child hibernates: it holds no instance, so no memory.
    fn hibernated(&mut self) {
        self.usage.bytes.store(0, Ordering::Relaxed);
        self.usage.hibernated.store(true, Ordering::Relaxed);
    }

    /// The child woke up in `actor`, a new instance.
    fn woke(&mut self, actor: &ActorInstance) {
        self.usage.hibernated.store(false, Ordering::Relaxed);
        self.replaced(actor);
    }
}

impl ChildStart for ComponentChildStart {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        let program = self
            .program
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let limits = self.limits.clone();
        let caps = self.caps.clone();
        let init_config = self.init_config.clone();
        let router = self.router.clone();
        let path = ctx.path.to_string();
        let child_path = ctx.path.clone();
        let persist = self.persist.clone();
        if let Some(log) = &self.log {
            log.started();
        }
        let host = HostContext {
            child: path.clone(),
            send_to: self.send_to.clone(),
            mailer: Some(Arc::new(router.clone())),
            log: self.log.as_ref().map(LogSlot::guest_log),
        };
        let capacity = self.mailbox;
        let hibernate_after = self.hibernate_after;
        let slot = self.program.clone();
        let usage = self.usage.clone();
        Box::pin(async move {
            let kit = Kit {
                slot,
                limits,
                caps,
                host,
                init_config,
                scope: Interrupt::new(),
            };
            let starting = usage.clone();
            let restoring = persist.clone().filter(|p| p.should_restore(&child_path));
            let restoring_path = child_path.clone();
            let instance = start_instance(&program, &kit, &starting).await?;
            let (instance, restored) = match restoring {
                Some(p) => {
                    restore_state(instance, p, restoring_path, &program, &kit, &starting).await?
                }
                None => (instance, None),
            };
            let saver = persist.map(|persistence| Saver {
                persistence,
                path: child_path,
                // A fresh state differs from whatever the file holds.
                dirty: restored.is_none(),
                last: restored,
            });
            let tick = saver
                .as_ref()
                .and_then(|s| s.persistence.interval())
                .map(|every| {
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    tick
                });
            let (tx, rx) = mpsc::channel::<Mail>(capacity);
            let (control, control_rx) = watch::channel(Control::Run);
            let kill = kit.scope.clone();
            let gauge = Gauge::new(usage.clone(), &instance);
            let child = ComponentChild {
                control,
                kill,
                mailbox: tx.downgrade(),
                usage,
                slot: kit.slot.clone(),
                limits: kit.limits.clone(),
                hibernate_after,
            };
            router.register(&path, ctx.generation, tx);
            let tap = router.traces().tap(&path);
            let incarnation = Incarnation {
                instance: Some(Box::new(instance)),
                kit: Arc::new(kit),
                mailbox: rx,
                control: control_rx,
                gauge,
                probation: None,
                saver,
                tick,
                hibernation: hibernate_after.map(Hibernation::new),
                exits: ctx.exits,
                router,
                path,
                generation: ctx.generation,
                tap,
            };
            tokio::spawn(incarnation.serve());
            Ok(Started::Running(Box::new(child)))
        })
    }
}

async fn start_instance(
    program: &ActorProgram,
    kit: &Kit,
    usage: &MemoryUsage,
) -> Result<ActorInstance, StartError> {
    let mut instance = program
        .instantiate_under(&kit.limits, &kit.caps, kit.host.clone(), &kit.scope)
        .await
        .map_err(|e| {
            usage.failed_to_start(&e);
            StartError::failed(format!("cannot instantiate: {e}"))
        })?;
    let init = instance.init(&kit.init_config).await;
    if !matches!(init, Ok(Ok(()))) {
        usage.failed_in_init(&instance);
    }
    match init {
        Ok(Ok(())) => Ok(instance),
        Ok(Err(reason)) => Err(StartError::failed(format!("init refused: {reason}"))),
        Err(err) => Err(StartError::failed(format!("init failed: {err}"))),
    }
}

/// The child's saved state into `actor`, just initialised: the state's
/// hash when it was restored. A file that cannot be restored (unreadable,
/// corrupt, refused by the guest, a trap) is set aside with an event, and
/// the child starts fresh from a new instance (the refusing one may hold
/// half a state, or be poisoned by its trap); only a failure of that new
/// start fails the start, as it would have without `persist`.
async fn restore_state(
    mut actor: ActorInstance,
    persistence: Arc<Persistence>,
    path: ChildPath,
    program: &ActorProgram,
    kit: &Kit,
    usage: &MemoryUsage,
) -> Result<(ActorInstance, Option<String>), StartError> {
    let limit = kit.limits.memory_bytes;
    let (loaded, persistence, path) = off_runtime(move || {
        let loaded = persistence.load(&path, limit);
        (loaded, persistence, path)
    })
    .await
    .map_err(|e| StartError::failed(format!("cannot read the saved state: {e}")))?;
    let snapshot = match loaded {
        Ok(None) => return Ok((actor, None)),
        Ok(Some(snapshot)) => snapshot,
        Err(err) => {
            // Nothing reached the guest: the instance is still fresh.
            persistence.reject(&path, err.to_string());
            return Ok((actor, None));
        }
    };
    let reason = match actor.restore(&snapshot.state).await {
        Ok(Ok(())) => {
            persistence.restored(&path, &snapshot);
            return Ok((actor, Some(snapshot.header.sha256)));
        }
        Ok(Err(refusal)) => format!("the guest's restore refused it: {refusal}"),
        Err(err) => format!("the guest's restore failed: {err}"),
    };
    persistence.reject(&path, reason);
    drop(actor);
    let fresh = Box::pin(start_instance(program, kit, usage)).await?;
    Ok((fresh, None))
}

/// An incarnation's side of `persist`: what was last written, and
/// whether the state may have changed since.
struct Saver {
    persistence: Arc<Persistence>,
    path: ChildPath,
    /// SHA-256 of the state last written or restored: the same state is
    /// not written again.
    last: Option<String>,
    /// A message, restore, reload or rollback ran since `last`.
    dirty: bool,
}

/// What one attempt to persist did.
enum Saved {
    /// The state was written; its hash.
    Written(String),
    /// The state is the one already in the file.
    Unchanged,
    /// The guest refused its snapshot or the file could not be written
    /// (an event says which).
    Failed,
}

/// Writes `state`, a snapshot the guest gave, unless it is `last`.
fn write_state(
    state: &[u8],
    persistence: &Persistence,
    path: &ChildPath,
    component: &str,
    last: Option<&str>,
    trigger: Trigger,
) -> Saved {
    let hash = crate::component::content_hash(state);
    if last == Some(hash.as_str()) {
        return Saved::Unchanged;
    }
    if persistence.save(path, component, state, trigger) {
        Saved::Written(hash)
    } else {
        Saved::Failed
    }
}

/// The supervisor's grip on one incarnation, and what it can tell about
/// it without asking the guest.
struct ComponentChild {
    control: watch::Sender<Control>,
    /// The incarnation's interrupt scope ([`Kit::scope`]).
    kill: Interrupt,
    /// Weak, so it never keeps the mailbox open on its own.
    mailbox: mpsc::WeakSender<Mail>,
    /// Memory of the live instance (updated after each envelope) and the
    /// child's limit breaches.
    usage: Arc<MemoryUsage>,
    slot: ProgramSlot,
    limits: Limits,
    hibernate_after: Option<Duration>,
}

impl RunningChild for ComponentChild {
    fn shutdown(&mut self) {
        self.control.send_if_modified(|c| {
            let change = *c == Control::Run;
            if change {
                *c = Control::Stop;
            }
            change
        });
    }

    fn kill(&mut self) {
        self.kill.fire();
        let _ = self.control.send(Control::Kill);
    }

    fn inject(&mut self, fault: Fault) -> Result<(), InjectError> {
        match fault {
            Fault::Kill => self.kill(),
            Fault::Trap => {
                self.kill.fire();
                let _ = self.control.send(Control::Trap);
            }
            Fault::Hang => {
                let _ = self.control.send(Control::Hang);
            }
        }
        Ok(())
    }

    fn info(&self) -> serde_json::Value {
        let (depth, capacity) = match self.mailbox.upgrade() {
            Some(tx) => (tx.max_capacity() - tx.capacity(), tx.max_capacity()),
            None => (0, 0),
        };
        let hash = self
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .hash()
            .to_string();
        serde_json::json!({
            "kind": "component",
            "limits": {
                "memory_bytes": self.limits.memory_bytes,
                "fuel": self.limits.fuel,
                "timeout_ms": self.limits.timeout.map(millis),
                "output_bytes": self.limits.output_bytes,
            },
            "memory_bytes": self.usage.bytes.load(Ordering::Relaxed),
            "hibernate_after_ms": self.hibernate_after.map(millis),
            "hibernated": self.usage.hibernated(),
            "limit_breaches": self.usage.breaches.load(Ordering::Relaxed),
            "mailbox": {"depth": depth, "capacity": capacity},
            "fuel_used": self
                .usage
                .metered
                .load(Ordering::Relaxed)
                .then(|| self.usage.fuel_used.load(Ordering::Relaxed)),
            "fuel_last_call": self
                .usage
                .metered
                .load(Ordering::Relaxed)
                .then(|| self.usage.last_fuel.load(Ordering::Relaxed)),
            "hash": hash,
        })
    }
}

/// Whether an incarnation's loop goes on.
enum Flow {
    Continue,
    Stop(ExitReason),
}

/// One input of the loop.
enum Input {
    /// The supervisor changed the control (stop, kill, an injected fault).
    Control(Control),
    /// The next envelope of the mailbox.
    Envelope(Envelope),
    /// Every sender of the mailbox is gone: nobody can reach the child.
    MailboxClosed,
    /// The supervisor dropped its grip on the incarnation.
    ControlGone,
    /// Time to persist the state (`persist = { interval_ms = N }`).
    PersistTick,
    /// The child has been idle for `hibernate_after`.
    Idle,
}

/// What a guest call returns: the guest's answer, or why it failed.
type GuestOutcome = Result<Result<Vec<u8>, String>, ComponentError>;

/// A guest call as it came back to the incarnation: its outcome and, after
/// a failure, the instance restarted in place with the supervisor's leave;
/// `Err` when the instance was lost.
type Called = Result<(GuestOutcome, Option<(InPlaceClaim, Instance)>), ExitReason>;

/// What is left to do after a guest call ([`Incarnation::settle`]).
enum Settled {
    /// Answered; the loop goes on or ends with this.
    Done(Flow),
    /// The guest failed: `answer` goes to `reply` once the failure is
    /// settled.
    Failed {
        err: ComponentError,
        reply: Option<oneshot::Sender<Reply>>,
        answer: Reply,
    },
}

/// An incarnation's instance, boxed: the task's future, which every idle
/// child holds, holds the incarnation, and would otherwise hold the
/// instance (~300 B) itself, and room for a second copy in the state of
/// each step that moves it (a swap, a hibernation).
type Instance = Box<ActorInstance>;

/// All the state of one incarnation, owned by its task: the instance,
/// the mailbox and the control it obeys, the memory gauge it keeps
/// current, and what it needs to report its exit.
///
/// Read like [`crate::supervisor`]'s actor: [`Incarnation::serve`] is the
/// whole life, [`Incarnation::next_input`] picks one input per turn
/// (control before the mailbox), and each input has its handler.
struct Incarnation {
    /// `None` only while a guest call or a swap holds the instance.
    instance: Option<Instance>,
    kit: Arc<Kit>,
    mailbox: mpsc::Receiver<Mail>,
    control: watch::Receiver<Control>,
    gauge: Gauge,
    /// The previous version, while the one swapped in is on probation.
    probation: Option<Probation>,
    /// `persist`, when set.
    saver: Option<Saver>,
    /// The `interval_ms` timer of `persist`, in interval mode.
    tick: Option<tokio::time::Interval>,
    /// `hibernate_after`, when set. Boxed: a child that never hibernates
    /// pays a pointer.
    hibernation: Option<Box<Hibernation>>,
    exits: ExitSender,
    router: Router,
    path: String,
    generation: u64,
    /// Set while a trace covers the child: one relaxed load per message.
    tap: TraceTap,
}

impl Incarnation {
    /// The incarnation's life: envelopes in, replies out, one exit report.
    ///
    /// An `async move` block rather than an `async fn`: an `async fn`
    /// keeps its argument twice in its future (as passed, and moved into
    /// its body), and every idle child holds this future.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn's future holds its argument twice"
    )]
    fn serve(mut self) -> impl Future<Output = ()> + Send + 'static {
        async move {
            let reason = self.run().await;
            self.router.unregister(&self.path, self.generation);
            if self.saver.is_some() {
                // Boxed, as the other rare, large steps below: the task's
                // future is as large as its largest step.
                Box::pin(self.persist_at_exit(&reason)).await;
            }
            let Self {
                instance,
                exits,
                router,
                path,
                generation,
                ..
            } = self;
            router.unregister(&path, generation);
            drop(instance);
            exits.exit(reason);
        }
    }

    /// The loop: one input per turn, until one ends the incarnation.
    async fn run(&mut self) -> ExitReason {
        loop {
            let mut input = self.next_input().await;
            if self.asleep() {
                // Boxed, and here rather than in `handle_input`, whose
                // future would otherwise hold the input twice.
                input = match Box::pin(self.wake(input)).await {
                    ControlFlow::Continue(input) => input,
                    ControlFlow::Break(Flow::Continue) => continue,
                    ControlFlow::Break(Flow::Stop(reason)) => return reason,
                };
            }
            if let Flow::Stop(reason) = self.handle_input(input).await {
                return reason;
            }
            if let Some(hibernation) = &mut self.hibernation {
                hibernation.active = tokio::time::Instant::now();
            }
        }
    }

    /// The control when it asks for anything but running, else whichever
    /// comes first of a control change, a persist tick, an envelope and an
    /// idle period (in that order on a tie: a stop is never stuck behind a
    /// busy mailbox, and an envelope waiting is no idle period).
    async fn next_input(&mut self) -> Input {
        let current = *self.control.borrow_and_update();
        if current != Control::Run {
            return Input::Control(current);
        }
        tokio::select! {
            biased;
            changed = self.control.changed() => match changed {
                Ok(()) => Input::Control(*self.control.borrow_and_update()),
                Err(_) => Input::ControlGone,
            },
            () = next_tick(&mut self.tick) => Input::PersistTick,
            mail = self.mailbox.recv() => mail.map_or(Input::MailboxClosed, |mail| Input::Envelope(*mail)),
            () = idle(&mut self.hibernation) => Input::Idle,
        }
    }

    /// One turn of the loop. An `async move` block, as [`Incarnation::serve`],
    /// so that its future holds the input once.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn's future holds its argument twice"
    )]
    fn handle_input(&mut self, input: Input) -> impl Future<Output = Flow> + Send + '_ {
        async move {
            if let Input::Envelope(
                Envelope::Message { .. } | Envelope::Restore { .. } | Envelope::Reload(_),
            ) = &input
                && let Some(saver) = &mut self.saver
            {
                saver.dirty = true;
            }
            match input {
                Input::Control(Control::Run) => Flow::Continue,
                Input::Control(Control::Stop) | Input::MailboxClosed | Input::ControlGone => {
                    Flow::Stop(ExitReason::Shutdown)
                }
                Input::Control(Control::Kill) => Flow::Stop(ExitReason::killed()),
                Input::Control(Control::Trap) => Flow::Stop(injected_trap()),
                Input::Control(Control::Hang) => Flow::Stop(Box::pin(self.handle_hang()).await),
                Input::Envelope(Envelope::Message {
                    message,
                    reply,
                    from,
                }) => {
                    let tracing = self
                        .tap
                        .active()
                        .then(|| self.tracing(reply.is_some(), from));
                    self.guest_call(reply, GuestRequest::Handle(message), tracing)
                        .await
                }
                Input::Envelope(Envelope::Snapshot { reply }) => {
                    self.guest_call(Some(reply), GuestRequest::Snapshot, None)
                        .await
                }
                Input::Envelope(Envelope::Restore { state, reply }) => {
                    self.guest_call(Some(reply), GuestRequest::Restore(state), None)
                        .await
                }
                Input::Envelope(Envelope::Reload(request)) => {
                    Box::pin(self.handle_reload(request)).await
                }
                Input::PersistTick => Box::pin(self.persist(Trigger::Interval)).await.0,
                Input::Idle => Box::pin(self.hibernate()).await,
            }
        }
    }

    /// Writes the state when it may have changed since the last write;
    /// whether the file now holds it. A guest failure while taking the
    /// snapshot is a failure like any other (rolled back on probation, else
    /// the incarnation ends).
    async fn persist(&mut self, trigger: Trigger) -> (Flow, bool) {
        let Some(saver) = &self.saver else {
            return (Flow::Continue, false);
        };
        if !saver.dirty {
            return (Flow::Continue, true);
        }
        let persistence = saver.persistence.clone();
        let path = saver.path.clone();
        let last = saver.last.clone();
        let component = self
            .kit
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .hash()
            .to_string();
        let state = match self.hibernation.as_ref().and_then(|h| h.state.clone()) {
            // Asleep: the state is the snapshot taken at hibernation.
            Some(state) => state,
            None => {
                let Some(actor) = self.instance.as_mut() else {
                    return (Flow::Stop(instance_lost()), false);
                };
                let taken = Box::pin(actor.snapshot()).await;
                self.gauge.observe(actor);
                match taken {
                    Ok(Ok(state)) => state,
                    Ok(Err(refusal)) => {
                        persistence
                            .failed(&path, format!("the guest refused its snapshot: {refusal}"));
                        // Tried again at the next tick.
                        return (Flow::Continue, false);
                    }
                    Err(err) => {
                        persistence.failed(
                            &path,
                            format!("the guest failed while taking its snapshot: {err}"),
                        );
                        return (self.guest_failed(&err, || {}).await, false);
                    }
                }
            }
        };
        let written = off_runtime(move || {
            let last = last.as_deref();
            write_state(&state, &persistence, &path, &component, last, trigger)
        })
        .await;
        let saved = match written {
            Ok(saved) => saved,
            Err(join) => {
                let reason = format!("persist task failed: {join}");
                return (
                    Flow::Stop(ExitReason::abnormal(FailureKind::Crash, reason)),
                    false,
                );
            }
        };
        let Some(saver) = &mut self.saver else {
            return (Flow::Continue, false);
        };
        let kept = match saved {
            Saved::Written(hash) => {
                saver.last = Some(hash);
                true
            }
            Saved::Unchanged => true,
            Saved::Failed => false,
        };
        // A state not written is tried again at the next tick.
        saver.dirty = !kept;
        (Flow::Continue, kept)
    }

    /// After the loop: a graceful stop writes the state; either way, the
    /// next start learns whether the file holds the state this incarnation
    /// ended with.
    async fn persist_at_exit(&mut self, reason: &ExitReason) {
        if self.saver.is_none() {
            return;
        }
        let holds_state = self.instance.is_some() || self.asleep();
        let ended = if *reason == ExitReason::Shutdown && holds_state {
            match self.persist(Trigger::Shutdown).await {
                (_, true) => Ended::Saved,
                (_, false) => Ended::Unsaved,
            }
        } else {
            Ended::Unsaved
        };
        if let Some(saver) = &self.saver {
            saver.persistence.ended(&saver.path, ended);
        }
    }

    /// An injected hang: answer nothing and ignore stop requests; only a
    /// kill (or an injected trap) ends a hung child, as with a real hang.
    async fn handle_hang(&mut self) -> ExitReason {
        loop {
            if self.control.changed().await.is_err() {
                return ExitReason::killed();
            }
            match *self.control.borrow_and_update() {
                Control::Kill => return ExitReason::killed(),
                Control::Trap => return injected_trap(),
                Control::Run | Control::Stop | Control::Hang => {}
            }
        }
    }

    /// A message, snapshot or restore: `request` runs against the
    /// instance, and whoever asked gets the answer. A guest failure ends
    /// the incarnation, unless the version on probation is rolled back
    /// instead.
    async fn guest_call(
        &mut self,
        reply: Option<oneshot::Sender<Reply>>,
        request: GuestRequest,
        tracing: Option<Box<Tracing>>,
    ) -> Flow {
        // Where a failure may restart in place, the next instance starts
        // right here, before the failure is settled.
        let respawn = self.respawn();
        // Boxed, the call and the restart after it: their futures hold
        // wasmtime's, and the task's future, which every idle child holds,
        // is as large as its largest step.
        let called = Box::pin(call_guest(
            self.instance.as_deref_mut(),
            &mut self.gauge,
            request,
            tracing,
            respawn,
        ))
        .await;
        let (err, reply, answer) = match self.settle(called, reply) {
            Settled::Done(flow) => return flow,
            Settled::Failed { err, reply, answer } => (err, reply, answer),
        };
        // Boxed, as the other rare steps.
        Box::pin(async move {
            self.guest_failed(&err, move || answer_to(reply, answer))
                .await
        })
        .await
    }

    /// What a guest call left: the answer sent and the loop going on (a
    /// restart in place included), the incarnation over, or a failure
    /// for [`Incarnation::guest_failed`] to settle. Not async, so that
    /// none of it is kept in the task's future.
    fn settle(&mut self, called: Called, reply: Option<oneshot::Sender<Reply>>) -> Settled {
        let (outcome, restarted) = match called {
            Ok(called) => called,
            Err(reason) => return Settled::Done(Flow::Stop(reason)),
        };
        if let (Err(err), Some((claim, actor))) = (&outcome, restarted) {
            let answer = Err(ReplyFailure::Failed(err.to_string()));
            // The router entry stays: what is sent from now on reaches the
            // new instance. What was queued behind the failed message goes,
            // as a restart drops it.
            while self.mailbox.try_recv().is_ok() {}
            // A version whose probation ran out is simply the version.
            self.probation = None;
            let failed = self.instance.replace(actor);
            self.restarted_in_place(exit_reason(err), claim);
            answer_to(reply, answer);
            drop(failed);
            return Settled::Done(Flow::Continue);
        }
        match outcome {
            Ok(Ok(bytes)) => answer_to(reply, Ok(bytes)),
            Ok(Err(refusal)) => answer_to(reply, Err(ReplyFailure::Refused(refusal))),
            Err(err) => {
                let answer = Err(ReplyFailure::Failed(err.to_string()));
                return Settled::Failed { err, reply, answer };
            }
        }
        Settled::Done(Flow::Continue)
    }

    /// What a trace records of a message about to be handled.
    fn tracing(&self, replied: bool, from: Origin) -> Box<Tracing> {
        let (kind, from) = match from {
            Origin::Api if replied => (TraceKind::Call, None),
            Origin::Api => (TraceKind::Cast, None),
            Origin::Sibling(sender) => (TraceKind::Send, sender.map(String::from)),
        };
        Box::new(Tracing {
            tap: self.tap.clone(),
            kind,
            from,
            taken: Instant::now(),
        })
    }

    /// The guest failed with `err`: back to the previous version when the
    /// one swapped in is on probation, else the incarnation ends. `answer`
    /// tells whoever asked, in between. (A restart in place happens before,
    /// in [`Incarnation::guest_call`].)
    async fn guest_failed(&mut self, err: &ComponentError, answer: impl FnOnce()) -> Flow {
        if self.roll_back_on_probation(err).await {
            if let Some(saver) = &mut self.saver {
                saver.dirty = true;
            }
            answer();
            return Flow::Continue;
        }
        let reason = exit_reason(err);
        // Leave the router before answering, so whoever hears of the
        // failure and retries reaches the next incarnation, not this one.
        self.router.unregister(&self.path, self.generation);
        answer();
        Flow::Stop(reason)
    }

    /// What a restart in place needs after a failure of the next call,
    /// decided before it; `None` while a version is on probation (a failure
    /// rolls it back instead), while a stop is asked for, with `persist`
    /// (a start restores the saved state: that stays the supervisor's
    /// start) or where the supervisor allows no restart in place.
    fn respawn(&self) -> Option<Respawn> {
        let on_probation = self
            .probation
            .as_ref()
            .is_some_and(|p| Instant::now() < p.until);
        if on_probation || self.saver.is_some() || *self.control.borrow() != Control::Run {
            return None;
        }
        Some(Respawn {
            claimer: self.exits.in_place_claimer()?,
            kit: self.kit.clone(),
            usage: self.gauge.usage.clone(),
        })
    }

    /// The new incarnation `actor` serves from now on: the router's entry,
    /// the supervisor (told of the exit with `reason` and of the restart),
    /// the gauge.
    fn restarted_in_place(&mut self, reason: ExitReason, claim: InPlaceClaim) {
        let next = claim.generation();
        self.router.renumber(&self.path, self.generation, next);
        self.exits.restarted_in_place(reason, claim);
        self.generation = next;
        if let Some(actor) = &self.instance {
            self.gauge = Gauge::new(self.gauge.usage.clone(), actor);
        }
    }

    /// After the guest failed with `err`: when the version swapped in is
    /// still on probation, back to the previous one (true); false when
    /// there is none or it cannot start again.
    async fn roll_back_on_probation(&mut self, err: &ComponentError) -> bool {
        let Some(p) = self.probation.take_if(|p| Instant::now() < p.until) else {
            return false;
        };
        let kit = self.kit.clone();
        match Box::pin(roll_back(p, &kit, err.to_string())).await {
            Some(actor) => {
                self.gauge.replaced(&actor);
                self.instance = Some(Box::new(actor));
                true
            }
            None => false,
        }
    }

    /// A new version of the code, swapped in between two envelopes (see
    /// the module doc).
    async fn handle_reload(&mut self, request: Box<SwapRequest>) -> Flow {
        let actor = match self.take_instance() {
            Ok(actor) => actor,
            Err(reason) => return Flow::Stop(reason),
        };
        let kit = self.kit.clone();
        match swap(actor, *request, &kit).await {
            Swapped::Kept(actor) => {
                self.gauge.observe(&actor);
                self.instance = Some(actor);
                Flow::Continue
            }
            Swapped::New(actor, probation) => {
                self.gauge.replaced(&actor);
                self.instance = Some(actor);
                if let Some(p) = probation {
                    self.probation = Some(p);
                }
                Flow::Continue
            }
            Swapped::OldFailed(err) => {
                self.router.unregister(&self.path, self.generation);
                Flow::Stop(exit_reason(&err))
            }
        }
    }

    /// Whether the child hibernates: it holds its state, not an instance.
    fn asleep(&self) -> bool {
        self.hibernation.as_ref().is_some_and(|h| h.state.is_some())
    }

    /// Idle for `hibernate_after`: the state taken, the instance dropped
    /// (see the module doc). A version on probation stays
    /// awake, since only its instance can fail and roll back; so does a
    /// guest that refuses its snapshot (tried again after the next idle
    /// period, with a warning). A guest failure while taking it is a
    /// failure like any other.
    async fn hibernate(&mut self) -> Flow {
        if self
            .probation
            .as_ref()
            .is_some_and(|p| Instant::now() < p.until)
        {
            return Flow::Continue;
        }
        let actor = match self.take_instance() {
            Ok(actor) => actor,
            Err(reason) => return Flow::Stop(reason),
        };
        let mut actor = actor;
        let taken = match actor.snapshot().await {
            Ok(Ok(state)) => {
                drop(actor);
                Slept::Asleep(state)
            }
            Ok(Err(refusal)) => Slept::Refused(actor, refusal),
            Err(err) => Slept::Failed(err),
        };
        match taken {
            Slept::Asleep(state) => {
                tracing::debug!(child = %self.path, state_bytes = state.len(), "hibernated");
                self.gauge.hibernated();
                if let Some(hibernation) = &mut self.hibernation {
                    hibernation.state = Some(state);
                }
                Flow::Continue
            }
            Slept::Refused(actor, refusal) => {
                tracing::warn!(child = %self.path, %refusal, "the guest refused its snapshot: it stays awake");
                self.gauge.observe(&actor);
                self.instance = Some(actor);
                Flow::Continue
            }
            Slept::Failed(err) => self.guest_failed(&err, || {}).await,
        }
    }

    /// An input for a hibernating child. An envelope wakes it: a new
    /// instance of the version it runs holds the state again, and the
    /// envelope goes on to be handled (`Continue`), as any other input
    /// does. A snapshot is answered from the state, asleep (`Break`). A
    /// wake that fails ends the incarnation, the envelope answered with
    /// why.
    async fn wake(&mut self, input: Input) -> ControlFlow<Flow, Input> {
        let Input::Envelope(envelope) = input else {
            return ControlFlow::Continue(input);
        };
        let Some(hibernation) = self.hibernation.as_mut() else {
            return ControlFlow::Continue(Input::Envelope(envelope));
        };
        let Some(state) = hibernation.state.take() else {
            return ControlFlow::Continue(Input::Envelope(envelope));
        };
        if let Envelope::Snapshot { reply } = envelope {
            answer_to(Some(reply), Ok(state.clone()));
            hibernation.state = Some(state);
            return ControlFlow::Break(Flow::Continue);
        }
        let woken = start_with_state(&self.kit.program(), &self.kit, &state).await;
        let failure = match woken {
            Ok(actor) => {
                tracing::debug!(child = %self.path, "woke from hibernation");
                self.gauge.woke(&actor);
                self.instance = Some(Box::new(actor));
                // The idle period starts again when this envelope is
                // handled (`run`); the timer, long fired, follows lazily.
                return ControlFlow::Continue(Input::Envelope(envelope));
            }
            // No instance to be had (a full pool, the kernel's mapping
            // limit): nothing of the child's doing, and its state is
            // whole. It sleeps on; the next envelope tries again.
            Err(failure) if failure.stage == Stage::Instantiate => {
                tracing::warn!(child = %self.path, reason = %failure.reason, "no instance to wake in: the child hibernates on");
                hibernation.state = Some(state);
                let why = format!(
                    "cannot wake from hibernation: {} (it hibernates on, its state kept)",
                    failure.reason
                );
                refuse(envelope, ReplyFailure::Unavailable(why));
                return ControlFlow::Break(Flow::Continue);
            }
            Err(failure) => format!(
                "cannot wake from hibernation: {} failed: {}",
                failure.stage, failure.reason
            ),
        };
        // Leave the router first, as any failure does, so a retry reaches
        // the next incarnation.
        self.router.unregister(&self.path, self.generation);
        refuse(envelope, ReplyFailure::Failed(failure.clone()));
        // A kill that stopped the wake's `init` or `restore` is the kill,
        // as it is for any guest call, not a crash of the child.
        let reason = if self.kit.scope.is_fired() {
            ExitReason::killed()
        } else {
            ExitReason::abnormal(FailureKind::Crash, failure)
        };
        ControlFlow::Break(Flow::Stop(reason))
    }

    /// The instance, for a swap or a hibernation that hands it back.
    fn take_instance(&mut self) -> Result<Instance, ExitReason> {
        self.instance.take().ok_or_else(instance_lost)
    }
}

/// The incarnation's end when its instance went missing (a bug: every
/// step that takes it puts it back or ends the incarnation).
fn instance_lost() -> ExitReason {
    ExitReason::abnormal(FailureKind::Crash, "instance lost")
}

/// Runs `request` against `actor` (`Err` when there is none), records it
/// when traced and reads the gauge; after a failure, restarts in place
/// when `respawn` allows it.
async fn call_guest(
    actor: Option<&mut ActorInstance>,
    gauge: &mut Gauge,
    request: GuestRequest,
    tracing: Option<Box<Tracing>>,
    respawn: Option<Respawn>,
) -> Called {
    let actor = actor.ok_or_else(instance_lost)?;
    let outcome = request.run(actor).await;
    if let (Some(tracing), GuestRequest::Handle(message)) = (tracing, &request) {
        tracing.record(message, &outcome);
    }
    gauge.observe(actor);
    let restarted = match (&outcome, respawn) {
        (Err(err), Some(respawn)) => respawn.after(err).await,
        _ => None,
    };
    Ok((outcome, restarted))
}

/// What a guest call asks of the guest.
enum GuestRequest {
    Handle(Vec<u8>),
    Snapshot,
    Restore(Vec<u8>),
}

impl GuestRequest {
    async fn run(&self, actor: &mut ActorInstance) -> GuestOutcome {
        match self {
            Self::Handle(message) => actor.handle(message).await,
            Self::Snapshot => actor.snapshot().await,
            Self::Restore(state) => actor
                .restore(state)
                .await
                .map(|restored| restored.map(|()| Vec::new())),
        }
    }
}

/// A message handled while a trace covers the child: what its record
/// needs besides the message and the outcome.
struct Tracing {
    tap: TraceTap,
    kind: TraceKind,
    from: Option<String>,
    /// When the message was taken from the mailbox.
    taken: Instant,
}

impl Tracing {
    fn record(self, message: &[u8], outcome: &GuestOutcome) {
        let latency = self.taken.elapsed();
        let failure;
        let (result, out) = match outcome {
            Ok(Ok(bytes)) => (TraceOutcome::Reply, bytes.as_slice()),
            Ok(Err(refusal)) => (TraceOutcome::Error, refusal.as_bytes()),
            Err(err) => {
                failure = err.to_string();
                (TraceOutcome::Trap, failure.as_bytes())
            }
        };
        self.tap
            .record(self.kind, self.from, message, result, out, latency);
    }
}

/// `hibernate_after` of one child: when it last worked, the timer that
/// finds an idle period, and its state while it hibernates.
struct Hibernation {
    after: Duration,
    /// When the child last handled an input.
    active: tokio::time::Instant,
    /// Fires at `active + after` or before: moved on when it fires early,
    /// rather than at every message, so a busy child touches the timer
    /// wheel about once per `after`.
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The snapshot of the dropped instance, while the child hibernates.
    state: Option<Vec<u8>>,
}

impl Hibernation {
    fn new(after: Duration) -> Box<Self> {
        let now = tokio::time::Instant::now();
        Box::new(Self {
            after,
            active: now,
            timer: Box::pin(tokio::time::sleep_until(now + after)),
            state: None,
        })
    }
}

/// When the awake child has been idle for its `hibernate_after`; never
/// without one, nor while it hibernates.
async fn idle(hibernation: &mut Option<Box<Hibernation>>) {
    let Some(h) = hibernation.as_mut().filter(|h| h.state.is_none()) else {
        return std::future::pending().await;
    };
    loop {
        h.timer.as_mut().await;
        let due = h.active + h.after;
        if tokio::time::Instant::now() >= due {
            return;
        }
        h.timer.as_mut().reset(due);
    }
}

/// What an attempt to hibernate left.
enum Slept {
    /// The state, the instance dropped.
    Asleep(Vec<u8>),
    /// The guest refused its snapshot: it serves on.
    Refused(Instance, String),
    /// The guest failed while taking it.
    Failed(ComponentError),
}

/// Answers an envelope that will not be handled with `why`.
fn refuse(envelope: Envelope, why: ReplyFailure) {
    match envelope {
        Envelope::Message { reply, .. } => answer_to(reply, Err(why)),
        Envelope::Snapshot { reply } | Envelope::Restore { reply, .. } => {
            answer_to(Some(reply), Err(why));
        }
        Envelope::Reload(request) => {
            let (ReplyFailure::Refused(why)
            | ReplyFailure::Failed(why)
            | ReplyFailure::Unavailable(why)) = why;
            let _ = request
                .reply
                .send(Err(SwapFailure::new(Stage::Snapshot, why)));
        }
    }
}

/// What a guest call needs to restart in place after a failure
/// ([`Incarnation::respawn`]).
struct Respawn {
    claimer: InPlaceClaimer,
    kit: Arc<Kit>,
    usage: Arc<MemoryUsage>,
}

impl Respawn {
    /// After the guest failed with `err`: a started and initialised
    /// instance of the current version and the supervisor's leave, or
    /// `None` (a kill, no leave, or the new instance failed to start: the
    /// failure then takes its usual way).
    async fn after(self, err: &ComponentError) -> Option<(InPlaceClaim, Instance)> {
        if matches!(err, ComponentError::Killed) {
            return None;
        }
        let claim = self.claimer.claim()?;
        let actor = start_instance(&self.kit.program(), &self.kit, &self.usage)
            .await
            .ok()?;
        Some((claim, Box::new(actor)))
    }
}

/// The next tick of `persist`'s timer; never, without one.
async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// How an injected trap reads to the supervisor.
fn injected_trap() -> ExitReason {
    ExitReason::abnormal(FailureClass::Trap, "injected trap")
}

/// Answers whoever asked, if anyone did; one who stopped waiting is no
/// failure of the child's.
fn answer_to(reply: Option<oneshot::Sender<Reply>>, answer: Reply) {
    if let Some(reply) = reply {
        let _ = reply.send(answer);
    }
}

/// What a reload envelope left behind.
enum Swapped {
    /// The new version serves from now on.
    New(Instance, Option<Probation>),
    /// The swap did not happen: the old version serves on.
    Kept(Instance),
    /// The old instance failed while being snapshotted: the incarnation is
    /// over.
    OldFailed(ComponentError),
}

/// snapshot old → instantiate new → init → restore → swap, answering the
/// request. The old instance is only dropped once the new one holds its
/// state.
async fn swap(mut old: Instance, request: SwapRequest, kit: &Kit) -> Swapped {
    let SwapRequest {
        program,
        probation,
        replaces,
        reply,
        on_rollback,
    } = request;
    if let Some(expected) = replaces {
        let runs = kit
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is(&expected);
        if !runs {
            let _ = reply.send(Err(SwapFailure::new(Stage::Snapshot, SUPERSEDED)));
            return Swapped::Kept(old);
        }
    }
    let snapshot = match old.snapshot().await {
        Ok(Ok(state)) => state,
        Ok(Err(refusal)) => {
            let _ = reply.send(Err(SwapFailure::new(Stage::Snapshot, refusal)));
            return Swapped::Kept(old);
        }
        Err(err) => {
            let _ = reply.send(Err(SwapFailure::new(Stage::Snapshot, &err)));
            return Swapped::OldFailed(err);
        }
    };
    match start_with_state(&program, kit, &snapshot).await {
        Ok(new) => {
            let previous = std::mem::replace(
                &mut *kit.slot.write().unwrap_or_else(|e| e.into_inner()),
                program,
            );
            let _ = reply.send(Ok(()));
            drop(old);
            let probation = (!probation.is_zero()).then(|| Probation {
                until: Instant::now() + probation,
                previous,
                snapshot,
                on_rollback,
            });
            Swapped::New(Box::new(new), probation)
        }
        Err(failure) => {
            let _ = reply.send(Err(failure));
            Swapped::Kept(old)
        }
    }
}

/// A new instance of `program`, initialised and holding `state`.
async fn start_with_state(
    program: &ActorProgram,
    kit: &Kit,
    state: &[u8],
) -> Result<ActorInstance, SwapFailure> {
    let mut new = program
        .instantiate_under(&kit.limits, &kit.caps, kit.host.clone(), &kit.scope)
        .await
        .map_err(|e| SwapFailure::new(Stage::Instantiate, e))?;
    match new.init(&kit.init_config).await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return Err(SwapFailure::new(Stage::Init, refusal)),
        Err(err) => return Err(SwapFailure::new(Stage::Init, err)),
    }
    match new.restore(state).await {
        Ok(Ok(())) => Ok(new),
        Ok(Err(refusal)) => Err(SwapFailure::new(Stage::Restore, refusal)),
        Err(err) => Err(SwapFailure::new(Stage::Restore, err)),
    }
}

/// The previous version again, with the state of the swap; `None` when
/// even that fails (the incarnation then ends as usual).
async fn roll_back(p: Probation, kit: &Kit, failure: String) -> Option<ActorInstance> {
    let actor = start_with_state(&p.previous, kit, &p.snapshot).await.ok()?;
    *kit.slot.write().unwrap_or_else(|e| e.into_inner()) = p.previous;
    (p.on_rollback)(failure);
    Some(actor)
}

/// How a guest failure reads to the supervisor.
pub(crate) fn exit_reason(err: &ComponentError) -> ExitReason {
    let kind = match err {
        ComponentError::Timeout { .. } => FailureClass::Timeout.into(),
        ComponentError::MemoryLimit { .. } => FailureClass::MemoryLimit.into(),
        ComponentError::OutOfFuel { .. } => FailureClass::OutOfFuel.into(),
        ComponentError::Trap { .. } => FailureClass::Trap.into(),
        ComponentError::Killed => FailureKind::Killed,
        _ => FailureKind::Crash,
    };
    let message = match err {
        ComponentError::Trap { message, .. } => message.clone(),
        other => other.to_string(),
    };
    ExitReason::abnormal(kind, message)
}

/// Runs blocking work (a state file read or written) off the async
/// runtime's worker threads. On the multi-threaded runtime this is
/// `block_in_place`: the current worker hands its other tasks (and the
/// timer driver) to the rest of the pool and does the work itself, saving
/// the two thread hops `spawn_blocking` costs. Elsewhere (a current-thread
/// runtime) it falls back to `spawn_blocking`.
async fn off_runtime<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, tokio::task::JoinError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        Ok(tokio::task::block_in_place(work))
    } else {
        tokio::task::spawn_blocking(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Envelope, Mail};

    /// A child's mailbox allocates a block of 32 slots when it starts, idle
    /// or not: a slot must stay a pointer.
    #[test]
    fn a_mailbox_slot_is_a_pointer() {
        let size = std::mem::size_of::<Mail>();
        assert!(size <= 8, "a mailbox slot takes {size} bytes");
    }

    /// Every idle child's task keeps its instance, and room for it in the
    /// state of a guest call: the instance must stay behind a pointer.
    #[test]
    fn an_incarnation_keeps_its_instance_behind_a_pointer() {
        let size = std::mem::size_of::<Option<super::Instance>>();
        assert!(size <= 8, "an incarnation's instance takes {size} bytes");
    }

    /// Each envelope sent is an allocation of its size: a large kind left
    /// unboxed would make every message pay for it.
    #[test]
    fn an_envelope_stays_small() {
        let size = std::mem::size_of::<Envelope>();
        assert!(size <= 64, "an envelope takes {size} bytes");
    }
}
