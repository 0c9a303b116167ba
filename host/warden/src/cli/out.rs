//! Printing for the commands, without the panics of `print!`.
//!
//! Rust ignores `SIGPIPE`, so a write to a pipe whose reader has gone
//! (`warden inspect x.wasm | head -1`) fails with `EPIPE`, and `println!`
//! turns that failure into a panic (exit 101, a panic message). Here:
//! - stdout goes through [`outln!`]/[`out!`], which flush and turn a
//!   closed pipe into [`Failure::OutputClosed`]: the command stops and
//!   `warden` exits 0 without a word, as `head` asked (other write errors
//!   are failures, exit 1);
//! - stderr goes through [`errln!`]/[`err!`], which drop what cannot be
//!   written: a diagnostic nobody can read is no reason to stop (the exit
//!   status still tells).
//!
//! Library code that writes to a [`Write`] (report sinks) is handed a
//! [`Watched`] stdout, which remembers that its reader went away.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Failure;

/// Writes to stdout and flushes (the reader sees each line as it comes).
pub fn stdout(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(Failure::from_output)
}

/// Writes to stderr; what cannot be written is dropped.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `print!` to stdout, `?`-able: a closed stdout is [`Failure::OutputClosed`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!($($arg)*)) };
}

/// `println!` to stdout, `?`-able: a closed stdout is [`Failure::OutputClosed`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::cli::out::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {err, errln, out, outln};

/// The log target of the lines a command says on stderr in JSON mode
/// (`--log-format json`), where a plain line would break the stream.
pub const STATUS_TARGET: &str = "warden::status";

/// Set once, when `--log-format json` was given.
static JSON_STATUS: AtomicBool = AtomicBool::new(false);

/// Status lines become JSON log events from now on.
pub fn set_json_status() {
    JSON_STATUS.store(true, Ordering::Relaxed);
}

/// Says what a long-running command is doing: `warden: TEXT` on stderr,
/// or in JSON mode an `INFO` event of [`STATUS_TARGET`] (one JSON object;
/// a text of several lines stays one object).
pub fn status(text: &str) {
    if JSON_STATUS.load(Ordering::Relaxed) {
        tracing::info!(target: STATUS_TARGET, "{text}");
    } else {
        errln!("warden: {text}");
    }
}

/// The one line a failed command ends with: `error: TEXT`, or in JSON
/// mode an `ERROR` event of [`STATUS_TARGET`].
pub fn error_line(text: &str) {
    if JSON_STATUS.load(Ordering::Relaxed) {
        tracing::error!(target: STATUS_TARGET, "{text}");
    } else {
        errln!("error: {text}");
    }
}

impl Failure {
    /// A failed write to stdout: the reader going away is no failure.
    pub fn from_output(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            Failure::OutputClosed
        } else {
            Failure::failed(anyhow::anyhow!("cannot write to stdout: {err}"))
        }
    }
}

/// A writer that remembers whether its reader went away, for code that
/// reports write errors in its own way (the grader's report sinks).
pub struct Watched<W> {
    inner: W,
    closed: Arc<AtomicBool>,
}

impl<W: Write> Watched<W> {
    /// `inner`, and a flag that turns true when a write finds the reader gone.
    pub fn new(inner: W) -> (Self, Arc<AtomicBool>) {
        let closed = Arc::new(AtomicBool::new(false));
        let watched = Self {
            inner,
            closed: closed.clone(),
        };
        (watched, closed)
    }

    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl<W: Write> Write for Watched<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_is_remembered_and_other_errors_are_not() {
        let (mut watched, closed) = Watched::new(Closed);
        assert!(!closed.load(Ordering::Relaxed));
        assert!(watched.write_all(b"x").is_err());
        assert!(closed.load(Ordering::Relaxed));
        let (mut watched, closed) = Watched::new(Vec::new());
        watched.write_all(b"x").unwrap();
        assert!(!closed.load(Ordering::Relaxed));
    }

    #[test]
    fn a_broken_pipe_is_a_quiet_stop_and_other_errors_fail() {
        assert!(matches!(
            Failure::from_output(io::ErrorKind::BrokenPipe.into()),
            Failure::OutputClosed
        ));
        assert!(matches!(
            Failure::from_output(io::Error::other("disk full")),
            Failure::Failed(_)
        ));
    }
}
