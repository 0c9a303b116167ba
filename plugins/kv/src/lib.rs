//! `kv`: a key-value store kept as files in the guest directory `/data`.
//!
//! Each key is a file `/data/KEY` holding the value. The child needs a
//! directory granted as `/data` in warden.toml; without one every command
//! fails with the I/O error the sandbox returns.
//!
//! | message | reply |
//! |---|---|
//! | `put KEY VALUE` | `ok` (VALUE is the rest of the message, spaces included) |
//! | `get KEY` | the value, or the error `no such key: KEY` |
//! | `del KEY` | `ok`, or the error `no such key: KEY` |
//! | `list` | the keys, sorted, one per line |
//!
//! Keys are deliberately **not** sanitised: `get ../secret` or
//! `get /etc/passwd` go to the filesystem as written (an absolute key
//! replaces `/data` altogether), so that tests can check that the host's
//! sandbox, not the plugin, refuses them. Any other I/O failure is returned
//! as an error carrying the path and the I/O error's text.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use warden_sdk::Actor;

/// The guest directory holding the store.
const DATA_DIR: &str = "/data";

/// Stateless: everything lives in `/data`, which outlives reloads anyway.
#[derive(Serialize, Deserialize)]
struct Kv;

fn key_path(key: &str) -> PathBuf {
    Path::new(DATA_DIR).join(key)
}

fn io_error(operation: &str, path: &Path, error: &std::io::Error) -> String {
    format!("{operation} {}: {error}", path.display())
}

fn put(key: &str, value: &str) -> Result<String, String> {
    let path = key_path(key);
    std::fs::write(&path, value).map_err(|e| io_error("write", &path, &e))?;
    Ok("ok".to_owned())
}

fn get(key: &str) -> Result<String, String> {
    let path = key_path(key);
    std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("no such key: {key}"),
        _ => io_error("read", &path, &e),
    })
}

fn del(key: &str) -> Result<String, String> {
    let path = key_path(key);
    std::fs::remove_file(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("no such key: {key}"),
        _ => io_error("remove", &path, &e),
    })?;
    Ok("ok".to_owned())
}

fn list() -> Result<String, String> {
    let dir = Path::new(DATA_DIR);
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error("list", dir, &e))? {
        let entry = entry.map_err(|e| io_error("list", dir, &e))?;
        keys.push(entry.file_name().to_string_lossy().into_owned());
    }
    keys.sort();
    Ok(keys.join("\n"))
}

impl Actor for Kv {
    fn init(_config: &str) -> Result<Self, String> {
        Ok(Kv)
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let text =
            std::str::from_utf8(message).map_err(|e| format!("message is not UTF-8 text: {e}"))?;
        let mut words = text.splitn(3, ' ');
        let reply = match (words.next(), words.next(), words.next()) {
            (Some("put"), Some(key), Some(value)) => put(key, value)?,
            (Some("get"), Some(key), None) => get(key)?,
            (Some("del"), Some(key), None) => del(key)?,
            (Some("list"), None, None) => list()?,
            _ => return Err(format!("unknown command: {text}")),
        };
        Ok(reply.into_bytes())
    }
}

warden_sdk::export_actor!(Kv);
