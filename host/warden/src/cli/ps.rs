//! `warden ps [--config CONFIG] [--status S] [--child C] [--json]`: native
//! worker incarnations from the registry file under the config's state dir.
//! Reads the file directly, so no running host is needed.

use std::path::PathBuf;

use warden::config;
use warden::registry::{IncarnationQuery, IncarnationStatus, Registry, RegistryConfig};

use super::out::outln;
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The config file (its `host.state_dir` holds the registry).
    #[arg(long, default_value = "warden.toml")]
    config: PathBuf,
    /// Only incarnations with this status: running, exited, orphan_killed,
    /// orphan_gone.
    #[arg(long)]
    status: Option<IncarnationStatus>,
    /// Only incarnations of this child (its path, e.g. `root/worker`).
    #[arg(long)]
    child: Option<String>,
    /// At most this many rows, newest first.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print JSON (an array of rows) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let config = config::load(&args.config).map_err(Failure::bad_input)?;
    let path = config.host.state_dir.join("registry.sqlite3");
    if !path.exists() {
        return Err(Failure::failed(anyhow::anyhow!(
            "{}: no registry yet (no host has run with this state dir)",
            path.display()
        )));
    }
    let registry = Registry::open(&RegistryConfig::new(&path)).map_err(Failure::failed)?;
    let rows = registry
        .query(&IncarnationQuery {
            status: args.status,
            child: args.child,
            limit: Some(args.limit),
            ..IncarnationQuery::default()
        })
        .map_err(Failure::failed)?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(Failure::failed)?
        )?;
        return Ok(());
    }
    outln!(
        "{:<24} {:>8} {:<14} {:>8} {:>8} {:>6} {:<18} COMMAND",
        "CHILD",
        "PID",
        "STATUS",
        "RESTARTS",
        "PEAK_MB",
        "HEALTH",
        "EXIT"
    )?;
    for r in rows {
        outln!(
            "{:<24} {:>8} {:<14} {:>8} {:>8} {:>6} {:<18} {}",
            r.child,
            r.pid,
            r.status.as_str(),
            r.restart_count,
            r.peak_memory_bytes >> 20,
            r.health.map_or("-".to_string(), |h| h.to_string()),
            r.exit_reason.as_deref().unwrap_or("-"),
            r.command
        )?;
    }
    Ok(())
}
