//! A client of the HTTP API, for `warden ctl`, the benchmarks and tests.
//!
//! [`ApiClient`] owns one hyper-util connection pool (keep-alive, Nagle
//! off), so consecutive calls reuse a connection; it is cheap to clone and
//! safe to share between tasks. It speaks only the contract of the API:
//! `POST /ops/{name}` with JSON params, uploads to the component store
//! (`POST /components` with the bytes), plain `GET`s and `DELETE`s, and the
//! SSE stream of `GET /events`. Every non-2xx answer becomes [`ClientError::Status`]
//! with the JSON error body the server sent, so callers can show the
//! server's message and violations unchanged.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Why a request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base address or a path does not make a valid `http://` URL.
    #[error("invalid API address `{url}`: {reason}")]
    BadUrl {
        /// The URL as given, or the request URL built from it.
        url: String,
        /// What is wrong with it (the parser's message, a scheme other
        /// than `http`, a path on the base address).
        reason: String,
    },

    /// The server answered with a non-2xx status; `body` is its JSON error
    /// body (`{"error": {"kind", "message", …}}`), or the text it sent
    /// wrapped as `{"error": {"kind": "http", "message": text}}`.
    #[error("HTTP {status}: {}", error_message(body))]
    Status {
        /// The HTTP status code (401, 404, 422, …).
        status: u16,
        /// The answer's body as JSON (see the variant's docs for a body
        /// that is not JSON).
        body: Value,
    },

    /// The connection failed (refused, reset, closed mid-answer).
    #[error("cannot reach the API: {0}")]
    Transport(String),

    /// A 2xx answer whose body is not what the route promises (not JSON,
    /// not UTF-8, a malformed event).
    #[error("unexpected answer from the API: {0}")]
    BadResponse(String),
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error kind the server gave (`invalid_params`, `unauthorized`, …).
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Status { body, .. } => body["error"]["kind"].as_str(),
            _ => None,
        }
    }
}

fn error_message(body: &Value) -> String {
    match body["error"]["message"].as_str() {
        Some(message) => message.to_string(),
        None => body.to_string(),
    }
}

/// A keep-alive client of one Warden host's API.
#[derive(Clone, Debug)]
pub struct ApiClient {
    base: String,
    auth: Option<HeaderValue>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// A client of the API at `base_url` (`http://127.0.0.1:7878`, a
    /// trailing `/` is ignored), sending `Authorization: Bearer TOKEN` when
    /// `token` is given. Only plain `http://` is supported.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let base = base_url.trim().trim_end_matches('/').to_string();
        let bad = |reason: &str| ClientError::BadUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = base.parse().map_err(|e| bad(&format!("{e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// addresses are supported"));
        }
        if uri.host().is_none() {
            return Err(bad("no host"));
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(bad("give the address only (no path)"));
        }
        let auth = match token {
            Some(token) => Some(
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| bad("the token holds characters a header cannot carry"))?,
            ),
            None => None,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        // Below the server's header-read timeout (10 s), which also closes
        // idle keep-alive connections: the pool drops a connection before
        // the server does, so no request races a closing socket.
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Ok(Self { base, auth, http })
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Calls operation `op` (`POST /ops/{op}`) with `params`; the JSON
    /// result, or the server's error.
    pub async fn call(&self, op: &str, params: Value) -> Result<Value, ClientError> {
        let body = Bytes::from(params.to_string());
        let response = self
            .send(Method::POST, &format!("/ops/{op}"), Some(body))
            .await?;
        let bytes = collect(response).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::BadResponse(format!("the result of `{op}` is not JSON: {e}")))
    }

    /// Uploads a component's bytes to the store (`POST /components`,
    /// `Content-Type: application/wasm`): the HTTP status (201 when they
    /// were new, 200 when already stored) and `{"id", "size", "worlds"}`.
    pub async fn upload(&self, bytes: Vec<u8>) -> Result<(u16, Value), ClientError> {
        self.post_bytes("/components", bytes, "application/wasm")
            .await
    }

    /// `POST path_and_query` with `bytes` as a body of `content_type`
    /// (`/snapshots?path=root/counter`, `application/octet-stream`): the
    /// HTTP status and the JSON answer.
    pub async fn post_bytes(
        &self,
        path_and_query: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(u16, Value), ClientError> {
        let response = self
            .send_as(
                Method::POST,
                path_and_query,
                Some(Bytes::from(bytes)),
                content_type,
            )
            .await?;
        let status = response.status().as_u16();
        let bytes = collect(response).await?;
        let body = serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::BadResponse(format!(
                "the answer to POST {path_and_query} is not JSON: {e}"
            ))
        })?;
        Ok((status, body))
    }

    /// `DELETE path` (`/components/{id}`); any 2xx is success.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        let response = self.send(Method::DELETE, path, None).await?;
        collect(response).await.map(drop)
    }

    /// `GET path` (`/metrics`, `/openapi.json`): the body as text.
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let response = self.send(Method::GET, path, None).await?;
        let bytes = collect(response).await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ClientError::BadResponse(format!("GET {path}: the body is not UTF-8")))
    }

    /// `GET path` (`/snapshots/{id}`): the body's bytes as they are.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let response = self.send(Method::GET, path, None).await?;
        collect(response).await.map(|bytes| bytes.to_vec())
    }

    /// `GET path`, parsed as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let response = self.send(Method::GET, path, None).await?;
        let bytes = collect(response).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::BadResponse(format!("GET {path}: not JSON: {e}")))
    }

    /// Subscribes to `GET /events?{query}` (`child=root/counter&kind=child_restarted`,
    /// or `""` for everything). Returns once the server accepted the
    /// subscription; events published after that are delivered.
    pub async fn events(&self, query: &str) -> Result<Events, ClientError> {
        let path = if query.is_empty() {
            "/events".to_string()
        } else {
            format!("/events?{}", query.trim_start_matches('?'))
        };
        let response = self.send(Method::GET, &path, None).await?;
        Ok(Events {
            body: response.into_body(),
            buffer: BytesMut::new(),
        })
    }

    /// Any other Server-Sent Events route (`/logs/root/web?follow=1`),
    /// read like [`Self::events`]; a non-2xx answer is
    /// [`ClientError::Status`].
    pub async fn stream(&self, path_and_query: &str) -> Result<Events, ClientError> {
        let response = self.send(Method::GET, path_and_query, None).await?;
        Ok(Events {
            body: response.into_body(),
            buffer: BytesMut::new(),
        })
    }

    /// Sends one request with a JSON body (when there is one); a non-2xx
    /// answer becomes [`ClientError::Status`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>, ClientError> {
        self.send_as(method, path, body, "application/json").await
    }

    /// [`Self::send`] with a body of `content_type`.
    async fn send_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        content_type: &'static str,
    ) -> Result<Response<Incoming>, ClientError> {
        let url = format!("{}{path}", self.base);
        let uri: Uri = url.parse().map_err(|e| ClientError::BadUrl {
            url: url.clone(),
            reason: format!("{e}"),
        })?;
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, content_type);
        }
        request = request.header(ACCEPT, "application/json, text/event-stream, text/plain");
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| ClientError::BadUrl {
                url,
                reason: e.to_string(),
            })?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| ClientError::Transport(transport_message(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = collect(response).await?;
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::json!({"error": {
                "kind": "http",
                "message": String::from_utf8_lossy(&bytes).trim().to_string(),
            }})
        });
        Err(ClientError::Status {
            status: status.as_u16(),
            body,
        })
    }
}

/// The whole error chain of a hyper-util error ("client error (Connect)"
/// alone says little).
fn transport_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

async fn collect(response: Response<Incoming>) -> Result<Bytes, ClientError> {
    response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ClientError::Transport(transport_message(&e)))
}

/// One message of the event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `id:` line (the event's sequence number), when sent.
    pub id: Option<String>,
    /// The `event:` line: an event kind (`child_restarted`), or `missed`.
    pub kind: String,
    /// The `data:` lines, parsed as JSON.
    pub data: Value,
}

/// The open event stream of [`ApiClient::events`].
#[derive(Debug)]
pub struct Events {
    body: Incoming,
    buffer: BytesMut,
}

impl Events {
    /// The next event; `None` when the server closed the stream.
    /// Keep-alive comments are skipped.
    pub async fn next(&mut self) -> Option<Result<SseEvent, ClientError>> {
        loop {
            if let Some(block) = take_block(&mut self.buffer) {
                match parse_block(&block) {
                    Ok(Some(event)) => return Some(Ok(event)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                }
            }
            match self.body.frame().await {
                None => return None,
                Some(Err(e)) => return Some(Err(ClientError::Transport(transport_message(&e)))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The stream as `(kind, data)` pairs, for `StreamExt` users.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<(String, Value), ClientError>> + Send {
        futures_util::stream::unfold(self, |mut events| async move {
            let item = events.next().await?;
            Some((item.map(|e| (e.kind, e.data)), events))
        })
    }
}

/// Removes one complete message (up to a blank line) from `buffer`.
fn take_block(buffer: &mut BytesMut) -> Option<Vec<u8>> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let end = match (lf, crlf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let block = buffer.split_to(end.0 + end.1);
    Some(block[..end.0].to_vec())
}

/// Parses one SSE message; `None` for a comment-only block.
fn parse_block(block: &[u8]) -> Result<Option<SseEvent>, ClientError> {
    let text = std::str::from_utf8(block)
        .map_err(|_| ClientError::BadResponse("an event is not UTF-8".into()))?;
    let mut id = None;
    let mut kind = None;
    let mut data: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => kind = Some(value.to_string()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    let Some(data) = data else {
        return Ok(None);
    };
    let data = serde_json::from_str(&data)
        .map_err(|e| ClientError::BadResponse(format!("event data is not JSON: {e}")))?;
    Ok(Some(SseEvent {
        id,
        kind: kind.unwrap_or_else(|| "message".to_string()),
        data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sse_blocks_and_skips_comments() {
        let mut buffer = BytesMut::from(
            &b": keep-alive\n\nid: 7\nevent: child_restarted\ndata: {\"path\":\"root/a\"}\n\nevent: missed\r\ndata: {\"missed\": 3}\r\n\r\npartial"[..],
        );
        let first = take_block(&mut buffer).unwrap();
        assert_eq!(parse_block(&first).unwrap(), None);
        let second = parse_block(&take_block(&mut buffer).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(second.id.as_deref(), Some("7"));
        assert_eq!(second.kind, "child_restarted");
        assert_eq!(second.data["path"], "root/a");
        let third = parse_block(&take_block(&mut buffer).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(third.kind, "missed");
        assert_eq!(third.data["missed"], 3);
        assert!(take_block(&mut buffer).is_none());
        assert_eq!(&buffer[..], b"partial");
    }

    #[test]
    fn rejects_bad_base_urls() {
        assert!(ApiClient::new("http://127.0.0.1:7878/", None).is_ok());
        for bad in [
            "127.0.0.1:7878",
            "https://x:1",
            "http://x:1/api",
            "not a url",
        ] {
            assert!(
                matches!(ApiClient::new(bad, None), Err(ClientError::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
