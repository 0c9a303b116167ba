//! `warden ctl repl PATH`: a line-by-line session with a running
//! component child, over the API.
//!
//! A line is a message (`child.send`) and its reply is printed; `:state`
//! takes a snapshot (`child.snapshot`, which also stores it under an id)
//! and shows the state decoded from the SDK's envelope (`{"schema",
//! "state"}`) as JSON; `:restore FILE` puts a state back (`child.restore`):
//! the decoded JSON state as `:state` showed it (wrapped again in the
//! envelope with the schema last seen), a whole envelope, or raw bytes.
//! Everything goes through the operations, so the host checks the token's
//! role and audits each call; this module adds no behaviour of its own.
//!
//! Two ways to talk: for a person, a line editor with history and a
//! prompt (stdin without a terminal works too); with `--json`, for a
//! program, no prompt and no banner: each line in gives exactly one JSON
//! object on one line out (`{"message", "reply"}`, `{"command",
//! "snapshot"}`, `{"command", "restored"}`, or the same with `"error"`
//! instead of the result), so a script can pair its lines with answers.

use std::io::BufRead as _;

use base64::Engine as _;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use serde_json::{Value, json};

use super::{Failure, Host, error_message, field, print_json_line, write_reply};
use crate::cli::out::outln;
use crate::cli::repl::decode_envelope as decode;
use warden::api::client::ClientError;

const HELP: &str = "\
A line is sent to the child as a message (child.send); its reply is printed.
  :state          the child's state, decoded (child.snapshot: also stored, with an id)
  :restore FILE   put a state back (child.restore): JSON as :state shows it,
                  a whole {\"schema\", \"state\"} envelope, or raw bytes
  :help           this text
  :quit           leave (also Ctrl-D)";

/// Why one line of the session did not do what it asked. The session
/// goes on either way.
enum LineError {
    /// The host refused or failed the call.
    Host {
        op: &'static str,
        error: ClientError,
    },
    /// Nothing was sent: the line itself was wrong (no file, unreadable).
    Local(String),
}

impl LineError {
    /// As one line of text, for a person.
    fn message(&self) -> String {
        match self {
            Self::Host {
                op,
                error: ClientError::Status { status, body },
            } => error_message(*status, body, Some(op)),
            Self::Host { error, .. } => error.to_string(),
            Self::Local(message) => message.clone(),
        }
    }

    /// As JSON, for a program: the host's own error object when it
    /// answered one (with the HTTP status), else `{"message"}`.
    fn to_json(&self) -> Value {
        match self {
            Self::Host {
                error: ClientError::Status { status, body },
                ..
            } => {
                let mut error = body.get("error").cloned().unwrap_or_else(|| json!({}));
                if let Some(fields) = error.as_object_mut() {
                    fields.insert("status".into(), json!(status));
                    fields
                        .entry("message")
                        .or_insert_with(|| json!(self.message()));
                }
                error
            }
            _ => json!({ "message": self.message() }),
        }
    }
}

/// What a line asks for.
enum Line<'a> {
    Quit,
    Help,
    State,
    Restore(&'a str),
    Unknown(&'a str),
    /// The line as typed, inner spaces included, is the message.
    Message(&'a str),
}

fn parse(line: &str) -> Option<Line<'_>> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    let (command, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    Some(match command {
        ":quit" | ":q" | ":exit" => Line::Quit,
        ":help" | ":h" => Line::Help,
        ":state" => Line::State,
        ":restore" => Line::Restore(rest.trim()),
        c if c.starts_with(':') => Line::Unknown(c),
        _ => Line::Message(line),
    })
}

pub(super) async fn run(host: &Host, path: &str, json_lines: bool) -> Result<(), Failure> {
    host.check_path(path).await?;
    if json_lines {
        return run_json(host, path).await;
    }
    let mut editor = DefaultEditor::new()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot set up the terminal: {e}")))?;
    outln!("attached to {path}; :help for help")?;
    // The envelope schema of the last state seen, to wrap an edited state.
    let mut schema: Option<Value> = None;
    loop {
        let line = match editor.readline(&format!("{path}> ")) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(Failure::failed(anyhow::anyhow!("cannot read a line: {e}"))),
        };
        let Some(parsed) = parse(&line) else { continue };
        let _ = editor.add_history_entry(line.trim());
        let outcome = match parsed {
            Line::Quit => return Ok(()),
            Line::Help => outln!("{HELP}"),
            Line::State => match state(host, path, &mut schema).await {
                Ok(taken) => show_state(&taken),
                Err(e) => outln!("error: {}", e.message()),
            },
            Line::Restore(file) => match restore(host, path, file, &mut schema).await {
                Ok(()) => outln!("{path}: restored from {file}"),
                Err(e) => outln!("error: {}", e.message()),
            },
            Line::Unknown(c) => outln!("error: no command {c}; :help lists them"),
            Line::Message(message) => match send(host, path, message).await {
                Ok(reply) => write_reply(&reply),
                Err(e) => outln!("error: {}", e.message()),
            },
        };
        match outcome {
            Ok(()) => {}
            Err(Failure::OutputClosed) => return Ok(()),
            Err(Failure::BadInput(e) | Failure::Failed(e)) => outln!("error: {e:#}")?,
            // The failure printed itself (a list of violations).
            Err(Failure::Told(_)) => {}
        }
    }
}

/// `--json`: one JSON line out per line in, until end of input or `:quit`.
async fn run_json(host: &Host, path: &str) -> Result<(), Failure> {
    let mut schema: Option<Value> = None;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| Failure::failed(anyhow::anyhow!("cannot read a line: {e}")))?;
        let Some(parsed) = parse(&line) else { continue };
        let answer = match parsed {
            Line::Quit => return Ok(()),
            Line::Help => json!({ "command": ":help", "help": HELP }),
            Line::State => match state(host, path, &mut schema).await {
                Ok(taken) => json!({ "command": ":state", "snapshot": taken }),
                Err(e) => json!({ "command": ":state", "error": e.to_json() }),
            },
            Line::Restore(file) => match restore(host, path, file, &mut schema).await {
                Ok(()) => json!({ "command": ":restore", "restored": file }),
                Err(e) => json!({ "command": ":restore", "error": e.to_json() }),
            },
            Line::Unknown(c) => json!({
                "command": c,
                "error": { "message": format!("no command {c}; :help lists them") }
            }),
            Line::Message(message) => match send(host, path, message).await {
                Ok(reply) => json!({ "message": message, "reply": reply }),
                Err(e) => json!({ "message": message, "error": e.to_json() }),
            },
        };
        match print_json_line(&answer) {
            Ok(()) => {}
            Err(Failure::OutputClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn call(host: &Host, op: &'static str, params: Value) -> Result<Value, LineError> {
    host.client
        .call(op, params)
        .await
        .map_err(|error| LineError::Host { op, error })
}

async fn send(host: &Host, path: &str, message: &str) -> Result<Value, LineError> {
    call(
        host,
        "child.send",
        json!({ "path": path, "message": message }),
    )
    .await
}

/// Takes and stores a snapshot: `{"id", "schema", "state"}` when the state
/// is the SDK's envelope (`state` decoded), else `{"id", "size",
/// "base64"}`.
async fn state(host: &Host, path: &str, schema: &mut Option<Value>) -> Result<Value, LineError> {
    let taken = call(host, "child.snapshot", json!({ "path": path })).await?;
    let encoded = taken["state"].as_str().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| LineError::Local(format!("the host's state is not base64: {e}")))?;
    let id = field(&taken, "id");
    Ok(match decode(&bytes) {
        Some((s, state)) => {
            *schema = Some(s.clone());
            json!({ "id": id, "schema": s, "state": state })
        }
        None => json!({ "id": id, "size": bytes.len(), "base64": encoded }),
    })
}

fn show_state(taken: &Value) -> Result<(), Failure> {
    let id = field(taken, "id");
    match taken.get("schema") {
        Some(s) => outln!(
            "snapshot {id} (schema {s}):\n{}",
            serde_json::to_string_pretty(&taken["state"]).unwrap_or_default()
        ),
        None => outln!(
            "snapshot {id}: {} bytes, not the SDK's JSON envelope (base64):\n{}",
            taken["size"],
            field(taken, "base64")
        ),
    }
}

async fn restore(
    host: &Host,
    path: &str,
    file: &str,
    schema: &mut Option<Value>,
) -> Result<(), LineError> {
    if file.is_empty() {
        return Err(LineError::Local(":restore needs a FILE".into()));
    }
    let bytes =
        std::fs::read(file).map_err(|e| LineError::Local(format!("cannot read {file}: {e}")))?;
    let state = match serde_json::from_slice::<Value>(&bytes) {
        Ok(_) if decode(&bytes).is_some() => bytes,
        Ok(edited) => {
            if schema.is_none() {
                // The schema comes from the child's own current state.
                let taken = call(host, "child.snapshot", json!({ "path": path })).await?;
                let current = base64::engine::general_purpose::STANDARD
                    .decode(taken["state"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                *schema = decode(&current).map(|(s, _)| s);
            }
            match schema {
                Some(s) => serde_json::to_vec(&json!({ "schema": s, "state": edited }))
                    .map_err(|e| LineError::Local(e.to_string()))?,
                // Not an SDK actor: its state is whatever bytes it takes.
                None => bytes,
            }
        }
        Err(_) => bytes,
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(&state);
    call(
        host,
        "child.restore",
        json!({ "path": path, "state": encoded }),
    )
    .await
    .map(drop)
}
