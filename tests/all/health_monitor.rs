//! The periodic health monitor (`[health]`): its `health_changed` events
//! over the HTTP event stream, and the recommendations of `health`.

use std::time::Duration;

use serde_json::json;

use crate::support::{HostProcess, flapping_tree};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_worker_gets_health_changed_events_over_sse() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("warden.toml");
    // The worker fails only once the test listens, so the first change it
    // sees is the one from healthy.
    let fail = temp.path().join("fail");
    std::fs::write(&config, flapping_tree("one_for_one", &fail)).unwrap();
    let host = HostProcess::start(&config, &temp.path().join("state"), &[]);
    let client = host.client(None);
    let mut stream = client.events("kind=health_changed").await.unwrap();
    std::fs::write(&fail, "").unwrap();
    let mut flaky = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while flaky.is_none() {
        let event = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no health_changed for root/flaky; log:\n{}", host.log()))
            .expect("stream open")
            .unwrap();
        assert_eq!(event.kind, "health_changed");
        assert_ne!(event.data["path"], "root/steady", "{:?}", event.data);
        if event.data["path"] == "root/flaky" {
            flaky = Some(event.data);
        }
    }
    let flaky = flaky.unwrap();
    assert_eq!(flaky["subject"], "worker");
    assert_eq!(flaky["from"], "healthy");
    assert!(
        ["warning", "critical", "emergency"].contains(&flaky["to"].as_str().unwrap()),
        "{flaky}"
    );
    assert!(flaky["score"].as_u64().unwrap() < 70, "{flaky}");
    assert!(!flaky["reasons"].as_array().unwrap().is_empty(), "{flaky}");

    // `health` shows the scores beside the recommendations.
    let reports = client
        .call("health", json!({"path": "root"}))
        .await
        .unwrap();
    let root = &reports[0];
    assert!(root["score"].as_u64().unwrap() < 100, "{root}");
    assert!(!root["reasons"].as_array().unwrap().is_empty(), "{root}");
}

const STUCK: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
[host.policy]
allow_commands = ["/bin/sh", "sleep"]
[host.monitor]
interval_ms = 50

[supervisor.root]
strategy = "one_for_one"
intensity = 10
period_ms = 60000

[[supervisor.root.children]]
id = "stuck"
kind = "process"
command = "sleep"
args = ["600"]
restart_unresponsive = true
liveness = { command = "/bin/sh -c exit", interval_ms = 100, failures = 10 }
"#;

async fn info(client: &warden::api::client::ApiClient) -> serde_json::Value {
    client
        .call("child.info", json!({"path": "root/stuck"}))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_is_unresponsive_and_restarted_by_policy() {
    let host = HostProcess::start_tree(STUCK, &[]);
    let client = host.client(None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Responsive first (its liveness command passes).
    let first = loop {
        let i = info(&client).await;
        if i["info"]["health"]["score"].as_u64().is_some() {
            assert_eq!(i["info"]["health"]["unresponsive"], false, "{i}");
            break i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no health: {i}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pid = first["info"]["pid"].as_u64().unwrap() as u32;
    let generation = first["generation"].as_u64().unwrap();
    crate::support::signal(pid, "STOP");
    // The monitor finds it stopped: unresponsive, critical.
    loop {
        let i = info(&client).await;
        if i["generation"] == generation && i["info"]["health"]["unresponsive"] == true {
            assert!(i["info"]["stats"]["stopped"] == true, "{i}");
            assert!(i["info"]["health"]["score"].as_u64().unwrap() <= 35, "{i}");
            break;
        }
        assert!(
            i["generation"] == generation,
            "restarted before it was seen unresponsive: {i}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "never unresponsive: {i}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The policy kills it; the supervisor starts a new, running incarnation.
    let restarted = loop {
        let i = info(&client).await;
        if i["generation"].as_u64().is_some_and(|g| g > generation)
            && i["info"]["pid"].as_u64().is_some()
        {
            break i;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never restarted: {i}\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(restarted["info"]["pid"].as_u64().unwrap() as u32, pid);
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    assert!(
        host.log().contains("restart_unresponsive"),
        "the kill is logged: {}",
        host.log()
    );
}
