//! `warden grade`: batches, report files, formats and exit statuses.

use serde_json::Value as Json;

use crate::grade_exercises::exercise_dir;
use crate::grade_reports::check_xml;
use crate::support::{plugin, stderr, stdout, warden};

fn leap() -> String {
    exercise_dir("leap").to_str().unwrap().to_string()
}

/// A directory of submissions: good ones, broken ones, garbage, and a
/// file that is not a `.wasm` (ignored).
fn submissions_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, from) in [
        ("alice", "leap_ref"),
        ("bob", "leap_wrong"),
        ("carol", "leap_trap"),
        ("dave", "leap_badsig"),
        ("erin", "leap_loop"),
        ("frank", "leap_oom"),
    ] {
        std::fs::copy(plugin(from), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    std::fs::write(dir.path().join("garbage.wasm"), b"\x7fELF this is not wasm").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a submission").unwrap();
    dir
}

#[test]
fn a_batch_grades_every_file_in_parallel_and_reports_the_broken_ones() {
    let subs = submissions_dir();
    let out = tempfile::tempdir().unwrap();
    let run = warden(&[
        "grade",
        &leap(),
        subs.path().to_str().unwrap(),
        "--jobs",
        "2",
        "--out",
        out.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(
        stdout(&run).is_empty(),
        "reports go to files: {}",
        stdout(&run)
    );
    assert!(
        stderr(&run).contains("graded 7 submissions: 1 pass, 4 fail, 2 error"),
        "{}",
        stderr(&run)
    );
    let mut files: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "alice.json",
            "bob.json",
            "carol.json",
            "dave.json",
            "erin.json",
            "frank.json",
            "garbage.json"
        ]
    );
    let read = |name: &str| -> Json {
        serde_json::from_slice(&std::fs::read(out.path().join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("alice.json")["status"], "pass");
    assert_eq!(read("bob.json")["counts"]["failed"], 2);
    assert_eq!(read("carol.json")["tests"][0]["verdict"], "error");
    assert_eq!(read("erin.json")["tests"][8]["verdict"], "fuel_exhausted");
    // Instances are pooled: the memory limiter, not the pool, still decides.
    let frank = read("frank.json");
    assert!(
        frank["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verdict"] == "memory_limit"),
        "{frank}"
    );
    let dave = read("dave.json");
    assert_eq!(dave["status"], "error");
    assert!(
        dave["message"]
            .as_str()
            .unwrap()
            .contains("`leap-year` has the wrong type")
    );
    let garbage = read("garbage.json");
    assert_eq!(garbage["status"], "error");
    assert!(
        garbage["message"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{garbage}"
    );
    assert_eq!(garbage["tests"].as_array().unwrap().len(), 9);
}

#[test]
fn printed_reports_come_in_input_order_one_json_line_each() {
    let subs = submissions_dir();
    let run = warden(&[
        "grade",
        &leap(),
        subs.path().to_str().unwrap(),
        "--jobs",
        "2",
        "--no-timing",
    ]);
    // Piped: JSON by default.
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let lines: Vec<Json> = stdout(&run)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines
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
    assert_eq!(
        names,
        [
            "alice.wasm",
            "bob.wasm",
            "carol.wasm",
            "dave.wasm",
            "erin.wasm",
            "frank.wasm",
            "garbage.wasm"
        ]
    );
    assert!(lines.iter().all(|r| r.get("timing").is_none()));

    // The same run again prints the same bytes.
    let again = warden(&[
        "grade",
        &leap(),
        subs.path().to_str().unwrap(),
        "--jobs",
        "2",
        "--no-timing",
    ]);
    assert_eq!(run.stdout, again.stdout);
}

#[test]
fn every_format_can_be_written() {
    let wrong = plugin("leap_wrong");
    let noisy = plugin("leap_noisy");
    let (wrong, noisy) = (wrong.to_str().unwrap(), noisy.to_str().unwrap());
    for format in ["text", "json", "exercism", "gradescope", "junit"] {
        let run = warden(&["grade", &leap(), wrong, noisy, "--format", format]);
        assert_eq!(run.status.code(), Some(0), "{format}: {}", stderr(&run));
        let text = stdout(&run);
        match format {
            "text" => {
                assert!(
                    text.contains("FAIL            year divisible by 400 is leap year"),
                    "{text}"
                );
                assert!(text.contains("graded 2 submissions"), "{text}");
            }
            "junit" => {
                let doc = check_xml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                let suites = doc
                    .root_element()
                    .children()
                    .filter(|n| n.has_tag_name("testsuite"))
                    .count();
                assert_eq!(suites, 2, "{text}");
            }
            _ => {
                let docs: Vec<Json> = text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                assert_eq!(docs.len(), 2, "{format}");
            }
        }
    }
    let out = tempfile::tempdir().unwrap();
    let run = warden(&[
        "grade",
        &leap(),
        wrong,
        "--format",
        "exercism",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let doc: Json = serde_json::from_slice(
        &std::fs::read(out.path().join("leap_wrong.exercism.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["version"], 3);
    assert_eq!(doc["status"], "fail");
}

#[test]
fn bad_exercises_paths_and_flags_exit_with_2() {
    let wrong = plugin("leap_wrong");
    let wrong = wrong.to_str().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let broken = tempfile::tempdir().unwrap();
    for f in ["exercise.wit", "canonical-data.json"] {
        std::fs::copy(exercise_dir("leap").join(f), broken.path().join(f)).unwrap();
    }
    std::fs::write(broken.path().join("grading.toml"), "points = 3\n").unwrap();
    let leap_dir = leap();
    let leap = leap_dir.as_str();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["grade", "/no/such/exercise", wrong],
            "/no/such/exercise",
        ),
        (
            vec!["grade", empty.path().to_str().unwrap(), wrong],
            "exercise.wit",
        ),
        (
            vec!["grade", broken.path().to_str().unwrap(), wrong],
            "points",
        ),
        (
            vec!["grade", leap, "/no/such/solution.wasm"],
            "/no/such/solution.wasm",
        ),
        (
            vec!["grade", leap, empty.path().to_str().unwrap()],
            "no .wasm files",
        ),
        (vec!["grade", leap, wrong, "--format", "xml"], "xml"),
        (vec!["grade", leap, wrong, "--jobs", "0"], "jobs"),
    ];
    for (args, names) in cases {
        let run = warden(&args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", stderr(&run));
        assert!(stderr(&run).contains(names), "{args:?}: {}", stderr(&run));
    }
}
