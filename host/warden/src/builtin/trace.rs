//! Message traces: `trace.start`, `trace.stop`, `trace.get`, `trace.list`
//! over the host's [`Traces`](crate::host::trace::Traces).
//!
//! A trace of a `group` covers the members that are running component
//! children when it starts (a trace's paths are fixed at its start).
//!
//! Roles: a trace shows the first bytes of every message and reply, a
//! child's traffic as `child.snapshot` shows its state, so starting,
//! stopping and reading one is `admin`; the listing (ids, paths, bounds,
//! counts, no contents) is `read`.
//!
//! Owns the operations' params, results and error statuses: a path that
//! is not a running component child is 404, as is an id no trace has (or
//! no longer keeps). Never does: record anything (the component child
//! and the `trace` module do).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, add, invalid, parse, to_json};
use crate::host::trace::{
    KEEP_ENDED, MAX_DURATION_MS, MAX_MESSAGES, PREVIEW_BYTES, TraceSpec, UnknownTrace,
};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};

/// How long a trace runs when `duration_ms` is left out.
const DEFAULT_DURATION_MS: u64 = 10_000;
/// How many messages a trace records when `max_messages` is left out.
const DEFAULT_MAX_MESSAGES: usize = 1_000;

fn id_params() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1, "description": "A trace id, as trace.start answers it (`t3`)"}
        },
        "required": ["id"],
        "additionalProperties": false
    })
}

fn payload_schema(what: &str) -> Value {
    json!({
        "type": "object",
        "required": ["size", "preview", "encoding", "truncated"],
        "additionalProperties": false,
        "description": what,
        "properties": {
            "size": {"type": "integer", "description": "The whole size, in bytes"},
            "preview": {"type": "string", "description": format!("The first {PREVIEW_BYTES} bytes")},
            "encoding": {"enum": ["utf8", "hex"]},
            "truncated": {"type": "boolean"}
        }
    })
}

fn view_schema(with_records: bool) -> Value {
    let mut schema = json!({
        "type": "object",
        "required": ["id", "paths", "state", "started_at_ms", "duration_ms", "max_messages", "recorded"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string"},
            "paths": {"type": "array", "items": {"type": "string"}},
            "state": {"enum": ["running", "ended"]},
            "reason": {"enum": ["max_messages", "duration", "stopped"], "description": "Why it ended"},
            "started_at_ms": {"type": "integer"},
            "ended_at_ms": {"type": "integer"},
            "duration_ms": {"type": "integer"},
            "max_messages": {"type": "integer"},
            "recorded": {"type": "integer", "description": "How many messages it recorded"}
        }
    });
    if with_records {
        schema["required"]
            .as_array_mut()
            .expect("an array")
            .push(json!("records"));
        schema["properties"]["records"] = json!({"type": "array", "items": {
            "type": "object",
            "required": ["at_ms", "path", "seq", "kind", "message", "outcome", "reply", "latency_us"],
            "additionalProperties": false,
            "properties": {
                "at_ms": {"type": "integer", "description": "When the guest answered, Unix ms"},
                "path": {"type": "string"},
                "seq": {"type": "integer", "description": "From 1"},
                "kind": {"enum": ["call", "cast", "send"],
                         "description": "call: from the API, awaited; cast: from the API, not awaited; send: a sibling's host::send"},
                "from": {"type": "string", "description": "The sender, for a send"},
                "message": payload_schema("What came in"),
                "outcome": {"enum": ["reply", "error", "trap"],
                            "description": "reply: the guest answered; error: it refused; trap: it failed (trap, fuel, memory, time)"},
                "reply": payload_schema("What went out: the reply, the guest's error or the failure"),
                "latency_us": {"type": "integer", "description": "From the mailbox to the guest's answer"}
            }
        }});
    }
    schema
}

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "trace.start",
            "Starts recording the messages component children handle (sizes, first bytes, outcome, latency), bounded in time and count; each record is also a `traced` event on GET /events",
        )
        .role(Role::Admin)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1,
                         "description": "A running component child's full path (`root/counter`); give this or `paths`"},
                "paths": {"type": "array", "minItems": 1, "maxItems": 64,
                          "items": {"type": "string", "minLength": 1},
                          "description": "Several component children"},
                "group": {"type": "string", "minLength": 1, "maxLength": 64,
                          "description": "A group: its members that are running component children when the trace starts (members joining later are not traced; processes and supervisors carry no messages)"},
                "duration_ms": {"type": "integer", "minimum": 1, "maximum": MAX_DURATION_MS,
                                "description": format!("It ends after this long (default {DEFAULT_DURATION_MS})")},
                "max_messages": {"type": "integer", "minimum": 1, "maximum": MAX_MESSAGES,
                                 "description": format!("It ends once it recorded this many (default {DEFAULT_MAX_MESSAGES})")}
            },
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter", "duration_ms": 10000, "max_messages": 100}))
        .result(json!({
            "type": "object",
            "required": ["id"],
            "additionalProperties": false,
            "properties": {"id": {"type": "string", "description": "For trace.get and trace.stop"}}
        })),
        |ctx, params| async move {
            const OP: &str = "trace.start";
            #[derive(Deserialize)]
            struct P {
                path: Option<String>,
                paths: Option<Vec<String>>,
                group: Option<String>,
                duration_ms: Option<u64>,
                max_messages: Option<usize>,
            }
            let p: P = parse(OP, params)?;
            let running = ctx.router.paths();
            let mut paths: Vec<String> = match (p.path, p.paths, p.group) {
                (Some(path), None, None) => vec![path],
                (None, Some(paths), None) => paths,
                (None, None, Some(group)) => {
                    let members = super::groups::group_paths(&ctx, &group)?;
                    let traced: Vec<String> = members
                        .into_iter()
                        .filter(|p| running.binary_search(p).is_ok())
                        .collect();
                    if traced.is_empty() {
                        return Err(OpError::Conflict {
                            message: format!(
                                "group `{group}` has no running component child to trace"
                            ),
                        });
                    }
                    traced
                }
                (None, None, None) => {
                    return Err(invalid(
                        OP,
                        "/path",
                        "a component child's path, `paths` or a `group`",
                        "nothing",
                    ));
                }
                _ => {
                    return Err(invalid(
                        OP,
                        "/group",
                        "one of `path`, `paths` and `group`",
                        "several",
                    ));
                }
            };
            for path in &mut paths {
                *path = path.trim_matches('/').to_string();
            }
            paths.sort();
            paths.dedup();
            if let Some(missing) = paths.iter().find(|p| running.binary_search(p).is_err()) {
                return Err(OpError::NotFound {
                    what: format!("running component child `{missing}`"),
                });
            }
            let id = ctx.router.traces().start(TraceSpec {
                paths,
                duration: Duration::from_millis(p.duration_ms.unwrap_or(DEFAULT_DURATION_MS)),
                max_messages: p.max_messages.unwrap_or(DEFAULT_MAX_MESSAGES),
            });
            Ok(json!({"id": id}))
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "trace.stop",
            "Stops a trace now (one that already ended is left as it was); the trace without its records",
        )
        .role(Role::Admin)
        .params(id_params())
        .example(json!({"id": "t1"}))
        .result(view_schema(false)),
        |ctx, params| async move {
            const OP: &str = "trace.stop";
            let p: IdParams = parse(OP, params)?;
            let view = ctx.router.traces().stop(&p.id).map_err(unknown)?;
            to_json(OP, &view)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "trace.get",
            format!("A trace's state and records, oldest first, while it runs and after it ends (the last {KEEP_ENDED} ended traces are kept)"),
        )
        .role(Role::Admin)
        .read_only(true)
        .params(id_params())
        .example(json!({"id": "t1"}))
        .result(view_schema(true)),
        |ctx, params| async move {
            const OP: &str = "trace.get";
            let p: IdParams = parse(OP, params)?;
            let view = ctx.router.traces().get(&p.id, true).map_err(unknown)?;
            to_json(OP, &view)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "trace.list",
            "The running traces and the kept ended ones, without their records, oldest first",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({"type": "object", "properties": {}, "additionalProperties": false}))
        .example(json!({}))
        .result(json!({"type": "array", "items": view_schema(false)})),
        |ctx, _params| async move { to_json("trace.list", &ctx.router.traces().list()) },
    )
}

#[derive(Deserialize)]
struct IdParams {
    id: String,
}

fn unknown(err: UnknownTrace) -> OpError {
    OpError::NotFound {
        what: format!("trace `{}`", err.id),
    }
}
