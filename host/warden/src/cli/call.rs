//! `warden call PLUGIN.wasm FUNC [ARG…]`
//!
//! The result goes to stdout, the guest's stdout and stderr to stderr,
//! framed; with `-v` its log lines (host `log` import) go to stderr too
//! (the log filter set up in `cli::default_filter`).

use std::path::PathBuf;
use std::time::Duration;

use warden::component::exports::find_function;
use warden::component::invoke::{args_from_cli, call_json};
use warden::component::{Capabilities, CapturedText, DirGrant, Limits, Metering, World, world};

use super::out::{err, errln, outln};
use super::{CacheArgs, CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The component to call.
    plugin: PathBuf,
    /// The function: `name`, `interface#name` or `interface.name`.
    function: String,
    /// Arguments as JSON (a bare word is taken as a string where the
    /// parameter is text).
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    #[command(flatten)]
    instance: InstanceFlags,
    /// Bytes of guest stdout and of stderr to keep.
    #[arg(long, default_value_t = 64 * 1024)]
    output_limit: usize,
    /// Print one JSON object with result, output, fuel and duration
    /// (byte lists stay lists of numbers).
    #[arg(long)]
    json: bool,
    /// Print a `list<u8>` in the result as its list of numbers even when it
    /// is UTF-8 text.
    #[arg(long)]
    raw: bool,
    /// Show the guest's log lines (the host `log` import: the SDK's
    /// `info!`, `warn!`…) on stderr, at every level. `WARDEN_LOG` still
    /// chooses what the host itself logs.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

/// The instance settings `warden call` and `warden repl` share: an
/// actor's `init`, the limits of each call and the directories granted.
#[derive(clap::Args)]
pub struct InstanceFlags {
    /// For actor components, the config passed to `init` first.
    #[arg(long, default_value = "", conflicts_with = "no_init")]
    pub init: String,
    /// Do not call `init` first, even for an actor.
    #[arg(long)]
    pub no_init: bool,
    /// Fuel budget of each call (deterministic CPU limit).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long, default_value_t = 64)]
    pub memory_mb: usize,
    /// Wall-clock limit of each call in milliseconds (0: none).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Grant a directory: HOST:GUEST[:ro|rw] (read-only by default).
    #[arg(long = "dir", value_name = "HOST:GUEST[:ro|rw]")]
    pub dirs: Vec<DirGrant>,
}

impl InstanceFlags {
    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_mb.saturating_mul(1 << 20)
    }

    /// Fuel metering when a fuel budget is set.
    pub fn metering(&self) -> Metering {
        if self.fuel.is_some() {
            Metering::Fuel
        } else {
            Metering::Off
        }
    }

    /// The limits of each call (the default output capture).
    pub fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes(),
            fuel: self.fuel,
            timeout: (self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms)),
            ..Limits::default()
        }
    }

    /// Only the directories granted.
    pub fn caps(&self) -> Capabilities {
        Capabilities {
            dirs: self.dirs.clone(),
            ..Capabilities::default()
        }
    }
}

impl Args {
    /// Whether `-v` asked for the guest's log lines.
    pub fn verbose(&self) -> bool {
        self.verbose
    }
}

pub fn run(args: Args) -> CmdResult {
    let flags = &args.instance;
    let runtime = args.cache.runtime_for_memory(flags.memory_bytes())?;
    let prepared = runtime
        .compile_file(&args.plugin, flags.metering())
        .and_then(|c| c.prepare())
        .map_err(|e| Failure::from_component(e).with_file(&args.plugin))?;
    let func =
        find_function(&prepared.compiled, &args.function).map_err(Failure::from_component)?;
    let json_args = args_from_cli(&func, &args.args).map_err(Failure::bad_input)?;
    let limits = Limits {
        output_bytes: args.output_limit,
        ..flags.limits()
    };
    let caps = flags.caps();
    // An actor expects `init` before anything else; calling it first is what
    // a user means by "call handle on this plugin".
    let init = (!flags.no_init
        && world::fit(&prepared.compiled, World::ActorPlugin).fits
        && func.name != format!("{}#init", world::ACTOR_INTERFACE))
    .then_some(flags.init.as_str());
    let invocation = call_json(&prepared, &func.name, &json_args, &limits, &caps, init)
        .map_err(Failure::from_component)?;

    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&invocation).map_err(Failure::failed)?
        )?;
    } else {
        show_output("stdout", &invocation.report.stdout);
        show_output("stderr", &invocation.report.stderr);
        if let Ok(value) = &invocation.outcome {
            let mut shown = value.clone();
            if !args.raw
                && let Some((_, result)) = invocation.signature.rsplit_once(") -> ")
            {
                bytes_as_text(result, &mut shown);
            }
            outln!(
                "{}",
                serde_json::to_string(&shown).map_err(Failure::failed)?
            )?;
        }
    }
    match invocation.outcome {
        // An `err` result is the function saying it failed: the status
        // says so too, so a script can tell without parsing stdout.
        Ok(value) if is_err_result(&invocation.signature, &value) => {
            Err(Failure::failed(anyhow::anyhow!(
                "{} returned err: {}",
                invocation.function,
                value.get("err").map_or_else(String::new, |e| e.to_string())
            )))
        }
        Ok(_) => Ok(()),
        Err(err) => Err(Failure::failed(anyhow::anyhow!(
            "{}: {err}",
            invocation.function
        ))),
    }
}

/// Replaces, in `value` (the JSON of a value of the WIT type written as
/// `ty`), every `list<u8>` that is UTF-8 with its text: actors reply in
/// bytes that are usually text, and `[104, 105]` is hard to read. A type
/// this does not follow (variants, maps) is left as it is.
pub(super) fn bytes_as_text(ty: &str, value: &mut serde_json::Value) {
    use serde_json::Value;
    let ty = ty.trim();
    if ty == "list<u8>" {
        if let Value::Array(items) = value {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            if let Some(text) = bytes.and_then(|b| String::from_utf8(b).ok()) {
                *value = Value::String(text);
            }
        }
    } else if let Some(inner) = generic(ty, "result") {
        let parts = split_top(inner);
        for (key, part) in ["ok", "err"].into_iter().zip(parts) {
            if part != "_"
                && let Some(v) = value.get_mut(key)
            {
                bytes_as_text(part, v);
            }
        }
    } else if let Some(inner) = generic(ty, "option") {
        // `none` is `null`; `some(x)` is `x`.
        if !value.is_null() {
            bytes_as_text(inner, value);
        }
    } else if let Some(inner) = generic(ty, "list") {
        if let Value::Array(items) = value {
            for item in items {
                bytes_as_text(inner, item);
            }
        }
    } else if let Some(inner) =
        generic(ty, "tuple").or_else(|| ty.strip_prefix('(').and_then(|t| t.strip_suffix(')')))
    {
        if let Value::Array(items) = value {
            for (part, item) in split_top(inner).into_iter().zip(items) {
                bytes_as_text(part, item);
            }
        }
    } else if let Some(fields) = ty
        .strip_prefix("record {")
        .and_then(|t| t.strip_suffix('}'))
    {
        for field in split_top(fields) {
            if let Some((name, field_ty)) = field.split_once(':')
                && let Some(v) = value.get_mut(name.trim())
            {
                bytes_as_text(field_ty, v);
            }
        }
    }
}

/// `X` of `name<X>`.
fn generic<'a>(ty: &'a str, name: &str) -> Option<&'a str> {
    ty.strip_prefix(name)?.strip_prefix('<')?.strip_suffix('>')
}

/// `text` split at its commas outside brackets and braces, each part
/// trimmed.
fn split_top(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '<' | '{' | '(' => depth += 1,
            '>' | '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        parts.push(last);
    }
    parts
}

/// Whether `value` is the `err` case of a function whose one result is a
/// `result<…>` (a record with a field named `err` is not).
fn is_err_result(signature: &str, value: &serde_json::Value) -> bool {
    signature
        .rsplit_once(") -> ")
        .is_some_and(|(_, result)| result.starts_with("result"))
        && value
            .as_object()
            .is_some_and(|o| o.len() == 1 && o.contains_key("err"))
}

/// Guest output goes to stderr, framed, so stdout holds only the result.
pub(super) fn show_output(stream: &str, captured: &CapturedText) {
    if captured.total_bytes == 0 {
        return;
    }
    errln!("--- guest {stream} ({} bytes) ---", captured.total_bytes);
    err!("{}", captured.text);
    if !captured.text.ends_with('\n') {
        errln!();
    }
    if captured.truncated {
        errln!(
            "--- truncated: {} of {} bytes shown ---",
            captured.text.len(),
            captured.total_bytes
        );
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_as_text;
    use serde_json::json;

    #[test]
    fn byte_lists_that_are_utf8_become_text_where_the_type_says_so() {
        let cases = [
            ("list<u8>", json!([104, 105]), json!("hi")),
            ("list<u8>", json!([255, 0]), json!([255, 0])),
            ("list<u32>", json!([104, 105]), json!([104, 105])),
            (
                "result<list<u8>, string>",
                json!({"ok": [104]}),
                json!({"ok": "h"}),
            ),
            (
                "result<_, list<u8>>",
                json!({"err": [104]}),
                json!({"err": "h"}),
            ),
            ("option<list<u8>>", json!(null), json!(null)),
            ("option<list<u8>>", json!([104]), json!("h")),
            ("list<list<u8>>", json!([[104], [255]]), json!(["h", [255]])),
            (
                "tuple<u8, list<u8>>",
                json!([104, [104]]),
                json!([104, "h"]),
            ),
            ("(list<u8>, s32)", json!([[104], 104]), json!(["h", 104])),
            (
                "record { a: list<u8>, b: list<u8> }",
                json!({"a": [104], "b": [255]}),
                json!({"a": "h", "b": [255]}),
            ),
        ];
        for (ty, mut value, want) in cases {
            bytes_as_text(ty, &mut value);
            assert_eq!(value, want, "{ty}");
        }
    }
}
