//! Exercise grading: run a student's component against an exercise's test
//! cases, each in a fresh sandbox, and report the verdicts.
//!
//! The pieces, in the order data flows through them:
//! - [`Exercise`] — a folder with `canonical-data.json` (Exercism's
//!   format), `exercise.wit` (the [`Contract`]) and an optional
//!   `grading.toml` ([`Settings`]), loaded and validated up front
//!   ([`exercise`], [`contract`], [`settings`]), every file read inside
//!   its folder only, never through a link leading out of it, never a
//!   FIFO or device, never beyond a size limit ([`folder`]);
//! - [`grade_submission`] — one submission: compiled and linked once, its
//!   exports checked against the contract, then every case run in a new
//!   instance under fuel, memory, wall-clock and output limits
//!   ([`runner`], with the value mapping in [`mapping`] and the comparison
//!   in [`compare`]);
//! - [`grade_batch`] — many submissions on `jobs` threads, each report
//!   handed to a [`ReportSink`] as soon as it is ready ([`batch`]);
//! - [`report`] — the formats: text, Warden's JSON, Exercism, Gradescope,
//!   JUnit.
//!
//! ```no_run
//! use warden_component::{Runtime, RuntimeConfig};
//! use warden_grade::{Exercise, GradeOptions, Submission, grade_submission};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let exercise = Exercise::load("examples/exercises/leap".as_ref())?;
//! let report = grade_submission(
//!     &runtime,
//!     &exercise,
//!     &Submission::File("leap.wasm".into()),
//!     &GradeOptions::default(),
//! );
//! println!("{}: {} of {} passed", report.status.as_str(), report.counts.passed, report.counts.total);
//! # Ok(())
//! # }
//! ```
//!
//! Guarantees: grading is deterministic — the same submission gives the
//! same report apart from `timing` fields, whatever the machine's load,
//! because fuel decides CPU verdicts and guests get neither a real clock
//! nor real randomness unless the exercise grants them. Nothing a
//! submission does can make grading fail or stop other submissions.

pub mod batch;
pub mod compare;
pub mod contract;
mod error;
pub mod exercise;
pub mod folder;
pub mod mapping;
pub mod report;
pub mod runner;
pub mod settings;
pub mod verdict;

pub use batch::{BatchSummary, Collect, ReportSink, grade_batch};
pub use contract::{Contract, ContractCheck, ContractFunc};
pub use error::ExerciseError;
pub use exercise::{CaseFormat, Exercise, Expected, TestCase, parse_cases};
pub use folder::{FileError, Folder};
pub use report::{DirSink, Format, Renderer, StreamSink};
pub use runner::{GradeOptions, MAX_SUBMISSION_BYTES, Submission, grade_submission};
pub use settings::{CaseLimits, LimitOverrides, Settings, Visibility};
pub use verdict::{Counts, Output, Status, SubmissionReport, TestResult, Verdict};
