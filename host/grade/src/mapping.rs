//! From a test case to a call: arguments as component values, and the
//! value the call must return.
//!
//! The function's own declared types decide what the test data's JSON
//! means (see [`warden_component::values`] for the per-type rules). On top
//! of those, the grader's conventions:
//! - a parameter the case leaves out is `none` (only `option<…>`
//!   parameters may be left out; the exercise loader checks that);
//! - for a function returning `result<T, E>`, a plain expected value means
//!   `ok(value)` and `{"error": msg}` means `err(msg)`;
//! - a function with no result expects `null`.
//!
//! A plan is built per submission and case, after the submission's
//! exports passed the contract check, so the types here are exactly those
//! `exercise.wit` declares: a failure means the test data does not fit
//! `exercise.wit`, which is the exercise's fault, and says so.

use serde_json::Value as Json;

use warden_component::exports::ExportedFunc;
use warden_component::values::{ValueError, json_to_val};
use warden_component::wit_text::type_text;
use warden_component::{Type, Val};

use crate::exercise::{Expected, TestCase};

/// Everything needed to run one case and judge its result.
#[derive(Clone)]
pub struct CallPlan {
    pub args: Vec<Val>,
    /// The parameters' types, in order (a source submission's runner
    /// converts the arguments again, into the language's plain data).
    pub param_types: Vec<Type>,
    /// The expected result; `None` for a function without one.
    pub expected: Option<Val>,
    /// The function's result type, which guides the comparison.
    pub result_type: Option<Type>,
}

/// Builds the call for `case` against `func`. The error text says which
/// part of the test data does not fit which type.
pub fn plan(case: &TestCase, func: &ExportedFunc) -> Result<CallPlan, String> {
    let params = func.params();
    if params.len() != case.args.len() {
        return Err(format!(
            "the test data gives {} argument(s) for {}",
            case.args.len(),
            func.name
        ));
    }
    let args = params
        .iter()
        .zip(&case.args)
        .map(|((name, ty), json)| {
            json_to_val(
                json.as_ref().unwrap_or(&Json::Null),
                ty,
                &format!("input.{name}"),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(unfit)?;
    let results: Vec<Type> = func.ty.results().collect();
    let (expected, result_type) = match results.as_slice() {
        [] => match &case.expected {
            Expected::Value(Json::Null) => (None, None),
            other => {
                return Err(format!(
                    "the test data expects {} but `{}` returns nothing",
                    other.to_json(),
                    func.name
                ));
            }
        },
        [ty] => (
            Some(expected_val(&case.expected, ty, &func.name)?),
            Some(ty.clone()),
        ),
        _ => {
            return Err(format!(
                "`{}` returns several values, which the grader cannot compare",
                func.name
            ));
        }
    };
    Ok(CallPlan {
        args,
        param_types: params.iter().map(|(_, ty)| ty.clone()).collect(),
        expected,
        result_type,
    })
}

/// The exercise's data and its WIT disagree.
fn unfit(e: ValueError) -> String {
    format!(
        "the test data does not fit exercise.wit: `{}` should be {}, found {}",
        e.path, e.expected, e.found
    )
}

fn expected_val(expected: &Expected, ty: &Type, func: &str) -> Result<Val, String> {
    match (expected, ty) {
        (Expected::Error(payload), Type::Result(r)) => Ok(Val::Result(Err(match r.err() {
            Some(t) => Some(Box::new(
                json_to_val(payload, &t, "expected.error").map_err(unfit)?,
            )),
            None => None,
        }))),
        (Expected::Value(value), Type::Result(r)) => Ok(Val::Result(Ok(match r.ok() {
            Some(t) => Some(Box::new(json_to_val(value, &t, "expected").map_err(unfit)?)),
            None if value.is_null() => None,
            None => {
                return Err(format!(
                    "the test data expects {value} but `{func}` returns {}, which has no ok value",
                    type_text(ty)
                ));
            }
        }))),
        (Expected::Error(_), other) => Err(format!(
            "the test data expects an error but `{func}` returns {}, which has no error case",
            type_text(other)
        )),
        (Expected::Value(value), ty) => json_to_val(value, ty, "expected").map_err(unfit),
    }
}
