//! The component store over HTTP and `warden ctl`, against a real
//! `warden run`: uploads are compiled under the compile limits before they
//! are stored (422 for bytes that are no component and for a compile
//! bomb, while the host keeps serving), named by their SHA-256, listed,
//! described with their WIT, and removed unless a call uses them (409).
//! And the rule that API callers name host paths only under `[api]
//! path_roots`: outside them, through a link or `..`, or with no roots at
//! all, 403.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden::api::client::{ApiClient, ClientError};

use crate::api_cross_site::send;
use crate::compile_limits::compile_bomb;
use crate::support::{HostProcess, plugin, repo_root, stderr, stdout, use_warden_as_compiler};

/// One component child (`counter.wasm` beside the config), `host` added to
/// `[host]` and `api` as the `[api]` table's keys.
fn tree(host: &str, api: &str) -> String {
    format!(
        "[host]\nstate_dir = \"state\"\napi_addr = \"127.0.0.1:0\"\n{host}\n\n\
         [supervisor.root]\nstrategy = \"one_for_one\"\n\n\
         [[supervisor.root.children]]\nid = \"counter\"\nkind = \"component\"\npath = \"counter.wasm\"\n\n\
         [api]\n{api}\n"
    )
}

/// The SHA-256 of a file, as `sha256sum` computes it (not Warden).
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// `POST /components` of `bytes` declared as `content_type`: the answer.
async fn post(host: &HostProcess, content_type: Option<&str>, bytes: &[u8]) -> (u16, Value) {
    let mut headers = vec![format!("Host: {}", host.authority())];
    if let Some(t) = content_type {
        headers.push(format!("Content-Type: {t}"));
    }
    let answer = send(host.authority(), "POST", "/components", &headers, bytes).await;
    (answer.status, answer.json())
}

/// A request's HTTP status and error body.
fn status_of(err: &ClientError) -> (u16, Value) {
    match err {
        ClientError::Status { status, body } => (*status, body.clone()),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

async fn ids(client: &ApiClient) -> Vec<String> {
    let list = client.get_json("/components").await.unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_compiled_then_stored_under_their_sha256() {
    let host = HostProcess::start_tree(&tree("", ""), &[]);
    let client = host.client(None);
    let counter = plugin("counter");
    let bytes = std::fs::read(&counter).unwrap();
    let id = sha256sum(&counter);

    let (status, first) = client.upload(bytes.clone()).await.unwrap();
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["size"], bytes.len());
    assert_eq!(
        first["worlds"],
        json!({"actor-plugin": true, "operation-plugin": false, "plugin": false})
    );
    let (status, again) = client.upload(bytes.clone()).await.unwrap();
    assert_eq!((status, &again), (200, &first));
    assert!(
        host.dir()
            .join(format!("state/components/{id}.wasm"))
            .is_file()
    );

    let list = client.get_json("/components").await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["size"], bytes.len());
    assert_eq!(list[0]["users"], json!([]));
    assert!(list[0]["stored_at_ms"].as_u64().unwrap() > 0);

    let described = client.get_json(&format!("/components/{id}")).await.unwrap();
    assert_eq!(described["worlds"], first["worlds"]);
    let wit = described["wit"].as_str().unwrap();
    for export in [
        "init: func(config: string)",
        "handle: func(message: list<u8>)",
    ] {
        assert!(wit.contains(export), "{export} missing from\n{wit}");
    }
    assert!(
        described["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "warden:plugin/actor@0.1.0"),
        "{described}"
    );

    // Unknown and malformed ids.
    let unknown = client
        .get_json(&format!("/components/{}", "0".repeat(64)))
        .await
        .unwrap_err();
    assert_eq!(status_of(&unknown).0, 404);
    let malformed = client.get_json("/components/not-an-id").await.unwrap_err();
    let (status, body) = status_of(&malformed);
    assert_eq!(
        (status, &body["error"]["kind"]),
        (400, &json!("bad_request"))
    );

    // Bytes that are no component: 422, and nothing is stored.
    for (junk, cause) in [
        (b"hello, world".to_vec(), "not_wasm"),
        (wat::parse_str("(module)").unwrap(), "not_a_component"),
        (b"\0asm\x0d\0\x01\0junk".to_vec(), "invalid_component"),
        (
            wat::parse_str(
                r#"(component (import "acme:missing/thing" (instance (export "poke" (func)))))"#,
            )
            .unwrap(),
            "unlinkable",
        ),
    ] {
        let err = client.upload(junk).await.unwrap_err();
        let (status, body) = status_of(&err);
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["kind"], "invalid_component", "{body}");
        assert_eq!(body["error"]["cause"], cause, "{body}");
    }
    assert_eq!(ids(&client).await, std::slice::from_ref(&id));

    // Only a body declared as a component is taken.
    for content_type in [
        Some("application/json"),
        Some("application/octet-stream"),
        None,
    ] {
        let (status, body) = post(&host, content_type, &bytes).await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert_eq!(body["error"]["kind"], "unsupported_media_type");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/wasm"),
            "{body}"
        );
    }

    // Removed: gone from the list, the file and the routes.
    client.delete(&format!("/components/{id}")).await.unwrap();
    assert!(ids(&client).await.is_empty());
    assert!(
        !host
            .dir()
            .join(format!("state/components/{id}.wasm"))
            .exists()
    );
    let again = client
        .delete(&format!("/components/{id}"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&again).0, 404);
    client.call("health", json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_above_max_component_bytes_is_413_and_stores_nothing() {
    let host = HostProcess::start_tree(&tree("", "max_component_bytes = 4096"), &[]);
    let client = host.client(None);
    let bytes = std::fs::read(plugin("counter")).unwrap();
    assert!(bytes.len() > 4096);
    let err = client.upload(bytes).await.unwrap_err();
    let (status, body) = status_of(&err);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["kind"], "payload_too_large");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("4096"),
        "{body}"
    );
    assert!(ids(&client).await.is_empty());
    // The document states the limit.
    let doc = client.get_json("/openapi.json").await.unwrap();
    assert_eq!(
        doc["paths"]["/components"]["post"]["requestBody"]["content"]["application/wasm"]["schema"]
            ["maxLength"],
        4096
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_upload_is_422_while_the_host_keeps_serving() {
    use_warden_as_compiler();
    let host = HostProcess::start_tree(&tree("[host.compile]\ncpu_secs = 1\n", ""), &[]);
    let client = host.client(None);
    let bomb = compile_bomb(400_000);
    let upload = tokio::spawn({
        let client = client.clone();
        async move { client.upload(bomb).await }
    });
    // While the compile child burns its second of CPU, the API answers.
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while !upload.is_finished() {
        let started = Instant::now();
        client.call("health", json!({})).await.unwrap();
        client.call("tree", json!({})).await.unwrap();
        slowest = slowest.max(started.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = upload.await.unwrap().unwrap_err();
    let (status, body) = status_of(&err);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["kind"], "compile_limit", "{body}");
    assert_eq!(body["error"]["limit"], "cpu", "{body}");
    assert!(answered >= 3, "the upload ended after {answered} calls");
    assert!(
        slowest < Duration::from_millis(500),
        "a call took {slowest:?} during the compile"
    );
    assert!(ids(&client).await.is_empty());
    // And a real component still uploads.
    let (status, _) = client
        .upload(std::fs::read(plugin("counter")).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_a_call_is_running_cannot_be_removed() {
    let host = HostProcess::start_tree(&tree("", ""), &[]);
    let client = host.client(None);
    let (_, uploaded) = client
        .upload(std::fs::read(plugin("misbehave")).unwrap())
        .await
        .unwrap();
    let id = uploaded["id"].as_str().unwrap().to_string();
    let call = tokio::spawn({
        let client = client.clone();
        let id = id.clone();
        async move {
            client
                .call(
                    "component.call",
                    json!({"component": id, "function": "loop-forever", "timeout_ms": 3000}),
                )
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let described = client.get_json(&format!("/components/{id}")).await.unwrap();
        if described["users"] == json!(["component.call"]) {
            break;
        }
        assert!(Instant::now() < deadline, "the call never leased {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = client
        .delete(&format!("/components/{id}"))
        .await
        .unwrap_err();
    let (status, body) = status_of(&err);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["kind"], "conflict");
    assert_eq!(body["error"]["users"], json!(["component.call"]));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in use by component.call"),
        "{body}"
    );
    let ended = call.await.unwrap().unwrap_err();
    assert_eq!(status_of(&ended).0, 504, "{ended}");
    // The lease ended with the call.
    let list = client.get_json("/components").await.unwrap();
    assert_eq!(list[0]["users"], json!([]), "{list}");
    client.delete(&format!("/components/{id}")).await.unwrap();
    assert!(ids(&client).await.is_empty());
}

#[test]
fn ctl_uploads_lists_shows_and_removes() {
    let host = HostProcess::start_tree(&tree("", ""), &[]);
    let counter = plugin("counter");
    let file = counter.to_str().unwrap();
    let id = sha256sum(&counter);

    let first = host.ctl_ok(&["upload", file]);
    assert!(first.starts_with(&format!("{id} stored (")), "{first}");
    assert!(first.contains("worlds: actor-plugin"), "{first}");
    let again: Value = serde_json::from_str(&host.ctl_ok(&["upload", file, "--json"])).unwrap();
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["created"], false);
    assert!(
        host.ctl_ok(&["upload", file])
            .starts_with(&format!("{id} already stored"))
    );

    let list = host.ctl_ok(&["components"]);
    assert!(list.starts_with("ID"), "{list}");
    assert!(list.contains(&id), "{list}");
    let json: Value = serde_json::from_str(&host.ctl_ok(&["components", "--json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    let shown = host.ctl_ok(&["components", "show", &id]);
    assert!(shown.contains("worlds: actor-plugin"), "{shown}");
    assert!(shown.contains("handle: func(message: list<u8>)"), "{shown}");

    // The host's refusal, its message, exit 2.
    let junk = host.dir().join("junk.wasm");
    std::fs::write(&junk, b"not a component").unwrap();
    let out = host.ctl(&["upload", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a WebAssembly file"),
        "{}",
        stderr(&out)
    );
    let out = host.ctl(&["components", "show", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    assert_eq!(
        host.ctl_ok(&["components", "rm", &id]),
        format!("{id}: removed\n")
    );
    assert_eq!(host.ctl_ok(&["components"]), "no components stored\n");
    let out = host.ctl(&["components", "rm", &id]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no component"), "{}", stderr(&out));
}

/// `component.call` of `counter`'s `handle` with `component`.
fn call_counter(component: &str) -> Value {
    json!({"component": component, "function": "handle", "args": ["get"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_paths_are_accepted_only_under_path_roots() {
    // `data/` (beside the config) is the one root; the config's folder,
    // where `counter.wasm` lies, is outside it.
    let host = HostProcess::start_tree(&tree("", "path_roots = [\"data\"]"), &[]);
    let client = host.client(None);
    let dir = host.dir().canonicalize().unwrap();
    let root = dir.join("data");
    std::fs::copy(plugin("counter"), root.join("counter.wasm")).unwrap();
    std::os::unix::fs::symlink(dir.join("counter.wasm"), root.join("link.wasm")).unwrap();
    std::os::unix::fs::symlink(&dir, root.join("up")).unwrap();
    let leap = repo_root().join("examples/exercises/leap");
    copy_dir(&leap, &root.join("leap"));
    copy_dir(&leap, &dir.join("leap"));
    std::fs::copy(plugin("leap_ref"), root.join("leap_ref.wasm")).unwrap();

    let inside = root.join("counter.wasm");
    let called = client
        .call("component.call", call_counter(inside.to_str().unwrap()))
        .await
        .unwrap();
    assert!(called["result"]["ok"].is_array(), "{called}");

    let forbidden = |err: ClientError, what: &str| {
        let (status, body) = status_of(&err);
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(body["error"]["kind"], "forbidden_path", "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("[api] path_roots"),
            "{what}: {body}"
        );
    };
    for (what, path) in [
        ("outside", dir.join("counter.wasm")),
        ("a link out", root.join("link.wasm")),
        ("a linked folder out", root.join("up/counter.wasm")),
        ("..", root.join("../counter.wasm")),
        ("missing outside", dir.join("missing.wasm")),
        ("the system", Path::new("/etc/passwd").to_path_buf()),
    ] {
        let err = client
            .call("component.call", call_counter(path.to_str().unwrap()))
            .await
            .unwrap_err();
        forbidden(err, what);
    }
    // Only under a root may a missing file be told apart.
    let missing = client
        .call(
            "component.call",
            call_counter(root.join("missing.wasm").to_str().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&missing).0, 404, "{missing}");

    // `grade`: the exercise folder is a host path too.
    let graded = client
        .call(
            "grade",
            json!({"exercise": root.join("leap"), "solution": root.join("leap_ref.wasm")}),
        )
        .await
        .unwrap();
    assert_eq!(graded["status"], "pass", "{graded}");
    let err = client
        .call(
            "grade",
            json!({"exercise": dir.join("leap"), "solution": root.join("leap_ref.wasm")}),
        )
        .await
        .unwrap_err();
    forbidden(err, "an exercise outside");
    let err = client
        .call(
            "grade",
            json!({"exercise": root.join("up/leap"), "solution": root.join("leap_ref.wasm")}),
        )
        .await
        .unwrap_err();
    forbidden(err, "an exercise through a link");

    // A store id needs no root.
    let (_, uploaded) = client
        .upload(std::fs::read(plugin("counter")).unwrap())
        .await
        .unwrap();
    let by_id = client
        .call(
            "component.call",
            call_counter(uploaded["id"].as_str().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(by_id["result"], called["result"]);
    let (_, leap_ref) = client
        .upload(std::fs::read(plugin("leap_ref")).unwrap())
        .await
        .unwrap();
    let graded = client
        .call(
            "grade",
            json!({"exercise": root.join("leap"), "solution": leap_ref["id"]}),
        )
        .await
        .unwrap();
    assert_eq!(graded["status"], "pass", "{graded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_path_roots_every_host_path_is_403_and_store_ids_work() {
    let host = HostProcess::start_tree(&tree("", ""), &[]);
    let client = host.client(None);
    let counter = plugin("counter");
    let err = client
        .call("component.call", call_counter(counter.to_str().unwrap()))
        .await
        .unwrap_err();
    let (status, body) = status_of(&err);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["kind"], "forbidden_path");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`[api] path_roots` lists no directory"),
        "{body}"
    );
    let err = client
        .call(
            "grade",
            json!({
                "exercise": repo_root().join("examples/exercises/leap"),
                "solution": plugin("leap_ref"),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err).0, 403, "{err}");

    let (_, counter_up) = client
        .upload(std::fs::read(&counter).unwrap())
        .await
        .unwrap();
    let called = client
        .call(
            "component.call",
            call_counter(counter_up["id"].as_str().unwrap()),
        )
        .await
        .unwrap();
    assert!(called["result"]["ok"].is_array(), "{called}");
    // A store id that is not stored is not found.
    let err = client
        .call("component.call", call_counter(&"0".repeat(64)))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err).0, 404, "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
