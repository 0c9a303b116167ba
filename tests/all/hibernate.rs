//! Hibernation (`hibernate_after_ms`): an idle component child drops its
//! instance and wakes with its state; a busy one stays awake; a
//! hibernating child is snapshotted, restored, reloaded and persisted as an
//! awake one is; a guest that refuses its snapshot stays awake, and a wake
//! that fails restarts the child and says why. Real hosts in process, the
//! real `counter`, `counter_v2` and `misbehave` plugins.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use warden::config;
use warden::events::EventBus;
use warden::host::{Host, SendError};
use warden::reload::ReloadOutcome;

use crate::support::plugin;

/// The child every fixture runs.
const CHILD: &str = "root/c";

/// A host with one component child `root/c` whose file is a copy of
/// `plugin_name` (so a test may overwrite it), with `extra` keys.
struct Fixture {
    dir: tempfile::TempDir,
    host: Host,
}

impl Fixture {
    async fn start(plugin_name: &str, extra: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(plugin(plugin_name), dir.path().join("c.wasm")).unwrap();
        let text = format!(
            r#"
[host]
state_dir = "state"
[supervisor.root]
strategy = "one_for_one"
intensity = 10
[[supervisor.root.children]]
id = "c"
kind = "component"
path = "c.wasm"
{extra}
"#
        );
        let path = dir.path().join("warden.toml");
        std::fs::write(&path, text).unwrap();
        let config = config::load(&path).expect("valid config");
        let host = Host::start(&config, EventBus::default())
            .await
            .expect("host starts");
        Fixture { dir, host }
    }

    async fn call(&self, msg: &str) -> Result<String, SendError> {
        let reply = self
            .host
            .router
            .call(CHILD, msg.as_bytes().to_vec())
            .await?;
        Ok(String::from_utf8(reply).unwrap())
    }

    async fn ok(&self, msg: &str) -> String {
        self.call(msg)
            .await
            .unwrap_or_else(|e| panic!("{msg}: {e}"))
    }

    /// What `child.info` says of the child's component.
    async fn info(&self) -> Value {
        let out = self
            .host
            .operations
            .call("child.info", json!({"path": CHILD}))
            .await
            .expect("child.info");
        out["info"].clone()
    }

    /// Waits (up to 10 s) until the child hibernates; its info then.
    async fn hibernated(&self) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let info = self.info().await;
            if info["hibernated"] == true {
                return info;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never hibernated: {info}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The child's restarts so far.
    async fn restarts(&self) -> u64 {
        let children = self.host.root.which_children().await.unwrap();
        children
            .iter()
            .find(|c| c.id.as_str() == "c")
            .expect("child c")
            .restarts
    }

    /// Waits until the child is registered again (after a restart).
    async fn serving(&self) {
        for _ in 0..400 {
            if self.host.router.paths().iter().any(|p| p == CHILD) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{CHILD} never came back");
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("c.wasm")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_child_hibernates_and_wakes_with_its_state() {
    let f = Fixture::start("counter", "hibernate_after_ms = 50").await;
    assert_eq!(f.ok("add 5").await, "5");
    let awake = f.info().await;
    assert_eq!(awake["hibernated"], false, "{awake}");
    assert_eq!(awake["hibernate_after_ms"], 50, "{awake}");
    assert!(awake["memory_bytes"].as_u64().unwrap() > 0, "{awake}");

    let asleep = f.hibernated().await;
    assert_eq!(
        asleep["memory_bytes"], 0,
        "a hibernating child holds no instance: {asleep}"
    );

    assert_eq!(f.ok("inc").await, "6", "woke with its state");
    let woke = f.info().await;
    assert_eq!(woke["hibernated"], false, "{woke}");
    assert!(woke["memory_bytes"].as_u64().unwrap() > 0, "{woke}");
    assert_eq!(f.restarts().await, 0, "a wake is no restart");

    // A snapshot is answered asleep, from the state taken at hibernation.
    f.hibernated().await;
    let state = f.host.router.snapshot(CHILD).await.unwrap();
    assert_eq!(
        String::from_utf8(state).unwrap(),
        r#"{"schema":1,"state":{"count":6}}"#
    );
    assert_eq!(f.info().await["hibernated"], true, "still asleep");

    // A restore wakes the child into the state it is given.
    f.host
        .router
        .restore(CHILD, br#"{"schema":1,"state":{"count":100}}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(f.ok("get").await, "100");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_child_stays_awake() {
    let f = Fixture::start("counter", "hibernate_after_ms = 150").await;
    for i in 1..=20 {
        assert_eq!(f.ok("inc").await, i.to_string());
        let info = f.info().await;
        assert_eq!(info["hibernated"], false, "message {i}: {info}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    f.hibernated().await;
    assert_eq!(f.ok("get").await, "20");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hibernating_child_is_reloaded_with_its_state() {
    let f = Fixture::start("counter", "hibernate_after_ms = 50").await;
    assert_eq!(f.ok("add 41").await, "41");
    f.hibernated().await;
    std::fs::write(f.file(), std::fs::read(plugin("counter_v2")).unwrap()).unwrap();
    let outcome = f.host.reload(CHILD).await.expect("reloadable");
    assert!(
        matches!(outcome, ReloadOutcome::Reloaded { .. }),
        "{outcome:?}"
    );
    assert_eq!(f.ok("version").await, "counter-v2");
    assert_eq!(f.ok("get").await, "41", "the state crossed the reload");
    // The new version hibernates and wakes as the old one did.
    f.hibernated().await;
    assert_eq!(f.ok("inc").await, "42");
    assert_eq!(f.ok("version").await, "counter-v2");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hibernating_child_persists_its_state_when_stopped() {
    let f = Fixture::start("counter", "hibernate_after_ms = 50\npersist = \"shutdown\"").await;
    assert_eq!(f.ok("add 42").await, "42");
    f.hibernated().await;
    f.host.stop().await;
    let file = f
        .dir
        .path()
        .join("state")
        .join("persist")
        .join("root%2Fc.snap");
    let text = std::fs::read_to_string(&file).expect("the snapshot was written");
    assert!(
        text.ends_with(r#"{"schema":1,"state":{"count":42}}"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_refuses_its_snapshot_stays_awake() {
    let f = Fixture::start("misbehave", "hibernate_after_ms = 20").await;
    f.hibernated().await;
    assert_eq!(f.ok("refuse-snapshot").await, "ok");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = f.info().await;
    assert_eq!(info["hibernated"], false, "{info}");
    assert!(info["memory_bytes"].as_u64().unwrap() > 0, "{info}");
    assert_eq!(f.ok("ok").await, "ok");
    assert_eq!(f.restarts().await, 0);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_that_fails_restarts_the_child_and_says_why() {
    let f = Fixture::start("misbehave", "hibernate_after_ms = 20").await;
    assert_eq!(f.ok("unrestorable").await, "ok");
    f.hibernated().await;
    let err = f.call("ok").await.unwrap_err();
    let SendError::Failed { message, .. } = &err else {
        panic!("a failure: {err:?}");
    };
    assert_eq!(
        message,
        "cannot wake from hibernation: restore failed: misbehave: this state cannot be restored"
    );
    f.serving().await;
    assert_eq!(f.ok("ok").await, "ok", "the restart starts from init");
    assert_eq!(f.restarts().await, 1);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hibernate_on_a_component_without_snapshot_and_restore_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[host]
state_dir = "state"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "wc"
kind = "component"
path = "{}"
hibernate_after_ms = 1000
"#,
        plugin("wordcount").display()
    );
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, text).unwrap();
    let config = config::load(&path).expect("valid config");
    let err = match Host::start(&config, EventBus::default()).await {
        Ok(_) => panic!("a host started with a child that cannot hibernate"),
        Err(err) => err.to_string(),
    };
    for words in [
        "supervisor.root.children[0].hibernate_after_ms: child `root/wc` cannot hibernate",
        "does not export the actor's `snapshot` and `restore`",
    ] {
        assert!(err.contains(words), "`{words}` in: {err}");
    }
}
