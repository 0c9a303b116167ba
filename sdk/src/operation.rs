//! Custom operations: the [`Operations`] trait and the glue that exports it
//! as `warden:plugin/operation`.
//!
//! The host lists a plugin's operations (by calling `describe`) and offers
//! each over its HTTP API and CLI as `<plugin id>.<name>`, checking the
//! caller's params against the operation's JSON Schema. The SDK turns the
//! WIT strings into JSON values and back:
//!
//! | export | what the SDK does |
//! |---|---|
//! | `describe()` | calls [`Operations::describe`] and writes each schema as a JSON string |
//! | `execute(name, params)` | parses `params` as JSON (an error names the operation and the parse failure), calls [`Operations::execute`], and writes the result as a JSON string |

use std::marker::PhantomData;

use serde_json::Value;

use crate::bindings::operation_plugin::exports::warden::plugin::operation as wit;

/// One operation a plugin offers.
#[derive(Debug, Clone, PartialEq)]
pub struct OpInfo {
    /// Name, unique within the plugin (the host prefixes the plugin's id).
    pub name: String,
    /// One line saying what the operation does.
    pub summary: String,
    /// JSON Schema that the params must satisfy.
    pub params_schema: Value,
}

impl OpInfo {
    /// An operation called `name`, described by `summary`, whose params
    /// satisfy `params_schema`.
    pub fn new(name: impl Into<String>, summary: impl Into<String>, params_schema: Value) -> Self {
        Self {
            name: name.into(),
            summary: summary.into(),
            params_schema,
        }
    }
}

/// The custom operations of a plugin. Stateless: both functions are
/// associated functions, called on no instance.
///
/// Export the type with [`export_operations!`](crate::export_operations)
/// (or [`export_plugin!`](crate::export_plugin) alongside an
/// [`Actor`](crate::Actor)).
pub trait Operations: 'static {
    /// Lists the operations this plugin offers.
    fn describe() -> Vec<OpInfo>;

    /// Runs operation `name` with `params` and returns its JSON result.
    ///
    /// The host checks `params` against the operation's schema before the
    /// call, but a plugin must not rely on that alone: its own checks
    /// produce the clearer errors. An unknown `name` should be an error.
    fn execute(name: &str, params: Value) -> Result<Value, String>;
}

/// Implements the generated `operation` export trait for [`Operations`].
///
/// Public only for [`export_operations!`](crate::export_operations); not
/// part of the API.
#[doc(hidden)]
pub struct OperationsExport<O>(PhantomData<O>);

impl<O: Operations> wit::Guest for OperationsExport<O> {
    fn describe() -> Vec<wit::OpInfo> {
        crate::panic::exit_after_report();
        O::describe()
            .into_iter()
            .map(|op| wit::OpInfo {
                name: op.name,
                summary: op.summary,
                params_schema: op.params_schema.to_string(),
            })
            .collect()
    }

    fn execute(name: String, params: String) -> Result<String, String> {
        crate::panic::exit_after_report();
        let params: Value = serde_json::from_str(&params)
            .map_err(|e| format!("invalid params for operation `{name}`: not JSON: {e}"))?;
        O::execute(&name, params).map(|result| result.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{OpInfo, Operations, OperationsExport, wit::Guest};

    struct Adder;

    impl Operations for Adder {
        fn describe() -> Vec<OpInfo> {
            vec![OpInfo::new(
                "add",
                "Adds a and b",
                json!({"type": "object", "required": ["a", "b"]}),
            )]
        }

        fn execute(name: &str, params: Value) -> Result<Value, String> {
            match name {
                "add" => {
                    let a = params["a"].as_i64().ok_or("`a` must be an integer")?;
                    let b = params["b"].as_i64().ok_or("`b` must be an integer")?;
                    Ok(json!({"sum": a + b}))
                }
                _ => Err(format!("unknown operation: {name}")),
            }
        }
    }

    type Export = OperationsExport<Adder>;

    #[test]
    fn describe_writes_schemas_as_json_strings() {
        let ops = Export::describe();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].name, "add");
        assert_eq!(ops[0].summary, "Adds a and b");
        let schema: Value = serde_json::from_str(&ops[0].params_schema).unwrap();
        assert_eq!(schema, json!({"type": "object", "required": ["a", "b"]}));
    }

    #[test]
    fn execute_parses_params_and_writes_the_result() {
        let result = Export::execute("add".to_owned(), r#"{"a": 2, "b": 40}"#.to_owned());
        assert_eq!(result.unwrap(), r#"{"sum":42}"#);
    }

    #[test]
    fn execute_passes_the_plugins_errors_through() {
        let result = Export::execute("add".to_owned(), r#"{"a": 2}"#.to_owned());
        assert_eq!(result.unwrap_err(), "`b` must be an integer");
        let result = Export::execute("sub".to_owned(), "{}".to_owned());
        assert_eq!(result.unwrap_err(), "unknown operation: sub");
    }

    #[test]
    fn bad_params_json_names_the_operation_and_the_problem() {
        let err = Export::execute("add".to_owned(), "{a: 1}".to_owned()).unwrap_err();
        assert!(
            err.starts_with("invalid params for operation `add`: not JSON: key must be a string"),
            "{err}"
        );
    }
}
