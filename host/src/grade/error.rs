//! Why an exercise could not be loaded. Every variant names the file and,
//! where there is one, the key or the test case at fault: these are the
//! teacher's mistakes, reported before any submission runs (exit 2).
//!
//! A submission's own problems are never errors of this kind: they end up
//! in its report (see [`crate::grade::SubmissionReport`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExerciseError {
    /// The exercise directory does not exist or is not a directory.
    #[error("{}: not an exercise directory ({reason})", path.display())]
    NotADirectory { path: PathBuf, reason: String },

    /// No test cases file in the directory.
    #[error(
        "{}: no test cases (expected canonical-data.json, canonical-data.toml or tests.toml with `cases`)",
        dir.display()
    )]
    NoCases { dir: PathBuf },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: invalid JSON: {message}", path.display())]
    Json { path: PathBuf, message: String },

    #[error("{}: invalid TOML: {message}", path.display())]
    Toml { path: PathBuf, message: String },

    /// `exercise.wit` does not parse or has no usable world.
    #[error("{}: {message}", path.display())]
    Wit { path: PathBuf, message: String },

    /// A `grading.toml` key has a value that makes no sense.
    #[error("{}: key `{key}`: {problem}", path.display())]
    Setting {
        path: PathBuf,
        key: String,
        problem: String,
    },

    /// A test case does not fit the shape the grader reads, or names a
    /// function or parameter `exercise.wit` does not have.
    #[error("{}: case {case}: {problem}", path.display())]
    Case {
        path: PathBuf,
        case: String,
        problem: String,
    },
}
