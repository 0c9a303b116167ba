//! Liveness of native workers: the optional `liveness` check of a process
//! child (a command, an HTTP GET, or a file touched recently), run every
//! `interval_ms` while the worker runs, and the `restart_unresponsive`
//! policy.
//!
//! Owns: the check's spec and its one run ([`LivenessCheck::passes`]), and
//! the per-incarnation task ([`watch`]) that tells the worker's health
//! score the outcome and, with the policy, kills a worker found
//! unresponsive (a failed check, or stopped: `SIGSTOP`, state `T`)
//! `failures` times in a row, so that its supervisor restarts it.
//!
//! Never does: run a shell (a command is split on whitespace, its program
//! one the policy allows), or follow an HTTP redirect.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::process::RunningWorker;

/// How a worker's liveness is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessSpec {
    /// The check.
    pub check: LivenessCheck,
    /// Time between two checks (and before the first).
    pub interval: Duration,
    /// How long one check may take; longer is a failure.
    pub timeout: Duration,
    /// Failures in a row that make the worker unresponsive.
    pub failures: u32,
}

/// One kind of liveness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LivenessCheck {
    /// The program exits 0 (run without a shell, stdio to /dev/null).
    Command {
        /// An allowed program.
        program: PathBuf,
        /// Its arguments.
        args: Vec<String>,
    },
    /// A GET answers 2xx (plain `http://`, no redirects followed).
    Http {
        /// `host:port` to connect to.
        authority: String,
        /// The request path, `/` at least.
        path: String,
    },
    /// The file's modification time is within `within` of now.
    FileTouched {
        /// The file.
        file: PathBuf,
        /// How recent.
        within: Duration,
    },
}

impl LivenessCheck {
    /// An HTTP check of `url` (`http://HOST[:PORT][/PATH]`).
    pub fn http(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("expected an http:// URL (https is not checked)")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains(['@', ' ']) {
            return Err("expected http://HOST[:PORT][/PATH]".to_owned());
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self::Http {
            authority,
            path: path.to_owned(),
        })
    }

    /// Runs the check once, within `timeout`.
    pub async fn passes(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.run())
            .await
            .unwrap_or(false)
    }

    async fn run(&self) -> bool {
        match self {
            Self::Command { program, args } => tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .is_ok_and(|s| s.success()),
            Self::Http { authority, path } => http_ok(authority, path).await,
            Self::FileTouched { file, within } => std::fs::metadata(file)
                .and_then(|m| m.modified())
                .is_ok_and(|at| {
                    SystemTime::now()
                        .duration_since(at)
                        .is_ok_and(|age| age <= *within)
                        // Touched "in the future" (clock skew): fresh.
                        || at > SystemTime::now()
                }),
        }
    }
}

async fn http_ok(authority: &str, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(authority).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).await.is_err() {
        return false;
    }
    // "HTTP/1.x 2xx"
    head.starts_with(b"HTTP/1.") && head[8] == b' ' && head[9] == b'2'
}

/// Watches one incarnation: runs `liveness` (if any) and tells the worker;
/// with `restart_unresponsive`, kills it once unresponsive (failed check or
/// stopped) `failures` checks in a row. Without a liveness spec the policy
/// still watches for a stopped process, every second, 3 in a row. `None`
/// when there is nothing to do. The task ends with the worker.
pub(crate) fn watch(
    worker: Arc<RunningWorker>,
    liveness: Option<LivenessSpec>,
    restart_unresponsive: bool,
) -> Option<JoinHandle<()>> {
    if liveness.is_none() && !restart_unresponsive {
        return None;
    }
    let (interval, failures) = liveness
        .as_ref()
        .map_or((Duration::from_secs(1), 3), |l| (l.interval, l.failures));
    Some(tokio::spawn(async move {
        let mut misses = 0u32;
        loop {
            tokio::time::sleep(interval).await;
            if worker.exit_info().is_some() {
                return;
            }
            let stopped = worker.stats().is_some_and(|s| s.stopped);
            let alive = match &liveness {
                // A stopped process cannot answer; its check would only time out.
                Some(l) if !stopped => {
                    let ok = l.check.passes(l.timeout).await;
                    worker.set_liveness(ok);
                    ok
                }
                Some(_) | None => !stopped,
            };
            misses = if alive { 0 } else { misses + 1 };
            if restart_unresponsive && misses >= failures {
                tracing::warn!(
                    worker = %worker.name(),
                    pid = worker.pid(),
                    stopped,
                    checks = misses,
                    "worker unresponsive; killing it for its supervisor to restart (restart_unresponsive)"
                );
                worker.kill().await;
                return;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_are_read_or_refused() {
        assert_eq!(
            LivenessCheck::http("http://127.0.0.1:8080/healthz").unwrap(),
            LivenessCheck::Http {
                authority: "127.0.0.1:8080".into(),
                path: "/healthz".into()
            }
        );
        assert_eq!(
            LivenessCheck::http("http://localhost").unwrap(),
            LivenessCheck::Http {
                authority: "localhost:80".into(),
                path: "/".into()
            }
        );
        assert!(LivenessCheck::http("https://x").is_err());
        assert!(LivenessCheck::http("http:///x").is_err());
    }

    #[tokio::test]
    async fn each_check_passes_and_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("beat");
        let touched = LivenessCheck::FileTouched {
            file: file.clone(),
            within: Duration::from_secs(60),
        };
        let t = Duration::from_secs(5);
        assert!(!touched.passes(t).await, "a missing file is not alive");
        std::fs::write(&file, "").unwrap();
        assert!(touched.passes(t).await);
        let stale = LivenessCheck::FileTouched {
            file,
            within: Duration::ZERO,
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!stale.passes(t).await);

        let ok = LivenessCheck::Command {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "exit 0".into()],
        };
        let fails = LivenessCheck::Command {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
        };
        let slow = LivenessCheck::Command {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "sleep 5".into()],
        };
        assert!(ok.passes(t).await);
        assert!(!fails.passes(t).await);
        assert!(!slow.passes(Duration::from_millis(50)).await);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        });
        let http = LivenessCheck::http(&format!("http://{addr}/healthz")).unwrap();
        assert!(http.passes(t).await);
        assert!(!http.passes(t).await);
        server.await.unwrap();
        assert!(!http.passes(t).await, "nobody listening");
    }
}
