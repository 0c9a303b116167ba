//! `warden run`: the demo config starts, serves, and stops on a signal.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{
    HostProcess, plugins_dir, repo_root, signal, stderr, stdout, warden, warden_cmd,
    write_tree_config,
};

#[test]
fn the_demo_config_runs_until_interrupted() {
    plugins_dir();
    let state = tempfile::tempdir().unwrap();
    // The demo's paths are relative to examples/; point its state elsewhere.
    let demo = std::fs::read_to_string(repo_root().join("examples/warden.toml"))
        .unwrap()
        .replace(
            "state_dir = \"../.warden\"",
            &format!("state_dir = \"{}\"", state.path().display()),
        )
        .replace(
            "api_addr = \"127.0.0.1:7878\"",
            "api_addr = \"127.0.0.1:0\"",
        );
    let config = repo_root().join("examples/warden-test-run.toml");
    std::fs::write(&config, demo).unwrap();
    let mut child = warden_cmd(&["run", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reaper = KillOnDrop(child.id());
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let running = line.contains("warden: running");
        seen.push(line);
        if running {
            break;
        }
    }
    let _ = std::fs::remove_file(&config);
    assert!(
        seen.iter().any(|l| l.contains("warden: running")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("supervisor started") && l.contains("path=root")),
        "lifecycle events are logged: {seen:#?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains('\u{1b}')),
        "no colour codes when piped: {seen:#?}"
    );
    // SIGINT, as Ctrl-C would.
    signal(child.id(), "INT");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("warden: stopped")),
        "{rest:#?}"
    );
}

/// Kills the host if the test fails before stopping it.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

#[test]
fn a_broken_config_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    std::fs::write(
        &path,
        "[supervisor.root]\nstrategy = \"one_for_one\"\nintensity = \"lots\"\n",
    )
    .unwrap();
    let out = warden(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warden.toml:3:"), "{err}");
    let out = warden(&["run", dir.path().join("absent.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("absent.toml: cannot read"),
        "{}",
        stderr(&out)
    );
}

/// `n` counter children under `[supervisor.root]`, after `host` (keys of
/// `[host]`).
fn counters(host: &str, n: usize) -> String {
    let mut body = format!(
        "[host]\nstate_dir = \"state\"\napi_addr = \"127.0.0.1:0\"\n{host}\n\
         [supervisor.root]\nstrategy = \"one_for_one\"\n"
    );
    for i in 0..n {
        body.push_str(&format!(
            "[[supervisor.root.children]]\nid = \"c{i}\"\nkind = \"component\"\npath = \"counter.wasm\"\n"
        ));
    }
    body
}

#[test]
fn a_pooled_host_serves_every_component_child() {
    // Each Rust component holds 3-4 core instances: the pool must count
    // slots in component instances, and its memories must fit the
    // reservation (both failed: no pooled host ever started).
    let host = HostProcess::start_tree(&counters("pooling_instances = 6", 4), &[]);
    for i in 0..4 {
        let path = format!("root/c{i}");
        let out = warden(&["ctl", "--addr", host.url(), "send", &path, "inc"]);
        assert!(out.status.success(), "{path}: {}", stderr(&out));
        assert_eq!(stdout(&out), "1\n", "{path}");
    }
}

#[test]
fn a_pool_that_cannot_be_set_up_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    // Too few slots for the children: refused at load.
    let path = write_tree_config(dir.path(), &counters("pooling_instances = 2", 3));
    let out = warden(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warden.toml: host.pooling_instances: "),
        "{err}"
    );
    assert!(
        err.contains("cannot hold the 3 component children"),
        "{err}"
    );
    // 100000 slots of 16 GiB are more address space than a process has:
    // the pool cannot be mapped, and the error says which key asked.
    let body = counters("pooling_instances = 100000", 1) + "limits = { memory_mb = 16384 }\n";
    let path = write_tree_config(dir.path(), &body);
    let out = warden(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warden.toml: host.pooling_instances: "),
        "{err}"
    );
    assert!(err.contains("cannot pool 100000 instance slots"), "{err}");
}
