//! Names in the tree: [`ChildId`] (one child of one supervisor) and [`ChildPath`]
//! (where a supervisor or a child sits in the whole tree, `root/workers/counter`).
//!
//! Both are cheap to clone (reference-counted strings), because every event and
//! every incarnation carries them; building a path never allocates.
//!
//! Guarantee: a [`ChildId`] that passed spec validation is non-empty and holds no
//! `/`, so a path splits back into ids without ambiguity.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of a child within its supervisor (OTP's child id).
///
/// Dynamic children of a `simple_one_for_one` supervisor get generated ids
/// (`<spec id>-<n>`) unless the caller names them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(Arc<str>);

impl ChildId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ChildId {
    fn from(s: &str) -> Self {
        ChildId(Arc::from(s))
    }
}

impl From<String> for ChildId {
    fn from(s: String) -> Self {
        ChildId(Arc::from(s))
    }
}

impl From<&String> for ChildId {
    fn from(s: &String) -> Self {
        ChildId(Arc::from(s.as_str()))
    }
}

impl Borrow<str> for ChildId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ChildId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for ChildId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChildId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ChildId::from)
    }
}

/// Where something sits in the supervision tree: the path of a supervisor
/// (`root/workers`), optionally followed by one of its children (`root/workers/counter`).
///
/// Displays and serializes as the `/`-joined string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ChildPath {
    supervisor: Arc<str>,
    child: Option<ChildId>,
}

impl ChildPath {
    /// The path of a supervisor itself (the root's path is its name).
    pub fn supervisor(path: impl Into<Arc<str>>) -> Self {
        ChildPath {
            supervisor: path.into(),
            child: None,
        }
    }

    /// The path of `child` under the supervisor at `supervisor`.
    pub fn child(supervisor: Arc<str>, child: ChildId) -> Self {
        ChildPath {
            supervisor,
            child: Some(child),
        }
    }

    /// The path of the supervisor this path belongs to (itself for a supervisor path).
    pub fn supervisor_path(&self) -> &str {
        &self.supervisor
    }

    /// The child's id, `None` for a supervisor's own path.
    pub fn child_id(&self) -> Option<&ChildId> {
        self.child.as_ref()
    }
}

impl fmt::Display for ChildPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.child {
            Some(c) => write!(f, "{}/{}", self.supervisor, c),
            None => f.write_str(&self.supervisor),
        }
    }
}

impl fmt::Debug for ChildPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for ChildPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
