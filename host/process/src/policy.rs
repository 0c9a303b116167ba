//! The host's security policy for native workers: which programs may run and
//! in which directories.
//!
//! Owns: resolving a configured command to an absolute path once (a bare name
//! is looked up on `PATH` at load time and pinned), and checking commands and
//! working directories against the allow-lists.
//!
//! Guarantees: a [`ResolvedCommand`] or an [`AllowedCwd`] can only be made by
//! [`ProcessPolicy`], so a [`WorkerSpec`](super::WorkerSpec), which takes
//! them, cannot name a program or a directory the policy refused. Commands are
//! compared by canonical path (symlinks resolved), so `/bin/sh` and the
//! file it links to are the same command. Every refusal is a typed
//! [`PolicyError`] naming the command or directory and the reason.
//!
//! Must never: start a process, or treat a relative path as allowed (a
//! relative `PATH` entry such as `.` is skipped).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a command or a directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The command is the empty string.
    #[error("command is empty")]
    EmptyCommand,
    /// The command has a directory part but is not absolute (`bin/tool`,
    /// `./tool`): it would depend on the host's working directory.
    #[error(
        "command `{command}` is a relative path; give an absolute path or a bare name to look up on PATH"
    )]
    RelativeCommand {
        /// The command as configured.
        command: String,
    },
    /// An absolute command names no existing file.
    #[error("command `{command}` not found: {path} does not exist")]
    Missing {
        /// The command as configured.
        command: String,
        /// `command` as a path (it is absolute).
        path: PathBuf,
    },
    /// A bare name matched no file in any absolute entry of the search
    /// path.
    #[error("command `{command}` not found on PATH ({search_path})")]
    NotOnPath {
        /// The bare name as configured.
        command: String,
        /// The search path used, `:`-separated (lossy UTF-8).
        search_path: String,
    },
    /// The file exists but cannot be executed.
    #[error("command `{command}` cannot be run: {path} is {why}")]
    NotExecutable {
        /// The command as configured.
        command: String,
        /// The file found.
        path: PathBuf,
        /// What is wrong with it.
        why: NotExecutable,
    },
    /// The command resolves to a program the allow-list does not hold
    /// (compared by canonical path).
    #[error("command `{command}` ({path}) is not in the allowed commands")]
    NotAllowed {
        /// The command as configured.
        command: String,
        /// The path it resolved to.
        path: PathBuf,
    },
    /// A working directory (or an allow-list entry) is not absolute.
    #[error("working directory {dir} is a relative path; give an absolute path")]
    RelativeCwd {
        /// The directory as given.
        dir: PathBuf,
    },
    /// A working directory could not be resolved (missing, unreadable).
    #[error("working directory {dir} cannot be used: {source}")]
    CwdUnusable {
        /// The directory as given.
        dir: PathBuf,
        /// The error canonicalising it.
        #[source]
        source: io::Error,
    },
    /// A working directory names something that is not a directory.
    #[error("working directory {dir} is not a directory")]
    CwdNotDirectory {
        /// The directory as given.
        dir: PathBuf,
    },
    /// A working directory is neither an allowed directory nor below one.
    #[error("working directory {dir} is outside the allowed directories ({allowed})")]
    CwdNotAllowed {
        /// The directory as given.
        dir: PathBuf,
        /// The allowed directories, `, `-separated, or `none allowed`.
        allowed: String,
    },
    /// The file's metadata could not be read, or its path not
    /// canonicalised (a permission error on a parent, a symlink loop).
    #[error("cannot inspect {path} for command `{command}`: {source}")]
    Inspect {
        /// The command as configured.
        command: String,
        /// The path that could not be inspected.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An allow-list entry given to [`PolicyBuilder`] was refused when the
    /// policy was built.
    #[error("allow-list entry `{entry}`: {source}")]
    AllowList {
        /// The entry as given (lossy UTF-8).
        entry: String,
        /// Why it was refused (never another `AllowList`).
        #[source]
        source: Box<PolicyError>,
    },
}

/// Why a file cannot be executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotExecutable {
    /// It is a directory, a device, a socket… (symlinks are followed).
    NotAFile,
    /// A regular file without any execute bit (`chmod +x` is missing).
    NoExecutePermission,
}

impl fmt::Display for NotExecutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAFile => "not a regular file",
            Self::NoExecutePermission => "not executable (no execute permission bit)",
        })
    }
}

/// A command the policy accepted: the absolute path that will be executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedCommand {
    configured: String,
    path: PathBuf,
}

impl ResolvedCommand {
    /// The absolute path executed (not canonicalised, so a multi-call binary
    /// still sees the name it was configured with).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The command as it was configured (`sleep`, `/usr/bin/sleep`).
    pub fn configured(&self) -> &str {
        &self.configured
    }
}

/// A working directory the policy accepted (absolute and canonical).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedCwd(PathBuf);

impl AllowedCwd {
    /// The canonical directory the worker starts in.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Builds a [`ProcessPolicy`]; setters cannot fail, [`build`](Self::build)
/// validates every entry at once.
#[derive(Clone, Debug, Default)]
pub struct PolicyBuilder {
    commands: Vec<OsString>,
    cwds: Vec<PathBuf>,
    search_path: Option<OsString>,
}

impl PolicyBuilder {
    /// Allows a command: an absolute path, or a bare name resolved on the
    /// search path when the policy is built. By default no command is allowed.
    pub fn allow_command(&mut self, command: impl Into<OsString>) -> &mut Self {
        self.commands.push(command.into());
        self
    }

    /// Allows a directory, and every directory below it, as a working
    /// directory. By default none is (a worker without a configured
    /// directory starts in `/`, which needs no entry).
    pub fn allow_cwd(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cwds.push(dir.into());
        self
    }

    /// The `PATH` used to resolve bare names. By default the host's `PATH`
    /// when [`build`](Self::build) runs.
    pub fn search_path(&mut self, path: impl Into<OsString>) -> &mut Self {
        self.search_path = Some(path.into());
        self
    }

    /// Resolves and checks every entry.
    pub fn build(&self) -> Result<ProcessPolicy, PolicyError> {
        let search_path = self
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let mut commands = Vec::with_capacity(self.commands.len());
        for entry in &self.commands {
            let wrap = |source| PolicyError::AllowList {
                entry: entry.to_string_lossy().into_owned(),
                source: Box::new(source),
            };
            let path = locate(entry, &search_path).map_err(wrap)?;
            let canonical = canonical_command(entry, &path).map_err(wrap)?;
            commands.push(canonical);
        }
        let mut cwds = Vec::with_capacity(self.cwds.len());
        for dir in &self.cwds {
            let wrap = |source| PolicyError::AllowList {
                entry: dir.display().to_string(),
                source: Box::new(source),
            };
            cwds.push(canonical_dir(dir).map_err(wrap)?);
        }
        Ok(ProcessPolicy {
            commands,
            cwds,
            search_path,
        })
    }
}

/// The allow-lists of commands and working directories, resolved and
/// canonical. Build with [`ProcessPolicy::builder`].
#[derive(Clone, Debug)]
pub struct ProcessPolicy {
    /// Canonical paths of the allowed programs.
    commands: Vec<PathBuf>,
    /// Canonical allowed directories.
    cwds: Vec<PathBuf>,
    search_path: OsString,
}

impl ProcessPolicy {
    /// An empty builder: no command and no directory allowed until added.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// Canonical paths of the allowed programs.
    pub fn allowed_commands(&self) -> &[PathBuf] {
        &self.commands
    }

    /// Canonical allowed directories.
    pub fn allowed_cwds(&self) -> &[PathBuf] {
        &self.cwds
    }

    /// Resolves a configured command (absolute path, or a bare name looked up
    /// on the policy's search path) and checks it exists, is an executable
    /// regular file and is in the allow-list.
    pub fn resolve_command(
        &self,
        command: impl AsRef<OsStr>,
    ) -> Result<ResolvedCommand, PolicyError> {
        let command = command.as_ref();
        let path = locate(command, &self.search_path)?;
        let canonical = canonical_command(command, &path)?;
        if !self.commands.contains(&canonical) {
            return Err(PolicyError::NotAllowed {
                command: command.to_string_lossy().into_owned(),
                path,
            });
        }
        Ok(ResolvedCommand {
            configured: command.to_string_lossy().into_owned(),
            path,
        })
    }

    /// Checks a working directory: absolute, an existing directory, and
    /// equal to or below an allowed directory (compared canonically, so
    /// `..` and symlinks cannot escape).
    pub fn check_cwd(&self, dir: impl AsRef<Path>) -> Result<AllowedCwd, PolicyError> {
        let canonical = canonical_dir(dir.as_ref())?;
        if self
            .cwds
            .iter()
            .any(|allowed| canonical.starts_with(allowed))
        {
            Ok(AllowedCwd(canonical))
        } else {
            let allowed = if self.cwds.is_empty() {
                "none allowed".to_owned()
            } else {
                self.cwds
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(PolicyError::CwdNotAllowed {
                dir: dir.as_ref().to_path_buf(),
                allowed,
            })
        }
    }
}

/// Finds the file a command names: an absolute path as is, a bare name on
/// the search path (absolute entries only); checks it is executable.
fn locate(command: &OsStr, search_path: &OsStr) -> Result<PathBuf, PolicyError> {
    let shown = || command.to_string_lossy().into_owned();
    if command.is_empty() {
        return Err(PolicyError::EmptyCommand);
    }
    let as_path = Path::new(command);
    if as_path.is_absolute() {
        check_executable(command, as_path)?;
        return Ok(as_path.to_path_buf());
    }
    if as_path.components().count() > 1 {
        return Err(PolicyError::RelativeCommand { command: shown() });
    }
    let mut first_error = None;
    for dir in std::env::split_paths(search_path).filter(|d| d.is_absolute()) {
        let candidate = dir.join(as_path);
        match check_executable(command, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(PolicyError::Missing { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| PolicyError::NotOnPath {
        command: shown(),
        search_path: search_path.to_string_lossy().into_owned(),
    }))
}

fn check_executable(command: &OsStr, path: &Path) -> Result<(), PolicyError> {
    let shown = || command.to_string_lossy().into_owned();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(PolicyError::Missing {
                command: shown(),
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(PolicyError::Inspect {
                command: shown(),
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let why = if !meta.is_file() {
        Some(NotExecutable::NotAFile)
    } else if meta.permissions().mode() & 0o111 == 0 {
        Some(NotExecutable::NoExecutePermission)
    } else {
        None
    };
    match why {
        Some(why) => Err(PolicyError::NotExecutable {
            command: shown(),
            path: path.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

fn canonical_command(command: &OsStr, path: &Path) -> Result<PathBuf, PolicyError> {
    std::fs::canonicalize(path).map_err(|source| PolicyError::Inspect {
        command: command.to_string_lossy().into_owned(),
        path: path.to_path_buf(),
        source,
    })
}

fn canonical_dir(dir: &Path) -> Result<PathBuf, PolicyError> {
    if !dir.is_absolute() {
        return Err(PolicyError::RelativeCwd {
            dir: dir.to_path_buf(),
        });
    }
    let canonical = std::fs::canonicalize(dir).map_err(|source| PolicyError::CwdUnusable {
        dir: dir.to_path_buf(),
        source,
    })?;
    if !canonical.is_dir() {
        return Err(PolicyError::CwdNotDirectory {
            dir: dir.to_path_buf(),
        });
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn policy(cmds: &[&str], dirs: &[&Path]) -> ProcessPolicy {
        let mut b = ProcessPolicy::builder();
        for c in cmds {
            b.allow_command(*c);
        }
        for d in dirs {
            b.allow_cwd(*d);
        }
        b.build().expect("policy builds")
    }

    #[test]
    fn bare_names_resolve_on_path_and_are_pinned() {
        let p = policy(&["sleep"], &[]);
        let cmd = p.resolve_command("sleep").expect("allowed");
        assert!(cmd.path().is_absolute());
        assert_eq!(cmd.configured(), "sleep");
        // The absolute form of the same program is the same command.
        let again = p
            .resolve_command(cmd.path())
            .expect("absolute form allowed");
        assert_eq!(again.path(), cmd.path());
    }

    #[test]
    fn command_outside_the_allow_list_is_refused() {
        let p = policy(&["sleep"], &[]);
        let err = p.resolve_command("sh").expect_err("not allowed");
        assert!(matches!(err, PolicyError::NotAllowed { .. }), "{err}");
        assert!(err.to_string().contains("`sh`"), "{err}");
    }

    #[test]
    fn missing_binary_and_missing_name_are_refused() {
        let p = policy(&["sleep"], &[]);
        let err = p
            .resolve_command("/nonexistent/warden-test-bin")
            .expect_err("missing");
        assert!(matches!(err, PolicyError::Missing { .. }), "{err}");
        let err = p
            .resolve_command("warden-no-such-program-xyz")
            .expect_err("missing");
        assert!(matches!(err, PolicyError::NotOnPath { .. }), "{err}");
        let err = p.resolve_command("./sleep").expect_err("relative");
        assert!(matches!(err, PolicyError::RelativeCommand { .. }), "{err}");
        let err = ProcessPolicy::builder()
            .allow_command("/nonexistent/x")
            .build()
            .expect_err("bad allow-list entry");
        assert!(matches!(err, PolicyError::AllowList { .. }), "{err}");
    }

    #[test]
    fn non_executable_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("script.sh");
        std::fs::write(&file, "#!/bin/sh\necho hi\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let p = policy(&["sleep"], &[]);
        let err = p.resolve_command(&file).expect_err("not executable");
        assert!(
            matches!(
                err,
                PolicyError::NotExecutable {
                    why: NotExecutable::NoExecutePermission,
                    ..
                }
            ),
            "{err}"
        );
        let err = p.resolve_command(dir.path()).expect_err("a directory");
        assert!(
            matches!(
                err,
                PolicyError::NotExecutable {
                    why: NotExecutable::NotAFile,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn cwd_must_be_inside_an_allowed_directory() {
        let allowed = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        let sub = allowed.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        let p = policy(&["sleep"], &[allowed.path()]);
        assert!(p.check_cwd(allowed.path()).is_ok());
        assert!(p.check_cwd(&sub).is_ok());
        let err = p.check_cwd(other.path()).expect_err("outside");
        assert!(matches!(err, PolicyError::CwdNotAllowed { .. }), "{err}");
        // `..` cannot climb out.
        let escape = sub.join("..").join("..");
        let err = p.check_cwd(&escape).expect_err("escape");
        assert!(matches!(err, PolicyError::CwdNotAllowed { .. }), "{err}");
        let err = p
            .check_cwd(allowed.path().join("missing"))
            .expect_err("missing");
        assert!(matches!(err, PolicyError::CwdUnusable { .. }), "{err}");
        let err = p.check_cwd("relative/dir").expect_err("relative");
        assert!(matches!(err, PolicyError::RelativeCwd { .. }), "{err}");
    }
}
