//! Admin requests, answered inside the supervisor's task: OTP's `start_child`,
//! `terminate_child`, `restart_child`, `delete_child`, `which_children`,
//! `count_children`, and Warden's fault injection, health report, nested lookup
//! and stop. (Strategy changes are in `strategy_change.rs`.)
//!
//! Each handler answers its ticket exactly once; an answer nobody waits for any
//! more is dropped. Admin starts and restarts are not counted against intensity
//! (as in OTP).

use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;
use warden_clock::millis;

use super::actor::{Flow, StartCause, Supervisor};
use super::child::{Fault, guarded};
use super::children::{ChildRecord, ChildState};
use super::event::SupervisorEvent;
use super::handle::{
    AdminError, ChildCounts, ChildInfo, Command, ShutdownCause, StartedChild, SupervisorHandle,
};
use super::health::{ChildFacts, ChildHealth, Facts, HealthReport, StormStatus, recommendations};
use super::id::ChildId;
use super::restart::StartOutcome;
use super::spec::{ChildKind, ChildSpec, Restart, validate_id};
use super::storm::{StormConfig, StormState};

impl Supervisor {
    /// One admin request.
    pub(crate) async fn handle_command(&mut self, command: Command) -> Flow {
        match command {
            Command::StartChild { spec, reply } => {
                let _ = reply.send(self.admin_start_child(spec).await);
            }
            Command::StartDynamic { id, args, reply } => {
                let _ = reply.send(self.admin_start_dynamic(id, args).await);
            }
            Command::TerminateChild { id, reply } => {
                let _ = reply.send(self.admin_terminate_child(id).await);
            }
            Command::RestartChild { id, reply } => {
                let _ = reply.send(self.admin_restart_child(id).await);
            }
            Command::DeleteChild { id, reply } => {
                let _ = reply.send(self.admin_delete_child(id));
            }
            Command::WhichChildren { reply } => {
                let _ = reply.send(Ok(self.which_children()));
            }
            Command::CountChildren { reply } => {
                let _ = reply.send(Ok(self.count_children()));
            }
            Command::InjectFault { id, fault, reply } => {
                let _ = reply.send(self.inject_fault(id, fault));
            }
            Command::ChangeStrategy { to, options, reply } => {
                self.change_strategy(to, options, reply);
            }
            Command::SetIntensity {
                intensity,
                period,
                reply,
            } => {
                self.flags.intensity = intensity;
                self.flags.period = period;
                self.intensity.set_limits(intensity, millis(period));
                let now_ms = self.now_ms(Instant::now());
                self.grant_supervisor_in_place(now_ms);
                let _ = reply.send(Ok(()));
            }
            Command::Health { reply } => {
                let _ = reply.send(Ok(self.health_report()));
            }
            Command::SetStorm {
                child,
                storm,
                reply,
            } => {
                let _ = reply.send(self.set_storm(child, storm));
            }
            Command::ChildSupervisor { id, reply } => {
                let _ = reply.send(self.child_supervisor(id));
            }
            Command::Stop => return Flow::Stop(ShutdownCause::Requested),
        }
        Flow::Continue
    }

    /// OTP `handle_start_child/2`.
    async fn admin_start_child(&mut self, spec: ChildSpec) -> Result<StartedChild, AdminError> {
        if self.is_dynamic() {
            return Err(AdminError::SimpleOneForOne {
                operation: "start_child with a child spec",
            });
        }
        spec.validate(self.children.order().len())?;
        let id = spec.id().clone();
        if let Some(existing) = self.children.get(&id) {
            return Err(if existing.state.is_running() {
                AdminError::AlreadyStarted { id }
            } else {
                AdminError::AlreadyPresent { id }
            });
        }
        let seq = self.next_seq();
        self.children
            .push_static(id.clone(), ChildRecord::new(Arc::new(spec), None, seq));
        match self.start_incarnation(&id, StartCause::Start).await {
            StartOutcome::Running(generation) => Ok(StartedChild::Running { id, generation }),
            StartOutcome::Ignored => Ok(StartedChild::Ignored { id }),
            StartOutcome::Failed(source) => {
                self.remove_child(&id);
                Err(AdminError::StartFailed { id, source })
            }
        }
    }

    /// OTP `start_child/2` on a `simple_one_for_one` supervisor.
    async fn admin_start_dynamic(
        &mut self,
        id: Option<ChildId>,
        args: Option<Value>,
    ) -> Result<StartedChild, AdminError> {
        let Some(spec) = self.dynamic_spec.clone() else {
            return Err(AdminError::NotSimpleOneForOne {
                operation: "start_dynamic_child",
            });
        };
        let id = match id {
            Some(id) => {
                validate_id(&id, 0)?;
                if let Some(existing) = self.children.get(&id) {
                    return Err(if existing.state.is_running() {
                        AdminError::AlreadyStarted { id }
                    } else {
                        AdminError::AlreadyPresent { id }
                    });
                }
                id
            }
            None => loop {
                self.dynamic_ids += 1;
                let candidate = ChildId::from(format!("{}-{}", spec.id(), self.dynamic_ids));
                if !self.children.contains(&candidate) {
                    break candidate;
                }
            },
        };
        let seq = self.next_seq();
        self.children
            .insert_dynamic(id.clone(), ChildRecord::new(spec, args.map(Arc::new), seq));
        match self.start_incarnation(&id, StartCause::Start).await {
            StartOutcome::Running(generation) => Ok(StartedChild::Running { id, generation }),
            StartOutcome::Ignored => Ok(StartedChild::Ignored { id }),
            StartOutcome::Failed(source) => {
                self.remove_child(&id);
                Err(AdminError::StartFailed { id, source })
            }
        }
    }

    /// OTP `terminate_child/2`. A temporary or dynamic child is removed; any other
    /// keeps its spec. A pending restart is cancelled.
    async fn admin_terminate_child(&mut self, id: ChildId) -> Result<(), AdminError> {
        if self.dynamic_spec.as_ref().is_some_and(|s| *s.id() == id) {
            return Err(AdminError::SimpleOneForOne {
                operation: "terminate_child by spec id (use a dynamic child's id)",
            });
        }
        let dynamic = self.is_dynamic();
        let Some(record) = self.children.get(&id) else {
            return Err(AdminError::NotFound { id });
        };
        let remove = dynamic || record.spec.restart() == Restart::Temporary;
        if record.state.is_running() {
            self.terminate(&id).await;
        } else if let Some(record) = self.children.get_mut(&id) {
            record.state = ChildState::Stopped;
        }
        if remove {
            self.remove_child(&id);
        }
        Ok(())
    }

    /// OTP `restart_child/2`.
    async fn admin_restart_child(&mut self, id: ChildId) -> Result<StartedChild, AdminError> {
        if self.is_dynamic() {
            return Err(AdminError::SimpleOneForOne {
                operation: "restart_child",
            });
        }
        match self.children.get(&id).map(|r| &r.state) {
            None => return Err(AdminError::NotFound { id }),
            Some(ChildState::Running { .. }) => return Err(AdminError::Running { id }),
            Some(ChildState::Restarting { .. }) => return Err(AdminError::Restarting { id }),
            Some(ChildState::Stopped) => {}
        }
        match self.start_incarnation(&id, StartCause::Start).await {
            StartOutcome::Running(generation) => Ok(StartedChild::Running { id, generation }),
            StartOutcome::Ignored => Ok(StartedChild::Ignored { id }),
            StartOutcome::Failed(source) => Err(AdminError::StartFailed { id, source }),
        }
    }

    /// OTP `delete_child/2`.
    fn admin_delete_child(&mut self, id: ChildId) -> Result<(), AdminError> {
        if self.is_dynamic() {
            return Err(AdminError::SimpleOneForOne {
                operation: "delete_child",
            });
        }
        match self.children.get(&id).map(|r| &r.state) {
            None => Err(AdminError::NotFound { id }),
            Some(ChildState::Running { .. }) => Err(AdminError::Running { id }),
            Some(ChildState::Restarting { .. }) => Err(AdminError::Restarting { id }),
            Some(ChildState::Stopped) => {
                self.remove_child(&id);
                Ok(())
            }
        }
    }

    fn which_children(&self) -> Vec<ChildInfo> {
        self.children
            .ids()
            .iter()
            .filter_map(|id| self.children.get(id).map(|r| r.info(id)))
            .collect()
    }

    /// OTP `count_children/1`.
    pub(crate) fn count_children(&self) -> ChildCounts {
        let mut counts = ChildCounts::default();
        for (_, record) in self.children.records() {
            counts.specs += 1;
            if record.state.is_running() {
                counts.active += 1;
            }
            match record.spec.kind() {
                ChildKind::Supervisor => counts.supervisors += 1,
                ChildKind::Worker => counts.workers += 1,
            }
        }
        if self.is_dynamic() {
            counts.specs = 1;
        }
        counts
    }

    fn inject_fault(&mut self, id: ChildId, fault: Fault) -> Result<u64, AdminError> {
        let Some(record) = self.children.get_mut(&id) else {
            return Err(AdminError::NotFound { id });
        };
        let ChildState::Running {
            generation, handle, ..
        } = &mut record.state
        else {
            return Err(AdminError::NotRunning { id });
        };
        let generation = *generation;
        let injected = guarded(|| handle.inject(fault)).unwrap_or_else(|message| {
            Err(super::child::InjectError::Failed {
                message: format!("the child panicked: {message}"),
            })
        });
        match injected {
            Ok(()) => {
                self.emit_child(&id, SupervisorEvent::FailureInjected { generation, fault });
                Ok(generation)
            }
            Err(source) => Err(AdminError::Inject { id, source }),
        }
    }

    fn child_supervisor(&self, id: ChildId) -> Result<SupervisorHandle, AdminError> {
        let Some(record) = self.children.get(&id) else {
            return Err(AdminError::NotFound { id });
        };
        let ChildState::Running { handle, .. } = &record.state else {
            return Err(AdminError::NotRunning { id });
        };
        match guarded(|| handle.supervisor()) {
            Ok(Some(h)) => Ok(h),
            _ => Err(AdminError::NotASupervisor { id }),
        }
    }

    fn set_storm(
        &mut self,
        child: Option<ChildId>,
        storm: Option<StormConfig>,
    ) -> Result<Vec<ChildId>, AdminError> {
        let ids = match child {
            Some(id) if self.children.get(&id).is_none() => {
                return Err(AdminError::NotFound { id });
            }
            Some(id) => vec![id],
            None => self.children.ids(),
        };
        for id in &ids {
            if let Some(record) = self.children.get_mut(id) {
                record.storm_config = storm;
                record.storm = storm.as_ref().map(|c| Box::new(StormState::new(c)));
            }
            // Restarts in place are allowed against the new windows.
            self.grant_in_place(id);
        }
        Ok(ids)
    }

    fn health_report(&self) -> HealthReport {
        let now = Instant::now();
        let now_ms = self.now_ms(now);
        let ids = self.children.ids();
        let mut children = Vec::with_capacity(ids.len());
        let mut facts = Vec::with_capacity(ids.len());
        for id in &ids {
            let Some(record) = self.children.get(id) else {
                continue;
            };
            let last_hour = record.rate.as_ref().map_or(0, |r| r.last_hour(now_ms));
            let storm = record
                .storm
                .as_ref()
                .and_then(|s| s.in_progress(now_ms))
                .map(|t| StormStatus {
                    window: t.window,
                    restarts: t.restarts,
                    threshold: t.threshold,
                });
            let uptime_ms = match &record.state {
                ChildState::Running { since, .. } => {
                    Some(millis(now.saturating_duration_since(*since)))
                }
                _ => None,
            };
            children.push(ChildHealth {
                id: id.clone(),
                kind: record.spec.kind(),
                restart: record.spec.restart(),
                status: record.state.status(),
                generation: record.state.generation(),
                uptime_ms,
                restarts_total: record.restarts,
                restarts_last_hour: last_hour,
                last_exit: record.last_exit.clone(),
                storm,
                storm_settings: record.storm_config,
            });
            facts.push(ChildFacts {
                id: id.clone(),
                spec: &record.spec,
                last_hour,
                storm,
            });
        }
        let restarts_in_period = self.intensity.in_window(now_ms);
        let restarts_last_hour = self.rate.last_hour(now_ms);
        let recommendations = recommendations(&Facts {
            strategy: self.flags.strategy,
            intensity: self.flags.intensity,
            period_ms: millis(self.flags.period),
            restarts_in_period,
            restarts_last_hour,
            child_count: self.children.len(),
            children: &facts,
        });
        let mut report = HealthReport {
            supervisor: self.path.to_string(),
            strategy: self.flags.strategy,
            intensity: self.flags.intensity,
            period_ms: millis(self.flags.period),
            restarts_in_period,
            restarts_total: self.total_restarts,
            restarts_last_hour,
            counts: self.count_children(),
            children,
            recommendations,
            score: 100,
            reasons: Vec::new(),
        };
        (report.score, report.reasons) = report.score();
        report
    }
}
