//! Exercise grading: run a student's component against an exercise's test
//! cases, each in a fresh sandbox, and report the verdicts.
//!
//! The nouns, in the order a caller meets them:
//! - [`Exercise`]: a folder of test cases, contract and settings, loaded
//!   and validated up front, or an [`ExerciseError`] naming the file;
//!   [`check_exercise`] lists every problem of a folder at once, including
//!   test data that does not fit the WIT types ([`CheckReport`]);
//! - [`Folder`]: how every file is read, inside its folder only, never a
//!   FIFO or device, never past a size limit ([`FileError`] otherwise);
//! - [`TestCase`]: one case of `canonical-data.json` (Exercism's format, or
//!   the same in TOML: [`CaseFormat`]), flattened, with its [`Expected`];
//! - [`Contract`]: the functions `exercise.wit` says a solution exports,
//!   each a [`ContractFunc`];
//! - [`Settings`]: `grading.toml` validated: [`CaseLimits`], points, hidden
//!   cases and their [`Visibility`];
//! - [`Submission`]: a component to grade, with [`GradeOptions`] (and their
//!   [`LimitOverrides`]) saying how;
//! - [`grade_submission`]: one submission in, one [`SubmissionReport`] out,
//!   with a [`Status`] and [`Counts`];
//! - [`TestResult`]: one case's [`Verdict`], values and [`Output`];
//! - [`grade_batch`]: many submissions on `jobs` threads, each report
//!   handed to a [`ReportSink`] ([`Collect`], [`StreamSink`], [`DirSink`]),
//!   then a [`BatchSummary`];
//! - [`Renderer`]: a report in one [`Format`]: text, Warden's JSON,
//!   Exercism, Gradescope or JUnit ([`report`]).
//!
//! The crate owns exercises, the conventions that turn test data into
//! component values and results into verdicts, and the report formats. It
//! runs guests only through `warden_component` (compiled once per
//! submission, a fresh sandbox per case, under fuel, memory, wall-clock
//! and output limits) and never names wasmtime; it knows nothing of the
//! CLI, HTTP or the supervision tree.
//!
//! Guarantees: grading is deterministic — the same submission gives the
//! same report apart from `timing` fields, whatever the machine's load,
//! because fuel decides CPU verdicts and guests get neither a real clock
//! nor real randomness unless the exercise grants them. Nothing a
//! submission does can make grading fail or stop other submissions.
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

pub mod batch;
pub mod check;
mod compare;
pub mod contract;
mod error;
pub mod exercise;
pub mod folder;
mod mapping;
pub mod report;
pub mod runner;
pub mod settings;
pub mod source;
pub mod verdict;

pub use batch::{BatchSummary, Collect, ReportSink, grade_batch};
pub use check::{CheckReport, check_exercise};
pub use contract::{Contract, ContractFunc};
pub use error::ExerciseError;
pub use exercise::{CaseFormat, Exercise, Expected, TestCase, parse_cases};
pub use folder::{FileError, Folder};
pub use report::{DirSink, Format, Renderer, StreamSink};
pub use runner::{
    CompileEvent, CompileHook, GradeOptions, MAX_SUBMISSION_BYTES, Submission, grade_submission,
    initial_memory_bytes,
};
pub use settings::{CaseLimits, LimitOverrides, Settings, Visibility};
pub use source::{Language, Runners};
pub use verdict::{Counts, Output, Status, SubmissionReport, TestResult, Verdict};
