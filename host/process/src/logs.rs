//! A worker's output: stdout and stderr captured line by line into a
//! size-rotated file and an in-memory ring of the last lines.
//!
//! Owns: [`LogSpec`], the capture tasks reading the two pipes, the rotating
//! file (`worker.log`, `worker.log.1`, … `worker.log.N`), the ring buffer
//! ([`LogBuffer`], generic over its line so a host can keep other logs the
//! same way) with its followers, and the [`LogTap`] a host may set to see
//! every line as it is recorded.
//!
//! Guarantees: memory per worker is bounded (at most `ring_lines` lines, each
//! cut at [`MAX_LINE`] bytes, and at most [`FOLLOW_BUFFER`] lines queued for
//! each follower: a follower that falls behind loses lines and is told how
//! many, it never holds up the writer); a line is in the ring before it is written to
//! the file; a file error is logged once and never stops capture (the ring
//! keeps working and the file is retried at the next line). The file is
//! opened at the first line, so an idle worker holds no log descriptor.
//!
//! Must never: block the pipes for long (a slow reader would stall the worker
//! on a full pipe), or grow without bound on output without newlines.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{broadcast, oneshot};

use super::timestamp;
use crate::now_ms;

/// The longest line kept; longer output is split into pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;

/// How many lines a follower of a [`LogBuffer`] may have unread before it
/// starts losing the oldest of them.
pub const FOLLOW_BUFFER: usize = 512;

/// Called with every line a worker writes, after the ring has it; on the
/// pipe reader's task, so it must not block.
#[derive(Clone)]
pub struct LogTap(Arc<dyn Fn(&LogLine) + Send + Sync>);

impl LogTap {
    /// A tap calling `f`.
    pub fn new(f: impl Fn(&LogLine) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for LogTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogTap")
    }
}

impl PartialEq for LogTap {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LogTap {}

/// Where and how a worker's output is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSpec {
    dir: Option<PathBuf>,
    file_name: String,
    rotate_bytes: u64,
    keep: u32,
    ring_lines: usize,
    tap: Option<LogTap>,
}

impl Default for LogSpec {
    fn default() -> Self {
        Self {
            dir: None,
            file_name: "worker.log".to_owned(),
            rotate_bytes: 10 * 1024 * 1024,
            keep: 5,
            ring_lines: 1000,
            tap: None,
        }
    }
}

impl LogSpec {
    /// The directory of the log file (created when the worker starts). By
    /// default there is none and output goes to the ring buffer only.
    pub fn dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.dir = Some(dir.into());
        self
    }

    /// The file name inside the directory. By default `worker.log`.
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = name.into();
        self
    }

    /// The size at which the file is rotated. By default 10 MiB.
    pub fn rotate_bytes(&mut self, bytes: u64) -> &mut Self {
        self.rotate_bytes = bytes.max(1);
        self
    }

    /// How many rotated files (`.1` … `.N`) are kept. By default 5.
    pub fn keep(&mut self, files: u32) -> &mut Self {
        self.keep = files;
        self
    }

    /// How many recent lines the ring buffer holds. By default 1000.
    pub fn ring_lines(&mut self, lines: usize) -> &mut Self {
        self.ring_lines = lines;
        self
    }

    /// Also hands every line to `tap` (a host keeping its own log of the
    /// child across incarnations). By default there is none.
    pub fn tap(&mut self, tap: LogTap) -> &mut Self {
        self.tap = Some(tap);
        self
    }

    /// The path of the current log file, when there is a directory.
    pub fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(&self.file_name))
    }
}

/// Which pipe a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The worker's standard output (the one a line readiness check reads).
    Stdout,
    /// The worker's standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as serialized and as written in the log file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One captured line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The pipe it was read from.
    pub stream: Stream,
    /// When the host read it, in Unix milliseconds.
    pub at_ms: i64,
    /// The line without its newline; invalid UTF-8 replaced.
    pub text: String,
}

/// The last lines of a worker's output (or of any log kept the same way:
/// `T` is the line); cheap to clone, readable after the worker exited.
#[derive(Clone, Debug)]
pub struct LogBuffer<T = LogLine> {
    inner: Arc<Mutex<Ring<T>>>,
    capacity: usize,
}

#[derive(Debug)]
struct Ring<T> {
    lines: VecDeque<T>,
    /// Followers; a send without any is dropped at once.
    live: broadcast::Sender<T>,
}

/// What [`LogBuffer::follow`] gives: the last lines, and every later one.
#[derive(Debug)]
pub struct Following<T> {
    /// The last lines asked for, oldest first.
    pub backlog: Vec<T>,
    /// The lines pushed after `backlog` was taken; a receiver more than
    /// [`FOLLOW_BUFFER`] lines behind gets `Lagged(n)` for the `n` lost.
    pub live: broadcast::Receiver<T>,
}

impl<T: Clone> LogBuffer<T> {
    /// An empty buffer keeping the last `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        let (live, _) = broadcast::channel(FOLLOW_BUFFER);
        Self {
            inner: Arc::new(Mutex::new(Ring {
                lines: VecDeque::with_capacity(capacity.min(1024)),
                live,
            })),
            capacity,
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `line` (dropping the oldest when full) and hands it to the
    /// followers. Never waits for a follower.
    pub fn push(&self, line: T) {
        let mut ring = self.ring();
        if ring.live.receiver_count() > 0 {
            // Err only when every follower left meanwhile: nobody to tell.
            let _ = ring.live.send(line.clone());
        }
        if self.capacity == 0 {
            return;
        }
        if ring.lines.len() == self.capacity {
            ring.lines.pop_front();
        }
        ring.lines.push_back(line);
    }

    /// Every line held, oldest first.
    pub fn lines(&self) -> Vec<T> {
        self.tail(self.capacity)
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<T> {
        Self::last(&self.ring(), n)
    }

    fn last(ring: &Ring<T>, n: usize) -> Vec<T> {
        ring.lines
            .iter()
            .skip(ring.lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// The last `n` lines and a receiver of every line pushed after them,
    /// taken together so that no line is missed or seen twice.
    pub fn follow(&self, n: usize) -> Following<T> {
        let ring = self.ring();
        Following {
            backlog: Self::last(&ring, n),
            live: ring.live.subscribe(),
        }
    }

    /// Whether `other` is a clone of this buffer (the same lines).
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// How many lines it holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The file half: written under a lock shared by the two pipe readers.
#[derive(Debug)]
enum FileState {
    /// Not opened yet (no line so far), or closed after a rotation failure.
    Closed,
    Open {
        file: File,
        written: u64,
    },
    /// The last attempt failed; already reported.
    Failing,
}

#[derive(Debug)]
struct RotatingFile {
    path: PathBuf,
    rotate_bytes: u64,
    keep: u32,
    state: FileState,
    scratch: Vec<u8>,
}

impl RotatingFile {
    fn write_line(&mut self, worker: &str, line: &LogLine) {
        self.scratch.clear();
        let mut stamp = String::with_capacity(24);
        timestamp::write_rfc3339(line.at_ms, &mut stamp);
        self.scratch.extend_from_slice(stamp.as_bytes());
        self.scratch.push(b' ');
        self.scratch
            .extend_from_slice(line.stream.as_str().as_bytes());
        self.scratch.push(b' ');
        self.scratch.extend_from_slice(line.text.as_bytes());
        self.scratch.push(b'\n');
        let len = self.scratch.len() as u64;
        let result = self.try_write(len);
        match (result, &self.state) {
            (Ok(()), _) => {}
            (Err(e), FileState::Failing) => {
                tracing::trace!(worker, path = %self.path.display(), error = %e, "log file still failing");
            }
            (Err(e), _) => {
                tracing::warn!(worker, path = %self.path.display(), error = %e, "cannot write worker log file; lines stay in the ring buffer");
                self.state = FileState::Failing;
            }
        }
    }

    fn try_write(&mut self, len: u64) -> io::Result<()> {
        if let FileState::Open { written, .. } = &self.state
            && *written > 0
            && written.saturating_add(len) > self.rotate_bytes
        {
            self.state = FileState::Closed;
            rotate(&self.path, self.keep)?;
        }
        if !matches!(self.state, FileState::Open { .. }) {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let written = file.metadata()?.len();
            self.state = FileState::Open { file, written };
        }
        if let FileState::Open { file, written } = &mut self.state {
            file.write_all(&self.scratch)?;
            *written += len;
        }
        Ok(())
    }
}

/// `worker.log.(keep-1)` → `.keep`, …, `worker.log` → `.1`; the oldest is
/// dropped. With `keep == 0` the file is simply truncated.
fn rotate(path: &Path, keep: u32) -> io::Result<()> {
    let numbered = |n: u32| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    if keep == 0 {
        return File::create(path).map(drop);
    }
    match std::fs::remove_file(numbered(keep)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for n in (1..keep).rev() {
        match std::fs::rename(numbered(n), numbered(n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(path, numbered(1))
}

/// Where captured lines go: the ring, then the file.
#[derive(Debug)]
pub(crate) struct LogSink {
    worker: String,
    ring: LogBuffer,
    file: Option<Mutex<RotatingFile>>,
    tap: Option<LogTap>,
}

impl LogSink {
    /// Creates the log directory if there is one.
    pub(crate) fn new(worker: &str, spec: &LogSpec) -> io::Result<Self> {
        let file = match spec.path() {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Some(Mutex::new(RotatingFile {
                    path,
                    rotate_bytes: spec.rotate_bytes,
                    keep: spec.keep,
                    state: FileState::Closed,
                    scratch: Vec::new(),
                }))
            }
            None => None,
        };
        Ok(Self {
            worker: worker.to_owned(),
            ring: LogBuffer::new(spec.ring_lines),
            file,
            tap: spec.tap.clone(),
        })
    }

    pub(crate) fn buffer(&self) -> LogBuffer {
        self.ring.clone()
    }

    fn record(&self, line: LogLine) {
        if let Some(file) = &self.file {
            file.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_line(&self.worker, &line);
        }
        if let Some(tap) = &self.tap {
            (tap.0)(&line);
        }
        self.ring.push(line);
    }
}

/// Watches stdout for the readiness line.
#[derive(Debug)]
pub(crate) struct LineProbe {
    needle: String,
    found: Option<oneshot::Sender<()>>,
}

impl LineProbe {
    pub(crate) fn new(needle: String) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (
            Self {
                needle,
                found: Some(tx),
            },
            rx,
        )
    }

    fn check(&mut self, line: &str) {
        if self.found.is_some()
            && line.contains(&self.needle)
            && let Some(tx) = self.found.take()
        {
            // The readiness task may have timed out already; nothing to do then.
            let _ = tx.send(());
        }
    }
}

/// Reads one pipe to its end, line by line.
pub(crate) async fn capture<R: AsyncRead + Unpin>(
    stream: Stream,
    pipe: R,
    sink: Arc<LogSink>,
    mut probe: Option<LineProbe>,
) {
    let mut reader = BufReader::with_capacity(8 * 1024, pipe);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                tracing::debug!(worker = %sink.worker, stream = stream.as_str(), error = %e, "pipe read failed");
                break;
            }
        };
        if available.is_empty() {
            break;
        }
        let (taken, complete) = match memchr_newline(available) {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = MAX_LINE - line.len();
        let take = taken.min(room);
        let body = if complete && take == taken {
            &available[..take - 1]
        } else {
            &available[..take]
        };
        line.extend_from_slice(body);
        let ended = complete && take == taken;
        reader.consume(take);
        if ended || line.len() >= MAX_LINE {
            emit(stream, &mut line, &sink, probe.as_mut());
        }
    }
    if !line.is_empty() {
        emit(stream, &mut line, &sink, probe.as_mut());
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn emit(stream: Stream, line: &mut Vec<u8>, sink: &LogSink, probe: Option<&mut LineProbe>) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    if let Some(probe) = probe {
        probe.check(&text);
    }
    sink.record(LogLine {
        stream,
        at_ms: now_ms(),
        text,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(dir: &Path, rotate_bytes: u64, keep: u32, ring: usize) -> Arc<LogSink> {
        let mut spec = LogSpec::default();
        spec.dir(dir)
            .rotate_bytes(rotate_bytes)
            .keep(keep)
            .ring_lines(ring);
        Arc::new(LogSink::new("test", &spec).expect("sink"))
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_the_last_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = sink(dir.path(), 1 << 20, 2, 3);
        let input: &[u8] = b"one\ntwo\r\nthree\nfour\nno newline";
        capture(Stream::Stdout, input, sink.clone(), None).await;
        let texts: Vec<String> = sink.buffer().lines().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["three", "four", "no newline"]);
        assert_eq!(sink.buffer().tail(1)[0].text, "no newline");
        let file = std::fs::read_to_string(dir.path().join("worker.log")).expect("log file");
        assert_eq!(file.lines().count(), 5);
        assert!(
            file.lines()
                .next()
                .is_some_and(|l| l.ends_with(" stdout one")),
            "{file}"
        );
    }

    #[tokio::test]
    async fn long_lines_are_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = sink(dir.path(), 1 << 30, 1, 10);
        let input = vec![b'x'; MAX_LINE * 2 + 10];
        capture(Stream::Stderr, input.as_slice(), sink.clone(), None).await;
        let lens: Vec<usize> = sink.buffer().lines().iter().map(|l| l.text.len()).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 10]);
    }

    #[tokio::test]
    async fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = sink(dir.path(), 200, 2, 100);
        let mut input = String::new();
        for i in 0..40 {
            input.push_str(&format!("line number {i:03}\n"));
        }
        capture(Stream::Stdout, input.as_bytes(), sink.clone(), None).await;
        let base = dir.path().join("worker.log");
        for name in ["worker.log", "worker.log.1", "worker.log.2"] {
            let meta = std::fs::metadata(dir.path().join(name)).expect(name);
            assert!(meta.len() <= 200, "{name} is {} bytes", meta.len());
        }
        assert!(!dir.path().join("worker.log.3").exists());
        let newest = std::fs::read_to_string(&base).expect("current");
        assert!(newest.contains("line number 039"), "{newest}");
        assert_eq!(sink.buffer().lines().len(), 40);
    }

    #[tokio::test]
    async fn followers_see_new_lines_and_the_tap_sees_all() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tapped = seen.clone();
        let mut spec = LogSpec::default();
        spec.ring_lines(10).tap(LogTap::new(move |l: &LogLine| {
            tapped.lock().unwrap().push(l.text.clone());
        }));
        let sink = Arc::new(LogSink::new("test", &spec).expect("sink"));
        capture(Stream::Stdout, &b"a\nb\nc\n"[..], sink.clone(), None).await;
        let mut follow = sink.buffer().follow(2);
        let backlog: Vec<String> = follow.backlog.iter().map(|l| l.text.clone()).collect();
        assert_eq!(backlog, ["b", "c"]);
        capture(Stream::Stderr, &b"d\n"[..], sink.clone(), None).await;
        let next = follow.live.try_recv().expect("a line after the backlog");
        assert_eq!((next.text.as_str(), next.stream), ("d", Stream::Stderr));
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_slow_follower_is_told_what_it_lost() {
        let buffer: LogBuffer<u32> = LogBuffer::new(3);
        let mut follow = buffer.follow(10);
        assert!(follow.backlog.is_empty());
        for n in 0..(FOLLOW_BUFFER as u32 + 5) {
            buffer.push(n);
        }
        assert_eq!(
            buffer.lines(),
            [
                FOLLOW_BUFFER as u32 + 2,
                FOLLOW_BUFFER as u32 + 3,
                FOLLOW_BUFFER as u32 + 4
            ]
        );
        assert!(matches!(
            follow.live.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
        assert_eq!(follow.live.try_recv().ok(), Some(5));
    }

    #[tokio::test]
    async fn probe_sees_the_readiness_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = sink(dir.path(), 1 << 20, 1, 10);
        let (probe, rx) = LineProbe::new("listening on".into());
        capture(
            Stream::Stdout,
            &b"booting\nnow listening on 8080\n"[..],
            sink,
            Some(probe),
        )
        .await;
        assert!(rx.await.is_ok());
    }
}
