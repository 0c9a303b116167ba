//! Operations on a fleet: a `warden run` with `[fleet]` serves its
//! operations as a NATS micro service and publishes its events on the bus;
//! `warden ctl --nats` calls them and lists the hosts.
//!
//! Owns the subject scheme and both ends of it:
//!
//! - each host registers one service named [`SERVICE`] (its name in the
//!   metadata key `host`), so `$SRV.INFO.warden` and `$SRV.STATS.warden`
//!   answer once per host;
//! - an operation `OP` that needs the role `R` is served on
//!   `warden.op.<role>.OP` for every role — so a server
//!   user whose `publish` permission is `warden.op.read.>` can reach the
//!   read operations and nothing else, and one with `warden.op.read.>` and
//!   `warden.op.operate.>` reaches the operate ones too ([`permissions`]
//!   prints such a server config). A request on the subject of a role below
//!   the operation's finds the host's refusal (`forbidden_role`), not the
//!   operation;
//! - every endpoint of one operation, on every host, shares the queue
//!   group `warden-op-OP`, so exactly one host answers each request and a
//!   stopped host leaves the others serving;
//! - host events go to `warden.events.<host>.<kind>`, as the JSON the
//!   HTTP event stream sends.
//!
//! Requests carry the operation's JSON params (an empty payload is `{}`);
//! the answer is the JSON result, or an error: the headers
//! `Nats-Service-Error-Code` (the HTTP status) and `Nats-Service-Error` (the
//! same `{"error": {"kind", "message", …}}` body the HTTP API answers with).
//!
//! What this module never does: run an operation itself (the host's
//! [`Registry`](crate::ops::Registry) does), or decide who may connect
//! (the NATS server's users and permissions do).

use std::collections::HashMap;
use std::time::Duration;

use async_nats::service::{self, ServiceExt};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::config::{FleetConfig, NatsAuth};
use crate::events::{EventBus, Received};
use crate::ops::{OpError, Registry, Role};

use super::FleetError;

/// The service every host registers.
pub const SERVICE: &str = "warden";

/// The header an error answer's HTTP status travels in.
pub const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";
/// The header an error answer's JSON body travels in.
pub const ERROR_HEADER: &str = "Nats-Service-Error";

/// The subject `op` is served on for callers with `role`.
pub fn op_subject(role: Role, op: &str) -> String {
    format!("warden.op.{}.{op}", role.as_str())
}

/// The subject a host's event of `kind` is published on.
pub fn event_subject(host: &str, kind: &str) -> String {
    format!("warden.events.{host}.{kind}")
}

/// Connection options carrying the configured credentials.
pub fn connect_options(auth: &NatsAuth) -> async_nats::ConnectOptions {
    match auth {
        NatsAuth::None => async_nats::ConnectOptions::new(),
        NatsAuth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
    }
}

/// A nats-server `authorization` block with one user per role: each may
/// publish to the operation subjects of its role and those below, ask the
/// hosts for `$SRV` info, and receive answers; `host` may serve and
/// publish events. Passwords are placeholders the operator replaces.
pub fn permissions() -> String {
    let mut users = String::new();
    for role in Role::ALL {
        let subjects: Vec<String> = Role::ALL
            .iter()
            .filter(|r| role.allows(**r))
            .map(|r| format!("\"warden.op.{}.>\"", r.as_str()))
            .chain(["\"$SRV.>\"".to_string()])
            .collect();
        users.push_str(&format!(
            "    {{ user: \"{r}\", password: \"CHANGE-ME-{r}\", permissions: {{ publish: [{}], subscribe: [\"_INBOX.>\", \"warden.events.>\"] }} }}\n",
            subjects.join(", "),
            r = role.as_str(),
        ));
    }
    users.push_str(
        "    { user: \"host\", password: \"CHANGE-ME-host\", permissions: { publish: [\"warden.events.>\", \"_INBOX.>\"], subscribe: [\"warden.op.>\", \"$SRV.>\", \"_INBOX.>\"] } }\n",
    );
    format!("authorization {{\n  users: [\n{users}  ]\n}}\n")
}

/// The host's presence on the bus: its service, the tasks answering its
/// endpoints and the one forwarding its events. [`FleetOps::stop`] ends
/// them.
pub struct FleetOps {
    client: async_nats::Client,
    service: service::Service,
    tasks: Vec<JoinHandle<()>>,
}

impl FleetOps {
    /// Connects as `config` says and registers every operation of
    /// `operations` (those registered now: a plugin operation added later
    /// is served over HTTP only until the host restarts), and forwards
    /// `events`.
    pub async fn start(
        config: &FleetConfig,
        operations: Registry,
        events: &EventBus,
    ) -> Result<FleetOps, FleetError> {
        let client = connect_options(&config.auth)
            .name(format!("warden host {}", config.name))
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .connect(config.nats.as_str())
            .await
            .map_err(|e| FleetError::Connect {
                url: config.nats.clone(),
                reason: e.to_string(),
            })?;
        let bus = |what: &str, e: &dyn std::fmt::Display| FleetError::Bus {
            what: what.to_string(),
            reason: e.to_string(),
        };
        let service = client
            .service_builder()
            .description("the operations of a Warden host")
            .metadata(HashMap::from([("host".to_string(), config.name.clone())]))
            .start(SERVICE, env!("CARGO_PKG_VERSION"))
            .await
            .map_err(|e| bus("registering the service", &e))?;
        let mut tasks = Vec::new();
        for op in operations.operations() {
            let needed = op.role();
            for role in Role::ALL {
                let endpoint = service
                    .endpoint_builder()
                    .name(format!("{}-{}", role.as_str(), op.name().replace('.', "-")))
                    .metadata(HashMap::from([
                        ("op".to_string(), op.name().to_string()),
                        ("role".to_string(), needed.as_str().to_string()),
                    ]))
                    .queue_group(format!("warden-op-{}", op.name()))
                    .add(op_subject(role, op.name()))
                    .await
                    .map_err(|e| bus(&format!("registering `{}`", op.name()), &e))?;
                let operations = operations.clone();
                let name = op.name().to_string();
                tasks.push(tokio::spawn(serve_endpoint(
                    endpoint, operations, name, role, needed,
                )));
            }
        }
        tasks.push(tokio::spawn(forward_events(
            client.clone(),
            config.name.clone(),
            events.subscribe(),
        )));
        Ok(FleetOps {
            client,
            service,
            tasks,
        })
    }

    /// Leaves the bus: no endpoint answers any more (the other hosts do),
    /// and the events published so far are flushed.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.service.stop().await {
            tracing::warn!(error = %e, "stopping the fleet service");
        }
        if let Err(e) = self.client.flush().await {
            tracing::warn!(error = %e, "flushing the fleet connection");
        }
    }
}

/// Answers the requests of one endpoint, each in its own task so a slow
/// operation does not hold the next.
async fn serve_endpoint(
    mut endpoint: service::endpoint::Endpoint,
    operations: Registry,
    name: String,
    role: Role,
    needed: Role,
) {
    while let Some(request) = endpoint.next().await {
        let operations = operations.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let answer = answer(&operations, &name, role, needed, &request.message.payload).await;
            if let Err(e) = request.respond(answer).await {
                tracing::warn!(op = %name, error = %e, "cannot answer a fleet request");
            }
        });
    }
}

/// The answer to one request: the result's JSON, or the HTTP status and
/// error body.
async fn answer(
    operations: &Registry,
    name: &str,
    role: Role,
    needed: Role,
    payload: &[u8],
) -> Result<Bytes, service::error::Error> {
    if !role.allows(needed) {
        return Err(error(
            403,
            serde_json::json!({"error": {
                "kind": "forbidden_role",
                "message": format!(
                    "`{name}` needs the `{needed}` role; the request came on the subject of the `{role}` role ({})",
                    op_subject(role, name)
                ),
            }}),
        ));
    }
    let params: Value = if payload.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(payload) {
            Ok(params) => params,
            Err(e) => {
                return Err(error(
                    400,
                    serde_json::json!({"error": {
                        "kind": "bad_json",
                        "message": format!("the params are not valid JSON: {e}"),
                    }}),
                ));
            }
        }
    };
    match operations.call(name, params).await {
        Ok(result) => Ok(Bytes::from(serde_json::to_vec(&result).unwrap_or_default())),
        Err(e) => Err(op_error(&e)),
    }
}

fn op_error(e: &OpError) -> service::error::Error {
    error(e.status_code(), e.body())
}

fn error(status: u16, body: Value) -> service::error::Error {
    service::error::Error {
        code: usize::from(status),
        status: body.to_string(),
    }
}

/// Publishes every host event on its subject until the bus is gone; a
/// subscriber that fell behind logs how many it missed.
async fn forward_events(
    client: async_nats::Client,
    host: String,
    mut events: crate::events::EventStream,
) {
    while let Some(received) = events.recv().await {
        match received {
            Received::Event(event) => {
                let subject = event_subject(&host, event.kind.name());
                let Ok(payload) = serde_json::to_vec(&event) else {
                    continue;
                };
                if let Err(e) = client.publish(subject, payload.into()).await {
                    tracing::warn!(error = %e, "cannot publish a host event on the bus");
                }
            }
            Received::Missed(n) => {
                tracing::warn!(missed = n, "the fleet event forwarder fell behind");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpMeta;

    /// A registry with `echo` (read) and `bump` (operate, takes `{n}`).
    fn registry() -> Registry {
        let registry = Registry::new();
        registry
            .register_builtin(
                OpMeta::new("echo", "Returns its params")
                    .params(serde_json::json!({"type": "object"}))
                    .read_only(true)
                    .role(Role::Read),
                |params| Box::pin(async move { Ok(params) }),
            )
            .expect("echo");
        registry
            .register_builtin(
                OpMeta::new("bump", "Adds one")
                    .params(serde_json::json!({
                        "type": "object",
                        "properties": {"n": {"type": "integer"}},
                        "required": ["n"],
                        "additionalProperties": false
                    }))
                    .role(Role::Operate),
                |params| {
                    Box::pin(async move { Ok((params["n"].as_i64().unwrap_or(0) + 1).into()) })
                },
            )
            .expect("bump");
        registry
    }

    fn body(err: &service::error::Error) -> Value {
        serde_json::from_str(&err.status).expect("the error body is JSON")
    }

    #[tokio::test]
    async fn a_request_gets_the_result_or_the_http_error_body() {
        let r = registry();
        let ok = answer(&r, "bump", Role::Operate, Role::Operate, br#"{"n": 41}"#)
            .await
            .expect("bump answers");
        assert_eq!(&ok[..], b"42");
        // Empty means `{}`.
        let ok = answer(&r, "echo", Role::Read, Role::Read, b"")
            .await
            .expect("echo answers");
        assert_eq!(&ok[..], b"{}");
        // A higher role's subject may call a lower role's operation.
        assert!(
            answer(&r, "echo", Role::Admin, Role::Read, b"{}")
                .await
                .is_ok()
        );

        let err = answer(&r, "bump", Role::Operate, Role::Operate, b"{\"n\": \"x\"}")
            .await
            .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(body(&err)["error"]["kind"], "invalid_params");

        let err = answer(&r, "bump", Role::Operate, Role::Operate, b"{nope")
            .await
            .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(body(&err)["error"]["kind"], "bad_json");
    }

    #[tokio::test]
    async fn a_request_on_a_lower_roles_subject_is_refused_unrun() {
        let r = registry();
        let err = answer(&r, "bump", Role::Read, Role::Operate, br#"{"n": 1}"#)
            .await
            .unwrap_err();
        assert_eq!(err.code, 403);
        let body = body(&err);
        assert_eq!(body["error"]["kind"], "forbidden_role");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("warden.op.read.bump")),
            "{body}"
        );
    }

    #[test]
    fn each_role_publishes_to_its_wildcard_and_those_below() {
        let text = permissions();
        let line = |user: &str| {
            text.lines()
                .find(|l| l.contains(&format!("user: \"{user}\"")))
                .unwrap_or_else(|| panic!("a `{user}` user in:\n{text}"))
                .to_string()
        };
        let read = line("read");
        assert!(read.contains("\"warden.op.read.>\""), "{read}");
        assert!(!read.contains("warden.op.operate"), "{read}");
        let operate = line("operate");
        assert!(operate.contains("\"warden.op.operate.>\""), "{operate}");
        assert!(!operate.contains("warden.op.admin"), "{operate}");
        assert!(line("admin").contains("\"warden.op.admin.>\""));
        assert!(line("host").contains("subscribe: [\"warden.op.>\""));
    }
}
