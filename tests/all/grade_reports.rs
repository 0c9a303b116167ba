//! Report formats: Exercism and Gradescope `results.json` checked against
//! their documented field sets, JUnit XML checked for well-formedness.

use serde_json::Value as Json;
use warden::grade::report::{Format, Renderer};
use warden::grade::{Exercise, GradeOptions, SubmissionReport};

use crate::grade_exercises::{exercise, exercise_dir, grade, write};

/// Submissions covering every kind of outcome.
const SOLUTIONS: &[(&str, &str)] = &[
    ("leap", "leap_ref"),
    ("leap", "leap_wrong"),
    ("leap", "leap_trap"),
    ("leap", "leap_noisy"),
    ("leap", "leap_loop"),
    ("leap", "leap_badsig"),
    ("grains", "grains_wrong"),
    ("word-count", "word_count_wrong"),
];

fn reports() -> Vec<(Exercise, SubmissionReport)> {
    SOLUTIONS
        .iter()
        .map(|(ex, sol)| {
            let ex = exercise(ex);
            let report = grade(&ex, sol, &GradeOptions::default());
            (ex, report)
        })
        .collect()
}

fn render(format: Format, ex: &Exercise, report: &SubmissionReport) -> String {
    Renderer::new(format, ex).document(report)
}

fn keys(v: &Json) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_keys(v: &Json, allowed: &[&str], required: &[&str], what: &str) {
    let keys = keys(v);
    for k in &keys {
        assert!(allowed.contains(k), "{what}: unknown key `{k}` in {v}");
    }
    for r in required {
        assert!(keys.contains(r), "{what}: missing key `{r}` in {v}");
    }
}

fn string_or_null(v: Option<&Json>) -> bool {
    matches!(v, None | Some(Json::Null) | Some(Json::String(_)))
}

/// Exercism's test runner interface, version 3.
fn check_exercism(doc: &Json, ex: &Exercise, what: &str) {
    assert_keys(
        doc,
        &["version", "status", "message", "tests"],
        &["version", "status", "tests"],
        what,
    );
    assert_eq!(doc["version"], 3, "{what}");
    let status = doc["status"].as_str().expect("status is a string");
    assert!(
        ["pass", "fail", "error"].contains(&status),
        "{what}: status {status}"
    );
    if status == "error" {
        assert!(
            doc["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: an error needs a message"
        );
    } else {
        assert!(doc["message"].is_null(), "{what}: message only for errors");
    }
    let tests = doc["tests"].as_array().expect("tests is an array");
    assert_eq!(tests.len(), ex.cases.len(), "{what}");
    for (t, case) in tests.iter().zip(&ex.cases) {
        assert_keys(
            t,
            &[
                "name",
                "status",
                "message",
                "output",
                "test_code",
                "task_id",
            ],
            &["name", "status"],
            what,
        );
        // In file order.
        assert_eq!(t["name"], case.name.as_str(), "{what}");
        assert!(
            ["pass", "fail", "error"].contains(&t["status"].as_str().unwrap()),
            "{what}"
        );
        assert!(string_or_null(t.get("message")), "{what}");
        assert!(string_or_null(t.get("output")), "{what}");
        if let Some(out) = t.get("output").and_then(Json::as_str) {
            assert!(
                out.chars().count() <= 500,
                "{what}: output of {} chars",
                out.chars().count()
            );
        }
        assert!(t["test_code"].is_string(), "{what}");
        if let Some(task) = t.get("task_id") {
            assert!(
                task.as_u64().is_some_and(|n| n >= 1),
                "{what}: task_id {task}"
            );
        }
        if t["status"] != "pass" {
            assert!(t["message"].is_string(), "{what}: a failure says why");
        }
    }
    let failing = tests.iter().filter(|t| t["status"] != "pass").count();
    assert_eq!(status == "pass", failing == 0, "{what}");
}

/// Gradescope's autograder results format.
fn check_gradescope(doc: &Json, what: &str) {
    assert_keys(
        doc,
        &[
            "score",
            "max_score",
            "execution_time",
            "output",
            "output_format",
            "test_output_format",
            "test_name_format",
            "visibility",
            "stdout_visibility",
            "extra_data",
            "tests",
            "leaderboard",
        ],
        &["score", "tests"],
        what,
    );
    let visibilities = ["hidden", "after_due_date", "after_published", "visible"];
    let score = doc["score"].as_f64().expect("score is a number");
    let max = doc["max_score"].as_f64().expect("max_score is a number");
    assert!(score >= 0.0 && score <= max, "{what}");
    assert!(visibilities.contains(&doc["visibility"].as_str().unwrap()));
    let mut sum = 0.0;
    let mut max_sum = 0.0;
    for t in doc["tests"].as_array().expect("tests") {
        assert_keys(
            t,
            &[
                "score",
                "max_score",
                "status",
                "name",
                "name_format",
                "number",
                "output",
                "output_format",
                "tags",
                "visibility",
                "extra_data",
            ],
            &[
                "score",
                "max_score",
                "name",
                "status",
                "output",
                "visibility",
            ],
            what,
        );
        let s = t["score"].as_f64().unwrap();
        let m = t["max_score"].as_f64().unwrap();
        assert!(s >= 0.0 && s <= m, "{what}");
        sum += s;
        max_sum += m;
        let status = t["status"].as_str().unwrap();
        assert!(["passed", "failed"].contains(&status), "{what}: {status}");
        assert_eq!(status == "passed", s == m && m > 0.0, "{what}: {t}");
        assert!(
            visibilities.contains(&t["visibility"].as_str().unwrap()),
            "{what}"
        );
        assert!(t["name"].is_string() && t["output"].is_string(), "{what}");
    }
    assert_eq!(sum, score, "{what}");
    assert_eq!(max_sum, max, "{what}");
}

#[test]
fn exercism_reports_match_the_documented_fields() {
    for (ex, report) in reports() {
        let what = format!("exercism {}", report.submission);
        let doc: Json = serde_json::from_str(&render(Format::Exercism, &ex, &report)).unwrap();
        check_exercism(&doc, &ex, &what);
        match report.submission.rsplit('/').next().unwrap() {
            "leap_badsig.wasm" => {
                assert_eq!(doc["status"], "error");
                assert!(doc["message"].as_str().unwrap().contains("leap-year"));
            }
            "leap_noisy.wasm" => {
                let out = doc["tests"][0]["output"].as_str().unwrap();
                assert!(
                    out.ends_with("Output was truncated. Please limit to 500 chars"),
                    "{out}"
                );
                assert_eq!(doc["tests"][0]["status"], "error");
                assert!(
                    doc["tests"][0]["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("output_limit: ")
                );
            }
            "leap_wrong.wasm" => {
                assert_eq!(doc["status"], "fail");
                assert_eq!(doc["tests"][6]["message"], "expected true, got false");
                assert_eq!(
                    doc["tests"][6]["test_code"],
                    "leap-year(year: 2000) == true"
                );
            }
            "grains_wrong.wasm" => {
                assert_eq!(doc["tests"][0]["task_id"], 1);
                assert_eq!(
                    doc["tests"][10]["task_id"],
                    Json::Null,
                    "total is outside any group"
                );
                assert!(doc["tests"][10].get("task_id").is_none());
            }
            _ => {}
        }
    }
}

#[test]
fn gradescope_reports_match_the_documented_fields() {
    for (ex, report) in reports() {
        let what = format!("gradescope {}", report.submission);
        let doc: Json = serde_json::from_str(&render(Format::Gradescope, &ex, &report)).unwrap();
        check_gradescope(&doc, &what);
        assert_eq!(doc["score"].as_f64().unwrap(), report.score);
    }
}

#[test]
fn hidden_cases_are_hidden_from_students_only() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["exercise.wit", "canonical-data.json"] {
        std::fs::copy(exercise_dir("leap").join(f), dir.path().join(f)).unwrap();
    }
    write(
        dir.path(),
        "grading.toml",
        "points_per_test = 2.5\nhidden = [\"42ee56ad-d3e6-48f1-8e3f-c84078d916fc\"]\n",
    );
    let ex = Exercise::load(dir.path()).unwrap();
    let report = grade(&ex, "leap_wrong", &GradeOptions::default());
    assert_eq!(report.max_score, 22.5);
    assert_eq!(report.score, 17.5);
    let hidden = report
        .tests
        .iter()
        .find(|t| t.hidden)
        .expect("one hidden case");
    assert_eq!(hidden.name, "year divisible by 400 is leap year");

    let gs: Json = serde_json::from_str(&render(Format::Gradescope, &ex, &report)).unwrap();
    check_gradescope(&gs, "gradescope hidden");
    assert_eq!(gs["tests"][6]["visibility"], "after_published");
    assert_eq!(gs["tests"][5]["visibility"], "visible");

    let exm: Json = serde_json::from_str(&render(Format::Exercism, &ex, &report)).unwrap();
    let t = &exm["tests"][6];
    assert_eq!(t["name"], "hidden test 1");
    assert_eq!(t["status"], "fail");
    assert!(t["message"].is_null() && t.get("test_code").is_none());
}

#[test]
fn junit_reports_are_well_formed_xml_with_the_right_counts() {
    for (ex, report) in reports() {
        let xml = render(Format::Junit, &ex, &report);
        check_xml(&xml).unwrap_or_else(|e| panic!("{}: {e}\n{xml}", report.submission));
        let c = report.counts;
        assert!(
            xml.contains(&format!(
                "tests=\"{}\" failures=\"{}\" errors=\"{}\"",
                c.total, c.failed, c.errored
            )),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), c.total);
        assert_eq!(xml.matches("<failure ").count(), c.failed);
        assert_eq!(xml.matches("<error ").count(), c.errored);
    }
    // Guest text with markup and control characters stays well-formed.
    let (ex, mut report) = reports().remove(2);
    report.tests[0].stdout.text = "<b>&amp; \u{0}\u{1b}[31m ]]> \"'".into();
    report.tests[0].stdout.total_bytes = 20;
    report.tests[0].message = Some("a \"quoted\" <message>\n& more".into());
    report.submission = "odd <name> & \"quotes\".wasm".into();
    let xml = render(Format::Junit, &ex, &report);
    check_xml(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
}

#[test]
fn text_reports_show_every_case_and_why_it_failed() {
    let ex = exercise("leap");
    let report = grade(&ex, "leap_wrong", &GradeOptions::default());
    let text = render(Format::Text, &ex, &report);
    assert!(
        text.starts_with(&format!(
            "{} — leap: FAIL, 7 of 9 passed, score 7/9\n",
            report.submission
        )),
        "{text}"
    );
    assert_eq!(
        text.matches("expected true, got false").count(),
        2,
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("  pass ")).count(), 7);
}

/// A small XML 1.0 well-formedness check: one root element, tags nest
/// and match, attributes are quoted and unique, every `&` starts a known
/// entity or a character reference, and no text holds `<` or a character
/// XML forbids.
pub fn check_xml(doc: &str) -> Result<(), String> {
    let mut rest = doc;
    if let Some(after) = rest.strip_prefix("<?xml") {
        let end = after.find("?>").ok_or("unterminated XML declaration")?;
        rest = &after[end + 2..];
    }
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        check_text(&rest[..lt])?;
        if !stack.is_empty() || rest[..lt].trim().is_empty() {
        } else {
            return Err(format!("text outside the root: {:?}", &rest[..lt]));
        }
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        let gt = find_tag_end(rest).ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_:.".contains(c))
        {
            return Err(format!("bad tag name {name:?}"));
        }
        check_attributes(&body[name_end..])?;
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

/// The `>` ending a tag, outside quoted attribute values.
fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn check_attributes(mut s: &str) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s
            .find('=')
            .ok_or_else(|| format!("attribute without value: {s:?}"))?;
        let name = s[..eq].trim();
        if !seen.insert(name.to_string()) {
            return Err(format!("duplicate attribute {name}"));
        }
        let after = s[eq + 1..].trim_start();
        let q = after.chars().next().ok_or("missing attribute value")?;
        if q != '"' && q != '\'' {
            return Err(format!("unquoted attribute {name}"));
        }
        let end = after[1..].find(q).ok_or("unterminated attribute value")?;
        let value = &after[1..1 + end];
        if value.contains('<') {
            return Err(format!("`<` in attribute {name}"));
        }
        check_text(value)?;
        s = &after[end + 2..];
    }
}

fn check_text(s: &str) -> Result<(), String> {
    for c in s.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
        if !ok {
            return Err(format!(
                "character U+{:04X} is not allowed in XML",
                c as u32
            ));
        }
    }
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        rest = &rest[amp + 1..];
        let semi = rest.find(';').ok_or("`&` without `;`")?;
        let entity = &rest[..semi];
        let known = ["amp", "lt", "gt", "quot", "apos"].contains(&entity)
            || entity
                .strip_prefix("#x")
                .is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
            || entity
                .strip_prefix('#')
                .is_some_and(|d| d.parse::<u32>().is_ok());
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &rest[semi + 1..];
    }
    if s.contains("]]>") {
        return Err("`]]>` in text".into());
    }
    Ok(())
}

#[test]
fn the_xml_check_can_fail() {
    assert!(check_xml("<a><b></a></b>").is_err());
    assert!(check_xml("<a x=\"1\" x=\"2\"/>").is_err());
    assert!(check_xml("<a>&nbsp;</a>").is_err());
    assert!(check_xml("<a>\u{1}</a>").is_err());
    assert!(check_xml("<a/><b/>").is_err());
    assert!(check_xml("<a x=1/>").is_err());
    assert!(check_xml("<?xml version=\"1.0\"?>\n<a x='&lt;'>t&amp;<b/></a>\n").is_ok());
}
