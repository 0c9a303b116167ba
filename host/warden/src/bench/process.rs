//! Native worker benchmarks: respawn latency (a worker's exit seen → its
//! replacement exec'd) and the CPU cost of monitoring 500 idle workers at
//! 1 Hz. Both drive [`crate::process`] directly, without a supervisor
//! (the measurements are in [`super::workers`]).

use super::workers::{WorkerBenchError, bench_monitor, bench_respawn};
use super::{BenchError, Figure, Samples};

const RESPAWNS: usize = 1_000;
const MONITORED: usize = 500;
const MONITOR_HZ: f64 = 1.0;
const MONITOR_SECS: f64 = 10.0;

fn failed(e: WorkerBenchError) -> BenchError {
    BenchError::Failed(e.to_string())
}

/// p50/p99/mean of a respawn: from the moment a killed worker's exit is
/// detected to its replacement's `execve` returning.
pub fn spawn() -> Result<Vec<Figure>, BenchError> {
    crate::process::enable_subreaper()
        .map_err(|e| BenchError::Failed(format!("cannot become a subreaper: {e}")))?;
    let durations = super::tokio_runtime()?
        .block_on(bench_respawn(RESPAWNS))
        .map_err(failed)?;
    let mut samples = Samples::with_capacity(durations.len());
    for d in durations {
        samples.push(d);
    }
    Ok(samples.figures_us("respawn"))
}

/// CPU used by the whole host while the monitor polls 500 idle workers at
/// 1 Hz, in % of one core.
pub fn monitor() -> Result<Vec<Figure>, BenchError> {
    crate::process::enable_subreaper()
        .map_err(|e| BenchError::Failed(format!("cannot become a subreaper: {e}")))?;
    let result = super::tokio_runtime()?
        .block_on(bench_monitor(MONITORED, MONITOR_HZ, MONITOR_SECS))
        .map_err(failed)?;
    Ok(vec![
        Figure::new("monitor_500_at_1hz", "cpu", result.cpu_percent, "percent"),
        Figure::new(
            "monitor_500_at_1hz",
            "measured",
            result.measured.as_secs_f64(),
            "s",
        ),
    ])
}
