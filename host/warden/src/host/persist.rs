//! Persisted component state: the snapshot file of each component child
//! with `persist` set, and whether a start gets it back.
//!
//! A child's file is `STATE_DIR/persist/<path>.snap`, its tree path with
//! every byte but `A-Z a-z 0-9 . _ -` percent-encoded (`root%2Fcounter.snap`).
//! It holds a two-line header, then the guest's `snapshot` bytes as they
//! are:
//!
//! ```text
//! warden-snapshot 1
//! {"child":"root/counter","component":"<sha256 of the .wasm>","saved_at_ms":1764902400000,"bytes":27,"sha256":"<sha256 of the bytes>"}
//! {"schema":1,"state":{"count":3}}
//! ```
//!
//! A file is written whole or not at all (a temporary file beside it,
//! fsync, rename, fsync of the folder), so a host killed mid-write leaves
//! the previous snapshot. One that cannot be read, does not parse, fails
//! its checksum or is refused by the guest's `restore` is renamed
//! `….snap.rejected` (`….snap.N.rejected` when that is taken), never
//! deleted and never read again, and a `restore_failed` event says so.
//!
//! Whether a start restores ([`Persistence::should_restore`]): the first
//! start of a child in this host does, and so does a start after a
//! graceful stop whose state was saved; a start after the child's crash,
//! kill or an unsaved stop does only with `restore_after_crash`.
//!
//! Owns: the file's name and format, writing, reading and checking it,
//! setting a bad one aside, the persist events, and how each child's last
//! incarnation ended. Never does: call a guest, or decide when to take a
//! snapshot (the component child does both and hands the bytes here).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use warden_clock::unix_ms;

use crate::component::content_hash;
use crate::config::{PersistConfig, PersistMode};
use crate::events::{EventBus, PersistEvent};
use crate::supervisor::ChildPath;

/// The first line of every snapshot file: the format and its version.
const MAGIC: &str = "warden-snapshot 1";

/// The longest header line read (it holds two hashes, a path and numbers).
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Why a snapshot file cannot be restored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a whole snapshot of this format.
    #[error("{} is not a valid snapshot: {reason}", file.display())]
    Corrupt { file: PathBuf, reason: String },
}

/// The header line of a snapshot file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    /// The child's tree path when it was written.
    pub child: String,
    /// Content hash of the component that wrote it.
    pub component: String,
    /// When it was written, milliseconds since the Unix epoch.
    pub saved_at_ms: u64,
    /// The length of the snapshot bytes after the header.
    pub bytes: u64,
    /// SHA-256 of the snapshot bytes, 64 lowercase hex digits.
    pub sha256: String,
    /// The child's reload version that gave the state: written by the
    /// snapshot store (`host::snapshots`), absent from persist files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A snapshot read back from its file.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub header: Header,
    pub state: Vec<u8>,
}

/// Why a snapshot was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A graceful stop of the incarnation.
    Shutdown,
    /// The `interval_ms` timer, the state having changed.
    Interval,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Trigger::Shutdown => "shutdown",
            Trigger::Interval => "interval",
        }
    }
}

/// How a child's last incarnation ended, for the next start's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// A graceful stop whose state is in the file.
    Saved,
    /// A crash, a kill, or a stop whose snapshot could not be saved.
    Unsaved,
}

/// Persistence of one component child spec (every child started from it:
/// one, or each dynamic child of a `simple_one_for_one` supervisor, each
/// with its own file).
#[derive(Debug)]
pub(crate) struct Persistence {
    config: PersistConfig,
    dir: PathBuf,
    events: EventBus,
    /// How the last incarnation of each child path ended in this host.
    ended: Mutex<HashMap<String, Ended>>,
}

impl Persistence {
    /// Files in `STATE_DIR/persist`, events on `events`.
    pub(crate) fn new(config: PersistConfig, state_dir: &Path, events: EventBus) -> Self {
        Self {
            config,
            dir: state_dir.join("persist"),
            events,
            ended: Mutex::default(),
        }
    }

    /// The `interval_ms` period, in interval mode.
    pub(crate) fn interval(&self) -> Option<std::time::Duration> {
        match self.config.mode {
            PersistMode::Shutdown => None,
            PersistMode::Interval(every) => Some(every),
        }
    }

    /// The snapshot file of the child at `path`.
    pub(crate) fn file(&self, path: &ChildPath) -> PathBuf {
        self.dir.join(file_name(&path.to_string()))
    }

    /// Whether a start of the child at `path` restores its file (see the
    /// module doc).
    pub(crate) fn should_restore(&self, path: &ChildPath) -> bool {
        let ended = self
            .ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path.to_string())
            .copied();
        match ended {
            None | Some(Ended::Saved) => true,
            Some(Ended::Unsaved) => self.config.restore_after_crash,
        }
    }

    /// Records how the incarnation of the child at `path` ended.
    pub(crate) fn ended(&self, path: &ChildPath, how: Ended) {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), how);
    }

    /// The child's snapshot, `None` when it has no file. `max_bytes` (the
    /// child's memory limit) bounds what is read: a larger snapshot could
    /// not be handed to the guest anyway. Blocking.
    pub(crate) fn load(
        &self,
        path: &ChildPath,
        max_bytes: usize,
    ) -> Result<Option<Snapshot>, SnapshotError> {
        let file = self.file(path);
        remove_leftovers(&self.dir, &file);
        read_snapshot(&file, max_bytes)
    }

    /// Writes `state`, the snapshot the child at `path` (running the
    /// component `component`) just gave, atomically; publishes
    /// `persisted`, or `persist_failed` and a log line. Blocking.
    pub(crate) fn save(
        &self,
        path: &ChildPath,
        component: &str,
        state: &[u8],
        trigger: Trigger,
    ) -> bool {
        let file = self.file(path);
        let header = Header {
            child: path.to_string(),
            component: component.to_string(),
            saved_at_ms: unix_ms(),
            bytes: state.len() as u64,
            sha256: content_hash(state),
            version: None,
        };
        match write_snapshot(&self.dir, &file, &header, state) {
            Ok(()) => {
                self.events.emit(
                    path.clone(),
                    PersistEvent::Persisted {
                        bytes: header.bytes,
                        trigger: trigger.name().to_string(),
                        file: file.display().to_string(),
                    },
                );
                true
            }
            Err(e) => {
                self.failed(path, format!("cannot write {}: {e}", file.display()));
                false
            }
        }
    }

    /// The child's snapshot could not be taken (`reason`): publishes
    /// `persist_failed`.
    pub(crate) fn failed(&self, path: &ChildPath, reason: String) {
        self.events
            .emit(path.clone(), PersistEvent::PersistFailed { reason });
    }

    /// The child at `path` got its state back from `snapshot`.
    pub(crate) fn restored(&self, path: &ChildPath, snapshot: &Snapshot) {
        self.events.emit(
            path.clone(),
            PersistEvent::Restored {
                bytes: snapshot.header.bytes,
                saved_at_ms: snapshot.header.saved_at_ms,
                saved_by: snapshot.header.component.clone(),
            },
        );
    }

    /// The child's file could not be restored (`reason`): it is renamed
    /// `….rejected` and `restore_failed` says where. Blocking.
    pub(crate) fn reject(&self, path: &ChildPath, reason: String) {
        let file = self.file(path);
        let kept_as = match set_aside(&file) {
            Ok(kept) => kept.display().to_string(),
            Err(e) => {
                tracing::error!(
                    file = %file.display(),
                    error = %e,
                    "cannot set a rejected snapshot aside; it stays where it is"
                );
                String::new()
            }
        };
        self.events.emit(
            path.clone(),
            PersistEvent::RestoreFailed { reason, kept_as },
        );
    }
}

/// `root/counter` → `root%2Fcounter.snap`: unambiguous, one flat folder,
/// never `.` or `..` (the suffix sees to that).
fn file_name(path: &str) -> String {
    let mut name = String::with_capacity(path.len() + 5);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".snap");
    name
}

/// The temporary-file prefix of `file`'s writes.
fn temp_prefix(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// Temporary files a host killed mid-write left for `file`: never
/// renamed, so never a snapshot.
fn remove_leftovers(dir: &Path, file: &Path) {
    let prefix = temp_prefix(file);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Header and state into a temporary file beside `file`, synced, renamed
/// over it, and the rename synced: the file is the old snapshot or the
/// new one, whatever happens to the host meanwhile.
pub(crate) fn write_snapshot(
    dir: &Path,
    file: &Path,
    header: &Header,
    state: &[u8],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let header_line = serde_json::to_string(header).map_err(std::io::Error::other)?;
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(file))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(MAGIC.as_bytes())?;
    temp.write_all(b"\n")?;
    temp.write_all(header_line.as_bytes())?;
    temp.write_all(b"\n")?;
    temp.write_all(state)?;
    temp.as_file().sync_all()?;
    temp.persist(file).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads and checks `file`; `None` when there is none.
fn read_snapshot(file: &Path, max_bytes: usize) -> Result<Option<Snapshot>, SnapshotError> {
    let read_err = |source| SnapshotError::Read {
        file: file.to_path_buf(),
        source,
    };
    let corrupt = |reason: String| SnapshotError::Corrupt {
        file: file.to_path_buf(),
        reason,
    };
    let meta = match std::fs::metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    if !meta.is_file() {
        return Err(corrupt("not a regular file".into()));
    }
    let limit = (max_bytes as u64).saturating_add((MAX_HEADER_BYTES + MAGIC.len() + 2) as u64);
    if meta.len() > limit {
        return Err(corrupt(format!(
            "{} bytes, more than the child's memory limit of {max_bytes} bytes could take",
            meta.len()
        )));
    }
    let bytes = std::fs::read(file).map_err(read_err)?;
    let snapshot = parse_snapshot(&bytes).map_err(corrupt)?;
    if snapshot.state.len() > max_bytes {
        return Err(corrupt(format!(
            "its state of {} bytes is more than the child's memory limit of {max_bytes} bytes could take",
            snapshot.state.len()
        )));
    }
    Ok(Some(snapshot))
}

/// A snapshot file's bytes checked against their header.
pub(crate) fn parse_snapshot(bytes: &[u8]) -> Result<Snapshot, String> {
    let (magic, rest) = split_line(bytes, MAGIC.len() + 1)
        .ok_or_else(|| format!("it does not start with `{MAGIC}`"))?;
    if magic != MAGIC.as_bytes() {
        return Err(format!("it does not start with `{MAGIC}`"));
    }
    let (line, state) =
        split_line(rest, MAX_HEADER_BYTES).ok_or("its header line is missing or too long")?;
    let header: Header =
        serde_json::from_slice(line).map_err(|e| format!("its header does not parse: {e}"))?;
    if header.bytes != state.len() as u64 {
        return Err(format!(
            "the header says {} bytes, the file holds {} (cut short or appended to)",
            header.bytes,
            state.len()
        ));
    }
    if content_hash(state) != header.sha256 {
        return Err("its bytes do not match their SHA-256 in the header".into());
    }
    Ok(Snapshot {
        header,
        state: state.to_vec(),
    })
}

/// The header of the snapshot file `file`, read without its state (a
/// listing reads many files and needs none of their bytes). Not checked
/// against the state: [`parse_snapshot`] does that when it is read whole.
pub(crate) fn read_header(file: &Path) -> Result<Header, String> {
    use std::io::Read as _;
    let opened = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let mut prefix = Vec::new();
    opened
        .take((MAGIC.len() + 1 + MAX_HEADER_BYTES) as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| e.to_string())?;
    let (magic, rest) = split_line(&prefix, MAGIC.len() + 1)
        .ok_or_else(|| format!("it does not start with `{MAGIC}`"))?;
    if magic != MAGIC.as_bytes() {
        return Err(format!("it does not start with `{MAGIC}`"));
    }
    let (line, _) =
        split_line(rest, MAX_HEADER_BYTES).ok_or("its header line is missing or too long")?;
    serde_json::from_slice(line).map_err(|e| format!("its header does not parse: {e}"))
}

/// The first line of `bytes` (without its `\n`) and the rest, when it
/// ends within `max` bytes.
fn split_line(bytes: &[u8], max: usize) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().take(max).position(|&b| b == b'\n')?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

/// Renames `file` to `….rejected` (or `….N.rejected`), never over
/// another file; where it is now.
fn set_aside(file: &Path) -> std::io::Result<PathBuf> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for n in 1..=1000u32 {
        let target = if n == 1 {
            file.with_file_name(format!("{name}.rejected"))
        } else {
            file.with_file_name(format!("{name}.{n}.rejected"))
        };
        // A hard link fails when the target exists: no rejected file is
        // ever replaced.
        match std::fs::hard_link(file, &target) {
            Ok(()) => {
                std::fs::remove_file(file)?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "1000 rejected snapshots already kept",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persistence(dir: &Path) -> Persistence {
        Persistence::new(
            PersistConfig {
                mode: PersistMode::Shutdown,
                restore_after_crash: false,
            },
            dir,
            EventBus::default(),
        )
    }

    fn child(path: &str) -> ChildPath {
        let (sup, id) = path.rsplit_once('/').expect("a child path");
        ChildPath::child(sup.into(), id.into())
    }

    #[test]
    fn file_names_are_flat_and_unambiguous() {
        assert_eq!(file_name("root/counter"), "root%2Fcounter.snap");
        assert_eq!(file_name("root/a__b"), "root%2Fa__b.snap");
        assert_eq!(file_name("root/a%2Fb"), "root%2Fa%252Fb.snap");
        assert_eq!(file_name("root/.."), "root%2F...snap");
        assert_eq!(file_name("root/ü"), "root%2F%C3%BC.snap");
    }

    #[test]
    fn a_saved_snapshot_reads_back_and_a_second_save_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = persistence(dir.path());
        let counter = child("root/counter");
        assert!(p.load(&counter, 1 << 20).unwrap().is_none(), "no file yet");
        assert!(p.save(&counter, "abc", b"first", Trigger::Shutdown));
        assert!(p.save(&counter, "abc", b"second state", Trigger::Interval));
        let snap = p.load(&counter, 1 << 20).unwrap().expect("a snapshot");
        assert_eq!(snap.state, b"second state");
        assert_eq!(snap.header.child, "root/counter");
        assert_eq!(snap.header.component, "abc");
        assert_eq!(snap.header.bytes, 12);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("persist"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["root%2Fcounter.snap"], "no temporary file left");
    }

    #[test]
    fn every_kind_of_damage_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = persistence(dir.path());
        let counter = child("root/counter");
        assert!(p.save(&counter, "abc", b"0123456789", Trigger::Shutdown));
        let file = p.file(&counter);
        let good = std::fs::read(&file).unwrap();
        let flip = |at: usize| {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            bad
        };
        let header_start = MAGIC.len() + 1;
        for (bytes, words) in [
            (
                b"garbage".to_vec(),
                "does not start with `warden-snapshot 1`",
            ),
            (flip(0), "does not start with"),
            (flip(header_start + 1), "header does not parse"),
            (good[..good.len() - 1].to_vec(), "cut short or appended to"),
            ([good.as_slice(), b"x"].concat(), "cut short or appended to"),
            (flip(good.len() - 1), "do not match their SHA-256"),
            (
                good[..header_start + 4].to_vec(),
                "header line is missing or too long",
            ),
        ] {
            std::fs::write(&file, &bytes).unwrap();
            let err = p.load(&counter, 1 << 20).unwrap_err().to_string();
            assert!(err.contains(words), "{err}");
            assert!(err.contains("root%2Fcounter.snap"), "names the file: {err}");
        }
        std::fs::write(&file, &good).unwrap();
        let err = p.load(&counter, 4).unwrap_err().to_string();
        assert!(err.contains("more than the child's memory limit"), "{err}");
    }

    #[test]
    fn a_rejected_file_is_renamed_without_replacing_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = persistence(dir.path());
        let counter = child("root/counter");
        for state in [b"one", b"two"] {
            assert!(p.save(&counter, "abc", state, Trigger::Shutdown));
            p.reject(&counter, "refused".into());
            assert!(!p.file(&counter).exists());
        }
        let persist = dir.path().join("persist");
        let first = std::fs::read(persist.join("root%2Fcounter.snap.rejected")).unwrap();
        let second = std::fs::read(persist.join("root%2Fcounter.snap.2.rejected")).unwrap();
        assert!(first.ends_with(b"one") && second.ends_with(b"two"));
    }

    #[test]
    fn a_crash_restores_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = persistence(dir.path());
        let counter = child("root/counter");
        assert!(p.should_restore(&counter), "the first start restores");
        p.ended(&counter, Ended::Saved);
        assert!(p.should_restore(&counter), "after a saved stop");
        p.ended(&counter, Ended::Unsaved);
        assert!(
            !p.should_restore(&counter),
            "a restart after a crash is clean"
        );
        p.config.restore_after_crash = true;
        assert!(p.should_restore(&counter), "unless restore_after_crash");
        assert!(p.should_restore(&child("root/other")), "per child path");
    }

    #[test]
    fn a_leftover_temporary_file_is_removed_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = persistence(dir.path());
        let counter = child("root/counter");
        let persist = dir.path().join("persist");
        std::fs::create_dir_all(&persist).unwrap();
        let leftover = persist.join(".root%2Fcounter.snap.x1y2.tmp");
        std::fs::write(&leftover, b"half").unwrap();
        let other = persist.join(".root%2Fother.snap.x1y2.tmp");
        std::fs::write(&other, b"half").unwrap();
        assert!(p.load(&counter, 1 << 20).unwrap().is_none());
        assert!(!leftover.exists());
        assert!(other.exists(), "another child's write may be under way");
    }
}
