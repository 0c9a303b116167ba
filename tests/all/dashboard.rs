//! The dashboard in a real browser: a `warden run` host with a demo-like
//! tree, Debian's headless Chromium driven by `tests/browser/dashboard.mjs`
//! (playwright-core): the page loads, shows `root/counter`, Restart gives it
//! a new generation, Kill makes its supervisor restart it and the restart
//! count shown goes up, with a bar in the row's restart chart, while the
//! memory chart draws its samples; the send box, its child picked in the
//! tree, sends messages with Enter and shows the replies and a refusal;
//! Reload swaps in the new version written meanwhile and shows its result
//! and history, and a rollout's steps appear in the event log, all live
//! and without a console error.
//! With tokens of roles (`[[api.tokens]]`), the page says whose token it
//! uses and leaves out what the role may not use: a `read` token sees no
//! Restart, Kill or Reload button and no send box, an `operate` token sees
//! them all.
//! The health pane (`tests/browser/health.mjs`): a `rest_for_one` root with
//! two children shows its score and the `small_rest_for_one`
//! recommendation, a worker that starts failing arrives with a worse level
//! live (the monitor's `health_changed` over SSE), and a rollout shows in
//! the rollouts pane until it succeeded.
//! With `WARDEN_UPDATE_SCREENSHOT=1` the screenshot it takes becomes the
//! README's `docs/dashboard.png` (not on every run: it would dirty the tree).
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/browser/node_modules`:
//! `scripts/setup.sh` installs them. Without them each test says what is
//! missing and skips, unless `WARDEN_REQUIRE_TOOLS=1` (as in `.ci/run`),
//! where it fails instead.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{HostProcess, demo_tree, flapping_tree, plugin, repo_root, tool_present};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The demo's tree on a free port, its monitor polling as the demo's
/// does, with `token` in its config when given, and `root/echo`
/// hibernating after 50 ms.
fn start_host(token: Option<&str>) -> HostProcess {
    let token = token.map_or(String::new(), |t| format!("token = \"{t}\""));
    let body = demo_tree(&format!(
        "api_addr = \"127.0.0.1:0\"\n{token}\n[host.monitor]\ninterval_ms = 250\n"
    ))
    .replacen(
        "path = \"{echo}\"\n",
        "path = \"{echo}\"\nhibernate_after_ms = 50\n",
        1,
    );
    HostProcess::start_tree(&body, &[])
}

/// SIGINT, as Ctrl-C would, and a clean exit.
fn stop(mut host: HostProcess) {
    let status = host.interrupt();
    assert!(status.success(), "{status}:\n{}", host.log());
}

#[test]
fn restart_and_kill_from_the_dashboard_update_it_live() {
    let Some(node) = browser("restart_and_kill_from_the_dashboard_update_it_live") else {
        return;
    };
    let host = start_host(None);
    let counter_file = host.dir().join("counter.wasm");
    // A new version on disk (not watched): the dashboard's Reload swaps it in.
    std::fs::copy(plugin("counter_v2"), &counter_file).unwrap();

    let shot_dir = tempfile::tempdir().unwrap();
    let shot = shot_dir.path().join("dashboard.png");
    // What the script saw, beyond its own checks.
    let report = browse(&node, &host, &shot, &["--asleep=root/echo"]);
    assert_eq!(report["asleep_memory"], "hibernated", "{report}");
    let before = report["restarts_before"].as_u64().unwrap();
    let after = report["restarts_after"].as_u64().unwrap();
    assert!(after > before, "restarts shown went {before} -> {after}");
    assert!(
        report["generation_after_restart"].as_u64() > report["generation_before"].as_u64(),
        "{report}"
    );
    assert!(
        report["kill_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("killed generation")),
        "{report}"
    );
    assert!(
        report["reload_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("reloaded to version 2")),
        "{report}"
    );
    assert_eq!(report["tree_children"], 6, "root and its five descendants");
    assert!(
        report["log_line"]
            .as_str()
            .is_some_and(|l| l.ends_with("from the dashboard") && l.contains("info")),
        "the log pane shows the guest's line: {report}"
    );
    assert!(
        report["trace_record"]
            .as_str()
            .is_some_and(|l| l.contains("#1 call") && l.contains("\"get\" →")),
        "the trace pane shows the message sent: {report}"
    );

    // A rollout's steps were rendered in the event log as they came.
    let rollout = report["rollout_id"].as_str().unwrap_or_default();
    assert!(rollout.starts_with('r'), "{report}");
    assert_eq!(
        report["rollout_done"],
        format!("rollout {rollout} done"),
        "{report}"
    );
    assert_eq!(
        report["rollout_batch"],
        format!("rollout {rollout}: batch 1 started (root/counter)"),
        "{report}"
    );

    // The charts: the kill's restart as a bar, memory sampled twice or more.
    assert!(report["restart_bars"].as_u64() >= Some(1), "{report}");
    let restart_label = report["restart_chart_label"].as_str().unwrap_or_default();
    assert!(
        restart_label.starts_with("Restarts of root/counter: 1 in the last ")
            && restart_label.ends_with(&format!("({after} in all)")),
        "the chart's label says the current value: {report}"
    );
    assert!(report["memory_points"].as_u64() >= Some(2), "{report}");
    let memory_label = report["memory_chart_label"].as_str().unwrap_or_default();
    assert!(
        memory_label.starts_with("Memory of root/counter: ")
            && memory_label.contains(" now, ")
            && memory_label.contains("iB"),
        "{report}"
    );
    assert_eq!(
        report["memory_chart_title"], report["memory_chart_label"],
        "the tooltip says what the label says"
    );

    // The send box: `inc` answered one more than `get`, an unknown command
    // refused with the plugin's own message, each in the page's log.
    let got: u64 = report["send_get"].as_str().unwrap().parse().unwrap();
    let inc: u64 = report["send_inc"].as_str().unwrap().parse().unwrap();
    assert_eq!(inc, got + 1, "{report}");
    let refused = report["send_error"].as_str().unwrap_or_default();
    assert!(
        refused.contains("unknown command: no-such-command"),
        "{report}"
    );
    assert_eq!(report["send_log"], 3, "{report}");
    // The messages reached the child: its count is the one the page saw
    // (kept across the reload, which migrates the state).
    let count = call(
        &host,
        "child.send",
        serde_json::json!({"path": "root/counter", "message": "get"}),
    );
    assert_eq!(count["reply"], inc.to_string(), "{count}");

    // The host saw the same: the supervisor restarted the killed child once.
    let tree = call(&host, "tree", serde_json::json!({}));
    let counter = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "root/counter")
        .expect("root/counter in the tree")
        .clone();
    assert_eq!(counter["restarts"].as_u64(), Some(after), "{counter}");
    let v2_hash = counter["info"]["hash"].as_str().unwrap();
    assert!(
        report["version_shown"]
            .as_str()
            .and_then(|v| v.split_once(" · "))
            .is_some_and(|(v, hash)| v == "v2" && hash.len() >= 8 && v2_hash.starts_with(hash)),
        "the row shows the new version: {report} vs {v2_hash}"
    );

    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(png.len() > 20_000, "a real page, not a blank one");
    if std::env::var_os("WARDEN_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = repo_root().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("dashboard.png"), &png).unwrap();
    }
    stop(host);
}

#[test]
fn the_dashboard_asks_for_the_token_the_host_wants_and_shows_errors() {
    let Some(node) = browser("the_dashboard_asks_for_the_token_the_host_wants_and_shows_errors")
    else {
        return;
    };
    const TOKEN: &str = "dashboard-test-token";
    let host = start_host(Some(TOKEN));
    // Not a component: the dashboard's Reload must show why it failed.
    std::fs::write(host.dir().join("counter.wasm"), b"not wasm").unwrap();
    let shot_dir = tempfile::tempdir().unwrap();
    let report = browse(
        &node,
        &host,
        &shot_dir.path().join("token.png"),
        &[&format!("--token={TOKEN}"), "--reload-fails"],
    );
    assert_eq!(report["token_accepted"], true, "{report}");
    let before = report["restarts_before"].as_u64().unwrap();
    assert!(
        report["restarts_after"].as_u64().unwrap() > before,
        "{report}"
    );
    let reload = report["reload_result"].as_str().unwrap_or_default();
    assert!(
        reload.contains("compile"),
        "the error names the stage: {report}"
    );
    assert!(
        report["version_shown"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1 · ")),
        "the old version keeps serving: {report}"
    );
    // With the right token the box works; with a wrong one it shows the
    // API's refusal, not a reply.
    assert!(
        report["send_get"]
            .as_str()
            .is_some_and(|r| r.parse::<u64>().is_ok()),
        "{report}"
    );
    assert_eq!(
        report["send_unauthorized"], "wrong bearer token",
        "{report}"
    );
    stop(host);
}

#[test]
fn the_dashboard_leaves_out_what_the_tokens_role_may_not_use() {
    let Some(node) = browser("the_dashboard_leaves_out_what_the_tokens_role_may_not_use") else {
        return;
    };
    const READ: &str = "dashboard-read-token";
    const OPERATE: &str = "dashboard-operate-token";
    let body = demo_tree("api_addr = \"127.0.0.1:0\"")
        + &format!(
            "\n[[api.tokens]]\nname = \"viewer\"\nrole = \"read\"\ntoken = \"{READ}\"\n\
             \n[[api.tokens]]\nname = \"ops\"\nrole = \"operate\"\ntoken = \"{OPERATE}\"\n"
        );
    let host = HostProcess::start_tree(&body, &[]);
    let shot_dir = tempfile::tempdir().unwrap();
    let as_role = |token: &str, role: &str| {
        browse(
            &node,
            &host,
            &shot_dir.path().join(format!("{role}.png")),
            &[&format!("--token={token}"), &format!("--role={role}")],
        )
    };
    let read = as_role(READ, "read");
    assert_eq!(read["whoami"], "viewer · read", "{read}");
    assert_eq!(read["actions"], serde_json::json!(["logs"]), "{read}");
    assert_eq!(read["send_visible"], false, "{read}");
    let operate = as_role(OPERATE, "operate");
    assert_eq!(operate["whoami"], "ops · operate", "{operate}");
    assert_eq!(
        operate["actions"],
        serde_json::json!(["restart", "kill", "reload", "logs"]),
        "{operate}"
    );
    assert_eq!(operate["send_visible"], true, "{operate}");
    stop(host);
}

#[test]
fn the_health_pane_shows_recommendations_and_level_changes_live() {
    let Some(node) = browser("the_health_pane_shows_recommendations_and_level_changes_live") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("warden.toml");
    let fail = temp.path().join("fail");
    // `rest_for_one` over two children (fewer than three): a recommendation.
    std::fs::write(&config, flapping_tree("rest_for_one", &fail)).unwrap();
    let host = HostProcess::start(&config, &temp.path().join("state"), &[]);
    let shot = temp.path().join("health.png");
    let browser_dir = repo_root().join("tests/browser");
    let mut script = Command::new(&node);
    script
        .arg(browser_dir.join("health.mjs"))
        .arg(host.url())
        .arg(&shot)
        .arg(&fail)
        .current_dir(&browser_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, stdout, stderr) = run_with_timeout(script, Duration::from_secs(150));
    assert!(
        status.success(),
        "the browser test failed ({status})\n--- node stdout\n{stdout}\n--- node stderr\n{stderr}\n--- warden log\n{}",
        host.log()
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("the script prints its report"))
            .expect("the report is JSON");
    eprintln!("health report: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["root_level"], "healthy", "{report}");
    assert!(report["root_score"].as_u64() <= Some(100), "{report}");
    let recommendation = report["recommendation"].as_str().unwrap_or_default();
    assert!(
        recommendation.starts_with("rest_for_one with 2 children (< 3)"),
        "{report}"
    );
    // The worker had no row until the monitor said it was not healthy.
    assert_eq!(report["flaky_row_before"], false, "{report}");
    assert_eq!(report["flaky_subject"], "worker", "{report}");
    assert!(
        ["warning", "critical", "emergency"]
            .contains(&report["flaky_level"].as_str().unwrap_or("")),
        "{report}"
    );
    assert!(report["flaky_score"].as_u64() < Some(70), "{report}");
    assert!(
        !report["flaky_reasons"]
            .as_str()
            .unwrap_or("–")
            .starts_with('–'),
        "{report}"
    );
    assert!(
        report["rollout_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('r')),
        "{report}"
    );
    assert_eq!(report["rollout_batches"], "1/1", "{report}");
    assert_eq!(report["rollout_members"], "root/steady changed", "{report}");
    assert_eq!(report["page_loads"], 1, "live, without a reload: {report}");
    stop(host);
}

/// Runs `tests/browser/dashboard.mjs` against `host` (with the script's
/// `flags`), asserts it passed, and returns its JSON report.
fn browse(node: &Path, host: &HostProcess, shot: &Path, flags: &[&str]) -> serde_json::Value {
    let browser_dir = repo_root().join("tests/browser");
    let mut browser = Command::new(node);
    browser
        .arg(browser_dir.join("dashboard.mjs"))
        .args(flags)
        .arg(host.url())
        .arg(shot)
        .arg("root/counter")
        .current_dir(&browser_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, stdout, stderr) = run_with_timeout(browser, Duration::from_secs(150));
    let failure_copy = repo_root().join(format!(
        "target/dashboard-failure-{}",
        shot.file_name().unwrap().to_string_lossy()
    ));
    if !status.success() && shot.exists() {
        let _ = std::fs::copy(shot, &failure_copy);
    }
    assert!(
        status.success(),
        "the browser test failed ({status}); screenshot (if any) at {}\n\
         --- node stdout\n{stdout}\n--- node stderr\n{stderr}\n--- warden log\n{}",
        failure_copy.display(),
        host.log()
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("the script prints its report"))
            .expect("the report is JSON");
    assert_eq!(report["ok"], true, "{report}");
    // Shown with `--nocapture`: what the page showed, for a reader.
    eprintln!("dashboard report: {report}");
    report
}

/// `node`, when Chromium, node and playwright-core are all there; else
/// `None` after [`tool_present`] has said what `test` misses (or failed it
/// under `WARDEN_REQUIRE_TOOLS=1`).
fn browser(test: &str) -> Option<PathBuf> {
    let browser_dir = repo_root().join("tests/browser");
    let node = PathBuf::from("node");
    let missing = if !Path::new(CHROMIUM).exists() {
        Err(format!("no {CHROMIUM}"))
    } else if !Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Err("no node on PATH".to_string())
    } else if !browser_dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        Err(format!(
            "no playwright-core in {}/node_modules",
            browser_dir.display()
        ))
    } else {
        Ok(())
    };
    tool_present(test, "Chromium, node and playwright-core", missing).then_some(node)
}

/// Runs `cmd` to completion, killing it after `limit`; returns its status
/// and output.
fn run_with_timeout(
    mut cmd: Command,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut child = cmd.spawn().expect("start node");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let err = stderr.join().unwrap();
            panic!("the browser test took more than {limit:?} ({status}); stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

fn drain(pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(pipe), &mut text);
        text
    })
}

/// Calls an operation with the API client.
fn call(host: &HostProcess, op: &str, params: serde_json::Value) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { host.client(None).call(op, params).await.unwrap() })
}
