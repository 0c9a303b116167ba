//! Grading on a fleet (`warden bench fleet`): test cases per second for
//! 1,000 `leap` submissions (reference and wrong, alternating) graded by
//! 1 and by 2 workers of one job each on this machine, over a nats-server
//! this benchmark starts, against local grading (2 threads) in the same
//! run; and the per-job overhead of the bus: a one-submission batch from
//! publishing to its result, less the local time of the same grading,
//! p50 and p99.
//!
//! Needs `nats-server` on PATH (scripts/setup.sh installs it). Workers
//! run in this process (the same code `warden worker` runs), so the
//! figures are the bus's cost and the scaling, not process start-up.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{PoolingConfig, Runtime, RuntimeConfig};
use crate::fleet::worker::{Runtimes, Worker, WorkerConfig};
use crate::fleet::{FleetSettings, client};
use crate::grade::{Collect, Exercise, GradeOptions, LimitOverrides, Submission, grade_batch};

const SUBMISSIONS: usize = 1000;
/// One-submission batches timed for the overhead.
const SINGLES: usize = 100;

/// A nats-server for the benchmark, killed on drop, and its store
/// (removed after it).
struct Server {
    process: Child,
    _store: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn start_server() -> Result<(Server, String), BenchError> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| BenchError::Failed(format!("a free port: {e}")))?
        .port();
    let dir = tempfile::tempdir().map_err(|e| BenchError::Failed(e.to_string()))?;
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            BenchError::Failed(format!(
                "cannot start nats-server ({e}): scripts/setup.sh installs it"
            ))
        })?;
    let server = Server {
        process: child,
        _store: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(BenchError::Failed("nats-server did not listen".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((server, format!("nats://127.0.0.1:{port}")))
}

/// The runtimes `warden grade` would use, shared by the in-process workers.
/// Publishes `inputs` as one batch and collects every report.
async fn on_bus(
    js: &async_nats::jetstream::Context,
    settings: &FleetSettings,
    exercise: &Exercise,
    inputs: Vec<client::Input>,
    named: bool,
) -> Result<Collect, crate::fleet::FleetError> {
    let published = client::publish(
        js,
        settings,
        exercise,
        inputs,
        LimitOverrides::default(),
        named,
    )
    .await?;
    let record = client::batch_record(js, &published.batch).await?;
    let mut sink = Collect::default();
    client::collect(js, &record, exercise, LimitOverrides::default(), &mut sink).await?;
    Ok(sink)
}

struct Pair(Runtime, Runtime);

impl Runtimes for Pair {
    fn for_memory(&self, _memory_limit: u64) -> Result<(Runtime, Option<Runtime>), String> {
        Ok((self.0.clone(), Some(self.1.clone())))
    }
}

pub fn fleet(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let (exercise, submissions) = super::grade::leap_batch(env, SUBMISSIONS)?;
    let expected = super::grade::LEAP_EXPECTED;
    let on_demand = Runtime::new(RuntimeConfig::default())?;
    let pooled = Runtime::new(RuntimeConfig {
        pooling: Some(PoolingConfig::new(
            6,
            exercise.settings.limits.memory_bytes as usize + (64 << 10),
        )),
        ..RuntimeConfig::default()
    })?;
    let options = GradeOptions {
        fallback: Some(on_demand.clone()),
        ..GradeOptions::default()
    };
    let check = |reports: &[Option<crate::grade::SubmissionReport>]| -> Result<usize, BenchError> {
        let mut cases = 0;
        for (i, report) in reports.iter().enumerate() {
            let report = report
                .as_ref()
                .ok_or_else(|| BenchError::Failed(format!("submission {i} has no report")))?;
            let (passes, status) = expected[i % expected.len()];
            if report.counts.passed != passes || report.status != status {
                return Err(BenchError::Failed(format!(
                    "{}: {} of {} passed, expected {passes}",
                    report.submission, report.counts.passed, report.counts.total
                )));
            }
            cases += report.counts.total;
        }
        Ok(cases)
    };

    let mut figures = Vec::new();
    // Local: compiled once (warm-up), then timed.
    let mut sink = Collect::default();
    grade_batch(
        &pooled,
        &exercise,
        &submissions[..2],
        &options,
        2,
        &mut sink,
    );
    let mut sink = Collect::default();
    let started = Instant::now();
    grade_batch(&pooled, &exercise, &submissions, &options, 2, &mut sink);
    let took = started.elapsed();
    let cases = check(&sink.0)?;
    figures.push(Figure::new(
        "fleet_local_2_threads",
        "throughput",
        cases as f64 / took.as_secs_f64(),
        "per_s",
    ));
    // The local time of one submission, for the overhead below.
    let mut local_one = Samples::with_capacity(SINGLES);
    for i in 0..SINGLES {
        let mut sink = Collect::default();
        let started = Instant::now();
        grade_batch(
            &pooled,
            &exercise,
            &submissions[i..=i],
            &options,
            1,
            &mut sink,
        );
        local_one.push(started.elapsed());
    }
    let local_p50 = local_one.quantile(0.5);

    let (_server, url) = start_server()?;
    let rt = super::tokio_runtime()?;
    let runtimes: Arc<dyn Runtimes> = Arc::new(Pair(pooled.clone(), on_demand.clone()));
    let inputs = |range: std::ops::Range<usize>| -> Vec<client::Input> {
        submissions[range]
            .iter()
            .map(|s| match s {
                Submission::Bytes { name, bytes } => client::Input::Bytes {
                    name: name.clone(),
                    bytes: bytes.clone(),
                },
                // Every submission here is bytes (built above).
                other => client::Input::Bytes {
                    name: other.name(),
                    bytes: Vec::new(),
                },
            })
            .collect()
    };
    let scratch = tempfile::tempdir().map_err(|e| BenchError::Failed(e.to_string()))?;
    let failed = |e: crate::fleet::FleetError| BenchError::Failed(e.to_string());
    let settings = FleetSettings::default();
    for workers in [1usize, 2] {
        let result = rt.block_on(async {
            let client = crate::fleet::connect(&url, "bench", false).await?;
            let js = crate::fleet::context(client);
            crate::fleet::ensure_streams(&js, &settings).await?;
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            let mut running = Vec::new();
            for w in 0..workers {
                let config = WorkerConfig {
                    url: url.clone(),
                    name: format!("bench-{workers}-{w}"),
                    jobs: 1,
                    settings,
                    scratch: scratch.path().join(format!("{workers}-{w}")),
                    grace: Duration::from_secs(5),
                };
                let worker = Worker::new(config, Arc::clone(&runtimes));
                running.push(tokio::spawn(worker.run(stop.clone())));
            }
            // Warm-up: the workers rebuild the exercise and compile.
            on_bus(&js, &settings, &exercise, inputs(0..2), true).await?;

            let started = Instant::now();
            let sink = on_bus(&js, &settings, &exercise, inputs(0..SUBMISSIONS), true).await?;
            let took = started.elapsed();

            let mut latency = Samples::with_capacity(SINGLES);
            if workers == 1 {
                for i in 0..SINGLES {
                    let started = Instant::now();
                    on_bus(&js, &settings, &exercise, inputs(i..i + 1), false).await?;
                    latency.push(started.elapsed());
                }
            }
            let _ = stop_tx.send(true);
            for r in running {
                let _ = r.await;
            }
            Ok::<_, crate::fleet::FleetError>((sink, took, latency))
        });
        let (sink, took, mut latency) = result.map_err(failed)?;
        let cases = check(&sink.0)?;
        figures.push(Figure::new(
            &format!(
                "fleet_{workers}_worker{}",
                if workers == 1 { "" } else { "s" }
            ),
            "throughput",
            cases as f64 / took.as_secs_f64(),
            "per_s",
        ));
        if workers == 1 {
            for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
                let overhead = latency.quantile(q).saturating_sub(local_p50);
                figures.push(Figure::new(
                    "fleet_job_overhead",
                    label,
                    overhead.as_secs_f64() * 1e3,
                    "ms",
                ));
            }
        }
    }
    Ok(figures)
}
