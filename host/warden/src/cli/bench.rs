//! `warden bench WHAT [--json]`
//!
//! `WHAT` is a clap `ValueEnum`, so a name clap does not know is bad usage
//! that lists the valid ones; the library's [`bench::BENCHES`] stays the
//! one list of what exists, and a test keeps the two equal.

use std::path::PathBuf;

use warden::bench::{self, BenchEnv};

use super::out::outln;
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// What to measure; `all` runs each in turn.
    #[arg(value_enum)]
    what: What,
    /// Print one JSON object per figure and nothing else on stdout.
    #[arg(long)]
    json: bool,
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    plugins: PathBuf,
}

/// A benchmark, or all of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum What {
    /// Every benchmark below, in this order.
    All,
    /// Instantiating `echo`, pooled and on demand.
    Instantiate,
    /// A `handle` call to an initialised `echo`.
    Call,
    /// From a `counter` child's crash to its next incarnation's answer.
    Restart,
    /// Memory per idle component child (10,000 `echo` children).
    Children,
    /// Memory per hibernating child and a wake's latency, on demand and
    /// pooled (10,000 `echo` children hibernating after 1 ms; run it alone
    /// for the memory).
    Hibernate,
    /// The supervisor alone: 10,000 and 100,000 dynamic children.
    Dynamic,
    /// Grading throughput: 100 `leap` submissions.
    Grade,
    /// A hot reload, from writing the file to the new version answering.
    Reload,
    /// Respawning a killed native worker.
    Spawn,
    /// CPU the monitor uses polling 500 idle workers.
    Monitor,
    /// A plugin operation called over HTTP, alone and by 32 clients.
    Api,
    /// A cold compile, in this process and in a compile child.
    Compile,
    /// A graceful restart keeping state with `persist`, and without it.
    Persist,
    /// User code at run time: store + bounded compile + start of an
    /// uncached `counter`, `sandbox.create` of a compiled one, create/destroy
    /// cycles.
    Intake,
    /// A message to a `counter` child with no trace, a trace elsewhere,
    /// and a trace on the child.
    Trace,
    /// Grading 1,000 `leap` submissions over NATS JetStream with 1 and 2
    /// workers against local grading, and the bus's per-job overhead
    /// (needs nats-server).
    Fleet,
}

impl What {
    /// The library's name for it (`None` for `all`).
    fn name(self) -> Option<&'static str> {
        use clap::ValueEnum;
        match self {
            What::All => None,
            other => other
                .to_possible_value()
                .and_then(|v| bench::BENCHES.iter().copied().find(|b| *b == v.get_name())),
        }
    }
}

pub fn run(args: Args) -> CmdResult {
    let env = BenchEnv {
        plugins_dir: args.plugins,
    };
    let names: Vec<&str> = match args.what.name() {
        None => bench::BENCHES.to_vec(),
        Some(name) => vec![name],
    };
    for name in names {
        let figures = bench::run(name, &env).map_err(Failure::failed)?;
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

#[cfg(test)]
mod tests {
    use super::What;
    use clap::ValueEnum;

    #[test]
    fn the_choices_are_the_librarys_benchmarks_and_all() {
        let names: Vec<String> = What::value_variants()
            .iter()
            .filter_map(|w| w.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        let mut expected = vec!["all".to_string()];
        expected.extend(warden::bench::BENCHES.iter().map(|b| b.to_string()));
        assert_eq!(names, expected);
        for w in What::value_variants() {
            assert_eq!(w.name().is_none(), *w == What::All, "{w:?}");
        }
    }
}
