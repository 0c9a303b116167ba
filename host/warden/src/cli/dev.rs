//! `warden dev PLUGIN_CRATE_DIR [--config warden.toml]`: the plugin dev
//! loop. Runs the host from the config, watches the crate's `src/` and
//! `Cargo.toml`, rebuilds it for wasm32-wasip2 on every save (compiler
//! errors go to the terminal; the running version keeps serving), and
//! hot-reloads every child whose file is the built `.wasm`, one line per
//! reload.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use warden::config;
use warden::events::EventBus;
use warden::host::Host;
use warden::reload::{ReloadOutcome, WatchTarget, Watcher};
use warden_clock::millis;

use super::out::{errln, outln};
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The plugin's crate (the directory holding its Cargo.toml).
    crate_dir: PathBuf,
    /// The config whose children run the plugin.
    #[arg(long, default_value = "warden.toml")]
    config: PathBuf,
}

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
    let result = runtime.block_on(dev(args.crate_dir, config));
    // As `warden run`: a guest that ignores its interrupt is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn dev(crate_dir: PathBuf, config: config::Config) -> CmdResult {
    // Build once first, so the host starts from the current sources.
    if let Err(e) = build(&crate_dir).await {
        errln!("warden dev: {e}; starting with the files as they are");
    }
    let host = Host::start(&config, EventBus::default())
        .await
        .map_err(Failure::failed)?;
    host.reloader.set_probation(std::time::Duration::ZERO);
    let targets = [
        WatchTarget::Tree(crate_dir.join("src")),
        WatchTarget::File(crate_dir.join("Cargo.toml")),
    ];
    let (_watcher, mut changes) =
        Watcher::start(&targets, Watcher::DEFAULT_DEBOUNCE).map_err(Failure::failed)?;
    errln!(
        "warden dev: running {}; watching {} (Ctrl-C to stop)",
        config.file.display(),
        crate_dir.display()
    );
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            changed = changes.recv() => {
                if changed.is_none() {
                    break;
                }
                while changes.try_recv().is_ok() {}
                if let Err(closed) = rebuild_and_reload(&crate_dir, &host).await {
                    host.stop().await;
                    return Err(closed);
                }
            }
        }
    }
    host.shutdown(config.host.shutdown_grace).await;
    errln!("warden dev: stopped");
    Ok(())
}

/// Fails only when stdout is gone.
async fn rebuild_and_reload(crate_dir: &Path, host: &Host) -> CmdResult {
    let started = Instant::now();
    let artifacts = match build(crate_dir).await {
        Ok(artifacts) => artifacts,
        Err(e) => {
            errln!("warden dev: {e}; the running version keeps serving");
            return Ok(());
        }
    };
    errln!("warden dev: built in {} ms", millis(started.elapsed()));
    for wasm in artifacts {
        let children = host.reloader.children_of(&wasm);
        if children.is_empty() {
            errln!("warden dev: no child runs {}", wasm.display());
        }
        for child in children {
            match host.reloader.reload(&child, false).await {
                Ok(ReloadOutcome::Reloaded {
                    version,
                    duration,
                    origin,
                    ..
                }) => outln!(
                    "reloaded {child} to version {version} in {:.1} ms ({origin:?})",
                    duration.as_secs_f64() * 1e3
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
