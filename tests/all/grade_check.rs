//! `warden grade --check`: exercise folders validated with no submission,
//! every problem listed at once, checked with the real binary against
//! folders broken in several ways together.

use std::path::Path;

use serde_json::Value as Json;

use crate::grade_exercises::exercise_dir;
use crate::support::{stderr, stdout, warden};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write exercise file");
}

fn check(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["grade", "--check", dir.to_str().expect("utf-8 path")];
    args.extend(extra);
    warden(&args)
}

#[test]
fn every_example_exercise_passes_the_check() {
    let root = exercise_dir("leap")
        .parent()
        .expect("examples/exercises")
        .to_path_buf();
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("read examples/exercises") {
        let dir = entry.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let run = check(&dir, &[]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}: {}",
            dir.display(),
            stderr(&run)
        );
        assert!(stdout(&run).contains(": ok — "), "{}", stdout(&run));
        checked += 1;
    }
    assert_eq!(checked, 19);

    let run = check(&exercise_dir("leap"), &[]);
    assert!(
        stdout(&run).contains("ok — 1 function(s) (leap-year), 9 test case(s), 9 point(s)"),
        "{}",
        stdout(&run)
    );
    let run = check(&exercise_dir("leap"), &["--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report: Json = serde_json::from_str(stdout(&run).trim()).expect("JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(report["exercise"], "leap");
    assert_eq!(report["cases"], 9);
    assert_eq!(report["problems"], serde_json::json!([]));
}

/// A folder with a good WIT and every other kind of mistake at once: bad
/// `grading.toml` values and references, a case of the wrong shape, a
/// property and an input that name nothing, and inputs and expectations
/// whose JSON does not fit the WIT types.
#[test]
fn a_folder_broken_in_many_ways_lists_every_problem_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ex = dir.path();
    write(
        ex,
        "exercise.wit",
        "package exercise:shapes;\n\nworld solution {\n  record point { x: s32, y: s32 }\n  export distance: func(a: point, b: point) -> result<u32, string>;\n  export is-leap: func(year: u32) -> bool;\n}\n",
    );
    write(
        ex,
        "grading.toml",
        "float_tolerance = -1.0\nhidden = [\"no-such-uuid\"]\nunordered = [\"sort\"]\n[limits]\nmemory_mb = 0\n",
    );
    write(
        ex,
        "canonical-data.json",
        r#"{"exercise": "shapes", "cases": [
          {"uuid": "u1", "description": "fine", "property": "isLeap", "input": {"year": 2000}, "expected": true},
          {"uuid": "u2", "description": "typo in property", "property": "isLaep", "input": {"year": 2000}, "expected": true},
          {"uuid": "u3", "description": "typo in input", "property": "isLeap", "input": {"yaer": 2000}, "expected": true},
          {"uuid": "u4", "description": "no expectation", "property": "isLeap", "input": {"year": 1}},
          {"uuid": "u5", "description": "negative year", "property": "isLeap", "input": {"year": -4}, "expected": false},
          {"uuid": "u6", "description": "expected a string", "property": "isLeap", "input": {"year": 4}, "expected": "yes"},
          {"uuid": "u7", "description": "point without y", "property": "distance", "input": {"a": {"x": 1}, "b": {"x": 0, "y": 0}}, "expected": 1},
          {"uuid": "u8", "description": "error of the wrong type", "property": "distance", "input": {"a": {"x": 1, "y": 0}, "b": {"x": 0, "y": 0}}, "expected": {"error": 7}},
          {"uuid": "u9", "description": "fine too", "property": "distance", "input": {"a": {"x": 3, "y": 4}, "b": {"x": 0, "y": 0}}, "expected": 5}
        ]}"#,
    );
    let run = check(ex, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let err = stderr(&run);
    let expected = [
        "key `float_tolerance`: expected a finite number >= 0, found -1",
        "key `limits.memory_mb`: expected at least 1",
        "key `hidden`: no test case has uuid `no-such-uuid`",
        "key `unordered`: exercise.wit exports no function `sort`",
        "case \"typo in property\" (u2): property `isLaep` names no function",
        "case \"typo in input\" (u3): input `yaer` is not a parameter of `is-leap`",
        "case \"no expectation\": missing `expected`",
        "case \"negative year\" (u5): the test data does not fit exercise.wit: `input.year`",
        "case \"expected a string\" (u6): the test data does not fit exercise.wit: `expected`",
        "case \"point without y\" (u7): the test data does not fit exercise.wit: `input.a",
        "case \"error of the wrong type\" (u8): the test data does not fit exercise.wit: `expected.error`",
    ];
    for want in expected {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(
        err.contains(&format!("{} problem(s):", expected.len())),
        "{err}"
    );
    assert!(!err.contains("\"fine\""), "{err}");
    assert!(!err.contains("fine too"), "{err}");
    assert!(stdout(&run).is_empty(), "{}", stdout(&run));

    // The same in JSON, on stdout, still exiting 2.
    let run = check(ex, &["--format", "json"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let report: Json = serde_json::from_str(stdout(&run).trim()).expect("JSON");
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(expected.len())
    );
    assert_eq!(report["cases"], 2, "the two fine cases: {report}");

    // Grading such a folder stops at the first problem, and says how to
    // see them all.
    let run = warden(&[
        "grade",
        ex.to_str().expect("utf-8"),
        "/no/submission/needed.wasm",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--check"), "{}", stderr(&run));
}

/// Problems in files that stop the rest from being read still come
/// together: a WIT that does not parse, unknown `grading.toml` keys and a
/// case file that is not JSON.
#[test]
fn broken_files_are_all_reported_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ex = dir.path();
    write(
        ex,
        "exercise.wit",
        "package exercise:x;\nworld solution {\n  export f: func(a: u32) -> boool;\n}\n",
    );
    write(ex, "grading.toml", "points = 3\n[limits]\nfule = 10\n");
    write(ex, "canonical-data.json", "{\"cases\": [ not json ]}");
    let run = check(ex, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let err = stderr(&run);
    for want in [
        "4 problem(s):",
        "exercise.wit: ",
        "boool",
        // The parser stops at one unknown key; the others are named too.
        "grading.toml: invalid TOML: line 3, column 1: unknown field `fule`",
        "grading.toml: key `points`: unknown key",
        "canonical-data.json: invalid JSON: ",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }

    // No world named `solution` among several, and no case file at all.
    let dir = tempfile::tempdir().expect("tempdir");
    let ex = dir.path();
    write(
        ex,
        "exercise.wit",
        "package exercise:x;\nworld one { export f: func() -> u32; }\nworld two { export g: func() -> u32; }\n",
    );
    let run = check(ex, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let err = stderr(&run);
    assert!(err.contains("2 problem(s):"), "{err}");
    assert!(
        err.contains("declares several worlds (one, two) and none is named `solution`"),
        "{err}"
    );
    assert!(err.contains("no test cases"), "{err}");

    // Not a folder: one problem, exit 2.
    let run = warden(&["grade", "--check", "/no/such/exercise"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("/no/such/exercise"),
        "{}",
        stderr(&run)
    );

    // --check takes no submission, and prints only text or JSON.
    let leap = exercise_dir("leap");
    let leap = leap.to_str().expect("utf-8");
    let run = warden(&["grade", "--check", leap, "x.wasm"]);
    assert_eq!(run.status.code(), Some(2));
    let run = warden(&["grade", "--check", leap, "--format", "junit"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("--check prints text or json"),
        "{}",
        stderr(&run)
    );
}
