//! `audit.recent`: the API's audit log from the registry
//! (`STATE_DIR/registry.sqlite3`), newest first, and [`RegistryAudit`],
//! the hook that writes it. The query runs on the blocking pool (SQLite).
//!
//! Reading who did what is an `admin`'s: the log names every token and
//! what it called.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::{Context, add, failed, parse};
use crate::api::{AuditEntry, AuditSink};
use crate::ops::{OpMeta, RegisterError, Registry, Role};
use crate::registry::{AuditQuery, AuditRecord};

/// The most rows one `audit.recent` answers.
pub const MAX_LIMIT: u32 = 10_000;

/// The API's audit hook writing to the worker registry's audit table
/// (queued: the request never waits for SQLite).
pub struct RegistryAudit(pub crate::registry::Registry);

impl RegistryAudit {
    /// The hook for `ApiState::with_audit`.
    pub fn sink(registry: &crate::registry::Registry) -> Arc<dyn AuditSink> {
        Arc::new(Self(registry.clone()))
    }
}

impl AuditSink for RegistryAudit {
    fn record(&self, entry: AuditEntry) {
        self.0.record_audit(AuditRecord {
            at_ms: entry.at_ms,
            token: entry.token,
            op: entry.op,
            params_sha256: entry.params_sha256,
            status: entry.status,
            outcome: entry.outcome,
            duration_us: entry.duration_us,
        });
    }
}

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "audit.recent",
            "The API's audit log, newest first: every call that may change something (and every one refused for its role), with its token, params digest, outcome and duration",
        )
        .role(Role::Admin)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {
                "since": {"type": "integer", "minimum": 0, "description": "Only calls at or after this time, in Unix milliseconds"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "At most this many rows, the newest (default 100)"},
                "op": {"type": "string", "minLength": 1, "description": "Only calls of this operation (`child.restart`)"},
                "token": {"type": "string", "minLength": 1, "description": "Only calls with this token name"}
            },
            "additionalProperties": false
        }))
        .example(json!({"since": 1_700_000_000_000_i64, "limit": 20, "op": "child.restart"}))
        .result(json!({"type": "array", "items": {
            "type": "object",
            "required": ["id", "at_ms", "token", "op", "params_sha256", "status", "outcome", "duration_us"],
            "additionalProperties": false,
            "properties": {
                "id": {"type": "integer", "description": "Later calls have larger ids"},
                "at_ms": {"type": "integer", "description": "When the call arrived, in Unix milliseconds"},
                "token": {"type": "string", "description": "The caller's token name (`anonymous` without tokens)"},
                "op": {"type": "string"},
                "params_sha256": {"type": ["string", "null"], "description": "SHA-256 (hex) of the request body as sent (an empty body as `{}`); null when it was never read (415, 413)"},
                "status": {"type": "integer", "description": "The HTTP status answered"},
                "outcome": {"type": "string", "description": "`ok`, or the error's kind (`forbidden_role`, `not_found`, …)"},
                "duration_us": {"type": "integer", "description": "How long the call took, in microseconds"}
            }
        }})),
        |ctx, params| async move {
            const OP: &str = "audit.recent";
            #[derive(Deserialize)]
            struct P {
                since: Option<i64>,
                limit: Option<u32>,
                op: Option<String>,
                token: Option<String>,
            }
            let p: P = parse(OP, params)?;
            let query = AuditQuery {
                since_ms: p.since,
                op: p.op,
                token: p.token,
                limit: p.limit.unwrap_or(100),
            };
            let log = ctx.workers.clone();
            let rows = tokio::task::spawn_blocking(move || log.audit(&query))
                .await
                .map_err(|e| failed(OP, format!("the query task failed: {e}")))?
                .map_err(|e| failed(OP, e))?;
            super::to_json(OP, &rows)
        },
    )
}
