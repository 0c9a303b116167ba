//! Registry tests on temporary files, with real processes for orphan
//! recovery (each test kills only what it started).

use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;
use crate::testing::OldHost;
use crate::{ProcessIdentity, WorkerId, now_ms};

const HOUR_MS: i64 = 3600 * 1000;

fn open(dir: &std::path::Path, retention: Retention) -> Registry {
    let mut config = RegistryConfig::new(dir.join("state").join("registry.sqlite3"));
    config.retention(retention);
    Registry::open(&config).expect("registry opens")
}

fn keep_all() -> Retention {
    Retention {
        keep_per_child: None,
        max_age: None,
    }
}

fn fake(child: &str, started_at_ms: i64) -> NewIncarnation {
    NewIncarnation {
        incarnation: WorkerId::random(),
        child: child.to_owned(),
        identity: ProcessIdentity {
            pid: 4_000_000,
            start_time: 1,
            boot_id: "test-boot".to_owned(),
        },
        command: "/bin/true".to_owned(),
        started_at_ms,
        restart_count: 0,
        cgroup: None,
    }
}

fn exited(stopped_at_ms: i64, health: Option<u8>) -> IncarnationExit {
    IncarnationExit {
        stopped_at_ms,
        reason: "normal".to_owned(),
        peak_memory_bytes: 1024,
        health,
    }
}

#[test]
fn schema_is_versioned_and_newer_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state").join("registry.sqlite3");
    {
        let _r = open(dir.path(), keep_all());
    }
    let conn = rusqlite::Connection::open(&path).expect("open");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    // Reopening an up-to-date file is fine.
    drop(open(dir.path(), keep_all()));
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let err = Registry::open(&RegistryConfig::new(&path)).expect_err("too new");
    assert!(
        matches!(err, RegistryError::TooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn writes_are_batched_and_queries_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(dir.path(), keep_all());
    let t0 = now_ms() - 10 * HOUR_MS;
    let mut ids = Vec::new();
    for i in 0..6 {
        let child = if i % 2 == 0 { "root/a" } else { "root/b" };
        let new = fake(child, t0 + i * HOUR_MS);
        ids.push(new.incarnation);
        r.record_started(new);
    }
    // a0 exited sick, a2 exited healthy, b1 running with a sample.
    r.record_exit(ids[0], exited(t0 + HOUR_MS / 2, Some(20)));
    r.record_exit(ids[2], exited(t0 + 2 * HOUR_MS + 10, Some(95)));
    r.record_sample(ids[1], Some(55), 4096);
    r.record_sample(ids[1], None, 1024);
    r.flush_blocking().expect("flush");

    let all = r.query(&IncarnationQuery::default()).expect("all");
    assert_eq!(all.len(), 6);
    assert!(
        all.windows(2)
            .all(|w| w[0].started_at_ms >= w[1].started_at_ms),
        "newest first"
    );

    let running = r.by_status(IncarnationStatus::Running).expect("running");
    assert_eq!(running.len(), 4);
    let b = r.by_child("root/b").expect("b");
    assert_eq!(b.len(), 3);
    let b1 = b
        .iter()
        .find(|row| row.incarnation == ids[1].to_string())
        .expect("b1");
    assert_eq!(b1.health, Some(55));
    assert_eq!(b1.peak_memory_bytes, 4096, "the peak only rises");

    let sick = r.health_below(60).expect("sick");
    let sick: Vec<&str> = sick.iter().map(|row| row.incarnation.as_str()).collect();
    assert_eq!(sick, [ids[1].to_string(), ids[0].to_string()]);

    let window = r
        .query(&IncarnationQuery {
            started_between: Some((t0 + HOUR_MS, t0 + 3 * HOUR_MS)),
            ..IncarnationQuery::default()
        })
        .expect("window");
    assert_eq!(window.len(), 2);
    // Alive during [t0 + 0.75 h, t0 + 0.9 h): a0 had stopped at 0.5 h.
    let active = r
        .query(&IncarnationQuery {
            active_between: Some((t0 + HOUR_MS * 3 / 4, t0 + HOUR_MS * 9 / 10)),
            ..IncarnationQuery::default()
        })
        .expect("active");
    assert!(active.is_empty(), "{active:?}");
    let limited = r
        .query(&IncarnationQuery {
            child: Some("root/a".into()),
            status: Some(IncarnationStatus::Exited),
            limit: Some(1),
            ..IncarnationQuery::default()
        })
        .expect("limited");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].incarnation, ids[2].to_string());

    let json = serde_json::to_value(&limited[0]).expect("json");
    assert_eq!(json["status"], "exited");
    assert_eq!(json["exit_reason"], "normal");
    assert_eq!(json["child"], "root/a");
}

#[test]
fn retention_keeps_the_newest_per_child_and_drops_old_rows_but_never_running_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(
        dir.path(),
        Retention {
            keep_per_child: Some(3),
            max_age: Some(Duration::from_secs(3600 * 24)),
        },
    );
    let now = now_ms();
    // An old incarnation still running: kept whatever its age.
    let old_running = fake("root/a", now - 100 * HOUR_MS);
    r.record_started(old_running.clone());
    for i in 0..6 {
        let new = fake("root/a", now - 10 * HOUR_MS + i * HOUR_MS);
        let id = new.incarnation;
        r.record_started(new);
        r.record_exit(id, exited(now - 10 * HOUR_MS + i * HOUR_MS + 1, None));
    }
    // Another child, ended long ago.
    let ancient = fake("root/b", now - 72 * HOUR_MS);
    let ancient_id = ancient.incarnation;
    r.record_started(ancient);
    r.record_exit(ancient_id, exited(now - 71 * HOUR_MS, None));
    r.flush_blocking().expect("flush");
    r.prune();
    r.flush_blocking().expect("flush");

    let a = r.by_child("root/a").expect("a");
    let running: Vec<_> = a
        .iter()
        .filter(|row| row.status == IncarnationStatus::Running)
        .collect();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].incarnation, old_running.incarnation.to_string());
    let ended = a.len() - running.len();
    assert!(ended <= 3, "kept {ended} ended rows of root/a");
    assert!(
        r.by_child("root/b").expect("b").is_empty(),
        "older than max_age"
    );
}

#[test]
fn updating_an_unknown_incarnation_is_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(dir.path(), keep_all());
    r.record_exit(WorkerId::random(), exited(now_ms(), None));
    // An update of a row that does not exist is not an error.
    r.flush_blocking().expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_worker_is_recorded_from_spawn_to_exit() {
    let _workers = crate::testing::WORKERS.read().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(dir.path(), keep_all());
    let policy = crate::ProcessPolicy::builder()
        .allow_command("sh")
        .build()
        .expect("policy");
    let mut spec = crate::WorkerSpec::new("root/worker", policy.resolve_command("sh").expect("sh"));
    spec.args(["-c", "exit 7"]);
    let worker = crate::RunningWorker::spawn(&spec).expect("spawn");
    r.record_started(NewIncarnation::of_worker(
        "root/worker",
        &worker,
        "sh -c 'exit 7'",
        2,
    ));
    let exit = worker.wait_exit().await;
    r.record_exit(worker.id(), IncarnationExit::of_exit(&exit, Some(80)));
    r.flush().await.expect("flush");
    let rows = r.by_child("root/worker").expect("rows");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.status, IncarnationStatus::Exited);
    assert_eq!(row.exit_reason.as_deref(), Some("exit_code(7)"));
    assert_eq!(row.restart_count, 2);
    assert_eq!(row.identity(), *worker.identity());
    assert_eq!(row.health, Some(80));
}

/// The identity of a process that existed and is gone now.
fn dead_identity() -> ProcessIdentity {
    let mut child = Command::new("true")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn true");
    let identity = ProcessIdentity::of(child.id()).expect("identity");
    child.wait().expect("reap");
    identity
}

#[test]
fn recovery_kills_live_orphans_and_leaves_reused_pids_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(dir.path(), keep_all());
    let marker = WorkerId::random();
    let old = OldHost::start(marker);
    let mut bystander = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .expect("bystander");
    let bystander_id = ProcessIdentity::of(bystander.id()).expect("identity");
    let record = |child: &str, incarnation: WorkerId, identity: ProcessIdentity| NewIncarnation {
        incarnation,
        child: child.to_owned(),
        identity,
        command: "python3".to_owned(),
        started_at_ms: now_ms(),
        restart_count: 0,
        cgroup: None,
    };
    r.record_started(record("root/live", marker, old.leader.clone()));
    r.record_started(record(
        "root/reused",
        WorkerId::random(),
        ProcessIdentity {
            start_time: bystander_id.start_time + 7,
            ..bystander_id.clone()
        },
    ));
    r.record_started(record("root/dead", WorkerId::random(), dead_identity()));
    r.record_started(record(
        "root/other-boot",
        WorkerId::random(),
        ProcessIdentity {
            boot_id: "another-boot".into(),
            ..bystander_id.clone()
        },
    ));
    r.flush_blocking().expect("flush");

    let report = recover_orphans(&r).expect("recovery");
    assert_eq!(report.orphans.len(), 4, "{report}");
    assert_eq!(report.killed(), 1, "{report}");
    assert_eq!(report.gone(), 3, "{report}");
    let live = report
        .orphans
        .iter()
        .find(|o| o.child == "root/live")
        .expect("live entry");
    match &live.action {
        OrphanAction::Killed { pids, survivors } => {
            assert!(survivors.is_empty());
            for who in [&old.leader, &old.kid, &old.escaped] {
                assert!(pids.contains(&who.pid), "{who:?} not killed: {pids:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    for who in [&old.leader, &old.kid, &old.escaped] {
        assert!(!alive(who), "{who:?} survived");
    }
    assert!(alive(&bystander_id), "an unrelated process was signalled");
    let text = report.to_string();
    for child in ["root/live", "root/reused", "root/dead", "root/other-boot"] {
        assert!(text.contains(child), "{text}");
    }

    let status = |child: &str| r.by_child(child).expect("rows")[0].status;
    assert_eq!(status("root/live"), IncarnationStatus::OrphanKilled);
    assert_eq!(status("root/reused"), IncarnationStatus::OrphanGone);
    assert_eq!(status("root/dead"), IncarnationStatus::OrphanGone);
    assert_eq!(status("root/other-boot"), IncarnationStatus::OrphanGone);
    assert!(
        r.by_status(IncarnationStatus::Running)
            .expect("rows")
            .is_empty()
    );
    // A second pass has nothing left to do.
    assert!(recover_orphans(&r).expect("again").orphans.is_empty());

    let _ = bystander.kill();
    let _ = bystander.wait();
}

/// Alive and not a zombie.
fn alive(identity: &ProcessIdentity) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", identity.pid)) else {
        return false;
    };
    let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
        return false;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let same = fields.get(19).and_then(|s| s.parse::<u64>().ok()) == Some(identity.start_time);
    same && !matches!(fields.first(), Some(&"Z") | Some(&"X"))
}

/// The pids of recorded identities.
fn pids(identities: &[ProcessIdentity]) -> Vec<u32> {
    identities.iter().map(|i| i.pid).collect()
}

#[test]
fn descendants_are_kept_while_their_incarnation_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(dir.path(), keep_all());
    let boot = crate::ProcessIdentity::of(std::process::id())
        .expect("own identity")
        .boot_id;
    let d = |pid: u32| ProcessIdentity {
        pid,
        start_time: 100 + u64::from(pid),
        boot_id: boot.clone(),
    };
    let mut running = fake("root/a", now_ms());
    running.cgroup = Some("/sys/fs/cgroup/x/warden-0".into());
    let a = running.incarnation;
    r.record_started(running);
    r.record_descendants(a, vec![d(11), d(12), d(13)], Vec::new());
    r.record_descendants(a, Vec::new(), vec![d(12)]);
    // Nothing is kept for an incarnation without a running row.
    let stranger = WorkerId::random();
    r.record_descendants(stranger, vec![d(14)], Vec::new());
    r.flush_blocking().expect("flush");
    let row = &r.by_child("root/a").expect("rows")[0];
    assert_eq!(
        row.cgroup.as_deref(),
        Some(std::path::Path::new("/sys/fs/cgroup/x/warden-0"))
    );
    assert_eq!(
        pids(&r.descendants(&a.to_string()).expect("read")),
        [11, 13]
    );
    assert!(
        r.descendants(&stranger.to_string())
            .expect("read")
            .is_empty()
    );
    // Killed with their worker: forgotten at its exit, and not recorded
    // again after it.
    r.record_exit(a, exited(now_ms(), None));
    r.record_descendants(a, vec![d(15)], Vec::new());
    r.flush_blocking().expect("flush");
    assert!(r.descendants(&a.to_string()).expect("read").is_empty());
}

#[test]
fn recovery_kills_recorded_descendants_of_a_leader_already_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = open(dir.path(), keep_all());
    // A descendant that left the group and dropped the marker: only the
    // record names it.
    let mut escaped = Command::new("sleep")
        .arg("300")
        .env_clear()
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep");
    let escaped_id = ProcessIdentity::of(escaped.id()).expect("identity");
    let mut new = fake("root/w", now_ms());
    new.identity = dead_identity();
    let w = new.incarnation;
    r.record_started(new);
    r.record_descendants(w, vec![escaped_id.clone()], Vec::new());
    r.flush_blocking().expect("flush");

    let report = recover_orphans(&r).expect("recovery");
    assert_eq!(report.killed(), 1, "{report}");
    assert_eq!(
        report.orphans[0].action,
        OrphanAction::Killed {
            pids: vec![escaped_id.pid],
            survivors: Vec::new()
        }
    );
    assert!(!alive(&escaped_id), "{escaped_id:?} survived");
    let _ = escaped.wait();
    assert_eq!(
        r.by_child("root/w").expect("rows")[0].status,
        IncarnationStatus::OrphanKilled
    );
    assert!(r.descendants(&w.to_string()).expect("read").is_empty());
}

#[test]
fn a_version_1_file_is_migrated_with_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state").join("registry.sqlite3");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(super::schema::MIGRATIONS[0])
            .expect("version 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute(
            "INSERT INTO incarnations (incarnation, child, pid, start_time, boot_id, command,
                 started_at, status)
             VALUES ('0123456789abcdef0123456789abcdef', 'root/old', 7, 1, 'b', 'x', 1, 'running')",
            [],
        )
        .expect("row");
    }
    let r = open(dir.path(), keep_all());
    let rows = r.by_child("root/old").expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].cgroup, None);
    assert!(
        r.descendants("0123456789abcdef0123456789abcdef")
            .expect("the new table")
            .is_empty()
    );
}

fn call(at_ms: i64, token: &str, op: &str, status: u16, outcome: &str) -> AuditRecord {
    AuditRecord {
        at_ms,
        token: token.to_owned(),
        op: op.to_owned(),
        params_sha256: Some("ab".repeat(32)),
        status,
        outcome: outcome.to_owned(),
        duration_us: 1234,
    }
}

#[tokio::test]
async fn audit_rows_are_written_read_newest_first_and_filtered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = open(dir.path(), keep_all());
    registry.record_audit(call(1_000, "ops", "child.restart", 200, "ok"));
    registry.record_audit(call(2_000, "viewer", "child.kill", 403, "forbidden_role"));
    registry.record_audit(AuditRecord {
        params_sha256: None,
        ..call(3_000, "ops", "child.kill", 415, "unsupported_media_type")
    });
    registry.flush().await.expect("flush");

    let all = registry.audit(&AuditQuery::default()).expect("query");
    let seen: Vec<(i64, &str, &str, u16, &str)> = all
        .iter()
        .map(|r| {
            (
                r.at_ms,
                r.token.as_str(),
                r.op.as_str(),
                r.status,
                r.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3_000, "ops", "child.kill", 415, "unsupported_media_type"),
            (2_000, "viewer", "child.kill", 403, "forbidden_role"),
            (1_000, "ops", "child.restart", 200, "ok"),
        ]
    );
    assert_eq!(all[0].params_sha256, None);
    assert_eq!(
        all[1].params_sha256.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    assert_eq!(all[1].duration_us, 1234);

    let q = |since_ms, op: Option<&str>, token: Option<&str>, limit| AuditQuery {
        since_ms,
        op: op.map(str::to_owned),
        token: token.map(str::to_owned),
        limit,
    };
    let ats = |q: AuditQuery| -> Vec<i64> {
        registry
            .audit(&q)
            .expect("query")
            .iter()
            .map(|r| r.at_ms)
            .collect()
    };
    assert_eq!(ats(q(Some(2_000), None, None, 100)), [3_000, 2_000]);
    assert_eq!(ats(q(None, Some("child.kill"), None, 100)), [3_000, 2_000]);
    assert_eq!(ats(q(None, None, Some("ops"), 100)), [3_000, 1_000]);
    assert_eq!(ats(q(None, Some("child.kill"), Some("ops"), 100)), [3_000]);
    assert_eq!(ats(q(None, None, None, 1)), [3_000]);
}

/// API calls at ~20,000/s each queue an audit row: the writer lets them
/// gather and commits many per transaction, instead of waking and
/// committing for nearly every one.
#[test]
fn a_steady_stream_of_writes_shares_transactions() {
    const WRITES: usize = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = open(dir.path(), keep_all());
    let before = registry.transactions();
    for i in 0..WRITES {
        registry.record_audit(call(i as i64, "ops", "wc.count", 200, "ok"));
        let queued = std::time::Instant::now();
        while queued.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
    }
    registry.flush_blocking().expect("flush");
    let transactions = registry.transactions() - before;
    let rows = registry
        .audit(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .expect("query")
        .len();
    assert_eq!(rows, WRITES);
    assert!(
        transactions <= (WRITES / 10) as u64,
        "{transactions} transactions for {WRITES} writes"
    );
}

#[tokio::test]
async fn the_audit_log_keeps_the_newest_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = RegistryConfig::new(dir.path().join("registry.sqlite3"));
    config.retention(keep_all()).audit_keep(3);
    let registry = Registry::open(&config).expect("registry opens");
    for i in 0..5 {
        registry.record_audit(call(i, "ops", "child.send", 200, "ok"));
        // Separate batches as well as one: retention runs after each.
        if i == 1 {
            registry.flush().await.expect("flush");
        }
    }
    registry.flush().await.expect("flush");
    let kept: Vec<i64> = registry
        .audit(&AuditQuery::default())
        .expect("query")
        .iter()
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(kept, [4, 3, 2]);
}

fn event(seq: u64, path: &str, kind: &str) -> EventRecord {
    EventRecord {
        seq,
        at_ms: 1_000 + seq as i64,
        path: path.to_owned(),
        kind: kind.to_owned(),
        body: format!(r#"{{"seq":{seq},"path":"{path}","event":"{kind}"}}"#),
    }
}

#[tokio::test]
async fn registry_events_survive_a_reopen_filtered_and_numbered_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let registry = open(dir.path(), keep_all());
        assert_eq!(registry.last_event_seq().expect("seq"), 0);
        registry.record_event(event(1, "root/a", "child_started"));
        registry.record_event(event(2, "root/ab", "child_started"));
        registry.record_event(event(3, "root/a/x_y", "child_exited"));
        // The log skipped 4 (it fell behind); a seq stored twice is kept once.
        registry.record_event(event(5, "root", "strategy_changed"));
        registry.record_event(event(5, "root", "duplicate"));
        registry.flush().await.expect("flush");
    }
    let registry = open(dir.path(), keep_all());
    assert_eq!(registry.last_event_seq().expect("seq"), 5);
    let seqs = |q: EventQuery| -> Vec<u64> {
        registry
            .events(&q)
            .expect("events")
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    let all = EventQuery {
        limit: 100,
        ..EventQuery::default()
    };
    assert_eq!(seqs(all.clone()), [1, 2, 3, 5]);
    assert_eq!(
        registry.events(&all).expect("events")[3].kind,
        "strategy_changed"
    );
    // `root/a` is itself and below it, not `root/ab`.
    assert_eq!(
        seqs(EventQuery {
            child: Some("root/a".into()),
            ..all.clone()
        }),
        [1, 3]
    );
    assert_eq!(
        seqs(EventQuery {
            kinds: vec!["child_started".into(), "strategy_changed".into()],
            ..all.clone()
        }),
        [1, 2, 5]
    );
    // The newest `limit` below `before_seq`, oldest first.
    assert_eq!(
        seqs(EventQuery {
            before_seq: Some(5),
            limit: 2,
            ..all.clone()
        }),
        [2, 3]
    );
}

#[tokio::test]
async fn registry_event_retention_keeps_the_newest_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = RegistryConfig::new(dir.path().join("registry.sqlite3"));
    config.retention(keep_all()).keep_events(3);
    let registry = Registry::open(&config).expect("registry opens");
    // Gaps in the numbering must not make it keep fewer.
    for seq in [1, 2, 4, 7, 8, 10, 11] {
        registry.record_event(event(seq, "root/a", "child_started"));
        if seq == 4 {
            registry.flush().await.expect("flush");
        }
    }
    registry.flush().await.expect("flush");
    let kept: Vec<u64> = registry
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .expect("events")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(kept, [8, 10, 11]);
}

#[tokio::test]
async fn registry_versions_are_updated_in_place_and_kept_per_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = RegistryConfig::new(dir.path().join("registry.sqlite3"));
    config.retention(keep_all()).keep_versions(2);
    let registry = Registry::open(&config).expect("registry opens");
    let row = |run_ms: i64, path: &str, version: u64, outcome: &str| VersionRow {
        run_ms,
        path: path.to_owned(),
        version,
        hash: format!("h{version}"),
        source: "counter.wasm".to_owned(),
        at_ms: run_ms + version as i64,
        outcome: outcome.to_owned(),
        duration_ms: 3,
    };
    registry.record_version(row(100, "root/c", 1, r#"{"outcome":"initial"}"#));
    registry.record_version(row(100, "root/c", 2, r#"{"outcome":"reloaded"}"#));
    registry.record_version(row(100, "root/other", 1, r#"{"outcome":"initial"}"#));
    // A rollback rewrites version 2's outcome; it stays one row.
    registry.record_version(row(
        100,
        "root/c",
        2,
        r#"{"outcome":"rolled_back_from","reason":"r"}"#,
    ));
    registry.flush().await.expect("flush");
    let c = registry.versions("root/c").expect("versions");
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[1].outcome,
        r#"{"outcome":"rolled_back_from","reason":"r"}"#
    );
    // A later run numbers from 1 again; the oldest rows of the child go.
    registry.record_version(row(200, "root/c", 1, r#"{"outcome":"initial"}"#));
    registry.flush().await.expect("flush");
    let c: Vec<(i64, u64)> = registry
        .versions("root/c")
        .expect("versions")
        .iter()
        .map(|r| (r.run_ms, r.version))
        .collect();
    assert_eq!(c, [(100, 2), (200, 1)]);
    assert_eq!(registry.versions("root/other").expect("versions").len(), 1);
}
