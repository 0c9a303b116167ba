//! Calls from a plugin into the Warden host (`warden:plugin/host`).
//!
//! Everything a plugin may do beyond computing goes through here, and only
//! as far as the child's entry in `warden.toml` grants it. The logging
//! macros [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error) format their arguments like [`format!`] and call
//! [`log`].
//!
//! These functions call imports the host provides; they can only run inside
//! a component. Compiled for any other target (for a plugin's unit tests,
//! say) they exist but panic when called.

use crate::bindings::actor_plugin::warden::plugin::host as imports;

/// Severity of a log line: `Trace`, `Debug`, `Info`, `Warn` or `Error`.
pub use imports::Level;

/// Writes `message` to the host's log at `level`, tagged with this child's id.
pub fn log(level: Level, message: &str) {
    imports::log(level, message);
}

/// Queues `message` in the mailbox of the sibling child named `to`.
///
/// Fire-and-forget: it returns once the message is queued, not when it is
/// handled. It fails, with the host's explanation, when this child's config
/// does not list `to` in `send-to`, when no such child is running, or when
/// its mailbox is full.
pub fn send(to: &str, message: &[u8]) -> Result<(), String> {
    imports::send(to, message)
}

/// Logs a formatted line at [`Level::Trace`]: `warden_sdk::trace!("x = {x}")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        $crate::host::log($crate::host::Level::Trace, &::std::format!($($arg)*))
    };
}

/// Logs a formatted line at [`Level::Debug`]: `warden_sdk::debug!("x = {x}")`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        $crate::host::log($crate::host::Level::Debug, &::std::format!($($arg)*))
    };
}

/// Logs a formatted line at [`Level::Info`]: `warden_sdk::info!("x = {x}")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        $crate::host::log($crate::host::Level::Info, &::std::format!($($arg)*))
    };
}

/// Logs a formatted line at [`Level::Warn`]: `warden_sdk::warn!("x = {x}")`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::host::log($crate::host::Level::Warn, &::std::format!($($arg)*))
    };
}

/// Logs a formatted line at [`Level::Error`]: `warden_sdk::error!("x = {x}")`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => {
        $crate::host::log($crate::host::Level::Error, &::std::format!($($arg)*))
    };
}
