//! `warden dev`: the plugin dev loop against the real binary and a real
//! plugin crate written outside the repository (depending on the SDK by
//! path), rebuilt by cargo on every save. The host it runs serves its API
//! (state can be checked after a reload), a save reloads each child once
//! (a `watch = true` child by the host's own watcher, the others by the
//! loop), each step's time is printed, and a save that does not build or
//! does not start leaves the running version serving. `--no-probation`
//! keeps a new version that traps right after its swap.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{plugins_dir, repo_root, signal, warden_cmd};

/// The probe actor: counts `inc`s and answers every message with
/// `TAG:COUNT`, traps on `boom`; `INIT` is its `init` body.
fn probe_source(tag: &str, init: &str) -> String {
    format!(
        r#"use serde::{{Deserialize, Serialize}};
use warden_sdk::Actor;

#[derive(Default, Serialize, Deserialize)]
struct Probe {{
    count: u64,
}}

impl Actor for Probe {{
    fn init(_config: &str) -> Result<Self, String> {{
        {init}
    }}

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {{
        assert!(message != b"boom", "boom");
        if message == b"inc" {{
            self.count += 1;
        }}
        Ok(format!("{tag}:{{}}", self.count).into_bytes())
    }}
}}

warden_sdk::export_actor!(Probe);
"#
    )
}

const STARTS: &str = "Ok(Probe::default())";

/// A plugin crate `name` in `dir`, scaffolded as a user would (`warden
/// new plugin`, the SDK by path), then given the probe's source. Its flags
/// and profile are the repository plugins', so cargo reuses their compiled
/// dependencies from the shared target directory.
fn write_crate(dir: &Path, name: &str) {
    let sdk = repo_root().join("sdk");
    let out = warden_cmd(&[
        "new",
        "plugin",
        name,
        "--sdk",
        sdk.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("src/lib.rs"), probe_source("one", STARTS)).unwrap();
}

/// The cargo target directory the repository's plugins are built in.
fn shared_target() -> PathBuf {
    // Built first, so their dependencies are there to reuse.
    plugins_dir();
    repo_root().join("plugins/target")
}

/// `warden dev` with stdout and stderr in files; SIGKILLed when dropped.
struct Dev {
    process: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Dev {
    fn out(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn err(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits (up to `limit`) until stdout holds `n` lines containing
    /// `needle`; the output then.
    fn wait_out(&mut self, needle: &str, n: usize, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.out();
            if out.lines().filter(|l| l.contains(needle)).count() >= n {
                return out;
            }
            if let Some(status) = self.process.try_wait().unwrap() {
                panic!("warden dev exited ({status}):\n{out}\n{}", self.err());
            }
            assert!(
                Instant::now() < deadline,
                "no {n}× `{needle}` after {limit:?}:\n{out}\n{}",
                self.err()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_err(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.err().contains(needle) {
            if let Some(status) = self.process.try_wait().unwrap() {
                panic!("warden dev exited ({status}):\n{}", self.err());
            }
            assert!(
                Instant::now() < deadline,
                "no `{needle}` after {limit:?}:\n{}",
                self.err()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn call(url: &str, op: &str, params: Value) -> Value {
    warden::api::client::ApiClient::new(url, None)
        .unwrap()
        .call(op, params)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn reply(url: &str, path: &str, message: &str) -> String {
    let answer = call(url, "child.send", json!({"path": path, "message": message})).await;
    answer["reply"].as_str().unwrap_or_default().to_string()
}

/// The outcomes of `path`'s recorded versions, oldest first.
async fn outcomes(url: &str, path: &str) -> Vec<String> {
    let versions = call(url, "child.versions", json!({"path": path})).await;
    versions["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["outcome"]["outcome"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A probe crate `name` built once, then `warden dev` on it with `flags`,
/// running `children` (TOML) under `root`; the running dev and its API's
/// address. Each test names its crate apart: the target directory is
/// shared, and a test whose component file another test's build rewrote
/// would see a save it never made (its watcher reloads it).
fn start_dev(temp: &Path, name: &str, flags: &[&str], children: &str) -> (Dev, PathBuf, String) {
    let crate_dir = temp.join("probe");
    write_crate(&crate_dir, name);
    let target = shared_target();
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .unwrap();
    assert!(built.success(), "the probe crate builds");
    let wasm = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
    let config = temp.join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[host]\nstate_dir = \"state\"\napi_addr = \"127.0.0.1:0\"\n\n\
             [supervisor.root]\nstrategy = \"one_for_one\"\n{}",
            children.replace("WASM", &wasm.display().to_string())
        ),
    )
    .unwrap();

    let out = temp.join("dev.out");
    let err = temp.join("dev.err");
    let mut args = vec![
        "dev",
        crate_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend(flags);
    let mut cmd = warden_cmd(&args);
    cmd.env("CARGO_TARGET_DIR", &target)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .stdin(Stdio::null());
    let mut dev = Dev {
        process: cmd.spawn().unwrap(),
        out,
        err,
    };

    // It serves: the API answers, and the address is where `warden run`
    // writes it.
    dev.wait_err("dashboard on http://", Duration::from_secs(120));
    let url = std::fs::read_to_string(temp.join("state/api.addr"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        dev.err().contains(&format!("API on {url}")),
        "{}",
        dev.err()
    );
    (dev, crate_dir, url)
}

/// One component child `ID` running the probe, as config.
fn probe_child(id: &str, extra: &str) -> String {
    format!(
        "\n[[supervisor.root.children]]\nid = \"{id}\"\nkind = \"component\"\npath = \"WASM\"\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_the_api_and_reloads_each_child_once_per_save() {
    let temp = tempfile::tempdir().unwrap();
    let children = probe_child("probe", "") + &probe_child("watched", "watch = true\n");
    let (mut dev, crate_dir, url) = start_dev(temp.path(), "dev_probe", &[], &children);
    assert!(
        !dev.err().contains("probation off"),
        "probation stays on by default: {}",
        dev.err()
    );
    for _ in 0..2 {
        reply(&url, "root/probe", "inc").await;
    }
    reply(&url, "root/watched", "inc").await;
    assert_eq!(reply(&url, "root/probe", "get").await, "one:2");

    // A save: rebuilt, each child reloaded once with its state, each
    // step's time printed.
    std::fs::write(crate_dir.join("src/lib.rs"), probe_source("two", STARTS)).unwrap();
    let printed = dev.wait_out("reloaded root/", 2, Duration::from_secs(240));
    let probe_line = printed
        .lines()
        .find(|l| l.starts_with("reloaded root/probe to version 2"))
        .unwrap_or_else(|| panic!("{printed}"));
    for step in ["build ", "→ compile ", "→ swap "] {
        assert!(probe_line.contains(step), "{probe_line}");
    }
    assert!(
        printed.contains("reloaded root/watched to version 2 (watch = true"),
        "{printed}"
    );
    assert_eq!(reply(&url, "root/probe", "get").await, "two:2");
    assert_eq!(reply(&url, "root/watched", "get").await, "two:1");

    // A save that builds but whose init refuses: one failed version for
    // each child (not two for the watched one), the old code serving on.
    std::fs::write(
        crate_dir.join("src/lib.rs"),
        probe_source("three", "Err(\"refused\".to_string())"),
    )
    .unwrap();
    dev.wait_out("failed at", 2, Duration::from_secs(240));
    assert_eq!(reply(&url, "root/probe", "get").await, "two:2");
    assert_eq!(reply(&url, "root/watched", "get").await, "two:1");
    for path in ["root/probe", "root/watched"] {
        let recorded = outcomes(&url, path).await;
        assert_eq!(
            recorded.iter().filter(|o| *o == "failed").count(),
            1,
            "{path}: {recorded:?}\n{}",
            dev.out()
        );
    }

    // A save that does not build: said, and nothing reloads.
    std::fs::write(crate_dir.join("src/lib.rs"), "this is not rust").unwrap();
    dev.wait_err(
        "the running version keeps serving",
        Duration::from_secs(240),
    );
    assert_eq!(reply(&url, "root/probe", "get").await, "two:2");

    // Ctrl-C stops it cleanly, the API address file with it.
    signal(dev.process.id(), "INT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = dev.process.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running:\n{}", dev.err());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}:\n{}", dev.err());
    assert!(dev.err().contains("warden dev: stopped"), "{}", dev.err());
    assert!(!temp.path().join("state/api.addr").exists());
}

/// `--no-probation` says so, and a new version that traps right after its
/// swap is restarted as itself, not rolled back (with probation on, a trap
/// this soon would put the previous version back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_without_probation_keeps_a_version_that_traps_after_its_swap() {
    let temp = tempfile::tempdir().unwrap();
    let (mut dev, crate_dir, url) = start_dev(
        temp.path(),
        "dev_probe_no_probation",
        &["--no-probation"],
        &probe_child("probe", ""),
    );
    assert!(dev.err().contains("probation off"), "{}", dev.err());
    reply(&url, "root/probe", "inc").await;

    std::fs::write(crate_dir.join("src/lib.rs"), probe_source("two", STARTS)).unwrap();
    dev.wait_out(
        "reloaded root/probe to version 2",
        1,
        Duration::from_secs(240),
    );
    assert_eq!(reply(&url, "root/probe", "get").await, "two:1");
    // Within the 5 s a probation would last: the trap restarts version 2.
    let trapped = warden::api::client::ApiClient::new(&url, None)
        .unwrap()
        .call(
            "child.send",
            json!({"path": "root/probe", "message": "boom"}),
        )
        .await;
    assert!(trapped.is_err(), "{trapped:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = warden::api::client::ApiClient::new(&url, None)
            .unwrap()
            .call(
                "child.send",
                json!({"path": "root/probe", "message": "get"}),
            )
            .await;
        if let Ok(answer) = answer {
            break answer["reply"].as_str().unwrap_or_default().to_string();
        }
        assert!(Instant::now() < deadline, "no answer after the trap");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(answer, "two:0", "restarted as version 2, fresh state");
    let recorded = outcomes(&url, "root/probe").await;
    assert!(
        !recorded.iter().any(|o| o == "rolled_back_from"),
        "{recorded:?}\n{}",
        dev.out()
    );
}
