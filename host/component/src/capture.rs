//! Capturing a guest's stdout and stderr in memory, with a cap.
//!
//! The guest never sees the host's own stdio. Each stream keeps the first
//! `limit` bytes and counts the rest; what happens past the limit is the
//! caller's choice ([`Overflow`]): keep running and mark the output
//! truncated (`warden call`, children), or fail the call with
//! `OutputLimit` (grading, where printing megabytes is a verdict).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// What to do when a guest writes past its output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Drop the excess and mark the capture truncated.
    #[default]
    Truncate,
    /// Stop the guest: the write traps and the call fails with `OutputLimit`.
    Fail,
}

/// One captured stream (stdout or stderr). Cheap to clone: clones share the
/// buffer, so the host keeps one clone and hands another to WASI.
#[derive(Clone, Debug)]
pub struct Capture {
    inner: Arc<Mutex<Buffer>>,
}

#[derive(Debug)]
struct Buffer {
    kept: Vec<u8>,
    total: u64,
    limit: usize,
    overflow: Overflow,
}

/// What a stream held at the end of a call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CapturedText {
    /// The first bytes written, up to the limit, decoded lossily as UTF-8.
    pub text: String,
    /// How many bytes the guest wrote in all.
    pub total_bytes: u64,
    /// True when `total_bytes` is past the limit and `text` is cut.
    pub truncated: bool,
}

impl Capture {
    pub fn new(limit: usize, overflow: Overflow) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Buffer {
                kept: Vec::new(),
                total: 0,
                limit,
                overflow,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A poisoned lock only means another thread panicked mid-append; the
        // bytes are still valid output.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the guest wrote past the limit and the policy is `Fail`.
    pub fn overflowed_fatally(&self) -> bool {
        let b = self.lock();
        b.overflow == Overflow::Fail && b.total > b.limit as u64
    }

    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// The captured text so far, without emptying the buffer.
    pub fn peek(&self) -> String {
        String::from_utf8_lossy(&self.lock().kept).into_owned()
    }

    /// Takes what was captured so far and empties the buffer, so one
    /// long-lived instance reports each call's output separately.
    pub fn take(&self) -> CapturedText {
        let mut b = self.lock();
        let kept = std::mem::take(&mut b.kept);
        let total = std::mem::take(&mut b.total);
        CapturedText {
            text: String::from_utf8_lossy(&kept).into_owned(),
            truncated: total > kept.len() as u64,
            total_bytes: total,
        }
    }

    /// Appends `bytes`; returns false when the write must fail.
    fn append(&self, bytes: &[u8]) -> bool {
        let mut b = self.lock();
        b.total += bytes.len() as u64;
        let room = b.limit.saturating_sub(b.kept.len());
        let keep = room.min(bytes.len());
        b.kept.extend_from_slice(&bytes[..keep]);
        !(b.overflow == Overflow::Fail && b.total > b.limit as u64)
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if self.append(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(wasmtime::format_err!(
                "guest output exceeded its limit"
            )))
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always accept a full chunk: excess is dropped or fails in `write`.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.append(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::Error::other("guest output exceeded its limit")))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let c = Capture::new(4, Overflow::Truncate);
        assert!(c.append(b"hello"));
        assert!(c.append(b" world"));
        let t = c.take();
        assert_eq!(t.text, "hell");
        assert_eq!(t.total_bytes, 11);
        assert!(t.truncated);
        assert_eq!(c.take().total_bytes, 0, "take empties the buffer");
    }

    #[test]
    fn fail_policy_refuses_writes_past_the_limit() {
        let c = Capture::new(4, Overflow::Fail);
        assert!(c.append(b"abcd"));
        assert!(!c.overflowed_fatally());
        assert!(!c.append(b"e"));
        assert!(c.overflowed_fatally());
    }
}

/// Writes what a guest printed during one call to the host log, tagged
/// with the child and the stream: one log line per line printed, except a
/// Rust panic report (`thread '…' panicked at FILE:LINE:COL:`, its
/// message, an optional backtrace and the `note:` line), which becomes ONE
/// warning, so a log reader sees one event for one panic.
pub(crate) fn log_guest_output(child: &str, report: &crate::sandbox::CallReport) {
    for (stream, captured) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
        for entry in guest_lines(&captured.text) {
            match entry {
                GuestLine::Text(line) => {
                    tracing::info!(target: "warden::guest", child, stream, "{line}")
                }
                GuestLine::Panic(report) => {
                    tracing::warn!(target: "warden::guest", child, stream, "{report}")
                }
            }
        }
        if captured.truncated {
            tracing::warn!(target: "warden::guest", child, stream, total_bytes = captured.total_bytes, "guest output truncated");
        }
    }
}

/// One entry of a guest's output, as [`log_guest_output`] logs it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GuestLine<'a> {
    /// A line as printed.
    Text(&'a str),
    /// A panic report folded into one line: `panicked at FILE:LINE:COL:
    /// MESSAGE`, message lines joined with ` | `, backtrace frames kept
    /// the same way, the `note:` about `RUST_BACKTRACE` dropped.
    Panic(String),
}

/// Splits output into lines, folding each Rust panic report into one.
pub(crate) fn guest_lines(text: &str) -> Vec<GuestLine<'_>> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(at) = panic_header(line) else {
            out.push(GuestLine::Text(line));
            continue;
        };
        // The report runs to its `note:` line (always printed last by
        // std's default hook) or to the end of the output.
        let mut parts = vec![format!("panicked at {at}")];
        while let Some(next) = lines.peek() {
            if panic_header(next).is_some() {
                break;
            }
            let next = lines.next().unwrap_or_default();
            if next.starts_with("note: ") {
                break;
            }
            let part = next.trim();
            if !part.is_empty() {
                parts.push(part.to_string());
            }
        }
        let mut folded = parts.remove(0);
        if !parts.is_empty() {
            folded.push(' ');
            folded.push_str(&parts.join(" | "));
        }
        out.push(GuestLine::Panic(folded));
    }
    out
}

/// `FILE:LINE:COL:` of std's panic header `thread 'NAME' (ID) panicked
/// at FILE:LINE:COL:` (recent Rust releases print the thread's ` (ID)`;
/// guests built with older ones print the header without it).
fn panic_header(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("thread '")?;
    let (_, after_name) = rest.split_once("' ")?;
    let after_id = match after_name.strip_prefix('(') {
        Some(id_on) => {
            let (id, rest) = id_on.split_once(") ")?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            rest
        }
        None => after_name,
    };
    after_id.strip_prefix("panicked at ")
}

#[cfg(test)]
mod guest_line_tests {
    use super::{GuestLine, guest_lines};

    #[test]
    fn a_panic_report_is_one_entry() {
        let text = "before\nthread '<unnamed>' panicked at src/lib.rs:61:37:\ncrash requested\nsecond line\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\nafter\n";
        assert_eq!(
            guest_lines(text),
            [
                GuestLine::Text("before"),
                GuestLine::Panic(
                    "panicked at src/lib.rs:61:37: crash requested | second line".into()
                ),
                GuestLine::Text("after"),
            ]
        );
    }

    #[test]
    fn a_header_with_a_thread_id_starts_a_report_too() {
        let text = "thread '<unnamed>' (1) panicked at counter/src/lib.rs:66:30:\ncrash requested\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            guest_lines(text),
            [GuestLine::Panic(
                "panicked at counter/src/lib.rs:66:30: crash requested".into()
            )]
        );
        for not_a_header in [
            "thread 'a' (x) panicked at a.rs:1:1:",
            "thread 'a' () panicked at a.rs:1:1:",
            "thread 'a' said hello",
        ] {
            assert_eq!(guest_lines(not_a_header), [GuestLine::Text(not_a_header)]);
        }
    }

    #[test]
    fn a_backtrace_is_folded_and_a_cut_report_still_ends() {
        let text = "thread 'main' panicked at a.rs:1:1:\nboom\nstack backtrace:\n   0: f\n             at a.rs:1\n";
        assert_eq!(
            guest_lines(text),
            [GuestLine::Panic(
                "panicked at a.rs:1:1: boom | stack backtrace: | 0: f | at a.rs:1".into()
            )]
        );
        assert_eq!(
            guest_lines("plain\n\nlines"),
            [
                GuestLine::Text("plain"),
                GuestLine::Text(""),
                GuestLine::Text("lines")
            ]
        );
    }
}
