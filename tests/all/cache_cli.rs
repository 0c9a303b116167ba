//! `warden cache du|clean`: what the compile cache holds, and emptying it,
//! for the one-shot commands' cache and a host's own, against the real
//! binary and a cache a real `warden call` filled.

use serde_json::Value;

use crate::support::{plugin, stderr, stdout, warden, warden_cmd};

fn du_json(args: &[&str]) -> Value {
    let mut all = vec!["cache", "du", "--json"];
    all.extend_from_slice(args);
    let out = warden(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn du_counts_what_a_call_compiled_and_clean_empties_it() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let empty = du_json(&["--cache-dir", dir]);
    assert_eq!(
        (empty["artifacts"].as_u64(), empty["bytes"].as_u64()),
        (Some(0), Some(0))
    );

    let misbehave = plugin("misbehave");
    let out = warden(&[
        "call",
        misbehave.to_str().unwrap(),
        "add",
        "40",
        "2",
        "--cache-dir",
        dir,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full = du_json(&["--cache-dir", dir]);
    assert_eq!(full["artifacts"], 1, "{full}");
    assert!(full["bytes"].as_u64().unwrap() > 10_000, "{full}");
    assert_eq!(full["engines"].as_array().unwrap().len(), 1, "{full}");

    // The environment variable names the same cache; text for people.
    let out = warden_cmd(&["cache", "du"])
        .env("WARDEN_CACHE_DIR", dir)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{dir}: holds 1 compiled component, ")),
        "{text}"
    );
    assert!(text.contains("KiB") || text.contains("MiB"), "{text}");

    let out = warden(&["cache", "clean", "--cache-dir", dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed 1 compiled component"),
        "{}",
        stdout(&out)
    );
    assert_eq!(du_json(&["--cache-dir", dir])["artifacts"], 0);
    // The next call compiles again and fills it again.
    let out = warden(&[
        "call",
        misbehave.to_str().unwrap(),
        "add",
        "1",
        "2",
        "--cache-dir",
        dir,
    ]);
    assert_eq!(stdout(&out).trim(), "3", "{}", stderr(&out));
    assert_eq!(du_json(&["--cache-dir", dir])["artifacts"], 1);
}

#[test]
fn config_picks_the_hosts_own_cache_and_bad_input_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("warden.toml");
    std::fs::write(
        &config,
        "[host]\nstate_dir = \"state\"\n\n[supervisor.root]\nstrategy = \"one_for_one\"\n",
    )
    .unwrap();
    let engine = temp.path().join("state/cache/0123456789abcdef");
    std::fs::create_dir_all(&engine).unwrap();
    std::fs::write(engine.join("feed.cwasm"), vec![0u8; 2048]).unwrap();
    let config_arg = config.to_str().unwrap();
    let usage = du_json(&["--config", config_arg]);
    assert_eq!(usage["artifacts"], 1, "{usage}");
    assert_eq!(usage["bytes"], 2048, "{usage}");
    assert_eq!(usage["engines"][0]["engine"], "0123456789abcdef");
    assert!(
        usage["dir"].as_str().unwrap().ends_with("state/cache"),
        "{usage}"
    );

    // Both at once is a usage error; a config that does not load names it.
    let out = warden(&["cache", "du", "--config", config_arg, "--cache-dir", "/tmp"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let missing = temp.path().join("nope.toml");
    let out = warden(&["cache", "clean", "--config", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));
    // Nothing was removed by the failed commands.
    assert!(engine.join("feed.cwasm").exists());
}

/// Without a cache, a compile child's artifact goes to a private temp dir
/// that is gone once the compile ends, not when the process does: a
/// process that is killed, or never drops its runtime, leaves nothing in
/// `TMPDIR`. A `warden repl` keeps its runtime alive until its input ends.
#[test]
fn a_compile_without_a_cache_leaves_no_temp_dir_behind() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    let counter = plugin("counter");
    let mut repl = warden_cmd(&[
        "repl",
        counter.to_str().unwrap(),
        "--no-cache",
        "--history",
        history.to_str().unwrap(),
    ])
    .env("TMPDIR", tmp.path())
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut input = repl.stdin.take().unwrap();
    input.write_all(b"handle(\"inc\")\n").unwrap();
    let mut output = BufReader::new(repl.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(r#"{"ok":"1"}"#) {
        let mut line = String::new();
        assert_ne!(
            output.read_line(&mut line).unwrap(),
            0,
            "repl ended: {seen}"
        );
        seen.push_str(&line);
    }

    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "history")
        .collect();
    drop(input);
    let status = repl.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        left.is_empty(),
        "left in TMPDIR while the runtime lives: {left:?}"
    );
}
