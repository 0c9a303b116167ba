//! Gradescope's autograder `results.json`:
//!
//! ```json
//! {"score": 7.0, "max_score": 9.0, "execution_time": 0.01, "output": "…",
//!  "visibility": "visible", "stdout_visibility": "hidden",
//!  "tests": [{"name", "number", "score", "max_score", "status", "output", "visibility"}]}
//! ```
//!
//! - a test scores its points when it passes, 0 otherwise; `status` is
//!   `passed` or `failed` (every verdict but pass fails);
//! - a test's `output` is its verdict and message, then what the solution
//!   printed (cut with a notice);
//! - hidden cases get the exercise's `hidden_visibility` (by default
//!   `after_published`), the others `visible`;
//! - `execution_time` (seconds) is the only wall-clock figure, left out
//!   when timing is off.

use std::fmt::Write;

use serde::Serialize;

use crate::report::Renderer;
use crate::verdict::{Output, SubmissionReport, TestResult, Verdict, truncate_chars};

/// Characters of each captured stream shown in a test's output.
const OUTPUT_CHARS: usize = 2000;

#[derive(Serialize)]
struct Results<'a> {
    score: f64,
    max_score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_time: Option<f64>,
    output: String,
    visibility: &'static str,
    stdout_visibility: &'static str,
    tests: Vec<Test<'a>>,
}

#[derive(Serialize)]
struct Test<'a> {
    name: &'a str,
    number: String,
    score: f64,
    max_score: f64,
    status: &'static str,
    output: String,
    visibility: &'static str,
}

/// One submission's `results.json`, with the renderer's timing switch
/// and hidden-case visibility: indented when `pretty` (a file), one line
/// otherwise (a stream of many).
pub(crate) fn render(report: &SubmissionReport, renderer: &Renderer, pretty: bool) -> String {
    let c = report.counts;
    let mut output = format!(
        "{}: {} of {} tests passed",
        report.exercise, c.passed, c.total
    );
    if let Some(m) = &report.message {
        let _ = write!(output, "\n\n{m}");
    }
    let results = Results {
        score: report.score,
        max_score: report.max_score,
        execution_time: if renderer.timing {
            report.timing.map(|t| t.total_ms / 1e3)
        } else {
            None
        },
        output,
        visibility: "visible",
        stdout_visibility: "hidden",
        tests: report
            .tests
            .iter()
            .enumerate()
            .map(|(i, t)| Test {
                name: &t.name,
                number: (i + 1).to_string(),
                score: t.score,
                max_score: t.max_score,
                status: if t.verdict == Verdict::Pass {
                    "passed"
                } else {
                    "failed"
                },
                output: test_output(t),
                visibility: if t.hidden {
                    renderer.hidden_visibility.as_str()
                } else {
                    "visible"
                },
            })
            .collect(),
    };
    let text = if pretty {
        serde_json::to_string_pretty(&results)
    } else {
        serde_json::to_string(&results)
    };
    text.unwrap_or_else(|err| {
        serde_json::json!({"score": 0, "output": err.to_string(), "tests": []}).to_string()
    })
}

fn test_output(t: &TestResult) -> String {
    let mut out = t.verdict.to_string();
    if let Some(m) = &t.message {
        let _ = write!(out, ": {m}");
    }
    let _ = write!(out, "\n{}", t.test_code);
    for (label, stream) in [("stdout", &t.stdout), ("stderr", &t.stderr)] {
        append_stream(&mut out, label, stream);
    }
    out
}

fn append_stream(out: &mut String, label: &str, stream: &Output) {
    if stream.is_empty() {
        return;
    }
    let (text, cut) = truncate_chars(&stream.text, OUTPUT_CHARS);
    let _ = write!(out, "\n--- {label} ---\n{text}");
    if cut || stream.truncated {
        let _ = write!(
            out,
            "\n[output truncated: {} bytes written in all]",
            stream.total_bytes
        );
    }
}
