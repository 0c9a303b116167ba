//! JSON arguments mapped onto a component function's types and passed to
//! it: a byte choosing the function, then a JSON array of arguments.
//! `cargo +nightly fuzz run --fuzz-dir host/fuzz json_values` (from the repository root). The entry point
//! and its properties are `warden::fuzzing::JsonValues`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden::fuzzing::{JsonValues, VALUES_WAT};

fn target() -> &'static JsonValues {
    static TARGET: OnceLock<JsonValues> = OnceLock::new();
    TARGET.get_or_init(|| {
        let component = wat::parse_str(VALUES_WAT).expect("values.wat parses");
        JsonValues::new(&component).expect("values.wat prepares")
    })
}

fuzz_target!(|data: &[u8]| target().run(data));
