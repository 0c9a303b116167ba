//! The outside of a supervisor: [`SupervisorHandle`] (cloneable; every admin call is
//! a message to the supervisor's task with a one-shot ticket for the answer), the
//! answers it returns, and OTP's admin errors as one typed enum ([`AdminError`]).
//!
//! The supervisor's mailbox carries, in arrival order, child exits, admin
//! commands and its own `TryAgain` notes, like an Erlang mailbox: a command sent
//! after a child exited is handled after that exit.
//!
//! Dropping the last handle of a supervisor (all clones, including the one its
//! parent holds) asks it to shut down: a tree nobody can reach any more does not
//! run on.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{oneshot, watch};

use super::child::{ChildExit, ExitReason, FailureKind, Fault, InjectError, StartError};
use super::health::HealthReport;
use super::id::ChildId;
use super::spec::{ChildKind, ChildSpec, Restart, SpecError, Strategy};
use super::storm::StormConfig;
use super::strategy_change::{StrategyChangeOptions, StrategyChangeReport};

/// One message in a supervisor's mailbox.
pub(crate) enum Msg {
    /// An incarnation ended.
    Exit(ChildExit),
    /// An admin request.
    Command(Command),
    /// OTP's `try_again_restart`: retry a restart that failed to start.
    TryAgain(ChildId),
    /// The last handle is gone.
    HandlesDropped,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, AdminError>>;

/// An admin request and its ticket.
pub(crate) enum Command {
    StartChild {
        spec: ChildSpec,
        reply: Reply<StartedChild>,
    },
    StartDynamic {
        id: Option<ChildId>,
        args: Option<Value>,
        reply: Reply<StartedChild>,
    },
    TerminateChild {
        id: ChildId,
        reply: Reply<()>,
    },
    RestartChild {
        id: ChildId,
        reply: Reply<StartedChild>,
    },
    DeleteChild {
        id: ChildId,
        reply: Reply<()>,
    },
    WhichChildren {
        reply: Reply<Vec<ChildInfo>>,
    },
    CountChildren {
        reply: Reply<ChildCounts>,
    },
    InjectFault {
        id: ChildId,
        fault: Fault,
        reply: Reply<u64>,
    },
    ChangeStrategy {
        to: Strategy,
        options: StrategyChangeOptions,
        reply: Reply<StrategyChangeReport>,
    },
    SetIntensity {
        intensity: u32,
        period: std::time::Duration,
        reply: Reply<()>,
    },
    Health {
        reply: Reply<HealthReport>,
    },
    SetStorm {
        child: Option<ChildId>,
        storm: Option<StormConfig>,
        reply: Reply<Vec<ChildId>>,
    },
    ChildSupervisor {
        id: ChildId,
        reply: Reply<SupervisorHandle>,
    },
    Stop,
}

/// What a start request produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StartedChild {
    /// A live incarnation.
    Running {
        /// The child's id (generated for an unnamed dynamic child).
        id: ChildId,
        /// Its generation.
        generation: u64,
    },
    /// The start function returned `ignore` (OTP's `{ok, undefined}`).
    Ignored {
        /// The child's id.
        id: ChildId,
    },
}

impl StartedChild {
    /// The child's id.
    pub fn id(&self) -> &ChildId {
        match self {
            StartedChild::Running { id, .. } | StartedChild::Ignored { id } => id,
        }
    }

    /// The generation of the live incarnation, if one was started.
    pub fn generation(&self) -> Option<u64> {
        match self {
            StartedChild::Running { generation, .. } => Some(*generation),
            StartedChild::Ignored { .. } => None,
        }
    }
}

/// The state of a child as `which_children` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    /// An incarnation is live.
    Running,
    /// A restart is owed (OTP's `restarting`).
    Restarting,
    /// No incarnation (OTP's `undefined`).
    Stopped,
}

/// One line of `which_children`.
#[derive(Clone, Debug, Serialize)]
pub struct ChildInfo {
    /// The child's id.
    pub id: ChildId,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: Restart,
    /// Running, restarting or stopped.
    pub status: ChildStatus,
    /// The live incarnation's generation.
    pub generation: Option<u64>,
    /// Restarts decided by the supervisor since the child was added.
    pub restarts: u64,
    /// How the previous incarnation ended.
    pub last_exit: Option<ExitReason>,
    /// Kind-specific details from the live incarnation.
    pub info: Value,
}

/// OTP's `count_children`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChildCounts {
    /// Child specs, running or not (1 for `simple_one_for_one`).
    pub specs: usize,
    /// Live incarnations.
    pub active: usize,
    /// Children of type supervisor, running or not.
    pub supervisors: usize,
    /// Children of type worker, running or not.
    pub workers: usize,
}

/// Why a supervisor stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownCause {
    /// `stop()`, or its parent asked it to shut down.
    Requested,
    /// Every handle to it was dropped.
    HandlesDropped,
    /// More than `intensity` restarts within `period`.
    IntensityReached,
    /// A child's storm detector escalated.
    Storm {
        /// The child in a storm.
        child: ChildId,
    },
    /// Its parent killed it.
    Killed,
    /// A child failed to start during init.
    InitFailed,
    /// The task ended without reporting (runtime shut down).
    Aborted,
}

impl ShutdownCause {
    /// The exit reason its parent sees: OTP's `shutdown` for everything but a kill.
    pub fn exit_reason(&self) -> ExitReason {
        match self {
            ShutdownCause::Killed => ExitReason::killed(),
            ShutdownCause::Aborted => ExitReason::abnormal(
                FailureKind::Crash,
                "the supervisor task ended without reporting",
            ),
            _ => ExitReason::Shutdown,
        }
    }

    /// Whether the supervisor gave up on its own (its parent sees a failure to handle).
    pub fn is_escalation(&self) -> bool {
        matches!(
            self,
            ShutdownCause::IntensityReached | ShutdownCause::Storm { .. }
        )
    }
}

impl fmt::Display for ShutdownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownCause::Requested => f.write_str("shutdown requested"),
            ShutdownCause::HandlesDropped => f.write_str("every handle was dropped"),
            ShutdownCause::IntensityReached => f.write_str("reached max restart intensity"),
            ShutdownCause::Storm { child } => write!(f, "restart storm of child `{child}`"),
            ShutdownCause::Killed => f.write_str("killed"),
            ShutdownCause::InitFailed => f.write_str("a child failed to start during init"),
            ShutdownCause::Aborted => f.write_str("the supervisor task was aborted"),
        }
    }
}

/// How a supervisor ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SupervisorExit {
    /// What its parent sees.
    pub reason: ExitReason,
    /// Why.
    pub cause: ShutdownCause,
}

/// OTP's admin errors, and Warden's additions.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    /// `start_child`: a child with this id is running (OTP `already_started`).
    #[error("child `{id}` is already started")]
    AlreadyStarted {
        /// The id.
        id: ChildId,
    },
    /// `start_child`: a child with this id exists but is not running (OTP `already_present`).
    #[error("child `{id}` is already present; restart or delete it")]
    AlreadyPresent {
        /// The id.
        id: ChildId,
    },
    /// A strategy change's pre-checks found it high risk (and it was not forced).
    #[error(
        "strategy change {from} -> {to} refused as high risk: {reasons} (force it, or try later)"
    )]
    StrategyRisk {
        /// The strategy now.
        from: Strategy,
        /// The strategy asked for.
        to: Strategy,
        /// What the pre-checks found.
        reasons: String,
    },
    /// `set_storm`: the settings are inconsistent.
    #[error("invalid storm detector: {reason}")]
    InvalidStorm {
        /// What is wrong.
        reason: &'static str,
    },
    /// No such child (OTP `not_found`).
    #[error("no child `{id}`")]
    NotFound {
        /// The id.
        id: ChildId,
    },
    /// The child is running (OTP `running`).
    #[error("child `{id}` is running")]
    Running {
        /// The id.
        id: ChildId,
    },
    /// The child is waiting to be restarted (OTP `restarting`).
    #[error("child `{id}` is restarting")]
    Restarting {
        /// The id.
        id: ChildId,
    },
    /// The operation needs a live incarnation.
    #[error("child `{id}` is not running")]
    NotRunning {
        /// The id.
        id: ChildId,
    },
    /// Not valid for a `simple_one_for_one` supervisor (OTP `simple_one_for_one`).
    #[error("`{operation}` is not valid for a simple_one_for_one supervisor")]
    SimpleOneForOne {
        /// The operation.
        operation: &'static str,
    },
    /// Valid only for a `simple_one_for_one` supervisor.
    #[error("`{operation}` needs a simple_one_for_one supervisor")]
    NotSimpleOneForOne {
        /// The operation.
        operation: &'static str,
    },
    /// The child spec is invalid.
    #[error(transparent)]
    InvalidSpec(#[from] SpecError),
    /// The start function failed (OTP `{error, Reason}`).
    #[error("child `{id}` failed to start: {source}")]
    StartFailed {
        /// The offender.
        id: ChildId,
        /// Why.
        #[source]
        source: StartError,
    },
    /// Fault injection failed.
    #[error("child `{id}`: {source}")]
    Inject {
        /// The target.
        id: ChildId,
        /// Why.
        #[source]
        source: InjectError,
    },
    /// The child is not a supervisor (path lookup).
    #[error("child `{id}` is not a supervisor")]
    NotASupervisor {
        /// The id.
        id: ChildId,
    },
    /// A path that does not name something under this supervisor.
    #[error("invalid path `{path}`: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The strategy change is not possible.
    #[error("cannot change strategy from {from} to {to}: {reason}")]
    StrategyChange {
        /// The current strategy.
        from: Strategy,
        /// The strategy asked for.
        to: Strategy,
        /// Why not.
        reason: &'static str,
    },
    /// The supervisor is no longer running.
    #[error("supervisor `{path}` is not running")]
    SupervisorGone {
        /// Its path.
        path: String,
    },
}

/// A cloneable handle to a running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    mailbox: UnboundedSender<Msg>,
    path: Arc<str>,
    exit: watch::Receiver<Option<SupervisorExit>>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        // The supervisor may be gone already; then there is nobody to tell.
        let _ = self.mailbox.send(Msg::HandlesDropped);
    }
}

impl fmt::Debug for SupervisorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorHandle")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl SupervisorHandle {
    pub(crate) fn new(
        mailbox: UnboundedSender<Msg>,
        path: Arc<str>,
        exit: watch::Receiver<Option<SupervisorExit>>,
    ) -> Self {
        SupervisorHandle {
            inner: Arc::new(HandleInner {
                mailbox,
                path,
                exit,
            }),
        }
    }

    /// The supervisor's path in the tree (`root/workers`).
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    fn gone(&self) -> AdminError {
        AdminError::SupervisorGone {
            path: self.inner.path.to_string(),
        }
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, AdminError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .mailbox
            .send(Msg::Command(make(tx)))
            .map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())?
    }

    /// OTP `start_child/2` with a child spec (not for `simple_one_for_one`).
    pub async fn start_child(&self, spec: ChildSpec) -> Result<StartedChild, AdminError> {
        self.call(|reply| Command::StartChild { spec, reply }).await
    }

    /// OTP `start_child/2` for `simple_one_for_one`: a new dynamic child with a
    /// generated id, started with `args` (passed to its start function on every
    /// restart).
    pub async fn start_dynamic_child(
        &self,
        args: Option<Value>,
    ) -> Result<StartedChild, AdminError> {
        self.call(|reply| Command::StartDynamic {
            id: None,
            args,
            reply,
        })
        .await
    }

    /// Like [`start_dynamic_child`](Self::start_dynamic_child), with a chosen id.
    pub async fn start_dynamic_child_named(
        &self,
        id: impl Into<ChildId>,
        args: Option<Value>,
    ) -> Result<StartedChild, AdminError> {
        let id = id.into();
        self.call(|reply| Command::StartDynamic {
            id: Some(id),
            args,
            reply,
        })
        .await
    }

    /// OTP `terminate_child/2`: stops the child per its shutdown spec. Its spec is
    /// kept (not for temporary or dynamic children, which are removed).
    pub async fn terminate_child(&self, id: impl Into<ChildId>) -> Result<(), AdminError> {
        let id = id.into();
        self.call(|reply| Command::TerminateChild { id, reply })
            .await
    }

    /// OTP `restart_child/2`: starts a stopped child again.
    pub async fn restart_child(&self, id: impl Into<ChildId>) -> Result<StartedChild, AdminError> {
        let id = id.into();
        self.call(|reply| Command::RestartChild { id, reply }).await
    }

    /// OTP `delete_child/2`: removes a stopped child's spec.
    pub async fn delete_child(&self, id: impl Into<ChildId>) -> Result<(), AdminError> {
        let id = id.into();
        self.call(|reply| Command::DeleteChild { id, reply }).await
    }

    /// OTP `which_children/1`.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, AdminError> {
        self.call(|reply| Command::WhichChildren { reply }).await
    }

    /// OTP `count_children/1`.
    pub async fn count_children(&self) -> Result<ChildCounts, AdminError> {
        self.call(|reply| Command::CountChildren { reply }).await
    }

    /// Injects a fault into a running child; returns the generation it hit.
    pub async fn inject_fault(
        &self,
        id: impl Into<ChildId>,
        fault: Fault,
    ) -> Result<u64, AdminError> {
        let id = id.into();
        self.call(|reply| Command::InjectFault { id, fault, reply })
            .await
    }

    /// Changes the restart strategy at run time: a dry run reports which children's
    /// coupling would change; otherwise the change is applied and answered after the
    /// settle window, rolled back if the tree did not settle.
    pub async fn change_strategy(
        &self,
        to: Strategy,
        options: StrategyChangeOptions,
    ) -> Result<StrategyChangeReport, AdminError> {
        self.call(|reply| Command::ChangeStrategy { to, options, reply })
            .await
    }

    /// Replaces the storm-detector settings of `child` (of every child when
    /// `None`) at run time; `None` settings turn the detector off. The
    /// windows start afresh. Returns the children changed.
    pub async fn set_storm(
        &self,
        child: Option<ChildId>,
        storm: Option<StormConfig>,
    ) -> Result<Vec<ChildId>, AdminError> {
        if let Some(config) = &storm {
            config
                .validate()
                .map_err(|reason| AdminError::InvalidStorm { reason })?;
        }
        self.call(|reply| Command::SetStorm {
            child,
            storm,
            reply,
        })
        .await
    }

    /// Changes the restart intensity and its period at run time (a config
    /// reload). The restarts already counted stay in the window, which is
    /// measured with the new period from now on.
    pub async fn set_intensity(
        &self,
        intensity: u32,
        period: std::time::Duration,
    ) -> Result<(), AdminError> {
        self.call(|reply| Command::SetIntensity {
            intensity,
            period,
            reply,
        })
        .await
    }

    /// The supervisor's health report.
    pub async fn health_report(&self) -> Result<HealthReport, AdminError> {
        self.call(|reply| Command::Health { reply }).await
    }

    /// The handle of the running nested supervisor `id`.
    pub async fn child_supervisor(
        &self,
        id: impl Into<ChildId>,
    ) -> Result<SupervisorHandle, AdminError> {
        let id = id.into();
        self.call(|reply| Command::ChildSupervisor { id, reply })
            .await
    }

    /// Resolves an absolute path (beginning with this supervisor's own path, e.g.
    /// `root/workers`) to a nested supervisor.
    pub async fn supervisor_at(&self, path: &str) -> Result<SupervisorHandle, AdminError> {
        let Some(rest) = self.relative(path)? else {
            return Ok(self.clone());
        };
        let mut current = self.clone();
        for segment in rest.split('/') {
            if segment.is_empty() {
                return Err(AdminError::InvalidPath {
                    path: path.to_owned(),
                    reason: "empty segment",
                });
            }
            current = current.child_supervisor(segment).await?;
        }
        Ok(current)
    }

    /// Splits a child's absolute path (`root/workers/counter`) into the handle of its
    /// supervisor and its id. Whether the child exists is for the next call to say.
    pub async fn child_at(&self, path: &str) -> Result<(SupervisorHandle, ChildId), AdminError> {
        let Some(rest) = self.relative(path)? else {
            return Err(AdminError::InvalidPath {
                path: path.to_owned(),
                reason: "names the supervisor itself, not a child",
            });
        };
        let (parent, id) = match rest.rsplit_once('/') {
            Some((parent, id)) => (
                self.supervisor_at(&format!("{}/{parent}", self.path()))
                    .await?,
                id,
            ),
            None => (self.clone(), rest),
        };
        if id.is_empty() {
            return Err(AdminError::InvalidPath {
                path: path.to_owned(),
                reason: "empty segment",
            });
        }
        Ok((parent, ChildId::from(id)))
    }

    /// `None` for this supervisor's own path, the remainder for a path below it.
    fn relative<'p>(&self, path: &'p str) -> Result<Option<&'p str>, AdminError> {
        let own = self.path();
        let path_trimmed = path.trim_end_matches('/');
        if path_trimmed == own {
            return Ok(None);
        }
        match path_trimmed
            .strip_prefix(own)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(rest) => Ok(Some(rest)),
            None => Err(AdminError::InvalidPath {
                path: path.to_owned(),
                reason: "not under this supervisor",
            }),
        }
    }

    /// Asks the supervisor to shut down (children in reverse start order) without
    /// waiting.
    pub fn request_stop(&self) {
        // If it is already gone, there is nothing to stop.
        let _ = self.inner.mailbox.send(Msg::Command(Command::Stop));
    }

    /// Shuts the supervisor down and waits until it and its whole subtree stopped.
    pub async fn stop(&self) -> SupervisorExit {
        self.request_stop();
        self.wait().await
    }

    /// Waits until the supervisor has stopped, for whatever reason.
    pub async fn wait(&self) -> SupervisorExit {
        let mut rx = self.inner.exit.clone();
        let aborted = || SupervisorExit {
            reason: ShutdownCause::Aborted.exit_reason(),
            cause: ShutdownCause::Aborted,
        };
        match rx.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone().unwrap_or_else(aborted),
            Err(_) => aborted(),
        }
    }

    /// How the supervisor ended, or `None` while it runs.
    pub fn exit(&self) -> Option<SupervisorExit> {
        self.inner.exit.borrow().clone()
    }
}
