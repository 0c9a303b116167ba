//! `warden inspect`: types, worlds, and clear errors for bad files.

use crate::support::{plugin, stderr, stdout, warden};

#[test]
fn inspect_lists_exports_with_types_and_worlds() {
    let out = warden(&["inspect", plugin("counter").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("warden:plugin/actor@0.1.0"), "{text}");
    assert!(
        text.contains("handle: func(message: list<u8>) -> result<list<u8>, string>"),
        "{text}"
    );
    assert!(text.contains("actor-plugin: yes"), "{text}");
    assert!(text.contains("operation-plugin: no"), "{text}");
}

#[test]
fn inspect_json_says_what_a_world_misses() {
    let out = warden(&["inspect", "--json", plugin("wrong_world").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actor = report["worlds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["world"] == "actor-plugin")
        .unwrap();
    assert_eq!(actor["fits"], false);
    let missing = actor["missing"].to_string();
    assert!(
        missing.contains("snapshot") && missing.contains("restore"),
        "{missing}"
    );
    assert_eq!(
        actor["mistyped"][0]["found"],
        "func(message: string) -> string"
    );
    assert_eq!(
        actor["mistyped"][0]["expected"],
        "func(message: list<u8>) -> result<list<u8>, string>"
    );
}

#[test]
fn bad_files_get_one_line_errors_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "hello, I am text").unwrap();
    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(plugin("counter")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(
        &core,
        wat::parse_str("(module (func (export \"f\")))").unwrap(),
    )
    .unwrap();
    let missing = dir.path().join("missing.wasm");

    for (path, expect) in [
        (&not_wasm, "not a WebAssembly file"),
        (&truncated, "invalid component"),
        (&core, "core WebAssembly module, not a component"),
        (&missing, "No such file"),
    ] {
        for cmd in [&["inspect"][..], &["call"][..]] {
            let mut args: Vec<&str> = cmd.to_vec();
            args.push(path.to_str().unwrap());
            if cmd[0] == "call" {
                args.push("f");
            }
            let out = warden(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(err.contains(expect), "{args:?}: {err}");
            assert!(
                err.contains(path.file_name().unwrap().to_str().unwrap()),
                "names the file: {err}"
            );
        }
    }
}
