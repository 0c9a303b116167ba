//! JUnit XML, the format CI systems read.
//!
//! ```xml
//! <testsuites name="warden grade leap">
//!   <testsuite name="SUBMISSION" tests="9" failures="2" errors="0" skipped="0">
//!     <properties>…exercise, status, score, max_score, sha256, message…</properties>
//!     <testcase classname="leap.leap-year" name="…">
//!       <failure type="fail" message="expected true, got false">…</failure>
//!       <system-out>…</system-out>
//!     </testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! A wrong value is a `<failure>`; every other verdict that is not a pass
//! is an `<error>` whose `type` is the verdict. `time` attributes are the
//! only wall-clock figures and are left out when timing is off. Written by
//! hand: text is escaped for XML, and characters XML cannot hold at all
//! (most control characters) are replaced by U+FFFD.

use std::fmt::Write;

use crate::verdict::{Output, SubmissionReport, TestResult, Verdict};

/// Closes the document [`header`] opened.
pub(crate) const FOOTER: &str = "</testsuites>\n";

/// The XML declaration and the `<testsuites>` element, named after the
/// exercise: what comes before the first submission's `<testsuite>`.
pub(crate) fn header(exercise: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\">\n",
        escape(&format!("warden grade {exercise}"))
    )
}

/// One submission as a `<testsuite>`.
pub(crate) fn suite(report: &SubmissionReport, timing: bool) -> String {
    let c = report.counts;
    let mut out = String::new();
    let _ = write!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\"",
        escape(&report.submission),
        c.total,
        c.failed,
        c.errored
    );
    if timing && let Some(t) = report.timing {
        let _ = write!(out, " time=\"{:.6}\"", t.total_ms / 1e3);
    }
    out.push_str(">\n    <properties>\n");
    let mut props = vec![
        ("exercise", report.exercise.clone()),
        ("status", report.status.as_str().to_string()),
        ("score", report.score.to_string()),
        ("max_score", report.max_score.to_string()),
    ];
    if let Some(h) = &report.sha256 {
        props.push(("sha256", h.clone()));
    }
    if let Some(m) = &report.message {
        props.push(("message", m.clone()));
    }
    for (name, value) in props {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(&value)
        );
    }
    out.push_str("    </properties>\n");
    for t in &report.tests {
        case(&mut out, report, t, timing);
    }
    if let Some(m) = &report.message {
        let _ = writeln!(out, "    <system-err>{}</system-err>", escape_text(m));
    }
    out.push_str("  </testsuite>\n");
    out
}

fn case(out: &mut String, report: &SubmissionReport, t: &TestResult, timing: bool) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"",
        escape(&format!("{}.{}", report.exercise, t.function)),
        escape(&t.name)
    );
    if timing && let Some(tt) = t.timing {
        let _ = write!(out, " time=\"{:.6}\"", tt.duration_us as f64 / 1e6);
    }
    if t.verdict == Verdict::Pass && t.stdout.is_empty() && t.stderr.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if t.verdict != Verdict::Pass {
        let tag = if t.verdict == Verdict::Fail {
            "failure"
        } else {
            "error"
        };
        let message = t.message.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>",
            t.verdict,
            escape(&message),
            escape_text(&format!("{message}\ntest: {}", t.test_code))
        );
    }
    stream(out, "system-out", &t.stdout);
    stream(out, "system-err", &t.stderr);
    out.push_str("    </testcase>\n");
}

fn stream(out: &mut String, tag: &str, s: &Output) {
    if s.is_empty() {
        return;
    }
    let mut text = escape_text(&s.text);
    if s.truncated {
        let _ = write!(
            text,
            "\n[output truncated: {} bytes written in all]",
            s.total_bytes
        );
    }
    let _ = writeln!(out, "      <{tag}>{text}</{tag}>");
}

/// Escapes text for an XML attribute or element. Newlines and tabs are
/// written as character references so attributes keep them.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escapes element text, keeping line breaks and tabs as they are.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\"\n\u{0}"),
            "a&lt;b &amp; &quot;c&quot;&#10;\u{FFFD}"
        );
        assert_eq!(escape_text("x]]>\n\u{1b}y"), "x]]&gt;\n\u{FFFD}y");
    }

    /// What an XML parser reads back from `escape` (in an attribute) and
    /// `escape_text` (in an element) is the text written, but for the
    /// characters XML cannot hold, which become U+FFFD. The reader is
    /// roxmltree, not one written by the same hand as these functions.
    #[test]
    fn a_real_xml_parser_reads_back_what_was_escaped() {
        let written = "a<b>&c \"d\" 'e' ]]> \r\n\t\u{0}\u{1b}\u{7f}\u{fffe}é😀\u{d7ff}\u{e000}";
        let kept = written.replace(['\u{0}', '\u{1b}', '\u{fffe}'], "\u{FFFD}");
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r a=\"{}\">{}</r>",
            escape(written),
            escape_text(written)
        );
        let parsed = roxmltree::Document::parse(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
        let root = parsed.root_element();
        assert_eq!(root.attribute("a"), Some(kept.as_str()), "{doc}");
        assert_eq!(root.text(), Some(kept.as_str()), "{doc}");
    }
}
