//! `warden run [CONFIG]`: start the trees and serve until Ctrl-C/SIGTERM.

use std::path::PathBuf;

use warden::config;
use warden::events::EventBus;
use warden::tree::Host;

use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(default_value = "warden.toml")]
    config: PathBuf,
}

pub fn run(args: Args) -> CmdResult {
    let config = config::load(&args.config).map_err(Failure::bad_input)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    runtime.block_on(serve(config))
}

async fn serve(config: config::Config) -> CmdResult {
    // Listen before starting anything: a signal that arrives while the tree
    // is still starting must stop it cleanly, not kill the host outright
    // and leave its workers behind.
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Failure::failed)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(Failure::failed)?;
    let events = EventBus::default();
    let host = Host::start(&config, events).await.map_err(|e| match e {
        warden::tree::HostError::Component { .. } => Failure::bad_input(e),
        other => Failure::failed(other),
    })?;
    if !host.orphans.orphans.is_empty() {
        eprint!("warden: orphan recovery:\n{}", host.orphans);
    }
    tracing::info!(config = %config.file.display(), root = host.root.path(), "warden is running; Ctrl-C to stop");
    eprintln!("warden: running {} (Ctrl-C to stop)", config.file.display());

    tokio::select! {
        _ = interrupt.recv() => tracing::info!("interrupted; shutting down"),
        _ = terminate.recv() => tracing::info!("terminated; shutting down"),
        exit = host.root.wait() => {
            tracing::error!(?exit, "the root supervisor gave up; stopping the host");
            return Err(Failure::failed(anyhow::anyhow!(
                "the root supervisor `{}` exited ({exit:?}): its restart intensity was exceeded",
                host.root.path()
            )));
        }
    }
    let exit = host.stop().await;
    tracing::info!(?exit, "all trees stopped");
    eprintln!("warden: stopped");
    Ok(())
}
