//! The entry point of the `json_values` fuzz target in `host/fuzz/`:
//! JSON arguments mapped onto a component function's parameter types
//! ([`crate::values`]). What the mapping accepts, the runtime accepts, and
//! JSON written back from a value maps to the same JSON again. The corpus
//! is replayed by the `warden` crate's tests.

mod values_target;

pub use values_target::{JsonValues, VALUES_WAT};
