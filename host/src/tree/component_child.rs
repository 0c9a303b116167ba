//! Component children: an `actor-plugin` instance behind a bounded mailbox,
//! adapted to the supervisor's [`ChildStart`] / [`RunningChild`].
//!
//! One tokio task per incarnation owns the instance and takes envelopes
//! from the mailbox one at a time; each guest call runs on a blocking
//! thread ([`off_runtime`]), never on a runtime worker that keeps other tasks, so a
//! busy guest cannot delay host timers. A trap, timeout, memory breach or
//! fuel exhaustion ends the incarnation with an abnormal exit; the next
//! incarnation is a fresh Store from the same `InstancePre`.
//!
//! Control (stop, kill, injected faults) travels beside the mailbox on a
//! watch channel, so it is never stuck behind a full mailbox; a kill also
//! flips the sandbox's kill switch, which stops a running guest call within
//! one epoch tick.
//!
//! Hot reload ([`crate::reload`]) arrives as one more envelope,
//! [`Envelope::Reload`], so the swap happens between two messages: those
//! sent meanwhile wait in the mailbox, none is lost or handled twice, and
//! the incarnation (and its generation) lives on — a reload is not a
//! restart. The swap snapshots the old instance, starts the new version,
//! restores the snapshot into it and only then replaces the old one and the
//! child's [`ProgramSlot`]; any failure drops the new instance and the old
//! one serves on. During the probation after a swap, a guest failure rolls
//! the child back to the previous version with the snapshot taken at the
//! swap instead of ending the incarnation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::component::{
    ActorInstance, ActorProgram, Capabilities, ComponentError, HostContext, KillSwitch, Limits,
};
use crate::events::FailureClass;
use crate::reload::Stage;
use crate::supervisor::{
    BoxFuture, ChildStart, ExitReason, ExitSender, FailureKind, Fault, InjectError, RunningChild,
    StartContext, StartError, Started,
};
use crate::tree::router::{Router, SendError};

/// The version of a component a child runs; hot reload replaces it.
pub type ProgramSlot = Arc<RwLock<ActorProgram>>;

/// What a component child is asked to do, in mailbox order.
pub(crate) enum Envelope {
    Message {
        message: Vec<u8>,
        reply: Option<oneshot::Sender<Reply>>,
    },
    Snapshot {
        reply: oneshot::Sender<Reply>,
    },
    Restore {
        state: Vec<u8>,
        reply: oneshot::Sender<Reply>,
    },
    /// Swap in a new version of the code, state carried over.
    Reload(SwapRequest),
}

/// A new version for a running incarnation (see the module doc).
pub(crate) struct SwapRequest {
    pub program: ActorProgram,
    /// A guest failure within this time after the swap rolls back.
    pub probation: Duration,
    pub reply: oneshot::Sender<Result<(), SwapFailure>>,
    /// Called (off the guest's thread) when probation rolled the child
    /// back, with the failure that caused it.
    pub on_rollback: Box<dyn FnOnce(String) + Send>,
}

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
    pub router: Router,
    /// What the child's instances hold and were refused, kept across
    /// incarnations.
    pub(crate) usage: Arc<MemoryUsage>,
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
}

impl MemoryUsage {
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
}

impl Gauge {
    /// A gauge for a child whose instance `actor` was just started (and
    /// had none of its refusals counted yet).
    fn new(usage: Arc<MemoryUsage>, actor: &ActorInstance) -> Self {
        let mut gauge = Self { usage, seen: 0 };
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
    }

    /// `actor`, a new instance (a reload or a rollback), serves from now on.
    fn replaced(&mut self, actor: &ActorInstance) {
        self.seen = 0;
        self.observe(actor);
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
        let host = HostContext {
            child: path.clone(),
            send_to: self.send_to.clone(),
            mailer: Some(Arc::new(router.clone())),
        };
        let capacity = self.mailbox;
        let slot = self.program.clone();
        let usage = self.usage.clone();
        Box::pin(async move {
            let kit = Kit {
                slot,
                limits,
                caps,
                host,
                init_config,
            };
            let starting = usage.clone();
            let (instance, kit) = off_runtime(move || {
                start_instance(
                    &program,
                    &kit.limits,
                    &kit.caps,
                    kit.host.clone(),
                    &kit.init_config,
                    &starting,
                )
                .map(|instance| (instance, kit))
            })
            .await
            .map_err(|e| StartError::failed(format!("start task failed: {e}")))??;
            let (tx, rx) = mpsc::channel(capacity);
            let (control, control_rx) = watch::channel(Control::Run);
            let kill = instance.sandbox().kill_switch();
            let gauge = Gauge::new(usage.clone(), &instance);
            let child = ComponentChild {
                control,
                kill,
                mailbox: tx.downgrade(),
                usage,
                slot: kit.slot.clone(),
                limits: kit.limits.clone(),
            };
            router.register(&path, ctx.generation, tx);
            tokio::spawn(serve(
                instance,
                kit,
                rx,
                Watched {
                    control: control_rx,
                    gauge,
                },
                ctx.exits,
                router,
                path,
                ctx.generation,
            ));
            Ok(Started::Running(Box::new(child)))
        })
    }
}

fn start_instance(
    program: &ActorProgram,
    limits: &Limits,
    caps: &Capabilities,
    host: HostContext,
    init_config: &str,
    usage: &MemoryUsage,
) -> Result<ActorInstance, StartError> {
    let mut instance = program.instantiate(limits, caps, host).map_err(|e| {
        usage.failed_to_start(&e);
        StartError::failed(format!("cannot instantiate: {e}"))
    })?;
    let init = instance.init(init_config);
    if !matches!(init, Ok(Ok(()))) {
        usage.failed_in_init(&instance);
    }
    match init {
        Ok(Ok(())) => Ok(instance),
        Ok(Err(reason)) => Err(StartError::failed(format!("init refused: {reason}"))),
        Err(err) => Err(StartError::failed(format!("init failed: {err}"))),
    }
}

/// The supervisor's grip on one incarnation, and what it can tell about
/// it without asking the guest.
struct ComponentChild {
    control: watch::Sender<Control>,
    kill: KillSwitch,
    /// Weak, so it never keeps the mailbox open on its own.
    mailbox: mpsc::WeakSender<Envelope>,
    /// Memory of the live instance (updated after each envelope) and the
    /// child's limit breaches.
    usage: Arc<MemoryUsage>,
    slot: ProgramSlot,
    limits: Limits,
}

/// What the serve loop reports back beside its exit: the control it
/// obeys and the memory gauge it keeps current.
struct Watched {
    control: watch::Receiver<Control>,
    gauge: Gauge,
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
        self.kill.kill();
        let _ = self.control.send(Control::Kill);
    }

    fn inject(&mut self, fault: Fault) -> Result<(), InjectError> {
        match fault {
            Fault::Kill => self.kill(),
            Fault::Trap => {
                self.kill.kill();
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
                "timeout_ms": self.limits.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                "output_bytes": self.limits.output_bytes,
            },
            "memory_bytes": self.usage.bytes.load(Ordering::Relaxed),
            "limit_breaches": self.usage.breaches.load(Ordering::Relaxed),
            "mailbox": {"depth": depth, "capacity": capacity},
            "hash": hash,
        })
    }
}

/// The incarnation's life: envelopes in, replies out, one exit report.
#[expect(
    clippy::too_many_arguments,
    reason = "the incarnation's whole context, passed once at its start"
)]
async fn serve(
    instance: ActorInstance,
    kit: Kit,
    mut rx: mpsc::Receiver<Envelope>,
    watched: Watched,
    exits: ExitSender,
    router: Router,
    path: String,
    generation: u64,
) {
    let Watched {
        mut control,
        mut gauge,
    } = watched;
    let mut instance = Some(instance);
    let kit = Arc::new(kit);
    let mut probation: Option<Probation> = None;
    let reason = loop {
        let current = *control.borrow_and_update();
        match current {
            Control::Kill => break ExitReason::killed(),
            Control::Trap => break ExitReason::abnormal(FailureClass::Trap, "injected trap"),
            Control::Stop => break ExitReason::Shutdown,
            Control::Hang => {
                // Answer nothing and ignore stop requests: only a kill (or an
                // injected trap) ends a hung child, as with a real hang.
                break loop {
                    if control.changed().await.is_err() {
                        break ExitReason::killed();
                    }
                    match *control.borrow_and_update() {
                        Control::Kill => break ExitReason::killed(),
                        Control::Trap => {
                            break ExitReason::abnormal(FailureClass::Trap, "injected trap");
                        }
                        _ => continue,
                    }
                };
            }
            Control::Run => {}
        }
        let envelope = tokio::select! {
            biased;
            changed = control.changed() => {
                if changed.is_err() {
                    break ExitReason::Shutdown;
                }
                continue;
            }
            envelope = rx.recv() => envelope,
        };
        let Some(envelope) = envelope else {
            break ExitReason::Shutdown;
        };
        let Some(actor) = instance.take() else {
            break ExitReason::abnormal(FailureKind::Crash, "instance lost");
        };
        let envelope = match envelope {
            Envelope::Reload(request) => {
                let kit = kit.clone();
                match tokio::task::spawn_blocking(move || swap(actor, request, &kit)).await {
                    Ok(Swapped::Kept(actor)) => {
                        gauge.observe(&actor);
                        instance = Some(*actor);
                        continue;
                    }
                    Ok(Swapped::New(actor, new_probation)) => {
                        gauge.replaced(&actor);
                        instance = Some(*actor);
                        if let Some(p) = new_probation {
                            probation = Some(p);
                        }
                        continue;
                    }
                    Ok(Swapped::OldFailed(err)) => {
                        router.unregister(&path, generation);
                        break exit_reason(&err);
                    }
                    Err(join) => {
                        break ExitReason::abnormal(
                            FailureKind::Crash,
                            format!("reload task failed: {join}"),
                        );
                    }
                }
            }
            other => other,
        };
        let (actor, reply, answer, outcome) = match off_runtime(move || {
            let mut actor = actor;
            let (reply, answer, outcome) = handle(&mut actor, envelope);
            (actor, reply, answer, outcome)
        })
        .await
        {
            Ok(done) => done,
            Err(join) => {
                break ExitReason::abnormal(
                    FailureKind::Crash,
                    format!("guest call task failed: {join}"),
                );
            }
        };
        gauge.observe(&actor);
        instance = Some(actor);
        if let Err(err) = &outcome
            && let Some(p) = probation.take_if(|p| Instant::now() < p.until)
        {
            // The new version failed on probation: back to the previous one.
            let kit = kit.clone();
            let failure = err.to_string();
            if let Ok(Some(actor)) =
                tokio::task::spawn_blocking(move || roll_back(p, &kit, failure)).await
            {
                gauge.replaced(&actor);
                instance = Some(actor);
                if let Some(reply) = reply {
                    let _ = reply.send(answer);
                }
                continue;
            }
        }
        if let Err(err) = outcome {
            // Leave the router before answering, so whoever hears of the
            // failure and retries reaches the next incarnation, not this one.
            router.unregister(&path, generation);
            if let Some(reply) = reply {
                let _ = reply.send(answer);
            }
            break exit_reason(&err);
        }
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
    };
    router.unregister(&path, generation);
    drop(instance);
    exits.exit(reason);
}

/// What a reload envelope left behind.
enum Swapped {
    /// The new version serves from now on.
    New(Box<ActorInstance>, Option<Probation>),
    /// The swap did not happen: the old version serves on.
    Kept(Box<ActorInstance>),
    /// The old instance failed while being snapshotted: the incarnation is
    /// over.
    OldFailed(ComponentError),
}

/// snapshot old → instantiate new → init → restore → swap, answering the
/// request. The old instance is only dropped once the new one holds its
/// state.
fn swap(mut old: ActorInstance, request: SwapRequest, kit: &Kit) -> Swapped {
    let SwapRequest {
        program,
        probation,
        reply,
        on_rollback,
    } = request;
    let snapshot = match old.snapshot() {
        Ok(Ok(state)) => state,
        Ok(Err(refusal)) => {
            let _ = reply.send(Err(SwapFailure::new(Stage::Snapshot, refusal)));
            return Swapped::Kept(Box::new(old));
        }
        Err(err) => {
            let _ = reply.send(Err(SwapFailure::new(Stage::Snapshot, &err)));
            return Swapped::OldFailed(err);
        }
    };
    match start_with_state(&program, kit, &snapshot) {
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
            Swapped::Kept(Box::new(old))
        }
    }
}

/// A new instance of `program`, initialised and holding `state`.
fn start_with_state(
    program: &ActorProgram,
    kit: &Kit,
    state: &[u8],
) -> Result<ActorInstance, SwapFailure> {
    let mut new = program
        .instantiate(&kit.limits, &kit.caps, kit.host.clone())
        .map_err(|e| SwapFailure::new(Stage::Instantiate, e))?;
    match new.init(&kit.init_config) {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return Err(SwapFailure::new(Stage::Init, refusal)),
        Err(err) => return Err(SwapFailure::new(Stage::Init, err)),
    }
    match new.restore(state) {
        Ok(Ok(())) => Ok(new),
        Ok(Err(refusal)) => Err(SwapFailure::new(Stage::Restore, refusal)),
        Err(err) => Err(SwapFailure::new(Stage::Restore, err)),
    }
}

/// The previous version again, with the state of the swap; `None` when
/// even that fails (the incarnation then ends as usual).
fn roll_back(p: Probation, kit: &Kit, failure: String) -> Option<ActorInstance> {
    let actor = start_with_state(&p.previous, kit, &p.snapshot).ok()?;
    *kit.slot.write().unwrap_or_else(|e| e.into_inner()) = p.previous;
    (p.on_rollback)(failure);
    Some(actor)
}

/// Runs one envelope against the instance: who to answer, the answer, and
/// `Err` when the incarnation is over.
fn handle(
    actor: &mut ActorInstance,
    envelope: Envelope,
) -> (
    Option<oneshot::Sender<Reply>>,
    Reply,
    Result<(), ComponentError>,
) {
    let (reply, outcome) = match envelope {
        Envelope::Message { message, reply } => (reply, actor.handle(&message)),
        Envelope::Snapshot { reply } => (Some(reply), actor.snapshot()),
        Envelope::Restore { state, reply } => (
            Some(reply),
            actor.restore(&state).map(|r| r.map(|()| Vec::new())),
        ),
        Envelope::Reload(request) => {
            // Handled by the serve loop; never reaches a guest call.
            let _ = request.reply.send(Err(SwapFailure::new(
                Stage::Instantiate,
                "reload reached the message handler",
            )));
            (None, Ok(Ok(Vec::new())))
        }
    };
    match outcome {
        Ok(Ok(bytes)) => (reply, Ok(bytes), Ok(())),
        Ok(Err(refusal)) => (reply, Err(ReplyFailure::Refused(refusal)), Ok(())),
        Err(err) => (reply, Err(ReplyFailure::Failed(err.to_string())), Err(err)),
    }
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

/// Runs guest code off the async runtime's worker threads. On the
/// multi-threaded runtime this is `block_in_place`: the current worker hands
/// its other tasks (and the timer driver) to the rest of the pool and runs
/// the guest itself, saving the two thread hops `spawn_blocking` costs on
/// every message and restart. Elsewhere (a current-thread runtime) it falls
/// back to `spawn_blocking`.
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
