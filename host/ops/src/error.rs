//! Errors of calling and of registering operations.
//!
//! [`OpError`] is what a call returns; each variant maps to one HTTP status
//! ([`OpError::status_code`]) and one JSON body ([`OpError::body`]), so the
//! HTTP layer, the CLI (`warden ctl`, exit 2 for 4xx, 1 otherwise) and the
//! dashboard show the same thing. Bad input is echoed back in full;
//! internal failures are described, never leaked beyond their message.
//!
//! A host path outside `[api] path_roots` is **403** (`forbidden_path`),
//! answered before anything about the path (whether it exists) is told.
//!
//! A guest's failure is not the host's: when a guest (an operation
//! plugin, a component child handling a message) answers with an error,
//! traps, runs out of fuel or memory, or returns something that is not
//! JSON, the call is answered **422** (`plugin_failed`, `guest_failed`,
//! with a `cause`), never a 5xx, which would say the server broke. 5xx
//! means the host itself failed (500) or a time limit ran out (504).

use warden_component::ComponentError;

use crate::schema::{SchemaError, Violation};

/// Why a call to an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The params break the operation's schema; every violation is listed.
    #[error("invalid params for `{op}`: {}", join(violations))]
    InvalidParams {
        /// The operation called.
        op: String,
        /// Every place the params break the schema; never empty.
        violations: Vec<Violation>,
    },

    /// No operation has that name.
    #[error("no operation named `{op}`")]
    UnknownOperation {
        /// The name asked for.
        op: String,
    },

    /// Something the params name does not exist (a child, a supervisor…).
    #[error("{what} not found")]
    NotFound {
        /// What is missing, as the message starts (``child `a/b` ``).
        what: String,
    },

    /// The request is valid but conflicts with the current state (a child
    /// already running, a reload in progress…).
    #[error("{message}")]
    Conflict {
        /// What the request conflicts with, as the whole message.
        message: String,
    },

    /// The operation ran and reported failure (a plugin's `Err(msg)`, a
    /// built-in's refusal).
    #[error("`{op}` failed: {message}")]
    Failed {
        /// The operation called.
        op: String,
        /// Why it failed.
        message: String,
    },

    /// The plugin behind the operation answered with an error, trapped,
    /// ran out of fuel or memory, or returned something that is not JSON;
    /// the host is unaffected.
    #[error("plugin `{plugin}` failed while running `{op}`: {reason}")]
    PluginFailed {
        /// The operation called (prefixed: `wc.count`).
        op: String,
        /// The plugin's id.
        plugin: String,
        /// How the plugin failed; its kind is the body's `cause`.
        reason: PluginFailure,
    },

    /// A guest other than an operation plugin failed the call: a
    /// component child answered its message with an error or failed while
    /// handling it; a component called directly trapped, ran out of fuel
    /// or memory, or is not a usable component. The host is unaffected.
    /// `message` says what happened; `cause` is a short name
    /// (`error_reply`, `trap`, `out_of_fuel`, …).
    #[error("`{op}`: {message}")]
    GuestFailed {
        /// The operation called.
        op: String,
        /// The component child's path, when a child failed.
        guest: Option<String>,
        /// What happened, for people.
        message: String,
        /// What happened, for programs: `error_reply` or a
        /// [`ComponentError::kind`].
        cause: &'static str,
    },

    /// The operation did not finish in its time budget.
    #[error("`{op}` timed out after {timeout_ms} ms")]
    Timeout {
        /// The operation called.
        op: String,
        /// The budget that ran out, in milliseconds.
        timeout_ms: u64,
    },

    /// The host's config file cannot be applied: it is invalid (the
    /// message names the file and the key), changes a setting the running
    /// host cannot take, or names a component that cannot be used.
    /// Nothing was changed. The file is at fault, not the host.
    #[error("`{op}`: {message}")]
    InvalidConfig {
        /// The operation called.
        op: String,
        /// Why, naming the file and the key.
        message: String,
    },

    /// The params name a host path the caller may not reach: outside
    /// every `[api] path_roots` entry once links and `..` are resolved, or
    /// any path when none is configured. `message` names the rule.
    #[error("`{op}`: {message}")]
    ForbiddenPath {
        /// The operation called.
        op: String,
        /// Which param, which rule (`[api] path_roots`).
        message: String,
    },

    /// The component the params name cannot be used: it is not a valid
    /// component, imports what the host lacks, or compiling it went past
    /// a compile limit. The caller's input is at fault, not the host.
    #[error("`{op}`: {source}")]
    BadComponent {
        /// The operation called.
        op: String,
        /// Why the component cannot be used (boxed: the error is large).
        #[source]
        source: Box<ComponentError>,
    },
}

/// What went wrong inside a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginFailure {
    /// Its `execute` returned `Err(message)`.
    #[error("it answered with an error: {0}")]
    Refused(String),
    /// The sandbox stopped the call: a trap, fuel, memory, a kill, an
    /// instance that could not be created. Boxed: the error is large.
    #[error("{0}")]
    Component(Box<ComponentError>),
    /// `execute` returned text that does not parse as JSON; the parser's
    /// message.
    #[error("its result is not JSON: {0}")]
    BadResult(String),
}

impl OpError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::InvalidParams { .. } => 400,
            Self::UnknownOperation { .. } | Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::Failed { .. } => 500,
            Self::PluginFailed { .. } | Self::GuestFailed { .. } => 422,
            Self::Timeout { .. } => 504,
            Self::BadComponent { .. } | Self::InvalidConfig { .. } => 422,
            Self::ForbiddenPath { .. } => 403,
        }
    }

    /// A short machine-readable name (`invalid_params`, `timeout`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidParams { .. } => "invalid_params",
            Self::UnknownOperation { .. } => "unknown_operation",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::Failed { .. } => "failed",
            Self::PluginFailed { .. } => "plugin_failed",
            Self::GuestFailed { .. } => "guest_failed",
            Self::Timeout { .. } => "timeout",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::BadComponent { source, .. } => match **source {
                ComponentError::CompileLimit(_) => "compile_limit",
                _ => "invalid_component",
            },
            Self::ForbiddenPath { .. } => "forbidden_path",
        }
    }

    /// The JSON error body: `{"error": {"kind", "message", "violations"?,
    /// "plugin"?, "cause"?}}`, described by [`error_body_schema`].
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "kind": self.kind(),
            "message": self.to_string(),
        });
        match self {
            Self::InvalidParams { violations, .. } => {
                error["violations"] = serde_json::to_value(violations).unwrap_or_default();
            }
            Self::PluginFailed { plugin, reason, .. } => {
                error["plugin"] = plugin.clone().into();
                error["cause"] = match reason {
                    PluginFailure::Refused(_) => "error_reply",
                    PluginFailure::Component(e) => e.kind(),
                    PluginFailure::BadResult(_) => "bad_result",
                }
                .into();
            }
            Self::GuestFailed { guest, cause, .. } => {
                if let Some(guest) = guest {
                    error["guest"] = guest.clone().into();
                }
                error["cause"] = (*cause).into();
            }
            Self::BadComponent { source, .. } => {
                error["cause"] = source.kind().into();
                if let ComponentError::CompileLimit(limit) = **source {
                    error["limit"] = limit.kind().into();
                }
            }
            _ => {}
        }
        serde_json::json!({ "error": error })
    }
}

/// The JSON Schema of [`OpError::body`], for the OpenAPI document.
pub fn error_body_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["kind", "message"],
                "properties": {
                    "kind": {
                        "type": "string",
                        "enum": ["invalid_params", "unknown_operation", "not_found", "conflict",
                                 "failed", "plugin_failed", "guest_failed", "timeout",
                                 "compile_limit", "invalid_component", "invalid_config",
                                 "forbidden_path"]
                    },
                    "message": {"type": "string"},
                    "violations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["path", "expected", "found"],
                            "properties": {
                                "path": {"type": "string", "description": "JSON Pointer into the params"},
                                "expected": {"type": "string"},
                                "found": {"type": "string"}
                            }
                        }
                    },
                    "plugin": {"type": "string", "description": "The operation plugin that failed (plugin_failed)"},
                    "guest": {"type": "string", "description": "The component child that failed (guest_failed)"},
                    "cause": {"type": "string", "description": "How the guest failed: error_reply (it answered with an error), trap, out_of_fuel, memory_limit, bad_result, failed, …"},
                    "limit": {"type": "string", "enum": ["size", "cpu", "memory", "wall_clock"], "description": "which compile limit stopped the compile (kind compile_limit)"}
                }
            }
        }
    })
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(Violation::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why an operation (or a plugin's set of them) could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The name is not `segment(.segment)*` of `[a-z0-9_-]`.
    #[error(
        "invalid operation name `{name}`: use lowercase letters, digits, `_` and `-`, in `.`-separated segments"
    )]
    InvalidName {
        /// The name refused.
        name: String,
    },

    /// The params schema is not JSON, or uses keywords outside the
    /// supported subset (see [`crate::schema`]).
    #[error("{}invalid params schema for `{op}`: {source}", plugin.as_ref().map(|p| format!("plugin `{p}`: ")).unwrap_or_default())]
    InvalidSchema {
        /// The plugin that described the operation; `None` for a built-in.
        plugin: Option<String>,
        /// The operation's name.
        op: String,
        /// Where in the schema, and what is wrong.
        #[source]
        source: SchemaError,
    },

    /// The documented example params break the operation's own schema.
    #[error("the example params of `{op}` break its schema: {}", join(violations))]
    InvalidExample {
        /// The operation's name.
        op: String,
        /// Every place the example breaks the schema.
        violations: Vec<Violation>,
    },

    /// Another owner already has an operation of that name.
    #[error("operation `{name}` is already registered by {owner}")]
    Taken {
        /// The operation's name.
        name: String,
        /// Who has it, as [`Owner`](crate::Owner) displays (``plugin `wc` ``).
        owner: String,
    },

    /// A plugin describes the same operation twice.
    #[error("plugin `{plugin}` describes `{op}` twice")]
    Duplicate {
        /// The plugin's id.
        plugin: String,
        /// The operation named twice (unprefixed).
        op: String,
    },

    /// Loading the plugin or calling its `describe()` failed.
    #[error("plugin `{plugin}`: {source}")]
    Plugin {
        /// The plugin's id.
        plugin: String,
        /// Why it could not be loaded or described.
        #[source]
        source: ComponentError,
    },
}
