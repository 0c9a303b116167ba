//! Judging a result: comparing the value a submission returned with the
//! expected one, guided by the declared type, and showing the returned
//! value the way the test data writes values.
//!
//! Rules:
//! - floats (`f32`, `f64`) are equal within the exercise's tolerance
//!   (absolute; NaN equals NaN);
//! - maps — `list<tuple<string, T>>` and `map<K, V>` — are compared
//!   without regard to order, as multisets of pairs;
//! - lists of a function listed in `unordered` are compared as multisets
//!   too (sets);
//! - everything else compares structurally, with enums, variants,
//!   options and results matched case by case.

use serde_json::{Map, Value as Json};

use warden_component::values::val_to_json;
use warden_component::{Type, Val};

/// How loosely to compare.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub float_tolerance: f64,
    /// Compare every list as a multiset.
    pub unordered_lists: bool,
}

/// True when `actual` counts as `expected` under `rules`.
pub fn same(expected: &Val, actual: &Val, ty: &Type, rules: &Rules) -> bool {
    match (expected, actual, ty) {
        (Val::Float32(e), Val::Float32(a), _) => floats(f64::from(*e), f64::from(*a), rules),
        (Val::Float64(e), Val::Float64(a), _) => floats(*e, *a, rules),
        (Val::List(e), Val::List(a), Type::List(l)) => {
            let elem = l.ty();
            if rules.unordered_lists || is_map_like(&elem) {
                same_multiset(e, a, |x, y| same(x, y, &elem, rules))
            } else {
                e.len() == a.len() && e.iter().zip(a).all(|(x, y)| same(x, y, &elem, rules))
            }
        }
        (Val::FixedLengthList(e), Val::FixedLengthList(a), Type::FixedLengthList(l)) => {
            let elem = l.ty();
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| same(x, y, &elem, rules))
        }
        (Val::Map(e), Val::Map(a), Type::Map(m)) => {
            let (kt, vt) = (m.key(), m.value());
            same_multiset(e, a, |(ek, ev), (ak, av)| {
                same(ek, ak, &kt, rules) && same(ev, av, &vt, rules)
            })
        }
        (Val::Tuple(e), Val::Tuple(a), Type::Tuple(t)) => {
            let types: Vec<Type> = t.types().collect();
            e.len() == a.len()
                && e.len() == types.len()
                && e.iter()
                    .zip(a)
                    .zip(&types)
                    .all(|((x, y), t)| same(x, y, t, rules))
        }
        (Val::Record(e), Val::Record(a), Type::Record(r)) => {
            e.len() == a.len()
                && r.fields().all(|field| {
                    let find = |fields: &[(String, Val)]| {
                        fields
                            .iter()
                            .find(|(n, _)| n == field.name)
                            .map(|(_, v)| v.clone())
                    };
                    match (find(e), find(a)) {
                        (Some(x), Some(y)) => same(&x, &y, &field.ty, rules),
                        _ => false,
                    }
                })
        }
        (Val::Variant(en, ep), Val::Variant(an, ap), Type::Variant(v)) => {
            en == an
                && match (ep, ap) {
                    (None, None) => true,
                    (Some(x), Some(y)) => v
                        .cases()
                        .find(|c| c.name == en)
                        .and_then(|c| c.ty)
                        .is_some_and(|t| same(x, y, &t, rules)),
                    _ => false,
                }
        }
        (Val::Option(e), Val::Option(a), Type::Option(o)) => match (e, a) {
            (None, None) => true,
            (Some(x), Some(y)) => same(x, y, &o.ty(), rules),
            _ => false,
        },
        (Val::Result(e), Val::Result(a), Type::Result(r)) => match (e, a) {
            (Ok(x), Ok(y)) => optional_payload(x, y, r.ok(), rules),
            (Err(x), Err(y)) => {
                // No expected payload (an error type without one in the
                // WIT): any error will do.
                x.is_none() || optional_payload(x, y, r.err(), rules)
            }
            _ => false,
        },
        (Val::Flags(e), Val::Flags(a), _) => {
            let mut e = e.clone();
            let mut a = a.clone();
            e.sort();
            a.sort();
            e == a
        }
        (e, a, _) => e == a,
    }
}

fn optional_payload(
    e: &Option<Box<Val>>,
    a: &Option<Box<Val>>,
    ty: Option<Type>,
    rules: &Rules,
) -> bool {
    match (e, a, ty) {
        (None, None, _) => true,
        (Some(x), Some(y), Some(t)) => same(x, y, &t, rules),
        _ => false,
    }
}

fn floats(e: f64, a: f64, rules: &Rules) -> bool {
    e == a || (e.is_nan() && a.is_nan()) || (e - a).abs() <= rules.float_tolerance
}

/// `tuple<string, T>`: the element type of a map written as a list.
fn is_map_like(elem: &Type) -> bool {
    match elem {
        Type::Tuple(t) => {
            let types: Vec<Type> = t.types().collect();
            types.len() == 2 && types[0] == Type::String
        }
        _ => false,
    }
}

/// Equal as multisets under `eq` (greedy matching; `eq` may be a
/// tolerance, so hashing is not an option).
fn same_multiset<T>(expected: &[T], actual: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    expected.iter().all(|e| {
        match actual
            .iter()
            .enumerate()
            .find(|(i, a)| !used[*i] && eq(e, a))
        {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

/// A returned value in the test data's notation: `ok(v)` is `v`,
/// `err(e)` is `{"error": e}`, a map written as a list of pairs is an
/// object (when its keys are distinct).
pub fn display(val: &Val, ty: &Type) -> Json {
    match (val, ty) {
        (Val::Result(Ok(v)), Type::Result(r)) => match (v, r.ok()) {
            (Some(v), Some(t)) => display_inner(v, &t),
            _ => Json::Null,
        },
        (Val::Result(Err(e)), Type::Result(r)) => {
            let payload = match (e, r.err()) {
                (Some(e), Some(t)) => display_inner(e, &t),
                _ => Json::Null,
            };
            serde_json::json!({ "error": payload })
        }
        _ => display_inner(val, ty),
    }
}

fn display_inner(val: &Val, ty: &Type) -> Json {
    match (val, ty) {
        (Val::List(items), Type::List(l)) => {
            let elem = l.ty();
            if is_map_like(&elem)
                && let Some(map) = as_object(items, &elem)
            {
                return map;
            }
            Json::Array(items.iter().map(|v| display_inner(v, &elem)).collect())
        }
        (Val::Option(Some(v)), Type::Option(o)) => display_inner(v, &o.ty()),
        (Val::Record(fields), Type::Record(r)) => Json::Object(
            fields
                .iter()
                .map(|(name, v)| {
                    let shown = r
                        .fields()
                        .find(|f| f.name == name)
                        .map_or_else(|| val_to_json(v), |f| display_inner(v, &f.ty));
                    (name.clone(), shown)
                })
                .collect(),
        ),
        _ => val_to_json(val),
    }
}

fn as_object(items: &[Val], elem: &Type) -> Option<Json> {
    let Type::Tuple(t) = elem else { return None };
    let value_ty = t.types().nth(1)?;
    let mut map = Map::new();
    for item in items {
        let Val::Tuple(pair) = item else { return None };
        let [Val::String(key), value] = pair.as_slice() else {
            return None;
        };
        if map
            .insert(key.clone(), display_inner(value, &value_ty))
            .is_some()
        {
            return None;
        }
    }
    Some(Json::Object(map))
}

/// A JSON value in a message: cut at 400 characters.
pub(crate) fn short_json(value: &Json) -> String {
    let text = value.to_string();
    match crate::verdict::truncate_chars(&text, 400) {
        (cut, true) => format!("{cut}…"),
        (all, false) => all.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multisets_ignore_order_but_count() {
        let eq = |a: &i32, b: &i32| a == b;
        assert!(same_multiset(&[1, 2, 2], &[2, 1, 2], eq));
        assert!(!same_multiset(&[1, 2, 2], &[2, 1, 1], eq));
        assert!(!same_multiset(&[1, 2], &[1, 2, 3], eq));
    }

    #[test]
    fn floats_use_the_tolerance() {
        let rules = Rules {
            float_tolerance: 0.01,
            unordered_lists: false,
        };
        assert!(floats(31.69, 31.694, &rules));
        assert!(!floats(31.69, 31.71, &rules));
        assert!(floats(f64::NAN, f64::NAN, &rules));
        assert!(floats(f64::INFINITY, f64::INFINITY, &rules));
    }
}
