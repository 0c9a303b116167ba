//! Persisted component state (`persist`, `restore_after_crash`): the real
//! `warden run` stopped gracefully and killed with SIGKILL, the real
//! `counter` plugin, real snapshot files in the state dir, and hosts
//! started in process where the event stream is read directly.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use warden::events::{EventBus, EventKind, EventStream, PersistEvent, Received};
use warden::host::Host;

use crate::support::{HostProcess, plugin, signal, stderr, stdout, warden, warden_cmd};

/// The snapshot file of `root/counter` under `state`.
fn snap_file(state: &Path) -> PathBuf {
    state.join("persist").join("root%2Fcounter.snap")
}

/// A folder with `warden.toml` (one `counter` child with `extra` keys,
/// state in `state/`, the API on a free port).
fn counter_config(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[supervisor.root]
strategy = "one_for_one"
intensity = 10

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "{}"
{extra}
"#,
        plugin("counter").display()
    );
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// `warden ctl send root/counter MESSAGE`, once the child answers (it may
/// be restarting); the reply.
fn send(host: &HostProcess, message: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = warden_cmd(&["ctl", "--addr", host.url(), "send", "root/counter", message])
            .env_remove("WARDEN_TOKEN")
            .env_remove("WARDEN_ADDR")
            .output()
            .expect("run warden ctl");
        if out.status.success() {
            return stdout(&out).trim_end().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "send {message}: {}\nhost log:\n{}",
            stderr(&out),
            host.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The host's logged events of `kinds` about `root/counter`.
fn events(host: &HostProcess, kinds: &str) -> Vec<Value> {
    let params = format!(r#"{{"child": "root/counter", "kind": "{kinds}"}}"#);
    let out = host.ctl_ok(&["--json", "op", "events.recent", &params]);
    match serde_json::from_str(&out) {
        Ok(Value::Array(events)) => events,
        other => panic!("events.recent: {other:?}: {out}"),
    }
}

/// The state inside a snapshot file: its bytes after the two header lines.
fn state_in(file: &Path) -> Option<String> {
    let bytes = std::fs::read(file).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut lines = text.splitn(3, '\n');
    assert_eq!(lines.next(), Some("warden-snapshot 1"), "{text}");
    let header: Value = serde_json::from_str(lines.next()?).expect("a JSON header");
    let state = lines.next()?.to_string();
    assert_eq!(header["bytes"], state.len(), "{text}");
    assert_eq!(header["child"], "root/counter", "{text}");
    Some(state)
}

#[test]
fn state_survives_a_graceful_stop_a_restart_and_child_restart_but_not_a_crash() {
    let (dir, config) = counter_config("persist = \"shutdown\"");
    let state = dir.path().join("state");
    let mut host = HostProcess::start(&config, &state, &[]);
    assert_eq!(send(&host, "inc"), "1");
    assert_eq!(send(&host, "add 41"), "42");
    assert!(
        !snap_file(&state).exists(),
        "shutdown mode writes on stops only"
    );
    assert!(host.terminate().success(), "{}", host.log());
    assert_eq!(
        state_in(&snap_file(&state)).as_deref(),
        Some(r#"{"schema":1,"state":{"count":42}}"#),
        "{}",
        host.log()
    );

    let mut host = HostProcess::start(&config, &state, &[]);
    assert_eq!(send(&host, "get"), "42", "{}", host.log());
    let restored = events(&host, "restored");
    assert_eq!(restored.len(), 1, "{restored:?}");
    assert_eq!(restored[0]["bytes"], 33);
    assert_eq!(
        restored[0]["saved_by"].as_str().map(str::len),
        Some(64),
        "the hash of the code that wrote it: {restored:?}"
    );

    // child.restart: a graceful stop and a start, state kept.
    assert_eq!(send(&host, "inc"), "43");
    host.ctl_ok(&["restart", "root/counter"]);
    assert_eq!(send(&host, "get"), "43", "{}", host.log());
    let persisted = events(&host, "persisted");
    assert_eq!(persisted[0]["trigger"], "shutdown", "{persisted:?}");

    // A crash: OTP's clean restart (restore_after_crash is false).
    let out = warden_cmd(&["ctl", "--addr", host.url(), "send", "root/counter", "crash"])
        .output()
        .expect("run warden ctl");
    assert!(!out.status.success());
    assert_eq!(send(&host, "get"), "0", "{}", host.log());
    assert!(
        host.log().contains("state restored"),
        "the restore is a log line too:\n{}",
        host.log()
    );
    assert!(host.interrupt().success(), "{}", host.log());
    assert_eq!(
        state_in(&snap_file(&state)).as_deref(),
        Some(r#"{"schema":1,"state":{"count":0}}"#),
        "the clean state is what the next stop saved"
    );
}

#[test]
fn interval_mode_survives_a_sigkill_of_the_host() {
    const INTERVAL_MS: u64 = 200;
    let (dir, config) = counter_config(&format!("persist = {{ interval_ms = {INTERVAL_MS} }}"));
    let state = dir.path().join("state");
    let host = HostProcess::start(&config, &state, &[]);
    assert_eq!(send(&host, "add 7"), "7");
    let sent = Instant::now();
    let want = r#"{"schema":1,"state":{"count":7}}"#;
    while state_in(&snap_file(&state)).as_deref() != Some(want) {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "not persisted within 10 s:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let age = sent.elapsed();
    eprintln!(
        "persisted {} ms after the change (interval {INTERVAL_MS} ms)",
        age.as_millis()
    );
    // One interval, plus the reply's way back to this test and a loaded
    // machine's scheduling.
    assert!(age < Duration::from_millis(INTERVAL_MS * 5), "{age:?}");
    // An unchanged state is not written again.
    let persisted = events(&host, "persisted");
    assert!(
        persisted.iter().all(|e| e["trigger"] == "interval"),
        "{persisted:?}"
    );
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 3));
    assert_eq!(
        events(&host, "persisted").len(),
        persisted.len(),
        "unchanged state rewritten"
    );

    signal(host.pid(), "KILL");
    let mut host = host;
    host.wait_exit(Duration::from_secs(10));
    // A killed host leaves its address file behind.
    let _ = std::fs::remove_file(state.join("api.addr"));
    let host = HostProcess::start(&config, &state, &[]);
    assert_eq!(send(&host, "get"), "7", "{}", host.log());
}

#[test]
fn persist_on_a_component_without_snapshot_and_restore_is_refused_naming_the_child() {
    let (dir, config) = counter_config("");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            plugin("counter").to_str().unwrap(),
            plugin("wordcount").to_str().unwrap(),
        )
        .replace("id = \"counter\"", "id = \"wc\"")
        + "persist = \"shutdown\"\n";
    std::fs::write(&config, text).unwrap();
    let out = warden(&["run", config.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for words in [
        "warden.toml: supervisor.root.children[0].persist: child `root/wc` cannot persist its state",
        "does not export the actor's `snapshot` and `restore`",
        "warden:plugin/actor@0.1.0",
        "it is an operation plugin: configure it under [operations.ID]",
    ] {
        assert!(err.contains(words), "`{words}` in: {err}");
    }
    assert!(!dir.path().join("state").join("api.addr").exists());
}

#[test]
fn a_bad_persist_value_stops_warden_run_before_anything_starts() {
    for (extra, words) in [
        (
            "persist = \"sometimes\"",
            "supervisor.root.children[0].persist: expected \"shutdown\" or { interval_ms = N }, found \"sometimes\"",
        ),
        (
            "persist = { interval_ms = 5 }",
            "supervisor.root.children[0].persist.interval_ms: expected 100 to",
        ),
        (
            "restore_after_crash = true",
            "supervisor.root.children[0].restore_after_crash: only applies with `persist`",
        ),
    ] {
        let (_dir, config) = counter_config(extra);
        let out: Output = warden(&["run", config.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{extra}: {err}");
        assert!(err.contains(words), "{extra}: `{words}` in: {err}");
    }
}

/// A host of [`counter_config`] started in process, with its events.
struct InProcess {
    _dir: tempfile::TempDir,
    state: PathBuf,
    host: Host,
    events: EventStream,
}

impl InProcess {
    async fn start(dir: tempfile::TempDir, config: &Path) -> InProcess {
        let config = warden::config::load(config).expect("valid config");
        let bus = EventBus::default();
        let events = bus.subscribe();
        let host = Host::start(&config, bus).await.expect("host starts");
        InProcess {
            state: dir.path().join("state"),
            _dir: dir,
            host,
            events,
        }
    }

    /// `message`'s reply, once the child answers (it may be restarting).
    async fn call(&self, message: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self
                .host
                .router
                .call("root/counter", message.as_bytes().to_vec())
                .await
            {
                Ok(reply) => return String::from_utf8(reply).unwrap(),
                Err(e) => assert!(Instant::now() < deadline, "{message}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next persist event, within 10 s.
    async fn persist_event(&mut self) -> PersistEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("a persist event in time");
            if let Some(Received::Event(e)) = got
                && let EventKind::Persist(event) = e.kind
            {
                assert_eq!(e.path.to_string(), "root/counter");
                return event;
            }
        }
    }
}

/// A well-formed snapshot file of `state`, as the host writes them.
fn snapshot_file_of(state: &[u8]) -> Vec<u8> {
    let header = serde_json::json!({
        "child": "root/counter",
        "component": "0".repeat(64),
        "saved_at_ms": 1_764_900_000_000_u64,
        "bytes": state.len(),
        "sha256": warden::component::content_hash(state),
    });
    [
        b"warden-snapshot 1\n".as_slice(),
        header.to_string().as_bytes(),
        b"\n",
        state,
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_cannot_be_restored_is_set_aside_and_the_child_starts_fresh() {
    for (content, reason) in [
        (
            b"\x00\x01 not a snapshot at all".to_vec(),
            "is not a valid snapshot: it does not start with `warden-snapshot 1`",
        ),
        (
            {
                // One digit of the state changed after the header was written.
                let mut file = snapshot_file_of(br#"{"schema":1,"state":{"count":3}}"#);
                let at = file.len() - 3;
                assert_eq!(file[at], b'3');
                file[at] = b'4';
                file
            },
            "its bytes do not match their SHA-256 in the header",
        ),
        (
            snapshot_file_of(b"{\"schema\":1,\"state\":\"not a counter\"}"),
            "the guest's restore refused it",
        ),
    ] {
        let (dir, config) = counter_config("persist = \"shutdown\"");
        let file = snap_file(&dir.path().join("state"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &content).unwrap();
        let mut host = InProcess::start(dir, &config).await;
        match host.persist_event().await {
            PersistEvent::RestoreFailed {
                reason: said,
                kept_as,
            } => {
                assert!(said.contains(reason), "`{reason}` in {said}");
                assert!(
                    kept_as.ends_with("root%2Fcounter.snap.rejected"),
                    "{kept_as}"
                );
                assert_eq!(std::fs::read(&kept_as).unwrap(), content, "kept as it was");
            }
            other => panic!("{other:?}"),
        }
        assert!(!file.exists(), "never read again");
        assert_eq!(host.call("get").await, "0", "a fresh start");
        assert_eq!(host.call("inc").await, "1", "and a working child");
        let _exit = host.host.stop().await;
        assert!(matches!(
            host.persist_event().await,
            PersistEvent::Persisted { bytes: 32, .. }
        ));
        assert!(
            file.exists()
                && snap_file(&host.state)
                    .with_extension("snap.rejected")
                    .exists()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_restores_the_last_persisted_state_only_with_restore_after_crash() {
    for (restore_after_crash, after_crash) in [(false, "0"), (true, "5")] {
        let (dir, config) = counter_config(&format!(
            "persist = {{ interval_ms = 100 }}\nrestore_after_crash = {restore_after_crash}"
        ));
        let mut host = InProcess::start(dir, &config).await;
        assert_eq!(host.call("add 5").await, "5");
        let deadline = Instant::now() + Duration::from_secs(10);
        while state_in(&snap_file(&host.state)).as_deref()
            != Some(r#"{"schema":1,"state":{"count":5}}"#)
        {
            assert!(Instant::now() < deadline, "count 5 was not persisted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            host.host
                .router
                .call("root/counter", b"crash".to_vec())
                .await
                .is_err()
        );
        assert_eq!(
            host.call("get").await,
            after_crash,
            "restore_after_crash = {restore_after_crash}"
        );
        if restore_after_crash {
            // Past the `persisted` events of the first incarnation.
            loop {
                match host.persist_event().await {
                    PersistEvent::Persisted { .. } => continue,
                    PersistEvent::Restored { bytes, .. } => break assert_eq!(bytes, 32),
                    other => panic!("{other:?}"),
                }
            }
        } else {
            // The clean state is persisted at the next tick: a later host
            // start does not bring back what the crash dropped.
            let deadline = Instant::now() + Duration::from_secs(10);
            while state_in(&snap_file(&host.state)).as_deref()
                != Some(r#"{"schema":1,"state":{"count":0}}"#)
            {
                assert!(
                    Instant::now() < deadline,
                    "the clean state was not persisted"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _exit = host.host.stop().await;
    }
}

#[test]
fn the_persist_bench_times_a_kept_and_a_fresh_restart() {
    // `warden bench persist` checks each restart's count itself (7 kept,
    // 0 fresh) and fails otherwise: a run that prints figures is a run in
    // which persist kept the state 320 times.
    let plugins = plugin("counter").parent().unwrap().to_path_buf();
    let out = warden(&[
        "bench",
        "persist",
        "--json",
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let figures: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let metrics: Vec<&str> = figures
        .iter()
        .map(|f| f["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        [
            "p50",
            "p99",
            "mean",
            "without_p50",
            "without_p99",
            "without_mean"
        ]
    );
    for f in &figures {
        assert_eq!(f["bench"], "persist");
        assert_eq!(f["unit"], "us");
        assert!(f["value"].as_f64().is_some_and(|v| v > 0.0), "{f}");
    }
}
