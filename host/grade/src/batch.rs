//! Grading many submissions in parallel.
//!
//! `jobs` worker threads take submissions in order from a shared counter
//! and grade each with [`grade_submission`]; the calling thread hands
//! every report to a [`ReportSink`] the moment it arrives, so a crash
//! loses nothing already graded. A submission that cannot be graded gets
//! a report saying why, and even a bug that panics inside the grader only
//! costs that one submission an `error` report: the others go on.
//!
//! Guest code runs only on the worker threads, never on an async runtime.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use warden_component::Runtime;

use crate::exercise::Exercise;
use crate::runner::{GradeOptions, Submission, grade_submission};
use crate::verdict::{Counts, Status, SubmissionReport};

/// Where finished reports go (a report format writing files, a stream,
/// a collector in tests). Reports arrive in completion order; `index` is
/// the submission's position in the input.
pub trait ReportSink {
    /// One submission's report. An error is remembered in the summary and
    /// grading goes on.
    fn submission(&mut self, index: usize, report: &SubmissionReport) -> std::io::Result<()>;

    /// After the last report.
    fn finish(&mut self, summary: &BatchSummary) -> std::io::Result<()> {
        let _ = summary;
        Ok(())
    }
}

/// How a batch went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchSummary {
    /// Submissions graded (every one given, once the batch is done).
    pub submissions: usize,
    /// Submissions whose status is [`Status::Pass`].
    pub passed: usize,
    /// Submissions whose status is [`Status::Fail`].
    pub failed: usize,
    /// Submissions whose status is [`Status::Error`].
    pub errored: usize,
    /// Test cases over all submissions.
    pub cases: Counts,
    /// Reports the sink could not write, as (submission name, reason);
    /// `(all)` names a failure of [`ReportSink::finish`].
    pub write_failures: Vec<(String, String)>,
}

impl BatchSummary {
    /// Counts one more report.
    pub fn record(&mut self, report: &SubmissionReport) {
        self.submissions += 1;
        match report.status {
            Status::Pass => self.passed += 1,
            Status::Fail => self.failed += 1,
            Status::Error => self.errored += 1,
        }
        self.cases.total += report.counts.total;
        self.cases.passed += report.counts.passed;
        self.cases.failed += report.counts.failed;
        self.cases.errored += report.counts.errored;
    }
}

/// Grades `submissions` with `jobs` threads (at least one), feeding
/// `sink` as each finishes (a progress bar is a sink wrapper).
pub fn grade_batch(
    runtime: &Runtime,
    exercise: &Exercise,
    submissions: &[Submission],
    options: &GradeOptions,
    jobs: usize,
    sink: &mut dyn ReportSink,
) -> BatchSummary {
    let next = AtomicUsize::new(0);
    let jobs = jobs.clamp(1, submissions.len().max(1));
    let mut summary = BatchSummary::default();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, SubmissionReport)>();
        for worker in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            let spawned = std::thread::Builder::new()
                .name(format!("warden-grade-{worker}"))
                .spawn_scoped(scope, move || {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(submission) = submissions.get(index) else {
                            break;
                        };
                        let report = grade_guarded(runtime, exercise, submission, options);
                        if tx.send((index, report)).is_err() {
                            break;
                        }
                    }
                });
            if let Err(err) = spawned {
                // Fewer workers still grade everything; none at all is
                // handled below by grading on this thread.
                tracing::warn!(error = %err, "cannot start a grading thread");
            }
        }
        drop(tx);
        for (index, report) in rx {
            deliver(sink, &mut summary, index, &report);
        }
    });
    // If no worker could start, the counter never moved: grade here.
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(submission) = submissions.get(index) else {
            break;
        };
        let report = grade_guarded(runtime, exercise, submission, options);
        deliver(sink, &mut summary, index, &report);
    }
    if let Err(err) = sink.finish(&summary) {
        summary
            .write_failures
            .push(("(all)".to_string(), err.to_string()));
    }
    summary
}

fn deliver(
    sink: &mut dyn ReportSink,
    summary: &mut BatchSummary,
    index: usize,
    report: &SubmissionReport,
) {
    summary.record(report);
    if let Err(err) = sink.submission(index, report) {
        summary
            .write_failures
            .push((report.submission.clone(), err.to_string()));
    }
}

/// [`grade_submission`], with a panic in the grader turned into an
/// `error` report for that submission alone.
pub fn grade_guarded(
    runtime: &Runtime,
    exercise: &Exercise,
    submission: &Submission,
    options: &GradeOptions,
) -> SubmissionReport {
    catch_unwind(AssertUnwindSafe(|| {
        grade_submission(runtime, exercise, submission, options)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        tracing::error!(submission = %submission.name(), panic = %what, "grader bug");
        SubmissionReport {
            format: crate::verdict::REPORT_FORMAT,
            exercise: exercise.name.clone(),
            submission: submission.name(),
            sha256: None,
            initial_memory_bytes: None,
            status: Status::Error,
            message: Some(format!("internal error in the grader: {what}")),
            contract: None,
            score: 0.0,
            max_score: exercise.max_score(),
            counts: Counts::default(),
            limits: options.limits.apply(exercise.settings.limits),
            tests: Vec::new(),
            timing: None,
        }
    })
}

/// A sink that keeps reports in input order (tests, benchmarks, APIs).
#[derive(Default)]
pub struct Collect(pub Vec<Option<SubmissionReport>>);

impl ReportSink for Collect {
    fn submission(&mut self, index: usize, report: &SubmissionReport) -> std::io::Result<()> {
        if self.0.len() <= index {
            self.0.resize(index + 1, None);
        }
        self.0[index] = Some(report.clone());
        Ok(())
    }
}
