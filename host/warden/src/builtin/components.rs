//! Running a component directly: `component.call` (what `warden call`
//! does) and `grade` (what `warden grade --format json` does for one
//! submission). Both compile through the host's runtime (so its compile
//! cache, and the compile limits for these untrusted bytes) and run the
//! guest on the blocking pool, each call in a fresh sandbox under the
//! limits given.
//!
//! The component is a store id (64 hex digits: leased for the call, so it
//! cannot be removed while it runs) or a host path, which like `grade`'s
//! exercise folder must lie under `[api] path_roots` (see `paths`: 403
//! otherwise, before anything about the path is told).
//!
//! Guarantees: every guest call these operations start ends. The limits a
//! caller asks for are refused (400, naming the parameter) above the
//! host's `[api]` ceilings, and a limit left out or `0` means the ceiling,
//! so no call runs without a wall-clock limit; the guest is interrupted
//! when the caller goes away (the handler's future is dropped) and when
//! the host stops (the context's `calls` interrupt).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use warden_clock::millis;

use super::{Context, add, failed, invalid, parse};
use crate::component::invoke::call_json_under;
use crate::component::{Capabilities, ComponentError, Limits, Metering, World, world};
use crate::config::ApiLimits;
use crate::grade::source::MAX_SOURCE_BYTES;
use crate::grade::{
    CaseLimits, Exercise, GradeOptions, Language, LimitOverrides, Submission, grade_submission,
};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};
use crate::store::{ComponentId, Lease, StoreError};

/// Memory of a `component.call` that names none (under the ceiling).
const DEFAULT_CALL_MEMORY_MB: u64 = 64;

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    let ceiling = ctx.api_limits;
    let max_ms = millis(ceiling.max_timeout);
    let max_mb = ceiling.max_memory_mb;
    let (fuel_ceiling, no_fuel) = match ceiling.max_fuel {
        Some(max) => (format!("at most {max}, `[api] max_fuel`"), max.to_string()),
        None => ("no ceiling".to_string(), "unmetered".to_string()),
    };
    add(
        registry,
        ctx,
        OpMeta::new(
            "component.call",
            "Calls a function of a component file in a fresh sandbox (as `warden call`): its result and a report",
        )
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "component": {"type": "string", "minLength": 1, "description": "The component: its store id (64 hex digits, from POST /components), or the path of a .wasm file on the host under `[api] path_roots` (403 otherwise)"},
                "function": {"type": "string", "minLength": 1, "description": "`name`, `interface#name` or `interface.name`"},
                "args": {"type": "array", "description": "One JSON value per parameter (default none); a string is accepted for list<u8>"},
                "init": {"type": "string", "description": "For actor plugins: the config passed to `init` first (default empty)"},
                "fuel": fuel_schema(1, &ceiling, &format!("Fuel budget ({fuel_ceiling}; default {no_fuel})")),
                "memory_mb": {"type": "integer", "minimum": 1, "maximum": max_mb, "description": format!("Memory limit in MiB, at most {max_mb} (`[api] max_memory_mb`; default {})", DEFAULT_CALL_MEMORY_MB.min(max_mb))},
                "timeout_ms": {"type": "integer", "minimum": 0, "maximum": max_ms, "description": format!("Wall-clock limit in ms, at most {max_ms} (`[api] max_timeout_ms`); 0 means that ceiling (default {})", millis(default_call_timeout(&ceiling)))}
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
        .role(Role::Operate)
        .params(json!({
            "type": "object",
            "properties": {
                "exercise": {"type": "string", "minLength": 1, "description": "The exercise folder on the host, under `[api] path_roots` (403 otherwise)"},
                "solution": {"type": "string", "minLength": 1, "description": "The submission: its store id (64 hex digits, from POST /components), or the path on the host, under `[api] path_roots` (403 otherwise), of a .wasm component or of a .py or .js source file (graded by the language's runner, built once on first use with its toolchain)"},
                "language": {"type": "string", "enum": ["python", "javascript"], "description": "The language of a `solution` path that is not a .wasm file (default: its extension, .py or .js); a component ignores it"},
                "fuel": fuel_schema(0, &ceiling, &format!("Fuel per case, replacing the exercise's ({fuel_ceiling}; 0: {no_fuel})")),
                "memory_mb": {"type": "integer", "minimum": 1, "maximum": max_mb, "description": format!("Memory per case in MiB, replacing the exercise's; at most {max_mb} (`[api] max_memory_mb`)")},
                "timeout_ms": {"type": "integer", "minimum": 0, "maximum": max_ms, "description": format!("Wall-clock limit per case in ms, replacing the exercise's; at most {max_ms} (`[api] max_timeout_ms`), 0 means that ceiling. The exercise's own limits are held to the ceilings too")},
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
    component: String,
    function: String,
    #[serde(default)]
    args: Vec<Value>,
    init: Option<String>,
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
}

/// The JSON Schema of a `fuel` param: an integer from `minimum`, up to
/// the ceiling when there is one.
fn fuel_schema(minimum: u64, ceiling: &ApiLimits, description: &str) -> Value {
    let mut schema = json!({"type": "integer", "minimum": minimum, "description": description});
    if let Some(max) = ceiling.max_fuel {
        schema["maximum"] = json!(max);
    }
    schema
}

/// The wall-clock limit of a `component.call` that names none.
fn default_call_timeout(ceiling: &ApiLimits) -> Duration {
    Limits::default()
        .timeout
        .map_or(ceiling.max_timeout, |t| t.min(ceiling.max_timeout))
}

/// Refuses a requested limit above its `[api]` ceiling, naming both.
fn at_most(op: &str, param: &str, asked: Option<u64>, max: Option<u64>) -> Result<(), OpError> {
    match (asked, max) {
        (Some(asked), Some(max)) if asked > max => Err(invalid(
            op,
            &format!("/{param}"),
            format!("at most {max} (the host's `[api] max_{param}`)"),
            asked.to_string(),
        )),
        _ => Ok(()),
    }
}

/// Refuses any of `fuel`, `memory_mb`, `timeout_ms` above its ceiling.
fn check_ceilings(
    op: &str,
    ceiling: &ApiLimits,
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
) -> Result<(), OpError> {
    at_most(
        op,
        "timeout_ms",
        timeout_ms,
        Some(millis(ceiling.max_timeout)),
    )?;
    at_most(op, "memory_mb", memory_mb, Some(ceiling.max_memory_mb))?;
    at_most(op, "fuel", fuel, ceiling.max_fuel)
}

/// The sandbox limits of a `component.call`: what the caller asked for,
/// checked against the ceilings, the ceilings where it asked for none.
fn call_limits(op: &str, p: &CallParams, ceiling: &ApiLimits) -> Result<Limits, OpError> {
    check_ceilings(op, ceiling, p.fuel, p.memory_mb, p.timeout_ms)?;
    let memory_mb = p
        .memory_mb
        .unwrap_or(DEFAULT_CALL_MEMORY_MB.min(ceiling.max_memory_mb));
    let timeout = match p.timeout_ms {
        Some(0) => ceiling.max_timeout,
        Some(ms) => Duration::from_millis(ms),
        None => default_call_timeout(ceiling),
    };
    Ok(Limits {
        memory_bytes: usize::try_from(memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        fuel: p.fuel.or(ceiling.max_fuel),
        timeout: Some(timeout),
        ..Limits::default()
    })
}

/// Every case's limits in a `grade` call: the exercise's, replaced by the
/// caller's (already checked), then held to the ceilings — an exercise
/// folder is the caller's choice too, so its `grading.toml` cannot lift
/// them either. As overrides, because that is what the grader takes.
fn grade_limits(
    asked: LimitOverrides,
    exercise: CaseLimits,
    ceiling: &ApiLimits,
) -> LimitOverrides {
    let wanted = asked.apply(exercise);
    let max_bytes = ceiling.max_memory_mb.saturating_mul(1 << 20);
    let timeout = wanted
        .timeout
        .map_or(ceiling.max_timeout, |t| t.min(ceiling.max_timeout));
    let fuel = match (wanted.fuel, ceiling.max_fuel) {
        (Some(fuel), Some(max)) => Some(fuel.min(max)),
        (None, max) => max,
        (fuel, None) => fuel,
    };
    LimitOverrides {
        // 0 is "unmetered" to the grader.
        fuel: Some(fuel.unwrap_or(0)),
        memory_mb: Some(wanted.memory_bytes.min(max_bytes).div_ceil(1 << 20)),
        timeout_ms: Some(millis(timeout).max(1)),
        output_limit_bytes: asked.output_limit_bytes,
    }
}

/// A component's bytes, from the store (leased for as long as the
/// returned lease lives) or from a host path under the roots. Blocking:
/// it reads a file.
fn load_component(
    ctx: &Context,
    op: &str,
    param: &str,
    named: &str,
) -> Result<(Vec<u8>, Option<Lease>), OpError> {
    if let Ok(id) = named.parse::<ComponentId>() {
        let lease = ctx.store.lease(&id, op).map_err(|e| store_error(op, e))?;
        let bytes = ctx.store.read(&id).map_err(|e| store_error(op, e))?;
        return Ok((bytes, Some(lease)));
    }
    let limit = ctx.runtime.compile_limits().max_bytes;
    let (bytes, _real) = ctx
        .path_roots
        .read_file(op, param, Path::new(named), limit)?;
    Ok((bytes, None))
}

/// The language `grade` grades `solution` in, `None` for a component
/// (a store id or a .wasm path): as `warden grade --language`, `language`
/// sets it for any other path, else the path's extension decides.
fn source_language(op: &str, p: &GradeParams) -> Result<Option<Language>, OpError> {
    if p.solution.parse::<ComponentId>().is_ok() || p.solution.ends_with(".wasm") {
        return Ok(None);
    }
    match &p.language {
        None => Ok(Language::of_path(Path::new(&p.solution))),
        Some(name) => Language::parse(name).map(Some).ok_or_else(|| {
            invalid(
                op,
                "/language",
                "`python` or `javascript`",
                format!("unknown language `{name}`"),
            )
        }),
    }
}

fn store_error(op: &str, err: StoreError) -> OpError {
    match err {
        StoreError::NotFound { id } => OpError::NotFound {
            what: format!("component `{id}` in the store"),
        },
        other => failed(op, other),
    }
}

/// A guest or loading failure: timeouts keep their status, bad input is a
/// 400, a file that is no usable component (or too costly to compile) a
/// 422 (`invalid_component`, `compile_limit`), the rest is the guest's
/// failure (`guest_failed`: 422).
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
        other => super::guest_failed(op, other),
    }
}

async fn call(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "component.call";
    let p: CallParams = parse(OP, params)?;
    let limits = call_limits(OP, &p, &ctx.api_limits)?;
    let ctx = ctx.clone();
    // Fired when this future is dropped: the caller went away (or the call
    // is over, which changes nothing). The host's stop fires `calls`.
    let scope = ctx.calls.child();
    let _gone = scope.fire_on_drop();
    let invocation = tokio::task::spawn_blocking(move || {
        // Held until the call is over: the component cannot be removed
        // from the store while it runs.
        let (bytes, _lease) = load_component(&ctx, OP, "component", &p.component)?;
        let metering = if limits.fuel.is_some() {
            Metering::Fuel
        } else {
            Metering::Off
        };
        let prepared = ctx
            .runtime
            .compile(&bytes, metering)
            .and_then(|c| c.prepare())
            .map_err(|e| component_error(OP, e))?;
        // An actor expects `init` before anything else, as with `warden call`.
        let init = (world::fit(&prepared.compiled, World::ActorPlugin).fits
            && !p.function.ends_with("#init")
            && p.function != "init")
            .then(|| p.init.clone().unwrap_or_default());
        call_json_under(
            &prepared,
            &p.function,
            &p.args,
            &limits,
            &Capabilities::default(),
            init.as_deref(),
            &scope,
        )
        .map_err(|e| component_error(OP, e))
    })
    .await
    .map_err(|e| failed(OP, format!("the call task failed: {e}")))??;
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
    solution: String,
    language: Option<String>,
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    timing: Option<bool>,
}

async fn grade(ctx: &Context, params: Value) -> Result<Value, OpError> {
    const OP: &str = "grade";
    let p: GradeParams = parse(OP, params)?;
    let ceiling = ctx.api_limits;
    check_ceilings(OP, &ceiling, p.fuel, p.memory_mb, p.timeout_ms)?;
    let ctx = ctx.clone();
    // As for `component.call`: the caller gone or the host stopping ends
    // the running case and skips the rest.
    let scope = ctx.calls.child();
    let _gone = scope.fire_on_drop();
    let text = tokio::task::spawn_blocking(move || {
        let folder = ctx.path_roots.open_dir(OP, "exercise", &p.exercise)?;
        let language = source_language(OP, &p)?;
        let (bytes, _lease) = match language {
            // A source file is read as it is: the runner, inside the
            // sandbox, is what compiles it.
            Some(_) => (
                ctx.path_roots
                    .read_file(OP, "solution", Path::new(&p.solution), MAX_SOURCE_BYTES)?
                    .0,
                None,
            ),
            None => load_component(&ctx, OP, "solution", &p.solution)?,
        };
        // The folder the caller named cannot be graded against: their bad
        // input, not the host's failure.
        let exercise = Exercise::load(&folder.path).map_err(|e| {
            invalid(
                OP,
                "/exercise",
                "an exercise folder that loads",
                e.to_string(),
            )
        })?;
        // Loaded by its checked path: refused if another folder was put
        // there meanwhile.
        if !folder.still_at(&folder.path) {
            return Err(OpError::ForbiddenPath {
                op: OP.to_string(),
                message: format!(
                    "`exercise`: {} changed while it was read",
                    p.exercise.display()
                ),
            });
        }
        let asked = LimitOverrides {
            fuel: p.fuel,
            memory_mb: p.memory_mb,
            // 0 asks for the ceiling, which `grade_limits` applies.
            timeout_ms: p.timeout_ms,
            output_limit_bytes: None,
        };
        // A source runs under its language's limits (an interpreter
        // needs more than a compiled solution), held to the same ceilings.
        let base = match language {
            Some(language) => exercise.settings.language_limits(language),
            None => exercise.settings.limits,
        };
        let limits = grade_limits(asked, base, &ceiling);
        if let Some(language) = language {
            // The runner is built (once per host, on first use) before
            // grading, so a missing toolchain is the host's failure with
            // its install command, not a report full of errors.
            let metering = if limits.apply(base).fuel.is_some() {
                Metering::Fuel
            } else {
                Metering::Off
            };
            ctx.runners
                .runner(&ctx.runtime, language, metering)
                .map_err(|message| {
                    failed(
                        OP,
                        format!("cannot grade {} source: {message}", language.name()),
                    )
                })?;
        }
        let options = GradeOptions {
            limits,
            interrupt: Some(scope),
            language,
            runners: language.map(|_| ctx.runners.clone()),
            ..GradeOptions::default()
        };
        let submission = Submission::Bytes {
            name: p.solution.clone(),
            bytes,
        };
        let report = grade_submission(&ctx.runtime, &exercise, &submission, &options);
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
