//! `warden run [CONFIG]`: start the trees, serve the HTTP API, and run
//! until Ctrl-C/SIGTERM.
//!
//! The API listens on `[host] api_addr` with the token of `WARDEN_TOKEN`
//! (when set and not empty) or `[host] token`; a non-loopback address
//! without a token is refused (exit 2) before anything starts. Once it
//! listens, `warden: API on http://ADDR` goes to stderr and `http://ADDR`
//! to `STATE_DIR/api.addr` (removed again on a clean stop). The API stops
//! after the tree, so it can report the shutdown.
//!
//! A stop ends the process: guest calls started over the API are
//! interrupted at once, the trees get `[host] shutdown_grace_ms` to stop
//! per their shutdown specs before every guest still running is
//! interrupted (a second Ctrl-C/SIGTERM does that at once), and blocking
//! threads still busy after the API stopped are not waited for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use warden::api::{self, ApiConfig, ApiServer, ApiState, Metrics};
use warden::config;
use warden::events::EventBus;
use warden::tree::Host;

use super::out::{err, errln};
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
    let config = config::load(&args.config).map_err(Failure::bad_input)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let result = runtime.block_on(serve(config));
    runtime.shutdown_timeout(BLOCKING_WAIT);
    result
}

async fn serve(config: config::Config) -> CmdResult {
    // Listen before starting anything: a signal that arrives while the tree
    // is still starting must stop it cleanly, not kill the host outright
    // and leave its workers behind.
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Failure::failed)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(Failure::failed)?;
    let api_config = api_config(&config)?;
    let events = EventBus::default();
    // Subscribed before the tree starts, so its children are counted.
    let metrics = Metrics::subscribe(&events);
    let host = Host::start(&config, events.clone())
        .await
        .map_err(|e| match e {
            warden::tree::HostError::Component { .. } => Failure::bad_input(e),
            other => Failure::failed(other),
        })?;
    let state = ApiState::new(host.operations.clone(), events).with_metrics(metrics);
    let server = match api::serve(api_config, state).await {
        Ok(server) => server,
        Err(e) => {
            host.stop().await;
            return Err(match e {
                api::ApiError::TokenRequired { .. } => Failure::bad_input(e),
                other => Failure::failed(other),
            });
        }
    };
    let addr_file = config.host.state_dir.join("api.addr");
    publish_addr(&server, &addr_file);
    if !host.orphans.orphans.is_empty() {
        err!("warden: orphan recovery:\n{}", host.orphans);
    }
    tracing::info!(config = %config.file.display(), root = host.root.path(), "warden is running; Ctrl-C to stop");
    errln!("warden: running {} (Ctrl-C to stop)", config.file.display());

    tokio::select! {
        _ = interrupt.recv() => tracing::info!("interrupted; shutting down"),
        _ = terminate.recv() => tracing::info!("terminated; shutting down"),
        exit = host.root.wait() => {
            tracing::error!(?exit, "the root supervisor gave up; stopping the host");
            host.interrupt_guests();
            stop_api(server, &addr_file).await;
            return Err(Failure::failed(anyhow::anyhow!(
                "the root supervisor `{}` exited ({exit:?}): its restart intensity was exceeded",
                host.root.path()
            )));
        }
    }
    let stopping = host.shutdown(config.host.shutdown_grace);
    tokio::pin!(stopping);
    let exit = loop {
        tokio::select! {
            exit = &mut stopping => break exit,
            _ = interrupt.recv() => host.interrupt_guests(),
            _ = terminate.recv() => host.interrupt_guests(),
        }
    };
    tracing::info!(?exit, "all trees stopped");
    // The workers' exits are queued to the registry's writer: commit them
    // before the process ends (the writer thread does not outlive it).
    if let Err(e) = host.registry.flush().await {
        tracing::warn!(error = %e, "the registry did not record every exit");
    }
    stop_api(server, &addr_file).await;
    errln!("warden: stopped");
    Ok(())
}

/// The API's address and token from config and environment; refuses a
/// non-loopback address without a token.
fn api_config(config: &config::Config) -> Result<ApiConfig, Failure> {
    let addr = config.host.api_addr;
    let token = std::env::var("WARDEN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| config.host.token.clone());
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "{}: host.api_addr `{addr}` is not a loopback address, and no token is set: \
             set [host] token or WARDEN_TOKEN, or bind 127.0.0.1",
            config.file.display()
        )));
    }
    Ok(ApiConfig {
        addr,
        token,
        max_body_bytes: ApiConfig::DEFAULT_MAX_BODY_BYTES,
        allowed_hosts: config.api.allowed_hosts.clone(),
        allowed_origins: config.api.allowed_origins.clone(),
    })
}

/// Tells people and tools (`warden ctl`, tests) where the API listens.
fn publish_addr(server: &ApiServer, addr_file: &Path) {
    let url = server.url();
    errln!("warden: API on {url}");
    let written = addr_file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(addr_file, format!("{url}\n")));
    if let Err(e) = written {
        tracing::warn!(file = %addr_file.display(), error = %e, "cannot write the API address file");
    }
}

async fn stop_api(server: ApiServer, addr_file: &Path) {
    server.shutdown().await;
    if let Err(e) = std::fs::remove_file(addr_file)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %addr_file.display(), error = %e, "cannot remove the API address file");
    }
}
