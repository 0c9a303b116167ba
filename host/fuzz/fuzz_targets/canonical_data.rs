//! Canonical-data loading: the input is the text of a case file, loaded
//! as JSON and as TOML against the contract of every example exercise
//! (`examples/exercises/*/exercise.wit`), so that mutations of real case
//! data get past the parser into groups, `reimplements`, argument order
//! and expectations. Any outcome but a panic (or a hang) is fine.
//!
//! Seeds (`corpus/canonical_data/`): the `canonical-data.json` of every
//! exercise in `examples/exercises/` (Exercism's problem-specifications,
//! MIT), named after it, and two case files in TOML.
//! The body is [`warden::fuzzing::CanonicalData`]; the `warden` crate's
//! tests replay the corpus through it.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden::fuzzing::CanonicalData;

fn target() -> &'static CanonicalData {
    static TARGET: OnceLock<CanonicalData> = OnceLock::new();
    TARGET.get_or_init(|| {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/exercises");
        CanonicalData::load(&examples).expect("example contracts load")
    })
}

fuzz_target!(|data: &[u8]| target().run(data));
