//! `warden cache du|clean [--config C | --cache-dir D] [--json]`: how much
//! the compile cache holds, and emptying it.
//!
//! Two caches exist: the one the one-shot commands share (`warden call`,
//! `inspect`, `grade`: `--cache-dir`, `WARDEN_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/warden` or `~/.cache/warden`), and each host's own
//! (`STATE_DIR/cache` of its config, used by `warden run` and `warden dev`).
//! `--config` picks a host's; otherwise the shared one.

use std::path::PathBuf;

use warden::component::{CacheUsage, cache_usage, clean_cache};
use warden::config;

use super::out::outln;
use super::{CmdResult, Failure, default_cache_dir};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// How many compiled components the cache holds, and their size.
    Du(Target),
    /// Remove every compiled component from the cache (they are compiled
    /// again when next needed).
    Clean(Target),
}

/// Which cache.
#[derive(clap::Args)]
struct Target {
    /// The cache of the host this config runs (`STATE_DIR/cache`).
    #[arg(long, conflicts_with = "cache_dir")]
    config: Option<PathBuf>,
    /// The cache directory the one-shot commands use (default:
    /// WARDEN_CACHE_DIR, else $XDG_CACHE_HOME/warden or ~/.cache/warden).
    // Not clap's `env`: the variable, set for the one-shot commands, must
    // not conflict with an explicit `--config`.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Target {
    fn dir(&self) -> Result<PathBuf, Failure> {
        if let Some(path) = &self.config {
            let config = config::load(path).map_err(Failure::bad_input)?;
            return Ok(config.host.state_dir.join("cache"));
        }
        self.cache_dir
            .clone()
            .or_else(|| std::env::var_os("WARDEN_CACHE_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(default_cache_dir)
            .ok_or_else(|| {
            Failure::bad_input(anyhow::anyhow!(
                "no cache directory: set --cache-dir or WARDEN_CACHE_DIR (neither XDG_CACHE_HOME nor HOME is set)"
            ))
        })
    }
}

pub fn run(args: Args) -> CmdResult {
    match args.action {
        Action::Du(target) => {
            let usage = cache_usage(&target.dir()?);
            print(&usage, target.json, "holds")
        }
        Action::Clean(target) => {
            let removed = clean_cache(&target.dir()?).map_err(Failure::failed)?;
            print(&removed, target.json, "removed")
        }
    }
}

fn print(usage: &CacheUsage, json: bool, verb: &str) -> CmdResult {
    if json {
        let text = serde_json::to_string(usage).map_err(Failure::failed)?;
        return outln!("{text}");
    }
    outln!(
        "{}: {verb} {} compiled component{}, {}",
        usage.dir.display(),
        usage.artifacts,
        if usage.artifacts == 1 { "" } else { "s" },
        size(usage.bytes)
    )?;
    for engine in &usage.engines {
        outln!(
            "  engine {}: {} ({})",
            engine.engine,
            engine.artifacts,
            size(engine.bytes)
        )?;
    }
    Ok(())
}

/// Bytes for people: `0 B`, `512 B`, `3.4 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
