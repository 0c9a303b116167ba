//! Native worker processes under supervision, started from config: limits,
//! shutdown, descendants, the registry, orphan recovery after `kill -9`,
//! policy errors and mixed trees.
//!
//! Workers are `/bin/sh`, `sleep` and `python3` scripts in temp dirs; every
//! process a test looks for is found by the pid it wrote to a file, never by
//! name.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use warden::config;
use warden::events::{EventBus, EventKind, Received};
use warden::registry::{IncarnationRow, IncarnationStatus, Registry, RegistryConfig};
use warden::supervisor::Fault;
use warden::tree::Host;

use crate::support::{self, stderr, warden_cmd};

const POLICY: &str = r#"
[host]
state_dir = "state"
[host.policy]
allow_commands = ["/bin/sh", "sleep", "python3"]
allow_cwds = ["."]
[host.monitor]
interval_ms = 50
"#;

/// A config with the test policy in front of `body`.
fn config_file(body: &str) -> (tempfile::TempDir, PathBuf) {
    support::config_file(&format!("{POLICY}{body}"))
}

async fn start(body: &str) -> (tempfile::TempDir, Host) {
    support::start_host(&format!("{POLICY}{body}")).await
}

/// Incarnations of `child`, oldest first.
async fn rows(registry: &Registry, child: &str) -> Vec<IncarnationRow> {
    registry.flush().await.unwrap();
    let mut rows = registry.by_child(child).unwrap();
    rows.sort_by_key(|r| r.id);
    rows
}

/// Waits until `child` has an ended incarnation followed by a newer one.
async fn restarted(registry: &Registry, child: &str, within: Duration) -> Vec<IncarnationRow> {
    let deadline = Instant::now() + within;
    loop {
        let rows = rows(registry, child).await;
        if rows.len() >= 2 && rows[0].exit_reason.is_some() {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{child} never restarted: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` is a process that still runs code (a zombie does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.trim().chars().next());
            !matches!(state, Some('Z' | 'X') | None)
        }
        Err(_) => false,
    }
}

async fn until_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| alive(p)) {
        let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
        assert!(Instant::now() < deadline, "still alive: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pids written (one per line, possibly by several processes) to `file`,
/// once it holds at least `n`.
async fn pids_in(file: &Path, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids: Vec<u32> = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.len() >= n {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "{} never got {n} pids",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const LIMITS: &str = r#"
[supervisor.root]
strategy = "one_for_one"
intensity = 50
period_ms = 10000

[[supervisor.root.children]]
id = "memory"
kind = "process"
command = "python3"
cwd = "."
# Grows by 4 MiB every 20 ms, noting when it was last under the limit.
args = ["-c", """
import os, time
page = os.sysconf('SC_PAGE_SIZE')
held = []
while True:
    rss = int(open('/proc/self/statm').read().split()[1]) * page
    if rss <= 48 << 20:
        open('mem.%d' % os.getpid(), 'w').write(str(int(time.time() * 1000)))
    held.append(b'x' * (4 << 20))
    time.sleep(0.02)
"""]
limits = { memory_mb = 48 }
backoff = { initial_ms = 300, max_ms = 300 }

[[supervisor.root.children]]
id = "cpu"
kind = "process"
command = "python3"
args = ["-c", "while True: pass"]
limits = { cpu_secs = 1 }
backoff = { initial_ms = 300, max_ms = 300 }

[[supervisor.root.children]]
id = "wall"
kind = "process"
command = "sleep"
args = ["30"]
limits = { wall_secs = 1 }
backoff = { initial_ms = 300, max_ms = 300 }

[[supervisor.root.children]]
id = "fds"
kind = "process"
command = "python3"
args = ["-c", "import time\nfs = [open('/dev/null') for _ in range(44)]\ntime.sleep(30)"]
limits = { open_files = 32 }
backoff = { initial_ms = 300, max_ms = 300 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_over_a_limit_are_stopped_and_restarted_with_its_reason() {
    let (dir, host) = start(LIMITS).await;
    let within = Duration::from_secs(15);
    for (child, reason) in [
        ("root/memory", "memory_limit"),
        ("root/cpu", "cpu_limit"),
        ("root/wall", "wall_limit"),
        ("root/fds", "fd_limit"),
    ] {
        let rows = restarted(&host.registry, child, within).await;
        let first = &rows[0];
        assert_eq!(
            first.exit_reason.as_deref(),
            Some(reason),
            "{child}: {first:#?}"
        );
        assert_eq!(first.status, IncarnationStatus::Exited);
        assert_eq!(rows[1].restart_count, first.restart_count + 1);
        assert_ne!(rows[1].pid, first.pid);
    }
    // Memory: stopped within one monitor interval (50 ms) of going over
    // (the last note under the limit is up to one 20 ms step earlier), plus
    // scheduling slack on a loaded machine.
    let first = &rows(&host.registry, "root/memory").await[0];
    let over: i64 = std::fs::read_to_string(dir.path().join(format!("mem.{}", first.pid)))
        .unwrap()
        .parse()
        .unwrap();
    let lag = first.stopped_at_ms.unwrap() - over;
    assert!(lag <= 50 + 20 + 250, "stopped {lag} ms after going over");
    assert!(first.peak_memory_bytes > 48 << 20, "{first:#?}");
    // Wall: about one second after the start.
    let wall = &rows(&host.registry, "root/wall").await[0];
    let ran = wall.stopped_at_ms.unwrap() - wall.started_at_ms;
    assert!((1000..2000).contains(&ran), "ran {ran} ms");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_ignoring_sigterm_is_killed_after_its_shutdown_time() {
    let (_dir, host) = start(
        r#"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "stubborn"
kind = "process"
command = "/bin/sh"
args = ["-c", "trap '' TERM; echo up; while :; do sleep 1; done"]
shutdown = 400
readiness = { line = "up", timeout_ms = 5000 }
"#,
    )
    .await;
    let pid = rows(&host.registry, "root/stubborn").await[0].pid;
    assert!(alive(pid));
    let t = Instant::now();
    host.stop().await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(400), "stopped after {took:?}");
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    assert!(!alive(pid));
    let row = &rows(&host.registry, "root/stubborn").await[0];
    let reason = row.exit_reason.as_deref().unwrap();
    assert_eq!(reason, "shutdown(forced)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_forks_grandchildren_leaves_nothing_behind() {
    let (dir, host) = start(
        r#"
[supervisor.root]
strategy = "one_for_one"
intensity = 20
period_ms = 10000
[[supervisor.root.children]]
id = "forker"
kind = "process"
command = "/bin/sh"
cwd = "."
# One grandchild in the group, one double-forked into its own session,
# then the worker itself exits: the supervisor restarts it, and each
# incarnation's leftovers must be gone.
args = ["-c", "sleep 300 & echo $! >> kids; (setsid sleep 301 & echo $! >> kids); sleep 0.3; exit 3"]
restart = "transient"
"#,
    )
    .await;
    let kids = pids_in(&dir.path().join("kids"), 2).await;
    until_gone(&kids, Duration::from_secs(5)).await;
    let first = restarted(&host.registry, "root/forker", Duration::from_secs(5)).await;
    assert_eq!(first[0].exit_reason.as_deref(), Some("exit_code(3)"));
    // And on stop, whatever the current incarnation started goes too.
    let all = pids_in(&dir.path().join("kids"), 4).await;
    host.stop().await;
    until_gone(&all, Duration::from_secs(5)).await;
}

/// `kill -9` of `warden run` with five workers (one with grandchildren),
/// then a new `warden run` on the same state dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_kills_the_workers_a_crashed_one_left() {
    let mut body = String::from(
        r#"
[supervisor.root]
strategy = "one_for_one"
"#,
    );
    for i in 0..4 {
        body.push_str(&format!(
            r#"
[[supervisor.root.children]]
id = "w{i}"
kind = "process"
command = "/bin/sh"
cwd = "."
args = ["-c", "echo $$ >> pids; exec sleep 300"]
"#
        ));
    }
    body.push_str(
        r#"
[[supervisor.root.children]]
id = "family"
kind = "process"
command = "/bin/sh"
cwd = "."
args = ["-c", "echo $$ >> pids; sleep 300 & echo $! >> pids; (setsid sleep 301 & echo $! >> pids); wait"]
"#,
    );
    let (dir, path) = config_file(&body);
    let config = path.to_str().unwrap();
    let mut first = warden_cmd(&["run", config])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let old = pids_in(&dir.path().join("pids"), 7).await;
    // The registry write is queued: give the writer a moment.
    let registry = Registry::open(&RegistryConfig::new(
        dir.path().join("state/registry.sqlite3"),
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry
        .by_status(IncarnationStatus::Running)
        .unwrap()
        .len()
        < 5
    {
        assert!(Instant::now() < deadline, "rows never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL, by pid
    first.wait().unwrap();
    assert!(
        old.iter().all(|&p| alive(p)),
        "workers outlive a kill -9 of the host"
    );
    std::fs::remove_file(dir.path().join("pids")).unwrap();

    let second = warden_cmd(&["run", config])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let new = pids_in(&dir.path().join("pids"), 7).await;
    until_gone(&old, Duration::from_secs(5)).await;
    assert!(new.iter().all(|&p| alive(p)));
    let orphaned = registry.by_status(IncarnationStatus::OrphanKilled).unwrap();
    let mut children: Vec<_> = orphaned.iter().map(|r| r.child.as_str()).collect();
    children.sort();
    assert_eq!(
        children,
        ["root/family", "root/w0", "root/w1", "root/w2", "root/w3"]
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(second.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = second.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for child in ["root/family", "root/w0", "root/w3"] {
        assert!(err.contains(child), "the report names {child}: {err}");
    }
    until_gone(&new, Duration::from_secs(5)).await;
    // `warden ps` reads the same rows from the file, no host running.
    let ps = warden_cmd(&[
        "ps",
        "--config",
        config,
        "--status",
        "orphan_killed",
        "--json",
    ])
    .output()
    .unwrap();
    assert!(ps.status.success(), "{}", stderr(&ps));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(listed.len(), 5, "{listed:#?}");
    assert!(listed.iter().all(|r| r["status"] == "orphan_killed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_pid_now_used_by_another_process_is_not_killed() {
    let (dir, path) = config_file(
        r#"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "w"
kind = "process"
command = "sleep"
args = ["300"]
"#,
    );
    // An unrelated process, recorded as if it were a worker of a crashed
    // host but with another start time: the pid matches, the process
    // does not.
    let mut bystander = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let pid = bystander.id();
    {
        let registry = Registry::open(&RegistryConfig::new(
            dir.path().join("state/registry.sqlite3"),
        ))
        .unwrap();
        let mut identity = warden::process::ProcessIdentity::of(pid).unwrap();
        identity.start_time += 1;
        registry.record_started(warden::registry::NewIncarnation {
            incarnation: warden::process::WorkerId::random(),
            child: "root/w".into(),
            identity,
            command: "sleep 300".into(),
            started_at_ms: warden::process::now_ms(),
            restart_count: 0,
        });
        registry.flush().await.unwrap();
    }
    let config = config::load(&path).unwrap();
    let host = Host::start(&config, EventBus::default()).await.unwrap();
    assert_eq!(host.orphans.orphans.len(), 1, "{}", host.orphans);
    assert_eq!(host.orphans.killed(), 0);
    assert!(alive(pid), "the bystander lives");
    let gone = host
        .registry
        .by_status(IncarnationStatus::OrphanGone)
        .unwrap();
    assert_eq!(gone.len(), 1);
    host.stop().await;
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

#[test]
fn policy_errors_stop_the_load_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\ntouch started\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let script = script.display();
    let outside = outside.path().display();
    // (allowed commands, the child's command lines, the key named)
    let cases = [
        // Not in the allow-list.
        (
            r#""sleep""#.to_string(),
            r#"command = "/bin/sh""#.to_string(),
            "children[0].command",
        ),
        // A cwd outside the allowed dirs.
        (
            r#""sleep""#.into(),
            format!("command = \"sleep\"\ncwd = \"{outside}\""),
            "children[0].cwd",
        ),
        // A binary that does not exist.
        (
            r#""sleep""#.into(),
            r#"command = "./missing-worker""#.into(),
            "children[0].command",
        ),
        // Not executable: as a command …
        (
            r#""sleep""#.into(),
            format!("command = \"{script}\""),
            "children[0].command",
        ),
        // … and in the allow-list itself.
        (
            format!("\"{script}\""),
            r#"command = "sleep""#.into(),
            "host.policy.allow_commands[0]",
        ),
    ];
    for (i, (allowed, child, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("warden{i}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"
[host]
state_dir = "state"
[host.policy]
allow_commands = [{allowed}]
allow_cwds = ["."]
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "bad"
kind = "process"
args = ["300"]
{child}
"#
            ),
        )
        .unwrap();
        let out = warden_cmd(&["run", path.to_str().unwrap()])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(path.to_str().unwrap()), "case {i}: {err}");
        assert!(err.contains(key), "case {i}: {err}");
        assert!(
            !dir.path().join("state").exists(),
            "case {i}: nothing started"
        );
        assert!(
            !dir.path().join("started").exists(),
            "case {i}: nothing started"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_a_process_child_and_the_components_after_it() {
    let (_dir, host) = start(
        r#"
[supervisor.root]
strategy = "rest_for_one"
intensity = 3
[[supervisor.root.children]]
id = "worker"
kind = "process"
command = "sleep"
args = ["300"]
[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "{counter}"
[[supervisor.root.children]]
id = "echo"
kind = "component"
path = "{echo}"
"#,
    )
    .await;
    let old_pid = rows(&host.registry, "root/worker").await[0].pid;
    host.router
        .call("root/counter", b"add 5".to_vec())
        .await
        .unwrap();
    let mut events = host.events.subscribe();
    host.root.inject_fault("worker", Fault::Trap).await.unwrap();
    let mut exited = Vec::new();
    let mut started = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while started.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Received::Event(e))) = tokio::time::timeout(left, events.recv()).await else {
            panic!("events so far: exited {exited:?}, started {started:?}");
        };
        let path = e.path.to_string();
        match e.kind {
            EventKind::ChildExited { .. } => exited.push(path),
            // A restart emits both `child_started` and `child_restarted`.
            EventKind::ChildStarted { .. } | EventKind::ChildRestarted { .. }
                if started.last() != Some(&path) =>
            {
                started.push(path);
            }
            _ => {}
        }
    }
    assert_eq!(exited, ["root/worker", "root/echo", "root/counter"]);
    assert_eq!(started, ["root/worker", "root/counter", "root/echo"]);
    let rows = rows(&host.registry, "root/worker").await;
    assert_eq!(rows[0].exit_reason.as_deref(), Some("signal(6)"));
    assert_ne!(rows[1].pid, old_pid);
    let count = host
        .router
        .call("root/counter", b"get".to_vec())
        .await
        .unwrap();
    assert_eq!(count, b"0", "the counter restarted with fresh state");
    host.stop().await;
}

#[test]
fn process_keys_are_read_and_misplaced_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("warden.toml");
    let text = r#"
[host.policy]
allow_commands = ["sleep"]
allow_cwds = ["."]
[host.monitor]
interval_ms = 100
[host.registry]
keep_per_child = 7
max_age_days = 2
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "w"
kind = "process"
command = "sleep"
args = ["5"]
cwd = "."
env = { A = "1" }
inherit = ["HOME"]
limits = { memory_mb = 64, cpu_secs = 2, wall_secs = 3, open_files = 40, max_processes = 4 }
readiness = { file = "ready", timeout_ms = 700 }
shutdown = 100
"#;
    let config = config::parse(&file, text).unwrap();
    assert_eq!(config.host.monitor_interval, Duration::from_millis(100));
    assert_eq!(config.host.retention.keep_per_child, Some(7));
    assert_eq!(
        config.host.retention.max_age,
        Some(Duration::from_secs(2 * 24 * 3600))
    );
    let config::ChildKindConfig::Process(p) = &config.trees[0].children[0].kind else {
        panic!("a process child");
    };
    assert!(p.command.path().is_absolute(), "pinned at load");
    assert_eq!(p.limits.memory_mb, Some(64));
    assert_eq!(p.limits.max_processes, Some(4));
    assert_eq!(p.env, [("A".to_string(), "1".to_string())]);
    assert_eq!(p.inherit, ["HOME"]);
    assert_eq!(
        p.readiness.as_ref().unwrap().timeout,
        Duration::from_millis(700)
    );

    for (bad, key) in [
        (
            text.replace("max_processes = 4", "max_processes = 4, fuel = 9"),
            "children[0].limits.fuel",
        ),
        (
            text.replace("interval_ms = 100", "interval_ms = 0"),
            "host.monitor.interval_ms",
        ),
        (
            text.replace("readiness = { file = \"ready\",", "readiness = {"),
            "children[0].readiness",
        ),
        (
            text.replace("kind = \"process\"", "kind = \"component\""),
            "children[0].command",
        ),
    ] {
        let err = config::parse(&file, &bad).unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
        assert!(err.contains(file.to_str().unwrap()), "{err}");
    }
}
