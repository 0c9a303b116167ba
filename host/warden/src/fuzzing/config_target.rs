//! `warden.toml` text from the fuzzer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::{ConfigError, parse};

/// The folder the configs are read "from", `host/fuzz/config-folder/`:
/// `a.wasm` (loading checks only that a component's file exists) and
/// `data/` (a directory to grant), so inputs get past path checks to
/// everything behind them. The folder is checked in; `a.wasm` is not (no
/// `.wasm` is), so the first call writes its four bytes there. A folder
/// in the temp dir would be left behind by every process that used it.
fn folder() -> &'static Path {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/config-folder");
        let component = dir.join("a.wasm");
        if !component.exists() {
            // Unwritable sources: configs naming it fail on the missing
            // file instead, which names the file all the same.
            let _ = std::fs::write(&component, b"\0asm");
        }
        dir
    })
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
