//! Shared test support: building the guest plugins once per test process
//! and running the `warden` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use warden::component::{Metering, Prepared, Runtime, RuntimeConfig};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Builds every plugin in `plugins/` for wasm32-wasip2 (once per process;
/// cargo's own lock serialises concurrent test processes, and a second
/// build with nothing changed is a no-op) and returns the output dir.
pub fn plugins_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
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

/// A runtime for tests (no disk cache unless a test asks).
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// Compiles and links a plugin.
pub fn prepare(runtime: &Runtime, name: &str, metering: Metering) -> Prepared {
    let bytes = std::fs::read(plugin(name)).expect("read plugin");
    runtime.prepare(&bytes, metering).expect("prepare plugin")
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

fn test_cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `warden.toml` with `body` in a fresh directory. `{dir}` becomes that
/// directory and `{counter}`-style names the paths of built plugins.
pub fn config_file(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = body.replace("{dir}", dir.path().to_str().expect("utf-8 temp path"));
    for name in ["counter", "echo", "kv", "trap_init", "wrong_world"] {
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
pub async fn start_host(body: &str) -> (tempfile::TempDir, warden::tree::Host) {
    let (dir, path) = config_file(body);
    let config = warden::config::load(&path).expect("valid config");
    let host = warden::tree::Host::start(&config, warden::events::EventBus::default())
        .await
        .expect("host starts");
    (dir, host)
}
