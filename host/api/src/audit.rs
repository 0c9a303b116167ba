//! The audit hook: every call that may change something, told to whoever
//! keeps the audit log.
//!
//! The HTTP layer knows who called what and how it ended; it does not know
//! where the log lives (the host keeps it in its SQLite registry). So
//! [`ApiState`](crate::ApiState) holds an [`AuditSink`] (a trait object the
//! host implements) and `POST /ops/{name}` hands it one [`AuditEntry`]
//! per call of an operation that is not read-only, whatever its outcome
//! (failed and forbidden calls included), and per call of any operation
//! refused with 403 `forbidden_role`. Calls of read-only operations that
//! were allowed, `GET` routes, unknown operations and requests without a
//! valid token (401) are not recorded.
//!
//! A sink must not block: it is called on the request's task, after the
//! answer is ready and before it is sent.

use std::time::Instant;

use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::auth::Identity;
use crate::routes::Shared;

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When the call arrived, in Unix milliseconds.
    pub at_ms: i64,
    /// The caller's token name (`anonymous` without tokens).
    pub token: String,
    /// The operation called.
    pub op: String,
    /// SHA-256 (hex) of the request body as sent (an empty body is
    /// `{}`, as it is read); `None` when the body was never read (415,
    /// 413).
    pub params_sha256: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, or the error's kind (`forbidden_role`, `not_found`, …).
    pub outcome: String,
    /// How long the call took, in microseconds.
    pub duration_us: u64,
}

/// Where audited calls go. Implementations queue the entry and return.
pub trait AuditSink: Send + Sync + 'static {
    /// Records `entry`; never blocks on storage.
    fn record(&self, entry: AuditEntry);
}

/// A call of a route that changes something beside the operations
/// (`POST /components`, `POST /snapshots`): what it is named in the audit
/// log (the route's `operationId`), by whom, and since when.
pub(crate) struct RouteCall<'a> {
    pub op: &'static str,
    pub caller: &'a Identity,
    pub at_ms: i64,
    pub started: Instant,
}

impl<'a> RouteCall<'a> {
    /// A call of `op` by `caller` arriving now.
    pub(crate) fn new(op: &'static str, caller: &'a Identity) -> Self {
        Self {
            op,
            caller,
            at_ms: warden_clock::signed_unix_ms(),
            started: Instant::now(),
        }
    }

    /// Hands the call's entry to the audit hook, if any, and gives back
    /// the answer: `answer` is the response, or a refusal with the kind
    /// the log records. `digest` is the SHA-256 of what was sent, when it
    /// was read. A host that does not serve the route (`served` false)
    /// answers 404 and nothing is recorded for it.
    pub(crate) fn record(
        self,
        shared: &Shared,
        served: bool,
        digest: Option<String>,
        answer: Result<Response, (Response, &'static str)>,
    ) -> Response {
        let (response, outcome) = match answer {
            Ok(response) => (response, "ok"),
            Err((response, kind)) => (response, kind),
        };
        if let Some(sink) = shared.api.audit()
            && served
        {
            sink.record(AuditEntry {
                at_ms: self.at_ms,
                token: self.caller.name.clone(),
                op: self.op.to_string(),
                params_sha256: digest,
                status: response.status().as_u16(),
                outcome: outcome.to_string(),
                duration_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            });
        }
        response
    }
}

/// The hex SHA-256 of a call's params as sent.
pub(crate) fn params_digest(body: &[u8]) -> String {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_of_the_body_an_empty_one_being_an_empty_object() {
        // sha256("{}"), as `printf '{}' | sha256sum` prints it.
        let empty = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(params_digest(b""), empty);
        assert_eq!(params_digest(b"{}"), empty);
        assert_ne!(params_digest(br#"{"path":"a"}"#), empty);
        assert_eq!(params_digest(b"x").len(), 64);
    }
}
