//! `warden ctl`: every subcommand against a real `warden run` process over
//! its HTTP API, in human and `--json` output, and the error cases (unknown
//! child, invalid params, missing or wrong token, unreachable host) with
//! their exit codes.
//!
//! Each test starts its own host on a free port (`api_addr =
//! "127.0.0.1:0"`) and reads the address from `STATE_DIR/api.addr`; the
//! [`RunningHost`] guard stops it with SIGTERM even when the test fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    HostProcess, ctl_cmd, plugin, stderr, stdout, variant, warden_cmd, with_test_path_roots,
};

/// A config with two component children, a nested supervisor with a
/// native worker, and an operation plugin.
const TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
{token}
[host.policy]
allow_commands = ["sleep"]

[supervisor.root]
strategy = "one_for_one"
intensity = 100
period_ms = 1000

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"

[[supervisor.root.children]]
id = "echo"
kind = "component"
path = "{echo}"

[[supervisor.root.children]]
id = "workers"
kind = "supervisor"
supervisor = "workers"

[supervisor.workers]
strategy = "one_for_one"
intensity = 100
period_ms = 1000

[[supervisor.workers.children]]
id = "sleeper"
kind = "process"
command = "sleep"
args = ["600"]

[operations.wc]
path = "wc.wasm"
"#;

/// A `warden run` process of [`TREE`] in its own directory; SIGTERM (then
/// SIGKILL) when dropped.
struct RunningHost {
    process: HostProcess,
}

impl RunningHost {
    /// Starts the [`TREE`] host, with `token` in its config when given.
    fn start(token: Option<&str>) -> RunningHost {
        let body = TREE.replace(
            "{token}",
            &token.map_or(String::new(), |t| format!("token = \"{t}\"")),
        );
        RunningHost {
            process: HostProcess::start_tree(&with_test_path_roots(&body), &[]),
        }
    }

    /// The API's base URL.
    fn base(&self) -> &str {
        self.process.url()
    }

    fn state_dir(&self) -> PathBuf {
        self.process.dir().join("state")
    }

    fn counter_file(&self) -> PathBuf {
        self.process.dir().join("counter.wasm")
    }

    /// What the host printed on stderr so far.
    fn log(&self) -> String {
        self.process.log()
    }

    /// `warden ctl --addr BASE ARGS…`, with no token in the environment.
    fn ctl(&self, args: &[&str]) -> Output {
        self.process.ctl(args)
    }

    /// [`Self::ctl`], asserting exit 0; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.process.ctl_ok(args)
    }

    /// `warden ctl --json ARGS…`, asserting exit 0; stdout as JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// [`Self::ctl`], asserting exit `code`; its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "warden ctl {args:?}\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        stderr(&out)
    }

    /// `child.info` of `path` as JSON.
    fn info(&self, path: &str) -> Value {
        self.json(&["info", path])
    }
}

/// A spawned `warden ctl` (events follower); killed when dropped.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it gives a value, for up to 20 s.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ids of a tree node's children.
fn ids(node: &Value) -> Vec<&str> {
    node["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

#[test]
fn tree_info_health_and_ops_show_a_running_host() {
    let host = RunningHost::start(None);

    let generation = host.info("root/counter")["generation"].clone();
    let tree = host.ok(&["tree"]);
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines[0], "root (one_for_one)", "{tree}");
    let counter = lines.iter().find(|l| l.contains("counter")).unwrap();
    assert!(counter.starts_with("├─ counter"), "{tree}");
    let gen_word = format!("gen {generation}");
    for word in ["component", "running", &gen_word, "restarts 0"] {
        assert!(counter.contains(word), "{word}: {tree}");
    }
    let workers = lines.iter().find(|l| l.contains("workers")).unwrap();
    assert!(workers.starts_with("└─ workers"), "{tree}");
    assert!(workers.contains("supervisor (one_for_one)"), "{tree}");
    let sleeper = lines.iter().find(|l| l.contains("sleeper")).unwrap();
    assert!(
        sleeper.starts_with("   └─ sleeper") && sleeper.contains("process"),
        "nested one level deeper: {tree}"
    );

    let tree = host.json(&["tree"]);
    assert_eq!(tree["path"], "root");
    assert_eq!(ids(&tree), ["counter", "echo", "workers"]);
    let workers = &tree["children"][2];
    assert_eq!(workers["type"], "supervisor");
    assert_eq!(ids(workers), ["sleeper"]);
    assert_eq!(workers["children"][0]["path"], "root/workers/sleeper");

    let info = host.ok(&["info", "root/counter"]);
    assert!(info.starts_with("root/counter\n"), "{info}");
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["status", "running"]),
        "{info}"
    );
    let info = host.info("root/counter");
    assert_eq!(info["path"], "root/counter");
    assert_eq!(info["type"], "component");
    assert_eq!(info["status"], "running");
    assert_eq!(info["generation"], tree["children"][0]["generation"]);
    assert_eq!(info["restarts"], 0);
    assert_eq!(info["version"]["current"], 1);

    let health = host.ok(&["health"]);
    assert!(
        health
            .lines()
            .any(|l| l.starts_with("root  one_for_one  intensity 100 per 1000 ms")),
        "{health}"
    );
    assert!(health.contains("root/workers  one_for_one"), "{health}");
    assert!(health.contains("CHILD"), "{health}");
    let reports = host.json(&["health"]);
    let supervisors: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["supervisor"].as_str().unwrap())
        .collect();
    assert!(
        supervisors.contains(&"root") && supervisors.contains(&"root/workers"),
        "{reports}"
    );
    let one = host.json(&["health", "root/workers"]);
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["supervisor"], "root/workers");
    assert_eq!(one[0]["children"][0]["id"], "sleeper");

    // Any operation by name: a built-in, then the plugin's own.
    let supervisors = host.json(&["op", "supervisors.list"]);
    assert!(
        supervisors
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["path"] == "root" && s["strategy"] == "one_for_one"),
        "{supervisors}"
    );
    let counted = host.json(&["op", "wc.count", r#"{"text": "a b a", "top": 1}"#]);
    assert_eq!(counted["words"], 3);
    assert_eq!(counted["top"][0]["word"], "a");
    let human = host.ok(&["op", "wc.count", r#"{"text": "x"}"#]);
    assert!(human.contains("\"words\": 1"), "pretty JSON: {human}");
}

#[test]
fn ps_lists_worker_incarnations_with_filters() {
    let host = RunningHost::start(None);
    let first = eventually("the sleeper's running row", || {
        let rows = host.json(&["ps", "--child", "root/workers/sleeper"]);
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "running")
            .cloned()
    });
    let pid = first["pid"].as_u64().unwrap();

    let table = host.ok(&["ps"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "CHILD", "PID", "STATUS", "RESTARTS", "PEAK_MB", "HEALTH", "EXIT", "COMMAND"
        ]
    );
    let row = lines
        .find(|l| l.starts_with("root/workers/sleeper"))
        .unwrap();
    assert!(
        row.contains(&pid.to_string()) && row.contains("running"),
        "{table}"
    );
    // Aligned: every column starts where its header does.
    let header_line = table.lines().next().unwrap();
    assert_eq!(
        header_line.find("STATUS"),
        row.find("running"),
        "columns aligned:\n{table}"
    );

    host.ok(&["kill", "root/workers/sleeper"]);
    let exited = eventually("the killed incarnation in the registry", || {
        let rows = host.json(&[
            "ps",
            "--child",
            "root/workers/sleeper",
            "--status",
            "exited",
        ]);
        let rows = rows.as_array().unwrap().clone();
        (!rows.is_empty()).then_some(rows)
    });
    assert!(exited.iter().all(|r| r["status"] == "exited"), "{exited:?}");
    assert!(exited.iter().any(|r| r["pid"] == pid), "{exited:?}");
    eventually("two incarnations", || {
        let rows = host.json(&["ps", "--child", "root/workers/sleeper"]);
        (rows.as_array().unwrap().len() >= 2).then_some(())
    });
    let limited = host.json(&["ps", "--child", "root/workers/sleeper", "--limit", "1"]);
    assert_eq!(limited.as_array().unwrap().len(), 1, "{limited}");
    // A child of the tree without workers has no rows; a path the tree
    // does not have is an error that names the closest one.
    let none = host.ok(&["ps", "--child", "root/counter"]);
    assert_eq!(none, "no worker incarnations match\n");
    let err = host.fails(2, &["ps", "--child", "sleeper"]);
    assert!(
        err.contains("no child `sleeper` in the tree; did you mean `root/workers/sleeper`?"),
        "{err}"
    );

    // `warden ps` reads the same registry from the file, with the same
    // flags and the same table.
    let config = host.process.dir().join("warden.toml");
    let out = warden_cmd(&[
        "ps",
        "--config",
        config.to_str().unwrap(),
        "--child",
        "root/workers/sleeper",
        "--status",
        "exited",
        "--limit",
        "5",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "CHILD", "PID", "STATUS", "RESTARTS", "PEAK_MB", "HEALTH", "EXIT", "COMMAND"
        ]
    );
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(!rows.is_empty(), "{table}");
    assert!(
        rows.iter()
            .all(|r| r.starts_with("root/workers/sleeper") && r.contains("exited")),
        "{table}"
    );
    let from_file = warden_cmd(&["ps", "--config", config.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let from_file: Value = serde_json::from_slice(&from_file.stdout).unwrap();
    let from_host = host.json(&["ps"]);
    assert_eq!(
        from_file.as_array().map(Vec::len),
        from_host.as_array().map(Vec::len),
        "file: {from_file}\nhost: {from_host}"
    );
    assert_eq!(from_file[0]["incarnation"], from_host[0]["incarnation"]);
}

#[test]
fn lifecycle_commands_act_on_children() {
    let host = RunningHost::start(None);

    assert_eq!(host.ok(&["send", "root/counter", "add 5"]), "5\n");
    assert_eq!(
        host.ok(&["send", "root/echo", "hello there"]),
        "hello there\n"
    );
    let reply = host.json(&["send", "root/counter", "get"]);
    assert_eq!(reply["reply"], "5");

    // kill: the supervisor restarts it; the restart count goes up.
    let before = host.info("root/counter")["generation"].as_u64().unwrap();
    let killed = host.ok(&["kill", "root/counter"]);
    assert!(
        killed.starts_with(&format!("root/counter: killed generation {before};")),
        "{killed}"
    );
    let info = eventually("the restart after kill", || {
        let info = host.info("root/counter");
        (info["generation"].as_u64() > Some(before) && info["status"] == "running").then_some(info)
    });
    assert_eq!(info["restarts"], 1, "{info}");
    assert_eq!(
        host.ok(&["send", "root/counter", "get"]),
        "0\n",
        "a fresh incarnation"
    );
    let tree = host.ok(&["tree"]);
    let line = tree.lines().find(|l| l.contains("counter")).unwrap();
    assert!(
        line.contains(&format!("gen {}", info["generation"]))
            && line.contains("restarts 1")
            && line.ends_with("last exit killed"),
        "{tree}"
    );

    // terminate / start / restart.
    let out = host.ok(&["terminate", "root/echo"]);
    assert!(out.starts_with("root/echo: terminated"), "{out}");
    assert_eq!(host.info("root/echo")["status"], "stopped");
    let failed = host.ctl(&["send", "root/echo", "anyone?"]);
    assert_ne!(
        failed.status.code(),
        Some(0),
        "a stopped child answers nothing"
    );
    let out = host.ok(&["start", "root/echo"]);
    assert!(out.starts_with("root/echo: started"), "{out}");
    assert_eq!(host.info("root/echo")["status"], "running");
    let before = host.info("root/echo")["generation"].as_u64().unwrap();
    let restarted = host.json(&["restart", "root/echo"]);
    assert!(restarted.is_object(), "{restarted}");
    let after = host.info("root/echo")["generation"].as_u64().unwrap();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(host.ok(&["send", "root/echo", "back"]), "back\n");

    // strategy: a dry run changes nothing, then a real change.
    let dry = host.ok(&["strategy", "root", "one_for_all", "--dry-run"]);
    assert!(
        dry.starts_with("root: one_for_one -> one_for_all (dry run, nothing changed)"),
        "{dry}"
    );
    assert!(
        dry.lines().any(|l| l
            .trim_start()
            .starts_with("counter: fails with echo, workers")),
        "{dry}"
    );
    assert_eq!(host.json(&["tree"])["strategy"], "one_for_one");
    let report = host.json(&["strategy", "root", "rest_for_one"]);
    assert_eq!(report["from"], "one_for_one");
    assert_eq!(report["to"], "rest_for_one");
    assert_eq!(report["outcome"]["outcome"], "applied", "{report}");
    assert_eq!(host.json(&["tree"])["strategy"], "rest_for_one");
}

#[test]
fn errors_name_the_problem_and_set_the_exit_code() {
    let host = RunningHost::start(None);

    // Unknown child: 404 → exit 2.
    let err = host.fails(2, &["info", "root/nobody"]);
    assert!(err.starts_with("warden ctl: "), "{err}");
    assert!(err.contains("root/nobody"), "{err}");
    host.fails(2, &["kill", "root/nobody"]);
    host.fails(2, &["health", "root/nobody"]);

    // Invalid params: 400 → exit 2, each violation on its own line.
    let err = host.fails(2, &["op", "ps", r#"{"limit": "ten", "state": 7}"#]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("warden ctl: invalid params for `ps`"),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("/limit: expected")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("/state: expected")),
        "{err}"
    );
    // Enumerated arguments are checked before any request, listing the
    // valid values.
    let err = host.fails(2, &["strategy", "root", "sideways"]);
    assert!(
        err.contains("invalid value 'sideways'")
            && err.contains("one_for_one, one_for_all, rest_for_one, simple_one_for_one"),
        "{err}"
    );
    let err = host.fails(2, &["ps", "--status", "bogus"]);
    assert!(
        err.contains("invalid value 'bogus'")
            && err.contains("running, exited, orphan_killed, orphan_gone"),
        "{err}"
    );
    // With --json the error body is on stdout too.
    let out = host.ctl(&["--json", "op", "child.info", "{}"]);
    assert_eq!(out.status.code(), Some(2));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["error"]["kind"], "invalid_params");
    assert!(
        body["error"]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["expected"].as_str().unwrap().contains("path") || v["path"] == "/path"),
        "{body}"
    );

    // Unknown operation, and params that are not JSON: exit 2.
    let err = host.fails(2, &["op", "no.such.op"]);
    assert!(err.contains("no.such.op"), "{err}");
    let err = host.fails(2, &["op", "tree", "{not json"]);
    assert!(err.contains("PARAMS_JSON is not JSON"), "{err}");

    // Nothing listens: exit 1, naming the address tried.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}");
    let out = ctl_cmd(&dead, &["tree"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot reach the host at {dead}")),
        "{}",
        stderr(&out)
    );
    // The same through WARDEN_ADDR (no scheme: http:// is assumed).
    let out = warden_cmd(&["ctl", "tree"])
        .env_remove("WARDEN_TOKEN")
        .env("WARDEN_ADDR", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&dead), "{}", stderr(&out));
    // A bad address is bad usage.
    let out = ctl_cmd("ftp://example", &["tree"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A state dir without a host: exit 1, naming the file.
    let empty = tempfile::tempdir().unwrap();
    let out = warden_cmd(&["ctl", "--state-dir", empty.path().to_str().unwrap(), "tree"])
        .env_remove("WARDEN_ADDR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("api.addr"), "{}", stderr(&out));

    // --state-dir finds the running host.
    let out = warden_cmd(&[
        "ctl",
        "--state-dir",
        host.state_dir().to_str().unwrap(),
        "--json",
        "tree",
    ])
    .env_remove("WARDEN_TOKEN")
    .env_remove("WARDEN_ADDR")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tree: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tree["path"], "root");
}

/// `warden ctl ARGS…` run in `dir` with `env` and nothing else of Warden's
/// in its environment.
fn ctl_in(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut all = vec!["ctl"];
    all.extend_from_slice(args);
    let mut cmd = warden_cmd(&all);
    cmd.current_dir(dir)
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_ADDR")
        .envs(env.iter().copied());
    cmd.output().unwrap()
}

/// A port nothing listens on (bound, then released).
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

#[test]
fn ctl_finds_its_host_by_flag_variable_or_config() {
    let host = RunningHost::start(None);
    let dir = host.process.dir().to_path_buf();
    let elsewhere = tempfile::tempdir().unwrap();
    let dead = dead_addr();
    let root_of = |out: &Output| -> Value {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        let tree: Value = serde_json::from_slice(&out.stdout).unwrap();
        tree["path"].clone()
    };

    // ./warden.toml in the current directory: its state dir's api.addr.
    assert_eq!(root_of(&ctl_in(&dir, &[], &["--json", "tree"])), "root");
    // --config from anywhere.
    let config = dir.join("warden.toml");
    let out = ctl_in(
        elsewhere.path(),
        &[],
        &["--config", config.to_str().unwrap(), "--json", "tree"],
    );
    assert_eq!(root_of(&out), "root");
    // WARDEN_ADDR beats ./warden.toml, and the error says where it came from.
    let out = ctl_in(&dir, &[("WARDEN_ADDR", &dead)], &["tree"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach the host at {dead}")),
        "{err}"
    );
    assert!(err.contains(&format!("$WARDEN_ADDR: {dead}")), "{err}");
    // --addr and --config beat WARDEN_ADDR.
    let out = ctl_in(
        &dir,
        &[("WARDEN_ADDR", &dead)],
        &["--addr", host.base(), "--json", "tree"],
    );
    assert_eq!(root_of(&out), "root");
    let out = ctl_in(
        elsewhere.path(),
        &[("WARDEN_ADDR", &dead)],
        &["--config", config.to_str().unwrap(), "--json", "tree"],
    );
    assert_eq!(root_of(&out), "root");
    // A --config that is not there is bad usage.
    let out = ctl_in(elsewhere.path(), &[], &["--config", "nope.toml", "tree"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--config nope.toml: no such file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreachable_host_error_says_where_it_looked() {
    // A config whose host has gone, leaving a stale api.addr behind.
    let dir = tempfile::tempdir().unwrap();
    let body = TREE.replace("{token}", "");
    crate::support::write_tree_config(dir.path(), &body);
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let dead = dead_addr();
    let addr_file = dir.path().join("state").join("api.addr");
    std::fs::write(&addr_file, dead.trim_start_matches("http://")).unwrap();

    let out = ctl_in(dir.path(), &[], &["tree"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with(&format!("warden ctl: cannot reach the host at {dead}: ")),
        "{err}"
    );
    assert_eq!(lines[1], "where the address was looked for:", "{err}");
    assert_eq!(lines[2], "  $WARDEN_ADDR: not set", "{err}");
    assert!(
        lines[3].starts_with("  ./warden.toml: state dir file ")
            && lines[3].ends_with(&format!("api.addr says {dead}")),
        "{err}"
    );
    assert_eq!(lines.len(), 4, "{err}");

    // Without the file, a config named by --config says it has no host.
    std::fs::remove_file(&addr_file).unwrap();
    let out = ctl_in(dir.path(), &[], &["--config", "warden.toml", "tree"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("api.addr (no host is running with this config)"),
        "{}",
        stderr(&out)
    );
    // An explicit address is the only place looked.
    let out = ctl_in(
        dir.path(),
        &[("WARDEN_ADDR", "")],
        &["--addr", &dead, "tree"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.ends_with(&format!("looked for:\n  --addr: {dead}\n")),
        "{err}"
    );
}

#[test]
fn a_path_that_does_not_exist_suggests_the_closest() {
    let host = RunningHost::start(None);
    for (args, closest) in [
        (&["info", "counter"][..], "root/counter"),
        (&["start", "echo"], "root/echo"),
        (&["terminate", "root/countr"], "root/counter"),
        (&["restart", "sleeper"], "root/workers/sleeper"),
        (&["kill", "workers/sleeper"], "root/workers/sleeper"),
        (&["reload", "counter"], "root/counter"),
        (&["reload", "counter", "--rollback"], "root/counter"),
        (&["versions", "root/conter"], "root/counter"),
        (&["send", "echo", "hi"], "root/echo"),
        (&["strategy", "workers", "one_for_all"], "root/workers"),
        (&["health", "workers"], "root/workers"),
        (&["events", "--child", "counter"], "root/counter"),
        (
            &["ps", "--child", "root/workers/sleepr"],
            "root/workers/sleeper",
        ),
    ] {
        let err = host.fails(2, args);
        assert!(
            err.contains(&format!("did you mean `{closest}`?")),
            "warden ctl {args:?}: {err}"
        );
    }
    // Nothing close: the paths there are, instead of a guess.
    let err = host.fails(2, &["info", "zzzzzzzzzz"]);
    assert!(err.contains("the tree has `root`, `root/counter`"), "{err}");
}

#[test]
fn a_host_with_a_token_wants_it() {
    let host = RunningHost::start(Some("s3cret"));
    let hint = "the host wants a token: --token or WARDEN_TOKEN";

    let err = host.fails(2, &["tree"]);
    assert!(err.contains(hint), "{err}");
    let err = host.fails(2, &["--token", "wrong", "tree"]);
    assert!(err.contains(hint), "{err}");
    assert!(err.contains("refused the token"), "{err}");

    let tree = host.json(&["--token", "s3cret", "tree"]);
    assert_eq!(tree["path"], "root");
    let out = ctl_cmd(host.base(), &["--json", "tree"])
        .env("WARDEN_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tree: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&tree), ["counter", "echo", "workers"]);

    // The event stream is guarded too.
    let out = ctl_cmd(host.base(), &["events", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(hint), "{}", stderr(&out));
}

#[test]
fn reload_and_rollback_keep_the_state() {
    let host = RunningHost::start(None);
    assert_eq!(host.ok(&["send", "root/counter", "add 41"]), "41\n");

    // The same bytes again: nothing to do.
    let same = host.ok(&["reload", "root/counter"]);
    assert_eq!(same, "root/counter: unchanged, still version 1\n");

    // counter → counter_v2: the state is carried over.
    std::fs::copy(plugin("counter_v2"), host.counter_file()).unwrap();
    let out = host.ok(&["reload", "root/counter"]);
    assert!(
        out.starts_with("root/counter: reloaded to version 2 in "),
        "{out}"
    );
    assert_eq!(host.ok(&["send", "root/counter", "get"]), "41\n");
    assert_eq!(
        host.ok(&["send", "root/counter", "version"]),
        "counter-v2\n"
    );
    assert_eq!(host.ok(&["send", "root/counter", "inc"]), "42\n");

    // A third version (same code, new hash), through --json.
    std::fs::write(
        host.counter_file(),
        variant(&std::fs::read(plugin("counter_v2")).unwrap(), "three"),
    )
    .unwrap();
    let outcome = host.json(&["reload", "root/counter"]);
    assert_eq!(outcome["outcome"], "reloaded", "{outcome}");
    assert_eq!(outcome["version"], 3);

    let versions = host.ok(&["versions", "root/counter"]);
    let rows: Vec<Vec<&str>> = versions
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{versions}");
    assert_eq!(&rows[2][..3], ["*", "3", "reloaded"], "{versions}");
    assert_eq!(rows[0][..2], ["1", "initial"], "{versions}");

    assert_eq!(host.ok(&["send", "root/counter", "inc"]), "43\n");

    // With no version: back to the one before the current one, state kept.
    let out = host.ok(&["reload", "root/counter", "--rollback"]);
    assert_eq!(out, "root/counter: rolled back to version 2\n");
    assert_eq!(host.ok(&["send", "root/counter", "get"]), "43\n");
    let versions = host.json(&["versions", "root/counter"]);
    assert_eq!(versions["current"], 2, "{versions}");
    assert_eq!(
        versions["records"][2]["outcome"]["outcome"], "rolled_back_from",
        "{versions}"
    );
    let table = host.ok(&["versions", "root/counter"]);
    let current: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with('*'))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(current[..3], ["*", "2", "reloaded"], "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(" 3 ") && l.contains("rolled_back_from")),
        "{table}"
    );

    // To a named version, through --json.
    let back = host.json(&["reload", "root/counter", "--rollback", "3"]);
    assert_eq!(back["version"], 3, "{back}");
    assert_eq!(host.ok(&["send", "root/counter", "get"]), "43\n");

    // v2's state is not v1's: going back to 1 fails, the code serving stays.
    let err = host.fails(1, &["reload", "root/counter", "--rollback", "1"]);
    assert!(
        err.starts_with("warden ctl: ") && err.contains("restore"),
        "{err}"
    );
    assert_eq!(host.json(&["versions", "root/counter"])["current"], 3);
    assert_eq!(host.ok(&["send", "root/counter", "get"]), "43\n");

    // Garbage bytes fail at compile: the new code's failure (422, exit 2),
    // not the host's; the old version keeps serving.
    let current = std::fs::read(host.counter_file()).unwrap();
    std::fs::write(host.counter_file(), b"not wasm at all").unwrap();
    let err = host.fails(2, &["reload", "root/counter"]);
    assert!(err.contains("failed at compile"), "{err}");
    assert_eq!(host.ok(&["send", "root/counter", "get"]), "43\n");
    std::fs::write(host.counter_file(), current).unwrap();
    let versions = host.ok(&["versions", "root/counter"]);
    assert!(
        versions.lines().any(|l| l.contains("failed at compile")),
        "{versions}"
    );

    // An unknown version and a child that is not a component: bad input.
    host.fails(2, &["reload", "root/counter", "--rollback", "99"]);
    host.fails(2, &["reload", "root/nobody"]);
}

/// Reads `child`'s stdout lines on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills `root/counter` until `pick` finds a line in `rx` (the follower
/// subscribes asynchronously, so the first kill may come before it).
fn kill_until<T>(
    host: &RunningHost,
    rx: &mpsc::Receiver<String>,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> T {
    for _ in 0..20 {
        host.ok(&["kill", "root/counter"]);
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the follower exited:\n{}", host.log())
                }
            }
        }
    }
    panic!("no matching event after 20 kills:\n{}", host.log());
}

#[test]
fn events_follow_the_stream() {
    let host = RunningHost::start(None);

    let mut json = Spawned(
        ctl_cmd(
            host.base(),
            &[
                "--json",
                "events",
                "--child",
                "root/counter",
                "--kind",
                "child_exited,child_restarted",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let rx = lines_of(&mut json.0);
    let restarted = kill_until(&host, &rx, |line| {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event["path"], "root/counter", "{event}");
        let kind = event["event"].as_str().unwrap();
        assert!(
            kind == "child_exited" || kind == "child_restarted",
            "only the kinds asked for: {event}"
        );
        (kind == "child_restarted").then_some(event)
    });
    assert!(
        restarted["generation"].as_u64().unwrap() >= 2,
        "{restarted}"
    );
    assert!(restarted["at_ms"].is_u64(), "{restarted}");
    drop(json);

    // Human lines, and --count ends the follower.
    let mut human = Spawned(
        ctl_cmd(
            host.base(),
            &[
                "events",
                "--child",
                "root/counter",
                "--kind",
                "child_restarted",
                "--count",
                "1",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let rx = lines_of(&mut human.0);
    let line = kill_until(&host, &rx, |line| Some(line.to_string()));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[1..3], ["root/counter", "child_restarted"], "{line}");
    assert!(
        words[0].len() == 12 && words[0].as_bytes()[2] == b':',
        "{line}"
    );
    assert!(words.iter().any(|w| w.starts_with("generation=")), "{line}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = human.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "--count 1 did not end the follower"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");

    // The stream ends with the host: the follower exits on its own.
    let mut follower = Spawned(
        ctl_cmd(host.base(), &["events"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(host);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = follower.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the follower outlived the host");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut follower.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(err, "warden ctl: the host closed the event stream\n");
}

#[test]
fn every_other_operation_answers_through_op() {
    let host = RunningHost::start(None);

    // Snapshot the counter's state, change it, restore it.
    assert_eq!(host.ok(&["send", "root/counter", "add 7"]), "7\n");
    let snapshot = host.json(&["op", "child.snapshot", r#"{"path": "root/counter"}"#]);
    assert!(snapshot["bytes"].as_u64().unwrap() > 0, "{snapshot}");
    let state = snapshot["state"].as_str().unwrap();
    assert_eq!(host.ok(&["send", "root/counter", "add 1"]), "8\n");
    let params = serde_json::json!({"path": "root/counter", "state": state}).to_string();
    host.json(&["op", "child.restore", &params]);
    assert_eq!(host.ok(&["send", "root/counter", "get"]), "7\n");
    let err = host.fails(
        2,
        &[
            "op",
            "child.restore",
            r#"{"path": "root/counter", "state": 5}"#,
        ],
    );
    assert!(err.contains("/state: expected"), "{err}");

    // Inject a trap: the supervisor restarts the child.
    let before = host.info("root/counter")["generation"].as_u64().unwrap();
    let fault = host.json(&[
        "op",
        "child.fault",
        r#"{"path": "root/counter", "fault": "trap"}"#,
    ]);
    assert_eq!(fault["generation"], before, "{fault}");
    eventually("the restart after the trap", || {
        let info = host.info("root/counter");
        (info["generation"].as_u64() > Some(before) && info["status"] == "running").then_some(())
    });
    let recent = host.json(&[
        "op",
        "events.recent",
        r#"{"child": "root/counter", "kind": "failure_injected", "limit": 5}"#,
    ]);
    let recent = recent.as_array().unwrap();
    assert!(!recent.is_empty(), "{recent:?}");
    assert!(
        recent
            .iter()
            .all(|e| e["path"] == "root/counter" && e["event"] == "failure_injected"),
        "{recent:?}"
    );

    // A component file called in a fresh sandbox, and a grade.
    let misbehave = plugin("misbehave");
    let params = serde_json::json!({
        "component": misbehave, "function": "add", "args": [40, 2]
    })
    .to_string();
    let called = host.json(&["op", "component.call", &params]);
    assert_eq!(called["result"], 42, "{called}");
    let human = host.ok(&["op", "component.call", &params]);
    assert!(human.contains("\"result\": 42"), "{human}");
    let params = serde_json::json!({
        "exercise": crate::grade_exercises::exercise_dir("leap"),
        "solution": plugin("leap_ref"),
    })
    .to_string();
    let report = host.json(&["op", "grade", &params]);
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(report["counts"]["failed"], 0, "{report}");

    // The operation plugin reloaded from its file.
    let reloaded = host.json(&["op", "plugin.reload", r#"{"id": "wc"}"#]);
    assert_eq!(reloaded["operations"], serde_json::json!(["wc.count"]));
    host.fails(2, &["op", "plugin.reload", r#"{"id": "nope"}"#]);

    // Delete a terminated child: it leaves the tree.
    host.ok(&["terminate", "root/echo"]);
    host.json(&["op", "child.delete", r#"{"path": "root/echo"}"#]);
    assert_eq!(ids(&host.json(&["tree"])), ["counter", "workers"]);
    host.fails(2, &["info", "root/echo"]);
}
