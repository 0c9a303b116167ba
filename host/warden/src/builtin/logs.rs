//! `logs.tail`: the last lines of a child's log (a worker's stdout and
//! stderr, a component's `host::log` calls), from the host's
//! [`ChildLogs`](crate::host::logs::ChildLogs). Following them is the
//! API's `GET /logs/{path}?follow=1`, over the same rings.

use serde::Deserialize;
use serde_json::json;

use super::{Context, add, failed, parse};
use crate::api::{LOG_DEFAULT_LINES, LOG_MAX_LINES, LogError};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};

const OP: &str = "logs.tail";

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            OP,
            "The last lines of a child's log, oldest first: a worker's stdout and stderr, a component's host::log lines; 409 for a supervisor",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1,
                         "description": "The child's full path (`root/web`, `root/storage/kv`)"},
                "lines": {"type": "integer", "minimum": 0, "maximum": LOG_MAX_LINES,
                          "description": format!("How many of the last lines (default {LOG_DEFAULT_LINES})")}
            },
            "required": ["path"],
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter", "lines": 20}))
        .result(json!({
            "type": "object",
            "required": ["path", "lines"],
            "additionalProperties": false,
            "properties": {
                "path": {"type": "string"},
                "lines": {"type": "array", "items": {
                    "type": "object",
                    "required": ["at_ms", "line"],
                    "additionalProperties": false,
                    "properties": {
                        "at_ms": {"type": "integer", "description": "When the host got it, Unix ms"},
                        "stream": {"enum": ["stdout", "stderr"], "description": "A worker's pipe"},
                        "level": {"enum": ["trace", "debug", "info", "warn", "error"], "description": "A component's log level"},
                        "line": {"type": "string"}
                    }
                }}
            }
        })),
        |ctx, params| async move {
            #[derive(Deserialize)]
            struct P {
                path: String,
                lines: Option<usize>,
            }
            let p: P = parse(OP, params)?;
            let path = p.path.trim_matches('/').to_string();
            let view = ctx
                .router
                .logs()
                .open(&ctx.root, &path, p.lines.unwrap_or(LOG_DEFAULT_LINES), false)
                .await
                .map_err(log_error)?;
            Ok(json!({"path": path, "lines": view.lines}))
        },
    )
}

fn log_error(err: LogError) -> OpError {
    match err {
        LogError::UnknownChild { path } => OpError::NotFound {
            what: format!("child `{path}`"),
        },
        LogError::NoLog { .. } => OpError::Conflict {
            message: err.to_string(),
        },
        LogError::Failed(message) => failed(OP, message),
    }
}
