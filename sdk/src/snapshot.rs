//! The snapshot envelope: how an [`Actor`]'s state crosses a reload.
//!
//! A snapshot is the JSON document
//!
//! ```json
//! {"schema": 2, "state": {"count": 41, "incs": 7}}
//! ```
//!
//! where `schema` is the [`Actor::SCHEMA_VERSION`] of the plugin that wrote
//! it and `state` is the actor serialised with serde. [`decode`] reads it
//! back: a snapshot of the actor's own schema version is deserialised
//! directly; one of any other version is handed, as a JSON value, to
//! [`Actor::migrate`]. Neither function touches the actor held by the
//! running plugin, so they are also the way to unit-test a migration on
//! the build machine:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use warden_sdk::{Actor, serde_json::json, snapshot};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Counter { count: u64, incs: u64 }
//!
//! impl Actor for Counter {
//!     const SCHEMA_VERSION: u32 = 2;
//!     fn init(_config: &str) -> Result<Self, String> {
//!         Ok(Counter { count: 0, incs: 0 })
//!     }
//!     fn handle(&mut self, _message: &[u8]) -> Result<Vec<u8>, String> {
//!         Ok(Vec::new())
//!     }
//!     fn migrate(from: u32, old: warden_sdk::serde_json::Value) -> Result<Self, String> {
//!         match from {
//!             1 => Ok(Counter { count: old["count"].as_u64().ok_or("no count")?, incs: 0 }),
//!             _ => Err(format!("cannot migrate from schema version {from}")),
//!         }
//!     }
//! }
//!
//! let v1 = json!({"schema": 1, "state": {"count": 41}}).to_string();
//! let counter: Counter = snapshot::decode(v1.as_bytes()).unwrap();
//! assert_eq!((counter.count, counter.incs), (41, 0));
//!
//! let v2 = snapshot::encode(&counter).unwrap();
//! assert_eq!(v2, br#"{"schema":2,"state":{"count":41,"incs":0}}"#);
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::Actor;

/// What [`encode`] writes.
#[derive(Serialize)]
struct Envelope<'a, A> {
    schema: u32,
    state: &'a A,
}

/// Serialises `actor` as `{"schema": A::SCHEMA_VERSION, "state": <actor>}`.
///
/// Fails only when the actor's `Serialize` implementation does, for example
/// for a map whose keys are not strings.
pub fn encode<A: Actor>(actor: &A) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&Envelope {
        schema: A::SCHEMA_VERSION,
        state: actor,
    })
    .map_err(|e| format!("cannot serialise the actor's state: {e}"))
}

/// Reads a snapshot written by [`encode`], by this plugin or another
/// version of it.
///
/// - Not a JSON object with a numeric `schema` and a `state`: an error
///   saying so.
/// - `schema` equal to [`Actor::SCHEMA_VERSION`]: `state` is deserialised
///   as `A`; an error names the schema version and serde's complaint.
/// - Any other `schema`: the result of [`Actor::migrate`]`(schema, state)`.
pub fn decode<A: Actor>(bytes: &[u8]) -> Result<A, String> {
    let malformed = |problem: &str| {
        format!(
            "malformed snapshot: {problem} (expected a JSON object \
             {{\"schema\": <version>, \"state\": <state>}} as written by warden-sdk)"
        )
    };
    let envelope: Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(&format!("not JSON: {e}")))?;
    // Unknown fields are ignored, so a later SDK may add some without
    // breaking restores into plugins built with this one.
    let Value::Object(mut fields) = envelope else {
        return Err(malformed("not a JSON object"));
    };
    let schema = fields
        .get("schema")
        .and_then(Value::as_u64)
        .and_then(|schema| u32::try_from(schema).ok())
        .ok_or_else(|| malformed("`schema` is missing or not a version number"))?;
    let state = fields
        .remove("state")
        .ok_or_else(|| malformed("`state` is missing"))?;
    if schema == A::SCHEMA_VERSION {
        serde_json::from_value(state)
            .map_err(|e| format!("snapshot state does not match schema version {schema}: {e}"))
    } else {
        A::migrate(schema, state)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::{decode, encode};
    use crate::Actor;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V1 {
        count: u64,
    }

    impl Actor for V1 {
        fn init(_config: &str) -> Result<Self, String> {
            Ok(V1 { count: 0 })
        }
        fn handle(&mut self, _message: &[u8]) -> Result<Vec<u8>, String> {
            Ok(Vec::new())
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V2 {
        count: u64,
        incs: u64,
    }

    impl Actor for V2 {
        const SCHEMA_VERSION: u32 = 2;
        fn init(_config: &str) -> Result<Self, String> {
            Ok(V2 { count: 0, incs: 0 })
        }
        fn handle(&mut self, _message: &[u8]) -> Result<Vec<u8>, String> {
            Ok(Vec::new())
        }
        fn migrate(from_version: u32, old_state: Value) -> Result<Self, String> {
            match from_version {
                1 => {
                    let old: V1 = serde_json::from_value(old_state).map_err(|e| e.to_string())?;
                    Ok(V2 {
                        count: old.count,
                        incs: 0,
                    })
                }
                _ => Err(format!("no migration from {from_version}")),
            }
        }
    }

    #[test]
    fn encode_writes_the_schema_version_and_the_state() {
        assert_eq!(
            encode(&V1 { count: 7 }).unwrap(),
            br#"{"schema":1,"state":{"count":7}}"#
        );
        assert_eq!(
            encode(&V2 { count: 7, incs: 2 }).unwrap(),
            br#"{"schema":2,"state":{"count":7,"incs":2}}"#
        );
    }

    #[test]
    fn same_schema_round_trips() {
        let bytes = encode(&V2 { count: 41, incs: 3 }).unwrap();
        assert_eq!(decode::<V2>(&bytes).unwrap(), V2 { count: 41, incs: 3 });
    }

    #[test]
    fn other_schema_goes_through_migrate() {
        let v1 = encode(&V1 { count: 41 }).unwrap();
        assert_eq!(decode::<V2>(&v1).unwrap(), V2 { count: 41, incs: 0 });

        let v9 = json!({"schema": 9, "state": {}}).to_string();
        assert_eq!(
            decode::<V2>(v9.as_bytes()).unwrap_err(),
            "no migration from 9"
        );
    }

    #[test]
    fn default_migrate_refuses_with_both_versions() {
        let v2 = encode(&V2 { count: 1, incs: 1 }).unwrap();
        assert_eq!(
            decode::<V1>(&v2).unwrap_err(),
            "cannot migrate state from schema version 2 to 1"
        );
    }

    #[test]
    fn unknown_envelope_fields_are_ignored() {
        let bytes = json!({"schema": 1, "state": {"count": 5}, "written-by": "later sdk"});
        let bytes = bytes.to_string();
        assert_eq!(decode::<V1>(bytes.as_bytes()).unwrap(), V1 { count: 5 });
    }

    #[test]
    fn malformed_snapshots_are_errors_that_say_so() {
        for bad in [
            &b""[..],
            b"not json",
            b"[1, 2]",
            br#"{"state": {"count": 1}}"#,
            br#"{"schema": 1}"#,
            br#"{"schema": "1", "state": {"count": 1}}"#,
            br#"{"schema": -1, "state": {"count": 1}}"#,
        ] {
            let err = decode::<V1>(bad).unwrap_err();
            assert!(
                err.starts_with("malformed snapshot: "),
                "{:?} gave {err:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_state_that_does_not_fit_its_own_schema_is_an_error() {
        let err = decode::<V1>(br#"{"schema": 1, "state": {"count": "many"}}"#).unwrap_err();
        assert!(
            err.starts_with("snapshot state does not match schema version 1: "),
            "{err}"
        );
    }
}
