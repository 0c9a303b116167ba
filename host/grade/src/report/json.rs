//! Warden's own report: the [`SubmissionReport`] model serialised, every
//! detail included (expected and actual values, fuel, captured output,
//! limits, contract problems).
//!
//! Wall-clock figures appear only under `timing` keys (per test and per
//! submission); without them the report is byte-identical from run to run.

use crate::verdict::SubmissionReport;

/// `pretty` for files, compact (one line) for streams.
pub fn render(report: &SubmissionReport, timing: bool, pretty: bool) -> String {
    let stripped;
    let report = if timing {
        report
    } else {
        stripped = report.without_timing();
        &stripped
    };
    let text = if pretty {
        serde_json::to_string_pretty(report)
    } else {
        serde_json::to_string(report)
    };
    // The model holds only strings, numbers and maps with string keys.
    text.unwrap_or_else(|err| {
        serde_json::json!({ "error": format!("cannot serialise the report: {err}") }).to_string()
    })
}
