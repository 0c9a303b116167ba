//! Operations: everything a person can do to a running host, by name.
//!
//! The nouns, in the order a caller meets them:
//! - [`Registry`]: every operation of the host by name, and the one way to
//!   call them (look up, validate, run);
//! - [`OpMeta`]: a built-in before registration (name, summary, params
//!   schema, example, read-only, [`Role`]), run by a [`Handler`] returning
//!   a [`BoxFuture`];
//! - [`Role`]: who may call an operation (`read < operate < admin`); an
//!   operation without one fails closed to `admin` (`read` when
//!   read-only), a plugin's operations are `operate`;
//! - [`OperationSource`]: where a plugin's operations come from;
//!   [`PluginOperations`] is an `operation-plugin` component as one;
//! - [`Operation`]: one registered operation, with its [`Owner`] and its
//!   [`Route`] (`POST /ops/{name}`);
//! - [`Schema`]: the JSON Schema subset params are checked against, each
//!   break a [`Violation`]; a schema outside the subset is a
//!   [`SchemaError`] ([`schema`]);
//! - [`OpError`]: why a call failed, with its HTTP status and JSON body
//!   ([`error_body_schema`]); a plugin's own failure is a
//!   [`PluginFailure`];
//! - [`RegisterError`]: why an operation was refused, and
//!   [`RESERVED_PREFIXES`], the ids no plugin may take;
//! - [`Registry::openapi_document`]: the OpenAPI 3.1 document of it all.
//!
//! The crate owns the operation namespace and the call path: params never
//! reach a handler or a guest unvalidated; a schema the validator cannot
//! enforce is refused at registration; a misbehaving plugin fails its call
//! and nothing else. The HTTP API, `warden ctl` and the dashboard are
//! generated from the registry (error statuses from
//! [`OpError::status_code`]) and may add no behaviour an operation lacks.
//!
//! It never knows HTTP, and never the host's own operations: those live in
//! the `warden` crate's `builtin` module and register like any other
//! [`OperationSource`]. From the component crate it takes only plugin
//! programs and their errors.
//!
//! ```no_run
//! use serde_json::json;
//! use warden_ops::{OpMeta, Registry};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::new();
//! registry.register_builtin(
//!     OpMeta::new("demo.echo", "Returns its params")
//!         .params(json!({
//!             "type": "object",
//!             "properties": {"n": {"type": "integer"}},
//!             "additionalProperties": false,
//!         }))
//!         .read_only(true),
//!     |params| Box::pin(async move { Ok(params) }),
//! )?;
//! // Validated first: `{"n": "x"}` would fail as `invalid_params` (400)
//! // with every violation listed, and the handler would never run.
//! let result = registry.call("demo.echo", json!({"n": 3})).await?;
//! assert_eq!(result, json!({"n": 3}));
//! # Ok(())
//! # }
//! ```

mod error;
mod executor;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod openapi;
mod plugin;
mod registry;
mod role;
pub mod schema;

pub use error::{OpError, PluginFailure, RegisterError, error_body_schema};
pub use openapi::role_sentence;
pub use plugin::{OperationSource, PluginOperations};
pub use registry::{
    BoxFuture, Handler, OpMeta, Operation, Owner, RESERVED_PREFIXES, Registry, Route,
};
pub use role::{Role, UnknownRole};
pub use schema::{Schema, SchemaError, Violation};
