//! Stored snapshots (`child.snapshot`'s ids, `snapshot.*`,
//! `child.restore {snapshot}`, `GET /snapshots/{id}`, `[snapshots]
//! keep_per_child`): a real `warden run` with two `counter` children,
//! driven through `warden ctl` and the HTTP API, stopped and started again
//! on the same state dir.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden::host::snapshots::SnapshotStore;

use crate::support::{HostProcess, plugin, stderr, stdout};

/// A folder with `warden.toml`: `root/counter` and `root/other` (both the
/// `counter` plugin), state in `state/`, the API on a free port, and
/// `extra` appended (a `[snapshots]` table).
fn config(extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = plugin("counter");
    let text = format!(
        r#"[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[supervisor.root]
strategy = "one_for_one"
intensity = 10

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "{counter}"

[[supervisor.root.children]]
id = "other"
kind = "component"
path = "{counter}"
{extra}
"#,
        counter = counter.display()
    );
    let file = dir.path().join("warden.toml");
    std::fs::write(&file, text).expect("write config");
    let state = dir.path().join("state");
    (dir, file, state)
}

/// `warden ctl send PATH MESSAGE` once the child answers; the reply.
fn send(host: &HostProcess, path: &str, message: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = host.ctl(&["send", path, message]);
        if out.status.success() {
            return stdout(&out).trim_end().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "send {path} {message}: {}\n{}",
            stderr(&out),
            host.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `warden ctl snapshot PATH`: the id it prints.
fn snapshot(host: &HostProcess, path: &str) -> String {
    let id = host.ctl_ok(&["snapshot", path]).trim_end().to_string();
    assert_eq!(id.len(), 18, "an id: {id:?}");
    id
}

/// `warden ctl --json ARGS…`, parsed.
fn ctl_json(host: &HostProcess, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = host.ctl_ok(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// The ids `warden ctl snapshots [PATH]` lists, oldest first.
fn listed(host: &HostProcess, path: Option<&str>) -> Vec<String> {
    let mut args = vec!["snapshots"];
    args.extend(path);
    let list = ctl_json(host, &args);
    list.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_string())
        .collect()
}

#[test]
fn ids_diff_restore_and_a_round_trip_across_a_host_restart() {
    let (_dir, file, state) = config("");
    let mut host = HostProcess::start(&file, &state, &[]);
    send(&host, "root/counter", "get");
    let first = snapshot(&host, "root/counter");
    assert_eq!(send(&host, "root/counter", "inc"), "1");
    assert_eq!(send(&host, "root/counter", "add 4"), "5");
    let second = snapshot(&host, "root/counter");
    assert!(first < second, "ids sort as taken: {first} {second}");

    // What changed, by JSON pointer.
    let diff = ctl_json(&host, &["snapshot", "diff", &first, &second]);
    assert_eq!(diff["format"], "json", "{diff}");
    assert_eq!(diff["equal"], false, "{diff}");
    assert_eq!(
        diff["changes"],
        json!([{"op": "changed", "path": "/state/count", "from": 0, "to": 5}]),
        "{diff}"
    );
    let text = host.ctl_ok(&["snapshot", "diff", &first, &second]);
    assert!(text.contains("~ /state/count: 0 → 5"), "{text}");
    let same = ctl_json(&host, &["snapshot", "diff", &second, &second]);
    assert_eq!(same["equal"], true, "{same}");

    // The decoded state and what is kept about it.
    let got = ctl_json(&host, &["snapshot", "show", &second]);
    assert_eq!(got["format"], "json", "{got}");
    assert_eq!(got["state"], json!({"count": 5}), "{got}");
    assert_eq!(got["schema"], 1, "{got}");
    assert_eq!(got["path"], "root/counter", "{got}");
    assert_eq!(got["version"], 1, "{got}");
    assert_eq!(got["hash"].as_str().map(str::len), Some(64), "{got}");
    assert_eq!(got["size"], r#"{"schema":1,"state":{"count":5}}"#.len());

    // Back to the first.
    let out = host.ctl_ok(&["restore", "root/counter", "--snapshot", &first]);
    assert!(out.contains(&first), "{out}");
    assert_eq!(send(&host, "root/counter", "get"), "0");

    // The host goes away; the snapshots do not.
    assert!(host.terminate().success(), "{}", host.log());
    let host = HostProcess::start(&file, &state, &[]);
    assert_eq!(send(&host, "root/counter", "get"), "0");
    assert_eq!(listed(&host, Some("root/counter")), [first, second.clone()]);
    host.ctl_ok(&["restore", "root/counter", "--snapshot", &second]);
    assert_eq!(send(&host, "root/counter", "get"), "5", "{}", host.log());
}

#[test]
fn retention_drops_the_oldest_and_listing_filters_by_path() {
    let (_dir, file, state) = config("\n[snapshots]\nkeep_per_child = 3\n");
    let host = HostProcess::start(&file, &state, &[]);
    send(&host, "root/counter", "get");
    send(&host, "root/other", "get");
    let mut ids = Vec::new();
    for _ in 0..5 {
        send(&host, "root/counter", "inc");
        ids.push(snapshot(&host, "root/counter"));
    }
    let other = snapshot(&host, "root/other");
    assert_eq!(listed(&host, Some("root/counter")), ids[2..].to_vec());
    assert_eq!(
        listed(&host, Some("root/other")),
        std::slice::from_ref(&other)
    );
    let everything = listed(&host, None);
    assert_eq!(everything.len(), 4, "{everything:?}");
    assert!(everything.contains(&other));
    let table = host.ctl_ok(&["snapshots", "root/other"]);
    assert!(
        table.contains(&other) && table.contains("root/other"),
        "{table}"
    );
    assert!(!table.contains(&ids[4]), "{table}");

    // The oldest is gone: 404, exit 2, naming it.
    let out = host.ctl(&["snapshot", "show", &ids[0]]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&ids[0]), "{}", stderr(&out));
    // The oldest kept is the count after the third inc.
    let kept = ctl_json(&host, &["snapshot", "show", &ids[2]]);
    assert_eq!(kept["state"]["count"], 3, "{kept}");

    // Removing one.
    host.ctl_ok(&["snapshot", "rm", &ids[2]]);
    assert_eq!(listed(&host, Some("root/counter")), ids[3..].to_vec());
    let files = std::fs::read_dir(state.join("snapshots")).unwrap().count();
    assert_eq!(files, 3, "one file per snapshot kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_are_400_unknown_ones_404() {
    let (_dir, file, state) = config("");
    let host = HostProcess::start(&file, &state, &[]);
    let client = host.client(None);
    send(&host, "root/counter", "get");
    let unknown = "1764902400000-0000";
    let traversal = "../../../etc/passw";
    for (op, params, field) in [
        ("snapshot.get", json!({"id": traversal}), "/id"),
        ("snapshot.delete", json!({"id": traversal}), "/id"),
        (
            "snapshot.diff",
            json!({"a": unknown, "b": "1764902400000_0000"}),
            "/b",
        ),
        (
            "child.restore",
            json!({"path": "root/counter", "snapshot": traversal}),
            "/snapshot",
        ),
    ] {
        let err = client.call(op, params.clone()).await.unwrap_err();
        assert_eq!(err.status(), Some(400), "{op} {params}: {err}");
        assert!(err.to_string().contains(field), "{op}: {err}");
        assert!(err.to_string().contains("not a snapshot id"), "{op}: {err}");
    }
    // Both given, or neither: the schema says one.
    let err = client
        .call(
            "child.restore",
            json!({"path": "root/counter", "snapshot": unknown, "state": "e30="}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    for (op, params) in [
        ("snapshot.get", json!({"id": unknown})),
        ("snapshot.delete", json!({"id": unknown})),
        (
            "child.restore",
            json!({"path": "root/counter", "snapshot": unknown}),
        ),
    ] {
        let err = client.call(op, params.clone()).await.unwrap_err();
        assert_eq!(err.status(), Some(404), "{op} {params}: {err}");
        assert!(err.to_string().contains(unknown), "{op}: {err}");
    }
    let err = client.get_bytes("/snapshots/not-an-id").await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    let err = client
        .get_bytes(&format!("/snapshots/{unknown}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(
        !state.join("etc").exists() && !host.dir().join("etc").exists(),
        "nothing was written outside the store"
    );
}

/// A counter state of more than `bytes`: the SDK envelope with a padding
/// field the counter ignores on restore.
fn big_state(count: u64, bytes: usize) -> Vec<u8> {
    let pad = "p".repeat(bytes);
    serde_json::to_vec(&json!({"schema": 1, "state": {"count": count, "pad": pad}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_over_the_body_limit_streams_and_restores_by_id() {
    let (_dir, file, state) = config("");
    // Stored by the host's own store before the host starts (no plugin
    // keeps 3 MiB of state), in the state dir the host then serves.
    let store = SnapshotStore::new(&state, 20);
    let big = big_state(77, 3 << 20);
    assert!(big.len() > 1 << 20, "more than the 1 MiB request limit");
    let meta = store.save("root/counter", "", None, &big).unwrap();
    let host = HostProcess::start(&file, &state, &[]);
    send(&host, "root/counter", "get");
    let client = host.client(None);

    let raw = client
        .get_bytes(&format!("/snapshots/{}", meta.id))
        .await
        .unwrap();
    assert_eq!(raw.len(), big.len());
    assert!(raw == big, "the bytes as stored");
    let listed = client
        .call("snapshot.list", json!({"path": "root/counter"}))
        .await
        .unwrap();
    assert_eq!(listed[0]["size"], big.len(), "{listed}");

    // Restoring by id never goes through a request body.
    client
        .call(
            "child.restore",
            json!({"path": "root/counter", "snapshot": meta.id}),
        )
        .await
        .unwrap();
    assert_eq!(send(&host, "root/counter", "get"), "77");
    check_state_dir(&state, &meta.id);
}

/// The store is one `<id>.snap` file per snapshot in `state/snapshots`.
fn check_state_dir(state: &Path, id: &str) {
    let file = state.join("snapshots").join(format!("{id}.snap"));
    let head = std::fs::read(&file).unwrap();
    assert!(
        head.starts_with(b"warden-snapshot 1\n"),
        "{}",
        file.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_state_needs_admin_listing_needs_read() {
    let (_dir, file, state) = config(
        "\n[[api.tokens]]\nname = \"viewer\"\nrole = \"read\"\ntoken = \"viewer-secret-0123456789\"\n\n[[api.tokens]]\nname = \"boss\"\nrole = \"admin\"\ntoken = \"boss-secret-0123456789ab\"\n",
    );
    let host = HostProcess::start(&file, &state, &[]);
    let admin = host.client(Some("boss-secret-0123456789ab"));
    let viewer = host.client(Some("viewer-secret-0123456789"));
    let taken = admin
        .call("child.snapshot", json!({"path": "root/counter"}))
        .await
        .unwrap();
    let id = taken["id"].as_str().unwrap().to_string();
    let listed = viewer.call("snapshot.list", json!({})).await.unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    for (op, params) in [
        ("snapshot.get", json!({"id": id})),
        ("snapshot.diff", json!({"a": id, "b": id})),
        ("snapshot.delete", json!({"id": id})),
    ] {
        let err = viewer.call(op, params).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{op}: {err}");
    }
    let err = viewer
        .get_bytes(&format!("/snapshots/{id}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let raw = admin.get_bytes(&format!("/snapshots/{id}")).await.unwrap();
    assert_eq!(raw, br#"{"schema":1,"state":{"count":0}}"#);
}

/// A state larger than any JSON body may be goes in through `ctl snapshot
/// import` (`POST /snapshots?path=…`), is restored by id, and comes back
/// out through `ctl snapshot export` byte for byte.
#[test]
fn a_state_over_the_body_limit_goes_in_by_upload_and_out_by_export() {
    let (dir, file, state) = config("\n[snapshots]\nmax_upload_bytes = 4194304\n");
    let host = HostProcess::start(&file, &state, &[]);
    send(&host, "root/counter", "get");
    let big = big_state(88, 3 << 20);
    assert!(big.len() > 1 << 20, "more than the 1 MiB request limit");
    let upload = dir.path().join("big.state");
    std::fs::write(&upload, &big).unwrap();

    let id = host
        .ctl_ok(&[
            "snapshot",
            "import",
            "root/counter",
            upload.to_str().unwrap(),
        ])
        .trim_end()
        .to_string();
    assert_eq!(id.len(), 18, "an id: {id:?}");
    let shown = ctl_json(&host, &["snapshot", "show", &id]);
    assert_eq!(shown["path"], "root/counter", "{shown}");
    assert_eq!(shown["size"], big.len(), "{shown}");
    assert_eq!(shown["version"], 1, "the version it was uploaded to");
    assert_eq!(shown["hash"].as_str().map(str::len), Some(64), "{shown}");
    assert_eq!(shown["state"]["count"], 88);

    host.ctl_ok(&["restore", "root/counter", "--snapshot", &id]);
    assert_eq!(send(&host, "root/counter", "get"), "88", "{}", host.log());

    let out = dir.path().join("out.state");
    let written = ctl_json(&host, &["snapshot", "export", &id, out.to_str().unwrap()]);
    assert_eq!(written["size"], big.len(), "{written}");
    assert!(std::fs::read(&out).unwrap() == big, "the bytes as uploaded");
    let to_stdout = host.ctl(&["snapshot", "export", &id, "-"]);
    assert!(to_stdout.status.success(), "{}", stderr(&to_stdout));
    assert!(to_stdout.stdout == big, "the bytes on stdout");

    // Above `[snapshots] max_upload_bytes`: 413, nothing stored.
    std::fs::write(&upload, big_state(1, 5 << 20)).unwrap();
    let refused = host.ctl(&[
        "snapshot",
        "import",
        "root/counter",
        upload.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("4194304"), "{}", stderr(&refused));
    // A child that keeps no state: 404 naming it.
    std::fs::write(&upload, b"{}").unwrap();
    let nobody = host.ctl(&[
        "snapshot",
        "import",
        "root/nobody",
        upload.to_str().unwrap(),
    ]);
    assert_eq!(nobody.status.code(), Some(2), "{}", stderr(&nobody));
    assert!(
        stderr(&nobody).contains("root/nobody"),
        "{}",
        stderr(&nobody)
    );
    assert_eq!(listed(&host, None), [id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_needs_admin_octet_stream_and_a_path_and_is_audited() {
    let (_dir, file, state) = config(
        "\n[[api.tokens]]\nname = \"ops\"\nrole = \"operate\"\ntoken = \"ops-secret-0123456789abcd\"\n\n[[api.tokens]]\nname = \"boss\"\nrole = \"admin\"\ntoken = \"boss-secret-0123456789ab\"\n",
    );
    let host = HostProcess::start(&file, &state, &[]);
    let admin = host.client(Some("boss-secret-0123456789ab"));
    let operator = host.client(Some("ops-secret-0123456789abcd"));
    let state_bytes = br#"{"schema":1,"state":{"count":9}}"#.to_vec();
    let octets = "application/octet-stream";

    let err = operator
        .post_bytes("/snapshots?path=root/counter", state_bytes.clone(), octets)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let err = admin
        .post_bytes(
            "/snapshots?path=root/counter",
            state_bytes.clone(),
            "application/json",
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(415), "{err}");
    assert!(
        err.to_string().contains("application/octet-stream"),
        "{err}"
    );
    let err = admin
        .post_bytes("/snapshots", state_bytes.clone(), octets)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("?path="), "{err}");

    let (status, stored) = admin
        .post_bytes("/snapshots?path=root/counter", state_bytes.clone(), octets)
        .await
        .unwrap();
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["size"], state_bytes.len(), "{stored}");
    let raw = admin
        .get_bytes(&format!("/snapshots/{}", stored["id"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(raw, state_bytes);

    // Every upload, refused or not, is in the audit log.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = admin
            .call("audit.recent", json!({"op": "snapshots.upload"}))
            .await
            .unwrap();
        let outcomes: Vec<(String, u64)> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["token"].as_str().unwrap().to_string(),
                    e["status"].as_u64().unwrap(),
                )
            })
            .collect();
        if outcomes.len() >= 4 {
            let mut sorted = outcomes.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                [
                    ("boss".to_string(), 201),
                    ("boss".to_string(), 400),
                    ("boss".to_string(), 415),
                    ("ops".to_string(), 403)
                ],
                "{audit}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{audit}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
