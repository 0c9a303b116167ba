//! The one error type of the component runtime.
//!
//! Every way a guest can fail — or a user's file can be wrong — ends in a
//! [`ComponentError`] variant that callers match on. Guest-caused failures
//! never become host panics: classification happens in
//! [`crate::sandbox`] from wasmtime's trap codes and the store's
//! own records (the memory limiter, the output capture), never from error
//! text.

use std::path::PathBuf;

/// Why loading or running a component failed.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file: {reason}")]
    NotWasm {
        /// What the bytes are instead: empty, truncated, no `\0asm` magic,
        /// an unknown version.
        reason: String,
    },

    /// The bytes are a core WebAssembly module, not a component.
    #[error(
        "a core WebAssembly module, not a component (build plugins for wasm32-wasip2, \
         or wrap the module with `wasm-tools component new`)"
    )]
    NotAComponent,

    /// The bytes start like a component but do not compile (truncated,
    /// corrupted, or using features this host does not enable).
    #[error("invalid component: {reason}")]
    Malformed {
        /// The compiler's message, on one line.
        reason: String,
    },

    /// The component does not export what a world requires.
    #[error("{}", world_mismatch_message(world, missing, mistyped))]
    WorldMismatch {
        /// The world's WIT name (`actor-plugin`).
        world: String,
        /// Every required export the component lacks, quoted as the
        /// message shows it (``export `warden:plugin/actor@0.1.0` ``,
        /// `` `iface#func` ``).
        missing: Vec<String>,
        /// Every required export present with another type.
        mistyped: Vec<Mistyped>,
    },

    /// The component could not be instantiated (a start function that
    /// trapped, a pool slot too small, …).
    #[error("cannot instantiate component: {reason}")]
    Instantiation {
        /// What went wrong, on one line (a start function's trap message
        /// included).
        reason: String,
    },

    /// The component imports something this host does not provide (the
    /// host offers WASI p2 and `warden:plugin/host`).
    #[error("cannot link component: {reason}")]
    Unlinkable {
        /// The linker's message, naming the import it could not satisfy.
        reason: String,
    },

    /// Compiling the bytes went past a compile limit; the compile was
    /// stopped and nothing was cached.
    #[error("compile limit: {0}")]
    CompileLimit(CompileLimit),

    /// The path names something other than a regular file (a FIFO, a
    /// device, a directory): refused before reading, so it cannot block
    /// or stream forever.
    #[error("{}: not a regular file but {what}", path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
        /// What it is instead, with its article (`a FIFO (named pipe)`,
        /// `a directory`).
        what: &'static str,
    },

    /// The compiler itself failed for a reason that is not the input's
    /// (the compile program could not be started, crashed, or wrote no
    /// artifact).
    #[error("the compiler failed: {reason}")]
    Compiler {
        /// What failed: starting or watching the compile child, its exit
        /// status or signal, a missing or unloadable artifact.
        reason: String,
    },

    /// The compile cache directory could be written by someone else, so
    /// its artifacts (loaded as trusted machine code) cannot be trusted.
    #[error("refusing the compile cache {}: {reason}", dir.display())]
    UnsafeCache {
        /// The cache directory refused.
        dir: PathBuf,
        /// What is wrong with it or with an artifact in it: another owner,
        /// group- or world-writable, not a directory or regular file.
        reason: String,
    },

    /// No exported function has that name.
    #[error("no exported function `{name}`{}", hint_suffix(available))]
    NoSuchFunction {
        /// The name asked for; for an ambiguous short name, a hint naming
        /// one full candidate.
        name: String,
        /// Every exported function's full name (`func` or
        /// `interface#func`), for the message.
        available: Vec<String>,
    },

    /// The call's arguments do not match the function's parameter types.
    #[error("{0}")]
    BadArguments(#[from] crate::values::ValueError),

    /// The call ran past its wall-clock timeout.
    #[error("timed out after {timeout_ms} ms")]
    Timeout {
        /// The call's wall-clock budget, in milliseconds.
        timeout_ms: u64,
    },

    /// The call used up its fuel budget.
    #[error("ran out of fuel (budget {budget})")]
    OutOfFuel {
        /// The call's fuel budget (units of wasmtime fuel, roughly one per
        /// wasm instruction).
        budget: u64,
    },

    /// The instance asked for more memory than its limit allows: its
    /// linear memories and tables together, at instantiation or when the
    /// guest grew them, or more memories or tables than an instance may
    /// have.
    #[error("memory limit of {limit_bytes} bytes reached: {refused}")]
    MemoryLimit {
        /// The instance's memory limit, in bytes.
        limit_bytes: usize,
        /// The request that was refused, and what the instance held.
        refused: crate::limits::Refusal,
    },

    /// The guest wrote more to stdout/stderr than its limit allows (only
    /// when output overflow is configured to fail the call).
    #[error("output limit of {limit_bytes} bytes exceeded")]
    OutputLimit {
        /// The per-stream output limit, in bytes.
        limit_bytes: usize,
    },

    /// The guest trapped: a panic, `unreachable`, a stack overflow, an
    /// out-of-bounds access, … or called WASI's `exit` mid-call (how an
    /// SDK plugin's panic ends the instance). `message` includes the
    /// guest's panic message when it printed one.
    #[error("trap: {message}{}", backtrace_suffix(backtrace.as_deref()))]
    Trap {
        /// The trap's description, then the guest's panic message and
        /// location when it printed one.
        message: String,
        /// The wasm call stack at the trap as wasmtime renders it, when
        /// backtraces are on (`RuntimeConfig::wasm_backtraces`; function
        /// names need the guest's name section). Shown on one line after
        /// the message.
        backtrace: Option<String>,
    },

    /// The host stopped the call (a kill from the supervisor).
    #[error("killed by the host")]
    Killed,

    /// An earlier trap poisoned this instance; only a new instance can run.
    #[error("instance is unusable after an earlier failure; start a new one")]
    Poisoned,

    /// A file operation failed: reading a component file, or writing the
    /// compile cache or a compile child's artifact.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory operated on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A capability (preopened directory) could not be granted.
    #[error("cannot grant directory {}: {reason}", host.display())]
    Capability {
        /// The host directory that could not be preopened.
        host: PathBuf,
        /// The error opening it.
        reason: String,
    },
}

/// Which compile limit stopped a compile (`[host.compile]`, or the
/// `--compile-*` flags of the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompileLimit {
    /// The bytes are larger than `max_bytes` (refused before reading or
    /// compiling them).
    #[error("{actual_bytes} bytes is over the size limit of {limit_bytes} bytes")]
    Size {
        /// The limit, in bytes.
        limit_bytes: u64,
        /// The size of the bytes refused (for a file that grew while it was
        /// read, the limit plus one).
        actual_bytes: u64,
    },
    /// The compiler used more CPU time than `cpu_secs`.
    #[error("compiling used more than {secs} s of CPU time")]
    Cpu {
        /// The CPU-time limit, in seconds.
        secs: u64,
    },
    /// The compiler needed more memory than `memory_mb`.
    #[error("compiling needed more than {mb} MiB of memory")]
    Memory {
        /// The memory limit, in MiB.
        mb: u64,
    },
    /// The compile took longer than `timeout_ms` of wall-clock time.
    #[error("compiling took longer than {ms} ms")]
    WallClock {
        /// The wall-clock limit, in milliseconds.
        ms: u64,
    },
}

impl CompileLimit {
    /// `size`, `cpu`, `memory` or `wall_clock`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Size { .. } => "size",
            Self::Cpu { .. } => "cpu",
            Self::Memory { .. } => "memory",
            Self::WallClock { .. } => "wall_clock",
        }
    }
}

/// An export that exists but has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mistyped {
    /// The export: an interface (`warden:plugin/actor@0.1.0`) or a
    /// function in one (`…#handle`, or a contract key such as `leap-year`).
    pub name: String,
    /// The type required, as WIT-like text ([`crate::wit_text`]).
    pub expected: String,
    /// The type the component exports, in the same notation.
    pub found: String,
}

impl ComponentError {
    /// True when the failure comes from what the user handed in (a file, a
    /// world, arguments, bytes too costly to compile) rather than from
    /// running the guest or from the host: the CLI exits with status 2 for
    /// these.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::NotWasm { .. }
                | Self::NotAComponent
                | Self::Malformed { .. }
                | Self::Unlinkable { .. }
                | Self::CompileLimit(_)
                | Self::NotAFile { .. }
                | Self::WorldMismatch { .. }
                | Self::NoSuchFunction { .. }
                | Self::BadArguments(_)
                | Self::Io { .. }
                | Self::Capability { .. }
        )
    }

    /// A short machine-readable name of the variant (`timeout`,
    /// `out_of_fuel`, …) for reports and events.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotWasm { .. } => "not_wasm",
            Self::NotAComponent => "not_a_component",
            Self::Malformed { .. } => "invalid_component",
            Self::WorldMismatch { .. } => "world_mismatch",
            Self::Instantiation { .. } => "instantiation",
            Self::Unlinkable { .. } => "unlinkable",
            Self::CompileLimit(_) => "compile_limit",
            Self::NotAFile { .. } => "not_a_file",
            Self::Compiler { .. } => "compiler",
            Self::UnsafeCache { .. } => "unsafe_cache",
            Self::NoSuchFunction { .. } => "no_such_function",
            Self::BadArguments(_) => "bad_arguments",
            Self::Timeout { .. } => "timeout",
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::OutputLimit { .. } => "output_limit",
            Self::Trap { .. } => "trap",
            Self::Killed => "killed",
            Self::Poisoned => "poisoned",
            Self::Io { .. } => "io",
            Self::Capability { .. } => "capability",
        }
    }
}

fn world_mismatch_message(world: &str, missing: &[String], mistyped: &[Mistyped]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    for m in mistyped {
        parts.push(format!(
            "`{}` has type `{}`, expected `{}`",
            m.name, m.found, m.expected
        ));
    }
    format!(
        "component does not fit world `{world}`: {}",
        parts.join("; ")
    )
}

fn hint_suffix(available: &[String]) -> String {
    if available.is_empty() {
        " (the component exports no functions)".to_string()
    } else {
        format!(" (exported: {})", available.join(", "))
    }
}

/// A trap's backtrace, when one was recorded, folded onto the error's line.
fn backtrace_suffix(backtrace: Option<&str>) -> String {
    let Some(backtrace) = backtrace else {
        return String::new();
    };
    let frames: Vec<&str> = backtrace
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    format!(" | {}", frames.join(" | "))
}
