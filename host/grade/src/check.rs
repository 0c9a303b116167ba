//! `warden grade --check`: an exercise folder validated with no
//! submission, every problem listed at once.
//!
//! [`Exercise::load`](crate::Exercise::load) stops at the first problem,
//! which is right before grading (nothing can be graded against a broken
//! exercise) but slow for the teacher writing one, who would fix a problem
//! only to meet the next. [`check_exercise`] goes on past each: bad WIT or
//! a missing world, unreadable files, `grading.toml` keys and values,
//! cases of the wrong shape, properties naming no function, inputs naming
//! no parameter, settings naming no case — and then the one check loading
//! cannot make without a submission: whether every case's inputs and
//! expected value fit the WIT types.
//!
//! That last check builds a stand-in component from `exercise.wit` (its
//! functions do nothing; see [`crate::contract::stand_in`]), compiles it,
//! and plans every case's call against its exports with the very code
//! grading uses ([`crate::mapping::plan`]): what it accepts, grading
//! accepts. The stand-in is never instantiated or run.

use std::path::{Path, PathBuf};

use serde::Serialize;

use warden_component::{Metering, Runtime};

use crate::contract::stand_in;
use crate::error::ExerciseError;
use crate::exercise::Parts;
use crate::mapping::plan;

/// What [`check_exercise`] found.
#[derive(Debug)]
pub struct CheckReport {
    /// The folder as given.
    pub dir: PathBuf,
    /// The exercise's name (the test data's `exercise`, or the folder's).
    pub name: String,
    /// The functions `exercise.wit` asks for, as reports name them.
    pub functions: Vec<String>,
    /// Test cases that load without a problem.
    pub cases: usize,
    /// Points on offer over those cases.
    pub max_score: f64,
    /// Every problem, in the order the files are read: `exercise.wit`,
    /// `grading.toml`, `tests.toml`, the case file, then the cases.
    pub problems: Vec<ExerciseError>,
}

impl CheckReport {
    /// True when there is nothing to fix.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON: `{"exercise", "dir", "ok", "functions",
    /// "cases", "max_score", "problems": ["…", …]}`.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Json<'a> {
            exercise: &'a str,
            dir: String,
            ok: bool,
            functions: &'a [String],
            cases: usize,
            max_score: f64,
            problems: Vec<String>,
        }
        serde_json::to_value(Json {
            exercise: &self.name,
            dir: self.dir.display().to_string(),
            ok: self.is_ok(),
            functions: &self.functions,
            cases: self.cases,
            max_score: self.max_score,
            problems: self.problems.iter().map(ToString::to_string).collect(),
        })
        .unwrap_or_else(|err| serde_json::json!({ "error": err.to_string() }))
    }
}

/// Checks the exercise in `dir` without a submission (see the module
/// docs). Never stops at a problem: each is in the report. `runtime`
/// compiles the stand-in component (in this process: its bytes are the
/// grader's own).
pub fn check_exercise(runtime: &Runtime, dir: &Path) -> CheckReport {
    let mut problems = Vec::new();
    let parts = match Parts::gather(dir, &mut problems) {
        Ok(parts) => parts,
        Err(fatal) => {
            return CheckReport {
                dir: dir.to_path_buf(),
                name: dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                functions: Vec::new(),
                cases: 0,
                max_score: 0.0,
                problems: vec![fatal],
            };
        }
    };
    let mut fitting = parts.cases.len();
    let mut max_score: f64 = parts.cases.iter().map(|c| c.points).sum();
    if let (Some(contract), Some(wit)) = (&parts.contract, &parts.wit) {
        let wit_path = dir.join("exercise.wit");
        let compiled = stand_in(&wit_path, wit).and_then(|bytes| {
            runtime
                .compile_own(&bytes, Metering::Off)
                .map_err(|e| e.to_string())
        });
        match compiled {
            Err(why) => problems.push(ExerciseError::Wit {
                path: wit_path,
                message: format!(
                    "the test data cannot be checked against this world's types: {why}"
                ),
            }),
            Ok(compiled) => {
                let check = contract.check(&compiled);
                if let Some(message) = check.message() {
                    // The stand-in is built from the same WIT: a mismatch is
                    // the grader's own bug, told rather than hidden.
                    problems.push(ExerciseError::Wit {
                        path: dir.join("exercise.wit"),
                        message: format!("the stand-in component built from it: {message}"),
                    });
                }
                for case in &parts.cases {
                    let Some(func) = check.resolved.get(&case.function) else {
                        continue;
                    };
                    if let Err(problem) = plan(case, func) {
                        fitting -= 1;
                        max_score -= case.points;
                        problems.push(ExerciseError::Case {
                            path: parts.cases_file.clone(),
                            case: match &case.uuid {
                                Some(u) => format!("\"{}\" ({u})", case.name),
                                None => format!("\"{}\"", case.name),
                            },
                            problem,
                        });
                    }
                }
            }
        }
    }
    CheckReport {
        dir: dir.to_path_buf(),
        name: parts.name,
        functions: parts
            .contract
            .as_ref()
            .map(|c| c.functions.iter().map(|f| f.key.clone()).collect())
            .unwrap_or_default(),
        cases: fitting,
        max_score,
        problems,
    }
}
