//! Named groups of children: `group.join`, `group.leave`, `group.list`,
//! `group.members`, `group.health`, `group.broadcast`, over the host's
//! [`Groups`](crate::host::groups::Groups) table.
//!
//! Roles: looking (`list`, `members`, `health`) is `read`; changing who
//! is in a group and messaging its members is `operate`, like
//! `child.send` (the API audits both changing ones).
//!
//! Owns: the operations' params, results and statuses: a group name
//! that is not one is 400, a group with no members or a path not in the
//! tree is 404. `group.broadcast` answers per member, each with its reply
//! or its error (a member that is not a component child cannot take a
//! message: `not_a_component`), sending to at most [`BROADCAST_PARALLEL`]
//! members at once, each bounded by `timeout_ms`.
//! Never does: keep memberships itself, or decide who is healthy
//! (`group.health` reports each member's state as `child.info` does, and
//! counts).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::supervisors::child_type;
use super::{Context, add, invalid, locate, parse, send_error};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};

/// How many members `group.broadcast` messages at once.
pub const BROADCAST_PARALLEL: usize = 16;
/// How long a broadcast waits for each member when `timeout_ms` is left out.
const DEFAULT_BROADCAST_TIMEOUT_MS: u64 = 5_000;
const MAX_BROADCAST_TIMEOUT_MS: u64 = 60_000;

const GROUP: &str = "A group's name: 1 to 64 letters, digits, `_`, `-`, `.`";

fn group_params() -> Value {
    json!({
        "type": "object",
        "properties": {"group": {"type": "string", "minLength": 1, "maxLength": 64, "description": GROUP}},
        "required": ["group"],
        "additionalProperties": false
    })
}

fn membership_params(what: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "group": {"type": "string", "minLength": 1, "maxLength": 64, "description": GROUP},
            "path": {"type": "string", "minLength": 1, "description": what}
        },
        "required": ["group", "path"],
        "additionalProperties": false
    })
}

fn member_state_schema() -> Value {
    json!({
        "type": "object",
        "required": ["path", "source", "type", "status"],
        "additionalProperties": false,
        "properties": {
            "path": {"type": "string"},
            "source": {"enum": ["config", "joined"], "description": "config: `groups = [..]` in the file; joined: group.join"},
            "type": {"enum": ["component", "process", "supervisor", "gone"], "description": "gone: not in the tree now"},
            "status": {"enum": ["running", "restarting", "stopped", "gone"]},
            "generation": {"type": ["integer", "null"]},
            "restarts": {"type": "integer"},
            "health": {"description": "A process worker's health, as child.info shows it"}
        }
    })
}

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "group.join",
            "Adds a child of the tree (any kind) to a named group, creating the group",
        )
        .role(Role::Operate)
        .params(membership_params("A child's full path (`root/counter`)"))
        .example(json!({"group": "ingest", "path": "root/counter"}))
        .result(json!({
            "type": "object",
            "required": ["group", "path", "joined"],
            "additionalProperties": false,
            "properties": {
                "group": {"type": "string"},
                "path": {"type": "string"},
                "joined": {"type": "boolean", "description": "false when it was a member already"}
            }
        })),
        |ctx, params| async move {
            const OP: &str = "group.join";
            let p: Membership = parse(OP, params)?;
            check_name(OP, &p.group)?;
            let path = p.path.trim_matches('/').to_string();
            locate(OP, &ctx, &path).await?;
            let joined = ctx.groups.join(&p.group, &path);
            Ok(json!({"group": p.group, "path": path, "joined": joined}))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "group.leave",
            "Removes a member from a group (a group with no members is gone); a member the \
             config file lists comes back with the next config reload",
        )
        .role(Role::Operate)
        .params(membership_params("The member's path"))
        .example(json!({"group": "ingest", "path": "root/counter"}))
        .result(json!({
            "type": "object",
            "required": ["group", "path"],
            "additionalProperties": false,
            "properties": {"group": {"type": "string"}, "path": {"type": "string"}}
        })),
        |ctx, params| async move {
            const OP: &str = "group.leave";
            let p: Membership = parse(OP, params)?;
            let path = p.path.trim_matches('/').to_string();
            if !ctx.groups.leave(&p.group, &path) {
                return Err(OpError::NotFound {
                    what: format!("member `{path}` of group `{}`", p.group),
                });
            }
            Ok(json!({"group": p.group, "path": path}))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new("group.list", "Every group with its member count, by name")
            .role(Role::Read)
            .read_only(true)
            .params(json!({"type": "object", "properties": {}, "additionalProperties": false}))
            .example(json!({}))
            .result(json!({"type": "array", "items": {
                "type": "object",
                "required": ["name", "members"],
                "additionalProperties": false,
                "properties": {"name": {"type": "string"}, "members": {"type": "integer"}}
            }})),
        |ctx, _params| async move { super::to_json("group.list", &ctx.groups.list()) },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "group.members",
            "A group's members by path: how each joined, its kind and state in the tree now",
        )
        .role(Role::Read)
        .read_only(true)
        .params(group_params())
        .example(json!({"group": "ingest"}))
        .result(json!({"type": "array", "items": member_state_schema()})),
        |ctx, params| async move {
            const OP: &str = "group.members";
            let p: GroupParam = parse(OP, params)?;
            Ok(Value::Array(member_states(OP, &ctx, &p.group).await?))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "group.health",
            "A group's aggregate health: healthy when every member runs, degraded when some do \
             not, down when none does; the counts and each member's state and restarts",
        )
        .role(Role::Read)
        .read_only(true)
        .params(group_params())
        .example(json!({"group": "ingest"}))
        .result(json!({
            "type": "object",
            "required": ["group", "level", "members", "running", "restarting", "stopped", "gone", "restarts", "states"],
            "additionalProperties": false,
            "properties": {
                "group": {"type": "string"},
                "level": {"enum": ["healthy", "degraded", "down"]},
                "members": {"type": "integer"},
                "running": {"type": "integer"},
                "restarting": {"type": "integer"},
                "stopped": {"type": "integer"},
                "gone": {"type": "integer", "description": "Members no longer in the tree"},
                "restarts": {"type": "integer", "description": "The members' restarts, summed"},
                "states": {"type": "array", "items": member_state_schema()}
            }
        })),
        |ctx, params| async move {
            const OP: &str = "group.health";
            let p: GroupParam = parse(OP, params)?;
            let states = member_states(OP, &ctx, &p.group).await?;
            let count = |status: &str| states.iter().filter(|s| s["status"] == status).count();
            let (running, members) = (count("running"), states.len());
            let level = if running == members {
                "healthy"
            } else if running == 0 {
                "down"
            } else {
                "degraded"
            };
            let restarts: u64 = states.iter().filter_map(|s| s["restarts"].as_u64()).sum();
            Ok(json!({
                "group": p.group,
                "level": level,
                "members": members,
                "running": running,
                "restarting": count("restarting"),
                "stopped": count("stopped"),
                "gone": count("gone"),
                "restarts": restarts,
                "states": states,
            }))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "group.broadcast",
            format!(
                "Sends a message to every member of a group and answers per member, its reply or \
                 its error (a member that is not a component child: `not_a_component`); at most \
                 {BROADCAST_PARALLEL} members at once"
            ),
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "group": {"type": "string", "minLength": 1, "maxLength": 64, "description": GROUP},
                "message": {"type": "string", "description": "The message, as text or base64 (see encoding)"},
                "encoding": {"enum": ["utf8", "base64"], "description": "How `message` is written, and the replies with it (default utf8)"},
                "timeout_ms": {"type": "integer", "minimum": 1, "maximum": MAX_BROADCAST_TIMEOUT_MS,
                               "description": format!("How long each member's reply is waited for (default {DEFAULT_BROADCAST_TIMEOUT_MS})")}
            },
            "required": ["group", "message"],
            "additionalProperties": false
        }))
        .example(json!({"group": "ingest", "message": "inc"}))
        .result(json!({
            "type": "object",
            "required": ["group", "answers"],
            "additionalProperties": false,
            "properties": {
                "group": {"type": "string"},
                "answers": {"type": "array", "items": {
                    "type": "object",
                    "required": ["path", "ok"],
                    "additionalProperties": false,
                    "properties": {
                        "path": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "reply": {"type": "string"},
                        "encoding": {"enum": ["utf8", "base64"]},
                        "error": {
                            "type": "object",
                            "required": ["kind", "message"],
                            "additionalProperties": false,
                            "properties": {
                                "kind": {"type": "string", "description": "not_a_component, timeout, or the status kind child.send would answer (not_found, conflict, guest_failed, failed)"},
                                "message": {"type": "string"}
                            }
                        }
                    }
                }}
            }
        })),
        |ctx, params| async move { broadcast(&ctx, params).await },
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct Membership {
    group: String,
    path: String,
}

#[derive(Deserialize)]
struct GroupParam {
    group: String,
}

fn check_name(op: &str, group: &str) -> Result<(), OpError> {
    crate::config::group_name(group).map_err(|reason| invalid(op, "/group", reason, group))
}

/// The paths of `group`'s members, or 404.
pub(super) fn group_paths(ctx: &Context, group: &str) -> Result<Vec<String>, OpError> {
    ctx.groups.paths(group).ok_or_else(|| OpError::NotFound {
        what: format!("group `{group}`"),
    })
}

/// Each member of `group` as the tree shows it now.
async fn member_states(op: &str, ctx: &Context, group: &str) -> Result<Vec<Value>, OpError> {
    let members = ctx.groups.members(group).ok_or_else(|| OpError::NotFound {
        what: format!("group `{group}`"),
    })?;
    let mut out = Vec::with_capacity(members.len());
    for member in members {
        let mut row = json!({"path": member.path, "source": member.source});
        match locate(op, ctx, &member.path).await {
            Ok((_, info)) => {
                row["type"] = json!(child_type(ctx, &member.path, &info));
                row["status"] = json!(info.status);
                row["generation"] = json!(info.generation);
                row["restarts"] = json!(info.restarts);
                if let Some(health) = info.info.get("health") {
                    row["health"] = health.clone();
                }
            }
            Err(OpError::NotFound { .. }) => {
                row["type"] = json!("gone");
                row["status"] = json!("gone");
            }
            Err(other) => return Err(other),
        }
        out.push(row);
    }
    Ok(out)
}

async fn broadcast(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "group.broadcast";
    #[derive(Deserialize)]
    struct P {
        group: String,
        message: String,
        #[serde(default)]
        encoding: Option<String>,
        timeout_ms: Option<u64>,
    }
    let p: P = parse(OP, params)?;
    let base64 = p.encoding.as_deref() == Some("base64");
    let message = if base64 {
        BASE64
            .decode(p.message.as_bytes())
            .map_err(|e| invalid(OP, "/message", "base64", e.to_string()))?
    } else {
        p.message.into_bytes()
    };
    let paths = group_paths(ctx, &p.group)?;
    let timeout = Duration::from_millis(p.timeout_ms.unwrap_or(DEFAULT_BROADCAST_TIMEOUT_MS));
    let message: Arc<[u8]> = message.into();
    let permits = Arc::new(tokio::sync::Semaphore::new(BROADCAST_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, path) in paths.iter().enumerate() {
        let (ctx, path, message, permits) =
            (ctx.clone(), path.clone(), message.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, answer(&ctx, &path, &message, timeout, base64).await)
        });
    }
    let mut answers = vec![Value::Null; paths.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, answer) =
            done.map_err(|e| super::failed(OP, format!("a send task failed: {e}")))?;
        answers[i] = answer;
    }
    Ok(json!({"group": p.group, "answers": answers}))
}

/// One member's answer to a broadcast.
async fn answer(
    ctx: &Context,
    path: &str,
    message: &[u8],
    timeout: Duration,
    base64: bool,
) -> Value {
    const OP: &str = "group.broadcast";
    let error = |kind: &str, message: String| json!({"path": path, "ok": false, "error": {"kind": kind, "message": message}});
    if ctx.programs.get(path).is_none() {
        let what = match locate(OP, ctx, path).await {
            Ok((_, info)) => format!("a {}", child_type(ctx, path, &info)),
            Err(_) => "not in the tree".to_string(),
        };
        return error(
            "not_a_component",
            format!("`{path}` is not a component child ({what}): it cannot take a message"),
        );
    }
    match tokio::time::timeout(timeout, ctx.router.call(path, message.to_vec())).await {
        Err(_) => error(
            "timeout",
            format!("`{path}` did not answer within {} ms", timeout.as_millis()),
        ),
        Ok(Err(e)) => {
            let e = send_error(OP, ctx, path, e);
            error(e.kind(), e.to_string())
        }
        Ok(Ok(reply)) => match (base64, String::from_utf8(reply)) {
            (false, Ok(text)) => {
                json!({"path": path, "ok": true, "reply": text, "encoding": "utf8"})
            }
            (_, Ok(text)) => {
                json!({"path": path, "ok": true, "reply": BASE64.encode(text), "encoding": "base64"})
            }
            (_, Err(raw)) => json!({
                "path": path, "ok": true,
                "reply": BASE64.encode(raw.into_bytes()), "encoding": "base64"
            }),
        },
    }
}
