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
//! Reads stdin without a terminal too (a script can pipe lines in).

use base64::Engine as _;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use serde_json::{Value, json};

use super::{Failure, Host, field, write_reply};
use crate::cli::out::outln;
use crate::cli::repl::decode_envelope as decode;

const HELP: &str = "\
A line is sent to the child as a message (child.send); its reply is printed.
  :state          the child's state, decoded (child.snapshot: also stored, with an id)
  :restore FILE   put a state back (child.restore): JSON as :state shows it,
                  a whole {\"schema\", \"state\"} envelope, or raw bytes
  :help           this text
  :quit           leave (also Ctrl-D)";

pub(super) async fn run(host: &Host, path: &str) -> Result<(), Failure> {
    host.check_path(path).await?;
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
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(trimmed);
        let (command, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
        let outcome = match command {
            ":quit" | ":q" | ":exit" => return Ok(()),
            ":help" | ":h" => outln!("{HELP}"),
            ":state" => state(host, path, &mut schema).await,
            ":restore" => restore(host, path, rest.trim(), &mut schema).await,
            c if c.starts_with(':') => outln!("error: no command {c}; :help lists them"),
            // The line as typed, inner spaces included, is the message.
            _ => match host
                .call("child.send", json!({ "path": path, "message": line }))
                .await
            {
                Ok(reply) => write_reply(&reply),
                Err(e) => Err(e),
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

async fn state(host: &Host, path: &str, schema: &mut Option<Value>) -> Result<(), Failure> {
    let taken = host.call("child.snapshot", json!({ "path": path })).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(taken["state"].as_str().unwrap_or_default())
        .map_err(|e| Failure::failed(anyhow::anyhow!("the host's state is not base64: {e}")))?;
    let id = field(&taken, "id");
    match decode(&bytes) {
        Some((s, state)) => {
            *schema = Some(s.clone());
            outln!(
                "snapshot {id} (schema {s}):\n{}",
                serde_json::to_string_pretty(&state).unwrap_or_default()
            )
        }
        None => outln!(
            "snapshot {id}: {} bytes, not the SDK's JSON envelope (base64):\n{}",
            bytes.len(),
            field(&taken, "state")
        ),
    }
}

async fn restore(
    host: &Host,
    path: &str,
    file: &str,
    schema: &mut Option<Value>,
) -> Result<(), Failure> {
    if file.is_empty() {
        return outln!("error: :restore needs a FILE");
    }
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => return outln!("error: cannot read {file}: {e}"),
    };
    let state = match serde_json::from_slice::<Value>(&bytes) {
        Ok(_) if decode(&bytes).is_some() => bytes,
        Ok(edited) => {
            if schema.is_none() {
                // The schema comes from the child's own current state.
                let taken = host.call("child.snapshot", json!({ "path": path })).await?;
                let current = base64::engine::general_purpose::STANDARD
                    .decode(taken["state"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                *schema = decode(&current).map(|(s, _)| s);
            }
            match schema {
                Some(s) => serde_json::to_vec(&json!({ "schema": s, "state": edited }))
                    .map_err(Failure::failed)?,
                // Not an SDK actor: its state is whatever bytes it takes.
                None => bytes,
            }
        }
        Err(_) => bytes,
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(&state);
    host.call("child.restore", json!({ "path": path, "state": encoded }))
        .await?;
    outln!("{path}: restored from {file}")
}
