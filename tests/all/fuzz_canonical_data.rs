//! The `canonical_data` fuzz target's corpus (`host/fuzz/corpus/`), run
//! the way the target runs it, so CI checks the corpus without fuzzing:
//! every file as JSON and as TOML against every example exercise's
//! contract, through [`parse_cases`], the loader [`Exercise::load`] uses.
//! None may panic; each seed taken from an example exercise loads against
//! that exercise's own contract exactly as the exercise does.

use std::path::{Path, PathBuf};

use warden::grade::{CaseFormat, Contract, Exercise, Settings, parse_cases};

use crate::support::repo_root;

fn corpus_files() -> Vec<PathBuf> {
    let dir = repo_root().join("host/fuzz/corpus/canonical_data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Every example exercise's name and contract, as the fuzz target loads
/// them.
fn contracts() -> Vec<(String, Contract)> {
    let examples = repo_root().join("examples/exercises");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("exercise.wit").is_file())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|dir| {
            let path = dir.join("exercise.wit");
            let text = std::fs::read_to_string(&path).unwrap();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            (name, Contract::parse(&path, &text).unwrap())
        })
        .collect()
}

#[test]
fn every_canonical_data_corpus_file_loads_or_is_refused_without_a_panic() {
    let contracts = contracts();
    assert_eq!(contracts.len(), 19, "the example exercises");
    let files = corpus_files();
    assert!(files.len() >= contracts.len(), "a seed per exercise");
    let settings = Settings::default();
    let mut seeds_checked = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        // The fuzz target skips what is not UTF-8, as a folder's reader
        // refuses it.
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        for (name, contract) in &contracts {
            for format in [CaseFormat::Json, CaseFormat::Toml] {
                let loaded = parse_cases(
                    Path::new("canonical-data"),
                    format,
                    text,
                    contract,
                    &settings,
                );
                let own_seed = file.file_stem().is_some_and(|s| s == name.as_str())
                    && file.extension().is_some_and(|e| {
                        (e == "json" && format == CaseFormat::Json)
                            || (e == "toml" && format == CaseFormat::Toml)
                    });
                if !own_seed {
                    continue;
                }
                let cases = loaded.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert!(!cases.is_empty(), "{}", file.display());
                if format == CaseFormat::Json {
                    let exercise =
                        Exercise::load(&repo_root().join("examples/exercises").join(name)).unwrap();
                    let names = |cases: &[warden::grade::TestCase]| -> Vec<String> {
                        cases.iter().map(|c| c.name.clone()).collect()
                    };
                    assert_eq!(names(&cases), names(&exercise.cases), "{}", file.display());
                }
                seeds_checked += 1;
            }
        }
    }
    assert!(
        seeds_checked >= contracts.len() + 2,
        "{seeds_checked} seeds checked"
    );
}
