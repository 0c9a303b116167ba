//! A params schema and a value from the fuzzer.

use serde_json::{Value, json};

use crate::schema::Schema;

/// Values checked against a schema that comes without one.
fn sample_values() -> [Value; 8] {
    [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1.5),
        json!(""),
        json!([1, "a", null]),
        json!({}),
        json!({"a": {"b": [1, 2]}}),
    ]
}

/// `data` is JSON: `[SCHEMA, VALUE]`, or a schema alone (then checked
/// against a few sample values). Panics when an error or a violation
/// points where nothing is, or when `not`, `anyOf` and `allOf` disagree
/// with the schema they wrap.
pub fn schema(data: &[u8]) {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (source, values) = match input {
        Value::Array(mut pair) if pair.len() == 2 => {
            let value = pair.pop().unwrap_or_default();
            let source = pair.pop().unwrap_or_default();
            (source, vec![value])
        }
        other => (other, sample_values().to_vec()),
    };
    let schema = match Schema::compile(source.clone()) {
        Ok(schema) => schema,
        Err(err) => {
            assert!(
                source.pointer(&err.pointer).is_some(),
                "the error points at nothing in the schema: {err}"
            );
            return;
        }
    };
    let wrapped = |wrapper: Value| {
        Schema::compile(wrapper)
            .unwrap_or_else(|err| panic!("a valid schema stops compiling when wrapped: {err}"))
    };
    let not = wrapped(json!({ "not": source }));
    let any_of = wrapped(json!({ "anyOf": [source] }));
    let all_of = wrapped(json!({ "allOf": [source, true] }));
    for value in &values {
        let violations = schema.validate(value);
        for v in &violations {
            // A missing required property is reported where it would be,
            // under an object that exists.
            let points = value.pointer(&v.path).is_some()
                || (v.found == "nothing"
                    && v.path
                        .rsplit_once('/')
                        .and_then(|(parent, _)| value.pointer(parent))
                        .is_some_and(Value::is_object));
            assert!(points, "a violation points at nothing: {v}");
        }
        let valid = violations.is_empty();
        assert_eq!(not.validate(value).is_empty(), !valid, "`not` for {value}");
        assert_eq!(
            any_of.validate(value).is_empty(),
            valid,
            "`anyOf` for {value}"
        );
        assert_eq!(
            all_of.validate(value).is_empty(),
            valid,
            "`allOf` for {value}"
        );
    }
}
