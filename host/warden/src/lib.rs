//! Warden: a WebAssembly-plugin sandbox host with Erlang/OTP-style
//! supervision.
//!
//! The nouns, in the order you meet them:
//! - a [`Runtime`](component::Runtime) loads user-supplied WebAssembly
//!   components (compiling each version once, in a child process under
//!   [`CompileLimits`](component::CompileLimits), and caching the machine
//!   code within a byte budget);
//! - a [`Sandbox`](component::Sandbox) is one instance of a component in its
//!   own Store, under [`Limits`](component::Limits) (memory, fuel, wall
//!   time, output) and with only the
//!   [`Capabilities`](component::Capabilities) granted;
//! - an [`ActorProgram`](component::ActorProgram) is a component of the
//!   `actor-plugin` world (see `wit/warden.wit`), whose instances receive
//!   messages, and can snapshot and restore their state;
//! - an [`Exercise`](grade::Exercise) is a folder of test cases and the
//!   world its solutions export; [`grade_submission`](grade::grade_submission)
//!   runs every case in a fresh sandbox and returns a
//!   [`SubmissionReport`](grade::SubmissionReport).
//! - a native worker is an OS process under the same supervision: a
//!   [`WorkerSpec`](process::WorkerSpec) checked against the host's
//!   [`ProcessPolicy`](process::ProcessPolicy), limited and watched by a
//!   [`Monitor`](process::Monitor); every incarnation is recorded in the
//!   [`Registry`](registry::Registry), which also lets a restarted host kill
//!   what a crashed one left running.
//!
//! ```no_run
//! use warden::component::{Capabilities, HostContext, Limits, Metering, Runtime, RuntimeConfig, ActorProgram};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Bytes Warden did not produce are compiled by a child process under
//! // limits: the `warden` binary's hidden `__compile` subcommand.
//! warden::component::set_compiler_program("/usr/local/bin/warden");
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let bytes = std::fs::read("counter.wasm")?;
//! let program = ActorProgram::new(runtime.prepare(&bytes, Metering::Off)?)?;
//! let mut counter = program.instantiate(&Limits::default(), &Capabilities::default(), HostContext::isolated("counter"))?;
//! counter.init("")?.map_err(|e| format!("init refused: {e}"))?;
//! let reply = counter.handle(b"inc")?.map_err(|e| format!("handle refused: {e}"))?;
//! assert_eq!(reply, b"1");
//! # Ok(())
//! # }
//! ```

pub use warden_api as api;
pub mod bench;
pub mod builtin;
pub use warden_component as component;
pub mod config;
pub use warden_events as events;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub use warden_grade as grade;
pub use warden_ops as ops;
pub use warden_process as process;
pub use warden_process::registry;
pub mod reload;
pub use warden_supervisor as supervisor;
pub mod host;
