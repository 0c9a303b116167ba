//! Message traces over a real `warden run`: `trace.start` on a counter
//! records the API's calls and casts and a sibling's `send` with sizes,
//! previews, latency and outcome (reply, error, trap); a trace stops at
//! `max_messages` (exactly that many kept) and at `duration_ms`, and
//! `trace.get` still answers after it ended; unknown paths and ids are
//! 404; each record is a `traced` event on `GET /events`; `ctl trace`
//! prints the records and ends with the trace.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{HostProcess, ctl_cmd, write_tree_config};

const ADMIN: &str = "b0ss-token";
const READ: &str = "r3ad-token";

const TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

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
id = "counter"
kind = "component"
path = "counter.wasm"
send_to = ["peer"]

[[supervisor.root.children]]
id = "peer"
kind = "component"
path = "counter.wasm"
"#;

fn start() -> (tempfile::TempDir, HostProcess) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_tree_config(dir.path(), TREE);
    let host = HostProcess::start(&config, &dir.path().join("state"), &[]);
    (dir, host)
}

async fn send(host: &HostProcess, path: &str, message: &str) -> Result<Value, String> {
    host.client(Some(ADMIN))
        .call("child.send", json!({"path": path, "message": message}))
        .await
        .map_err(|e| e.to_string())
}

async fn get(host: &HostProcess, id: &str) -> Value {
    host.client(Some(ADMIN))
        .call("trace.get", json!({ "id": id }))
        .await
        .unwrap()
}

/// `trace.get` once the trace has `n` records or has ended.
async fn get_when(host: &HostProcess, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let trace = get(host, id).await;
        if done(&trace) {
            return trace;
        }
        assert!(Instant::now() < deadline, "trace never got there: {trace}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_records_calls_casts_sends_and_failures_and_streams_them() {
    let (_dir, host) = start();
    let admin = host.client(Some(ADMIN));

    // Records reach GET /events as they are made: follow it first.
    let mut events = TcpStream::connect(host.authority()).await.unwrap();
    let head = format!(
        "GET /events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {READ}\r\n\r\n",
        host.authority()
    );
    events.write_all(head.as_bytes()).await.unwrap();

    // Before a trace, nothing is recorded.
    send(&host, "root/peer", "inc").await.unwrap();
    let id = admin
        .call(
            "trace.start",
            json!({"path": "root/peer", "duration_ms": 60000, "max_messages": 100}),
        )
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    assert_eq!(
        send(&host, "root/peer", "add 5").await.unwrap()["reply"],
        "6"
    );
    admin
        .call(
            "child.send",
            json!({"path": "root/peer", "message": "inc", "reply": false}),
        )
        .await
        .unwrap();
    let long = format!("add {}", "0".repeat(100));
    send(&host, "root/peer", &long).await.unwrap();
    assert_eq!(
        send(&host, "root/counter", "send peer get").await.unwrap()["reply"],
        "sent"
    );
    let refused = send(&host, "root/peer", "nonsense").await.unwrap_err();
    assert!(refused.contains("unknown command"), "{refused}");
    // Not traced: the trace is of root/peer only.
    send(&host, "root/counter", "inc").await.unwrap();
    let trace = get_when(&host, &id, |t| t["recorded"] == 5).await;
    assert_eq!(trace["state"], "running", "{trace}");
    let records = trace["records"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["message"]["preview"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["reply"]["preview"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary[..2],
        [
            ("call", "add 5", "reply", "6"),
            ("cast", "inc", "reply", "7")
        ],
        "{trace}"
    );
    assert_eq!(summary[3], ("send", "get", "reply", "7"), "{trace}");
    assert_eq!(records[3]["from"], "root/counter", "{trace}");
    assert_eq!((summary[4].0, summary[4].2), ("call", "error"), "{trace}");
    assert!(summary[4].3.starts_with("unknown command"), "{trace}");
    // Sizes are whole, previews cut at 64 bytes.
    let big = &records[2]["message"];
    assert_eq!(big["size"], 104, "{big}");
    assert_eq!(big["truncated"], true);
    assert_eq!(big["preview"].as_str().unwrap().len(), 64);
    assert_eq!(records[0]["message"]["size"], 5);
    assert_eq!(records[0]["reply"]["size"], 1);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i + 1, "{r}");
        assert_eq!(r["path"], "root/peer");
        assert!(r["latency_us"].as_u64().unwrap() > 0, "{r}");
        assert!(r["at_ms"].as_u64().unwrap() >= trace["started_at_ms"].as_u64().unwrap());
    }

    // A trap is recorded too (the child restarts; the trace goes on with
    // the next incarnation).
    assert!(send(&host, "root/peer", "crash").await.is_err());
    let trace = get_when(&host, &id, |t| t["recorded"] == 6).await;
    assert_eq!(trace["records"][5]["outcome"], "trap", "{trace}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while send(&host, "root/peer", "get").await.is_err() {
        assert!(Instant::now() < deadline, "peer did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let trace = get_when(&host, &id, |t| t["recorded"] == 7).await;
    assert_eq!(trace["records"][6]["reply"]["preview"], "0", "{trace}");

    // Each record was on the event stream as a `traced` event.
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(20);
    while String::from_utf8_lossy(&seen)
        .matches("\"event\":\"traced\"")
        .count()
        < 7
    {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{}", String::from_utf8_lossy(&seen));
        let n = tokio::time::timeout(left, events.read(&mut buf))
            .await
            .expect("events in time")
            .unwrap();
        assert!(n > 0, "the stream closed");
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains(&format!("\"trace\":\"{id}\"")), "{text}");
    assert!(text.contains("\"preview\":\"add 5\""), "{text}");

    // Stopped: ended for that reason, still readable, listed.
    let stopped = admin.call("trace.stop", json!({ "id": id })).await.unwrap();
    assert_eq!(
        (&stopped["state"], &stopped["reason"]),
        (&json!("ended"), &json!("stopped"))
    );
    send(&host, "root/peer", "inc").await.unwrap();
    assert_eq!(
        get(&host, &id).await["recorded"],
        7,
        "nothing after the stop"
    );
    let list = host
        .client(Some(READ))
        .call("trace.list", json!({}))
        .await
        .unwrap();
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    assert!(
        list[0].get("records").is_none(),
        "no contents for read: {list}"
    );

    // Contents need admin; unknown paths and ids are 404.
    let viewer = host.client(Some(READ));
    let denied = viewer
        .call("trace.get", json!({ "id": id }))
        .await
        .unwrap_err();
    assert_eq!(denied.status(), Some(403), "{denied}");
    let missing = admin
        .call("trace.start", json!({"path": "root/nope"}))
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");
    let supervisor = admin
        .call("trace.start", json!({"path": "root"}))
        .await
        .unwrap_err();
    assert_eq!(supervisor.status(), Some(404), "{supervisor}");
    let no_id = admin
        .call("trace.get", json!({"id": "t999"}))
        .await
        .unwrap_err();
    assert_eq!(no_id.status(), Some(404), "{no_id}");
    let neither = admin
        .call("trace.start", json!({"duration_ms": 10}))
        .await
        .unwrap_err();
    assert_eq!(neither.status(), Some(400), "{neither}");
    let too_long = admin
        .call(
            "trace.start",
            json!({"path": "root/peer", "duration_ms": 600001}),
        )
        .await
        .unwrap_err();
    assert_eq!(too_long.status(), Some(400), "{too_long}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_stops_at_its_count_and_at_its_time_and_stays_readable() {
    let (_dir, host) = start();
    let admin = host.client(Some(ADMIN));

    // At most max_messages: the rest go unrecorded and the state says why.
    let id = admin
        .call(
            "trace.start",
            json!({"path": "root/counter", "duration_ms": 60000, "max_messages": 3}),
        )
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..6 {
        send(&host, "root/counter", "inc").await.unwrap();
    }
    let trace = get(&host, &id).await;
    assert_eq!(trace["state"], "ended", "{trace}");
    assert_eq!(trace["reason"], "max_messages", "{trace}");
    assert_eq!(trace["recorded"], 3);
    let replies: Vec<&str> = trace["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reply"]["preview"].as_str().unwrap())
        .collect();
    assert_eq!(replies, ["1", "2", "3"]);

    // At duration_ms, with nobody asking: the end is on the event log.
    let started = Instant::now();
    let id = admin
        .call(
            "trace.start",
            json!({"paths": ["root/counter", "root/peer"], "duration_ms": 300}),
        )
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    send(&host, "root/peer", "inc").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let events = admin
            .call("events.recent", json!({"kind": "trace_ended"}))
            .await
            .unwrap();
        if let Some(e) = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["trace"] == id.as_str())
        {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "{id} never ended: {events}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        (&ended["reason"], &ended["records"]),
        (&json!("duration"), &json!(1)),
        "{ended}"
    );
    send(&host, "root/peer", "inc").await.unwrap();
    let trace = get(&host, &id).await;
    assert_eq!(
        (&trace["state"], &trace["reason"]),
        (&json!("ended"), &json!("duration"))
    );
    assert_eq!(trace["recorded"], 1, "{trace}");
    assert_eq!(trace["paths"], json!(["root/counter", "root/peer"]));
}

#[test]
fn ctl_trace_prints_records_as_they_come_and_ends_with_the_trace() {
    let (_dir, host) = start();
    let mut ctl = ctl_cmd(
        host.url(),
        &["--token", ADMIN, "trace", "root/counter", "--max", "2"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start ctl trace");
    // Once the trace runs (ctl says so on stderr), send three messages.
    let mut stderr = BufReader::new(ctl.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("started"), "{first}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    for message in ["inc", "add 2", "inc"] {
        rt.block_on(send(&host, "root/counter", message)).unwrap();
    }
    let out = ctl.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(lines[0].starts_with("20"), "a UTC time first: {printed}");
    assert!(lines[0].contains("#1 call 3B → reply 1B"), "{printed}");
    assert!(lines[1].contains("\"add 2\" → \"3\""), "{printed}");
    assert!(
        rest.contains("ended (max_messages) with 2 records"),
        "{rest}"
    );
}
