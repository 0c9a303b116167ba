//! Built-in benchmarks behind `warden bench`: each measures one figure
//! from DESIGN.md §7 and reports [`Figure`]s, printed one JSON object per
//! line with `--json`. Every benchmark finishes in well under a minute on
//! a 2-core machine.

mod api;
mod compile;
mod component;
mod fleet;
mod grade;
mod hibernate;
mod intake;
mod persist;
mod process;
mod reload;
mod stats;
mod supervisor;
mod tree;
mod workers;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use stats::Samples;
pub use supervisor::{DynamicChildrenBench, bench_dynamic_children, bench_restart_latency};
pub use workers::{MonitorBench, WorkerBenchError, bench_monitor, bench_respawn};

/// One measured number.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub bench: String,
    /// `p50`, `p99`, `mean`, `throughput`, `rss_per_child`, …
    pub metric: String,
    pub value: f64,
    /// One of `ns`, `us`, `ms`, `s`, `per_s`, `bytes`, `percent`.
    pub unit: String,
}

impl Figure {
    pub fn new(bench: &str, metric: &str, value: f64, unit: &str) -> Self {
        Self {
            bench: bench.to_string(),
            metric: metric.to_string(),
            value,
            unit: unit.to_string(),
        }
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("plugin {} not found; build the plugins first (scripts/setup.sh)", .0.display())]
    MissingPlugin(PathBuf),
    #[error(transparent)]
    Component(#[from] crate::component::ComponentError),
    #[error("{0}")]
    Failed(String),
}

/// The tokio runtime every async benchmark runs on: two workers, as on
/// the 2-core machine the figures are stated for.
fn tokio_runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| BenchError::Failed(format!("cannot start tokio: {e}")))
}

/// Where benchmarks find the plugins they load.
#[derive(Debug, Clone)]
pub struct BenchEnv {
    pub plugins_dir: PathBuf,
}

impl BenchEnv {
    pub fn plugin(&self, name: &str) -> Result<PathBuf, BenchError> {
        let path = self.plugins_dir.join(format!("{name}.wasm"));
        if path.exists() {
            Ok(path)
        } else {
            Err(BenchError::MissingPlugin(path))
        }
    }

    pub fn read_plugin(&self, name: &str) -> Result<Vec<u8>, BenchError> {
        let path = self.plugin(name)?;
        std::fs::read(&path).map_err(|e| BenchError::Failed(format!("{}: {e}", path.display())))
    }
}

impl Default for BenchEnv {
    fn default() -> Self {
        Self {
            plugins_dir: Path::new("plugins/target/wasm32-wasip2/release").to_path_buf(),
        }
    }
}

/// The benchmarks `warden bench` knows.
pub const BENCHES: &[&str] = &[
    "instantiate",
    "call",
    "restart",
    "children",
    "hibernate",
    "dynamic",
    "grade",
    "reload",
    "spawn",
    "monitor",
    "api",
    "compile",
    "persist",
    "intake",
    "trace",
    "fleet",
];

/// Runs benchmark `what`.
pub fn run(what: &str, env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    match what {
        "instantiate" => component::instantiate(env),
        "call" => component::call(env),
        "restart" => tree::restart(env),
        "children" => tree::children(env),
        "hibernate" => hibernate::hibernate(env),
        "dynamic" => tree::dynamic(env),
        "grade" => grade::grade(env),
        "reload" => reload::reload(env),
        "spawn" => process::spawn(),
        "monitor" => process::monitor(),
        "api" => api::api(env),
        "compile" => compile::compile(env),
        "persist" => persist::persist(env),
        "intake" => intake::intake(env),
        "trace" => tree::trace(env),
        "fleet" => fleet::fleet(env),
        other => Err(BenchError::Failed(format!(
            "unknown benchmark `{other}` (known: {})",
            BENCHES.join(", ")
        ))),
    }
}
