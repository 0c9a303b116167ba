//! Hot reload: state kept across versions, every failure stage leaves the
//! old version serving, rollback, probation, and the file watcher.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use warden::component::Tier;
use warden::events::{self, EventKind, ReloadEvent, SupervisorEvent};
use warden::reload::{ReloadOutcome, Stage};

use crate::support::{CopiedChild, plugin, variant};

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(plugin(name)).unwrap()
}

fn assert_reloaded(outcome: &ReloadOutcome) {
    assert!(
        matches!(outcome, ReloadOutcome::Reloaded { .. }),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_keeps_its_value_when_reloaded_to_v2() {
    let mut f = CopiedChild::start("counter", "").await;
    assert_eq!(f.call("add 41").await, "41");
    f.write(&bytes("counter_v2"));
    assert_reloaded(&f.reload().await);
    assert_eq!(f.call("get").await, "41", "state carried over");
    assert_eq!(f.call("version").await, "counter-v2");
    assert_eq!(
        f.call("incs").await,
        "0",
        "v1 state migrated, incs starts at 0"
    );
    assert_eq!(f.call("inc").await, "42");
    assert_eq!(f.call("incs").await, "1");
    let events = f.drain();
    assert!(
        events.iter().any(|k| matches!(
            k,
            EventKind::Reload(ReloadEvent::Reloaded { version: 2, .. })
        )),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|k| matches!(
            k,
            EventKind::Supervisor(SupervisorEvent::ChildRestarted { .. })
                | EventKind::Supervisor(SupervisorEvent::ChildExited { .. })
        )),
        "a reload is not a restart: {events:?}"
    );
    let versions = f.host.versions("root/counter").unwrap();
    assert_eq!(versions.current, 2);
    assert_eq!(versions.records.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_reloads_under_load_lose_and_repeat_no_message() {
    let f = Arc::new(CopiedChild::start("counter", "").await);
    assert_eq!(f.call("add 100").await, "100");
    // v1 → v2 once (v2 cannot go back to v1: v1 does not read schema 2),
    // then v2 and a byte-different v2 in turn: each is a real new version
    // (another hash), swapped with the state while messages keep coming.
    let v2 = bytes("counter_v2");
    let v2b = variant(&v2, "b");
    // Compile both ahead (the runtime's compile cache), so each reload
    // takes milliseconds and all twenty land while the messages flow.
    for bytes in [&v2, &v2b] {
        f.host
            .runtime
            .compile(bytes, warden::component::Metering::Off)
            .unwrap();
    }
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 2_500;
    // Messages are released 500 per reload, so the load spans all twenty
    // reloads however fast messages or reloads happen to run.
    const PER_RELOAD: usize = 500;
    let done = Arc::new(AtomicUsize::new(0));
    let claimed = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicUsize::new(PER_RELOAD));
    let load: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (f, done) = (f.clone(), done.clone());
            let (claimed, released) = (claimed.clone(), released.clone());
            tokio::spawn(async move {
                for _ in 0..PER_SENDER {
                    let ticket = claimed.fetch_add(1, Ordering::Relaxed);
                    while ticket >= released.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    f.call("inc").await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut during_load = 0;
    for i in 0..20 {
        while done.load(Ordering::Relaxed) < i * 400 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        f.write(if i % 2 == 0 { &v2 } else { &v2b });
        assert_reloaded(&f.reload().await);
        released.fetch_add(PER_RELOAD, Ordering::Relaxed);
        let n = done.load(Ordering::Relaxed);
        if n > 0 && n < SENDERS * PER_SENDER {
            during_load += 1;
        }
    }
    assert!(
        during_load >= 15,
        "only {during_load} reloads overlapped the load"
    );
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        f.call("get").await,
        (100 + SENDERS * PER_SENDER).to_string()
    );
    assert_eq!(f.call("version").await, "counter-v2");
    assert_eq!(f.host.versions("root/counter").unwrap().current, 21);
}

fn tier_of(outcome: &ReloadOutcome) -> Tier {
    match outcome {
        ReloadOutcome::Reloaded { tier, .. } => *tier,
        other => panic!("not reloaded: {other:?}"),
    }
}

impl CopiedChild {
    /// The tier of `version`, and why its optimized step failed if it did.
    fn tier(&self, version: u64) -> (Tier, Option<String>) {
        let versions = self.host.versions("root/counter").unwrap();
        let r = versions.get(version).expect("a record of the version");
        (r.tier, r.optimize_failed.clone())
    }

    /// The `optimized` or `optimize_failed` event of `version`.
    async fn optimize_step(&mut self, version: u64) -> Result<(), String> {
        self.event(|k| match k {
            EventKind::Reload(ReloadEvent::Optimized { version: v, .. }) if *v == version => {
                Some(Ok(()))
            }
            EventKind::Reload(ReloadEvent::OptimizeFailed { version: v, reason })
                if *v == version =>
            {
                Some(Err(reason.clone()))
            }
            _ => None,
        })
        .await
    }
}

/// A new version is swapped in on Winch code, then on Cranelift code, while
/// one sender's `inc`s keep flowing: every reply is the one before plus
/// one (nothing lost, repeated or reordered across either swap), and the
/// probation of the first swap still holds after the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_runs_baseline_then_optimized_code_keeping_state_and_order() {
    let mut f = CopiedChild::start("counter", "").await;
    f.host.reloader.set_probation(Duration::from_secs(60));
    assert_eq!(f.call("add 10").await, "10");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (router, stop) = (f.host.router.clone(), stop.clone());
        tokio::spawn(async move {
            let mut last = 10u64;
            while !stop.load(Ordering::Relaxed) {
                let reply = router.call("root/counter", b"inc".to_vec()).await.unwrap();
                let reply: u64 = String::from_utf8(reply).unwrap().parse().unwrap();
                assert_eq!(reply, last + 1, "lost, repeated or reordered");
                last = reply;
            }
            last
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    f.write(&variant(&bytes("counter_v2"), "tiers"));
    let outcome = f.reload().await;
    assert_eq!(tier_of(&outcome), Tier::Baseline, "{outcome:?}");
    assert_eq!(f.tier(2).0, Tier::Baseline);
    let reloaded = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::Reloaded {
                version: 2, tier, ..
            }) => Some(*tier),
            _ => None,
        })
        .await;
    assert_eq!(reloaded, events::Tier::Baseline);
    f.optimize_step(2).await.expect("optimized");
    assert_eq!(f.tier(2), (Tier::Optimized, None));
    // A few more messages on the optimized code, then stop.
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.store(true, Ordering::Relaxed);
    let last = sender.await.unwrap();
    assert_eq!(f.call("get").await, last.to_string(), "state kept");
    assert_eq!(f.call("version").await, "counter-v2");
    assert_eq!(f.host.versions("root/counter").unwrap().current, 2);
    // The second swap left the first one's probation in place: a crash
    // now still rolls back to version 1.
    let crash = f.host.router.call("root/counter", b"crash".to_vec()).await;
    assert!(crash.is_err(), "{crash:?}");
    let to = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::RolledBack { to_version, .. }) => Some(*to_version),
            _ => None,
        })
        .await;
    assert_eq!(to, 1);
    assert_eq!(f.call("version").await, "counter-v1");
}

/// Bytes whose Cranelift code is in the cache are swapped in once, at
/// the optimized tier, with no baseline step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_compiled_before_skips_the_baseline_tier() {
    let mut f = CopiedChild::start("counter", "").await;
    assert_eq!(f.call("add 4").await, "4");
    let v2 = variant(&bytes("counter_v2"), "cached");
    f.host
        .runtime
        .compile(&v2, warden::component::Metering::Off)
        .unwrap();
    f.write(&v2);
    let outcome = f.reload().await;
    assert_eq!(tier_of(&outcome), Tier::Optimized, "{outcome:?}");
    assert_eq!(f.tier(2), (Tier::Optimized, None));
    assert_eq!(f.call("get").await, "4");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = f.drain();
    assert!(
        !events.iter().any(|k| matches!(
            k,
            EventKind::Reload(ReloadEvent::Optimized { .. } | ReloadEvent::OptimizeFailed { .. })
        )),
        "{events:?}"
    );
    assert!(
        events.iter().any(|k| matches!(
            k,
            EventKind::Reload(ReloadEvent::Reloaded {
                version: 2,
                tier: events::Tier::Optimized,
                ..
            })
        )),
        "{events:?}"
    );
}

/// When the Cranelift step fails (here the compile cache it must write to
/// became unsafe: group- and world-writable), the baseline code keeps
/// serving with its state, and the event and the version's record say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_optimize_step_keeps_the_baseline_code_serving() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = CopiedChild::start("counter", "").await;
    assert_eq!(f.call("add 8").await, "8");
    let cache = f.dir.path().join("state").join("cache");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    f.write(&variant(&bytes("counter_v2"), "unoptimizable"));
    let outcome = f.reload().await;
    assert_eq!(tier_of(&outcome), Tier::Baseline, "{outcome:?}");
    let reason = f
        .optimize_step(2)
        .await
        .expect_err("the optimize step fails");
    assert!(reason.contains("writable"), "{reason}");
    let (tier, failed) = f.tier(2);
    assert_eq!(tier, Tier::Baseline);
    assert_eq!(failed.as_deref(), Some(reason.as_str()));
    assert_eq!(f.call("version").await, "counter-v2");
    assert_eq!(f.call("inc").await, "9", "state kept, still serving");
    assert_eq!(f.host.versions("root/counter").unwrap().current, 2);
}

/// Starts `plugin_name` at 5, writes `bad`, reloads, and checks the
/// failure names `stage` while the old version serves on with its state.
async fn fails_at(plugin_name: &str, extra: &str, bad: &[u8], stage: Stage) {
    let mut f = CopiedChild::start(plugin_name, extra).await;
    assert_eq!(f.call("add 5").await, "5");
    let version_before = f.call("version").await;
    f.write(bad);
    let outcome = f.reload().await;
    assert!(
        matches!(&outcome, ReloadOutcome::Failed { stage: s, .. } if *s == stage),
        "expected a failure at {stage}: {outcome:?}"
    );
    let event_stage = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::ReloadFailed { stage, .. }) => Some(*stage),
            _ => None,
        })
        .await;
    assert_eq!(event_stage, stage);
    assert_eq!(f.call("get").await, "5", "state kept");
    assert_eq!(
        f.call("version").await,
        version_before,
        "old version serving"
    );
    assert_eq!(f.call("inc").await, "6");
    assert_eq!(f.host.versions("root/counter").unwrap().current, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_fail_at_compile() {
    fails_at("counter", "", b"this is not wasm at all", Stage::Compile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_file_fails_at_compile() {
    let v2 = bytes("counter_v2");
    fails_at("counter", "", &v2[..v2.len() / 2], Stage::Compile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_fails_at_read() {
    fails_at("counter", "", b"", Stage::Read).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_world_fails_at_world() {
    fails_at("counter", "", &bytes("wrong_world"), Stage::World).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_init_fails_at_init() {
    // counter ignores its config; trap_init panics in init on "trap".
    fails_at(
        "counter",
        "config = \"trap\"",
        &bytes("trap_init"),
        Stage::Init,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_the_new_code_cannot_read_fails_at_restore() {
    // v1 does not know schema 2.
    fails_at("counter_v2", "", &bytes("counter"), Stage::Restore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_on_probation_rolls_back_with_the_state_of_the_swap() {
    let mut f = CopiedChild::start("counter", "").await;
    f.host.reloader.set_probation(Duration::from_secs(30));
    assert_eq!(f.call("add 5").await, "5");
    f.write(&bytes("counter_v2"));
    assert_reloaded(&f.reload().await);
    assert_eq!(f.call("inc").await, "6");
    let crash = f
        .host
        .router
        .call("root/counter", b"crash".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(crash, warden::host::SendError::Failed { .. }),
        "{crash:?}"
    );
    let stage = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::ReloadFailed { stage, .. }) => Some(*stage),
            _ => None,
        })
        .await;
    assert_eq!(stage, Stage::Probation);
    let to = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::RolledBack { to_version, .. }) => Some(*to_version),
            _ => None,
        })
        .await;
    assert_eq!(to, 1);
    assert_eq!(f.call("version").await, "counter-v1");
    assert_eq!(f.call("get").await, "5", "the state taken at the swap");
    assert_eq!(f.host.versions("root/counter").unwrap().current, 1);
    assert!(
        !f.drain().iter().any(|k| matches!(
            k,
            EventKind::Supervisor(SupervisorEvent::ChildRestarted { .. })
        )),
        "rolled back in place, not restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_named_version_keeps_the_state() {
    let f = CopiedChild::start("counter", "").await;
    assert_eq!(f.call("add 3").await, "3");
    let v2 = bytes("counter_v2");
    f.write(&v2);
    assert_reloaded(&f.reload().await);
    f.write(&variant(&v2, "3"));
    assert_reloaded(&f.reload().await);
    assert_eq!(f.call("inc").await, "4");
    assert_eq!(f.host.rollback("root/counter", Some(2)).await.unwrap(), 2);
    assert_eq!(f.call("get").await, "4");
    assert_eq!(f.call("incs").await, "1");
    let versions = f.host.versions("root/counter").unwrap();
    assert_eq!(versions.current, 2);
    assert!(f.host.rollback("root/counter", Some(9)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bytes_again_are_no_reload() {
    let mut f = CopiedChild::start("counter", "watch = true").await;
    assert_eq!(f.call("add 2").await, "2");
    f.write(&bytes("counter"));
    assert_eq!(f.reload().await, ReloadOutcome::Unchanged { version: 1 });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = f.drain();
    assert!(
        !events.iter().any(|k| matches!(
            k,
            EventKind::Reload(ReloadEvent::ReloadStarted { .. })
                | EventKind::Reload(ReloadEvent::Reloaded { .. })
        )),
        "{events:?}"
    );
    assert_eq!(f.host.versions("root/counter").unwrap().records.len(), 1);
    assert_eq!(f.call("get").await, "2");
}

/// Editors write a temp file and rename it over the original.
fn save_by_rename(file: &Path, bytes: &[u8]) {
    let tmp = file.with_extension("wasm.tmp~");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_file_reloads_on_save() {
    let mut f = CopiedChild::start("counter", "watch = true").await;
    assert_eq!(f.call("add 9").await, "9");
    save_by_rename(&f.file(), &bytes("counter_v2"));
    let version = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::Reloaded { version, .. }) => Some(*version),
            _ => None,
        })
        .await;
    assert_eq!(version, 2);
    assert_eq!(f.call("version").await, "counter-v2");
    assert_eq!(f.call("get").await, "9");
    // Truncate then write, in two steps, as some editors do.
    let v2b = variant(&bytes("counter_v2"), "t");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(f.file())
        .unwrap();
    drop(file);
    std::fs::write(f.file(), &v2b).unwrap();
    let version = f
        .event(|k| match k {
            EventKind::Reload(ReloadEvent::Reloaded { version, .. }) => Some(*version),
            _ => None,
        })
        .await;
    assert!(version >= 3);
    assert_eq!(f.call("get").await, "9");
}

/// The compile child of `parent` waiting for a watched child's next save
/// (the standby: a `warden __compile` child picked out by the memory limit
/// `memory_mb` in its request, and not `not`), within 20 s.
fn standby_compiler(parent: u32, memory_mb: u64, not: Option<u32>) -> u32 {
    let needle = format!("\"memory_mb\":{memory_mb},");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let (Ok(stat), Ok(cmdline)) = (
                std::fs::read_to_string(format!("/proc/{pid}/stat")),
                std::fs::read(format!("/proc/{pid}/cmdline")),
            ) else {
                continue;
            };
            // `pid (comm) state ppid …`: the comm may hold spaces.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = String::from_utf8_lossy(&cmdline);
            if ppid == Some(parent)
                && cmdline.contains("__compile")
                && cmdline.contains(&needle)
                && Some(pid) != not
            {
                return pid;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no standby compile child with memory_mb {memory_mb}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The CPU time `pid` used (user and system, in clock ticks); `None` once
/// it is gone (reaped).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After `pid (comm) `: state, ppid, … utime and stime are the 12th
    // and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `/proc/PID/limits`'s soft and hard values of the limit named `name`.
fn limit_of(pid: u32, name: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {limits}"));
    let mut values = line[name.len()..].split_whitespace();
    (
        values.next().unwrap().to_string(),
        values.next().unwrap().to_string(),
    )
}

/// A watched child gets a compile child started ahead of its next save,
/// and that child is as bounded as any: it waits under the `[host.compile]`
/// limits, and a compile bomb saved over the file is compiled by it (its
/// CPU time grows until it is gone; a new one waits then) and stopped by
/// the memory limit, the old version serving on with its state. In a `warden run` of its own, so
/// no other test's compile takes or replaces the standby.
#[test]
fn the_standby_compiler_runs_a_reload_under_the_compile_limits() {
    const MEMORY_MB: u64 = 97;
    let body = crate::support::demo_tree(&format!(
        "[host.compile]\nmemory_mb = {MEMORY_MB}\ncpu_secs = 7\n"
    ))
    .replacen(
        "path = \"counter.wasm\"\n",
        "path = \"counter.wasm\"\nwatch = true\n",
        1,
    );
    let host = crate::support::HostProcess::start_tree(&body, &[]);
    let standby = standby_compiler(host.pid(), MEMORY_MB, None);
    let bytes = (MEMORY_MB << 20).to_string();
    assert_eq!(limit_of(standby, "Max data size"), (bytes.clone(), bytes));
    assert_eq!(
        limit_of(standby, "Max cpu time"),
        ("7".to_string(), "8".to_string())
    );
    assert_eq!(
        limit_of(standby, "Max core file size"),
        ("0".to_string(), "0".to_string())
    );
    assert_eq!(host.ctl_ok(&["send", "root/counter", "add 5"]), "5\n");
    let idle = cpu_ticks(standby).expect("the standby waits");
    // Winch needs more than 128 MiB for this one (and passes with 256).
    // Renamed into place: a reload of a half-written file would take the
    // standby first.
    save_by_rename(
        &host.dir().join("counter.wasm"),
        &crate::compile_limits::compile_bomb(1_000_000),
    );
    // The standby compiles it (its CPU time grows) until the memory
    // limit stops it and the host reaps it.
    let mut busiest = idle;
    while let Some(ticks) = cpu_ticks(standby) {
        busiest = busiest.max(ticks);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        busiest >= idle + 10,
        "the standby did not compile the bomb: {idle} then {busiest} ticks"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let versions = loop {
        let versions = host.ctl_ok(&["--json", "versions", "root/counter"]);
        if versions.contains("\"failed\"") {
            break versions;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed reload: {versions}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        versions.contains("\"compile\"")
            && versions.contains("compile limit")
            && versions.contains(&format!("{MEMORY_MB} MiB")),
        "{versions}"
    );
    let next = standby_compiler(host.pid(), MEMORY_MB, Some(standby));
    assert_eq!(limit_of(next, "Max cpu time").0, "7");
    assert_eq!(host.ctl_ok(&["send", "root/counter", "get"]), "5\n");
}
