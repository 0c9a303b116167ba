//! `warden.toml` text from the fuzzer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::{ConfigError, parse};

/// A folder the configs are read "from": `a.wasm` (loading checks only
/// that a component's file exists) and `data/` (a directory to grant), so
/// inputs get past path checks to everything behind them.
fn folder() -> &'static Path {
    static FOLDER: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    FOLDER
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("warden-fuzz")
                .tempdir()
                .ok()?;
            std::fs::write(dir.path().join("a.wasm"), b"\0asm").ok()?;
            std::fs::create_dir(dir.path().join("data")).ok()?;
            Some(dir)
        })
        .as_ref()
        .map_or(Path::new("/nonexistent-warden-fuzz"), |dir| dir.path())
}

/// Loads `data` as a config file; panics if an error fails to name the
/// file (or, for an invalid value, the key).
pub fn config(data: &[u8]) {
    // `config::load` refuses a file that is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file: PathBuf = folder().join("warden.toml");
    let Err(err) = parse(&file, text) else {
        return;
    };
    let message = err.to_string();
    assert!(
        message.starts_with(&file.display().to_string()),
        "the error does not name the file: {message}"
    );
    if let ConfigError::Invalid { key, .. } = &err {
        assert!(
            !key.is_empty(),
            "an invalid value without its key: {message}"
        );
    }
}
