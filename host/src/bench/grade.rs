//! Grading throughput (DESIGN.md §7): test cases per second grading 100
//! submissions of the `leap` exercise (reference and wrong solutions,
//! alternating) on 2 worker threads, every case in a fresh instance, with
//! the exercise's own limits (fuel metering on). Also the time per case
//! (instantiation, call and judging), p50 and p99, and the same batch with
//! the pooling allocator.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{PoolingConfig, Runtime, RuntimeConfig};
use crate::grade::{Collect, Exercise, GradeOptions, Status, Submission, grade_batch};

const SUBMISSIONS: usize = 100;
const JOBS: usize = 2;
/// Batches measured after one warm-up batch (which compiles the two
/// solutions).
const ROUNDS: usize = 10;

pub fn grade(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let exercise = Exercise::load(&exercise_dir(env, "leap")?)
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    let solutions = [
        ("leap_ref", env.read_plugin("leap_ref")?),
        ("leap_wrong", env.read_plugin("leap_wrong")?),
    ];
    // What each must score: the reference passes all 9 cases, the wrong
    // solution 7.
    let expected = [(9, Status::Pass), (7, Status::Fail)];
    let submissions: Vec<Submission> = (0..SUBMISSIONS)
        .map(|i| {
            let (name, bytes) = &solutions[i % solutions.len()];
            Submission::Bytes {
                name: format!("{name}-{i}"),
                bytes: bytes.clone(),
            }
        })
        .collect();
    let mut figures = Vec::new();
    for (label, pooling) in [
        // What `warden grade` uses: on-demand allocation, which fits any
        // submission however many memories and tables it has.
        ("grade", None),
        // For embedders that know their submissions: the pooling allocator.
        (
            "grade_pooled",
            Some(PoolingConfig {
                instances: 4 * JOBS as u32,
                max_memory_bytes: 64 << 20,
            }),
        ),
    ] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })?;
        let (throughput, mut per_case) = measure(&runtime, &exercise, &submissions, &expected)?;
        if pooling.is_none() {
            figures.extend(per_case.figures_us("grade_case"));
        } else {
            figures.push(Figure::new(
                "grade_pooled_case",
                "p50",
                per_case.quantile(0.5).as_nanos() as f64 / 1e3,
                "us",
            ));
        }
        figures.push(Figure::new(label, "throughput", throughput, "per_s"));
    }
    Ok(figures)
}

/// Grades the batch `ROUNDS` times after a warm-up; returns test cases
/// per second and the time of every case.
fn measure(
    runtime: &Runtime,
    exercise: &Exercise,
    submissions: &[Submission],
    expected: &[(usize, Status)],
) -> Result<(f64, Samples), BenchError> {
    let options = GradeOptions::default();
    let mut per_case = Samples::with_capacity(submissions.len() * exercise.cases.len() * ROUNDS);
    let mut cases = 0usize;
    let mut elapsed = Duration::ZERO;
    for round in 0..=ROUNDS {
        let mut sink = Collect::default();
        let started = Instant::now();
        let summary = grade_batch(runtime, exercise, submissions, &options, JOBS, &mut sink);
        let took = started.elapsed();
        // Every report must be what the solutions deserve, or the figure
        // measures something else.
        for (i, report) in sink.0.iter().enumerate() {
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
        }
        if round == 0 {
            continue;
        }
        elapsed += took;
        cases += summary.cases.total;
        for report in sink.0.iter().flatten() {
            for t in &report.tests {
                if let Some(timing) = t.timing {
                    per_case.push(Duration::from_micros(timing.duration_us));
                }
            }
        }
    }
    Ok((cases as f64 / elapsed.as_secs_f64(), per_case))
}

/// `examples/exercises/NAME`, looked for from the current directory and
/// from the plugins directory upwards (it sits in the repository, like
/// the plugins).
fn exercise_dir(env: &BenchEnv, name: &str) -> Result<PathBuf, BenchError> {
    let rel = Path::new("examples/exercises").join(name);
    std::iter::once(Path::new("."))
        .chain(env.plugins_dir.ancestors())
        .map(|base| base.join(&rel))
        .find(|p| p.join("exercise.wit").is_file())
        .ok_or_else(|| {
            BenchError::Failed(format!(
                "exercise {} not found (run from the repository root)",
                rel.display()
            ))
        })
}
