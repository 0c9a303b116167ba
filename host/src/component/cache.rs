//! The on-disk compile cache.
//!
//! Compiled components are stored as `<dir>/<engine-hash>/<content-hash>.cwasm`.
//! The engine hash is derived from `Engine::precompile_compatibility_hash`,
//! so artifacts from another wasmtime version or another engine config are
//! never even looked at. Artifacts are written atomically (temp file and
//! rename), and only ever read from this directory: `Component::deserialize`
//! trusts its input, so the cache must hold nothing the host did not write.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// The cache for `engine` under `root` (created on first store).
    pub fn new(root: &Path, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir: root.join(format!("{:016x}", hasher.finish())),
        }
    }

    fn path_for(&self, content_hash: &str) -> PathBuf {
        self.dir.join(format!("{content_hash}.cwasm"))
    }

    /// Loads a previously stored artifact, or `None` when there is none or
    /// it cannot be used (it is then removed so the next store replaces it).
    pub fn load(&self, engine: &Engine, content_hash: &str) -> Option<Component> {
        let path = self.path_for(content_hash);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file lives in the host's own cache directory, keyed by
        // the engine's compatibility hash, and was written by `store` below
        // from `Component::serialize`; nothing else writes there.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "discarding unusable compile-cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component. Failures are logged, never fatal: the
    /// cache only saves time.
    pub fn store(&self, content_hash: &str, component: &Component) {
        if let Err(err) = self.try_store(content_hash, component) {
            tracing::warn!(dir = %self.dir.display(), error = %err, "could not write compile cache");
        }
    }

    fn try_store(&self, content_hash: &str, component: &Component) -> std::io::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(self.path_for(content_hash))
            .map_err(|e| e.error)?;
        Ok(())
    }
}
