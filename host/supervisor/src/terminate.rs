//! Stopping children: OTP's `shutdown/1`, `terminate_children/2` and
//! `terminate_dynamic_children/1`.
//!
//! For one child, per its shutdown spec: `brutal_kill` → `kill()`;
//! a timeout → `shutdown()`, wait that long for the exit, then `kill()` (logged,
//! and a `ChildShutdownTimeout` event); `infinity` → `shutdown()` and wait.
//! OTP waits on a monitor rather than on the link, because a child that unlinks
//! itself could otherwise hang its supervisor; here the equivalent is the exit
//! sender, which reports even when the child drops it. After `kill()` the
//! supervisor waits at most `kill_grace` (Beyond OTP: an Erlang kill cannot fail,
//! an OS process in uninterruptible sleep can): then the child is considered dead
//! and a late exit from it is ignored thanks to its generation.
//!
//! While waiting for one child's exit the supervisor reads its mailbox and sets
//! everything else aside (`deferred`), in arrival order, for the loop to handle
//! next: Erlang's selective receive. A child that already died before it was asked
//! to stop has its exit taken from there.
//!
//! Static children stop one by one in reverse start order; dynamic children all at
//! once (OTP gives them no order), sharing one deadline.

use std::collections::HashMap;

use tokio::time::{Instant, sleep_until};
use warden_clock::millis;

use super::actor::Supervisor;
use super::child::{ExitReason, FailureKind, guarded};
use super::children::ChildState;
use super::event::SupervisorEvent;
use super::handle::{Msg, ShutdownCause};
use super::id::ChildId;
use super::spec::{Restart, Shutdown};
use super::timers::deadline_after;

#[derive(Clone, Copy)]
enum Signal {
    Shutdown,
    Kill,
}

/// Whether `reason` is what stopping a child with `shutdown` should produce
/// (anything else is OTP's `shutdown_error`, reported but not acted upon).
fn exit_as_expected(shutdown: Shutdown, restart: Restart, reason: &ExitReason) -> bool {
    let quiet_ok = restart != Restart::Permanent;
    match (shutdown, reason) {
        (Shutdown::BrutalKill, ExitReason::Abnormal(f)) => f.kind == FailureKind::Killed,
        (_, ExitReason::Shutdown) => true,
        (_, ExitReason::Normal) => quiet_ok,
        (_, ExitReason::Abnormal(_)) => false,
    }
}

impl Supervisor {
    /// Stops child `id` per its shutdown spec; `None` when it was not running.
    pub(crate) async fn terminate(&mut self, id: &ChildId) -> Option<ExitReason> {
        let (mut generation, shutdown, restart) = {
            let record = self.children.get(id)?;
            let generation = record.state.generation()?;
            (generation, record.spec.shutdown(), record.spec.restart())
        };
        self.revoke_in_place(id);
        let deferred = loop {
            match self.take_deferred_exit(id, generation) {
                Some((reason, Some(next))) => {
                    self.follow_while_stopping(id, generation, reason, next);
                    generation = next;
                }
                Some((reason, None)) => break Some(reason),
                None => break None,
            }
        };
        let (generation, reason) = match deferred {
            Some(reason) => (generation, reason),
            None => self.stop_incarnation(id, generation, shutdown).await,
        };
        if !exit_as_expected(shutdown, restart, &reason) {
            tracing::warn!(
                supervisor = %self.path, child = %id, generation,
                "shutdown_error: child exited with {reason} while being stopped with {shutdown}"
            );
        }
        self.finish_terminated(id, generation, reason.clone());
        Some(reason)
    }

    /// Stops incarnation `generation` of `id`, and the ones it restarted in
    /// place as meanwhile: the generation that exited last, and how.
    async fn stop_incarnation(
        &mut self,
        id: &ChildId,
        mut generation: u64,
        shutdown: Shutdown,
    ) -> (u64, ExitReason) {
        let reason = match shutdown {
            Shutdown::BrutalKill => {
                self.signal(id, Signal::Kill);
                self.await_killed(id, &mut generation).await
            }
            Shutdown::Timeout(timeout) => {
                self.signal(id, Signal::Shutdown);
                if let Some(reason) = self
                    .await_exit(
                        id,
                        &mut generation,
                        Some(deadline_after(Instant::now(), timeout)),
                    )
                    .await
                {
                    return (generation, reason);
                }
                self.emit_child(
                    id,
                    SupervisorEvent::ChildShutdownTimeout {
                        generation,
                        timeout_ms: millis(timeout),
                    },
                );
                self.signal(id, Signal::Kill);
                self.await_killed(id, &mut generation).await
            }
            Shutdown::Infinity => {
                self.signal(id, Signal::Shutdown);
                self.await_exit(id, &mut generation, None)
                    .await
                    .unwrap_or_else(ExitReason::killed)
            }
        };
        (generation, reason)
    }

    /// Calls `shutdown()` or `kill()` on the live incarnation, containing a panic.
    fn signal(&mut self, id: &ChildId, signal: Signal) {
        self.revoke_in_place(id);
        let Some(record) = self.children.get_mut(id) else {
            return;
        };
        let ChildState::Running { handle, .. } = &mut record.state else {
            return;
        };
        let result = guarded(|| match signal {
            Signal::Shutdown => handle.shutdown(),
            Signal::Kill => handle.kill(),
        });
        if let Err(message) = result {
            tracing::error!(supervisor = %self.path, child = %id, "the child panicked while being stopped: {message}");
        }
    }

    /// Waits for the exit of (`id`, `generation`) until `deadline`, setting other
    /// messages aside; a restart in place moves `generation` to the new
    /// incarnation, which is waited for in turn.
    async fn await_exit(
        &mut self,
        id: &ChildId,
        generation: &mut u64,
        deadline: Option<Instant>,
    ) -> Option<ExitReason> {
        loop {
            let timer = async move {
                match deadline {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                msg = self.mailbox.recv() => match msg {
                    Some(Msg::Exit(exit)) if exit.id == *id && exit.generation == *generation => {
                        let Some(next) = exit.replaced_by else {
                            return Some(exit.reason);
                        };
                        self.follow_while_stopping(id, exit.generation, exit.reason, next);
                        *generation = next;
                    }
                    Some(other) => self.deferred.push_back(other),
                    None => return None,
                },
                () = timer => return None,
            }
        }
    }

    async fn await_killed(&mut self, id: &ChildId, generation: &mut u64) -> ExitReason {
        let deadline = deadline_after(Instant::now(), self.flags.kill_grace);
        match self.await_exit(id, generation, Some(deadline)).await {
            Some(reason) => reason,
            None => {
                self.considered_dead(id);
                ExitReason::killed()
            }
        }
    }

    fn considered_dead(&self, id: &ChildId) {
        tracing::error!(
            supervisor = %self.path, child = %id,
            "the child did not report its exit within {:?} of being killed; it is considered dead",
            self.flags.kill_grace
        );
    }

    /// The exit of (`id`, `generation`) set aside earlier, and the
    /// generation it restarted in place as, if it did.
    fn take_deferred_exit(
        &mut self,
        id: &ChildId,
        generation: u64,
    ) -> Option<(ExitReason, Option<u64>)> {
        let pos = self
            .deferred
            .iter()
            .position(|m| matches!(m, Msg::Exit(e) if e.id == *id && e.generation == generation))?;
        match self.deferred.remove(pos) {
            Some(Msg::Exit(exit)) => Some((exit.reason, exit.replaced_by)),
            _ => None,
        }
    }

    /// A child being stopped had restarted in place: its record follows the
    /// new incarnation (the one to stop now) and the restart is counted and
    /// told as any; the stop goes on whatever the count says.
    fn follow_while_stopping(
        &mut self,
        id: &ChildId,
        generation: u64,
        reason: ExitReason,
        next: u64,
    ) {
        self.follow_in_place(id, generation, reason, next);
        self.count_restart_while_stopping(id, next);
    }

    fn finish_terminated(&mut self, id: &ChildId, generation: u64, reason: ExitReason) {
        if let Some(record) = self.children.get_mut(id) {
            record.state = ChildState::Stopped;
            record.last_exit = Some(reason.clone());
        }
        self.emit_child(id, SupervisorEvent::ChildExited { generation, reason });
    }

    /// OTP `terminate/2`: stops every child and reports the shutdown.
    pub(crate) async fn shutdown_children(&mut self, cause: &ShutdownCause) {
        self.revoke_all_in_place();
        self.emit_supervisor(SupervisorEvent::ShutdownStarted {
            cause: cause.clone(),
        });
        if let Some(spec) = self.dynamic_spec.clone() {
            let signal = match spec.shutdown() {
                Shutdown::BrutalKill => Signal::Kill,
                _ => Signal::Shutdown,
            };
            self.terminate_many(signal, spec.shutdown()).await;
        } else {
            let order: Vec<ChildId> = self.children.order().to_vec();
            for id in order.iter().rev() {
                self.terminate(id).await;
            }
        }
        // An unsettled strategy change's caller learns that the supervisor is gone.
        self.pending_change = None;
        self.emit_supervisor(SupervisorEvent::ShutdownCompleted {
            cause: cause.clone(),
        });
    }

    /// Kills every running child at once (the supervisor itself was killed).
    pub(crate) async fn kill_all(&mut self) {
        self.terminate_many(Signal::Kill, Shutdown::BrutalKill)
            .await;
    }

    /// Stops all running children concurrently: `signal` to each, one shared
    /// deadline per `shutdown`, then `kill()` for the ones still running.
    async fn terminate_many(&mut self, signal: Signal, shutdown: Shutdown) {
        let mut pending: HashMap<ChildId, u64> = self.children.running_ids().into_iter().collect();
        // Exits set aside earlier, followed through restarts in place (a
        // child's messages are in its order).
        let mut followed = Vec::new();
        let mut already = Vec::new();
        for m in std::mem::take(&mut self.deferred) {
            match m {
                Msg::Exit(e) if pending.get(&e.id) == Some(&e.generation) => match e.replaced_by {
                    Some(next) => {
                        pending.insert(e.id.clone(), next);
                        followed.push((e, next));
                    }
                    None => {
                        pending.remove(&e.id);
                        already.push(e);
                    }
                },
                other => self.deferred.push_back(other),
            }
        }
        for (e, next) in followed {
            self.follow_while_stopping(&e.id, e.generation, e.reason, next);
        }
        for e in already {
            self.finish_terminated(&e.id, e.generation, e.reason);
        }
        let ids: Vec<ChildId> = pending.keys().cloned().collect();
        for id in &ids {
            self.signal(id, signal);
        }
        let now = Instant::now();
        let first_deadline = match shutdown {
            Shutdown::BrutalKill => Some(deadline_after(now, self.flags.kill_grace)),
            Shutdown::Timeout(t) => Some(deadline_after(now, t)),
            Shutdown::Infinity => None,
        };
        self.await_many(&mut pending, first_deadline).await;
        if let Shutdown::Timeout(t) = shutdown
            && !pending.is_empty()
        {
            let ids: Vec<(ChildId, u64)> = pending.iter().map(|(i, g)| (i.clone(), *g)).collect();
            for (id, generation) in &ids {
                self.emit_child(
                    id,
                    SupervisorEvent::ChildShutdownTimeout {
                        generation: *generation,
                        timeout_ms: millis(t),
                    },
                );
                self.signal(id, Signal::Kill);
            }
            self.await_many(
                &mut pending,
                Some(deadline_after(Instant::now(), self.flags.kill_grace)),
            )
            .await;
        }
        let remaining: Vec<(ChildId, u64)> = pending.drain().collect();
        for (id, generation) in remaining {
            self.considered_dead(&id);
            self.finish_terminated(&id, generation, ExitReason::killed());
        }
    }

    async fn await_many(&mut self, pending: &mut HashMap<ChildId, u64>, deadline: Option<Instant>) {
        while !pending.is_empty() {
            let timer = async move {
                match deadline {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                msg = self.mailbox.recv() => match msg {
                    Some(Msg::Exit(exit)) if pending.get(&exit.id) == Some(&exit.generation) => {
                        match exit.replaced_by {
                            Some(next) => {
                                pending.insert(exit.id.clone(), next);
                                self.follow_while_stopping(&exit.id, exit.generation, exit.reason, next);
                            }
                            None => {
                                pending.remove(&exit.id);
                                self.finish_terminated(&exit.id, exit.generation, exit.reason);
                            }
                        }
                    }
                    Some(other) => self.deferred.push_back(other),
                    None => return,
                },
                () = timer => return,
            }
        }
    }
}
