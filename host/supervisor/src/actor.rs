//! The supervisor itself: one tokio task owning all of one supervisor's state.
//!
//! Read top to bottom, like OTP's `supervisor.erl`: spawning and init, the loop
//! (one input per turn, handed to `Supervisor::handle_event`), and the end of
//! life (shutdown, kill, reporting the exit). The restart logic is in
//! `restart.rs`, the shutdown protocol in `terminate.rs`, admin requests in
//! `admin.rs`: each an `impl Supervisor` block over the same state.
//!
//! Inputs, in priority order each turn: messages set aside while the supervisor
//! waited for one particular exit (`deferred`, in arrival order), then due
//! timers, then the mailbox (exits, commands and `TryAgain`, in arrival order).
//!
//! Guarantees:
//! - Nothing outside this task touches the state; the loop never sleeps for a
//!   delay (delays are timers), so a stop request is always handled.
//! - A kill (from the parent, once init is done) interrupts whatever the task
//!   is doing; the children still held are then killed before the exit is
//!   reported.
//! - The exit is reported exactly once: to the handles' watch and, for a nested
//!   supervisor, to its parent.
//!
//! Not ideal, and deliberate: like OTP, a start function or an `infinity`
//! shutdown that never returns holds the supervisor up; `kill` is the way out.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use warden_clock::millis;

use super::child::{ExitReason, ExitSender, StartError};
use super::children::{ChildRecord, Children};
use super::event::{EventSink, SupervisorEvent};
use super::handle::{Msg, ShutdownCause, SupervisorExit, SupervisorHandle};
use super::health::RateWindow;
use super::id::{ChildId, ChildPath};
use super::in_place::SupervisorGrant;
use super::intensity::Intensity;
use super::restart::StartOutcome;
use super::spec::{ChildSpec, Strategy, SupervisorFlags, SupervisorSpec};
use super::strategy_change::PendingChange;
use super::timers::{TimerKind, Timers};

/// Whether the loop goes on.
pub(crate) enum Flow {
    Continue,
    Stop(ShutdownCause),
}

/// One input of the loop.
enum Input {
    Msg(Msg),
    TimersDue,
}

/// Why a start happened, for the event it emits.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StartCause {
    /// Init, `start_child`, `restart_child`.
    Start,
    /// A restart decided by the supervisor, after `delay`.
    Restart { delay: std::time::Duration },
}

/// A running supervisor and what its parent needs to kill it.
pub(crate) struct Spawned {
    pub(crate) handle: SupervisorHandle,
    pub(crate) kill: Arc<Notify>,
}

/// All the state of one supervisor.
pub(crate) struct Supervisor {
    pub(crate) path: Arc<str>,
    pub(crate) flags: SupervisorFlags,
    pub(crate) children: Children,
    /// The one spec of a `simple_one_for_one` supervisor.
    pub(crate) dynamic_spec: Option<Arc<ChildSpec>>,
    /// Counter for generated dynamic ids.
    pub(crate) dynamic_ids: u64,
    /// Counter for record creation order.
    pub(crate) seq: u64,
    /// The generation counter and the intensity's allowance for restarts
    /// in place, shared with the children ([`crate::in_place`]).
    pub(crate) grant: Arc<SupervisorGrant>,
    /// Restarts in place booked so far (the allowance counts from there).
    pub(crate) in_place_booked: u64,
    pub(crate) intensity: Intensity,
    pub(crate) rate: RateWindow,
    pub(crate) total_restarts: u64,
    /// Origin of the millisecond clock used by intensity, storms and rates.
    pub(crate) epoch: Instant,
    pub(crate) mailbox: UnboundedReceiver<Msg>,
    /// A sender into our own mailbox: for exit senders and `TryAgain`.
    pub(crate) self_tx: UnboundedSender<Msg>,
    pub(crate) deferred: VecDeque<Msg>,
    pub(crate) timers: Timers,
    /// Where every event goes (shared with the nested supervisors).
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) pending_change: Option<PendingChange>,
}

/// Starts a supervisor task for `spec` at `path` and waits for its init: every
/// static child started in order. `parent` receives the supervisor's exit.
pub(crate) async fn spawn(
    path: Arc<str>,
    spec: SupervisorSpec,
    events: Arc<dyn EventSink>,
    parent: Option<ExitSender>,
) -> Result<Spawned, StartError> {
    if let Err(e) = spec.validate() {
        if let Some(p) = parent {
            p.discard();
        }
        return Err(e.into());
    }
    let (tx, rx) = unbounded_channel();
    let (exit_tx, exit_rx) = watch::channel(None);
    let handle = SupervisorHandle::new(tx.clone(), path.clone(), exit_rx);
    let kill = Arc::new(Notify::new());
    let (init_tx, init_rx) = oneshot::channel();
    let supervisor = Supervisor::new(path, spec, events, rx, tx);
    tokio::spawn(supervisor.lifecycle(init_tx, kill.clone(), exit_tx, parent));
    match init_rx.await {
        Ok(Ok(())) => Ok(Spawned { handle, kill }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StartError::Aborted),
    }
}

/// Starts a root supervisor named `name` (its path) and waits for its init.
/// Every supervisor of the tree sends its events to `events`.
pub async fn start_root(
    name: &str,
    spec: SupervisorSpec,
    events: impl EventSink,
) -> Result<SupervisorHandle, StartError> {
    let id = ChildId::from(name);
    super::spec::validate_id(&id, 0)?;
    Ok(spawn(Arc::from(name), spec, Arc::new(events), None)
        .await?
        .handle)
}

impl Supervisor {
    fn new(
        path: Arc<str>,
        spec: SupervisorSpec,
        events: Arc<dyn EventSink>,
        mailbox: UnboundedReceiver<Msg>,
        self_tx: UnboundedSender<Msg>,
    ) -> Self {
        let SupervisorSpec { flags, children } = spec;
        let period_ms = millis(flags.period);
        let mut sup = Supervisor {
            path,
            flags,
            children: Children::default(),
            dynamic_spec: None,
            dynamic_ids: 0,
            seq: 0,
            grant: Arc::new(SupervisorGrant::new()),
            in_place_booked: 0,
            intensity: Intensity::new(flags.intensity, period_ms),
            rate: RateWindow::default(),
            total_restarts: 0,
            epoch: Instant::now(),
            mailbox,
            self_tx,
            deferred: VecDeque::new(),
            timers: Timers::default(),
            events,
            pending_change: None,
        };
        if flags.strategy == Strategy::SimpleOneForOne {
            sup.dynamic_spec = children.into_iter().next().map(Arc::new);
        } else {
            for spec in children {
                let id = spec.id().clone();
                let record = ChildRecord::new(Arc::new(spec), None, sup.next_seq());
                sup.children.push_static(id, record);
            }
        }
        sup
    }

    /// The whole life of the task.
    async fn lifecycle(
        mut self,
        init_tx: oneshot::Sender<Result<(), StartError>>,
        kill: Arc<Notify>,
        exit_tx: watch::Sender<Option<SupervisorExit>>,
        parent: Option<ExitSender>,
    ) {
        if let Err(e) = self.init().await {
            exit_tx.send_replace(Some(SupervisorExit {
                reason: ExitReason::Shutdown,
                cause: ShutdownCause::InitFailed,
            }));
            if let Some(p) = parent {
                p.discard();
            }
            // The caller may be gone; then nobody is waiting for the answer.
            let _ = init_tx.send(Err(e));
            return;
        }
        self.emit_supervisor(SupervisorEvent::SupervisorStarted {
            strategy: self.flags.strategy,
            children: self.children.len(),
        });
        let cause = if init_tx.send(Ok(())).is_err() {
            // Whoever started us is gone and holds no handle: stop again.
            self.shutdown_children(&ShutdownCause::HandlesDropped).await;
            ShutdownCause::HandlesDropped
        } else {
            let outcome = tokio::select! {
                biased;
                _ = kill.notified() => None,
                cause = self.run() => Some(cause),
            };
            match outcome {
                Some(cause) => cause,
                None => {
                    let cause = ShutdownCause::Killed;
                    self.emit_supervisor(SupervisorEvent::ShutdownStarted {
                        cause: cause.clone(),
                    });
                    self.kill_all().await;
                    self.emit_supervisor(SupervisorEvent::ShutdownCompleted {
                        cause: cause.clone(),
                    });
                    cause
                }
            }
        };
        if cause.is_escalation() {
            self.emit_supervisor(SupervisorEvent::SupervisorEscalated {
                cause: cause.clone(),
            });
        }
        let reason = cause.exit_reason();
        exit_tx.send_replace(Some(SupervisorExit {
            reason: reason.clone(),
            cause,
        }));
        if let Some(p) = parent {
            p.exit(reason);
        }
    }

    /// The loop, then the orderly shutdown of the children.
    async fn run(&mut self) -> ShutdownCause {
        let cause = loop {
            let input = self.next_input().await;
            if let Flow::Stop(cause) = self.handle_event(input).await {
                break cause;
            }
        };
        self.shutdown_children(&cause).await;
        cause
    }

    async fn next_input(&mut self) -> Input {
        if let Some(msg) = self.deferred.pop_front() {
            return Input::Msg(msg);
        }
        let deadline = self.timers.next_deadline();
        // A due timer goes first, so a busy mailbox cannot postpone it.
        if deadline.is_some_and(|at| at <= Instant::now()) {
            return Input::TimersDue;
        }
        let timer = async move {
            match deadline {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = timer => Input::TimersDue,
            // We hold a sender ourselves, so the mailbox never closes.
            msg = self.mailbox.recv() => Input::Msg(msg.unwrap_or(Msg::HandlesDropped)),
        }
    }

    /// One turn of the loop.
    async fn handle_event(&mut self, input: Input) -> Flow {
        match input {
            Input::Msg(Msg::Exit(exit)) => self.handle_exit(exit).await,
            Input::Msg(Msg::Command(command)) => self.handle_command(command).await,
            Input::Msg(Msg::TryAgain(id)) => self.handle_try_again(id).await,
            Input::Msg(Msg::HandlesDropped) => Flow::Stop(ShutdownCause::HandlesDropped),
            Input::TimersDue => self.handle_timers().await,
        }
    }

    async fn handle_timers(&mut self) -> Flow {
        while let Some(kind) = self.timers.pop_due(Instant::now()) {
            let flow = match kind {
                TimerKind::Restart(id) => self.handle_delayed_restart(id).await,
                TimerKind::SettleCheck => {
                    self.settle_check();
                    Flow::Continue
                }
            };
            if let Flow::Stop(cause) = flow {
                return Flow::Stop(cause);
            }
        }
        Flow::Continue
    }

    /// OTP `init_children`: start every static child in order; on a failure stop
    /// the ones already started, in reverse order, and fail.
    async fn init(&mut self) -> Result<(), StartError> {
        let order: Vec<ChildId> = self.children.order().to_vec();
        for id in order {
            if let StartOutcome::Failed(error) =
                self.start_incarnation(&id, StartCause::Start).await
            {
                tracing::error!(
                    supervisor = %self.path,
                    child = %id,
                    "failed to start child during init: {error}; stopping the children already started"
                );
                self.shutdown_children(&ShutdownCause::InitFailed).await;
                return Err(StartError::Child {
                    path: self.child_path(&id),
                    source: Box::new(error),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Milliseconds since the supervisor started, on the monotonic clock.
    pub(crate) fn now_ms(&self, now: Instant) -> u64 {
        millis(now.saturating_duration_since(self.epoch))
    }

    pub(crate) fn is_dynamic(&self) -> bool {
        self.dynamic_spec.is_some()
    }

    pub(crate) fn child_path(&self, id: &ChildId) -> ChildPath {
        ChildPath::child(self.path.clone(), id.clone())
    }

    pub(crate) fn emit_child(&self, id: &ChildId, event: SupervisorEvent) {
        self.events.emit(self.child_path(id), event);
    }

    /// Forgets a child's record (OTP's `del_child`), telling observers, who
    /// would otherwise keep counting a child that no longer exists.
    pub(crate) fn remove_child(&mut self, id: &ChildId) {
        if self.children.remove(id).is_some() {
            self.emit_child(id, SupervisorEvent::ChildRemoved);
        }
    }

    pub(crate) fn emit_supervisor(&self, event: SupervisorEvent) {
        self.events
            .emit(ChildPath::supervisor(self.path.clone()), event);
    }
}
