//! Cross-site requests against a real `warden run` without a token (the
//! loopback default): what a web page the operator visits could send.
//!
//! - a form or `text/plain` post (no CORS preflight) gets 415 and the child
//!   it names is untouched;
//! - a foreign `Origin` gets 403, `Origin: null` too;
//! - a foreign `Host` (DNS rebinding: a page whose name now resolves to
//!   127.0.0.1) gets 403 on every route, the event stream, the dashboard
//!   and `/healthz` included; so does a request without `Host`;
//! - the API's own origin, `localhost` and names listed in `[api]` pass.
//!
//! Requests are written by hand on a TCP stream, so `Host` and `Origin`
//! are exactly what a browser would send.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api_http::{Answer, parse_answer};
use crate::support::{HostProcess, config_file, demo_tree, plugin};

/// The demo tree on a free loopback port, no token, `api` appended.
fn start_host(api: &str) -> HostProcess {
    // `api` (an `[api]` table or nothing) goes in with the `[host]` keys,
    // so the demo tree's `path_roots` join that table.
    HostProcess::start_tree(
        &demo_tree(&format!("api_addr = \"127.0.0.1:0\"\n{api}")),
        &[],
    )
}

/// `METHOD path` with exactly the header lines given (plus
/// `Content-Length` and `Connection: close`), then `body`.
pub(crate) async fn send(
    authority: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for line in headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = TcpStream::connect(authority).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("an answer within 30 s")
        .unwrap();
    parse_answer(&bytes)
}

fn refused(answer: &Answer, status: u16, kind: &str) {
    assert_eq!(answer.status, status, "{answer:?} {}", answer.text());
    assert_eq!(answer.json()["error"]["kind"], kind, "{}", answer.text());
}

/// `root/counter`'s generation and restart count.
async fn counter(host: &HostProcess) -> (u64, u64) {
    let info = host
        .client(None)
        .call("child.info", json!({"path": "root/counter"}))
        .await
        .unwrap();
    (
        info["generation"].as_u64().unwrap(),
        info["restarts"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_are_refused_before_they_touch_a_child() {
    let host = start_host("");
    let at = host.authority();
    let own_host = format!("Host: {at}");
    let before = counter(&host).await;
    let kill = br#"{"path": "root/counter"}"#;
    let call = json!({"component": plugin("counter"), "function": "handle", "args": ["crash"]})
        .to_string();

    // The bodies a page may post without a preflight: 415, nothing runs.
    for (content_type, body) in [
        (Some("text/plain"), &kill[..]),
        (Some("text/plain;charset=UTF-8"), &kill[..]),
        (
            Some("application/x-www-form-urlencoded"),
            &b"path=root%2Fcounter"[..],
        ),
        (
            Some("multipart/form-data; boundary=x"),
            &b"--x\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\nroot/counter\r\n--x--\r\n"[..],
        ),
        (None, &kill[..]),
    ] {
        let mut headers = vec![own_host.clone(), "Origin: http://evil.example".to_string()];
        // Without Origin too: the media type alone is refused.
        for with_origin in [true, false] {
            if !with_origin {
                headers.pop();
            }
            let mut lines = headers.clone();
            if let Some(t) = content_type {
                lines.push(format!("Content-Type: {t}"));
            }
            let answer = send(at, "POST", "/ops/child.kill", &lines, body).await;
            let kind = if with_origin {
                "forbidden_origin"
            } else {
                "unsupported_media_type"
            };
            let status = if with_origin { 403 } else { 415 };
            refused(&answer, status, kind);
        }
        let answer = send(
            at,
            "POST",
            "/ops/component.call",
            &[own_host.clone(), "Content-Type: text/plain".to_string()],
            call.as_bytes(),
        )
        .await;
        refused(&answer, 415, "unsupported_media_type");
    }

    // A page on another site, with the type it would need a preflight
    // for: its Origin is refused. So is the opaque `null` origin.
    let json = "Content-Type: application/json".to_string();
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost:1",
        "https://127.0.0.1.evil.example",
    ] {
        let answer = send(
            at,
            "POST",
            "/ops/child.kill",
            &[own_host.clone(), json.clone(), format!("Origin: {origin}")],
            kill,
        )
        .await;
        refused(&answer, 403, "forbidden_origin");
    }
    assert_eq!(counter(&host).await, before, "no request reached the child");

    // The dashboard's own calls pass: same origin, JSON with a charset.
    let answer = send(
        at,
        "POST",
        "/ops/child.info",
        &[
            own_host.clone(),
            "Content-Type: application/json; charset=utf-8".to_string(),
            format!("Origin: http://{at}"),
        ],
        kill,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    // And the same kill, sent as JSON by a client without an Origin, works:
    // the refusals above were the guard's, not a broken operation's.
    let answer = send(at, "POST", "/ops/child.kill", &[own_host, json], kill).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json()["generation"].as_u64(),
        Some(before.0),
        "the killed incarnation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_on_every_route() {
    let host = start_host("");
    let at = host.authority();
    let port = at.rsplit(':').next().unwrap();
    let before = counter(&host).await;
    let json = "Content-Type: application/json".to_string();
    let kill = br#"{"path": "root/counter"}"#;

    // DNS rebinding: same origin for the browser, a foreign name here.
    for foreign in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        "localhost:1".to_string(),
        "127.0.0.1".to_string(),
    ] {
        let host_line = format!("Host: {foreign}");
        let answer = send(
            at,
            "POST",
            "/ops/child.kill",
            &[host_line.clone(), json.clone()],
            kill,
        )
        .await;
        refused(&answer, 403, "forbidden_host");
        assert!(
            answer.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&foreign) && m.contains("allowed_hosts")),
            "{}",
            answer.text()
        );
        for path in [
            "/events",
            "/openapi.json",
            "/metrics",
            "/healthz",
            "/",
            "/assets/app.js",
        ] {
            let answer = send(at, "GET", path, std::slice::from_ref(&host_line), b"").await;
            refused(&answer, 403, "forbidden_host");
        }
    }
    // No Host at all.
    let answer = send(
        at,
        "POST",
        "/ops/child.kill",
        std::slice::from_ref(&json),
        kill,
    )
    .await;
    refused(&answer, 403, "forbidden_host");
    assert_eq!(counter(&host).await, before, "no request reached the child");

    // The names of this machine's loopback, with the port, are the API's.
    for own in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("LocalHost.:{port}"),
    ] {
        let answer = send(at, "GET", "/healthz", &[format!("Host: {own}")], b"").await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (200, "ok"),
            "{own}"
        );
        let answer = send(
            at,
            "POST",
            "/ops/tree",
            &[format!("Host: {own}"), json.clone()],
            b"{}",
        )
        .await;
        assert_eq!(answer.status, 200, "{own}: {}", answer.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_origins_listed_in_the_api_section_may_call() {
    let host = start_host(
        "[api]\nallowed_hosts = [\"warden.test\", \"proxy.test:8443\"]\nallowed_origins = [\"https://ops.example.com\"]\n",
    );
    let at = host.authority();
    let json = "Content-Type: application/json".to_string();
    let tree = |host_line: &str, origin: Option<&str>| {
        let mut lines = vec![format!("Host: {host_line}"), json.clone()];
        if let Some(origin) = origin {
            lines.push(format!("Origin: {origin}"));
        }
        lines
    };
    for (host_line, origin) in [
        ("warden.test", None),
        ("warden.test:9000", Some("http://warden.test:9000")),
        ("proxy.test:8443", Some("https://proxy.test:8443")),
        (at, Some("https://ops.example.com")),
    ] {
        let answer = send(at, "POST", "/ops/tree", &tree(host_line, origin), b"{}").await;
        assert_eq!(
            answer.status,
            200,
            "{host_line} {origin:?}: {}",
            answer.text()
        );
    }
    for (host_line, origin, kind) in [
        ("proxy.test:8444", None, "forbidden_host"),
        ("evil.example", None, "forbidden_host"),
        (at, Some("https://other.example.com"), "forbidden_origin"),
        (
            "warden.test",
            Some("http://evil.example"),
            "forbidden_origin",
        ),
    ] {
        let answer = send(at, "POST", "/ops/tree", &tree(host_line, origin), b"{}").await;
        refused(&answer, 403, kind);
    }
}

#[test]
fn bad_api_entries_are_refused_at_load_naming_the_key() {
    for (section, key) in [
        (
            "allowed_hosts = [\"warden.test\", \"http://warden.test\"]",
            "api.allowed_hosts[1]",
        ),
        (
            "allowed_hosts = [\"warden.test:99999\"]",
            "api.allowed_hosts[0]",
        ),
        (
            "allowed_origins = [\"ops.example.com\"]",
            "api.allowed_origins[0]",
        ),
        (
            "allowed_origins = [\"https://ops.example.com/path\"]",
            "api.allowed_origins[0]",
        ),
    ] {
        let (_dir, path) = config_file(&format!(
            "[supervisor.root]\nstrategy = \"one_for_one\"\n\n[[supervisor.root.children]]\n\
             id = \"counter\"\nkind = \"component\"\npath = \"{{counter}}\"\n\n[api]\n{section}\n"
        ));
        let err = warden::config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains(key),
            "{section}: {err}"
        );
    }
    let (_dir, path) = config_file(
        "[supervisor.root]\nstrategy = \"one_for_one\"\n\n[[supervisor.root.children]]\n\
         id = \"counter\"\nkind = \"component\"\npath = \"{counter}\"\n\n[api]\nallowed_hosts = [\"Warden.Test:8080\"]\n",
    );
    let config = warden::config::load(&path).unwrap();
    assert_eq!(
        config.api.allowed_hosts,
        ["warden.test:8080"
            .parse::<warden::api::AllowedHost>()
            .unwrap()]
    );
}
