//! The native-worker measurements behind `warden bench spawn` and
//! `warden bench monitor`, driving [`crate::process`] through its public API
//! alone: measurements only, printing is the caller's.
//!
//! Owns: [`bench_respawn`] and [`bench_monitor`].
//!
//! Must never: touch a process it did not spawn; every worker it starts is
//! killed and reaped before it returns.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};
use serde::Serialize;

use crate::process::{
    Monitor, MonitorConfig, PolicyError, ProcessLimits, ProcessPolicy, RunningWorker, SpawnError,
    WorkerSpec, raise_fd_limit,
};

/// Why a worker benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerBenchError {
    #[error("benchmark command refused: {0}")]
    Policy(#[from] PolicyError),
    #[error("benchmark worker did not start: {0}")]
    Spawn(#[from] SpawnError),
    #[error("benchmark setup failed: {0}")]
    Io(#[from] std::io::Error),
}

fn spec_for(program: &str, args: &[&str]) -> Result<WorkerSpec, WorkerBenchError> {
    let policy = ProcessPolicy::builder().allow_command(program).build()?;
    let mut spec = WorkerSpec::new("bench", policy.resolve_command(program)?);
    spec.args(args.iter().copied()).limits(ProcessLimits {
        memory_mb: Some(512),
        cpu_secs: Some(60),
        open_files: Some(256),
        ..ProcessLimits::default()
    });
    Ok(spec)
}

/// Respawn latency, `n` samples: each worker runs `sleep 100` and is
/// killed with `SIGKILL` (a crash); each sample runs from the moment the host
/// saw that death to the moment its replacement has been exec'd.
///
/// Precisely: the start is [`ExitInfo::detected_at`](crate::process::ExitInfo), taken
/// when the dead worker's pidfd became readable; the end is when the
/// replacement's `/proc/PID/comm` names the program (`sleep`). Spawn
/// returns once the process waits at its exec gate with its rlimits (it
/// carries memory, CPU and descriptor limits), its cgroup, its pidfd and
/// its output capture in place, and has opened the gate; the gate's shell
/// then executes the program, which the end waits for. In between: the
/// group kill, the leftover scan, the reap, publishing the exit and waking
/// the waiting task — everything a supervisor's restart pays for, except
/// its own bookkeeping.
///
/// Why `sleep 100` and not `true`: a program that exits at once competes
/// with the spawning thread for the CPU right after `execve`, so the
/// measured spawn would include some of the child's own run time (on a
/// 2-core VM, raw `posix_spawn` of `true` has a p90 of ~4 ms against
/// ~80 µs for `sleep`).
pub async fn bench_respawn(n: usize) -> Result<Vec<Duration>, WorkerBenchError> {
    let spec = spec_for("sleep", &["100"])?;
    let mut samples = Vec::with_capacity(n);
    let mut worker = RunningWorker::spawn(&spec)?;
    for _ in 0..n {
        let exit = worker.kill().await;
        let next = RunningWorker::spawn(&spec)?;
        running_program(next.pid(), "sleep").await?;
        samples.push(exit.detected_at.elapsed());
        worker = next;
    }
    worker.kill().await;
    Ok(samples)
}

/// Waits (1 s at most) until process `pid` runs `program` (its `comm`),
/// looking every 20 µs from a blocking thread: a task that spun on the
/// runtime would take the CPU the gate's shell needs on a 2-core machine.
async fn running_program(pid: u32, program: &'static str) -> Result<(), WorkerBenchError> {
    let comm = format!("/proc/{pid}/comm");
    let found = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while std::time::Instant::now() < deadline {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim_end() == program) {
                return true;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        false
    })
    .await
    .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(WorkerBenchError::Io(std::io::Error::other(format!(
            "process {pid} did not start {program} within 1 s"
        ))))
    }
}

/// What [`bench_monitor`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct MonitorBench {
    pub workers: usize,
    pub interval: Duration,
    /// Measured over this long, after the first poll.
    pub measured: Duration,
    /// CPU the whole host process used meanwhile, in % of one core.
    pub cpu_percent: f64,
}

/// Monitoring cost: starts `workers` idle workers (`sleep`), polls them at
/// `hz` for `secs` seconds, and measures the CPU time of the whole host
/// process (all threads: monitor, runtime, exit tasks) over that time.
pub async fn bench_monitor(
    workers: usize,
    hz: f64,
    secs: f64,
) -> Result<MonitorBench, WorkerBenchError> {
    raise_fd_limit()?;
    let spec = spec_for("sleep", &["3600"])?;
    let interval = Duration::from_secs_f64(1.0 / hz.max(0.001));
    let mut config = MonitorConfig::default();
    config.interval(interval);
    let (monitor, _events) = Monitor::start(config)?;
    let mut running = Vec::with_capacity(workers);
    for _ in 0..workers {
        let worker = RunningWorker::spawn(&spec)?;
        monitor.register(&worker);
        running.push(worker);
    }
    // Let the first poll open the kept files before measuring.
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    let cpu_before = clock_gettime(ClockId::ProcessCPUTime);
    let wall_before = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs.max(0.1))).await;
    let cpu_after = clock_gettime(ClockId::ProcessCPUTime);
    let measured = wall_before.elapsed();
    let cpu = (cpu_after.tv_sec - cpu_before.tv_sec) as f64
        + (cpu_after.tv_nsec - cpu_before.tv_nsec) as f64 / 1e9;
    drop(monitor);
    // Dropping a handle kills its worker; the exit futures see them reaped.
    let exits: Vec<_> = running.iter().map(RunningWorker::wait_exit).collect();
    drop(running);
    for exit in exits {
        exit.await;
    }
    Ok(MonitorBench {
        workers,
        interval,
        measured,
        cpu_percent: 100.0 * cpu / measured.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn respawn_bench_runs() {
        // As `warden bench spawn` runs it. (The process test that must run
        // alone is in warden-process's test binary; cargo runs test
        // binaries one after another.)
        crate::process::enable_subreaper().expect("subreaper");
        let samples = bench_respawn(20).await.expect("bench");
        assert_eq!(samples.len(), 20);
        let mut sorted = samples.clone();
        sorted.sort();
        assert!(
            sorted[10] < Duration::from_millis(50),
            "p50 {:?}",
            sorted[10]
        );
    }
}
