//! A readable table, one row per test case, with the reason under every
//! case that did not pass:
//!
//! ```text
//! leap_wrong.wasm — leap: fail, 7 of 9 passed, score 7/9
//!   pass            year not divisible by 4 in common year
//!   FAIL            year divisible by 400 is leap year
//!                     expected true, got false
//! ```
//!
//! No wall-clock figures: the same submission always prints the same.

use std::fmt::Write;

use crate::batch::BatchSummary;
use crate::verdict::{Output, Status, SubmissionReport, Verdict, truncate_chars};

/// Characters of captured output shown under a case that did not pass.
const OUTPUT_CHARS: usize = 300;
/// Lines of captured output shown under a case that did not pass.
const OUTPUT_LINES: usize = 4;

/// One submission's table: a heading line with its status and score,
/// then one row per case.
pub(crate) fn render(report: &SubmissionReport) -> String {
    let c = report.counts;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {}: {}, {} of {} passed, score {}/{}",
        report.submission,
        report.exercise,
        match report.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        },
        c.passed,
        c.total,
        number(report.score),
        number(report.max_score)
    );
    if let Some(m) = &report.message {
        let _ = writeln!(out, "  error: {m}");
    }
    for t in &report.tests {
        let verdict = if t.verdict == Verdict::Pass {
            t.verdict.as_str().to_string()
        } else {
            t.verdict.as_str().to_uppercase()
        };
        let hidden = if t.hidden { " (hidden)" } else { "" };
        let _ = writeln!(out, "  {verdict:<15} {}{hidden}", t.name);
        if t.verdict == Verdict::Pass {
            continue;
        }
        if let Some(m) = &t.message {
            let _ = writeln!(out, "                    {m}");
        }
        for (label, stream) in [("stdout", &t.stdout), ("stderr", &t.stderr)] {
            show_stream(&mut out, label, stream);
        }
    }
    out
}

fn show_stream(out: &mut String, label: &str, s: &Output) {
    if s.is_empty() {
        return;
    }
    let trimmed = s.text.trim();
    let (text, mut cut) = truncate_chars(trimmed, OUTPUT_CHARS);
    let lines: Vec<&str> = text.lines().take(OUTPUT_LINES).collect();
    cut |= lines.len() < text.lines().count();
    let text = lines.join("\n                      ");
    let _ = writeln!(out, "                    {label}: {text}");
    if cut || s.truncated {
        let _ = writeln!(
            out,
            "                    ({label} truncated: {} bytes written in all)",
            s.total_bytes
        );
    }
}

/// The closing line of a batch.
pub fn summary(s: &BatchSummary) -> String {
    let mut out = format!(
        "graded {} submissions: {} pass, {} fail, {} error; {} of {} test cases passed\n",
        s.submissions, s.passed, s.failed, s.errored, s.cases.passed, s.cases.total
    );
    for (who, why) in &s.write_failures {
        let _ = writeln!(out, "could not write the report of {who}: {why}");
    }
    out
}

/// Points without a pointless `.0`.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.2}")
    }
}
