//! The grader against the 19 real exercises and their reference, wrong and
//! misbehaving solutions (library API).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use warden::component::{Runtime, RuntimeConfig};
use warden::grade::report::json;
use warden::grade::{
    Exercise, GradeOptions, LimitOverrides, Status, Submission, SubmissionReport, Verdict,
    grade_submission,
};

use crate::support::{plugin, repo_root};

/// Every exercise in examples/exercises/, and the cases (uuid prefixes)
/// its `_wrong` solution must fail, as its lib.rs header comment says.
pub(crate) const WRONG_FAILS: &[(&str, &[&str])] = &[
    ("acronym", &["ae2ac9fa"]),
    ("collatz-conjecture", &["2187673d", "ec11f479"]),
    (
        "difference-of-squares",
        &[
            "01d84507", "c93900cd", "94807386", "44f72ae6", "005cb2bf", "b1bf19de",
        ],
    ),
    ("etl", &["5db8ea89"]),
    ("grains", &["1d47d832"]),
    ("hamming", &["b9228bb1", "dab38838", "b764d47c", "9ab9262f"]),
    ("hello-world", &["af9ffe10"]),
    ("isogram", &["f1a7f6c7", "14a4f3c1"]),
    ("leap", &["42ee56ad", "57902c77"]),
    ("pangram", &["938bd5d8"]),
    ("perfect-numbers", &["a696dec8"]),
    (
        "raindrops",
        &["31f92999", "ff9bb95d", "bdf061de", "e46677ed"],
    ),
    ("reverse-string", &["93d7e1b8", "1028b2c1"]),
    ("space-age", &["84f609af", "ca20c4e9", "9ceadf5e"]),
    ("sublist", &["0a6db763", "83ffe6d8", "0d7ee7c1"]),
    (
        "sum-of-multiples",
        &[
            "f47e8209", "28c4b267", "2d0d5faa", "ece8f2e8", "624fdade", "949ee7eb", "17053ba9",
        ],
    ),
    (
        "triangle",
        &["2eba0cfb", "278469cb", "90efb0c7", "70ad5154"],
    ),
    ("two-fer", &["1cf3e15a"]),
    (
        "word-count",
        &["4ff6c7d7", "be72af2b", "8d6815fe", "6d00f1db"],
    ),
];

/// One runtime for the whole module: compiled solutions are shared.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

pub fn exercise_dir(name: &str) -> PathBuf {
    repo_root().join("examples/exercises").join(name)
}

pub fn exercise(name: &str) -> Exercise {
    Exercise::load(&exercise_dir(name))
        .unwrap_or_else(|e| panic!("exercise {name} does not load: {e}"))
}

pub fn grade(exercise: &Exercise, plugin_name: &str, options: &GradeOptions) -> SubmissionReport {
    grade_submission(
        runtime(),
        exercise,
        &Submission::File(plugin(plugin_name)),
        options,
    )
}

fn crate_name(exercise: &str) -> String {
    exercise.replace('-', "_")
}

#[test]
fn all_nineteen_exercises_are_listed_and_load() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo_root().join("examples/exercises"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = WRONG_FAILS.iter().map(|(n, _)| *n).collect();
    assert_eq!(on_disk, listed);
    assert_eq!(listed.len(), 19);
    for name in listed {
        let ex = exercise(name);
        assert!(!ex.cases.is_empty(), "{name} has no cases");
    }
}

#[test]
fn reimplemented_cases_are_skipped_and_groups_flatten() {
    let hamming = exercise("hamming");
    // 15 cases, 6 of them superseded (chains up to three deep).
    assert_eq!(hamming.cases.len(), 9);
    let empty_first: Vec<&str> = hamming
        .cases
        .iter()
        .filter(|c| c.args == [Some(serde_json::json!("")), Some(serde_json::json!("G"))])
        .map(|c| c.uuid.as_deref().unwrap())
        .collect();
    assert_eq!(empty_first, ["b764d47c-83ff-4de2-ab10-6cfe4b15c0f3"]);
    let grains = exercise("grains");
    assert_eq!(
        grains.cases[0].name,
        "returns the number of grains on the square › grains on square 1"
    );
    assert_eq!(grains.cases[0].task_id, Some(1));
    assert_eq!(exercise("collatz-conjecture").cases.len(), 6);
}

#[test]
fn every_reference_solution_passes_every_case() {
    for (name, _) in WRONG_FAILS {
        let ex = exercise(name);
        let report = grade(
            &ex,
            &format!("{}_ref", crate_name(name)),
            &GradeOptions::default(),
        );
        let failures: Vec<String> = report
            .tests
            .iter()
            .filter(|t| t.verdict != Verdict::Pass)
            .map(|t| format!("{} [{}]: {:?}", t.name, t.verdict, t.message))
            .collect();
        assert!(failures.is_empty(), "{name}: {failures:#?}");
        assert_eq!(report.status, Status::Pass, "{name}");
        assert_eq!(report.counts.passed, ex.cases.len(), "{name}");
        assert_eq!(report.score, report.max_score, "{name}");
    }
}

#[test]
fn each_wrong_solution_fails_exactly_its_cases_with_expected_and_actual() {
    for (name, should_fail) in WRONG_FAILS {
        let ex = exercise(name);
        let report = grade(
            &ex,
            &format!("{}_wrong", crate_name(name)),
            &GradeOptions::default(),
        );
        assert_eq!(report.status, Status::Fail, "{name}");
        let mut failed: Vec<&str> = Vec::new();
        for t in &report.tests {
            let uuid = t.uuid.as_deref().unwrap_or_default();
            let prefix = &uuid[..8];
            match t.verdict {
                Verdict::Pass => {}
                Verdict::Fail => {
                    failed.push(prefix);
                    let m = t.message.as_deref().unwrap_or_default();
                    let expected = t.expected.to_string();
                    let actual = t
                        .actual
                        .as_ref()
                        .expect("a fail has an actual value")
                        .to_string();
                    assert_eq!(
                        m,
                        format!("expected {expected}, got {actual}"),
                        "{name} {uuid}"
                    );
                }
                other => panic!("{name} {uuid}: unexpected verdict {other}: {:?}", t.message),
            }
        }
        let mut want: Vec<&str> = should_fail.to_vec();
        want.sort();
        failed.sort();
        assert_eq!(failed, want, "{name}: failing cases");
    }
}

#[test]
fn messages_use_the_test_data_notation() {
    let leap = grade(&exercise("leap"), "leap_wrong", &GradeOptions::default());
    let t = leap
        .tests
        .iter()
        .find(|t| t.verdict == Verdict::Fail)
        .unwrap();
    assert_eq!(t.message.as_deref(), Some("expected true, got false"));

    let grains = grade(
        &exercise("grains"),
        "grains_wrong",
        &GradeOptions::default(),
    );
    let t = grains
        .tests
        .iter()
        .find(|t| t.verdict == Verdict::Fail)
        .unwrap();
    assert_eq!(
        t.message.as_deref(),
        Some(r#"expected {"error":"square must be between 1 and 64"}, got 0"#)
    );

    // Maps show as objects; the order the solution returned them in does
    // not matter (the reference passes whatever its order).
    let etl = grade(&exercise("etl"), "etl_wrong", &GradeOptions::default());
    let t = etl
        .tests
        .iter()
        .find(|t| t.verdict == Verdict::Fail)
        .unwrap();
    assert_eq!(t.actual.as_ref().unwrap()["q"], 1);
    assert_eq!(t.expected["q"], 10);

    let space = grade(
        &exercise("space-age"),
        "space_age_wrong",
        &GradeOptions::default(),
    );
    let sun = space
        .tests
        .iter()
        .find(|t| t.name.contains("invalid planet"))
        .unwrap();
    assert_eq!(sun.verdict, Verdict::Pass);
    assert_eq!(
        sun.actual,
        Some(serde_json::json!({"error": "not a planet"}))
    );
}

#[test]
fn an_endless_loop_runs_out_of_fuel_in_every_case() {
    let report = grade(&exercise("leap"), "leap_loop", &GradeOptions::default());
    assert_eq!(report.counts.total, 9);
    for t in &report.tests {
        assert_eq!(t.verdict, Verdict::FuelExhausted, "{}", t.name);
        assert_eq!(
            t.message.as_deref(),
            Some("ran out of fuel (budget 10000000)")
        );
    }
}

#[test]
fn without_fuel_the_wall_clock_limit_stops_a_loop() {
    let options = GradeOptions {
        limits: LimitOverrides {
            fuel: Some(0),
            timeout_ms: Some(50),
            ..LimitOverrides::default()
        },
        ..GradeOptions::default()
    };
    let started = std::time::Instant::now();
    let report = grade(&exercise("leap"), "leap_loop", &options);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(report.limits.fuel, None);
    for t in &report.tests {
        assert_eq!(t.verdict, Verdict::Timeout, "{}", t.name);
        assert_eq!(t.message.as_deref(), Some("timed out after 50 ms"));
    }
}

#[test]
fn a_panic_is_an_error_with_the_panic_message_in_every_case() {
    let ex = exercise("leap");
    let report = grade(&ex, "leap_trap", &GradeOptions::default());
    assert_eq!(report.status, Status::Fail);
    for (t, case) in report.tests.iter().zip(&ex.cases) {
        assert_eq!(t.verdict, Verdict::Error, "{}", t.name);
        let year = case.args[0].as_ref().unwrap();
        let m = t.message.as_deref().unwrap();
        assert!(
            m.contains(&format!(
                "leap_trap: deliberately refusing to decide whether {year} is a leap year"
            )),
            "{m}"
        );
        assert!(t.stderr.text.contains("panicked at"), "{:?}", t.stderr);
    }
}

#[test]
fn a_memory_bomb_hits_the_memory_limit_in_every_case() {
    let report = grade(&exercise("leap"), "leap_oom", &GradeOptions::default());
    assert_eq!(report.limits.memory_bytes, 4 << 20);
    for t in &report.tests {
        assert_eq!(
            t.verdict,
            Verdict::MemoryLimit,
            "{}: {:?}",
            t.name,
            t.message
        );
        let message = t.message.as_deref().unwrap_or_default();
        assert!(
            message.starts_with("memory limit of 4194304 bytes reached: "),
            "{message}"
        );
    }
}

#[test]
fn printing_megabytes_is_an_output_limit_verdict() {
    let report = grade(&exercise("leap"), "leap_noisy", &GradeOptions::default());
    for t in &report.tests {
        assert_eq!(t.verdict, Verdict::OutputLimit, "{}", t.name);
        assert!(t.stdout.truncated);
        assert!(t.stdout.total_bytes > 65536);
        assert!(
            t.stdout
                .text
                .starts_with("thinking very hard about the year")
        );
    }
    // The verdict comes from the output alone: with room for 4 MiB the
    // same submission answers every case right.
    let roomy = GradeOptions {
        limits: LimitOverrides {
            output_limit_bytes: Some(8 << 20),
            ..LimitOverrides::default()
        },
        ..GradeOptions::default()
    };
    let report = grade(&exercise("leap"), "leap_noisy", &roomy);
    assert_eq!(report.status, Status::Pass, "{:?}", report.tests[0].message);
}

#[test]
fn a_mistyped_export_is_a_top_level_error_naming_the_function() {
    let report = grade(&exercise("leap"), "leap_badsig", &GradeOptions::default());
    assert_eq!(report.status, Status::Error);
    let m = report.message.as_deref().unwrap();
    assert!(
        m.contains(
            "`leap-year` has the wrong type: expected func(year: u32) -> bool, found func(year: string) -> bool"
        ),
        "{m}"
    );
    let contract = report.contract.as_ref().unwrap();
    assert_eq!(contract.mistyped[0].name, "leap-year");
    assert_eq!(report.counts.total, 9);
    // Told once, for the submission: each case only says it was not run.
    for t in &report.tests {
        assert_eq!(t.verdict, Verdict::Error);
        assert_eq!(
            t.message.as_deref(),
            Some(warden::grade::runner::NOT_RUN_CONTRACT)
        );
    }
}

#[test]
fn a_file_that_is_not_a_component_is_reported_not_fatal() {
    let ex = exercise("leap");
    for (bytes, says) in [
        (b"garbage, not wasm".to_vec(), "not a WebAssembly file"),
        (b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module"),
        (Vec::new(), "the file is empty"),
    ] {
        let report = grade_submission(
            runtime(),
            &ex,
            &Submission::Bytes {
                name: "upload.wasm".into(),
                bytes,
            },
            &GradeOptions::default(),
        );
        assert_eq!(report.status, Status::Error);
        assert!(
            report.message.as_deref().unwrap().contains(says),
            "{:?}",
            report.message
        );
        assert_eq!(report.tests.len(), 9);
        assert!(report.tests.iter().all(|t| t.verdict == Verdict::Error));
        // The reason is the submission's, told once.
        assert!(
            report
                .tests
                .iter()
                .all(|t| t.message.as_deref() == Some(warden::grade::runner::NOT_RUN_LOAD))
        );
        assert_eq!(report.score, 0.0);
        assert_eq!(report.max_score, 9.0);
    }
}

/// One submission whose cases loop, allocate, trap, flood and call a
/// missing function, between well-behaved cases: each case gets its own
/// verdict and the ones after a failure still pass.
#[test]
fn one_case_never_affects_the_next() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "exercise.wit",
        r#"package test:isolation;
world solution {
  export add: func(a: s32, b: s32) -> s32;
  export loop-forever: func();
  export allocate-forever: func() -> u64;
  export trap: func();
  export flood-stdout: func(megabytes: u32);
  export not-there: func() -> u32;
}
"#,
    );
    write(
        dir.path(),
        "grading.toml",
        "output_limit_bytes = 65536\n[limits]\nfuel = 50_000_000\nmemory_mb = 8\n",
    );
    let add = |n: i32| {
        format!(
            r#"{{"description": "add {n}", "property": "add", "input": {{"a": {n}, "b": 1}}, "expected": {}}}"#,
            n + 1
        )
    };
    let cases = [
        add(1),
        r#"{"description": "loop", "property": "loopForever", "input": {}, "expected": null}"#.into(),
        add(2),
        r#"{"description": "alloc", "property": "allocateForever", "input": {}, "expected": 0}"#.into(),
        add(3),
        r#"{"description": "trap", "property": "trap", "input": {}, "expected": null}"#.into(),
        add(4),
        r#"{"description": "flood", "property": "floodStdout", "input": {"megabytes": 1}, "expected": null}"#.into(),
        add(5),
        r#"{"description": "missing", "property": "notThere", "input": {}, "expected": 1}"#.into(),
        add(6),
    ];
    write(
        dir.path(),
        "canonical-data.json",
        &format!(
            r#"{{"exercise": "isolation", "cases": [{}]}}"#,
            cases.join(",")
        ),
    );
    let ex = Exercise::load(dir.path()).unwrap();
    let report = grade(&ex, "misbehave", &GradeOptions::default());
    let verdicts: Vec<Verdict> = report.tests.iter().map(|t| t.verdict).collect();
    use Verdict::*;
    assert_eq!(
        verdicts,
        [
            Pass,
            FuelExhausted,
            Pass,
            MemoryLimit,
            Pass,
            Error,
            Pass,
            OutputLimit,
            Pass,
            Error,
            Pass
        ],
        "{:#?}",
        report.tests.iter().map(|t| &t.message).collect::<Vec<_>>()
    );
    assert!(
        report.tests[5]
            .message
            .as_deref()
            .unwrap()
            .contains("misbehave: deliberate trap")
    );
    assert_eq!(
        report.tests[9].message.as_deref(),
        Some(warden::grade::runner::NOT_RUN_CONTRACT)
    );
    // A missing function is a top-level error, told there once, but the
    // rest still ran.
    assert_eq!(report.status, Status::Error);
    let message = report.message.as_deref().unwrap();
    assert!(
        message.contains("missing export `not-there: func() -> u32`"),
        "{message}"
    );
}

#[test]
fn test_data_in_toml_and_track_filters_work_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        exercise_dir("two-fer").join("exercise.wit"),
        dir.path().join("exercise.wit"),
    )
    .unwrap();
    // TOML has no null: an `option` parameter is simply left out.
    write(
        dir.path(),
        "canonical-data.toml",
        r#"exercise = "two-fer"
[[cases]]
uuid = "1"
description = "no name given"
property = "twoFer"
input = {}
expected = "One for you, one for me."
[[cases]]
uuid = "2"
description = "a name given"
property = "twoFer"
input = { name = "Alice" }
expected = "One for Alice, one for me."
[[cases]]
uuid = "3"
description = "left out by the track"
property = "twoFer"
input = { name = "Bob" }
expected = "wrong on purpose"
"#,
    );
    write(
        dir.path(),
        "tests.toml",
        "[1]\ndescription = \"no name given\"\n[3]\ndescription = \"left out\"\ninclude = false\n",
    );
    let ex = Exercise::load(dir.path()).unwrap();
    assert_eq!(ex.cases.len(), 2);
    let report = grade(&ex, "two_fer_ref", &GradeOptions::default());
    assert_eq!(report.status, Status::Pass, "{:#?}", report.tests);
    let report = grade(&ex, "two_fer_wrong", &GradeOptions::default());
    assert_eq!(report.tests[0].verdict, Verdict::Fail);
    assert_eq!(report.tests[1].verdict, Verdict::Pass);
}

#[test]
fn a_bad_exercise_is_refused_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["exercise.wit", "canonical-data.json"] {
        std::fs::copy(exercise_dir("leap").join(f), dir.path().join(f)).unwrap();
    }
    write(dir.path(), "grading.toml", "hidden = [\"no-such-uuid\"]\n");
    let err = Exercise::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("grading.toml") && err.contains("no-such-uuid"),
        "{err}"
    );

    write(dir.path(), "grading.toml", "[limits]\nfuel = \"lots\"\n");
    let err = Exercise::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("grading.toml") && err.contains("fuel"),
        "{err}"
    );

    std::fs::remove_file(dir.path().join("grading.toml")).unwrap();
    write(
        dir.path(),
        "exercise.wit",
        "package exercise:leap;\nworld solution {\n  export is-leap: func(year: u32) -> bool;\n}\n",
    );
    let err = Exercise::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("canonical-data.json") && err.contains("leapYear") && err.contains("is-leap"),
        "{err}"
    );

    write(
        dir.path(),
        "exercise.wit",
        "package exercise:leap;\nworld solution {\n  export leap-year: func(y: u32) -> bool;\n}\n",
    );
    let err = Exercise::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("input `year` is not a parameter"), "{err}");
}

#[test]
fn grading_twenty_times_gives_byte_identical_json_apart_from_timing() {
    for (exercise_name, solution) in [
        ("leap", "leap_wrong"),
        ("leap", "leap_trap"),
        ("leap", "leap_loop"),
        ("space-age", "space_age_wrong"),
        ("word-count", "word_count_wrong"),
    ] {
        let ex = exercise(exercise_name);
        let mut first: Option<String> = None;
        for round in 0..20 {
            // Some rounds on a fresh runtime: a recompiled submission must
            // not change anything either.
            let fresh;
            let rt = if round % 7 == 3 {
                fresh = Runtime::new(RuntimeConfig::default()).unwrap();
                &fresh
            } else {
                runtime()
            };
            let report = grade_submission(
                rt,
                &ex,
                &Submission::File(plugin(solution)),
                &GradeOptions::default(),
            );
            let with_timing = json::render(&report, true, true);
            assert!(with_timing.contains("\"timing\""));
            let text = json::render(&report, false, true);
            assert!(!text.contains("\"timing\""));
            match &first {
                None => first = Some(text),
                Some(f) => assert!(*f == text, "{solution}: round {round} differs"),
            }
        }
    }
}

pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A correct `leap-year` whose component holds three core modules with a
/// memory each: more memories than a pool slot has room for (two).
const LEAP_WITH_THREE_MEMORIES: &str = r#"
(component
  (core module $leap
    (memory 1)
    (func (export "leap-year") (param $y i32) (result i32)
      ;; divisible by 4, and not by 100 unless by 400
      (i32.and
        (i32.eqz (i32.rem_u (local.get $y) (i32.const 4)))
        (i32.or
          (i32.ne (i32.rem_u (local.get $y) (i32.const 100)) (i32.const 0))
          (i32.eqz (i32.rem_u (local.get $y) (i32.const 400)))))))
  (core module $spare (memory 1))
  (core instance $leap (instantiate $leap))
  (core instance $spare1 (instantiate $spare))
  (core instance $spare2 (instantiate $spare))
  (func (export "leap-year") (param "year" u32) (result bool)
    (canon lift (core func $leap "leap-year"))))
"#;

#[test]
fn a_submission_too_big_for_the_pool_is_graded_on_demand() {
    let pooled = Runtime::new(RuntimeConfig {
        pooling: Some(warden::component::PoolingConfig::new(4, 64 << 20)),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let exercise = exercise("leap");
    let submission = Submission::Bytes {
        name: "three-memories".into(),
        bytes: wat::parse_str(LEAP_WITH_THREE_MEMORIES).unwrap(),
    };
    // The pool alone cannot run it: every case is an error …
    let alone = grade_submission(&pooled, &exercise, &submission, &GradeOptions::default());
    assert_eq!(alone.counts.passed, 0, "{:?}", alone.tests[0]);
    assert!(
        alone.tests.iter().all(|t| t.verdict == Verdict::Error),
        "{:?}",
        alone.tests[0]
    );
    // … with an on-demand fallback it is graded like any other submission.
    let options = GradeOptions {
        fallback: Some(runtime().clone()),
        ..GradeOptions::default()
    };
    let report = grade_submission(&pooled, &exercise, &submission, &options);
    assert_eq!(report.status, Status::Pass, "{:?}", report.tests[0]);
    assert_eq!(report.counts.passed, report.counts.total);
    // A submission that fits stays on the pool, with the same verdicts.
    let fits = grade_submission(
        &pooled,
        &exercise,
        &Submission::File(plugin("leap_ref")),
        &options,
    );
    assert_eq!(fits.status, Status::Pass);
}
