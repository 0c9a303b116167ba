//! Why an exercise could not be loaded. Every variant names the file and,
//! where there is one, the key or the test case at fault: these are the
//! teacher's mistakes, reported before any submission runs (exit 2).
//!
//! A submission's own problems are never errors of this kind: they end up
//! in its report (see [`crate::SubmissionReport`]).
//!
//! An exercise folder may have been written by anyone (a guest with a
//! writable directory, a student): no message quotes more of a file than
//! the token at fault. Parsers' own messages are used without the source
//! line they would show ([`toml_problem`], [`json_problem`]), and cut to
//! [`MAX_PROBLEM_CHARS`].

use std::path::PathBuf;

use crate::folder::FileError;

/// The longest parser message an error carries.
pub const MAX_PROBLEM_CHARS: usize = 300;

/// Why an exercise folder could not be loaded: the teacher's mistake,
/// found by [`Exercise::load`](crate::Exercise::load) before any
/// submission runs. The CLI exits with status 2 for every variant.
#[derive(Debug, thiserror::Error)]
pub enum ExerciseError {
    /// The exercise directory does not exist or is not a directory.
    #[error("{}: not an exercise directory ({reason})", path.display())]
    NotADirectory {
        /// The directory as given.
        path: PathBuf,
        /// Why it cannot be opened as one (`it is a file`, the OS error).
        reason: String,
    },

    /// No test cases file in the directory.
    #[error(
        "{}: no test cases (expected canonical-data.json, canonical-data.toml or tests.toml with `cases`)",
        dir.display()
    )]
    NoCases {
        /// The exercise directory.
        dir: PathBuf,
    },

    /// A file that could not be read, or was refused: a link leading out
    /// of the folder, not a regular file, too large, not UTF-8.
    #[error(transparent)]
    File(#[from] FileError),

    /// A JSON case file does not parse, or is not an object with `cases`.
    #[error("{}: invalid JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message with its line and column, cut to 300
        /// characters.
        message: String,
    },

    /// A TOML file (cases, `tests.toml`, `grading.toml`) does not parse,
    /// or a `grading.toml` key is unknown or of the wrong type.
    #[error("{}: invalid TOML: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message with its line, column and key path but
        /// not the source line, cut to 300 characters.
        message: String,
    },

    /// `exercise.wit` does not parse or has no usable world.
    #[error("{}: {message}", path.display())]
    Wit {
        /// The `exercise.wit` file.
        path: PathBuf,
        /// wit-parser's message without the source line, or which world
        /// is missing or exports nothing.
        message: String,
    },

    /// A `grading.toml` key has a value that makes no sense.
    #[error("{}: key `{key}`: {problem}", path.display())]
    Setting {
        /// The `grading.toml` file.
        path: PathBuf,
        /// The key's dotted path (`limits.memory_mb`).
        key: String,
        /// What is wrong with its value.
        problem: String,
    },

    /// A test case does not fit the shape the grader reads, or names a
    /// function or parameter `exercise.wit` does not have.
    #[error("{}: case {case}: {problem}", path.display())]
    Case {
        /// The case file.
        path: PathBuf,
        /// The case's quoted name (groups joined by " › "), with its uuid
        /// when it has one; `(top level)` for the file's own shape.
        case: String,
        /// What does not fit.
        problem: String,
    },
}

/// A TOML parser's message, with the line and column but without the
/// source line `toml`'s `Display` shows: the key path and the offending
/// token are all it quotes.
pub(crate) fn toml_problem(mut err: toml::de::Error, text: &str) -> String {
    let at = err.span().map(|span| line_column(text, span.start));
    // Without its input, the error renders as its message and key path.
    err.set_input(None);
    let what = err
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let what = bounded(&what);
    match at {
        Some((line, column)) => format!("line {line}, column {column}: {what}"),
        None => what,
    }
}

/// A JSON parser's message ("expected value at line 1 column 1"): serde_json
/// never quotes the source in a syntax error; bounded all the same.
pub(crate) fn json_problem(err: &serde_json::Error) -> String {
    bounded(&err.to_string())
}

/// `text` cut to [`MAX_PROBLEM_CHARS`] characters.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_PROBLEM_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_problems_keep_the_key_and_token_but_not_the_line() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only the error matters")]
        struct Limits {
            fuel: u64,
        }
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only the error matters")]
        struct Raw {
            limits: Limits,
        }
        let text = "# SECRET-MARKER in a comment\n[limits]\nfuel = \"lots\" # SECRET-MARKER\n";
        let err = toml::from_str::<Raw>(text).unwrap_err();
        assert!(
            err.to_string().contains("SECRET-MARKER"),
            "toml shows the line"
        );
        let problem = toml_problem(err, text);
        assert_eq!(
            problem,
            "line 3, column 8: invalid type: string \"lots\", expected u64, in `limits.fuel`"
        );

        let text = "root:*:20228:0:99999:7:::\n";
        let err = toml::from_str::<Raw>(text).unwrap_err();
        let problem = toml_problem(err, text);
        assert!(!problem.contains("root:"), "{problem}");
        assert!(problem.starts_with("line 1, column 26: "), "{problem}");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = format!("invalid type: string \"{}\"", "x".repeat(1000));
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_PROBLEM_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(line_column("ab\ncé\nd", 6), (2, 3));
    }
}
