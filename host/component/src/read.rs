//! Reading a component file someone named (a CLI argument, a config key, an
//! API parameter, a submission), bounded.
//!
//! Owns: the rule that only a regular file no larger than the compile size
//! limit is read. The file is opened with `O_NONBLOCK | O_NOCTTY` and
//! checked with `fstat` on that descriptor before any byte is read, so a
//! FIFO cannot block the host, a device (`/dev/zero`) cannot stream until
//! memory runs out, and a file swapped between a check and the open is
//! still the one checked.
//!
//! Must never: read past the limit, even from a file that grows while it is
//! read.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;

use crate::error::{CompileLimit, ComponentError};

/// Reads the component file at `path`, refusing anything but a regular file
/// of at most `max_bytes`.
pub fn read_component_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ComponentError> {
    let io = |source| ComponentError::Io {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer. It changes nothing for reading a regular file.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)
        .map_err(io)?;
    read_opened(file, max_bytes).map_err(|err| match err {
        BoundedReadError::Io(source) => io(source),
        BoundedReadError::NotRegular(kind) => ComponentError::NotAFile {
            path: path.to_path_buf(),
            what: kind,
        },
        BoundedReadError::TooLarge { size } => ComponentError::CompileLimit(CompileLimit::Size {
            limit_bytes: max_bytes,
            actual_bytes: size,
        }),
    })
}

/// Why [`read_opened`] read nothing.
#[derive(Debug)]
pub enum BoundedReadError {
    /// Reading the metadata or the bytes failed.
    Io(std::io::Error),
    /// Not a regular file; what it is instead, with its article ("a FIFO").
    NotRegular(&'static str),
    /// Larger than the limit: `size` as `fstat` said, or the limit plus one
    /// when the file grew while it was read.
    TooLarge {
        /// The size seen, in bytes.
        size: u64,
    },
}

/// Reads a file already opened (with `O_NONBLOCK`, so a FIFO's open did not
/// wait): only a regular file, judged by `fstat` on this descriptor, and
/// never more than `limit` bytes, even from a file that grows meanwhile.
/// The one bounded read for every file opened on behalf of a user: component
/// files here, exercise and submission files in the grader.
pub fn read_opened(file: File, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let meta = file.metadata().map_err(BoundedReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(BoundedReadError::NotRegular(describe(&kind)));
    }
    if meta.len() > limit {
        return Err(BoundedReadError::TooLarge { size: meta.len() });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("plugin.wasm");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        // Nobody ever opens the FIFO for writing: a blocking open or read
        // would hang this test.
        let err = read_component_file(&fifo, 1 << 20).unwrap_err();
        assert!(
            matches!(err, ComponentError::NotAFile { what, .. } if what.contains("FIFO")),
            "{err}"
        );
        assert!(err.is_bad_input());
    }

    #[test]
    fn a_device_is_refused_before_reading() {
        let err = read_component_file(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                ComponentError::NotAFile {
                    what: "a character device",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("/dev/zero: "), "{err}");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_component_file(dir.path(), 1 << 20).unwrap_err();
        assert!(matches!(
            err,
            ComponentError::NotAFile {
                what: "a directory",
                ..
            }
        ));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, vec![0u8; 4097]).unwrap();
        let err = read_component_file(&path, 4096).unwrap_err();
        assert!(
            matches!(
                err,
                ComponentError::CompileLimit(CompileLimit::Size {
                    limit_bytes: 4096,
                    actual_bytes: 4097
                })
            ),
            "{err}"
        );
        assert_eq!(err.kind(), "compile_limit");
        assert_eq!(read_component_file(&path, 4097).unwrap().len(), 4097);
    }
}
