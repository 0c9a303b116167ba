//! The host's built-in operations, called through `host.operations` on a
//! real tree (components, a native worker, a nested supervisor), their
//! error statuses, and operation plugins from `[operations.ID]`:
//! registered at start, validated, executed, reloaded with a changed
//! schema by `plugin.reload` and by the file watcher.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use warden::config;
use warden::events::EventBus;
use warden::host::Host;
use warden::ops::{OpError, Owner};

use crate::support::{
    CHANGING_EXAMPLES, KEEPING_EXAMPLES, demo_tree, plugin, repo_root, with_snapshot_id,
    write_tree_config,
};

/// The demo tree every example is written against, with the `wc`
/// operation plugin (a copy of `wordcount` the tests may replace).
fn tree() -> String {
    demo_tree("")
}

struct Fixture {
    dir: tempfile::TempDir,
    host: Host,
}

impl Fixture {
    /// `body` written by [`write_tree_config`] (so tests can overwrite
    /// `counter.wasm` and `wc.wasm`).
    async fn start(body: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), body);
        let host = Host::start(&config, EventBus::default())
            .await
            .expect("host starts");
        Fixture { dir, host }
    }

    async fn call(&self, op: &str, params: Value) -> Result<Value, OpError> {
        self.host.operations.call(op, params).await
    }

    async fn ok(&self, op: &str, params: Value) -> Value {
        match self.call(op, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{op} {params}: {e} ({})", e.body()),
        }
    }

    async fn err(&self, op: &str, params: Value) -> OpError {
        match self.call(op, params.clone()).await {
            Ok(v) => panic!("{op} {params} should fail, got {v}"),
            Err(e) => e,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits until the child at `path` runs an incarnation other than
    /// `not` (and, for a component, its mailbox is registered); returns
    /// its generation.
    async fn running_generation(&self, path: &str, not: Option<u64>) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(info) = self.call("child.info", json!({"path": path})).await
                && info["status"] == "running"
                && let Some(g) = info["generation"].as_u64()
                && Some(g) != not
                && (info["type"] != "component"
                    || self.host.router.paths().iter().any(|p| p == path))
            {
                return g;
            }
            assert!(Instant::now() < deadline, "{path} never came back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn write_config(dir: &Path, body: &str) -> config::Config {
    config::load(&write_tree_config(dir, body)).expect("valid config")
}

/// Replaces `target` with `source` the way an editor or a build does:
/// write a temp file, rename it into place.
fn replace_file(source: &Path, target: &Path) {
    let tmp = target.with_extension("tmp");
    std::fs::copy(source, &tmp).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

fn violations(err: &OpError) -> Vec<String> {
    match err {
        OpError::InvalidParams { violations, .. } => {
            violations.iter().map(|v| v.path.clone()).collect()
        }
        other => panic!("expected invalid params, got {other:?}"),
    }
}

const BUILTINS: &[&str] = &[
    "supervisors.list",
    "tree",
    "supervisor.strategy",
    "supervisor.storm",
    "chaos.run",
    "health",
    "child.info",
    "child.start",
    "child.terminate",
    "child.restart",
    "child.delete",
    "child.kill",
    "child.fault",
    "child.send",
    "child.snapshot",
    "child.restore",
    "child.reload",
    "child.rollback",
    "child.versions",
    "plugin.reload",
    "ps",
    "component.call",
    "grade",
    "events.recent",
    "logs.tail",
    "config.reload",
    "audit.recent",
    "sandbox.create",
    "sandbox.destroy",
    "sandbox.list",
    "snapshot.list",
    "snapshot.get",
    "snapshot.diff",
    "snapshot.delete",
    "trace.start",
    "trace.stop",
    "trace.get",
    "trace.list",
    "group.join",
    "group.leave",
    "group.list",
    "group.members",
    "group.health",
    "group.broadcast",
    "rollout.start",
    "rollout.status",
    "rollout.list",
    "rollout.abort",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_has_schemas_and_an_example_that_validates() {
    let f = Fixture::start(&tree()).await;
    let mut builtins: Vec<String> = f
        .host
        .operations
        .operations()
        .iter()
        .filter(|op| *op.owner() == Owner::Builtin)
        .map(|op| op.name().to_string())
        .collect();
    builtins.sort();
    let mut expected: Vec<String> = BUILTINS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(builtins, expected);
    // A plugin id that is a built-in's prefix is refused at load: the
    // list lives in the ops core, away from the built-ins, so check it
    // covers every one of them.
    for name in &builtins {
        if let Some((prefix, _)) = name.split_once('.') {
            assert!(
                warden::ops::RESERVED_PREFIXES.contains(&prefix),
                "`{prefix}` of {name} is not reserved"
            );
        }
    }

    let doc = f.host.operations.openapi_document("warden", "test");
    for name in BUILTINS {
        let op = f.host.operations.get(name).unwrap();
        let example = op
            .example()
            .unwrap_or_else(|| panic!("{name} has no example"));
        op.validate(example)
            .unwrap_or_else(|e| panic!("{name}'s example breaks its schema: {e}"));
        assert!(op.result_schema().is_some(), "{name} has no result schema");
        assert_eq!(
            op.params_schema().source()["type"],
            "object",
            "{name} takes an object"
        );
        let body = &doc["paths"][format!("/ops/{name}")]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(&body["example"], example, "{name}'s example in OpenAPI");
    }
    for read_only in [
        "tree",
        "supervisors.list",
        "child.info",
        "health",
        "ps",
        "events.recent",
        "logs.tail",
        "trace.get",
        "trace.list",
        "group.list",
        "group.members",
        "group.health",
        "rollout.status",
        "rollout.list",
    ] {
        assert!(f.host.operations.get(read_only).unwrap().is_read_only());
    }
    assert!(!f.host.operations.get("child.kill").unwrap().is_read_only());

    // The examples run against this tree (the destructive ones last, in
    // an order that keeps the tree whole).
    let mut snapshot_id = String::new();
    for &name in KEEPING_EXAMPLES {
        let example = f
            .host
            .operations
            .get(name)
            .unwrap()
            .example()
            .unwrap()
            .clone();
        let example = match name {
            "plugin.reload" => json!({"id": "wc"}),
            _ => with_snapshot_id(name, example, &snapshot_id),
        };
        let result = f.ok(name, example).await;
        if name == "child.snapshot" {
            snapshot_id = result["id"].as_str().unwrap().to_string();
        }
    }
    // The mutating ones, in an order where each applies: all of them
    // name root/counter.
    let mut generation = f.running_generation("root/counter", None).await;
    for &name in CHANGING_EXAMPLES {
        if name == "child.delete" {
            // Only a stopped child can be deleted; child.start's example
            // just started it again.
            f.ok("child.terminate", json!({"path": "root/counter"}))
                .await;
        }
        let example = f
            .host
            .operations
            .get(name)
            .unwrap()
            .example()
            .unwrap()
            .clone();
        assert_eq!(example["path"], "root/counter", "{name}");
        f.ok(name, example).await;
        if matches!(name, "child.kill" | "child.fault") {
            generation = f.running_generation("root/counter", Some(generation)).await;
        }
    }
    let err = f.err("child.info", json!({"path": "root/counter"})).await;
    assert_eq!(err.status_code(), 404, "deleted");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisors_tree_health_and_strategy() {
    let f = Fixture::start(&tree()).await;
    let list = f.ok("supervisors.list", json!({})).await;
    assert_eq!(
        list,
        json!([
            {"path": "root", "strategy": "one_for_one", "intensity": 20, "period_ms": 10000, "children": 4, "active": 4},
            {"path": "root/storage", "strategy": "rest_for_one", "intensity": 1, "period_ms": 5000, "children": 1, "active": 1}
        ])
    );

    let tree = f.ok("tree", json!({})).await;
    assert_eq!(tree["path"], "root");
    assert_eq!(tree["strategy"], "one_for_one");
    let kids = tree["children"].as_array().unwrap();
    let shape: Vec<(&str, &str, &str)> = kids
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("root/counter", "component", "running"),
            ("root/echo", "component", "running"),
            ("root/ticker", "process", "running"),
            ("root/storage", "supervisor", "running"),
        ]
    );
    assert_eq!(kids[3]["strategy"], "rest_for_one");
    assert_eq!(kids[3]["children"][0]["path"], "root/storage/kv");
    assert_eq!(kids[3]["children"][0]["type"], "component");
    assert_eq!(kids[0]["restarts"], 0);
    assert_eq!(kids[0]["restart"], "permanent");
    assert!(kids[2]["info"]["pid"].as_u64().unwrap() > 0);

    let all = f.ok("health", json!({})).await;
    let sups: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["supervisor"].as_str().unwrap())
        .collect();
    assert_eq!(sups, ["root", "root/storage"]);
    let one = f.ok("health", json!({"path": "root/storage"})).await;
    assert_eq!(one[0]["supervisor"], "root/storage");
    assert_eq!(one[0]["children"][0]["id"], "kv");
    let err = f.err("health", json!({"path": "root/nowhere"})).await;
    assert_eq!(err.status_code(), 404, "{err}");
    let err = f.err("health", json!({"path": "elsewhere"})).await;
    assert_eq!(err.status_code(), 404, "{err}");

    let dry = f
        .ok(
            "supervisor.strategy",
            json!({"path": "root/storage", "strategy": "one_for_all", "dry_run": true}),
        )
        .await;
    assert_eq!(dry["from"], "rest_for_one");
    assert_eq!(dry["to"], "one_for_all");
    assert_eq!(dry["outcome"]["outcome"], "dry_run");
    let applied = f
        .ok(
            "supervisor.strategy",
            json!({"path": "root/storage", "strategy": "one_for_all", "settle_ms": 50}),
        )
        .await;
    assert_eq!(applied["outcome"]["outcome"], "applied");
    let list = f.ok("supervisors.list", json!({})).await;
    assert_eq!(list[1]["strategy"], "one_for_all");
    let err = f
        .err(
            "supervisor.strategy",
            json!({"path": "root/storage", "strategy": "simple_one_for_one"}),
        )
        .await;
    assert_eq!(err.status_code(), 409, "{err}");
    let err = f
        .err(
            "supervisor.strategy",
            json!({"path": "root/counter", "strategy": "one_for_all"}),
        )
        .await;
    assert_eq!(err.status_code(), 404, "a worker is no supervisor: {err}");
    let err = f
        .err(
            "supervisor.strategy",
            json!({"strategy": "all_for_none", "dry": true}),
        )
        .await;
    assert_eq!(err.status_code(), 400);
    assert_eq!(violations(&err), ["/path", "/dry", "/strategy"]);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_info_send_snapshot_and_restore() {
    let f = Fixture::start(&tree()).await;
    let info = f.ok("child.info", json!({"path": "root/counter"})).await;
    assert_eq!(info["id"], "counter");
    assert_eq!(info["type"], "component");
    assert_eq!(info["status"], "running");
    assert_eq!(info["info"]["limits"]["memory_bytes"], 32 << 20);
    assert_eq!(info["info"]["limits"]["timeout_ms"], 1000);
    assert!(info["info"]["memory_bytes"].as_u64().unwrap() > 0, "{info}");
    assert_eq!(info["info"]["mailbox"]["capacity"], 1024);
    assert_eq!(info["info"]["mailbox"]["depth"], 0);
    assert_eq!(info["version"]["current"], 1);
    assert_eq!(info["info"]["hash"], info["version"]["records"][0]["hash"]);
    let process = f.ok("child.info", json!({"path": "root/ticker"})).await;
    assert_eq!(process["type"], "process");
    assert!(process["info"]["pid"].as_u64().unwrap() > 0);
    assert_eq!(process["version"], Value::Null);
    let nested = f.ok("child.info", json!({"path": "root/storage"})).await;
    assert_eq!(nested["type"], "supervisor");

    for missing in ["root/nobody", "root/storage/nobody", "elsewhere/x", "root"] {
        let err = f.err("child.info", json!({"path": missing})).await;
        assert_eq!(err.status_code(), 404, "{missing}: {err}");
        assert_eq!(err.body()["error"]["kind"], "not_found");
    }
    let err = f.err("child.info", json!({})).await;
    assert_eq!(violations(&err), ["/path"]);
    let err = f
        .err("child.info", json!({"path": 5, "verbose": true}))
        .await;
    assert_eq!(err.status_code(), 400);
    assert_eq!(violations(&err), ["/path", "/verbose"]);
    assert_eq!(err.body()["error"]["violations"][0]["expected"], "string");

    let sent = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "add 41"}),
        )
        .await;
    assert_eq!(sent, json!({"reply": "41", "encoding": "utf8"}));
    let sent = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": BASE64.encode("inc"), "encoding": "base64"}),
        )
        .await;
    assert_eq!(sent["encoding"], "base64");
    assert_eq!(
        BASE64.decode(sent["reply"].as_str().unwrap()).unwrap(),
        b"42"
    );
    let cast = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "inc", "reply": false}),
        )
        .await;
    assert_eq!(cast["reply"], Value::Null);
    let refused = f
        .err(
            "child.send",
            json!({"path": "root/counter", "message": "fly"}),
        )
        .await;
    // The guest's own error reply: its failure, not the server's.
    assert_eq!(refused.status_code(), 422, "{refused}");
    assert_eq!(refused.body()["error"]["kind"], "guest_failed");
    assert_eq!(refused.body()["error"]["guest"], "root/counter");
    assert_eq!(refused.body()["error"]["cause"], "error_reply");
    assert!(refused.to_string().contains("unknown command"), "{refused}");
    let err = f
        .err(
            "child.send",
            json!({"path": "root/ghost", "message": "inc"}),
        )
        .await;
    assert_eq!(err.status_code(), 404, "{err}");
    let err = f
        .err(
            "child.send",
            json!({"path": "root/counter", "message": "***", "encoding": "base64"}),
        )
        .await;
    assert_eq!(violations(&err), ["/message"]);
    let err = f
        .err(
            "child.send",
            json!({"path": "root/counter", "message": "x", "encoding": "rot13"}),
        )
        .await;
    assert_eq!(violations(&err), ["/encoding"]);

    let snap = f
        .ok("child.snapshot", json!({"path": "root/counter"}))
        .await;
    let state = BASE64.decode(snap["state"].as_str().unwrap()).unwrap();
    assert_eq!(snap["bytes"], state.len());
    let state: Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["state"]["count"], 43);
    // The documented example restores a count of 42.
    let example = f
        .host
        .operations
        .get("child.restore")
        .unwrap()
        .example()
        .unwrap()
        .clone();
    assert_eq!(f.ok("child.restore", example).await, json!({}));
    let got = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "get"}),
        )
        .await;
    assert_eq!(got["reply"], "42");
    let err = f
        .err(
            "child.restore",
            json!({"path": "root/counter", "state": BASE64.encode("not json")}),
        )
        .await;
    assert_eq!(err.status_code(), 422, "the guest refuses: {err}");
    let err = f
        .err(
            "child.restore",
            json!({"path": "root/counter", "state": "%%"}),
        )
        .await;
    assert_eq!(violations(&err), ["/state"]);
    let err = f
        .err("child.snapshot", json!({"path": "root/ticker"}))
        .await;
    assert_eq!(err.status_code(), 404, "not a component child: {err}");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_lifecycle_operations_and_their_conflicts() {
    let f = Fixture::start(&tree()).await;
    let g1 = f.running_generation("root/counter", None).await;

    let killed = f.ok("child.kill", json!({"path": "root/counter"})).await;
    assert_eq!(killed["generation"], g1);
    let g2 = f.running_generation("root/counter", Some(g1)).await;
    let info = f.ok("child.info", json!({"path": "root/counter"})).await;
    assert_eq!(info["restarts"], 1);
    assert_eq!(info["last_exit"]["reason"], "abnormal");

    let trapped = f
        .ok(
            "child.fault",
            json!({"path": "root/counter", "fault": "trap"}),
        )
        .await;
    assert_eq!(trapped["generation"], g2);
    let g3 = f.running_generation("root/counter", Some(g2)).await;
    let err = f
        .err(
            "child.fault",
            json!({"path": "root/counter", "fault": "explode"}),
        )
        .await;
    assert_eq!(violations(&err), ["/fault"]);
    let err = f
        .err("child.kill", json!({"path": "root/counter/deeper"}))
        .await;
    assert_eq!(err.status_code(), 404, "{err}");

    let restarted = f.ok("child.restart", json!({"path": "root/counter"})).await;
    assert_eq!(restarted["result"], "running");
    let g4 = restarted["generation"].as_u64().unwrap();
    assert!(g4 > g3);

    assert_eq!(
        f.ok("child.terminate", json!({"path": "root/echo"})).await,
        json!({})
    );
    let info = f.ok("child.info", json!({"path": "root/echo"})).await;
    assert_eq!(info["status"], "stopped");
    let err = f
        .err("child.send", json!({"path": "root/echo", "message": "hi"}))
        .await;
    assert_eq!(err.status_code(), 409, "stopped, not unknown: {err}");
    let started = f.ok("child.start", json!({"path": "root/echo"})).await;
    assert_eq!(started["result"], "running");
    let err = f.err("child.start", json!({"path": "root/echo"})).await;
    assert_eq!(err.status_code(), 409, "{err}");
    assert_eq!(err.body()["error"]["kind"], "conflict");

    let err = f.err("child.delete", json!({"path": "root/echo"})).await;
    assert_eq!(err.status_code(), 409, "running: {err}");
    f.ok("child.terminate", json!({"path": "root/echo"})).await;
    assert_eq!(
        f.ok("child.delete", json!({"path": "root/echo"})).await,
        json!({})
    );
    let err = f.err("child.info", json!({"path": "root/echo"})).await;
    assert_eq!(err.status_code(), 404);
    for op in [
        "child.start",
        "child.terminate",
        "child.restart",
        "child.delete",
    ] {
        let err = f.err(op, json!({"path": "root/echo"})).await;
        assert_eq!(err.status_code(), 404, "{op}: {err}");
    }

    // The process child restarts through the same operations.
    let p1 = f.running_generation("root/ticker", None).await;
    let pid = f.ok("child.info", json!({"path": "root/ticker"})).await["info"]["pid"].clone();
    f.ok("child.kill", json!({"path": "root/ticker"})).await;
    f.running_generation("root/ticker", Some(p1)).await;
    let info = f.ok("child.info", json!({"path": "root/ticker"})).await;
    assert_ne!(info["info"]["pid"], pid, "a new worker process");
    assert_eq!(info["restarts"], 1);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rollback_and_versions() {
    let f = Fixture::start(&tree()).await;
    f.ok(
        "child.send",
        json!({"path": "root/counter", "message": "add 7"}),
    )
    .await;
    let same = f.ok("child.reload", json!({"path": "root/counter"})).await;
    assert_eq!(same, json!({"outcome": "unchanged", "version": 1}));

    replace_file(&plugin("counter_v2"), &f.file("counter.wasm"));
    let reloaded = f.ok("child.reload", json!({"path": "root/counter"})).await;
    assert_eq!(reloaded["outcome"], "reloaded");
    assert_eq!(reloaded["version"], 2);
    assert!(reloaded["duration_ms"].as_f64().unwrap() > 0.0);
    let v = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "version"}),
        )
        .await;
    assert_eq!(v["reply"], "counter-v2");
    let got = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "get"}),
        )
        .await;
    assert_eq!(got["reply"], "7", "state kept");

    let forced = f
        .ok(
            "child.reload",
            json!({"path": "root/counter", "force": true}),
        )
        .await;
    assert_eq!(forced["outcome"], "reloaded");
    assert_eq!(forced["version"], 3);
    assert_eq!(forced["hash"], reloaded["hash"], "the same bytes, forced");

    let versions = f
        .ok("child.versions", json!({"path": "root/counter"}))
        .await;
    assert_eq!(versions["current"], 3);
    assert_eq!(versions["records"].as_array().unwrap().len(), 3);
    let info = f.ok("child.info", json!({"path": "root/counter"})).await;
    assert_eq!(info["version"]["current"], 3);

    let err = f
        .err(
            "child.rollback",
            json!({"path": "root/counter", "version": 9}),
        )
        .await;
    assert_eq!(err.status_code(), 404, "{err}");
    // v1 cannot read v2's state: the rollback fails at restore, v2 serves on.
    let err = f
        .err(
            "child.rollback",
            json!({"path": "root/counter", "version": 1}),
        )
        .await;
    assert_eq!(err.status_code(), 500, "{err}");
    assert!(err.to_string().contains("at restore"), "{err}");
    let back = f
        .ok("child.rollback", json!({"path": "root/counter"}))
        .await;
    assert_eq!(back, json!({"version": 2}));
    let versions = f
        .ok("child.versions", json!({"path": "root/counter"}))
        .await;
    assert_eq!(versions["current"], 2);
    let v = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "version"}),
        )
        .await;
    assert_eq!(v["reply"], "counter-v2");

    // A broken file: the new code's failure (422, cause reload_failed)
    // naming the stage and the child; the old version serves on.
    std::fs::write(f.file("counter.wasm"), b"garbage").unwrap();
    let err = f.err("child.reload", json!({"path": "root/counter"})).await;
    assert_eq!(err.status_code(), 422);
    assert_eq!(err.kind(), "guest_failed");
    assert!(err.to_string().contains("failed at compile"), "{err}");
    assert!(
        matches!(&err, OpError::GuestFailed { guest: Some(g), cause: "reload_failed", .. } if g == "root/counter"),
        "{err:?}"
    );
    let got = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "get"}),
        )
        .await;
    assert_eq!(got["reply"], "7");

    // A file the host cannot read is the host's failure: 500.
    std::fs::remove_file(f.file("counter.wasm")).unwrap();
    let err = f.err("child.reload", json!({"path": "root/counter"})).await;
    assert_eq!(err.status_code(), 500, "{err}");
    assert!(err.to_string().contains("failed at read"), "{err}");

    for op in ["child.reload", "child.versions", "child.rollback"] {
        let err = f.err(op, json!({"path": "root/ticker"})).await;
        assert_eq!(err.status_code(), 404, "{op}: {err}");
    }
    let err = f
        .err(
            "child.reload",
            json!({"path": "root/counter", "force": "yes"}),
        )
        .await;
    assert_eq!(violations(&err), ["/force"]);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_and_recent_events() {
    let f = Fixture::start(&tree()).await;
    let g = f.running_generation("root/counter", None).await;
    f.ok("child.kill", json!({"path": "root/counter"})).await;
    f.running_generation("root/counter", Some(g)).await;

    let rows = f
        .ok("ps", json!({"child": "root/ticker", "state": "running"}))
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["child"], "root/ticker");
    assert_eq!(rows[0]["status"], "running");
    assert!(rows[0]["pid"].as_u64().unwrap() > 0);
    let none = f.ok("ps", json!({"child": "root/nobody"})).await;
    assert_eq!(none, json!([]));
    let err = f.err("ps", json!({"state": "zombie", "limit": 0})).await;
    assert_eq!(violations(&err), ["/limit", "/state"]);

    let deadline = Instant::now() + Duration::from_secs(5);
    let events = loop {
        let events = f
            .ok(
                "events.recent",
                json!({"child": "root/counter", "kind": "child_exited,child_restarted"}),
            )
            .await;
        if events.as_array().unwrap().len() >= 2 {
            break events;
        }
        assert!(Instant::now() < deadline, "no restart events: {events}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let events = events.as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["child_exited", "child_restarted"]);
    assert!(events.iter().all(|e| e["path"] == "root/counter"));
    assert!(events[0]["seq"].as_u64().unwrap() < events[1]["seq"].as_u64().unwrap());
    assert_eq!(events[0]["reason"], "abnormal");

    // Everything below `root/storage`, nothing from its siblings.
    let storage = f
        .ok("events.recent", json!({"child": "root/storage"}))
        .await;
    let storage = storage.as_array().unwrap();
    assert!(!storage.is_empty());
    assert!(
        storage
            .iter()
            .all(|e| e["path"].as_str().unwrap().starts_with("root/storage"))
    );
    let last = f.ok("events.recent", json!({"limit": 1})).await;
    assert_eq!(last.as_array().unwrap().len(), 1);
    let err = f.err("events.recent", json!({"limit": 5000})).await;
    assert_eq!(violations(&err), ["/limit"]);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_call_and_grade() {
    let f = Fixture::start(&tree()).await;
    let counter = plugin("counter");
    let called = f
        .ok(
            "component.call",
            json!({"component": counter, "function": "handle", "args": ["add 3"]}),
        )
        .await;
    assert_eq!(called["result"], json!({"ok": [51]}), "{called}");
    assert!(called["report"]["stdout"].is_object(), "{called}");

    let err = f
        .err(
            "component.call",
            json!({"component": counter, "function": "nope"}),
        )
        .await;
    assert_eq!(violations(&err), ["/function"]);
    // A path outside `[api] path_roots` is refused before anything is
    // said about it; under a root, a missing file is not found.
    let err = f
        .err(
            "component.call",
            json!({"component": "/nonexistent/x.wasm", "function": "handle"}),
        )
        .await;
    assert_eq!((err.status_code(), err.kind()), (403, "forbidden_path"));
    let err = f
        .err(
            "component.call",
            json!({"component": f.file("missing.wasm"), "function": "handle"}),
        )
        .await;
    assert_eq!(err.status_code(), 404, "{err}");
    let err = f
        .err(
            "component.call",
            json!({"component": counter, "function": "handle", "args": ["sleep-loop"], "timeout_ms": 100}),
        )
        .await;
    assert_eq!(err.status_code(), 504, "{err}");
    let err = f
        .err(
            "component.call",
            json!({"component": counter, "function": "handle", "args": ["crash"]}),
        )
        .await;
    assert_eq!(
        err.status_code(),
        422,
        "the guest trapped, not the host: {err}"
    );
    assert_eq!(err.body()["error"]["cause"], "trap");
    assert!(err.to_string().contains("trap"), "{err}");

    let exercise = repo_root().join("examples/exercises/leap");
    let pass = f
        .ok(
            "grade",
            json!({"exercise": exercise, "solution": plugin("leap_ref"), "timing": false}),
        )
        .await;
    assert_eq!(pass["exercise"], "leap");
    assert_eq!(pass["status"], "pass", "{pass}");
    let fail = f
        .ok(
            "grade",
            json!({"exercise": exercise, "solution": plugin("leap_wrong")}),
        )
        .await;
    assert_eq!(fail["status"], "fail");
    assert!(fail["counts"]["failed"].as_u64().unwrap() > 0);
    let err = f
        .err(
            "grade",
            json!({"exercise": "/nonexistent", "solution": plugin("leap_ref")}),
        )
        .await;
    assert_eq!((err.status_code(), err.kind()), (403, "forbidden_path"));
    let err = f
        .err(
            "grade",
            json!({"exercise": f.file("no-such-exercise"), "solution": plugin("leap_ref")}),
        )
        .await;
    assert_eq!(err.status_code(), 404, "{err}");
    let err = f.err("grade", json!({"exercise": exercise})).await;
    assert_eq!(violations(&err), ["/solution"]);
    f.host.stop().await;
}

/// Polls until `wc.count`'s schema has (or lacks) `min_length`.
async fn until_schema(host: &Host, has_min_length: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let schema = host
            .operations
            .get("wc.count")
            .unwrap()
            .params_schema()
            .source()
            .clone();
        if schema["properties"].get("min_length").is_some() == has_min_length {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the schema never changed: {schema}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_operation_from_config_is_reloaded_with_a_changed_schema() {
    let f = Fixture::start(&tree()).await;
    let op = f.host.operations.get("wc.count").unwrap();
    assert_eq!(*op.owner(), Owner::Plugin("wc".into()));
    let counted = f.ok("wc.count", json!({"text": "a b a", "top": 50})).await;
    assert_eq!(counted["words"], 3);
    assert_eq!(counted.get("version"), None);
    let err = f
        .err("wc.count", json!({"text": "a", "min_length": 2}))
        .await;
    assert_eq!(violations(&err), ["/min_length"], "v1 has no min_length");

    // The new file alone changes nothing until the plugin is reloaded.
    replace_file(&plugin("wordcount_v2"), &f.file("wc.wasm"));
    f.ok("wc.count", json!({"text": "a", "top": 50})).await;

    let reloaded = f.ok("plugin.reload", json!({"id": "wc"})).await;
    assert_eq!(reloaded, json!({"operations": ["wc.count"]}));
    until_schema(&f.host, true).await;
    let err = f.err("wc.count", json!({"text": "a b a", "top": 50})).await;
    assert_eq!(err.status_code(), 400);
    assert_eq!(err.body()["error"]["violations"][0]["path"], "/top");
    assert_eq!(
        err.body()["error"]["violations"][0]["expected"],
        "integer <= 10"
    );
    let counted = f
        .ok(
            "wc.count",
            json!({"text": "to be or not to be, that is it", "min_length": 3}),
        )
        .await;
    assert_eq!(counted["version"], 2);
    assert_eq!(counted["words"], 2, "{counted}");
    let doc = f.host.operations.openapi_document("warden", "test");
    assert_eq!(
        doc["paths"]["/ops/wc.count"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["properties"]["top"]["maximum"],
        10
    );

    // A broken file: the reload fails, the operations stay as they were.
    std::fs::write(f.file("wc.wasm"), b"\0asm broken").unwrap();
    let err = f.err("plugin.reload", json!({"id": "wc"})).await;
    assert_eq!(err.status_code(), 500);
    assert!(err.to_string().contains("operation plugin `wc`"), "{err}");
    f.ok("wc.count", json!({"text": "abc", "min_length": 3}))
        .await;
    // Not an operation plugin at all.
    replace_file(&plugin("counter"), &f.file("wc.wasm"));
    let err = f.err("plugin.reload", json!({"id": "wc"})).await;
    assert_eq!(err.status_code(), 500, "{err}");

    let err = f.err("plugin.reload", json!({"id": "nope"})).await;
    assert_eq!(err.status_code(), 404);
    assert!(err.to_string().contains("configured: wc"), "{err}");
    let err = f.err("plugin.reload", json!({})).await;
    assert_eq!(violations(&err), ["/id"]);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_plugin_is_re_registered_when_its_file_changes() {
    let body = tree().replace(
        "limits = { fuel = 50000000, memory_mb = 16, timeout_ms = 2000 }",
        "watch = true\n\n[reload]\ndebounce_ms = 20\nprobation_ms = 0",
    );
    let f = Fixture::start(&body).await;
    f.ok("wc.count", json!({"text": "x", "top": 50})).await;
    replace_file(&plugin("wordcount_v2"), &f.file("wc.wasm"));
    until_schema(&f.host, true).await;
    let err = f.err("wc.count", json!({"text": "x", "top": 50})).await;
    assert_eq!(violations(&err), ["/top"]);
    let counted = f
        .ok("wc.count", json!({"text": "xy z", "min_length": 2}))
        .await;
    assert_eq!(counted["words"], 1);

    // A half-written file is not registered; the next complete one is.
    std::fs::write(f.file("wc.wasm"), b"").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.ok("wc.count", json!({"text": "xy", "min_length": 2}))
        .await;
    replace_file(&plugin("wordcount"), &f.file("wc.wasm"));
    until_schema(&f.host, false).await;
    f.ok("wc.count", json!({"text": "x", "top": 50})).await;
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probation_from_config_decides_whether_a_crash_rolls_back() {
    // With probation: a crash right after the swap goes back to v1.
    let f = Fixture::start(&tree()).await;
    replace_file(&plugin("counter_v2"), &f.file("counter.wasm"));
    f.ok("child.reload", json!({"path": "root/counter"})).await;
    f.err(
        "child.send",
        json!({"path": "root/counter", "message": "crash"}),
    )
    .await;
    let v = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "version"}),
        )
        .await;
    assert_eq!(v["reply"], "counter-v1", "rolled back");
    f.host.stop().await;

    // probation_ms = 0: the crash is an ordinary failure, v2 is restarted.
    let f = Fixture::start(&format!("{}\n[reload]\nprobation_ms = 0\n", tree())).await;
    let g = f.running_generation("root/counter", None).await;
    replace_file(&plugin("counter_v2"), &f.file("counter.wasm"));
    f.ok("child.reload", json!({"path": "root/counter"})).await;
    f.err(
        "child.send",
        json!({"path": "root/counter", "message": "crash"}),
    )
    .await;
    f.running_generation("root/counter", Some(g)).await;
    let v = f
        .ok(
            "child.send",
            json!({"path": "root/counter", "message": "version"}),
        )
        .await;
    assert_eq!(v["reply"], "counter-v2", "restarted, not rolled back");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_cannot_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let body = tree().replace("path = \"wc.wasm\"", "path = \"counter.wasm\"");
    let config = write_config(dir.path(), &body);
    let err = match Host::start(&config, EventBus::default()).await {
        Ok(_) => panic!("an actor is not an operation plugin"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("warden.toml: operations.wc"), "{err}");
    assert!(err.contains("counter.wasm"), "{err}");
}

fn config_error(extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugin("wordcount"), dir.path().join("wc.wasm")).unwrap();
    let text = format!("[supervisor.root]\nstrategy = \"one_for_one\"\n{extra}\n");
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, text).unwrap();
    match config::load(&path) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn operation_and_reload_config_is_validated_naming_file_and_key() {
    let cases = [
        (
            "[operations.wc]\nwatch = true",
            "operations.wc.path: an operation plugin needs the path",
        ),
        (
            "[operations.wc]\npath = \"missing.wasm\"",
            "operations.wc.path: ",
        ),
        (
            "[operations.WC]\npath = \"wc.wasm\"",
            "operations.WC: `WC` cannot prefix operation names",
        ),
        (
            "[operations.child]\npath = \"wc.wasm\"",
            "operations.child: `child` is taken",
        ),
        (
            "[operations.wc]\npath = \"wc.wasm\"\nlimits = { memory_mb = 0 }",
            "operations.wc.limits.memory_mb: expected at least 1 MiB",
        ),
        (
            "[operations.wc]\npath = \"wc.wasm\"\nlimits = { fuel = 0 }",
            "operations.wc.limits.fuel",
        ),
        (
            "[operations.wc]\npath = \"wc.wasm\"\ndirs = [{ host = \"nope\", guest = \"/d\" }]",
            "operations.wc.dirs[0].host",
        ),
        (
            "[operations.wc]\npath = \"wc.wasm\"\nlimits = { cpu_secs = 1 }",
            "unknown field `cpu_secs`",
        ),
        (
            "[reload]\ndebounce_ms = 0",
            "reload.debounce_ms: expected 1 to 60000",
        ),
        (
            "[reload]\nprobation_ms = 99999999",
            "reload.probation_ms: expected 0 (off)",
        ),
        ("[reload]\ndebounce = 5", "unknown field `debounce`"),
    ];
    for (extra, wanted) in cases {
        let err = config_error(extra);
        assert!(err.contains("warden.toml"), "{err}");
        assert!(err.contains(wanted), "{extra:?}: {err}");
    }

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugin("wordcount"), dir.path().join("wc.wasm")).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let path = dir.path().join("warden.toml");
    std::fs::write(
        &path,
        "[supervisor.root]\nstrategy = \"one_for_one\"\n\
         [operations.wc]\npath = \"wc.wasm\"\nwatch = true\n\
         limits = { fuel = 1000, memory_mb = 8, timeout_ms = 0 }\n\
         dirs = [{ host = \"data\", guest = \"/data\" }]\n",
    )
    .unwrap();
    let config = config::load(&path).unwrap();
    assert_eq!(config.reload.debounce, Duration::from_millis(50));
    assert_eq!(config.reload.probation, Duration::from_millis(5000));
    let wc = &config.operations[0];
    assert_eq!(wc.id, "wc");
    assert!(wc.path.is_absolute() && wc.path.ends_with("wc.wasm"));
    assert!(wc.watch);
    assert_eq!(wc.limits.fuel, Some(1000));
    assert_eq!(wc.limits.memory_bytes, 8 << 20);
    assert_eq!(wc.limits.timeout, None);
    assert_eq!(wc.caps.dirs[0].guest, "/data");
    assert!(!wc.caps.dirs[0].writable);
}

#[test]
fn the_operations_example_config_is_valid() {
    // Builds the plugins the example names.
    plugin("wordcount");
    let config = config::load(&repo_root().join("examples/operations.toml")).unwrap();
    assert_eq!(config.operations.len(), 1);
    assert_eq!(config.operations[0].id, "wc");
    assert!(config.operations[0].watch);
    assert_eq!(config.operations[0].limits.fuel, Some(50_000_000));
    assert_eq!(config.reload.debounce, Duration::from_millis(50));
    assert_eq!(config.reload.probation, Duration::from_millis(5000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_protection_is_on_by_default_and_changed_at_run_time() {
    let f = Fixture::start(&tree()).await;
    let settings =
        |report: &Value, child: usize| report[0]["children"][child]["storm_settings"].clone();
    let health = f.ok("health", json!({"path": "root"})).await;
    assert_eq!(
        settings(&health, 0),
        json!({"per_minute": 10, "per_hour": 100,
               "action": {"tiers": ["log", "pause", "escalate"], "pause_ms": 30000, "escalate_after": 5}})
    );
    let changed = f
        .ok(
            "supervisor.storm",
            json!({"path": "root", "child": "counter", "per_minute": 3, "action": "pause", "cooldown_ms": 2000}),
        )
        .await;
    assert_eq!(changed["supervisor"], "root");
    assert_eq!(changed["children"], json!(["counter"]));
    assert_eq!(
        changed["storm"],
        json!({"per_minute": 3, "per_hour": null, "action": {"pause_ms": 2000}})
    );
    let health = f.ok("health", json!({"path": "root"})).await;
    assert_eq!(settings(&health, 0), changed["storm"]);
    assert_eq!(
        settings(&health, 1)["per_minute"],
        10,
        "the others keep theirs"
    );
    // Off for every child of root.
    let off = f
        .ok(
            "supervisor.storm",
            json!({"path": "root", "enabled": false}),
        )
        .await;
    assert_eq!(off["children"].as_array().unwrap().len(), 4);
    assert_eq!(off["storm"], Value::Null);
    let health = f.ok("health", json!({"path": "root"})).await;
    assert_eq!(settings(&health, 2), Value::Null);
    for (params, path) in [
        (
            json!({"path": "root", "enabled": false, "per_minute": 3}),
            "/enabled",
        ),
        (json!({"path": "root", "action": "pause"}), "/cooldown_ms"),
        (
            json!({"path": "root", "action": "log", "escalate_after": 3}),
            "/escalate_after",
        ),
        (json!({"path": "root", "per_minute": 0}), "/per_minute"),
        (json!({"path": "root", "calm": true}), "/calm"),
    ] {
        let err = f.err("supervisor.storm", params.clone()).await;
        assert_eq!(err.status_code(), 400, "{params}: {err}");
        assert_eq!(violations(&err), [path], "{params}");
    }
    let err = f
        .err(
            "supervisor.storm",
            json!({"path": "root", "child": "nobody"}),
        )
        .await;
    assert_eq!(err.status_code(), 404, "{err}");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_strategy_change_outlives_the_host() {
    let f = Fixture::start(&tree()).await;
    let dry = f
        .ok(
            "supervisor.strategy",
            json!({"path": "root/storage", "strategy": "one_for_all", "dry_run": true}),
        )
        .await;
    assert_eq!(dry["risk"]["level"], "low", "{dry}");
    assert_eq!(dry["persisted"], false);
    let applied = f
        .ok(
            "supervisor.strategy",
            json!({"path": "root/storage", "strategy": "one_for_all", "settle_ms": 50, "persist": true}),
        )
        .await;
    assert_eq!(applied["outcome"]["outcome"], "applied");
    assert_eq!(applied["persisted"], true);
    // Not persisted: back to the file's at the next start.
    f.ok(
        "supervisor.strategy",
        json!({"path": "root", "strategy": "one_for_all", "settle_ms": 50}),
    )
    .await;
    f.host.stop().await;
    let Fixture { dir, host } = f;
    drop(host);
    let config = config::load(&dir.path().join("warden.toml")).unwrap();
    let again = Host::start(&config, EventBus::default()).await.unwrap();
    let list = again
        .operations
        .call("supervisors.list", json!({}))
        .await
        .unwrap();
    assert_eq!(list[0]["strategy"], "one_for_one", "{list}");
    assert_eq!(list[1]["strategy"], "one_for_all", "{list}");
    again.stop().await;
}
