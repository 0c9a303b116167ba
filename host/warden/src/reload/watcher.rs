//! File-system watching with debounce, for reloads and the dev loop.
//!
//! Editors save in several steps: truncate then write, write a temp file
//! then rename it over the original, or several writes and a metadata
//! change. So a file is watched through its parent directory (a rename
//! replaces the inode a direct watch would follow) and matched by name,
//! and events are gathered until the files have been quiet for the
//! debounce time; then the set of changed targets is delivered once.
//!
//! Two events end a save by the writer's own word, and deliver the batch
//! at once instead of after the quiet time: a file closed after writing
//! (inotify's `IN_CLOSE_WRITE`) and a file renamed into place. Waiting
//! the debounce after those only adds latency (it was a third of a cold
//! reload). What arrives may still be half-written (a writer that closes
//! and reopens): the reload pipeline validates the bytes before anything
//! is swapped, and the next close delivers the rest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// Something to watch.
#[derive(Clone, Debug)]
pub enum WatchTarget {
    /// One file (through its directory, so renames over it are seen).
    File(PathBuf),
    /// Everything below a directory.
    Tree(PathBuf),
}

/// A running watch; dropping it stops the watching.
pub struct Watcher {
    _notify: notify::RecommendedWatcher,
}

impl Watcher {
    /// The default debounce.
    pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

    /// Watches `targets`; each batch of changes, once quiet for
    /// `debounce`, arrives on the receiver as the changed files (for a
    /// `File` target, the target path itself). Must be called inside a
    /// tokio runtime.
    pub fn start(
        targets: &[WatchTarget],
        debounce: Duration,
    ) -> notify::Result<(Watcher, mpsc::UnboundedReceiver<Vec<PathBuf>>)> {
        let targets: Vec<(WatchTarget, PathBuf)> = targets
            .iter()
            .map(|t| {
                let canonical = match t {
                    WatchTarget::File(f) => canonical_file(f),
                    WatchTarget::Tree(d) => d.canonicalize().unwrap_or_else(|_| d.clone()),
                };
                (t.clone(), canonical)
            })
            .collect();
        let (raw_tx, raw_rx) = mpsc::unbounded_channel::<Change>();
        let matcher = targets.clone();
        let mut notify =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                let complete = match event.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                    EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => true,
                    EventKind::Access(_) => return,
                    _ => false,
                };
                for path in &event.paths {
                    if let Some(hit) = matched(&matcher, path) {
                        let _ = raw_tx.send(Change {
                            path: hit,
                            complete,
                        });
                    }
                }
            })?;
        let mut watched = BTreeSet::new();
        for (target, canonical) in &targets {
            let (dir, mode) = match target {
                WatchTarget::File(_) => (
                    canonical.parent().unwrap_or(Path::new("/")).to_path_buf(),
                    RecursiveMode::NonRecursive,
                ),
                WatchTarget::Tree(_) => (canonical.clone(), RecursiveMode::Recursive),
            };
            if watched.insert((dir.clone(), mode == RecursiveMode::Recursive)) {
                notify.watch(&dir, mode)?;
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(debounce_task(raw_rx, tx, debounce));
        Ok((Watcher { _notify: notify }, rx))
    }
}

/// The file's path with its directory canonicalised (the file itself may
/// not exist at every instant of a save).
fn canonical_file(file: &Path) -> PathBuf {
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = dir.canonicalize().unwrap_or(dir);
    match file.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// The target path an event path stands for, if any.
fn matched(targets: &[(WatchTarget, PathBuf)], path: &Path) -> Option<PathBuf> {
    targets.iter().find_map(|(target, canonical)| match target {
        WatchTarget::File(original) => (path == canonical).then(|| original.clone()),
        WatchTarget::Tree(_) => path.starts_with(canonical).then(|| path.to_path_buf()),
    })
}

/// One event on a watched path.
struct Change {
    path: PathBuf,
    /// The writer finished: closed the file after writing, or renamed it
    /// into place.
    complete: bool,
}

/// Gathers paths until none arrived for `debounce`, or until a write is
/// complete, then sends the batch.
async fn debounce_task(
    mut raw: mpsc::UnboundedReceiver<Change>,
    out: mpsc::UnboundedSender<Vec<PathBuf>>,
    debounce: Duration,
) {
    while let Some(first) = raw.recv().await {
        let mut complete = first.complete;
        let mut batch = BTreeSet::from([first.path]);
        while !complete {
            match tokio::time::timeout(debounce, raw.recv()).await {
                Ok(Some(change)) => {
                    complete = change.complete;
                    batch.insert(change.path);
                }
                Ok(None) => break,
                Err(_quiet) => break,
            }
        }
        // Events already queued belong to the same save.
        while let Ok(change) = raw.try_recv() {
            batch.insert(change.path);
        }
        if out.send(batch.into_iter().collect()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use super::*;

    const LONG_DEBOUNCE: Duration = Duration::from_secs(3);

    async fn next_batch(
        rx: &mut mpsc::UnboundedReceiver<Vec<PathBuf>>,
    ) -> (Vec<PathBuf>, Duration) {
        let started = Instant::now();
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a batch within 10 s")
            .expect("the watcher is running");
        (batch, started.elapsed())
    }

    #[tokio::test]
    async fn a_closed_write_is_delivered_without_waiting_for_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"v1").unwrap();
        let (_w, mut rx) =
            Watcher::start(&[WatchTarget::File(file.clone())], LONG_DEBOUNCE).unwrap();
        std::fs::write(&file, b"v2").unwrap();
        let (batch, waited) = next_batch(&mut rx).await;
        assert_eq!(batch, vec![file]);
        assert!(
            waited < LONG_DEBOUNCE / 2,
            "waited {waited:?} after a complete write"
        );
    }

    #[tokio::test]
    async fn a_rename_into_place_is_delivered_without_waiting_for_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"v1").unwrap();
        let (_w, mut rx) =
            Watcher::start(&[WatchTarget::File(file.clone())], LONG_DEBOUNCE).unwrap();
        let tmp = dir.path().join(".plugin.wasm.tmp");
        std::fs::write(&tmp, b"v2").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        let (batch, waited) = next_batch(&mut rx).await;
        assert_eq!(batch, vec![file]);
        assert!(
            waited < LONG_DEBOUNCE / 2,
            "waited {waited:?} after a rename"
        );
    }

    #[tokio::test]
    async fn a_file_still_open_for_writing_waits_for_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"v1").unwrap();
        let debounce = Duration::from_millis(400);
        let (_w, mut rx) = Watcher::start(&[WatchTarget::File(file.clone())], debounce).unwrap();
        let mut open = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        open.write_all(b"half").unwrap();
        let (batch, waited) = next_batch(&mut rx).await;
        assert_eq!(batch, vec![file]);
        assert!(
            waited >= debounce,
            "delivered after {waited:?}, before the quiet time"
        );
        drop(open);
    }
}
