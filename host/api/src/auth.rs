//! Bearer-token authentication of API requests.
//!
//! When the server has a token, every request needs
//! `Authorization: Bearer TOKEN`, except the routes that hold no data: the
//! dashboard's page and assets (`/`, `/assets/*`) and `/healthz`. A missing
//! or wrong token is answered 401 with `WWW-Authenticate: Bearer`, before
//! routing, so an unauthenticated client learns nothing about which routes
//! or operations exist.
//!
//! Tokens are compared through their SHA-256 digests with a
//! constant-time equality, so neither the token's content nor its length
//! leaks through response timing.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::HttpError;

/// The expected token, kept as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// `true` when `presented` is the token; constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let diff = self
            .digest
            .iter()
            .zip(presented.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// Paths anyone may fetch: they hold no data.
pub fn is_public(path: &str) -> bool {
    path == "/" || path == "/healthz" || path.starts_with("/assets/")
}

/// The middleware: lets public paths and requests with the right token
/// through; everything else gets 401.
pub async fn require_token(
    State(token): State<Option<Token>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim_start())
        });
    match presented {
        None => {
            HttpError::Unauthorized("this API needs `Authorization: Bearer TOKEN`").into_response()
        }
        Some(presented) if token.matches(presented) => next.run(request).await,
        Some(_) => HttpError::Unauthorized("wrong bearer token").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens_and_lists_public_paths() {
        let token = Token::new("s3cret");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret "));
        assert!(!token.matches(""));
        assert!(format!("{token:?}").contains("redacted"));
        assert!(is_public("/") && is_public("/assets/app.js") && is_public("/healthz"));
        assert!(!is_public("/ops/tree") && !is_public("/metrics") && !is_public("/assetsx"));
    }
}
