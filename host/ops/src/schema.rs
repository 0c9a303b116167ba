//! A JSON Schema validator for the subset operations use.
//!
//! Why hand-written: the `jsonschema` crate brings a regex engine, URL and
//! HTTP-resolving machinery and a few dozen crates for keywords no Warden
//! operation needs, while params schemas are small, self-contained
//! documents. This module implements exactly the subset below, and a
//! schema using anything else is **rejected when it is compiled** (at
//! registration), never silently ignored.
//!
//! Supported (JSON Schema 2020-12 semantics):
//! - boolean schemas `true` / `false`;
//! - `type` (a name or a list of names; `integer` accepts `1.0`);
//! - `enum`, `const` (numbers compare by value: `2.0` equals `2`);
//! - objects: `properties`, `required`, `additionalProperties` (boolean or
//!   schema), `minProperties`, `maxProperties`;
//! - arrays: `items` (one schema for every item), `minItems`, `maxItems`,
//!   `uniqueItems`;
//! - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`
//!   (numbers, 2020-12 style), `multipleOf`;
//! - strings: `minLength`, `maxLength` (in Unicode scalar values),
//!   `contentEncoding: "base64"` (standard alphabet, padded), **asserted**:
//!   2020-12 makes it an annotation by default and lets a validator assert
//!   it; Warden's operations decode such strings, so a string that is not
//!   base64 is a violation here rather than a surprise in the handler;
//! - combinators: `anyOf`, `oneOf`, `allOf`, `not`;
//! - annotations, accepted and not checked: `$schema`, `$id`, `$comment`,
//!   `title`, `description`, `default`, `examples`, `deprecated`,
//!   `readOnly`, `writeOnly`, `format` (an annotation by default in
//!   2020-12).
//!
//! Not supported (rejected): `$ref`/`$defs`, `pattern`,
//! `patternProperties`, `prefixItems`, `contains`, `if`/`then`/`else`,
//! `dependentRequired`, … Add them here, with tests, when an operation
//! needs one.
//!
//! Validation never stops at the first problem: it returns every
//! [`Violation`], each with the JSON Pointer of the offending value in the
//! params (`/top`, `/items/2/name`; the root is the empty pointer) and what
//! was expected there.

use serde_json::{Map, Value};

/// One way a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// JSON Pointer into the params (`""` is the whole params document).
    pub path: String,
    /// What the schema wants there, in words (`integer >= 1`).
    pub expected: String,
    /// A short description of what was found (`string "x"`, `nothing`).
    pub found: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{at}: expected {}, found {}", self.expected, self.found)
    }
}

/// A schema that cannot be used: not JSON, malformed, or using a keyword
/// outside the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if pointer.is_empty() { "schema" } else { pointer.as_str() })]
pub struct SchemaError {
    /// JSON Pointer into the schema document.
    pub pointer: String,
    /// What is wrong there (a keyword outside the subset, a value of the
    /// wrong shape).
    pub message: String,
}

/// A compiled schema, ready to validate params.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Node,
    source: Value,
}

impl Schema {
    /// Checks `source` against the supported subset and compiles it.
    pub fn compile(source: Value) -> Result<Self, SchemaError> {
        let root = Node::compile(&source, "")?;
        Ok(Self { root, source })
    }

    /// Parses JSON text, then [`compile`](Self::compile)s it.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let source = serde_json::from_str(text).map_err(|err| SchemaError {
            pointer: String::new(),
            message: format!("not valid JSON: {err}"),
        })?;
        Self::compile(source)
    }

    /// The schema document as given (for OpenAPI and `describe`).
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Every violation of the schema by `value`; empty when it is valid.
    pub fn validate(&self, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.root.check(value, &mut String::new(), &mut out);
        out
    }

    /// Rewrites, in a value this schema accepted, every whole number
    /// written with a fraction or an exponent (`298.0`, `3e2`) where the
    /// schema wants an `integer` as that integer (`298`, `300`). JSON
    /// Schema counts them as integers; typed readers (serde's `u64`) do
    /// not. A number outside the 64-bit integer range is left as it is.
    pub fn normalize_integers(&self, value: &mut Value) {
        self.root.normalize_integers(value);
    }
}

impl Default for Schema {
    /// The schema of operations without params: an object with no
    /// properties (`{}` is accepted, anything else is not).
    fn default() -> Self {
        Self::compile(serde_json::json!({"type": "object", "additionalProperties": false}))
            .expect("the default schema is in the subset")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    Integer,
    String,
}

impl JsonType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            "number" => Self::Number,
            "integer" => Self::Integer,
            "string" => Self::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::String => "string",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match (self, value) {
            (Self::Null, Value::Null)
            | (Self::Boolean, Value::Bool(_))
            | (Self::Object, Value::Object(_))
            | (Self::Array, Value::Array(_))
            | (Self::Number, Value::Number(_))
            | (Self::String, Value::String(_)) => true,
            (Self::Integer, Value::Number(n)) => is_integer(n),
            _ => false,
        }
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// `n` as an integer `Number` when JSON wrote a whole number as a float
/// and it fits 64 bits; `None` when it already is an integer, or is not
/// whole, or does not fit.
fn whole_number(n: &serde_json::Number) -> Option<serde_json::Number> {
    if n.is_i64() || n.is_u64() {
        return None;
    }
    let f = n.as_f64()?;
    // 2^63 and 2^64 are exact in f64; `as` would saturate past them.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    if f.fract() != 0.0 {
        None
    } else if (-I64_END..I64_END).contains(&f) {
        Some((f as i64).into())
    } else if (0.0..U64_END).contains(&f) {
        Some((f as u64).into())
    } else {
        None
    }
}

/// JSON Schema's equality: numbers by value (`2.0` equals `2`), arrays
/// item by item, objects key by key (serde_json's `==` tells `2.0` from
/// `2`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
];

#[derive(Debug, Clone)]
enum Node {
    /// `true` accepts everything, `false` nothing.
    Bool(bool),
    Rules(Box<Rules>),
}

#[derive(Debug, Clone, Default)]
struct Rules {
    types: Option<Vec<JsonType>>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Option<Node>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    items: Option<Node>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    multiple_of: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    base64: bool,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    all_of: Vec<Node>,
    not: Option<Node>,
}

fn err(pointer: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        pointer: pointer.to_string(),
        message: message.into(),
    }
}

fn child_pointer(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

impl Node {
    fn compile(schema: &Value, at: &str) -> Result<Node, SchemaError> {
        let map = match schema {
            Value::Bool(b) => return Ok(Node::Bool(*b)),
            Value::Object(map) => map,
            other => {
                return Err(err(
                    at,
                    format!(
                        "a schema must be an object or a boolean, found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let mut r = Rules::default();
        for (key, value) in map {
            let here = child_pointer(at, key);
            match key.as_str() {
                "type" => r.types = Some(compile_types(value, &here)?),
                "enum" => match value {
                    Value::Array(items) if !items.is_empty() => r.enumeration = Some(items.clone()),
                    _ => return Err(err(&here, "`enum` must be a non-empty array")),
                },
                "const" => r.constant = Some(value.clone()),
                "properties" => {
                    let Value::Object(props) = value else {
                        return Err(err(&here, "`properties` must be an object"));
                    };
                    for (name, sub) in props {
                        let node = Node::compile(sub, &child_pointer(&here, name))?;
                        r.properties.push((name.clone(), node));
                    }
                }
                "required" => {
                    let names = value.as_array().and_then(|items| {
                        items
                            .iter()
                            .map(|i| i.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    });
                    r.required = names
                        .ok_or_else(|| err(&here, "`required` must be an array of strings"))?;
                }
                "additionalProperties" => r.additional = Some(Node::compile(value, &here)?),
                "items" => r.items = Some(Node::compile(value, &here)?),
                "minProperties" => r.min_properties = Some(count(value, &here)?),
                "maxProperties" => r.max_properties = Some(count(value, &here)?),
                "minItems" => r.min_items = Some(count(value, &here)?),
                "maxItems" => r.max_items = Some(count(value, &here)?),
                "minLength" => r.min_length = Some(count(value, &here)?),
                "contentEncoding" => {
                    if value.as_str() != Some("base64") {
                        return Err(err(
                            &here,
                            "only `\"contentEncoding\": \"base64\"` is supported",
                        ));
                    }
                    r.base64 = true;
                }
                "maxLength" => r.max_length = Some(count(value, &here)?),
                "uniqueItems" => {
                    r.unique_items = value
                        .as_bool()
                        .ok_or_else(|| err(&here, "`uniqueItems` must be a boolean"))?;
                }
                "minimum" => r.minimum = Some(number(value, &here)?),
                "maximum" => r.maximum = Some(number(value, &here)?),
                "exclusiveMinimum" => r.exclusive_minimum = Some(number(value, &here)?),
                "exclusiveMaximum" => r.exclusive_maximum = Some(number(value, &here)?),
                "multipleOf" => {
                    let m = number(value, &here)?;
                    if m <= 0.0 {
                        return Err(err(&here, "`multipleOf` must be greater than 0"));
                    }
                    r.multiple_of = Some(m);
                }
                "anyOf" => r.any_of = compile_list(value, &here)?,
                "oneOf" => r.one_of = compile_list(value, &here)?,
                "allOf" => r.all_of = compile_list(value, &here)?,
                "not" => r.not = Some(Node::compile(value, &here)?),
                k if ANNOTATIONS.contains(&k) => {}
                other => {
                    return Err(err(
                        &here,
                        format!(
                            "keyword `{other}` is not supported by Warden's schema validator \
                             (supported: type, enum, const, properties, required, \
                             additionalProperties, min/maxProperties, items, min/maxItems, \
                             uniqueItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum, \
                             multipleOf, min/maxLength, contentEncoding, anyOf, oneOf, allOf, not, \
                             and annotations)"
                        ),
                    ));
                }
            }
        }
        Ok(Node::Rules(Box::new(r)))
    }

    fn matches(&self, value: &Value) -> bool {
        let mut out = Vec::new();
        self.check(value, &mut String::new(), &mut out);
        out.is_empty()
    }

    fn check(&self, value: &Value, path: &mut String, out: &mut Vec<Violation>) {
        let rules = match self {
            Node::Bool(true) => return,
            Node::Bool(false) => {
                out.push(violation(path, "nothing (no value is allowed here)", value));
                return;
            }
            Node::Rules(rules) => rules,
        };
        rules.check(value, path, out);
    }

    fn normalize_integers(&self, value: &mut Value) {
        let Node::Rules(rules) = self else { return };
        let wants_integer = rules
            .types
            .as_ref()
            .is_some_and(|t| t.contains(&JsonType::Integer));
        if wants_integer
            && let Value::Number(n) = value
            && let Some(int) = whole_number(n)
        {
            *value = Value::Number(int);
        }
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let node = rules
                        .properties
                        .iter()
                        .find(|(name, _)| name == key)
                        .map(|(_, node)| node)
                        .or(rules.additional.as_ref());
                    if let Some(node) = node {
                        node.normalize_integers(item);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(node) = &rules.items {
                    for item in items {
                        node.normalize_integers(item);
                    }
                }
            }
            _ => {}
        }
        // A whole number equals its integer form, so every alternative
        // that accepted one accepts the other.
        for node in rules
            .all_of
            .iter()
            .chain(&rules.any_of)
            .chain(&rules.one_of)
        {
            node.normalize_integers(value);
        }
    }
}

impl Rules {
    fn check(&self, value: &Value, path: &mut String, out: &mut Vec<Violation>) {
        if let Some(types) = &self.types
            && !types.iter().any(|t| t.matches(value))
        {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            out.push(violation(path, names.join(" or "), value));
            // Every other keyword is about a type the value does not have.
            return;
        }
        if let Some(options) = &self.enumeration
            && !options.iter().any(|o| json_equal(o, value))
        {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            out.push(violation(
                path,
                format!("one of {}", list.join(", ")),
                value,
            ));
        }
        if let Some(constant) = &self.constant
            && !json_equal(constant, value)
        {
            out.push(violation(path, format!("exactly {constant}"), value));
        }
        match value {
            Value::Object(map) => self.check_object(map, value, path, out),
            Value::Array(items) => self.check_array(items, value, path, out),
            Value::Number(n) => self.check_number(n, value, path, out),
            Value::String(s) => self.check_string(s, value, path, out),
            Value::Null | Value::Bool(_) => {}
        }
        self.check_combinators(value, path, out);
    }

    fn check_object(
        &self,
        map: &Map<String, Value>,
        value: &Value,
        path: &mut String,
        out: &mut Vec<Violation>,
    ) {
        for name in &self.required {
            if !map.contains_key(name) {
                out.push(Violation {
                    path: child_pointer(path, name),
                    expected: format!("required property `{name}`"),
                    found: "nothing".to_string(),
                });
            }
        }
        for (key, item) in map {
            let declared = self.properties.iter().find(|(name, _)| name == key);
            let node = match (declared, &self.additional) {
                (Some((_, node)), _) => node,
                (None, Some(node)) => node,
                (None, None) => continue,
            };
            let len = path.len();
            path.push_str(&child_pointer("", key));
            match (declared, node) {
                (None, Node::Bool(false)) => {
                    let known: Vec<&str> =
                        self.properties.iter().map(|(n, _)| n.as_str()).collect();
                    let expected = if known.is_empty() {
                        "no properties here".to_string()
                    } else {
                        format!("no property `{key}` (known: {})", known.join(", "))
                    };
                    out.push(violation(path, expected, item));
                }
                _ => node.check(item, path, out),
            }
            path.truncate(len);
        }
        let n = map.len() as u64;
        if let Some(min) = self.min_properties
            && n < min
        {
            out.push(violation(
                path,
                format!("an object with at least {min} properties"),
                value,
            ));
        }
        if let Some(max) = self.max_properties
            && n > max
        {
            out.push(violation(
                path,
                format!("an object with at most {max} properties"),
                value,
            ));
        }
    }

    fn check_array(
        &self,
        items: &[Value],
        value: &Value,
        path: &mut String,
        out: &mut Vec<Violation>,
    ) {
        if let Some(node) = &self.items {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                node.check(item, path, out);
                path.truncate(len);
            }
        }
        let n = items.len() as u64;
        if let Some(min) = self.min_items
            && n < min
        {
            out.push(violation(
                path,
                format!("an array of at least {min} items"),
                value,
            ));
        }
        if let Some(max) = self.max_items
            && n > max
        {
            out.push(violation(
                path,
                format!("an array of at most {max} items"),
                value,
            ));
        }
        if self.unique_items {
            let duplicate = items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].iter().any(|b| json_equal(a, b)));
            if duplicate {
                out.push(violation(path, "an array of unique items", value));
            }
        }
    }

    fn check_number(
        &self,
        n: &serde_json::Number,
        value: &Value,
        path: &str,
        out: &mut Vec<Violation>,
    ) {
        let Some(x) = n.as_f64() else { return };
        let bounds = [
            (self.minimum, ">=", x >= self.minimum.unwrap_or(f64::NAN)),
            (self.maximum, "<=", x <= self.maximum.unwrap_or(f64::NAN)),
            (
                self.exclusive_minimum,
                ">",
                x > self.exclusive_minimum.unwrap_or(f64::NAN),
            ),
            (
                self.exclusive_maximum,
                "<",
                x < self.exclusive_maximum.unwrap_or(f64::NAN),
            ),
        ];
        let kind = if self
            .types
            .as_ref()
            .is_some_and(|t| t.contains(&JsonType::Integer))
        {
            "integer"
        } else {
            "number"
        };
        for (bound, op, ok) in bounds {
            if let Some(b) = bound
                && !ok
            {
                out.push(violation(
                    path,
                    format!("{kind} {op} {}", fmt_num(b)),
                    value,
                ));
            }
        }
        if let Some(m) = self.multiple_of {
            let q = x / m;
            if !q.is_finite() || (q - q.round()).abs() > 1e-9 {
                out.push(violation(
                    path,
                    format!("a multiple of {}", fmt_num(m)),
                    value,
                ));
            }
        }
    }

    fn check_string(&self, s: &str, value: &Value, path: &str, out: &mut Vec<Violation>) {
        let n = s.chars().count() as u64;
        if let Some(min) = self.min_length
            && n < min
        {
            out.push(violation(
                path,
                format!("a string of at least {min} characters"),
                value,
            ));
        }
        if let Some(max) = self.max_length
            && n > max
        {
            out.push(violation(
                path,
                format!("a string of at most {max} characters"),
                value,
            ));
        }
        if self.base64 {
            use base64::Engine as _;
            if base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .is_err()
            {
                out.push(violation(path, "a base64 string", value));
            }
        }
    }

    fn check_combinators(&self, value: &Value, path: &mut String, out: &mut Vec<Violation>) {
        for node in &self.all_of {
            node.check(value, path, out);
        }
        if !self.any_of.is_empty() {
            // Say why each alternative failed: `(anyOf)` alone leaves the
            // caller guessing which property to fix.
            let mut reasons = Vec::new();
            for node in &self.any_of {
                let mut failed = Vec::new();
                node.check(value, &mut path.clone(), &mut failed);
                if failed.is_empty() {
                    reasons.clear();
                    break;
                }
                let why: Vec<String> = failed.iter().map(Violation::to_string).collect();
                reasons.push(why.join(", "));
            }
            if !reasons.is_empty() {
                out.push(violation(
                    path,
                    format!(
                        "a value matching at least one of {} alternatives (anyOf: {})",
                        self.any_of.len(),
                        reasons.join("; or ")
                    ),
                    value,
                ));
            }
        }
        if !self.one_of.is_empty() {
            let matching = self.one_of.iter().filter(|n| n.matches(value)).count();
            if matching != 1 {
                out.push(violation(
                    path,
                    format!(
                        "a value matching exactly one of {} alternatives (oneOf; it matches {matching})",
                        self.one_of.len()
                    ),
                    value,
                ));
            }
        }
        if let Some(not) = &self.not
            && not.matches(value)
        {
            out.push(violation(
                path,
                "a value not matching the `not` schema",
                value,
            ));
        }
    }
}

fn compile_types(value: &Value, at: &str) -> Result<Vec<JsonType>, SchemaError> {
    let names: Vec<&Value> = match value {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::String(_) => vec![value],
        _ => {
            return Err(err(
                at,
                "`type` must be a type name or a non-empty array of them",
            ));
        }
    };
    names
        .into_iter()
        .map(|n| {
            n.as_str().and_then(JsonType::parse).ok_or_else(|| {
                err(
                    at,
                    format!(
                        "unknown type {n} (expected null, boolean, object, array, number, integer or string)"
                    ),
                )
            })
        })
        .collect()
}

fn compile_list(value: &Value, at: &str) -> Result<Vec<Node>, SchemaError> {
    match value {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, s)| Node::compile(s, &format!("{at}/{i}")))
            .collect(),
        _ => Err(err(at, "must be a non-empty array of schemas")),
    }
}

fn count(value: &Value, at: &str) -> Result<u64, SchemaError> {
    value.as_u64().ok_or_else(|| {
        err(
            at,
            format!("must be a non-negative integer, found {}", describe(value)),
        )
    })
}

fn number(value: &Value, at: &str) -> Result<f64, SchemaError> {
    value
        .as_f64()
        .ok_or_else(|| err(at, format!("must be a number, found {}", describe(value))))
}

fn fmt_num(x: f64) -> String {
    serde_json::Number::from_f64(x)
        .map(|n| {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", x as i64)
            } else {
                n.to_string()
            }
        })
        .unwrap_or_else(|| x.to_string())
}

fn violation(path: &str, expected: impl Into<String>, found: &Value) -> Violation {
    Violation {
        path: path.to_string(),
        expected: expected.into(),
        found: describe(found),
    }
}

/// `string "abc"`, `integer 0`, `object`, … shortened for long values.
fn describe(value: &Value) -> String {
    const MAX: usize = 40;
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if is_integer(n) => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(MAX).collect();
            if shown.len() < s.len() {
                format!("string {:?}… ({} characters)", shown, s.chars().count())
            } else {
                format!("string {shown:?}")
            }
        }
        Value::Array(items) => format!("array of {} items", items.len()),
        Value::Object(map) => format!("object with {} properties", map.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(schema: &Schema, value: Value) -> Vec<(String, String)> {
        schema
            .validate(&value)
            .into_iter()
            .map(|v| (v.path, v.expected))
            .collect()
    }

    fn wordcount() -> Schema {
        Schema::compile(json!({
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "top": {"type": "integer", "minimum": 1, "maximum": 100}
            },
            "required": ["text"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn valid_params_have_no_violations() {
        let s = wordcount();
        assert!(s.validate(&json!({"text": "a b", "top": 3})).is_empty());
        assert!(s.validate(&json!({"text": ""})).is_empty());
        // 2.0 is an integer in JSON Schema.
        assert!(s.validate(&json!({"text": "", "top": 2.0})).is_empty());
    }

    #[test]
    fn every_violation_is_listed_with_its_path() {
        let s = wordcount();
        let got = paths(&s, json!({"top": 0, "extra": true}));
        assert_eq!(
            got,
            vec![
                ("/text".to_string(), "required property `text`".to_string()),
                (
                    "/extra".to_string(),
                    "no property `extra` (known: text, top)".to_string()
                ),
                ("/top".to_string(), "integer >= 1".to_string()),
            ]
        );
        let got = paths(&s, json!({"text": 5, "top": 1.5}));
        assert_eq!(
            got,
            vec![
                ("/text".to_string(), "string".to_string()),
                ("/top".to_string(), "integer".to_string()),
            ]
        );
        assert_eq!(
            paths(&s, json!([1])),
            vec![(String::new(), "object".to_string())]
        );
    }

    #[test]
    fn nested_paths_and_escaping() {
        let s = Schema::compile(json!({
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"a/b": {"enum": ["x", "y"]}}
                }, "maxItems": 2}
            }
        }))
        .unwrap();
        let got = paths(&s, json!({"items": [{"a/b": "x"}, {"a/b": "z"}, {}]}));
        assert_eq!(
            got,
            vec![
                (
                    "/items/1/a~1b".to_string(),
                    "one of \"x\", \"y\"".to_string()
                ),
                (
                    "/items".to_string(),
                    "an array of at most 2 items".to_string()
                ),
            ]
        );
    }

    #[test]
    fn strings_numbers_and_combinators() {
        let s = Schema::compile(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 2, "maxLength": 3},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "step": {"type": "integer", "multipleOf": 5},
                "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "one": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
                "tags": {"type": "array", "uniqueItems": true},
                "mode": {"const": "fast"},
                "nothing": false
            },
            "additionalProperties": {"type": "boolean"}
        }))
        .unwrap();
        assert!(
            s.validate(
                &json!({"name": "ab", "ratio": 0.5, "step": 10, "id": 3, "one": 1.5,
                              "tags": [1, 2], "mode": "fast", "flag": true})
            )
            .is_empty()
        );
        let got = paths(
            &s,
            json!({"name": "abcd", "ratio": 1, "step": 7, "id": null, "one": 1,
                   "tags": [1, 1], "mode": "slow", "nothing": 1, "flag": "yes"}),
        );
        // In key order (serde_json sorts object keys).
        let got: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            got,
            vec![
                "/flag", "/id", "/mode", "/name", "/nothing", "/one", "/ratio", "/step", "/tags"
            ]
        );
        assert_eq!(
            paths(&s, json!({"name": "a"}))[0].1,
            "a string of at least 2 characters"
        );
    }

    #[test]
    fn unsupported_or_malformed_schemas_are_rejected_at_compile_time() {
        let e = Schema::compile(json!({"type": "object", "properties": {"a": {"pattern": "^x"}}}))
            .unwrap_err();
        assert_eq!(e.pointer, "/properties/a/pattern");
        assert!(e.message.contains("`pattern` is not supported"), "{e}");
        let e = Schema::compile(json!({"$ref": "#/$defs/x"})).unwrap_err();
        assert_eq!(e.pointer, "/$ref");
        let e = Schema::compile(json!({"type": "float"})).unwrap_err();
        assert!(e.message.contains("unknown type"), "{e}");
        let e = Schema::compile(json!({"minimum": "1"})).unwrap_err();
        assert!(e.message.contains("must be a number"), "{e}");
        let e = Schema::compile(json!({"required": "text"})).unwrap_err();
        assert_eq!(e.pointer, "/required");
        assert!(Schema::compile(json!(3)).is_err());
        assert!(
            Schema::parse("{not json")
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
        // Annotations are fine.
        Schema::compile(json!({"title": "t", "description": "d", "default": 1, "format": "uri",
                               "examples": [1], "$schema": "https://json-schema.org/draft/2020-12/schema"}))
        .unwrap();
    }

    #[test]
    fn boolean_schemas_and_default() {
        assert!(
            Schema::compile(json!(true))
                .unwrap()
                .validate(&json!(1))
                .is_empty()
        );
        assert_eq!(
            Schema::compile(json!(false))
                .unwrap()
                .validate(&json!(1))
                .len(),
            1
        );
        let d = Schema::default();
        assert!(d.validate(&json!({})).is_empty());
        assert_eq!(d.validate(&json!({"x": 1}))[0].path, "/x");
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let s = Schema::compile(json!({
            "type": "object",
            "properties": {
                "top": {"type": "integer", "minimum": 1},
                "ratio": {"type": "number"},
                "sizes": {"type": "array", "items": {"type": "integer"}},
                "mode": {"enum": [1, 2]},
                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]}
            },
            "additionalProperties": {"type": "integer"}
        }))
        .unwrap();
        let mut params = json!({"top": 298.0, "ratio": 2.0, "sizes": [1.0, 3e2, -4.0],
                                "mode": 2.0, "either": 5.0, "extra": 1e3, "big": 1e300});
        assert!(s.validate(&params).is_empty(), "{:?}", s.validate(&params));
        s.normalize_integers(&mut params);
        assert_eq!(params["top"], json!(298));
        assert!(params["top"].is_u64());
        assert!(params["ratio"].is_f64(), "a number stays as written");
        assert_eq!(params["sizes"], json!([1, 300, -4]));
        assert!(params["sizes"][2].is_i64());
        assert!(params["either"].is_u64());
        assert!(params["extra"].is_u64());
        assert!(params["big"].is_f64(), "beyond 64 bits: left alone");
        let typed: u64 = serde_json::from_value(params["top"].clone()).unwrap();
        assert_eq!(typed, 298);
        // Not whole: refused, never rounded.
        assert_eq!(paths(&s, json!({"top": 2.5}))[0].0, "/top");
        // `const` and `uniqueItems` compare numbers by value too.
        let c = Schema::compile(json!({"const": 3, "type": "integer"})).unwrap();
        assert!(c.validate(&json!(3.0)).is_empty());
        let u = Schema::compile(json!({"uniqueItems": true})).unwrap();
        assert_eq!(u.validate(&json!([1, 1.0])).len(), 1);
        assert!(
            u.validate(&json!([1, 1.5, [1], {"a": 1}, {"a": 2}]))
                .is_empty()
        );
    }

    #[test]
    fn base64_content_is_asserted() {
        let s = Schema::compile(json!({"type": "string", "contentEncoding": "base64"})).unwrap();
        assert!(s.validate(&json!("aGk=")).is_empty());
        assert!(s.validate(&json!("")).is_empty());
        let v = s.validate(&json!("%%"));
        assert_eq!(v[0].expected, "a base64 string");
        assert_eq!(s.validate(&json!("aGk")).len(), 1, "unpadded");
        let e = Schema::compile(json!({"contentEncoding": "base32"})).unwrap_err();
        assert_eq!(e.pointer, "/contentEncoding");
    }

    #[test]
    fn violation_display() {
        let v = &wordcount().validate(&json!({"text": "x", "top": 500}))[0];
        assert_eq!(
            v.to_string(),
            "/top: expected integer <= 100, found integer 500"
        );
    }
}
