//! The cross-site guard: which requests may reach the API at all, judged by
//! their `Host` and `Origin` headers before authentication and routing.
//!
//! Why: with no token (the loopback default), whatever makes the
//! operator's browser send a request to the API can drive the host. A web
//! page does that in two ways, and each leaves a trace the browser cannot
//! leave out:
//! - **a cross-site request** (a form post, `fetch` in `no-cors` mode) from
//!   a page on another origin carries that page's `Origin`. It is refused
//!   (403 `forbidden_origin`) unless it is the API's own origin (the
//!   request's `Host`, any scheme) or listed in `[api] allowed_origins`.
//!   `Origin: null` (sandboxed frames, `file:` pages) is refused too. A
//!   request without `Origin` (curl, `warden ctl`, a same-origin `GET`)
//!   passes this check;
//! - **DNS rebinding**: a page on `evil.example` whose name then resolves
//!   to 127.0.0.1 sends same-origin requests with `Host: evil.example:PORT`.
//!   Refused (403 `forbidden_host`) unless the host is one the API answers
//!   to (a request without `Host` is refused the same way).
//!
//! Hosts the API answers to: `localhost` and loopback IPs (`127.0.0.1`,
//! `[::1]`) and the bound IP, each with the bound port; when bound to every
//! interface (`0.0.0.0`, `::`), any IP literal with the bound port (a
//! rebinding page reaches the API through a name it controls, never
//! through an IP literal); and the names in `[api] allowed_hosts`, on any
//! port unless the entry names one (`warden.lan`, `localhost:8080` behind
//! a port mapping).
//!
//! The third guard, `Content-Type: application/json` on operations, is in
//! `routes`: a page on another origin cannot send that type without a CORS
//! preflight, which this server never grants.
//!
//! This module never looks at the token or the route: it answers the same
//! for every path, the dashboard's public files and `/healthz` included.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::HttpError;

/// Why an `allowed_hosts` or `allowed_origins` entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}`: {reason}")]
pub struct AccessError {
    /// The entry as written in the config.
    pub entry: String,
    /// What is wrong with it, and what form is expected.
    pub reason: &'static str,
}

/// The host part of an authority: an IP literal or a (lowercase) name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostName {
    Ip(IpAddr),
    Name(String),
}

/// `host[:port]` as a `Host` header or an origin writes it; `None` when
/// it is not one (a path, user info, a bad port, an empty name).
fn parse_authority(text: &str) -> Option<(HostName, Option<u16>)> {
    let text = text.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip = Ipv6Addr::from_str(inside).ok()?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':')?)?),
        };
        return Some((HostName::Ip(IpAddr::V6(ip)), port));
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(port)?)),
            None => (text, None),
        }
    };
    // A trailing dot names the same host in DNS (`localhost.`).
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let name_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !name_ok {
        return None;
    }
    Some(match IpAddr::from_str(&host) {
        Ok(ip) => (HostName::Ip(ip), port),
        Err(_) => (HostName::Name(host), port),
    })
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One `[api] allowed_hosts` entry: a name or IP, with an optional port
/// (`warden.lan`, `localhost:8080`, `[::1]:9000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: HostName,
    /// `None`: any port.
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = AccessError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let error = |reason| AccessError {
            entry: entry.to_string(),
            reason,
        };
        if entry.contains("://") {
            return Err(error(
                "give a host name (`warden.lan`, `warden.lan:8080`), not a URL",
            ));
        }
        let (host, port) = parse_authority(entry).ok_or_else(|| {
            error("expected a host name or IP, optionally with `:PORT` (`warden.lan:8080`)")
        })?;
        Ok(Self { host, port })
    }
}

/// One `[api] allowed_origins` entry: `http://` or `https://`, a host and
/// an optional port, nothing after it (`https://ops.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    scheme: String,
    host: HostName,
    port: Option<u16>,
}

impl AllowedOrigin {
    /// `scheme://authority`, as browsers send it in `Origin`.
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let (host, port) = parse_authority(rest.strip_suffix('/').unwrap_or(rest))?;
        // A browser leaves the scheme's default port out; so does the entry.
        let port = port.filter(|p| *p != default_port(&scheme));
        Some(Self { scheme, host, port })
    }
}

impl FromStr for AllowedOrigin {
    type Err = AccessError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        Self::parse(entry).ok_or_else(|| AccessError {
            entry: entry.to_string(),
            reason: "expected an origin: `http://` or `https://`, a host, an optional `:PORT` and nothing after (`https://ops.example.com`)",
        })
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// What the guard lets through, for one bound address.
#[derive(Debug, Clone)]
pub(crate) struct SiteGuard {
    bound: SocketAddr,
    hosts: Vec<AllowedHost>,
    origins: Vec<AllowedOrigin>,
}

impl SiteGuard {
    /// The guard of a server bound to `bound` (its real port).
    pub(crate) fn new(
        bound: SocketAddr,
        hosts: Vec<AllowedHost>,
        origins: Vec<AllowedOrigin>,
    ) -> Self {
        Self {
            bound,
            hosts,
            origins,
        }
    }

    /// `Ok` when a request with these headers may go on.
    fn check(&self, headers: &HeaderMap) -> Result<(), HttpError> {
        // A Host that is not visible ASCII is no authority at all; its
        // lossy text is made only for the error, off the common path.
        let host_value = headers.get(header::HOST);
        let authority = host_value
            .and_then(|v| v.to_str().ok())
            .and_then(parse_authority);
        let Some((host, port)) = authority.filter(|(h, p)| self.answers_to(h, *p)) else {
            return Err(HttpError::ForbiddenHost {
                host: host_value.map(|v| shorten(&String::from_utf8_lossy(v.as_bytes()))),
            });
        };
        for origin in headers.get_all(header::ORIGIN) {
            let text = String::from_utf8_lossy(origin.as_bytes());
            let allowed = AllowedOrigin::parse(&text).is_some_and(|o| {
                // The API's own origin (same host and port, any scheme: a
                // TLS proxy in front serves it as https) or a listed one.
                let own_port = port.filter(|p| *p != default_port(&o.scheme));
                (o.host == host && o.port == own_port) || self.origins.contains(&o)
            });
            if !allowed {
                return Err(HttpError::ForbiddenOrigin {
                    origin: shorten(&text),
                });
            }
        }
        Ok(())
    }

    /// Whether the API answers to `host:port` (`port` as the request wrote
    /// it; a missing one is HTTP's 80).
    fn answers_to(&self, host: &HostName, port: Option<u16>) -> bool {
        let own_port = port.unwrap_or(80) == self.bound.port();
        let builtin = match host {
            HostName::Name(name) => name == "localhost",
            HostName::Ip(ip) => {
                ip.is_loopback() || *ip == self.bound.ip() || self.bound.ip().is_unspecified()
            }
        };
        (own_port && builtin)
            || self.hosts.iter().any(|allowed| {
                allowed.host == *host
                    && allowed
                        .port
                        .is_none_or(|wanted| wanted == port.unwrap_or(80))
            })
    }
}

/// A header value as echoed back in an error: at most 100 characters.
fn shorten(text: &str) -> String {
    const MAX: usize = 100;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// The middleware: 403 for a foreign `Host` or `Origin`, before anything
/// else looks at the request.
pub(crate) async fn require_own_site(
    State(guard): State<Arc<SiteGuard>>,
    request: Request,
    next: Next,
) -> Response {
    match guard.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            tracing::debug!(error = %refused, path = request.uri().path(), "cross-site request refused");
            refused.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn guard(bound: &str, hosts: &[&str], origins: &[&str]) -> SiteGuard {
        SiteGuard::new(
            bound.parse().unwrap(),
            hosts.iter().map(|h| h.parse().unwrap()).collect(),
            origins.iter().map(|o| o.parse().unwrap()).collect(),
        )
    }

    fn verdict(guard: &SiteGuard, host: Option<&str>, origin: Option<&str>) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        guard.check(&headers).map_err(|e| e.kind().to_string())
    }

    #[test]
    fn loopback_names_with_the_bound_port_are_the_only_default_hosts() {
        let g = guard("127.0.0.1:7878", &[], &[]);
        for ok in [
            "127.0.0.1:7878",
            "localhost:7878",
            "LOCALHOST:7878",
            "localhost.:7878",
            "[::1]:7878",
        ] {
            assert_eq!(verdict(&g, Some(ok), None), Ok(()), "{ok}");
        }
        for foreign in [
            "evil.example:7878",
            "localhost:7879",
            "localhost",
            "127.0.0.1",
            "10.0.0.1:7878",
            "localhost.evil.example:7878",
            "user@localhost:7878",
            "localhost:7878/x",
            "[::1:7878",
            "",
        ] {
            assert_eq!(
                verdict(&g, Some(foreign), None),
                Err("forbidden_host".to_string()),
                "{foreign}"
            );
        }
        assert_eq!(verdict(&g, None, None), Err("forbidden_host".to_string()));
    }

    #[test]
    fn configured_hosts_and_unspecified_binds() {
        let g = guard("0.0.0.0:7878", &["warden.lan", "proxy.lan:8443"], &[]);
        assert_eq!(verdict(&g, Some("192.168.1.5:7878"), None), Ok(()));
        assert_eq!(verdict(&g, Some("warden.lan"), None), Ok(()));
        assert_eq!(verdict(&g, Some("WARDEN.LAN:9999"), None), Ok(()));
        assert_eq!(verdict(&g, Some("proxy.lan:8443"), None), Ok(()));
        assert!(verdict(&g, Some("proxy.lan:8444"), None).is_err());
        assert!(verdict(&g, Some("192.168.1.5:80"), None).is_err());
        assert!(verdict(&g, Some("evil.example:7878"), None).is_err());
        let specific = guard("192.168.1.5:80", &[], &[]);
        assert_eq!(verdict(&specific, Some("192.168.1.5"), None), Ok(()));
        assert!(verdict(&specific, Some("192.168.1.6"), None).is_err());
    }

    #[test]
    fn an_origin_must_be_the_requests_own_host_or_listed() {
        let g = guard("127.0.0.1:7878", &[], &["https://ops.example.com"]);
        let at = Some("127.0.0.1:7878");
        assert_eq!(verdict(&g, at, Some("http://127.0.0.1:7878")), Ok(()));
        assert_eq!(verdict(&g, at, Some("https://ops.example.com")), Ok(()));
        assert_eq!(verdict(&g, at, Some("https://ops.example.com:443")), Ok(()));
        for foreign in [
            "http://evil.example",
            "http://localhost:7878",
            "http://127.0.0.1:7879",
            "http://ops.example.com",
            "null",
            "file://",
        ] {
            assert_eq!(
                verdict(&g, at, Some(foreign)),
                Err("forbidden_origin".to_string()),
                "{foreign}"
            );
        }
    }

    #[test]
    fn entries_are_checked_when_parsed() {
        assert!("warden.lan".parse::<AllowedHost>().is_ok());
        assert!("[::1]:9000".parse::<AllowedHost>().is_ok());
        for bad in [
            "http://warden.lan",
            "warden.lan:x",
            "a/b",
            "",
            "warden.lan:99999",
        ] {
            let err = bad.parse::<AllowedHost>().unwrap_err();
            assert_eq!(err.entry, bad);
        }
        assert!("https://ops.example.com/".parse::<AllowedOrigin>().is_ok());
        for bad in ["ops.example.com", "ftp://x", "https://x/path", "https://"] {
            assert!(bad.parse::<AllowedOrigin>().is_err(), "{bad}");
        }
        assert_eq!(shorten(&"x".repeat(150)).chars().count(), 101);
    }
}
