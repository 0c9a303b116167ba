//! Reading files on someone else's behalf: an exercise folder, or a
//! directory of submissions, either of which a guest, a student or a
//! script may have written, planted links and all.
//!
//! A [`Folder`] is opened once, from the path the user named (following
//! links: that path is the user's own choice). Every file in it is then
//! opened relative to that handle with cap-primitives' sandboxed `open`
//! (cap-std's engine, already inside wasmtime-wasi): Linux's `openat2`
//! with `RESOLVE_BENEATH`, or a component-by-component walk where the
//! kernel or a seccomp filter refuses `openat2`.
//!
//! Guarantees:
//! - no file outside the folder is opened: a symbolic link leading out of
//!   it (absolute, or `..` above it) is refused with
//!   [`FileError::Escapes`], and so is a renamed parent while we resolve;
//! - a link that stays inside the folder is followed: it can only show
//!   what the folder already holds, and tools that build exercise folders
//!   (or collect submissions) may use such links;
//! - only regular files are read. The file is opened with `O_NONBLOCK`
//!   (opening a FIFO cannot wait for a writer) and `O_NOCTTY`, then judged
//!   by the opened file's own metadata, so nothing can be swapped in
//!   between a check and the open;
//! - nothing beyond the caller's limit is read: the size is checked before
//!   reading, and the read stops one byte past the limit in case the file
//!   grows meanwhile.
//!
//! Never: an error of this module quotes a file's content.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_primitives::fs::{FollowSymlinks, OpenOptions, OpenOptionsExt};
use rustix::fs::OFlags;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A symbolic link leading outside the folder it was found in.
    #[error(
        "{}: refused: a symbolic link leading outside {}",
        path.display(),
        folder.display()
    )]
    Escapes {
        /// The file asked for, under the folder's path.
        path: PathBuf,
        /// The folder it had to stay in.
        folder: PathBuf,
    },

    /// A FIFO, socket, device or directory where a file was expected.
    #[error("{}: refused: not a regular file but {kind}", path.display())]
    NotRegular {
        /// The file asked for.
        path: PathBuf,
        /// What it is instead, with its article (`a FIFO (named pipe)`).
        kind: &'static str,
    },

    /// Larger than the limit for this kind of file.
    #[error("{}: refused: larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file asked for.
        path: PathBuf,
        /// The limit it is over, in bytes.
        limit: u64,
    },

    /// A file that must exist does not.
    #[error("{}: no such file", path.display())]
    Missing {
        /// The file asked for.
        path: PathBuf,
    },

    /// A text file that is not UTF-8.
    #[error("{}: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotUtf8 {
        /// The file asked for.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },

    /// Opening or reading failed for another reason (permissions, I/O).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// A directory opened once; files are read beneath it only.
#[derive(Debug, Clone)]
pub struct Folder {
    path: PathBuf,
    handle: Arc<File>,
}

impl Folder {
    /// Opens the directory at `path` (the user's own path: links in it
    /// are followed).
    pub fn open(path: &Path) -> io::Result<Self> {
        let handle =
            cap_primitives::fs::open_ambient_dir(path, cap_primitives::ambient_authority())?;
        Ok(Self {
            path: path.to_path_buf(),
            handle: Arc::new(handle),
        })
    }

    /// The path the folder was opened from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of `name` inside the folder, at most `limit` of them;
    /// `None` when there is no such file (a dangling link included).
    pub fn read_optional(&self, name: &Path, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
        let path = self.path.join(name);
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(nonblocking_flags());
        let file = match cap_primitives::fs::open(&self.handle, name, &options) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) if self.escaped(name, &err) => {
                return Err(FileError::Escapes {
                    path,
                    folder: self.path.clone(),
                });
            }
            Err(source) => return Err(FileError::Io { path, source }),
        };
        read_opened(file, &path, limit).map(Some)
    }

    /// Like [`Folder::read_optional`], for a file that must exist.
    pub fn read(&self, name: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
        self.read_optional(name, limit)?
            .ok_or_else(|| FileError::Missing {
                path: self.path.join(name),
            })
    }

    /// [`Folder::read_optional`] for a text file.
    pub fn read_text_optional(&self, name: &Path, limit: u64) -> Result<Option<String>, FileError> {
        self.read_optional(name, limit)?
            .map(|bytes| {
                String::from_utf8(bytes).map_err(|err| FileError::NotUtf8 {
                    path: self.path.join(name),
                    offset: err.utf8_error().valid_up_to(),
                })
            })
            .transpose()
    }

    /// [`Folder::read`] for a text file.
    pub fn read_text(&self, name: &Path, limit: u64) -> Result<String, FileError> {
        self.read_text_optional(name, limit)?
            .ok_or_else(|| FileError::Missing {
                path: self.path.join(name),
            })
    }

    /// Names of the entries that are not directories (files, links, and
    /// anything else: what they are is judged when they are read), sorted
    /// so the order never depends on the file system.
    pub fn file_names(&self) -> Result<Vec<OsString>, FileError> {
        let io_err = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in cap_primitives::fs::read_base_dir(&self.handle).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            if !entry.file_type().map_err(io_err)?.is_dir() {
                names.push(entry.file_name());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Whether a failed open was cap-primitives refusing a path that
    /// leads out of the folder. Its refusal is an `io::Error` of its own
    /// (kind `PermissionDenied` with no OS error code, unlike a real
    /// `EACCES`); the entry must also be a link, since only a link can
    /// lead out of a folder from a name inside it.
    fn escaped(&self, name: &Path, err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::PermissionDenied
            && err.raw_os_error().is_none()
            && cap_primitives::fs::stat(&self.handle, name, FollowSymlinks::No)
                .is_ok_and(|m| m.file_type().is_symlink())
    }
}

/// `O_NONBLOCK | O_NOCTTY` as `OpenOptionsExt::custom_flags` takes them.
fn nonblocking_flags() -> i32 {
    // The two bits fit an i32 on every target (0o4000 and 0o400 on Linux).
    (OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32
}

/// Reads an opened file: a regular one, at most `limit` bytes (the one
/// bounded read, [`read_opened`](warden_component::read::read_opened)).
fn read_opened(file: File, path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    use warden_component::read::BoundedReadError;
    warden_component::read::read_opened(file, limit).map_err(|err| match err {
        BoundedReadError::Io(source) => FileError::Io {
            path: path.to_path_buf(),
            source,
        },
        BoundedReadError::NotRegular(kind) => FileError::NotRegular {
            path: path.to_path_buf(),
            kind,
        },
        BoundedReadError::TooLarge { .. } => FileError::TooLarge {
            path: path.to_path_buf(),
            limit,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn folder() -> (tempfile::TempDir, Folder) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("ex")).unwrap();
        let folder = Folder::open(&root.path().join("ex")).unwrap();
        (root, folder)
    }

    const SECRET: &str = "SECRET-MARKER-3b1f";

    #[test]
    fn links_leading_out_are_refused_and_links_inside_are_followed() {
        let (root, folder) = folder();
        let secret = root.path().join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        let ex = folder.path().to_path_buf();
        symlink("../secret", ex.join("relative")).unwrap();
        symlink(&secret, ex.join("absolute")).unwrap();
        std::fs::create_dir(ex.join("sub")).unwrap();
        symlink("../../secret", ex.join("sub/deep")).unwrap();
        symlink("sub/deep", ex.join("via-inside-link")).unwrap();
        for name in ["relative", "absolute", "sub/deep", "via-inside-link"] {
            let err = folder.read(Path::new(name), 1 << 20).unwrap_err();
            assert!(matches!(err, FileError::Escapes { .. }), "{name}: {err:?}");
            assert!(!err.to_string().contains(SECRET), "{err}");
        }

        std::fs::write(ex.join("sub/real.txt"), "inside").unwrap();
        symlink("sub/real.txt", ex.join("inside")).unwrap();
        assert_eq!(
            folder.read_text(Path::new("inside"), 100).unwrap(),
            "inside"
        );
        // A dangling link is a missing file.
        symlink("sub/nothing", ex.join("dangling")).unwrap();
        assert!(
            folder
                .read_optional(Path::new("dangling"), 100)
                .unwrap()
                .is_none()
        );
        let err = folder.read(Path::new("dangling"), 100).unwrap_err();
        assert!(matches!(err, FileError::Missing { .. }), "{err:?}");
    }

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let (_root, folder) = folder();
        let fifo = folder.path().join("pipe");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let err = folder.read(Path::new("pipe"), 100).unwrap_err();
        assert!(
            matches!(err, FileError::NotRegular { kind, .. } if kind.contains("FIFO")),
            "{err:?}"
        );
        std::fs::create_dir(folder.path().join("dir")).unwrap();
        let err = folder.read(Path::new("dir"), 100).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn sizes_are_capped_before_reading() {
        let (_root, folder) = folder();
        std::fs::write(folder.path().join("big"), vec![b'x'; 101]).unwrap();
        let err = folder.read(Path::new("big"), 100).unwrap_err();
        assert!(
            matches!(err, FileError::TooLarge { limit: 100, .. }),
            "{err:?}"
        );
        assert_eq!(folder.read(Path::new("big"), 101).unwrap().len(), 101);
    }

    #[test]
    fn file_names_list_everything_but_directories_in_order() {
        let (_root, folder) = folder();
        let ex = folder.path();
        std::fs::write(ex.join("b.wasm"), "").unwrap();
        std::fs::write(ex.join("a.wasm"), "").unwrap();
        symlink("/nowhere", ex.join("c.wasm")).unwrap();
        std::fs::create_dir(ex.join("d.wasm")).unwrap();
        assert_eq!(folder.file_names().unwrap(), ["a.wasm", "b.wasm", "c.wasm"]);
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_without_quoting_it() {
        let (_root, folder) = folder();
        std::fs::write(folder.path().join("t"), b"ok\xff").unwrap();
        let err = folder.read_text(Path::new("t"), 100).unwrap_err();
        assert!(
            matches!(err, FileError::NotUtf8 { offset: 2, .. }),
            "{err:?}"
        );
    }
}
