//! Grading Python and JavaScript solutions from source (`warden grade
//! EXERCISE x.py|x.js`): every exercise's reference and wrong solutions in
//! both languages, the verdicts of misbehaving code, what a solution can
//! reach (nothing), determinism, and the error of a missing toolchain.
//!
//! The runners (one interpreter component per language, ~20 s to build and
//! ~25 s to compile) are built once per test run and shared: every `warden
//! grade` here uses one cache directory under `target/`, and [`warm`]
//! builds each language's runner once before any test of it grades. A
//! missing toolchain fails these tests with the grader's message, which
//! names the install command: they never pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value as Json;

use crate::grade_exercises::WRONG_FAILS;
use crate::support::{HostProcess, demo_tree, repo_root, stderr, stdout};

/// The compile and runner cache every test here shares (see the module docs).
fn cache_dir() -> PathBuf {
    repo_root().join("target/grade-languages-cache")
}

/// `warden grade EXERCISE FILES… --format json --no-timing` with the shared
/// cache: one report per submission, in the order given.
fn grade(exercise: &str, files: &[PathBuf], env: &[(&str, &str)]) -> Vec<Json> {
    let dir = repo_root().join("examples/exercises").join(exercise);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.arg("grade")
        .arg(&dir)
        .args(files)
        .args(["--format", "json", "--no-timing", "-j", "2"])
        .env("WARDEN_CACHE_DIR", cache_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run warden grade");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "warden grade {exercise} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Json> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON report per line"))
        .collect();
    assert_eq!(reports.len(), files.len(), "{stdout}");
    reports
}

/// Builds (or finds) `language`'s runner once per test run, by grading the
/// reference leap solution; panics with the grader's message (which names
/// the install command) when the toolchain is missing.
fn warm(language: &str) {
    static PYTHON: OnceLock<()> = OnceLock::new();
    static JAVASCRIPT: OnceLock<()> = OnceLock::new();
    let (cell, ext) = match language {
        "python" => (&PYTHON, "py"),
        _ => (&JAVASCRIPT, "js"),
    };
    cell.get_or_init(|| {
        let report = &grade("leap", &[solution("leap", "example", ext)], &[])[0];
        assert_eq!(
            report["status"], "pass",
            "the {language} runner does not work: {}",
            report["message"]
        );
    });
}

/// `plugins/exercises/<exercise>_<ref|wrong>/solution.<ext>`, beside the
/// Rust solution of the same name (whose header says what is wrong).
fn solution(exercise: &str, which: &str, ext: &str) -> PathBuf {
    let which = if which == "example" { "ref" } else { which };
    repo_root()
        .join("plugins/exercises")
        .join(format!("{}_{which}", exercise.replace('-', "_")))
        .join(format!("solution.{ext}"))
}

fn uuids_not_passing(report: &Json) -> Vec<String> {
    report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter(|t| t["verdict"] != "pass")
        .map(|t| t["uuid"].as_str().unwrap_or("")[..8].to_string())
        .collect()
}

/// Each exercise's reference passes every case; its wrong solution fails
/// exactly the cases the Rust wrong solution fails, each as `fail`.
fn every_exercise(language: &str, ext: &str) {
    warm(language);
    for (exercise, wrong_fails) in WRONG_FAILS {
        let reports = grade(
            exercise,
            &[
                solution(exercise, "example", ext),
                solution(exercise, "wrong", ext),
            ],
            &[],
        );
        let (good, bad) = (&reports[0], &reports[1]);
        assert_eq!(
            good["status"],
            "pass",
            "{exercise}: the {language} reference: {} {:?}",
            good["message"],
            uuids_not_passing(good)
        );
        assert!(good["counts"]["total"].as_u64().unwrap() > 0);
        let mut failing = uuids_not_passing(bad);
        failing.sort();
        let mut expected: Vec<String> = wrong_fails.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(
            failing, expected,
            "{exercise}: the {language} wrong solution"
        );
        for test in bad["tests"].as_array().unwrap() {
            assert!(
                test["verdict"] == "pass" || test["verdict"] == "fail",
                "{exercise}: {test}"
            );
        }
    }
}

#[test]
fn python_solutions_of_every_exercise() {
    every_exercise("python", "py");
}

#[test]
fn javascript_solutions_of_every_exercise() {
    every_exercise("javascript", "js");
}

/// Leap solutions that misbehave on 2015 (the first case) only.
struct Misbehaving {
    ext: &'static str,
    syntax: &'static str,
    exception: &'static str,
    exception_text: &'static str,
    exception_line: &'static str,
    looping: &'static str,
    bomb: &'static str,
    flood: &'static str,
    probe: &'static str,
    missing: &'static str,
    missing_name: &'static str,
}

const PYTHON: Misbehaving = Misbehaving {
    ext: "py",
    syntax: "def leap_year(year):\n    return year % 4 == 0 and (\n",
    exception: "def leap_year(year):\n    if year == 2015:\n        raise ValueError(\"no 2015 here\")\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
    exception_text: "ValueError: no 2015 here",
    exception_line: "\"exception.py\", line 3",
    looping: "def leap_year(year):\n    while year == 2015:\n        pass\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
    bomb: "def leap_year(year):\n    hoard = []\n    while year == 2015:\n        hoard.append(\"x\" * 1000000)\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
    flood: "def leap_year(year):\n    while year == 2015:\n        print(\"spam\" * 100)\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
    probe: r#"import os, socket, time

def leap_year(year):
    got = []
    try:
        got.append("file:" + open("/etc/passwd").read())
    except Exception as e:
        got.append("file denied")
    try:
        got.append("dir:" + ",".join(os.listdir("/")))
    except Exception as e:
        got.append("dir denied")
    try:
        s = socket.socket()
        s.connect(("127.0.0.1", 9))
        got.append("socket:open")
    except Exception as e:
        got.append("socket denied")
    got.append("clock:%d" % time.time())
    print(" ".join(got))
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
"#,
    missing: "def leapyear(year):\n    return True\n",
    missing_name: "leap_year",
};

const JAVASCRIPT: Misbehaving = Misbehaving {
    ext: "js",
    syntax: "export function leapYear(year) {\n  return year % 4 === 0 &&;\n}\n",
    exception: "export function leapYear(year) {\n  if (year === 2015) {\n    throw new Error(\"no 2015 here\");\n  }\n  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);\n}\n",
    exception_text: "Error: no 2015 here",
    exception_line: "exception.js:3",
    looping: "export function leapYear(year) {\n  while (year === 2015) {}\n  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);\n}\n",
    bomb: "export function leapYear(year) {\n  const hoard = [];\n  while (year === 2015) { hoard.push(new ArrayBuffer(1 << 24)); }\n  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);\n}\n",
    flood: "export function leapYear(year) {\n  while (year === 2015) { console.log(\"spam\".repeat(100)); }\n  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);\n}\n",
    probe: r#"export function leapYear(year) {
  const got = [];
  got.push(typeof require === "undefined" ? "require denied" : "require:open");
  got.push(typeof process === "undefined" ? "process denied" : "process:open");
  got.push(`clock:${Math.floor(Date.now() / 1000)}`);
  console.log(got.join(" "));
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}
"#,
    missing: "export function leap(year) {\n  return true;\n}\n",
    missing_name: "leapYear",
};

fn misbehaving(language: &str, m: &Misbehaving) {
    warm(language);
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = [
        ("syntax", m.syntax),
        ("exception", m.exception),
        ("looping", m.looping),
        ("bomb", m.bomb),
        ("flood", m.flood),
        ("probe", m.probe),
        ("missing", m.missing),
    ]
    .iter()
    .map(|(name, text)| {
        let path = dir.path().join(format!("{name}.{}", m.ext));
        std::fs::write(&path, text).expect("write");
        path
    })
    .collect();
    let reports = grade("leap", &files, &[]);
    let by_name = |name: &str| {
        reports
            .iter()
            .find(|r| {
                Path::new(r["submission"].as_str().unwrap()).file_stem()
                    == Some(std::ffi::OsStr::new(name))
            })
            .unwrap_or_else(|| panic!("no report for {name}"))
    };
    // A syntax error: the submission's error, naming the line.
    let syntax = by_name("syntax");
    assert_eq!(syntax["status"], "error", "{syntax}");
    let message = syntax["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("syntax.{}, line 2", m.ext)) && message.contains("SyntaxError"),
        "{message}"
    );
    // A missing function: named, and its cases not run.
    let missing = by_name("missing");
    assert_eq!(missing["status"], "error");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains(&format!("`{}`", m.missing_name)),
        "{missing}"
    );
    assert_eq!(missing["counts"]["passed"], 0);
    // The others misbehave on the first case only: the eight others pass.
    for (name, verdict) in [
        ("exception", &["error"][..]),
        ("looping", &["fuel_exhausted", "timeout"][..]),
        ("bomb", &["memory_limit"][..]),
        ("flood", &["output_limit"][..]),
        ("probe", &["pass"][..]),
    ] {
        let report = by_name(name);
        let tests = report["tests"].as_array().unwrap();
        assert!(
            verdict.contains(&tests[0]["verdict"].as_str().unwrap()),
            "{language} {name}: {}",
            tests[0]
        );
        assert!(
            tests[1..].iter().all(|t| t["verdict"] == "pass"),
            "{language} {name}: the other cases: {report}"
        );
    }
    let exception = &by_name("exception")["tests"][0]["message"];
    let exception = exception.as_str().unwrap();
    assert!(
        exception.contains(m.exception_text) && exception.contains(m.exception_line),
        "the message and the traceback's line: {exception}"
    );
    let flood = &by_name("flood")["tests"][0]["stdout"];
    assert!(flood["truncated"] == true, "{flood}");
    // The probe got nothing: no file, no directory, no socket, no clock.
    let printed = by_name("probe")["tests"][0]["stdout"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!printed.contains(":open"), "{printed}");
    assert!(!printed.contains("root:"), "{printed}");
    assert!(
        printed.contains("clock:0"),
        "a real clock reached the guest: {printed}"
    );
}

#[test]
fn python_misbehaving_solutions_get_their_verdicts() {
    misbehaving("python", &PYTHON);
}

#[test]
fn javascript_misbehaving_solutions_get_their_verdicts() {
    misbehaving("javascript", &JAVASCRIPT);
}

/// One function missing of three: its cases say so, the others run.
#[test]
fn a_missing_function_stops_only_its_cases() {
    warm("python");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("partial.py");
    std::fs::write(
        &path,
        "def square_of_sum(n):\n    return sum(range(n + 1)) ** 2\n\n\ndef sum_of_squares(n):\n    return sum(i * i for i in range(n + 1))\n",
    )
    .unwrap();
    let report = &grade("difference-of-squares", &[path], &[])[0];
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("`difference_of_squares`"),
        "{report}"
    );
    for test in report["tests"].as_array().unwrap() {
        let expected = if test["function"] == "difference-of-squares" {
            "error"
        } else {
            "pass"
        };
        assert_eq!(test["verdict"], expected, "{test}");
    }
}

/// The same `.py` graded 20 times in one batch (two jobs) gives
/// byte-identical reports, and a second run the same again.
#[test]
fn python_reports_are_byte_identical() {
    warm("python");
    let path = solution("word-count", "wrong", "py");
    let lines = |n| {
        let files = vec![path.clone(); n];
        grade("word-count", &files, &[])
            .into_iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
    };
    let first = lines(20);
    assert!(first.iter().all(|l| *l == first[0]), "reports differ");
    assert_eq!(lines(1)[0], first[0]);
}

/// Without the toolchain the report names the command that installs it.
#[test]
fn a_missing_toolchain_names_its_install_command() {
    let python = &grade(
        "leap",
        &[solution("leap", "example", "py")],
        &[("WARDEN_COMPONENTIZE_PY", "/nonexistent/componentize-py")],
    )[0];
    assert_eq!(python["status"], "error");
    assert!(
        python["message"]
            .as_str()
            .unwrap()
            .contains("pip install componentize-py==0.25.1"),
        "{python}"
    );
    let js = &grade(
        "leap",
        &[solution("leap", "example", "js")],
        &[("WARDEN_TOOLS_DIR", "/nonexistent/tools")],
    )[0];
    assert_eq!(js["status"], "error");
    assert!(
        js["message"]
            .as_str()
            .unwrap()
            .contains("@bytecodealliance/componentize-js@0.23.0"),
        "{js}"
    );
}

/// A directory means its `.py` (and `.js`, `.wasm`) files; `--language`
/// grades a file whose extension says nothing.
#[test]
fn directories_and_language_override() {
    warm("python");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["alice.py", "bob.py", "notes.txt"] {
        std::fs::copy(solution("leap", "example", "py"), dir.path().join(name)).unwrap();
    }
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("grade")
            .arg(repo_root().join("examples/exercises/leap"))
            .args(args)
            .args(["--format", "json", "--no-timing"])
            .env("WARDEN_CACHE_DIR", cache_dir())
            .output()
            .expect("run warden grade");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Json>(l).expect("JSON"))
            .collect::<Vec<_>>()
    };
    let graded = run(&[dir.path().as_os_str()]);
    let names: Vec<&str> = graded
        .iter()
        .map(|r| {
            r["submission"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["alice.py", "bob.py"]);
    assert!(graded.iter().all(|r| r["status"] == "pass"));
    let notes = dir.path().join("notes.txt");
    let as_python = run(&[notes.as_os_str(), "--language".as_ref(), "python".as_ref()]);
    assert_eq!(as_python[0]["status"], "pass", "{}", as_python[0]);
    let as_component = run(&[notes.as_os_str()]);
    assert_eq!(as_component[0]["status"], "error");
}

/// `grade` over the API of a host started with `env`: the op's result
/// (or the error `warden ctl` printed, with its exit code).
fn grade_op(host: &HostProcess, params: &Json) -> Result<Json, (Option<i32>, String)> {
    let out = host.ctl(&["--json", "op", "grade", &params.to_string()]);
    if out.status.success() {
        Ok(serde_json::from_str(&stdout(&out)).expect("a JSON report"))
    } else {
        Err((
            out.status.code(),
            format!("{}{}", stdout(&out), stderr(&out)),
        ))
    }
}

/// The HTTP `grade` operation grades sources as `warden grade` does, with
/// the runner found in the same cache: leap's Python reference passes its
/// 9 cases and the wrong one fails 2; `language` names the language of a
/// file whose extension says nothing; without the toolchain the error
/// names its install command.
#[test]
fn the_grade_operation_grades_sources() {
    warm("python");
    let cache = cache_dir();
    let cache = cache.to_str().expect("utf-8 cache path");
    let host = HostProcess::start_tree(&demo_tree(""), &[("WARDEN_CACHE_DIR", cache)]);
    for (which, name) in [
        ("example", "leap.py"),
        ("wrong", "wrong.py"),
        ("example", "leap.txt"),
    ] {
        std::fs::copy(solution("leap", which, "py"), host.dir().join(name)).unwrap();
    }
    let exercise = repo_root().join("examples/exercises/leap");
    let graded = |file: &str, extra: Json| {
        let mut params = serde_json::json!({
            "exercise": exercise,
            "solution": host.dir().join(file),
            "timing": false,
        });
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        grade_op(&host, &params)
    };
    let pass = graded("leap.py", serde_json::json!({}))
        .unwrap_or_else(|e| panic!("{e:?}\n{}", host.log()));
    assert_eq!(pass["status"], "pass", "{pass}");
    assert_eq!(pass["counts"]["passed"], 9, "{pass}");
    let fail = graded("wrong.py", serde_json::json!({})).unwrap();
    assert_eq!(fail["status"], "fail", "{fail}");
    assert_eq!(fail["counts"]["passed"], 7, "{fail}");
    let named = graded("leap.txt", serde_json::json!({"language": "python"})).unwrap();
    assert_eq!(named["status"], "pass", "{named}");
    let (code, text) = graded("leap.py", serde_json::json!({"language": "cobol"}))
        .expect_err("an unknown language");
    assert_ne!(code, Some(0));
    assert!(text.contains("/language"), "{text}");
    drop(host);

    let host = HostProcess::start_tree(
        &demo_tree(""),
        &[
            ("WARDEN_CACHE_DIR", cache),
            ("WARDEN_COMPONENTIZE_PY", "/nonexistent/componentize-py"),
        ],
    );
    std::fs::copy(
        solution("leap", "example", "py"),
        host.dir().join("leap.py"),
    )
    .unwrap();
    let params = serde_json::json!({"exercise": exercise, "solution": host.dir().join("leap.py")});
    let (_, text) = grade_op(&host, &params).expect_err("no toolchain");
    assert!(
        text.contains("pip install componentize-py==0.25.1"),
        "{text}"
    );
    assert!(text.contains("500") || text.contains("failed"), "{text}");
}
