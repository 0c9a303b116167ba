//! `GET /logs/{path}`: a child's log over HTTP, as JSON or followed as
//! Server-Sent Events.
//!
//! Without `follow`, the answer is `{"path", "lines": [{"at_ms", "stream"
//! or "level", "line"}]}`: the last `lines` lines (default
//! [`DEFAULT_LINES`], at most [`MAX_LINES`]), oldest first. With
//! `follow=1`, an SSE stream: a `: following` comment, then those lines
//! and every new one as `event: line` (`data:` the line's JSON), until
//! the client goes away or the server shuts down. A follower that falls
//! more than the source's buffer behind gets `event: lagged` with
//! `{"lost": n}` and goes on with the newest lines: memory never grows
//! with a slow client.
//!
//! Role: `read`. Errors: 404 for a path that names no child, 409 for a
//! child that keeps no log (a supervisor), 400 for a bad query.
//!
//! Never does: keep or find logs. A [`LogSource`] does (the warden crate
//! implements it over its per-child rings); this crate does not depend on
//! it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use warden_ops::Role;

use crate::auth::{self, Identity};
use crate::error::HttpError;
use crate::routes::Shared;
use crate::sse::KEEP_ALIVE;

/// Lines answered when the caller names no count.
pub const DEFAULT_LINES: usize = 100;

/// The most lines one request may ask for.
pub const MAX_LINES: usize = 10_000;

/// One line of a child's log: a worker's (`stream`) or a component's
/// `host::log` call (`level`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// When the host got it, in Unix milliseconds.
    pub at_ms: i64,
    /// `stdout` or `stderr`, for a worker's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<&'static str>,
    /// `trace` … `error`, for a component's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<&'static str>,
    /// The text, without its newline.
    pub line: String,
}

/// A child's log as a [`LogSource`] opens it.
#[derive(Debug)]
pub struct LogView {
    /// The last lines asked for, oldest first.
    pub lines: Vec<LogEntry>,
    /// With `follow`: every line after `lines`; a receiver that falls
    /// behind gets `Lagged(n)`.
    pub live: Option<broadcast::Receiver<LogEntry>>,
}

/// Why a log cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// No child has that path (404).
    #[error("no child `{path}`")]
    UnknownChild {
        /// The path asked for.
        path: String,
    },
    /// The path names something without a log, a supervisor (409).
    #[error("`{path}` keeps no log: {reason}")]
    NoLog {
        /// The path asked for.
        path: String,
        /// What it is instead.
        reason: String,
    },
    /// The host failed (500).
    #[error("{0}")]
    Failed(String),
}

impl LogError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownChild { .. } => StatusCode::NOT_FOUND,
            Self::NoLog { .. } => StatusCode::CONFLICT,
            Self::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::UnknownChild { .. } => "not_found",
            Self::NoLog { .. } => "conflict",
            Self::Failed(_) => "failed",
        }
    }
}

impl IntoResponse for LogError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind(), "message": self.to_string()}});
        (self.status(), Json(body)).into_response()
    }
}

/// What a [`LogSource`] method returns.
pub type LogFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LogError>> + Send + 'a>>;

/// The children's logs as the API sees them.
pub trait LogSource: Send + Sync + 'static {
    /// The last `lines` lines of the child at `path`, oldest first, and
    /// with `follow` a receiver of every later line.
    fn open(&self, path: &str, lines: usize, follow: bool) -> LogFuture<'_, LogView>;
}

/// The query of `GET /logs/{path}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsQuery {
    lines: Option<usize>,
    follow: Option<String>,
}

impl LogsQuery {
    fn lines(&self) -> Result<usize, HttpError> {
        match self.lines {
            None => Ok(DEFAULT_LINES),
            Some(n) if n <= MAX_LINES => Ok(n),
            Some(n) => Err(HttpError::BadRequest(format!(
                "`lines` is at most {MAX_LINES}; got {n}"
            ))),
        }
    }

    fn follow(&self) -> Result<bool, HttpError> {
        match self.follow.as_deref() {
            None | Some("0" | "false") => Ok(false),
            Some("1" | "true" | "") => Ok(true),
            Some(other) => Err(HttpError::BadRequest(format!(
                "`follow` is 1 or 0 (true or false); got `{}`",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// `GET /logs/{*path}`.
pub(crate) async fn logs(
    State(shared): State<Shared>,
    Extension(caller): Extension<Identity>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Response {
    match answer(&shared, &caller, path, query).await {
        Ok(response) => response,
        Err(response) => response,
    }
}

async fn answer(
    shared: &Shared,
    caller: &Identity,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, Response> {
    let bad = |e: HttpError| e.into_response();
    let Path(path) = path.map_err(|r| bad(HttpError::BadRequest(r.body_text())))?;
    let path = path.trim_matches('/').to_string();
    auth::authorize(caller, Role::Read, "GET /logs").map_err(bad)?;
    let Query(query) = query.map_err(|r| bad(HttpError::BadRequest(r.body_text())))?;
    let lines = query.lines().map_err(bad)?;
    let follow = query.follow().map_err(bad)?;
    let source = shared.api.logs().ok_or_else(|| {
        bad(HttpError::NoRoute {
            method: "GET".to_string(),
            path: format!("/logs/{path}"),
        })
    })?;
    let view = source
        .open(&path, lines, follow)
        .await
        .map_err(IntoResponse::into_response)?;
    match view.live {
        None => Ok(Json(json!({"path": path, "lines": view.lines})).into_response()),
        Some(live) => Ok(
            Sse::new(messages(view.lines, live, shared.shutdown.clone()))
                .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
                .into_response(),
        ),
    }
}

fn line_event(entry: &LogEntry) -> SseEvent {
    let data = serde_json::to_string(entry).unwrap_or_else(|_| "{}".to_string());
    SseEvent::default().event("line").data(data)
}

struct Follower {
    live: broadcast::Receiver<LogEntry>,
    shutdown: watch::Receiver<bool>,
}

/// The backlog, then each new line; ends when the source or the server
/// goes away (the client going away drops the stream).
fn messages(
    backlog: Vec<LogEntry>,
    live: broadcast::Receiver<LogEntry>,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send {
    let greeting =
        futures_util::stream::once(async { Ok(SseEvent::default().comment("following")) });
    let past = futures_util::stream::iter(backlog.into_iter().map(|e| Ok(line_event(&e))));
    let follower = Follower { live, shutdown };
    let new = futures_util::stream::unfold(follower, |mut f| async move {
        if *f.shutdown.borrow() {
            return None;
        }
        let received = tokio::select! {
            received = f.live.recv() => received,
            _ = f.shutdown.changed() => return None,
        };
        let message = match received {
            Ok(entry) => line_event(&entry),
            Err(broadcast::error::RecvError::Lagged(lost)) => SseEvent::default()
                .event("lagged")
                .data(json!({ "lost": lost }).to_string()),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(message), f))
    });
    greeting.chain(past).chain(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(lines: Option<usize>, follow: Option<&str>) -> LogsQuery {
        LogsQuery {
            lines,
            follow: follow.map(str::to_string),
        }
    }

    #[test]
    fn the_query_is_checked() {
        assert_eq!(query(None, None).lines().unwrap(), DEFAULT_LINES);
        assert_eq!(query(Some(MAX_LINES), None).lines().unwrap(), MAX_LINES);
        assert!(query(Some(MAX_LINES + 1), None).lines().is_err());
        assert!(query(None, Some("1")).follow().unwrap());
        assert!(!query(None, Some("0")).follow().unwrap());
        assert!(!query(None, None).follow().unwrap());
        assert!(query(None, Some("yes please")).follow().is_err());
    }

    #[test]
    fn an_entry_names_its_stream_or_level() {
        let worker = LogEntry {
            at_ms: 5,
            stream: Some("stdout"),
            level: None,
            line: "hi".into(),
        };
        assert_eq!(
            serde_json::to_value(&worker).unwrap(),
            json!({"at_ms": 5, "stream": "stdout", "line": "hi"})
        );
    }

    #[tokio::test]
    async fn a_slow_follower_gets_a_lagged_marker() {
        let (tx, rx) = broadcast::channel(2);
        let (_stop, shutdown) = watch::channel(false);
        for n in 0..5 {
            tx.send(LogEntry {
                at_ms: n,
                stream: Some("stdout"),
                level: None,
                line: format!("{n}"),
            })
            .unwrap();
        }
        drop(tx);
        let events: Vec<String> = messages(Vec::new(), rx, shutdown)
            .map(|e| format!("{:?}", e.unwrap()))
            .collect()
            .await;
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(
            events[1].contains("lagged") && events[1].contains("3"),
            "{events:?}"
        );
        assert!(events[3].contains("\\\"line\\\":\\\"4\\\""), "{events:?}");
    }
}
