//! The SDK outside the repository, and `warden new`: the SDK's own copy of
//! the WIT, packaging it, and crates and exercises scaffolded into a
//! temporary directory, built for real and run with `warden call` and
//! `warden grade`.

use crate::support::{build_guest, cargo, outside_repo, plugin, repo_root, stderr, stdout, warden};

fn sdk_arg() -> String {
    repo_root()
        .join("sdk")
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// `handle`'s reply as text, whether `warden call` prints a `list<u8>`
/// as bytes (`{"ok":[52,50]}`) or as text.
fn reply_text(stdout: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    match &value["ok"] {
        serde_json::Value::Array(bytes) => bytes
            .iter()
            .map(|b| char::from(u8::try_from(b.as_u64().expect("a byte")).expect("a byte")))
            .collect(),
        serde_json::Value::String(text) => text.clone(),
        other => panic!("no ok reply: {other} in {stdout}"),
    }
}

#[test]
fn the_sdks_wit_is_the_repositorys() {
    // wit/ is the source (the host's bindings read it too); sdk/wit/ is the
    // copy that ships in the SDK's package.
    let root = repo_root();
    let source = std::fs::read_to_string(root.join("wit/warden.wit")).expect("wit/warden.wit");
    let copy =
        std::fs::read_to_string(root.join("sdk/wit/warden.wit")).expect("sdk/wit/warden.wit");
    assert!(
        source == copy,
        "sdk/wit/warden.wit differs from wit/warden.wit: run `cp wit/warden.wit sdk/wit/`"
    );
    let extra: Vec<_> = std::fs::read_dir(root.join("sdk/wit"))
        .expect("sdk/wit")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n != "warden.wit")
        .collect();
    assert!(
        extra.is_empty(),
        "sdk/wit holds more than warden.wit: {extra:?}"
    );
}

#[test]
fn the_sdk_packages_and_builds_on_its_own() {
    let root = repo_root();
    let list = cargo()
        .args(["package", "-p", "warden-sdk", "--allow-dirty", "--list"])
        .current_dir(&root)
        .output()
        .expect("run cargo package --list");
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(
        stdout(&list).lines().any(|l| l == "wit/warden.wit"),
        "the package lacks its WIT:\n{}",
        stdout(&list)
    );
    // With verification: the packaged crate, unpacked alone, builds.
    let out = cargo()
        .args(["package", "-p", "warden-sdk", "--allow-dirty"])
        .current_dir(&root)
        .output()
        .expect("run cargo package");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_new_actor_builds_outside_the_repo_and_answers_warden_call() {
    let tmp = outside_repo();
    let dir = tmp.path().join("scaffolded-actor");
    let out = warden(&[
        "new",
        "plugin",
        "scaffolded-actor",
        "--sdk",
        &sdk_arg(),
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    for line in [
        "opt-level = \"s\"",
        "lto = true",
        "strip = true",
        "[workspace]",
    ] {
        assert!(manifest.contains(line), "{line} missing:\n{manifest}");
    }
    let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).expect("config");
    assert!(config.contains("-zstack-size=65536"), "{config}");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    assert!(readme.contains("scaffolded_actor.wasm"), "{readme}");

    let wasm = build_guest(&dir, "scaffolded_actor");
    let wasm = wasm.to_str().expect("utf-8");
    let out = warden(&["call", wasm, "handle", "inc", "--init", "41"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(reply_text(&stdout(&out)), "42");

    let out = warden(&["inspect", wasm, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("actor-plugin"), "{}", stdout(&out));
}

#[test]
fn a_new_operation_plugin_builds_and_answers_warden_call() {
    let tmp = outside_repo();
    let dir = tmp.path().join("scaffolded-op");
    let out = warden(&[
        "new",
        "plugin",
        "scaffolded-op",
        "--operation",
        "--sdk",
        &sdk_arg(),
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wasm = build_guest(&dir, "scaffolded_op");
    let out = warden(&[
        "call",
        wasm.to_str().expect("utf-8"),
        "execute",
        "greet",
        r#""{\"name\":\"Ada\"}""#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    let result: serde_json::Value =
        serde_json::from_str(value["ok"].as_str().expect("ok string")).expect("JSON result");
    assert_eq!(result, serde_json::json!({"greeting": "hello, Ada"}));
}

#[test]
fn a_git_sdk_is_written_as_a_git_dependency() {
    let tmp = outside_repo();
    let dir = tmp.path().join("p");
    let url = "https://example.com/warden.git";
    let out = warden(&[
        "new",
        "plugin",
        "p",
        "--sdk-git",
        url,
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let table: toml::Table = manifest.parse().expect("valid TOML");
    assert_eq!(
        table["dependencies"]["warden-sdk"]["git"].as_str(),
        Some(url)
    );
}

#[test]
fn new_refuses_a_non_empty_directory_and_bad_names() {
    let tmp = outside_repo();
    let dir = tmp.path().join("taken");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("keep.txt"), "mine").expect("write");
    let d = dir.to_str().expect("utf-8");
    let sdk = sdk_arg();
    for (args, needle) in [
        (
            vec!["new", "plugin", "ok", "--sdk", &sdk, "--dir", d],
            "not empty",
        ),
        (vec!["new", "exercise", "ok", "--dir", d], "not empty"),
        (
            vec!["new", "plugin", "Bad Name", "--sdk", &sdk],
            "bad plugin name",
        ),
        (
            vec!["new", "plugin", "../up", "--sdk", &sdk],
            "bad plugin name",
        ),
        (vec!["new", "exercise", "snake_case"], "bad exercise name"),
        (vec!["new", "plugin", "ok", "--sdk", d], "Cargo.toml"),
    ] {
        let out = warden(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).expect("read"),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&dir).expect("read_dir").count(), 1);

    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = warden(&[
        "new",
        "exercise",
        "ok",
        "--dir",
        empty.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_new_exercise_is_graded() {
    let tmp = outside_repo();
    let exercise = tmp.path().join("count-vowels");
    let out = warden(&[
        "new",
        "exercise",
        "count-vowels",
        "--dir",
        exercise.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in [
        "exercise.wit",
        "canonical-data.json",
        "grading.toml",
        "README.md",
    ] {
        assert!(exercise.join(file).is_file(), "{file} missing");
    }

    // A submission for another exercise: the exercise loads, and the
    // report names what the submission lacks.
    let out = warden(&[
        "grade",
        exercise.to_str().expect("utf-8"),
        plugin("hello_world_ref").to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(report["status"], "error", "{report}");
    assert!(
        report["message"]
            .as_str()
            .is_some_and(|m| m.contains("count-vowels")),
        "{report}"
    );

    // The solution the exercise's README shows, built as it says: every
    // case passes.
    let solution = tmp.path().join("solution");
    std::fs::create_dir_all(solution.join("src")).expect("mkdir");
    std::fs::create_dir_all(solution.join(".cargo")).expect("mkdir");
    std::fs::write(
        solution.join("Cargo.toml"),
        r#"[package]
name = "scaffolded_exercise_solution"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = { version = "0.60.0", default-features = false, features = ["macros", "realloc", "std"] }

[workspace]

[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
"#,
    )
    .expect("write Cargo.toml");
    // The same stack flag as plugins/, so its compiled wit-bindgen is reused.
    std::fs::copy(
        repo_root().join(".cargo/config.toml"),
        solution.join(".cargo/config.toml"),
    )
    .expect("copy config");
    let readme = std::fs::read_to_string(exercise.join("README.md")).expect("README");
    let code: String = readme
        .lines()
        .skip_while(|l| !l.contains("wit_bindgen::generate!"))
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let code = code.replace(
        "path/to/count-vowels/exercise.wit",
        exercise.join("exercise.wit").to_str().expect("utf-8"),
    );
    assert!(code.contains("export!(Solution);"), "{code}");
    std::fs::write(solution.join("src/lib.rs"), code).expect("write lib.rs");
    let wasm = build_guest(&solution, "scaffolded_exercise_solution");

    let out = warden(&[
        "grade",
        exercise.to_str().expect("utf-8"),
        wasm.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(report["counts"]["passed"], 4, "{report}");
}
