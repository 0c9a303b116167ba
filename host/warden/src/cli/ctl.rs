//! `warden ctl …`: talk to a running host over its HTTP API.
//!
//! Every subcommand is one operation of the host's registry (`POST
//! /ops/{name}`), called through [`ApiClient`]; `events` follows the SSE
//! stream (`GET /events`). This file only turns arguments into params and
//! results into text: it adds no behaviour an operation lacks.
//!
//! Output: human text by default (the tree indented, tables aligned, a
//! health summary), or with `--json` the operation's JSON result as the
//! host sent it (`events --json`: one event object per line).
//!
//! Errors: `warden ctl: <message>` on stderr, each schema violation on a
//! line of its own. Exit status: 0 ok; 2 when the host answers 4xx (bad
//! params, unknown child or operation, a missing or wrong token) or the
//! arguments are bad; 1 when it answers 5xx, a reload or strategy change
//! did not take, or the host cannot be reached (the message names the
//! address tried).
//!
//! Address: `--addr`, else `--state-dir DIR` (reads `DIR/api.addr`, which
//! `warden run` writes), else `$WARDEN_ADDR`, else `http://127.0.0.1:7878`.
//!
//! The human text of each result is [`render`]'s.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use warden::api::client::{ApiClient, ClientError};

use super::Failure;
use super::out::errln;

mod render;

use render::{
    field, render_event, render_health, render_info, render_ps, render_reload, render_strategy,
    render_tree, render_value, render_versions, scalar,
};

/// Where a host listens when nothing says otherwise.
const DEFAULT_ADDR: &str = "http://127.0.0.1:7878";

/// The hint for a 401.
const TOKEN_HINT: &str = "the host wants a token: --token or WARDEN_TOKEN";

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Connection,
    /// Print the operation's JSON result as is (`events`: one event per line).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

/// How to reach the host.
#[derive(clap::Args)]
struct Connection {
    /// The host's API, e.g. `http://127.0.0.1:7878` (default: --state-dir's
    /// `api.addr`, else $WARDEN_ADDR, else http://127.0.0.1:7878).
    #[arg(long, global = true, conflicts_with = "state_dir")]
    addr: Option<String>,
    /// A running host's state dir: its address is read from `DIR/api.addr`.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Bearer token for a host that has one set.
    #[arg(long, global = true, env = "WARDEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(clap::Subcommand)]
enum CtlCommand {
    /// The supervision trees: every child with status, generation and restarts.
    Tree,
    /// Native worker incarnations from the host's registry.
    Ps {
        /// Only incarnations of this child (e.g. `root/workers/sleeper`).
        #[arg(long)]
        child: Option<String>,
        /// Only incarnations in this state: running, exited, orphan_killed, orphan_gone.
        #[arg(long)]
        state: Option<String>,
        /// At most this many rows, newest first.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Follow the host's events, one line per event, until the host stops
    /// (or `--count` events were shown).
    Events {
        /// Only events of this child or supervisor and everything below it.
        #[arg(long)]
        child: Option<String>,
        /// Only events of these kinds (e.g. `child_exited,child_restarted`).
        #[arg(long, value_delimiter = ',')]
        kind: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Everything about one child: state, generation, restarts, limits,
    /// resource use, health, version.
    Info {
        /// The child's path, e.g. `root/counter`.
        path: String,
    },
    /// Start a stopped child.
    Start {
        /// The child's path.
        path: String,
    },
    /// Stop a child (it stays stopped until started or restarted).
    Terminate {
        /// The child's path.
        path: String,
    },
    /// Terminate and start a child.
    Restart {
        /// The child's path.
        path: String,
    },
    /// Kill a child's running incarnation; its supervisor restarts it per policy.
    Kill {
        /// The child's path.
        path: String,
    },
    /// Hot-reload a component child from its file, state kept; or, with
    /// `--rollback`, go back to an earlier version.
    Reload {
        /// The child's path.
        path: String,
        /// Roll back instead: to VERSION, or to the version before the current one.
        #[arg(long, value_name = "VERSION", num_args = 0..=1)]
        rollback: Option<Option<u64>>,
    },
    /// A component child's version history.
    Versions {
        /// The child's path.
        path: String,
    },
    /// Change a supervisor's restart strategy (rolled back if the tree does
    /// not settle).
    Strategy {
        /// The supervisor's path, e.g. `root`.
        supervisor: String,
        /// one_for_one, one_for_all, rest_for_one or simple_one_for_one.
        strategy: String,
        /// Only show which children would change coupling.
        #[arg(long)]
        dry_run: bool,
    },
    /// Send a text message to a child and print its reply.
    Send {
        /// The child's path.
        path: String,
        /// The message.
        message: String,
    },
    /// Call any operation (built-in or plugin) with JSON params.
    Op {
        /// The operation's name, e.g. `child.info` or `wordcount.count`.
        name: String,
        /// Its params as a JSON object (default `{}`).
        params: Option<String>,
    },
    /// Health of every supervisor, or of one.
    Health {
        /// Only this supervisor.
        supervisor: Option<String>,
    },
}

/// Runs `warden ctl` and prints its errors itself: a violation list needs
/// more than the one line the other commands' errors get.
pub fn run(args: Args) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)
        .and_then(|runtime| runtime.block_on(execute(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(err)) => {
            errln!("warden ctl: {err:#}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(err)) => {
            errln!("warden ctl: {err:#}");
            ExitCode::from(1)
        }
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
    }
}

async fn execute(args: Args) -> Result<(), Failure> {
    let host = Host::connect(&args.conn, args.json)?;
    let json = args.json;
    match args.command {
        CtlCommand::Tree => {
            let tree = host.call("tree", json!({})).await?;
            output(json, &tree, render_tree)
        }
        CtlCommand::Ps {
            child,
            state,
            limit,
        } => {
            let mut params = Map::new();
            insert_some(&mut params, "child", child.map(Value::from));
            insert_some(&mut params, "state", state.map(Value::from));
            insert_some(&mut params, "limit", limit.map(Value::from));
            let rows = host.call("ps", Value::Object(params)).await?;
            output(json, &rows, render_ps)
        }
        CtlCommand::Events { child, kind, count } => {
            host.follow_events(child, kind, count, json).await
        }
        CtlCommand::Info { path } => {
            let info = host.call("child.info", json!({ "path": path })).await?;
            output(json, &info, render_info)
        }
        CtlCommand::Start { path } => {
            child_action(&host, json, "child.start", "started", path).await
        }
        CtlCommand::Terminate { path } => {
            child_action(&host, json, "child.terminate", "terminated", path).await
        }
        CtlCommand::Restart { path } => {
            child_action(&host, json, "child.restart", "restarted", path).await
        }
        CtlCommand::Kill { path } => {
            let result = host.call("child.kill", json!({ "path": path })).await?;
            output(json, &result, |v| {
                format!(
                    "{path}: killed generation {}; its supervisor restarts it per its policy\n",
                    field(v, "generation")
                )
            })
        }
        CtlCommand::Reload {
            path,
            rollback: None,
        } => {
            let outcome = host.call("child.reload", json!({ "path": path })).await?;
            output(json, &outcome, |v| render_reload(&path, v))?;
            if outcome.get("outcome").and_then(Value::as_str) == Some("failed") {
                return Err(Failure::failed(anyhow!(
                    "{path}: the reload failed; the old version keeps serving"
                )));
            }
            Ok(())
        }
        CtlCommand::Reload {
            path,
            rollback: Some(version),
        } => {
            let mut params = json!({ "path": path });
            if let Some(v) = version {
                params["version"] = v.into();
            }
            let result = host.call("child.rollback", params).await?;
            output(json, &result, |v| match v.get("version") {
                Some(version) => format!("{path}: rolled back to version {}\n", scalar(version)),
                None => format!("{path}: rolled back\n"),
            })
        }
        CtlCommand::Versions { path } => {
            let versions = host.call("child.versions", json!({ "path": path })).await?;
            output(json, &versions, render_versions)
        }
        CtlCommand::Strategy {
            supervisor,
            strategy,
            dry_run,
        } => {
            let params = json!({ "path": supervisor, "strategy": strategy, "dry_run": dry_run });
            let report = host.call("supervisor.strategy", params).await?;
            output(json, &report, render_strategy)?;
            if report
                .get("outcome")
                .and_then(|o| o.get("outcome"))
                .and_then(Value::as_str)
                == Some("rolled_back")
            {
                return Err(Failure::failed(anyhow!(
                    "{supervisor}: the tree did not settle under {strategy}; the old strategy is back"
                )));
            }
            Ok(())
        }
        CtlCommand::Send { path, message } => {
            let params = json!({ "path": path, "message": message });
            let reply = host.call("child.send", params).await?;
            if json {
                return print_json(&reply);
            }
            write_reply(&reply)
        }
        CtlCommand::Op { name, params } => {
            let params = match params {
                None => json!({}),
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| Failure::bad_input(anyhow!("PARAMS_JSON is not JSON: {e}")))?,
            };
            let result = host.call(&name, params).await?;
            output(json, &result, render_value)
        }
        CtlCommand::Health { supervisor } => {
            let params = match supervisor {
                Some(path) => json!({ "path": path }),
                None => json!({}),
            };
            let reports = host.call("health", params).await?;
            output(json, &reports, render_health)
        }
    }
}

/// Start, terminate or restart one child.
async fn child_action(
    host: &Host,
    json: bool,
    op: &str,
    done: &str,
    path: String,
) -> Result<(), Failure> {
    let result = host.call(op, json!({ "path": path })).await?;
    output(json, &result, |v| match v.get("generation") {
        Some(generation) if !generation.is_null() => {
            format!("{path}: {done} (generation {})\n", scalar(generation))
        }
        _ => format!("{path}: {done}\n"),
    })
}

/// A connection to one host, and what to say when it fails.
struct Host {
    client: ApiClient,
    base_url: String,
    has_token: bool,
    json: bool,
}

impl Host {
    fn connect(conn: &Connection, json: bool) -> Result<Self, Failure> {
        let base_url = conn.base_url()?;
        let client = ApiClient::new(&base_url, conn.token.clone()).map_err(Failure::bad_input)?;
        Ok(Host {
            client,
            base_url,
            has_token: conn.token.is_some(),
            json,
        })
    }

    async fn call(&self, op: &str, params: Value) -> Result<Value, Failure> {
        self.client
            .call(op, params)
            .await
            .map_err(|e| self.failure(Some(op), e))
    }

    /// Prints events as they come until the stream ends or `count` were shown.
    async fn follow_events(
        &self,
        child: Option<String>,
        kinds: Vec<String>,
        count: Option<u64>,
        json: bool,
    ) -> Result<(), Failure> {
        let mut query = Vec::new();
        if let Some(child) = &child {
            query.push(format!("child={}", percent_encode(child)));
        }
        if !kinds.is_empty() {
            query.push(format!("kind={}", percent_encode(&kinds.join(","))));
        }
        let mut stream = self
            .client
            .events(&query.join("&"))
            .await
            .map_err(|e| self.failure(None, e))?;
        let mut shown = 0u64;
        while count.is_none_or(|n| shown < n) {
            let Some(item) = stream.next().await else {
                errln!("warden ctl: the host closed the event stream");
                return Ok(());
            };
            let event = match item {
                Ok(event) => event,
                Err(ClientError::Transport(reason)) => {
                    return Err(Failure::failed(anyhow!(
                        "the event stream from {} broke: {reason}",
                        self.base_url
                    )));
                }
                Err(other) => return Err(self.failure(None, other)),
            };
            let line = if json {
                serde_json::to_string(&event.data).map_err(Failure::failed)?
            } else {
                render_event(&event.kind, &event.data)
            };
            if !write_stdout(&format!("{line}\n"))? {
                return Ok(());
            }
            shown += 1;
        }
        Ok(())
    }

    /// Sorts a client error by whose fault it is and words it. With
    /// `--json`, the host's error body also goes to stdout, for scripts.
    fn failure(&self, op: Option<&str>, err: ClientError) -> Failure {
        match err {
            ClientError::Status { status, body } => {
                if self.json && body.is_object() {
                    let _ = print_json(&body);
                }
                let message = error_message(status, &body, op);
                if status == 401 {
                    let hint = if self.has_token {
                        format!("the host refused the token ({message}); {TOKEN_HINT}")
                    } else {
                        format!("{message}\n{TOKEN_HINT}")
                    };
                    Failure::bad_input(anyhow!(hint))
                } else if (400..500).contains(&status) {
                    Failure::bad_input(anyhow!(message))
                } else {
                    Failure::failed(anyhow!(message))
                }
            }
            ClientError::Transport(reason) => Failure::failed(anyhow!(
                "cannot reach the host at {}: {reason}",
                self.base_url
            )),
            bad @ ClientError::BadUrl { .. } => Failure::bad_input(bad),
            bad @ ClientError::BadResponse(_) => {
                Failure::failed(anyhow!("{}: {bad}", self.base_url))
            }
        }
    }
}

impl Connection {
    /// The base URL: `--addr`, `--state-dir`'s `api.addr`, `$WARDEN_ADDR`,
    /// or the default.
    fn base_url(&self) -> Result<String, Failure> {
        if let Some(addr) = &self.addr {
            return Ok(normalize_addr(addr));
        }
        if let Some(dir) = &self.state_dir {
            let file = dir.join("api.addr");
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::failed(anyhow!(
                    "{}: cannot read ({e}); is a host running with this state dir?",
                    file.display()
                ))
            })?;
            let addr = text.trim();
            if addr.is_empty() {
                return Err(Failure::failed(anyhow!(
                    "{}: empty; is a host running with this state dir?",
                    file.display()
                )));
            }
            return Ok(normalize_addr(addr));
        }
        match std::env::var("WARDEN_ADDR") {
            Ok(addr) if !addr.trim().is_empty() => Ok(normalize_addr(addr.trim())),
            _ => Ok(DEFAULT_ADDR.to_string()),
        }
    }
}

/// `127.0.0.1:7878` → `http://127.0.0.1:7878`; no trailing slash.
fn normalize_addr(addr: &str) -> String {
    let addr = addr.trim_end_matches('/');
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// The message of an error body, then each violation on its own line
/// (the message of `invalid_params` lists them all on one line: `op`, the
/// operation called, replaces it).
fn error_message(status: u16, body: &Value, op: Option<&str>) -> String {
    let error = body.get("error");
    let mut message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match body {
            Value::String(text) if !text.is_empty() => format!("HTTP {status}: {text}"),
            Value::Null => format!("HTTP {status}"),
            other => format!("HTTP {status}: {other}"),
        });
    let violations = error
        .and_then(|e| e.get("violations"))
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty());
    if let Some(violations) = violations {
        if let Some(op) = op {
            message = format!("invalid params for `{op}`:");
        }
        for v in violations {
            let path = v.get("path").and_then(Value::as_str).unwrap_or("");
            let at = if path.is_empty() { "(root)" } else { path };
            message.push_str(&format!(
                "\n  {at}: expected {}, found {}",
                v.get("expected").map(scalar).unwrap_or_default(),
                v.get("found").map(scalar).unwrap_or_default()
            ));
        }
    }
    message
}

/// `%`-encodes a query value (keeps unreserved characters and `/`, `,`).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b',' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value);
    }
}

// ---------------------------------------------------------------- output

/// The JSON as is with `--json`, else `render`'s text.
fn output(json: bool, value: &Value, render: impl FnOnce(&Value) -> String) -> Result<(), Failure> {
    if json {
        print_json(value)
    } else {
        write_stdout(&render(value)).map(drop)
    }
}

fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(Failure::failed)?;
    write_stdout(&format!("{text}\n")).map(drop)
}

/// Writes to stdout; `Ok(false)` when the reader went away (`| head`).
fn write_stdout(text: &str) -> Result<bool, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Failure::failed(anyhow!("cannot write to stdout: {e}"))),
    }
}

/// The reply of `child.send`, as text or (base64) raw bytes.
fn write_reply(reply: &Value) -> Result<(), Failure> {
    let Some(text) = reply.get("reply").and_then(Value::as_str) else {
        errln!("warden ctl: no reply");
        return Ok(());
    };
    let bytes = if reply.get("encoding").and_then(Value::as_str) == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| Failure::failed(anyhow!("the host's reply is not base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(&bytes)
        .and_then(|()| {
            if bytes.ends_with(b"\n") {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::failed(anyhow!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme_and_lose_a_trailing_slash() {
        assert_eq!(normalize_addr("127.0.0.1:7878"), "http://127.0.0.1:7878");
        assert_eq!(normalize_addr("http://[::1]:80/"), "http://[::1]:80");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("root/a-b_c.d"), "root/a-b_c.d");
        assert_eq!(percent_encode("a b&c=d,e"), "a%20b%26c%3Dd,e");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn violations_get_a_line_each() {
        let body = json!({"error": {
            "kind": "invalid_params",
            "message": "invalid params for `ps`: /limit: expected integer, found string \"x\"; (root): x",
            "violations": [
                {"path": "/limit", "expected": "integer", "found": "string \"x\""},
                {"path": "", "expected": "an object", "found": "array"}
            ]
        }});
        assert_eq!(
            error_message(400, &body, Some("ps")),
            "invalid params for `ps`:\n  /limit: expected integer, found string \"x\"\n  (root): expected an object, found array"
        );
        assert_eq!(error_message(502, &json!(null), None), "HTTP 502");
    }
}
