//! Tests of native workers with real processes (`sh`, `sleep`, `python3`).
//!
//! Each test kills only what it started (by handle or recorded identity),
//! uses its own temporary directories, and stays well under 10 s.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use tokio::sync::{RwLockReadGuard, RwLockWriteGuard};

use super::testing::{FAMILY, KINDS, OldHost, WORKERS, six_kinds_script};
use super::*;

static SUBREAPER: Once = Once::new();

fn become_subreaper() {
    SUBREAPER.call_once(|| {
        if let Err(e) = enable_subreaper() {
            panic!("cannot become subreaper: {e}");
        }
    });
}

/// Subreaper set; held while the test's workers live (see [`WORKERS`]).
async fn host_setup() -> RwLockReadGuard<'static, ()> {
    become_subreaper();
    WORKERS.read().await
}

/// As [`host_setup`], with no other test's worker alive meanwhile.
async fn host_setup_alone() -> RwLockWriteGuard<'static, ()> {
    become_subreaper();
    WORKERS.write().await
}

fn policy(dirs: &[&Path]) -> ProcessPolicy {
    let mut b = ProcessPolicy::builder();
    for cmd in ["sh", "sleep", "python3", "true", "env"] {
        b.allow_command(cmd);
    }
    for d in dirs {
        b.allow_cwd(*d);
    }
    b.build().expect("test policy")
}

fn spec(program: &str, args: &[&str]) -> WorkerSpec {
    let p = policy(&[]);
    let mut s = WorkerSpec::new(
        format!("test/{program}"),
        p.resolve_command(program).expect("allowed"),
    );
    s.args(args.iter().copied());
    s
}

fn sh(script: &str) -> WorkerSpec {
    spec("sh", &["-c", script])
}

fn python(code: &str) -> WorkerSpec {
    spec("python3", &["-c", code])
}

/// The exit reason of a worker a limit stopped.
fn stopped_by(limit: LimitKind) -> ExitReason {
    ExitReason::Limit { limit }
}

/// The worker's exit, which must come within `secs` seconds (a deadline
/// for a hung test, not what a test claims: CPU seconds take longer on a
/// loaded 2-core machine).
async fn exit_within(w: &RunningWorker, secs: u64) -> ExitInfo {
    tokio::time::timeout(Duration::from_secs(secs), w.wait_exit())
        .await
        .unwrap_or_else(|_| panic!("the worker did not stop within {secs} s"))
}

fn monitor(every_ms: u64) -> (Monitor, tokio::sync::mpsc::UnboundedReceiver<MonitorEvent>) {
    let mut config = MonitorConfig::default();
    config.interval(Duration::from_millis(every_ms));
    Monitor::start(config).expect("monitor starts")
}

/// The process with this identity still runs (a zombie counts as dead).
fn running(identity: &ProcessIdentity) -> bool {
    let Ok(pid) = i32::try_from(identity.pid) else {
        return false;
    };
    match procfs::read_stat(pid, &mut Vec::new()) {
        Ok(stat) => stat.start_time == identity.start_time && !stat.is_dead(),
        Err(_) => false,
    }
}

/// Waits until `who` is gone for good, not even a zombie. A worker's exit
/// waits until its leftovers are dead (its cgroup empty); reaping them
/// (this process is the subreaper) happens beside that and, on a loaded
/// machine, a moment later.
async fn reaped_within(who: &ProcessIdentity, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while who.is_same_process() {
        assert!(Instant::now() < deadline, "{who:?} survived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `pid` has printed its line `prefix N` and returns N as a pid.
async fn pid_from_logs(worker: &RunningWorker, prefix: &str) -> ProcessIdentity {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = worker.logs().lines().into_iter().find_map(|l| {
            l.text
                .strip_prefix(prefix)
                .and_then(|rest| rest.trim().parse::<u32>().ok())
        });
        if let Some(pid) = found {
            return ProcessIdentity::of(pid).expect("identity of a logged pid");
        }
        assert!(
            Instant::now() < deadline,
            "no `{prefix}` line in {:?}",
            worker.logs().lines()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_ready(worker: &RunningWorker) -> Instant {
    worker.ready().await.expect("worker ready");
    Instant::now()
}

fn ready_on(line: &str) -> ReadinessSpec {
    ReadinessSpec {
        check: Readiness::LineMatches(line.to_owned()),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_status_is_seen_at_once_and_classified() {
    let _workers = host_setup().await;
    for (script, expected) in [
        ("exit 0", ExitReason::Normal),
        ("exit 3", ExitReason::ExitCode { code: 3 }),
        ("kill -SEGV $$", ExitReason::Signal { signal: 11 }),
    ] {
        let w = RunningWorker::spawn(&sh(script)).expect("spawn");
        let exit = w.wait_exit().await;
        assert_eq!(exit.reason, expected, "{script}");
        assert_eq!(exit.identity.pid, w.pid());
        // Death seen within milliseconds: the whole run of `sh -c exit` is short.
        assert!(
            exit.runtime < Duration::from_secs(1),
            "{script}: {:?}",
            exit.runtime
        );
        assert!(!running(w.identity()));
    }
}

/// The log lines of a worker once it has printed `last` (output may still be
/// draining from the pipes after the exit).
async fn lines_through(w: &RunningWorker, last: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = w.logs().lines().into_iter().map(|l| l.text).collect();
        if lines.iter().any(|l| l == last) {
            return lines;
        }
        assert!(Instant::now() < deadline, "no `{last}` line: {lines:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_empty_but_for_inherited_and_set_variables() {
    let _workers = host_setup().await;
    // The environment the kernel gave the process at `execve`, exactly: a
    // shell would add `PWD`, and `python3` on PATH may be a wrapper script
    // (pyenv) that adds its own, so the interpreter itself runs.
    let real = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    let real = String::from_utf8(real.stdout).expect("utf-8");
    let p = ProcessPolicy::builder()
        .allow_command(real.trim())
        .build()
        .expect("policy");
    let mut s = WorkerSpec::new(
        "test/environ",
        p.resolve_command(real.trim()).expect("allowed"),
    );
    s.args([
        "-c",
        "import sys\nfor e in open('/proc/self/environ', 'rb').read().split(b'\\0'):\n    if e: print(e.decode())\nprint('done', flush=True)",
    ]);
    s.inherit_env("PATH")
        .inherit_env("WARDEN_TEST_NOT_SET")
        .env("FOO", "bar");
    let w = RunningWorker::spawn(&s).expect("spawn");
    assert_eq!(exit_within(&w, 10).await.reason, ExitReason::Normal);
    let mut lines = lines_through(&w, "done").await;
    lines.retain(|l| l != "done");
    lines.sort();
    let path = std::env::var("PATH").expect("the test runs with a PATH");
    let mut expected = vec![
        "FOO=bar".to_owned(),
        format!("PATH={path}"),
        format!("{INVOCATION_ENV}={}", w.id()),
    ];
    expected.sort();
    // Whole: nothing of the host's own environment (`WARDEN_TOKEN`, `HOME`,
    // …) gets through unless named.
    assert_eq!(lines, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_stops_the_worker_within_one_interval() {
    let _workers = host_setup().await;
    let interval = 100;
    let limit_mb = 64;
    let (monitor, mut events) = monitor(interval);
    // Grows by 4 MiB every ~10 ms and prints its RSS after each step, so the
    // last line under the limit dates the breach to within one step.
    let mut s = python(
        "import os, time\npage = os.sysconf('SC_PAGE_SIZE')\nheld = []\nwhile True:\n    held.append(b'x' * (4 << 20))\n    rss = int(open('/proc/self/statm').read().split()[1]) * page\n    print('rss', rss, flush=True)\n    time.sleep(0.01)",
    );
    s.limits(ProcessLimits {
        memory_mb: Some(limit_mb),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    let exit = exit_within(&w, 30).await;
    assert_eq!(exit.reason, stopped_by(LimitKind::Memory));
    assert!(
        exit.peak_rss_bytes > limit_mb << 20,
        "{}",
        exit.peak_rss_bytes
    );
    let last_under = w
        .logs()
        .lines()
        .into_iter()
        .filter(|l| {
            l.text
                .strip_prefix("rss ")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|rss| rss <= limit_mb << 20)
        })
        .map(|l| l.at_ms)
        .max()
        .expect("lines under the limit");
    let lag = exit.exited_at_ms - last_under;
    // One interval, plus room for a busy 2-core machine (this runs beside
    // tests that spin a core); the kernel ceiling (`RLIMIT_DATA` at twice
    // the limit) would end it differently, with a Python `MemoryError`.
    assert!(
        lag <= i64::try_from(interval).expect("small") + 500,
        "stopped {lag} ms after the last sample under the limit"
    );
    // Health changes may come first, while the memory grows.
    loop {
        match events.recv().await {
            Some(MonitorEvent::LimitExceeded {
                limit,
                worker,
                observed,
                allowed,
                ..
            }) => {
                assert_eq!(limit, LimitKind::Memory);
                assert_eq!(worker, w.id());
                assert!(observed > allowed);
                break;
            }
            Some(MonitorEvent::HealthChanged { worker, .. }) => assert_eq!(worker, w.id()),
            Some(MonitorEvent::Descendants { worker, .. }) => assert_eq!(worker, w.id()),
            None => panic!("no limit event"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_limit_stops_a_busy_loop() {
    let _workers = host_setup().await;
    let (monitor, _events) = monitor(100);
    let mut s = sh("while :; do :; done");
    s.limits(ProcessLimits {
        cpu_secs: Some(1),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    // One CPU-second takes longer than a wall second on a loaded machine.
    let exit = exit_within(&w, 30).await;
    assert_eq!(exit.reason, stopped_by(LimitKind::Cpu));
    // `/proc` CPU times are tick-sampled and may trail the kernel's own
    // accounting (which the rlimit uses) by a little.
    assert!(
        exit.cpu_time >= Duration::from_millis(500),
        "{:?}",
        exit.cpu_time
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_rlimit_alone_is_reported_as_cpu_limit() {
    let _workers = host_setup().await;
    // No monitor: the kernel's SIGXCPU ends it.
    let mut s = sh("while :; do :; done");
    s.limits(ProcessLimits {
        cpu_secs: Some(1),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    let exit = exit_within(&w, 30).await;
    assert_eq!(exit.reason, stopped_by(LimitKind::Cpu));
    assert_eq!(exit.raw, RawExit::Signal(24));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_hard_rlimit_kill_is_reported_as_cpu_limit() {
    let _workers = host_setup().await;
    // SIGXCPU ignored: the kernel's hard limit (soft + 1 s) sends SIGKILL,
    // and the CPU time read from the zombie tells why.
    let mut s = sh("trap '' XCPU; while :; do :; done");
    s.limits(ProcessLimits {
        cpu_secs: Some(1),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    let exit = exit_within(&w, 30).await;
    assert_eq!(exit.raw, RawExit::Signal(9));
    assert_eq!(exit.reason, stopped_by(LimitKind::Cpu));
    assert!(
        exit.cpu_time >= Duration::from_secs(1),
        "{:?}",
        exit.cpu_time
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_limit_stops_a_sleeper() {
    let _workers = host_setup().await;
    let (monitor, _events) = monitor(100);
    let mut s = spec("sleep", &["30"]);
    s.limits(ProcessLimits {
        wall_secs: Some(1),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    let exit = w.wait_exit().await;
    assert_eq!(exit.reason, stopped_by(LimitKind::Wall));
    assert!(exit.runtime >= Duration::from_secs(1), "{:?}", exit.runtime);
    // One interval after the second, plus room for a busy machine.
    assert!(
        exit.runtime <= Duration::from_millis(1000 + 100 + 600),
        "{:?}",
        exit.runtime
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_limit_stops_a_worker_opening_too_many_files() {
    let _workers = host_setup().await;
    let interval = 100;
    let (monitor, _events) = monitor(interval);
    let mut s = python(
        "import time\nprint('opening', flush=True)\nfs = [open('/dev/null') for _ in range(48)]\ntime.sleep(30)",
    );
    s.limits(ProcessLimits {
        open_files: Some(32),
        ..ProcessLimits::default()
    })
    .readiness(ready_on("opening"));
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    let over = wait_ready(&w).await;
    let exit = w.wait_exit().await;
    assert_eq!(exit.reason, stopped_by(LimitKind::OpenFiles));
    let lag = exit.detected_at.saturating_duration_since(over);
    // One interval, plus room for a busy 2-core machine.
    assert!(
        lag <= Duration::from_millis(interval + 600),
        "stopped {lag:?} after opening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_limit_counts_the_worker_tree() {
    let _workers = host_setup().await;
    let (monitor, _events) = monitor(100);
    let mut s = sh("for i in 1 2 3 4 5; do sleep 30 & done; wait");
    s.limits(ProcessLimits {
        max_processes: Some(3),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    let exit = exit_within(&w, 3).await;
    assert_eq!(exit.reason, stopped_by(LimitKind::Processes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_is_graceful_when_the_worker_obeys() {
    let _workers = host_setup().await;
    let w = RunningWorker::spawn(&spec("sleep", &["30"])).expect("spawn");
    // Without a readiness check a worker is ready at once.
    assert_eq!(w.ready().await, Ok(Duration::ZERO));
    let started = Instant::now();
    let exit = w.terminate(Duration::from_secs(5)).await;
    assert_eq!(exit.reason, ExitReason::Shutdown { forced: false });
    assert_eq!(exit.raw, RawExit::Signal(15));
    assert!(started.elapsed() < Duration::from_secs(1));
    // A second stop returns the same record.
    assert_eq!(
        w.kill().await.reason,
        ExitReason::Shutdown { forced: false }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_ignoring_sigterm_is_killed_after_its_grace() {
    let _workers = host_setup().await;
    let mut s = sh("trap '' TERM; echo trapped; while :; do sleep 0.05; done");
    s.readiness(ready_on("trapped"));
    let w = RunningWorker::spawn(&s).expect("spawn");
    w.ready().await.expect("ready");
    let grace = Duration::from_millis(400);
    let started = Instant::now();
    let exit = w.terminate(grace).await;
    let took = started.elapsed();
    assert_eq!(exit.reason, ExitReason::Shutdown { forced: true });
    assert_eq!(exit.raw, RawExit::Signal(9));
    assert!(took >= grace, "{took:?}");
    assert!(took < grace + Duration::from_secs(1), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_leaves_no_descendant_behind() {
    let _workers = host_setup().await;
    let w = RunningWorker::spawn(&spec("python3", &["-c", FAMILY, "60"])).expect("spawn");
    let kid = pid_from_logs(&w, "group-child").await;
    let escaped = pid_from_logs(&w, "escaped").await;
    assert!(running(&kid) && running(&escaped));
    let exit = w.terminate(Duration::from_secs(2)).await;
    assert_eq!(exit.reason, ExitReason::Shutdown { forced: false });
    assert!(!running(&kid), "group child {kid:?} survived");
    assert!(
        !running(&escaped),
        "escaped grandchild {escaped:?} survived"
    );
    // Reaped too: not even a zombie is left under the host.
    assert!(!Path::new(&format!("/proc/{}", escaped.pid)).exists() || !escaped.is_same_process());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_exits_by_itself_leaves_no_descendant_behind() {
    let _workers = host_setup().await;
    let w = RunningWorker::spawn(&spec("python3", &["-c", FAMILY, "0.5"])).expect("spawn");
    let kid = pid_from_logs(&w, "group-child").await;
    let escaped = pid_from_logs(&w, "escaped").await;
    let exit = w.wait_exit().await;
    assert_eq!(exit.reason, ExitReason::Normal);
    assert!(exit.leftovers_killed >= 2, "{exit:?}");
    assert!(!running(&kid), "group child {kid:?} survived");
    assert!(
        !running(&escaped),
        "escaped grandchild {escaped:?} survived"
    );
}

/// Whether a grandchild of `kind` has reached what makes it that kind:
/// its group, session, parent and invocation marker (and cgroup, when its
/// worker has one). `Err` says what differs.
fn check_kind(kind: &str, who: &ProcessIdentity, worker: &RunningWorker) -> Result<(), String> {
    let pid = i32::try_from(who.pid).expect("pid");
    let mut buf = Vec::new();
    let stat = procfs::read_stat(pid, &mut buf).map_err(|e| e.to_string())?;
    let me = procfs::read_stat(i32::try_from(std::process::id()).expect("pid"), &mut buf)
        .expect("own stat");
    let leader = i32::try_from(worker.pid()).expect("pid");
    let marker = procfs::environ_value(pid, INVOCATION_ENV, &mut buf).map_err(|e| e.to_string())?;
    let in_group = stat.pgrp == leader;
    let own_group = stat.pgrp == pid;
    let own_session = stat.session == pid;
    let adopted = stat.ppid == i32::try_from(std::process::id()).expect("pid");
    let (group_ok, session_ok, marked, host_child) = match kind {
        "group" => (in_group, !own_session, true, false),
        "own-group" => (own_group, stat.session == me.session, true, false),
        "own-session" => (own_session, true, true, false),
        "double-fork" => (own_session, true, true, true),
        "no-marker" => (in_group, !own_session, false, false),
        "setsid-env-i" => (own_session, true, false, false),
        "setsid-env-i-escaped" => (own_session, true, false, true),
        other => panic!("unknown kind {other}"),
    };
    if !(group_ok && session_ok) {
        return Err(format!("group or session: {stat:?}"));
    }
    if marker.is_some() != marked {
        return Err(format!("marker {marker:?}"));
    }
    if host_child != adopted || (!host_child && stat.ppid != leader) {
        return Err(format!("parent: {stat:?}"));
    }
    if let Some(dir) = worker.cgroup() {
        let path = procfs::cgroup_of(pid, &mut buf)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        if !dir.ends_with(path.trim_start_matches('/')) {
            return Err(format!("in cgroup {path}, not {}", dir.display()));
        }
    }
    Ok(())
}

/// A worker running [`SIX_KINDS`] in `mode`, its directory (touch `go`
/// there to make it exit) and its grandchildren by kind, each checked to
/// be of its kind and alive.
async fn six_kinds(
    mode: CgroupMode,
) -> (
    tempfile::TempDir,
    RunningWorker,
    Vec<(&'static str, ProcessIdentity)>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = policy(&[dir.path()]);
    let mut s = sh(&six_kinds_script("go"));
    s.cwd(p.check_cwd(dir.path()).expect("allowed cwd"))
        .cgroup(mode);
    let w = RunningWorker::spawn(&s).expect("spawn");
    match mode {
        CgroupMode::Off => assert!(w.cgroup().is_none()),
        _ => assert_eq!(w.cgroup().is_some(), cgroup_support().is_ok()),
    }
    let mut kids = Vec::new();
    for kind in KINDS {
        kids.push((kind, pid_from_logs(&w, &format!("{kind} ")).await));
    }
    // Each reaches its kind once its `setsid`/`env`/`setpgid` is done.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (kind, who) in &kids {
        while let Err(why) = check_kind(kind, who, &w) {
            assert!(Instant::now() < deadline, "{kind} {who:?}: {why}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(running(who), "{kind} {who:?} is not running");
    }
    (dir, w, kids)
}

/// Not running, and not even a zombie waiting for the host to reap it.
fn gone_for_good(kids: &[(&str, ProcessIdentity)], when: &str) {
    for (kind, who) in kids {
        assert!(!who.is_same_process(), "{kind} {who:?} survived {when}");
    }
}

async fn grandchildren_die_when_their_worker_is_stopped(mode: CgroupMode) {
    let (_dir, w, kids) = six_kinds(mode).await;
    let cgroup = w.cgroup().map(Path::to_path_buf);
    let exit = w.terminate(Duration::from_secs(5)).await;
    assert_eq!(exit.reason, ExitReason::Shutdown { forced: false });
    gone_for_good(&kids, "a graceful stop");
    assert!(exit.leftovers_killed >= 1, "{exit:?}");
    if let Some(dir) = cgroup {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

async fn grandchildren_die_when_their_worker_exits(mode: CgroupMode) {
    let (dir, w, kids) = six_kinds(mode).await;
    let cgroup = w.cgroup().map(Path::to_path_buf);
    std::fs::write(dir.path().join("go"), "").expect("touch go");
    let exit = exit_within(&w, 10).await;
    assert_eq!(exit.reason, ExitReason::ExitCode { code: 3 });
    gone_for_good(&kids, "their worker's own exit");
    assert!(exit.leftovers_killed >= KINDS.len(), "{exit:?}");
    if let Some(dir) = cgroup {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

// Each kind once by a graceful stop and once by the worker's own exit,
// tracked by cgroup (where the host may create one) and without. Without
// a cgroup the two `setsid-env-i` kinds are attributed by time alone (rule
// 5 of the reaper) when nothing saw them in the tree: those tests run alone.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_on_stop_with_cgroups() {
    let _workers = host_setup().await;
    grandchildren_die_when_their_worker_is_stopped(CgroupMode::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_on_stop_without_cgroups() {
    let _alone = host_setup_alone().await;
    grandchildren_die_when_their_worker_is_stopped(CgroupMode::Off).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_with_its_worker_with_cgroups() {
    let _workers = host_setup().await;
    grandchildren_die_when_their_worker_exits(CgroupMode::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_grandchild_dies_with_its_worker_without_cgroups() {
    let _alone = host_setup_alone().await;
    grandchildren_die_when_their_worker_exits(CgroupMode::Off).await;
}

/// A grandchild with no mark at all: same session as the host, its own
/// group, no marker, out of the tree at once. Only a cgroup holds it.
const UNMARKED: &str = r#"
p=$(command -v python3)
(env -i "$p" -c 'import os, time; os.setpgid(0, 0); print("unmarked", os.getpid(), flush=True); time.sleep(300)' &)
n=0; while [ ! -e go ] && [ $n -lt 6000 ]; do sleep 0.05; n=$((n+1)); done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cgroup_holds_a_grandchild_that_shed_every_other_mark() {
    let _workers = host_setup().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = policy(&[dir.path()]);
    let mut s = sh(UNMARKED);
    s.cwd(p.check_cwd(dir.path()).expect("allowed cwd"))
        .cgroup(CgroupMode::Required);
    let w = match (RunningWorker::spawn(&s), cgroup_support()) {
        (Ok(w), Ok(_)) => w,
        // Where the host cannot create cgroups, `required` must refuse.
        (Err(SpawnError::Cgroup { .. }), Err(_)) => return,
        (Ok(_), Err(why)) => panic!("spawned without a cgroup ({why})"),
        (Err(e), _) => panic!("{e}"),
    };
    let unmarked = pid_from_logs(&w, "unmarked ").await;
    assert!(running(&unmarked));
    std::fs::write(dir.path().join("go"), "").expect("touch go");
    assert_eq!(exit_within(&w, 10).await.reason, ExitReason::Normal);
    reaped_within(&unmarked, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descendant_seen_by_the_monitor_stays_attributed_after_shedding_group_and_marker() {
    let _workers = host_setup().await;
    let (monitor, mut events) = monitor(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = policy(&[dir.path()]);
    // Born as the worker's child, it drops the marker and then its group,
    // and stays a child of the worker until the worker ends.
    let mut s = sh(r#"
p=$(command -v python3)
env -i "$p" -c 'import os, time; os.setpgid(0, 0); print("shed", os.getpid(), flush=True); time.sleep(300)' &
n=0; while [ ! -e go ] && [ $n -lt 6000 ]; do sleep 0.05; n=$((n+1)); done
"#);
    s.cwd(p.check_cwd(dir.path()).expect("allowed cwd"))
        .cgroup(CgroupMode::Off);
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    let shed = pid_from_logs(&w, "shed ").await;
    // The monitor reports it (for the registry) once it has sampled it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(MonitorEvent::Descendants { worker, found, .. }))
                if worker == w.id() && found.contains(&shed) =>
            {
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("{shed:?} never reported"),
        }
    }
    std::fs::write(dir.path().join("go"), "").expect("touch go");
    assert_eq!(exit_within(&w, 10).await.reason, ExitReason::Normal);
    reaped_within(&shed, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_kills_the_worker() {
    let _workers = host_setup().await;
    let w = RunningWorker::spawn(&spec("sleep", &["30"])).expect("spawn");
    let identity = w.identity().clone();
    let exit = w.wait_exit();
    drop(w);
    assert_eq!(exit.await.reason, ExitReason::Killed);
    assert!(!running(&identity));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_stats_and_health() {
    let _workers = host_setup().await;
    let (monitor, _events) = monitor(50);
    let mut s = sh("sleep 30 & sleep 30 & wait");
    s.limits(ProcessLimits {
        memory_mb: Some(512),
        open_files: Some(1000),
        ..ProcessLimits::default()
    });
    let w = RunningWorker::spawn(&s).expect("spawn");
    monitor.register(&w);
    let deadline = Instant::now() + Duration::from_secs(3);
    let stats = loop {
        if let Some(stats) = w.stats().filter(|s| s.processes == 3) {
            break stats;
        }
        assert!(Instant::now() < deadline, "no stats: {:?}", w.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stats.rss_bytes > 0);
    assert!(stats.open_fds >= 3);
    assert_eq!(stats.threads, 3);
    let health = w.health().expect("health");
    assert_eq!(health.level, HealthLevel::Healthy);
    assert!(health.score >= 90, "{health:?}");
    // Restarts older than the window do not count.
    let long_ago = Instant::now() - Duration::from_secs(120);
    w.set_restart_history(vec![long_ago; 5], Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(w.health().unwrap().score >= 90, "{:?}", w.health());
    w.set_restart_history(vec![Instant::now(); 5], Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(3);
    while w.health().is_none_or(|h| h.score > 70) {
        assert!(
            Instant::now() < deadline,
            "restarts never lowered the score: {:?}",
            w.health()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!w.health().unwrap().unresponsive);
    // Stopped: alive but unresponsive; continued: responsive again.
    let pid = rustix::process::Pid::from_raw(i32::try_from(w.pid()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !w.health().unwrap().unresponsive {
        assert!(
            Instant::now() < deadline,
            "never unresponsive: {:?}",
            w.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(w.stats().unwrap().stopped);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while w.health().unwrap().unresponsive {
        assert!(
            Instant::now() < deadline,
            "still unresponsive: {:?}",
            w.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.set_liveness(false);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !w.health().unwrap().unresponsive {
        assert!(
            Instant::now() < deadline,
            "a failed liveness check not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_by_line_by_file_and_timeout() {
    let _workers = host_setup().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = policy(&[dir.path()]);

    let mut by_line = sh("echo booting; sleep 0.2; echo 'listening on 8080'; sleep 30");
    by_line.readiness(ready_on("listening on"));
    let w = RunningWorker::spawn(&by_line).expect("spawn");
    let after = w.ready().await.expect("ready by line");
    assert!(after >= Duration::from_millis(150), "{after:?}");

    let mut by_file = sh("sleep 0.2; touch ready.flag; sleep 30");
    by_file
        .cwd(p.check_cwd(dir.path()).expect("allowed cwd"))
        .readiness(ReadinessSpec {
            check: Readiness::FileExists("ready.flag".into()),
            timeout: Duration::from_secs(5),
        });
    let w2 = RunningWorker::spawn(&by_file).expect("spawn");
    w2.ready().await.expect("ready by file");
    assert!(dir.path().join("ready.flag").exists());

    let mut never = spec("sleep", &["30"]);
    never.readiness(ReadinessSpec {
        check: Readiness::LineMatches("never printed".into()),
        timeout: Duration::from_millis(300),
    });
    let w3 = RunningWorker::spawn(&never).expect("spawn");
    let err = w3.ready().await.expect_err("times out");
    assert!(matches!(err, ReadinessError::Timeout { .. }), "{err}");
    assert!(matches!(w3.ready_state(), ReadyState::Failed(_)));

    let mut dies = sh("exit 1");
    dies.readiness(ready_on("never"));
    let w4 = RunningWorker::spawn(&dies).expect("spawn");
    let err = w4.ready().await.expect_err("exits first");
    assert!(
        matches!(
            err,
            ReadinessError::Exited {
                reason: ExitReason::ExitCode { code: 1 }
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_goes_to_rotated_files_and_the_ring() {
    let _workers = host_setup().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut logs = LogSpec::default();
    logs.dir(dir.path())
        .rotate_bytes(1024)
        .keep(2)
        .ring_lines(1000);
    let mut s = sh("i=0; while [ $i -lt 100 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done");
    s.logs(logs);
    let w = RunningWorker::spawn(&s).expect("spawn");
    w.wait_exit().await;
    // The pipes may still be draining for a moment after the exit.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !w.logs().lines().iter().any(|l| l.text == "out 99")
        || !w.logs().lines().iter().any(|l| l.text == "err 99")
    {
        assert!(Instant::now() < deadline, "{:?}", w.logs().lines());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ring = w.logs().lines();
    assert_eq!(ring.len(), 200);
    assert!(ring.iter().any(|l| l.stream == Stream::Stderr));
    assert!(ring.iter().any(|l| l.stream == Stream::Stdout));
    for name in ["worker.log", "worker.log.1", "worker.log.2"] {
        let len = std::fs::metadata(dir.path().join(name)).expect(name).len();
        assert!(len <= 1024, "{name}: {len}");
    }
    assert!(!dir.path().join("worker.log.3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_failures_are_typed_and_leave_nothing() {
    let _workers = host_setup().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The program was allowed and then removed before the spawn.
    let prog = dir.path().join("prog");
    std::fs::write(&prog, "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let p = ProcessPolicy::builder()
        .allow_command(&prog)
        .build()
        .expect("policy");
    let s = WorkerSpec::new("gone", p.resolve_command(&prog).expect("allowed"));
    std::fs::remove_file(&prog).expect("rm");
    let err = RunningWorker::spawn(&s).expect_err("missing program");
    assert!(matches!(err, SpawnError::Spawn { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_outside_a_runtime_is_an_error() {
    let s = spec("true", &[]);
    let err = std::thread::spawn(move || RunningWorker::spawn(&s).map(|_| ()))
        .join()
        .expect("thread");
    assert!(matches!(err, Err(SpawnError::NoRuntime { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_kills_a_live_recorded_group_and_its_escaped_descendants() {
    let _workers = host_setup().await;
    let marker = WorkerId::random();
    let old = tokio::task::block_in_place(|| OldHost::start(marker));
    let outcome = tokio::task::block_in_place(|| {
        kill_recorded(&[RecordedWorker {
            identity: old.leader.clone(),
            invocation: Some(marker),
            cgroup: None,
            descendants: Vec::new(),
        }])
    });
    let outcome = outcome
        .into_iter()
        .next()
        .expect("one outcome")
        .expect("no error");
    match &outcome {
        OrphanOutcome::Killed { pids, survivors } => {
            assert!(survivors.is_empty(), "{outcome:?}");
            for who in [&old.leader, &old.kid, &old.escaped] {
                assert!(pids.contains(&who.pid), "{who:?} not in {pids:?}");
            }
        }
        other => panic!("expected a kill, got {other:?}"),
    }
    for who in [&old.leader, &old.kid, &old.escaped] {
        assert!(!running(who), "{who:?} survived");
    }
    assert!(running(&old.host), "the old host itself is not a worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_kills_what_proves_itself_when_the_leader_is_gone() {
    let _workers = host_setup().await;
    let invocation = WorkerId::random();
    let sleeper = |marked: bool| {
        let mut cmd = Command::new("sleep");
        cmd.arg("300").env_clear().stdin(Stdio::null());
        if marked {
            cmd.env(INVOCATION_ENV, invocation.to_string());
        }
        cmd.spawn().expect("sleep")
    };
    let mut leader = Command::new("true").spawn().expect("true");
    let gone = ProcessIdentity::of(leader.id()).expect("identity");
    leader.wait().expect("reap");
    let recorded = sleeper(false);
    let marked = sleeper(true);
    let bystander = sleeper(false);
    let recorded_id = ProcessIdentity::of(recorded.id()).expect("identity");
    let marked_id = ProcessIdentity::of(marked.id()).expect("identity");
    let bystander_id = ProcessIdentity::of(bystander.id()).expect("identity");
    let outcome = tokio::task::block_in_place(|| {
        kill_recorded(&[RecordedWorker {
            identity: gone,
            invocation: Some(invocation),
            cgroup: None,
            descendants: vec![
                recorded_id.clone(),
                // Recorded, but the pid now holds a process started later.
                ProcessIdentity {
                    start_time: bystander_id.start_time.saturating_sub(1),
                    ..bystander_id.clone()
                },
            ],
        }])
    });
    let outcome = outcome.into_iter().next().expect("one").expect("no error");
    let mut expected = vec![recorded_id.pid, marked_id.pid];
    expected.sort_unstable();
    assert_eq!(
        outcome,
        OrphanOutcome::Killed {
            pids: expected,
            survivors: Vec::new()
        }
    );
    assert!(!running(&recorded_id) && !running(&marked_id));
    assert!(running(&bystander_id), "the bystander was signalled");
    for mut child in [recorded, marked, bystander] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_never_signals_a_reused_pid() {
    let _workers = host_setup().await;
    let mut bystander = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .expect("bystander");
    let real = ProcessIdentity::of(bystander.id()).expect("identity");
    let reused = ProcessIdentity {
        start_time: real.start_time.saturating_sub(1),
        ..real.clone()
    };
    let other_boot = ProcessIdentity {
        boot_id: "00000000-0000-0000-0000-000000000000".into(),
        ..real.clone()
    };
    let outcomes = kill_recorded(&[
        RecordedWorker {
            identity: reused,
            invocation: None,
            cgroup: None,
            descendants: Vec::new(),
        },
        RecordedWorker {
            identity: other_boot,
            invocation: None,
            cgroup: None,
            descendants: Vec::new(),
        },
    ]);
    let outcomes: Vec<OrphanOutcome> = outcomes.into_iter().map(|o| o.expect("outcome")).collect();
    assert_eq!(
        outcomes,
        [
            OrphanOutcome::Gone {
                why: Liveness::Reused
            },
            OrphanOutcome::Gone {
                why: Liveness::OtherBoot
            }
        ]
    );
    assert!(running(&real), "the bystander was signalled");
    let _ = bystander.kill();
    let _ = bystander.wait();
}

/// `sh -c GATE PROGRAM ARGS…` with stdin and stdout piped and an
/// environment of `A=1` only.
fn gated(gate: &str, program: &str, args: &[&str]) -> std::process::Child {
    Command::new(crate::worker::GATE_SHELL)
        .arg("-c")
        .arg(gate)
        .arg(program)
        .args(args)
        .env_clear()
        .env("A", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the gate")
}

#[test]
fn the_gate_runs_nothing_until_its_line_then_execs_the_program_in_place() {
    use crate::worker::{GATE, GATE_WITHOUT_PWD};
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().expect("tempdir");
    let ran = dir.path().join("ran");
    let script = format!("echo $$ > {}; cat", ran.display());
    let mut child = gated(GATE, "/bin/sh", &["-c", &script, "a b"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!ran.exists(), "the program ran before the gate opened");
    let mut gate = child.stdin.take().expect("stdin");
    gate.write_all(b"\n").expect("open the gate");
    // Whatever else the host writes is not the program's input: its stdin
    // is /dev/null.
    let _ = gate.write_all(b"not for the program\n");
    drop(gate);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    assert!(child.wait().expect("wait").success());
    assert_eq!(out, "");
    let pid: u32 = std::fs::read_to_string(&ran)
        .expect("the program ran")
        .trim()
        .parse()
        .expect("a pid");
    assert_eq!(pid, child.id(), "executed in place of the gate");

    // The environment is the one given: the gate's shell adds no `PWD`.
    let child = gated(GATE_WITHOUT_PWD, "/usr/bin/env", &[]);
    child
        .stdin
        .as_ref()
        .expect("stdin")
        .write_all(b"\n")
        .expect("open");
    let out = child.wait_with_output().expect("env");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "A=1\n");
}

#[test]
fn a_gate_closed_without_its_line_never_runs_the_program() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = dir.path().join("ran");
    let script = format!("touch {}", ran.display());
    let mut child = gated(crate::worker::GATE, "/bin/sh", &["-c", &script]);
    // The host died before opening it: its end of the pipe closes.
    drop(child.stdin.take());
    assert!(!child.wait().expect("wait").success());
    assert!(!ran.exists(), "the program ran");
}
