//! `warden call`: JSON in, JSON out, limits and capabilities from flags.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{plugin, stderr, stdout, warden};

fn path(name: &str) -> String {
    plugin(name).to_str().unwrap().to_string()
}

#[test]
fn call_converts_arguments_by_the_function_types() {
    let out = warden(&["call", &path("misbehave"), "add", "40", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "42");

    // A bare word is a string where the parameter is text (list<u8> here).
    let out = warden(&["call", &path("echo"), "handle", "hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value, serde_json::json!({"ok": "hello"}));
}

#[test]
fn a_byte_list_result_is_text_when_it_is_utf8_unless_raw() {
    let echo = path("echo");
    let value = |args: &[&str]| -> serde_json::Value {
        let out = warden(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(
        value(&["call", &echo, "handle", "héllo"]),
        json!({"ok": "héllo"})
    );
    assert_eq!(
        value(&["call", &echo, "handle", "hi", "--raw"]),
        json!({"ok": [104, 105]})
    );
    // Bytes that are not UTF-8 stay numbers.
    assert_eq!(
        value(&["call", &echo, "handle", "[104, 255]"]),
        json!({"ok": [104, 255]})
    );
    // `--json` is for programs: bytes stay bytes.
    let all = value(&["call", &echo, "handle", "hi", "--json"]);
    assert_eq!(all["outcome"]["ok"], json!({"ok": [104, 105]}), "{all}");
}

#[test]
fn an_err_result_is_printed_and_exits_1() {
    let out = warden(&["call", &path("misbehave"), "read-passwd"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(value["err"].is_string(), "{value}");
    assert!(
        stderr(&out).contains("read-passwd returned err: \""),
        "{}",
        stderr(&out)
    );
    // `ok` is success.
    let out = warden(&["call", &path("echo"), "handle", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn bad_arguments_are_bad_input() {
    for args in [
        vec!["call", "PLUGIN", "add", "1"],
        vec!["call", "PLUGIN", "add", "1", "\"two\""],
        vec!["call", "PLUGIN", "add", "1", "99999999999"],
        vec!["call", "PLUGIN", "no-such-function"],
    ] {
        let p = path("misbehave");
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "PLUGIN" { p.as_str() } else { a })
            .collect();
        let out = warden(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    }
    let out = warden(&["call", &path("misbehave"), "add", "1", "99999999999"]);
    assert!(stderr(&out).contains("fits s32"), "{}", stderr(&out));
}

#[test]
fn timeout_flag_stops_an_infinite_loop() {
    let started = Instant::now();
    let out = warden(&[
        "call",
        &path("misbehave"),
        "loop-forever",
        "--timeout-ms",
        "100",
    ]);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out after 100 ms"),
        "{}",
        stderr(&out)
    );
    // Includes process start and compiling the component (no warm cache).
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn memory_and_fuel_flags_stop_the_guest() {
    let out = warden(&[
        "call",
        &path("misbehave"),
        "allocate-forever",
        "--memory-mb",
        "16",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("memory limit of 16777216 bytes"),
        "{}",
        stderr(&out)
    );

    let out = warden(&[
        "call",
        &path("misbehave"),
        "loop-forever",
        "--fuel",
        "1000000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ran out of fuel"), "{}", stderr(&out));

    let out = warden(&[
        "call",
        &path("misbehave"),
        "add",
        "1",
        "2",
        "--fuel",
        "1000000",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"]["ok"], 3);
    assert!(report["report"]["fuel_used"].as_u64().unwrap() > 0);
}

#[test]
fn guest_output_is_shown_apart_from_the_result_and_truncated() {
    let out = warden(&[
        "call",
        &path("misbehave"),
        "flood-stdout",
        "2",
        "--output-limit",
        "100",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "null", "stdout holds only the result");
    let err = stderr(&out);
    assert!(err.contains("--- guest stdout ("), "{err}");
    assert!(err.contains("truncated: 100 of"), "{err}");
}

#[test]
fn dir_flag_grants_one_directory_read_only_by_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting"), "hi there").unwrap();
    let grant = format!("{}:/data", dir.path().display());
    let out = warden(&[
        "call",
        &path("kv"),
        "handle",
        "get greeting",
        "--dir",
        &grant,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["ok"], "hi there", "{value}");

    let out = warden(&["call", &path("kv"), "handle", "put k v", "--dir", &grant]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(value.get("err").is_some(), "read-only by default: {value}");
    assert!(!dir.path().join("k").exists());

    let out = warden(&["call", &path("misbehave"), "read-passwd", "--dir", &grant]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(value.get("err").is_some(), "{value}");
}
