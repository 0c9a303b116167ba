//! Shared test support: building the guest plugins once per test process,
//! running the `warden` binary (one-shot, or as a `warden run` host with
//! [`HostProcess`]), and the demo tree the API tests run against.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use warden::component::{Metering, Prepared, Runtime, RuntimeConfig};
use warden::events::{EventKind, Received};
use warden::reload::ReloadOutcome;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host/warden/ is two levels below the root")
        .to_path_buf()
}

/// Builds every plugin in `plugins/` for wasm32-wasip2 (once per process;
/// cargo's own lock serialises concurrent test processes, and a second
/// build with nothing changed is a no-op) and returns the output dir.
pub fn plugins_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    use_warden_as_compiler();
    DIR.get_or_init(|| {
        let root = repo_root();
        let target_dir = root.join("plugins/target");
        ensure_wasm_target();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root.join("plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            // Flags meant for the host build must not leak into the guests'.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .expect("run cargo to build the plugins");
        assert!(status.success(), "building plugins/ failed");
        target_dir.join("wasm32-wasip2/release")
    })
}

/// Whether a check that needs `tool`, installed outside cargo by
/// `scripts/setup.sh` (chromium, a pinned python package), may run.
///
/// With the tool there: yes. Without it the check is skipped, with a note on
/// stderr naming what is missing (`why`), so that `cargo test --workspace`
/// passes on a fresh clone that never ran the setup script — unless
/// `WARDEN_REQUIRE_TOOLS=1` (`.ci/run` sets it after running the script),
/// where a missing tool fails the test: CI never passes by skipping.
pub fn tool_present(test: &str, tool: &str, present: Result<(), String>) -> bool {
    let Err(why) = present else {
        return true;
    };
    let required = std::env::var("WARDEN_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test} needs {tool} ({why}): run scripts/setup.sh (WARDEN_REQUIRE_TOOLS=1 turns this skip into a failure)"
    );
    eprintln!("SKIPPED {test}: needs {tool} ({why}); scripts/setup.sh installs it");
    false
}

/// Installs the wasm32-wasip2 target when rustup is there and it is missing,
/// so a plain `cargo test` works on a fresh machine.
fn ensure_wasm_target() {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    if !String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        let _ = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status();
    }
}

/// Path of a built plugin, e.g. `plugin("counter")`.
pub fn plugin(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "plugin {name} was not built: {}",
        path.display()
    );
    path
}

/// Makes the `warden` binary the compile child of every runtime in this
/// test process (the test binary itself cannot serve `__compile`). Called
/// by the helpers below, so any test that builds a plugin, a runtime or a
/// config has it.
pub fn use_warden_as_compiler() {
    warden::component::set_compiler_program(env!("CARGO_BIN_EXE_warden"));
}

/// A runtime for tests (no disk cache unless a test asks).
pub fn runtime() -> Runtime {
    use_warden_as_compiler();
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// Compiles and links a plugin this repository built (in-process: the
/// test's own bytes are trusted).
pub fn prepare(runtime: &Runtime, name: &str, metering: Metering) -> Prepared {
    let bytes = std::fs::read(plugin(name)).expect("read plugin");
    runtime
        .prepare_own(&bytes, metering)
        .expect("prepare plugin")
}

/// Runs the `warden` binary with `args` and an isolated compile cache.
pub fn warden(args: &[&str]) -> Output {
    warden_cmd(args).output().expect("run warden")
}

pub fn warden_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(args).env("WARDEN_CACHE_DIR", test_cache_dir());
    cmd
}

/// The compile cache of the `warden` processes this test process starts:
/// cold at its start, like a fresh machine's, and shared by its tests.
fn test_cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| per_process_dir("warden-cli-cache"))
}

/// `target/tmp/NAME/PID`, new and empty, for state a test process keeps
/// until it exits.
///
/// A static is never dropped, so a `TempDir` in one would stay in `/tmp`
/// after every run. Instead each process removes the dirs its dead
/// predecessors left under `NAME` (a run killed midway included), so at
/// most one run's worth stays behind, inside `target/`.
pub fn per_process_dir(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let alive = entry
                .file_name()
                .to_str()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = root.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A root of `strategy` over two native workers, `steady` and `flaky`
/// (failing in a loop once the file `fail` exists, 400 ms backoff), with
/// the health monitor ticking every 100 ms: health changes on demand.
pub fn flapping_tree(strategy: &str, fail: &Path) -> String {
    format!(
        r#"
[host]
state_dir = "state"
api_addr = "127.0.0.1:0"
[host.policy]
allow_commands = ["/bin/sh", "sleep"]
[host.monitor]
interval_ms = 50

[health]
interval_ms = 100

[supervisor.root]
strategy = "{strategy}"
intensity = 1000
period_ms = 60000

[[supervisor.root.children]]
id = "steady"
kind = "process"
command = "sleep"
args = ["600"]

[[supervisor.root.children]]
id = "flaky"
kind = "process"
command = "/bin/sh"
args = ["-c", "while [ ! -e {fail} ]; do sleep 0.05; done; exit 1"]
backoff = {{ initial_ms = 400, max_ms = 400 }}
"#,
        fail = fail.display()
    )
}

/// A `warden.toml` with `body` in a fresh directory. `{dir}` becomes that
/// directory and `{counter}`-style names the paths of built plugins.
pub fn config_file(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = body.replace("{dir}", dir.path().to_str().expect("utf-8 temp path"));
    for name in [
        "counter",
        "echo",
        "kv",
        "trap_init",
        "wordcount",
        "wrong_world",
    ] {
        let key = format!("{{{name}}}");
        if text.contains(&key) {
            text = text.replace(&key, plugin(name).to_str().expect("utf-8 plugin path"));
        }
    }
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Starts a host from `config_file(body)`.
pub async fn start_host(body: &str) -> (tempfile::TempDir, warden::host::Host) {
    let (dir, path) = config_file(body);
    let config = warden::config::load(&path).expect("valid config");
    let host = warden::host::Host::start(&config, warden::events::EventBus::default())
        .await
        .expect("host starts");
    (dir, host)
}

/// The same component with one more custom section: still valid, same
/// behaviour, a different content hash (so a different version).
pub fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    warden::component::with_custom_section(component, "warden-test", tag.as_bytes())
}

/// Sends `kill -NAME` (`"INT"`, `"TERM"`, …) to `pid`, asserting it was
/// delivered.
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{name} {pid}");
}

/// The demo's tree (`examples/warden.toml`) after its `[host]` table: the
/// `counter` and `echo` components, the native `ticker` worker, the nested
/// `storage` supervisor with `kv`, and the `wc` operation plugin. Paths
/// are relative to the config, as [`write_tree_config`] lays them out.
const DEMO_TREE: &str = r#"
[host.policy]
allow_commands = ["/bin/sh"]
allow_cwds = ["data"]

[supervisor.root]
strategy = "one_for_one"
intensity = 20
period_ms = 10000

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"
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

[operations.wc]
path = "wc.wasm"
limits = { fuel = 50000000, memory_mb = 16, timeout_ms = 2000 }
"#;

/// The built-in operations whose documented examples, posted in this
/// order, apply to the demo tree and leave it whole. The `snapshot.*`
/// examples name an id no host has: [`with_snapshot_id`] puts in the one
/// `child.snapshot`'s example just stored.
pub const KEEPING_EXAMPLES: &[&str] = &[
    "supervisors.list",
    "tree",
    "health",
    "child.info",
    "child.send",
    "child.snapshot",
    "child.restore",
    "snapshot.list",
    "snapshot.get",
    "snapshot.diff",
    "snapshot.delete",
    "child.versions",
    "child.reload",
    "ps",
    "events.recent",
    "logs.tail",
    "trace.start",
    "trace.get",
    "trace.list",
    "trace.stop",
    // root/counter joins `ingest`; the rollout restarts it and is stopped
    // while it waits out its settle time (rollout.start's example is the
    // host's first rollout, `r1`, which the other examples name).
    "group.join",
    "group.list",
    "group.members",
    "group.health",
    "group.broadcast",
    "rollout.start",
    "rollout.list",
    "rollout.status",
    "rollout.abort",
    "group.leave",
    "audit.recent",
    "supervisor.strategy",
    "supervisor.storm",
    "plugin.reload",
    "config.reload",
];

/// `example` of the operation `name` with every snapshot id it names
/// (`id`, `a`, `b`) replaced by `id`, for `snapshot.*`; others as they are.
pub fn with_snapshot_id(name: &str, mut example: serde_json::Value, id: &str) -> serde_json::Value {
    if name.starts_with("snapshot.") {
        for key in ["id", "a", "b"] {
            if example.get(key).is_some() {
                example[key] = serde_json::Value::from(id);
            }
        }
    }
    example
}

/// The built-in operations whose documented examples change
/// `root/counter` (all of them name it), in an order where each applies;
/// before `child.delete`'s the child must be terminated again (the one
/// before it, `child.start`, started it), and after `child.kill`'s and
/// `child.fault`'s it must be waited for.
pub const CHANGING_EXAMPLES: &[&str] = &[
    "child.rollback",
    "child.restart",
    "child.kill",
    "child.fault",
    "child.terminate",
    "child.start",
    "child.delete",
];

/// The demo tree's config text, its state in `state/` beside the config,
/// its API on a free loopback port (unless `host` sets `api_addr`), and
/// `host` (more keys and subtables of `[host]`, or nothing, or an `[api]`
/// table) added. API callers may name host paths under
/// [`test_path_roots`] ([`with_test_path_roots`]).
pub fn demo_tree(host: &str) -> String {
    // A free port unless the test names one: two hosts on the default
    // (7878) would refuse each other's start when their tests overlap.
    let addr = if host.contains("api_addr") {
        ""
    } else {
        "api_addr = \"127.0.0.1:0\"\n"
    };
    with_test_path_roots(&format!(
        "[host]\nstate_dir = \"state\"\n{addr}{host}\n{DEMO_TREE}"
    ))
}

/// `config` with `path_roots = `[`test_path_roots`] in its `[api]` table
/// (added at the end when it has none).
pub fn with_test_path_roots(config: &str) -> String {
    let roots = format!("path_roots = {}", test_path_roots());
    if config.contains("[api]\n") {
        config.replacen("[api]\n", &format!("[api]\n{roots}\n"), 1)
    } else {
        format!("{config}\n[api]\n{roots}\n")
    }
}

/// The `[api] path_roots` value the demo tree gets: the config's own
/// folder, the built plugins and the example exercises, so the tests'
/// calls of `component.call` and `grade` may name them.
pub fn test_path_roots() -> String {
    let roots = [
        ".".to_string(),
        plugins_dir().display().to_string(),
        repo_root().join("examples").display().to_string(),
    ];
    serde_json::to_string(&roots).expect("paths as JSON strings are TOML strings")
}

/// Writes `body` (a [`demo_tree`], possibly changed, or a tree naming the
/// same files) as `dir/warden.toml` with `{echo}`/`{kv}` replaced by the
/// built plugins, `counter.wasm` and `wc.wasm` (`wordcount`) copied beside
/// it so tests can replace them, and `data/`. Returns the config's path.
pub fn write_tree_config(dir: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).expect("create data/");
    std::fs::copy(plugin("counter"), dir.join("counter.wasm")).expect("copy counter");
    std::fs::copy(plugin("wordcount"), dir.join("wc.wasm")).expect("copy wordcount");
    let text = body
        .replace(
            "{echo}",
            plugin("echo").to_str().expect("utf-8 plugin path"),
        )
        .replace("{kv}", plugin("kv").to_str().expect("utf-8 plugin path"));
    let path = dir.join("warden.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A `warden run CONFIG` process, run from the repository root (so the
/// operations' documented examples, whose paths are relative to it, work)
/// with its stderr in `host.log` beside the config. Stopped with SIGTERM,
/// then SIGKILL, when dropped.
pub struct HostProcess {
    process: Child,
    config_dir: PathBuf,
    state_dir: PathBuf,
    log_file: PathBuf,
    url: String,
    /// The directory [`Self::start_tree`] made (removed after the process
    /// stops: `Drop` runs before the fields go).
    _temp: Option<tempfile::TempDir>,
}

impl HostProcess {
    /// [`Self::start`] of `body` written by [`write_tree_config`] into a
    /// fresh directory it owns ([`Self::dir`]), state in `state/` there.
    pub fn start_tree(body: &str, env: &[(&str, &str)]) -> HostProcess {
        let temp = tempfile::tempdir().expect("tempdir");
        let config = write_tree_config(temp.path(), body);
        let mut host = HostProcess::start(&config, &temp.path().join("state"), env);
        host._temp = Some(temp);
        host
    }

    /// [`Self::spawn`], then [`Self::wait_ready`]; the host must listen on
    /// `127.0.0.1`.
    pub fn start(config: &Path, state_dir: &Path, env: &[(&str, &str)]) -> HostProcess {
        let mut host = HostProcess::spawn(config, state_dir, env);
        host.wait_ready();
        assert!(host.url.starts_with("http://127.0.0.1:"), "{}", host.url);
        host
    }

    /// Starts `warden run CONFIG` whose state dir is `state_dir`, without
    /// waiting for it. `WARDEN_TOKEN` is removed from its environment (the
    /// token is the config's) unless `env` sets it.
    pub fn spawn(config: &Path, state_dir: &Path, env: &[(&str, &str)]) -> HostProcess {
        let log_file = config.with_file_name("host.log");
        let log = std::fs::File::create(&log_file).expect("create host.log");
        let mut cmd = warden_cmd(&["run", config.to_str().expect("utf-8 config path")]);
        cmd.current_dir(repo_root())
            .env_remove("WARDEN_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log);
        HostProcess {
            process: cmd.spawn().expect("start warden run"),
            config_dir: config
                .parent()
                .expect("config in a directory")
                .to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            log_file,
            url: String::new(),
            _temp: None,
        }
    }

    /// Waits (60 s at most) for the address the host writes to
    /// `STATE_DIR/api.addr`; panics with the log if it exits first.
    pub fn wait_ready(&mut self) -> &str {
        let addr_file = self.addr_file();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && text.ends_with('\n')
            {
                self.url = text.trim().to_string();
                break;
            }
            if let Some(status) = self.process.try_wait().expect("poll warden run") {
                panic!("warden run exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no {} after 60 s:\n{}",
                addr_file.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(self.url.starts_with("http://"), "{}", self.url);
        &self.url
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The API's base URL, `http://HOST:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `HOST:PORT`.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The config's directory.
    pub fn dir(&self) -> &Path {
        &self.config_dir
    }

    pub fn addr_file(&self) -> PathBuf {
        self.state_dir.join("api.addr")
    }

    /// `warden ctl --addr URL ARGS…` against this host, with no token or
    /// address taken from the environment.
    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl_cmd(self.url(), args).output().expect("run warden ctl")
    }

    /// [`Self::ctl`], asserting exit 0 (the host's log in the failure); its
    /// stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "warden ctl {args:?}\nstdout: {}\nstderr: {}\nhost log:\n{}",
            stdout(&out),
            stderr(&out),
            self.log()
        );
        stdout(&out)
    }

    /// What the host printed on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// An API client for [`Self::url`].
    pub fn client(&self, token: Option<&str>) -> warden::api::client::ApiClient {
        warden::api::client::ApiClient::new(&self.url, token.map(str::to_string))
            .expect("API client")
    }

    /// Waits `limit` at most for the host to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        self.exit_within(limit)
            .unwrap_or_else(|| panic!("warden run did not exit in {limit:?}:\n{}", self.log()))
    }

    /// SIGTERM; the exit status (within 15 s).
    pub fn terminate(&mut self) -> ExitStatus {
        self.stop_with("TERM", Duration::from_secs(15))
    }

    /// SIGINT, as Ctrl-C would; the exit status (within 20 s).
    pub fn interrupt(&mut self) -> ExitStatus {
        self.stop_with("INT", Duration::from_secs(20))
    }

    fn stop_with(&mut self, name: &str, limit: Duration) -> ExitStatus {
        if let Ok(Some(status)) = self.process.try_wait() {
            return status;
        }
        signal(self.process.id(), name);
        self.exit_within(limit).unwrap_or_else(|| {
            panic!(
                "warden run did not stop within {limit:?} of SIG{name}:\n{}",
                self.log()
            )
        })
    }

    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            // No panic here: Drop uses this too.
            match self.process.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(_) => return None,
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if !matches!(self.process.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status();
        if self.exit_within(Duration::from_secs(15)).is_none() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// A cargo command for guest builds, without the host build's flags.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    cmd
}

/// Builds the crate in `dir` for wasm32-wasip2 (release) and returns its
/// component. The target dir is the repository's plugins/target, whose
/// dependencies (same profile, same stack flag) are then reused.
pub fn build_guest(dir: &Path, crate_name: &str) -> PathBuf {
    // Installs the wasm32-wasip2 target when missing, and builds the
    // shared dependencies once.
    let release = plugins_dir();
    let out = cargo()
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(repo_root().join("plugins/target"))
        .current_dir(dir)
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        dir.display(),
        stderr(&out)
    );
    let wasm = release.join(format!("{crate_name}.wasm"));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}

/// A scratch directory outside the repository.
pub fn outside_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(
        !dir.path().starts_with(repo_root()),
        "the temp dir must lie outside the repository"
    );
    dir
}

/// `warden ctl --addr BASE ARGS…`, with no token or address taken from the
/// environment.
pub fn ctl_cmd(base: &str, args: &[&str]) -> Command {
    let mut all = vec!["ctl", "--addr", base];
    all.extend_from_slice(args);
    let mut cmd = warden_cmd(&all);
    cmd.env_remove("WARDEN_TOKEN").env_remove("WARDEN_ADDR");
    cmd
}

/// A nats-server with JetStream (file storage) for one test; killed on drop.
pub struct NatsServer {
    process: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    log: PathBuf,
    config: Option<PathBuf>,
}

impl NatsServer {
    pub fn start() -> Self {
        Self::start_with_config(None)
    }

    /// [`Self::start`] with `config` (a nats-server config text, e.g. an
    /// `authorization` block) given with `-c`.
    pub fn start_with_config(config: Option<&str>) -> Self {
        let found = Command::new("nats-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the fleet tests need nats-server (with JetStream) on PATH: run scripts/setup.sh"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store = tempfile::tempdir().expect("tempdir");
        let log = store.path().join("nats.log");
        let config = config.map(|text| {
            let path = store.path().join("nats.conf");
            std::fs::write(&path, text).expect("write nats.conf");
            path
        });
        let mut server = Self {
            process: None,
            port,
            store,
            log,
            config,
        };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("nats log");
        let mut command = Command::new("nats-server");
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path().join("js"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it as an operator would (SIGTERM: its file store is flushed)
    /// and starts it again on the same port and store.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.process.take() {
            signal(child.id(), "TERM");
            let _ = child.wait();
        }
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
/// A host with one component child `root/counter` whose file is a copy
/// (tests overwrite it) of `plugin_name`.
pub struct CopiedChild {
    pub dir: tempfile::TempDir,
    pub host: warden::host::Host,
    pub events: warden::events::EventStream,
}

impl CopiedChild {
    pub async fn start(plugin_name: &str, extra: &str) -> CopiedChild {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(plugin(plugin_name), dir.path().join("counter.wasm")).unwrap();
        let text = format!(
            r#"
[host]
state_dir = "state"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"
{extra}
"#
        );
        let path = dir.path().join("warden.toml");
        std::fs::write(&path, text).unwrap();
        let config = warden::config::load(&path).expect("valid config");
        let bus = warden::events::EventBus::default();
        let events = bus.subscribe();
        let host = warden::host::Host::start(&config, bus)
            .await
            .expect("host starts");
        CopiedChild { dir, host, events }
    }

    pub fn file(&self) -> PathBuf {
        self.dir.path().join("counter.wasm")
    }

    pub fn write(&self, bytes: &[u8]) {
        std::fs::write(self.file(), bytes).unwrap();
    }

    pub async fn call(&self, msg: &str) -> String {
        let reply = self
            .host
            .router
            .call("root/counter", msg.as_bytes().to_vec())
            .await
            .unwrap_or_else(|e| panic!("{msg}: {e}"));
        String::from_utf8(reply).unwrap()
    }

    pub async fn reload(&self) -> ReloadOutcome {
        self.host.reload("root/counter").await.expect("reloadable")
    }

    /// The next event matching `pick`, within 10 s.
    pub async fn event<T>(&mut self, mut pick: impl FnMut(&EventKind) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("event in time");
            if let Some(Received::Event(e)) = got
                && let Some(t) = pick(&e.kind)
            {
                return t;
            }
        }
    }

    /// Every event so far, without waiting.
    pub fn drain(&mut self) -> Vec<EventKind> {
        let mut out = Vec::new();
        while let Some(r) = self.events.try_recv() {
            if let Received::Event(e) = r {
                out.push(e.kind);
            }
        }
        out
    }
}
