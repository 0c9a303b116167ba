//! Every file of `host/fuzz/corpus/TARGET/` through its target's entry
//! point, as an ordinary test: inputs the fuzzer found interesting (and
//! the seeds) keep being checked without a fuzzer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use super::{CanonicalData, JsonValues, VALUES_WAT, config, schema};
use crate::grade::{CaseFormat, Exercise, TestCase};

/// The repository's root (this crate is `host/warden/`).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `entry` on each file of the target's corpus; fails naming every
/// file that panicked.
fn replay(target: &str, entry: impl Fn(&[u8])) {
    let dir = repo_root().join("host/fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("read corpus file");
            catch_unwind(AssertUnwindSafe(|| entry(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}

#[test]
fn the_config_corpus_replays() {
    replay("config", config);
}

#[test]
fn the_schema_corpus_replays() {
    replay("schema", schema);
}

#[test]
fn the_json_values_corpus_replays() {
    let component = wat::parse_str(VALUES_WAT).expect("values.wat parses");
    let target = JsonValues::new(&component).expect("values.wat prepares");
    replay("json_values", |data| target.run(data));
}

fn example_contracts() -> CanonicalData {
    CanonicalData::load(&repo_root().join("examples/exercises")).expect("example contracts load")
}

#[test]
fn the_canonical_data_corpus_replays() {
    let target = example_contracts();
    replay("canonical_data", |data| target.run(data));
}

/// Each seed taken from an example exercise (named after it) loads against
/// that exercise's own contract, and as JSON gives exactly the exercise's
/// cases: the target reaches past the parser on real data.
#[test]
fn every_seed_loads_against_its_own_exercise() {
    let target = example_contracts();
    assert_eq!(target.contracts().len(), 19, "the example exercises");
    let dir = repo_root().join("host/fuzz/corpus/canonical_data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    let mut seeds_checked = 0;
    for file in &files {
        let data = std::fs::read(file).expect("read corpus file");
        for attempt in target.load_all(&data) {
            let (name, format) = (attempt.exercise, attempt.format);
            let own_seed = file.file_stem().is_some_and(|stem| stem == name)
                && file.extension().is_some_and(|ext| {
                    (ext == "json" && format == CaseFormat::Json)
                        || (ext == "toml" && format == CaseFormat::Toml)
                });
            if !own_seed {
                continue;
            }
            let cases = attempt
                .loaded
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(!cases.is_empty(), "{}", file.display());
            if format == CaseFormat::Json {
                let exercise = Exercise::load(&repo_root().join("examples/exercises").join(name))
                    .expect("example exercise loads");
                let names = |cases: &[TestCase]| -> Vec<String> {
                    cases.iter().map(|case| case.name.clone()).collect()
                };
                assert_eq!(names(&cases), names(&exercise.cases), "{}", file.display());
            }
            seeds_checked += 1;
        }
    }
    assert!(
        seeds_checked >= target.contracts().len() + 2,
        "{seeds_checked} seeds checked"
    );
}
