//! Children's logs over a real `warden run`: a python worker's stdout and
//! stderr and a component's `host::log` lines read with `logs.tail`,
//! `GET /logs/{path}` and `warden ctl logs`; followed (raw SSE and
//! `ctl logs -f`) while the worker prints a line after the follow began;
//! 404 for no child, 409 for a supervisor, a `read` token enough, none
//! refused.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api_http::raw;
use crate::support::{HostProcess, ctl_cmd, write_tree_config};

const ADMIN: &str = "b0ss-token";
const READ: &str = "r3ad-token";

/// Prints five numbered lines and one on stderr, then waits for `go` in
/// its directory to print one more.
const WORKER: &str = r#"
import os, sys, time
for i in range(5):
    print(f"line {i}", flush=True)
print("something on stderr", file=sys.stderr, flush=True)
print("ready", flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
print("after the follow started", flush=True)
while True:
    time.sleep(1)
"#;

const TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[host.policy]
allow_commands = ["python3"]
allow_cwds = ["data"]

[[api.tokens]]
name = "boss"
role = "admin"
token = "b0ss-token"

[[api.tokens]]
name = "viewer"
role = "read"
token = "r3ad-token"

[supervisor.root]
strategy = "one_for_one"

[[supervisor.root.children]]
id = "worker"
kind = "process"
command = "python3"
args = ["worker.py"]
cwd = "data"
readiness = { line = "ready", timeout_ms = 20000 }

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"

[[supervisor.root.children]]
id = "inner"
kind = "supervisor"
supervisor = "inner"

[supervisor.inner]
strategy = "one_for_one"

[[supervisor.inner.children]]
id = "counter2"
kind = "component"
path = "counter.wasm"
"#;

/// The host of [`TREE`], and the directory that holds its files.
fn start() -> (tempfile::TempDir, HostProcess) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_tree_config(dir.path(), TREE);
    std::fs::write(dir.path().join("data/worker.py"), WORKER).expect("write worker.py");
    let host = HostProcess::start(&config, &dir.path().join("state"), &[]);
    (dir, host)
}

fn texts(tail: &Value) -> Vec<String> {
    tail["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines in {tail}"))
        .iter()
        .map(|l| l["line"].as_str().unwrap().to_string())
        .collect()
}

/// Reads the SSE stream on `stream` until its bytes hold `needle`.
async fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no `{needle}` in the stream:\n{}",
            String::from_utf8_lossy(seen)
        );
        let n = tokio::time::timeout(left, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no `{needle}` in the stream:\n{}",
                    String::from_utf8_lossy(seen)
                )
            })
            .unwrap();
        assert!(n > 0, "the stream closed before `{needle}`");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Waits for a line holding `needle` from `lines`.
fn wait_line(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|l| l.contains(needle)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("ctl logs -f printed no `{needle}`: {seen:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_and_component_logs_are_read_tailed_and_followed() {
    let (dir, host) = start();
    let viewer = host.client(Some(READ));

    // The worker's lines, oldest first, with their streams; a read token
    // is enough. The two pipes are read apart, so how stdout's and
    // stderr's lines interleave depends on when each read happens: wait
    // for all seven, and check the order within each stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    let tail = loop {
        let tail = viewer
            .call("logs.tail", json!({"path": "root/worker"}))
            .await
            .unwrap();
        if texts(&tail).len() >= 7 || Instant::now() > deadline {
            break tail;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(tail["path"], "root/worker");
    let lines = tail["lines"].as_array().unwrap();
    let of_stream = |stream: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l["stream"] == stream)
            .map(|l| l["line"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        of_stream("stdout"),
        ["line 0", "line 1", "line 2", "line 3", "line 4", "ready"],
        "{tail}"
    );
    assert_eq!(of_stream("stderr"), ["something on stderr"], "{tail}");
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["at_ms"].as_i64() <= w[1]["at_ms"].as_i64())
    );
    let last_two = viewer
        .call("logs.tail", json!({"path": "root/worker", "lines": 2}))
        .await
        .unwrap();
    assert_eq!(texts(&last_two), texts(&tail)[5..]);

    // The same over GET /logs, and through ctl.
    let answer = raw(
        host.authority(),
        "GET",
        "/logs/root/worker?lines=3",
        Some(READ),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(texts(&answer.json()), texts(&tail)[4..]);
    let printed = host.ctl_ok(&["--token", READ, "logs", "root/worker", "-n", "6"]);
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed.len(), 6, "{printed:?}");
    for (printed, line) in printed.iter().zip(&lines[1..]) {
        let want = format!(
            " {} {}",
            line["stream"].as_str().unwrap(),
            line["line"].as_str().unwrap()
        );
        assert!(printed.ends_with(&want), "{printed:?} is not `…{want}`");
    }
    assert!(
        printed[0].starts_with("20"),
        "a UTC time first: {printed:?}"
    );
    let as_json = host.ctl_ok(&["--token", READ, "--json", "logs", "root/worker", "-n", "1"]);
    let as_json: Value = serde_json::from_str(&as_json).unwrap();
    let last = texts(&tail).last().cloned().unwrap();
    assert_eq!(texts(&as_json), std::slice::from_ref(&last));

    // Following: a raw SSE reader and `ctl logs -f` both see the line the
    // worker prints once they follow.
    let mut stream = TcpStream::connect(host.authority()).await.unwrap();
    let head = format!(
        "GET /logs/root/worker?follow=1&lines=1 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {READ}\r\n\r\n",
        host.authority()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, &format!("\"line\":\"{last}\"")).await;
    let text = String::from_utf8_lossy(&seen).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(text.contains("event: line"), "{text}");
    assert!(!text.contains("line 4"), "only the last line first: {text}");

    let mut follower = ctl_cmd(
        host.url(),
        &["--token", READ, "logs", "root/worker", "-f", "-n", "1"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start ctl logs -f");
    let out = follower.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    wait_line(&rx, &format!(" {last}"), &mut printed);

    std::fs::write(dir.path().join("data/go"), "").unwrap();
    read_until(&mut stream, &mut seen, "after the follow started").await;
    wait_line(&rx, " stdout after the follow started", &mut printed);
    assert!(
        !printed.iter().any(|l| l.contains("line 4")),
        "-n 1 printed only the last line first: {printed:?}"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();

    // A component's host::log lines, with their level.
    let admin = host.client(Some(ADMIN));
    for word in ["first", "second"] {
        let reply = admin
            .call(
                "child.send",
                json!({"path": "root/counter", "message": format!("log {word} from the guest")}),
            )
            .await
            .unwrap();
        assert_eq!(reply["reply"], "logged", "{reply}");
    }
    let tail = viewer
        .call("logs.tail", json!({"path": "root/counter"}))
        .await
        .unwrap();
    assert_eq!(
        texts(&tail),
        ["first from the guest", "second from the guest"],
        "{tail}"
    );
    assert_eq!(tail["lines"][0]["level"], "info");
    assert!(tail["lines"][0].get("stream").is_none(), "{tail}");
    let nested = viewer
        .call("logs.tail", json!({"path": "root/inner/counter2"}))
        .await
        .unwrap();
    assert_eq!(texts(&nested), Vec::<String>::new());

    // No such child: 404; a supervisor keeps no log: 409; no token: 401.
    let missing = viewer
        .call("logs.tail", json!({"path": "root/nope"}))
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");
    let answer = raw(host.authority(), "GET", "/logs/root/nope", Some(READ), None).await;
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert_eq!(answer.json()["error"]["kind"], "not_found");
    for path in ["root/inner", "root"] {
        let refused = viewer
            .call("logs.tail", json!({ "path": path }))
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(409), "{path}: {refused}");
        let answer = raw(
            host.authority(),
            "GET",
            &format!("/logs/{path}"),
            Some(READ),
            None,
        )
        .await;
        assert_eq!(answer.status, 409, "{path}: {}", answer.text());
        assert!(answer.text().contains("keeps no log"), "{}", answer.text());
    }
    let anonymous = raw(host.authority(), "GET", "/logs/root/worker", None, None).await;
    assert_eq!(anonymous.status, 401);
    let too_many = raw(
        host.authority(),
        "GET",
        "/logs/root/worker?lines=10001",
        Some(READ),
        None,
    )
    .await;
    assert_eq!(too_many.status, 400, "{}", too_many.text());
    let out = host.ctl(&["--token", READ, "logs", "root/nope"]);
    assert_eq!(out.status.code(), Some(2));
}
