//! The README's "Writing a submission" is real: its `Cargo.toml`,
//! `.cargo/config.toml` and `src/lib.rs`, taken from the README itself,
//! build a component that `warden grade` gives full marks on
//! `examples/exercises/two-fer`.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::grade_exercises::exercise_dir;
use crate::support::{build_guest, outside_repo, repo_root, stderr, stdout, warden};

/// The files of the README's section: each fenced block preceded by a
/// line that names its file in backticks ("`src/lib.rs`:" or
/// "`.cargo/config.toml` (optional…):").
fn readme_files() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start = readme
        .find("\n### Writing a submission\n")
        .expect("the README has a section \"Writing a submission\"");
    let section = &readme[start + 1..];
    // Up to the next heading of the same level or above (a `#` comment
    // inside a code block is no heading).
    let end = ["\n## ", "\n### "]
        .iter()
        .filter_map(|h| section[4..].find(h).map(|at| at + 4))
        .min()
        .unwrap_or(section.len());
    let section = &section[..end];
    let mut files = BTreeMap::new();
    let mut named: Option<String> = None;
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") && line.len() > 3 {
            let mut body = String::new();
            for inner in lines.by_ref() {
                if inner == "```" {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            let file = named
                .take()
                .expect("every block follows a line naming its file");
            files.insert(file, body);
        } else if line.starts_with('`') && !line.trim().is_empty() {
            named = line.split('`').nth(1).map(str::to_string);
        }
    }
    files
}

#[test]
fn the_readme_submission_builds_and_gets_full_marks() {
    let files = readme_files();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, [".cargo/config.toml", "Cargo.toml", "src/lib.rs"]);

    let dir = outside_repo();
    let krate = dir.path().join("two-fer");
    for (name, text) in &files {
        let path = krate.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let exercise = exercise_dir("two-fer");
    std::fs::copy(exercise.join("exercise.wit"), krate.join("exercise.wit")).expect("copy WIT");

    // Built as the README says.
    let wasm = build_guest(&krate, "two_fer");

    let run = warden(&[
        "grade",
        exercise.to_str().expect("utf-8"),
        wasm.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let report: Json = serde_json::from_str(stdout(&run).trim()).expect("JSON");
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(report["counts"]["passed"], 3, "{report}");
    assert_eq!(report["score"], report["max_score"], "{report}");
    // The README's figure for the initial memory of this very component.
    let initial = report["initial_memory_bytes"]
        .as_u64()
        .expect("initial memory");
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let stated = format!("takes {} KiB with the 64 KiB stack", initial / 1024);
    assert!(
        readme.contains(&stated),
        "the README should say {stated:?} (initial memory {initial} bytes)"
    );
}
