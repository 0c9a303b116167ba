//! Every file of `host/fuzz/corpus/TARGET/` through its target's entry
//! point, as an ordinary test: inputs the fuzzer found interesting (and
//! the seeds) keep being checked without a fuzzer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use super::{JsonValues, VALUES_WAT, config, schema};

/// Runs `entry` on each file of the target's corpus; fails naming every
/// file that panicked.
fn replay(target: &str, entry: impl Fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
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
