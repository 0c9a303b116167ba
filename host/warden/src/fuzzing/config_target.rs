//! `warden.toml` text from the fuzzer.

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, parse};

/// The folder the configs are read "from", `host/fuzz/config-folder/`:
/// `a.wasm` (loading checks only that a component's file exists) and
/// `data/` (a directory to grant), so inputs get past path checks to
/// everything behind them. Checked in, so neither the fuzzer nor the
/// replaying tests write anything.
fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/config-folder")
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
