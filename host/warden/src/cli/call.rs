//! `warden call PLUGIN.wasm FUNC [ARG…]`

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
    /// For actor plugins, the config passed to `init` before the call.
    #[arg(long, default_value = "", conflicts_with = "no_init")]
    init: String,
    /// Do not call `init` first, even for an actor plugin.
    #[arg(long)]
    no_init: bool,
    /// Fuel budget for the call (deterministic CPU limit).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long, default_value_t = 64)]
    memory_mb: usize,
    /// Wall-clock limit in milliseconds (0: none).
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Grant a directory: HOST:GUEST[:ro|rw] (read-only by default).
    #[arg(long = "dir", value_name = "HOST:GUEST[:ro|rw]")]
    dirs: Vec<DirGrant>,
    /// Bytes of guest stdout and of stderr to keep.
    #[arg(long, default_value_t = 64 * 1024)]
    output_limit: usize,
    /// Print one JSON object with result, output, fuel and duration.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: Args) -> CmdResult {
    let runtime = args
        .cache
        .runtime_for_memory(args.memory_mb.saturating_mul(1 << 20))?;
    let metering = if args.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let prepared = runtime
        .compile_file(&args.plugin, metering)
        .and_then(|c| c.prepare())
        .map_err(|e| Failure::from_component(e).with_file(&args.plugin))?;
    let func =
        find_function(&prepared.compiled, &args.function).map_err(Failure::from_component)?;
    let json_args = args_from_cli(&func, &args.args).map_err(Failure::bad_input)?;
    let limits = Limits {
        memory_bytes: args.memory_mb.saturating_mul(1 << 20),
        fuel: args.fuel,
        timeout: (args.timeout_ms > 0).then(|| Duration::from_millis(args.timeout_ms)),
        output_bytes: args.output_limit,
        ..Limits::default()
    };
    let caps = Capabilities {
        dirs: args.dirs.clone(),
        ..Capabilities::default()
    };
    // An actor expects `init` before anything else; calling it first is what
    // a user means by "call handle on this plugin".
    let init = (!args.no_init
        && world::fit(&prepared.compiled, World::ActorPlugin).fits
        && func.name != format!("{}#init", world::ACTOR_INTERFACE))
    .then_some(args.init.as_str());
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
            outln!("{}", serde_json::to_string(value).map_err(Failure::failed)?)?;
        }
    }
    match invocation.outcome {
        Ok(_) => Ok(()),
        Err(err) => Err(Failure::failed(anyhow::anyhow!(
            "{}: {err}",
            invocation.function
        ))),
    }
}

/// Guest output goes to stderr, framed, so stdout holds only the result.
fn show_output(stream: &str, captured: &CapturedText) {
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
