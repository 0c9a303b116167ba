//! What grading produces: a verdict per test case and a report per
//! submission. This is the model every report format renders (see
//! [`crate::report`]) and what an API returns as JSON.
//!
//! Determinism: everything here except the `timing` fields is a function
//! of the exercise, the submission's bytes and the limits — fuel, not wall
//! time, decides CPU verdicts when a fuel limit is set, and guests see a
//! frozen clock and seeded randomness. Timing lives under `timing` keys
//! only, so dropping them ([`SubmissionReport::without_timing`]) leaves
//! byte-identical reports from run to run.

use serde::Serialize;
use serde_json::Value as Json;

use crate::settings::CaseLimits;
use warden_component::{CapturedText, Mistyped};

/// The outcome of one test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Returned the expected value.
    Pass,
    /// Returned a wrong value.
    Fail,
    /// Trapped (with the guest's panic message), or could not be run
    /// (missing or mistyped export, unloadable submission).
    Error,
    /// Ran past the wall-clock limit.
    Timeout,
    /// Used up its fuel budget.
    FuelExhausted,
    /// Tried to grow memory past the limit.
    MemoryLimit,
    /// Wrote more than the output limit to stdout and stderr.
    OutputLimit,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::FuelExhausted => "fuel_exhausted",
            Self::MemoryLimit => "memory_limit",
            Self::OutputLimit => "output_limit",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a whole submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every case passed.
    Pass,
    /// Some case did not pass.
    Fail,
    /// The submission could not be graded as a whole: not a component,
    /// does not link, or its exports do not match `exercise.wit` (the
    /// cases of functions that do match still ran).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }
}

/// Captured guest output of one case, as kept in reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    /// The first characters written (at most [`REPORT_OUTPUT_CHARS`]).
    pub text: String,
    /// Bytes written in all.
    pub total_bytes: u64,
    /// True when `text` is not everything that was written.
    pub truncated: bool,
}

/// Characters of each stream kept in a report.
pub const REPORT_OUTPUT_CHARS: usize = 4096;

impl Output {
    pub fn from_capture(captured: &CapturedText) -> Self {
        let (text, cut) = truncate_chars(&captured.text, REPORT_OUTPUT_CHARS);
        Self {
            text: text.to_string(),
            total_bytes: captured.total_bytes,
            truncated: cut || captured.truncated,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total_bytes == 0
    }
}

/// The first `max` characters of `s`, and whether anything was cut.
pub fn truncate_chars(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    }
}

/// Wall-clock figures of one case: the only part of a test result that
/// varies between runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TestTiming {
    pub duration_us: u64,
}

/// One test case's result.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Group and case descriptions joined by " › ".
    pub name: String,
    pub uuid: Option<String>,
    /// The test data's property (`leapYear`).
    pub property: String,
    /// The export called (`leap-year`).
    pub function: String,
    pub verdict: Verdict,
    /// Why it did not pass ("expected true, got false", the trap, …).
    pub message: Option<String>,
    /// The expectation as the test data writes it.
    pub expected: Json,
    /// What the submission returned, in the same notation, when it
    /// returned at all.
    pub actual: Option<Json>,
    /// The call and its expectation on one line.
    pub test_code: String,
    pub task_id: Option<u32>,
    /// Not shown to students (see `grading.toml`'s `hidden`).
    pub hidden: bool,
    pub score: f64,
    pub max_score: f64,
    /// Fuel the call used, when metered (instantiation not included).
    pub fuel_used: Option<u64>,
    pub stdout: Output,
    pub stderr: Output,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<TestTiming>,
}

/// Export mismatches against `exercise.wit`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContractProblems {
    /// Missing functions, as `name: expected signature`.
    pub missing: Vec<String>,
    pub mistyped: Vec<Mistyped>,
}

/// How many cases ended how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    /// Every verdict other than pass and fail.
    pub errored: usize,
}

impl Counts {
    pub fn of(tests: &[TestResult]) -> Self {
        let mut c = Counts {
            total: tests.len(),
            ..Counts::default()
        };
        for t in tests {
            match t.verdict {
                Verdict::Pass => c.passed += 1,
                Verdict::Fail => c.failed += 1,
                _ => c.errored += 1,
            }
        }
        c
    }
}

/// Wall-clock figures of a submission.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SubmissionTiming {
    /// Compiling (or loading from cache) and linking.
    pub load_ms: f64,
    /// Everything, from reading the file to the last case.
    pub total_ms: f64,
}

/// The name of Warden's own report format, with its version.
pub const REPORT_FORMAT: &str = "warden-grade/1";

/// Everything about grading one submission.
#[derive(Debug, Clone, Serialize)]
pub struct SubmissionReport {
    /// Always [`REPORT_FORMAT`].
    pub format: &'static str,
    pub exercise: String,
    /// The submission as named by the caller (its path on the CLI).
    pub submission: String,
    /// SHA-256 of its bytes, when they could be read.
    pub sha256: Option<String>,
    pub status: Status,
    /// Why the status is `error`.
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractProblems>,
    pub score: f64,
    pub max_score: f64,
    pub counts: Counts,
    /// The limits every case ran under.
    pub limits: CaseLimits,
    /// In the test data's order.
    pub tests: Vec<TestResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<SubmissionTiming>,
}

impl SubmissionReport {
    /// The same report without any wall-clock figure: identical for every
    /// run of the same submission.
    pub fn without_timing(&self) -> Self {
        let mut copy = self.clone();
        copy.timing = None;
        for t in &mut copy.tests {
            t.timing = None;
        }
        copy
    }
}
