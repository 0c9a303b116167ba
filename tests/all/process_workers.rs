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
use warden::events::{EventBus, EventKind, Received, SupervisorEvent};
use warden::host::Host;
use warden::process::testing::{KINDS, six_kinds_script};
use warden::registry::{IncarnationRow, IncarnationStatus, Registry, RegistryConfig};
use warden::supervisor::Fault;

use crate::support::{self, stderr, warden_cmd};

const POLICY: &str = r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
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
        assert!(
            Instant::now() < deadline,
            "still alive: {left:?}\n{}",
            left.iter()
                .map(|&&p| described(p))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the kernel says of `pid` (its stat line and cgroup), for a failure
/// message: which process it is and why it may not have died.
fn described(pid: u32) -> String {
    let read = |what: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{what}"))
            .map_or_else(|e| format!("({e})"), |text| text.trim().to_string())
    };
    format!("{pid}: stat {}; cgroup {}", read("stat"), read("cgroup"))
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
    // scheduling slack on a loaded 2-core machine (other tests spin a core).
    let first = &rows(&host.registry, "root/memory").await[0];
    let over: i64 = std::fs::read_to_string(dir.path().join(format!("mem.{}", first.pid)))
        .unwrap()
        .parse()
        .unwrap();
    let lag = first.stopped_at_ms.unwrap() - over;
    assert!(lag <= 50 + 20 + 600, "stopped {lag} ms after going over");
    assert!(first.peak_memory_bytes > 48 << 20, "{first:#?}");
    // Wall: about one second after the start.
    let wall = &rows(&host.registry, "root/wall").await[0];
    let ran = wall.stopped_at_ms.unwrap() - wall.started_at_ms;
    assert!((1000..2600).contains(&ran), "ran {ran} ms");
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

/// One `six` worker starting one grandchild of every kind
/// ([`START_EVERY_KIND`](warden::process::testing::START_EVERY_KIND), written to a file `kids`), with `[host.cgroup]
/// mode`; it exits with status 3 once `go.PID` appears.
fn six_kinds_config(cgroup: &str, restart: &str) -> String {
    let script = six_kinds_script("go.$$");
    format!(
        r#"
[host.cgroup]
mode = "{cgroup}"

[supervisor.root]
strategy = "one_for_one"
intensity = 5

[[supervisor.root.children]]
id = "six"
kind = "process"
command = "/bin/sh"
cwd = "."
restart = "{restart}"
args = ["-c", '''exec >> kids
{script}''']
"#
    )
}

/// (pgrp, session) from `/proc/PID/stat`.
fn group_and_session(pid: u32) -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// Whether `pid` has reached what makes a grandchild of `kind` that kind:
/// in the group of the worker `leader` or not, in its own session or not,
/// with the invocation marker or not.
fn is_of_kind(kind: &str, pid: u32, leader: u32) -> bool {
    let Some((pgrp, session)) = group_and_session(pid) else {
        return false;
    };
    let marked = std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| {
            env.split(|b| *b == 0)
                .any(|e| e.starts_with(b"WARDEN_INVOCATION_ID="))
        })
        .unwrap_or(false);
    let own_session = session == pid;
    match kind {
        "group" => pgrp == leader && marked,
        "own-group" => pgrp == pid && !own_session && marked,
        "own-session" | "double-fork" => own_session && marked,
        "no-marker" => pgrp == leader && !marked,
        "setsid-env-i" | "setsid-env-i-escaped" => own_session && !marked,
        _ => false,
    }
}

/// The grandchildren the incarnation led by `leader` wrote to `kids`,
/// once all seven are there, alive, and each of its kind.
async fn kids_of(dir: &Path, leader: u32) -> Vec<(&'static str, u32)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(dir.join("kids")).unwrap_or_default();
        let found: Vec<(&'static str, u32)> = KINDS
            .iter()
            .filter_map(|kind| {
                text.lines()
                    .filter_map(|l| l.strip_prefix(kind)?.strip_prefix(' ')?.parse().ok())
                    .find(|pid| alive(*pid) && is_of_kind(kind, *pid, leader))
                    .map(|pid| (*kind, pid))
            })
            .collect();
        if found.len() == KINDS.len() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "grandchildren of {leader}: {found:?} in {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `running` incarnation of `root/six` whose leader is not in `not`,
/// once it is recorded.
async fn running_six(registry: &Registry, not: &[u32]) -> IncarnationRow {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(row) = registry
            .by_child("root/six")
            .unwrap()
            .into_iter()
            .find(|r| r.status == IncarnationStatus::Running && !not.contains(&r.pid))
        {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "no running root/six besides {not:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the registry records every one of `pids` as a descendant
/// of `row` (the monitor's sampling pass saw them).
async fn recorded(registry: &Registry, row: &IncarnationRow, pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let known: Vec<u32> = registry
            .descendants(&row.incarnation)
            .unwrap()
            .iter()
            .map(|d| d.pid)
            .collect();
        if pids.iter().all(|p| known.contains(p)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pids:?} never recorded: {known:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pids(kids: &[(&str, u32)]) -> Vec<u32> {
    kids.iter().map(|(_, pid)| *pid).collect()
}

/// Whether this machine lets a host create cgroups (`auto` uses them then).
fn cgroups_here() -> bool {
    warden::process::cgroup_support().is_ok()
}

/// `warden run` started through a stand-in parent that is itself a child
/// subreaper: when the host is killed, its orphans go to that parent, not
/// to this test process (a subreaper too once a test started a host in
/// it, whose sweep would then kill them before a new host could). One
/// host per process also keeps other tests' workers out of its ledger.
struct ExternalHost {
    parent: std::process::Child,
    /// The `warden run` process.
    pid: u32,
    registry: Registry,
}

const SUBREAPER_PARENT: &str = r#"
import ctypes, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(p.pid, flush=True)
time.sleep(600)
"#;

impl ExternalHost {
    /// Starts `warden run CONFIG` and waits until a worker has written a
    /// pid to `dir/written` (so the registry exists: opening it any earlier
    /// would race the host's own creation of the file).
    async fn start(dir: &Path, config: &str, written: &str) -> Self {
        let mut parent = std::process::Command::new("python3")
            .args([
                "-c",
                SUBREAPER_PARENT,
                env!("CARGO_BIN_EXE_warden"),
                "run",
                config,
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(parent.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let pid = line.trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(dir.join(written)).map_or(true, |m| m.len() == 0) {
            assert!(
                Instant::now() < deadline,
                "the host never started {written}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let registry =
            Registry::open(&RegistryConfig::new(dir.join("state/registry.sqlite3"))).unwrap();
        Self {
            parent,
            pid,
            registry,
        }
    }

    fn signal(&self, signal: rustix::process::Signal) {
        // Its parent does not reap it, so the pid is still its own.
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(i32::try_from(self.pid).unwrap()).unwrap(),
            signal,
        )
        .unwrap();
    }

    /// SIGTERM, then waits until the host has ended.
    async fn stop(&self) {
        self.signal(rustix::process::Signal::TERM);
        until_gone(&[self.pid], Duration::from_secs(15)).await;
    }
}

impl Drop for ExternalHost {
    /// A test that failed midway leaves no host (nor its workers) behind:
    /// SIGTERM stops the tree first.
    fn drop(&mut self) {
        if alive(self.pid) {
            self.signal(rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive(self.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.parent.kill();
        let _ = self.parent.wait();
    }
}

/// `warden run` as a child of this test, its stderr kept for the end;
/// stopped with SIGTERM if the test fails first.
struct PipedHost(Option<std::process::Child>);

impl PipedHost {
    fn start(config: &str) -> Self {
        let child = warden_cmd(&["run", config])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Self(Some(child))
    }

    /// SIGTERM; its exit status and output.
    fn stop(mut self) -> std::process::Output {
        let child = self.0.take().unwrap();
        support::signal(child.id(), "TERM");
        child.wait_with_output().unwrap()
    }
}

impl Drop for PipedHost {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            support::signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every kind of grandchild dies when the host stops its worker
/// gracefully (here with the whole tree, on SIGTERM).
async fn every_kind_dies_on_stop(cgroup: &str) {
    let (dir, path) = config_file(&six_kinds_config(cgroup, "permanent"));
    let host = ExternalHost::start(dir.path(), path.to_str().unwrap(), "kids").await;
    let row = running_six(&host.registry, &[]).await;
    assert_eq!(row.cgroup.is_some(), cgroup == "auto" && cgroups_here());
    let kids = kids_of(dir.path(), row.pid).await;
    host.stop().await;
    until_gone(&pids(&kids), Duration::from_secs(5)).await;
    let row = &rows(&host.registry, "root/six").await[0];
    assert_eq!(row.exit_reason.as_deref(), Some("shutdown"), "{row:#?}");
    if let Some(cgroup) = &row.cgroup {
        assert!(!cgroup.exists(), "{} left behind", cgroup.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_when_its_worker_is_stopped() {
    every_kind_dies_on_stop("auto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_when_its_worker_is_stopped_without_cgroups() {
    every_kind_dies_on_stop("off").await;
}

/// Every kind of grandchild dies when its worker exits by itself, while
/// the host runs on; those of the incarnation that replaces it are not
/// mistaken for the old one's.
async fn every_kind_dies_on_exit(cgroup: &str) {
    let (dir, path) = config_file(&six_kinds_config(cgroup, "transient"));
    let host = ExternalHost::start(dir.path(), path.to_str().unwrap(), "kids").await;
    let first = running_six(&host.registry, &[]).await;
    let old = kids_of(dir.path(), first.pid).await;
    std::fs::write(dir.path().join(format!("go.{}", first.pid)), "").unwrap();
    until_gone(&pids(&old), Duration::from_secs(5)).await;
    assert!(alive(host.pid), "the host runs on");
    let rows = restarted(&host.registry, "root/six", Duration::from_secs(10)).await;
    assert_eq!(rows[0].exit_reason.as_deref(), Some("exit_code(3)"));
    // The next incarnation's grandchildren live on once the host has seen
    // them (its sweep attributes the re-parented ones, by birth time for
    // the one without a marker).
    let second = running_six(&host.registry, &[first.pid]).await;
    let new = kids_of(dir.path(), second.pid).await;
    let adopted: Vec<u32> = new
        .iter()
        .filter(|(kind, _)| kind.ends_with("escaped") || kind.starts_with("double"))
        .map(|(_, pid)| *pid)
        .collect();
    recorded(&host.registry, &second, &adopted).await;
    for (kind, pid) in &new {
        assert!(
            alive(*pid),
            "{kind} {pid} of the new incarnation was killed"
        );
    }
    host.stop().await;
    until_gone(&pids(&new), Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_when_its_worker_exits() {
    every_kind_dies_on_exit("auto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_when_its_worker_exits_without_cgroups() {
    every_kind_dies_on_exit("off").await;
}

/// The pids the orphan report on `stderr` lists as killed for `child`.
fn reported_killed(stderr: &str, child: &str) -> Vec<u32> {
    let prefix = format!("{child} (pid");
    stderr
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')))
        .flat_map(|(list, _)| list.split(',').filter_map(|p| p.trim().parse().ok()))
        .collect()
}

/// `kill -9` of `warden run`, then a new `warden run` on the same state
/// dir: every kind of grandchild of the old worker dies, named in the
/// report.
async fn every_kind_dies_in_recovery(cgroup: &str) {
    let (dir, path) = config_file(&six_kinds_config(cgroup, "permanent"));
    let config = path.to_str().unwrap();
    let first = ExternalHost::start(dir.path(), config, "kids").await;
    let registry = &first.registry;
    let row = running_six(registry, &[]).await;
    let kids = kids_of(dir.path(), row.pid).await;
    assert_eq!(row.cgroup.is_some(), cgroup == "auto" && cgroups_here());
    if row.cgroup.is_none() {
        // What nothing else on the system would name: the host must have
        // written them down before it dies.
        let unmarked: Vec<u32> = kids
            .iter()
            .filter(|(kind, _)| kind.starts_with("setsid-env-i"))
            .map(|(_, pid)| *pid)
            .collect();
        recorded(registry, &row, &unmarked).await;
    }
    first.signal(rustix::process::Signal::KILL);
    let mut old = pids(&kids);
    old.push(row.pid);
    assert!(
        old.iter().all(|&p| alive(p)),
        "the worker and its grandchildren outlive a kill -9 of the host"
    );
    std::fs::remove_file(dir.path().join("kids")).unwrap();

    let second = PipedHost::start(config);
    until_gone(&old, Duration::from_secs(10)).await;
    let now = running_six(registry, &[row.pid]).await;
    kids_of(dir.path(), now.pid).await;
    let orphaned = registry.by_status(IncarnationStatus::OrphanKilled).unwrap();
    assert_eq!(orphaned.len(), 1, "{orphaned:#?}");
    assert_eq!(orphaned[0].incarnation, row.incarnation);
    let out = second.stop();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let killed = reported_killed(&err, "root/six");
    for pid in &old {
        assert!(
            killed.contains(pid),
            "{pid} not in the report {killed:?}: {err}"
        );
    }
    if let Some(cgroup) = &row.cgroup {
        assert!(!cgroup.exists(), "{} left behind", cgroup.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_when_a_new_host_recovers_from_a_kill() {
    every_kind_dies_in_recovery("auto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_when_a_new_host_recovers_from_a_kill_without_cgroups() {
    every_kind_dies_in_recovery("off").await;
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
    let first = ExternalHost::start(dir.path(), config, "pids").await;
    let old = pids_in(&dir.path().join("pids"), 7).await;
    // The registry write is queued: give the writer a moment.
    let registry = &first.registry;
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
    first.signal(rustix::process::Signal::KILL);
    assert!(
        old.iter().all(|&p| alive(p)),
        "workers outlive a kill -9 of the host"
    );
    std::fs::remove_file(dir.path().join("pids")).unwrap();

    let second = PipedHost::start(config);
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
    let out = second.stop();
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
            cgroup: None,
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
            EventKind::Supervisor(SupervisorEvent::ChildExited { .. }) => exited.push(path),
            // A restart emits both `child_started` and `child_restarted`.
            EventKind::Supervisor(SupervisorEvent::ChildStarted { .. })
            | EventKind::Supervisor(SupervisorEvent::ChildRestarted { .. })
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
[host.cgroup]
mode = "required"
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
    assert_eq!(config.host.cgroup, warden::process::CgroupMode::Required);
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
            text.replace("mode = \"required\"", "mode = \"sometimes\""),
            "host.cgroup.mode",
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
