//! The component store: component bytes that came in over the wire, kept
//! under the state dir and named by their content.
//!
//! A component's id is the SHA-256 of its bytes in 64 lowercase hex
//! digits ([`content_hash`], the same identity the compile cache and the
//! reload history use), and its file is `<state_dir>/components/<id>.wasm`.
//! Storing the same bytes twice stores them once; an id can never name two
//! different contents, so whoever holds an id holds exactly the code it
//! was given.
//!
//! The store also knows who uses a component: a sandbox started from it,
//! an operation running it. Each takes a [`Lease`] (released when dropped)
//! and [`ComponentStore::remove`] refuses a component with a lease, naming
//! the users. Leases live in memory: they describe what the running host
//! is doing, and a restarted host starts with none.
//!
//! What it owns: the directory, atomic writes (a temporary file renamed
//! into place, so a crash mid-upload never leaves a half component under
//! an id), the size limit, id syntax (anything but 64 lowercase hex digits
//! is refused before it reaches a file name), and the leases. It never
//! compiles or checks that bytes are a component: the caller does that,
//! through the bounded compile path, before calling [`ComponentStore::put`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use crate::component::{content_hash, read_component_file};

/// By default the store refuses components above 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// A component's id in the store: 64 lowercase hex digits (SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId(String);

impl ComponentId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(content_hash(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ComponentId {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        let is_id = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if is_id {
            Ok(Self(text.to_string()))
        } else {
            Err(StoreError::InvalidId {
                id: text.chars().take(80).collect(),
            })
        }
    }
}

/// Why the store refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{id}` is not a component id (64 lowercase hex digits: the SHA-256 of its bytes)")]
    InvalidId { id: String },
    #[error("no component `{id}` in the store")]
    NotFound { id: ComponentId },
    #[error("the component is {actual} bytes; the store takes at most {limit}")]
    TooLarge { limit: u64, actual: u64 },
    #[error("component `{id}` is in use by {}", users.join(", "))]
    InUse { id: ComponentId, users: Vec<String> },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One component in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredComponent {
    pub id: ComponentId,
    /// Its size in bytes.
    pub size: u64,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub stored_at_ms: u64,
    /// Its file.
    #[serde(skip)]
    pub path: PathBuf,
}

impl serde::Serialize for ComponentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// What [`ComponentStore::put`] did.
#[derive(Debug, Clone)]
pub struct Put {
    pub component: StoredComponent,
    /// `false` when the same bytes were already stored.
    pub created: bool,
}

/// The store. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ComponentStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    /// Users of each leased component: user name → number of leases.
    /// Also the lock that makes "lease" and "remove" exclude each other.
    users: Mutex<HashMap<ComponentId, BTreeMap<String, usize>>>,
}

impl ComponentStore {
    /// Opens (creating it, private to this user) the store in `dir`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::io(dir, e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                max_bytes,
                users: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The largest component it takes, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    /// The directory it keeps its files in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Refuses `size` bytes when they exceed the limit; callers reading a
    /// body call it first, to stop reading early.
    pub fn check_size(&self, size: u64) -> Result<(), StoreError> {
        if size > self.inner.max_bytes {
            Err(StoreError::TooLarge {
                limit: self.inner.max_bytes,
                actual: size,
            })
        } else {
            Ok(())
        }
    }

    /// Stores `bytes` (already checked to be a component) under their id.
    pub fn put(&self, bytes: &[u8]) -> Result<Put, StoreError> {
        self.check_size(bytes.len() as u64)?;
        let id = ComponentId::of(bytes);
        let path = self.file_of(&id);
        // Under the lock, so a `remove` of the same id cannot interleave
        // between "it exists" and the caller's lease.
        let _users = self.lock();
        if let Ok(existing) = self.describe(&id) {
            return Ok(Put {
                component: existing,
                created: false,
            });
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(&self.inner.dir)
            .map_err(|e| StoreError::io(&self.inner.dir, e))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io(&path, e.error))?;
        Ok(Put {
            component: self.describe(&id)?,
            created: true,
        })
    }

    /// The component `id`.
    pub fn get(&self, id: &ComponentId) -> Result<StoredComponent, StoreError> {
        self.describe(id)
    }

    /// Its bytes (refusing a file that grew past the limit or was replaced
    /// by anything but a regular file).
    pub fn read(&self, id: &ComponentId) -> Result<Vec<u8>, StoreError> {
        let component = self.describe(id)?;
        read_component_file(&component.path, self.inner.max_bytes).map_err(|e| StoreError::Io {
            path: component.path,
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Every stored component, oldest first.
    pub fn list(&self) -> Result<Vec<StoredComponent>, StoreError> {
        let entries =
            std::fs::read_dir(&self.inner.dir).map_err(|e| StoreError::io(&self.inner.dir, e))?;
        let mut components = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&self.inner.dir, e))?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".wasm"))
                .and_then(|n| n.parse::<ComponentId>().ok())
            else {
                // Temporary files of uploads in flight, anything else.
                continue;
            };
            if let Ok(component) = self.describe(&id) {
                components.push(component);
            }
        }
        components.sort_by(|a, b| (a.stored_at_ms, &a.id).cmp(&(b.stored_at_ms, &b.id)));
        Ok(components)
    }

    /// A lease on `id` for `user` (a sandbox's path, an operation's name):
    /// while it is held, [`Self::remove`] refuses the component.
    pub fn lease(&self, id: &ComponentId, user: impl Into<String>) -> Result<Lease, StoreError> {
        let mut users = self.lock();
        self.describe(id)?;
        let user = user.into();
        *users
            .entry(id.clone())
            .or_default()
            .entry(user.clone())
            .or_insert(0) += 1;
        Ok(Lease {
            store: self.clone(),
            id: id.clone(),
            user,
        })
    }

    /// Who holds leases on `id`, sorted.
    pub fn users(&self, id: &ComponentId) -> Vec<String> {
        self.lock()
            .get(id)
            .map(|users| users.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The number of leases held on every component together.
    pub fn lease_count(&self) -> usize {
        self.lock().values().flat_map(|u| u.values()).sum()
    }

    /// Deletes `id`, unless someone holds a lease on it.
    pub fn remove(&self, id: &ComponentId) -> Result<(), StoreError> {
        let users = self.lock();
        let component = self.describe(id)?;
        if let Some(holders) = users.get(id).filter(|u| !u.is_empty()) {
            return Err(StoreError::InUse {
                id: id.clone(),
                users: holders.keys().cloned().collect(),
            });
        }
        std::fs::remove_file(&component.path).map_err(|e| StoreError::io(&component.path, e))
    }

    fn file_of(&self, id: &ComponentId) -> PathBuf {
        self.inner.dir.join(format!("{id}.wasm"))
    }

    fn describe(&self, id: &ComponentId) -> Result<StoredComponent, StoreError> {
        let path = self.file_of(id);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return Err(StoreError::NotFound { id: id.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound { id: id.clone() });
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let stored_at_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        Ok(StoredComponent {
            id: id.clone(),
            size: meta.len(),
            stored_at_ms,
            path,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ComponentId, BTreeMap<String, usize>>> {
        // The map stays consistent whatever panicked while holding it:
        // every update is one insert or one decrement.
        self.inner.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, id: &ComponentId, user: &str) {
        let mut users = self.lock();
        if let Some(holders) = users.get_mut(id) {
            if let Some(count) = holders.get_mut(user) {
                *count -= 1;
                if *count == 0 {
                    holders.remove(user);
                }
            }
            if holders.is_empty() {
                users.remove(id);
            }
        }
    }
}

/// A use of a stored component; released when dropped.
pub struct Lease {
    store: ComponentStore,
    id: ComponentId,
    user: String,
}

impl Lease {
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    pub fn user(&self) -> &str {
        &self.user
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({} by {})", self.id, self.user)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.store.release(&self.id, &self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max: u64) -> (tempfile::TempDir, ComponentStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ComponentStore::open(&dir.path().join("components"), max).unwrap();
        (dir, store)
    }

    #[test]
    fn the_same_bytes_are_stored_once_under_their_sha256() {
        let (_dir, store) = store(1024);
        let first = store.put(b"\0asm component one").unwrap();
        assert!(first.created);
        assert_eq!(first.component.id, ComponentId::of(b"\0asm component one"));
        assert_eq!(first.component.size, 18);
        // The id is plain SHA-256, checked against its published test vector.
        assert_eq!(
            ComponentId::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let again = store.put(b"\0asm component one").unwrap();
        assert!(!again.created);
        assert_eq!(again.component.id, first.component.id);
        assert_eq!(
            store.read(&first.component.id).unwrap(),
            b"\0asm component one"
        );
        let other = store.put(b"\0asm component two").unwrap();
        let ids: Vec<_> = store.list().unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&first.component.id) && ids.contains(&other.component.id));
    }

    #[test]
    fn an_id_is_64_lowercase_hex_digits_and_nothing_else() {
        let good = "a".repeat(64);
        assert!(good.parse::<ComponentId>().is_ok());
        for bad in [
            "",
            "../../etc/passwd",
            &"A".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
            &format!("{}/", "a".repeat(63)),
        ] {
            assert!(
                matches!(
                    bad.parse::<ComponentId>(),
                    Err(StoreError::InvalidId { .. })
                ),
                "{bad:?} was taken as an id"
            );
        }
    }

    #[test]
    fn a_component_above_the_limit_is_refused_and_nothing_is_written() {
        let (_dir, store) = store(8);
        let err = store.put(b"123456789").unwrap_err();
        assert!(matches!(
            err,
            StoreError::TooLarge {
                limit: 8,
                actual: 9
            }
        ));
        assert!(store.list().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_leased_component_cannot_be_removed_until_every_lease_is_dropped() {
        let (_dir, store) = store(1024);
        let id = store.put(b"bytes").unwrap().component.id;
        let a = store.lease(&id, "root/sandboxes/a").unwrap();
        let b = store.lease(&id, "component.call").unwrap();
        let b2 = store.lease(&id, "component.call").unwrap();
        assert_eq!(store.lease_count(), 3);
        match store.remove(&id).unwrap_err() {
            StoreError::InUse { users, .. } => {
                assert_eq!(users, ["component.call", "root/sandboxes/a"])
            }
            other => panic!("{other}"),
        }
        drop(a);
        drop(b);
        assert_eq!(store.users(&id), ["component.call"]);
        assert!(store.remove(&id).is_err());
        drop(b2);
        assert_eq!(store.lease_count(), 0);
        store.remove(&id).unwrap();
        assert!(matches!(store.get(&id), Err(StoreError::NotFound { .. })));
        assert!(matches!(
            store.lease(&id, "late"),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.lease_count(), 0);
    }
}
