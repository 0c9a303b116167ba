//! The built-in operations: what an operator can do to a running host,
//! registered by [`register`] from `Host::start`.
//!
//! One module per area, each a list of `OpMeta` (params schema, result
//! schema, example, read-only flag, role) beside its handler:
//!
//! | module | operations |
//! |---|---|
//! | `supervisors` | `supervisors.list`, `tree`, `supervisor.strategy`, `health` |
//! | `children` | `child.info`, `child.start`, `child.terminate`, `child.restart`, `child.delete`, `child.kill`, `child.fault`, `child.send`, `child.snapshot`, `child.restore` |
//! | `reload` | `child.reload`, `child.rollback`, `child.versions`, `plugin.reload` |
//! | `processes` | `ps` |
//! | `components` | `component.call`, `grade` |
//! | `sandboxes` | `sandbox.create`, `sandbox.destroy`, `sandbox.list` |
//! | `snapshots` | `snapshot.list`, `snapshot.get`, `snapshot.diff`, `snapshot.delete` |
//! | `events` | `events.recent` |
//! | `logs` | `logs.tail` |
//! | `trace` | `trace.start`, `trace.stop`, `trace.get`, `trace.list` |
//! | `groups` | `group.join`, `group.leave`, `group.list`, `group.members`, `group.health`, `group.broadcast` |
//! | `rollouts` | `rollout.start`, `rollout.status`, `rollout.list`, `rollout.abort` |
//! | `config` | `config.reload` |
//! | `audit` | `audit.recent` (and [`RegistryAudit`], the API's audit hook) |
//! | `chaos` | `chaos.run`: bounded failure experiments |
//!
//! Each states its [`Role`](crate::ops::Role): `read` for what only looks
//! (`tree`, `supervisors.list`, `health`, `child.info`, `child.versions`,
//! `ps`, `events.recent`, `logs.tail`, `snapshot.list`, `trace.list`,
//! `group.list`, `group.members`, `group.health`, `rollout.status`,
//! `rollout.list`), `operate` for running things (`child.send`,
//! `child.restart`, `child.kill`, `child.reload`, `child.rollback`,
//! `component.call`, `grade`, `group.join`, `group.leave`,
//! `group.broadcast`, `rollout.start`, `rollout.abort`), `admin` for the
//! rest, which changes the host's set-up or reads what a child keeps
//! (`child.snapshot`, `snapshot.get`, `snapshot.diff`), its traffic
//! (`trace.start`, `trace.stop`, `trace.get`) or who did what
//! (`audit.recent`).
//!
//! This module owns the [`Context`] handlers share and the one mapping
//! from the host's typed errors (supervisor [`AdminError`], router
//! [`SendError`], [`ReloadError`], …) to [`OpError`] statuses: something
//! the params name that does not exist is 404, a request the current state
//! refuses is 409, a guest's failure (a child answering a message with an
//! error or failing while handling it, a component called directly
//! trapping or running out of fuel: `guest_failed`) is 422
//! (`guest_failed`: the guest's, not the host's), a host path outside
//! `[api] path_roots` is 403 (`forbidden_path`, see `paths`), a host
//! failure is 500.
//! Handlers get params the
//! schema already accepted; a value the schema cannot express (bad base64)
//! is still reported as a 400 violation, never a panic.

mod audit;
mod chaos;
mod children;
mod components;
mod config;
mod events;
mod groups;
mod logs;
mod paths;
mod processes;
mod reload;
mod rollouts;
mod sandboxes;
mod snapshots;
mod supervisors;
mod trace;

use std::future::Future;

pub use audit::RegistryAudit;
pub use config::{SIGHUP_CALLER, reload_on_signal};

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use paths::PathRoots;

use crate::component::{ComponentError, Interrupt, Runtime};
use crate::config::ApiLimits;
use crate::events::EventLog;
use crate::host::{OperationPlugins, PluginLoadError, ProgramTable, Router, SendError};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Violation};
use crate::reload::{ReloadError, Reloader};
use crate::supervisor::{AdminError, ChildId, SupervisorHandle};

pub use rollouts::Rollouts;
pub use sandboxes::Sandboxes;

/// What the built-in handlers reach. Cheap to clone (handles and `Arc`s).
#[derive(Clone)]
pub struct Context {
    pub root: SupervisorHandle,
    pub router: Router,
    pub programs: ProgramTable,
    pub reloader: Reloader,
    /// The worker registry (`ps`), which also keeps the API's audit log
    /// (`audit.recent`).
    pub workers: crate::registry::Registry,
    pub runtime: Runtime,
    pub log: EventLog,
    pub plugins: OperationPlugins,
    /// Every guest call an operation starts is under it; the host fires
    /// it when it stops.
    pub calls: Interrupt,
    /// The ceilings on limits callers ask for (`[api]`).
    pub api_limits: ApiLimits,
    /// Components uploaded over the API.
    pub store: crate::store::ComponentStore,
    /// Snapshots `child.snapshot` stored (`snapshot.*`).
    pub snapshots: crate::host::snapshots::SnapshotStore,
    /// Applies a changed config file (`config.reload`).
    pub reconfigure: crate::host::Reconfigurer,
    /// Sandboxes created over the API (`sandbox.create`).
    pub sandboxes: Sandboxes,
    /// Where API callers may name host paths (`[api] path_roots`).
    pub path_roots: PathRoots,
    /// Named groups of children (`group.*`, rollouts and traces by group).
    pub groups: crate::host::groups::Groups,
    /// Rollouts started by `rollout.start`.
    pub rollouts: Rollouts,
    /// Where rollouts publish their steps.
    pub events: crate::events::EventBus,
    /// Whether and where `chaos.run` may experiment (`[chaos]`).
    pub chaos: crate::config::ChaosConfig,
    /// The health monitor's score thresholds: `health` answers each
    /// supervisor's level by them, as the monitor's events name it.
    pub health_thresholds: crate::health::Thresholds,
    /// The native workers' runtime (the live worker of a process child).
    pub processes: crate::host::process_child::ProcessRuntime,
    /// The runners `grade` grades sources with, built on first use
    /// ([`runners_dir`]).
    pub runners: std::sync::Arc<crate::grade::Runners>,
}

/// Where built runners are kept: `runners/` in the compile cache `warden
/// grade` uses (`$WARDEN_CACHE_DIR`, else `$XDG_CACHE_HOME/warden` or
/// `~/.cache/warden`), so a runner either of them built serves both; a
/// folder under the temporary directory when there is no home.
pub fn runners_dir() -> std::path::PathBuf {
    std::env::var_os("WARDEN_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                })
                .map(|base| base.join("warden"))
        })
        .map_or_else(
            || std::env::temp_dir().join("warden-runners"),
            |dir| dir.join("runners"),
        )
}

/// Registers every built-in operation in `registry`.
pub fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    supervisors::register(registry, ctx)?;
    chaos::register(registry, ctx)?;
    children::register(registry, ctx)?;
    reload::register(registry, ctx)?;
    processes::register(registry, ctx)?;
    components::register(registry, ctx)?;
    sandboxes::register(registry, ctx)?;
    events::register(registry, ctx)?;
    logs::register(registry, ctx)?;
    config::register(registry, ctx)?;
    audit::register(registry, ctx)?;
    snapshots::register(registry, ctx)?;
    trace::register(registry, ctx)?;
    groups::register(registry, ctx)?;
    rollouts::register(registry, ctx)?;
    Ok(())
}

/// Registers one built-in whose handler gets the context and the params.
fn add<F, Fut>(registry: &Registry, ctx: &Context, meta: OpMeta, f: F) -> Result<(), RegisterError>
where
    F: Fn(Context, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, OpError>> + Send + 'static,
{
    let ctx = ctx.clone();
    registry.register_builtin(meta, move |params| Box::pin(f(ctx.clone(), params)))
}

/// The params as `T` (already schema-checked; a mismatch is still a 400).
fn parse<T: DeserializeOwned>(op: &str, params: Value) -> Result<T, OpError> {
    serde_json::from_value(params).map_err(|err| invalid(op, "", err.to_string(), "params"))
}

/// A single-violation 400.
fn invalid(op: &str, path: &str, expected: impl Into<String>, found: impl Into<String>) -> OpError {
    OpError::InvalidParams {
        op: op.to_string(),
        violations: vec![Violation {
            path: path.to_string(),
            expected: expected.into(),
            found: found.into(),
        }],
    }
}

fn to_json<T: serde::Serialize>(op: &str, value: &T) -> Result<Value, OpError> {
    serde_json::to_value(value).map_err(|err| OpError::Failed {
        op: op.to_string(),
        message: format!("cannot serialise the result: {err}"),
    })
}

fn failed(op: &str, message: impl std::fmt::Display) -> OpError {
    OpError::Failed {
        op: op.to_string(),
        message: message.to_string(),
    }
}

/// A supervisor admin error as the status it deserves.
fn admin_error(op: &str, err: AdminError) -> OpError {
    match err {
        AdminError::NotFound { id } => OpError::NotFound {
            what: format!("child `{id}`"),
        },
        AdminError::InvalidPath { path, reason } => OpError::NotFound {
            what: format!("`{path}` ({reason})"),
        },
        AdminError::NotASupervisor { id } => OpError::NotFound {
            what: format!("supervisor `{id}` (it is a worker)"),
        },
        AdminError::AlreadyStarted { .. }
        | AdminError::AlreadyPresent { .. }
        | AdminError::Running { .. }
        | AdminError::Restarting { .. }
        | AdminError::NotRunning { .. }
        | AdminError::SimpleOneForOne { .. }
        | AdminError::NotSimpleOneForOne { .. }
        | AdminError::StrategyChange { .. }
        | AdminError::StrategyRisk { .. }
        | AdminError::SupervisorGone { .. }
        | AdminError::Inject { .. } => OpError::Conflict {
            message: err.to_string(),
        },
        AdminError::InvalidStorm { reason } => OpError::InvalidParams {
            op: op.to_string(),
            violations: vec![crate::ops::Violation {
                path: String::new(),
                expected: reason.to_owned(),
                found: "settings that contradict it".to_owned(),
            }],
        },
        AdminError::InvalidSpec(_) | AdminError::StartFailed { .. } => failed(op, err),
    }
}

/// A router error, for the component child at `path`.
fn send_error(op: &str, ctx: &Context, path: &str, err: SendError) -> OpError {
    match err {
        SendError::NotRunning { .. } if ctx.programs.get(path).is_none() => OpError::NotFound {
            what: format!("component child `{path}`"),
        },
        SendError::NotRunning { .. }
        | SendError::MailboxFull { .. }
        | SendError::Unavailable { .. } => OpError::Conflict {
            message: err.to_string(),
        },
        SendError::Refused { .. } => child_failed(op, path, "error_reply", err),
        SendError::Failed { .. } => child_failed(op, path, "failed", err),
        SendError::Stopped { .. } => failed(op, err),
    }
}

fn child_failed(op: &str, path: &str, cause: &'static str, err: SendError) -> OpError {
    OpError::GuestFailed {
        op: op.to_string(),
        guest: Some(path.to_string()),
        message: err.to_string(),
        cause,
    }
}

/// A component run directly (`component.call`) that failed: its own
/// failure (a trap, fuel, memory, output, not a usable component) is 422;
/// a file the host could not read is the host's (500).
fn guest_failed(op: &str, err: ComponentError) -> OpError {
    match err {
        ComponentError::Io { .. } => failed(op, format!("{} ({})", err, err.kind())),
        other => OpError::GuestFailed {
            op: op.to_string(),
            guest: None,
            message: format!("{} ({})", other, other.kind()),
            cause: other.kind(),
        },
    }
}

fn reload_error(op: &str, err: ReloadError) -> OpError {
    match err {
        ReloadError::UnknownChild(path) => OpError::NotFound {
            what: format!("component child `{path}`"),
        },
        ReloadError::NoSuchVersion { path, version } => OpError::NotFound {
            what: format!("version {version} of `{path}`"),
        },
        ReloadError::NotRunning(_) | ReloadError::NothingToRollBackTo(_) => OpError::Conflict {
            message: err.to_string(),
        },
        ReloadError::RollbackFailed { .. } => failed(op, err),
    }
}

fn plugin_error(op: &str, err: PluginLoadError) -> OpError {
    match err {
        PluginLoadError::Unknown { .. } => OpError::NotFound {
            what: err.to_string(),
        },
        other => failed(op, other),
    }
}

/// The supervisor handle and id of the child at `path`, checked to exist.
async fn locate(
    op: &str,
    ctx: &Context,
    path: &str,
) -> Result<(SupervisorHandle, crate::supervisor::ChildInfo), OpError> {
    let (parent, id) = ctx
        .root
        .child_at(path)
        .await
        .map_err(|e| admin_error(op, e))?;
    let children = parent
        .which_children()
        .await
        .map_err(|e| admin_error(op, e))?;
    let info = children
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| OpError::NotFound {
            what: format!("child `{path}`"),
        })?;
    Ok((parent, info))
}

/// Only the id, for admin calls that report a missing child themselves.
async fn child_id(
    op: &str,
    ctx: &Context,
    path: &str,
) -> Result<(SupervisorHandle, ChildId), OpError> {
    ctx.root
        .child_at(path)
        .await
        .map_err(|e| admin_error(op, e))
}

/// JSON Schema of `{path}` params.
fn path_params(description: &str) -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {"path": {"type": "string", "minLength": 1, "description": description}},
        "required": ["path"],
        "additionalProperties": false
    })
}

/// JSON Schema of an empty object result.
fn empty_result() -> Value {
    serde_json::json!({"type": "object", "additionalProperties": false})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reload::Stage;

    #[test]
    fn errors_map_to_the_status_they_deserve() {
        let not_found = admin_error("x", AdminError::NotFound { id: "c".into() });
        assert_eq!(not_found.status_code(), 404);
        let path = admin_error(
            "x",
            AdminError::InvalidPath {
                path: "elsewhere/c".into(),
                reason: "not under this supervisor",
            },
        );
        assert_eq!(path.status_code(), 404);
        let running = admin_error("x", AdminError::AlreadyStarted { id: "c".into() });
        assert_eq!((running.status_code(), running.kind()), (409, "conflict"));
        let start = admin_error(
            "x",
            AdminError::StartFailed {
                id: "c".into(),
                source: crate::supervisor::StartError::failed("boom"),
            },
        );
        assert_eq!(start.status_code(), 500);
        assert!(start.to_string().contains("boom"), "{start}");
        assert_eq!(
            reload_error("x", ReloadError::UnknownChild("root/x".into())).status_code(),
            404
        );
        assert_eq!(
            reload_error("x", ReloadError::NothingToRollBackTo("root/x".into())).status_code(),
            409
        );
        assert_eq!(
            reload_error(
                "x",
                ReloadError::RollbackFailed {
                    path: "root/x".into(),
                    stage: Stage::Restore,
                    reason: "no".into()
                }
            )
            .status_code(),
            500
        );
        let e = plugin_error(
            "plugin.reload",
            PluginLoadError::Unknown {
                id: "nope".into(),
                known: "wc".into(),
            },
        );
        assert_eq!(e.status_code(), 404);
    }

    #[test]
    fn a_params_mismatch_is_a_400_not_a_panic() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "only deserialised")]
        struct P {
            path: String,
        }
        let err = parse::<P>("child.info", serde_json::json!({"path": 3})).unwrap_err();
        assert_eq!(err.status_code(), 400);
    }
}
