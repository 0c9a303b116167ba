//! Stored snapshots' raw states over HTTP, for states a JSON body under
//! the request limit cannot carry: `GET /snapshots/{id}` streams one out
//! as its bytes (`application/octet-stream`), however large;
//! `POST /snapshots?path=CHILD` takes one in (`application/octet-stream`,
//! up to [`SnapshotFiles::max_upload_bytes`]) and stores it as a snapshot
//! of that child, to be put back with `child.restore {path, snapshot}`.
//!
//! Owns the routes: the role they need (`admin`: a state is what a child
//! keeps, as with `child.snapshot` and `child.restore`), the statuses
//! (400 for an id not of the store's form, 404 for an unknown id or a
//! path that is no component child, 413 above the limit, 415 for another
//! body type), the streaming, and the audit row of an upload
//! (`snapshots.upload`, its digest the SHA-256 of the state).
//!
//! Never does: find, check or write snapshot files; the host's
//! [`SnapshotFiles`] does (the warden crate implements it over its
//! snapshot store), so this crate does not depend on it.

use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt as _;
use warden_ops::Role;

use crate::audit::RouteCall;
use crate::auth::{self, Identity};
use crate::components::{Refused, http};
use crate::error::HttpError;
use crate::routes::{Shared, declared_as, read_body};

/// What a [`SnapshotFiles`] method returns.
pub type SnapshotFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SnapshotFileError>> + Send + 'a>>;

/// The stored snapshots as `GET /snapshots/{id}` reads them.
pub trait SnapshotFiles: Send + Sync + 'static {
    /// Snapshot `id`'s state: its file positioned at the state's first
    /// byte, and the state's length.
    fn open(&self, id: &str) -> SnapshotFuture<'_, RawState>;

    /// The largest state `POST /snapshots` takes, in bytes.
    fn max_upload_bytes(&self) -> u64;

    /// Stores `state` as a snapshot of the component child at `path`:
    /// the stored snapshot's metadata, as `snapshot.list` lists it.
    fn store(&self, path: &str, state: bytes::Bytes) -> SnapshotFuture<'_, Value>;
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
    /// No snapshot has that id, or no component child that path (404).
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

impl SnapshotFileError {
    /// What the audit log records of a refused upload.
    fn refused(self) -> Refused {
        let kind = match &self {
            Self::InvalidId(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::Failed(_) => "failed",
        };
        (self.into_response(), kind)
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

/// What the audit log names an upload (the route's `operationId`).
const UPLOAD: &str = "snapshots.upload";

/// The query of `POST /snapshots`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    /// The component child the state is for.
    path: String,
}

/// `POST /snapshots?path=CHILD`: `admin`. Audited, refused or not.
pub(crate) async fn upload(
    State(shared): State<Shared>,
    Extension(caller): Extension<Identity>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    request: Request,
) -> Response {
    let call = RouteCall::new(UPLOAD, &caller);
    let mut digest = None;
    let answer = upload_checked(&shared, &caller, query, request, &mut digest).await;
    call.record(&shared, shared.api.snapshots().is_some(), digest, answer)
}

async fn upload_checked(
    shared: &Shared,
    caller: &Identity,
    query: Result<Query<UploadQuery>, QueryRejection>,
    request: Request,
    digest: &mut Option<String>,
) -> Result<Response, Refused> {
    let Some(files) = shared.api.snapshots() else {
        return Err(http(HttpError::NoRoute {
            method: "POST".into(),
            path: "/snapshots".into(),
        }));
    };
    auth::authorize(caller, Role::Admin, "POST /snapshots").map_err(http)?;
    let Query(UploadQuery { path }) = query.map_err(|rejection| {
        http(HttpError::BadRequest(format!(
            "{}; the child is given as `?path=root/counter`",
            rejection.body_text()
        )))
    })?;
    declared_as(request.headers(), "application/octet-stream")
        .map_err(|content_type| HttpError::WrongUpload {
            body: "a snapshot upload is the state's bytes",
            media: "application/octet-stream",
            content_type,
        })
        .map_err(http)?;
    let limit = usize::try_from(files.max_upload_bytes()).unwrap_or(usize::MAX);
    let state = read_body(request.into_body(), limit).await.map_err(http)?;
    *digest = Some(hex::encode(Sha256::digest(&state)));
    let meta = files
        .store(&path, state)
        .await
        .map_err(SnapshotFileError::refused)?;
    Ok((StatusCode::CREATED, Json(meta)).into_response())
}
