//! A stored snapshot's raw state over HTTP: `GET /snapshots/{id}`, the
//! bytes as they are (`application/octet-stream`), streamed from the file
//! however large, for states a JSON answer under the body limit cannot
//! carry.
//!
//! Owns the route: the role it needs (`admin`: a state is what a child
//! keeps, as with `child.snapshot`), the statuses (400 for an id not of
//! the store's form, 404 for an unknown one) and the streaming.
//!
//! Never does: find or check snapshot files; the host's
//! [`SnapshotFiles`] does (the warden crate implements it over its
//! snapshot store), so this crate does not depend on it.

use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use tokio::io::AsyncReadExt as _;
use warden_ops::Role;

use crate::auth::{self, Identity};
use crate::error::HttpError;
use crate::routes::Shared;

/// What a [`SnapshotFiles`] method returns.
pub type SnapshotFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SnapshotFileError>> + Send + 'a>>;

/// The stored snapshots as `GET /snapshots/{id}` reads them.
pub trait SnapshotFiles: Send + Sync + 'static {
    /// Snapshot `id`'s state: its file positioned at the state's first
    /// byte, and the state's length.
    fn open(&self, id: &str) -> SnapshotFuture<'_, RawState>;
}

/// A snapshot's state, ready to be read.
#[derive(Debug)]
pub struct RawState {
    /// The file, positioned where the state starts.
    pub file: std::fs::File,
    /// The state's length in bytes (what follows in the file).
    pub size: u64,
    /// SHA-256 of the state, 64 lowercase hex digits (the `ETag`).
    pub sha256: String,
}

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    /// The id is not of the store's form (400).
    #[error("{0}")]
    InvalidId(String),
    /// No snapshot has that id (404).
    #[error("{0}")]
    NotFound(String),
    /// The host failed (500).
    #[error("{0}")]
    Failed(String),
}

impl IntoResponse for SnapshotFileError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            Self::InvalidId(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Failed(message) => {
                tracing::warn!(error = %message, "reading a stored snapshot failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "failed")
            }
        };
        let body = json!({"error": {"kind": kind, "message": self.to_string()}});
        (status, Json(body)).into_response()
    }
}

/// How much is read from the file per chunk of the answer.
const CHUNK: usize = 64 << 10;

/// `GET /snapshots/{id}`: `admin`.
pub(crate) async fn raw(
    State(shared): State<Shared>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(rejection) => return HttpError::BadRequest(rejection.body_text()).into_response(),
    };
    let route = format!("/snapshots/{id}");
    let Some(files) = shared.api.snapshots() else {
        return HttpError::NoRoute {
            method: "GET".into(),
            path: route,
        }
        .into_response();
    };
    if let Err(e) = auth::authorize(&caller, Role::Admin, &format!("GET {route}")) {
        return e.into_response();
    }
    let state = match files.open(&id).await {
        Ok(state) => state,
        Err(e) => return e.into_response(),
    };
    let size = state.size;
    let reader = tokio::fs::File::from_std(state.file).take(size);
    let chunks = futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", state.sha256)) {
        headers.insert(header::ETAG, etag);
    }
    response
}
