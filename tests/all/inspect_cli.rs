//! `warden inspect`: the component's WIT with its names (WASI imports
//! summarised unless `--all`), worlds, and clear errors for bad files.

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

fn inspect_text(name: &str, extra: &[&str]) -> String {
    let path = plugin(name);
    let mut args = vec!["inspect", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = warden(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn inspect_prints_the_wit_with_its_type_names() {
    // An operation plugin: its record keeps its name.
    let text = inspect_text("wordcount", &[]);
    assert!(text.contains("package warden:plugin@0.1.0"), "{text}");
    assert!(
        text.contains("export warden:plugin/operation@0.1.0;"),
        "{text}"
    );
    assert!(text.contains("record op-info {"), "{text}");
    assert!(text.contains("params-schema: string,"), "{text}");
    assert!(
        text.contains("describe: func() -> list<op-info>;"),
        "{text}"
    );
    assert!(!text.contains("record {"), "no anonymous record: {text}");
    assert!(text.contains("operation-plugin: yes"), "{text}");

    // An exercise solution: a world of its own with an enum.
    let text = inspect_text("space_age_ref", &[]);
    assert!(text.contains("enum planet {"), "{text}");
    assert!(
        text.contains("export age: func(planet: planet, seconds: u64) -> result<f64, string>;"),
        "{text}"
    );
}

#[test]
fn wasi_imports_are_one_summary_until_all_asks() {
    // kv reads files: it imports wasi:filesystem, whose `descriptor` is a
    // resource the structural view called `own<resource>`.
    let short = inspect_text("kv", &[]);
    let summary = short
        .lines()
        .find(|l| l.contains("WASI interfaces (--all to show them)"))
        .unwrap_or_else(|| panic!("a WASI summary: {short}"));
    let count: usize = summary
        .trim()
        .trim_start_matches("// imports ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 5, "{summary}");
    let fs_line = short
        .lines()
        .find(|l| l.trim_start().starts_with("//   wasi:filesystem@"))
        .unwrap_or_else(|| panic!("a wasi:filesystem line: {short}"));
    assert!(
        fs_line.contains("types") && fs_line.contains("preopens"),
        "{fs_line}"
    );
    assert!(!short.contains("import wasi:"), "{short}");
    assert!(!short.contains("resource descriptor"), "{short}");
    assert!(short.contains("actor-plugin: yes"), "{short}");

    let all = inspect_text("kv", &["--all"]);
    assert!(!all.contains("--all to show"), "{all}");
    assert!(all.contains("import wasi:filesystem/types@"), "{all}");
    assert!(all.contains("resource descriptor {"), "{all}");
    assert!(
        all.contains("-> result<descriptor, error-code>"),
        "an own handle by its name: {all}"
    );
    for anonymous in ["own<resource>", "borrow<resource>"] {
        assert!(!all.contains(anonymous), "{anonymous}: {all}");
    }
    // Every interface the summary counted is printed in full.
    assert_eq!(
        all.lines()
            .filter(|l| l.trim_start().starts_with("import wasi:"))
            .count(),
        count,
        "{all}"
    );
}

#[test]
fn inspect_json_carries_the_wit_and_the_wasi_imports() {
    let out = warden(&["inspect", "--json", plugin("kv").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let wit = report["wit"].as_str().unwrap();
    assert!(wit.contains("package root:component;"), "{wit}");
    assert!(wit.contains("resource descriptor {"), "{wit}");
    let wasi = report["wasi_imports"].as_array().unwrap();
    assert!(
        wasi.iter().any(|p| p["package"]
            .as_str()
            .unwrap()
            .starts_with("wasi:filesystem@")
            && p["interfaces"].to_string().contains("preopens")),
        "{wasi:?}"
    );
    // The structural view and the world fits are still there.
    assert!(report["imports"].as_array().is_some_and(|i| !i.is_empty()));
    assert!(report["worlds"].as_array().is_some_and(|w| w.len() == 3));
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
