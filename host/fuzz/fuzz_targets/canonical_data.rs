//! Canonical-data loading: the input is the text of a case file, loaded
//! as JSON and as TOML against the contract of every example exercise
//! (`examples/exercises/*/exercise.wit`), so that mutations of real case
//! data get past the parser into groups, `reimplements`, argument order
//! and expectations. Any outcome but a panic (or a hang) is fine.
//!
//! Seeds (`corpus/canonical_data/`): the `canonical-data.json` of every
//! exercise in `examples/exercises/` (Exercism's problem-specifications,
//! MIT), named after it, and two case files in TOML.
//! `tests/all/fuzz_canonical_data.rs` replays the corpus the same way.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden::grade::{CaseFormat, Contract, Settings, parse_cases};

fn contracts() -> &'static [Contract] {
    static CONTRACTS: OnceLock<Vec<Contract>> = OnceLock::new();
    CONTRACTS.get_or_init(|| {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/exercises");
        let mut dirs: Vec<_> = std::fs::read_dir(&examples)
            .expect("examples/exercises")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("exercise.wit").is_file())
            .collect();
        dirs.sort();
        dirs.iter()
            .map(|dir| {
                let path = dir.join("exercise.wit");
                let text = std::fs::read_to_string(&path).expect("read exercise.wit");
                Contract::parse(&path, &text).expect("example contracts parse")
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    // The loader reads text: a folder's non-UTF-8 file is refused before.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let settings = Settings::default();
    for contract in contracts() {
        for format in [CaseFormat::Json, CaseFormat::Toml] {
            let _ = parse_cases(
                Path::new("canonical-data"),
                format,
                text,
                contract,
                &settings,
            );
        }
    }
});
