//! `warden dev PLUGIN_CRATE_DIR [--config warden.toml] [--no-probation]`:
//! the plugin dev loop. Runs the host from the config as `warden run` does
//! (the API and dashboard included, so state can be checked after each
//! reload), watches the crate's `src/` and `Cargo.toml`, rebuilds it for
//! wasm32-wasip2 on every save (compiler errors go to the terminal; the
//! running version keeps serving), and hot-reloads every child whose file
//! is the built `.wasm`, once, printing each step's time (build → compile
//! → swap).
//!
//! A child with `watch = true` is reloaded by the host's own watcher when
//! the build rewrites its file; this loop then only reports what that
//! reload did (reloading it here too would record every failed save twice).
//! Probation stays on, as under `warden run`; `--no-probation` turns it off
//! and says so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};
use warden::config;
use warden::events::{EventKind, EventStream, Received, ReloadEvent};
use warden::host::{Host, Running, Shutdown};
use warden::reload::{ReloadOutcome, WatchTarget, Watcher};
use warden_clock::millis;

use super::out::{errln, outln};
use super::run::{failure, forward_signals};
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The plugin's crate (the directory holding its Cargo.toml).
    crate_dir: PathBuf,
    /// The config whose children run the plugin.
    #[arg(long, default_value = "warden.toml")]
    config: PathBuf,
    /// Keep a reloaded version even when it fails right after its swap
    /// (by default, as under `warden run`, it is rolled back).
    #[arg(long)]
    no_probation: bool,
}

/// How long after a build a `watch = true` child's reload may take to
/// begin: the host's watcher debounce, with room to spare. No reload by
/// then means the build left the file as it was.
const WATCHED_START: Duration = Duration::from_secs(2);

/// How long a begun reload of a `watch = true` child may take to end
/// (compiling a large interpreter component takes seconds).
const WATCHED_END: Duration = Duration::from_secs(300);

pub fn run(args: Args) -> CmdResult {
    if !args.crate_dir.join("Cargo.toml").is_file() {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "{} has no Cargo.toml",
            args.crate_dir.display()
        )));
    }
    let config = config::load(&args.config).map_err(Failure::bad_input)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let result = runtime.block_on(dev(args.crate_dir, config, args.no_probation));
    // As `warden run`: a guest that ignores its interrupt is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn dev(crate_dir: PathBuf, config: config::Config, no_probation: bool) -> CmdResult {
    // As `warden run`: SIGINT and SIGTERM are stop requests from the start,
    // and a second one interrupts guests that do not stop.
    let interrupt = signal(SignalKind::interrupt()).map_err(Failure::failed)?;
    let terminate = signal(SignalKind::terminate()).map_err(Failure::failed)?;
    let shutdown = Shutdown::new();
    tokio::spawn(forward_signals(interrupt, terminate, shutdown.clone()));
    // Build once first, so the host starts from the current sources.
    if let Err(e) = build(&crate_dir).await {
        errln!("warden dev: {e}; starting with the files as they are");
    }
    let running = Running::start(&config).await.map_err(failure)?;
    errln!("warden: API on {}", running.url());
    let host = running.host();
    if no_probation {
        host.reloader.set_probation(Duration::ZERO);
        errln!("warden dev: probation off: a version that fails right after its swap is kept");
    }
    let targets = [
        WatchTarget::Tree(crate_dir.join("src")),
        WatchTarget::File(crate_dir.join("Cargo.toml")),
    ];
    let (_watcher, mut changes) =
        Watcher::start(&targets, Watcher::DEFAULT_DEBOUNCE).map_err(Failure::failed)?;
    errln!(
        "warden dev: running {}; dashboard on {}/; watching {} (Ctrl-C to stop)",
        config.file.display(),
        running.url(),
        crate_dir.display()
    );
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            changed = changes.recv() => {
                if changed.is_none() {
                    break;
                }
                while changes.try_recv().is_ok() {}
                if let Err(closed) = rebuild_and_reload(&crate_dir, host).await {
                    outcome = Err(closed);
                    break;
                }
            }
        }
    }
    shutdown.request();
    running.until(shutdown).await.map_err(failure)?;
    errln!("warden dev: stopped");
    outcome
}

/// Fails only when stdout is gone.
async fn rebuild_and_reload(crate_dir: &Path, host: &Host) -> CmdResult {
    // Subscribed before building: a watched child's reload begins as soon
    // as the build writes its file.
    let mut events = host.events.subscribe();
    let started = Instant::now();
    let artifacts = match build(crate_dir).await {
        Ok(artifacts) => artifacts,
        Err(e) => {
            errln!("warden dev: {e}; the running version keeps serving");
            return Ok(());
        }
    };
    let built = millis(started.elapsed());
    errln!("warden dev: built in {built} ms");
    let mut watched = Vec::new();
    for wasm in artifacts {
        let children = host.reloader.children_of(&wasm);
        if children.is_empty() {
            errln!("warden dev: no child runs {}", wasm.display());
        }
        for child in children {
            if host.programs.get(&child).is_some_and(|entry| entry.watch) {
                watched.push(child);
                continue;
            }
            match host.reloader.reload(&child, false).await {
                Ok(ReloadOutcome::Reloaded {
                    version,
                    origin,
                    duration,
                    compile,
                    swap,
                    ..
                }) => outln!(
                    "reloaded {child} to version {version}: build {built} ms → compile {:.1} ms ({origin:?}) → swap {:.1} ms; {:.1} ms after the build",
                    compile.as_secs_f64() * 1e3,
                    swap.as_secs_f64() * 1e3,
                    duration.as_secs_f64() * 1e3,
                )?,
                Ok(ReloadOutcome::Unchanged { version }) => {
                    outln!("{child}: unchanged (version {version})")?;
                }
                Ok(ReloadOutcome::Failed {
                    version,
                    stage,
                    reason,
                }) => outln!(
                    "{child}: reload to version {version} failed at {stage}: {reason}; the old version keeps serving"
                )?,
                Err(e) => outln!("{child}: {e}")?,
            }
        }
    }
    report_watched(&mut events, watched, built).await
}

/// What the host's watcher did with each `watch = true` child the build
/// touched, from the event stream: one line per child.
async fn report_watched(
    events: &mut EventStream,
    mut pending: Vec<String>,
    built: u64,
) -> CmdResult {
    let mut begun: Vec<String> = Vec::new();
    let start_by = tokio::time::Instant::now() + WATCHED_START;
    let end_by = tokio::time::Instant::now() + WATCHED_END;
    while !pending.is_empty() || !begun.is_empty() {
        let deadline = if begun.is_empty() { start_by } else { end_by };
        let received = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(received)) => received,
            Ok(None) | Err(_) => break,
        };
        let Received::Event(event) = received else {
            continue;
        };
        let EventKind::Reload(reload) = &event.kind else {
            continue;
        };
        let path = event.path.to_string();
        match reload {
            ReloadEvent::ReloadStarted { .. } => {
                if let Some(i) = pending.iter().position(|p| *p == path) {
                    begun.push(pending.swap_remove(i));
                }
            }
            ReloadEvent::Reloaded {
                version,
                duration_ms,
                ..
            } if begun.contains(&path) => {
                begun.retain(|p| *p != path);
                outln!(
                    "reloaded {path} to version {version} (watch = true: by the host's watcher): build {built} ms → reload {duration_ms} ms"
                )?;
            }
            ReloadEvent::ReloadFailed {
                version,
                stage,
                reason,
            } if begun.contains(&path) => {
                begun.retain(|p| *p != path);
                outln!(
                    "{path}: reload to version {version} failed at {stage}: {reason}; the old version keeps serving"
                )?;
            }
            _ => {}
        }
    }
    for path in pending {
        outln!("{path}: unchanged (watch = true: the build left its file as it was)")?;
    }
    for path in begun {
        outln!(
            "{path}: its reload (watch = true) has not ended after {} s",
            WATCHED_END.as_secs()
        )?;
    }
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2` in the crate, compiler
/// output on the terminal; the `.wasm` files it produced.
async fn build(crate_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = tokio::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(crate_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).await?;
    }
    let status = child.wait().await?;
    if !status.success() {
        anyhow::bail!("build failed ({status})");
    }
    Ok(out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| m["filenames"].as_array().cloned())
        .flatten()
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .filter(|f| f.extension().is_some_and(|e| e == "wasm"))
        .collect())
}
