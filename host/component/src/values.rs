//! Converting between JSON and component values, guided by the types a
//! component declares.
//!
//! This is the mapping behind `warden call` and the exercise grader: the
//! caller writes plain JSON and the function's own parameter types decide
//! what it means. The rules, per WIT type:
//!
//! | WIT | JSON in | JSON out |
//! |---|---|---|
//! | `bool`, `string` | the same | the same |
//! | integers | a number, range-checked (no silent truncation) | a number |
//! | `f32`, `f64` | a number | a number (`"NaN"`, `"inf"`, `"-inf"` as strings) |
//! | `char` | a one-character string | the same |
//! | `list<u8>` | an array of bytes, or a string (its UTF-8 bytes) | an array |
//! | `list<T>` | an array | an array |
//! | `list<tuple<string, T>>` | an array of pairs, or an object (a map) | an array of pairs |
//! | `record` | an object; keys match field names in kebab-case, lowerCamelCase or snake_case | an object |
//! | `tuple` | an array of the right length | an array |
//! | `enum` | a string; `"Earth"`, `"earth"`, `"NOT_EQUAL"` all match case-insensitively after kebab-casing | a string |
//! | `variant` | `{"case": payload}` or `"case"` | the same |
//! | `option<T>` | `null` or T | the same |
//! | `result<T, E>` | `{"ok": T}` or `{"err": E}` | the same |
//! | `flags` | an array of names | the same |
//!
//! Errors carry a JSON path (`$[1].sides[0]`) and what was expected.

use serde_json::{Map as JsonMap, Value as Json};
use wasmtime::component::Val;
use wasmtime::component::types::{
    Enum, FixedLengthList, Flags, List, Map, OptionType, Record, ResultType, Tuple, Type, Variant,
};

use crate::wit_text::type_text;

/// A JSON value that does not fit the declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument {path}: expected {expected}, found {found}")]
pub struct ValueError {
    /// Where in the arguments, as a JSON path (`$[0].name`).
    pub path: String,
    /// What the type asked for.
    pub expected: String,
    /// What was there instead.
    pub found: String,
}

/// Converts `json` to a value of type `ty`. `path` names the value in
/// errors (`$[0]` for the first argument).
pub fn json_to_val(json: &Json, ty: &Type, path: &str) -> Result<Val, ValueError> {
    match ty {
        Type::Bool => boolean(json, path),
        Type::S8 => int(json, path, "s8").map(Val::S8),
        Type::U8 => int(json, path, "u8").map(Val::U8),
        Type::S16 => int(json, path, "s16").map(Val::S16),
        Type::U16 => int(json, path, "u16").map(Val::U16),
        Type::S32 => int(json, path, "s32").map(Val::S32),
        Type::U32 => int(json, path, "u32").map(Val::U32),
        Type::S64 => int(json, path, "s64").map(Val::S64),
        Type::U64 => int(json, path, "u64").map(Val::U64),
        Type::Float32 => float32(json, path),
        Type::Float64 => float64(json, path),
        Type::Char => char_val(json, path),
        Type::String => string(json, path),
        Type::List(list) => list_val(json, list, ty, path),
        Type::FixedLengthList(list) => fixed_length_list(json, list, path),
        Type::Tuple(tuple) => tuple_val(json, tuple, ty, path),
        Type::Map(map) => map_val(json, map, path),
        Type::Record(record) => record_val(json, record, ty, path),
        Type::Enum(e) => enum_val(json, e, path),
        Type::Variant(variant) => variant_val(json, variant, path),
        Type::Option(option) => option_val(json, option, path),
        Type::Result(result) => result_val(json, result, path),
        Type::Flags(flags) => flags_val(json, flags, path),
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Err(mismatch(
                json,
                path,
                format!(
                    "a value of type {}, which cannot be written as JSON",
                    type_text(ty)
                ),
            ))
        }
    }
}

/// `json`, at `path`, is not what the type asked for.
fn mismatch(json: &Json, path: &str, expected: impl Into<String>) -> ValueError {
    ValueError {
        path: path.to_string(),
        expected: expected.into(),
        found: describe(json),
    }
}

// ------------------------------------------------------ scalars and text

fn boolean(json: &Json, path: &str) -> Result<Val, ValueError> {
    json.as_bool()
        .map(Val::Bool)
        .ok_or_else(|| mismatch(json, path, "a boolean"))
}

/// An integer of the type `name`, range-checked: a number that does not
/// fit is refused, never cut.
fn int<T: TryFrom<i64> + TryFrom<u64>>(
    json: &Json,
    path: &str,
    name: &str,
) -> Result<T, ValueError> {
    let fail = || mismatch(json, path, format!("an integer that fits {name}"));
    if let Some(u) = json.as_u64() {
        T::try_from(u).map_err(|_| fail())
    } else if let Some(i) = json.as_i64() {
        T::try_from(i).map_err(|_| fail())
    } else {
        Err(fail())
    }
}

fn float32(json: &Json, path: &str) -> Result<Val, ValueError> {
    f32_of(json)
        .map(Val::Float32)
        .ok_or_else(|| mismatch(json, path, "a number that fits f32"))
}

fn float64(json: &Json, path: &str) -> Result<Val, ValueError> {
    json.as_f64()
        .map(Val::Float64)
        .ok_or_else(|| mismatch(json, path, "a number"))
}

fn char_val(json: &Json, path: &str) -> Result<Val, ValueError> {
    let first_two = json.as_str().map(|s| {
        let mut chars = s.chars();
        (chars.next(), chars.next())
    });
    match first_two {
        Some((Some(c), None)) => Ok(Val::Char(c)),
        _ => Err(mismatch(json, path, "a one-character string")),
    }
}

fn string(json: &Json, path: &str) -> Result<Val, ValueError> {
    json.as_str()
        .map(|s| Val::String(s.to_string()))
        .ok_or_else(|| mismatch(json, path, "a string"))
}

// -------------------------------------------------- lists, tuples, maps

/// A `list<T>`: an array; for `list<u8>` also a string (its UTF-8 bytes),
/// for `list<tuple<K, V>>` also an object (a map).
fn list_val(json: &Json, list: &List, ty: &Type, path: &str) -> Result<Val, ValueError> {
    let elem = list.ty();
    let not_an_array = || mismatch(json, path, format!("an array ({})", type_text(ty)));
    match json {
        Json::String(s) if matches!(elem, Type::U8) => {
            Ok(Val::List(s.bytes().map(Val::U8).collect()))
        }
        Json::Object(map) => {
            let (key_ty, value_ty) = pair_types(&elem).ok_or_else(not_an_array)?;
            let pairs = object_entries(map, &key_ty, &value_ty, path)?;
            Ok(Val::List(
                pairs
                    .into_iter()
                    .map(|(key, value)| Val::Tuple(vec![key, value]))
                    .collect(),
            ))
        }
        Json::Array(items) => elements(items, std::iter::repeat(&elem), path).map(Val::List),
        _ => Err(not_an_array()),
    }
}

fn fixed_length_list(json: &Json, list: &FixedLengthList, path: &str) -> Result<Val, ValueError> {
    let items = json
        .as_array()
        .filter(|a| a.len() == list.len() as usize)
        .ok_or_else(|| mismatch(json, path, format!("an array of {} items", list.len())))?;
    elements(items, std::iter::repeat(&list.ty()), path).map(Val::FixedLengthList)
}

fn tuple_val(json: &Json, tuple: &Tuple, ty: &Type, path: &str) -> Result<Val, ValueError> {
    let types: Vec<Type> = tuple.types().collect();
    let items = json
        .as_array()
        .filter(|a| a.len() == types.len())
        .ok_or_else(|| {
            mismatch(
                json,
                path,
                format!("an array of {} items ({})", types.len(), type_text(ty)),
            )
        })?;
    elements(items, types.iter(), path).map(Val::Tuple)
}

/// A `map<K, V>`: an object, or an array of `[key, value]` pairs.
fn map_val(json: &Json, map: &Map, path: &str) -> Result<Val, ValueError> {
    let (key_ty, value_ty) = (map.key(), map.value());
    match json {
        Json::Object(entries) => object_entries(entries, &key_ty, &value_ty, path).map(Val::Map),
        Json::Array(items) => array_pairs(items, &key_ty, &value_ty, path).map(Val::Map),
        _ => Err(mismatch(json, path, "an object or an array of pairs")),
    }
}

/// Each item as the type beside it, at `path[i]`; the first that does not
/// fit is the error.
fn elements<'t>(
    items: &[Json],
    types: impl Iterator<Item = &'t Type>,
    path: &str,
) -> Result<Vec<Val>, ValueError> {
    items
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (item, ty))| json_to_val(item, ty, &format!("{path}[{i}]")))
        .collect()
}

/// The two types of a `tuple<K, V>`, whose lists may be written as objects.
fn pair_types(ty: &Type) -> Option<(Type, Type)> {
    let Type::Tuple(tuple) = ty else {
        return None;
    };
    let mut types = tuple.types();
    match (types.next(), types.next(), types.next()) {
        (Some(key), Some(value), None) => Some((key, value)),
        _ => None,
    }
}

/// An object's entries as (key, value) pairs, both at `path.KEY`.
fn object_entries(
    entries: &JsonMap<String, Json>,
    key_ty: &Type,
    value_ty: &Type,
    path: &str,
) -> Result<Vec<(Val, Val)>, ValueError> {
    entries
        .iter()
        .map(|(key, value)| {
            let p = format!("{path}.{key}");
            Ok((
                json_to_val(&Json::String(key.clone()), key_ty, &p)?,
                json_to_val(value, value_ty, &p)?,
            ))
        })
        .collect()
}

/// An array of `[key, value]` pairs, each at `path[i]`.
fn array_pairs(
    items: &[Json],
    key_ty: &Type,
    value_ty: &Type,
    path: &str,
) -> Result<Vec<(Val, Val)>, ValueError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = format!("{path}[{i}]");
            match item.as_array().map(Vec::as_slice) {
                Some([key, value]) => Ok((
                    json_to_val(key, key_ty, &p)?,
                    json_to_val(value, value_ty, &p)?,
                )),
                _ => Err(mismatch(item, &p, "a [key, value] pair")),
            }
        })
        .collect()
}

// ------------------------------------------------------------- records

/// An object whose keys name the fields in any of the accepted spellings;
/// a missing `option` field is `none`, any other missing field, an
/// unknown key or a field given twice is refused.
fn record_val(json: &Json, record: &Record, ty: &Type, path: &str) -> Result<Val, ValueError> {
    let obj = json
        .as_object()
        .ok_or_else(|| mismatch(json, path, format!("an object ({})", type_text(ty))))?;
    let mut fields = Vec::new();
    let mut used = 0;
    for field in record.fields() {
        let p = format!("{path}.{}", field.name);
        match lookup_key(obj, field.name) {
            Some(value) => {
                used += 1;
                fields.push((field.name.to_string(), json_to_val(value, &field.ty, &p)?));
            }
            None if matches!(field.ty, Type::Option(_)) => {
                fields.push((field.name.to_string(), Val::Option(None)));
            }
            None => {
                return Err(ValueError {
                    path: p,
                    expected: format!("field `{}` ({})", field.name, type_text(&field.ty)),
                    found: "nothing".into(),
                });
            }
        }
    }
    if used != obj.len() {
        let names: Vec<String> = record.fields().map(|f| f.name.to_string()).collect();
        if let Some(err) = leftover_key(obj, &names, path) {
            return Err(err);
        }
    }
    Ok(Val::Record(fields))
}

/// Why an object has more keys than the fields it matched: a key naming
/// no field, or a field spelled twice.
fn leftover_key(obj: &JsonMap<String, Json>, names: &[String], path: &str) -> Option<ValueError> {
    if let Some(extra) = obj
        .keys()
        .find(|k| !names.iter().any(|n| *n == kebab_case(k)))
    {
        return Some(ValueError {
            path: format!("{path}.{extra}"),
            expected: format!("one of the fields {}", names.join(", ")),
            found: format!("unknown field `{extra}`"),
        });
    }
    // Every key names a field, so one field is spelled twice
    // (`maxLen`, `max_len`): which one counts would be a guess.
    let twice = names.iter().find_map(|name| {
        let spellings: Vec<&str> = obj
            .keys()
            .filter(|k| *k == name || kebab_case(k) == *name)
            .map(String::as_str)
            .collect();
        (spellings.len() > 1).then_some((name, spellings))
    });
    twice.map(|(name, spellings)| ValueError {
        path: format!("{path}.{name}"),
        expected: format!("field `{name}` once"),
        found: format!(
            "it spelled {} ways: {}",
            spellings.len(),
            spellings.join(", ")
        ),
    })
}

// ------------------------------ enums, variants, options, results, flags

fn enum_val(json: &Json, e: &Enum, path: &str) -> Result<Val, ValueError> {
    json.as_str()
        .and_then(|s| match_name(s, e.names()))
        .map(Val::Enum)
        .ok_or_else(|| mismatch(json, path, format!("one of {}", quoted(e.names()))))
}

/// `"case"`, or `{"case": payload}`; the payload at `path.case`.
fn variant_val(json: &Json, variant: &Variant, path: &str) -> Result<Val, ValueError> {
    let fail = || {
        let cases = quoted(variant.cases().map(|c| c.name));
        mismatch(json, path, format!("one of the cases {cases}"))
    };
    let (case_name, payload) = match json {
        Json::String(s) => (s.as_str(), None),
        Json::Object(obj) => {
            let (key, value) = only_entry(obj).ok_or_else(fail)?;
            (key.as_str(), Some(value))
        }
        _ => return Err(fail()),
    };
    let case = variant
        .cases()
        .find(|c| match_name(case_name, std::iter::once(c.name)).is_some())
        .ok_or_else(fail)?;
    let p = format!("{path}.{}", case.name);
    let value = match (&case.ty, payload) {
        (None, None) | (None, Some(Json::Null)) => None,
        (Some(t), Some(payload)) => Some(Box::new(json_to_val(payload, t, &p)?)),
        (Some(t), None) => {
            return Err(ValueError {
                path: p,
                expected: format!("a payload of type {}", type_text(t)),
                found: "no payload".into(),
            });
        }
        (None, Some(other)) => {
            return Err(ValueError {
                path: p,
                expected: "no payload".into(),
                found: describe(other),
            });
        }
    };
    Ok(Val::Variant(case.name.to_string(), value))
}

fn option_val(json: &Json, option: &OptionType, path: &str) -> Result<Val, ValueError> {
    match json {
        Json::Null => Ok(Val::Option(None)),
        other => Ok(Val::Option(Some(Box::new(json_to_val(
            other,
            &option.ty(),
            path,
        )?)))),
    }
}

/// `{"ok": T}` or `{"err": E}` (`"error"` too), the payload at `path.ok`
/// or `path.err`.
fn result_val(json: &Json, result: &ResultType, path: &str) -> Result<Val, ValueError> {
    let fail = || mismatch(json, path, "{\"ok\": …} or {\"err\": …}");
    let (key, value) = json.as_object().and_then(only_entry).ok_or_else(fail)?;
    let branch = |t: Option<Type>, p: String| -> Result<Option<Box<Val>>, ValueError> {
        match t {
            Some(t) => Ok(Some(Box::new(json_to_val(value, &t, &p)?))),
            None => Ok(None),
        }
    };
    match key.as_str() {
        "ok" => Ok(Val::Result(Ok(branch(result.ok(), format!("{path}.ok"))?))),
        "err" | "error" => Ok(Val::Result(Err(branch(
            result.err(),
            format!("{path}.err"),
        )?))),
        _ => Err(fail()),
    }
}

fn flags_val(json: &Json, flags: &Flags, path: &str) -> Result<Val, ValueError> {
    let items = json.as_array().ok_or_else(|| {
        mismatch(
            json,
            path,
            format!("an array of flag names from {}", quoted(flags.names())),
        )
    })?;
    let mut set = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = item
            .as_str()
            .and_then(|s| match_name(s, flags.names()))
            .ok_or_else(|| {
                mismatch(
                    item,
                    &format!("{path}[{i}]"),
                    format!("one of {}", quoted(flags.names())),
                )
            })?;
        set.push(name);
    }
    Ok(Val::Flags(set))
}

/// The one entry of an object that has exactly one.
fn only_entry(obj: &JsonMap<String, Json>) -> Option<(&String, &Json)> {
    let mut entries = obj.iter();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Some(entry),
        _ => None,
    }
}

/// Converts a component value to JSON (see the module table).
pub fn val_to_json(val: &Val) -> Json {
    match val {
        Val::Bool(b) => Json::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        Val::Float32(f) => float_json(f64::from(*f)),
        Val::Float64(f) => float_json(*f),
        Val::Char(c) => Json::String(c.to_string()),
        Val::String(s) => Json::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(val_to_json).collect())
        }
        Val::Map(pairs) => Json::Array(
            pairs
                .iter()
                .map(|(k, v)| Json::Array(vec![val_to_json(k), val_to_json(v)]))
                .collect(),
        ),
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), val_to_json(v)))
                .collect(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => Json::String(name.clone()),
        Val::Variant(name, Some(payload)) => single(name, val_to_json(payload)),
        Val::Option(None) => Json::Null,
        Val::Option(Some(v)) => val_to_json(v),
        Val::Result(Ok(v)) => single("ok", v.as_deref().map_or(Json::Null, val_to_json)),
        Val::Result(Err(v)) => single("err", v.as_deref().map_or(Json::Null, val_to_json)),
        Val::Flags(names) => Json::Array(names.iter().cloned().map(Json::String).collect()),
        Val::Resource(_) => Json::String("<resource>".into()),
        Val::Future(_) => Json::String("<future>".into()),
        Val::Stream(_) => Json::String("<stream>".into()),
        Val::ErrorContext(_) => Json::String("<error-context>".into()),
    }
}

/// `someName`, `some_name`, `Some Name` → `some-name`.
pub fn kebab_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower_or_digit = false;
    for c in name.chars() {
        if c == '_' || c == '-' || c == ' ' {
            if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            prev_lower_or_digit = false;
        } else if c.is_uppercase() {
            if prev_lower_or_digit && !out.ends_with('-') {
                out.push('-');
            }
            out.extend(c.to_lowercase());
            prev_lower_or_digit = false;
        } else {
            out.push(c);
            prev_lower_or_digit = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

fn match_name<'a>(given: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let wanted = kebab_case(given).to_lowercase();
    let given_lower = given.to_lowercase();
    names
        .into_iter()
        .find(|n| *n == given || n.to_lowercase() == wanted || n.to_lowercase() == given_lower)
        .map(str::to_string)
}

fn lookup_key<'a>(obj: &'a JsonMap<String, Json>, field: &str) -> Option<&'a Json> {
    obj.get(field).or_else(|| {
        obj.iter()
            .find(|(k, _)| kebab_case(k) == field)
            .map(|(_, v)| v)
    })
}

/// A JSON number as `f32`; `None` for one too large for it (it would
/// silently become infinity, as an integer out of range would be cut).
fn f32_of(json: &Json) -> Option<f32> {
    let narrowed = json.as_f64()? as f32;
    narrowed.is_finite().then_some(narrowed)
}

fn float_json(f: f64) -> Json {
    match serde_json::Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("inf".into()),
        None => Json::String("-inf".into()),
    }
}

fn single(key: &str, value: Json) -> Json {
    let mut map = JsonMap::new();
    map.insert(key.to_string(), value);
    Json::Object(map)
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A short description of a JSON value for error messages.
pub fn describe(json: &Json) -> String {
    let text = match json {
        Json::Null => return "null".into(),
        Json::Bool(b) => return format!("boolean {b}"),
        Json::Number(n) => return format!("number {n}"),
        Json::String(_) => json.to_string(),
        Json::Array(a) => format!("an array of {} items", a.len()),
        Json::Object(_) => "an object".to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_handles_the_spellings_exercises_use() {
        assert_eq!(kebab_case("squareOfSum"), "square-of-sum");
        assert_eq!(kebab_case("leap_year"), "leap-year");
        assert_eq!(kebab_case("Earth"), "earth");
        assert_eq!(kebab_case("isEquilateral"), "is-equilateral");
        assert_eq!(kebab_case("already-kebab"), "already-kebab");
        assert_eq!(kebab_case("strand1"), "strand1");
    }

    #[test]
    fn enum_names_match_case_insensitively() {
        let names = ["earth", "not-equal"];
        assert_eq!(
            match_name("Earth", names.iter().copied()).as_deref(),
            Some("earth")
        );
        assert_eq!(
            match_name("NotEqual", names.iter().copied()).as_deref(),
            Some("not-equal")
        );
        assert_eq!(match_name("pluto", names.iter().copied()), None);
    }

    #[test]
    fn a_number_too_large_for_f32_is_refused() {
        assert_eq!(f32_of(&serde_json::json!(1.5)), Some(1.5));
        assert_eq!(f32_of(&serde_json::json!(-3.4e38)), Some(-3.4e38));
        assert_eq!(f32_of(&serde_json::json!(3.5e38)), None);
        assert_eq!(f32_of(&serde_json::json!(-1e300)), None);
        assert_eq!(f32_of(&serde_json::json!("1.5")), None);
    }

    #[test]
    fn a_record_field_given_twice_is_refused() {
        let target = crate::fuzzing::JsonValues::new(
            &wat::parse_str(crate::fuzzing::VALUES_WAT).expect("values.wat parses"),
        )
        .expect("values.wat prepares");
        let point = target.param_type("record", 0);
        let once = serde_json::json!({"x": 1, "y": 2, "label": "", "tags": []});
        assert!(json_to_val(&once, &point, "$[0]").is_ok());
        let mut twice = once.clone();
        twice["Label"] = "b".into();
        let err = json_to_val(&twice, &point, "$[0]").unwrap_err();
        assert_eq!(err.path, "$[0].label");
        assert!(err.found.contains("Label, label"), "{err}");
    }

    /// Each type family's mapping and error messages, pinned: a function
    /// of values.wat, the index of its parameter, a JSON argument `=>` what
    /// it maps to (`ok` and the value written back) or the error.
    const PINNED: &str = r#"
scalars 0 "yes" => argument $: expected a boolean, found "yes"
scalars 0 true => ok true
scalars 1 200 => argument $: expected an integer that fits s8, found number 200
scalars 1 -5 => ok -5
scalars 2 -1 => argument $: expected an integer that fits u8, found number -1
scalars 2 1.5 => argument $: expected an integer that fits u8, found number 1.5
scalars 8 18446744073709551615 => ok 18446744073709551615
scalars 8 -1 => argument $: expected an integer that fits u64, found number -1
scalars 7 -9223372036854775808 => ok -9223372036854775808
scalars 9 3.5e38 => argument $: expected a number that fits f32, found number 3.5e+38
scalars 9 1.5 => ok 1.5
scalars 10 "x" => argument $: expected a number, found "x"
scalars 10 -2.25 => ok -2.25
scalars 11 "ab" => argument $: expected a one-character string, found "ab"
scalars 11 "" => argument $: expected a one-character string, found ""
scalars 11 5 => argument $: expected a one-character string, found number 5
scalars 11 "é" => ok "é"
scalars 12 5 => argument $: expected a string, found number 5
scalars 12 "text" => ok "text"
lists 0 "hi" => ok [104,105]
lists 0 [1, 2] => ok [1,2]
lists 0 [256] => argument $[0]: expected an integer that fits u8, found number 256
lists 0 {} => argument $: expected an array (list<u8>), found an object
lists 1 "hi" => argument $: expected an array (list<string>), found "hi"
lists 1 ["a", 3] => argument $[1]: expected a string, found number 3
lists 2 {"a": 1, "b": "x"} => argument $.b: expected an integer that fits s32, found "x"
lists 2 {"a": 1} => ok [["a",1]]
lists 2 [["a", 1]] => ok [["a",1]]
lists 2 [["a"]] => argument $[0]: expected an array of 2 items (tuple<string, s32>), found an array of 1 items
lists 2 5 => argument $: expected an array (list<tuple<string, s32>>), found number 5
lists 3 [[1], [70000]] => argument $[1][0]: expected an integer that fits u16, found number 70000
record 0 {"x": 1, "y": 2, "label": "", "tags": []} => ok {"label":"","maybe":null,"tags":[],"x":1,"y":2.0}
record 0 {"x": 1, "y": 2, "Label": "", "tags": [], "maybe": 3} => ok {"label":"","maybe":3,"tags":[],"x":1,"y":2.0}
record 0 {"y": 2, "label": "", "tags": []} => argument $.x: expected field `x` (s32), found nothing
record 0 {"x": 1, "y": 2, "label": "", "tags": [], "z": 0} => argument $.z: expected one of the fields x, y, label, tags, maybe, found unknown field `z`
record 0 {"x": 1, "y": 2, "label": "", "Label": "", "tags": []} => argument $.label: expected field `label` once, found it spelled 2 ways: Label, label
record 0 {"x": 1, "y": 2, "label": "", "tags": [5]} => argument $.tags[0]: expected a string, found number 5
record 0 [1, 2] => argument $: expected an object (record { x: s32, y: f64, label: string, tags: list<string>, maybe: option<u8> }), found an array of 2 items
choices 0 "DARK_BLUE" => ok "dark-blue"
choices 0 "darkBlue" => ok "dark-blue"
choices 0 "pink" => argument $: expected one of "red", "green", "dark-blue", found "pink"
choices 0 5 => argument $: expected one of "red", "green", "dark-blue", found number 5
choices 1 {"circle": 1.5} => ok {"circle":1.5}
choices 1 "empty" => ok "empty"
choices 1 {"empty": null} => ok "empty"
choices 1 "circle" => argument $.circle: expected a payload of type f32, found no payload
choices 1 {"empty": 1} => argument $.empty: expected no payload, found number 1
choices 1 {"circle": 1, "rect": [1, 2]} => argument $: expected one of the cases "circle", "rect", "empty", found an object
choices 1 {"square": 1} => argument $: expected one of the cases "circle", "rect", "empty", found an object
choices 1 {"rect": [1]} => argument $.rect: expected an array of 2 items (tuple<u32, u32>), found an array of 1 items
choices 1 5 => argument $: expected one of the cases "circle", "rect", "empty", found number 5
choices 2 ["read", "WRITE"] => ok ["read","write"]
choices 2 ["x"] => argument $[0]: expected one of "read", "write", "exec", found "x"
choices 2 "read" => argument $: expected an array of flag names from "read", "write", "exec", found "read"
choices 3 {"ok": "x"} => ok {"ok":"x"}
choices 3 {"error": 3} => ok {"err":3}
choices 3 {"err": 300} => argument $.err: expected an integer that fits u8, found number 300
choices 3 {"maybe": 1} => argument $: expected {"ok": …} or {"err": …}, found an object
choices 3 {} => argument $: expected {"ok": …} or {"err": …}, found an object
choices 3 {"ok": "x", "err": 1} => argument $: expected {"ok": …} or {"err": …}, found an object
choices 4 null => ok null
choices 4 5 => ok 5
choices 4 "x" => argument $: expected an integer that fits s64, found "x"
nested 0 [null, {"x": 1, "y": 2, "label": "", "tags": []}] => ok [null,{"label":"","maybe":null,"tags":[],"x":1,"y":2.0}]
nested 0 [{"x": "1"}] => argument $[0].x: expected an integer that fits s32, found "1"
nested 1 [true, ["red"], {"ok": null}] => ok [true,["red"],{"ok":null}]
nested 1 [true] => argument $: expected an array of 3 items (tuple<bool, list<enum { red, green, dark-blue }>, result<_, string>>), found an array of 1 items
nested 1 [true, ["red"], {"err": 5}] => argument $[2].err: expected a string, found number 5
nested 1 [true, ["red"], {"ok": 5}] => ok [true,["red"],{"ok":null}]
wide 0 [1, 2, 3] => argument $: expected an array of 9 items (tuple<u64, u64, u64, u64, u64, u64, u64, u64, u64>), found an array of 3 items
"#;

    #[test]
    fn each_family_maps_and_refuses_as_pinned() {
        let target = crate::fuzzing::JsonValues::new(
            &wat::parse_str(crate::fuzzing::VALUES_WAT).expect("values.wat parses"),
        )
        .expect("values.wat prepares");
        for case in PINNED.lines().filter(|l| !l.is_empty()) {
            let (given, want) = case.split_once(" => ").expect("a case has `=>`");
            let mut parts = given.splitn(3, ' ');
            let (Some(function), Some(index), Some(json)) =
                (parts.next(), parts.next(), parts.next())
            else {
                panic!("a case is `function index json`: {case}");
            };
            let ty = target.param_type(function, index.parse().expect("an index"));
            let value: Json = serde_json::from_str(json).expect("the case is JSON");
            let got = match json_to_val(&value, &ty, "$") {
                Ok(val) => format!("ok {}", val_to_json(&val)),
                Err(err) => err.to_string(),
            };
            assert_eq!(got, want, "{given}");
        }
    }

    #[test]
    fn floats_that_json_cannot_hold_become_strings() {
        assert_eq!(float_json(f64::NAN), Json::String("NaN".into()));
        assert_eq!(float_json(f64::INFINITY), Json::String("inf".into()));
        assert_eq!(float_json(1.5), serde_json::json!(1.5));
    }
}
