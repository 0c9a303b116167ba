//! `events.recent`: the last events from the host's
//! [`EventLog`](crate::events::EventLog), numbered, filtered by child and
//! kind.

use serde::Deserialize;
use serde_json::json;

use super::{Context, add, parse};
use crate::events::EventFilter;
use crate::ops::{OpMeta, RegisterError, Registry, Role};

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "events.recent",
            "The most recent events (of the last 1000), oldest first, each with its sequence number",
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
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many, the newest (default 100)"}
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
        |ctx, params| async move {
            const OP: &str = "events.recent";
            #[derive(Deserialize)]
            struct P {
                child: Option<String>,
                kind: Option<String>,
                limit: Option<usize>,
            }
            let p: P = parse(OP, params)?;
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
                limit: Some(p.limit.unwrap_or(100)),
            };
            super::to_json(OP, &ctx.log.recent(&filter))
        },
    )
}
