//! Capabilities a guest may be granted: preopened directories, environment
//! variables and arguments. Nothing else — no sockets, no inherited stdio,
//! no host environment — is ever granted.
//!
//! Directories go through cap-std (inside wasmtime-wasi): a guest cannot
//! leave a preopened directory with `..`, an absolute path or a symlink.

use std::path::PathBuf;
use std::str::FromStr;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::ComponentError;

/// One host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (`/data`).
    pub guest: String,
    /// Whether the guest may create, write and delete. By default false.
    #[serde(default)]
    pub writable: bool,
}

/// Everything a guest is allowed besides computing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    /// Host directories preopened for the guest, each where it sees it.
    /// By default none: the guest has no filesystem at all.
    pub dirs: Vec<DirGrant>,
    /// Environment variables the guest sees, as `(name, value)` pairs in
    /// this order. By default none; the host's own environment is never
    /// passed through.
    pub env: Vec<(String, String)>,
    /// The guest's arguments, exactly these: no program name is added, so
    /// a guest that reads `argv[0]` as its name finds the first of them
    /// there. By default none.
    pub args: Vec<String>,
    /// Real wall and monotonic clocks. By default false: the guest sees a
    /// clock frozen at the Unix epoch, which keeps runs reproducible.
    #[serde(default)]
    pub clocks: bool,
    /// Real randomness. By default false: seeded, reproducible generators.
    #[serde(default)]
    pub random: bool,
}

impl Capabilities {
    /// Adds the granted capabilities to a WASI context builder.
    pub(crate) fn apply(&self, builder: &mut WasiCtxBuilder) -> Result<(), ComponentError> {
        for dir in &self.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|err| ComponentError::Capability {
                    host: dir.host.clone(),
                    reason: err.to_string(),
                })?;
        }
        builder.envs(&self.env);
        builder.args(&self.args);
        Ok(())
    }
}

/// A `--dir` argument could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid directory grant `{given}`: {reason} (expected HOST:GUEST[:ro|rw])")]
pub struct DirGrantError {
    given: String,
    reason: String,
}

impl DirGrant {
    /// Checks where a guest is to see a directory: `/` or an absolute
    /// path of plain names (`/data`, `/srv/in`). No `.` or `..`, no empty
    /// component, no NUL, so that the name a guest opens and the
    /// directory it gets cannot disagree. The reason when it is not.
    pub fn check_guest(path: &str) -> Result<(), String> {
        let shown = path.escape_debug();
        if !path.starts_with('/') {
            return Err(format!(
                "`{shown}` is not an absolute guest path: expected one like /data"
            ));
        }
        if path == "/" {
            return Ok(());
        }
        for part in path[1..].split('/') {
            let reason = match part {
                "" => "an empty component (`//` or a trailing `/`)",
                "." | ".." => "a `.` or `..` component",
                _ if part.contains('\0') => "NUL",
                _ => continue,
            };
            return Err(format!(
                "`{shown}` is not a guest path: it contains {reason}; expected one like /data"
            ));
        }
        Ok(())
    }
}

impl FromStr for DirGrant {
    type Err = DirGrantError;

    /// `HOST:GUEST`, `HOST:GUEST:ro` or `HOST:GUEST:rw`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| DirGrantError {
            given: s.to_string(),
            reason: reason.to_string(),
        };
        let mut parts: Vec<&str> = s.split(':').collect();
        let writable = match parts.last() {
            Some(&"rw") if parts.len() == 3 => {
                parts.pop();
                true
            }
            Some(&"ro") if parts.len() == 3 => {
                parts.pop();
                false
            }
            _ => false,
        };
        let [host, guest] = parts.as_slice() else {
            return Err(fail("wrong number of `:`-separated parts"));
        };
        if host.is_empty() || guest.is_empty() {
            return Err(fail("empty path"));
        }
        Self::check_guest(guest).map_err(|reason| fail(&reason))?;
        Ok(DirGrant {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            writable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_grants_parse_with_read_only_default() {
        let g: DirGrant = "/tmp/x:/data".parse().unwrap();
        assert_eq!(g.host, PathBuf::from("/tmp/x"));
        assert_eq!(g.guest, "/data");
        assert!(!g.writable);
        assert!("/tmp/x:/data:rw".parse::<DirGrant>().unwrap().writable);
        assert!(!"/tmp/x:/data:ro".parse::<DirGrant>().unwrap().writable);
        assert!("/tmp/x".parse::<DirGrant>().is_err());
        assert!("/tmp/x:/data:wat".parse::<DirGrant>().is_err());
        assert!(":/data".parse::<DirGrant>().is_err());
        assert!("/tmp/x:/data/../..".parse::<DirGrant>().is_err());
        assert!("/tmp/x:data".parse::<DirGrant>().is_err());
    }

    #[test]
    fn guest_paths_are_absolute_plain_names() {
        for good in ["/", "/data", "/srv/in", "/a.b/c-d"] {
            assert_eq!(DirGrant::check_guest(good), Ok(()), "{good}");
        }
        for bad in [
            "/data/../..",
            "/..",
            "/data/.",
            "data",
            "",
            "//data",
            "/data/",
            "/a\0b",
        ] {
            assert!(DirGrant::check_guest(bad).is_err(), "{bad:?}");
        }
    }
}
