//! Operations: everything a person can do to a running host, by name.
//!
//! This crate owns the [`Registry`] of operations — built-ins registered
//! by the host as Rust handlers, and plugin operations described by
//! components of the `operation-plugin` world — and the one way to call
//! them: look up, validate the params against the operation's JSON Schema
//! (every violation listed), run. The HTTP API, `warden ctl` and the
//! dashboard are generated from this registry (routes from [`Route`], the
//! OpenAPI document from [`Registry::openapi_document`], error statuses
//! from [`OpError::status_code`]); none of them may add behaviour an
//! operation lacks.
//!
//! Guarantees: params never reach a handler or a guest unvalidated; a
//! schema the validator cannot enforce is refused at registration; a
//! misbehaving plugin fails its call and nothing else. This module knows
//! nothing of HTTP, and nothing of the host's own operations (they live in
//! the `warden` crate's `builtin` module and are registered like any other
//! [`OperationSource`]).
//!
//! - [`schema`]: the JSON Schema subset and its validator;
//! - [`registry`](Registry): operations, owners, routes, calls, and the
//!   [`RESERVED_PREFIXES`] no plugin id may take;
//! - [`PluginOperations`]: a plugin as an [`OperationSource`];
//! - [`openapi`](Registry::openapi_document): the generated document;

mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod openapi;
mod plugin;
mod registry;
pub mod schema;

pub use error::{OpError, PluginFailure, RegisterError, error_body_schema};
pub use plugin::{OperationSource, PluginOperations};
pub use registry::{
    BoxFuture, Handler, OpMeta, Operation, Owner, RESERVED_PREFIXES, Registry, Route,
};
pub use schema::{Schema, SchemaError, Violation};
