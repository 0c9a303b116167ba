//! Code versions: `child.reload`, `child.rollback`, `child.versions` for
//! component children (through the [`Reloader`](crate::reload::Reloader)),
//! and `plugin.reload` for operation plugins (through
//! [`OperationPlugins`](crate::host::OperationPlugins)).

use serde::Deserialize;
use serde_json::{Value, json};

use std::path::PathBuf;

use super::{Context, add, failed, invalid, parse, path_params, plugin_error, reload_error};
use crate::events::Stage;
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::reload::ReloadOutcome;
use crate::store::{ComponentId, Lease, StoreError};

const CHILD_PATH: &str = "A component child's full path (`root/counter`)";

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.reload",
            "Hot-reloads a component child from its file — or a sandbox to another stored component \
             (`component`) — state and mailbox kept; \
             a failed reload leaves the old version serving: 422 (cause `reload_failed`) naming \
             the stage, 500 when the host cannot read the file",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": CHILD_PATH},
                "force": {"type": "boolean", "description": "Swap even when the file holds the running code (default false)"},
                "component": {"type": "string", "minLength": 64, "maxLength": 64, "description": "Sandboxes only: the store id of the component to swap to (it is leased too, beside the components the sandbox may roll back to); a configured child reloads from its own file"}
            },
            "required": ["path"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter"}))
        .result(json!({
            "type": "object",
            "required": ["outcome", "version"],
            "properties": {
                "outcome": {"enum": ["unchanged", "reloaded"]},
                "version": {"type": "integer"},
                "hash": {"type": "string"},
                "origin": {"type": "string", "description": "Where the machine code came from (compiled, cache)"},
                "tier": {"enum": ["baseline", "optimized"], "description": "The compiler of the code swapped in: baseline (Winch) is followed by an `optimized` event once the Cranelift code is swapped in too"},
                "duration_ms": {"type": "number"}
            }
        })),
        |ctx, params| async move { reload(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.rollback",
            "Returns a component child to an earlier version (by default the previous one), state carried over",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": CHILD_PATH},
                "version": {"type": "integer", "minimum": 1, "description": "The version to return to"}
            },
            "required": ["path"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter", "version": 1}))
        .result(json!({
            "type": "object",
            "required": ["version"],
            "properties": {"version": {"type": "integer", "description": "The version it runs now"}}
        })),
        |ctx, params| async move {
            const OP: &str = "child.rollback";
            #[derive(Deserialize)]
            struct P {
                path: String,
                version: Option<u64>,
            }
            let p: P = parse(OP, params)?;
            let version = ctx
                .reloader
                .rollback(&p.path, p.version)
                .await
                .map_err(|e| reload_error(OP, e))?;
            Ok(json!({"version": version}))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.versions",
            "A component child's version history: hash, source, time, outcome, duration and tier (baseline or optimized code) of each; \
             `earlier` lists versions from before the host's last restarts (kept in the registry, \
             [history] keep_versions), not restorable: their code is gone",
        )
        .role(Role::Read)
        .read_only(true)
        .params(path_params(CHILD_PATH))
        .example(json!({"path": "root/counter"}))
        .result(json!({
            "type": "object",
            "required": ["current", "records", "earlier"],
            "properties": {
                "current": {"type": "integer"},
                "records": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "tier": {"enum": ["baseline", "optimized"], "description": "The compiler of the code the version runs: baseline (Winch) until its optimized step swaps in the Cranelift code"},
                        "optimize_failed": {"type": "string", "description": "Why its optimized step failed (it stays on baseline code)"}
                    }
                }},
                "earlier": {"type": "array", "items": {
                    "type": "object",
                    "required": ["run_ms", "version", "hash", "source", "at_ms", "outcome", "duration_ms", "restorable"],
                    "properties": {
                        "run_ms": {"type": "integer", "description": "When the host run that loaded it started (version numbers start at 1 in each run)"},
                        "version": {"type": "integer"},
                        "hash": {"type": "string"},
                        "source": {"type": "string"},
                        "at_ms": {"type": "integer"},
                        "outcome": {"type": "object"},
                        "duration_ms": {"type": "integer"},
                        "restorable": {"const": false, "description": "Its compiled code did not survive the restart"}
                    }
                }}
            }
        })),
        |ctx, params| async move {
            const OP: &str = "child.versions";
            #[derive(Deserialize)]
            struct P {
                path: String,
            }
            let p: P = parse(OP, params)?;
            let versions = ctx
                .reloader
                .versions(&p.path)
                .map_err(|e| reload_error(OP, e))?;
            let mut out = super::to_json(OP, &versions)?;
            let run = ctx.reloader.run_ms();
            let history = ctx.workers.clone();
            let path = p.path.clone();
            let rows = tokio::task::spawn_blocking(move || history.versions(&path))
                .await
                .map_err(|e| failed(OP, format!("the query task failed: {e}")))?
                .map_err(|e| failed(OP, e))?;
            out["earlier"] = rows
                .into_iter()
                .filter(|r| Some(r.run_ms) != run)
                .map(|r| {
                    json!({
                        "run_ms": r.run_ms,
                        "version": r.version,
                        "hash": r.hash,
                        "source": r.source,
                        "at_ms": r.at_ms,
                        "outcome": serde_json::from_str::<Value>(&r.outcome).unwrap_or(Value::Null),
                        "duration_ms": r.duration_ms,
                        "restorable": false,
                    })
                })
                .collect();
            Ok(out)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "plugin.reload",
            "Reads an operation plugin's file again and re-registers its operations (new schemas apply from the next call)",
        )
        .role(Role::Admin)
        .params(json!({
            "type": "object",
            "properties": {"id": {"type": "string", "minLength": 1, "description": "The plugin's id ([operations.ID] in the config)"}},
            "required": ["id"],
            "additionalProperties": false
        }))
        .example(json!({"id": "wordcount"}))
        .result(json!({
            "type": "object",
            "required": ["operations"],
            "properties": {"operations": {"type": "array", "items": {"type": "string"}}}
        })),
        |ctx, params| async move {
            const OP: &str = "plugin.reload";
            #[derive(Deserialize)]
            struct P {
                id: String,
            }
            let p: P = parse(OP, params)?;
            let names = ctx
                .plugins
                .reload(&p.id)
                .await
                .map_err(|e| plugin_error(OP, e))?;
            tracing::info!(plugin = %p.id, operations = ?names, "operation plugin reloaded by request");
            Ok(json!({"operations": names}))
        },
    )?;
    Ok(())
}

/// `component`: the lease a reload of sandbox `path` to a stored
/// component takes (before the reload, so the component cannot go away
/// meanwhile), and that component's file.
pub(super) fn stored(
    ctx: &Context,
    path: &str,
    component: &str,
) -> Result<(Lease, PathBuf), OpError> {
    const OP: &str = "child.reload";
    if !ctx.sandboxes.contains(path) {
        return Err(if ctx.programs.get(path).is_some() {
            OpError::Conflict {
                message: format!(
                    "`component` is for sandboxes created by sandbox.create: configured child \
                     `{path}` reloads from its own file (leave `component` out)"
                ),
            }
        } else {
            OpError::NotFound {
                what: format!("sandbox `{path}`"),
            }
        });
    }
    let id: ComponentId = component
        .parse()
        .map_err(|e: StoreError| invalid(OP, "/component", e.to_string(), component.to_string()))?;
    let not_found = |e: StoreError| match e {
        StoreError::NotFound { id } => OpError::NotFound {
            what: format!("component `{id}` in the store"),
        },
        other => failed(OP, other),
    };
    let lease = ctx.store.lease(&id, path).map_err(not_found)?;
    let file = ctx.store.get(&id).map_err(not_found)?.path;
    Ok((lease, file))
}

async fn reload(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "child.reload";
    #[derive(Deserialize)]
    struct P {
        path: String,
        #[serde(default)]
        force: bool,
        component: Option<String>,
    }
    let p: P = parse(OP, params)?;
    let target = match &p.component {
        Some(component) => Some(stored(ctx, &p.path, component)?),
        None => None,
    };
    let outcome = ctx
        .reloader
        .reload_from(
            &p.path,
            target.as_ref().map(|(_, file)| file.as_path()),
            p.force,
        )
        .await
        .map_err(|e| reload_error(OP, e))?;
    if let (Some((lease, _)), ReloadOutcome::Reloaded { .. }) = (target, &outcome) {
        // The swap is committed: the sandbox runs the new component, and
        // keeps its lease on the old one, which its history can return to.
        ctx.sandboxes.add_lease(&p.path, lease);
    }
    match outcome {
        ReloadOutcome::Unchanged { version } => {
            Ok(json!({"outcome": "unchanged", "version": version}))
        }
        ReloadOutcome::Reloaded {
            version,
            hash,
            origin,
            duration,
            tier,
            ..
        } => Ok(json!({
            "outcome": "reloaded",
            "version": version,
            "hash": hash,
            "origin": origin,
            "tier": tier,
            "duration_ms": duration.as_secs_f64() * 1000.0,
        })),
        ReloadOutcome::Failed {
            version,
            stage,
            reason,
        } => {
            let message = format!(
                "reload to version {version} failed at {stage}: {reason}; the old version keeps serving"
            );
            // A file the host could not read is the host's failure (500);
            // past that, the new code itself is unusable (it does not
            // compile, fit the world, start or keep its state): the
            // guest's failure, 422, as for `component.call` of a bad file.
            Err(if stage == Stage::Read {
                failed(OP, message)
            } else {
                OpError::GuestFailed {
                    op: OP.to_string(),
                    guest: Some(p.path),
                    message,
                    cause: "reload_failed",
                }
            })
        }
    }
}
