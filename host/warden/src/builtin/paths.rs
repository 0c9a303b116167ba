//! Host paths named by API callers: accepted only under `[api]
//! path_roots`.
//!
//! An operation that takes a component (`component.call`'s `component`,
//! `grade`'s `solution`) takes a store id first; a host path (those, and
//! `grade`'s `exercise`) must resolve, links and `..` included, to a place
//! under one of the configured roots. With no roots configured every host
//! path is refused. A refusal is 403 `forbidden_path` naming the rule, and
//! it comes before anything is said about the path: a path outside the
//! roots answers the same whether it exists or not, and only a path under
//! a root can be "not found" (404).
//!
//! Owns: resolving a caller's path against the roots, and opening what was
//! checked. The file (or folder) is opened by its resolved path without
//! following a link at its end, and the opened descriptor's own path (from
//! `/proc/self/fd`) is checked against the roots again, so a link or a
//! folder swapped in between the check and the open is refused, never
//! read. Never does: read what it opened beyond a bounded component read,
//! or decide which operations take paths.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::OFlags;

use crate::component::read::{BoundedReadError, read_opened};
use crate::ops::OpError;

/// The rule, as every refusal names it.
const RULE: &str = "`[api] path_roots`";

/// The directories API callers may name host paths under (`[api]
/// path_roots`, absolute). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct PathRoots {
    roots: std::sync::Arc<[PathBuf]>,
}

/// A file or folder opened under a root.
#[derive(Debug)]
pub struct Opened {
    /// The descriptor: what was checked.
    pub file: File,
    /// Its resolved path (no links, no `..`), under a root.
    pub path: PathBuf,
}

impl PathRoots {
    /// The roots as configured (absolute paths).
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots: roots.into(),
        }
    }

    /// Reads the component file `path` names (param `param` of `op`),
    /// refusing it unless it resolves under a root; at most `limit` bytes
    /// of a regular file. The bytes, and the resolved path.
    pub fn read_file(
        &self,
        op: &str,
        param: &str,
        path: &Path,
        limit: u64,
    ) -> Result<(Vec<u8>, PathBuf), OpError> {
        let opened = self.open(op, param, path, false)?;
        let bytes = read_opened(opened.file, limit).map_err(|e| match e {
            BoundedReadError::Io(e) => OpError::Failed {
                op: op.to_string(),
                message: format!("cannot read {}: {e}", path.display()),
            },
            BoundedReadError::NotRegular(what) => OpError::NotFound {
                what: format!("{param} file {} (it is {what})", path.display()),
            },
            BoundedReadError::TooLarge { size } => OpError::BadComponent {
                op: op.to_string(),
                source: Box::new(crate::component::ComponentError::CompileLimit(
                    crate::component::CompileLimit::Size {
                        limit_bytes: limit,
                        actual_bytes: size,
                    },
                )),
            },
        })?;
        Ok((bytes, opened.path))
    }

    /// Opens the folder `path` names, refusing it unless it resolves
    /// under a root.
    pub fn open_dir(&self, op: &str, param: &str, path: &Path) -> Result<Opened, OpError> {
        self.open(op, param, path, true)
    }

    fn open(&self, op: &str, param: &str, path: &Path, dir: bool) -> Result<Opened, OpError> {
        let forbidden = |why: String| OpError::ForbiddenPath {
            op: op.to_string(),
            message: format!("`{param}`: {why}"),
        };
        // Roots that no longer exist grant nothing.
        let roots: Vec<PathBuf> = self
            .roots
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect();
        if roots.is_empty() {
            return Err(forbidden(format!(
                "API callers may name no host path: {RULE} lists no directory; upload the component (POST /components) and pass its id"
            )));
        }
        let under_roots = |p: &Path| roots.iter().any(|r| p.starts_with(r));
        let outside = || {
            forbidden(format!(
                "{} is outside {RULE} (links and `..` resolved)",
                path.display()
            ))
        };
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| OpError::Failed {
                    op: op.to_string(),
                    message: format!("cannot read the current directory: {e}"),
                })?
                .join(path)
        };
        let resolved = match resolve(&absolute) {
            Resolved::Exists(real) => real,
            // Only now may the caller learn that it does not exist.
            Resolved::Missing(real) if under_roots(&real) => {
                return Err(OpError::NotFound {
                    what: format!("{param} {}", path.display()),
                });
            }
            Resolved::Missing(_) | Resolved::Unresolvable => return Err(outside()),
        };
        if !under_roots(&resolved) {
            return Err(outside());
        }
        let mut flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        if dir {
            flags |= OFlags::DIRECTORY;
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(&resolved)
            .map_err(|e| match e.raw_os_error() {
                Some(code) if code == rustix::io::Errno::NOTDIR.raw_os_error() => {
                    OpError::NotFound {
                        what: format!("{param} folder {} (it is a file)", path.display()),
                    }
                }
                // A link put there since it was resolved.
                Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => outside(),
                _ => OpError::NotFound {
                    what: format!("{param} {} ({e})", path.display()),
                },
            })?;
        // What was opened, not what was checked: a folder on the way that
        // was swapped for a link meanwhile shows here.
        let opened =
            std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(|e| {
                OpError::Failed {
                    op: op.to_string(),
                    message: format!("cannot tell where {} leads: {e}", path.display()),
                }
            })?;
        if opened != resolved || !under_roots(&opened) {
            return Err(outside());
        }
        Ok(Opened {
            file,
            path: resolved,
        })
    }
}

impl Opened {
    /// Whether `path` still names the opened file (same device and inode).
    pub fn still_at(&self, path: &Path) -> bool {
        match (self.file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
}

/// Where an absolute path leads.
enum Resolved {
    /// It exists: its real path.
    Exists(PathBuf),
    /// It does not: the real path of its deepest existing ancestor with
    /// the rest appended (`..` applied to it, no links in it).
    Missing(PathBuf),
    /// Something is there that cannot be resolved (a dangling link, a
    /// folder it may not search): where it leads cannot be told.
    Unresolvable,
}

fn resolve(absolute: &Path) -> Resolved {
    if let Ok(real) = std::fs::canonicalize(absolute) {
        return Resolved::Exists(real);
    }
    let mut rest = Vec::new();
    let mut at = absolute;
    loop {
        let Some(parent) = at.parent() else {
            return Resolved::Unresolvable;
        };
        let Some(name) = at.file_name() else {
            // `..` or the root: no name to set aside.
            return Resolved::Unresolvable;
        };
        // A dangling link (or anything there at all) is not "missing":
        // where it leads may be outside every root.
        if std::fs::symlink_metadata(at).is_ok() {
            return Resolved::Unresolvable;
        }
        rest.push(name.to_owned());
        if let Ok(mut real) = std::fs::canonicalize(parent) {
            for name in rest.iter().rev() {
                real.push(name);
            }
            return Resolved::Missing(lexical(&real));
        }
        at = parent;
    }
}

/// `path` with `.` and `..` applied by text (it names nothing that
/// exists below its existing part, so no link can change them).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("sub/in.wasm"), b"inside").unwrap();
        std::fs::write(outside.join("secret.wasm"), b"secret").unwrap();
        (tmp, root, outside)
    }

    fn status(result: Result<(Vec<u8>, PathBuf), OpError>) -> u16 {
        match result {
            Ok(_) => 200,
            Err(e) => e.status_code(),
        }
    }

    #[test]
    fn only_paths_that_resolve_under_a_root_are_read() {
        let (_tmp, root, outside) = setup();
        let roots = PathRoots::new(vec![root.clone()]);
        let read = |p: &Path| roots.read_file("op", "component", p, 1024);
        let (bytes, real) = read(&root.join("sub/in.wasm")).unwrap();
        assert_eq!(bytes, b"inside");
        assert!(real.ends_with("root/sub/in.wasm"));
        assert_eq!(status(read(&outside.join("secret.wasm"))), 403);
        assert_eq!(status(read(&root.join("../outside/secret.wasm"))), 403);
        assert_eq!(status(read(&root.join("sub/../sub/in.wasm"))), 200);
        std::os::unix::fs::symlink(outside.join("secret.wasm"), root.join("link.wasm")).unwrap();
        assert_eq!(status(read(&root.join("link.wasm"))), 403);
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        assert_eq!(status(read(&root.join("out/secret.wasm"))), 403);
        // A link inside that stays inside is followed.
        std::os::unix::fs::symlink(root.join("sub"), root.join("alias")).unwrap();
        assert_eq!(status(read(&root.join("alias/in.wasm"))), 200);
    }

    #[test]
    fn existence_is_told_only_under_a_root() {
        let (_tmp, root, outside) = setup();
        let roots = PathRoots::new(vec![root.clone()]);
        let read = |p: &Path| roots.read_file("op", "component", p, 1024);
        assert_eq!(status(read(&root.join("missing.wasm"))), 404);
        assert_eq!(status(read(&root.join("no/such/dir.wasm"))), 404);
        // Outside, missing and present answer alike.
        assert_eq!(status(read(&outside.join("missing.wasm"))), 403);
        assert_eq!(status(read(&outside.join("secret.wasm"))), 403);
        assert_eq!(status(read(&root.join("no/../../outside/x.wasm"))), 403);
        // A dangling link inside could lead anywhere.
        std::os::unix::fs::symlink(outside.join("missing.wasm"), root.join("dangling.wasm"))
            .unwrap();
        assert_eq!(status(read(&root.join("dangling.wasm"))), 403);
    }

    #[test]
    fn without_roots_every_path_is_forbidden_naming_the_rule() {
        let (_tmp, root, _outside) = setup();
        let err = PathRoots::default()
            .read_file(
                "component.call",
                "component",
                &root.join("sub/in.wasm"),
                1024,
            )
            .unwrap_err();
        assert_eq!(err.status_code(), 403);
        assert_eq!(err.kind(), "forbidden_path");
        assert!(err.to_string().contains("[api] path_roots"), "{err}");
        let gone = PathRoots::new(vec![root.join("gone")]);
        assert_eq!(
            status(gone.read_file("op", "component", &root.join("sub/in.wasm"), 1024)),
            403
        );
    }

    #[test]
    fn folders_open_under_a_root_and_files_are_not_folders() {
        let (_tmp, root, outside) = setup();
        let roots = PathRoots::new(vec![root.clone()]);
        let opened = roots
            .open_dir("grade", "exercise", &root.join("sub"))
            .unwrap();
        assert!(opened.still_at(&root.join("sub")));
        assert!(!opened.still_at(&root));
        assert_eq!(
            roots
                .open_dir("grade", "exercise", &outside)
                .unwrap_err()
                .status_code(),
            403
        );
        assert_eq!(
            roots
                .open_dir("grade", "exercise", &root.join("sub/in.wasm"))
                .unwrap_err()
                .status_code(),
            404
        );
        assert_eq!(
            status(roots.read_file("op", "component", &root.join("sub"), 1024)),
            404
        );
    }
}
