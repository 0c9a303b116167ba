//! Grading throughput (DESIGN.md §7): test cases per second grading 100
//! submissions of the `leap` exercise (reference and wrong solutions,
//! alternating) on 2 worker threads, every case in a fresh instance, with
//! the exercise's own limits (fuel metering on), as `warden grade` does
//! it (pooled instances with an on-demand fallback). Also the time per
//! case (instantiation, call and judging), p50 and p99, and the same
//! batch with on-demand instances only.
//!
//! Then the same for solutions from source (`grade_python`,
//! `grade_javascript`): 100 submissions of leap's reference and wrong
//! `solution.py`/`.js` (plugins/exercises/leap_{ref,wrong}), with the language's
//! limits, and the time to get the language's runner ready
//! (`runner_build`, when this run built it with the toolchain, or
//! `runner_ready`, when it was found built in the compile cache's
//! `runners/`). The runner's compiled code is kept in the compile cache
//! (`$WARDEN_CACHE_DIR` or `~/.cache/warden`), as `warden grade` keeps it.
//! A language whose toolchain is missing is left out with a warning that
//! names the install command.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{PoolingConfig, Runtime, RuntimeConfig};
use crate::grade::{
    Collect, Exercise, GradeOptions, Language, Runners, Status, Submission, grade_batch,
};

const SUBMISSIONS: usize = 100;
const JOBS: usize = 2;
/// Batches measured after one warm-up batch (which compiles the two
/// solutions).
const ROUNDS: usize = 10;

/// What each `leap_batch` submission must score, in turn: the reference
/// passes all 9 cases, the wrong solution 7.
pub(super) const LEAP_EXPECTED: [(usize, Status); 2] = [(9, Status::Pass), (7, Status::Fail)];

/// The `leap` exercise and `count` submissions of it, the reference and
/// the wrong solution in turn (scoring [`LEAP_EXPECTED`]).
pub(super) fn leap_batch(
    env: &BenchEnv,
    count: usize,
) -> Result<(Exercise, Vec<Submission>), BenchError> {
    let exercise = Exercise::load(&exercise_dir(env, "leap")?)
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    let solutions = [
        ("leap_ref", env.read_plugin("leap_ref")?),
        ("leap_wrong", env.read_plugin("leap_wrong")?),
    ];
    let submissions = (0..count)
        .map(|i| {
            let (name, bytes) = &solutions[i % solutions.len()];
            Submission::Bytes {
                name: format!("{name}-{i}"),
                bytes: bytes.clone(),
            }
        })
        .collect();
    Ok((exercise, submissions))
}

pub fn grade(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let (exercise, submissions) = leap_batch(env, SUBMISSIONS)?;
    let expected = LEAP_EXPECTED;
    let mut figures = Vec::new();
    let on_demand = Runtime::new(RuntimeConfig::default())?;
    // What `warden grade` uses: pooled instances (one page over the
    // exercise's memory limit), with an on-demand fallback for
    // submissions that do not fit a slot.
    let pooled = Runtime::new(RuntimeConfig {
        pooling: Some(PoolingConfig::new(
            2 * JOBS as u32 + 2,
            exercise.settings.limits.memory_bytes as usize + (64 << 10),
        )),
        ..RuntimeConfig::default()
    })?;
    let with_fallback = GradeOptions {
        fallback: Some(on_demand.clone()),
        ..GradeOptions::default()
    };
    for (label, runtime, options) in [
        ("grade", &pooled, &with_fallback),
        // On-demand only: an mmap and a munmap per case.
        ("grade_on_demand", &on_demand, &GradeOptions::default()),
    ] {
        let (throughput, mut per_case) =
            measure(runtime, options, &exercise, &submissions, &expected)?;
        figures.extend(per_case.figures_us(&format!("{label}_case")));
        figures.push(Figure::new(label, "throughput", throughput, "per_s"));
    }
    for language in Language::ALL {
        match source_figures(env, &exercise, language) {
            Ok(found) => figures.extend(found),
            Err(e) => tracing::warn!(language = language.name(), "left out: {e}"),
        }
    }
    Ok(figures)
}

/// Batches of source submissions measured after the warm-up one: each
/// is 900 cases, at hundreds to thousands a second.
const SOURCE_ROUNDS: usize = 3;

/// The pool `warden grade` grades sources in: every dirty page of a
/// freed slot kept resident where the kernel allows
/// ([`PoolingConfig::keep_whole_slot`]). `WARDEN_BENCH_KEEP_RESIDENT=small`
/// measures the small-guest default instead, for a before/after figure
/// in one build.
fn pool(max_memory_bytes: usize) -> PoolingConfig {
    let pool = PoolingConfig::new(2 * JOBS as u32 + 2, max_memory_bytes);
    if std::env::var("WARDEN_BENCH_KEEP_RESIDENT").as_deref() == Ok("small") {
        pool
    } else {
        pool.keep_whole_slot()
    }
}

/// `grade_<language>` figures: see the module docs.
fn source_figures(
    env: &BenchEnv,
    exercise: &Exercise,
    language: Language,
) -> Result<Vec<Figure>, BenchError> {
    let ext = match language {
        Language::Python => "py",
        Language::JavaScript => "js",
    };
    // The sources sit beside the Rust solutions' crates.
    let crates = env
        .plugins_dir
        .ancestors()
        .map(|base| base.join("exercises"))
        .chain(std::iter::once(
            Path::new("plugins/exercises").to_path_buf(),
        ))
        .find(|dir| dir.join("leap_ref").is_dir())
        .ok_or_else(|| {
            BenchError::Failed(
                "plugins/exercises/leap_ref not found (run from the repository root)".into(),
            )
        })?;
    let read = |name: &str| {
        let path = crates
            .join(format!("leap_{name}"))
            .join(format!("solution.{ext}"));
        std::fs::read(&path).map_err(|e| BenchError::Failed(format!("{}: {e}", path.display())))
    };
    let solutions = [("ref", read("ref")?), ("wrong", read("wrong")?)];
    let submissions: Vec<Submission> = (0..SUBMISSIONS)
        .map(|i| {
            let (name, bytes) = &solutions[i % solutions.len()];
            Submission::Bytes {
                name: format!("{name}-{i}.{ext}"),
                bytes: bytes.clone(),
            }
        })
        .collect();
    let cache_dir = std::env::var_os("WARDEN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|base| base.join("warden"))
        })
        .ok_or_else(|| BenchError::Failed("no cache directory (set WARDEN_CACHE_DIR)".into()))?;
    let memory = exercise.settings.language_limits(language).memory_bytes as usize;
    let runtime = Runtime::new(
        RuntimeConfig {
            pooling: Some(pool(memory + (64 << 10))),
            cache_dir: Some(cache_dir.clone()),
            ..RuntimeConfig::default()
        }
        .for_memory_limit(memory + (64 << 10)),
    )?;
    let runners = std::sync::Arc::new(Runners::new(cache_dir.join("runners")));
    let started = Instant::now();
    let runner = runners
        .runner(&runtime, language, crate::component::Metering::Fuel)
        .map_err(BenchError::Failed)?;
    let ready = started.elapsed();
    let options = GradeOptions {
        runners: Some(runners),
        ..GradeOptions::default()
    };
    let label = format!("grade_{}", language.name());
    let (throughput, mut per_case) = measure_rounds(
        &runtime,
        &options,
        exercise,
        &submissions,
        &[(9, Status::Pass), (7, Status::Fail)],
        SOURCE_ROUNDS,
    )?;
    let mut figures = per_case.figures_us(&format!("{label}_case"));
    figures.push(Figure::new(&label, "throughput", throughput, "per_s"));
    if runner.build.is_zero() {
        figures.push(Figure::new(
            &format!("{label}_runner_ready"),
            "once",
            ready.as_secs_f64() * 1e3,
            "ms",
        ));
    } else {
        figures.push(Figure::new(
            &format!("{label}_runner_build"),
            "once",
            runner.build.as_secs_f64(),
            "s",
        ));
        figures.push(Figure::new(
            &format!("{label}_runner_compile"),
            "once",
            runner.compile.as_secs_f64(),
            "s",
        ));
    }
    Ok(figures)
}

/// Grades the batch `ROUNDS` times after a warm-up; returns test cases
/// per second and the time of every case.
fn measure(
    runtime: &Runtime,
    options: &GradeOptions,
    exercise: &Exercise,
    submissions: &[Submission],
    expected: &[(usize, Status)],
) -> Result<(f64, Samples), BenchError> {
    measure_rounds(runtime, options, exercise, submissions, expected, ROUNDS)
}

/// [`measure`] with `rounds` measured batches.
fn measure_rounds(
    runtime: &Runtime,
    options: &GradeOptions,
    exercise: &Exercise,
    submissions: &[Submission],
    expected: &[(usize, Status)],
    rounds: usize,
) -> Result<(f64, Samples), BenchError> {
    let mut per_case = Samples::with_capacity(submissions.len() * exercise.cases.len() * rounds);
    let mut cases = 0usize;
    let mut elapsed = Duration::ZERO;
    for round in 0..=rounds {
        let mut sink = Collect::default();
        let started = Instant::now();
        let summary = grade_batch(runtime, exercise, submissions, options, JOBS, &mut sink);
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
pub(super) fn exercise_dir(env: &BenchEnv, name: &str) -> Result<PathBuf, BenchError> {
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
