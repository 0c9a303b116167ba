//! `warden run [CONFIG]`: start the trees, serve the HTTP API, and run
//! until Ctrl-C/SIGTERM.
//!
//! The host's life is the library's [`warden::host::run`] (see its module
//! doc for how a stop proceeds); this command adds what belongs to a
//! process: the token of `WARDEN_TOKEN` (when set and not empty) over
//! `[host] token` (kept over the file's on every config reload too),
//! SIGINT and SIGTERM as shutdown requests (a second one interrupts every
//! guest at once), SIGHUP as a config reload (its plan or its error is
//! logged; the host keeps running either way), the lines on stderr, the
//! exit status, and not waiting for blocking threads still busy after the
//! host stopped.
//!
//! A non-loopback address without a token is refused (exit 2) before
//! anything starts. Once the API listens, `http://ADDR` is in
//! `STATE_DIR/api.addr` (removed again on a clean stop) and `warden: API
//! on http://ADDR` goes to stderr. With `--log-format json` those status
//! lines are log events too, so every line on stderr is one JSON object.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use warden::config::{self, Config};
use warden::host::{Reconfigurer, RunError, Running, Shutdown};

use super::out::status;
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(default_value = "warden.toml")]
    config: PathBuf,
}

/// How long, once `serve` returned, the process waits for blocking threads
/// (a guest that ignores its interrupt inside a host call, a compile):
/// dropping a tokio runtime would wait for them forever.
const BLOCKING_WAIT: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> CmdResult {
    let mut config = config::load(&args.config).map_err(Failure::bad_input)?;
    let token = std::env::var("WARDEN_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(token) = &token {
        config.host.token = Some(token.clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let result = runtime.block_on(serve(&config, token));
    runtime.shutdown_timeout(BLOCKING_WAIT);
    result
}

async fn serve(config: &Config, token: Option<String>) -> CmdResult {
    // Listen before starting anything: a signal that arrives while the tree
    // is still starting must stop it cleanly, not kill the host outright
    // and leave its workers behind. (SIGHUP's default would kill it too: a
    // reload asked for during the start waits for it.)
    let interrupt = signal(SignalKind::interrupt()).map_err(Failure::failed)?;
    let terminate = signal(SignalKind::terminate()).map_err(Failure::failed)?;
    let hangup = signal(SignalKind::hangup()).map_err(Failure::failed)?;
    let shutdown = Shutdown::new();
    tokio::spawn(forward_signals(interrupt, terminate, shutdown.clone()));
    let running = Running::start(config).await.map_err(failure)?;
    status(&format!("API on {}", running.url()));
    let host = running.host();
    host.reconfigure.override_token(token);
    tokio::spawn(reload_on_hangup(
        hangup,
        host.reconfigure.clone(),
        host.registry.clone(),
    ));
    if !host.orphans.orphans.is_empty() {
        status(format!("orphan recovery:\n{}", host.orphans).trim_end_matches('\n'));
    }
    tracing::info!(config = %config.file.display(), root = host.root.path(), "warden is running; Ctrl-C to stop");
    status(&format!(
        "running {} (Ctrl-C to stop)",
        config.file.display()
    ));
    running.until(shutdown).await.map_err(failure)?;
    status("stopped");
    Ok(())
}

/// Every SIGINT and SIGTERM is a shutdown request.
pub(super) async fn forward_signals(
    mut interrupt: Signal,
    mut terminate: Signal,
    shutdown: Shutdown,
) {
    let mut first = true;
    loop {
        let cause = tokio::select! {
            Some(()) = interrupt.recv() => "interrupted",
            Some(()) = terminate.recv() => "terminated",
            else => return,
        };
        if first {
            tracing::info!("{cause}; shutting down");
            first = false;
        }
        shutdown.request();
    }
}

/// Every SIGHUP reloads the config; the outcome is logged and audited,
/// never fatal.
async fn reload_on_hangup(
    mut hangup: Signal,
    reconfigure: Reconfigurer,
    registry: warden::registry::Registry,
) {
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the config");
        match warden::builtin::reload_on_signal(&reconfigure, &registry).await {
            Ok(summary) => tracing::info!("config reloaded: {summary}"),
            Err(err) => tracing::warn!("config not reloaded: {err}"),
        }
    }
}

/// The exit status a failed run gets: 2 when the config is at fault.
pub(super) fn failure(err: RunError) -> Failure {
    if err.is_bad_input() {
        Failure::bad_input(err)
    } else {
        Failure::failed(err)
    }
}
