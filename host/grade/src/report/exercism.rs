//! Exercism's `results.json`, version 3 (the test runner interface):
//!
//! ```json
//! {"version": 3, "status": "pass|fail|error", "message": "…|null",
//!  "tests": [{"name", "status", "message", "output", "test_code", "task_id"}]}
//! ```
//!
//! - top-level `status` is the submission's; `message` is set only for
//!   `error` (a submission that is not a component, does not link, or
//!   does not match `exercise.wit`), `null` otherwise;
//! - tests are in the test data's order; a test's `status` is `pass`,
//!   `fail` (wrong value) or `error` (every other verdict, named in its
//!   message);
//! - `output` is what the solution printed (stdout, then stderr), at most
//!   500 characters, cut with Exercism's notice; `null` when nothing;
//! - `task_id` is the number of the top-level group the case sits in, and
//!   absent for a case outside any group;
//! - a hidden case keeps its status but shows no name, code, message or
//!   output.

use serde::Serialize;

use crate::verdict::{Status, SubmissionReport, TestResult, Verdict, truncate_chars};

/// Exercism's cap on a test's output, in characters.
pub(crate) const OUTPUT_LIMIT_CHARS: usize = 500;
/// Exercism's wording for cut output.
pub(crate) const TRUNCATION_NOTICE: &str = "Output was truncated. Please limit to 500 chars";

#[derive(Serialize)]
struct Results<'a> {
    version: u32,
    status: &'static str,
    message: Option<&'a str>,
    tests: Vec<Test<'a>>,
}

#[derive(Serialize)]
struct Test<'a> {
    name: String,
    status: &'static str,
    message: Option<String>,
    output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<u32>,
}

/// One submission's `results.json`: indented when `pretty` (a file),
/// one line otherwise (a stream of many).
pub(crate) fn render(report: &SubmissionReport, pretty: bool) -> String {
    let mut hidden_count = 0;
    let results = Results {
        version: 3,
        status: report.status.as_str(),
        message: match report.status {
            Status::Error => Some(
                report
                    .message
                    .as_deref()
                    .unwrap_or("the submission could not be graded"),
            ),
            _ => None,
        },
        tests: report
            .tests
            .iter()
            .map(|t| {
                if t.hidden {
                    hidden_count += 1;
                    Test {
                        name: format!("hidden test {hidden_count}"),
                        status: status(t),
                        message: None,
                        output: None,
                        test_code: None,
                        task_id: t.task_id,
                    }
                } else {
                    Test {
                        name: t.name.clone(),
                        status: status(t),
                        message: message(t),
                        output: output(t),
                        test_code: Some(&t.test_code),
                        task_id: t.task_id,
                    }
                }
            })
            .collect(),
    };
    let text = if pretty {
        serde_json::to_string_pretty(&results)
    } else {
        serde_json::to_string(&results)
    };
    text.unwrap_or_else(|err| {
        serde_json::json!({"version": 3, "status": "error", "message": err.to_string(), "tests": []})
            .to_string()
    })
}

fn status(t: &TestResult) -> &'static str {
    match t.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        _ => "error",
    }
}

fn message(t: &TestResult) -> Option<String> {
    let m = t.message.as_ref()?;
    Some(match t.verdict {
        Verdict::Pass | Verdict::Fail | Verdict::Error => m.clone(),
        other => format!("{other}: {m}"),
    })
}

/// Stdout then stderr, cut to Exercism's limit with its notice.
fn output(t: &TestResult) -> Option<String> {
    let mut all = String::new();
    let mut cut = false;
    for stream in [&t.stdout, &t.stderr] {
        all.push_str(&stream.text);
        cut |= stream.truncated;
    }
    if all.is_empty() && !cut {
        return None;
    }
    if !cut && all.chars().count() <= OUTPUT_LIMIT_CHARS {
        return Some(all);
    }
    let room = OUTPUT_LIMIT_CHARS - TRUNCATION_NOTICE.chars().count() - 1;
    let (kept, _) = truncate_chars(&all, room);
    Some(format!("{kept}\n{TRUNCATION_NOTICE}"))
}
