//! A params schema and a value, `[SCHEMA, VALUE]` as JSON:
//! `cargo +nightly fuzz run --fuzz-dir host/fuzz schema` (from the repository root). The entry point and
//! its properties are `warden::fuzzing::schema`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warden::fuzzing::schema(data));
