//! Addressing component children by their path in the tree.
//!
//! Each running component incarnation registers its mailbox here under its
//! path (`root/workers/counter`) and generation; the next incarnation
//! replaces it, and an incarnation only unregisters its own entry, so a
//! late cleanup of an old incarnation never removes the new one. Guests'
//! `send` goes through the [`Mailer`] impl: siblings only, by id.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};

use crate::component::Mailer;
use crate::host::component_child::{Envelope, Mail, Origin, Reply};
use crate::host::logs::ChildLogs;
use crate::host::trace::Traces;

/// Why a message could not be delivered or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum SendError {
    #[error("no component child `{path}` is running")]
    NotRunning { path: String },
    #[error("the mailbox of `{path}` is full")]
    MailboxFull { path: String },
    #[error("`{path}` stopped before answering")]
    Stopped { path: String },
    #[error("`{path}` answered with an error: {message}")]
    Refused { path: String, message: String },
    #[error("`{path}` failed while handling the message: {message}")]
    Failed { path: String, message: String },
    /// The child could not take the message now and is unchanged (a
    /// hibernating child the host had no instance for).
    #[error("`{path}` cannot take the message now: {message}")]
    Unavailable { path: String, message: String },
}

#[derive(Clone)]
struct Mailbox {
    generation: u64,
    tx: mpsc::Sender<Mail>,
}

/// Mailboxes of the running component children, the log rings of
/// every child and the message traces (each child's start reaches the
/// host's [`ChildLogs`] and [`Traces`] through the router it is built
/// with). Cheap to clone.
#[derive(Clone, Default)]
pub struct Router {
    inner: Arc<RwLock<HashMap<String, Mailbox>>>,
    logs: ChildLogs,
    traces: Traces,
}

impl Router {
    /// The host's message traces.
    pub fn traces(&self) -> &Traces {
        &self.traces
    }

    /// The log rings of the host's children.
    pub fn logs(&self) -> &ChildLogs {
        &self.logs
    }

    pub(crate) fn register(&self, path: &str, generation: u64, tx: mpsc::Sender<Mail>) {
        self.write()
            .insert(path.to_string(), Mailbox { generation, tx });
    }

    /// The entry of incarnation `from` of `path` now stands for `to` (a
    /// restart in place keeps its mailbox).
    pub(crate) fn renumber(&self, path: &str, from: u64, to: u64) {
        if let Some(mailbox) = self.write().get_mut(path)
            && mailbox.generation == from
        {
            mailbox.generation = to;
        }
    }

    pub(crate) fn unregister(&self, path: &str, generation: u64) {
        let mut map = self.write();
        if map.get(path).is_some_and(|m| m.generation == generation) {
            map.remove(path);
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Mailbox>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn mailbox(&self, path: &str) -> Result<Mailbox, SendError> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
            .ok_or_else(|| SendError::NotRunning {
                path: path.to_string(),
            })
    }

    /// Paths of every running component child, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        paths.sort();
        paths
    }

    /// Sends `message` to the child at `path` and waits for its reply.
    pub async fn call(&self, path: &str, message: Vec<u8>) -> Result<Vec<u8>, SendError> {
        let (reply, rx) = oneshot::channel();
        self.enqueue(
            path,
            Envelope::Message {
                message,
                reply: Some(reply),
                from: Origin::Api,
            },
        )?;
        Self::answer(path, rx).await
    }

    /// Queues `message` without waiting.
    pub fn cast(&self, path: &str, message: Vec<u8>) -> Result<(), SendError> {
        self.enqueue(
            path,
            Envelope::Message {
                message,
                reply: None,
                from: Origin::Api,
            },
        )
    }

    /// The child's serialised state (its `snapshot` export).
    pub async fn snapshot(&self, path: &str) -> Result<Vec<u8>, SendError> {
        let (reply, rx) = oneshot::channel();
        self.enqueue(path, Envelope::Snapshot { reply })?;
        Self::answer(path, rx).await
    }

    /// Replaces the child's state (its `restore` export).
    pub async fn restore(&self, path: &str, state: Vec<u8>) -> Result<(), SendError> {
        let (reply, rx) = oneshot::channel();
        self.enqueue(path, Envelope::Restore { state, reply })?;
        Self::answer(path, rx).await.map(drop)
    }

    pub(crate) fn enqueue(&self, path: &str, envelope: Envelope) -> Result<(), SendError> {
        self.mailbox(path)?
            .tx
            .try_send(Box::new(envelope))
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => SendError::MailboxFull {
                    path: path.to_string(),
                },
                mpsc::error::TrySendError::Closed(_) => SendError::NotRunning {
                    path: path.to_string(),
                },
            })
    }

    /// Queues `envelope`, waiting for room when the mailbox is full (a
    /// reload must not fail because the child is busy).
    pub(crate) async fn enqueue_wait(
        &self,
        path: &str,
        envelope: Envelope,
    ) -> Result<(), SendError> {
        self.mailbox(path)?
            .tx
            .send(Box::new(envelope))
            .await
            .map_err(|_| SendError::NotRunning {
                path: path.to_string(),
            })
    }

    async fn answer(path: &str, rx: oneshot::Receiver<Reply>) -> Result<Vec<u8>, SendError> {
        let reply = rx.await.map_err(|_| SendError::Stopped {
            path: path.to_string(),
        })?;
        reply.map_err(|failure| failure.into_send_error(path))
    }
}

impl Mailer for Router {
    /// Delivers to a sibling: `to` is resolved in the sender's supervisor.
    fn deliver(&self, from: &str, to: &str, message: Vec<u8>) -> Result<(), String> {
        let parent = from.rsplit_once('/').map_or("", |(p, _)| p);
        let path = if parent.is_empty() {
            to.to_string()
        } else {
            format!("{parent}/{to}")
        };
        // The sender's name costs an allocation: only a trace reads it.
        let sender = self.traces.any_running().then(|| from.into());
        self.enqueue(
            &path,
            Envelope::Message {
                message,
                reply: None,
                from: Origin::Sibling(sender),
            },
        )
        .map_err(|e| e.to_string())
    }
}
