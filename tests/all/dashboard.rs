//! The dashboard in a real browser: a `warden run` host with a demo-like
//! tree, Debian's headless Chromium driven by `tests/browser/dashboard.mjs`
//! (playwright-core): the page loads, shows `root/counter`, Restart gives it
//! a new generation, Kill makes its supervisor restart it and the restart
//! count shown goes up, Reload swaps in the new version written meanwhile
//! and shows its result and history, all live and without a console error.
//! With `WARDEN_UPDATE_SCREENSHOT=1` the screenshot it takes becomes the
//! README's `docs/dashboard.png` (not on every run: it would dirty the tree).
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/browser/node_modules`:
//! `scripts/setup.sh` installs them. Without them the test fails and says
//! so; it never skips.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{config_file, plugin, repo_root, warden_cmd};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A tree like the demo's: two components, a native worker, a nested
/// supervisor with a component.
const CONFIG: &str = r#"
[host]
state_dir = "{dir}/state"
api_addr = "127.0.0.1:0"

[host.policy]
allow_commands = ["/bin/sh"]
allow_cwds = ["data"]

[host.monitor]
interval_ms = 250

[supervisor.root]
strategy = "one_for_one"
intensity = 5
period_ms = 10000

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "{dir}/counter.wasm"
limits = { memory_mb = 32, timeout_ms = 1000 }
send_to = ["echo"]
backoff = { initial_ms = 10, max_ms = 2000 }

[[supervisor.root.children]]
id = "echo"
kind = "component"
path = "{echo}"

[[supervisor.root.children]]
id = "ticker"
kind = "process"
command = "/bin/sh"
args = ["-c", "echo ready; while true; do echo tick; sleep 5; done"]
cwd = "data"
limits = { memory_mb = 64, open_files = 64 }
readiness = { line = "ready", timeout_ms = 5000 }
shutdown = 1000

[[supervisor.root.children]]
id = "storage"
kind = "supervisor"
supervisor = "storage"

[supervisor.storage]
strategy = "rest_for_one"

[[supervisor.storage.children]]
id = "kv"
kind = "component"
path = "{kv}"
dirs = [{ host = "data", guest = "/data", writable = true }]
"#;

#[test]
fn restart_and_kill_from_the_dashboard_update_it_live() {
    let (dir, config) = config_file(CONFIG);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let counter_file = dir.path().join("counter.wasm");
    std::fs::copy(plugin("counter"), &counter_file).unwrap();
    let host = Host::start(&config, &dir.path().join("state/api.addr"));
    // A new version on disk (not watched): the dashboard's Reload swaps it in.
    std::fs::copy(plugin("counter_v2"), &counter_file).unwrap();

    let shot_dir = tempfile::tempdir().unwrap();
    let shot = shot_dir.path().join("dashboard.png");
    // What the script saw, beyond its own checks.
    let report = browse(&host, &shot, &[]);
    let before = report["restarts_before"].as_u64().unwrap();
    let after = report["restarts_after"].as_u64().unwrap();
    assert!(after > before, "restarts shown went {before} -> {after}");
    assert!(
        report["generation_after_restart"].as_u64() > report["generation_before"].as_u64(),
        "{report}"
    );
    assert!(
        report["kill_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("killed generation")),
        "{report}"
    );
    assert!(
        report["reload_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("reloaded to version 2")),
        "{report}"
    );
    assert_eq!(report["tree_children"], 6, "root and its five descendants");

    // The host saw the same: the supervisor restarted the killed child once.
    let tree = host.call("tree");
    let counter = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "root/counter")
        .expect("root/counter in the tree")
        .clone();
    assert_eq!(counter["restarts"].as_u64(), Some(after), "{counter}");
    let v2_hash = counter["info"]["hash"].as_str().unwrap();
    assert!(
        report["version_shown"]
            .as_str()
            .and_then(|v| v.split_once(" · "))
            .is_some_and(|(v, hash)| v == "v2" && hash.len() >= 8 && v2_hash.starts_with(hash)),
        "the row shows the new version: {report} vs {v2_hash}"
    );

    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(png.len() > 20_000, "a real page, not a blank one");
    if std::env::var_os("WARDEN_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = repo_root().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("dashboard.png"), &png).unwrap();
    }
    host.stop();
}

#[test]
fn the_dashboard_asks_for_the_token_the_host_wants_and_shows_errors() {
    const TOKEN: &str = "dashboard-test-token";
    let body = CONFIG.replace(
        "api_addr = \"127.0.0.1:0\"",
        &format!("api_addr = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\""),
    );
    let (dir, config) = config_file(&body);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::copy(plugin("counter"), dir.path().join("counter.wasm")).unwrap();
    let host = Host::start(&config, &dir.path().join("state/api.addr"));
    // Not a component: the dashboard's Reload must show why it failed.
    std::fs::write(dir.path().join("counter.wasm"), b"not wasm").unwrap();
    let shot_dir = tempfile::tempdir().unwrap();
    let report = browse(
        &host,
        &shot_dir.path().join("token.png"),
        &[&format!("--token={TOKEN}"), "--reload-fails"],
    );
    assert_eq!(report["token_accepted"], true, "{report}");
    let before = report["restarts_before"].as_u64().unwrap();
    assert!(
        report["restarts_after"].as_u64().unwrap() > before,
        "{report}"
    );
    let reload = report["reload_result"].as_str().unwrap_or_default();
    assert!(
        reload.contains("compile"),
        "the error names the stage: {report}"
    );
    assert!(
        report["version_shown"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1 · ")),
        "the old version keeps serving: {report}"
    );
    host.stop();
}

/// Runs `tests/browser/dashboard.mjs` against `host` (with the script's
/// `flags`), asserts it passed, and returns its JSON report.
fn browse(host: &Host, shot: &Path, flags: &[&str]) -> serde_json::Value {
    let browser_dir = repo_root().join("tests/browser");
    let node = check_prerequisites(&browser_dir);
    let mut browser = Command::new(&node);
    browser
        .arg(browser_dir.join("dashboard.mjs"))
        .args(flags)
        .arg(&host.url)
        .arg(shot)
        .arg("root/counter")
        .current_dir(&browser_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, stdout, stderr) = run_with_timeout(browser, Duration::from_secs(150));
    let failure_copy = repo_root().join(format!(
        "target/dashboard-failure-{}",
        shot.file_name().unwrap().to_string_lossy()
    ));
    if !status.success() && shot.exists() {
        let _ = std::fs::copy(shot, &failure_copy);
    }
    assert!(
        status.success(),
        "the browser test failed ({status}); screenshot (if any) at {}\n\
         --- node stdout\n{stdout}\n--- node stderr\n{stderr}\n--- warden log\n{}",
        failure_copy.display(),
        host.log()
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("the script prints its report"))
            .expect("the report is JSON");
    assert_eq!(report["ok"], true, "{report}");
    report
}

/// `node`, after checking that Chromium, node and playwright-core are there;
/// panics naming `scripts/setup.sh` otherwise.
fn check_prerequisites(browser_dir: &Path) -> PathBuf {
    let setup = "run scripts/setup.sh (as root) to install them";
    assert!(
        Path::new(CHROMIUM).exists(),
        "the dashboard test needs Debian's chromium at {CHROMIUM}: {setup}"
    );
    let node = PathBuf::from("node");
    let version = Command::new(&node).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "the dashboard test needs node on PATH ({version:?}): {setup}"
    );
    assert!(
        browser_dir
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "the dashboard test needs playwright-core in {}/node_modules: {setup}",
        browser_dir.display()
    );
    node
}

/// Runs `cmd` to completion, killing it after `limit`; returns its status
/// and output.
fn run_with_timeout(
    mut cmd: Command,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut child = cmd.spawn().expect("start node");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let err = stderr.join().unwrap();
            panic!("the browser test took more than {limit:?} ({status}); stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

fn drain(pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(pipe), &mut text);
        text
    })
}

/// A `warden run` process, killed when dropped.
struct Host {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Host {
    /// Starts `warden run CONFIG` and waits for the address it writes to
    /// `addr_file`.
    fn start(config: &Path, addr_file: &Path) -> Host {
        let mut child = warden_cmd(&["run", config.to_str().unwrap()])
            // The token is the config's, or none.
            .env_remove("WARDEN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start warden run");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut host = Host {
            child,
            url: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(addr_file)
                && text.ends_with('\n')
            {
                host.url = text.trim().to_string();
                break;
            }
            if let Some(status) = host.child.try_wait().unwrap() {
                panic!("warden run exited ({status}):\n{}", host.log());
            }
            assert!(
                Instant::now() < deadline,
                "no {} after 60 s:\n{}",
                addr_file.display(),
                host.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(host.url.starts_with("http://127.0.0.1:"), "{}", host.url);
        host
    }

    /// Calls an operation with the API client (`{}` params).
    fn call(&self, op: &str) -> serde_json::Value {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = warden::api::client::ApiClient::new(&self.url, None).unwrap();
            client.call(op, serde_json::json!({})).await.unwrap()
        })
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGINT, as Ctrl-C would, and a clean exit.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "warden run did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}:\n{}", self.log());
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
