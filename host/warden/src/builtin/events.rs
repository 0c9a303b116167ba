//! `events.recent`: the host's events, numbered, filtered by child and
//! kind — the newest from the in-memory
//! [`EventLog`](crate::events::EventLog), older ones (those it dropped, and
//! those from before a host restart) from the registry's event history.
//!
//! The log numbers on from the registry's newest event when the host
//! starts, so a `seq` names one event across restarts and the two sources
//! meet without overlap: the ring holds every event from its oldest seq on,
//! the registry is asked only for events below it.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, add, failed, parse};
use crate::events::EventFilter;
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::registry::EventQuery;

/// The most events one call answers.
const MAX_LIMIT: usize = 1000;

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "events.recent",
            "The most recent events, oldest first, each with its sequence number; \
             older ones and those from before a host restart come from the registry ([history] keep_events)",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {
                "child": {"type": "string", "minLength": 1,
                          "description": "Only events about this path or below it (`root/storage` matches `root/storage/kv`)"},
                "kind": {"type": "string", "minLength": 1,
                         "description": "Only these kinds, comma-separated (`child_exited,child_restarted`)"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "At most this many, the newest (default 100)"},
                "before": {"type": "integer", "minimum": 1, "description": "Only events numbered below this seq (to page back through the history)"}
            },
            "additionalProperties": false
        }))
        .example(json!({"child": "root", "kind": "child_started,child_restarted", "limit": 20}))
        .result(json!({"type": "array", "items": {
            "type": "object",
            "required": ["seq", "at_ms", "path", "event"],
            "properties": {
                "seq": {"type": "integer"},
                "at_ms": {"type": "integer"},
                "path": {"type": "string"},
                "event": {"type": "string", "description": "The kind (`child_started`, `reloaded`, …); its fields sit beside it"}
            }
        }})),
        |ctx, params| async move { recent(&ctx, params).await },
    )
}

async fn recent(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "events.recent";
    #[derive(Deserialize)]
    struct P {
        child: Option<String>,
        kind: Option<String>,
        limit: Option<usize>,
        before: Option<u64>,
    }
    let p: P = parse(OP, params)?;
    let limit = p.limit.unwrap_or(100).min(MAX_LIMIT);
    let before = p.before.unwrap_or(u64::MAX);
    let filter = EventFilter {
        child: p.child.map(|c| c.trim_end_matches('/').to_string()),
        kinds: p
            .kind
            .iter()
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        limit: None,
    };
    // Read the ring's start first: an event logged meanwhile is newer
    // than it, so nothing falls between the two sources.
    let oldest = ctx.log.oldest_seq();
    let mut newest: Vec<Value> = Vec::new();
    for logged in ctx.log.recent(&filter).into_iter().rev() {
        if newest.len() == limit {
            break;
        }
        if logged.seq >= oldest && logged.seq < before {
            newest.push(super::to_json(OP, &logged)?);
        }
    }
    newest.reverse();
    let wanted = limit - newest.len();
    if wanted == 0 {
        return Ok(Value::Array(newest));
    }
    let query = EventQuery {
        before_seq: Some(before.min(oldest)),
        child: filter.child,
        kinds: filter.kinds,
        limit: u32::try_from(wanted).unwrap_or(u32::MAX),
    };
    let history = ctx.workers.clone();
    let older = tokio::task::spawn_blocking(move || history.events(&query))
        .await
        .map_err(|e| failed(OP, format!("the query task failed: {e}")))?
        .map_err(|e| failed(OP, e))?;
    let mut out = Vec::with_capacity(older.len() + newest.len());
    for row in older {
        match serde_json::from_str::<Value>(&row.body) {
            Ok(event) => out.push(event),
            // A row this build cannot read is left out, not the whole answer.
            Err(e) => tracing::warn!(seq = row.seq, "unreadable archived event: {e}"),
        }
    }
    out.extend(newest);
    Ok(Value::Array(out))
}
