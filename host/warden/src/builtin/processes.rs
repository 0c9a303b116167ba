//! Native workers: `ps`, incarnations from the worker registry
//! (`STATE_DIR/registry.sqlite3`), newest first. The query runs on the
//! blocking pool (SQLite).

use serde::Deserialize;
use serde_json::json;

use super::{Context, add, failed, parse};
use crate::ops::{OpMeta, RegisterError, Registry, Role};
use crate::registry::{IncarnationQuery, IncarnationStatus};

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "ps",
            "Native worker incarnations from the registry, newest first, with filters",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {
                "child": {"type": "string", "minLength": 1, "description": "Only this child's incarnations (`root/ticker`)"},
                "state": {"enum": ["running", "exited", "orphan_killed", "orphan_gone"]},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "At most this many rows (default 100)"}
            },
            "additionalProperties": false
        }))
        .example(json!({"state": "running", "limit": 10}))
        .result(json!({"type": "array", "items": {
            "type": "object",
            "required": ["incarnation", "child", "pid", "status", "started_at_ms", "restart_count"],
            "properties": {
                "id": {"type": "integer"},
                "incarnation": {"type": "string"},
                "child": {"type": "string"},
                "pid": {"type": "integer"},
                "command": {"type": "string"},
                "started_at_ms": {"type": "integer"},
                "stopped_at_ms": {"type": ["integer", "null"]},
                "exit_reason": {"type": ["string", "null"]},
                "restart_count": {"type": "integer"},
                "peak_memory_bytes": {"type": "integer"},
                "health": {"type": ["integer", "null"]},
                "status": {"enum": ["running", "exited", "orphan_killed", "orphan_gone"]},
                "cgroup": {"type": ["string", "null"], "description": "The worker's own cgroup, when it had one"}
            }
        }})),
        |ctx, params| async move {
            const OP: &str = "ps";
            #[derive(Deserialize)]
            struct P {
                child: Option<String>,
                state: Option<IncarnationStatus>,
                limit: Option<u32>,
            }
            let p: P = parse(OP, params)?;
            let query = IncarnationQuery {
                status: p.state,
                child: p.child,
                limit: Some(p.limit.unwrap_or(100)),
                ..IncarnationQuery::default()
            };
            let workers = ctx.workers.clone();
            let rows = tokio::task::spawn_blocking(move || workers.query(&query))
                .await
                .map_err(|e| failed(OP, format!("the query task failed: {e}")))?
                .map_err(|e| failed(OP, e))?;
            super::to_json(OP, &rows)
        },
    )
}
