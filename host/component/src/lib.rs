//! The component runtime: loading user-supplied WebAssembly components and
//! running them sandboxed.
//!
//! The nouns, in the order a caller meets them:
//! - [`RuntimeConfig`]: how a runtime is built (epoch tick, memory
//!   reservation, pooling, [`CompileLimits`], [`CacheBudget`]);
//! - [`Runtime`]: one per host; engines (plain and fuel-[`Metering`], each
//!   with a Winch twin of the baseline [`Tier`]), the
//!   linker, the epoch ticker and the bounded compile caches;
//! - [`Compiled`]: a component's machine code, named by the SHA-256 of its
//!   bytes, with its [`Origin`]; [`Trust`] says where it was compiled;
//! - [`Prepared`]: compiled and linked (WASI p2 and `warden:plugin/host`),
//!   the cheap source of new instances;
//! - [`World`]: the plugin worlds a component is checked against ([`world`]);
//! - [`ActorProgram`] and [`ActorInstance`]: an `actor-plugin`, and one
//!   incarnation of it receiving messages, each call a future that runs
//!   the guest on a fiber of the awaiting task;
//! - [`OperationProgram`] and [`OpInfo`]: an `operation-plugin`, every call
//!   in a fresh sandbox;
//! - [`Limits`], [`Capabilities`] ([`DirGrant`]) and [`HostContext`]
//!   ([`Mailer`], [`GuestLog`]): what an instance may use, may touch, and who it is;
//! - [`Sandbox`]: one instance in its own Store under those, stopped by its
//!   [`KillSwitch`]; a call's [`CallReport`] holds its [`CapturedText`];
//! - [`Interrupt`]: the graph of stop flags (a kill, a caller gone, the host
//!   stopping) every guest call runs under; [`FireOnDrop`] fires one;
//! - [`ComponentError`]: every way loading or running fails, with
//!   [`CompileLimit`], [`Refusal`] and [`Mistyped`] as details;
//! - calls by name with JSON: [`exports`] finds functions, [`values`] maps
//!   JSON to [`Val`] by [`Type`], [`invoke`] makes one-off calls, and
//!   [`wit_text`] renders types as WIT;
//! - [`component_wit`]: a component's own WIT, decoded from its bytes with
//!   the names of its types (what `warden inspect` prints).
//!
//! The crate owns everything that touches wasmtime: it is the only one in
//! the workspace that names it, so wasmtime's API churn stays here, and
//! others see components only through the types above. Bytes the host did
//! not produce are compiled in a compile child under [`CompileLimits`]
//! ([`compile_child`] is that child's side), never in the host process.
//!
//! It never panics on guest input, and never grants anything by default:
//! no files, no env, no args, no sockets, no real clock or randomness. It
//! knows nothing of supervision, config files or HTTP.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use warden_component::invoke::call_json;
//! use warden_component::{Capabilities, Limits, Metering, Runtime, RuntimeConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Untrusted bytes are compiled by a child process under limits: the
//! // `warden` binary's hidden `__compile` subcommand.
//! warden_component::set_compiler_program("/usr/local/bin/warden");
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let bytes = runtime.read_component(Path::new("leap.wasm"))?;
//! let prepared = runtime.prepare(&bytes, Metering::Off)?;
//! let call = call_json(
//!     &prepared,
//!     "leap-year",
//!     &[serde_json::json!(2024)],
//!     &Limits::default(),
//!     &Capabilities::default(),
//!     None,
//! )?;
//! // The guest's answer, or how it failed (trap, timeout, memory, …).
//! println!("{:?}, printed {:?}", call.outcome, call.report.stdout.text);
//! # Ok(())
//! # }
//! ```

mod actor;
mod bindings;
mod cache;
mod caps;
mod capture;
mod clock_guard;
pub mod compile_child;
mod compiler;
pub mod component_wit;
mod custom_section;
mod engine;
mod error;
pub mod exports;
mod fiber_stacks;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod host_iface;
mod interrupt;
pub mod invoke;
mod limits;
mod map_limit;
mod operations;
pub mod read;
mod resident;
mod sandbox;
pub mod values;
pub mod wit_text;
pub mod world;

pub use actor::{ActorInstance, ActorProgram};
pub use cache::{CacheUsage, EngineUsage, cache_usage, clean_cache};
pub use caps::{Capabilities, DirGrant, DirGrantError};
pub use capture::{CapturedText, Overflow};
pub use compiler::{CompileLimits, set_compiler_program};
pub use custom_section::with_custom_section;
pub use engine::{
    CacheBudget, Compiled, Metering, Origin, PoolingConfig, Prepared, Runtime, RuntimeConfig, Tier,
    Trust, content_hash,
};
pub use error::{CompileLimit, ComponentError, Mistyped};
pub use host_iface::{GuestLog, HostContext, Mailer};
pub use interrupt::{FireOnDrop, Interrupt};
pub use limits::{
    Held, Limits, MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES, Refusal, TABLE_ELEMENT_BYTES,
};
pub use operations::{OpInfo, OperationProgram};
pub use read::read_component_file;
pub use sandbox::{CallReport, KillSwitch, Sandbox};
pub use world::World;

/// A component value and its type, as the other crates see them (they
/// never name wasmtime themselves).
pub use wasmtime::component::{Val, types::Type};
