//! Per-child metrics over a real `warden run`: `/metrics` parsed by an
//! independent parser (Python's `prometheus_client`, pinned in
//! `scripts/setup.sh`), its per-child families checked against what the
//! children did: memory held, fuel burned, a restart counted, a reload
//! version moved.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{HostProcess, repo_root, tool_present, write_tree_config};

/// A worker that says it is ready and then idles.
const WORKER: &str = "print('ready', flush=True)\nimport time\nwhile True:\n    time.sleep(1)\n";

const TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[host.policy]
allow_commands = ["python3"]
allow_cwds = ["data"]

[host.monitor]
interval_ms = 100

[supervisor.root]
strategy = "one_for_one"
intensity = 10

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"
limits = { fuel = 100000000 }

[[supervisor.root.children]]
id = "worker"
kind = "process"
command = "python3"
args = ["worker.py"]
cwd = "data"
readiness = { line = "ready", timeout_ms = 20000 }
"#;

/// The version of `prometheus_client` that `scripts/setup.sh` installs.
fn pinned_prometheus_client() -> String {
    let setup = repo_root().join("scripts/setup.sh");
    let text =
        std::fs::read_to_string(&setup).unwrap_or_else(|e| panic!("read {}: {e}", setup.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("PROMETHEUS_CLIENT_VERSION="))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no PROMETHEUS_CLIENT_VERSION= line in {}", setup.display()))
}

/// Parses exposition `text` with `prometheus_client`'s parser; every
/// sample as `name{label="v",…}` → value (labels sorted), plus each
/// family's type under `# TYPE name`. Panics with the parser's error when
/// it refuses the text.
fn parse_exposition(text: &str) -> BTreeMap<String, String> {
    const SCRIPT: &str = r##"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out["# TYPE " + family.name] = family.type
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = repr(s.value)
json.dump(out, sys.stdout)
"##;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed the parser");
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parser JSON")
}

/// Whether the pinned `prometheus_client` is there for `test`.
fn prometheus_client_present(test: &str) -> bool {
    let pinned = pinned_prometheus_client();
    let found = Command::new("python3")
        .args([
            "-c",
            "from prometheus_client.parser import text_string_to_metric_families\nfrom importlib.metadata import version\nprint(version('prometheus_client'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let present = if found == pinned {
        Ok(())
    } else {
        Err(format!("found {found:?}"))
    };
    tool_present(
        test,
        &format!("python's prometheus_client {pinned}"),
        present,
    )
}

fn value(samples: &BTreeMap<String, String>, key: &str) -> f64 {
    samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {samples:#?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// The host's `/metrics`, parsed.
async fn scrape(host: &HostProcess) -> BTreeMap<String, String> {
    let text = host
        .client(None)
        .get_text("/metrics")
        .await
        .expect("GET /metrics");
    parse_exposition(&text)
}

/// Scrapes until `ready` holds (5 s at most): the monitor samples and the
/// supervisor's restart land a moment after the call that caused them.
async fn scrape_until(
    host: &HostProcess,
    what: &str,
    ready: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let samples = scrape(host).await;
        if ready(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "{what}: {samples:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start(dir: &Path) -> HostProcess {
    let config = write_tree_config(dir, TREE);
    std::fs::write(dir.join("data/worker.py"), WORKER).expect("write worker.py");
    HostProcess::start(&config, &dir.join("state"), &[])
}

/// The children's labels as [`parse_exposition`] keys them (sorted).
const COUNTER: &str = "kind=\"component\",path=\"root/counter\"";
const WORKER_LABELS: &str = "kind=\"process\",path=\"root/worker\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_per_child_parse_and_follow_the_children() {
    const TEST: &str = "metrics_per_child_parse_and_follow_the_children";
    if !prometheus_client_present(TEST) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let host = start(dir.path());
    let client = host.client(None);
    let sent = client
        .call(
            "child.send",
            json!({"path": "root/counter", "message": "add 5"}),
        )
        .await
        .expect("child.send");
    assert_eq!(sent["reply"], "5");

    let samples = scrape_until(&host, "the worker's health and RSS", |s| {
        s.contains_key(&format!("warden_child_health_score{{{WORKER_LABELS}}}"))
    })
    .await;
    for (name, kind) in [
        ("warden_child_memory_bytes", "gauge"),
        ("warden_child_fuel_used", "counter"),
        ("warden_child_mailbox_depth", "gauge"),
        ("warden_child_restarts", "counter"),
        ("warden_child_health_score", "gauge"),
        ("warden_child_reload_version", "gauge"),
    ] {
        // The parser names a counter family without its `_total`.
        assert_eq!(
            samples.get(&format!("# TYPE {name}")).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    assert!(value(&samples, &format!("warden_child_memory_bytes{{{COUNTER}}}")) > 0.0);
    assert!(
        value(
            &samples,
            &format!("warden_child_memory_bytes{{{WORKER_LABELS}}}")
        ) > 0.0
    );
    assert!(
        value(
            &samples,
            &format!("warden_child_fuel_used_total{{{COUNTER}}}")
        ) > 0.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("warden_child_mailbox_depth{{{COUNTER}}}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("warden_child_restarts_total{{{COUNTER}}}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("warden_child_restarts_total{{{WORKER_LABELS}}}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("warden_child_reload_version{{{COUNTER}}}")
        ),
        1.0
    );
    let health = value(
        &samples,
        &format!("warden_child_health_score{{{WORKER_LABELS}}}"),
    );
    assert!((0.0..=100.0).contains(&health), "{health}");
    // What does not apply to a kind is left out, not shown as 0.
    assert!(!samples.contains_key(&format!("warden_child_mailbox_depth{{{WORKER_LABELS}}}")));
    assert!(!samples.contains_key(&format!("warden_child_health_score{{{COUNTER}}}")));

    // More work burns more fuel.
    let fuel = value(
        &samples,
        &format!("warden_child_fuel_used_total{{{COUNTER}}}"),
    );
    client
        .call(
            "child.send",
            json!({"path": "root/counter", "message": "add 1"}),
        )
        .await
        .expect("child.send");
    let samples = scrape(&host).await;
    assert!(
        value(
            &samples,
            &format!("warden_child_fuel_used_total{{{COUNTER}}}")
        ) > fuel
    );

    // A kill of the worker and a restart of the counter are counted per child.
    client
        .call("child.kill", json!({"path": "root/worker"}))
        .await
        .expect("child.kill");
    client
        .call("child.restart", json!({"path": "root/counter"}))
        .await
        .expect("child.restart");
    let samples = scrape_until(&host, "the worker's restart", |s| {
        s.get(&format!("warden_child_restarts_total{{{WORKER_LABELS}}}"))
            .is_some_and(|v| v.parse::<f64>() == Ok(1.0))
    })
    .await;
    assert_eq!(
        value(
            &samples,
            &format!("warden_child_restarts_total{{{COUNTER}}}")
        ),
        0.0
    );

    // A forced reload moves the counter's version.
    let reloaded: Value = client
        .call(
            "child.reload",
            json!({"path": "root/counter", "force": true}),
        )
        .await
        .expect("child.reload");
    assert_eq!(reloaded["version"], 2, "{reloaded}");
    let samples = scrape(&host).await;
    assert_eq!(
        value(
            &samples,
            &format!("warden_child_reload_version{{{COUNTER}}}")
        ),
        2.0
    );
}

/// Rows of `table` in the registry under `state` (read with python's
/// sqlite3, an independent reader of the file).
fn registry_rows(state: &Path, table: &str) -> u64 {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sqlite3,sys\nprint(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM {table}').fetchone()[0])"
            ),
        ])
        .arg(state.join("registry.sqlite3"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// `events.recent` once `ready` holds for it. The ring is fed from the
/// event bus by its own task, so an operation's events can reach it a
/// moment after the operation answers (under CI's load, several moments).
async fn recent_events_once(
    client: &warden::api::client::ApiClient,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = client
            .call("events.recent", json!({"limit": 1000}))
            .await
            .expect("events.recent");
        if ready(&events) || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn seqs(events: &Value) -> Vec<u64> {
    events
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_events_and_versions_survive_a_host_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let first_run;
    let before_stop;
    {
        let mut host = start(dir.path());
        let client = host.client(None);
        client
            .call("child.restart", json!({"path": "root/counter"}))
            .await
            .expect("child.restart");
        let reloaded = client
            .call(
                "child.reload",
                json!({"path": "root/counter", "force": true}),
            )
            .await
            .expect("child.reload");
        assert_eq!(reloaded["version"], 2);
        before_stop = recent_events_once(&client, |events| {
            events
                .as_array()
                .is_some_and(|all| all.iter().any(|e| e["event"] == "reloaded"))
        })
        .await;
        first_run = seqs(&before_stop);
        assert_eq!(first_run.first(), Some(&1), "{before_stop}");
        assert!(
            before_stop
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["event"] == "reloaded" && e["path"] == "root/counter"),
            "{before_stop}"
        );
        assert!(host.terminate().success(), "{}", host.log());
    }
    assert!(registry_rows(&state, "events") >= first_run.len() as u64);

    let host = start(dir.path());
    let client = host.client(None);
    let after = client
        .call("events.recent", json!({"limit": 1000}))
        .await
        .expect("events.recent");
    let all = seqs(&after);
    // The first run's events, as numbered then, come first …
    assert_eq!(&all[..first_run.len()], first_run.as_slice(), "{after}");
    for (old, new) in before_stop
        .as_array()
        .unwrap()
        .iter()
        .zip(after.as_array().unwrap())
    {
        assert_eq!(old, new);
    }
    // … then this run's, numbered on: strictly increasing, no reuse.
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    let last_old = *first_run.last().unwrap();
    let fresh: Vec<&Value> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() > last_old)
        .collect();
    assert!(
        fresh
            .iter()
            .any(|e| e["event"] == "child_started" && e["path"] == "root/counter"),
        "this run's start is logged after the old events: {after}"
    );
    // Paging back: `before` reaches events the ring of this run never had.
    let page = client
        .call(
            "events.recent",
            json!({"before": last_old + 1, "limit": 2, "kind": "reloaded"}),
        )
        .await
        .expect("events.recent before");
    assert_eq!(page.as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page[0]["path"], "root/counter");
    assert_eq!(page[0]["version"], 2);

    // The versions from before the restart are listed, not restorable.
    let versions = client
        .call("child.versions", json!({"path": "root/counter"}))
        .await
        .expect("child.versions");
    assert_eq!(versions["current"], 1, "{versions}");
    let earlier = versions["earlier"].as_array().expect("earlier");
    let numbers: Vec<u64> = earlier
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "{versions}");
    assert!(earlier.iter().all(|v| v["restorable"] == false));
    assert_eq!(earlier[1]["outcome"]["outcome"], "reloaded", "{versions}");
    assert_eq!(
        earlier[0]["hash"], earlier[1]["hash"],
        "a forced reload of the same file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_retention_bounds_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let tree = TREE.replace(
        "[host.policy]",
        "[history]\nkeep_events = 8\nkeep_versions = 2\n\n[host.policy]",
    );
    let config = write_tree_config(dir.path(), &tree);
    std::fs::write(dir.path().join("data/worker.py"), WORKER).expect("write worker.py");
    let mut host = HostProcess::start(&config, &state, &[]);
    let client = host.client(None);
    for _ in 0..4 {
        client
            .call(
                "child.reload",
                json!({"path": "root/counter", "force": true}),
            )
            .await
            .expect("child.reload");
    }
    // Four reloads: 3 start events + 2 per reload.
    let events = recent_events_once(&client, |events| seqs(events).len() >= 11).await;
    // The ring of this run still has them all; the registry only 8.
    assert!(seqs(&events).len() > 8, "{events}");
    assert!(host.terminate().success(), "{}", host.log());
    assert_eq!(registry_rows(&state, "events"), 8);
    assert_eq!(registry_rows(&state, "versions"), 2);
}
