//! Readiness: a worker counts as started only when it printed a configured
//! line on stdout or a configured file appeared, within a timeout.
//!
//! Owns: [`Readiness`], [`ReadinessSpec`], [`ReadyState`] and the one task per
//! worker that decides it.
//!
//! Guarantees: the state moves once, from `Pending` to `Ready` or `Failed`
//! (timeout, or the worker exited first), and never back.
//!
//! Must never: stop the worker. Whether a readiness failure kills it is the
//! caller's decision.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::exit::{ExitInfo, ExitReason};

/// What makes a worker ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// A stdout line containing this text.
    LineMatches(String),
    /// This file exists (a relative path is taken from the worker's cwd).
    FileExists(PathBuf),
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineMatches(text) => write!(f, "a stdout line containing `{text}`"),
            Self::FileExists(path) => write!(f, "file {} exists", path.display()),
        }
    }
}

/// A readiness check and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessSpec {
    /// What to wait for.
    pub check: Readiness,
    /// How long after spawn the check may take before the worker counts
    /// as failed to start.
    pub timeout: Duration,
}

/// Why a worker never became ready.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadinessError {
    /// The check did not pass within the timeout (the worker may still be
    /// running).
    #[error("not ready after {timeout:?}: waited for {check}")]
    Timeout {
        /// The check that was waited for.
        check: Readiness,
        /// The configured timeout that ran out.
        timeout: Duration,
    },
    /// The worker ended before the check passed.
    #[error("exited ({reason}) before it was ready")]
    Exited {
        /// How it ended ([`ExitReason::Unknown`] when the runtime shut down
        /// before the verdict).
        reason: ExitReason,
    },
}

/// Where a worker is on its way to ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadyState {
    /// Neither ready nor failed yet.
    Pending,
    /// Ready (at once, with `after` zero, for a worker without a check).
    Ready {
        /// Time from spawn until the check passed.
        after: Duration,
    },
    /// It will never be ready; the worker is not stopped for it.
    Failed(ReadinessError),
}

/// How often a `FileExists` check looks.
const FILE_POLL: Duration = Duration::from_millis(10);

/// Starts the task deciding readiness. `line` is the probe's receiver when
/// the check is a line; `exit` reports the worker's end.
pub(crate) fn watch_readiness(
    spec: Option<ReadinessSpec>,
    spawned: Instant,
    line: Option<oneshot::Receiver<()>>,
    mut exit: watch::Receiver<Option<ExitInfo>>,
) -> watch::Receiver<ReadyState> {
    let Some(spec) = spec else {
        let (_tx, rx) = watch::channel(ReadyState::Ready {
            after: Duration::ZERO,
        });
        return rx;
    };
    let (tx, rx) = watch::channel(ReadyState::Pending);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::from_std(spawned + spec.timeout);
        let became_ready = async {
            match (&spec.check, line) {
                (Readiness::LineMatches(_), Some(found)) => {
                    // A closed probe means stdout ended without the line.
                    if found.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                (Readiness::FileExists(path), _) => {
                    while !tokio::fs::try_exists(path).await.unwrap_or(false) {
                        tokio::time::sleep(FILE_POLL).await;
                    }
                }
                (Readiness::LineMatches(_), None) => std::future::pending::<()>().await,
            }
        };
        let exited = async {
            match exit.wait_for(Option::is_some).await {
                Ok(info) => info.as_ref().map_or(ExitReason::Unknown, |i| i.reason),
                Err(_) => ExitReason::Unknown,
            }
        };
        let state = tokio::select! {
            biased;
            () = became_ready => ReadyState::Ready { after: spawned.elapsed() },
            reason = exited => ReadyState::Failed(ReadinessError::Exited { reason }),
            () = tokio::time::sleep_until(deadline) => ReadyState::Failed(ReadinessError::Timeout {
                check: spec.check.clone(),
                timeout: spec.timeout,
            }),
        };
        // Nobody listening any more is fine.
        let _ = tx.send(state);
    });
    rx
}

/// Waits for the state to leave `Pending`.
pub(crate) async fn wait_ready(
    mut state: watch::Receiver<ReadyState>,
) -> Result<Duration, ReadinessError> {
    let settled = state
        .wait_for(|s| !matches!(s, ReadyState::Pending))
        .await
        .map(|s| s.clone());
    match settled {
        Ok(ReadyState::Ready { after }) => Ok(after),
        Ok(ReadyState::Failed(e)) => Err(e),
        // The task is gone without a verdict: only when the runtime shuts down.
        Ok(ReadyState::Pending) | Err(_) => Err(ReadinessError::Exited {
            reason: ExitReason::Unknown,
        }),
    }
}
