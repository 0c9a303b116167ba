//! The params schema validator (`warden_ops::schema`) checked against an
//! independent implementation: Python's `jsonschema` (Draft 2020-12), at
//! the version `scripts/setup.sh` pins.
//!
//! Cases cover every keyword of the supported subset, each with values on
//! both sides of its boundary; the test compiles every schema here, asks
//! both validators for a verdict on every value, and fails on any
//! disagreement that is not one of the deliberate differences listed in
//! [`DELIBERATE`] (each of which must still be a difference, so the list
//! cannot go stale).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use warden_ops::schema::Schema;

/// Python's side: Draft 2020-12, with `contentEncoding: "base64"`
/// asserted as Warden documents it (standard alphabet, padded). Reads
/// `[{"schema", "value"}, …]` on stdin, writes `[true|false, …]`.
const CHECKER: &str = r#"
import base64, binascii, json, sys
from importlib.metadata import version
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

def content_encoding(validator, encoding, instance, schema):
    if encoding != "base64" or not validator.is_type(instance, "string"):
        return
    try:
        base64.b64decode(instance.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        yield ValidationError(f"{instance!r} is not base64")

Checker = validators.extend(Draft202012Validator, {"contentEncoding": content_encoding})
out = []
for case in json.load(sys.stdin):
    Checker.check_schema(case["schema"])
    out.append(Checker(case["schema"]).is_valid(case["value"]))
json.dump({"version": version("jsonschema"), "verdicts": out}, sys.stdout)
"#;

/// Where the two validators disagree on purpose: (schema, value, Warden's
/// verdict, why).
const DELIBERATE: &[(&str, &str, bool, &str)] = &[(
    r#"{"multipleOf": 0.1}"#,
    "0.3",
    true,
    "Warden allows a relative error of 1e-9 in the quotient, so decimal \
     fractions that binary floats cannot hold exactly count as multiples; \
     Python divides exactly and gets 2.9999999999999996",
)];

/// Every supported keyword, each schema with values it accepts and
/// values it rejects.
fn cases() -> Vec<(Value, Vec<Value>)> {
    vec![
        // Boolean schemas.
        (json!(true), vec![json!(null), json!(1), json!({"a": []})]),
        (json!(false), vec![json!(null), json!(0), json!("")]),
        (json!({}), vec![json!(null), json!([1, "x"])]),
        // `type`, one name and a list; `integer` accepts `1.0`.
        (
            json!({"type": "integer"}),
            vec![
                json!(1),
                json!(-7),
                json!(1.0),
                json!(1.5),
                json!("1"),
                json!(true),
                json!(null),
                json!(1e3),
            ],
        ),
        (
            json!({"type": "number"}),
            vec![json!(1), json!(2.5), json!("2.5"), json!(false)],
        ),
        (
            json!({"type": "string"}),
            vec![json!(""), json!("x"), json!(1), json!(["x"])],
        ),
        (
            json!({"type": "boolean"}),
            vec![json!(true), json!(false), json!(0), json!("true")],
        ),
        (
            json!({"type": "null"}),
            vec![json!(null), json!(0), json!(""), json!({})],
        ),
        (
            json!({"type": "object"}),
            vec![json!({}), json!({"a": 1}), json!([]), json!(null)],
        ),
        (
            json!({"type": "array"}),
            vec![json!([]), json!([1]), json!({}), json!("[]")],
        ),
        (
            json!({"type": ["string", "null"]}),
            vec![json!("x"), json!(null), json!(1), json!(false)],
        ),
        (
            json!({"type": ["integer", "boolean"]}),
            vec![json!(2), json!(2.0), json!(true), json!(2.1), json!("2")],
        ),
        // `enum` and `const`: numbers by value, booleans are not numbers.
        (
            json!({"enum": [1, "a", null, [1, 2], {"k": true}]}),
            vec![
                json!(1),
                json!(1.0),
                json!(true),
                json!("a"),
                json!("A"),
                json!(null),
                json!([1, 2]),
                json!([2, 1]),
                json!({"k": true}),
                json!({"k": 1}),
                json!({"k": true, "x": 0}),
            ],
        ),
        (
            json!({"const": 2}),
            vec![json!(2), json!(2.0), json!(3), json!("2"), json!([2])],
        ),
        (
            json!({"const": false}),
            vec![json!(false), json!(0), json!(null), json!(true)],
        ),
        (
            json!({"const": {"a": [1, {"b": null}]}}),
            vec![
                json!({"a": [1, {"b": null}]}),
                json!({"a": [1.0, {"b": null}]}),
                json!({"a": [1, {}]}),
                json!({"a": [{"b": null}, 1]}),
            ],
        ),
        // Objects.
        (
            json!({
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
                "required": ["name"]
            }),
            vec![
                json!({"name": "x"}),
                json!({"name": "x", "age": 3}),
                json!({"name": "x", "age": -1}),
                json!({"name": "x", "age": "3"}),
                json!({"age": 3}),
                json!({"name": 1}),
                json!({"name": "x", "other": [1]}),
            ],
        ),
        (
            json!({"required": ["a", "b"]}),
            vec![
                json!({"a": 1, "b": 2}),
                json!({"a": 1}),
                json!({}),
                json!("not an object"),
            ],
        ),
        (
            json!({"properties": {"a": {"type": "string"}}, "additionalProperties": false}),
            vec![
                json!({}),
                json!({"a": "x"}),
                json!({"a": "x", "b": 1}),
                json!({"b": 1}),
                json!(7),
            ],
        ),
        (
            json!({"properties": {"a": true}, "additionalProperties": {"type": "integer"}}),
            vec![
                json!({"a": "any", "b": 1, "c": 2}),
                json!({"b": "x"}),
                json!({"a": null}),
            ],
        ),
        (
            json!({"additionalProperties": true}),
            vec![json!({"x": [null]}), json!({})],
        ),
        (
            json!({"minProperties": 1, "maxProperties": 2}),
            vec![
                json!({}),
                json!({"a": 1}),
                json!({"a": 1, "b": 2}),
                json!({"a": 1, "b": 2, "c": 3}),
                json!([1, 2, 3]),
            ],
        ),
        // Arrays.
        (
            json!({"type": "array", "items": {"type": "integer"}}),
            vec![
                json!([]),
                json!([1, 2]),
                json!([1, "2"]),
                json!([1.0]),
                json!([[1]]),
            ],
        ),
        (
            json!({"items": {"properties": {"n": {"type": "string"}}, "required": ["n"]}}),
            vec![
                json!([{"n": "a"}, {"n": "b"}]),
                json!([{"n": "a"}, {}]),
                json!([{"n": 1}]),
                json!({"n": 1}),
            ],
        ),
        (
            json!({"items": false}),
            vec![json!([]), json!([null]), json!("x")],
        ),
        (
            json!({"minItems": 1, "maxItems": 3}),
            vec![
                json!([]),
                json!([1]),
                json!([1, 2, 3]),
                json!([1, 2, 3, 4]),
                json!("abcd"),
            ],
        ),
        (
            json!({"uniqueItems": true}),
            vec![
                json!([]),
                json!([1, 2, 3]),
                json!([1, 1]),
                json!([1, 1.0]),
                json!([1, true]),
                json!([0, false]),
                json!([{"a": 1}, {"a": 1}]),
                json!([{"a": 1}, {"a": 2}]),
                json!([[1, 2], [2, 1]]),
                json!(["a", "A"]),
                json!("aa"),
            ],
        ),
        (json!({"uniqueItems": false}), vec![json!([1, 1])]),
        // Numbers.
        (
            json!({"minimum": 1, "maximum": 10}),
            vec![
                json!(1),
                json!(10),
                json!(0.999),
                json!(10.001),
                json!(5.5),
                json!("0"),
            ],
        ),
        (
            json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1.5}),
            vec![
                json!(0),
                json!(0.0001),
                json!(1.4999),
                json!(1.5),
                json!(-1),
                json!(null),
            ],
        ),
        (
            json!({"minimum": -2.5, "exclusiveMaximum": -1}),
            vec![json!(-2.5), json!(-2.6), json!(-1), json!(-1.0001)],
        ),
        (
            json!({"multipleOf": 5}),
            vec![
                json!(0),
                json!(15),
                json!(-10),
                json!(15.0),
                json!(7),
                json!(7.5),
                json!("10"),
            ],
        ),
        (
            json!({"multipleOf": 0.5}),
            vec![json!(1), json!(2.5), json!(2.25), json!(-0.5)],
        ),
        (
            json!({"multipleOf": 0.1}),
            vec![json!(0.3), json!(0.35), json!(2)],
        ),
        (
            json!({"type": "integer", "multipleOf": 3, "minimum": 3}),
            vec![json!(3), json!(9.0), json!(0), json!(4)],
        ),
        // Strings: lengths in Unicode scalar values.
        (
            json!({"minLength": 2, "maxLength": 3}),
            vec![
                json!(""),
                json!("a"),
                json!("ab"),
                json!("abc"),
                json!("abcd"),
                json!("éé"),
                json!("😀"),
                json!("😀😀😀"),
                json!("😀😀😀😀"),
                json!(12345),
            ],
        ),
        (
            json!({"contentEncoding": "base64"}),
            vec![
                json!(""),
                json!("aGVsbG8="),
                json!("aGVsbG8"),
                json!("aGVsbG8=="),
                json!("aGV sbG8="),
                json!("aGVs-G8="),
                json!("+/+/"),
                json!("////"),
                json!("é"),
                json!(42),
            ],
        ),
        // Combinators.
        (
            json!({"anyOf": [{"type": "string"}, {"minimum": 10}]}),
            vec![json!("x"), json!(11), json!(3), json!(null), json!([])],
        ),
        (
            json!({"oneOf": [{"type": "integer"}, {"minimum": 10}]}),
            vec![json!(3), json!(11), json!(10.5), json!(9.5), json!("x")],
        ),
        (
            json!({"allOf": [{"type": "number"}, {"minimum": 0}, {"maximum": 1}]}),
            vec![json!(0.5), json!(-0.5), json!(2), json!("0.5")],
        ),
        (
            json!({"not": {"type": "string"}}),
            vec![json!("x"), json!(1), json!(null)],
        ),
        (
            json!({"not": {"enum": [1, 2]}, "anyOf": [{"const": 1}, {"const": 3}, {"type": "string"}]}),
            vec![json!(1), json!(3), json!(2), json!("s"), json!(4)],
        ),
        // Annotations are accepted and do not change the verdict.
        (
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://example.com/params",
                "$comment": "c",
                "title": "t",
                "description": "d",
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date-time", "default": "x", "examples": ["y"]},
                    "old": {"deprecated": true, "readOnly": true, "writeOnly": false}
                }
            }),
            vec![
                json!({"when": "not a date"}),
                json!({"when": 1}),
                json!({"old": [1]}),
            ],
        ),
        // A params document as operations write them: nested everything.
        (
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["items"],
                "properties": {
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": true,
                        "items": {
                            "type": "object",
                            "required": ["name", "count"],
                            "additionalProperties": false,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "count": {"type": "integer", "exclusiveMinimum": 0},
                                "data": {"type": "string", "contentEncoding": "base64"},
                                "kind": {"enum": ["a", "b"]}
                            }
                        }
                    },
                    "mode": {"oneOf": [{"const": "fast"}, {"type": "integer", "maximum": 3}]}
                }
            }),
            vec![
                json!({"items": [{"name": "x", "count": 1}]}),
                json!({"items": [{"name": "x", "count": 1, "data": "AA==", "kind": "b"}], "mode": "fast"}),
                json!({"items": [{"name": "x", "count": 1}], "mode": 2}),
                json!({"items": [{"name": "x", "count": 1}], "mode": 4}),
                json!({"items": []}),
                json!({"items": [{"name": "", "count": 1}]}),
                json!({"items": [{"name": "x", "count": 0}]}),
                json!({"items": [{"name": "x", "count": 1, "data": "AA="}]}),
                json!({"items": [{"name": "x", "count": 1, "kind": "c"}]}),
                json!({"items": [{"name": "x", "count": 1}, {"name": "x", "count": 1}]}),
                json!({"items": [{"name": "x", "count": 1, "extra": 0}]}),
                json!({"items": [{"name": "x", "count": 1}], "extra": 0}),
                json!({}),
            ],
        ),
    ]
}

/// The version of `jsonschema` that `scripts/setup.sh` installs.
fn pinned_version() -> String {
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/setup.sh");
    let text =
        std::fs::read_to_string(&setup).unwrap_or_else(|e| panic!("read {}: {e}", setup.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("JSONSCHEMA_VERSION="))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no JSONSCHEMA_VERSION= line in {}", setup.display()))
}

/// Whether the pinned `jsonschema` is there for `test`. Without it the
/// test is skipped with a note, so `cargo test --workspace` passes on a
/// fresh clone that never ran `scripts/setup.sh` — unless
/// `WARDEN_REQUIRE_TOOLS=1` (`.ci/run` sets it), where it fails instead.
fn jsonschema_present(test: &str) -> bool {
    let pinned = pinned_version();
    let found = Command::new("python3")
        .args([
            "-c",
            "from jsonschema import Draft202012Validator\nfrom importlib.metadata import version\nprint(version('jsonschema'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if found == pinned {
        return true;
    }
    let required = std::env::var("WARDEN_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test} needs python's jsonschema {pinned} (found {found:?}): run scripts/setup.sh"
    );
    eprintln!(
        "SKIPPED {test}: needs python's jsonschema {pinned} (found {found:?}); scripts/setup.sh installs it"
    );
    false
}

/// Python's verdicts on `input`, after checking it runs the pinned
/// `jsonschema`.
fn python_verdicts(input: &Value) -> Vec<bool> {
    let mut child = Command::new("python3")
        .args(["-c", CHECKER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 (scripts/setup.sh installs what this test needs)");
    let text = serde_json::to_vec(input).expect("cases serialise");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&text)
        .expect("write the cases to python3");
    let out = child.wait_with_output().expect("wait for python3");
    assert!(
        out.status.success(),
        "python3 failed (is jsonschema {} installed? run scripts/setup.sh): {}",
        pinned_version(),
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("python3 wrote JSON");
    assert_eq!(
        reply["version"].as_str(),
        Some(pinned_version().as_str()),
        "this test needs the jsonschema that scripts/setup.sh pins: run scripts/setup.sh"
    );
    reply["verdicts"]
        .as_array()
        .expect("a list of verdicts")
        .iter()
        .map(|v| v.as_bool().expect("a boolean verdict"))
        .collect()
}

#[test]
fn the_schema_validator_agrees_with_python_jsonschema() {
    if !jsonschema_present("the_schema_validator_agrees_with_python_jsonschema") {
        return;
    }
    let mut pairs = Vec::new();
    for (schema, values) in cases() {
        let compiled = Schema::compile(schema.clone())
            .unwrap_or_else(|e| panic!("{schema} is in the subset: {e}"));
        for value in values {
            let ours = compiled.validate(&value).is_empty();
            pairs.push((schema.clone(), value, ours));
        }
    }
    let input = Value::Array(
        pairs
            .iter()
            .map(|(schema, value, _)| json!({"schema": schema, "value": value}))
            .collect(),
    );
    let theirs = python_verdicts(&input);
    assert_eq!(theirs.len(), pairs.len());

    let mut deliberate_seen = vec![false; DELIBERATE.len()];
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for ((schema, value, ours), theirs) in pairs.iter().zip(theirs) {
        if *ours {
            valid += 1;
        } else {
            invalid += 1;
        }
        if *ours == theirs {
            continue;
        }
        let known = DELIBERATE.iter().position(|(s, v, verdict, _)| {
            serde_json::from_str::<Value>(s).ok().as_ref() == Some(schema)
                && serde_json::from_str::<Value>(v).ok().as_ref() == Some(value)
                && verdict == ours
        });
        match known {
            Some(i) => deliberate_seen[i] = true,
            None => disagreements.push(format!(
                "schema {schema}, value {value}: warden says {}, jsonschema says {}",
                verdict(*ours),
                verdict(theirs)
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s) with jsonschema:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    for ((schema, value, _, why), seen) in DELIBERATE.iter().zip(deliberate_seen) {
        assert!(
            seen,
            "listed as a deliberate difference, but both now agree on {value} against {schema} ({why})"
        );
    }
    // Both verdicts are well represented, so agreement means something.
    assert!(
        valid >= 80 && invalid >= 100,
        "{valid} valid, {invalid} invalid"
    );
}

/// The comparison can fail: a validator that accepts everything
/// disagrees with jsonschema on these cases.
#[test]
fn the_comparison_sees_a_wrong_verdict() {
    if !jsonschema_present("the_comparison_sees_a_wrong_verdict") {
        return;
    }
    let input = json!([
        {"schema": {"type": "integer"}, "value": 1.5},
        {"schema": {"minLength": 2}, "value": "😀"},
        {"schema": {"contentEncoding": "base64"}, "value": "aGVsbG8"},
    ]);
    assert_eq!(python_verdicts(&input), vec![false, false, false]);
}

fn verdict(valid: bool) -> &'static str {
    if valid { "valid" } else { "invalid" }
}
