//! Host logs: `WARDEN_LOG`, then `RUST_LOG`, choose what is logged;
//! `--log-format json` writes one JSON object a line, and in `warden run`
//! every line on stderr is one; `warden call -v` shows guest log lines; a
//! guest panic is one log line; a plugin's `err` reply is no warning.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{
    HostProcess, demo_tree, plugin, repo_root, signal, stderr, warden_cmd, write_tree_config,
};

/// Runs the demo tree with `args` after `run CONFIG` and `env`, and
/// returns what it wrote on stderr up to `warden: running`, then stops it.
fn log_until_running(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_tree_config(dir.path(), &demo_tree("api_addr = \"127.0.0.1:0\""));
    let mut all = vec!["run", config.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let mut child = warden_cmd(&all)
        .current_dir(repo_root())
        .env_remove("WARDEN_LOG")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start warden run");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let running = is_running_line(&line);
        seen.push(line);
        if running {
            break;
        }
    }
    signal(child.id(), "TERM");
    // What it says while it stops belongs to the same stream.
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("wait for warden run");
    assert!(
        seen.iter().any(|l| is_running_line(l)),
        "{status:?}: {seen:#?}"
    );
    seen
}

/// `warden: running …`, or its JSON form.
fn is_running_line(line: &str) -> bool {
    line.starts_with("warden: running")
        || serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            v["target"] == "warden::status"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("running "))
        })
}

fn info_lines(seen: &[String]) -> usize {
    seen.iter()
        .filter(|l| l.contains("supervisor started"))
        .count()
}

#[test]
fn rust_log_is_honoured_when_warden_log_is_unset() {
    let seen = log_until_running(&[], &[("RUST_LOG", "warn")]);
    assert_eq!(info_lines(&seen), 0, "RUST_LOG=warn hides info: {seen:#?}");
    // WARDEN_LOG wins over RUST_LOG.
    let seen = log_until_running(&[], &[("RUST_LOG", "warn"), ("WARDEN_LOG", "info")]);
    assert!(info_lines(&seen) > 0, "{seen:#?}");
    let seen = log_until_running(&[], &[("WARDEN_LOG", "warn"), ("RUST_LOG", "info")]);
    assert_eq!(info_lines(&seen), 0, "{seen:#?}");
    // A filter that does not parse is said, and the default is used.
    let seen = log_until_running(&[], &[("RUST_LOG", "warden=loud")]);
    assert!(
        seen.first()
            .is_some_and(|l| l.starts_with("warning: RUST_LOG=warden=loud: not a log filter")),
        "{seen:#?}"
    );
    assert!(info_lines(&seen) > 0, "{seen:#?}");
}

#[test]
fn log_format_json_writes_one_object_a_line() {
    let seen = log_until_running(&["--log-format", "json"], &[]);
    // Every line, the command's own status lines included.
    let logs: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let said = |prefix: &str| {
        logs.iter().any(|l| {
            l["target"] == "warden::status"
                && l["level"] == "INFO"
                && l["message"].as_str().is_some_and(|m| m.starts_with(prefix))
        })
    };
    assert!(said("API on http://127.0.0.1:"), "{seen:#?}");
    assert!(said("stopped"), "{seen:#?}");
    assert!(!logs.is_empty(), "{seen:#?}");
    for log in &logs {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(log.get(key).is_some(), "no {key}: {log}");
        }
    }
    let started = logs
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("supervisor started"))
                && l["path"] == "root"
        })
        .unwrap_or_else(|| panic!("a supervisor started line with its fields: {logs:#?}"));
    assert_eq!(started["level"], "INFO");

    // A value clap does not know is bad usage that lists the valid ones.
    let out = warden_cmd(&["run", "--log-format", "xml"])
        .output()
        .expect("run warden");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("text") && err.contains("json"), "{err}");
}

#[test]
fn json_status_lines_show_under_any_filter_and_a_bad_filter_is_json_too() {
    let seen = log_until_running(&["--log-format", "json"], &[("WARDEN_LOG", "warden=loud")]);
    let logs: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("WARDEN_LOG=warden=loud: not a log filter"))),
        "{seen:#?}"
    );
    let seen = log_until_running(&["--log-format", "json"], &[("WARDEN_LOG", "off")]);
    assert!(
        seen.iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["target"] == "warden::status")),
        "only status lines under WARDEN_LOG=off: {seen:#?}"
    );
    // A run that fails ends with its error as JSON, not `error: …`.
    let out = warden_cmd(&["--log-format", "json", "run", "/nonexistent/warden.toml"])
        .env_remove("WARDEN_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run warden");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert_eq!(lines[0]["level"], "ERROR", "{err}");
    assert!(
        lines[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent/warden.toml")),
        "{err}"
    );
}

/// `warden call counter.wasm handle "log …"` with `args` added.
fn call_counter_log(args: &[&str]) -> String {
    let counter = plugin("counter");
    let mut all = vec![
        "call",
        counter.to_str().unwrap(),
        "handle",
        "log hello from the guest",
    ];
    all.extend_from_slice(args);
    let out = warden_cmd(&all)
        .env_remove("WARDEN_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run warden call");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"ok":"logged"}"#
    );
    stderr(&out)
}

#[test]
fn warden_call_shows_guest_log_lines_with_v_only() {
    let quiet = call_counter_log(&[]);
    assert!(!quiet.contains("hello from the guest"), "{quiet}");
    let verbose = call_counter_log(&["-v"]);
    let line = verbose
        .lines()
        .find(|l| l.contains("hello from the guest"))
        .unwrap_or_else(|| panic!("the guest's line: {verbose}"));
    assert!(
        line.contains("INFO") && line.contains("warden::guest"),
        "{line}"
    );
    // In JSON, with its level and target.
    let json = call_counter_log(&["--verbose", "--log-format", "json"]);
    let event: serde_json::Value = json
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or_else(|| panic!("a JSON line: {json}"));
    assert_eq!(event["message"], "hello from the guest");
    assert_eq!(event["target"], "warden::guest");
    assert_eq!(event["level"], "INFO");
}

/// A tree with `counter` under `root`, its log kept.
const COUNTER_TREE: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[supervisor.root]
strategy = "one_for_one"
intensity = 100
period_ms = 1000

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"
"#;

/// Waits (20 s at most) until the host's log has a line `accept` takes.
fn wait_for_log(host: &HostProcess, accept: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = host.log();
        if log.lines().any(&accept) {
            return log;
        }
        assert!(Instant::now() < deadline, "not in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_guest_panic_is_one_log_line() {
    let mut host = HostProcess::start_tree(COUNTER_TREE, &[("WARDEN_LOG", "info")]);
    let out = host.ctl(&["send", "root/counter", "crash"]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = wait_for_log(&host, |l| l.contains("panicked at"));
    let panics: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warden::guest") && l.contains("panicked at"))
        .collect();
    assert_eq!(panics.len(), 1, "{log}");
    assert!(panics[0].contains("WARN"), "{}", panics[0]);
    assert!(panics[0].contains("crash requested"), "{}", panics[0]);
    // Neither the message nor std's note is a line of its own.
    for line in log.lines() {
        let guest = line.contains("warden::guest");
        assert!(
            !(guest && line.contains("RUST_BACKTRACE")),
            "the note is dropped: {log}"
        );
        assert!(
            !(guest && !line.contains("panicked at") && line.contains("crash requested")),
            "the message is on the panic's line: {log}"
        );
    }
    host.terminate();
}

#[test]
fn an_err_reply_is_the_callers_answer_not_a_host_warning() {
    let mut host = HostProcess::start_tree(COUNTER_TREE, &[("WARDEN_LOG", "debug")]);
    let out = host.ctl(&["send", "root/counter", "no-such-command"]);
    // The host answers 422 (the guest's failure), which `warden ctl`
    // exits 2 for, as for every 4xx.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown command: no-such-command"),
        "{}",
        stderr(&out)
    );
    // The same through an operation, `child.send`, then a call that works:
    // once its line is in the log, the refusal's would be too.
    let out = host.ctl(&[
        "op",
        "child.send",
        r#"{"path":"root/counter","message":"bogus"}"#,
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = host.ctl(&["send", "root/counter", "log after the refusals"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = wait_for_log(&host, |l| l.contains("after the refusals"));
    for line in log.lines() {
        let about_it = line.contains("unknown command") || line.contains("bogus");
        assert!(
            !(about_it && (line.contains("WARN") || line.contains("ERROR"))),
            "an err reply logged as a warning: {line}\n{log}"
        );
    }
    host.terminate();
}
