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

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use warden_component::{CapturedText, Mistyped};

use crate::settings::CaseLimits;

/// The outcome of one test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The verdict's name in reports and JSON (`fuel_exhausted`).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The status's name in reports and JSON (`pass`, `fail`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }
}

/// Captured guest output of one case, as kept in reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Keeps the first [`REPORT_OUTPUT_CHARS`] characters of a call's
    /// captured stream.
    pub(crate) fn from_capture(captured: &CapturedText) -> Self {
        let (text, cut) = truncate_chars(&captured.text, REPORT_OUTPUT_CHARS);
        Self {
            text: text.to_string(),
            total_bytes: captured.total_bytes,
            truncated: cut || captured.truncated,
        }
    }

    /// True when the guest wrote nothing to the stream.
    pub(crate) fn is_empty(&self) -> bool {
        self.total_bytes == 0
    }
}

/// The first `max` characters of `s`, and whether anything was cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    }
}

/// Wall-clock figures of one case: the only part of a test result that
/// varies between runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TestTiming {
    /// Microseconds from planning the call to its verdict: the new
    /// instance, the call and the comparison.
    pub duration_us: u64,
}

/// One test case's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestResult {
    /// Group and case descriptions joined by " › ".
    pub name: String,
    /// The case's uuid, when the test data gives one.
    pub uuid: Option<String>,
    /// The test data's property (`leapYear`).
    pub property: String,
    /// The export called (`leap-year`).
    pub function: String,
    /// How the case ended.
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
    /// 1-based number of the top-level group the case sits in (Exercism's
    /// task), if it sits in one.
    pub task_id: Option<u32>,
    /// Not shown to students (see `grading.toml`'s `hidden`).
    pub hidden: bool,
    /// Points earned: `max_score` on a pass, else 0.
    pub score: f64,
    /// The case's points ([`TestCase::points`](crate::TestCase::points)).
    pub max_score: f64,
    /// Fuel the call used, when metered (instantiation not included).
    pub fuel_used: Option<u64>,
    /// What the guest wrote to stdout during the call.
    pub stdout: Output,
    /// What the guest wrote to stderr during the call.
    pub stderr: Output,
    /// How long the case took; `None` for a case that was not run, or
    /// once [`SubmissionReport::without_timing`] dropped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<TestTiming>,
}

/// Export mismatches against `exercise.wit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContractProblems {
    /// Missing functions, as `name: expected signature`.
    pub missing: Vec<String>,
    /// Functions exported with another signature than `exercise.wit`'s.
    pub mistyped: Vec<Mistyped>,
}

/// How many cases ended how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Cases in the report, whatever their verdict.
    pub total: usize,
    /// Cases with [`Verdict::Pass`].
    pub passed: usize,
    /// Cases with [`Verdict::Fail`] (a wrong value).
    pub failed: usize,
    /// Every verdict other than pass and fail.
    pub errored: usize,
}

impl Counts {
    /// Counts the verdicts of `tests`.
    pub(crate) fn of(tests: &[TestResult]) -> Self {
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SubmissionTiming {
    /// Compiling (or loading from cache) and linking.
    pub load_ms: f64,
    /// Everything, from reading the file to the last case.
    pub total_ms: f64,
}

/// The name of Warden's own report format, with its version.
pub const REPORT_FORMAT: &str = "warden-grade/1";

/// Everything about grading one submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmissionReport {
    /// Always [`REPORT_FORMAT`].
    #[serde(skip_deserializing, default = "report_format")]
    pub format: &'static str,
    /// The exercise's name ([`Exercise::name`](crate::Exercise::name)).
    pub exercise: String,
    /// The submission as named by the caller (its path on the CLI).
    pub submission: String,
    /// SHA-256 of its bytes, when they could be read.
    pub sha256: Option<String>,
    /// Bytes of all its linear memories at their initial sizes, read
    /// before compiling: what every instance needs before the first call,
    /// and what the memory limit must be at least. `None` when the bytes
    /// could not be read or parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_memory_bytes: Option<u64>,
    /// How the submission did as a whole.
    pub status: Status,
    /// Why the status is `error`.
    pub message: Option<String>,
    /// How its exports miss `exercise.wit`, when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractProblems>,
    /// Points earned over all cases.
    pub score: f64,
    /// Points available over all cases, whether they ran or not.
    pub max_score: f64,
    /// How many cases ended how.
    pub counts: Counts,
    /// The limits every case ran under.
    pub limits: CaseLimits,
    /// In the test data's order.
    pub tests: Vec<TestResult>,
    /// How long loading and grading took; `None` in the report that
    /// stands in for a grader panic, or once
    /// [`SubmissionReport::without_timing`] dropped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<SubmissionTiming>,
}

/// `format` of a report read back (one that crossed a process boundary,
/// such as a fleet worker's): the only format there is.
fn report_format() -> &'static str {
    REPORT_FORMAT
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
