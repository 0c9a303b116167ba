//! `warden ps [--config CONFIG] [--status S] [--child C] [--limit N] [--json]`:
//! native worker incarnations from the registry file under the config's
//! state dir. Reads the file directly, so no running host is needed.
//!
//! Owns the filter flags `warden ps` and `warden ctl ps` share
//! ([`PsFilter`]); the table is `ctl`'s renderer, so both print alike.
//! Never talks to a host.

use std::path::PathBuf;

use warden::config;
use warden::registry::{IncarnationQuery, IncarnationStatus, Registry, RegistryConfig};

use super::ctl::render_ps;
use super::out::outln;
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The config file (its `host.state_dir` holds the registry).
    #[arg(long, default_value = "warden.toml")]
    config: PathBuf,
    #[command(flatten)]
    filter: PsFilter,
    /// Print JSON (an array of rows) instead of a table.
    #[arg(long)]
    json: bool,
}

/// The filters of `warden ps` and `warden ctl ps`: one set of names.
#[derive(clap::Args)]
pub struct PsFilter {
    /// Only incarnations of this child (its path, e.g. `root/worker`).
    #[arg(long)]
    pub child: Option<String>,
    /// Only incarnations with this status.
    // `--state` was `warden ctl ps`'s name for it before the two met.
    #[arg(long, value_enum, alias = "state")]
    pub status: Option<Status>,
    /// At most this many rows, newest first.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

/// Where an incarnation stands (the registry's `status` column).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
pub enum Status {
    /// Started and not known to have ended.
    Running,
    /// Ended while its host watched.
    Exited,
    /// Found alive after a host crash and killed.
    OrphanKilled,
    /// Recorded as running after a host crash, but already gone.
    OrphanGone,
}

impl Status {
    /// The registry's own type for it.
    pub fn incarnation(self) -> IncarnationStatus {
        match self {
            Self::Running => IncarnationStatus::Running,
            Self::Exited => IncarnationStatus::Exited,
            Self::OrphanKilled => IncarnationStatus::OrphanKilled,
            Self::OrphanGone => IncarnationStatus::OrphanGone,
        }
    }
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
            status: args.filter.status.map(Status::incarnation),
            child: args.filter.child,
            limit: Some(args.filter.limit),
            ..IncarnationQuery::default()
        })
        .map_err(Failure::failed)?;
    // The same JSON the host's `ps` operation answers with, so `--json` and
    // the table match `warden ctl ps` exactly.
    let rows = serde_json::to_value(&rows).map_err(Failure::failed)?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(Failure::failed)?
        )?;
        return Ok(());
    }
    super::out::out!("{}", render_ps(&rows))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::Status;

    #[test]
    fn every_status_is_named_as_the_registry_names_it() {
        for status in Status::value_variants() {
            let name = status.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(status.incarnation().as_str()));
        }
    }
}
