//! The entry point of the `schema` fuzz target in `host/fuzz/`: a params
//! schema and a value through [`crate::schema::Schema`]; errors and
//! violations point at places that exist, and the combinators agree with
//! the schema they wrap. The corpus is replayed by the `warden` crate's
//! tests.

mod schema_target;

pub use schema_target::schema;
