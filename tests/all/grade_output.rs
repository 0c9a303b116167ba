//! What `warden grade` prints: a submission-level problem told once, a
//! component too big for the memory limit named as such, JSON Lines with
//! names for several submissions, compile progress on stderr, and
//! `--format` values listed on a bad one.

use std::path::Path;

use serde_json::Value as Json;

use crate::grade_exercises::exercise_dir;
use crate::support::{plugin, stderr, stdout, warden, warden_cmd};

fn leap() -> String {
    exercise_dir("leap").to_str().expect("utf-8").to_string()
}

/// The one place the wrong signature of `leap_badsig` is spelled out.
const FOUND: &str = "found func(year: string) -> bool";

#[test]
fn a_wrong_signature_is_told_once_per_submission_in_every_format() {
    let badsig = plugin("leap_badsig");
    let badsig = badsig.to_str().expect("utf-8");
    for format in ["text", "json", "exercism", "gradescope", "junit"] {
        let run = warden(&["grade", &leap(), badsig, "--format", format, "--no-timing"]);
        assert_eq!(run.status.code(), Some(0), "{format}: {}", stderr(&run));
        let text = stdout(&run);
        match format {
            "json" => {
                let report: Json = serde_json::from_str(text.trim()).expect("JSON");
                assert_eq!(report["status"], "error");
                assert!(
                    report["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(FOUND)),
                    "{report}"
                );
                let tests = report["tests"].as_array().expect("tests");
                assert_eq!(tests.len(), 9);
                for t in tests {
                    assert_eq!(t["verdict"], "error");
                    let m = t["message"].as_str().expect("message");
                    assert!(!m.contains(FOUND), "{m}");
                    assert!(m.contains("do not match exercise.wit"), "{m}");
                }
            }
            "exercism" => {
                let doc: Json = serde_json::from_str(text.trim()).expect("JSON");
                assert_eq!(doc["status"], "error");
                assert!(
                    doc["message"].as_str().is_some_and(|m| m.contains(FOUND)),
                    "{doc}"
                );
                assert!(!doc["tests"].to_string().contains(FOUND), "{doc}");
            }
            "gradescope" => {
                let doc: Json = serde_json::from_str(text.trim()).expect("JSON");
                assert!(
                    doc["output"].as_str().is_some_and(|m| m.contains(FOUND)),
                    "{doc}"
                );
                assert!(!doc["tests"].to_string().contains(FOUND), "{doc}");
            }
            "junit" => {
                let doc = roxmltree::Document::parse(&text).expect("XML");
                let cases: Vec<_> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("testcase"))
                    .collect();
                assert_eq!(cases.len(), 9);
                for case in cases {
                    let all: String = case
                        .descendants()
                        .filter_map(|n| n.text().or_else(|| n.attribute("message")))
                        .collect();
                    assert!(!all.contains(FOUND), "{all}");
                }
                // Once, for the suite: its `message` property.
                let message = doc
                    .descendants()
                    .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("message"))
                    .and_then(|n| n.attribute("value"))
                    .unwrap_or_default();
                assert!(message.contains(FOUND), "{text}");
            }
            _ => {
                assert_eq!(text.matches(FOUND).count(), 1, "{text}");
            }
        }
    }
}

/// A component whose one linear memory starts at `pages` pages and whose
/// `leap-year` always says true.
fn big_memory_component(dir: &Path, pages: u32) -> std::path::PathBuf {
    let wat = format!(
        r#"(component
          (core module $m
            (memory (export "memory") {pages})
            (func (export "leap-year") (param i32) (result i32) i32.const 1))
          (core instance $i (instantiate $m))
          (func (export "leap-year") (param "year" u32) (result bool)
            (canon lift (core func $i "leap-year"))))"#
    );
    let bytes = wat::parse_str(&wat).expect("component WAT");
    let path = dir.join(format!("big{pages}.wasm"));
    std::fs::write(&path, bytes).expect("write component");
    path
}

#[test]
fn an_initial_memory_above_the_limit_is_named_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 300 pages: 18.75 MiB, above the 16 MiB this run allows.
    let big = big_memory_component(dir.path(), 300);
    let big = big.to_str().expect("utf-8");
    let run = warden(&[
        "grade",
        &leap(),
        big,
        "--memory-mb",
        "16",
        "--format",
        "json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report: Json = serde_json::from_str(stdout(&run).trim()).expect("JSON");
    assert_eq!(report["status"], "error");
    assert_eq!(report["initial_memory_bytes"], 300 * 65536);
    let message = report["message"].as_str().expect("message");
    assert!(
        message.starts_with(
            "the component's initial memory is 18.75 MiB, above the limit of 16 MiB; raise --memory-mb"
        ),
        "{message}"
    );
    assert!(message.contains("at least 19 MiB"), "{message}");
    for t in report["tests"].as_array().expect("tests") {
        assert_eq!(t["verdict"], "error");
        assert!(
            !t["message"].as_str().unwrap_or_default().contains("MiB"),
            "told once: {t}"
        );
    }

    // Raised as the message says, the same component is graded: it
    // answers true to every year, which is wrong for some.
    let run = warden(&[
        "grade",
        &leap(),
        big,
        "--memory-mb",
        "19",
        "--format",
        "json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report: Json = serde_json::from_str(stdout(&run).trim()).expect("JSON");
    assert_eq!(report["status"], "fail", "{report}");
    assert!(report["message"].is_null(), "{report}");
    assert!(report["counts"]["passed"].as_u64() > Some(0), "{report}");

    // The exercise's own limit (grading.toml) is held to the same check.
    let ex = tempfile::tempdir().expect("tempdir");
    for f in ["exercise.wit", "canonical-data.json"] {
        std::fs::copy(exercise_dir("leap").join(f), ex.path().join(f)).expect("copy");
    }
    std::fs::write(ex.path().join("grading.toml"), "[limits]\nmemory_mb = 2\n").expect("write");
    let small = big_memory_component(dir.path(), 40);
    let run = warden(&[
        "grade",
        ex.path().to_str().expect("utf-8"),
        small.to_str().expect("utf-8"),
        "--format",
        "text",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let text = stdout(&run);
    assert!(
        text.contains("the component's initial memory is 2.50 MiB, above the limit of 2 MiB"),
        "{text}"
    );
    assert_eq!(text.matches("initial memory").count(), 1, "{text}");
}

#[test]
fn several_submissions_print_json_lines_with_their_names() {
    let wrong = plugin("leap_wrong");
    let good = plugin("leap_ref");
    let names = [
        wrong.to_str().expect("utf-8"),
        good.to_str().expect("utf-8"),
    ];
    for format in ["exercism", "gradescope", "json"] {
        let run = warden(&["grade", &leap(), names[0], names[1], "--format", format]);
        assert_eq!(run.status.code(), Some(0), "{format}: {}", stderr(&run));
        let lines: Vec<Json> = stdout(&run)
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect();
        assert_eq!(lines.len(), 2, "{format}");
        for (line, name) in lines.iter().zip(names) {
            assert_eq!(line["submission"], name, "{format}: {line}");
            match format {
                "exercism" => {
                    assert_eq!(line["results"]["version"], 3, "{line}");
                    assert!(line["results"]["tests"].is_array(), "{line}");
                }
                "gradescope" => {
                    assert!(line["results"]["max_score"].is_number(), "{line}");
                }
                _ => assert_eq!(line["format"], "warden-grade/1", "{line}"),
            }
        }
    }

    // One submission: the format's own document, unchanged.
    let run = warden(&["grade", &leap(), names[1], "--format", "exercism"]);
    let doc: Json = serde_json::from_str(stdout(&run).trim()).expect("JSON");
    assert_eq!(doc["version"], 3);
    assert_eq!(doc["status"], "pass");
    assert!(doc.get("submission").is_none(), "{doc}");
}

#[test]
fn a_long_compile_shows_progress_on_stderr_only() {
    let good = plugin("leap_ref");
    let good = good.to_str().expect("utf-8");
    // Every compile counts as long: the lines must come although stderr
    // is a pipe, not a terminal.
    let run = warden_cmd(&["grade", &leap(), good, "--format", "json", "--no-cache"])
        .env("WARDEN_GRADE_PROGRESS_MS", "0")
        .output()
        .expect("run warden");
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let err = stderr(&run);
    let compiling = format!("compiling {good} (");
    assert!(err.contains(&compiling), "{compiling:?} not in {err}");
    assert!(err.contains(" KB)…\n"), "{err}");
    assert!(err.contains(&format!("compiled {good} in ")), "{err}");
    assert!(err.find("compiling") < err.find("compiled "), "{err}");
    let report: Json =
        serde_json::from_str(stdout(&run).trim()).expect("stdout is the report only");
    assert_eq!(report["status"], "pass");

    // A compile found in the cache is quick: nothing is said.
    let warm = warden(&["grade", &leap(), good, "--format", "json"]);
    let again = warden(&["grade", &leap(), good, "--format", "json"]);
    assert_eq!(warm.status.code(), Some(0));
    assert!(!stderr(&again).contains("compiling"), "{}", stderr(&again));
}

#[test]
fn a_bad_format_lists_the_valid_ones() {
    let good = plugin("leap_ref");
    let run = warden(&[
        "grade",
        &leap(),
        good.to_str().expect("utf-8"),
        "--format",
        "xml",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("[possible values: text, json, exercism, gradescope, junit]"),
        "{}",
        stderr(&run)
    );
}
