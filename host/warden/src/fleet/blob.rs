//! Blobs on the bus: the object store [`BLOBS`](super::BLOBS), every
//! object named by the sha256 of its bytes, and exercises as a manifest
//! of such blobs.
//!
//! Owns putting a blob once (an object already there is not sent again),
//! getting one back with its hash checked, and turning an exercise folder
//! into a manifest and back into a folder a worker loads with the same
//! [`Exercise::load`] local grading uses. It never grades.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_nats::jetstream::{self, object_store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use warden_grade::Exercise;

use super::{BLOBS, FleetError};

/// Largest exercise file shipped (test data of a big exercise included).
const MAX_EXERCISE_FILE: u64 = 64 << 20;

/// The sha256 of `bytes`, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The object store, created unless it exists.
pub async fn store(js: &jetstream::Context) -> Result<object_store::ObjectStore, FleetError> {
    if let Ok(store) = js.get_object_store(BLOBS).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: BLOBS.into(),
        description: Some("Warden fleet: exercise files and submissions by sha256".into()),
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| FleetError::bus(format!("object store {BLOBS}"), e))
}

/// Puts `bytes` under their sha256 unless an object of that name is
/// already there; returns the name and whether it was sent.
pub async fn put(
    store: &object_store::ObjectStore,
    bytes: &[u8],
) -> Result<(String, bool), FleetError> {
    let name = sha256(bytes);
    if store.info(&name).await.is_ok_and(|info| !info.deleted) {
        return Ok((name, false));
    }
    let mut reader = bytes;
    store
        .put(name.as_str(), &mut reader)
        .await
        .map_err(|e| FleetError::bus(format!("putting blob {name}"), e))?;
    Ok((name, true))
}

/// The bytes of blob `name`, checked against it. `what` names the blob
/// in errors.
pub async fn get(
    store: &object_store::ObjectStore,
    name: &str,
    what: &str,
) -> Result<Vec<u8>, FleetError> {
    let mut object = store.get(name).await.map_err(|e| FleetError::MissingBlob {
        sha256: name.to_string(),
        what: what.to_string(),
        reason: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| FleetError::MissingBlob {
            sha256: name.to_string(),
            what: what.to_string(),
            reason: e.to_string(),
        })?;
    let actual = sha256(&bytes);
    if actual != name {
        return Err(FleetError::CorruptBlob {
            sha256: name.to_string(),
            what: what.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

/// An exercise folder as blobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExerciseManifest {
    /// [`Exercise::name`] as the client loaded it.
    pub name: String,
    /// The folder's own name (the exercise is rebuilt in a folder of
    /// that name, as some exercises take their name from it).
    pub dir_name: String,
    /// Every regular file, by path relative to the folder (`/`-separated).
    pub files: BTreeMap<String, String>,
}

/// Puts every file of the exercise folder and its manifest; returns the
/// manifest's blob name.
pub async fn put_exercise(
    store: &object_store::ObjectStore,
    exercise: &Exercise,
) -> Result<String, FleetError> {
    let dir = exercise.dir.clone();
    let files = tokio::task::spawn_blocking(move || read_tree(&dir))
        .await
        .map_err(|e| FleetError::Io(e.to_string()))??;
    let mut manifest = ExerciseManifest {
        name: exercise.name.clone(),
        dir_name: dir_name(&exercise.dir),
        files: BTreeMap::new(),
    };
    for (path, bytes) in files {
        let (name, _) = put(store, &bytes).await?;
        manifest.files.insert(path, name);
    }
    let json = serde_json::to_vec(&manifest).map_err(|e| FleetError::Io(e.to_string()))?;
    Ok(put(store, &json).await?.0)
}

/// The exercise of manifest `name`, rebuilt under `root` (a folder per
/// manifest, reused when it is complete).
pub async fn get_exercise(
    store: &object_store::ObjectStore,
    name: &str,
    root: &Path,
) -> Result<Exercise, FleetError> {
    let bytes = get(store, name, "exercise manifest").await?;
    let manifest: ExerciseManifest =
        serde_json::from_slice(&bytes).map_err(|e| FleetError::Malformed {
            what: format!("exercise manifest {name}"),
            reason: e.to_string(),
        })?;
    let dir = root.join(name).join(&manifest.dir_name);
    let done = root.join(name).join(".complete");
    if !done.exists() {
        let mut files = Vec::new();
        for (path, blob) in &manifest.files {
            let bytes = get(store, blob, &format!("exercise file {path}")).await?;
            files.push((safe_relative(path)?, bytes));
        }
        let (dir, done) = (dir.clone(), done.clone());
        tokio::task::spawn_blocking(move || write_tree(&dir, &files, &done))
            .await
            .map_err(|e| FleetError::Io(e.to_string()))??;
    }
    let loaded = tokio::task::spawn_blocking(move || Exercise::load(&dir))
        .await
        .map_err(|e| FleetError::Io(e.to_string()))?;
    let mut exercise = loaded.map_err(|e| FleetError::Exercise(e.to_string()))?;
    exercise.name = manifest.name;
    Ok(exercise)
}

fn dir_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map_or_else(|| "exercise".into(), |n| n.to_string_lossy().into_owned())
}

/// A manifest path as a relative path with no `..`, absolute part or
/// empty component (a manifest is input from the bus).
fn safe_relative(path: &str) -> Result<PathBuf, FleetError> {
    let ok = !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(PathBuf::from(path))
    } else {
        Err(FleetError::Malformed {
            what: "exercise manifest".into(),
            reason: format!("file path {path:?} leaves the exercise folder"),
        })
    }
}

/// Every regular file under `dir`, by `/`-separated relative path.
fn read_tree(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, FleetError> {
    let mut out = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, prefix)) = pending.pop() {
        let entries =
            std::fs::read_dir(&at).map_err(|e| FleetError::Io(format!("{}: {e}", at.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| FleetError::Io(format!("{}: {e}", at.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            let meta = std::fs::metadata(&path)
                .map_err(|e| FleetError::Io(format!("{}: {e}", path.display())))?;
            if meta.is_dir() {
                pending.push((path, rel));
            } else if meta.is_file() {
                if meta.len() > MAX_EXERCISE_FILE {
                    return Err(FleetError::Io(format!(
                        "{}: {} bytes, more than an exercise file may have ({MAX_EXERCISE_FILE})",
                        path.display(),
                        meta.len()
                    )));
                }
                let bytes = std::fs::read(&path)
                    .map_err(|e| FleetError::Io(format!("{}: {e}", path.display())))?;
                out.push((rel, bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the files, then `done`, so that a folder cut short by a crash
/// is written again rather than used.
fn write_tree(dir: &Path, files: &[(PathBuf, Vec<u8>)], done: &Path) -> Result<(), FleetError> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| FleetError::Io(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| FleetError::Io(format!("{}: {e}", path.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| FleetError::Io(format!("{}: {e}", dir.display())))?;
    std::fs::write(done, b"").map_err(|e| FleetError::Io(format!("{}: {e}", done.display())))
}
