//! Tokens with roles, against a real `warden run`: the role matrix (a
//! `read`, an `operate` and two `admin` tokens, one of them `[host] token`,
//! against an operation of every class, a plugin's, `/events`,
//! `/metrics`, `/openapi.json` and `/whoami`), 401 for unknown tokens,
//! the audit log (a row for each changing call, forbidden ones included,
//! none for reads) and `warden ctl audit`, a secret read from the
//! environment (`token_env`), the component store's routes (`read` lists,
//! `operate` uploads, `admin` removes; uploads and removals audited), and
//! the config errors of `[[api.tokens]]`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warden::ops::Role;

use crate::api_http::{head_only, raw};
use warden::api::client::ClientError;

use crate::support::{HostProcess, demo_tree, plugin, stderr, stdout, write_tree_config};

/// `[host] token`: an `admin` named `admin`.
const HOST_TOKEN: &str = "host-admin-secret";
const READ: &str = "viewer-secret";
/// Given to the host in [`OPERATE_ENV`] (`token_env`), never in the file.
const OPERATE: &str = "operator-secret";
const OPERATE_ENV: &str = "WARDEN_TEST_OPERATOR_TOKEN";
const ADMIN: &str = "boss-secret";

/// Every token of [`start`]: secret, name, role.
const TOKENS: [(&str, &str, Role); 4] = [
    (READ, "viewer", Role::Read),
    (OPERATE, "operator", Role::Operate),
    (ADMIN, "boss", Role::Admin),
    (HOST_TOKEN, "admin", Role::Admin),
];

/// The `[[api.tokens]]` of the tests' hosts.
fn tokens_config() -> String {
    format!(
        r#"
[[api.tokens]]
name = "viewer"
role = "read"
token = "{READ}"

[[api.tokens]]
name = "operator"
role = "operate"
token_env = "{OPERATE_ENV}"

[[api.tokens]]
name = "boss"
role = "admin"
token = "{ADMIN}"
"#
    )
}

/// The demo tree (its operation plugin `wc`) with [`TOKENS`].
fn start() -> HostProcess {
    let body = demo_tree(&format!(
        "api_addr = \"127.0.0.1:0\"\ntoken = \"{HOST_TOKEN}\""
    )) + &tokens_config();
    HostProcess::start_tree(&body, &[(OPERATE_ENV, OPERATE)])
}

/// `POST /ops/{op}` with `params`, as `secret`.
async fn post(host: &HostProcess, secret: &str, op: &str, params: &Value) -> (u16, Value) {
    let body = params.to_string();
    let answer = raw(
        host.authority(),
        "POST",
        &format!("/ops/{op}"),
        Some(secret),
        Some(body.as_bytes()),
    )
    .await;
    (answer.status, answer.json())
}

fn now_ms() -> i64 {
    warden::process::now_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_calls_its_class_and_below_and_is_refused_above() {
    let host = start();
    let at = host.authority();
    // One operation of each class: read, operate (a built-in and a
    // plugin's), admin.
    let calls = [
        ("tree", json!({}), Role::Read),
        (
            "child.send",
            json!({"path": "root/echo", "message": "hi"}),
            Role::Operate,
        ),
        ("wc.count", json!({"text": "a b a"}), Role::Operate),
        ("audit.recent", json!({"limit": 1}), Role::Admin),
    ];
    for (secret, name, role) in TOKENS {
        let who = raw(at, "GET", "/whoami", Some(secret), None).await;
        assert_eq!(who.status, 200, "{name}: {}", who.text());
        assert_eq!(who.json(), json!({"name": name, "role": role}));
        for (op, params, needed) in &calls {
            let (status, body) = post(&host, secret, op, params).await;
            if role >= *needed {
                assert_eq!(status, 200, "{name} ({role}) calling {op}: {body}");
            } else {
                assert_eq!(status, 403, "{name} ({role}) calling {op}: {body}");
                let error = &body["error"];
                assert_eq!(error["kind"], "forbidden_role", "{body}");
                assert_eq!(error["op"], *op, "{body}");
                assert_eq!(error["needed_role"], needed.as_str(), "{body}");
                assert_eq!(error["role"], role.as_str(), "{body}");
                assert_eq!(error["token"], name, "{body}");
                let message = error["message"].as_str().unwrap();
                assert!(
                    message.contains(op) && message.contains(needed.as_str()),
                    "{message}"
                );
            }
        }
        for path in ["/metrics", "/openapi.json"] {
            let answer = raw(at, "GET", path, Some(secret), None).await;
            assert_eq!(answer.status, 200, "{name}: GET {path}");
        }
        let events = head_only(at, "/events", Some(secret)).await;
        assert_eq!(events.status, 200, "{name}: GET /events");
    }

    // A refused call changes nothing.
    let counter = json!({"path": "root/counter"});
    let info = |secret| post(&host, secret, "child.info", &counter);
    let before = info(READ).await.1["generation"].clone();
    let (status, _) = post(&host, READ, "child.kill", &json!({"path": "root/counter"})).await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &host,
        READ,
        "child.delete",
        &json!({"path": "root/counter"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, after) = info(READ).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["generation"], before, "{after}");
    assert_eq!(after["status"], "running", "{after}");

    // An unknown token, or none, is 401 everywhere but the public routes.
    for secret in [Some("not-a-token"), None] {
        for (method, path) in [
            ("POST", "/ops/tree"),
            ("GET", "/whoami"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
        ] {
            let answer = raw(at, method, path, secret, None).await;
            assert_eq!(answer.status, 401, "{method} {path} with {secret:?}");
        }
        assert_eq!(head_only(at, "/events", secret).await.status, 401);
        assert_eq!(raw(at, "GET", "/healthz", secret, None).await.status, 200);
    }

    // The document states every operation's role.
    let doc = raw(at, "GET", "/openapi.json", Some(READ), None)
        .await
        .json();
    let expected = [
        (
            Role::Read,
            &[
                "tree",
                "supervisors.list",
                "child.info",
                "health",
                "events.recent",
                "logs.tail",
                "ps",
                "child.versions",
                "sandbox.list",
                "snapshot.list",
                "trace.list",
                "group.list",
                "group.members",
                "group.health",
                "rollout.status",
                "rollout.list",
            ][..],
        ),
        (
            Role::Operate,
            &[
                "child.send",
                "child.restart",
                "child.kill",
                "child.reload",
                "child.rollback",
                "component.call",
                "grade",
                "sandbox.create",
                "sandbox.destroy",
                "group.join",
                "group.leave",
                "group.broadcast",
                "rollout.start",
                "rollout.abort",
                "supervisor.storm",
                "wc.count",
            ][..],
        ),
        (
            Role::Admin,
            &[
                "child.start",
                "child.terminate",
                "child.delete",
                "child.fault",
                "child.snapshot",
                "child.restore",
                "snapshot.get",
                "snapshot.diff",
                "snapshot.delete",
                "supervisor.strategy",
                "chaos.run",
                "plugin.reload",
                "audit.recent",
                "config.reload",
                "trace.start",
                "trace.stop",
                "trace.get",
            ][..],
        ),
    ];
    let mut listed = 0;
    for (role, ops) in expected {
        for op in ops {
            let post = &doc["paths"][format!("/ops/{op}")]["post"];
            assert_eq!(post["x-warden-role"], role.as_str(), "{op}");
            let description = post["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("`{role}` role")),
                "{op}: {description}"
            );
            listed += 1;
        }
    }
    let operations = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/ops/"))
        .count();
    assert_eq!(listed, operations, "every operation is in the table above");
    for path in ["/events", "/metrics", "/openapi.json", "/whoami"] {
        assert_eq!(doc["paths"][path]["get"]["x-warden-role"], "read", "{path}");
    }
}

/// The audit rows since `since_ms`, once `count` of them are there.
async fn audit_rows(host: &HostProcess, since_ms: i64, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, rows) = post(host, ADMIN, "audit.recent", &json!({"since": since_ms})).await;
        assert_eq!(status, 200, "{rows}");
        let rows = rows.as_array().unwrap().clone();
        if rows.len() >= count || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_calls_are_audited_forbidden_ones_too_and_reads_are_not() {
    let host = start();
    let since = now_ms();
    let send = json!({"path": "root/echo", "message": "hi"});
    let reads = [
        (OPERATE, "tree", json!({})),
        (OPERATE, "child.info", json!({"path": "root/counter"})),
        (READ, "events.recent", json!({"limit": 1})),
        (ADMIN, "audit.recent", json!({})),
    ];
    assert_eq!(post(&host, OPERATE, "child.send", &send).await.0, 200);
    for (secret, op, params) in &reads {
        assert_eq!(post(&host, secret, op, params).await.0, 200, "{op}");
    }
    for path in ["/metrics", "/whoami", "/openapi.json"] {
        assert_eq!(
            raw(host.authority(), "GET", path, Some(OPERATE), None)
                .await
                .status,
            200
        );
    }
    let kill = json!({"path": "root/counter"});
    assert_eq!(post(&host, READ, "child.kill", &kill).await.0, 403);
    // Reading the log is an admin's: a read token refused is audited.
    assert_eq!(post(&host, READ, "audit.recent", &json!({})).await.0, 403);
    let missing = json!({"path": "root/nope"});
    assert_eq!(post(&host, OPERATE, "child.restart", &missing).await.0, 404);

    let rows = audit_rows(&host, since, 4).await;
    let seen: Vec<(&str, &str, u64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["token"].as_str().unwrap(),
                r["op"].as_str().unwrap(),
                r["status"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("operator", "child.restart", 404, "not_found"),
            ("viewer", "audit.recent", 403, "forbidden_role"),
            ("viewer", "child.kill", 403, "forbidden_role"),
            ("operator", "child.send", 200, "ok"),
        ],
        "newest first, reads left out: {rows:#?}"
    );
    let digest = |params: &Value| {
        Sha256::digest(params.to_string().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(rows[3]["params_sha256"], digest(&send));
    assert_eq!(rows[2]["params_sha256"], digest(&kill));
    assert_eq!(rows[0]["params_sha256"], digest(&missing));
    for row in &rows {
        let at = row["at_ms"].as_i64().unwrap();
        assert!(at >= since && at <= now_ms(), "{row}");
        assert!(row["duration_us"].is_u64(), "{row}");
    }
    assert!(rows[3]["duration_us"].as_u64().unwrap() > 0, "{}", rows[3]);

    let filtered = |params: Value| {
        let host = &host;
        async move {
            let (status, rows) = post(host, ADMIN, "audit.recent", &params).await;
            assert_eq!(status, 200, "{rows}");
            rows.as_array().unwrap().len()
        }
    };
    assert_eq!(
        filtered(json!({"since": since, "op": "child.kill"})).await,
        1
    );
    assert_eq!(
        filtered(json!({"since": since, "token": "operator"})).await,
        2
    );
    assert_eq!(filtered(json!({"since": since, "limit": 3})).await, 3);
    let (status, body) = post(&host, ADMIN, "audit.recent", &json!({"limit": 10_001})).await;
    assert_eq!(status, 400, "{body}");

    // `warden ctl audit`: a table, newest first; --json the rows.
    let text = host.ctl_ok(&["--token", ADMIN, "audit", "--since", "10m"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("OUTCOME"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "a header and four rows: {text}");
    for (line, (token, op, status, outcome)) in lines[1..].iter().zip(&seen) {
        for word in [*token, *op, &status.to_string(), *outcome] {
            assert!(line.contains(word), "`{word}` in {line}");
        }
    }
    let json_rows: Value = serde_json::from_str(&host.ctl_ok(&[
        "--token",
        ADMIN,
        "--json",
        "audit",
        "--limit",
        "1",
        "--op",
        "child.kill",
    ]))
    .unwrap();
    assert_eq!(json_rows.as_array().unwrap().len(), 1, "{json_rows}");
    assert_eq!(json_rows[0]["token"], "viewer");
    let caller = host.ctl_ok(&["--token", ADMIN, "audit", "--caller", "operator"]);
    assert_eq!(caller.lines().count(), 3, "{caller}");
    assert_eq!(
        host.ctl_ok(&["--token", OPERATE, "whoami"]),
        "operator (operate)\n"
    );
    // A read token is refused: exit 2, naming the role it lacks.
    let out = host.ctl(&["--token", READ, "audit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("`admin`"), "{}", stderr(&out));
}

/// `warden run` of the demo tree with `extra` appended and `env` set must
/// fail at load: its log, which names the file.
fn refused(extra: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = write_tree_config(
        dir.path(),
        &(demo_tree("api_addr = \"127.0.0.1:0\"") + extra),
    );
    let mut host = HostProcess::spawn(&config, &dir.path().join("state"), env);
    let status = host.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(2), "{}", host.log());
    let log = host.log();
    assert!(log.contains("warden.toml"), "names the file: {log}");
    log
}

#[test]
fn token_config_errors_name_the_file_and_key() {
    let entry = |name: &str, role: &str, secret: &str| {
        format!("\n[[api.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\n{secret}\n")
    };
    let log = refused(
        &(entry("a", "read", "token = \"x\"") + &entry("a", "admin", "token = \"y\"")),
        &[],
    );
    assert!(
        log.contains("api.tokens[1].name: `a` is already the name of api.tokens[0]"),
        "{log}"
    );
    let log = refused(&entry("a", "superuser", "token = \"x\""), &[]);
    assert!(
        log.contains("api.tokens[0].role: `superuser` is not a role"),
        "{log}"
    );
    let var = "WARDEN_TEST_TOKEN_NOBODY_SETS";
    let log = refused(&entry("a", "read", &format!("token_env = \"{var}\"")), &[]);
    assert!(
        log.contains(&format!(
            "api.tokens[0].token_env: the environment variable `{var}` is not set"
        )),
        "{log}"
    );
    let log = refused(
        &entry("a", "read", &format!("token_env = \"{var}\"")),
        &[(var, "")],
    );
    assert!(log.contains("is empty"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_routes_need_their_roles_and_uploads_and_removals_are_audited() {
    let host = start();
    let since = now_ms();
    let bytes = std::fs::read(plugin("counter")).unwrap();
    let id: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let reader = host.client(Some(READ));
    let operator = host.client(Some(OPERATE));
    let boss = host.client(Some(ADMIN));
    let forbidden = |answer: Result<(), ClientError>, what: &str| match answer {
        Err(ClientError::Status { status: 403, body }) => {
            assert_eq!(body["error"]["kind"], "forbidden_role", "{what}: {body}")
        }
        other => panic!("{what}: {other:?}"),
    };

    forbidden(reader.upload(bytes.clone()).await.map(drop), "read uploads");
    let (status, uploaded) = operator.upload(bytes.clone()).await.unwrap();
    assert_eq!((status, uploaded["id"].as_str()), (201, Some(id.as_str())));
    let listed = reader.get_json("/components").await.unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "read lists: {listed}");
    reader
        .get_json(&format!("/components/{id}"))
        .await
        .expect("read describes");
    let route = format!("/components/{id}");
    forbidden(operator.delete(&route).await, "operate removes");
    boss.delete(&route).await.expect("admin removes");

    let rows = audit_rows(&host, since, 4).await;
    let seen: Vec<(&str, &str, u64, &str)> = rows
        .iter()
        .rev()
        .map(|r| {
            (
                r["op"].as_str().unwrap(),
                r["token"].as_str().unwrap(),
                r["status"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("components.upload", "viewer", 403, "forbidden_role"),
            ("components.upload", "operator", 201, "ok"),
            ("components.remove", "operator", 403, "forbidden_role"),
            ("components.remove", "boss", 204, "ok"),
        ],
        "GETs are not audited: {rows:?}"
    );
    // An upload's params digest is the SHA-256 of its bytes: its id.
    assert_eq!(rows[2]["params_sha256"], id.as_str(), "{rows:?}");
}
