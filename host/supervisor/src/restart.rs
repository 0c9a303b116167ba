//! Restarts: what to do when an incarnation ends, and how each strategy restarts.
//!
//! Follows OTP's `supervisor.erl`:
//! - [`restart_decision`] is `do_restart/3` as one table (restart type × reason).
//! - `restart` is `restart/2`: count the restart against intensity (giving up when
//!   it is exceeded), then restart per strategy. Warden's optional storm detector
//!   and backoff sit between the two.
//! - A strategy restart is two halves: `stop_coupled` terminates the siblings the
//!   strategy couples (in reverse start order; temporary ones are dropped, never
//!   restarted), `start_coupled` starts the group in start order. Without a delay
//!   they run back to back, as in OTP; with a backoff or a storm pause the
//!   siblings are stopped at once and the group is started when the timer fires.
//! - A start that fails during a restart marks that child `Restarting` and sends
//!   the supervisor a `TryAgain` message instead of looping (OTP's `try_again`):
//!   messages already in the mailbox, a stop request among them, come first. Each
//!   retry counts against intensity, so a child that keeps failing to start ends
//!   in the supervisor giving up.
//!
//! Like OTP's `start_children/2`, a group restart starts every non-temporary child
//! of the group, including ones that were stopped before (terminated by
//! `terminate_child`, finished as transient, or ignored at start).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use warden_clock::millis;

use super::actor::{Flow, StartCause, Supervisor};
use super::child::{
    CatchUnwind, ChildExit, ExitReason, ExitSender, StartContext, StartError, Started, guarded,
};
use super::children::{ChildState, Retry};
use super::event::{DelayCause, SupervisorEvent};
use super::handle::{Msg, ShutdownCause};
use super::id::ChildId;
use super::in_place::InPlaceGrant;
use super::spec::{Restart, Strategy};
use super::storm::StormAction;

/// What happens to a child after an exit: OTP's `do_restart/3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart it (counted against intensity).
    Restart,
    /// Keep its spec, not running (a static child; a dynamic child is removed).
    Keep,
    /// Drop its spec.
    Remove,
}

/// The decision table: a permanent child is restarted after any exit, `shutdown`
/// included; a transient one only after an abnormal exit; a temporary one never
/// (and its spec is dropped).
pub fn restart_decision(restart: Restart, reason: &ExitReason) -> RestartDecision {
    match (restart, reason) {
        (Restart::Permanent, _) => RestartDecision::Restart,
        (Restart::Transient, ExitReason::Normal | ExitReason::Shutdown) => RestartDecision::Keep,
        (Restart::Transient, ExitReason::Abnormal(_)) => RestartDecision::Restart,
        (Restart::Temporary, _) => RestartDecision::Remove,
    }
}

/// What counting a restart decided.
enum Counted {
    /// Restart after `delay` (zero: now).
    Restart { delay: Duration, cause: DelayCause },
    /// The child's record is gone: nothing to restart.
    Gone,
    /// The supervisor gives up; `event` is told once the child is given up.
    GiveUp {
        cause: ShutdownCause,
        event: Option<SupervisorEvent>,
    },
}

/// The result of one start attempt.
pub(crate) enum StartOutcome {
    Running(u64),
    Ignored,
    Failed(StartError),
}

impl Supervisor {
    /// An incarnation reported its exit.
    pub(crate) async fn handle_exit(&mut self, exit: ChildExit) -> Flow {
        let ChildExit {
            id,
            generation,
            reason,
            replaced_by,
        } = exit;
        let Some(record) = self.children.get_mut(&id) else {
            tracing::trace!(supervisor = %self.path, child = %id, generation, "exit of an unknown child ignored");
            return Flow::Continue;
        };
        let uptime = match &record.state {
            ChildState::Running {
                generation: current,
                since,
                ..
            } if *current == generation => since.elapsed(),
            _ => {
                tracing::debug!(
                    supervisor = %self.path, child = %id, generation,
                    "late exit of an old incarnation ignored"
                );
                return Flow::Continue;
            }
        };
        if let Some(next) = replaced_by {
            return self.restarted_in_place(id, generation, reason, next).await;
        }
        record.state = ChildState::Stopped;
        record.last_exit = Some(reason.clone());
        if let (Some(config), Some(state)) = (record.spec.backoff(), record.backoff.as_mut()) {
            state.on_exit(config, uptime);
        }
        let decision = restart_decision(record.spec.restart(), &reason);
        self.emit_child(&id, SupervisorEvent::ChildExited { generation, reason });
        match decision {
            RestartDecision::Restart => self.restart(id).await,
            RestartDecision::Keep if !self.is_dynamic() => Flow::Continue,
            RestartDecision::Keep | RestartDecision::Remove => {
                self.remove_child(&id);
                Flow::Continue
            }
        }
    }

    /// OTP `restart/2`: count the restart, then restart per strategy.
    pub(crate) async fn restart(&mut self, id: ChildId) -> Flow {
        let now = Instant::now();
        let (delay, delay_cause) = match self.count_restart(&id, now) {
            Counted::Restart { delay, cause } => (delay, cause),
            Counted::Gone => return Flow::Continue,
            Counted::GiveUp { cause, event } => {
                self.give_up_on(&id);
                if let Some(event) = event {
                    self.emit_supervisor(event);
                }
                return Flow::Stop(cause);
            }
        };
        self.stop_coupled(&id).await;
        if delay.is_zero() {
            self.start_coupled(&id, Duration::ZERO).await;
        } else {
            self.schedule_restart(&id, now, delay, delay_cause);
        }
        Flow::Continue
    }

    /// Incarnation `generation` of `id` exited with `reason` and restarted
    /// in place as `next` ([`crate::in_place`]): the exit and the restart,
    /// booked as [`Self::handle_exit`] and [`Self::restart`] would have
    /// made them. The allowance kept the intensity and the storm windows
    /// from tripping; should they trip anyway (their settings changed while
    /// the claim was in flight), the new incarnation is stopped first and
    /// the supervisor gives up as it would have.
    async fn restarted_in_place(
        &mut self,
        id: ChildId,
        generation: u64,
        reason: ExitReason,
        next: u64,
    ) -> Flow {
        self.follow_in_place(&id, generation, reason, next);
        match self.count_restart(&id, Instant::now()) {
            Counted::Restart { .. } | Counted::Gone => {}
            Counted::GiveUp { cause, event } => {
                self.terminate(&id).await;
                self.give_up_on(&id);
                if let Some(event) = event {
                    self.emit_supervisor(event);
                }
                return Flow::Stop(cause);
            }
        }
        self.emit_restarted_in_place(&id, next);
        self.grant_in_place(&id);
        Flow::Continue
    }

    /// The record of `id` follows a restart in place from `generation` to
    /// `next`: the handle stays, the exit is told. Counting the restart is
    /// the caller's: a stop under way only follows the new incarnation.
    pub(crate) fn follow_in_place(
        &mut self,
        id: &ChildId,
        generation: u64,
        reason: ExitReason,
        next: u64,
    ) {
        self.in_place_booked += 1;
        let Some(record) = self.children.get_mut(id) else {
            return;
        };
        record.in_place_booked += 1;
        if let ChildState::Running {
            generation: current,
            since,
            ..
        } = &mut record.state
        {
            *current = next;
            *since = Instant::now();
        }
        record.last_exit = Some(reason.clone());
        self.emit_child(id, SupervisorEvent::ChildExited { generation, reason });
    }

    /// A restart in place of a child being stopped, counted and told; what
    /// the count decides is moot, the stop goes on.
    pub(crate) fn count_restart_while_stopping(&mut self, id: &ChildId, next: u64) {
        let _ = self.count_restart(id, Instant::now());
        self.emit_restarted_in_place(id, next);
    }

    fn emit_restarted_in_place(&self, id: &ChildId, next: u64) {
        if let Some(record) = self.children.get(id) {
            self.emit_child(
                id,
                SupervisorEvent::ChildRestarted {
                    generation: next,
                    restarts: record.restarts,
                    delay_ms: 0,
                },
            );
        }
    }

    /// Counts one restart of `id` at `now` in the intensity, the rates and
    /// the storm windows (emitting a storm's event) and says what follows.
    fn count_restart(&mut self, id: &ChildId, now: Instant) -> Counted {
        let now_ms = self.now_ms(now);
        if !self.intensity.add_restart(now_ms) {
            return Counted::GiveUp {
                cause: ShutdownCause::IntensityReached,
                event: Some(SupervisorEvent::IntensityReached {
                    child: id.clone(),
                    restarts: self.intensity.in_window(now_ms),
                    intensity: self.flags.intensity,
                    period_ms: millis(self.flags.period),
                }),
            };
        }
        self.total_restarts += 1;
        self.rate.record(now_ms);
        let Some(record) = self.children.get_mut(id) else {
            return Counted::Gone;
        };
        record.restarts += 1;
        record.rate.get_or_insert_with(Box::default).record(now_ms);
        let mut delay = Duration::ZERO;
        let mut delay_cause = DelayCause::Backoff;
        let mut storm = None;
        if let (Some(config), Some(state)) = (record.storm_config, record.storm.as_mut())
            && let Some(trip) = state.record(now_ms)
        {
            let action = config.action.for_storm(state.count_storm(now_ms));
            storm = Some((trip, action));
            if let StormAction::Pause { cooldown } = action {
                delay = cooldown;
                delay_cause = DelayCause::StormPause;
                state.clear();
            }
        }
        if delay.is_zero()
            && let (Some(config), Some(state)) = (record.spec.backoff(), record.backoff.as_mut())
        {
            delay = state.next_delay(config);
        }
        if let Some((trip, action)) = storm {
            self.emit_child(
                id,
                SupervisorEvent::StormDetected {
                    window: trip.window,
                    restarts: trip.restarts,
                    threshold: trip.threshold,
                    action,
                },
            );
            if action == StormAction::Escalate {
                return Counted::GiveUp {
                    cause: ShutdownCause::Storm { child: id.clone() },
                    event: None,
                };
            }
        }
        Counted::Restart {
            delay,
            cause: delay_cause,
        }
    }

    /// Grants child `id` the restarts in place its supervisor would make
    /// the same decision for ([`crate::in_place`]): none unless the
    /// strategy touches no sibling, the child is running, restarts after
    /// an abnormal exit and has no backoff; at most as many as its storm
    /// windows take before tripping. The supervisor-wide allowance follows
    /// the intensity.
    pub(crate) fn grant_in_place(&mut self, id: &ChildId) {
        let now_ms = self.now_ms(Instant::now());
        let one_for_one = self.grant_supervisor_in_place(now_ms);
        let Some(record) = self.children.get_mut(id) else {
            return;
        };
        let eligible = one_for_one
            && record.state.is_running()
            && record.spec.restart() != Restart::Temporary
            && record.spec.backoff().is_none();
        let headroom = match (&mut record.storm, eligible) {
            (_, false) => 0,
            (Some(storm), true) => storm.headroom(now_ms),
            (None, true) => u64::MAX,
        };
        record.in_place.grant(record.in_place_booked, headroom);
    }

    /// The supervisor-wide allowance: what the intensity still takes, under
    /// a strategy that restarts no sibling (else none). Whether it does.
    pub(crate) fn grant_supervisor_in_place(&mut self, now_ms: u64) -> bool {
        let one_for_one = matches!(
            self.flags.strategy,
            Strategy::OneForOne | Strategy::SimpleOneForOne
        );
        let headroom = if one_for_one {
            self.intensity.headroom(now_ms)
        } else {
            0
        };
        self.grant.restarts.grant(self.in_place_booked, headroom);
        one_for_one
    }

    /// No new restart in place for child `id` (it is being stopped, or its
    /// settings change); claims already made are followed.
    pub(crate) fn revoke_in_place(&self, id: &ChildId) {
        if let Some(record) = self.children.get(id) {
            record.in_place.revoke(record.in_place_booked);
        }
    }

    /// No new restart in place for any child of this supervisor (its
    /// strategy or intensity changes, or it shuts down).
    pub(crate) fn revoke_all_in_place(&self) {
        self.grant.restarts.revoke(self.in_place_booked);
    }

    /// The supervisor gives up while restarting `id` (OTP's `del_child` before
    /// `{shutdown, State}`).
    fn give_up_on(&mut self, id: &ChildId) {
        if self.is_dynamic() {
            self.remove_child(id);
        } else if let Some(record) = self.children.get_mut(id) {
            record.state = ChildState::Stopped;
        }
    }

    fn schedule_restart(&mut self, id: &ChildId, now: Instant, delay: Duration, cause: DelayCause) {
        let Some(record) = self.children.get_mut(id) else {
            return;
        };
        let at = super::timers::deadline_after(now, delay);
        record.state = ChildState::Restarting {
            retry: Retry::At { at, delay },
        };
        self.timers
            .schedule(at, super::timers::TimerKind::Restart(id.clone()));
        self.emit_child(
            id,
            SupervisorEvent::RestartScheduled {
                delay_ms: millis(delay),
                cause,
            },
        );
    }

    /// A delayed restart is due (a stale timer is ignored).
    pub(crate) async fn handle_delayed_restart(&mut self, id: ChildId) -> Flow {
        let due = match self.children.get(&id).map(|r| &r.state) {
            Some(ChildState::Restarting {
                retry: Retry::At { at, delay },
            }) if *at <= Instant::now() => Some(*delay),
            _ => None,
        };
        let Some(delay) = due else {
            return Flow::Continue;
        };
        self.stop_coupled(&id).await;
        self.start_coupled(&id, delay).await;
        Flow::Continue
    }

    /// OTP `try_again_restart`: retry a restart whose start failed, if still owed.
    pub(crate) async fn handle_try_again(&mut self, id: ChildId) -> Flow {
        let owed = self.children.get(&id).is_some_and(|r| {
            matches!(
                r.state,
                ChildState::Restarting {
                    retry: Retry::Queued
                }
            )
        });
        if owed {
            self.restart(id).await
        } else {
            Flow::Continue
        }
    }

    /// The group restarted with `id` under the current strategy, in start order.
    fn group(&self, id: &ChildId) -> Vec<ChildId> {
        let order = self.children.order();
        match self.flags.strategy {
            Strategy::OneForOne | Strategy::SimpleOneForOne => vec![id.clone()],
            Strategy::OneForAll => order.to_vec(),
            Strategy::RestForOne => match order.iter().position(|c| c == id) {
                Some(pos) => order[pos..].to_vec(),
                None => vec![id.clone()],
            },
        }
    }

    /// Terminates the siblings coupled with `id`, in reverse start order; drops the
    /// temporary ones (OTP `terminate_children/2` during a restart).
    pub(crate) async fn stop_coupled(&mut self, id: &ChildId) {
        if matches!(
            self.flags.strategy,
            Strategy::OneForOne | Strategy::SimpleOneForOne
        ) {
            return;
        }
        for member in self.group(id).iter().rev() {
            let Some(record) = self.children.get(member) else {
                continue;
            };
            let temporary = record.spec.restart() == Restart::Temporary;
            if record.state.is_running() {
                self.terminate(member).await;
            }
            if temporary {
                self.remove_child(member);
            }
        }
    }

    /// Starts the group of `id` in start order; the first failure is retried
    /// through a `TryAgain` message.
    pub(crate) async fn start_coupled(&mut self, id: &ChildId, delay: Duration) {
        let cause = StartCause::Restart { delay };
        if matches!(
            self.flags.strategy,
            Strategy::OneForOne | Strategy::SimpleOneForOne
        ) {
            if let StartOutcome::Failed(_) = self.start_incarnation(id, cause).await {
                self.queue_try_again(id);
            }
            return;
        }
        for member in self.group(id) {
            if self
                .children
                .get(&member)
                .is_none_or(|r| r.state.is_running())
            {
                continue;
            }
            if let StartOutcome::Failed(_) = self.start_incarnation(&member, cause).await {
                self.queue_try_again(&member);
                break;
            }
        }
    }

    fn queue_try_again(&mut self, id: &ChildId) {
        if let Some(record) = self.children.get_mut(id) {
            record.state = ChildState::Restarting {
                retry: Retry::Queued,
            };
            // We hold the receiver: the send cannot fail while we run.
            let _ = self.self_tx.send(Msg::TryAgain(id.clone()));
        }
    }

    /// Starts one incarnation of child `id` and records the outcome in its state.
    /// A failure leaves the state as it was, for the caller to decide.
    pub(crate) async fn start_incarnation(
        &mut self,
        id: &ChildId,
        cause: StartCause,
    ) -> StartOutcome {
        let Some(record) = self.children.get(id) else {
            return StartOutcome::Failed(StartError::failed("the child was removed"));
        };
        let starter = record.spec.starter().clone();
        let args = record.args.clone();
        let generation = self.grant.next_generation();
        let ctx = StartContext {
            id: id.clone(),
            path: self.child_path(id),
            generation,
            args,
            exits: ExitSender::new(
                self.self_tx.clone(),
                id.clone(),
                generation,
                Some(InPlaceGrant {
                    child: record.in_place.clone(),
                    supervisor: self.grant.clone(),
                }),
            ),
            events: Arc::clone(&self.events),
        };
        let result = match guarded(|| starter.start(ctx)) {
            Ok(future) => match CatchUnwind(future).await {
                Ok(result) => result,
                Err(message) => Err(StartError::Panicked { message }),
            },
            Err(message) => Err(StartError::Panicked { message }),
        };
        let dynamic = self.is_dynamic();
        let Some(record) = self.children.get_mut(id) else {
            return StartOutcome::Failed(StartError::failed("the child was removed"));
        };
        match result {
            Ok(Started::Running(handle)) => {
                record.state = ChildState::Running {
                    generation,
                    since: Instant::now(),
                    handle,
                };
                if dynamic && record.spec.restart() == Restart::Temporary {
                    // OTP keeps no start arguments for temporary children: never restarted.
                    record.args = None;
                }
                let kind = match cause {
                    StartCause::Start => SupervisorEvent::ChildStarted { generation },
                    StartCause::Restart { delay } => SupervisorEvent::ChildRestarted {
                        generation,
                        restarts: record.restarts,
                        delay_ms: millis(delay),
                    },
                };
                self.emit_child(id, kind);
                self.grant_in_place(id);
                StartOutcome::Running(generation)
            }
            Ok(Started::Ignore) => {
                record.state = ChildState::Stopped;
                if dynamic || record.spec.restart() == Restart::Temporary {
                    self.remove_child(id);
                }
                self.emit_child(id, SupervisorEvent::ChildIgnored);
                StartOutcome::Ignored
            }
            Err(error) => {
                self.emit_child(
                    id,
                    SupervisorEvent::ChildStartFailed {
                        error: error.to_string(),
                    },
                );
                StartOutcome::Failed(error)
            }
        }
    }
}
