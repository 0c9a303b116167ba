//! The HTTP API of a real `warden run` process (and of an in-process
//! server): authentication, request limits and error bodies, the SSE event
//! stream and metrics seeing a real restart, the OpenAPI document
//! validated by `openapi-spec-validator`, and every route it lists
//! answering as documented.
//!
//! Error cases are sent with a raw HTTP/1.1 client ([`raw`]) so the exact
//! status, headers and body are checked; normal calls go through
//! [`ApiClient`], the client `warden ctl` uses.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warden::api::client::{ApiClient, ClientError};
use warden::api::{ApiConfig, ApiState};
use warden::events::{EventBus, SupervisorEvent};
use warden::ops::{Registry, Schema};
use warden::supervisor::{ChildId, ChildPath};

use crate::support::{
    CHANGING_EXAMPLES, HostProcess, KEEPING_EXAMPLES, demo_tree, tool_present, with_snapshot_id,
    write_tree_config,
};

const TOKEN: &str = "t0ken-for-tests";

/// The demo tree (two components, a native worker, a nested supervisor)
/// listening on `addr`, with `token` in its config when given; its
/// operation plugin is `wordcount` (the id `plugin.reload`'s example
/// names).
fn tree(addr: &str, token: Option<&str>) -> String {
    let host = format!(
        "api_addr = \"{addr}\"\n{}",
        token.map_or(String::new(), |t| format!("token = \"{t}\""))
    );
    demo_tree(&host).replace("[operations.wc]", "[operations.wordcount]")
}

/// A `warden run` process of [`tree`] on `127.0.0.1:0`.
fn start_host(token: Option<&str>) -> HostProcess {
    HostProcess::start_tree(&tree("127.0.0.1:0", token), &[])
}

/// One answer of [`raw`].
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 request (`Connection: close`; a `POST` says its body,
/// if any, is JSON); the whole answer.
pub(crate) async fn raw(
    authority: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Answer {
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if method == "POST" || body.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.map_or(0, <[u8]>::len)
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    if let Some(body) = body {
        stream.write_all(body).await.unwrap();
    }
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("an answer within 30 s")
        .unwrap();
    parse_answer(&bytes)
}

/// Only the status line and headers of `GET path` (for streams).
pub(crate) async fn head_only(authority: &str, path: &str, token: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(Instant::now() < deadline, "no headers for GET {path}");
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("headers within 10 s")
            .unwrap();
        assert!(n > 0, "connection closed before the headers of GET {path}");
        bytes.extend_from_slice(&buf[..n]);
    }
    parse_answer(&bytes)
}

pub(crate) fn parse_answer(bytes: &[u8]) -> Answer {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = std::str::from_utf8(&data[..end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

fn assert_error(answer: &Answer, status: u16, kind: &str) -> Value {
    assert_eq!(answer.status, status, "{answer:?} {}", answer.text());
    assert!(
        answer
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(body["error"]["kind"], kind, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_limits_and_error_bodies() {
    let host = start_host(Some(TOKEN));
    let at = host.authority();

    // Public: health and the dashboard's assets.
    let health = raw(at, "GET", "/healthz", None, None).await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let page = raw(at, "GET", "/", None, None).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let script = raw(at, "GET", "/assets/app.js", None, None).await;
    assert_eq!(script.status, 200);

    // Everything else needs the token, unknown routes included.
    for (method, path) in [
        ("POST", "/ops/tree"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/events"),
        ("GET", "/no/such/route"),
    ] {
        let missing = raw(at, method, path, None, None).await;
        let body = assert_error(&missing, 401, "unauthorized");
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
        assert!(!body.to_string().contains(TOKEN));
        let wrong = raw(at, method, path, Some("not-the-token"), None).await;
        assert_error(&wrong, 401, "unauthorized");
    }
    let lowercase_scheme = {
        let mut stream = TcpStream::connect(at).await.unwrap();
        let request = format!(
            "POST /ops/supervisors.list HTTP/1.1\r\nHost: {at}\r\nAuthorization: bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        parse_answer(&bytes)
    };
    assert_eq!(lowercase_scheme.status, 200, "{}", lowercase_scheme.text());

    // With the token: an empty body is `{}`.
    let tree = raw(at, "POST", "/ops/tree", Some(TOKEN), None).await;
    assert_eq!(tree.status, 200, "{}", tree.text());
    assert_eq!(tree.json()["path"], "root");

    // Unknown route: 404 naming only the method and path.
    let unknown = raw(at, "GET", "/no/such/route", Some(TOKEN), None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json(),
        json!({"error": {"kind": "not_found", "message": "no route GET /no/such/route"}})
    );
    // A known path with the wrong method.
    let get_op = raw(at, "GET", "/ops/tree", Some(TOKEN), None).await;
    assert_error(&get_op, 405, "method_not_allowed");
    // Unknown operation.
    let no_op = raw(at, "POST", "/ops/no.such", Some(TOKEN), Some(b"{}")).await;
    let body = assert_error(&no_op, 404, "unknown_operation");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no.such")
    );

    // Body over 1 MiB: 413 (and the connection still gets its answer).
    let big = vec![b' '; (1 << 20) + 1];
    let too_large = raw(at, "POST", "/ops/tree", Some(TOKEN), Some(&big)).await;
    assert_error(&too_large, 413, "payload_too_large");
    // Exactly the limit is fine (`{}` padded with whitespace).
    let mut limit = b"{}".to_vec();
    limit.resize(1 << 20, b' ');
    let at_limit = raw(at, "POST", "/ops/tree", Some(TOKEN), Some(&limit)).await;
    assert_eq!(at_limit.status, 200, "{}", at_limit.text());

    // Malformed JSON: 400 with the parser's message.
    let bad = raw(at, "POST", "/ops/tree", Some(TOKEN), Some(b"{\"a\": ")).await;
    let body = assert_error(&bad, 400, "bad_json");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("EOF while parsing"), "{message}");
    assert!(message.contains("line 1 column 6"), "{message}");

    // Params breaking the schema: 400 with every violation.
    let invalid = raw(
        at,
        "POST",
        "/ops/child.info",
        Some(TOKEN),
        Some(br#"{"path": 5, "colour": "red"}"#),
    )
    .await;
    let body = assert_error(&invalid, 400, "invalid_params");
    let mut paths: Vec<&str> = body["error"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/colour", "/path"], "{body}");

    // A plugin operation's own schema, through HTTP.
    let client = host.client(Some(TOKEN));
    let counted = client
        .call("wordcount.count", json!({"text": "a b a", "top": 1}))
        .await
        .unwrap();
    assert_eq!(counted["top"], json!([{"word": "a", "count": 2}]));
    match client
        .call("wordcount.count", json!({"text": 3}))
        .await
        .unwrap_err()
    {
        ClientError::Status { status: 400, body } => {
            assert_eq!(body["error"]["kind"], "invalid_params");
            assert_eq!(body["error"]["violations"][0]["path"], "/text");
        }
        other => panic!("expected 400, got {other}"),
    }
    // Unknown child: 404 from the operation.
    let err = client
        .call("child.info", json!({"path": "root/nobody"}))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.kind()), (Some(404), Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_block_others() {
    let host = start_host(None);
    let at = host.authority().to_string();
    // Half a request, then nothing: its connection waits alone.
    let mut slow = TcpStream::connect(&at).await.unwrap();
    slow.write_all(format!("POST /ops/tree HTTP/1.1\r\nHost: {at}\r\nContent-Le").as_bytes())
        .await
        .unwrap();
    // A client sending its body slowly as well.
    let mut dribble = TcpStream::connect(&at).await.unwrap();
    dribble
        .write_all(
            format!(
                "POST /ops/tree HTTP/1.1\r\nHost: {at}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let client = host.client(None);
    for _ in 0..20 {
        let started = Instant::now();
        let answer = client.call("supervisors.list", json!({})).await.unwrap();
        assert_eq!(answer[0]["path"], "root");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a call took {:?} beside slow clients",
            started.elapsed()
        );
    }
    // The slow clients are still connected, still waiting.
    let mut buf = [0u8; 16];
    let pending = tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await;
    assert!(pending.is_err(), "the slow client got an answer early");
    drop(dribble);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_and_metrics_see_a_restart() {
    let mut host = start_host(None);
    let client = host.client(None);
    let mut counter = client
        .events("child=root/counter&kind=child_restarted")
        .await
        .unwrap();
    let mut storage = client
        .events("child=root/storage&kind=child_restarted")
        .await
        .unwrap();
    let mut everything = client.events("").await.unwrap();

    client
        .call("child.kill", json!({"path": "root/counter"}))
        .await
        .unwrap();
    let restarted = tokio::time::timeout(Duration::from_secs(10), counter.next())
        .await
        .expect("a restart event within 10 s")
        .expect("stream open")
        .unwrap();
    assert_eq!(restarted.kind, "child_restarted");
    assert_eq!(restarted.data["event"], "child_restarted");
    assert_eq!(restarted.data["path"], "root/counter");
    assert_eq!(restarted.data["restarts"], 1);
    assert!(restarted.data["at_ms"].as_u64().unwrap() > 0);
    assert!(
        restarted.id.as_deref().unwrap().parse::<u64>().unwrap() >= 1,
        "{restarted:?}"
    );
    // The unfiltered stream saw the exit before the restart, with ids
    // growing.
    let mut kinds = Vec::new();
    let mut last_id = 0;
    while !kinds.contains(&"child_restarted".to_string()) {
        let event = tokio::time::timeout(Duration::from_secs(10), everything.next())
            .await
            .expect("events within 10 s")
            .unwrap()
            .unwrap();
        let id: u64 = event.id.as_deref().unwrap().parse().unwrap();
        assert!(id > last_id, "{id} after {last_id}");
        last_id = id;
        kinds.push(event.kind);
    }
    assert!(kinds.contains(&"child_exited".to_string()), "{kinds:?}");
    // The subtree filter kept root/counter's restart away from root/storage.
    let nothing = tokio::time::timeout(Duration::from_millis(300), storage.next()).await;
    assert!(nothing.is_err(), "root/storage got {nothing:?}");
    // ...and passes what is below it.
    client
        .call("child.kill", json!({"path": "root/storage/kv"}))
        .await
        .unwrap();
    let below = tokio::time::timeout(Duration::from_secs(10), storage.next())
        .await
        .expect("kv's restart within 10 s")
        .unwrap()
        .unwrap();
    assert_eq!(below.data["path"], "root/storage/kv");

    // Metrics count both restarts and the calls.
    let metrics = host_metrics(&host).await;
    assert!(metrics.contains("warden_restarts_total 2\n"), "{metrics}");
    let running: u64 = metric(&metrics, "warden_children{state=\"running\"}");
    assert_eq!(running, 5, "counter, echo, ticker, storage, kv:\n{metrics}");
    assert_eq!(metric(&metrics, "warden_children{state=\"restarting\"}"), 0);
    assert_eq!(
        metric(
            &metrics,
            "warden_operation_requests_total{op=\"child.kill\",status=\"200\"}"
        ),
        2
    );
    assert_eq!(
        metric(
            &metrics,
            "warden_operation_duration_seconds_count{op=\"child.kill\"}"
        ),
        2
    );
    for family in [
        "warden_reloads_total{outcome=\"ok\"}",
        "warden_limit_breaches_total{limit=\"memory\"}",
        "warden_operation_duration_seconds_bucket{op=\"child.kill\",le=\"+Inf\"}",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }

    // A clean stop ends the streams and removes api.addr.
    let status = host.terminate();
    assert!(status.success(), "{status}: {}", host.log());
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = counter.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the event stream outlived the host");
    assert!(!host.addr_file().exists());
    assert!(
        host.log()
            .contains(&format!("warden: API on {}", host.url()))
    );
}

async fn host_metrics(host: &HostProcess) -> String {
    let answer = raw(host.authority(), "GET", "/metrics", None, None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    answer.text()
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// The order the documented examples are posted in: each applies to the
/// tree the previous ones left, the destructive ones last.
fn example_order() -> Vec<&'static str> {
    let mut order = KEEPING_EXAMPLES.to_vec();
    order.extend(["component.call", "grade", "wordcount.count"]);
    // The demo tree does not enable sandboxes: their examples answer 409
    // (tests/all/sandboxes.rs runs them on a host that does).
    order.extend(["sandbox.list", "sandbox.create", "sandbox.destroy"]);
    // Nor chaos experiments: 409 (tests/all/chaos.rs runs them where on).
    order.push("chaos.run");
    order.extend(CHANGING_EXAMPLES);
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_validates_and_every_route_answers_as_documented() {
    let host = start_host(Some(TOKEN));
    let client = host.client(Some(TOKEN));
    let doc = client.get_json("/openapi.json").await.unwrap();

    // Valid OpenAPI 3.1, checked by an independent validator (when it is
    // installed: the rest of this test does not need it).
    let validator = Command::new("python3")
        .args(["-c", "from openapi_spec_validator import validate"])
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| {
            o.status.success().then_some(()).ok_or_else(|| {
                // The traceback's last line is the error itself.
                let stderr = String::from_utf8_lossy(&o.stderr);
                stderr.lines().last().unwrap_or_default().to_string()
            })
        });
    if tool_present(
        "openapi_document_validates_and_every_route_answers_as_documented",
        "python's openapi-spec-validator",
        validator,
    ) {
        let file = host.dir().join("openapi.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let out = Command::new("python3")
            .args([
                "-c",
                "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
            ])
            .arg(&file)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
            "openapi-spec-validator rejected the document:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(doc["servers"][0]["url"], host.url());
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Every operation: its example (a fixed call for plugin operations,
    // which have none), 200, a result valid against its documented schema.
    let paths = doc["paths"].as_object().unwrap();
    let mut operations: Vec<(String, Value)> = paths
        .iter()
        .filter_map(|(path, item)| Some((path.strip_prefix("/ops/")?.to_string(), item.clone())))
        .collect();
    let example_order = example_order();
    let position = |name: &str| {
        example_order
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} is documented but not in example_order()"))
    };
    operations.sort_by_key(|(name, _)| position(name));
    assert_eq!(
        operations.len(),
        example_order.len(),
        "documented: {:?}",
        operations.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let mut generation = running_generation(&client, None).await;
    // The id child.snapshot's example stored, for the snapshot.* examples.
    let mut snapshot_id = String::new();
    for (name, item) in &operations {
        let post = &item["post"];
        assert_eq!(post["operationId"], name.as_str());
        let body = &post["requestBody"]["content"]["application/json"];
        let params = match body.get("example") {
            Some(example) => with_snapshot_id(name, example.clone(), &snapshot_id),
            None if name == "wordcount.count" => json!({"text": "to be or not to be", "top": 2}),
            None => panic!("{name} documents no example"),
        };
        if name == "child.delete" {
            // Only a stopped child can be deleted; child.start's example
            // just started it again.
            client
                .call("child.terminate", json!({"path": "root/counter"}))
                .await
                .unwrap();
        }
        let answer = raw(
            host.authority(),
            "POST",
            &format!("/ops/{name}"),
            Some(TOKEN),
            Some(params.to_string().as_bytes()),
        )
        .await;
        if name.starts_with("sandbox.") {
            assert_eq!(answer.status, 409, "POST /ops/{name}: {}", answer.text());
            assert!(
                answer.text().contains("add [api.sandboxes]"),
                "{}",
                answer.text()
            );
            continue;
        }
        if name == "chaos.run" {
            assert_eq!(answer.status, 409, "POST /ops/{name}: {}", answer.text());
            assert!(
                answer.text().contains("[chaos] enabled = true"),
                "{}",
                answer.text()
            );
            continue;
        }
        assert_eq!(
            answer.status,
            200,
            "POST /ops/{name} {params}: {}",
            answer.text()
        );
        assert!(
            answer
                .header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let result = answer.json();
        if name == "child.snapshot" {
            snapshot_id = result["id"].as_str().unwrap().to_string();
        }
        let schema = &post["responses"]["200"]["content"]["application/json"]["schema"];
        let schema = Schema::compile(schema.clone())
            .unwrap_or_else(|e| panic!("{name}'s result schema does not compile: {e}"));
        let violations = schema.validate(&result);
        assert!(
            violations.is_empty(),
            "{name}'s result {result} breaks its documented schema: {violations:?}"
        );
        for status in ["400", "401", "404", "413"] {
            assert!(
                post["responses"][status].is_object(),
                "{name} does not document {status}"
            );
        }
        if matches!(name.as_str(), "child.kill" | "child.fault") {
            generation = running_generation(&client, Some(generation)).await;
        }
    }
    let gone = client
        .call("child.info", json!({"path": "root/counter"}))
        .await
        .unwrap_err();
    assert_eq!(
        gone.status(),
        Some(404),
        "child.delete's example deleted it"
    );

    // The routes that are not operations.
    let others: Vec<&String> = paths.keys().filter(|p| !p.starts_with("/ops/")).collect();
    assert_eq!(
        others,
        [
            "/components",
            "/components/{id}",
            "/events",
            "/healthz",
            "/logs/{path}",
            "/metrics",
            "/openapi.json",
            "/snapshots",
            "/snapshots/{id}",
            "/whoami"
        ],
        "documented routes"
    );
    // A component's own route needs a stored id: component_store.rs
    // answers it as documented; a child's log route, logs.rs, and a
    // snapshot's and a state's upload (POST only), snapshots.rs.
    for path in others
        .into_iter()
        .filter(|p| !p.contains('{') && paths[p.as_str()].get("get").is_some())
    {
        let get = &paths[path]["get"];
        let (status, media) = get["responses"]["200"]["content"]
            .as_object()
            .and_then(|c| c.keys().next())
            .map(|m| ("200", m.clone()))
            .unwrap_or_else(|| panic!("{path} documents no 200 content"));
        let public = get["security"] == json!([]);
        let token = (!public).then_some(TOKEN);
        let answer = if path == "/events" {
            head_only(
                host.authority(),
                "/events?child=root&kind=child_started",
                token,
            )
            .await
        } else {
            raw(host.authority(), "GET", path, token, None).await
        };
        assert_eq!(answer.status.to_string(), status, "GET {path}");
        let content_type = answer.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with(&media),
            "GET {path}: {content_type}, documented {media}"
        );
        if !public {
            let refused = head_only(host.authority(), path, None).await;
            assert_eq!(refused.status, 401, "GET {path} without a token");
            assert!(get["responses"]["401"].is_object(), "{path} documents 401");
        }
        if path == "/healthz" {
            assert_eq!(answer.text(), "ok");
        }
    }
}

/// Waits until `root/counter` runs an incarnation other than `not`.
async fn running_generation(client: &ApiClient, not: Option<u64>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(info) = client
            .call("child.info", json!({"path": "root/counter"}))
            .await
            && info["status"] == "running"
            && let Some(g) = info["generation"].as_u64()
            && Some(g) != not
        {
            // A component serves messages once its mailbox is registered.
            if client
                .call(
                    "child.send",
                    json!({"path": "root/counter", "message": "get"}),
                )
                .await
                .is_ok()
            {
                return g;
            }
        }
        assert!(Instant::now() < deadline, "root/counter never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_non_loopback_address_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_tree_config(dir.path(), &tree("0.0.0.0:0", None));
    let state = dir.path().join("state");
    let mut run = HostProcess::spawn(&config, &state, &[]);
    let status = run.wait_exit(Duration::from_secs(30));
    let log = run.log();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("0.0.0.0:0") && log.contains("token"), "{log}");
    assert!(!run.addr_file().exists());

    // WARDEN_TOKEN is enough (and is then required).
    let mut host = HostProcess::spawn(&config, &state, &[("WARDEN_TOKEN", TOKEN)]);
    let port = host.wait_ready().rsplit(':').next().unwrap().to_string();
    let local = format!("127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let refused = raw(&local, "POST", "/ops/tree", None, None).await;
        assert_eq!(refused.status, 401);
        let tree = raw(&local, "POST", "/ops/tree", Some(TOKEN), None).await;
        assert_eq!(tree.status, 200, "{}", tree.text());
    });
    assert!(host.terminate().success(), "{}", host.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_server_serves_and_shuts_down_with_open_streams() {
    let events = EventBus::default();
    let registry = Registry::new();
    let state = ApiState::new(registry, events.clone());
    let server = warden::api::serve(
        ApiConfig {
            max_body_bytes: 64,
            ..ApiConfig::new("127.0.0.1:0".parse().unwrap())
        },
        state,
    )
    .await
    .unwrap();
    let client = ApiClient::new(&server.url(), None).unwrap();
    let mut stream = client.events("kind=child_started").await.unwrap();
    let path = ChildPath::child("root".into(), ChildId::from("a"));
    events.emit(path.clone(), SupervisorEvent::ChildIgnored);
    events.emit(path, SupervisorEvent::ChildStarted { generation: 7 });
    let started = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(started.data["generation"], 7);
    assert_eq!(
        started.id.as_deref(),
        Some("2"),
        "ids count filtered events"
    );

    // The configured body limit applies.
    let too_large = raw(
        &server.local_addr().to_string(),
        "POST",
        "/ops/anything",
        None,
        Some(&[b' '; 65]),
    )
    .await;
    assert_error(&too_large, 413, "payload_too_large");

    // A non-loopback address without a token is refused before binding.
    let refused = warden::api::serve(
        ApiConfig::new("0.0.0.0:0".parse().unwrap()),
        ApiState::new(Registry::new(), events.clone()),
    )
    .await;
    assert!(matches!(
        refused,
        Err(warden::api::ApiError::TokenRequired { .. })
    ));

    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let end = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("the stream ends with the server");
    assert!(end.as_ref().is_none_or(|item| item.is_err()), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_is_told_how_many_events_it_missed() {
    let events = EventBus::new(4);
    let state = ApiState::new(Registry::new(), events.clone());
    let server = warden::api::serve(ApiConfig::new("127.0.0.1:0".parse().unwrap()), state)
        .await
        .unwrap();
    let client = ApiClient::new(&server.url(), None).unwrap();
    let mut stream = client.events("kind=child_started").await.unwrap();
    let path = ChildPath::child("root".into(), ChildId::from("a"));
    const FLOOD: u64 = 20_000;
    for generation in 1..=FLOOD {
        events.emit(path.clone(), SupervisorEvent::ChildStarted { generation });
    }
    // Every event is either delivered or counted in a `missed` notice.
    let (mut delivered, mut missed, mut notices) = (0, 0, 0);
    while delivered + missed < FLOOD {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the stream keeps up within 10 s")
            .unwrap()
            .unwrap();
        match event.kind.as_str() {
            "missed" => {
                notices += 1;
                missed += event.data["missed"].as_u64().unwrap();
            }
            "child_started" => {
                delivered += 1;
                let id: u64 = event.id.as_deref().unwrap().parse().unwrap();
                assert_eq!(
                    id,
                    event.data["generation"].as_u64().unwrap(),
                    "ids count missed events"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(delivered + missed, FLOOD);
    assert!(
        notices > 0 && missed > 0,
        "a 4-event ring kept up with {FLOOD}"
    );
    server.shutdown().await;
}
