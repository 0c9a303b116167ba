//! File-system watching with debounce, for reloads and the dev loop.
//!
//! Editors save in several steps: truncate then write, write a temp file
//! then rename it over the original, or several writes and a metadata
//! change. So a file is watched through its parent directory (a rename
//! replaces the inode a direct watch would follow) and matched by name,
//! and events are gathered until the files have been quiet for the
//! debounce time; then the set of changed targets is delivered once.
//! What arrives may still be half-written: the reload pipeline validates
//! the bytes before anything is swapped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        let (raw_tx, raw_rx) = mpsc::unbounded_channel::<PathBuf>();
        let matcher = targets.clone();
        let mut notify =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                for path in &event.paths {
                    if let Some(hit) = matched(&matcher, path) {
                        let _ = raw_tx.send(hit);
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

/// Gathers paths until none arrived for `debounce`, then sends the batch.
async fn debounce_task(
    mut raw: mpsc::UnboundedReceiver<PathBuf>,
    out: mpsc::UnboundedSender<Vec<PathBuf>>,
    debounce: Duration,
) {
    while let Some(first) = raw.recv().await {
        let mut batch = BTreeSet::from([first]);
        loop {
            match tokio::time::timeout(debounce, raw.recv()).await {
                Ok(Some(path)) => {
                    batch.insert(path);
                }
                Ok(None) => break,
                Err(_quiet) => break,
            }
        }
        if out.send(batch.into_iter().collect()).is_err() {
            return;
        }
    }
}
