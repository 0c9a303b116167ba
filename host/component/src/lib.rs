//! The component runtime: loading user-supplied Wasm components and running
//! them sandboxed.
//!
//! This crate is the only one in the workspace that talks to wasmtime, so its API churn
//! stays here. It owns:
//! - [`Runtime`] — engines (plain and fuel-metered), the linker with WASI p2
//!   and `warden:plugin/host`, the epoch ticker, the compile caches (memory
//!   and disk, both bounded), and compiling untrusted bytes in a compile
//!   child under [`CompileLimits`] ([`compile_child`] is that child);
//! - [`Sandbox`] — one instance in its own Store under [`Limits`], with only
//!   the [`Capabilities`] granted, and the classification of every guest
//!   failure into a [`ComponentError`];
//! - [`Interrupt`] — how the host stops guest calls it no longer wants
//!   (a kill, a caller gone, the host stopping);
//! - worlds ([`world`]), typed actor access ([`ActorProgram`]), dynamic calls
//!   by name with JSON values ([`exports`], [`values`]).
//!
//! It never panics on guest input, and never grants anything by default:
//! no files, no env, no args, no sockets, no real clock or randomness.

mod actor;
mod bindings;
mod cache;
mod caps;
mod capture;
mod clock_guard;
pub mod compile_child;
mod compiler;
mod custom_section;
mod engine;
mod error;
pub mod exports;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod host_iface;
mod interrupt;
pub mod invoke;
mod limits;
mod operations;
pub mod read;
mod resident;
mod sandbox;
pub mod values;
pub mod wit_text;
pub mod world;

pub use actor::{ActorInstance, ActorProgram};
pub use caps::{Capabilities, DirGrant, DirGrantError};
pub use capture::{CapturedText, Overflow};
pub use compiler::{CompileLimits, set_compiler_program};
pub use custom_section::with_custom_section;
pub use engine::{
    CacheBudget, Compiled, Metering, Origin, PoolingConfig, Prepared, Runtime, RuntimeConfig,
    Trust, content_hash,
};
pub use error::{CompileLimit, ComponentError, Mistyped};
pub use host_iface::{HostContext, Mailer};
pub use interrupt::{FireOnDrop, Interrupt};
pub use limits::{
    Held, Limits, MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES, Refusal, TABLE_ELEMENT_BYTES,
};
pub use operations::{OpInfo, OperationProgram};
pub use read::read_component_file;
pub use sandbox::{CallReport, GuestState, KillSwitch, Sandbox};
pub use world::World;

/// A component value and its type, as the other crates see them (they
/// never name wasmtime themselves).
pub use wasmtime::component::{Val, types::Type};
