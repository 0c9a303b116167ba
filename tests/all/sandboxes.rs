//! Sandboxes created at run time over the HTTP API of a real `warden run`:
//! create → send → reload to another stored component keeping state →
//! destroy; what they may see of the host's disk; every refusal;
//! sandboxes in groups, reloaded together by a rollout; and 1,000
//! create/destroy cycles that leave no trace.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden::api::client::{ApiClient, ClientError};

use crate::support::{HostProcess, plugin, variant};

/// A `warden run` whose root has the component child `counter` and, with
/// `[api.sandboxes]` (`sandboxes` its keys, `None` for none), the
/// sandboxes' supervisor; grants `ro` (`shared/`) and `rw` (`scratch/`).
fn start(sandboxes: Option<&str>) -> (tempfile::TempDir, HostProcess) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::create_dir(dir.path().join("scratch")).unwrap();
    std::fs::create_dir(dir.path().join("secret")).unwrap();
    std::fs::write(dir.path().join("shared/greeting"), "hello from the host").unwrap();
    std::fs::write(dir.path().join("secret/key"), "do not read").unwrap();
    let section = sandboxes.map_or(String::new(), |keys| format!("[api.sandboxes]\n{keys}\n"));
    let text = format!(
        r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
[supervisor.root]
strategy = "one_for_one"
intensity = 10
[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "{counter}"
{section}
[api.grants.ro]
host = "shared"
[api.grants.rw]
host = "scratch"
writable = true
"#,
        counter = plugin("counter").display()
    );
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, text).unwrap();
    let host = HostProcess::start(&config, &dir.path().join("state"), &[]);
    (dir, host)
}

/// Uploads `bytes` to the host's component store (`POST /components`),
/// checking the id it answers is the SHA-256 of the bytes.
async fn store_component(client: &ApiClient, bytes: &[u8]) -> String {
    let (status, body) = client.upload(bytes.to_vec()).await.expect("upload");
    assert!(status == 201 || status == 200, "{status}: {body}");
    let id = warden::store::ComponentId::of(bytes).to_string();
    assert_eq!(body["id"], id.as_str(), "{body}");
    id
}

async fn call(client: &ApiClient, op: &str, params: Value) -> Value {
    client
        .call(op, params.clone())
        .await
        .unwrap_or_else(|e| panic!("{op} {params}: {e}"))
}

/// [`call`], checking the answer against the result schema the host's
/// OpenAPI document states for `op`.
async fn documented(client: &ApiClient, op: &str, params: Value) -> Value {
    let answer = call(client, op, params).await;
    let doc = client.get_json("/openapi.json").await.unwrap();
    let schema = &doc["paths"][format!("/ops/{op}")]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let schema = warden::ops::Schema::compile(schema.clone())
        .unwrap_or_else(|e| panic!("{op}'s result schema: {e}"));
    let violations = schema.validate(&answer);
    assert!(
        violations.is_empty(),
        "{op}'s answer {answer} breaks its documented schema: {violations:?}"
    );
    answer
}

/// The status and message of a call that must fail.
async fn refused(client: &ApiClient, op: &str, params: Value) -> (u16, String) {
    match client.call(op, params.clone()).await {
        Ok(answer) => panic!("{op} {params} was accepted: {answer}"),
        Err(ClientError::Status { status, body }) => (status, body.to_string()),
        Err(other) => panic!("{op} {params}: {other}"),
    }
}

async fn send(client: &ApiClient, path: &str, message: &str) -> Result<String, (u16, String)> {
    match client
        .call("child.send", json!({"path": path, "message": message}))
        .await
    {
        Ok(answer) => Ok(answer["reply"].as_str().unwrap_or_default().to_string()),
        Err(ClientError::Status { status, body }) => Err((status, body.to_string())),
        Err(other) => panic!("child.send {path} {message}: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_is_created_reloaded_to_a_new_component_keeping_state_and_destroyed() {
    let (_dir, host) = start(Some(""));
    let client = host.client(None);
    let v1 = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;
    let v2 = store_component(&client, &std::fs::read(plugin("counter_v2")).unwrap()).await;

    let created = documented(
        &client,
        "sandbox.create",
        json!({"id": "tenant", "component": v1, "limits": {"memory_mb": 32, "timeout_ms": 1000}}),
    )
    .await;
    assert_eq!(created["path"], "root/sandboxes/tenant", "{created}");
    assert_eq!(created["component"], v1.as_str());
    let path = "root/sandboxes/tenant";
    for _ in 0..3 {
        send(&client, path, "inc").await.unwrap();
    }
    assert_eq!(send(&client, path, "get").await.unwrap(), "3");
    assert_eq!(send(&client, path, "version").await.unwrap(), "counter-v1");

    let listed = documented(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["sandboxes"][0]["component"], v1.as_str(), "{listed}");
    assert_eq!(listed["sandboxes"][0]["state"], "running");
    assert_eq!(listed["leases"], 1, "the sandbox's lease: {listed}");

    let reloaded = documented(
        &client,
        "child.reload",
        json!({"path": path, "component": v2}),
    )
    .await;
    assert_eq!(reloaded["outcome"], "reloaded", "{reloaded}");
    assert_eq!(send(&client, path, "version").await.unwrap(), "counter-v2");
    assert_eq!(send(&client, path, "get").await.unwrap(), "3", "state kept");
    send(&client, path, "inc").await.unwrap();
    assert_eq!(send(&client, path, "get").await.unwrap(), "4");
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["sandboxes"][0]["component"], v2.as_str(), "{listed}");
    assert_eq!(
        listed["leases"], 2,
        "v2 leased, v1 kept for a rollback: {listed}"
    );
    // counter_v2's state cannot go back to v1 (schema 2 to 1): the
    // rollback path is checked with a second sandbox below.
    assert_eq!(
        listed["sandboxes"][0]["generation"], created["generation"],
        "a reload is not a restart"
    );
    let destroyed = documented(&client, "sandbox.destroy", json!({"path": path})).await;
    assert_eq!(destroyed["component"], v2.as_str());
    let (status, body) = refused(&client, "child.info", json!({"path": path})).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = refused(&client, "child.versions", json!({"path": path})).await;
    assert_eq!(status, 404, "the reload history is forgotten");
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["sandboxes"], json!([]), "{listed}");
    assert_eq!(listed["leases"], 0, "no lease left: {listed}");
    let (status, _) = refused(&client, "sandbox.destroy", json!({"path": path})).await;
    assert_eq!(status, 404);
    // The same id can be used again.
    call(
        &client,
        "sandbox.create",
        json!({"id": "tenant", "component": v1}),
    )
    .await;
    assert_eq!(
        send(&client, path, "get").await.unwrap(),
        "0",
        "a fresh sandbox"
    );
    // The configured child was never touched.
    assert_eq!(send(&client, "root/counter", "get").await.unwrap(), "0");

    // A sandbox keeps a lease on every component it may roll back to, and
    // names the one it runs. The same code under another id: counter with
    // a custom section appended (id 0, size 2, name "v").
    let v1b = store_component(
        &client,
        &[
            std::fs::read(plugin("counter")).unwrap(),
            vec![0, 2, 1, b'v'],
        ]
        .concat(),
    )
    .await;
    call(
        &client,
        "sandbox.create",
        json!({"id": "other", "component": v1}),
    )
    .await;
    let other = "root/sandboxes/other";
    send(&client, other, "inc").await.unwrap();
    call(
        &client,
        "child.reload",
        json!({"path": other, "component": v1b}),
    )
    .await;
    let listed = call(&client, "sandbox.list", json!({})).await;
    let entry = |listed: &Value| {
        listed["sandboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"] == other)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry(&listed)["component"], v1b.as_str(), "{listed}");
    assert_eq!(
        listed["leases"], 3,
        "tenant: v1; other: v1 and v1b: {listed}"
    );
    call(&client, "child.rollback", json!({"path": other})).await;
    assert_eq!(
        send(&client, other, "get").await.unwrap(),
        "1",
        "state kept"
    );
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(entry(&listed)["component"], v1.as_str(), "{listed}");
    let destroyed = call(&client, "sandbox.destroy", json!({"path": other})).await;
    assert_eq!(destroyed["component"], v1.as_str());
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["leases"], 1, "only tenant's: {listed}");

    // The store lets go of what no sandbox uses, and only of that.
    match client.delete(&format!("/components/{v1}")).await {
        Err(ClientError::Status { status: 409, body }) => {
            assert_eq!(
                body["error"]["users"],
                json!(["root/sandboxes/tenant"]),
                "{body}"
            )
        }
        other => panic!("deleting a component a sandbox runs: {other:?}"),
    }
    client.delete(&format!("/components/{v1b}")).await.unwrap();
    client.delete(&format!("/components/{v2}")).await.unwrap();
    let stored = client.get_json("/components").await.unwrap();
    assert_eq!(stored.as_array().map(Vec::len), Some(1), "{stored}");
}

/// `child.info` of `path` once it hibernates (within 10 s).
async fn hibernated(client: &ApiClient, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = call(client, "child.info", json!({"path": path})).await;
        if info["info"]["hibernated"] == true {
            return info;
        }
        assert!(Instant::now() < deadline, "never hibernated: {info}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_may_hibernate_and_wakes_with_its_state() {
    let (_dir, host) = start(Some(""));
    let client = host.client(None);
    let counter = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;
    call(
        &client,
        "sandbox.create",
        json!({"id": "sleepy", "component": counter, "hibernate_after_ms": 30}),
    )
    .await;
    let path = "root/sandboxes/sleepy";
    assert_eq!(send(&client, path, "add 7").await.unwrap(), "7");
    let info = hibernated(&client, path).await;
    assert_eq!(info["info"]["hibernate_after_ms"], 30, "{info}");
    assert_eq!(info["info"]["memory_bytes"], 0, "{info}");
    let metrics = client.get_text("/metrics").await.unwrap();
    let line = format!("warden_child_hibernated{{path=\"{path}\",kind=\"component\"}} 1\n");
    assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    assert!(
        !metrics.contains("warden_child_hibernated{path=\"root/counter\""),
        "a child that cannot hibernate has no line: {metrics}"
    );
    assert_eq!(
        send(&client, path, "inc").await.unwrap(),
        "8",
        "woke with its state"
    );
}

/// A hibernating child that finds the pool full when a message comes
/// keeps sleeping with its state, and wakes once a slot is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_finds_no_instance_to_wake_in_keeps_its_state() {
    let host = HostProcess::start_tree(
        r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
pooling_instances = 2
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "sleepy"
kind = "component"
path = "counter.wasm"
hibernate_after_ms = 30
[[supervisor.root.children]]
id = "awake"
kind = "component"
path = "counter.wasm"
[api.sandboxes]
"#,
        &[],
    );
    let client = host.client(None);
    let path = "root/sleepy";
    assert_eq!(send(&client, path, "add 5").await.unwrap(), "5");
    hibernated(&client, path).await;
    // A sandbox takes the slot the sleeper gave back: the pool is full.
    let counter = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;
    call(
        &client,
        "sandbox.create",
        json!({"id": "squatter", "component": counter}),
    )
    .await;

    let (status, body) = send(&client, path, "get").await.unwrap_err();
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("cannot wake from hibernation") && body.contains("its state kept"),
        "{body}"
    );
    let still = call(&client, "child.info", json!({"path": path})).await;
    assert_eq!(still["info"]["hibernated"], true, "{still}");

    call(
        &client,
        "sandbox.destroy",
        json!({"path": "root/sandboxes/squatter"}),
    )
    .await;
    assert_eq!(
        send(&client, path, "get").await.unwrap(),
        "5",
        "woke with its state"
    );
    let whole = call(&client, "child.info", json!({"path": path})).await;
    assert_eq!(whole["restarts"], 0, "no restart on the way: {whole}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_refused_with_the_status_it_deserves() {
    let (_dir, host) = start(Some("max = 2"));
    let client = host.client(None);
    let counter = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;
    let operation = store_component(&client, &std::fs::read(plugin("wordcount")).unwrap()).await;
    let create = |extra: Value| {
        let mut params = json!({"id": "s", "component": counter});
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        params
    };
    for (params, status, words) in [
        (
            create(json!({"dirs": [{"grant": "nope", "guest": "/data"}]})),
            400,
            "unknown grant `nope`",
        ),
        (
            create(json!({"dirs": [{"grant": "ro", "guest": "/data/../etc"}]})),
            400,
            "/dirs/0/guest",
        ),
        (
            create(json!({"component": "../../etc/passwd"})),
            400,
            "/component",
        ),
        (
            create(json!({"component": format!("../../etc/{}", "a".repeat(54))})),
            400,
            "not a component id",
        ),
        (
            create(json!({"component": "a".repeat(64)})),
            404,
            "not found",
        ),
        (create(json!({"component": operation})), 422, "actor"),
        (create(json!({"watch": true})), 400, "child.reload"),
        (create(json!({"supervisor": "root"})), 400, "/supervisor"),
        (
            create(json!({"limits": {"memory_mb": 4096}})),
            400,
            "/limits/memory_mb",
        ),
        (create(json!({"id": "a/b"})), 400, "/id"),
        (
            create(json!({"hibernate_after_ms": 0})),
            400,
            "/hibernate_after_ms",
        ),
        (create(json!({"path": "/etc"})), 400, "path"),
    ] {
        let (got, body) = refused(&client, "sandbox.create", params.clone()).await;
        assert_eq!(got, status, "{params}: {body}");
        assert!(body.contains(words), "{params}: `{words}` not in {body}");
    }
    call(&client, "sandbox.create", create(json!({}))).await;
    let (status, body) = refused(&client, "sandbox.create", create(json!({}))).await;
    assert_eq!(status, 409, "a duplicate: {body}");
    call(&client, "sandbox.create", create(json!({"id": "t"}))).await;
    let (status, body) = refused(&client, "sandbox.create", create(json!({"id": "u"}))).await;
    assert_eq!(status, 409, "max reached: {body}");
    assert!(body.contains("max"), "{body}");

    let (status, body) = refused(&client, "sandbox.destroy", json!({"path": "root/counter"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("only children created by sandbox.create"),
        "{body}"
    );
    assert_eq!(send(&client, "root/counter", "get").await.unwrap(), "0");
    let (status, body) = refused(
        &client,
        "child.reload",
        json!({"path": "root/counter", "component": counter}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("reloads from its own file"), "{body}");

    // The refused creations left nothing behind; destroying frees a place.
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["leases"], 2, "{listed}");
    call(
        &client,
        "sandbox.destroy",
        json!({"path": "root/sandboxes/s"}),
    )
    .await;
    call(&client, "sandbox.create", create(json!({"id": "u"}))).await;

    let (_dir, off) = start(None);
    let (status, body) = refused(
        &off.client(None),
        "sandbox.create",
        json!({"id": "s", "component": counter}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("add [api.sandboxes]"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_sees_only_the_directories_granted_to_it_and_writes_only_where_allowed() {
    let (dir, host) = start(Some(""));
    let client = host.client(None);
    let kv = store_component(&client, &std::fs::read(plugin("kv")).unwrap()).await;
    let secret = dir.path().join("secret/key").display().to_string();

    call(
        &client,
        "sandbox.create",
        json!({"id": "none", "component": kv}),
    )
    .await;
    let (status, body) = send(&client, "root/sandboxes/none", "get greeting")
        .await
        .unwrap_err();
    assert_eq!(status, 422, "no /data without a grant: {body}");
    let (status, _) = send(&client, "root/sandboxes/none", &format!("get {secret}"))
        .await
        .unwrap_err();
    assert_eq!(status, 422, "the host's own path is not there");

    call(
        &client,
        "sandbox.create",
        json!({"id": "reader", "component": kv, "dirs": [{"grant": "ro", "guest": "/data"}]}),
    )
    .await;
    let reader = "root/sandboxes/reader";
    assert_eq!(
        send(&client, reader, "get greeting").await.unwrap(),
        "hello from the host"
    );
    for escape in [
        format!("get {secret}"),
        "get ../secret/key".to_string(),
        "get /etc/passwd".to_string(),
    ] {
        let (status, body) = send(&client, reader, &escape).await.unwrap_err();
        assert_eq!(status, 422, "{escape}: {body}");
        assert!(!body.contains("do not read"), "{escape}: {body}");
    }
    let (status, body) = send(&client, reader, "put note hi").await.unwrap_err();
    assert_eq!(status, 422, "a read-only grant refuses writes: {body}");
    assert!(!dir.path().join("shared/note").exists());

    call(
        &client,
        "sandbox.create",
        json!({"id": "writer", "component": kv, "dirs": [{"grant": "rw", "guest": "/data"}]}),
    )
    .await;
    send(&client, "root/sandboxes/writer", "put note hi there")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("scratch/note")).unwrap(),
        "hi there"
    );
}

/// The host's resident memory (kB) and open file descriptors.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

/// Cycles counted after the warm-up.
const CYCLES: usize = 1_000;
/// Growth of resident memory allowed over [`CYCLES`]: allocator slack
/// (measured: under 1 MiB). Leaking one `counter` instance per cycle (a
/// sandbox left running) grows it by tens of MiB.
const RSS_TOLERANCE_KB: u64 = 8 * 1024;
/// Open descriptors allowed to differ (a connection, a log file rolling).
const FD_TOLERANCE: usize = 4;

async fn cycles(client: &ApiClient, component: &str, n: usize) {
    for i in 0..n {
        let created = call(
            client,
            "sandbox.create",
            json!({"id": format!("c{}", i % 7), "component": component}),
        )
        .await;
        let path = created["path"].as_str().unwrap().to_string();
        send(client, &path, "inc").await.unwrap();
        call(client, "sandbox.destroy", json!({"path": path})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_create_destroy_cycles_leave_memory_descriptors_and_leases_at_baseline() {
    let (_dir, host) = start(Some(""));
    let client = host.client(None);
    // A variant: a component no other test compiles, so its cost is this
    // test's.
    let counter = variant(&std::fs::read(plugin("counter")).unwrap(), "cycles");
    let id = store_component(&client, &counter).await;
    cycles(&client, &id, 100).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss0, fds0) = usage(host.pid());
    let leases0 = call(&client, "sandbox.list", json!({})).await["leases"].clone();
    assert_eq!(leases0, 0);

    cycles(&client, &id, CYCLES).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss, fds) = usage(host.pid());
    let listed = call(&client, "sandbox.list", json!({})).await;
    eprintln!(
        "{CYCLES} cycles: VmRSS {rss0} → {rss} kB ({:+} kB), fds {fds0} → {fds}",
        rss as i64 - rss0 as i64
    );
    assert_eq!(listed["sandboxes"], json!([]), "{listed}");
    assert_eq!(listed["leases"], 0, "every lease released: {listed}");
    assert!(
        rss <= rss0 + RSS_TOLERANCE_KB,
        "resident memory grew from {rss0} to {rss} kB over {CYCLES} cycles"
    );
    assert!(
        fds <= fds0 + FD_TOLERANCE,
        "open descriptors grew from {fds0} to {fds} over {CYCLES} cycles"
    );
    let tree = call(&client, "tree", json!({})).await.to_string();
    assert!(
        !tree.contains("\"c1\""),
        "no child left in the tree: {tree}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_one_for_one_supervisor_takes_sandboxes_as_dynamic_children() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "pool"
kind = "supervisor"
supervisor = "pool"
[supervisor.pool]
strategy = "simple_one_for_one"
intensity = 5
[[supervisor.pool.children]]
id = "template"
kind = "component"
path = "{echo}"
[api.sandboxes]
supervisor = "pool"
"#,
        echo = plugin("echo").display()
    );
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, text).unwrap();
    let host = HostProcess::start(&config, &dir.path().join("state"), &[]);
    let client = host.client(None);
    let counter = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;

    let (status, body) = refused(
        &client,
        "sandbox.create",
        json!({"id": "a", "component": counter, "restart": "temporary"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("simple_one_for_one"), "{body}");

    let created = call(
        &client,
        "sandbox.create",
        json!({"id": "a", "component": counter, "supervisor": "pool"}),
    )
    .await;
    assert_eq!(created["path"], "root/pool/a", "{created}");
    // The sandbox runs its own component, not the spec's `echo`.
    send(&client, "root/pool/a", "inc").await.unwrap();
    assert_eq!(
        send(&client, "root/pool/a", "version").await.unwrap(),
        "counter-v1"
    );
    // A crash restarts it from its own component too.
    call(&client, "child.kill", json!({"path": "root/pool/a"})).await;
    let mut reply = Err((0, String::new()));
    for _ in 0..100 {
        reply = send(&client, "root/pool/a", "get").await;
        if reply.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reply.unwrap(), "0", "restarted fresh, as counter");
    call(&client, "sandbox.destroy", json!({"path": "root/pool/a"})).await;
    let (status, _) = refused(&client, "child.info", json!({"path": "root/pool/a"})).await;
    assert_eq!(status, 404);
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["leases"], 0, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_sandbox_does_not_take_its_neighbours_down() {
    let (_dir, host) = start(Some(""));
    let client = host.client(None);
    let counter = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;
    let crashy = store_component(&client, &std::fs::read(plugin("misbehave")).unwrap()).await;
    call(
        &client,
        "sandbox.create",
        json!({"id": "quiet", "component": counter}),
    )
    .await;
    let quiet = "root/sandboxes/quiet";
    send(&client, quiet, "inc").await.unwrap();
    let generation = |listed: &Value, path: &str| {
        listed["sandboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"] == path)
            .map(|s| (s["state"].clone(), s["generation"].clone()))
    };
    let before = generation(&call(&client, "sandbox.list", json!({})).await, quiet);
    call(
        &client,
        "sandbox.create",
        json!({"id": "crashy", "component": crashy}),
    )
    .await;
    // Five crashes in a row, each as soon as the sandbox is back: with the
    // old defaults (intensity 1 in 5 s, no backoff) the second one stopped
    // the sandboxes' supervisor and every tenant's sandbox with it.
    let crashy_path = "root/sandboxes/crashy";
    for crash in 0..5 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match send(&client, crashy_path, "trap").await {
                Err((422, _)) => break,
                Err((409, _)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                other => panic!("crash {crash}: {other:?}"),
            }
        }
    }
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(generation(&listed, quiet), before, "{listed}");
    assert_eq!(
        send(&client, quiet, "get").await.unwrap(),
        "1",
        "state kept"
    );
    assert_eq!(send(&client, "root/counter", "get").await.unwrap(), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_join_groups_and_a_rollout_reloads_them_to_a_stored_component() {
    let (_dir, host) = start(Some(""));
    let client = host.client(None);
    let v1 = store_component(&client, &std::fs::read(plugin("counter")).unwrap()).await;
    let v2 = store_component(&client, &std::fs::read(plugin("counter_v2")).unwrap()).await;
    let (status, body) = refused(
        &client,
        "sandbox.create",
        json!({"id": "t0", "component": v1, "groups": ["tenants", "no spaces"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("/groups/1"), "{body}");
    for id in ["t1", "t2"] {
        call(
            &client,
            "sandbox.create",
            json!({"id": id, "component": v1, "groups": ["tenants"]}),
        )
        .await;
        send(&client, &format!("root/sandboxes/{id}"), "inc")
            .await
            .unwrap();
    }
    let members = documented(&client, "group.members", json!({"group": "tenants"})).await;
    let paths: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["root/sandboxes/t1", "root/sandboxes/t2"]);
    assert_eq!(members[0]["source"], "joined", "{members}");

    let started = documented(
        &client,
        "rollout.start",
        json!({"group": "tenants", "action": "reload", "component": v2,
               "batch_size": 1, "settle_ms": 100}),
    )
    .await;
    let id = started["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = documented(&client, "rollout.status", json!({ "id": id })).await;
        if view["state"] != "running" {
            break view;
        }
        assert!(Instant::now() < deadline, "{view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(view["state"], "succeeded", "{view}");
    for id in ["t1", "t2"] {
        let path = format!("root/sandboxes/{id}");
        assert_eq!(send(&client, &path, "version").await.unwrap(), "counter-v2");
        assert_eq!(
            send(&client, &path, "get").await.unwrap(),
            "1",
            "state kept"
        );
    }
    let listed = call(&client, "sandbox.list", json!({})).await;
    assert_eq!(listed["leases"], 4, "each on v2, v1 kept: {listed}");
    // A configured child reloads from its own file, not a stored component.
    let (status, body) = refused(
        &client,
        "rollout.start",
        json!({"paths": ["root/counter"], "action": "reload", "component": v2}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Destroyed, a sandbox leaves its groups.
    call(
        &client,
        "sandbox.destroy",
        json!({"path": "root/sandboxes/t1"}),
    )
    .await;
    let members = call(&client, "group.members", json!({"group": "tenants"})).await;
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    assert_eq!(members[0]["path"], "root/sandboxes/t2", "{members}");
}
