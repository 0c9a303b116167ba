//! Host logs: `WARDEN_LOG`, then `RUST_LOG`, choose what is logged;
//! `--log-format json` writes one JSON object a line.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{demo_tree, repo_root, signal, warden_cmd, write_tree_config};

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
        let running = line.starts_with("warden: running");
        seen.push(line);
        if running {
            break;
        }
    }
    signal(child.id(), "TERM");
    let status = child.wait().expect("wait for warden run");
    assert!(
        seen.last()
            .is_some_and(|l| l.starts_with("warden: running")),
        "{status:?}: {seen:#?}"
    );
    seen
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
    let logs: Vec<serde_json::Value> = seen
        .iter()
        .filter(|l| !l.starts_with("warden: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
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
