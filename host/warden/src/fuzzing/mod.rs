//! Entry points of the fuzz targets in `host/fuzz/` (cargo-fuzz), and of
//! the tests that replay their corpora (`host/fuzz/corpus/TARGET/`) on
//! every `cargo test`, so CI checks every saved input without fuzzing.
//!
//! Each entry point takes the fuzzer's raw bytes, feeds them to one
//! parser of untrusted input, and panics only when a property Warden
//! promises is broken (a panic is what the fuzzer reports):
//! - [`CanonicalData`]: case-file text (Exercism's canonical data, or
//!   the same in TOML) against every example exercise's contract;
//! - [`config`]: `warden.toml` text through [`crate::config::parse`];
//!   every error names the file;
//! - [`JsonValues`]: JSON arguments mapped onto a component function's
//!   parameter types ([`crate::component::values`]); what the mapping
//!   accepts, the runtime accepts, and JSON written back from a value maps
//!   to the same JSON again;
//! - [`schema`]: a params schema and a value through
//!   [`crate::ops::schema::Schema`]; errors and violations point at places
//!   that exist, and the combinators agree with the schema they wrap.
//!
//! Never: write files (but the config target's stand-in component, made
//! once in its checked-in folder), start processes, or open sockets (the
//! fuzzer runs these millions of times).

mod canonical_data_target;
mod config_target;

pub use crate::component::fuzzing::{JsonValues, VALUES_WAT};
pub use crate::ops::fuzzing::schema;
pub use canonical_data_target::CanonicalData;
pub use config_target::config;

#[cfg(test)]
mod replay;
