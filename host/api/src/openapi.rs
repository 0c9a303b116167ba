//! `GET /openapi.json`: the registry's OpenAPI document plus what only the
//! HTTP layer knows.
//!
//! [`Registry::openapi_document`](warden_ops::Registry::openapi_document)
//! documents every operation; this adds the server's URL, the bearer
//! security scheme (required on every route but `/healthz` when a token is
//! set), the error kinds and statuses of the HTTP layer (401, 403 for a
//! foreign `Host` or `Origin` on every route, 413, 415, `bad_json`, …), and
//! the routes that are not operations: `/events`, `/logs/{path}` (when the
//! server has a log source), `/metrics`, `/whoami`, `/healthz`, the component store (`/components`,
//! `/components/{id}`) and this document itself, each with the role it
//! needs (`x-warden-role`). Every route listed
//! here answers as documented; `tests/all/api_http.rs` checks it.

use serde_json::{Value, json};

use crate::error::HTTP_KINDS;
use warden_ops::{Registry, Role, role_sentence};

/// The document served by a server at `server_url`; with the component
/// store's routes when it serves one (`store_max_bytes`: its upload
/// limit), and the raw snapshot routes when it serves those
/// (`snapshot_max_bytes`: the largest state uploaded).
pub fn document(
    registry: &Registry,
    server_url: &str,
    token_required: bool,
    store_max_bytes: Option<u64>,
    serves_logs: bool,
    snapshot_max_bytes: Option<u64>,
) -> Value {
    let mut doc = registry.openapi_document("Warden", env!("CARGO_PKG_VERSION"));
    doc["info"]["description"] = json!(
        "Everything one can do to a running Warden host. Each operation is `POST /ops/{name}` \
         with its params as the JSON body and `Content-Type: application/json` (an empty body \
         means `{}`). Requests whose `Host` is not the API's own address (or a name in \
         `[api] allowed_hosts`), or whose `Origin` is another site's, are refused with 403."
    );
    doc["servers"] = json!([{ "url": server_url }]);

    let components = &mut doc["components"];
    components["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "One of the host's tokens: `[[api.tokens]]` entries, each with a role (`read` < `operate` < `admin`), or `[host] token` / WARDEN_TOKEN, an `admin` token named `admin`. Each operation states the role it needs (`x-warden-role`); a token below it is answered 403 `forbidden_role`"
        }
    });
    if let Some(kinds) = components["schemas"]["Error"]["properties"]["error"]["properties"]["kind"]
        ["enum"]
        .as_array_mut()
    {
        for kind in HTTP_KINDS {
            if !kinds.iter().any(|k| k == kind) {
                kinds.push(json!(kind));
            }
        }
    }
    let fields = &mut components["schemas"]["Error"]["properties"]["error"]["properties"];
    fields["op"] =
        json!({"type": "string", "description": "The operation or route refused (forbidden_role)"});
    fields["needed_role"] = json!({"type": "string", "enum": ["read", "operate", "admin"], "description": "The role it needs (forbidden_role)"});
    fields["token"] =
        json!({"type": "string", "description": "The caller's token name (forbidden_role)"});
    fields["role"] = json!({"type": "string", "enum": ["read", "operate", "admin"], "description": "The caller's role (forbidden_role)"});
    if store_max_bytes.is_some() {
        components["schemas"]["Error"]["properties"]["error"]["properties"]["users"] = json!({
            "type": "array", "items": {"type": "string"},
            "description": "Who uses the component a removal was refused for (409 on DELETE /components/{id})"
        });
    }
    let responses = &mut components["responses"];
    responses["Error401"] = error_response("No or a wrong bearer token");
    responses["Error413"] = error_response("The body is larger than the server's limit");
    responses["Error403"] = error_response(
        "The request's `Host` is not one the API answers to, or its `Origin` is another site's \
         (`forbidden_host`, `forbidden_origin`); the token's role is below the one the \
         operation or route needs (`forbidden_role`, naming the operation, the role it needs \
         and the token's); or a host path in the params lies outside `[api] path_roots` \
         (`forbidden_path`)",
    );
    responses["Error415"] =
        error_response("The body is not declared as JSON (`Content-Type: application/json`)");
    responses["Error400"]["description"] = json!(
        "The body is not JSON (a body of only whitespace is not), or the params break the schema \
         or a rule its descriptions state (base64 text, a component's own exports and types); \
         every violation is listed"
    );

    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            if let Some(post) = item.get_mut("post") {
                post["responses"]["413"] = json!({"$ref": "#/components/responses/Error413"});
                post["responses"]["415"] = json!({"$ref": "#/components/responses/Error415"});
                if token_required {
                    post["responses"]["401"] = json!({"$ref": "#/components/responses/Error401"});
                }
            }
        }
        let unauthorized = |mut responses: Value| {
            if token_required {
                responses["401"] = json!({"$ref": "#/components/responses/Error401"});
            }
            responses
        };
        paths.insert(
            "/events".into(),
            json!({"get": {
                "operationId": "events",
                "summary": "The event stream (Server-Sent Events)",
                "description": read_role("Each message has `id` (position in this subscription), `event` (the event kind, or `missed` with `{\"missed\": n}` when the subscriber fell behind) and `data` (the event as JSON). A `: keep-alive` comment comes every 15 s of silence."),
                "tags": ["stream"],
                "x-warden-role": "read",
                "parameters": [
                    {"name": "child", "in": "query", "required": false,
                     "description": "Only events of this path and the paths below it (`root/storage` matches `root/storage/kv`)",
                     "schema": {"type": "string"}},
                    {"name": "kind", "in": "query", "required": false,
                     "description": "Only these event kinds, comma-separated (`child_restarted,child_exited`)",
                     "schema": {"type": "string", "pattern": "^[a-z_, ]*$"}}
                ],
                "responses": unauthorized(json!({
                    "200": {"description": "The stream", "content": {"text/event-stream": {"schema": sse_event()}}},
                    "400": {"$ref": "#/components/responses/Error400"}
                }))
            }}),
        );
        paths.insert(
            "/metrics".into(),
            json!({"get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text format 0.0.4)",
                "description": read_role(""),
                "tags": ["observability"],
                "x-warden-role": "read",
                "responses": unauthorized(json!({
                    "200": {"description": "Children by state, restarts, reloads, limit breaches, operation latency", "content": {"text/plain": {"schema": {"type": "string"}}}}
                }))
            }}),
        );
        paths.insert(
            "/healthz".into(),
            json!({"get": {
                "operationId": "healthz",
                "summary": "Liveness of the API (no token needed)",
                "tags": ["observability"],
                "security": [],
                "responses": {
                    "200": {"description": "`ok`", "content": {"text/plain": {"schema": {"type": "string", "const": "ok"}}}}
                }
            }}),
        );
        if let Some(max_bytes) = store_max_bytes {
            add_store_routes(paths, max_bytes, &unauthorized);
        }
        if serves_logs {
            paths.insert("/logs/{path}".into(), logs_route(&unauthorized));
        }
        if let Some(max_bytes) = snapshot_max_bytes {
            paths.insert(
                "/snapshots".into(),
                json!({"post": {
                    "operationId": "snapshots.upload",
                    "summary": "Stores a state (its raw bytes as the body) as a snapshot of a component child, for states larger than a JSON body may be",
                    "description": format!(
                        "The body is the state's bytes, `Content-Type: application/octet-stream`, at most {max_bytes} bytes (`[snapshots] max_upload_bytes`). \
                         It is stored as a snapshot of the child, with the hash and version of the code it runs now, and answered with the stored snapshot's metadata; \
                         `child.restore {{\"path\", \"snapshot\": ID}}` then puts it into the child (its `restore` export checks it). {}",
                        role_sentence(Role::Admin)
                    ),
                    "tags": ["snapshots"],
                    "x-warden-role": "admin",
                    "parameters": [{
                        "name": "path", "in": "query", "required": true,
                        "description": "The component child's full path (`root/counter`)",
                        "schema": {"type": "string", "minLength": 1}
                    }],
                    "requestBody": {
                        "required": true,
                        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary", "maxLength": max_bytes}}}
                    },
                    "responses": unauthorized(json!({
                        "201": {"description": "Stored", "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["id", "path", "at_ms", "size", "hash", "version", "sha256"],
                            "properties": {
                                "id": {"type": "string", "pattern": "^[0-9]{13}-[0-9]{4}$"},
                                "path": {"type": "string"},
                                "at_ms": {"type": "integer", "minimum": 0},
                                "size": {"type": "integer", "minimum": 0},
                                "hash": {"type": "string", "description": "Content hash of the component the child runs"},
                                "version": {"type": ["integer", "null"], "description": "The child's reload version"},
                                "sha256": {"type": "string", "description": "SHA-256 of the state"}
                            }
                        }}}},
                        "400": error_response("No `path` in the query"),
                        "404": error_response("No component child has this path"),
                        "413": {"$ref": "#/components/responses/Error413"},
                        "415": error_response("The body is not declared as `application/octet-stream`"),
                        "500": error_response("The snapshot cannot be written")
                    }))
                }}),
            );
            paths.insert(
                "/snapshots/{id}".into(),
                json!({"get": {
                    "operationId": "snapshots.raw",
                    "summary": "A stored snapshot's state, its raw bytes streamed (for states larger than a JSON answer should carry)",
                    "description": format!(
                        "The bytes the child's `snapshot` export gave, as they are; `ETag` is their SHA-256. Ids are what `child.snapshot` answers and `snapshot.list` lists. {}",
                        role_sentence(Role::Admin)
                    ),
                    "tags": ["snapshots"],
                    "x-warden-role": "admin",
                    "parameters": [{
                        "name": "id", "in": "path", "required": true,
                        "description": "A snapshot id: 13 digits of milliseconds, `-`, 4 digits",
                        "schema": {"type": "string", "pattern": "^[0-9]{13}-[0-9]{4}$"}
                    }],
                    "responses": unauthorized(json!({
                        "200": {"description": "The state", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                        "400": error_response("The id is not of the store's form"),
                        "404": error_response("No snapshot has this id"),
                        "500": error_response("The snapshot's file cannot be read")
                    }))
                }}),
            );
        }
        paths.insert(
            "/whoami".into(),
            json!({"get": {
                "operationId": "whoami",
                "summary": "Who the caller is: its token's name and role",
                "description": read_role("Without tokens configured, every caller is `anonymous`, an `admin`."),
                "tags": ["session"],
                "x-warden-role": "read",
                "responses": unauthorized(json!({
                    "200": {"description": "The caller", "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["name", "role"],
                        "additionalProperties": false,
                        "properties": {
                            "name": {"type": "string", "description": "The token's name (`anonymous` without tokens, `admin` for [host] token)"},
                            "role": {"type": "string", "enum": ["read", "operate", "admin"]}
                        }
                    }}}}
                }))
            }}),
        );
        paths.insert(
            "/openapi.json".into(),
            json!({"get": {
                "operationId": "openapi",
                "summary": "This document",
                "description": read_role(""),
                "tags": ["observability"],
                "x-warden-role": "read",
                "responses": unauthorized(json!({
                    "200": {"description": "The OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}}
                }))
            }}),
        );
    }
    // The cross-site guard answers before any route.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            if let Some(methods) = item.as_object_mut() {
                for operation in methods.values_mut() {
                    operation["responses"]["403"] =
                        json!({"$ref": "#/components/responses/Error403"});
                }
            }
        }
    }
    if token_required {
        doc["security"] = json!([{ "bearer": [] }]);
    }
    doc
}

/// The description of a `GET` route every token may use, `more` first.
fn read_role(more: &str) -> String {
    let sentence = role_sentence(Role::Read);
    if more.is_empty() {
        sentence
    } else {
        format!("{more} {sentence}")
    }
}

/// `GET /logs/{path}`: a child's log as JSON, or followed as SSE.
fn logs_route(unauthorized: &dyn Fn(Value) -> Value) -> Value {
    let line = json!({
        "type": "object",
        "required": ["at_ms", "line"],
        "additionalProperties": false,
        "properties": {
            "at_ms": {"type": "integer", "description": "When the host got the line, Unix ms"},
            "stream": {"type": "string", "enum": ["stdout", "stderr"], "description": "A worker's pipe"},
            "level": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error"], "description": "A component's `host::log` level"},
            "line": {"type": "string", "description": "The text, without its newline"}
        }
    });
    json!({"get": {
        "operationId": "logs",
        "summary": "A child's log: its last lines as JSON, or followed (Server-Sent Events)",
        "description": read_role(&format!("A worker's stdout and stderr lines, or a component child's `host::log` lines, oldest first (the same as the `logs.tail` operation). With `follow=1`: an SSE stream of `event: line` messages (`data`: one line as JSON), the last `lines` first, then each new line until the client leaves; a client that falls behind gets `event: lagged` with `{{\"lost\": n}}` and goes on with the newest lines. 404 for a path that is no child, 409 for a supervisor (it keeps no log). At most {} lines.", crate::logs::MAX_LINES)),
        "tags": ["stream"],
        "x-warden-role": "read",
        "parameters": [
            {"name": "path", "in": "path", "required": true,
             "description": "The child's full path (`root/web`, `root/storage/kv`); its slashes are kept",
             "schema": {"type": "string"}},
            {"name": "lines", "in": "query", "required": false,
             "description": "How many of the last lines (default 100)",
             "schema": {"type": "integer", "minimum": 0, "maximum": crate::logs::MAX_LINES}},
            {"name": "follow", "in": "query", "required": false,
             "description": "`1`: follow as Server-Sent Events",
             "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}}
        ],
        "responses": unauthorized(json!({
            "200": {"description": "The lines, or the stream with `follow=1`", "content": {
                "application/json": {"schema": {
                    "type": "object",
                    "required": ["path", "lines"],
                    "additionalProperties": false,
                    "properties": {
                        "path": {"type": "string"},
                        "lines": {"type": "array", "items": line}
                    }
                }},
                "text/event-stream": {"schema": sse_event()}
            }},
            "400": {"$ref": "#/components/responses/Error400"},
            "404": error_response("No child has that path"),
            "409": error_response("The path is a supervisor, which keeps no log")
        }))
    }})
}

/// One event of a `text/event-stream` answer, as OpenAPI 3.1 describes
/// a stream (its `schema` is each event's): the `event` name, the `id`
/// and the `data`, a JSON text.
fn sse_event() -> Value {
    json!({
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "id": {"type": "string"},
            "data": {"type": "string", "contentMediaType": "application/json"}
        }
    })
}

/// `/components` and `/components/{id}`, and their schemas.
fn add_store_routes(
    paths: &mut serde_json::Map<String, Value>,
    max_bytes: u64,
    unauthorized: &dyn Fn(Value) -> Value,
) {
    let error = |description: &str| error_response(description);
    let id_param = json!({
        "name": "id", "in": "path", "required": true,
        "description": "The component's id: the SHA-256 of its bytes, 64 lowercase hex digits",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    });
    let worlds = json!({
        "type": "object",
        "description": "Which Warden worlds the component satisfies (`warden inspect`)",
        "required": ["actor-plugin", "operation-plugin", "plugin"],
        "properties": {
            "actor-plugin": {"type": "boolean"},
            "operation-plugin": {"type": "boolean"},
            "plugin": {"type": "boolean"}
        }
    });
    let id = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    let users = json!({
        "type": "array", "items": {"type": "string"},
        "description": "Who uses it now (a sandbox's path, an operation's name): while any does, it cannot be removed"
    });
    let uploaded = json!({
        "type": "object",
        "required": ["id", "size", "worlds"],
        "properties": {"id": id, "size": {"type": "integer", "minimum": 0}, "worlds": worlds}
    });
    let summary = json!({
        "type": "object",
        "required": ["id", "size", "stored_at_ms", "users"],
        "properties": {
            "id": id,
            "size": {"type": "integer", "minimum": 0},
            "stored_at_ms": {"type": "integer", "minimum": 0, "description": "When it was stored, ms since the Unix epoch"},
            "users": users
        }
    });
    let mut described = summary.clone();
    described["required"] = json!([
        "id",
        "size",
        "stored_at_ms",
        "users",
        "worlds",
        "wit",
        "exports"
    ]);
    described["properties"]["worlds"] = worlds;
    described["properties"]["wit"] = json!({"type": "string", "description": "Its WIT (WASI imports summarised), as `warden inspect` prints it"});
    described["properties"]["exports"] = json!({
        "type": "array",
        "description": "What it exports, with WIT types",
        "items": {"type": "object", "required": ["name", "wit"], "properties": {
            "name": {"type": "string"}, "wit": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object"}}
        }}
    });
    let json_of = |description: &str, schema: Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    paths.insert(
        "/components".into(),
        json!({
            "post": {
                "operationId": "components.upload",
                "summary": "Stores a component (its bytes as the body), compiled first under the host's compile limits",
                "description": format!(
                    "The body is the component's bytes, `Content-Type: application/wasm`, at most {max_bytes} bytes (`[api] max_component_bytes`). \
                     They are compiled in a compile child under `[host.compile]` and linked against the host's imports before anything is stored: \
                     bytes that are no component, or one importing what the host lacks, answer 422 `invalid_component` (its `cause` says why), a compile that goes past a limit 422 `compile_limit`. \
                     The id is the SHA-256 of the bytes: the same bytes again answer 200 with the same body. {}",
                    role_sentence(Role::Operate)
                ),
                "tags": ["components"],
                "x-warden-role": "operate",
                "requestBody": {
                    "required": true,
                    "content": {"application/wasm": {"schema": {"type": "string", "format": "binary", "maxLength": max_bytes}}}
                },
                "responses": unauthorized(json!({
                    "201": json_of("Stored", uploaded.clone()),
                    "200": json_of("Already stored (the same bytes)", uploaded),
                    "400": error("The body could not be read"),
                    "413": {"$ref": "#/components/responses/Error413"},
                    "415": error("The body is not declared as a component (`Content-Type: application/wasm`)"),
                    "422": error("Not a component (`invalid_component`, with a `cause`), or compiling it went past a compile limit (`compile_limit`, with the `limit`)"),
                    "500": error("The host failed to store it")
                }))
            },
            "get": {
                "operationId": "components.list",
                "summary": "The stored components, oldest first",
                "description": read_role(""),
                "tags": ["components"],
                "x-warden-role": "read",
                "responses": unauthorized(json!({
                    "200": json_of("Every stored component", json!({"type": "array", "items": summary}))
                }))
            }
        }),
    );
    paths.insert(
        "/components/{id}".into(),
        json!({
            "get": {
                "operationId": "components.describe",
                "summary": "One stored component: size, users, the worlds it fits, its exports as WIT",
                "description": read_role(""),
                "tags": ["components"],
                "x-warden-role": "read",
                "parameters": [id_param.clone()],
                "responses": unauthorized(json!({
                    "200": json_of("The component", described),
                    "400": error("The id is not 64 lowercase hex digits"),
                    "404": error("No component has this id")
                }))
            },
            "delete": {
                "operationId": "components.remove",
                "summary": "Removes a stored component nobody uses",
                "description": role_sentence(Role::Admin),
                "tags": ["components"],
                "x-warden-role": "admin",
                "parameters": [id_param],
                "responses": unauthorized(json!({
                    "204": {"description": "Removed"},
                    "400": error("The id is not 64 lowercase hex digits"),
                    "404": error("No component has this id"),
                    "409": error("A sandbox or a running operation uses it (`users` names them)")
                }))
            }
        }),
    );
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_ops::OpMeta;

    #[test]
    fn adds_servers_security_and_non_operation_routes() {
        let registry = Registry::new();
        registry
            .register_builtin(OpMeta::new("noop", "Nothing"), |_| {
                Box::pin(async { Ok(json!({})) })
            })
            .unwrap();
        let doc = document(
            &registry,
            "http://127.0.0.1:9",
            true,
            Some(1024),
            true,
            Some(2048),
        );
        assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:9");
        assert_eq!(doc["security"][0]["bearer"], json!([]));
        assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
        assert!(doc["paths"]["/events"]["get"]["responses"]["401"].is_object());
        assert!(doc["paths"]["/ops/noop"]["post"]["responses"]["413"].is_object());
        let noop = &doc["paths"]["/ops/noop"]["post"];
        assert_eq!(noop["x-warden-role"], "admin", "no role is admin");
        assert!(
            noop["description"]
                .as_str()
                .unwrap()
                .contains("`admin` role"),
            "{noop}"
        );
        assert_eq!(
            doc["paths"]["/logs/{path}"]["get"]["responses"]["409"]["description"],
            "The path is a supervisor, which keeps no log"
        );
        for path in [
            "/events",
            "/logs/{path}",
            "/metrics",
            "/openapi.json",
            "/whoami",
        ] {
            let get = &doc["paths"][path]["get"];
            assert_eq!(get["x-warden-role"], "read", "{path}");
            assert!(
                get["description"].as_str().unwrap().contains("`read` role"),
                "{path}"
            );
        }
        assert!(doc["paths"]["/ops/noop"]["post"]["responses"]["415"].is_object());
        assert_eq!(
            doc["paths"]["/ops/noop"]["post"]["requestBody"]["required"],
            true
        );
        assert_eq!(
            doc["paths"]["/components"]["post"]["requestBody"]["content"]["application/wasm"]["schema"]
                ["maxLength"],
            1024
        );
        assert!(doc["paths"]["/components/{id}"]["delete"]["responses"]["409"].is_object());
        assert!(doc["paths"]["/components"]["get"]["responses"]["401"].is_object());
        assert_eq!(
            doc["paths"]["/snapshots"]["post"]["requestBody"]["content"]["application/octet-stream"]
                ["schema"]["maxLength"],
            2048
        );
        for path in [
            "/ops/noop",
            "/components",
            "/components/{id}",
            "/snapshots",
            "/snapshots/{id}",
            "/events",
            "/healthz",
            "/metrics",
            "/openapi.json",
        ] {
            let item = doc["paths"][path].as_object().unwrap();
            for operation in item.values() {
                assert!(operation["responses"]["403"].is_object(), "{path}");
            }
        }
        let kinds = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["kind"]
            ["enum"];
        assert!(kinds.as_array().unwrap().contains(&json!("bad_json")));

        let open = document(&registry, "http://127.0.0.1:9", false, None, false, None);
        assert!(open["paths"]["/components"].is_null());
        assert!(open["paths"]["/logs/{path}"].is_null());
        assert!(open["paths"]["/snapshots"].is_null());
        assert!(open.get("security").is_none());
        assert!(open["paths"]["/metrics"]["get"]["responses"]["401"].is_null());
    }
}
