//! The API against its own OpenAPI document: schemathesis (pinned in
//! `scripts/setup.sh`) generating requests from `/openapi.json` of a real
//! `warden run`, in two bounded runs with a fixed seed (the operations
//! that keep the tree, then the destructive ones on a host of their own),
//! and the mismatches it found, each pinned by a plain test:
//! request bodies are required, a whole number written `298.0` is an
//! integer, a body of only whitespace is not `{}`, and a guest's failure
//! is 422, not a server error.
//!
//! The runs check everything schemathesis checks by default; the few
//! statuses its config (`tests/schemathesis/schemathesis.toml`) adds are
//! documented outcomes, each explained there.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::api_cross_site::send;
use crate::support::{HostProcess, demo_tree, plugin, repo_root, tool_present};

/// The version `scripts/setup.sh` installs; its CLI flags are v4's.
const SCHEMATHESIS: &str = "4.32.5";

/// Operations that stop, remove or fail children: fuzzed apart, on their
/// own host, so they cannot starve the others of a running tree.
const DESTRUCTIVE: &[&str] = &[
    "child.kill",
    "child.terminate",
    "child.delete",
    "child.fault",
    "child.restart",
    "child.start",
];

/// The demo tree (with `wordcount` as its operation plugin), no token.
fn start_host() -> HostProcess {
    let body = demo_tree("api_addr = \"127.0.0.1:0\"")
        .replace("[operations.wc]", "[operations.wordcount]");
    HostProcess::start_tree(&body, &[])
}

/// Whether the pinned schemathesis is there for `test` (see
/// [`tool_present`]: skipped without it, failed under `.ci/run`).
fn schemathesis_present(test: &str) -> bool {
    let version = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .output();
    let shown = version
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let present = if shown.contains(SCHEMATHESIS) {
        Ok(())
    } else {
        Err(format!("found {:?}", shown.trim()))
    };
    tool_present(test, &format!("schemathesis {SCHEMATHESIS}"), present)
}

/// `python3 -m schemathesis.cli …`.
fn schemathesis(args: &[&str], dir: &Path) -> Output {
    Command::new("python3")
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(repo_root().join("tests/schemathesis/schemathesis.toml"))
        .args(args)
        // A serializer for `application/wasm` (uploads to the store).
        .env(
            "SCHEMATHESIS_HOOKS",
            repo_root().join("tests/schemathesis/hooks.py"),
        )
        // Its reports and caches, if any, stay in the host's temp dir.
        .current_dir(dir)
        .output()
        .expect("run python3")
}

/// One bounded run against `host`, limited to operations by `filters`
/// (`--include-operation-id X`…); panics with schemathesis's report
/// unless it found nothing.
fn fuzz(host: &HostProcess, filters: &[String]) {
    let url = format!("{}/openapi.json", host.url());
    let mut args = vec![
        "run",
        url.as_str(),
        "--seed",
        "20261204",
        "--max-examples",
        "12",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ];
    args.extend(filters.iter().map(String::as_str));
    let out = schemathesis(&args, host.dir());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found mismatches ({}):\n{report}\n{}\n--- warden log\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
    assert!(report.contains("Seed: 20261204"), "{report}");
}

#[test]
fn schemathesis_finds_nothing_in_the_operations_that_keep_the_tree() {
    if !schemathesis_present("schemathesis_finds_nothing_in_the_operations_that_keep_the_tree") {
        return;
    }
    let host = start_host();
    let filters: Vec<String> = DESTRUCTIVE
        .iter()
        .flat_map(|op| ["--exclude-operation-id".to_string(), op.to_string()])
        .collect();
    fuzz(&host, &filters);
}

#[test]
fn schemathesis_finds_nothing_in_the_destructive_operations_on_their_own_host() {
    if !schemathesis_present(
        "schemathesis_finds_nothing_in_the_destructive_operations_on_their_own_host",
    ) {
        return;
    }
    let host = start_host();
    let filters: Vec<String> = DESTRUCTIVE
        .iter()
        .flat_map(|op| ["--include-operation-id".to_string(), op.to_string()])
        .collect();
    fuzz(&host, &filters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_numbers_and_guest_failures_answer_as_documented() {
    let host = start_host();
    let at = host.authority();
    let client = host.client(None);
    let json_lines = [
        format!("Host: {at}"),
        "Content-Type: application/json".to_string(),
    ];

    // The document: every POST wants its body and documents 400, 403 and
    // 415; every operation (and an upload of code) documents 422, its
    // params or bytes refused. A state upload is not checked on the way
    // in (the child's restore export checks it), so it has no 422.
    let doc = client.get_json("/openapi.json").await.unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(post) = item.get("post") {
            assert_eq!(post["requestBody"]["required"], true, "{path}");
            for status in ["400", "403", "415"] {
                assert!(post["responses"][status].is_object(), "{path} {status}");
            }
            assert_eq!(
                post["responses"]["422"].is_object(),
                path != "/snapshots",
                "{path} 422"
            );
        }
    }

    // An empty body is `{}`; a body of only whitespace is not JSON.
    let empty = send(at, "POST", "/ops/tree", &json_lines, b"").await;
    assert_eq!(empty.status, 200, "{}", empty.text());
    let blank = send(at, "POST", "/ops/tree", &json_lines, b" \n\t ").await;
    assert_eq!(blank.status, 400, "{}", blank.text());
    assert_eq!(blank.json()["error"]["kind"], "bad_json");

    // `298.0` is an integer in JSON Schema: a built-in and a plugin both
    // read it as one (the plugin's own serde would refuse `1.0`).
    let recent = client
        .call("events.recent", json!({"limit": 298.0}))
        .await
        .unwrap();
    assert!(
        recent.as_array().is_some_and(|events| !events.is_empty()),
        "{recent}"
    );
    let counted = client
        .call("wordcount.count", json!({"text": "a b a", "top": 1.0}))
        .await
        .unwrap();
    assert_eq!(counted["top"], json!([{"word": "a", "count": 2}]));
    let half = client
        .call("events.recent", json!({"limit": 2.5}))
        .await
        .unwrap_err();
    assert_eq!(
        (half.status(), half.kind()),
        (Some(400), Some("invalid_params"))
    );

    // A guest's failure is the guest's: 422 with its cause, never a 5xx.
    let refused = client
        .call(
            "child.send",
            json!({"path": "root/counter", "message": "fly"}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(422), "{refused}");
    assert_eq!(refused.kind(), Some("guest_failed"));
    let trapped = client
        .call(
            "component.call",
            json!({"component": plugin("counter"), "function": "handle", "args": ["crash"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(trapped.status(), Some(422), "{trapped}");
    match &trapped {
        warden::api::client::ClientError::Status { body, .. } => {
            assert_eq!(body["error"]["cause"], "trap", "{body}");
        }
        other => panic!("expected a status, got {other}"),
    }
}
