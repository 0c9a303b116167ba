//! `warden.toml` text: `cargo +nightly fuzz run --fuzz-dir host/fuzz config` (from the repository root).
//! The entry point and its properties are `warden::fuzzing::config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warden::fuzzing::config(data));
