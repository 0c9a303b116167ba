//! `chaos.run`: bounded experiments that end with everything restored, and
//! the switches that refuse them.

use serde_json::{Value, json};
use warden::host::Host;
use warden::ops::OpError;

use crate::support;

const TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
[host.policy]
allow_commands = ["sleep"]
[host.monitor]
interval_ms = 50

[chaos]
enabled = true
allow = ["root/workers"]

[supervisor.root]
strategy = "one_for_one"
intensity = 100
period_ms = 60000

[[supervisor.root.children]]
id = "outside"
kind = "process"
command = "sleep"
args = ["600"]

[[supervisor.root.children]]
id = "workers"
kind = "supervisor"
supervisor = "workers"

[supervisor.workers]
strategy = "one_for_one"
intensity = 100
period_ms = 60000

[[supervisor.workers.children]]
id = "a"
kind = "process"
command = "sleep"
args = ["600"]

[[supervisor.workers.children]]
id = "b"
kind = "process"
command = "sleep"
args = ["600"]
"#;

async fn call(host: &Host, op: &str, params: Value) -> Result<Value, OpError> {
    host.operations.call(op, params).await
}

async fn info(host: &Host, path: &str) -> Value {
    call(host, "child.info", json!({"path": path}))
        .await
        .unwrap()
}

/// Waits until the monitor has sampled `path` (its stats are shown).
async fn sampled(host: &Host, path: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let i = info(host, path).await;
        if i["info"]["stats"].is_object() {
            return i;
        }
        assert!(tokio::time::Instant::now() < deadline, "never sampled: {i}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_experiment_ends_with_every_target_released() {
    let (_dir, host) = support::start_host(TREE).await;
    let before = sampled(&host, "root/workers/a").await;
    let report = call(
        &host,
        "chaos.run",
        json!({"scenario": "hang", "targets": ["root/workers/a", "root/workers/b"], "duration_ms": 300}),
    )
    .await
    .unwrap();
    assert_eq!(report["injected"], 2, "{report}");
    assert_eq!(report["released"], 2, "{report}");
    assert_eq!(report["recovered"], true, "{report}");
    assert_eq!(report["restarts"], 0, "continued, not restarted: {report}");
    // Restored: the same incarnation runs again, no longer stopped.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let after = info(&host, "root/workers/a").await;
        assert_eq!(after["generation"], before["generation"], "{after}");
        if after["info"]["stats"]["stopped"] == false {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still stopped: {after}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_experiment_reports_restarts_and_recovery() {
    let (_dir, host) = support::start_host(TREE).await;
    let report = call(
        &host,
        "chaos.run",
        json!({"scenario": "cascade", "targets": ["root/workers/a", "root/workers/b"],
               "rate": 10, "duration_ms": 150, "seed": 3}),
    )
    .await
    .unwrap();
    let injected = report["injected"].as_u64().unwrap();
    assert!(injected >= 1, "{report}");
    assert!(report["restarts"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["recovered"], true, "{report}");
    assert_eq!(report["escalations"], 0, "{report}");
    assert!(report["recovery_ms"].as_u64().is_some(), "{report}");
    for path in ["root/workers/a", "root/workers/b"] {
        assert_eq!(info(&host, path).await["status"], "running");
    }
    // The child outside the experiment was never touched.
    assert_eq!(info(&host, "root/outside").await["restarts"], 0);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_are_refused_outside_allow_on_supervisors_and_when_off() {
    let (_dir, host) = support::start_host(TREE).await;
    let outside = call(
        &host,
        "chaos.run",
        json!({"scenario": "kill_random", "targets": ["root/outside"], "duration_ms": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(outside.status_code(), 403, "{outside}");
    assert!(outside.to_string().contains("[chaos] allow"), "{outside}");
    let sup = call(
        &host,
        "chaos.run",
        json!({"scenario": "hang", "targets": ["root/workers"], "duration_ms": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(sup.status_code(), 409, "{sup}");
    let missing = call(
        &host,
        "chaos.run",
        json!({"scenario": "hang", "targets": ["root/workers/zz"], "duration_ms": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.status_code(), 404, "{missing}");
    assert_eq!(info(&host, "root/outside").await["restarts"], 0);
    host.stop().await;

    let (_dir, off) = support::start_host(&TREE.replace("enabled = true", "enabled = false")).await;
    let err = call(
        &off,
        "chaos.run",
        json!({"scenario": "kill_random", "targets": ["root/workers/a"], "duration_ms": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status_code(), 409, "{err}");
    assert!(err.to_string().contains("[chaos] enabled = true"), "{err}");
    off.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pressure_kills_under_a_lowered_limit_which_is_then_restored() {
    let (_dir, host) = support::start_host(TREE).await;
    sampled(&host, "root/workers/a").await;
    let report = call(
        &host,
        "chaos.run",
        json!({"scenario": "memory_pressure", "targets": ["root/workers/a"], "limit_mb": 1, "duration_ms": 600}),
    )
    .await
    .unwrap();
    assert!(report["injected"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        report["restarts"].as_u64().unwrap() >= 1,
        "killed over the lowered limit: {report}"
    );
    assert_eq!(report["recovered"], true, "{report}");
    // Restored: the running incarnation keeps running under its own limits.
    let now = sampled(&host, "root/workers/a").await;
    assert_eq!(now["info"]["limits"]["memory_mb"], Value::Null, "{now}");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let later = info(&host, "root/workers/a").await;
    assert_eq!(
        later["generation"], now["generation"],
        "killed again: {later}"
    );
    assert_eq!(later["status"], "running");
    // A limit it stays under: squeezed, not killed, and restored at the end.
    let report = call(
        &host,
        "chaos.run",
        json!({"scenario": "memory_pressure", "targets": ["root/workers/a"], "limit_mb": 4096, "duration_ms": 200}),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            &report["injected"],
            &report["released"],
            &report["restarts"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{report}"
    );
    let restored = info(&host, "root/workers/a").await;
    assert_eq!(
        restored["info"]["limits"]["memory_mb"],
        Value::Null,
        "{restored}"
    );
    // Only with memory_pressure, and only on processes.
    let err = call(
        &host,
        "chaos.run",
        json!({"scenario": "hang", "targets": ["root/workers/a"], "limit_mb": 1, "duration_ms": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status_code(), 400, "{err}");
    host.stop().await;
}
