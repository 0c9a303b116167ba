//! Every child's log, by path: one bounded ring per child that outlives its
//! incarnations, read by `logs.tail`, `GET /logs/{path}` and the dashboard.
//!
//! Owns: [`ChildLogs`] (the rings of a host), the [`LogSlot`] a child's
//! start holds (its ring enters the table when the child starts, so a spec
//! only built — a dry run, a reload that failed — never replaces a running
//! child's ring, and leaves it when the start is dropped, that is when the
//! child's spec leaves the tree, unless a newer spec took the path
//! meanwhile), the two feeds — a worker's [`LogTap`] (its stdout and
//! stderr, line by line, as the process crate captures them) and a
//! component's [`GuestLog`] (its `host::log` calls) — and
//! [`HostLogs`], the API's [`LogSource`].
//!
//! Guarantees: memory per child is bounded (the ring's [`RING_LINES`]
//! lines, each cut by its producer: [`crate::process::MAX_LINE`] bytes for
//! a worker, 4 KiB for a guest; a follower's queue is bounded by
//! [`crate::process::FOLLOW_BUFFER`]); feeding a line never waits for a
//! reader, so neither a guest nor a worker's pipe is held up.
//!
//! Never does: capture output (the process crate does) or decide what a
//! guest may log (the component crate cuts its lines).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::api::{LogEntry, LogError, LogFuture, LogSource, LogView};
use crate::component::GuestLog;
use crate::process::{LogBuffer, LogLine, LogTap};
use crate::supervisor::{AdminError, ChildKind, SupervisorHandle};

/// Lines each child's ring keeps.
pub const RING_LINES: usize = 1000;

type Ring = LogBuffer<LogEntry>;

/// The rings of one host's children. Cheap to clone.
#[derive(Clone, Default)]
pub struct ChildLogs {
    rings: Arc<Mutex<HashMap<String, Ring>>>,
}

impl ChildLogs {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ring>> {
        self.rings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A ring for the child at `path`, readable from its first start
    /// ([`LogSlot::started`]) while the slot lives. A child restarted keeps
    /// its ring (the slot belongs to its start, not to an incarnation); a
    /// spec rebuilt for the same path (a reconfigured child) starts a new
    /// one.
    pub(crate) fn slot(&self, path: &str) -> LogSlot {
        LogSlot {
            path: path.to_string(),
            ring: Ring::new(RING_LINES),
            logs: self.clone(),
        }
    }

    /// The ring of the child at `path`, if it keeps one.
    fn ring(&self, path: &str) -> Option<Ring> {
        self.table().get(path).cloned()
    }

    /// The last `lines` lines of the child at `path` (with `follow`, and
    /// every later one), or why there are none: 404 for no such child, 409
    /// for a supervisor.
    pub async fn open(
        &self,
        root: &SupervisorHandle,
        path: &str,
        lines: usize,
        follow: bool,
    ) -> Result<LogView, LogError> {
        let path = path.trim_matches('/');
        if let Some(ring) = self.ring(path) {
            return Ok(if follow {
                let following = ring.follow(lines);
                LogView {
                    lines: following.backlog,
                    live: Some(following.live),
                }
            } else {
                LogView {
                    lines: ring.tail(lines),
                    live: None,
                }
            });
        }
        Err(without_log(root, path).await)
    }
}

/// Why the child at `path`, which has no ring, cannot be read.
async fn without_log(root: &SupervisorHandle, path: &str) -> LogError {
    let unknown = || LogError::UnknownChild {
        path: path.to_string(),
    };
    let supervisor = |what: &str| LogError::NoLog {
        path: path.to_string(),
        reason: format!("it is {what}; read the log of one of its children"),
    };
    if path == root.path() {
        return supervisor("the root supervisor");
    }
    let (parent, id) = match root.child_at(path).await {
        Ok(found) => found,
        Err(AdminError::InvalidPath { .. } | AdminError::NotFound { .. }) => return unknown(),
        Err(AdminError::NotASupervisor { .. }) => return unknown(),
        Err(e) => return LogError::Failed(e.to_string()),
    };
    let children = match parent.which_children().await {
        Ok(children) => children,
        Err(e) => return LogError::Failed(e.to_string()),
    };
    match children.into_iter().find(|c| c.id == id) {
        None => unknown(),
        Some(child) if child.kind == ChildKind::Supervisor => supervisor("a supervisor"),
        Some(_) => LogError::NoLog {
            path: path.to_string(),
            reason: "this kind of child keeps no log".to_string(),
        },
    }
}

/// A child's place in [`ChildLogs`], held by its start.
pub(crate) struct LogSlot {
    path: String,
    ring: Ring,
    logs: ChildLogs,
}

impl LogSlot {
    /// The child starts (again): its ring is the one its path shows.
    pub(crate) fn started(&self) {
        self.logs
            .table()
            .insert(self.path.clone(), self.ring.clone());
    }

    /// What a worker's log spec taps: its lines, as the API shows them.
    pub(crate) fn worker_tap(&self) -> LogTap {
        let ring = self.ring.clone();
        LogTap::new(move |line: &LogLine| {
            ring.push(LogEntry {
                at_ms: line.at_ms,
                stream: Some(line.stream.as_str()),
                level: None,
                line: line.text.clone(),
            });
        })
    }

    /// What a component's host context logs to.
    pub(crate) fn guest_log(&self) -> Arc<dyn GuestLog> {
        Arc::new(GuestRing(self.ring.clone()))
    }
}

impl Drop for LogSlot {
    fn drop(&mut self) {
        let mut table = self.logs.table();
        // Only its own ring: a newer spec of the same path keeps its own.
        if table
            .get(&self.path)
            .is_some_and(|ring| ring.same_as(&self.ring))
        {
            table.remove(&self.path);
        }
    }
}

struct GuestRing(Ring);

impl GuestLog for GuestRing {
    fn line(&self, level: &'static str, message: &str) {
        self.0.push(LogEntry {
            at_ms: warden_clock::signed_unix_ms(),
            stream: None,
            level: Some(level),
            line: message.to_string(),
        });
    }
}

/// The API's view of the children's logs.
pub struct HostLogs {
    logs: ChildLogs,
    root: SupervisorHandle,
}

impl HostLogs {
    /// The logs of the tree under `root`.
    pub fn new(logs: ChildLogs, root: SupervisorHandle) -> Self {
        Self { logs, root }
    }
}

impl LogSource for HostLogs {
    fn open(&self, path: &str, lines: usize, follow: bool) -> LogFuture<'_, LogView> {
        let path = path.to_string();
        Box::pin(async move { self.logs.open(&self.root, &path, lines, follow).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_leaves_only_its_own_ring() {
        let logs = ChildLogs::default();
        let old = logs.slot("root/a");
        old.started();
        let built = logs.slot("root/a");
        drop(built);
        assert!(
            logs.ring("root/a").is_some_and(|r| r.same_as(&old.ring)),
            "a spec never started changes nothing"
        );
        let new = logs.slot("root/a");
        new.started();
        drop(old);
        assert!(logs.ring("root/a").is_some(), "the newer spec's ring stays");
        new.guest_log().line("info", "hello");
        assert_eq!(logs.ring("root/a").unwrap().tail(1)[0].line, "hello");
        drop(new);
        assert!(logs.ring("root/a").is_none());
    }
}
