//! Sandboxes created at run time: `sandbox.create`, `sandbox.destroy`,
//! `sandbox.list`, and the [`Sandboxes`] registry behind them (also used
//! by `child.reload {"path", "component"}`).
//!
//! A sandbox is a component child started from a component in the store
//! under the supervisor `[api.sandboxes]` names (by default the
//! `sandboxes` supervisor the host adds). It is built like a configured
//! component child — compiled through the runtime (the bounded compile
//! path and its cache), checked against the `actor-plugin` world, its
//! program in the [`ProgramTable`](crate::host::ProgramTable), its mailbox
//! in the router — and it holds a store [`Lease`] (user: its path) for as
//! long as it exists, so its component cannot be removed under it.
//!
//! What reaches a sandbox: the limits asked for, under the `[api]`
//! ceilings as for `component.call`; and of the host's disk only the
//! directories of `[api.grants.NAME]` it names, writable only when the
//! grant says so. Never a host path from the caller, never the host's
//! environment or clocks.
//!
//! `sandbox.destroy` stops a sandbox per its shutdown spec and forgets it
//! everywhere (supervisor, program table, reload history, lease, the
//! groups `sandbox.create`'s `groups` joined it to); it
//! never touches a configured child. The registry is in memory: a
//! restarted host has no sandboxes.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use warden_clock::{millis, unix_ms};

use super::{Context, add, admin_error, failed, guest_failed, invalid, parse};
use crate::component::{ActorProgram, Capabilities, DirGrant, Limits, Metering, World, world};
use crate::config::{Grant, SandboxesConfig};
use crate::host::DynamicStarts;
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::store::{ComponentId, Lease, StoreError};
use crate::supervisor::{AdminError, Backoff, ChildSpec, ChildStatus, Restart, Strategy};

/// A sandbox's memory when it names none (under the ceiling), in MiB.
const DEFAULT_MEMORY_MB: u64 = 64;

/// The sandboxes of a host. Cheap to clone.
#[derive(Clone)]
pub struct Sandboxes {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: `[api.sandboxes]` is absent and every operation refuses.
    config: Option<SandboxesConfig>,
    grants: BTreeMap<String, Grant>,
    dynamic: DynamicStarts,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    live: BTreeMap<String, Sandbox>,
    /// Paths being created: they count against `max` and cannot be
    /// created twice.
    reserved: HashSet<String>,
}

struct Sandbox {
    id: String,
    /// A lease on every component the sandbox has run: the one it runs
    /// and those `child.rollback` (or a failed probation) can return it
    /// to, whose compiled code its version history keeps. So the store
    /// refuses to delete any of them while the sandbox exists.
    leases: Vec<Lease>,
    created_ms: u64,
}

impl Sandboxes {
    pub fn new(
        config: Option<SandboxesConfig>,
        grants: BTreeMap<String, Grant>,
        dynamic: DynamicStarts,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                grants,
                dynamic,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each update is one insert or one remove: consistent whatever
        // panicked.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(&self, op: &str) -> Result<&SandboxesConfig, OpError> {
        self.inner.config.as_ref().ok_or_else(|| OpError::Conflict {
            message: format!(
                "`{op}`: sandboxes are not enabled: add [api.sandboxes] to the config"
            ),
        })
    }

    /// Whether `path` is a sandbox created by `sandbox.create`.
    pub fn contains(&self, path: &str) -> bool {
        self.lock().live.contains_key(path)
    }

    /// The sandbox at `path` was reloaded to `lease`'s component: it
    /// holds that lease too, beside those of the versions it may return to.
    pub(crate) fn add_lease(&self, path: &str, lease: Lease) {
        if let Some(sandbox) = self.lock().live.get_mut(path)
            && sandbox.leases.iter().all(|held| held.id() != lease.id())
        {
            sandbox.leases.push(lease);
        }
    }
}

/// Holds a path reserved while its sandbox is being created; releases it
/// when dropped, whether the creation succeeded or not.
struct Reservation {
    sandboxes: Sandboxes,
    path: String,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.sandboxes.lock().reserved.remove(&self.path);
    }
}

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    let ceiling = ctx.api_limits;
    let max_ms = millis(ceiling.max_timeout);
    let max_mb = ceiling.max_memory_mb;
    let mut fuel = json!({"type": "integer", "minimum": 1, "description": "Fuel per message (default: `[api] max_fuel`, or unmetered)"});
    if let Some(max) = ceiling.max_fuel {
        fuel["maximum"] = json!(max);
    }
    add(
        registry,
        ctx,
        OpMeta::new(
            "sandbox.create",
            "Starts a component from the store as a supervised child under the sandboxes' supervisor \
             ([api.sandboxes]); it sees only the [api.grants] directories it names",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "The child's id under the sandboxes' supervisor: letters, digits, `_`, `-`, `.`"},
                "component": {"type": "string", "minLength": 64, "maxLength": 64, "description": "A store id (64 hex digits: the SHA-256 of the component)"},
                "supervisor": {"type": "string", "minLength": 1, "description": "The sandboxes' supervisor, by name or path (default: the one [api.sandboxes] names)"},
                "config": {"type": "string", "description": "The string passed to the actor's `init` (default empty)"},
                "limits": {
                    "type": "object",
                    "properties": {
                        "memory_mb": {"type": "integer", "minimum": 1, "maximum": max_mb, "description": format!("At most {max_mb} (`[api] max_memory_mb`; default {})", DEFAULT_MEMORY_MB.min(max_mb))},
                        "fuel": fuel,
                        "timeout_ms": {"type": "integer", "minimum": 0, "maximum": max_ms, "description": format!("Per message, at most {max_ms} (`[api] max_timeout_ms`); 0 or left out: that ceiling")}
                    },
                    "additionalProperties": false
                },
                "dirs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "grant": {"type": "string", "minLength": 1, "description": "A grant's name ([api.grants.NAME])"},
                            "guest": {"type": "string", "minLength": 1, "description": "Where the sandbox sees it (/data)"}
                        },
                        "required": ["grant", "guest"],
                        "additionalProperties": false
                    }
                },
                "send_to": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Sibling ids it may send to"},
                "hibernate_after_ms": {"type": "integer", "minimum": 1, "maximum": crate::config::checks::MAX_TIMEOUT_MS,
                                       "description": "Idle this long, it hibernates: its state kept as a snapshot, its instance dropped until the next message (default: never)"},
                "restart": {"enum": ["permanent", "transient", "temporary"], "description": "Restart type (default permanent)"},
                "watch": {"type": "boolean", "description": "Refused when true: a stored component never changes; child.reload {path, component} swaps it"},
                "groups": {"type": "array", "maxItems": 64, "items": {"type": "string", "minLength": 1, "maxLength": 64},
                           "description": "Groups it joins once started (see group.join); it leaves them when destroyed"}
            },
            "required": ["id", "component"],
            "additionalProperties": false
        }))
        .example(json!({
            "id": "tenant-1",
            "component": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            // Within any ceilings the config sets, or the host would refuse
            // its own example at start.
            "limits": {"memory_mb": 32.min(max_mb), "timeout_ms": 1000.min(max_ms)},
            "dirs": [{"grant": "shared", "guest": "/data"}]
        }))
        .result(json!({
            "type": "object",
            "required": ["path", "component", "generation"],
            "properties": {
                "path": {"type": "string"},
                "component": {"type": "string"},
                "generation": {"type": ["integer", "null"]},
                "supervisor": {"type": "string"}
            }
        })),
        |ctx, params| async move { create(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "sandbox.destroy",
            "Stops a sandbox (its shutdown spec) and forgets it: supervisor child, program, reload history, store lease. \
             Configured children are refused (409)",
        )
        .role(Role::Operate)
        .params(super::path_params("The sandbox's path (`root/sandboxes/tenant-1`)"))
        .example(json!({"path": "root/sandboxes/tenant-1"}))
        .result(json!({
            "type": "object",
            "required": ["path", "component"],
            "properties": {"path": {"type": "string"}, "component": {"type": "string"}}
        })),
        |ctx, params| async move { destroy(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "sandbox.list",
            "Every sandbox: path, component, state and generation, creation time; and the store's lease count",
        )
        .read_only(true)
        .params(json!({"type": "object", "additionalProperties": false}))
        .example(json!({}))
        .result(json!({
            "type": "object",
            "required": ["sandboxes", "max", "leases"],
            "properties": {
                "sandboxes": {"type": "array", "items": {
                    "type": "object",
                    "required": ["path", "component", "state", "created_ms"],
                    "properties": {
                        "path": {"type": "string"},
                        "component": {"type": "string"},
                        "state": {"enum": ["running", "restarting", "stopped", "gone"]},
                        "generation": {"type": ["integer", "null"]},
                        "created_ms": {"type": "integer"}
                    }
                }},
                "max": {"type": "integer", "description": "[api.sandboxes] max"},
                "leases": {"type": "integer", "description": "Leases held on stored components, by every user"}
            }
        })),
        |ctx, _params| async move { list(&ctx).await },
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct CreateParams {
    id: String,
    component: String,
    supervisor: Option<String>,
    #[serde(default)]
    config: String,
    #[serde(default)]
    limits: LimitParams,
    #[serde(default)]
    dirs: Vec<DirParam>,
    #[serde(default)]
    send_to: Vec<String>,
    hibernate_after_ms: Option<u64>,
    restart: Option<Restart>,
    #[serde(default)]
    watch: bool,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize, Default)]
struct LimitParams {
    memory_mb: Option<u64>,
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct DirParam {
    grant: String,
    guest: String,
}

async fn create(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "sandbox.create";
    let sandboxes = &ctx.sandboxes;
    let config = sandboxes.config(OP)?.clone();
    let p: CreateParams = parse(OP, params)?;
    let id_chars = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if !p.id.bytes().all(id_chars) || p.id.bytes().all(|b| b == b'.') {
        return Err(invalid(
            OP,
            "/id",
            "letters, digits, `_`, `-` and `.` (not only dots)",
            p.id.clone(),
        ));
    }
    if p.watch {
        return Err(invalid(
            OP,
            "/watch",
            "false: a stored component never changes (its id is its content); \
             `child.reload {\"path\", \"component\"}` swaps a sandbox to another stored component",
            "true",
        ));
    }
    if let Some(asked) = &p.supervisor
        && *asked != config.supervisor
        && *asked != config.path
    {
        return Err(invalid(
            OP,
            "/supervisor",
            format!(
                "`{}` (or `{}`): the supervisor [api.sandboxes] gives sandboxes to",
                config.supervisor, config.path
            ),
            asked.clone(),
        ));
    }
    if let (Strategy::SimpleOneForOne, Some(restart)) = (config.strategy, p.restart) {
        return Err(invalid(
            OP,
            "/restart",
            format!(
                "no restart: `{}` is simple_one_for_one, so its one child spec's restart type applies",
                config.supervisor
            ),
            restart.to_string(),
        ));
    }
    for (i, group) in p.groups.iter().enumerate() {
        crate::config::group_name(group)
            .map_err(|reason| invalid(OP, &format!("/groups/{i}"), reason, group.clone()))?;
    }
    let component: ComponentId = p
        .component
        .parse()
        .map_err(|e: StoreError| invalid(OP, "/component", e.to_string(), p.component.clone()))?;
    let caps = grants(OP, &sandboxes.inner.grants, &p.dirs)?;
    let limits = limits(OP, &ctx.api_limits, &p.limits)?;
    let path = format!("{}/{}", config.path, p.id);

    let _reservation = reserve(sandboxes, &config, &path)?;
    let lease = ctx
        .store
        .lease(&component, path.clone())
        .map_err(|e| store_error(OP, e))?;
    let stored = ctx.store.get(&component).map_err(|e| store_error(OP, e))?;
    let program = compile(ctx, &stored.path, &limits).await?;
    let start = crate::host::sandbox_start(
        &ctx.router,
        &ctx.programs,
        &path,
        program,
        stored.path.clone(),
        p.config,
        limits,
        caps,
        p.send_to,
        p.hibernate_after_ms.map(Duration::from_millis),
    );
    // From here a failure must undo what the start registered.
    let forget = |ctx: &Context| {
        ctx.programs.remove(&path);
        sandboxes.inner.dynamic.remove(&path);
    };
    let parent = match ctx.root.supervisor_at(&config.path).await {
        Ok(parent) => parent,
        Err(e) => {
            forget(ctx);
            return Err(admin_error(OP, e));
        }
    };
    let started = if config.strategy == Strategy::SimpleOneForOne {
        sandboxes
            .inner
            .dynamic
            .insert(path.clone(), Arc::new(start));
        parent
            .start_dynamic_child_named(p.id.as_str(), Some(DynamicStarts::sandbox_args()))
            .await
    } else {
        // Backoff, so a sandbox that crashes again and again is slowed
        // down instead of using up the intensity its siblings share.
        let spec = ChildSpec::worker(p.id.as_str(), start)
            .with_restart(p.restart.unwrap_or(Restart::Permanent))
            .with_backoff(Backoff::default());
        parent.start_child(spec).await
    };
    let started = match started {
        Ok(started) => started,
        Err(e) => {
            forget(ctx);
            return Err(start_error(OP, &path, e));
        }
    };
    sandboxes.lock().live.insert(
        path.clone(),
        Sandbox {
            id: p.id,
            leases: vec![lease],
            created_ms: unix_ms(),
        },
    );
    for group in &p.groups {
        ctx.groups.join(group, &path);
    }
    tracing::info!(sandbox = %path, component = %component, "sandbox created");
    Ok(json!({
        "path": path,
        "component": component,
        "generation": started.generation(),
        "supervisor": config.path,
    }))
}

/// Reserves `path` for a creation: 409 when it exists or `max` is
/// reached.
fn reserve(
    sandboxes: &Sandboxes,
    config: &SandboxesConfig,
    path: &str,
) -> Result<Reservation, OpError> {
    let mut state = sandboxes.lock();
    if state.live.contains_key(path) || state.reserved.contains(path) {
        return Err(OpError::Conflict {
            message: format!("sandbox `{path}` exists already"),
        });
    }
    if state.live.len() + state.reserved.len() >= config.max {
        return Err(OpError::Conflict {
            message: format!(
                "{} sandboxes exist, the most [api.sandboxes] max allows: destroy one first",
                config.max
            ),
        });
    }
    state.reserved.insert(path.to_string());
    Ok(Reservation {
        sandboxes: sandboxes.clone(),
        path: path.to_string(),
    })
}

/// The capabilities of the grants `dirs` name: only those directories,
/// writable as their grants say.
fn grants(
    op: &str,
    known: &BTreeMap<String, Grant>,
    dirs: &[DirParam],
) -> Result<Capabilities, OpError> {
    let mut seen = HashSet::new();
    let mut granted = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let Some(grant) = known.get(&dir.grant) else {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            return Err(invalid(
                op,
                &format!("/dirs/{i}/grant"),
                format!(
                    "a grant of [api.grants] ({})",
                    if names.is_empty() {
                        "none is configured".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
                format!("unknown grant `{}`", dir.grant),
            ));
        };
        DirGrant::check_guest(&dir.guest).map_err(|reason| {
            invalid(op, &format!("/dirs/{i}/guest"), reason, dir.guest.clone())
        })?;
        if !seen.insert(dir.guest.as_str()) {
            return Err(invalid(
                op,
                &format!("/dirs/{i}/guest"),
                "a guest path not used by another grant",
                dir.guest.clone(),
            ));
        }
        granted.push(DirGrant {
            host: grant.host.clone(),
            guest: dir.guest.clone(),
            writable: grant.writable,
        });
    }
    Ok(Capabilities {
        dirs: granted,
        ..Capabilities::default()
    })
}

/// The limits asked for, held to the `[api]` ceilings; the ceilings where
/// none was asked for (a timeout is always set).
fn limits(
    op: &str,
    ceiling: &crate::config::ApiLimits,
    asked: &LimitParams,
) -> Result<Limits, OpError> {
    let over = |param: &str, asked: Option<u64>, max: Option<u64>| match (asked, max) {
        (Some(asked), Some(max)) if asked > max => Err(invalid(
            op,
            &format!("/limits/{param}"),
            format!("at most {max} (the host's `[api] max_{param}`)"),
            asked.to_string(),
        )),
        _ => Ok(()),
    };
    over(
        "timeout_ms",
        asked.timeout_ms,
        Some(millis(ceiling.max_timeout)),
    )?;
    over("memory_mb", asked.memory_mb, Some(ceiling.max_memory_mb))?;
    over("fuel", asked.fuel, ceiling.max_fuel)?;
    let memory_mb = asked
        .memory_mb
        .unwrap_or(DEFAULT_MEMORY_MB.min(ceiling.max_memory_mb));
    let timeout = match asked.timeout_ms {
        None | Some(0) => ceiling.max_timeout,
        Some(ms) => Duration::from_millis(ms),
    };
    Ok(Limits {
        memory_bytes: usize::try_from(memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        fuel: asked.fuel.or(ceiling.max_fuel),
        timeout: Some(timeout),
        ..Limits::default()
    })
}

/// The stored file compiled (the runtime's bounded path and cache) and
/// checked to be an actor: 422 naming what does not fit otherwise.
async fn compile(
    ctx: &Context,
    file: &std::path::Path,
    limits: &Limits,
) -> Result<ActorProgram, OpError> {
    const OP: &str = "sandbox.create";
    let metering = if limits.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let runtime = ctx.runtime.clone();
    let file: PathBuf = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let compiled = runtime.compile_file(&file, metering)?;
        world::check(&compiled, World::ActorPlugin)?;
        ActorProgram::new(compiled.prepare()?)
    })
    .await
    .map_err(|e| failed(OP, format!("compile task failed: {e}")))?
    .map_err(|e| guest_failed(OP, e))
}

fn store_error(op: &str, err: StoreError) -> OpError {
    match err {
        StoreError::NotFound { id } => OpError::NotFound {
            what: format!("component `{id}` in the store"),
        },
        StoreError::InvalidId { ref id } => invalid(op, "/component", err.to_string(), id.clone()),
        other => failed(op, other),
    }
}

/// A start the supervisor refused: a duplicate id is 409, the guest
/// failing its `init` or instantiation is the guest's (422).
fn start_error(op: &str, path: &str, err: AdminError) -> OpError {
    match err {
        AdminError::StartFailed { source, .. } => OpError::GuestFailed {
            op: op.to_string(),
            guest: Some(path.to_string()),
            message: format!("sandbox `{path}` failed to start: {source}"),
            cause: "start_failed",
        },
        other => admin_error(op, other),
    }
}

async fn destroy(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "sandbox.destroy";
    #[derive(Deserialize)]
    struct P {
        path: String,
    }
    let config = ctx.sandboxes.config(OP)?.clone();
    let p: P = parse(OP, params)?;
    let Some(sandbox) = ctx.sandboxes.lock().live.remove(&p.path) else {
        if ctx.programs.get(&p.path).is_some() || super::locate(OP, ctx, &p.path).await.is_ok() {
            return Err(OpError::Conflict {
                message: format!(
                    "`{}` is not a sandbox: only children created by sandbox.create can be destroyed; \
                     a configured child stays (child.terminate stops it)",
                    p.path
                ),
            });
        }
        return Err(OpError::NotFound {
            what: format!("sandbox `{}`", p.path),
        });
    };
    let component = running_component(ctx, &p.path)
        .or_else(|| sandbox.leases.last().map(|lease| lease.id().to_string()));
    let result = stop(ctx, &config, &sandbox.id).await;
    ctx.programs.remove(&p.path);
    ctx.sandboxes.inner.dynamic.remove(&p.path);
    ctx.reloader.forget(&p.path);
    ctx.groups.forget_under(&p.path);
    drop(sandbox);
    result.map_err(|e| admin_error(OP, e))?;
    tracing::info!(sandbox = %p.path, "sandbox destroyed");
    Ok(json!({"path": p.path, "component": component}))
}

/// Stops the child `id` per its shutdown spec and deletes its spec. A
/// child already gone (a temporary one that exited, a supervisor that
/// restarted without it) is fine: it is forgotten all the same.
async fn stop(ctx: &Context, config: &SandboxesConfig, id: &str) -> Result<(), AdminError> {
    let parent = match ctx.root.supervisor_at(&config.path).await {
        Ok(parent) => parent,
        Err(AdminError::SupervisorGone { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    match parent.terminate_child(id).await {
        Ok(()) | Err(AdminError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    if config.strategy == Strategy::SimpleOneForOne {
        // terminate_child removed the dynamic child.
        return Ok(());
    }
    match parent.delete_child(id).await {
        Ok(()) | Err(AdminError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The store id of the component the sandbox at `path` runs now: its
/// code's content hash, which is what a store id is (after a rollback it
/// is not the last component it was reloaded to).
fn running_component(ctx: &Context, path: &str) -> Option<String> {
    ctx.programs.running_hash(path)
}

async fn list(ctx: &Context) -> Result<Value, OpError> {
    const OP: &str = "sandbox.list";
    let config = ctx.sandboxes.config(OP)?.clone();
    let children = match ctx.root.supervisor_at(&config.path).await {
        Ok(parent) => parent.which_children().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let sandboxes: Vec<Value> = ctx
        .sandboxes
        .lock()
        .live
        .iter()
        .map(|(path, sandbox)| {
            let child = children.iter().find(|c| c.id.as_str() == sandbox.id);
            let state = match child.map(|c| c.status) {
                Some(ChildStatus::Running) => "running",
                Some(ChildStatus::Restarting) => "restarting",
                Some(ChildStatus::Stopped) => "stopped",
                None => "gone",
            };
            json!({
                "path": path,
                "component": running_component(ctx, path)
                    .or_else(|| sandbox.leases.last().map(|lease| lease.id().to_string())),
                "state": state,
                "generation": child.and_then(|c| c.generation),
                "created_ms": sandbox.created_ms,
            })
        })
        .collect();
    Ok(json!({
        "sandboxes": sandboxes,
        "max": config.max,
        "leases": ctx.store.lease_count(),
    }))
}
