//! `warden inspect PLUGIN.wasm [--all] [--json]`: the component's WIT with
//! its type names (WASI imports summarised unless `--all`) and the Warden
//! worlds it fits. The file is compiled first, so a bad file gets the
//! compile's one-line error; the WIT is decoded by warden-component.

use std::path::PathBuf;

use warden::component::{Metering, world};

use super::out::{out, outln};
use super::{CacheArgs, CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The component to inspect.
    plugin: PathBuf,
    /// Show the WASI interfaces it imports in full instead of one summary
    /// line per WASI package.
    #[arg(long)]
    all: bool,
    /// Print JSON instead of text: the full WIT in `wit`, WASI imports in
    /// `wasi_imports`, structural types in `imports`/`exports`, `worlds`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: Args) -> CmdResult {
    let runtime = args.cache.runtime()?;
    let in_file = |e| Failure::from_component(e).with_file(&args.plugin);
    let bytes = runtime.read_component(&args.plugin).map_err(in_file)?;
    let compiled = runtime.compile(&bytes, Metering::Off).map_err(in_file)?;
    let report = world::inspect(&compiled, &bytes).map_err(in_file)?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(Failure::failed)?
        )?;
    } else {
        out!("{}", report.render(args.all))?;
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
