//! Stored snapshots: every state `child.snapshot` takes, kept under
//! `STATE_DIR/snapshots/` with an id, for `snapshot.list`, `snapshot.get`,
//! `snapshot.diff`, `child.restore {snapshot}` and `GET /snapshots/{id}`.
//!
//! An id is the time the snapshot was stored and a sequence number,
//! `<milliseconds since the Unix epoch, 13 digits>-<4 digits>`
//! (`1764902400000-0000`): ids sort as the snapshots were taken, and the
//! sequence tells apart two stored in the same millisecond. Nothing else
//! is an id ([`validate_id`]), so an id never names a file outside the
//! folder.
//!
//! Each snapshot is one file, `<id>.snap`, in the persist format (see
//! `host::persist`: the `warden-snapshot 1` line, a JSON header
//! with the child path, the component's content hash, the time, the size,
//! the SHA-256 of the state and here the child's reload version, then
//! the state's bytes), written the same way (temporary file, fsync,
//! rename): a host killed mid-write leaves no half snapshot. Files are the
//! whole store, so snapshots survive a restart of the host.
//!
//! Retention: at most `[snapshots] keep_per_child` per child path; storing
//! one more removes that child's oldest.
//!
//! It also serves the raw routes (the api crate's
//! [`SnapshotFiles`](crate::api::SnapshotFiles), through
//! [`SnapshotRoutes`]): `GET /snapshots/{id}`, the file opened at the
//! state, and `POST /snapshots?path=CHILD`, a state uploaded as a
//! snapshot of that child.
//!
//! Owns: ids, the folder, retention, and reading a state as JSON (the
//! SDK's envelope) or bytes, and the diff of two states. Never does: take
//! a snapshot from a guest or give one back (the router does, for the
//! `child.*` operations), or decide who may read one (the operations'
//! roles do).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use warden_clock::unix_ms;

use super::build::ProgramTable;
use super::persist::{Header, parse_snapshot, read_header, write_snapshot};
use crate::component::content_hash;
use crate::reload::Reloader;

/// The largest state a stored snapshot is read back with (the largest
/// memory limit a child can have is far below it).
const MAX_STATE_BYTES: u64 = 4 << 30;

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStoreError {
    /// The id is not of the store's form (400).
    #[error(
        "`{id}` is not a snapshot id (13 digits of milliseconds, `-`, 4 digits: `1764902400000-0000`)"
    )]
    InvalidId {
        /// The id asked for, cut to 80 characters.
        id: String,
    },
    /// No snapshot has that id (404).
    #[error("no snapshot `{id}` is stored")]
    NotFound { id: String },
    /// The file is there but is not a whole snapshot (500).
    #[error("snapshot `{id}` cannot be read: {reason}")]
    Corrupt { id: String, reason: String },
    /// The folder or a file could not be read or written (500).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the store keeps about a snapshot besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotMeta {
    pub id: String,
    /// The child it was taken from.
    pub path: String,
    /// When it was stored, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The state's length in bytes.
    pub size: u64,
    /// Content hash of the component that gave it.
    pub hash: String,
    /// The child's reload version then (`null` when unknown).
    pub version: Option<u64>,
    /// SHA-256 of the state.
    pub sha256: String,
}

impl SnapshotMeta {
    fn of(id: String, header: Header) -> Self {
        Self {
            id,
            path: header.child,
            at_ms: header.saved_at_ms,
            size: header.bytes,
            hash: header.component,
            version: header.version,
            sha256: header.sha256,
        }
    }
}

/// The snapshot store of one host. Cheap to clone. Its methods block
/// (files): call them off the async workers.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    keep_per_child: usize,
    /// Held while storing, so that two stores pick different ids and
    /// retention sees every file of its child.
    writing: Mutex<()>,
}

/// `Ok` when `id` has the store's form (so it can only name a file in
/// the store's folder).
pub fn validate_id(id: &str) -> Result<(), SnapshotStoreError> {
    let b = id.as_bytes();
    let ok = b.len() == 18
        && b[13] == b'-'
        && b[..13].iter().all(u8::is_ascii_digit)
        && b[14..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(())
    } else {
        Err(SnapshotStoreError::InvalidId {
            id: id.chars().take(80).collect(),
        })
    }
}

impl SnapshotStore {
    /// The store in `STATE_DIR/snapshots` (created when the first snapshot
    /// is stored), keeping `keep_per_child` per child.
    pub fn new(state_dir: &Path, keep_per_child: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir: state_dir.join("snapshots"),
                keep_per_child: keep_per_child.max(1),
                writing: Mutex::new(()),
            }),
        }
    }

    /// The folder the snapshots are in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn file(&self, id: &str) -> PathBuf {
        self.inner.dir.join(format!("{id}.snap"))
    }

    /// Stores `state`, taken from the child at `path` running the
    /// component `hash` at reload `version`; then removes that child's
    /// oldest snapshots past the retention.
    pub fn save(
        &self,
        path: &str,
        hash: &str,
        version: Option<u64>,
        state: &[u8],
    ) -> Result<SnapshotMeta, SnapshotStoreError> {
        let _writing = self.inner.writing.lock().unwrap_or_else(|e| e.into_inner());
        let at_ms = unix_ms();
        let id = (0..10_000u32)
            .map(|seq| format!("{at_ms:013}-{seq:04}"))
            .find(|id| !self.file(id).exists())
            .ok_or_else(|| SnapshotStoreError::Io {
                what: format!("storing a snapshot of {path}"),
                source: std::io::Error::other("10000 snapshots stored in one millisecond"),
            })?;
        let header = Header {
            child: path.to_string(),
            component: hash.to_string(),
            saved_at_ms: at_ms,
            bytes: state.len() as u64,
            sha256: content_hash(state),
            version,
        };
        let file = self.file(&id);
        write_snapshot(&self.inner.dir, &file, &header, state).map_err(|source| {
            SnapshotStoreError::Io {
                what: format!("cannot write {}", file.display()),
                source,
            }
        })?;
        let meta = SnapshotMeta::of(id, header);
        self.prune(path)?;
        Ok(meta)
    }

    /// Removes the oldest snapshots of `path` past the retention.
    fn prune(&self, path: &str) -> Result<(), SnapshotStoreError> {
        let mine = self.list(Some(path))?;
        let extra = mine.len().saturating_sub(self.inner.keep_per_child);
        for old in &mine[..extra] {
            let file = self.file(&old.id);
            std::fs::remove_file(&file).map_err(|source| SnapshotStoreError::Io {
                what: format!("cannot remove {}", file.display()),
                source,
            })?;
            tracing::debug!(id = %old.id, path, "snapshot past retention removed");
        }
        Ok(())
    }

    /// The stored snapshots, oldest first; only those of the child at
    /// `path` when given. A file that is not a snapshot is left out (and
    /// logged), never fatal to the listing.
    pub fn list(&self, path: Option<&str>) -> Result<Vec<SnapshotMeta>, SnapshotStoreError> {
        let entries = match std::fs::read_dir(&self.inner.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SnapshotStoreError::Io {
                    what: format!("cannot read {}", self.inner.dir.display()),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".snap")) else {
                continue;
            };
            if validate_id(id).is_err() {
                continue;
            }
            match read_header(&entry.path()) {
                Ok(header) if path.is_none_or(|p| p == header.child) => {
                    out.push(SnapshotMeta::of(id.to_string(), header));
                }
                Ok(_) => {}
                Err(reason) => {
                    tracing::warn!(file = %entry.path().display(), %reason, "not a snapshot; left out of the listing");
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The snapshot `id`: what is kept about it and its state, checked
    /// against its SHA-256.
    pub fn get(&self, id: &str) -> Result<(SnapshotMeta, Vec<u8>), SnapshotStoreError> {
        let file = self.existing(id)?;
        let corrupt = |reason: String| SnapshotStoreError::Corrupt {
            id: id.to_string(),
            reason,
        };
        let size = std::fs::metadata(&file)
            .map_err(|e| self.io_or_missing(id, &file, e))?
            .len();
        if size > MAX_STATE_BYTES {
            return Err(corrupt(format!(
                "{size} bytes, more than any child could hold"
            )));
        }
        let bytes = std::fs::read(&file).map_err(|e| self.io_or_missing(id, &file, e))?;
        let snapshot = parse_snapshot(&bytes).map_err(corrupt)?;
        Ok((
            SnapshotMeta::of(id.to_string(), snapshot.header),
            snapshot.state,
        ))
    }

    /// The header of snapshot `id` and its file, for reading the state
    /// as a stream (`GET /snapshots/{id}`): the state is the file's bytes
    /// after the header's two lines.
    pub fn open(&self, id: &str) -> Result<(SnapshotMeta, PathBuf), SnapshotStoreError> {
        let file = self.existing(id)?;
        let header = read_header(&file).map_err(|reason| SnapshotStoreError::Corrupt {
            id: id.to_string(),
            reason,
        })?;
        Ok((SnapshotMeta::of(id.to_string(), header), file))
    }

    /// Removes snapshot `id`.
    pub fn delete(&self, id: &str) -> Result<SnapshotMeta, SnapshotStoreError> {
        let (meta, file) = self.open(id)?;
        std::fs::remove_file(&file).map_err(|e| self.io_or_missing(id, &file, e))?;
        Ok(meta)
    }

    /// The file of `id`, which must be valid and stored.
    fn existing(&self, id: &str) -> Result<PathBuf, SnapshotStoreError> {
        validate_id(id)?;
        let file = self.file(id);
        if file.is_file() {
            Ok(file)
        } else {
            Err(SnapshotStoreError::NotFound { id: id.to_string() })
        }
    }

    fn io_or_missing(&self, id: &str, file: &Path, source: std::io::Error) -> SnapshotStoreError {
        if source.kind() == std::io::ErrorKind::NotFound {
            SnapshotStoreError::NotFound { id: id.to_string() }
        } else {
            SnapshotStoreError::Io {
                what: format!("cannot read {}", file.display()),
                source,
            }
        }
    }
}

/// The length of the header lines before the state in a snapshot file of
/// `size` bytes whose state is `state_bytes` long.
pub fn state_offset(size: u64, state_bytes: u64) -> u64 {
    size.saturating_sub(state_bytes)
}

/// What a snapshot of the component child at `path` records of its code
/// now: the content hash of the component it runs (empty when no
/// component child has the path) and its reload version.
pub fn running_code(
    programs: &ProgramTable,
    reloader: &Reloader,
    path: &str,
) -> (Option<String>, Option<u64>) {
    let hash = programs.running_hash(path);
    let version = reloader.versions(path).ok().map(|v| v.current);
    (hash, version)
}

/// The stored snapshots as the API's raw routes see them: the store, and
/// what tells the code a component child runs (for a state uploaded to
/// it).
#[derive(Clone)]
pub struct SnapshotRoutes {
    store: SnapshotStore,
    programs: ProgramTable,
    reloader: Reloader,
    max_upload_bytes: u64,
}

impl SnapshotRoutes {
    /// The routes over `store`; uploads up to `max_upload_bytes`.
    pub fn new(
        store: SnapshotStore,
        programs: ProgramTable,
        reloader: Reloader,
        max_upload_bytes: u64,
    ) -> Self {
        Self {
            store,
            programs,
            reloader,
            max_upload_bytes,
        }
    }
}

/// `GET /snapshots/{id}`: the file opened at the state's first byte. The
/// state is streamed as it is read, so it is not checked against its
/// SHA-256 first (that would read it twice); the SHA-256 goes out as the
/// `ETag` for the client to check.
///
/// `POST /snapshots?path=CHILD`: the state stored as a snapshot of the
/// component child, with the hash and version of what it runs now (so
/// `snapshot.list` shows it beside the ones `child.snapshot` takes). It is
/// not checked here: the child's `restore` export checks it when
/// `child.restore {snapshot}` puts it back, as with a base64 state.
impl crate::api::SnapshotFiles for SnapshotRoutes {
    fn open(&self, id: &str) -> crate::api::SnapshotFuture<'_, crate::api::RawState> {
        let store = self.store.clone();
        let id = id.to_string();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || open_state(&store, &id)).await {
                Ok(opened) => opened,
                Err(e) => Err(crate::api::SnapshotFileError::Failed(format!(
                    "the snapshot store task failed: {e}"
                ))),
            }
        })
    }

    fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    fn store(&self, path: &str, state: crate::api::Bytes) -> crate::api::SnapshotFuture<'_, Value> {
        use crate::api::SnapshotFileError as E;
        let path = path.trim_end_matches('/').to_string();
        let (hash, version) = running_code(&self.programs, &self.reloader, &path);
        let store = self.store.clone();
        Box::pin(async move {
            let Some(hash) = hash else {
                return Err(E::NotFound(format!(
                    "no component child has the path `{}` (only a component child keeps a state)",
                    path.chars().take(200).collect::<String>()
                )));
            };
            let saved =
                tokio::task::spawn_blocking(move || store.save(&path, &hash, version, &state))
                    .await
                    .map_err(|e| E::Failed(format!("the snapshot store task failed: {e}")))?;
            let meta = saved.map_err(|e| E::Failed(e.to_string()))?;
            serde_json::to_value(meta).map_err(|e| E::Failed(e.to_string()))
        })
    }
}

/// Snapshot `id`'s file, positioned at its state. Blocking.
fn open_state(
    store: &SnapshotStore,
    id: &str,
) -> Result<crate::api::RawState, crate::api::SnapshotFileError> {
    use crate::api::SnapshotFileError as E;
    use std::io::{Seek as _, SeekFrom};
    let (meta, path) = store.open(id).map_err(|e| match e {
        SnapshotStoreError::InvalidId { .. } => E::InvalidId(e.to_string()),
        SnapshotStoreError::NotFound { .. } => E::NotFound(e.to_string()),
        _ => E::Failed(e.to_string()),
    })?;
    let failed = |e: std::io::Error| E::Failed(format!("cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(&path).map_err(failed)?;
    let len = file.metadata().map_err(failed)?.len();
    if meta.size > len {
        return Err(E::Failed(format!(
            "snapshot `{id}` is cut short: its header says {} bytes, the file has {len}",
            meta.size
        )));
    }
    file.seek(SeekFrom::Start(state_offset(len, meta.size)))
        .map_err(failed)?;
    Ok(crate::api::RawState {
        file,
        size: meta.size,
        sha256: meta.sha256,
    })
}

/// A state as people read it: the SDK's envelope
/// (`{"schema": N, "state": …}`) as `{"format": "json", "schema", "state"}`,
/// anything else as `{"format": "base64", "state": "<base64>"}`.
pub fn decode(state: &[u8]) -> Value {
    if let Ok(Value::Object(envelope)) = serde_json::from_slice::<Value>(state)
        && envelope.len() == 2
        && envelope.get("schema").is_some_and(Value::is_u64)
        && let Some(inner) = envelope.get("state")
    {
        return json!({"format": "json", "schema": envelope["schema"], "state": inner});
    }
    use base64::Engine as _;
    json!({
        "format": "base64",
        "state": base64::engine::general_purpose::STANDARD.encode(state),
    })
}

/// One difference between two JSON states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub op: &'static str,
    /// A JSON pointer (RFC 6901) into the state.
    pub path: String,
    /// The value in the first state (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// The value in the second state (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// The difference of two decoded states (as [`decode`] gives them):
/// `{"format", "equal", "changes"}`. JSON states are compared key by key
/// and index by index, each change at its JSON pointer (a different
/// envelope schema is a change at `/schema`, the state's own at
/// `/state/…`); when either is bytes, they are only equal or not.
pub fn diff(a: &Value, b: &Value) -> Value {
    let json_states = a["format"] == "json" && b["format"] == "json";
    if !json_states {
        return json!({"format": "base64", "equal": a["state"] == b["state"], "changes": []});
    }
    let mut changes = Vec::new();
    if a["schema"] != b["schema"] {
        changes.push(Change {
            op: "changed",
            path: "/schema".into(),
            from: Some(a["schema"].clone()),
            to: Some(b["schema"].clone()),
        });
    }
    walk(&a["state"], &b["state"], "/state", &mut changes);
    json!({"format": "json", "equal": changes.is_empty(), "changes": changes})
}

fn walk(a: &Value, b: &Value, at: &str, out: &mut Vec<Change>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, va) in x {
                let here = format!("{at}/{}", escape(key));
                match y.get(key) {
                    Some(vb) => walk(va, vb, &here, out),
                    None => out.push(Change {
                        op: "removed",
                        path: here,
                        from: Some(va.clone()),
                        to: None,
                    }),
                }
            }
            for (key, vb) in y {
                if !x.contains_key(key) {
                    out.push(Change {
                        op: "added",
                        path: format!("{at}/{}", escape(key)),
                        from: None,
                        to: Some(vb.clone()),
                    });
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let here = format!("{at}/{i}");
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => walk(va, vb, &here, out),
                    (Some(va), None) => out.push(Change {
                        op: "removed",
                        path: here,
                        from: Some(va.clone()),
                        to: None,
                    }),
                    (None, Some(vb)) => out.push(Change {
                        op: "added",
                        path: here,
                        from: None,
                        to: Some(vb.clone()),
                    }),
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(Change {
            op: "changed",
            path: at.to_string(),
            from: Some(a.clone()),
            to: Some(b.clone()),
        }),
        _ => {}
    }
}

/// A key as a JSON-pointer token (RFC 6901: `~` → `~0`, `/` → `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated_before_they_name_files() {
        validate_id("1764902400000-0000").unwrap();
        for bad in [
            "",
            "../../etc/passwd",
            "1764902400000-000",
            "1764902400000_0000",
            "1764902400000-00000",
            "176490240000a-0000",
            "1764902400000-0000/..",
            "../1764902400-0000",
        ] {
            assert!(
                matches!(validate_id(bad), Err(SnapshotStoreError::InvalidId { .. })),
                "{bad}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path(), 5);
        assert!(matches!(
            store.get("../x"),
            Err(SnapshotStoreError::InvalidId { .. })
        ));
        assert!(matches!(
            store.get("1764902400000-0000"),
            Err(SnapshotStoreError::NotFound { .. })
        ));
    }

    #[test]
    fn a_stored_snapshot_reads_back_from_a_new_store_on_the_same_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path(), 5);
        let state = br#"{"schema":1,"state":{"count":3}}"#;
        let meta = store.save("root/counter", "abc", Some(2), state).unwrap();
        validate_id(&meta.id).unwrap();
        assert_eq!(meta.size, state.len() as u64);
        assert_eq!(meta.version, Some(2));
        let again = SnapshotStore::new(dir.path(), 5);
        let (read, bytes) = again.get(&meta.id).unwrap();
        assert_eq!(read, meta);
        assert_eq!(bytes, state);
        assert_eq!(again.list(None).unwrap(), vec![meta.clone()]);
        let (_, file) = again.open(&meta.id).unwrap();
        let size = std::fs::metadata(&file).unwrap().len();
        let whole = std::fs::read(&file).unwrap();
        assert_eq!(
            &whole[state_offset(size, meta.size) as usize..],
            state.as_slice()
        );
        again.delete(&meta.id).unwrap();
        assert!(matches!(
            again.get(&meta.id),
            Err(SnapshotStoreError::NotFound { .. })
        ));
    }

    #[test]
    fn retention_removes_the_oldest_of_the_same_child_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path(), 3);
        let other = store.save("root/kv", "h", None, b"kv").unwrap();
        let ids: Vec<String> = (0..5)
            .map(|i| {
                store
                    .save("root/counter", "h", None, format!("{i}").as_bytes())
                    .unwrap()
                    .id
            })
            .collect();
        let kept: Vec<String> = store
            .list(Some("root/counter"))
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(kept, ids[2..].to_vec());
        assert_eq!(store.list(Some("root/kv")).unwrap(), vec![other]);
        assert_eq!(store.list(None).unwrap().len(), 4);
    }

    #[test]
    fn a_tampered_snapshot_is_refused_not_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path(), 3);
        let meta = store.save("root/counter", "h", None, b"12345").unwrap();
        let (_, file) = store.open(&meta.id).unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] = b'9';
        std::fs::write(&file, bytes).unwrap();
        assert!(matches!(
            store.get(&meta.id),
            Err(SnapshotStoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn states_decode_as_the_sdk_envelope_or_base64() {
        assert_eq!(
            decode(br#"{"schema":1,"state":{"count":3}}"#),
            json!({"format": "json", "schema": 1, "state": {"count": 3}})
        );
        assert_eq!(
            decode(b"\x00\x01"),
            json!({"format": "base64", "state": "AAE="})
        );
        assert_eq!(decode(br#"{"count":3}"#)["format"], "base64");
    }

    #[test]
    fn diffs_name_each_change_by_json_pointer() {
        let a = decode(br#"{"schema":1,"state":{"count":3,"gone":true,"a/b":[1,2],"same":"x"}}"#);
        let b = decode(br#"{"schema":2,"state":{"count":4,"new":null,"a/b":[1],"same":"x"}}"#);
        let d = diff(&a, &b);
        assert_eq!(d["equal"], false);
        let changes = d["changes"].as_array().unwrap();
        let find = |path: &str| {
            changes
                .iter()
                .find(|c| c["path"] == path)
                .unwrap_or_else(|| panic!("no change at {path}: {d}"))
                .clone()
        };
        assert_eq!(find("/schema")["op"], "changed");
        assert_eq!(
            find("/state/count"),
            json!({"op": "changed", "path": "/state/count", "from": 3, "to": 4})
        );
        assert_eq!(find("/state/gone")["op"], "removed");
        assert_eq!(find("/state/new")["op"], "added");
        assert_eq!(find("/state/a~1b/1")["op"], "removed");
        assert_eq!(changes.len(), 5, "{d}");
        assert_eq!(
            diff(&a, &a),
            json!({"format": "json", "equal": true, "changes": []})
        );
        let x = decode(b"\x00");
        assert_eq!(diff(&x, &x)["equal"], true);
        assert_eq!(diff(&x, &decode(b"\x01"))["equal"], false);
        assert_eq!(diff(&x, &a)["format"], "base64");
    }
}
