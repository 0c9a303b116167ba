//! The on-disk compile cache.
//!
//! Compiled components are stored as `<root>/<engine-id>/<content-hash>.cwasm`.
//! The engine id is derived from `Engine::precompile_compatibility_hash`,
//! so artifacts from another wasmtime version or another engine config are
//! never even looked at. Artifacts are written atomically (temp file and
//! rename), and only ever read from this directory: `Component::deserialize`
//! trusts its input, so the cache must hold nothing the host did not write.
//!
//! Guarantees:
//! - before any artifact is loaded (or a new one placed), the root and the
//!   engine's directory are checked to be owned by the user running Warden
//!   and not writable by group or others, and the artifact file too; a
//!   directory that fails the check is refused with
//!   [`ComponentError::UnsafeCache`], never used. Directories Warden
//!   creates are `0700`;
//! - the whole root (every engine's directory) stays under a byte budget:
//!   after each store the least recently used artifacts are deleted, except
//!   those the caller says are in use. A load marks its artifact used (its
//!   modification time). Deleting an artifact that is mapped is harmless:
//!   the mapping keeps its pages until the last `Component` using them is
//!   dropped, and a later load compiles it again.
//!
//! Must never: follow a cache path the checks refused, or fail a compile
//! because the cache could not be written (that only costs time).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::ComponentError;

/// The file name extension of artifacts.
const EXTENSION: &str = "cwasm";

/// The directory name of an engine's artifacts: a digest of its
/// compatibility hash.
pub(crate) fn engine_id(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    root: PathBuf,
    dir: PathBuf,
    /// Bytes all engines' artifacts under `root` may take together.
    budget: u64,
}

impl CompileCache {
    /// The cache for `engine` under `root` (created on first store), kept
    /// under `budget` bytes.
    pub fn new(root: &Path, engine: &Engine, budget: u64) -> Self {
        Self {
            root: root.to_path_buf(),
            dir: root.join(engine_id(engine)),
            budget,
        }
    }

    fn path_for(&self, content_hash: &str) -> PathBuf {
        self.dir.join(format!("{content_hash}.{EXTENSION}"))
    }

    /// Loads a previously stored artifact: `Ok(None)` when there is none or
    /// it cannot be used (it is then removed so the next store replaces
    /// it), an error when the cache directory is not safe to load from.
    // `unsafe` is allowed here only: see the SAFETY note on
    // `deserialize_file` below.
    #[allow(unsafe_code)]
    pub fn load(
        &self,
        engine: &Engine,
        content_hash: &str,
    ) -> Result<Option<Component>, ComponentError> {
        let path = self.path_for(content_hash);
        if !path.exists() {
            return Ok(None);
        }
        self.check_dirs()?;
        check_private(&path, false).map_err(|reason| ComponentError::UnsafeCache {
            dir: self.dir.clone(),
            reason,
        })?;
        // SAFETY: the file lives in the host's own cache directory, keyed by
        // the engine's compatibility hash, and was placed there by
        // `adopt` (from a compile child of this same binary) or `store`
        // (from `Component::serialize`); the checks above make sure no
        // other user can have written it or the directories holding it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                touch(&path);
                Ok(Some(component))
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "discarding unusable compile-cache entry");
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
        }
    }

    /// The engine's directory, created `0700` if missing and checked: where
    /// a compile child may write an artifact that [`Self::adopt`] takes in.
    pub(crate) fn private_dir(&self) -> Result<&Path, ComponentError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| ComponentError::Io {
                path: self.dir.clone(),
                source,
            })?;
        self.check_dirs()?;
        Ok(&self.dir)
    }

    /// Moves a finished artifact (a temp file in [`Self::private_dir`]) to
    /// its place, then enforces the budget. Returns its final path.
    pub(crate) fn adopt(
        &self,
        artifact: tempfile::NamedTempFile,
        content_hash: &str,
        in_use: &HashSet<String>,
    ) -> Result<PathBuf, ComponentError> {
        let path = self.path_for(content_hash);
        artifact.persist(&path).map_err(|e| ComponentError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        self.evict(in_use, content_hash);
        Ok(path)
    }

    /// Stores a component compiled in this process. Failures are logged,
    /// never fatal: the cache only saves time.
    pub fn store(&self, content_hash: &str, component: &Component, in_use: &HashSet<String>) {
        if let Err(err) = self.try_store(content_hash, component) {
            tracing::warn!(dir = %self.dir.display(), error = %err, "could not write compile cache");
            return;
        }
        self.evict(in_use, content_hash);
    }

    fn try_store(&self, content_hash: &str, component: &Component) -> Result<(), ComponentError> {
        let bytes = component
            .serialize()
            .map_err(|e| ComponentError::Compiler {
                reason: format!("cannot serialize: {e}"),
            })?;
        let dir = self.private_dir()?;
        let io = |source| ComponentError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(io)?;
        tmp.persist(self.path_for(content_hash))
            .map_err(|e| io(e.error))?;
        Ok(())
    }

    fn check_dirs(&self) -> Result<(), ComponentError> {
        for dir in [&self.root, &self.dir] {
            check_private(dir, true).map_err(|reason| ComponentError::UnsafeCache {
                dir: dir.clone(),
                reason,
            })?;
        }
        Ok(())
    }

    /// Deletes least recently used artifacts (any engine's) until the root
    /// holds at most the budget, sparing `in_use` and `keep` (the one just
    /// stored: a budget smaller than one artifact still caches the last).
    fn evict(&self, in_use: &HashSet<String>, keep: &str) {
        let mut entries = artifacts(&self.root);
        let mut total: u64 = entries.iter().map(|a| a.bytes).sum();
        if total <= self.budget {
            return;
        }
        entries.sort_by_key(|a| a.used);
        for artifact in entries {
            if total <= self.budget {
                break;
            }
            if artifact.hash == keep || in_use.contains(&artifact.hash) {
                continue;
            }
            match std::fs::remove_file(&artifact.path) {
                Ok(()) => {
                    total = total.saturating_sub(artifact.bytes);
                    tracing::debug!(path = %artifact.path.display(), bytes = artifact.bytes, "evicted from the compile cache");
                }
                Err(err) => {
                    tracing::debug!(path = %artifact.path.display(), error = %err, "cannot evict from the compile cache");
                }
            }
        }
    }
}

/// One artifact on disk.
struct Artifact {
    path: PathBuf,
    /// Its engine's directory name.
    engine: String,
    hash: String,
    bytes: u64,
    used: SystemTime,
}

/// What a compile cache directory holds (`warden cache du`), or what
/// cleaning it removed (`warden cache clean`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheUsage {
    /// The cache's root directory.
    pub dir: PathBuf,
    /// Compiled components, all engines together.
    pub artifacts: u64,
    /// Their size on disk, in bytes.
    pub bytes: u64,
    /// The same per engine configuration (a wasmtime version and its
    /// settings), in engine id order.
    pub engines: Vec<EngineUsage>,
}

/// The artifacts of one engine configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineUsage {
    /// The engine's directory name: a digest of its compatibility hash.
    pub engine: String,
    /// Compiled components.
    pub artifacts: u64,
    /// Their size on disk, in bytes.
    pub bytes: u64,
}

impl CacheUsage {
    fn of(root: &Path, artifacts: &[Artifact]) -> Self {
        let mut usage = CacheUsage {
            dir: root.to_path_buf(),
            ..CacheUsage::default()
        };
        for artifact in artifacts {
            usage.artifacts += 1;
            usage.bytes += artifact.bytes;
            match usage
                .engines
                .iter_mut()
                .find(|e| e.engine == artifact.engine)
            {
                Some(engine) => {
                    engine.artifacts += 1;
                    engine.bytes += artifact.bytes;
                }
                None => usage.engines.push(EngineUsage {
                    engine: artifact.engine.clone(),
                    artifacts: 1,
                    bytes: artifact.bytes,
                }),
            }
        }
        usage.engines.sort_by(|a, b| a.engine.cmp(&b.engine));
        usage
    }
}

/// What the compile cache at `root` holds; an empty usage when there is no
/// such directory. Reads only: never loads or changes an artifact.
pub fn cache_usage(root: &Path) -> CacheUsage {
    CacheUsage::of(root, &artifacts(root))
}

/// Removes every compiled component under `root` (any engine's), and the
/// engine directories left empty; what was removed. It removes nothing but
/// artifacts this cache writes (`<engine>/<hash>.cwasm` regular files, not
/// through links), so a wrong `root` loses no other file. A running host
/// keeps the code it mapped and compiles again when it next needs it.
pub fn clean_cache(root: &Path) -> Result<CacheUsage, ComponentError> {
    let found = artifacts(root);
    let mut removed = Vec::with_capacity(found.len());
    let mut first_failure = None;
    for artifact in found {
        match std::fs::remove_file(&artifact.path) {
            Ok(()) => removed.push(artifact),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            // Every artifact is tried; the first failure is the error, the
            // others are logged.
            Err(err) if first_failure.is_none() => first_failure = Some((artifact.path, err)),
            Err(err) => {
                tracing::warn!(path = %artifact.path.display(), error = %err, "cannot remove from the compile cache");
            }
        }
    }
    let usage = CacheUsage::of(root, &removed);
    for engine in &usage.engines {
        // Fails, harmlessly, when something else is in it.
        let _ = std::fs::remove_dir(root.join(&engine.engine));
    }
    match first_failure {
        None => Ok(usage),
        Some((path, source)) => Err(ComponentError::Io { path, source }),
    }
}

/// Every artifact under `root` (every engine's directory): regular
/// `*.cwasm` files in real directories, never through a link.
fn artifacts(root: &Path) -> Vec<Artifact> {
    let mut found = Vec::new();
    let Ok(engines) = std::fs::read_dir(root) else {
        return found;
    };
    for engine in engines.flatten() {
        if !engine.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(engine.path()) else {
            continue;
        };
        let engine_id = engine.file_name().to_string_lossy().into_owned();
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != EXTENSION)
                || !file.file_type().is_ok_and(|t| t.is_file())
            {
                continue;
            }
            let (Some(hash), Ok(meta)) = (path.file_stem(), file.metadata()) else {
                continue;
            };
            found.push(Artifact {
                engine: engine_id.clone(),
                hash: hash.to_string_lossy().into_owned(),
                bytes: meta.len(),
                used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path,
            });
        }
    }
    found
}

/// Marks an artifact as just used (the LRU order of [`CompileCache::evict`]).
fn touch(path: &Path) {
    let marked = std::fs::File::open(path).and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(err) = marked {
        tracing::debug!(path = %path.display(), error = %err, "cannot mark compile-cache entry as used");
    }
}

/// Owned by the effective user and not writable by group or others (and a
/// directory, or a regular file, as `dir` says).
fn check_private(path: &Path, dir: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if dir && !meta.is_dir() {
        return Err("not a directory".into());
    }
    if !dir && !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "{} is owned by uid {}, not by the user running Warden (uid {me})",
            path.display(),
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "{} is writable by {} (mode {:o}); run `chmod go-w` on it",
            path.display(),
            if mode & 0o002 != 0 {
                "anyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(engine: &Engine, n: u32) -> Component {
        let wat =
            format!("(component (core module (func (export \"f\") (result i32) i32.const {n})))");
        Component::new(engine, wat).unwrap()
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn usage_counts_artifacts_and_cleaning_removes_only_them() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(root.path(), &engine, u64::MAX);
        assert_eq!(cache_usage(root.path()).artifacts, 0, "nothing yet");
        cache.store("a", &component(&engine, 1), &HashSet::new());
        cache.store("b", &component(&engine, 2), &HashSet::new());
        let sizes: u64 = ["a", "b"]
            .iter()
            .map(|h| std::fs::metadata(cache.path_for(h)).unwrap().len())
            .sum();
        // What is not an artifact stays: a file of another name beside
        // them, and artifacts reached only through a link.
        std::fs::write(cache.dir.join("notes.txt"), "mine").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("x.cwasm"), "not ours").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join("linked")).unwrap();

        let usage = cache_usage(root.path());
        assert_eq!((usage.artifacts, usage.bytes), (2, sizes), "{usage:?}");
        assert_eq!(usage.engines.len(), 1, "{usage:?}");
        assert_eq!(usage.engines[0].engine, engine_id(&engine));

        let removed = clean_cache(root.path()).unwrap();
        assert_eq!((removed.artifacts, removed.bytes), (2, sizes));
        assert_eq!(cache_usage(root.path()).artifacts, 0);
        assert!(cache.dir.join("notes.txt").exists());
        assert!(elsewhere.path().join("x.cwasm").exists());
        // Cleaning an empty (or missing) cache removes nothing, without error.
        assert_eq!(clean_cache(root.path()).unwrap().artifacts, 0);
        assert_eq!(
            clean_cache(&root.path().join("missing")).unwrap().artifacts,
            0
        );
    }

    #[test]
    fn a_stored_artifact_loads_back() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(root.path(), &engine, u64::MAX);
        assert!(cache.load(&engine, "h").unwrap().is_none());
        cache.store("h", &component(&engine, 1), &HashSet::new());
        assert!(cache.load(&engine, "h").unwrap().is_some());
        let mode = std::fs::metadata(&cache.dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }

    #[test]
    fn a_cache_dir_others_can_write_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(root.path(), &engine, u64::MAX);
        cache.store("h", &component(&engine, 1), &HashSet::new());
        for (dir, mode, who) in [
            (root.path().to_path_buf(), 0o770, "its group"),
            (cache.dir.clone(), 0o707, "anyone"),
        ] {
            set_mode(&dir, mode);
            let err = cache.load(&engine, "h").unwrap_err();
            assert!(
                matches!(&err, ComponentError::UnsafeCache { dir: d, .. } if *d == dir),
                "{err}"
            );
            assert!(err.to_string().contains(who), "{err}");
            // Placing new artifacts there is refused too.
            assert!(matches!(
                cache.private_dir(),
                Err(ComponentError::UnsafeCache { .. })
            ));
            set_mode(&dir, 0o700);
        }
        // A group-writable artifact is refused as well.
        let file = cache.path_for("h");
        set_mode(&file, 0o620);
        assert!(matches!(
            cache.load(&engine, "h"),
            Err(ComponentError::UnsafeCache { .. })
        ));
        set_mode(&file, 0o600);
        assert!(cache.load(&engine, "h").unwrap().is_some());
    }

    #[test]
    fn a_cache_dir_owned_by_another_user_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(root.path(), &engine, u64::MAX);
        cache.store("h", &component(&engine, 1), &HashSet::new());
        let me = rustix::process::geteuid();
        if !me.is_root() {
            // Only root can hand a directory to someone else; the check
            // itself is the same comparison the mode test goes through.
            return;
        }
        let nobody = rustix::process::Uid::from_raw(65534);
        rustix::fs::chown(&cache.dir, Some(nobody), None).unwrap();
        let err = cache.load(&engine, "h").unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        rustix::fs::chown(&cache.dir, Some(me), None).unwrap();
        assert!(cache.load(&engine, "h").unwrap().is_some());
    }

    #[test]
    fn the_disk_cache_evicts_least_recently_used_artifacts_past_its_budget() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let unbounded = CompileCache::new(root.path(), &engine, u64::MAX);
        let none = HashSet::new();
        unbounded.store("a", &component(&engine, 1), &none);
        let size = std::fs::metadata(unbounded.path_for("a")).unwrap().len();
        // Room for two artifacts, not three.
        let cache = CompileCache::new(root.path(), &engine, size * 2 + size / 2);
        cache.store("b", &component(&engine, 2), &none);
        // Ages set explicitly (no sleeping): a oldest, then b; a load makes
        // a the most recently used.
        let aged = |hash: &str, secs: u64| {
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            std::fs::File::open(cache.path_for(hash))
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        aged("a", 1_000);
        aged("b", 2_000);
        assert!(cache.load(&engine, "a").unwrap().is_some());
        cache.store("c", &component(&engine, 3), &none);
        assert!(
            !cache.path_for("b").exists(),
            "b was the least recently used"
        );
        assert!(cache.path_for("a").exists() && cache.path_for("c").exists());

        // An artifact in use survives even as the oldest.
        aged("a", 1_000);
        aged("c", 2_000);
        cache.store(
            "d",
            &component(&engine, 4),
            &HashSet::from(["a".to_string()]),
        );
        assert!(cache.path_for("a").exists(), "a is in use");
        assert!(!cache.path_for("c").exists());
        let total: u64 = artifacts(root.path()).iter().map(|a| a.bytes).sum();
        assert!(total <= size * 2 + size / 2, "{total}");
    }
}
