//! `warden ctl --nats URL`: operations on a fleet through the NATS
//! server, not one host's HTTP API (subjects and roles:
//! [`warden::fleet::ops`]).
//!
//! Owns `op` over the bus (the subject of the operation's role, or of
//! `--role`) and `hosts` (`$SRV.INFO` and `$SRV.STATS` of the `warden`
//! service, one row per host). Never talks HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden::fleet::ops::{ERROR_CODE_HEADER, ERROR_HEADER, SERVICE, op_subject};
use warden::ops::Role;

use super::{Failure, output, render_value};

/// How long a request waits for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `hosts` gathers the answers of every host.
const GATHER: Duration = Duration::from_millis(750);

/// A connection that also hears the server's complaints (a permission
/// violation arrives as an asynchronous `-ERR`, not as the request's
/// answer).
pub(super) struct Bus {
    client: async_nats::Client,
    errors: mpsc::UnboundedReceiver<String>,
    url: String,
}

impl Bus {
    /// Connects to `url`, as `user` with `password` when given.
    pub(super) async fn connect(
        url: &str,
        user: Option<String>,
        password: Option<String>,
    ) -> Result<Bus, Failure> {
        let options = match (user, password) {
            (Some(user), Some(password)) => {
                async_nats::ConnectOptions::with_user_and_password(user, password)
            }
            (None, None) => async_nats::ConnectOptions::new(),
            (Some(_), None) => {
                return Err(Failure::bad_input(anyhow!(
                    "--nats-user needs --nats-password (or WARDEN_NATS_PASSWORD)"
                )));
            }
            (None, Some(_)) => {
                return Err(Failure::bad_input(anyhow!(
                    "--nats-password needs --nats-user"
                )));
            }
        };
        let (tx, errors) = mpsc::unbounded_channel();
        let client = options
            .name("warden ctl")
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let async_nats::Event::ServerError(err) = event {
                        let _ = tx.send(err.to_string());
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| Failure::failed(anyhow!("cannot connect to NATS at {url}: {e}")))?;
        Ok(Bus {
            client,
            errors,
            url: url.to_string(),
        })
    }

    /// Calls `name` on whichever host serves it, on the subject of `role`
    /// (by default the role the operation needs, as the hosts announce it).
    pub(super) async fn op(
        &mut self,
        name: &str,
        params: Value,
        role: Option<Role>,
        json: bool,
    ) -> Result<(), Failure> {
        let role = match role {
            Some(role) => role,
            None => self.needed_role(name).await?,
        };
        let subject = op_subject(role, name);
        let payload = serde_json::to_vec(&params).map_err(Failure::failed)?;
        let request = self.client.request(subject.clone(), payload.into());
        let message = tokio::select! {
            answer = tokio::time::timeout(REQUEST_TIMEOUT, request) => match answer {
                Err(_) => {
                    return Err(Failure::failed(anyhow!(
                        "no host answered `{name}` on {subject} within {}s",
                        REQUEST_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                    return Err(Failure::failed(anyhow!(
                        "no host on {} serves `{name}` (nothing listens on {subject})",
                        self.url
                    )));
                }
                Ok(Err(e)) => return Err(Failure::failed(anyhow!("`{name}` on {subject}: {e}"))),
                Ok(Ok(message)) => message,
            },
            Some(err) = self.errors.recv() => {
                return Err(Failure::bad_input(anyhow!(
                    "the NATS server refused `{name}`: {err} (the user's permissions do not reach the `{}` role's subjects)",
                    role.as_str()
                )));
            }
        };
        let error = message
            .headers
            .as_ref()
            .and_then(|h| Some((h.get(ERROR_CODE_HEADER)?, h.get(ERROR_HEADER)?)));
        if let Some((code, body)) = error {
            let status: u16 = code.as_str().parse().unwrap_or(500);
            let body: Value = serde_json::from_str(body.as_str()).unwrap_or_else(|_| {
                json!({"error": {
                    "kind": "failed", "message": body.as_str()}})
            });
            if json {
                // As over HTTP: the error body on stdout for scripts.
                super::print_json(&body)?;
            }
            let kind = body["error"]["kind"]
                .as_str()
                .unwrap_or("failed")
                .to_string();
            let text = body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let err = anyhow!("`{name}` failed ({status} {kind}): {text}");
            return Err(if (400..500).contains(&status) {
                Failure::bad_input(err)
            } else {
                Failure::failed(err)
            });
        }
        let result: Value = serde_json::from_slice(&message.payload).map_err(|e| {
            Failure::failed(anyhow!("`{name}` answered with something not JSON: {e}"))
        })?;
        output(json, &result, render_value)
    }

    /// The role `name` needs, from the endpoints' metadata in `$SRV.INFO`.
    async fn needed_role(&mut self, name: &str) -> Result<Role, Failure> {
        let role_in = |info: &Value| -> Option<Role> {
            info["endpoints"]
                .as_array()?
                .iter()
                .find(|e| e["metadata"]["op"] == name)
                .and_then(|e| e["metadata"]["role"].as_str()?.parse().ok())
        };
        let infos = self.gather("INFO", |info| role_in(info).is_some()).await?;
        infos.iter().find_map(role_in).ok_or_else(|| {
            Failure::bad_input(anyhow!(
                "no host on {} serves `{name}` (no such operation in the hosts' $SRV.INFO)",
                self.url
            ))
        })
    }

    /// Every host's answer to `$SRV.<verb>.warden`, gathered for a moment
    /// (or until one answer is `enough`).
    async fn gather(
        &mut self,
        verb: &str,
        enough: impl Fn(&Value) -> bool,
    ) -> Result<Vec<Value>, Failure> {
        let inbox = self.client.new_inbox();
        let mut answers = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| Failure::failed(anyhow!("subscribing to answers: {e}")))?;
        self.client
            .publish_with_reply(format!("$SRV.{verb}.{SERVICE}"), inbox, "".into())
            .await
            .map_err(|e| Failure::failed(anyhow!("asking the hosts: {e}")))?;
        let mut values = Vec::new();
        let deadline = tokio::time::sleep(GATHER);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                Some(err) = self.errors.recv() => {
                    return Err(Failure::bad_input(anyhow!(
                        "the NATS server refused $SRV.{verb}.{SERVICE}: {err}"
                    )));
                }
                message = answers.next() => match message {
                    Some(message) => {
                        if let Ok(value) = serde_json::from_slice::<Value>(&message.payload) {
                            let done = enough(&value);
                            values.push(value);
                            if done {
                                break;
                            }
                        }
                    }
                    None => break,
                },
            }
        }
        Ok(values)
    }

    /// `hosts`: one row per host, from its service's info and stats.
    pub(super) async fn hosts(&mut self, json: bool) -> Result<(), Failure> {
        let infos = self.gather("INFO", |_| false).await?;
        let stats = self.gather("STATS", |_| false).await?;
        let stats: BTreeMap<String, Value> = stats
            .into_iter()
            .filter_map(|s| Some((s["id"].as_str()?.to_string(), s)))
            .collect();
        let mut rows: Vec<Value> = infos
            .iter()
            .map(|info| {
                let id = info["id"].as_str().unwrap_or_default();
                let endpoints = stats
                    .get(id)
                    .and_then(|s| s["endpoints"].as_array().cloned())
                    .unwrap_or_default();
                let sum = |key: &str| {
                    endpoints
                        .iter()
                        .map(|e| e[key].as_u64().unwrap_or(0))
                        .sum::<u64>()
                };
                json!({
                    "name": info["metadata"]["host"],
                    "id": id,
                    "version": info["version"],
                    "endpoints": info["endpoints"].as_array().map_or(0, Vec::len),
                    "requests": sum("num_requests"),
                    "errors": sum("num_errors"),
                    "processing_time_ns": sum("processing_time"),
                    "started": stats.get(id).map_or(Value::Null, |s| s["started"].clone()),
                })
            })
            .collect();
        rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        output(json, &Value::Array(rows), render_hosts)
    }
}

fn render_hosts(rows: &Value) -> String {
    let rows = rows.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no host answered\n".to_string();
    }
    let mut out = format!(
        "{:<20} {:<10} {:>9} {:>9} {:>7} {:>12}\n",
        "HOST", "VERSION", "ENDPOINTS", "REQUESTS", "ERRORS", "PROCESSING"
    );
    for row in rows {
        let ns = row["processing_time_ns"].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "{:<20} {:<10} {:>9} {:>9} {:>7} {:>10.1}ms\n",
            row["name"].as_str().unwrap_or("?"),
            row["version"].as_str().unwrap_or("?"),
            row["endpoints"].as_u64().unwrap_or(0),
            row["requests"].as_u64().unwrap_or(0),
            row["errors"].as_u64().unwrap_or(0),
            ns as f64 / 1e6,
        ));
    }
    out
}
