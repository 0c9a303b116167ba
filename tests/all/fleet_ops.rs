//! Operations on a fleet: `warden run` with `[fleet]` serves its
//! operations on a real nats-server, `warden ctl --nats` reaches whichever
//! host serves them, events arrive on `warden.events.<host>.<kind>`, and
//! the server's users per role (from `warden fleet permissions`) keep each
//! role to its operations.

use std::process::Output;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::support::{
    HostProcess, NatsServer, demo_tree, stderr, stdout, warden, warden_cmd, write_tree_config,
};

/// The demo tree on a free port, on the fleet of `nats` as `name`, with
/// `auth` (more `[fleet]` keys) added.
fn fleet_host(nats: &str, name: &str, auth: &str, env: &[(&str, &str)]) -> HostProcess {
    HostProcess::start_tree(&fleet_config(nats, name, auth), env)
}

/// The demo tree's config on the fleet of `nats` as `name`, with `auth`
/// (more `[fleet]` keys) added.
fn fleet_config(nats: &str, name: &str, auth: &str) -> String {
    format!(
        "{}\n[fleet]\nnats = \"{nats}\"\nname = \"{name}\"\n{auth}\n",
        demo_tree("api_addr = \"127.0.0.1:0\"")
    )
}

/// `warden ctl --nats URL ARGS…`.
fn ctl_nats(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["ctl", "--nats", url];
    all.extend_from_slice(args);
    warden_cmd(&all)
        .env_remove("WARDEN_NATS_PASSWORD")
        .output()
        .expect("run warden ctl")
}

/// [`ctl_nats`] with `--json`, asserting exit 0; its JSON.
fn ctl_nats_json(url: &str, args: &[&str], hosts: &[&HostProcess]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ctl_nats(url, &all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warden ctl --nats {args:?}\nstdout: {}\nstderr: {}\nlogs:\n{}",
        stdout(&out),
        stderr(&out),
        hosts
            .iter()
            .map(|h| h.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    serde_json::from_str(&stdout(&out)).expect("ctl --json prints JSON")
}

fn host_names(hosts: &Value) -> Vec<String> {
    hosts
        .as_array()
        .expect("an array of hosts")
        .iter()
        .map(|h| h["name"].as_str().expect("a name").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_reaches_a_two_host_fleet_and_survives_a_host_stopping() {
    let nats = NatsServer::start();
    let url = nats.url();
    let mut a = fleet_host(&url, "host-a", "", &[]);
    let b = fleet_host(&url, "host-b", "", &[]);

    // Both hosts are listed, each with its operations as endpoints.
    let hosts = ctl_nats_json(&url, &["hosts"], &[&a, &b]);
    assert_eq!(host_names(&hosts), ["host-a", "host-b"], "{hosts:#}");
    for host in hosts.as_array().expect("hosts") {
        assert!(
            host["endpoints"].as_u64().expect("a count") > 10,
            "{host:#}"
        );
    }

    // Events of whichever host runs the restart arrive on its subjects.
    let bus = async_nats::connect(url.as_str()).await.expect("connect");
    let mut events = bus.subscribe("warden.events.*.>").await.expect("subscribe");
    bus.flush().await.expect("flush");

    // An operate operation through the bus: it ran on one of the hosts.
    let restarted = ctl_nats_json(
        &url,
        &["op", "child.restart", r#"{"path": "root/echo"}"#],
        &[&a, &b],
    );
    assert!(restarted.is_object(), "{restarted:#}");
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let message = events.next().await.expect("the subscription lasts");
            let event: Value = serde_json::from_slice(&message.payload).expect("event JSON");
            seen.push(format!("{} {event}", message.subject));
            if event["path"] == "root/echo" && event["event"] == "child_started" {
                return message.subject.to_string();
            }
        }
    })
    .await;
    let subject = found.unwrap_or_else(|_| {
        panic!("no child_started event of root/echo on warden.events.<host>.>; seen: {seen:#?}")
    });
    assert!(
        subject == "warden.events.host-a.child_started"
            || subject == "warden.events.host-b.child_started",
        "{subject}"
    );

    // Errors come back as the HTTP API gives them.
    let out = ctl_nats(&url, &["op", "child.info", r#"{"path": "root/nobody"}"#]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("404 not_found") && stderr(&out).contains("root/nobody"),
        "{}",
        stderr(&out)
    );

    // host-a stops; host-b serves every request from now on.
    assert!(a.terminate().success(), "{}", a.log());
    for _ in 0..4 {
        let tree = ctl_nats_json(&url, &["op", "tree"], &[&b]);
        assert!(tree["children"].is_array(), "{tree:#}");
    }
    let hosts = ctl_nats_json(&url, &["hosts"], &[&b]);
    assert_eq!(host_names(&hosts), ["host-b"], "{hosts:#}");
    assert!(
        hosts[0]["requests"].as_u64().expect("requests") >= 4,
        "{hosts:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_only_its_operations() {
    let permissions = warden(&["fleet", "permissions"]);
    assert!(permissions.status.success(), "{}", stderr(&permissions));
    let config = stdout(&permissions).replace("CHANGE-ME-", "pw-");
    let nats = NatsServer::start_with_config(Some(&config));
    let url = nats.url();
    let host = fleet_host(
        &url,
        "solo",
        "user = \"host\"\npassword_env = \"FLEET_PW\"",
        &[("FLEET_PW", "pw-host")],
    );
    let as_user = |user: &str, args: &[&str]| {
        let mut all = vec!["--nats-user", user, "--nats-password"];
        let password = format!("pw-{user}");
        all.push(&password);
        all.extend_from_slice(args);
        ctl_nats(&url, &all)
    };

    // Nothing without credentials.
    let out = ctl_nats(&url, &["op", "tree"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).to_lowercase().contains("authorization"),
        "{}",
        stderr(&out)
    );

    // read calls a read operation…
    let out = as_user("read", &["op", "tree", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        host.log()
    );
    // …but not an operate one: the server refuses its subject…
    let out = as_user("read", &["op", "child.restart", r#"{"path": "root/echo"}"#]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Permissions Violation")
            && stderr(&out).contains("warden.op.operate.child.restart"),
        "{}",
        stderr(&out)
    );
    // …and the host refuses it on the read role's subject.
    let out = as_user(
        "read",
        &[
            "--role",
            "read",
            "op",
            "child.restart",
            r#"{"path": "root/echo"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("403 forbidden_role")
            && stderr(&out).contains("needs the `operate` role"),
        "{}",
        stderr(&out)
    );

    // operate may; admin's operations stay out of its reach.
    let out = as_user(
        "operate",
        &["op", "child.restart", r#"{"path": "root/echo"}"#, "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        host.log()
    );
    let out = as_user(
        "operate",
        &["op", "child.delete", r#"{"path": "root/echo"}"#],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Permissions Violation"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_host_whose_nats_server_is_unreachable_does_not_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_tree_config(dir.path(), &fleet_config(&url, "lonely", ""));
    let mut host = HostProcess::spawn(&config, &dir.path().join("state"), &[]);
    let status = host.wait_exit(Duration::from_secs(60));
    assert!(!status.success(), "{}", host.log());
    assert!(
        host.log()
            .contains(&format!("[fleet] cannot connect to NATS at {url}")),
        "{}",
        host.log()
    );
}
