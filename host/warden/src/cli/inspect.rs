//! `warden inspect PLUGIN.wasm [--json]`

use std::path::PathBuf;

use warden::component::{Metering, world};

use super::out::{out, outln};
use super::{CacheArgs, CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The component to inspect.
    plugin: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: Args) -> CmdResult {
    let runtime = args.cache.runtime()?;
    let compiled = runtime
        .compile_file(&args.plugin, Metering::Off)
        .map_err(|e| Failure::from_component(e).with_file(&args.plugin))?;
    let report = world::inspect(&compiled);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(Failure::failed)?
        )?;
    } else {
        out!("{report}")?;
    }
    Ok(())
}

impl Failure {
    /// Prefixes the message with the file it is about.
    pub fn with_file(self, path: &std::path::Path) -> Self {
        let prefix = path.display().to_string();
        match self {
            Failure::BadInput(e) => Failure::BadInput(e.context(prefix)),
            Failure::Failed(e) => Failure::Failed(e.context(prefix)),
            told @ (Failure::Told(_) | Failure::OutputClosed) => told,
        }
    }
}
