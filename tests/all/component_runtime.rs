//! The component runtime through the library API: limits, typed errors,
//! capabilities, snapshot/restore and the compile cache.

use std::time::{Duration, Instant};

use serde_json::json;
use warden::component::invoke::call_json;
use warden::component::{
    ActorProgram, Capabilities, ComponentError, DirGrant, HostContext, Limits, Metering, Origin,
    Runtime, RuntimeConfig, Tier, World, world,
};

use crate::support::{plugin, prepare, runtime};

fn limits() -> Limits {
    Limits {
        timeout: Some(Duration::from_secs(2)),
        ..Limits::default()
    }
}

fn call(
    rt: &Runtime,
    name: &str,
    func: &str,
    args: &[serde_json::Value],
    limits: &Limits,
    caps: &Capabilities,
) -> Result<serde_json::Value, ComponentError> {
    let metering = if limits.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let prepared = prepare(rt, name, metering);
    call_json(&prepared, func, args, limits, caps, None)?.outcome
}

/// Awaits `calls` on a runtime of its own, from a test that is not async
/// (its other calls block, which a runtime's thread may not).
fn block_on<F: std::future::Future>(calls: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(calls)
}

async fn counter_works(rt: &Runtime) {
    let program =
        ActorProgram::new(prepare(rt, "counter", Metering::Off)).expect("counter fits actor world");
    let mut actor = program
        .instantiate(
            &limits(),
            &Capabilities::default(),
            HostContext::isolated("counter"),
        )
        .await
        .expect("instantiate");
    actor.init("").await.unwrap().unwrap();
    assert_eq!(actor.handle(b"inc").await.unwrap().unwrap(), b"1");
    assert_eq!(actor.handle(b"add 41").await.unwrap().unwrap(), b"42");
}

#[test]
fn every_misbehaviour_ends_in_its_typed_error_and_the_host_survives() {
    let rt = runtime();
    let caps = Capabilities::default();
    let small = Limits {
        memory_bytes: 16 << 20,
        timeout: Some(Duration::from_millis(300)),
        ..Limits::default()
    };

    let err = call(&rt, "misbehave", "loop-forever", &[], &small, &caps).unwrap_err();
    assert!(
        matches!(err, ComponentError::Timeout { timeout_ms: 300 }),
        "{err:?}"
    );

    let err = call(&rt, "misbehave", "allocate-forever", &[], &small, &caps).unwrap_err();
    assert!(
        matches!(err, ComponentError::MemoryLimit { limit_bytes, .. } if limit_bytes == 16 << 20),
        "{err:?}"
    );

    let err = call(&rt, "misbehave", "trap", &[], &small, &caps).unwrap_err();
    match &err {
        ComponentError::Trap { message, .. } => {
            assert!(
                message.contains("unreachable") && message.contains("misbehave: deliberate trap"),
                "panic message kept: {message}"
            )
        }
        other => panic!("expected a trap, got {other:?}"),
    }

    let err = call(
        &rt,
        "misbehave",
        "stack-overflow",
        &[json!(1)],
        &small,
        &caps,
    )
    .unwrap_err();
    match &err {
        // Rust guests keep their stack in linear memory: overflowing it is
        // an out-of-bounds access, or wasm's own stack overflow when frames
        // are large.
        ComponentError::Trap { message, .. } => assert!(
            message.contains("stack overflow") || message.contains("out of bounds"),
            "{message}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }

    let fuel = Limits {
        fuel: Some(5_000_000),
        ..small.clone()
    };
    let err = call(&rt, "misbehave", "loop-forever", &[], &fuel, &caps).unwrap_err();
    assert!(
        matches!(err, ComponentError::OutOfFuel { budget: 5_000_000 }),
        "{err:?}"
    );

    // No filesystem is granted: reading outside fails inside the guest.
    let read = call(&rt, "misbehave", "read-passwd", &[], &small, &caps).unwrap();
    assert!(
        read.get("err").is_some(),
        "reading /etc/passwd must fail: {read}"
    );

    // The same runtime still runs a well-behaved component.
    block_on(counter_works(&rt));
    assert_eq!(
        call(
            &rt,
            "misbehave",
            "add",
            &[json!(2), json!(40)],
            &small,
            &caps
        )
        .unwrap(),
        json!(42)
    );
}

/// Winch code (the first step of a tiered reload, compiled in a compile
/// child) runs under the same limits as Cranelift code: the epoch
/// deadline, fuel and memory stop it with the same typed errors.
#[test]
fn baseline_code_obeys_the_same_limits() {
    let rt = runtime();
    let caps = Capabilities::default();
    let bytes = std::fs::read(plugin("misbehave")).unwrap();
    let baseline = |metering| {
        let compiled = rt
            .compile_baseline(&bytes, metering)
            .expect("winch compiles");
        assert_eq!(compiled.tier, Tier::Baseline);
        assert_eq!(compiled.origin, Origin::Compiled);
        let prepared = compiled.prepare().expect("links");
        assert_eq!(prepared.tier(), Tier::Baseline);
        prepared
    };
    let small = Limits {
        memory_bytes: 16 << 20,
        timeout: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let plain = baseline(Metering::Off);
    let err = call_json(&plain, "loop-forever", &[], &small, &caps, None)
        .and_then(|c| c.outcome)
        .unwrap_err();
    assert!(
        matches!(err, ComponentError::Timeout { timeout_ms: 300 }),
        "{err:?}"
    );
    let err = call_json(&plain, "allocate-forever", &[], &small, &caps, None)
        .and_then(|c| c.outcome)
        .unwrap_err();
    assert!(matches!(err, ComponentError::MemoryLimit { .. }), "{err:?}");
    let fuel = Limits {
        fuel: Some(5_000_000),
        ..small.clone()
    };
    let metered = baseline(Metering::Fuel);
    let err = call_json(&metered, "loop-forever", &[], &fuel, &caps, None)
        .and_then(|c| c.outcome)
        .unwrap_err();
    assert!(
        matches!(err, ComponentError::OutOfFuel { budget: 5_000_000 }),
        "{err:?}"
    );
    let sum = call_json(&plain, "add", &[json!(2), json!(40)], &small, &caps, None)
        .and_then(|c| c.outcome)
        .unwrap();
    assert_eq!(sum, json!(42));
    // The second load of the same bytes is Winch's code from memory, not
    // Cranelift's: the tiers are kept apart.
    let again = rt.compile_baseline(&bytes, Metering::Off).unwrap();
    assert_eq!((again.origin, again.tier), (Origin::Memory, Tier::Baseline));
    assert!(rt.lookup(&bytes, Metering::Off).unwrap().is_none());
}

#[test]
fn timeout_fires_within_one_tick_of_the_limit() {
    let rt = runtime();
    let limit = Duration::from_millis(100);
    let limits = Limits {
        timeout: Some(limit),
        ..Limits::default()
    };
    let prepared = prepare(&rt, "misbehave", Metering::Off);
    let started = Instant::now();
    // On 2 busy cores the guest's thread may wait for a CPU after the
    // deadline passed: that wait is the machine's, not the timeout's, so
    // it is measured (the kernel's run-queue time of this thread, read by
    // a watcher at the deadline and by this thread at the end) and taken
    // out of the lateness.
    let queued = RunQueueClock::of_this_thread();
    let at_deadline = {
        let queued = queued.clone();
        std::thread::spawn(move || {
            std::thread::sleep(limit.saturating_sub(started.elapsed()));
            queued.read()
        })
    };
    let err = call_json(
        &prepared,
        "loop-forever",
        &[],
        &limits,
        &Capabilities::default(),
        None,
    )
    .unwrap()
    .outcome
    .unwrap_err();
    let elapsed = started.elapsed();
    let waited = queued
        .read()
        .zip(at_deadline.join().unwrap())
        .map_or(Duration::ZERO, |(end, deadline)| {
            end.saturating_sub(deadline)
        });
    assert!(matches!(err, ComponentError::Timeout { .. }), "{err:?}");
    assert!(elapsed >= limit, "fired early: {elapsed:?}");
    // One tick, plus room for the ticker thread's own wake-up (up to 40 ms
    // seen at a load of 22 on 2 cores). A deadline counted in the wrong
    // unit, or checked every few ticks, is still far outside.
    let late = elapsed - limit - waited.min(elapsed - limit);
    assert!(
        late < rt.epoch_tick() + Duration::from_millis(100),
        "fired late: {elapsed:?} for a {limit:?} limit, of which {waited:?} waiting for a CPU"
    );
}

/// Time a thread spent runnable but waiting for a CPU, from
/// `/proc/self/task/TID/schedstat` (its second field, in ns). `None` where
/// the kernel does not keep it: then nothing is taken out.
#[derive(Clone)]
struct RunQueueClock(Option<std::path::PathBuf>);

impl RunQueueClock {
    fn of_this_thread() -> Self {
        // `/proc/thread-self` links to `PID/task/TID`.
        Self(
            std::fs::read_link("/proc/thread-self")
                .ok()
                .map(|task| std::path::Path::new("/proc").join(task).join("schedstat")),
        )
    }

    fn read(&self) -> Option<Duration> {
        let text = std::fs::read_to_string(self.0.as_ref()?).ok()?;
        let ns = text.split_whitespace().nth(1)?.parse().ok()?;
        Some(Duration::from_nanos(ns))
    }
}

#[test]
fn flooding_stdout_is_truncated_not_fatal() {
    let rt = runtime();
    let limits = Limits {
        output_bytes: 1024,
        ..limits()
    };
    let prepared = prepare(&rt, "misbehave", Metering::Off);
    let inv = call_json(
        &prepared,
        "flood-stdout",
        &[json!(4)],
        &limits,
        &Capabilities::default(),
        None,
    )
    .unwrap();
    assert!(inv.outcome.is_ok(), "{:?}", inv.outcome);
    assert!(inv.report.stdout.truncated);
    assert_eq!(inv.report.stdout.text.len(), 1024);
    assert!(
        inv.report.stdout.total_bytes >= 4 << 20,
        "{}",
        inv.report.stdout.total_bytes
    );
}

#[test]
fn output_overflow_can_fail_the_call() {
    let rt = runtime();
    let limits = Limits {
        output_bytes: 1024,
        output_overflow: warden::component::Overflow::Fail,
        ..limits()
    };
    let prepared = prepare(&rt, "misbehave", Metering::Off);
    let inv = call_json(
        &prepared,
        "flood-stdout",
        &[json!(1)],
        &limits,
        &Capabilities::default(),
        None,
    )
    .unwrap();
    assert!(
        matches!(
            inv.outcome,
            Err(ComponentError::OutputLimit { limit_bytes: 1024 })
        ),
        "{:?}",
        inv.outcome
    );
}

// Multi-threaded: the operation call at the end blocks, as it may only
// off the runtime's workers.
#[tokio::test(flavor = "multi_thread")]
async fn preopened_dirs_are_the_only_files_a_guest_sees() {
    let rt = runtime();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(root.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), data.join("link")).unwrap();

    let rw = Capabilities {
        dirs: vec![DirGrant {
            host: data.clone(),
            guest: "/data".into(),
            writable: true,
        }],
        ..Capabilities::default()
    };
    let program = ActorProgram::new(prepare(&rt, "kv", Metering::Off)).unwrap();
    let mut kv = program
        .instantiate(&limits(), &rw, HostContext::isolated("kv"))
        .await
        .unwrap();
    kv.init("").await.unwrap().unwrap();
    assert_eq!(kv.handle(b"put colour blue").await.unwrap().unwrap(), b"ok");
    assert_eq!(
        std::fs::read_to_string(data.join("colour")).unwrap(),
        "blue"
    );
    assert_eq!(kv.handle(b"get colour").await.unwrap().unwrap(), b"blue");
    // Out of the directory by `..`, by an absolute path, by a symlink: refused.
    for key in ["../secret.txt", "/etc/passwd", "link"] {
        let reply = kv.handle(format!("get {key}").as_bytes()).await.unwrap();
        assert!(reply.is_err(), "`get {key}` must be refused, got {reply:?}");
    }
    assert!(kv.handle(b"put ../escaped x").await.unwrap().is_err());
    assert!(!root.path().join("escaped").exists());

    // Read-only grants refuse writes.
    let ro = Capabilities {
        dirs: vec![DirGrant {
            writable: false,
            ..rw.dirs[0].clone()
        }],
        ..Capabilities::default()
    };
    let mut kv = program
        .instantiate(&limits(), &ro, HostContext::isolated("kv"))
        .await
        .unwrap();
    kv.init("").await.unwrap().unwrap();
    assert_eq!(kv.handle(b"get colour").await.unwrap().unwrap(), b"blue");
    assert!(kv.handle(b"put colour red").await.unwrap().is_err());
    assert_eq!(
        std::fs::read_to_string(data.join("colour")).unwrap(),
        "blue"
    );

    let escape = tokio::task::block_in_place(|| {
        call(&rt, "misbehave", "escape-dir", &[], &limits(), &rw).unwrap()
    });
    assert!(escape.get("err").is_some(), "escape must fail: {escape}");
}

#[tokio::test]
async fn snapshot_restores_into_a_fresh_instance() {
    let rt = runtime();
    let program = ActorProgram::new(prepare(&rt, "counter", Metering::Off)).unwrap();
    let caps = Capabilities::default();
    let mut first = program
        .instantiate(&limits(), &caps, HostContext::isolated("c"))
        .await
        .unwrap();
    first.init("").await.unwrap().unwrap();
    first.handle(b"add 1234").await.unwrap().unwrap();
    let state = first.snapshot().await.unwrap().unwrap();

    let mut second = program
        .instantiate(&limits(), &caps, HostContext::isolated("c"))
        .await
        .unwrap();
    second.init("").await.unwrap().unwrap();
    second.restore(&state).await.unwrap().unwrap();
    assert_eq!(second.handle(b"get").await.unwrap().unwrap(), b"1234");
    assert_eq!(
        second.snapshot().await.unwrap().unwrap(),
        state,
        "same state, same snapshot"
    );
    assert!(
        second.restore(b"not a snapshot").await.unwrap().is_err(),
        "garbage state is refused"
    );
    assert_eq!(
        second.handle(b"get").await.unwrap().unwrap(),
        b"1234",
        "a refused restore keeps the state"
    );
}

#[tokio::test]
async fn a_trap_poisons_only_that_instance() {
    let rt = runtime();
    let program = ActorProgram::new(prepare(&rt, "counter", Metering::Off)).unwrap();
    let mut a = program
        .instantiate(
            &limits(),
            &Capabilities::default(),
            HostContext::isolated("c"),
        )
        .await
        .unwrap();
    a.init("").await.unwrap().unwrap();
    // counter is an SDK plugin: its panic hook writes the report, then
    // leaves through WASI's `exit`, so the trap names the panic, not the
    // `unreachable` std's abort would run (misbehave, without the SDK,
    // still does: every_misbehaviour_ends_in_its_typed_error_…).
    match a.handle(b"crash").await {
        Err(ComponentError::Trap { message, .. }) => assert!(
            message.starts_with("guest panicked: crash requested (panicked at ")
                && message.contains("src/lib.rs:"),
            "{message}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(matches!(
        a.handle(b"get").await,
        Err(ComponentError::Poisoned)
    ));
    let mut b = program
        .instantiate(
            &limits(),
            &Capabilities::default(),
            HostContext::isolated("c"),
        )
        .await
        .unwrap();
    b.init("").await.unwrap().unwrap();
    assert_eq!(b.handle(b"inc").await.unwrap().unwrap(), b"1");
}

#[tokio::test]
async fn the_compile_cache_is_used_on_the_second_load() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(plugin("echo")).unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let first = Runtime::new(config.clone()).unwrap();
    assert_eq!(
        first.compile(&bytes, Metering::Off).unwrap().origin,
        Origin::Compiled
    );
    assert_eq!(
        first.compile(&bytes, Metering::Off).unwrap().origin,
        Origin::Memory
    );
    // A new runtime (a new process, in effect) reads the artifact from disk.
    let second = Runtime::new(config).unwrap();
    let compiled = second.compile(&bytes, Metering::Off).unwrap();
    assert_eq!(compiled.origin, Origin::DiskCache);
    let program = ActorProgram::new(compiled.prepare().unwrap()).unwrap();
    let mut echo = program
        .instantiate(
            &limits(),
            &Capabilities::default(),
            HostContext::isolated("e"),
        )
        .await
        .unwrap();
    echo.init("").await.unwrap().unwrap();
    assert_eq!(echo.handle(b"hello").await.unwrap().unwrap(), b"hello");
}

#[test]
fn worlds_are_checked_export_by_export() {
    let rt = runtime();
    let wrong = rt
        .compile(
            &std::fs::read(plugin("wrong_world")).unwrap(),
            Metering::Off,
        )
        .unwrap();
    let fit = world::fit(&wrong, World::ActorPlugin);
    assert!(!fit.fits);
    assert!(
        fit.missing.iter().any(|m| m.contains("snapshot")),
        "{:?}",
        fit.missing
    );
    assert!(
        fit.missing.iter().any(|m| m.contains("restore")),
        "{:?}",
        fit.missing
    );
    assert_eq!(fit.mistyped.len(), 1, "{:?}", fit.mistyped);
    assert!(fit.mistyped[0].name.ends_with("#handle"));
    assert_eq!(fit.mistyped[0].found, "func(message: string) -> string");

    let counter = rt
        .compile(&std::fs::read(plugin("counter")).unwrap(), Metering::Off)
        .unwrap();
    assert!(world::fit(&counter, World::ActorPlugin).fits);
    assert!(!world::fit(&counter, World::OperationPlugin).fits);
    let wc = rt
        .compile(&std::fs::read(plugin("wordcount")).unwrap(), Metering::Off)
        .unwrap();
    assert!(world::fit(&wc, World::OperationPlugin).fits);
    assert!(!world::fit(&wc, World::ActorPlugin).fits);
}

#[tokio::test]
async fn a_traps_wasm_backtrace_is_shown_only_when_asked_for() {
    let crash = async |backtraces: bool| {
        let rt = Runtime::new(RuntimeConfig {
            wasm_backtraces: backtraces,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let program = ActorProgram::new(prepare(&rt, "counter", Metering::Off)).unwrap();
        let mut actor = program
            .instantiate(
                &limits(),
                &Capabilities::default(),
                HostContext::isolated("c"),
            )
            .await
            .unwrap();
        actor.init("").await.unwrap().unwrap();
        actor.handle(b"crash").await.unwrap_err().to_string()
    };
    let plain = crash(false).await;
    assert!(plain.contains("crash requested"), "{plain}");
    assert!(!plain.contains("wasm backtrace"), "{plain}");
    let traced = crash(true).await;
    assert!(traced.starts_with(&plain), "{traced}");
    assert!(traced.contains("wasm backtrace"), "{traced}");
    assert!(!traced.contains('\n'), "folded onto one line: {traced}");
}

#[test]
fn a_guest_that_exits_mid_call_traps_with_its_status() {
    // Not a panic: a guest calling WASI's `exit` itself, with no report
    // on stderr. Its instance ends as after any trap, a successful exit
    // (status 0) included: the call has no answer.
    let leave = wat::parse_str(
        r#"(component
          (import "wasi:cli/exit@0.2.0" (instance $exit
            (export "exit" (func (param "status" (result))))))
          (core func $exit (canon lower (func $exit "exit")))
          (core module $m
            (import "wasi" "exit" (func $exit (param i32)))
            (func (export "fail") (call $exit (i32.const 1)) unreachable)
            (func (export "succeed") (call $exit (i32.const 0)) unreachable))
          (core instance $i (instantiate $m
            (with "wasi" (instance (export "exit" (func $exit))))))
          (func (export "fail") (canon lift (core func $i "fail")))
          (func (export "succeed") (canon lift (core func $i "succeed"))))"#,
    )
    .unwrap();
    let rt = runtime();
    let prepared = rt.prepare_own(&leave, Metering::Off).unwrap();
    for (export, status) in [("fail", 1), ("succeed", 0)] {
        let outcome = call_json(
            &prepared,
            export,
            &[],
            &limits(),
            &Capabilities::default(),
            None,
        )
        .unwrap()
        .outcome;
        match outcome {
            Err(ComponentError::Trap { message, .. }) => {
                assert_eq!(message, format!("guest exited with status {status}"))
            }
            other => panic!("{export}: expected a trap, got {other:?}"),
        }
    }
}

/// An actor's call runs on a fiber of the task that awaits it and yields
/// to the runtime once per epoch tick: a guest that computes until its
/// timeout leaves its worker to the runtime's other tasks meanwhile, timers
/// included, even on a runtime of one worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_computing_actor_shares_its_thread_with_other_tasks() {
    let rt = runtime();
    let program = ActorProgram::new(prepare(&rt, "misbehave", Metering::Off)).unwrap();
    let limit = Duration::from_millis(400);
    let mut actor = program
        .instantiate(
            &Limits {
                timeout: Some(limit),
                ..Limits::default()
            },
            &Capabilities::default(),
            HostContext::isolated("spin"),
        )
        .await
        .unwrap();
    actor.init("").await.unwrap().unwrap();
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    // Both on the one worker: this test's own body runs beside the runtime.
    let counter = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let spinning = tokio::spawn(async move {
        let started = Instant::now();
        let err = actor.handle(b"loop").await.unwrap_err();
        (err, started.elapsed())
    });
    let (err, spun) = spinning.await.unwrap();
    counter.abort();
    assert!(matches!(err, ComponentError::Timeout { .. }), "{err:?}");
    assert!(spun >= limit, "stopped early: {spun:?}");
    // A guest holding its worker leaves the counter at 0. One that yields
    // with a plain self-wake lets the worker look at its timers only every
    // 61 turns, ~300 ms of guest code: 2 counts. With tokio's own yield the
    // timers are looked at every turn: 27–28 on a quiet machine.
    let counted = ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        counted >= 8,
        "the other task ran {counted} times in {spun:?} of guest code"
    );
}
