//! One-off calls: any exported function, JSON in, JSON out. This is
//! `warden call` and the `call` operation.

use serde::Serialize;
use serde_json::Value as Json;
use wasmtime::component::types::Type;

use crate::caps::Capabilities;
use crate::engine::Prepared;
use crate::error::ComponentError;
use crate::exports::{ExportedFunc, find_function};
use crate::host_iface::HostContext;
use crate::interrupt::Interrupt;
use crate::limits::Limits;
use crate::sandbox::{CallReport, Sandbox};
use crate::values::{ValueError, json_to_val, val_to_json};
use crate::wit_text::func_signature;
use crate::world::ACTOR_INTERFACE;
use wasmtime::component::Val;

/// The outcome of a call that got as far as running the guest.
#[derive(Debug, Serialize)]
pub struct Invocation {
    /// The resolved function name (`interface#func` or `func`).
    pub function: String,
    /// The function's WIT signature.
    pub signature: String,
    /// The result as JSON (`null` for no result, an array for several), or
    /// how the guest failed.
    #[serde(serialize_with = "serialize_outcome")]
    pub outcome: Result<Json, ComponentError>,
    /// Captured output, fuel used and duration.
    pub report: CallReport,
}

fn serialize_outcome<S: serde::Serializer>(
    outcome: &Result<Json, ComponentError>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(1))?;
    match outcome {
        Ok(value) => map.serialize_entry("ok", value)?,
        Err(err) => map.serialize_entry(
            "error",
            &serde_json::json!({ "kind": err.kind(), "message": err.to_string() }),
        )?,
    }
    map.end()
}

/// Converts raw command-line arguments to JSON values for `func`. Each is
/// parsed as JSON; one that is not valid JSON is taken as a string when the
/// parameter accepts text (`warden call p.wasm handle inc`).
pub fn args_from_cli(func: &ExportedFunc, raw: &[String]) -> Result<Vec<Json>, ValueError> {
    let params = func.params();
    check_arity(func, raw.len())?;
    raw.iter()
        .zip(&params)
        .enumerate()
        .map(
            |(i, (text, (name, ty)))| match serde_json::from_str::<Json>(text) {
                Ok(json) => Ok(json),
                Err(_) if accepts_text(ty) => Ok(Json::String(text.clone())),
                Err(err) => Err(ValueError {
                    path: format!("$[{i}] ({name})"),
                    expected: "a JSON value".into(),
                    found: format!("`{text}` ({err})"),
                }),
            },
        )
        .collect()
}

/// One argument per parameter, or an error showing the signature.
fn check_arity(func: &ExportedFunc, given: usize) -> Result<(), ValueError> {
    let wanted = func.ty.params().len();
    if given == wanted {
        return Ok(());
    }
    Err(ValueError {
        path: "$".into(),
        expected: format!("{wanted} argument(s) for {}", func_signature(&func.ty)),
        found: format!("{given} argument(s)"),
    })
}

fn accepts_text(ty: &Type) -> bool {
    match ty {
        Type::String | Type::Char | Type::Enum(_) => true,
        Type::List(l) => l.ty() == Type::U8,
        _ => false,
    }
}

/// Instantiates `prepared` in a fresh sandbox and calls `func_name` with
/// `args`. With `init_config`, an actor's `init` runs first with it (its
/// refusal or failure is the outcome). Errors before the guest runs (no
/// such function, bad arguments, instantiation) are returned as `Err`; the
/// guest's own failure is in `Invocation::outcome`, with what it printed.
pub fn call_json(
    prepared: &Prepared,
    func_name: &str,
    args: &[Json],
    limits: &Limits,
    caps: &Capabilities,
    init_config: Option<&str>,
) -> Result<Invocation, ComponentError> {
    call_json_under(
        prepared,
        func_name,
        args,
        limits,
        caps,
        init_config,
        &Interrupt::new(),
    )
}

/// [`call_json`], stopped (as `Killed`) once `scope` is fired: the
/// caller went away, or the host is stopping.
pub fn call_json_under(
    prepared: &Prepared,
    func_name: &str,
    args: &[Json],
    limits: &Limits,
    caps: &Capabilities,
    init_config: Option<&str>,
    scope: &Interrupt,
) -> Result<Invocation, ComponentError> {
    let func = find_function(&prepared.compiled, func_name)?;
    let params = func.params();
    check_arity(&func, args.len())?;
    let vals = args
        .iter()
        .zip(&params)
        .enumerate()
        .map(|(i, (json, (name, ty)))| json_to_val(json, ty, &format!("$[{i}] ({name})")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sandbox = Sandbox::new_under(
        prepared,
        limits,
        caps,
        HostContext::isolated(func.name.clone()),
        scope,
    )?;
    if let Some(config) = init_config {
        let init = find_function(&prepared.compiled, &format!("{ACTOR_INTERFACE}#init"))?;
        let (init_outcome, init_report) =
            sandbox.call(&init.index, &[Val::String(config.to_string())], 1);
        let refused = match init_outcome {
            Ok(values) => match values.first() {
                Some(Val::Result(Err(reason))) => Some(Err(ComponentError::Trap {
                    message: format!(
                        "init refused: {}",
                        reason.as_deref().map_or(Json::Null, val_to_json)
                    ),
                    backtrace: None,
                })),
                _ => None,
            },
            Err(err) => Some(Err(err)),
        };
        if let Some(outcome) = refused {
            return Ok(Invocation {
                function: init.name.clone(),
                signature: func_signature(&init.ty),
                outcome,
                report: init_report,
            });
        }
    }
    let (outcome, report) = sandbox.call(&func.index, &vals, func.result_count());
    let outcome = outcome.map(|values| results_json(&values));
    Ok(Invocation {
        function: func.name.clone(),
        signature: func_signature(&func.ty),
        outcome,
        report,
    })
}

fn results_json(values: &[wasmtime::component::Val]) -> Json {
    match values {
        [] => Json::Null,
        [one] => val_to_json(one),
        many => Json::Array(many.iter().map(val_to_json).collect()),
    }
}
