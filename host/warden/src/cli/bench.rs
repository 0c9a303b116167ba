//! `warden bench WHAT [--json]`

use std::path::PathBuf;

use warden::bench::{self, BenchEnv};

use super::out::outln;
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// What to measure (one of: instantiate, call, …; `all` runs each).
    what: String,
    /// Print one JSON object per figure and nothing else on stdout.
    #[arg(long)]
    json: bool,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    plugins: PathBuf,
}

pub fn run(args: Args) -> CmdResult {
    let env = BenchEnv {
        plugins_dir: args.plugins,
    };
    let names: Vec<&str> = if args.what == "all" {
        bench::BENCHES.to_vec()
    } else {
        vec![args.what.as_str()]
    };
    for name in names {
        let figures = bench::run(name, &env).map_err(|e| match e {
            bench::BenchError::Failed(_) if !bench::BENCHES.contains(&name) => {
                Failure::bad_input(e)
            }
            other => Failure::failed(other),
        })?;
        for f in figures {
            if args.json {
                outln!("{}", serde_json::to_string(&f).map_err(Failure::failed)?)?;
            } else {
                outln!(
                    "{:<24} {:<12} {:>14.3} {}",
                    f.bench,
                    f.metric,
                    f.value,
                    f.unit
                )?;
            }
        }
    }
    Ok(())
}
