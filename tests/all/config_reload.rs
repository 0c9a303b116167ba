//! Config reload without a restart, against a real `warden run`: the file
//! is rewritten, then `config.reload` (over HTTP), `warden ctl config
//! reload` or SIGHUP applies the difference. Unchanged children keep their
//! generation and their state; an invalid file changes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden::api::client::{ApiClient, ClientError};

use crate::support::{HostProcess, plugin, signal, stderr, stdout};

/// `[host]` and a `root` supervisor; `{children}` is the rest of the file.
fn config_text(strategy: &str, children: &str) -> String {
    format!(
        "[host]\nstate_dir = \"state\"\napi_addr = \"127.0.0.1:0\"\n\n\
         [supervisor.root]\nstrategy = \"{strategy}\"\nintensity = 5\n\n{children}"
    )
}

/// A counter component child.
fn counter(id: &str, extra: &str) -> String {
    format!(
        "[[supervisor.root.children]]\nid = \"{id}\"\nkind = \"component\"\npath = \"{}\"\n{extra}\n",
        plugin("counter").display()
    )
}

/// The two children every test starts with: `keep` (whose state must
/// survive every reload) and `a` (the one the tests change).
fn base() -> String {
    config_text(
        "one_for_one",
        &format!(
            "{}{}",
            counter("keep", ""),
            counter("a", "limits = { memory_mb = 32 }")
        ),
    )
}

struct Fixture {
    host: HostProcess,
    client: ApiClient,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A host running `text`, with `keep`'s count at 5.
    async fn start(text: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("warden.toml");
        std::fs::write(&config, text).expect("write config");
        let host = HostProcess::start(&config, &dir.path().join("state"), &[]);
        let client = host.client(None);
        let f = Fixture {
            host,
            client,
            config,
            _dir: dir,
        };
        assert_eq!(f.send("root/keep", "add 5").await, "5");
        f
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.config, text).expect("rewrite config");
    }

    fn dir(&self) -> &Path {
        self.config.parent().expect("config dir")
    }

    async fn reload(&self, dry_run: bool) -> Value {
        self.client
            .call("config.reload", json!({ "dry_run": dry_run }))
            .await
            .unwrap_or_else(|e| panic!("config.reload: {e}\n{}", self.host.log()))
    }

    /// The refusal of a reload: (status, kind, message).
    async fn refused(&self) -> (u16, String, String) {
        match self.client.call("config.reload", json!({})).await {
            Err(ClientError::Status { status, body }) => (
                status,
                body["error"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            other => panic!("the reload was not refused: {other:?}"),
        }
    }

    async fn send(&self, path: &str, message: &str) -> String {
        let reply = self
            .client
            .call("child.send", json!({"path": path, "message": message}))
            .await
            .unwrap_or_else(|e| panic!("send {message} to {path}: {e}"));
        reply["reply"].as_str().expect("a text reply").to_string()
    }

    async fn generation(&self, path: &str) -> u64 {
        let info = self.info(path).await.expect("the child exists");
        info["generation"]
            .as_u64()
            .unwrap_or_else(|| panic!("{path} is not running: {info}"))
    }

    async fn info(&self, path: &str) -> Result<Value, ClientError> {
        self.client
            .call("child.info", json!({ "path": path }))
            .await
    }

    async fn strategy(&self) -> String {
        let health = self
            .client
            .call("health", json!({"path": "root"}))
            .await
            .expect("health");
        health[0]["strategy"]
            .as_str()
            .expect("a strategy")
            .to_string()
    }

    /// Paths of the tree's children, in order.
    async fn children(&self) -> Vec<String> {
        let tree = self.client.call("tree", json!({})).await.expect("tree");
        tree["children"]
            .as_array()
            .expect("children")
            .iter()
            .map(|c| c["path"].as_str().expect("a path").to_string())
            .collect()
    }
}

fn paths(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| p.as_str().expect("a path"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_child_starts_and_the_others_keep_generation_and_state() {
    let f = Fixture::start(&base()).await;
    let (keep, a) = (
        f.generation("root/keep").await,
        f.generation("root/a").await,
    );
    f.write(&format!("{}{}", base(), counter("b", "")));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["added"]), ["root/b"], "{plan}");
    assert_eq!(paths(&plan["unchanged"]), ["root/keep", "root/a"]);
    assert!(paths(&plan["changed"]).is_empty() && paths(&plan["removed"]).is_empty());
    assert_eq!(plan["applied"], true);
    assert_eq!(f.send("root/b", "inc").await, "1", "the new child serves");
    assert_eq!(f.children().await, ["root/keep", "root/a", "root/b"]);
    assert_eq!(f.generation("root/keep").await, keep);
    assert_eq!(f.generation("root/a").await, a);
    assert_eq!(f.send("root/keep", "get").await, "5", "state kept");

    // The host's config is the new one now: the same file again is all
    // unchanged.
    let again = f.reload(false).await;
    assert!(paths(&again["added"]).is_empty(), "{again}");
    assert_eq!(paths(&again["unchanged"]).len(), 3);
    // The event log is fed from the bus by its own task: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = f
            .client
            .call("events.recent", json!({"kind": "config_reloaded"}))
            .await
            .expect("events.recent");
        if events.as_array().is_some_and(|e| e.len() >= 2) || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first = &events.as_array().expect("events")[0];
    assert_eq!(
        (first["added"].as_u64(), first["unchanged"].as_u64()),
        (Some(1), Some(2)),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_child_is_stopped_and_forgotten() {
    let f = Fixture::start(&base()).await;
    let keep = f.generation("root/keep").await;
    f.write(&config_text("one_for_one", &counter("keep", "")));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["removed"]), ["root/a"], "{plan}");
    assert_eq!(paths(&plan["unchanged"]), ["root/keep"]);
    assert_eq!(f.children().await, ["root/keep"]);
    let gone = f.info("root/a").await.expect_err("root/a is gone");
    assert!(
        matches!(gone, ClientError::Status { status: 404, .. }),
        "{gone:?}"
    );
    assert_eq!(f.generation("root/keep").await, keep);
    assert_eq!(f.send("root/keep", "get").await, "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_childs_limits_restarts_only_that_child() {
    let f = Fixture::start(&base()).await;
    assert_eq!(f.send("root/a", "add 3").await, "3");
    let (keep, a) = (
        f.generation("root/keep").await,
        f.generation("root/a").await,
    );
    f.write(&base().replace("memory_mb = 32", "memory_mb = 48"));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["changed"]), ["root/a"], "{plan}");
    assert_eq!(paths(&plan["unchanged"]), ["root/keep"]);
    let info = f.info("root/a").await.expect("root/a");
    assert_eq!(info["info"]["limits"]["memory_bytes"], 48 << 20, "{info}");
    assert_ne!(f.generation("root/a").await, a, "a new incarnation");
    assert_eq!(f.send("root/a", "get").await, "0", "with a fresh state");
    assert_eq!(
        f.generation("root/keep").await,
        keep,
        "the sibling kept its incarnation"
    );
    assert_eq!(f.send("root/keep", "get").await, "5", "and its state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisors_strategy_changes_in_place() {
    let f = Fixture::start(&base()).await;
    let (keep, a) = (
        f.generation("root/keep").await,
        f.generation("root/a").await,
    );
    f.write(&base().replace("one_for_one", "one_for_all"));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["supervisors_changed"]), ["root"], "{plan}");
    assert_eq!(paths(&plan["unchanged"]), ["root/keep", "root/a"]);
    assert_eq!(f.strategy().await, "one_for_all");
    assert_eq!(f.generation("root/keep").await, keep);
    assert_eq!(f.generation("root/a").await, a);
    assert_eq!(f.send("root/keep", "get").await, "5");
    // It took: a crash of `a` now restarts `keep` too.
    let crash = f
        .client
        .call("child.send", json!({"path": "root/a", "message": "crash"}))
        .await;
    assert!(crash.is_err(), "{crash:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while f
        .info("root/keep")
        .await
        .ok()
        .and_then(|i| i["generation"].as_u64())
        == Some(keep)
    {
        assert!(Instant::now() < deadline, "keep was never restarted with a");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_changes_nothing_and_says_why_with_file_and_key() {
    let f = Fixture::start(&base()).await;
    let (keep, a) = (
        f.generation("root/keep").await,
        f.generation("root/a").await,
    );
    let file = f.config.display().to_string();
    std::fs::write(
        f.dir().join("not-a-component.wasm"),
        b"\0asm but not really",
    )
    .unwrap();
    // `a` changes too: were the new component compiled only after the
    // changed children stopped, `a` would have restarted.
    let not_a_component = format!(
        "{}[[supervisor.root.children]]\nid = \"b\"\nkind = \"component\"\npath = \"not-a-component.wasm\"\n",
        base().replace("memory_mb = 32", "memory_mb = 64")
    );
    for (text, says) in [
        (
            format!("{}\n[supervisor.root\n", base()),
            format!("{file}:"),
        ),
        (
            base().replace("memory_mb = 32", "memory_mb = 0"),
            format!("{file}: supervisor.root.children[1].limits.memory_mb"),
        ),
        (
            not_a_component,
            format!("{file}: supervisor.root.children[2].path"),
        ),
    ] {
        f.write(&text);
        let (status, kind, message) = f.refused().await;
        assert_eq!(
            (status, kind.as_str()),
            (422, "invalid_config"),
            "{message}"
        );
        assert!(message.contains(&says), "{message}\nshould contain: {says}");
        assert_eq!(
            f.children().await,
            ["root/keep", "root/a"],
            "nothing started"
        );
        assert_eq!(f.generation("root/keep").await, keep);
        assert_eq!(f.generation("root/a").await, a, "nothing restarted");
    }
    // The syntax error's message has the line.
    f.write(&format!("{}\n[supervisor.root\n", base()));
    let (_, _, message) = f.refused().await;
    let line = base().lines().count() + 2;
    assert!(
        message.contains(&format!("warden.toml:{line}:")),
        "{message}"
    );
    // The running config is still the first: the base file is unchanged.
    f.write(&base());
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["unchanged"]), ["root/keep", "root/a"], "{plan}");
    assert!(paths(&plan["changed"]).is_empty());
    assert_eq!(f.send("root/keep", "get").await, "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_and_changes_nothing() {
    let f = Fixture::start(&base()).await;
    let a = f.generation("root/a").await;
    let changed = format!(
        "{}{}",
        base().replace("memory_mb = 32", "memory_mb = 40"),
        counter("b", "")
    );
    f.write(&changed);
    let plan = f.reload(true).await;
    assert_eq!(plan["applied"], false, "{plan}");
    assert_eq!(paths(&plan["added"]), ["root/b"]);
    assert_eq!(paths(&plan["changed"]), ["root/a"]);
    assert_eq!(f.children().await, ["root/keep", "root/a"]);
    assert_eq!(f.generation("root/a").await, a);

    // `warden ctl config reload --dry-run` prints the same plan.
    let out = f.host.ctl_ok(&["config", "reload", "--dry-run"]);
    assert!(out.starts_with("dry run, nothing changed\n"), "{out}");
    assert!(out.contains("  added: root/b\n"), "{out}");
    assert!(out.contains("  changed (restarted): root/a\n"), "{out}");
    let json: Value =
        serde_json::from_str(&f.host.ctl_ok(&["config", "reload", "--dry-run", "--json"]))
            .expect("--json prints the plan");
    assert_eq!(json["applied"], false);
    assert_eq!(f.generation("root/a").await, a, "still nothing changed");

    // Without --dry-run ctl applies it; an invalid file exits 2 naming the key.
    let out = f.host.ctl_ok(&["config", "reload"]);
    assert!(out.starts_with("config reloaded\n"), "{out}");
    assert_eq!(f.children().await, ["root/keep", "root/a", "root/b"]);
    f.write(&changed.replace("memory_mb = 40", "memory_mb = -1"));
    let out = f.host.ctl(&["config", "reload"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("supervisor.root.children[1].limits.memory_mb"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_bad_file_leaves_the_host_running() {
    let f = Fixture::start(&base()).await;
    let keep = f.generation("root/keep").await;
    f.write(&format!("{}{}", base(), counter("b", "")));
    signal(f.host.pid(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(15);
    while f.info("root/b").await.is_err() {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not add root/b:\n{}",
            f.host.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.generation("root/keep").await, keep);
    assert_eq!(f.send("root/keep", "get").await, "5");
    f.write(&format!("{}\n[supervisor.root\n", base()));
    signal(f.host.pid(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f.host.log().contains("config not reloaded") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            f.host.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        f.host.log().contains("config reloaded: 1 added"),
        "{}",
        f.host.log()
    );
    assert_eq!(
        f.send("root/keep", "get").await,
        "5",
        "the host still serves"
    );
    assert_eq!(f.children().await, ["root/keep", "root/a", "root/b"]);
    // Both signals are in the audit log, as the signal's caller: the audit
    // writer is off the hot path, so wait for its rows.
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = f
            .client
            .call("audit.recent", json!({"op": "config.reload"}))
            .await
            .expect("audit.recent");
        if rows.as_array().is_some_and(|r| r.len() >= 2) || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen: Vec<(&str, &str, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["token"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("signal:SIGHUP", "invalid_config", 422),
            ("signal:SIGHUP", "ok", 200)
        ],
        "{rows}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_api_addr_is_refused_as_a_whole() {
    let f = Fixture::start(&base()).await;
    f.write(&format!(
        "{}{}",
        base().replace("127.0.0.1:0", "127.0.0.1:1"),
        counter("b", "")
    ));
    let (status, kind, message) = f.refused().await;
    assert_eq!((status, kind.as_str()), (422, "invalid_config"));
    assert!(
        message.contains("host.api_addr cannot change while the host runs; restart it"),
        "{message}"
    );
    assert_eq!(
        f.children().await,
        ["root/keep", "root/a"],
        "b was not added"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_plugins_come_and_go_with_the_file() {
    let f = Fixture::start(&base()).await;
    let plugin_table = format!(
        "\n[operations.wc]\npath = \"{}\"\n",
        plugin("wordcount").display()
    );
    f.write(&format!("{}{plugin_table}", base()));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["operations"]["added"]), ["wc"], "{plan}");
    let counted = f
        .client
        .call("wc.count", json!({"text": "a b a"}))
        .await
        .expect("the plugin's operation is registered");
    assert_eq!(counted["words"], 3, "{counted}");
    f.write(&base());
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["operations"]["removed"]), ["wc"], "{plan}");
    let gone = f.client.call("wc.count", json!({"text": "a"})).await;
    assert!(
        matches!(gone, Err(ClientError::Status { status: 404, .. })),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_host_keeps_per_child_follows_the_reload() {
    let f = Fixture::start(&base()).await;
    let wasm = f.dir().join("watched.wasm");
    let bytes = std::fs::read(plugin("counter")).expect("read counter");
    std::fs::write(&wasm, &bytes).expect("copy counter");
    // A child watching its file.
    let text = format!(
        "{}[[supervisor.root.children]]\nid = \"w\"\nkind = \"component\"\npath = \"watched.wasm\"\nwatch = true\n",
        base()
    );
    f.write(&text);
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["added"]), ["root/w"], "{plan}");
    assert_eq!(f.send("root/w", "add 2").await, "2");
    // The watcher follows the new config: saving the file hot-reloads `w`,
    // state kept.
    std::fs::write(&wasm, crate::support::variant(&bytes, "v2")).expect("save a new version");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let versions = f
            .client
            .call("child.versions", json!({"path": "root/w"}))
            .await
            .expect("root/w has versions: it is in the program table");
        if versions["current"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new child's file is not watched: {versions}\n{}",
            f.host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        f.send("root/w", "get").await,
        "2",
        "state kept across the hot reload"
    );
    // A removed child's history goes with it.
    f.write(&config_text("one_for_one", &counter("keep", "")));
    f.reload(false).await;
    let gone = f
        .client
        .call("child.versions", json!({"path": "root/w"}))
        .await;
    assert!(
        matches!(gone, Err(ClientError::Status { status: 404, .. })),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reloads_at_once_do_not_interleave() {
    let f = Fixture::start(&base()).await;
    f.write(&format!("{}{}", base(), counter("b", "")));
    let (one, two) = tokio::join!(f.reload(false), f.reload(false));
    let mut added: Vec<Vec<&str>> = vec![paths(&one["added"]), paths(&two["added"])];
    added.sort();
    assert_eq!(
        added,
        [vec![], vec!["root/b"]],
        "the second reload plans from the config the first applied:\n{one}\n{two}"
    );
    assert_eq!(f.children().await, ["root/keep", "root/a", "root/b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_supervisor_changes_child_by_child_or_restarts_whole() {
    let nested = |children: &str, restart: &str| {
        format!(
            "{}[[supervisor.root.children]]\nid = \"inner\"\nkind = \"supervisor\"\n\
             supervisor = \"inner\"\n{restart}\n[supervisor.inner]\nstrategy = \"one_for_one\"\n\n{}",
            base(),
            children.replace("supervisor.root.children", "supervisor.inner.children")
        )
    };
    let f = Fixture::start(&nested(&counter("c", ""), "")).await;
    assert_eq!(f.send("root/inner/c", "add 7").await, "7");
    let c = f.generation("root/inner/c").await;
    let inner = f.generation("root/inner").await;
    f.write(&nested(
        &format!("{}{}", counter("c", ""), counter("d", "")),
        "",
    ));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["added"]), ["root/inner/d"], "{plan}");
    assert_eq!(f.send("root/inner/d", "inc").await, "1");
    assert_eq!(f.generation("root/inner/c").await, c);
    assert_eq!(
        f.generation("root/inner").await,
        inner,
        "the supervisor kept running"
    );
    assert_eq!(f.send("root/inner/c", "get").await, "7");

    // Its own spec changed: the whole subtree restarts, the rest stays.
    let keep = f.generation("root/keep").await;
    f.write(&nested(
        &format!("{}{}", counter("c", ""), counter("d", "")),
        "restart = \"transient\"",
    ));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["changed"]), ["root/inner"], "{plan}");
    assert_ne!(f.generation("root/inner").await, inner);
    assert_eq!(
        f.send("root/inner/c", "get").await,
        "0",
        "restarted with its supervisor"
    );
    assert_eq!(f.send("root/inner/d", "get").await, "0");
    assert_eq!(f.generation("root/keep").await, keep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_pooling_a_memory_limit_above_the_slots_is_refused() {
    let pooled = base().replace("[host]\n", "[host]\npooling_instances = 8\n");
    let f = Fixture::start(&pooled).await;
    f.write(&pooled.replace("memory_mb = 32", "memory_mb = 512"));
    let (status, kind, message) = f.refused().await;
    assert_eq!(
        (status, kind.as_str()),
        (422, "invalid_config"),
        "{message}"
    );
    assert!(message.contains("host.pooling_instances"), "{message}");
    assert!(message.contains("restart it"), "{message}");
    // Within the slots, the same change applies.
    f.write(&pooled.replace("memory_mb = 32", "memory_mb = 48"));
    let plan = f.reload(false).await;
    assert_eq!(paths(&plan["changed"]), ["root/a"], "{plan}");
    assert_eq!(f.send("root/a", "inc").await, "1");
}
