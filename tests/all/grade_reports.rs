//! Report formats: Exercism and Gradescope `results.json` checked against
//! their documented field sets, JUnit XML read back with a real XML parser (roxmltree).

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
        let doc = check_xml(&xml).unwrap_or_else(|e| panic!("{}: {e}\n{xml}", report.submission));
        let root = doc.root_element();
        assert!(root.has_tag_name("testsuites"), "{xml}");
        assert_eq!(
            root.attribute("name"),
            Some(format!("warden grade {}", report.exercise).as_str())
        );
        let suites: Vec<_> = elements(root, "testsuite").collect();
        assert_eq!(suites.len(), 1, "{xml}");
        let suite = suites[0];
        let c = report.counts;
        assert_eq!(suite.attribute("name"), Some(report.submission.as_str()));
        for (attr, want) in [
            ("tests", c.total),
            ("failures", c.failed),
            ("errors", c.errored),
            ("skipped", 0),
        ] {
            assert_eq!(
                suite.attribute(attr),
                Some(want.to_string().as_str()),
                "{attr}: {xml}"
            );
        }
        let cases: Vec<_> = elements(suite, "testcase").collect();
        assert_eq!(cases.len(), c.total, "{xml}");
        let count = |tag| {
            cases
                .iter()
                .filter(|t| elements(**t, tag).count() == 1)
                .count()
        };
        assert_eq!(count("failure"), c.failed, "{xml}");
        assert_eq!(count("error"), c.errored, "{xml}");
        for (case, t) in cases.iter().zip(&report.tests) {
            assert_eq!(case.attribute("name"), Some(t.name.as_str()));
            assert_eq!(
                case.attribute("classname"),
                Some(format!("{}.{}", report.exercise, t.function).as_str())
            );
        }
    }
    // Guest text with markup and control characters stays well-formed,
    // and what the parser reads back is what was written, but for the
    // characters XML cannot hold, which become U+FFFD.
    let (ex, mut report) = reports().remove(2);
    let stdout = "<b>&amp; \u{0}\u{1b}[31m ]]> \"'\r\n\tend";
    report.tests[0].stdout.text = stdout.into();
    report.tests[0].stdout.total_bytes = stdout.len() as u64;
    report.tests[0].stdout.truncated = false;
    let message = "a \"quoted\" <message>\n& more\ttab";
    report.tests[0].message = Some(message.into());
    report.submission = "odd <name> & \"quotes\" 'too'.wasm".into();
    let xml = render(Format::Junit, &ex, &report);
    let doc = check_xml(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let suite = elements(doc.root_element(), "testsuite")
        .next()
        .expect("a testsuite");
    assert_eq!(suite.attribute("name"), Some(report.submission.as_str()));
    let case = elements(suite, "testcase").next().expect("a testcase");
    let out = elements(case, "system-out").next().expect("system-out");
    assert_eq!(
        out.text(),
        Some("<b>&amp; \u{FFFD}\u{FFFD}[31m ]]> \"'\r\n\tend"),
        "{xml}"
    );
    let verdict = case
        .children()
        .find(|n| n.has_tag_name("failure") || n.has_tag_name("error"))
        .expect("a failure or error");
    assert_eq!(verdict.attribute("message"), Some(message), "{xml}");
    let body = verdict.text().unwrap_or_default();
    assert!(body.starts_with(&format!("{message}\ntest: ")), "{body:?}");
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

/// Parses `doc` with a real XML 1.0 parser (roxmltree), not one written
/// by the same hand as the JUnit writer: an error is the parser's own,
/// with its line and column.
pub fn check_xml(doc: &str) -> Result<roxmltree::Document<'_>, String> {
    roxmltree::Document::parse(doc).map_err(|e| format!("not well-formed XML: {e}"))
}

/// The element children of `node` named `tag`.
fn elements<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    tag: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(move |n| n.is_element() && n.has_tag_name(tag))
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
