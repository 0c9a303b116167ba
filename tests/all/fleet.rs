//! Grading on a fleet (`warden worker`, `warden grade --nats`) against a
//! real nats-server with JetStream, started by each test on a free
//! loopback port with its own store directory.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::grade_exercises::exercise_dir;
use crate::support::{NatsServer, plugin, signal, stderr, stdout, variant, warden_cmd};

/// Short enough that a job whose worker died comes back within seconds.
const ACK_WAIT_MS: &str = "1500";

/// A `warden worker` process; killed on drop.
struct WorkerProcess {
    child: Child,
    /// The worker's `TMPDIR`, so the scratch dir a killed worker cannot
    /// remove goes when this does (after the kill: `Drop` runs first).
    _tmp: tempfile::TempDir,
}

impl WorkerProcess {
    fn start(url: &str, name: &str, jobs: u32, max_deliver: u32) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let child = warden_cmd(&[
            "worker",
            "--nats",
            url,
            "--jobs",
            &jobs.to_string(),
            "--name",
            name,
            "--ack-wait-ms",
            ACK_WAIT_MS,
            "--max-deliver",
            &max_deliver.to_string(),
        ])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("FLEET_DEBUG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .spawn()
        .expect("start warden worker");
        Self { child, _tmp: tmp }
    }

    /// SIGTERM, then its exit and its stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        signal(self.child.id(), "TERM");
        let out = wait_output(
            std::mem::replace(&mut self.child, dummy()),
            60,
            "stopped worker",
        );
        (out.status, stderr(&out))
    }
}

/// A finished child standing in for one taken out of a wrapper.
fn dummy() -> Child {
    Command::new("true").spawn().expect("run true")
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The output of `child`, which must end within `secs` (its pipes are
/// read all along, so a long output never blocks it).
fn wait_output(child: Child, secs: u64, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            signal(pid, "KILL");
            let out = rx.recv().expect("output").expect("output");
            panic!(
                "{what} did not finish within {secs} s; stdout:\n{}\nstderr:\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
    }
}

/// `warden ARGS` with its output, within `secs`.
fn run(args: &[&str], secs: u64) -> Output {
    let child = warden_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run warden");
    wait_output(child, secs, &args.join(" "))
}

/// Grades locally: the reference the fleet must match byte for byte.
fn local(exercise: &Path, submissions: &[&Path]) -> String {
    let mut args = vec![
        "grade",
        exercise.to_str().expect("utf-8"),
        "--format",
        "json",
        "--no-timing",
    ];
    args.extend(submissions.iter().map(|p| p.to_str().expect("utf-8")));
    let out = run(&args, 300);
    assert!(out.status.success(), "local grade: {}", stderr(&out));
    stdout(&out)
}

/// `warden grade --nats URL EXERCISE SUBMISSIONS… --format json --no-timing EXTRA…`.
fn on_fleet(url: &str, exercise: &Path, submissions: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec![
        "grade",
        "--nats",
        url,
        exercise.to_str().expect("utf-8"),
        "--format",
        "json",
        "--no-timing",
        "--ack-wait-ms",
        ACK_WAIT_MS,
    ];
    args.extend(submissions.iter().map(|p| p.to_str().expect("utf-8")));
    args.extend(extra);
    run(&args, 300)
}

/// `warden grade --nats URL --collect BATCH --format json --no-timing`.
fn collect(url: &str, batch: &str) -> Output {
    run(
        &[
            "grade",
            "--nats",
            url,
            "--collect",
            batch,
            "--format",
            "json",
            "--no-timing",
        ],
        120,
    )
}

/// `--detach`: the batch id it prints.
fn detach(url: &str, exercise: &Path, submissions: &[&Path]) -> String {
    let out = on_fleet(url, exercise, submissions, &["--detach"]);
    assert!(out.status.success(), "--detach: {}", stderr(&out));
    let batch = stdout(&out).trim().to_string();
    assert!(
        !batch.is_empty() && !batch.contains(char::is_whitespace),
        "{batch:?}"
    );
    batch
}

/// How many results each job of `batch` has in the results stream.
fn results_per_job(url: &str, batch: &str) -> BTreeMap<String, u64> {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let client = async_nats::connect(url).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream(warden::fleet::RESULTS)
            .await
            .expect("results stream");
        let info = stream
            .info_with_subjects(format!("warden.results.{batch}.>"))
            .await
            .expect("subjects");
        let mut counts = BTreeMap::new();
        futures_util::pin_mut!(info);
        use futures_util::StreamExt;
        while let Some(entry) = info.next().await {
            let (subject, n) = entry.expect("subject");
            counts.insert(subject, n as u64);
        }
        counts
    })
}

/// `count` copies of `source` under distinct names and bytes (each one
/// compiled apart, so a batch of them takes a while).
fn copies(dir: &Path, source: &Path, count: usize) -> Vec<PathBuf> {
    let bytes = std::fs::read(source).expect("read plugin");
    (0..count)
        .map(|i| {
            let path = dir.join(format!("s{i:03}.wasm"));
            std::fs::write(&path, variant(&bytes, &format!("copy {i}"))).expect("write copy");
            path
        })
        .collect()
}

/// The names of the reports in a JSON Lines output, in order.
fn report_names(json_lines: &str) -> Vec<String> {
    json_lines
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            v["submission"]
                .as_str()
                .expect("submission name")
                .to_string()
        })
        .collect()
}

/// The 19 exercises, as `(folder name, plugin prefix)`.
fn exercises() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(exercise_dir(""))
        .expect("examples/exercises")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let prefix = name.replace('-', "_");
            (name, prefix)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn two_workers_grade_every_exercise_as_local_grading_does() {
    let nats = NatsServer::start();
    let url = nats.url();
    let a = WorkerProcess::start(&url, "a", 2, 3);
    let b = WorkerProcess::start(&url, "b", 2, 3);
    let all = exercises();
    assert_eq!(all.len(), 19, "{all:?}");
    for (name, prefix) in &all {
        let dir = exercise_dir(name);
        let (good, bad) = (
            plugin(&format!("{prefix}_ref")),
            plugin(&format!("{prefix}_wrong")),
        );
        let expected = local(&dir, &[&good, &bad]);
        let out = on_fleet(&url, &dir, &[&good, &bad], &[]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            expected,
            "{name}: fleet and local reports differ"
        );
        assert!(
            stderr(&out).contains("2 submission(s)"),
            "{name}: summary missing: {}",
            stderr(&out)
        );
    }
    // Files in every other format are the same bytes too.
    let dir = exercise_dir("two-fer");
    let subs = [plugin("two_fer_ref"), plugin("two_fer_wrong")];
    let subs: Vec<&str> = subs.iter().map(|p| p.to_str().expect("utf-8")).collect();
    for format in ["text", "exercism", "gradescope", "junit"] {
        let (here, there) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        let mut common = vec![
            dir.to_str().expect("utf-8"),
            "--format",
            format,
            "--no-timing",
        ];
        common.extend(&subs);
        let mut args = vec!["grade", "--out", here.path().to_str().expect("utf-8")];
        args.extend(&common);
        let out = run(&args, 120);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut args = vec![
            "grade",
            "--nats",
            &url,
            "--out",
            there.path().to_str().expect("utf-8"),
        ];
        args.extend(&common);
        let out = run(&args, 120);
        assert!(out.status.success(), "{}", stderr(&out));
        let files = |d: &Path| -> BTreeMap<String, Vec<u8>> {
            std::fs::read_dir(d)
                .expect("reports")
                .map(|e| {
                    let e = e.expect("entry");
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).expect("report"),
                    )
                })
                .collect()
        };
        let (local_files, fleet_files) = (files(here.path()), files(there.path()));
        assert_eq!(local_files.len(), 2, "{format}: {:?}", local_files.keys());
        assert_eq!(fleet_files, local_files, "{format}: report files differ");
    }
    // The same exercise again: nothing new to send but the manifest's
    // unchanged blobs, so nothing at all.
    let dir = exercise_dir("leap");
    let out = on_fleet(&url, &dir, &[&plugin("leap_ref")], &[]);
    assert!(
        stderr(&out).contains("(0 blob(s) sent"),
        "blobs sent again: {}",
        stderr(&out)
    );
    for worker in [a, b] {
        let (status, err) = worker.stop();
        assert!(status.success(), "worker exit: {status}: {err}");
        assert!(err.contains("stopped"), "{err}");
    }
}

#[test]
fn a_worker_killed_mid_batch_loses_and_duplicates_nothing() {
    let nats = NatsServer::start();
    let url = nats.url();
    let temp = tempfile::tempdir().expect("tempdir");
    let subs = copies(temp.path(), &plugin("leap_ref"), 24);
    let subs: Vec<&Path> = subs.iter().map(PathBuf::as_path).collect();
    let dir = exercise_dir("leap");
    let batch = detach(&url, &dir, &subs);
    let doomed = WorkerProcess::start(&url, "doomed", 2, 5);
    // Kill it once it has stored some results but not all.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = results_per_job(&url, &batch).len();
        if done >= 2 {
            assert!(done < subs.len(), "the batch ended before the kill");
            break;
        }
        assert!(Instant::now() < deadline, "no result from the worker");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut doomed = doomed;
    signal(doomed.child.id(), "KILL");
    let _ = doomed.child.wait();
    let _survivor = WorkerProcess::start(&url, "survivor", 2, 5);
    let out = collect(&url, &batch);
    assert!(out.status.success(), "collect: {}", stderr(&out));
    let names = report_names(&stdout(&out));
    let expected: Vec<String> = subs.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(names, expected, "every submission once, in input order");
    assert_eq!(stdout(&out), local(&dir, &subs));
    let per_job = results_per_job(&url, &batch);
    assert_eq!(per_job.len(), subs.len(), "{per_job:?}");
    assert!(per_job.values().all(|&n| n == 1), "{per_job:?}");
}

#[test]
fn nats_server_restarted_mid_batch_loses_and_duplicates_nothing() {
    let mut nats = NatsServer::start();
    let url = nats.url();
    let temp = tempfile::tempdir().expect("tempdir");
    let subs = copies(temp.path(), &plugin("leap_wrong"), 24);
    let subs: Vec<&Path> = subs.iter().map(PathBuf::as_path).collect();
    let dir = exercise_dir("leap");
    let batch = detach(&url, &dir, &subs);
    let _a = WorkerProcess::start(&url, "a", 2, 5);
    let _b = WorkerProcess::start(&url, "b", 1, 5);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = results_per_job(&url, &batch).len();
        if done >= 2 {
            assert!(done < subs.len(), "the batch ended before the restart");
            break;
        }
        assert!(Instant::now() < deadline, "no result from the workers");
        std::thread::sleep(Duration::from_millis(20));
    }
    nats.restart();
    let out = collect(&url, &batch);
    assert!(out.status.success(), "collect: {}", stderr(&out));
    assert_eq!(stdout(&out), local(&dir, &subs));
    let per_job = results_per_job(&url, &batch);
    assert_eq!(per_job.len(), subs.len(), "{per_job:?}");
    assert!(per_job.values().all(|&n| n == 1), "{per_job:?}");
}

#[test]
fn a_job_that_keeps_failing_is_a_dead_letter_and_the_batch_finishes() {
    let nats = NatsServer::start();
    let url = nats.url();
    let dir = exercise_dir("leap");
    let (good, gone) = (plugin("leap_ref"), plugin("leap_wrong"));
    let batch = detach(&url, &dir, &[&good, &gone]);
    // The second submission's bytes vanish from the store before any
    // worker runs: every attempt at it fails on the fleet's side.
    let sha = hex::encode(Sha256::digest(std::fs::read(&gone).expect("read")));
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let client = async_nats::connect(url.as_str()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let store = js
            .get_object_store(warden::fleet::BLOBS)
            .await
            .expect("blob store");
        store.delete(&sha).await.expect("delete blob");
    });
    let worker = WorkerProcess::start(&url, "w", 2, 3);
    let out = collect(&url, &batch);
    assert!(out.status.success(), "collect: {}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    assert_eq!(lines[0]["status"], "pass", "{}", lines[0]);
    assert_eq!(lines[1]["status"], "error", "{}", lines[1]);
    let message = lines[1]["message"].as_str().expect("a message");
    assert!(
        message.contains("infrastructure error") && message.contains("3 attempt(s)"),
        "{message}"
    );
    assert!(message.contains(&sha), "names the missing blob: {message}");
    assert_eq!(lines[1]["submission"], gone.display().to_string());
    assert_eq!(lines[1]["exercise"], "leap");
    let (status, err) = worker.stop();
    assert!(status.success(), "{err}");
}

#[test]
fn collect_of_an_unknown_batch_and_an_unreachable_server_are_clear_errors() {
    let nats = NatsServer::start();
    let out = collect(&nats.url(), "bnope");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no batch bnope"), "{}", stderr(&out));
    let nobody = TcpListener::bind("127.0.0.1:0").expect("port");
    let url = format!("nats://{}", nobody.local_addr().expect("addr"));
    drop(nobody);
    let out = on_fleet(&url, &exercise_dir("leap"), &[&plugin("leap_ref")], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot connect to NATS"),
        "{}",
        stderr(&out)
    );
    // Sources are graded where their runners are, on this machine: refused
    // before anything is published.
    let source = crate::support::repo_root().join("plugins/exercises/leap_ref/solution.py");
    let out = on_fleet(&url, &exercise_dir("leap"), &[&source], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a fleet grades components"),
        "{}",
        stderr(&out)
    );
}
