//! The component store over HTTP: `POST /components` (upload),
//! `GET /components` (list), `GET /components/{id}` (describe) and
//! `DELETE /components/{id}` (remove).
//!
//! Owns the HTTP side of the store: the `Content-Type: application/wasm`
//! check (415), the body limit of [`ComponentCatalog::max_bytes`] (413,
//! read without buffering more than the limit), the statuses (201 for a
//! new component, 200 for bytes already stored, 204 for a removal) and
//! the error bodies of [`CatalogError`], the role each route needs
//! (`read` to list and describe, `operate` to upload, `admin` to remove)
//! and the audit rows of uploads and removals (`components.upload`,
//! `components.remove`; the params digest of an upload is the SHA-256 of
//! its bytes).
//!
//! Never does: compile, check or store bytes. A [`ComponentCatalog`] does
//! that (the warden crate implements it over its component store and its
//! runtime's bounded compile path); this crate does not depend on it.

use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use sha2::{Digest, Sha256};
use warden_ops::Role;

use crate::audit::{RouteCall, params_digest};
use crate::auth::{self, Identity};
use crate::error::HttpError;
use crate::routes::{Shared, declared_as, read_body};

/// What a [`ComponentCatalog`] method returns.
pub type CatalogFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CatalogError>> + Send + 'a>>;

/// The component store as the API sees it. Implementations compile
/// uploads through the host's bounded compile path, never on the calling
/// task's thread (the caller is a tokio worker).
pub trait ComponentCatalog: Send + Sync + 'static {
    /// The largest upload taken, in bytes.
    fn max_bytes(&self) -> u64;

    /// Checks that `bytes` are a component (compiling them under the
    /// compile limits) and stores them: `{"id", "size", "worlds"}`, and
    /// whether they were new.
    fn upload(&self, bytes: Bytes) -> CatalogFuture<'_, Uploaded>;

    /// Every stored component: `[{"id", "size", "stored_at_ms", "users"}]`.
    fn list(&self) -> CatalogFuture<'_, Value>;

    /// One component: what [`Self::list`] gives, with its `worlds`, its
    /// exports and its WIT.
    fn describe(&self, id: &str) -> CatalogFuture<'_, Value>;

    /// Removes a component nobody uses.
    fn remove(&self, id: &str) -> CatalogFuture<'_, ()>;
}

/// The answer to an upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// `{"id", "size", "worlds"}`.
    pub body: Value,
    /// False when the same bytes were already stored.
    pub created: bool,
}

/// Why the catalog refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The bytes are not a usable component, or compiling them went past
    /// a compile limit (422).
    #[error("{message}")]
    Rejected {
        /// `invalid_component` or `compile_limit`.
        kind: &'static str,
        /// The compiler's short reason (`not_wasm`, `not_a_component`,
        /// `invalid_component`, `compile_limit`, …).
        cause: &'static str,
        /// Which compile limit stopped it (`cpu`, `memory`, …).
        limit: Option<&'static str>,
        /// The whole reason, for people.
        message: String,
    },
    /// The id is not 64 lowercase hex digits (400).
    #[error("`{id}` is not a component id (64 lowercase hex digits: the SHA-256 of its bytes)")]
    InvalidId {
        /// The id asked for (cut to 80 characters).
        id: String,
    },
    /// No component has that id (404).
    #[error("no component `{id}` in the store")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// Someone uses the component (409).
    #[error("component `{id}` is in use by {}", users.join(", "))]
    InUse {
        /// The component.
        id: String,
        /// Who holds leases on it, sorted.
        users: Vec<String>,
    },
    /// Above the size limit (413).
    #[error("the component is {actual} bytes; the store takes at most {limit}")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// The size refused.
        actual: u64,
    },
    /// The host failed (500).
    #[error("{0}")]
    Failed(String),
}

impl CatalogError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidId { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::InUse { .. } => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { kind, .. } => kind,
            Self::InvalidId { .. } => "bad_request",
            Self::NotFound { .. } => "not_found",
            Self::InUse { .. } => "conflict",
            Self::TooLarge { .. } => "payload_too_large",
            Self::Failed(_) => "failed",
        }
    }
}

impl IntoResponse for CatalogError {
    fn into_response(self) -> Response {
        let mut error = json!({"kind": self.kind(), "message": self.to_string()});
        match &self {
            Self::Rejected { cause, limit, .. } => {
                error["cause"] = json!(cause);
                if let Some(limit) = limit {
                    error["limit"] = json!(limit);
                }
            }
            Self::InUse { users, .. } => error["users"] = json!(users),
            Self::Failed(message) => {
                tracing::warn!(error = %message, "a component store request failed");
            }
            _ => {}
        }
        (self.status(), Json(json!({ "error": error }))).into_response()
    }
}

/// The catalog, or the 404 a host without one answers every store route
/// with.
fn catalog<'a>(
    shared: &'a Shared,
    method: &str,
    path: &str,
) -> Result<&'a dyn ComponentCatalog, HttpError> {
    shared.api.components().ok_or_else(|| HttpError::NoRoute {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// A refusal as the response it is and the kind the audit log records.
pub(crate) type Refused = (Response, &'static str);

pub(crate) fn http(e: HttpError) -> Refused {
    let kind = e.kind();
    (e.into_response(), kind)
}

fn store(e: CatalogError) -> Refused {
    let kind = e.kind();
    (e.into_response(), kind)
}

/// What the audit log names a store route's calls by (the routes'
/// `operationId` in the OpenAPI document).
const UPLOAD: &str = "components.upload";
const REMOVE: &str = "components.remove";

/// `POST /components`: `operate` (an upload is code coming in, like a
/// sandbox it may then start). Audited, refused or not.
pub(crate) async fn upload(
    State(shared): State<Shared>,
    Extension(caller): Extension<Identity>,
    request: Request,
) -> Response {
    let call = RouteCall::new(UPLOAD, &caller);
    let mut digest = None;
    let answer = upload_checked(&shared, &caller, request, &mut digest).await;
    call.record(&shared, shared.api.components().is_some(), digest, answer)
}

async fn upload_checked(
    shared: &Shared,
    caller: &Identity,
    request: Request,
    digest: &mut Option<String>,
) -> Result<Response, Refused> {
    let catalog = catalog(shared, "POST", "/components").map_err(http)?;
    auth::authorize(caller, Role::Operate, "POST /components").map_err(http)?;
    require_wasm(request.headers()).map_err(http)?;
    let limit = usize::try_from(catalog.max_bytes()).unwrap_or(usize::MAX);
    let bytes = read_body(request.into_body(), limit).await.map_err(http)?;
    // The SHA-256 of the body: the id the component gets when it is one.
    *digest = Some(hex::encode(Sha256::digest(&bytes)));
    let Uploaded { body, created } = catalog.upload(bytes).await.map_err(store)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /components`: `read` (every token has it).
pub(crate) async fn list(State(shared): State<Shared>) -> Response {
    let catalog = match catalog(&shared, "GET", "/components") {
        Ok(catalog) => catalog,
        Err(e) => return e.into_response(),
    };
    match catalog.list().await {
        Ok(list) => Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /components/{id}`: `read`.
pub(crate) async fn describe(
    State(shared): State<Shared>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(rejection) => return HttpError::BadRequest(rejection.body_text()).into_response(),
    };
    let catalog = match catalog(&shared, "GET", &format!("/components/{id}")) {
        Ok(catalog) => catalog,
        Err(e) => return e.into_response(),
    };
    match catalog.describe(&id).await {
        Ok(component) => Json(component).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /components/{id}`: `admin` (removing code others may have
/// started from is the host's set-up, not operating it). Audited.
pub(crate) async fn remove(
    State(shared): State<Shared>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let call = RouteCall::new(REMOVE, &caller);
    let id = match id {
        Ok(Path(id)) => id,
        Err(rejection) => return HttpError::BadRequest(rejection.body_text()).into_response(),
    };
    let digest = Some(params_digest(id.as_bytes()));
    let answer = remove_checked(&shared, &caller, &id).await;
    call.record(&shared, shared.api.components().is_some(), digest, answer)
}

async fn remove_checked(shared: &Shared, caller: &Identity, id: &str) -> Result<Response, Refused> {
    let route = format!("DELETE /components/{id}");
    let catalog = catalog(shared, "DELETE", &format!("/components/{id}")).map_err(http)?;
    auth::authorize(caller, Role::Admin, &route).map_err(http)?;
    catalog.remove(id).await.map_err(store)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `Ok` when the body is declared as a component (`application/wasm`,
/// parameters allowed): a web form or a JSON body is never taken for one.
fn require_wasm(headers: &HeaderMap) -> Result<(), HttpError> {
    declared_as(headers, "application/wasm").map_err(|content_type| HttpError::WrongUpload {
        body: "an upload is the component's bytes",
        media: "application/wasm",
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    #[test]
    fn only_application_wasm_is_taken_as_a_component() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            require_wasm(&headers)
        };
        assert!(with("application/wasm").is_ok());
        assert!(with("Application/WASM; charset=binary").is_ok());
        for refused in ["application/json", "application/octet-stream", "text/plain"] {
            let err = with(refused).unwrap_err();
            assert_eq!(
                err.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{refused}"
            );
            assert!(err.to_string().contains(refused), "{err}");
        }
        assert!(require_wasm(&HeaderMap::new()).is_err());
    }

    #[test]
    fn catalog_errors_answer_their_status_and_name_the_users() {
        let in_use = CatalogError::InUse {
            id: "a".repeat(64),
            users: vec!["component.call".into(), "root/sandboxes/a".into()],
        };
        assert_eq!(in_use.status(), StatusCode::CONFLICT);
        assert!(
            in_use
                .to_string()
                .contains("component.call, root/sandboxes/a")
        );
        let bomb = CatalogError::Rejected {
            kind: "compile_limit",
            cause: "compile_limit",
            limit: Some("cpu"),
            message: "compiling used more than 1 s of CPU time".into(),
        };
        assert_eq!(bomb.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            CatalogError::InvalidId { id: "x".into() }.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            CatalogError::TooLarge {
                limit: 1,
                actual: 2
            }
            .status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
