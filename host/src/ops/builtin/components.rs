//! Running a component file directly: `component.call` (what `warden call`
//! does) and `grade` (what `warden grade --format json` does for one
//! submission). Both compile through the host's runtime (so its compile
//! cache) and run the guest on the blocking pool, each call in a fresh
//! sandbox under the limits given.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, add, failed, invalid, parse};
use crate::component::invoke::call_json;
use crate::component::{Capabilities, ComponentError, Limits, Metering, World, world};
use crate::grade::{Exercise, GradeOptions, LimitOverrides, Submission, grade_submission};
use crate::ops::{OpError, OpMeta, RegisterError, Registry};

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "component.call",
            "Calls a function of a component file in a fresh sandbox (as `warden call`): its result and a report",
        )
        .params(json!({
            "type": "object",
            "properties": {
                "component": {"type": "string", "minLength": 1, "description": "Path of the .wasm file on the host"},
                "function": {"type": "string", "minLength": 1, "description": "`name`, `interface#name` or `interface.name`"},
                "args": {"type": "array", "description": "One JSON value per parameter (default none); a string is accepted for list<u8>"},
                "init": {"type": "string", "description": "For actor plugins: the config passed to `init` first (default empty)"},
                "fuel": {"type": "integer", "minimum": 1, "description": "Fuel budget (default unmetered)"},
                "memory_mb": {"type": "integer", "minimum": 1, "maximum": 4096, "description": "Memory limit (default 64)"},
                "timeout_ms": {"type": "integer", "minimum": 0, "description": "Wall-clock limit, 0 for none (default 10000)"}
            },
            "required": ["component", "function"],
            "additionalProperties": false
        }))
        .example(json!({
            "component": "plugins/target/wasm32-wasip2/release/counter.wasm",
            "function": "handle",
            "args": ["inc"]
        }))
        .result(json!({
            "type": "object",
            "required": ["result", "report"],
            "properties": {
                "function": {"type": "string"},
                "signature": {"type": "string"},
                "result": {"description": "The function's result as JSON"},
                "report": {"type": "object", "description": "Captured stdout/stderr, fuel used, duration"}
            }
        })),
        |ctx, params| async move { call(&ctx, params).await },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "grade",
            "Grades a submission against an exercise folder: the JSON report of `warden grade --format json`",
        )
        .params(json!({
            "type": "object",
            "properties": {
                "exercise": {"type": "string", "minLength": 1, "description": "The exercise folder on the host"},
                "solution": {"type": "string", "minLength": 1, "description": "The submitted .wasm file on the host"},
                "fuel": {"type": "integer", "minimum": 0, "description": "Fuel per case, replacing the exercise's (0: unmetered)"},
                "memory_mb": {"type": "integer", "minimum": 1, "maximum": 4096},
                "timeout_ms": {"type": "integer", "minimum": 0},
                "timing": {"type": "boolean", "description": "Include wall-clock figures (default true)"}
            },
            "required": ["exercise", "solution"],
            "additionalProperties": false
        }))
        .example(json!({
            "exercise": "examples/exercises/leap",
            "solution": "plugins/target/wasm32-wasip2/release/leap_ref.wasm"
        }))
        .result(json!({
            "type": "object",
            "required": ["exercise", "status", "counts"],
            "properties": {
                "exercise": {"type": "string"},
                "status": {"type": "string"},
                "counts": {"type": "object"},
                "tests": {"type": "array", "items": {"type": "object"}}
            }
        })),
        |ctx, params| async move { grade(&ctx, params).await },
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct CallParams {
    component: PathBuf,
    function: String,
    #[serde(default)]
    args: Vec<Value>,
    init: Option<String>,
    fuel: Option<u64>,
    memory_mb: Option<usize>,
    timeout_ms: Option<u64>,
}

fn file_exists(what: &str, path: &std::path::Path) -> Result<(), OpError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(OpError::NotFound {
            what: format!("{what} {}", path.display()),
        })
    }
}

/// A guest or loading failure: timeouts keep their status, bad input is a
/// 400, a file that is no usable component (or too costly to compile) a
/// 422, the rest a 500.
fn component_error(op: &str, err: ComponentError) -> OpError {
    match err {
        ComponentError::Timeout { timeout_ms } => OpError::Timeout {
            op: op.to_string(),
            timeout_ms,
        },
        ComponentError::NoSuchFunction { .. } => {
            invalid(op, "/function", err.to_string(), "no such export")
        }
        ComponentError::BadArguments(_) => {
            invalid(op, "/args", err.to_string(), "arguments that do not fit")
        }
        ComponentError::CompileLimit(_)
        | ComponentError::NotWasm { .. }
        | ComponentError::NotAComponent
        | ComponentError::NotAFile { .. }
        | ComponentError::Malformed { .. }
        | ComponentError::Unlinkable { .. } => OpError::BadComponent {
            op: op.to_string(),
            source: Box::new(err),
        },
        other => failed(op, format!("{} ({})", other, other.kind())),
    }
}

async fn call(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "component.call";
    let p: CallParams = parse(OP, params)?;
    file_exists("component file", &p.component)?;
    let runtime = ctx.runtime.clone();
    let invocation = tokio::task::spawn_blocking(move || {
        let metering = if p.fuel.is_some() {
            Metering::Fuel
        } else {
            Metering::Off
        };
        let prepared = runtime
            .compile_file(&p.component, metering)
            .and_then(|c| c.prepare())?;
        let limits = Limits {
            memory_bytes: p.memory_mb.unwrap_or(64).saturating_mul(1 << 20),
            fuel: p.fuel,
            timeout: match p.timeout_ms {
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
                None => Limits::default().timeout,
            },
            ..Limits::default()
        };
        // An actor expects `init` before anything else, as with `warden call`.
        let init = (world::fit(&prepared.compiled, World::ActorPlugin).fits
            && !p.function.ends_with("#init")
            && p.function != "init")
            .then(|| p.init.clone().unwrap_or_default());
        call_json(
            &prepared,
            &p.function,
            &p.args,
            &limits,
            &Capabilities::default(),
            init.as_deref(),
        )
    })
    .await
    .map_err(|e| failed(OP, format!("the call task failed: {e}")))?
    .map_err(|e| component_error(OP, e))?;
    let report = super::to_json(OP, &invocation.report)?;
    match invocation.outcome {
        Ok(result) => Ok(json!({
            "function": invocation.function,
            "signature": invocation.signature,
            "result": result,
            "report": report,
        })),
        Err(err) => Err(component_error(OP, err)),
    }
}

#[derive(Deserialize)]
struct GradeParams {
    exercise: PathBuf,
    solution: PathBuf,
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    timing: Option<bool>,
}

async fn grade(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "grade";
    let p: GradeParams = parse(OP, params)?;
    if !p.exercise.is_dir() {
        return Err(OpError::NotFound {
            what: format!("exercise folder {}", p.exercise.display()),
        });
    }
    file_exists("solution file", &p.solution)?;
    let runtime = ctx.runtime.clone();
    let text = tokio::task::spawn_blocking(move || {
        let exercise = Exercise::load(&p.exercise).map_err(|e| failed(OP, e))?;
        let options = GradeOptions {
            limits: LimitOverrides {
                fuel: p.fuel,
                memory_mb: p.memory_mb,
                timeout_ms: p.timeout_ms,
                output_limit_bytes: None,
            },
            ..GradeOptions::default()
        };
        let report = grade_submission(
            &runtime,
            &exercise,
            &Submission::File(p.solution.clone()),
            &options,
        );
        Ok::<_, OpError>(crate::grade::report::json::render(
            &report,
            p.timing.unwrap_or(true),
            false,
        ))
    })
    .await
    .map_err(|e| failed(OP, format!("the grading task failed: {e}")))??;
    serde_json::from_str(&text).map_err(|e| failed(OP, format!("the report is not JSON: {e}")))
}
