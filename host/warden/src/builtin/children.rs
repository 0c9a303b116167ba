//! One child at a time: `child.info`, `child.start`, `child.terminate`,
//! `child.restart`, `child.delete`, `child.kill`, `child.fault`,
//! `child.send`, `child.snapshot`, `child.restore`.
//!
//! Lifecycle operations go through the child's supervisor (so restarts,
//! events and intensity are the supervisor's business, as with OTP's admin
//! API); messages and state go through the [`Router`](crate::host::Router)
//! to the child's mailbox, in order with every other message.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::supervisors::{child_json, child_schema};
use super::{
    Context, add, admin_error, child_id, empty_result, invalid, locate, parse, path_params,
    send_error,
};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::supervisor::{Fault, StartedChild};

const CHILD_PATH: &str = "The child's full path (`root/counter`, `root/storage/kv`)";

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    let counter = json!({"path": "root/counter"});
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.info",
            "One child: state, incarnation, restarts, limits, resource use, health and version history",
        )
        .role(Role::Read)
        .read_only(true)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(info_schema()),
        |ctx, params| async move { info(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.start",
            "Starts a stopped child (OTP restart_child); 409 when it runs",
        )
        .role(Role::Admin)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(started_schema()),
        |ctx, params| async move {
            let path = path_of("child.start", params)?;
            start(&ctx, "child.start", &path).await
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.terminate",
            "Stops a child per its shutdown spec; its spec is kept (OTP terminate_child)",
        )
        .role(Role::Admin)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(empty_result()),
        |ctx, params| async move {
            let path = path_of("child.terminate", params)?;
            terminate(&ctx, "child.terminate", &path).await?;
            Ok(json!({}))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.restart",
            "Terminates a child, then starts it again (a new incarnation)",
        )
        .role(Role::Operate)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(started_schema()),
        |ctx, params| async move {
            const OP: &str = "child.restart";
            let path = path_of(OP, params)?;
            terminate(&ctx, OP, &path).await?;
            start(&ctx, OP, &path).await
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.delete",
            "Removes a stopped child's spec (OTP delete_child); 409 while it runs",
        )
        .role(Role::Admin)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(empty_result()),
        |ctx, params| async move {
            const OP: &str = "child.delete";
            let path = path_of(OP, params)?;
            let (sup, id) = child_id(OP, &ctx, &path).await?;
            sup.delete_child(id).await.map_err(|e| admin_error(OP, e))?;
            // Gone from the tree, so from its groups.
            ctx.groups.forget_under(&path);
            Ok(json!({}))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.kill",
            "Kills a running child's incarnation; its supervisor restarts it per its restart type",
        )
        .role(Role::Operate)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(generation_schema()),
        |ctx, params| async move {
            const OP: &str = "child.kill";
            let path = path_of(OP, params)?;
            inject(&ctx, OP, &path, Fault::Kill).await
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.fault",
            "Injects a failure into a running child: kill, trap (as if the guest trapped) or hang",
        )
        .role(Role::Admin)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": CHILD_PATH},
                "fault": {"enum": ["kill", "trap", "hang"]}
            },
            "required": ["path", "fault"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter", "fault": "trap"}))
        .result(generation_schema()),
        |ctx, params| async move {
            const OP: &str = "child.fault";
            #[derive(Deserialize)]
            struct P {
                path: String,
                fault: Fault,
            }
            let p: P = parse(OP, params)?;
            inject(&ctx, OP, &p.path, p.fault).await
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.send",
            "Sends a message to a component child and returns its reply",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": CHILD_PATH},
                "message": {"type": "string", "description": "The message, as text or base64 (see encoding)"},
                "encoding": {"enum": ["utf8", "base64"], "description": "How `message` is written, and the reply with it (default utf8)"},
                "reply": {"type": "boolean", "description": "Wait for the reply (default true); false only queues the message"}
            },
            "required": ["path", "message"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter", "message": "inc"}))
        .result(json!({
            "type": "object",
            "required": ["reply", "encoding"],
            "properties": {
                "reply": {"type": ["string", "null"], "description": "null when reply was false"},
                "encoding": {"enum": ["utf8", "base64"], "description": "base64 when the reply is not UTF-8 text, or was asked for"}
            }
        })),
        |ctx, params| async move { send(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.snapshot",
            "The serialised state of a component child (its snapshot export), stored under an id (see snapshot.list)",
        )
        .role(Role::Admin)
        .params(path_params(CHILD_PATH))
        .example(counter.clone())
        .result(json!({
            "type": "object",
            "required": ["state", "bytes", "id", "at_ms", "hash", "version"],
            "properties": {
                "state": {"type": "string", "contentEncoding": "base64"},
                "bytes": {"type": "integer"},
                "id": {"type": "string", "description": "The stored snapshot's id (snapshot.get, child.restore {snapshot})"},
                "at_ms": {"type": "integer"},
                "hash": {"type": "string", "description": "Content hash of the component that gave it"},
                "version": {"type": ["integer", "null"], "description": "The child's reload version"}
            }
        })),
        |ctx, params| async move {
            const OP: &str = "child.snapshot";
            let path = path_of(OP, params)?;
            let state = ctx
                .router
                .snapshot(&path)
                .await
                .map_err(|e| send_error(OP, &ctx, &path, e))?;
            let encoded = BASE64.encode(&state);
            let bytes = state.len();
            let meta = super::snapshots::store(OP, &ctx, &path, state).await?;
            Ok(json!({
                "state": encoded,
                "bytes": bytes,
                "id": meta.id,
                "at_ms": meta.at_ms,
                "hash": meta.hash,
                "version": meta.version,
            }))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "child.restore",
            "Replaces a component child's state with a snapshot (its restore export): given as base64, or a stored one by id",
        )
        .role(Role::Admin)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": CHILD_PATH},
                "state": {"type": "string", "contentEncoding": "base64", "description": "A snapshot, base64 (as child.snapshot returns it)"},
                "snapshot": super::snapshots::id_schema()
            },
            "required": ["path"],
            "oneOf": [{"required": ["state"]}, {"required": ["snapshot"]}],
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter", "state": "eyJzY2hlbWEiOjEsInN0YXRlIjp7ImNvdW50Ijo0Mn19"}))
        .result(empty_result()),
        |ctx, params| async move {
            const OP: &str = "child.restore";
            #[derive(Deserialize)]
            struct P {
                path: String,
                state: Option<String>,
                snapshot: Option<String>,
            }
            let p: P = parse(OP, params)?;
            let state = match (p.state, p.snapshot) {
                (Some(state), None) => BASE64
                    .decode(state.as_bytes())
                    .map_err(|e| invalid(OP, "/state", "base64", e.to_string()))?,
                (None, Some(id)) => {
                    super::snapshots::blocking_at(OP, &ctx.snapshots, move |s| {
                        s.get(&id).map_err(|e| ("/snapshot", e))
                    })
                    .await?
                    .1
                }
                _ => {
                    return Err(invalid(
                        OP,
                        "",
                        "exactly one of `state` and `snapshot`",
                        "params",
                    ));
                }
            };
            ctx.router
                .restore(&p.path, state)
                .await
                .map_err(|e| send_error(OP, &ctx, &p.path, e))?;
            Ok(json!({}))
        },
    )?;
    Ok(())
}

fn path_of(op: &str, params: Value) -> Result<String, OpError> {
    #[derive(Deserialize)]
    struct P {
        path: String,
    }
    parse::<P>(op, params).map(|p| p.path)
}

async fn info(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "child.info";
    let path = path_of(OP, params)?;
    let (_, child) = locate(OP, ctx, &path).await?;
    let mut out = child_json(ctx, &path, &child);
    out["version"] = match ctx.reloader.versions(&path) {
        Ok(versions) => super::to_json(OP, &versions)?,
        Err(_) => Value::Null,
    };
    Ok(out)
}

fn started(started: StartedChild) -> Value {
    match started {
        StartedChild::Running { id, generation } => {
            json!({"result": "running", "id": id, "generation": generation})
        }
        StartedChild::Ignored { id } => json!({"result": "ignored", "id": id, "generation": null}),
    }
}

async fn start(ctx: &Context, op: &str, path: &str) -> Result<Value, OpError> {
    let (sup, id) = child_id(op, ctx, path).await?;
    let result = sup
        .restart_child(id)
        .await
        .map_err(|e| admin_error(op, e))?;
    Ok(started(result))
}

async fn terminate(ctx: &Context, op: &str, path: &str) -> Result<(), OpError> {
    let (sup, id) = child_id(op, ctx, path).await?;
    sup.terminate_child(id)
        .await
        .map_err(|e| admin_error(op, e))
}

async fn inject(ctx: &Context, op: &str, path: &str, fault: Fault) -> Result<Value, OpError> {
    let (sup, id) = child_id(op, ctx, path).await?;
    let generation = sup
        .inject_fault(id, fault)
        .await
        .map_err(|e| admin_error(op, e))?;
    tracing::info!(op, path, %fault, generation, "fault injected by an operation");
    Ok(json!({"generation": generation}))
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Encoding {
    Utf8,
    Base64,
}

async fn send(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "child.send";
    #[derive(Deserialize)]
    struct P {
        path: String,
        message: String,
        encoding: Option<Encoding>,
        reply: Option<bool>,
    }
    let p: P = parse(OP, params)?;
    let encoding = p.encoding.unwrap_or(Encoding::Utf8);
    let message = match encoding {
        Encoding::Utf8 => p.message.into_bytes(),
        Encoding::Base64 => BASE64
            .decode(p.message.as_bytes())
            .map_err(|e| invalid(OP, "/message", "base64", e.to_string()))?,
    };
    if p.reply == Some(false) {
        ctx.router
            .cast(&p.path, message)
            .map_err(|e| send_error(OP, ctx, &p.path, e))?;
        let name = if encoding == Encoding::Utf8 {
            "utf8"
        } else {
            "base64"
        };
        return Ok(json!({"reply": null, "encoding": name}));
    }
    let reply = ctx
        .router
        .call(&p.path, message)
        .await
        .map_err(|e| send_error(OP, ctx, &p.path, e))?;
    Ok(match (encoding, String::from_utf8(reply)) {
        (Encoding::Utf8, Ok(text)) => json!({"reply": text, "encoding": "utf8"}),
        (_, Ok(text)) => json!({"reply": BASE64.encode(text.as_bytes()), "encoding": "base64"}),
        (_, Err(bytes)) => {
            json!({"reply": BASE64.encode(bytes.as_bytes()), "encoding": "base64"})
        }
    })
}

fn info_schema() -> Value {
    let mut schema = child_schema();
    if let Some(required) = schema["required"].as_array_mut() {
        required.push(json!("version"));
    }
    schema["properties"]["version"] = json!({
        "description": "Component children: the version history (null for other kinds)",
        "type": ["object", "null"],
        "properties": {
            "current": {"type": "integer"},
            "records": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "version": {"type": "integer"},
                    "hash": {"type": "string"},
                    "source": {"type": "string"},
                    "at_ms": {"type": "integer"},
                    "outcome": {"type": "object"},
                    "duration_ms": {"type": "integer"},
                    "tier": {"enum": ["baseline", "optimized"], "description": "The compiler of the code the version runs (baseline until its optimized step)"},
                    "optimize_failed": {"type": "string", "description": "Why its optimized step failed, when it did"}
                }
            }}
        }
    });
    schema
}

fn started_schema() -> Value {
    json!({
        "type": "object",
        "required": ["result", "id", "generation"],
        "properties": {
            "result": {"enum": ["running", "ignored"]},
            "id": {"type": "string"},
            "generation": {"type": ["integer", "null"]}
        }
    })
}

fn generation_schema() -> Value {
    json!({
        "type": "object",
        "required": ["generation"],
        "properties": {"generation": {"type": "integer", "description": "The incarnation hit"}}
    })
}
