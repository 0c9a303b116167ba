//! The `warden:plugin/host` interface: what a guest may ask of the host.
//!
//! `log` goes to `tracing`, tagged with the child, and to the child's
//! [`GuestLog`] when whoever runs it keeps one. `send` is allowed only
//! to the siblings listed in the child's `send-to`; delivery itself belongs
//! to whoever runs the child (the supervision tree), behind [`Mailer`].

use std::sync::Arc;

use crate::bindings::{HostImports, LogLevel};
use crate::sandbox::GuestState;

/// Longest log line a guest may write; the rest is cut.
const MAX_LOG_BYTES: usize = 4096;

/// Delivers a message from one child to another.
pub trait Mailer: Send + Sync {
    /// Queues `message` from child `from` for the sibling `to`, returning
    /// as soon as it is queued (the guest's `send` is fire-and-forget).
    /// The sender is already checked against its `send-to` list; `Err`
    /// says why delivery is impossible (no such child running, its
    /// mailbox full) and is what the guest's `send` returns. Called on the
    /// guest's thread: must not block.
    fn deliver(&self, from: &str, to: &str, message: Vec<u8>) -> Result<(), String>;
}

/// Keeps a child's log lines (the host's ring per child). Called on the
/// guest's thread: must not block.
pub trait GuestLog: Send + Sync {
    /// One `log` call: `level` is `trace`, `debug`, `info`, `warn` or
    /// `error`; `message` is already cut at the longest line kept.
    fn line(&self, level: &'static str, message: &str);
}

/// Who the guest is and whom it may message.
#[derive(Clone)]
pub struct HostContext {
    /// The child's id (its path in the tree), used to tag logs.
    pub child: String,
    /// Children this one may `send` to.
    pub send_to: Vec<String>,
    /// Who delivers `send`s; `None` makes every `send` fail (no sibling
    /// is running).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Where its `log` lines are kept besides `tracing`; `None`: nowhere.
    pub log: Option<Arc<dyn GuestLog>>,
}

impl HostContext {
    /// A context that may log but not send (one-off calls, grading).
    pub fn isolated(name: impl Into<String>) -> Self {
        Self {
            child: name.into(),
            send_to: Vec::new(),
            mailer: None,
            log: None,
        }
    }
}

impl HostImports for GuestState {
    fn log(&mut self, level: LogLevel, message: String) {
        let child = self.host.child.as_str();
        let message = truncate_utf8(&message, MAX_LOG_BYTES);
        match level {
            LogLevel::Trace => tracing::trace!(target: "warden::guest", child, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "warden::guest", child, "{message}"),
            LogLevel::Info => tracing::info!(target: "warden::guest", child, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "warden::guest", child, "{message}"),
            LogLevel::Error => tracing::error!(target: "warden::guest", child, "{message}"),
        }
        if let Some(log) = &self.host.log {
            let name = match level {
                LogLevel::Trace => "trace",
                LogLevel::Debug => "debug",
                LogLevel::Info => "info",
                LogLevel::Warn => "warn",
                LogLevel::Error => "error",
            };
            log.line(name, message);
        }
    }

    fn send(&mut self, to: String, message: Vec<u8>) -> Result<(), String> {
        if !self.host.send_to.contains(&to) {
            return Err(format!(
                "`{}` may not send to `{to}`: it is not in the child's send-to list",
                self.host.child
            ));
        }
        match &self.host.mailer {
            Some(mailer) => mailer.deliver(&self.host.child, &to, message),
            None => Err(format!("no child named `{to}` is running")),
        }
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
