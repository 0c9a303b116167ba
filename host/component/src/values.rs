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

use serde_json::{Map, Value as Json};
use wasmtime::component::Val;
use wasmtime::component::types::Type;

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
    let fail = |expected: String| ValueError {
        path: path.to_string(),
        expected,
        found: describe(json),
    };
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| fail("a boolean".into()))?),
        Type::S8 => Val::S8(int(json, path, "s8")?),
        Type::U8 => Val::U8(int(json, path, "u8")?),
        Type::S16 => Val::S16(int(json, path, "s16")?),
        Type::U16 => Val::U16(int(json, path, "u16")?),
        Type::S32 => Val::S32(int(json, path, "s32")?),
        Type::U32 => Val::U32(int(json, path, "u32")?),
        Type::S64 => Val::S64(int(json, path, "s64")?),
        Type::U64 => Val::U64(int(json, path, "u64")?),
        Type::Float32 => {
            Val::Float32(f32_of(json).ok_or_else(|| fail("a number that fits f32".into()))?)
        }
        Type::Float64 => Val::Float64(json.as_f64().ok_or_else(|| fail("a number".into()))?),
        Type::Char => {
            let s = json
                .as_str()
                .ok_or_else(|| fail("a one-character string".into()))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(fail("a one-character string".into())),
            }
        }
        Type::String => Val::String(
            json.as_str()
                .ok_or_else(|| fail("a string".into()))?
                .to_string(),
        ),
        Type::List(list) => {
            let elem = list.ty();
            match (json, &elem) {
                (Json::String(s), Type::U8) => Val::List(s.bytes().map(Val::U8).collect()),
                (Json::Object(map), Type::Tuple(t)) if t.types().len() == 2 => {
                    let types: Vec<Type> = t.types().collect();
                    let mut items = Vec::with_capacity(map.len());
                    for (key, value) in map {
                        let item_path = format!("{path}.{key}");
                        items.push(Val::Tuple(vec![
                            json_to_val(&Json::String(key.clone()), &types[0], &item_path)?,
                            json_to_val(value, &types[1], &item_path)?,
                        ]));
                    }
                    Val::List(items)
                }
                (Json::Array(items), _) => Val::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| json_to_val(item, &elem, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(fail(format!("an array ({})", type_text(ty)))),
            }
        }
        Type::FixedLengthList(list) => {
            let items = json
                .as_array()
                .filter(|a| a.len() == list.len() as usize)
                .ok_or_else(|| fail(format!("an array of {} items", list.len())))?;
            let elem = list.ty();
            Val::FixedLengthList(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| json_to_val(item, &elem, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Map(map_ty) => {
            let (kt, vt) = (map_ty.key(), map_ty.value());
            let mut pairs = Vec::new();
            match json {
                Json::Object(map) => {
                    for (key, value) in map {
                        let p = format!("{path}.{key}");
                        pairs.push((
                            json_to_val(&Json::String(key.clone()), &kt, &p)?,
                            json_to_val(value, &vt, &p)?,
                        ));
                    }
                }
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let p = format!("{path}[{i}]");
                        let pair =
                            item.as_array()
                                .filter(|a| a.len() == 2)
                                .ok_or_else(|| ValueError {
                                    path: p.clone(),
                                    expected: "a [key, value] pair".into(),
                                    found: describe(item),
                                })?;
                        pairs.push((
                            json_to_val(&pair[0], &kt, &p)?,
                            json_to_val(&pair[1], &vt, &p)?,
                        ));
                    }
                }
                _ => return Err(fail("an object or an array of pairs".into())),
            }
            Val::Map(pairs)
        }
        Type::Record(record) => {
            let obj = json
                .as_object()
                .ok_or_else(|| fail(format!("an object ({})", type_text(ty))))?;
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
                if let Some(extra) = obj
                    .keys()
                    .find(|k| !names.iter().any(|n| *n == kebab_case(k)))
                {
                    return Err(ValueError {
                        path: format!("{path}.{extra}"),
                        expected: format!("one of the fields {}", names.join(", ")),
                        found: format!("unknown field `{extra}`"),
                    });
                }
                // Every key names a field, so one field is spelled twice
                // (`maxLen`, `max_len`): which one counts would be a guess.
                if let Some((name, spellings)) = names.iter().find_map(|name| {
                    let spellings: Vec<&str> = obj
                        .keys()
                        .filter(|k| *k == name || kebab_case(k) == *name)
                        .map(String::as_str)
                        .collect();
                    (spellings.len() > 1).then_some((name, spellings))
                }) {
                    return Err(ValueError {
                        path: format!("{path}.{name}"),
                        expected: format!("field `{name}` once"),
                        found: format!(
                            "it spelled {} ways: {}",
                            spellings.len(),
                            spellings.join(", ")
                        ),
                    });
                }
            }
            Val::Record(fields)
        }
        Type::Tuple(tuple) => {
            let types: Vec<Type> = tuple.types().collect();
            let items = json
                .as_array()
                .filter(|a| a.len() == types.len())
                .ok_or_else(|| {
                    fail(format!(
                        "an array of {} items ({})",
                        types.len(),
                        type_text(ty)
                    ))
                })?;
            Val::Tuple(
                items
                    .iter()
                    .zip(&types)
                    .enumerate()
                    .map(|(i, (item, t))| json_to_val(item, t, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Enum(e) => {
            let s = json
                .as_str()
                .ok_or_else(|| fail(format!("one of {}", quoted(e.names()))))?;
            let name = match_name(s, e.names())
                .ok_or_else(|| fail(format!("one of {}", quoted(e.names()))))?;
            Val::Enum(name)
        }
        Type::Variant(v) => {
            let expected = || format!("one of the cases {}", quoted(v.cases().map(|c| c.name)));
            let (case_name, payload) = match json {
                Json::String(s) => (s.as_str(), None),
                Json::Object(obj) if obj.len() == 1 => {
                    let (k, v) = obj.iter().next().expect("object has one entry");
                    (k.as_str(), Some(v))
                }
                _ => return Err(fail(expected())),
            };
            let case = v
                .cases()
                .find(|c| match_name(case_name, std::iter::once(c.name)).is_some())
                .ok_or_else(|| fail(expected()))?;
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
            Val::Variant(case.name.to_string(), value)
        }
        Type::Option(o) => match json {
            Json::Null => Val::Option(None),
            other => Val::Option(Some(Box::new(json_to_val(other, &o.ty(), path)?))),
        },
        Type::Result(r) => {
            let obj = json
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| fail("{\"ok\": …} or {\"err\": …}".into()))?;
            let (key, value) = obj.iter().next().expect("object has one entry");
            let branch = |t: Option<Type>, p: String| -> Result<Option<Box<Val>>, ValueError> {
                match t {
                    Some(t) => Ok(Some(Box::new(json_to_val(value, &t, &p)?))),
                    None => Ok(None),
                }
            };
            match key.as_str() {
                "ok" => Val::Result(Ok(branch(r.ok(), format!("{path}.ok"))?)),
                "err" | "error" => Val::Result(Err(branch(r.err(), format!("{path}.err"))?)),
                _ => return Err(fail("{\"ok\": …} or {\"err\": …}".into())),
            }
        }
        Type::Flags(f) => {
            let items = json.as_array().ok_or_else(|| {
                fail(format!("an array of flag names from {}", quoted(f.names())))
            })?;
            let mut set = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let name = item
                    .as_str()
                    .and_then(|s| match_name(s, f.names()))
                    .ok_or_else(|| ValueError {
                        path: format!("{path}[{i}]"),
                        expected: format!("one of {}", quoted(f.names())),
                        found: describe(item),
                    })?;
                set.push(name);
            }
            Val::Flags(set)
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            return Err(fail(format!(
                "a value of type {}, which cannot be written as JSON",
                type_text(ty)
            )));
        }
    })
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

fn lookup_key<'a>(obj: &'a Map<String, Json>, field: &str) -> Option<&'a Json> {
    obj.get(field).or_else(|| {
        obj.iter()
            .find(|(k, _)| kebab_case(k) == field)
            .map(|(_, v)| v)
    })
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(
    json: &Json,
    path: &str,
    name: &str,
) -> Result<T, ValueError> {
    let fail = || ValueError {
        path: path.to_string(),
        expected: format!("an integer that fits {name}"),
        found: describe(json),
    };
    if let Some(u) = json.as_u64() {
        T::try_from(u).map_err(|_| fail())
    } else if let Some(i) = json.as_i64() {
        T::try_from(i).map_err(|_| fail())
    } else {
        Err(fail())
    }
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
    let mut map = Map::new();
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

    #[test]
    fn floats_that_json_cannot_hold_become_strings() {
        assert_eq!(float_json(f64::NAN), Json::String("NaN".into()));
        assert_eq!(float_json(f64::INFINITY), Json::String("inf".into()));
        assert_eq!(float_json(1.5), serde_json::json!(1.5));
    }
}
