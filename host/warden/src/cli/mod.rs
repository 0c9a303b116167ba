//! Command-line surface. Each subcommand lives in its own file and only
//! turns arguments into library calls and results into text or JSON.
//!
//! Exit status: 0 success, 1 the thing asked for failed, 2 bad usage or bad
//! input (with a message naming the file, key or argument).

mod bench;
mod cache;
mod call;
mod ctl;
mod dev;
mod fleet;
mod grade;
mod inspect;
mod manual;
mod new;
mod out;
mod ps;
mod repl;
mod run;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use warden::component::{CompileLimits, PoolingConfig, Runtime, RuntimeConfig};

#[derive(Parser)]
#[command(
    name = "warden",
    version,
    about = "A WebAssembly-plugin sandbox host with OTP-style supervision"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text` for people, `json`
    /// (one object a line) for a service manager or a log collector.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The shape of log lines (`--log-format`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Start the supervision trees of a config and serve until Ctrl-C.
    Run(run::Args),
    /// Show a component's WIT, with its type names (WASI imports summarised
    /// unless `--all`), and the Warden worlds it satisfies.
    Inspect(inspect::Args),
    /// Call any exported function with JSON arguments.
    Call(call::Args),
    /// Load a component and call its exports line by line, in one
    /// instance whose state persists (completion, history, snapshots).
    Repl(repl::Args),
    /// Grade solutions of an exercise: every test case in a fresh sandbox,
    /// reports as text, JSON, Exercism, Gradescope or JUnit.
    Grade(grade::Args),
    /// Join a grading fleet on NATS JetStream and grade its jobs until
    /// SIGTERM (`warden grade --nats` publishes them).
    Worker(worker::Args),
    /// A fleet's operations over NATS: the server permissions per role.
    Fleet(fleet::Args),
    /// Run a built-in benchmark.
    Bench(bench::Args),
    /// List native worker incarnations from the registry (no running host needed).
    Ps(ps::Args),
    /// Plugin dev loop: rebuild a plugin crate on save and hot-reload the
    /// children that run it, state kept.
    Dev(dev::Args),
    /// Talk to a running host over its HTTP API: tree, ps, events, restart,
    /// kill, reload, strategy, send, any operation.
    Ctl(ctl::Args),
    /// The compile cache: how much it holds (`du`), emptying it (`clean`).
    Cache(cache::Args),
    /// Print a shell completion script (e.g. `warden completions bash >
    /// ~/.local/share/bash-completion/completions/warden`).
    Completions(manual::CompletionArgs),
    /// Print the man page warden(1), or with `--dir` write a page for
    /// every command (warden-ctl-tree.1 …) into a directory.
    Man(manual::ManArgs),
    /// Scaffold a plugin crate or an exercise folder, anywhere.
    New(new::Args),
    /// The compile child: compiles the component on stdin as the JSON
    /// request says (run by Warden itself, never by hand).
    #[command(name = "__compile", hide = true)]
    Compile {
        /// The request, written by the host that spawned this process.
        request: String,
    },
}

/// Why a command did not succeed, and so which exit status it gets.
pub enum Failure {
    /// Bad usage or bad input: exit 2.
    BadInput(anyhow::Error),
    /// The thing asked for failed: exit 1.
    Failed(anyhow::Error),
    /// The command has told why on stderr itself, in several lines (a
    /// list of problems): exit with this status and add nothing.
    Told(u8),
    /// Stdout's reader went away (`warden inspect x.wasm | head`): stop and
    /// exit 0 without a word, as the reader asked (see `out`).
    OutputClosed,
}

impl Failure {
    pub fn bad_input(err: impl Into<anyhow::Error>) -> Self {
        Self::BadInput(err.into())
    }

    pub fn failed(err: impl Into<anyhow::Error>) -> Self {
        Self::Failed(err.into())
    }

    /// Sorts a component error by whose fault it is.
    pub fn from_component(err: warden::component::ComponentError) -> Self {
        if err.is_bad_input() {
            Self::BadInput(err.into())
        } else {
            Self::Failed(err.into())
        }
    }
}

pub type CmdResult = Result<(), Failure>;

/// Options shared by commands that load components.
#[derive(clap::Args, Clone)]
pub struct CacheArgs {
    /// Directory for compiled components (default: $XDG_CACHE_HOME/warden or ~/.cache/warden).
    #[arg(long, env = "WARDEN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the compile cache.
    #[arg(long)]
    no_cache: bool,
    /// CPU seconds a component's compile may use (default 60).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    compile_cpu_secs: Option<u64>,
    /// Memory a component's compile may use, in MiB (default 1536).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(16..))]
    compile_memory_mb: Option<u64>,
    /// Wall-clock milliseconds a component's compile may take (default 300000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    compile_timeout_ms: Option<u64>,
    /// Largest component accepted, in bytes, checked before reading (default 64 MiB).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(8..))]
    max_bytes: Option<u64>,
}

impl CacheArgs {
    pub fn runtime(&self) -> Result<Runtime, Failure> {
        Runtime::new(self.config()).map_err(Failure::failed)
    }

    /// A runtime sized for instances whose memory limit is at most
    /// `largest_limit` bytes (no memory moves while it grows to it).
    pub fn runtime_for_memory(&self, largest_limit: usize) -> Result<Runtime, Failure> {
        Runtime::new(self.config().for_memory_limit(largest_limit)).map_err(Failure::failed)
    }

    /// A runtime that pools `instances` instance slots, each with room for
    /// a linear memory of `max_memory_bytes`; `interpreters` keeps a freed
    /// slot's dirty pages resident ([`PoolingConfig::keep_whole_slot`]),
    /// for runners whose every fresh instance rewrites tens of MiB.
    pub fn pooled_runtime(
        &self,
        instances: u32,
        max_memory_bytes: u64,
        interpreters: bool,
    ) -> Result<Runtime, Failure> {
        let max_memory = usize::try_from(max_memory_bytes).map_err(Failure::bad_input)?;
        let pool = PoolingConfig::new(instances, max_memory);
        Runtime::new(RuntimeConfig {
            pooling: Some(if interpreters {
                pool.keep_whole_slot()
            } else {
                pool
            }),
            ..self.config().for_memory_limit(max_memory)
        })
        .map_err(Failure::failed)
    }

    fn config(&self) -> RuntimeConfig {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        let defaults = CompileLimits::default();
        RuntimeConfig {
            cache_dir,
            compile: CompileLimits {
                cpu_secs: self.compile_cpu_secs.unwrap_or(defaults.cpu_secs),
                memory_mb: self.compile_memory_mb.unwrap_or(defaults.memory_mb),
                timeout: self
                    .compile_timeout_ms
                    .map_or(defaults.timeout, std::time::Duration::from_millis),
                max_bytes: self.max_bytes.unwrap_or(defaults.max_bytes),
            },
            ..RuntimeConfig::default()
        }
    }
}

pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|base| base.join("warden"))
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(
        cli.log_format,
        &default_filter(&cli.command),
        matches!(&cli.command, Command::Call(args) if args.verbose()),
    );
    std::panic::set_hook(Box::new(log_panic));
    // Untrusted components are compiled by this same binary, in a child.
    match std::env::current_exe() {
        Ok(me) => {
            warden::component::set_compiler_program(me);
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot locate this executable: untrusted components cannot be compiled");
        }
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Call(args) => call::run(args),
        Command::Repl(args) => repl::run(args),
        Command::Grade(args) => grade::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Ps(args) => ps::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Completions(args) => manual::completions(args, Cli::command()),
        Command::Man(args) => manual::man(args, Cli::command()),
        Command::New(args) => new::run(args),
        // Prints its own errors: a list of violations needs several lines.
        Command::Ctl(args) => return ctl::run(args),
        Command::Compile { request } => {
            let code = warden::component::compile_child::main(&request);
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(err)) => {
            out::error_line(&one_line(&err));
            ExitCode::from(2)
        }
        Err(Failure::Failed(err)) => {
            out::error_line(&one_line(&err));
            ExitCode::from(1)
        }
        Err(Failure::Told(code)) => ExitCode::from(code),
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
    }
}

fn one_line(err: &anyhow::Error) -> String {
    // The error and its causes, skipping a cause the message above already
    // quotes (many errors put `{source}` in their own text).
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text.lines().collect::<Vec<_>>().join(" ")
}

/// What is logged when neither `WARDEN_LOG` nor `RUST_LOG` says: `warden
/// run` narrates what the tree does; one-shot commands stay quiet, and
/// `warden call` shows the guest's own log lines only with `-v`.
fn default_filter(command: &Command) -> String {
    match command {
        Command::Run(_) | Command::Dev(_) | Command::Worker(_) => "info".into(),
        // Benchmarks time the host; log lines would be what gets measured.
        Command::Bench(_) => "error".into(),
        Command::Call(args) if args.verbose() => format!("warn,{GUEST_LOGS}=trace"),
        Command::Call(_) | Command::Repl(_) => format!("warn,{GUEST_LOGS}=off"),
        _ => "warn".into(),
    }
}

/// The target the host's `log` import writes guest lines under.
const GUEST_LOGS: &str = "warden::guest";

/// `WARDEN_LOG`, else `RUST_LOG` (what `tracing` users set by habit), else
/// `default`. A variable that does not parse is said once (the returned
/// warning), not silently replaced.
fn log_filter(default: &str) -> (tracing_subscriber::EnvFilter, Option<String>) {
    for var in ["WARDEN_LOG", "RUST_LOG"] {
        let Some(value) = std::env::var_os(var) else {
            continue;
        };
        match tracing_subscriber::EnvFilter::try_new(value.to_string_lossy()) {
            Ok(filter) => return (filter, None),
            Err(err) => {
                let warning = format!(
                    "{var}={}: not a log filter ({err}); using {default}",
                    value.to_string_lossy()
                );
                return (tracing_subscriber::EnvFilter::new(default), Some(warning));
            }
        }
    }
    (tracing_subscriber::EnvFilter::new(default), None)
}

/// Logs to stderr as `format` says, filtered by [`log_filter`]; with
/// `guest_logs` (`warden call -v`) every guest log line is shown whatever
/// the filter says of the rest.
fn init_tracing(format: LogFormat, default: &str, guest_logs: bool) {
    let (mut filter, warning) = log_filter(default);
    if guest_logs && let Ok(directive) = format!("{GUEST_LOGS}=trace").parse() {
        filter = filter.add_directive(directive);
    }
    // A panic is logged whatever the filter says: with std's hook
    // replaced by `log_panic`, a filtered-out panic would vanish.
    if let Ok(directive) = format!("{PANIC_TARGET}=error").parse() {
        filter = filter.add_directive(directive);
    }
    if format == LogFormat::Json {
        // The lines text mode writes with `eprintln` (`warden: API on …`)
        // are log events in JSON mode, shown whatever the filter.
        out::set_json_status();
        if let Ok(directive) = format!("{}=info", out::STATUS_TARGET).parse() {
            filter = filter.add_directive(directive);
        }
    }
    if let Some(warning) = &warning
        && format == LogFormat::Text
    {
        out::errln!("warning: {warning}");
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Its fallback for a failed write is `eprintln!`, which panics
        // when stderr is a closed pipe: a log line nobody can read is lost.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One JSON object a line, fields flattened beside `message`.
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Some(warning) = warning
        && format == LogFormat::Json
    {
        tracing::warn!(target: out::STATUS_TARGET, "{warning}");
    }
}

/// The panic hook: a panic is ONE log event (in JSON mode one JSON line),
/// not std's several lines on stderr: its message joined, its location,
/// and the backtrace (when `RUST_BACKTRACE` asks for one) folded in.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    let location = info.location().map(ToString::to_string).unwrap_or_default();
    let thread = std::thread::current();
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
        .then(|| fold_lines(&backtrace.to_string()));
    tracing::error!(
        target: PANIC_TARGET,
        thread = thread.name().unwrap_or("<unnamed>"),
        location,
        backtrace,
        "panicked: {}",
        fold_lines(message)
    );
}

/// The target [`log_panic`] logs under.
const PANIC_TARGET: &str = "warden::panic";

/// Lines of `text`, trimmed and joined with ` | `, empty ones dropped.
fn fold_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::{fold_lines, one_line};

    #[test]
    fn a_panic_message_and_backtrace_fold_into_one_line() {
        assert_eq!(fold_lines("boom\n  second\n\n"), "boom | second");
        assert_eq!(
            fold_lines("   0: std::panicking::begin\n             at /rust/a.rs:1\n   1: main"),
            "0: std::panicking::begin | at /rust/a.rs:1 | 1: main"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot listen on 127.0.0.1:1: {source}")]
    struct Quoting {
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot start")]
    struct Terse {
        #[source]
        source: std::io::Error,
    }

    fn in_use() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use")
    }

    #[test]
    fn a_cause_the_message_quotes_is_not_repeated() {
        let err = anyhow::Error::new(Quoting { source: in_use() });
        assert_eq!(
            one_line(&err),
            "cannot listen on 127.0.0.1:1: address in use"
        );
    }

    #[test]
    fn a_cause_the_message_omits_is_appended() {
        let err = anyhow::Error::new(Terse { source: in_use() }).context("warden run");
        assert_eq!(one_line(&err), "warden run: cannot start: address in use");
    }
}
