//! Guest work always ends: when the API caller that started it goes away,
//! when the host is told to stop, and under the `[api]` ceilings that no
//! parameter can lift.
//!
//! The host tests run a real `warden run` process and read its CPU use
//! from `/proc/PID/stat` (utime + stime) over short windows, polled with a
//! deadline: a spinning guest keeps a core busy, a stopped one does not.
//! The ceiling tests call the operations of an in-process host.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden::component::exports::find_function;
use warden::component::invoke::call_json_under;
use warden::component::{
    Capabilities, ComponentError, HostContext, Interrupt, Limits, Metering, Sandbox,
};
use warden::host::Host;
use warden::ops::OpError;

use crate::support::{
    HostProcess, config_file, plugin, prepare, repo_root, runtime, signal, with_test_path_roots,
};

/// A tree of one well-behaved child (`echo`), the `misbehave` operation
/// plugin without a wall-clock limit (`misbehave.loop` spins until it is
/// interrupted) and `host` appended to `[host]`; `rest` goes after it.
fn config(host: &str, rest: &str) -> String {
    with_test_path_roots(&format!(
        r#"
[host]
state_dir = "{{dir}}/state"
api_addr = "127.0.0.1:0"
{host}

[supervisor.root]
strategy = "one_for_one"

[[supervisor.root.children]]
id = "echo"
kind = "component"
path = "{{echo}}"

[operations.misbehave]
path = "{misbehave}"
limits = {{ timeout_ms = 0 }}

{rest}
"#,
        misbehave = plugin("misbehave").display()
    ))
}

/// `warden run` of `body` (written by [`config_file`]), with its directory.
fn start(body: &str) -> (tempfile::TempDir, HostProcess) {
    let (dir, path) = config_file(body);
    let host = HostProcess::start(&path, &dir.path().join("state"), &[]);
    (dir, host)
}

/// Sends `POST /ops/OP` with `params` and leaves the answer unread: the
/// call runs while the stream stays open; dropping it disconnects.
fn start_call(host: &HostProcess, op: &str, params: &Value) -> TcpStream {
    let mut stream = TcpStream::connect(host.authority()).expect("connect to the API");
    let body = params.to_string();
    write!(
        stream,
        "POST /ops/{op} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        host.authority(),
        body.len()
    )
    .expect("send the request");
    stream
}

/// CPU time the process has used so far, user and system, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name (field 2) may hold spaces: count from after it.
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 is index 0 here.
    let field = |n: usize| fields[n - 3].parse::<u64>().expect("a tick count");
    field(14) + field(15)
}

/// Cores the process kept busy over the next `window`.
fn cpu_cores(pid: u32, window: Duration) -> f64 {
    let ticks_per_sec = rustix::param::clock_ticks_per_second().max(1) as f64;
    let (before, started) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - before;
    used as f64 / ticks_per_sec / started.elapsed().as_secs_f64()
}

/// Measures [`cpu_cores`] over [`WINDOW`]s until `done` holds for
/// `times` readings in a row, for `limit` at most; panics saying `what`
/// with every reading and the host's log.
fn until_cpu(
    host: &HostProcess,
    limit: Duration,
    times: usize,
    what: &str,
    done: impl Fn(f64) -> bool,
) {
    let deadline = Instant::now() + limit;
    let mut readings = Vec::new();
    let mut in_a_row = 0;
    loop {
        let cores = cpu_cores(host.pid(), WINDOW);
        readings.push(cores);
        in_a_row = if done(cores) { in_a_row + 1 } else { 0 };
        if in_a_row == times {
            eprintln!("{what}: cores busy per {WINDOW:?}: {readings:.2?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}; cores busy per {WINDOW:?}: {readings:.2?}\n{}",
            host.log()
        );
    }
}

/// One CPU reading: 50 clock ticks of one core at the usual 100 Hz.
const WINDOW: Duration = Duration::from_millis(500);
/// Busy enough to be a spinning guest even when other tests share the
/// two cores (two spinning guests measured 0.3–0.4 cores beside them);
/// an idle host stays far below it.
const SPINNING: f64 = 0.2;
/// What an idle host may use (its epoch ticker, the `/proc` monitor):
/// measured 0.00–0.04. Asked of two readings in a row, so that a guest
/// still spinning but starved by other tests for one window does not pass.
const IDLE: f64 = 0.08;

/// The two tests that spin guests in a host take turns: each needs the
/// CPU the other would take to tell a spinning guest from a stopped one.
static SPINNING_HOSTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn spinning_host_turn() -> std::sync::MutexGuard<'static, ()> {
    SPINNING_HOSTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn guest_calls_stop_when_their_callers_disconnect() {
    let _turn = spinning_host_turn();
    let (_dir, host) = start(&config("", ""));
    let misbehave = plugin("misbehave");
    let leap = repo_root().join("examples/exercises/leap");
    // `timeout_ms: 0` and no fuel: only the default ceiling (60 s) would
    // end these, long after the deadlines below.
    let spin = json!({"component": misbehave, "function": "loop-forever", "timeout_ms": 0});
    let phases: [(&str, Vec<(&str, Value)>); 3] = [
        (
            "two component.call",
            vec![("component.call", spin.clone()), ("component.call", spin)],
        ),
        (
            "an operation plugin's call",
            vec![("misbehave.loop", json!({}))],
        ),
        (
            "grade",
            vec![(
                "grade",
                json!({"exercise": leap, "solution": plugin("leap_loop"), "fuel": 0, "timeout_ms": 0}),
            )],
        ),
    ];
    for (what, calls) in phases {
        let streams: Vec<TcpStream> = calls
            .iter()
            .map(|(op, params)| start_call(&host, op, params))
            .collect();
        // Compiling comes first, then the guests spin.
        until_cpu(
            &host,
            Duration::from_secs(60),
            1,
            &format!("{what}: guests spinning"),
            |cores| cores >= SPINNING,
        );
        drop(streams);
        until_cpu(
            &host,
            Duration::from_secs(15),
            2,
            &format!("{what}: CPU back to idle after the callers disconnected"),
            |cores| cores <= IDLE,
        );
    }
    // The host still serves: the plugin answers the next caller.
    let client = host.client(None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime
        .block_on(client.call("misbehave.ok", json!({})))
        .unwrap_or_else(|e| panic!("misbehave.ok: {e}\n{}", host.log()));
    assert_eq!(answer, json!({}));
}

#[test]
fn a_host_with_spinning_guests_exits_promptly_on_sigterm() {
    // A child stuck in a message with no wall-clock limit and an infinite
    // shutdown: only an interrupt after the shutdown grace ends it.
    let stuck_child = format!(
        r#"
[[supervisor.root.children]]
id = "stuck"
kind = "component"
path = "{}"
limits = {{ timeout_ms = 0 }}
shutdown = "infinity"
"#,
        plugin("misbehave").display()
    );
    let _turn = spinning_host_turn();
    let (_dir, mut host) = start(&config("shutdown_grace_ms = 500", &stuck_child));
    let spin =
        json!({"component": plugin("misbehave"), "function": "loop-forever", "timeout_ms": 0});
    let _streams = [
        start_call(&host, "component.call", &spin),
        start_call(&host, "component.call", &spin),
        start_call(&host, "misbehave.loop", &json!({})),
        start_call(
            &host,
            "child.send",
            &json!({"path": "root/stuck", "message": "loop"}),
        ),
    ];
    until_cpu(
        &host,
        Duration::from_secs(60),
        1,
        "guests spinning",
        |cores| cores >= SPINNING,
    );
    let stopping = Instant::now();
    signal(host.pid(), "TERM");
    // Callers connected, guests spinning: the API calls are interrupted at
    // once, the child after 0.5 s of grace; room for two busy cores.
    let status = host.wait_exit(Duration::from_secs(10));
    let took = stopping.elapsed();
    let log = host.log();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("warden: stopped"), "{log}");
    assert!(
        log.contains("did not stop within the shutdown grace"),
        "the stuck child needed the grace: {log}"
    );
    eprintln!("exited {took:?} after SIGTERM");
}

/// Starts `call` on a thread of its own and waits (10 s at most) until
/// that thread has been asleep for 100 ms on end: the guest is in its
/// host sleep, not instantiating or running code.
fn start_asleep<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let me = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        let _ = tid_tx.send(me);
        call()
    });
    let stat = PathBuf::from("/proc")
        .join(tid_rx.recv().expect("the thread starts"))
        .join("stat");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut asleep_since: Option<Instant> = None;
    loop {
        let state = std::fs::read_to_string(&stat).ok().and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next().map(str::to_string))
        });
        match state.as_deref() {
            Some("S") => {
                let since = *asleep_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(100) {
                    return thread;
                }
            }
            _ => asleep_since = None,
        }
        assert!(
            !thread.is_finished() && Instant::now() < deadline,
            "the guest never fell asleep"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (10 s at most) for `thread` to end after an interrupt fired at
/// `fired`; its result.
fn ends_after<T>(thread: std::thread::JoinHandle<T>, fired: Instant, what: &str) -> T {
    let deadline = fired + Duration::from_secs(10);
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "{what}: the sleep did not end");
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "{what}: the sleeping guest ended {:?} after the interrupt",
        fired.elapsed()
    );
    thread.join().expect("the call thread")
}

#[test]
fn a_guest_asleep_in_the_host_wakes_when_it_is_interrupted() {
    // No wall-clock limit: only an interrupt can end the sleep.
    let forever = Limits {
        timeout: None,
        ..Limits::default()
    };

    // A kill switch (what stops a supervised child).
    let rt = runtime();
    let prepared = prepare(&rt, "misbehave", Metering::Off);
    let func = find_function(&prepared.compiled, "sleep-forever").expect("sleep-forever");
    let mut sandbox = Sandbox::new(
        &prepared,
        &forever,
        &Capabilities::default(),
        HostContext::isolated("sleeper"),
    )
    .expect("instantiate");
    let kill = sandbox.kill_switch();
    let call = start_asleep(move || sandbox.call(&func.index, &[], 0).0);
    let fired = Instant::now();
    kill.kill();
    let killed = ends_after(call, fired, "kill switch");
    assert!(matches!(killed, Err(ComponentError::Killed)), "{killed:?}");

    // A caller's scope, and the runtime stopping every guest.
    for what in ["caller scope", "runtime"] {
        let rt = runtime();
        let prepared = prepare(&rt, "misbehave", Metering::Off);
        let scope = Interrupt::new();
        let (call_scope, call_limits) = (scope.clone(), forever.clone());
        let call = start_asleep(move || {
            call_json_under(
                &prepared,
                "sleep-forever",
                &[],
                &call_limits,
                &Capabilities::default(),
                None,
                &call_scope,
            )
        });
        let fired = Instant::now();
        match what {
            "caller scope" => scope.fire(),
            _ => rt.interrupt_all(),
        }
        let outcome = ends_after(call, fired, what).expect("the call ran").outcome;
        assert!(
            matches!(outcome, Err(ComponentError::Killed)),
            "{what}: {outcome:?}"
        );
    }
}

// ------------------------------------------------------------ ceilings

/// An in-process host of [`config`] with `api` as its `[api]` table.
async fn host_with(api: &str) -> (tempfile::TempDir, Host) {
    let (dir, path) = config_file(&config("", api));
    let config = warden::config::load(&path).expect("valid config");
    let host = Host::start(&config, warden::events::EventBus::default())
        .await
        .expect("host starts");
    (dir, host)
}

/// The paths of an `invalid_params` error's violations, and their text.
fn refused(result: Result<Value, OpError>) -> Vec<(String, String)> {
    match result {
        Err(OpError::InvalidParams { violations, .. }) => violations
            .into_iter()
            .map(|v| (v.path, format!("{}: {}", v.expected, v.found)))
            .collect(),
        other => panic!("expected invalid params, got {other:?}"),
    }
}

/// `call` must end within `limit`.
async fn within<T>(limit: Duration, call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| panic!("the call did not end within {limit:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_parameter_lifts_the_default_ceilings() {
    let (_dir, host) = host_with("").await;
    let ops = &host.operations;
    let misbehave = plugin("misbehave");
    let add = |extra: Value| {
        let mut params = json!({"component": misbehave, "function": "add", "args": [40, 2]});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        params
    };
    // An hour is past the default 60 s ceiling, 8 GiB past the 1 GiB one.
    let err = refused(
        ops.call("component.call", add(json!({"timeout_ms": 3_600_000})))
            .await,
    );
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(err[0].0, "/timeout_ms", "{err:?}");
    assert!(err[0].1.contains("60000"), "{err:?}");
    let err = refused(
        ops.call("component.call", add(json!({"memory_mb": 8192})))
            .await,
    );
    assert_eq!(err[0].0, "/memory_mb", "{err:?}");
    let leap = repo_root().join("examples/exercises/leap");
    let err = refused(
        ops.call(
            "grade",
            json!({"exercise": leap, "solution": plugin("leap_ref"), "timeout_ms": 3_600_000}),
        )
        .await,
    );
    assert_eq!(err[0].0, "/timeout_ms", "{err:?}");
    // At the ceiling the call runs.
    let ok = ops
        .call(
            "component.call",
            add(json!({"timeout_ms": 60_000, "memory_mb": 1024})),
        )
        .await
        .unwrap();
    assert_eq!(ok["result"], json!(42), "{ok}");
    // The document says so.
    let schema = ops
        .get("component.call")
        .unwrap()
        .params_schema()
        .source()
        .clone();
    assert_eq!(
        schema["properties"]["timeout_ms"]["maximum"], 60_000,
        "{schema}"
    );
    assert_eq!(
        schema["properties"]["memory_mb"]["maximum"], 1024,
        "{schema}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_zero_means_the_ceiling_and_an_exercise_cannot_lift_it() {
    let (dir, host) = host_with("[api]\nmax_timeout_ms = 300\nmax_fuel = 5000000").await;
    let ops = &host.operations;
    let misbehave = plugin("misbehave");
    let spin = json!({"component": misbehave, "function": "loop-forever", "timeout_ms": 0});
    // No fuel asked for, no wall clock: the fuel ceiling or the 300 ms one
    // ends it, whichever comes first.
    let err = within(Duration::from_secs(30), ops.call("component.call", spin))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        err.status_code() == 504 || text.contains("fuel"),
        "{text} ({})",
        err.status_code()
    );
    let err = refused(
        ops.call(
            "component.call",
            json!({"component": misbehave, "function": "add", "args": [1, 2], "fuel": 5_000_001}),
        )
        .await,
    );
    assert_eq!(err[0].0, "/fuel", "{err:?}");
    assert!(err[0].1.contains("5000000"), "{err:?}");
    let schema = ops
        .get("component.call")
        .unwrap()
        .params_schema()
        .source()
        .clone();
    let fuel = &schema["properties"]["fuel"];
    assert_eq!(fuel["maximum"], 5_000_000, "{schema}");
    assert!(
        fuel["description"].as_str().unwrap().contains("max_fuel"),
        "{schema}"
    );

    // An exercise whose own limits are "no fuel, no wall clock".
    let exercise = dir.path().join("leap");
    copy_dir(&repo_root().join("examples/exercises/leap"), &exercise);
    std::fs::write(
        exercise.join("grading.toml"),
        "[limits]\nfuel = 0\ntimeout_ms = 0\nmemory_mb = 4096\n",
    )
    .unwrap();
    let report = within(
        Duration::from_secs(60),
        ops.call(
            "grade",
            json!({"exercise": exercise, "solution": plugin("leap_loop"), "timeout_ms": 0, "timing": false}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(report["status"], "fail", "{report}");
    assert_eq!(report["limits"]["timeout_ms"], 300, "{report}");
    assert_eq!(report["limits"]["fuel"], 5_000_000, "{report}");
    assert_eq!(report["limits"]["memory_bytes"], 1024u64 << 20, "{report}");
    let tests = report["tests"].as_array().unwrap();
    assert!(!tests.is_empty());
    for test in tests {
        assert!(
            ["timeout", "fuel_exhausted"].contains(&test["verdict"].as_str().unwrap()),
            "{test}"
        );
    }
    host.stop().await;
}

#[test]
fn api_ceilings_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("warden.toml");
    let base = "[supervisor.root]\nstrategy = \"one_for_one\"\n";
    for (api, key) in [
        ("max_timeout_ms = 0", "api.max_timeout_ms"),
        ("max_timeout_ms = 86400001", "api.max_timeout_ms"),
        ("max_memory_mb = 0", "api.max_memory_mb"),
        ("max_memory_mb = 65537", "api.max_memory_mb"),
        ("max_fuel = 0", "api.max_fuel"),
        ("max_forever = 1", "max_forever"),
    ] {
        let text = format!("{base}[api]\n{api}\n");
        let err = warden::config::parse(&file, &text)
            .expect_err(api)
            .to_string();
        assert!(err.contains(key), "{api}: {err}");
        assert!(err.contains("warden.toml"), "{api}: {err}");
    }
    let text = format!("[host]\nshutdown_grace_ms = 3600001\n{base}");
    let err = warden::config::parse(&file, &text).unwrap_err().to_string();
    assert!(err.contains("host.shutdown_grace_ms"), "{err}");
    let config = warden::config::parse(&file, base).unwrap();
    assert_eq!(config.api.limits, warden::config::ApiLimits::default());
    assert_eq!(config.host.shutdown_grace, Duration::from_secs(5));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        std::fs::copy(entry.path(), target).unwrap();
    }
}
