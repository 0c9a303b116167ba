//! `warden ctl groups | group | rollouts | rollout | storm | chaos` against a
//! real `warden run`: each command's human text and `--json` result, the
//! state they change read back through the API, and bad arguments refused
//! with exit 2.

use serde_json::{Value, json};

use crate::support::{HostProcess, stderr, stdout};

/// Two counters in group `ingest`, a sleeper outside it; chaos allowed on
/// the whole tree.
const TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
[host.policy]
allow_commands = ["sleep"]

[chaos]
enabled = true

[supervisor.root]
strategy = "one_for_one"
intensity = 100
period_ms = 1000

[[supervisor.root.children]]
id = "a"
kind = "component"
path = "counter.wasm"
groups = ["ingest"]

[[supervisor.root.children]]
id = "b"
kind = "component"
path = "counter.wasm"
groups = ["ingest"]

[[supervisor.root.children]]
id = "sleeper"
kind = "process"
command = "sleep"
args = ["600"]
"#;

/// How many members `group` has, as `group.members` answers.
fn members(host: &HostProcess, group: &str) -> usize {
    call(host, "group.members", json!({ "group": group }))
        .as_array()
        .map_or(0, Vec::len)
}

fn json_of(host: &HostProcess, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = host.ctl_ok(&all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn fails(host: &HostProcess, code: i32, args: &[&str]) -> String {
    let out = host.ctl(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "warden ctl {args:?}\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

fn call(host: &HostProcess, op: &str, params: Value) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { host.client(None).call(op, params).await.unwrap() })
}

#[test]
fn groups_list_show_broadcast_join_and_leave() {
    let host = HostProcess::start_tree(TREE, &[]);
    assert_eq!(host.ctl_ok(&["groups"]), "GROUP   MEMBERS\ningest  2\n");
    assert_eq!(
        json_of(&host, &["groups"]),
        json!([{"name": "ingest", "members": 2}])
    );

    let shown = host.ctl_ok(&["group", "ingest"]);
    assert!(
        shown.starts_with("group ingest: healthy (2 members: 2 running, 0 restarting, 0 stopped, 0 gone; 0 restarts)\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  root/a") && shown.contains("  root/b"),
        "{shown}"
    );
    assert_eq!(json_of(&host, &["group", "ingest"])["level"], "healthy");

    // Each member answers `inc` with its own count.
    assert_eq!(
        host.ctl_ok(&["group", "ingest", "broadcast", "inc"]),
        "root/a: 1\nroot/b: 1\n"
    );
    let answers = json_of(&host, &["group", "ingest", "broadcast", "inc"]);
    assert_eq!(answers["answers"][0]["reply"], "2", "{answers}");

    assert_eq!(
        host.ctl_ok(&["group", "ingest", "join", "root/sleeper"]),
        "root/sleeper joined group ingest\n"
    );
    assert_eq!(members(&host, "ingest"), 3);
    // A process member cannot take a message: exit 1, its error shown.
    let out = host.ctl(&["group", "ingest", "broadcast", "get"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("root/sleeper: not_a_component: "),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("1 member(s) did not answer"),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        host.ctl_ok(&["group", "ingest", "leave", "root/sleeper"]),
        "root/sleeper left group ingest\n"
    );
    assert_eq!(members(&host, "ingest"), 2);
    let err = fails(&host, 2, &["group", "ingest", "leave", "root/sleeper"]);
    assert!(err.contains("root/sleeper"), "{err}");
}

#[test]
fn rollouts_start_show_list_and_abort() {
    let host = HostProcess::start_tree(TREE, &[]);
    assert_eq!(host.ctl_ok(&["rollouts"]), "no rollouts\n");

    let dry = host.ctl_ok(&[
        "rollout",
        "start",
        "--group",
        "ingest",
        "--action",
        "restart",
        "--dry-run",
    ]);
    assert_eq!(
        dry,
        "dry run: restart in these batches\n  batch 1: root/a\n  batch 2: root/b\n"
    );
    let dry_two = json_of(
        &host,
        &[
            "rollout",
            "start",
            "--paths",
            "root/a,root/b",
            "--action",
            "restart",
            "--batch-size",
            "2",
            "--max-unavailable",
            "2",
            "--dry-run",
        ],
    );
    assert_eq!(
        dry_two["batches"],
        json!([["root/a", "root/b"]]),
        "{dry_two}"
    );

    let started = json_of(
        &host,
        &[
            "rollout",
            "start",
            "--group",
            "ingest",
            "--action",
            "restart",
            "--settle-ms",
            "100",
        ],
    );
    let id = started["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = json_of(&host, &["rollout", &id]);
        if status["state"] == "succeeded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = host.ctl_ok(&["rollout", &id]);
    assert!(
        text.starts_with(&format!(
            "rollout {id}: restart succeeded (batch size 1, max unavailable 1, settle 100 ms)\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("    root/a changed") && text.contains("    root/b changed"),
        "{text}"
    );
    let list = host.ctl_ok(&["rollouts"]);
    assert!(
        list.contains(&format!("{id}  restart  succeeded  2/2")),
        "{list}"
    );

    // A long settle keeps the next one running until aborted.
    let long = json_of(
        &host,
        &[
            "rollout",
            "start",
            "--paths",
            "root/a,root/b",
            "--action",
            "restart",
            "--settle-ms",
            "60000",
        ],
    );
    let long_id = long["id"].as_str().unwrap();
    let aborted = json_of(&host, &["rollout", long_id, "abort"]);
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    // Aborting it again: the host's 409, exit 2.
    let again = fails(&host, 2, &["rollout", long_id, "abort"]);
    assert!(again.contains("already ended"), "{again}");
    // Neither a group nor paths: refused before any call.
    let missing = fails(&host, 2, &["rollout", "start", "--action", "restart"]);
    assert!(
        missing.contains("--group") || missing.contains("<--group"),
        "{missing}"
    );
    let unknown = fails(&host, 2, &["rollout", "r999"]);
    assert!(unknown.contains("r999"), "{unknown}");
}

#[test]
fn storm_and_chaos_change_and_report() {
    let host = HostProcess::start_tree(TREE, &[]);
    // `health` gives each supervisor's level by the `[health]` thresholds.
    assert_eq!(json_of(&host, &["health", "root"])[0]["level"], "healthy");
    let health = host.ctl_ok(&["health", "root"]);
    assert!(
        health.contains("\n  health: healthy, score 100\n"),
        "{health}"
    );
    let set = json_of(
        &host,
        &[
            "storm",
            "root",
            "--child",
            "sleeper",
            "--per-minute",
            "3",
            "--action",
            "log",
        ],
    );
    assert_eq!(set["children"], json!(["sleeper"]), "{set}");
    assert_eq!(set["storm"]["per_minute"], 3, "{set}");
    let text = host.ctl_ok(&["storm", "root", "--off"]);
    assert!(
        text.starts_with("root: storm protection off for ") && text.contains("sleeper"),
        "{text}"
    );
    let both = fails(&host, 2, &["storm", "root", "--off", "--per-minute", "3"]);
    assert!(both.contains("--off"), "{both}");

    let before = call(&host, "child.info", json!({"path": "root/sleeper"}))["restarts"]
        .as_u64()
        .unwrap();
    let report = json_of(
        &host,
        &[
            "chaos",
            "kill_random",
            "--targets",
            "root/sleeper",
            "--duration-ms",
            "300",
            "--rate",
            "5",
            "--seed",
            "7",
        ],
    );
    assert!(report["injected"].as_u64() >= Some(1), "{report}");
    assert_eq!(report["recovered"], true, "{report}");
    let after = call(&host, "child.info", json!({"path": "root/sleeper"}))["restarts"]
        .as_u64()
        .unwrap();
    assert!(after > before, "{before} -> {after}");
    let text = host.ctl_ok(&[
        "chaos",
        "hang",
        "--targets",
        "root/a",
        "--duration-ms",
        "200",
    ]);
    assert!(
        text.starts_with("hang on root/a: ") && text.contains(" released; recovered in "),
        "{text}"
    );
    let bad = fails(
        &host,
        2,
        &[
            "chaos",
            "flood",
            "--targets",
            "root/a",
            "--duration-ms",
            "10",
        ],
    );
    assert!(bad.contains("kill_random"), "{bad}");
}
