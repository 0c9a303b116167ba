//! The router: which path goes to which handler, and the operation
//! dispatch.
//!
//! - `POST /ops/{name}` — [`dispatch`]: `Content-Type: application/json`
//!   (415 otherwise, so a web page cannot post a form or `text/plain`
//!   body), body size limit (413), lookup (404), the caller's role against
//!   the operation's (403 `forbidden_role`, [`auth::authorize`]), JSON
//!   (400 `bad_json` with the parser's message; an empty body is `{}`, a
//!   body of only whitespace is not JSON), then
//!   [`Operation::call`](warden_ops::Operation::call), which
//!   validates the params (400 with every violation) and runs. The latency
//!   and status of calls to registered operations go to
//!   [`Metrics`](crate::Metrics); calls that may change something, and
//!   forbidden ones, go to the [audit hook](crate::AuditSink).
//! - `GET /whoami` — the caller's token name and role.
//! - the component store ([`components`](crate::components)): `POST` and
//!   `GET /components`, `GET` and `DELETE /components/{id}`;
//! - `GET /logs/{path}` ([`logs`](crate::logs)): a child's log, as JSON or
//!   followed as SSE;
//! - stored snapshots' raw states ([`snapshots`](crate::snapshots)):
//!   `POST /snapshots?path=CHILD`, `GET /snapshots/{id}`;
//! - `GET /openapi.json`, `/events` ([`sse`](crate::sse)), `/metrics`,
//!   `/healthz`;
//! - the dashboard's `GET /` and `/assets/{file}`;
//! - anything else: 404 `not_found` naming the method and path, or 405
//!   when the path exists for another method.
//!
//! Authentication ([`auth`](crate::auth)) wraps all of it, fallbacks
//! included, and the cross-site guard ([`guard`](crate::guard), 403
//! for a foreign `Host` or `Origin`) wraps authentication.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::watch;
use warden_ops::{OpError, Operation};

use crate::audit::{AuditEntry, params_digest};
use crate::auth::{self, Identity, Keyring};
use crate::error::{HttpError, op_error_response};
use crate::guard::{self, SiteGuard};
use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::server::ApiState;
use crate::{components, dashboard, logs, openapi, snapshots, sse};

/// How much of an oversized body is read (and dropped) before answering
/// 413, so the client sees the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 8 << 20;

/// What the handlers share for one running server.
#[derive(Clone)]
pub(crate) struct Shared {
    pub api: ApiState,
    pub server_url: Arc<str>,
    pub token_required: bool,
    pub max_body_bytes: usize,
    pub shutdown: watch::Receiver<bool>,
}

/// The whole application: API routes, dashboard, fallbacks, auth, and
/// the cross-site guard outermost.
pub(crate) fn router(shared: Shared, keyring: Arc<Keyring>, guard: SiteGuard) -> Router {
    Router::new()
        .route("/ops/{name}", post(dispatch))
        .route(
            "/components",
            post(components::upload).get(components::list),
        )
        .route(
            "/components/{id}",
            get(components::describe).delete(components::remove),
        )
        .route("/snapshots", post(snapshots::upload))
        .route("/snapshots/{id}", get(snapshots::raw))
        .route("/openapi.json", get(openapi_json))
        .route("/events", get(sse::events))
        .route("/logs/{*path}", get(logs::logs))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/whoami", get(whoami))
        .merge(dashboard::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(
            keyring,
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(guard),
            guard::require_own_site,
        ))
}

/// `POST /ops/{name}`.
async fn dispatch(
    State(shared): State<Shared>,
    Extension(caller): Extension<Identity>,
    name: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let at_ms = warden_clock::signed_unix_ms();
    let name = match name {
        Ok(Path(name)) => name,
        Err(rejection) => return HttpError::BadRequest(rejection.body_text()).into_response(),
    };
    // Looked up first, so that a call refused before the lookup's answer
    // (415, 413) is still audited; the 404 keeps its place after them.
    let op = shared.api.operations().get(&name).ok();
    let mut digest = None;
    let outcome = call(&shared, &caller, &name, op.as_deref(), request, &mut digest).await;
    let (response, kind) = match outcome {
        Ok(result) => (Json(result).into_response(), None),
        Err(Refusal::Http(e)) => {
            let kind = e.kind();
            (e.into_response(), Some(kind))
        }
        Err(Refusal::Op(e)) => {
            if e.status_code() >= 500 {
                tracing::warn!(op = %name, error = %e, "operation failed");
            }
            (op_error_response(&e), Some(e.kind()))
        }
    };
    // Nothing is counted or audited under a name the caller made up.
    let Some(op) = op else {
        return response;
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    shared.api.metrics().record_call(op.name(), status, elapsed);
    if let Some(sink) = shared.api.audit()
        && (!op.is_read_only() || kind == Some("forbidden_role"))
    {
        sink.record(AuditEntry {
            at_ms,
            token: caller.name.clone(),
            op: op.name().to_string(),
            params_sha256: digest,
            status,
            outcome: kind.unwrap_or("ok").to_string(),
            duration_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        });
    }
    response
}

/// Why a call was not answered with its result.
enum Refusal {
    Http(HttpError),
    Op(OpError),
}

/// The checks of a call in order (JSON body, size, the operation exists,
/// the caller's role, JSON text), then the operation itself. `digest`
/// gets the body's digest once the body is read.
async fn call(
    shared: &Shared,
    caller: &Identity,
    name: &str,
    op: Option<&Operation>,
    request: Request,
    digest: &mut Option<String>,
) -> Result<Value, Refusal> {
    require_json(request.headers()).map_err(Refusal::Http)?;
    let body = read_body(request.into_body(), shared.max_body_bytes)
        .await
        .map_err(Refusal::Http)?;
    *digest = Some(params_digest(&body));
    let op = op.ok_or_else(|| {
        Refusal::Op(OpError::UnknownOperation {
            op: name.to_string(),
        })
    })?;
    auth::authorize(caller, op.role(), op.name()).map_err(Refusal::Http)?;
    let params = parse_params(&body).map_err(Refusal::Http)?;
    op.call(params).await.map_err(Refusal::Op)
}

/// `GET /whoami`: the caller's token name and role.
async fn whoami(Extension(caller): Extension<Identity>) -> Json<Identity> {
    Json(caller)
}

/// `Ok` when the request says its body is JSON (`application/json`, with
/// or without parameters such as `charset`).
fn require_json(headers: &HeaderMap) -> Result<(), HttpError> {
    declared_as(headers, "application/json")
        .map_err(|content_type| HttpError::UnsupportedMediaType { content_type })
}

/// `Ok` when the request's `Content-Type` is `media` (parameters such as
/// `charset` allowed); otherwise the type it declared (cut to 100
/// characters for the error), if any.
pub(crate) fn declared_as(headers: &HeaderMap, media: &str) -> Result<(), Option<String>> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let matches = declared.as_deref().is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|declared| declared.trim().eq_ignore_ascii_case(media))
    });
    if matches {
        Ok(())
    } else {
        Err(declared.map(|t| t.chars().take(100).collect()))
    }
}

/// The params of a call: the body as JSON, an empty body meaning `{}`.
/// A body of only whitespace is refused (it is not a JSON text, and
/// reading it as `{}` would hide a client's mistake).
fn parse_params(body: &[u8]) -> Result<Value, HttpError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HttpError::BadJson(
            "the body holds only whitespace; send `{}` (or nothing) for no params".to_string(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| HttpError::BadJson(e.to_string()))
}

/// Reads at most `limit` bytes; a longer body is 413 (drained up to
/// [`DRAIN_LIMIT`] first, so the client reads the answer).
pub(crate) async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, HttpError> {
    let too_large = HttpError::PayloadTooLarge { limit };
    let declared = HttpBody::size_hint(&body).upper();
    if declared.is_some_and(|n| n > (limit + DRAIN_LIMIT) as u64) {
        return Err(too_large);
    }
    let mut bytes = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| HttpError::BadRequest(format!("cannot read the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= limit {
            bytes.extend_from_slice(&data);
        } else if total > limit + DRAIN_LIMIT {
            break;
        }
    }
    if total > limit {
        Err(too_large)
    } else {
        Ok(Bytes::from(bytes))
    }
}

/// `GET /openapi.json`.
async fn openapi_json(State(shared): State<Shared>) -> Response {
    Json(openapi::document(
        shared.api.operations(),
        &shared.server_url,
        shared.token_required,
        shared.api.components().map(|c| c.max_bytes()),
        shared.api.logs().is_some(),
        shared.api.snapshots().map(|s| s.max_upload_bytes()),
    ))
    .into_response()
}

/// `GET /metrics`.
async fn metrics(State(shared): State<Shared>) -> Response {
    let mut text = shared.api.metrics().render();
    if let Some(gauges) = shared.api.child_gauges() {
        let samples = gauges.sample().await;
        crate::metrics::render_children(&mut text, &samples);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

/// `GET /healthz` (a `&str` answers `text/plain; charset=utf-8`).
async fn healthz() -> &'static str {
    "ok"
}

async fn not_found(method: Method, uri: Uri) -> HttpError {
    HttpError::NoRoute {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> HttpError {
    HttpError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}
