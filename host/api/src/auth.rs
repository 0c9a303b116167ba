//! Who is calling, and whether they may: bearer tokens with roles.
//!
//! The server has a keyring of named tokens, each with a [`Role`]. When it
//! has any, every request needs `Authorization: Bearer TOKEN`, except the
//! routes that hold no data: the dashboard's page and assets (`/`,
//! `/assets/*`) and `/healthz`. A missing or unknown token is answered 401
//! with `WWW-Authenticate: Bearer`, before routing, so an unauthenticated
//! client learns nothing about which routes or operations exist. A known
//! token's [`Identity`] (its name and role) is put in the request's
//! extensions for the handlers; with no tokens at all (the loopback
//! default) every caller is [`Identity::anonymous`], an `admin`.
//!
//! Tokens are compared through their SHA-256 digests with a constant-time
//! equality, against every token of the keyring without stopping at a
//! match, so neither a token's content, its length nor its place in the
//! keyring leaks through response timing.
//!
//! [`authorize`] is the one check of a caller's role against what a route
//! or an operation needs (403 `forbidden_role`); handlers call it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use warden_ops::Role;

use crate::error::{ApiError, HttpError};

/// One token the API accepts: its name (what the audit log records), its
/// role and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Unique among the server's tokens.
    pub name: String,
    /// What the token may call.
    pub role: Role,
    secret: String,
}

impl ApiToken {
    /// A token named `name` with `role`, presented as `secret`.
    pub fn new(name: impl Into<String>, role: Role, secret: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            role,
            secret: secret.into(),
        }
    }

    /// The single token of `[host] token` / `WARDEN_TOKEN`: an `admin`
    /// named `admin`.
    pub fn admin(secret: impl Into<String>) -> Self {
        Self::new(ADMIN_TOKEN_NAME, Role::Admin, secret)
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The name of the token `[host] token` / `WARDEN_TOKEN` sets.
pub const ADMIN_TOKEN_NAME: &str = "admin";

/// Who a request comes from: its token's name and role (`GET /whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The token's name; `anonymous` when the server has no tokens.
    pub name: String,
    /// What it may call.
    pub role: Role,
}

impl Identity {
    /// The caller of a server without tokens (loopback only): an `admin`
    /// named `anonymous`, as before tokens had roles.
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".to_string(),
            role: Role::Admin,
        }
    }
}

/// The tokens of one server, kept as digests.
pub struct Keyring {
    entries: Vec<([u8; 32], Identity)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(_, who)| &who.name))
            .finish()
    }
}

impl Keyring {
    /// The keyring of `tokens`; names and secrets must be unique and not
    /// empty.
    pub fn new(tokens: &[ApiToken]) -> Result<Self, ApiError> {
        let mut entries: Vec<([u8; 32], Identity)> = Vec::with_capacity(tokens.len());
        for token in tokens {
            let refuse = |reason: String| ApiError::Tokens {
                name: token.name.clone(),
                reason,
            };
            if token.name.is_empty() {
                return Err(refuse("the name is empty".into()));
            }
            if token.secret.is_empty() {
                return Err(refuse("the secret is empty".into()));
            }
            let digest: [u8; 32] = Sha256::digest(token.secret.as_bytes()).into();
            if let Some((_, first)) = entries.iter().find(|(_, who)| who.name == token.name) {
                return Err(refuse(format!("a second token is named `{}`", first.name)));
            }
            if let Some((_, first)) = entries.iter().find(|(d, _)| *d == digest) {
                return Err(refuse(format!(
                    "its secret is the secret of token `{}`",
                    first.name
                )));
            }
            entries.push((
                digest,
                Identity {
                    name: token.name.clone(),
                    role: token.role,
                },
            ));
        }
        Ok(Self { entries })
    }

    /// No tokens: nobody is asked for one.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whose token `presented` is, if anyone's. Compares against every
    /// token, each in constant time.
    pub fn identify(&self, presented: &str) -> Option<Identity> {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (digest, who) in &self.entries {
            let diff = digest
                .iter()
                .zip(presented.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(diff) == 0 {
                found = Some(who);
            }
        }
        found.cloned()
    }
}

/// Paths anyone may fetch: they hold no data.
pub fn is_public(path: &str) -> bool {
    path == "/" || path == "/healthz" || path.starts_with("/assets/")
}

/// The middleware: public paths pass as they are; every other request
/// needs a known token (401 otherwise) and carries its [`Identity`] on.
pub async fn require_token(
    State(keyring): State<Arc<Keyring>>,
    mut request: Request,
    next: Next,
) -> Response {
    if keyring.is_empty() {
        request.extensions_mut().insert(Identity::anonymous());
        return next.run(request).await;
    }
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
    let Some(presented) = presented else {
        return HttpError::Unauthorized("this API needs `Authorization: Bearer TOKEN`")
            .into_response();
    };
    match keyring.identify(presented) {
        Some(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        None => HttpError::Unauthorized("wrong bearer token").into_response(),
    }
}

/// `Ok` when `caller` may use `target` (an operation's name, or a route
/// such as `GET /events`), which needs `needed`; 403 `forbidden_role`
/// naming all three otherwise.
pub(crate) fn authorize(caller: &Identity, needed: Role, target: &str) -> Result<(), HttpError> {
    if caller.role.allows(needed) {
        Ok(())
    } else {
        Err(HttpError::ForbiddenRole {
            target: target.to_string(),
            needed,
            token: caller.name.clone(),
            role: caller.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(&[
            ApiToken::new("viewer", Role::Read, "r3ad"),
            ApiToken::new("ops", Role::Operate, "0perate"),
            ApiToken::admin("s3cret"),
        ])
        .unwrap()
    }

    #[test]
    fn identifies_tokens_and_lists_public_paths() {
        let keys = keyring();
        let who = keys.identify("s3cret").unwrap();
        assert_eq!((who.name.as_str(), who.role), ("admin", Role::Admin));
        let who = keys.identify("r3ad").unwrap();
        assert_eq!((who.name.as_str(), who.role), ("viewer", Role::Read));
        assert_eq!(keys.identify("0perate").unwrap().role, Role::Operate);
        for wrong in ["s3cre", "s3cret ", "", "viewer"] {
            assert_eq!(keys.identify(wrong), None, "{wrong:?}");
        }
        let shown = format!("{keys:?} {:?}", ApiToken::admin("s3cret"));
        assert!(
            !shown.contains("s3cret") && shown.contains("redacted"),
            "{shown}"
        );
        assert!(is_public("/") && is_public("/assets/app.js") && is_public("/healthz"));
        assert!(!is_public("/ops/tree") && !is_public("/metrics") && !is_public("/assetsx"));
    }

    #[test]
    fn names_and_secrets_are_unique() {
        let err = Keyring::new(&[
            ApiToken::new("a", Role::Read, "x"),
            ApiToken::new("a", Role::Admin, "y"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("named `a`"), "{err}");
        let err = Keyring::new(&[
            ApiToken::new("a", Role::Read, "x"),
            ApiToken::new("b", Role::Admin, "x"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
        assert!(err.to_string().contains("secret of token `a`"), "{err}");
        assert!(Keyring::new(&[ApiToken::new("a", Role::Read, "")]).is_err());
        assert!(Keyring::new(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_role_below_the_needed_one_is_forbidden_naming_both() {
        let viewer = Identity {
            name: "viewer".into(),
            role: Role::Read,
        };
        assert!(authorize(&viewer, Role::Read, "tree").is_ok());
        let err = authorize(&viewer, Role::Operate, "child.kill").unwrap_err();
        assert_eq!((err.status().as_u16(), err.kind()), (403, "forbidden_role"));
        let message = err.to_string();
        for part in ["viewer", "`read`", "child.kill", "`operate`"] {
            assert!(message.contains(part), "{part}: {message}");
        }
        assert!(authorize(&Identity::anonymous(), Role::Admin, "child.delete").is_ok());
    }
}
