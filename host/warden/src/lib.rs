//! Warden: a WebAssembly-plugin sandbox host with Erlang/OTP-style
//! supervision.
//!
//! This crate joins the workspace's crates into one host and re-exports
//! each under the name of its responsibility:
//!
//! | module | crate | owns |
//! |---|---|---|
//! | [`supervisor`] | `warden-supervisor` | OTP semantics, generic over the child |
//! | [`component`] | `warden-component` | wasmtime: sandboxes, limits, capabilities, values, compiling |
//! | [`process`], [`registry`] | `warden-process` | native workers, and the SQLite record of them |
//! | [`grade`] | `warden-grade` | exercises, verdicts, reports |
//! | [`ops`] | `warden-ops` | the operation registry and its schemas |
//! | [`events`] | `warden-events` | the one typed event stream |
//! | [`api`] | `warden-api` | HTTP, SSE, metrics, the dashboard |
//!
//! Its own modules are what needs all of them: [`config`] (`warden.toml`
//! into a checked [`Config`](config::Config)), [`host`] (a [`Host`](host::Host)
//! builds the trees of a config, with component and process children, and
//! [`host::run`] is `warden run`'s whole life for any embedder), [`health`]
//! (the periodic health monitor), [`builtin`]
//! (the host's own operations), [`reload`] (hot reload with state),
//! [`store`] (components uploaded over the API, named by content), [`fleet`]
//! (grading on many hosts over NATS JetStream), and
//! [`bench`](mod@bench) (`warden bench`). The `warden` binary (`src/cli/`) is argument
//! parsing and printing over this library.
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
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Bytes Warden did not produce are compiled by a child process under
//! // limits: the `warden` binary's hidden `__compile` subcommand.
//! warden::component::set_compiler_program("/usr/local/bin/warden");
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let bytes = std::fs::read("counter.wasm")?;
//! let program = ActorProgram::new(runtime.prepare(&bytes, Metering::Off)?)?;
//! // An actor's calls are futures: the guest runs on a fiber of the task
//! // that awaits them.
//! let mut counter = program
//!     .instantiate(&Limits::default(), &Capabilities::default(), HostContext::isolated("counter"))
//!     .await?;
//! counter.init("").await?.map_err(|e| format!("init refused: {e}"))?;
//! let reply = counter.handle(b"inc").await?.map_err(|e| format!("handle refused: {e}"))?;
//! assert_eq!(reply, b"1");
//! # Ok(())
//! # }
//! ```

pub use warden_api as api;
pub use warden_component as component;
pub use warden_events as events;
pub use warden_grade as grade;
pub use warden_ops as ops;
pub use warden_process as process;
pub use warden_process::registry;
pub use warden_supervisor as supervisor;

pub mod bench;
pub mod builtin;
pub mod config;
pub mod fleet;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod health;
pub mod host;
pub mod reload;
pub mod store;
