//! Groups and rollouts over a real `warden run`: `groups = [..]` in the
//! config, `group.join`/`leave`/`list`/`members`/`health`, a broadcast
//! answered per member (a process member cannot take a message), the
//! table following a config reload, a trace of a group; a reload rollout
//! in batches that fails at batch 2 and rolls batch 1 back (versions back,
//! state kept) with its steps on `GET /events`, a dry run, an abort, a
//! restart rollout, and the roles (a read token neither broadcasts nor
//! starts rollouts).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{HostProcess, plugin, variant, write_tree_config};

const ADMIN: &str = "b0ss-token";
const READ: &str = "r3ad-token";

const TOKENS: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[host.policy]
allow_commands = ["sleep"]

[[api.tokens]]
name = "boss"
role = "admin"
token = "b0ss-token"

[[api.tokens]]
name = "viewer"
role = "read"
token = "r3ad-token"
"#;

const GROUPED: &str = r#"
[supervisor.root]
strategy = "one_for_one"

[[supervisor.root.children]]
id = "a"
kind = "component"
path = "counter.wasm"
groups = ["ingest", "pair"]

[[supervisor.root.children]]
id = "b"
kind = "component"
path = "counter.wasm"
groups = ["ingest", "pair", "edge"]

[[supervisor.root.children]]
id = "c"
kind = "component"
path = "counter.wasm"

[[supervisor.root.children]]
id = "w"
kind = "process"
command = "sleep"
args = ["600"]
groups = ["ingest"]
"#;

fn start(dir: &Path, body: &str) -> HostProcess {
    let config = write_tree_config(dir, &format!("{TOKENS}{body}"));
    HostProcess::start(&config, &dir.join("state"), &[])
}

async fn ok(host: &HostProcess, op: &str, params: Value) -> Value {
    host.client(Some(ADMIN))
        .call(op, params.clone())
        .await
        .unwrap_or_else(|e| panic!("{op} {params}: {e}"))
}

/// The status an operation answers with `token`.
async fn status(host: &HostProcess, token: &str, op: &str, params: Value) -> u16 {
    match host.client(Some(token)).call(op, params).await {
        Ok(_) => 200,
        Err(e) => e.status().unwrap_or_else(|| panic!("{op}: {e}")),
    }
}

fn paths(members: &Value) -> Vec<&str> {
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect()
}

/// Follows `GET /events` as the read token.
async fn follow_events(host: &HostProcess) -> TcpStream {
    let mut events = TcpStream::connect(host.authority()).await.unwrap();
    let head = format!(
        "GET /events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {READ}\r\n\r\n",
        host.authority()
    );
    events.write_all(head.as_bytes()).await.unwrap();
    events
}

/// Reads the stream until every one of `names` was seen as an event name
/// (in that order); the text read.
async fn events_until(events: &mut TcpStream, names: &[&str]) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        let mut at = 0;
        let all =
            names.iter().all(
                |name| match text[at..].find(&format!("\"event\":\"{name}\"")) {
                    Some(i) => {
                        at += i + 1;
                        true
                    }
                    None => false,
                },
            );
        if all {
            return text;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "not all of {names:?} in:\n{text}");
        let n = tokio::time::timeout(left, events.read(&mut buf))
            .await
            .expect("events in time")
            .unwrap();
        assert!(n > 0, "the stream closed");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// `rollout.status` once the rollout has ended.
async fn ended(host: &HostProcess, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = ok(host, "rollout.status", json!({ "id": id })).await;
        if view["state"] != "running" {
            return view;
        }
        assert!(Instant::now() < deadline, "never ended: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_from_config_and_operations_follow_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), GROUPED);

    let list = ok(&host, "group.list", json!({})).await;
    assert_eq!(
        list,
        json!([
            {"name": "edge", "members": 1},
            {"name": "ingest", "members": 3},
            {"name": "pair", "members": 2}
        ])
    );
    let members = ok(&host, "group.members", json!({"group": "ingest"})).await;
    assert_eq!(paths(&members), ["root/a", "root/b", "root/w"]);
    let kinds: Vec<(&str, &str)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["type"].as_str().unwrap(), m["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("component", "config"),
            ("component", "config"),
            ("process", "config")
        ]
    );

    // Join: once, then again (a member already), then bad names and paths.
    let joined = ok(
        &host,
        "group.join",
        json!({"group": "ingest", "path": "root/c"}),
    )
    .await;
    assert_eq!(joined["joined"], true, "{joined}");
    let again = ok(
        &host,
        "group.join",
        json!({"group": "ingest", "path": "/root/c/"}),
    )
    .await;
    assert_eq!(again["joined"], false, "{again}");
    let bad = json!({"group": "no spaces", "path": "root/c"});
    assert_eq!(status(&host, ADMIN, "group.join", bad).await, 400);
    let nowhere = json!({"group": "ingest", "path": "root/nope"});
    assert_eq!(status(&host, ADMIN, "group.join", nowhere).await, 404);
    assert_eq!(
        status(&host, ADMIN, "group.members", json!({"group": "nope"})).await,
        404
    );

    // Health: every member runs; then one is stopped.
    let health = ok(&host, "group.health", json!({"group": "ingest"})).await;
    assert_eq!(
        (&health["level"], &health["members"], &health["running"]),
        (&json!("healthy"), &json!(4), &json!(4)),
        "{health}"
    );
    ok(&host, "child.terminate", json!({"path": "root/c"})).await;
    let health = ok(&host, "group.health", json!({"group": "ingest"})).await;
    assert_eq!(
        (&health["level"], &health["running"], &health["stopped"]),
        (&json!("degraded"), &json!(3), &json!(1)),
        "{health}"
    );
    ok(&host, "child.start", json!({"path": "root/c"})).await;

    // Broadcast: each component member answers, the worker process is
    // refused on its own line.
    ok(
        &host,
        "child.send",
        json!({"path": "root/b", "message": "add 10"}),
    )
    .await;
    let answers = ok(
        &host,
        "group.broadcast",
        json!({"group": "ingest", "message": "inc"}),
    )
    .await["answers"]
        .clone();
    assert_eq!(
        paths(&answers),
        ["root/a", "root/b", "root/c", "root/w"],
        "{answers}"
    );
    assert_eq!(
        answers[0],
        json!({"path": "root/a", "ok": true, "reply": "1", "encoding": "utf8"})
    );
    assert_eq!(answers[1]["reply"], "11", "{answers}");
    assert_eq!(answers[2]["reply"], "1", "{answers}");
    assert_eq!(answers[3]["ok"], false, "{answers}");
    assert_eq!(answers[3]["error"]["kind"], "not_a_component", "{answers}");
    assert!(
        answers[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a process"),
        "{answers}"
    );
    // A member's own refusal is its answer, not the broadcast's failure.
    let answers = ok(
        &host,
        "group.broadcast",
        json!({"group": "pair", "message": "nonsense"}),
    )
    .await["answers"]
        .clone();
    assert_eq!(answers[0]["error"]["kind"], "guest_failed", "{answers}");
    assert_eq!(answers[1]["error"]["kind"], "guest_failed", "{answers}");

    // A trace of a group records the traffic of its members.
    let id = ok(
        &host,
        "trace.start",
        json!({"group": "pair", "duration_ms": 60000}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &host,
        "child.send",
        json!({"path": "root/a", "message": "inc"}),
    )
    .await;
    ok(
        &host,
        "child.send",
        json!({"path": "root/b", "message": "inc"}),
    )
    .await;
    ok(
        &host,
        "child.send",
        json!({"path": "root/c", "message": "inc"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let trace = loop {
        let trace = ok(&host, "trace.get", json!({ "id": id })).await;
        if trace["recorded"] == 2 {
            break trace;
        }
        assert!(Instant::now() < deadline, "{trace}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(trace["paths"], json!(["root/a", "root/b"]), "{trace}");
    let mut traced: Vec<(&str, &str)> = trace["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["reply"]["preview"].as_str().unwrap(),
            )
        })
        .collect();
    traced.sort();
    assert_eq!(traced, [("root/a", "2"), ("root/b", "12")], "{trace}");
    ok(&host, "trace.stop", json!({ "id": id })).await;

    // Leave: once; the second time it is not a member.
    let leave = json!({"group": "ingest", "path": "root/c"});
    ok(&host, "group.leave", leave.clone()).await;
    assert_eq!(status(&host, ADMIN, "group.leave", leave).await, 404);

    // Roles: a read token looks, but neither joins, broadcasts nor
    // starts a rollout.
    assert_eq!(
        status(&host, READ, "group.health", json!({"group": "ingest"})).await,
        200
    );
    let message = json!({"group": "ingest", "message": "inc"});
    assert_eq!(status(&host, READ, "group.broadcast", message).await, 403);
    let join = json!({"group": "ingest", "path": "root/c"});
    assert_eq!(status(&host, READ, "group.join", join).await, 403);
    let rollout = json!({"group": "ingest", "action": "restart", "dry_run": true});
    assert_eq!(status(&host, READ, "rollout.start", rollout).await, 403);

    // The table follows a config reload: b is removed (and leaves its
    // groups), a moves to `edge` without restarting, a joined member stays.
    ok(
        &host,
        "group.join",
        json!({"group": "ingest", "path": "root/c"}),
    )
    .await;
    let generation = |info: &Value| info["generation"].as_u64().unwrap();
    let a_before = generation(&ok(&host, "child.info", json!({"path": "root/a"})).await);
    let reloaded = GROUPED
        .replace(
            "id = \"b\"\nkind = \"component\"\npath = \"counter.wasm\"\ngroups = [\"ingest\", \"pair\", \"edge\"]\n",
            "",
        )
        .replace("groups = [\"ingest\", \"pair\"]", "groups = [\"ingest\", \"edge\"]")
        .replace("\n[[supervisor.root.children]]\n\n[[supervisor.root.children]]", "\n[[supervisor.root.children]]");
    assert!(!reloaded.contains("id = \"b\""), "{reloaded}");
    std::fs::write(
        dir.path().join("warden.toml"),
        format!("{TOKENS}{reloaded}"),
    )
    .unwrap();
    let plan = ok(&host, "config.reload", json!({})).await;
    assert_eq!(plan["removed"], json!(["root/b"]), "{plan}");
    assert_eq!(plan["changed"], json!([]), "groups restart nothing: {plan}");
    let list = ok(&host, "group.list", json!({})).await;
    assert_eq!(
        list,
        json!([
            {"name": "edge", "members": 1},
            {"name": "ingest", "members": 3}
        ])
    );
    let members = ok(&host, "group.members", json!({"group": "ingest"})).await;
    assert_eq!(paths(&members), ["root/a", "root/c", "root/w"]);
    assert_eq!(members[1]["source"], "joined", "{members}");
    let edge = ok(&host, "group.members", json!({"group": "edge"})).await;
    assert_eq!(paths(&edge), ["root/a"]);
    let a_after = generation(&ok(&host, "child.info", json!({"path": "root/a"})).await);
    assert_eq!(a_before, a_after, "a was not restarted");

    // child.delete takes a child out of its groups.
    ok(&host, "child.terminate", json!({"path": "root/c"})).await;
    ok(&host, "child.delete", json!({"path": "root/c"})).await;
    let members = ok(&host, "group.members", json!({"group": "ingest"})).await;
    assert_eq!(paths(&members), ["root/a", "root/w"]);
}

const FOUR: &str = r#"
[supervisor.root]
strategy = "one_for_one"

[[supervisor.root.children]]
id = "c1"
kind = "component"
path = "a.wasm"
groups = ["fleet"]

[[supervisor.root.children]]
id = "c2"
kind = "component"
path = "a.wasm"
groups = ["fleet"]

[[supervisor.root.children]]
id = "c3"
kind = "component"
path = "b.wasm"
config = "trap"
groups = ["fleet"]

[[supervisor.root.children]]
id = "c4"
kind = "component"
path = "b.wasm"
config = "trap"
groups = ["fleet"]
"#;

/// Four counters in group `fleet`: c1 and c2 from `a.wasm`, c3 and c4
/// from `b.wasm` (counter ignores its config; trap_init traps in init on
/// "trap"), each with 5 added.
async fn four(dir: &Path) -> HostProcess {
    for name in ["a.wasm", "b.wasm"] {
        std::fs::copy(plugin("counter"), dir.join(name)).unwrap();
    }
    let host = start(dir, FOUR);
    for c in ["c1", "c2", "c3", "c4"] {
        let path = format!("root/{c}");
        ok(
            &host,
            "child.send",
            json!({"path": path, "message": "add 5"}),
        )
        .await;
    }
    host
}

async fn version(host: &HostProcess, path: &str) -> u64 {
    ok(host, "child.versions", json!({ "path": path })).await["current"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_rollout_failing_at_batch_2_rolls_batch_1_back() {
    let dir = tempfile::tempdir().unwrap();
    let host = four(dir.path()).await;
    let mut events = follow_events(&host).await;

    // a.wasm gets a new version (same behaviour), b.wasm one whose init
    // traps.
    let counter = std::fs::read(plugin("counter")).unwrap();
    std::fs::write(dir.path().join("a.wasm"), variant(&counter, "v2")).unwrap();
    std::fs::copy(plugin("trap_init"), dir.path().join("b.wasm")).unwrap();

    let params = json!({"group": "fleet", "action": "reload", "batch_size": 2,
                        "max_unavailable": 0, "settle_ms": 200});
    let mut dry = params.clone();
    dry["dry_run"] = json!(true);
    let plan = ok(&host, "rollout.start", dry).await;
    assert_eq!(
        plan,
        json!({"dry_run": true, "action": "reload",
               "batches": [["root/c1", "root/c2"], ["root/c3", "root/c4"]]})
    );
    assert_eq!(
        version(&host, "root/c1").await,
        1,
        "a dry run changes nothing"
    );

    let started = ok(&host, "rollout.start", params).await;
    let id = started["id"].as_str().unwrap().to_string();
    let view = ended(&host, &id).await;
    assert_eq!(view["state"], "rolled_back", "{view}");
    let reason = view["reason"].as_str().unwrap();
    assert!(reason.starts_with("batch 2 failed"), "{view}");
    assert!(reason.contains("init"), "{view}");
    assert_eq!(view["batches"][0]["state"], "done", "{view}");
    assert_eq!(view["batches"][1]["state"], "failed", "{view}");
    for m in view["batches"][0]["members"].as_array().unwrap() {
        assert_eq!(m["outcome"], "rolled_back", "{view}");
        assert_eq!(m["detail"], "back to version 1", "{view}");
    }
    for m in view["batches"][1]["members"].as_array().unwrap() {
        assert_eq!(m["outcome"], "failed", "{view}");
    }

    // Batch 1 is back on version 1 after having run version 2, its state
    // kept through both swaps; batch 2 never left version 1.
    for c in ["root/c1", "root/c2"] {
        let versions = ok(&host, "child.versions", json!({ "path": c })).await;
        assert_eq!(versions["current"], 1, "{versions}");
        let outcomes: Vec<&str> = versions["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["version"].as_u64().unwrap())
            .map(|v| if v == 2 { "v2" } else { "other" })
            .collect();
        assert!(outcomes.contains(&"v2"), "{versions}");
        let reply = ok(&host, "child.send", json!({"path": c, "message": "inc"})).await;
        assert_eq!(reply["reply"], "6", "{c}: state kept");
    }
    for c in ["root/c3", "root/c4"] {
        assert_eq!(version(&host, c).await, 1);
    }

    // Each step was on the event stream, in order.
    let text = events_until(
        &mut events,
        &[
            "rollout_started",
            "batch_started",
            "batch_done",
            "batch_started",
            "rollout_failed",
            "rollout_rolled_back",
        ],
    )
    .await;
    assert!(text.contains(&format!("\"id\":\"{id}\"")), "{text}");
    assert!(
        text.contains("\"paths\":[\"root/c2\",\"root/c1\"]"),
        "rolled back newest first: {text}"
    );
    let listed = ok(&host, "rollout.list", json!({})).await;
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_aborted_a_restart_rollout_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let host = four(dir.path()).await;
    let counter = std::fs::read(plugin("counter")).unwrap();
    std::fs::write(dir.path().join("a.wasm"), variant(&counter, "v2")).unwrap();

    // A long settle: the rollout waits in batch 1's gate.
    let slow = json!({"paths": ["root/c1", "root/c2"], "action": "reload",
                      "batch_size": 1, "settle_ms": 600000});
    let id = ok(&host, "rollout.start", slow.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while version(&host, "root/c1").await != 2 {
        assert!(Instant::now() < deadline, "c1 never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its members are taken.
    assert_eq!(status(&host, ADMIN, "rollout.start", slow).await, 409);
    let aborted = ok(&host, "rollout.abort", json!({ "id": id })).await;
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    assert_eq!(
        aborted["batches"][0]["members"][0]["outcome"], "rolled_back",
        "{aborted}"
    );
    assert_eq!(
        aborted["batches"][1]["members"][0]["outcome"], "pending",
        "{aborted}"
    );
    assert_eq!(version(&host, "root/c1").await, 1);
    assert_eq!(version(&host, "root/c2").await, 1, "never reached");
    assert_eq!(
        status(&host, ADMIN, "rollout.abort", json!({ "id": id })).await,
        409,
        "ended"
    );
    assert_eq!(
        status(&host, ADMIN, "rollout.status", json!({"id": "r99"})).await,
        404
    );

    // A restart rollout, one at a time: every member is a new incarnation.
    let generation = |info: Value| info["generation"].as_u64().unwrap();
    let mut before = Vec::new();
    for c in ["c1", "c2", "c3", "c4"] {
        before.push(generation(
            ok(&host, "child.info", json!({"path": format!("root/{c}")})).await,
        ));
    }
    let id = ok(
        &host,
        "rollout.start",
        json!({"group": "fleet", "action": "restart", "batch_size": 2,
               "max_unavailable": 1, "settle_ms": 100}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = ended(&host, &id).await;
    assert_eq!(view["state"], "succeeded", "{view}");
    assert_eq!(view["batch_size"], 1, "cut to max_unavailable: {view}");
    assert_eq!(view["batches"].as_array().unwrap().len(), 4, "{view}");
    for (i, c) in ["c1", "c2", "c3", "c4"].into_iter().enumerate() {
        let now = generation(ok(&host, "child.info", json!({"path": format!("root/{c}")})).await);
        assert!(now > before[i], "{c}: {} → {now}", before[i]);
    }

    // Bad requests name the field.
    for (params, field) in [
        (json!({"group": "fleet", "action": "strategy"}), "/strategy"),
        (
            json!({"group": "fleet", "paths": ["root/c1"], "action": "restart"}),
            "/paths",
        ),
        (json!({"action": "restart"}), "/group"),
        (
            json!({"group": "fleet", "action": "restart", "max_unavailable": 0}),
            "/max_unavailable",
        ),
    ] {
        let err = host
            .client(Some(ADMIN))
            .call("rollout.start", params.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{params}: {err}");
        assert!(err.to_string().contains(field), "{params}: {err}");
    }
    // A strategy rollout is for supervisors.
    let strategy = json!({"paths": ["root/c1"], "action": "strategy", "strategy": "one_for_all"});
    assert_eq!(status(&host, ADMIN, "rollout.start", strategy).await, 404);
}

const SUPERVISORS: &str = r#"
[supervisor.root]
strategy = "one_for_one"
intensity = 10

[[supervisor.root.children]]
id = "s1"
kind = "supervisor"
supervisor = "s1"
groups = ["sups"]

[[supervisor.root.children]]
id = "s2"
kind = "supervisor"
supervisor = "s2"
groups = ["sups"]

[supervisor.s1]
strategy = "one_for_one"
intensity = 10

[[supervisor.s1.children]]
id = "w"
kind = "component"
path = "counter.wasm"

[supervisor.s2]
strategy = "one_for_one"
intensity = 10

[[supervisor.s2.children]]
id = "w"
kind = "component"
path = "counter.wasm"
backoff = { initial_ms = 3000, max_ms = 3000 }
"#;

async fn strategies(host: &HostProcess) -> Vec<(String, String)> {
    let rows = ok(host, "supervisors.list", json!({})).await;
    let mut out: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] != "root")
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                r["strategy"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_rollout_changes_supervisors_and_a_failed_gate_changes_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), SUPERVISORS);
    let pair = |s1: &str, s2: &str| {
        vec![
            ("root/s1".to_string(), s1.to_string()),
            ("root/s2".to_string(), s2.to_string()),
        ]
    };

    let id = ok(
        &host,
        "rollout.start",
        json!({"group": "sups", "action": "strategy", "strategy": "one_for_all",
               "settle_ms": 100}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = ended(&host, &id).await;
    assert_eq!(view["state"], "succeeded", "{view}");
    assert_eq!(
        view["batches"][0]["members"][0]["detail"], "one_for_one → one_for_all",
        "{view}"
    );
    assert_eq!(strategies(&host).await, pair("one_for_all", "one_for_all"));

    // Back to rest_for_one, both at once, with a long settle: s2's worker
    // is killed meanwhile and waits out its backoff, so the gate fails and
    // both supervisors get their strategy back.
    let id = ok(
        &host,
        "rollout.start",
        json!({"group": "sups", "action": "strategy", "strategy": "rest_for_one",
               "batch_size": 2, "settle_ms": 60000}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while strategies(&host).await != pair("rest_for_one", "rest_for_one") {
        assert!(Instant::now() < deadline, "never changed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ok(&host, "child.kill", json!({"path": "root/s2/w"})).await;
    let view = ended(&host, &id).await;
    assert_eq!(view["state"], "rolled_back", "{view}");
    let reason = view["reason"].as_str().unwrap();
    assert!(
        reason.contains("`root/s2` has child `w` restarting"),
        "{view}"
    );
    assert_eq!(strategies(&host).await, pair("one_for_all", "one_for_all"));
}
