//! Errors of the HTTP layer: why the server could not start ([`ApiError`]),
//! and the JSON error bodies of failures that happen before an operation
//! runs ([`HttpError`]).
//!
//! Every error answer has the body `{"error": {"kind", "message", …}}`: an
//! operation's own errors use [`OpError::body`](warden_ops::OpError::body)
//! unchanged, and the HTTP layer adds the kinds only it knows
//! ([`HTTP_KINDS`]). Bad input is echoed back (the JSON parse error, the
//! route asked for); nothing about the host's configuration is.

use std::net::SocketAddr;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use warden_ops::{OpError, Role};

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The address is not loopback and no token is set: anyone who can
    /// reach the address could drive the host.
    #[error(
        "refusing to serve the API on {addr} without a token: the address is not loopback; set [host] token or WARDEN_TOKEN, or add [[api.tokens]], or bind 127.0.0.1"
    )]
    TokenRequired {
        /// The configured address.
        addr: SocketAddr,
    },

    /// Two tokens share a name or a secret, or one has an empty name or
    /// secret.
    #[error("API token `{name}`: {reason}")]
    Tokens {
        /// The token's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Binding the listening socket failed (address in use, no permission…).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
}

/// The error kinds the HTTP layer answers with, besides an operation's own
/// (for the OpenAPI document's error schema).
pub const HTTP_KINDS: &[&str] = &[
    "unauthorized",
    "bad_json",
    "payload_too_large",
    "not_found",
    "method_not_allowed",
    "bad_request",
    "forbidden_host",
    "forbidden_origin",
    "forbidden_role",
    "unsupported_media_type",
];

/// A failure of the HTTP layer itself.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No or a wrong bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    BadJson(String),
    /// The body is over the size limit.
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// No route matches.
    #[error("no route {method} {path}")]
    NoRoute { method: String, path: String },
    /// The route exists for other methods.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// The request could not be read, or its query is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The `Host` header names a host this API does not answer to (a DNS
    /// rebinding guard), or there is none.
    #[error("{}", match host {
        Some(host) => format!("this API does not answer to the host `{host}`: use 127.0.0.1 or localhost with its port, or list the name in [api] allowed_hosts"),
        None => "the request has no Host header".to_string(),
    })]
    ForbiddenHost { host: Option<String> },
    /// The `Origin` header names a web page of another site.
    #[error(
        "requests from the web origin `{origin}` are refused: only the API's own origin and those in [api] allowed_origins may call it"
    )]
    ForbiddenOrigin { origin: String },
    /// The caller's token has a role below what the operation or route
    /// needs.
    #[error("`{target}` needs the `{needed}` role; the token `{token}` has the `{role}` role")]
    ForbiddenRole {
        target: String,
        needed: Role,
        token: String,
        role: Role,
    },
    /// An operation's body is not declared as JSON.
    #[error("{}", match content_type {
        Some(found) => format!("operations take a JSON body: send `Content-Type: application/json`, not `{found}`"),
        None => "operations take a JSON body: send `Content-Type: application/json`".to_string(),
    })]
    UnsupportedMediaType { content_type: Option<String> },
    /// An upload's body is not declared as what the route takes (a
    /// component as `application/wasm`, a state as
    /// `application/octet-stream`).
    #[error("{}", match content_type {
        Some(found) => format!("{body}: send `Content-Type: {media}`, not `{found}`"),
        None => format!("{body}: send `Content-Type: {media}`"),
    })]
    WrongUpload {
        /// What the route's body is, as a sentence's start.
        body: &'static str,
        /// The media type it takes.
        media: &'static str,
        content_type: Option<String>,
    },
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadJson(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::ForbiddenHost { .. }
            | Self::ForbiddenOrigin { .. }
            | Self::ForbiddenRole { .. } => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType { .. } | Self::WrongUpload { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::BadJson(_) => "bad_json",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::NoRoute { .. } => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::BadRequest(_) => "bad_request",
            Self::ForbiddenHost { .. } => "forbidden_host",
            Self::ForbiddenOrigin { .. } => "forbidden_origin",
            Self::ForbiddenRole { .. } => "forbidden_role",
            Self::UnsupportedMediaType { .. } | Self::WrongUpload { .. } => {
                "unsupported_media_type"
            }
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "error": {"kind": self.kind(), "message": self.to_string()}
        });
        if let Self::ForbiddenRole {
            target,
            needed,
            token,
            role,
        } = &self
        {
            let error = &mut body["error"];
            error["op"] = target.as_str().into();
            error["needed_role"] = needed.as_str().into();
            error["token"] = token.as_str().into();
            error["role"] = role.as_str().into();
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let Self::Unauthorized(_) = self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// An operation's error as an HTTP answer: its status and its body.
pub fn op_error_response(error: &OpError) -> Response {
    let status =
        StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(error.body())).into_response()
}
