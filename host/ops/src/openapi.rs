//! The OpenAPI 3.1 document, generated from the registry.
//!
//! One path per operation (its [`Route`](crate::Route)), the role it needs
//! (`x-warden-role`, and a sentence in its description), the params
//! schema (and its example, when the operation has one) as the required
//! JSON request body, the result schema (when the operation gives one) for
//! `200`, and the shared error body for every error status. The
//! HTTP layer adds what only it knows (servers, the bearer security scheme,
//! `/events`, `/metrics`) by editing the returned value.

use serde_json::{Map, Value, json};

use crate::error::error_body_schema;
use crate::registry::{Owner, Registry};
use crate::role::Role;

/// Error statuses every operation can answer with, and when.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "The params break the schema; every violation is listed",
    ),
    (
        "404",
        "No such operation, or something the params name does not exist",
    ),
    ("409", "The request conflicts with the current state"),
    (
        "422",
        "A guest failed: the operation's plugin or the component child answered with an error, trapped, ran out of fuel or memory, or returned bad JSON, or a child's new code failed to reload (`plugin_failed`, `guest_failed`; `cause` says how), or the component the params name is not a usable component or compiling it went past a compile limit (`invalid_component`, `compile_limit`). The guest's failure, not the host's. Also: the host's config file cannot be applied by `config.reload` (`invalid_config`: invalid, naming the file and the key; a setting that needs a restart; an unusable component); nothing was changed",
    ),
    ("500", "The host failed to carry out the operation"),
    ("504", "The operation ran out of time"),
];

/// What the description of an operation needing `role` says.
pub fn role_sentence(role: Role) -> String {
    match role {
        Role::Admin => "Needs a token with the `admin` role.".to_string(),
        other => format!("Needs a token with the `{other}` role or higher."),
    }
}

impl Registry {
    /// The OpenAPI 3.1 document of every registered operation.
    pub fn openapi_document(&self, title: &str, version: &str) -> Value {
        let mut paths = Map::new();
        for op in self.operations() {
            let route = op.route();
            let mut responses = Map::new();
            responses.insert(
                "200".into(),
                json!({
                    "description": "The operation's result",
                    "content": {"application/json": {"schema": op.result_schema().cloned().unwrap_or(json!({}))}}
                }),
            );
            for (status, _) in ERRORS {
                responses.insert(
                    (*status).into(),
                    json!({"$ref": format!("#/components/responses/Error{status}")}),
                );
            }
            let tag = match op.owner() {
                Owner::Builtin => "builtin".to_string(),
                Owner::Plugin(id) => format!("plugin:{id}"),
            };
            let mut body = json!({"schema": op.params_schema().source()});
            if let Some(example) = op.example() {
                body["example"] = example.clone();
            }
            let operation = json!({
                "operationId": op.name(),
                "summary": op.summary(),
                "description": role_sentence(op.role()),
                "tags": [tag],
                "x-warden-read-only": op.is_read_only(),
                "x-warden-role": op.role(),
                "requestBody": {
                    "required": true,
                    "description": "The params, a JSON object (`{}` when the operation takes none)",
                    "content": {"application/json": body}
                },
                "responses": responses,
            });
            let mut item = Map::new();
            item.insert(route.method.to_ascii_lowercase(), operation);
            paths.insert(route.path.clone(), Value::Object(item));
        }
        let mut responses = Map::new();
        for (status, description) in ERRORS {
            responses.insert(
                format!("Error{status}"),
                json!({
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }),
            );
        }
        json!({
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": {"Error": error_body_schema()},
                "responses": responses,
            },
        })
    }
}
