//! Grading reads an exercise folder and a directory of submissions that
//! someone else may have written (a guest given a writable directory, a
//! student): planted links must not make `warden grade`, the `grade`
//! operation or the library read a file outside them, a FIFO must not hang
//! them, and no error may echo a file's content.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use warden::grade::{Exercise, ExerciseError, FileError};

use crate::grade_exercises::exercise_dir;
use crate::support::{HostProcess, demo_tree, plugin, stderr, warden_cmd};

/// In every secret file, and never in any message.
const SECRET: &str = "SECRET-MARKER-5e7d";

/// The exercise files a planted link may replace.
const EXERCISE_FILES: [&str; 3] = ["grading.toml", "canonical-data.json", "exercise.wit"];

/// `root/secret`, shaped like the first lines of `/etc/shadow`.
fn secret_file(root: &Path) -> PathBuf {
    let path = root.join("secret");
    std::fs::write(
        &path,
        format!("{SECRET}:*:20228:0:99999:7:::\ndaemon:{SECRET}:20228:0:99999:7:::\n"),
    )
    .unwrap();
    path
}

/// A copy of the `leap` exercise as `root/NAME`.
fn leap_copy(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(exercise_dir("leap")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// Replaces `dir/name` with a symbolic link to `target`.
fn plant_link(dir: &Path, name: &str, target: &Path) {
    let _ = std::fs::remove_file(dir.join(name));
    std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
}

fn mkfifo(path: &Path) {
    use rustix::fs::Mode;
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::RUSR | Mode::WUSR).unwrap();
}

/// `child`'s output, or a panic if it is still running after `limit`
/// (it is killed first, so a hang fails the test instead of stalling it).
fn finish_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{what}: still running after {limit:?}\n{}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `warden grade DIR SUBMISSIONS… --format json [extra]`, which must end
/// within 60 s.
fn grade_cli(exercise: &Path, submissions: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["grade", exercise.to_str().unwrap()];
    args.extend(submissions.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--format", "json", "--no-timing"]);
    args.extend(extra);
    let child = warden_cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    finish_within(child, Duration::from_secs(60), "warden grade")
}

#[test]
fn warden_grade_refuses_an_exercise_file_linked_out_of_its_folder() {
    let root = tempfile::tempdir().unwrap();
    let secret = secret_file(root.path());
    for (i, name) in EXERCISE_FILES.into_iter().enumerate() {
        // As the review planted it: relative, climbing out; and absolute.
        for (j, target) in [PathBuf::from("../secret"), secret.clone()]
            .iter()
            .enumerate()
        {
            let ex = leap_copy(root.path(), &format!("ex-{i}-{j}"));
            plant_link(&ex, name, target);
            let run = grade_cli(&ex, &[&plugin("leap_ref")], &[]);
            let err = stderr(&run);
            assert_eq!(run.status.code(), Some(2), "{name} -> {target:?}: {err}");
            assert!(
                err.contains(&format!("{name}: refused: a symbolic link leading outside")),
                "{name} -> {target:?}: {err}"
            );
            assert!(!err.contains(SECRET), "{name} -> {target:?} leaks: {err}");
        }
    }
}

#[test]
fn a_link_that_stays_inside_the_exercise_is_followed() {
    let root = tempfile::tempdir().unwrap();
    let ex = leap_copy(root.path(), "ex");
    std::fs::create_dir(ex.join("shared")).unwrap();
    std::fs::rename(ex.join("exercise.wit"), ex.join("shared/leap.wit")).unwrap();
    plant_link(&ex, "exercise.wit", Path::new("shared/leap.wit"));
    let exercise = Exercise::load(&ex).unwrap();
    assert_eq!(exercise.contract.functions[0].name, "leap-year");
}

#[test]
fn a_bad_exercise_file_is_reported_without_its_content() {
    let root = tempfile::tempdir().unwrap();
    let ex = leap_copy(root.path(), "ex");
    let refused = |text: &str, name: &str| -> String {
        std::fs::write(ex.join(name), text).unwrap();
        let err = Exercise::load(&ex).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
        assert!(!err.contains(SECRET), "{name} leaks: {err}");
        err
    };
    // What `/etc/shadow` copied in place would give.
    let shadow = format!("{SECRET}:*:20228:0:99999:7:::\n");
    let err = refused(&shadow, "grading.toml");
    assert!(err.contains("invalid TOML: line 1, column 40:"), "{err}");
    let err = refused(&format!("float_tolerance = 0.1 {SECRET}\n"), "grading.toml");
    assert!(err.contains("line 1"), "{err}");
    // The key at fault is named, the line it is on is not shown.
    let err = refused(
        &format!("# {SECRET}\n[limits]\nfuel = \"lots\" # {SECRET}\n"),
        "grading.toml",
    );
    assert!(err.contains("`limits.fuel`"), "{err}");
    std::fs::remove_file(ex.join("grading.toml")).unwrap();

    refused(&shadow, "canonical-data.json");
    refused(
        &format!("{{\"cases\": [], \"x\": {SECRET}}}"),
        "canonical-data.json",
    );
    std::fs::copy(
        exercise_dir("leap").join("canonical-data.json"),
        ex.join("canonical-data.json"),
    )
    .unwrap();

    refused(&shadow, "exercise.wit");
    refused(
        &format!("package exercise:leap;\nworld solution {{ {SECRET} }}\n"),
        "exercise.wit",
    );
}

#[test]
fn a_fifo_in_the_exercise_is_refused_without_blocking() {
    let root = tempfile::tempdir().unwrap();
    for name in EXERCISE_FILES {
        let ex = leap_copy(root.path(), &format!("ex-{name}"));
        std::fs::remove_file(ex.join(name)).unwrap();
        mkfifo(&ex.join(name));
        let run = grade_cli(&ex, &[&plugin("leap_ref")], &[]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}: refused: not a regular file but a FIFO")),
            "{err}"
        );
    }
    // And the library says which rule it broke.
    let ex = root.path().join("ex-grading.toml");
    assert!(matches!(
        Exercise::load(&ex),
        Err(ExerciseError::File(FileError::NotRegular {
            kind: "a FIFO (named pipe)",
            ..
        }))
    ));
}

/// A directory of submissions: `alice.wasm` (a passing solution), a link
/// out of the directory to a passing solution elsewhere, a link to
/// `alice.wasm` inside it, a link to the secret file, and a FIFO.
#[test]
fn a_submission_linked_out_of_its_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let secret = secret_file(root.path());
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::copy(plugin("leap_ref"), elsewhere.join("someone.wasm")).unwrap();
    let subs = root.path().join("subs");
    std::fs::create_dir(&subs).unwrap();
    std::fs::copy(plugin("leap_wrong"), subs.join("alice.wasm")).unwrap();
    plant_link(
        &subs,
        "mallory.wasm",
        Path::new("../elsewhere/someone.wasm"),
    );
    plant_link(&subs, "shadow.wasm", &secret);
    plant_link(&subs, "twin.wasm", Path::new("alice.wasm"));
    mkfifo(&subs.join("pipe.wasm"));
    let out = root.path().join("out");

    let run = grade_cli(
        &exercise_dir("leap"),
        &[&subs],
        &["--out", out.to_str().unwrap(), "--jobs", "2"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report = |name: &str| -> Json {
        let text = std::fs::read_to_string(out.join(format!("{name}.json"))).unwrap();
        assert!(!text.contains(SECRET), "{name} leaks: {text}");
        serde_json::from_str(&text).unwrap()
    };
    let message = |r: &Json| r["message"].as_str().unwrap_or_default().to_string();
    assert_eq!(report("alice")["status"], "fail");
    assert_eq!(
        report("twin")["status"],
        "fail",
        "a link inside is followed"
    );
    for name in ["mallory", "shadow"] {
        let r = report(name);
        assert_eq!(r["status"], "error", "{name}: {r}");
        assert!(
            message(&r).contains("refused: a symbolic link leading outside"),
            "{name}: {r}"
        );
        assert_eq!(r["sha256"], Json::Null, "{name} was read: {r}");
    }
    let r = report("pipe");
    assert_eq!(r["status"], "error", "{r}");
    assert!(message(&r).contains("not a regular file but a FIFO"), "{r}");
}

#[test]
fn a_fifo_named_as_the_submission_is_refused_without_blocking() {
    let root = tempfile::tempdir().unwrap();
    let fifo = root.path().join("solution.wasm");
    mkfifo(&fifo);
    let run = grade_cli(&exercise_dir("leap"), &[&fifo], &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report: Json = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["status"], "error");
    let text = report["message"].as_str().unwrap();
    assert!(
        text.contains("not a regular file") && text.contains("FIFO"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grade_operation_refuses_exercise_files_linked_out_of_the_folder() {
    let host = HostProcess::start_tree(&demo_tree("api_addr = \"127.0.0.1:0\""), &[]);
    let client = host.client(None);
    // Under the config's folder, one of the demo tree's `[api] path_roots`.
    let root = tempfile::tempdir_in(host.dir()).unwrap();
    secret_file(root.path());
    for name in EXERCISE_FILES {
        let ex = leap_copy(root.path(), &format!("ex-{name}"));
        plant_link(&ex, name, Path::new("../secret"));
        let err = client
            .call(
                "grade",
                json!({"exercise": ex, "solution": plugin("leap_ref")}),
            )
            .await
            .expect_err("a planted link must be refused");
        let text = err.to_string();
        let body = match &err {
            warden::api::client::ClientError::Status { status, body } => {
                assert_eq!(*status, 400, "{name}: the caller's bad input: {body}");
                body.to_string()
            }
            other => panic!("{name}: expected an error status, got {other}"),
        };
        assert!(
            !text.contains(SECRET) && !body.contains(SECRET),
            "{name} leaks: {body}"
        );
        assert!(
            body.contains(&format!("{name}: refused: a symbolic link leading outside")),
            "{name}: {body}"
        );
    }
    // The same folder without the link grades as before.
    let ex = leap_copy(root.path(), "ex-plain");
    let report = client
        .call(
            "grade",
            json!({"exercise": ex, "solution": plugin("leap_ref")}),
        )
        .await
        .unwrap();
    assert_eq!(report["status"], "pass", "{report}");
}
