//! Hibernation (`hibernate_after_ms`): an idle component child drops its
//! instance and wakes with its state; a busy one stays awake; a
//! hibernating child is snapshotted, restored, reloaded and persisted as an
//! awake one is; a guest that refuses its snapshot stays awake, a wake
//! that fails restarts the child and says why, and a kill that stops a
//! wake is a kill. Real hosts in process, the real `counter`, `counter_v2`
//! and `misbehave` plugins.

use std::time::Duration;

use serde_json::{Value, json};
use warden::config;
use warden::events::EventBus;
use warden::host::{Host, SendError};
use warden::reload::ReloadOutcome;

use crate::support::{CopiedChild, config_file, plugin};

/// The child of every [`CopiedChild`].
const CHILD: &str = "root/counter";

async fn call(f: &CopiedChild, msg: &str) -> Result<String, SendError> {
    let reply = f.host.router.call(CHILD, msg.as_bytes().to_vec()).await?;
    Ok(String::from_utf8(reply).unwrap())
}

/// What `child.info` says of the child.
async fn child_info(f: &CopiedChild) -> Value {
    f.host
        .operations
        .call("child.info", json!({"path": CHILD}))
        .await
        .expect("child.info")
}

/// What `child.info` says of the child's component.
async fn info(f: &CopiedChild) -> Value {
    child_info(f).await["info"].clone()
}

/// Waits (up to 10 s) until the child hibernates; its info then.
async fn hibernated(f: &CopiedChild) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = info(f).await;
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

/// Waits until the child is registered again (after a restart).
async fn serving(f: &CopiedChild) {
    for _ in 0..400 {
        if f.host.router.paths().iter().any(|p| p == CHILD) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{CHILD} never came back");
}

/// The child's restarts so far.
async fn restarts(f: &CopiedChild) -> u64 {
    child_info(f).await["restarts"]
        .as_u64()
        .expect("a restart count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_child_hibernates_and_wakes_with_its_state() {
    let f = CopiedChild::start("counter", "hibernate_after_ms = 50").await;
    assert_eq!(f.call("add 5").await, "5");
    let awake = info(&f).await;
    assert_eq!(awake["hibernated"], false, "{awake}");
    assert_eq!(awake["hibernate_after_ms"], 50, "{awake}");
    assert!(awake["memory_bytes"].as_u64().unwrap() > 0, "{awake}");

    let asleep = hibernated(&f).await;
    assert_eq!(
        asleep["memory_bytes"], 0,
        "a hibernating child holds no instance: {asleep}"
    );

    assert_eq!(f.call("inc").await, "6", "woke with its state");
    let woke = info(&f).await;
    assert_eq!(woke["hibernated"], false, "{woke}");
    assert!(woke["memory_bytes"].as_u64().unwrap() > 0, "{woke}");
    assert_eq!(restarts(&f).await, 0, "a wake is no restart");

    // A snapshot is answered asleep, from the state taken at hibernation.
    hibernated(&f).await;
    let state = f.host.router.snapshot(CHILD).await.unwrap();
    assert_eq!(
        String::from_utf8(state).unwrap(),
        r#"{"schema":1,"state":{"count":6}}"#
    );
    assert_eq!(info(&f).await["hibernated"], true, "still asleep");

    // A restore wakes the child into the state it is given.
    f.host
        .router
        .restore(CHILD, br#"{"schema":1,"state":{"count":100}}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(f.call("get").await, "100");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_child_stays_awake() {
    let f = CopiedChild::start("counter", "hibernate_after_ms = 150").await;
    for i in 1..=20 {
        assert_eq!(f.call("inc").await, i.to_string());
        let info = info(&f).await;
        assert_eq!(info["hibernated"], false, "message {i}: {info}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    hibernated(&f).await;
    assert_eq!(f.call("get").await, "20");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hibernating_child_is_reloaded_with_its_state() {
    let f = CopiedChild::start("counter", "hibernate_after_ms = 50").await;
    assert_eq!(f.call("add 41").await, "41");
    hibernated(&f).await;
    f.write(&std::fs::read(plugin("counter_v2")).unwrap());
    let outcome = f.reload().await;
    assert!(
        matches!(outcome, ReloadOutcome::Reloaded { .. }),
        "{outcome:?}"
    );
    assert_eq!(f.call("version").await, "counter-v2");
    assert_eq!(f.call("get").await, "41", "the state crossed the reload");
    // The new version hibernates and wakes as the old one did.
    hibernated(&f).await;
    assert_eq!(f.call("inc").await, "42");
    assert_eq!(f.call("version").await, "counter-v2");
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hibernating_child_persists_its_state_when_stopped() {
    let f = CopiedChild::start("counter", "hibernate_after_ms = 50\npersist = \"shutdown\"").await;
    assert_eq!(f.call("add 42").await, "42");
    hibernated(&f).await;
    f.host.stop().await;
    let file = f
        .dir
        .path()
        .join("state")
        .join("persist")
        .join("root%2Fcounter.snap");
    let text = std::fs::read_to_string(&file).expect("the snapshot was written");
    assert!(
        text.ends_with(r#"{"schema":1,"state":{"count":42}}"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_refuses_its_snapshot_stays_awake() {
    let f = CopiedChild::start("misbehave", "hibernate_after_ms = 20").await;
    hibernated(&f).await;
    assert_eq!(f.call("refuse-snapshot").await, "ok");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = info(&f).await;
    assert_eq!(info["hibernated"], false, "{info}");
    assert!(info["memory_bytes"].as_u64().unwrap() > 0, "{info}");
    assert_eq!(f.call("ok").await, "ok");
    assert_eq!(restarts(&f).await, 0);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_that_fails_restarts_the_child_and_says_why() {
    let f = CopiedChild::start("misbehave", "hibernate_after_ms = 20").await;
    assert_eq!(f.call("unrestorable").await, "ok");
    hibernated(&f).await;
    let err = call(&f, "ok").await.unwrap_err();
    let SendError::Failed { message, .. } = &err else {
        panic!("a failure: {err:?}");
    };
    assert_eq!(
        message,
        "cannot wake from hibernation: restore failed: misbehave: this state cannot be restored"
    );
    serving(&f).await;
    assert_eq!(f.call("ok").await, "ok", "the restart starts from init");
    assert_eq!(restarts(&f).await, 1);
    f.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hibernate_on_a_component_without_snapshot_and_restore_is_refused() {
    let (_dir, path) = config_file(
        r#"
[host]
state_dir = "state"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "wc"
kind = "component"
path = "{wordcount}"
hibernate_after_ms = 1000
"#,
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_that_stops_a_wake_is_a_kill() {
    let f = CopiedChild::start("misbehave", "hibernate_after_ms = 20").await;
    assert_eq!(f.call("endless-restore").await, "ok");
    hibernated(&f).await;
    // The message wakes the child, whose `restore` then spins: only a kill
    // ends it (the child has no timeout).
    let router = f.host.router.clone();
    let waking = tokio::spawn(async move { router.call(CHILD, b"ok".to_vec()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waking.is_finished(), "the wake should still be spinning");
    f.host
        .operations
        .call("child.kill", json!({"path": CHILD}))
        .await
        .expect("child.kill");
    let answer = tokio::time::timeout(Duration::from_secs(10), waking)
        .await
        .expect("the kill ends the wake")
        .unwrap();
    assert!(
        matches!(answer, Err(SendError::Failed { .. })),
        "{answer:?}"
    );
    serving(&f).await;
    let last = child_info(&f).await["last_exit"].to_string();
    assert!(last.contains("killed"), "the exit is the kill: {last}");
    assert!(
        !last.contains("cannot wake"),
        "the exit is the kill: {last}"
    );
    f.host.stop().await;
}
