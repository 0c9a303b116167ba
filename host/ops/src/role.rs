//! Who may call an operation: the [`Role`] a caller's token must have.
//!
//! Roles are ordered, `read < operate < admin`, and a role may call every
//! operation of its own role and below. An operation's role is part of its
//! metadata ([`OpMeta::role`](crate::OpMeta::role)) and fails closed: an
//! operation registered without one needs `admin`, unless it is marked
//! read-only, which makes it `read`. Operations of plugins
//! (`[operations.ID]`) are `operate`.
//!
//! This module only names and orders roles; checking a caller against one
//! is the HTTP layer's (it knows callers, this crate does not).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a token may do, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Look: the tree, a child's info, health, events, metrics.
    Read,
    /// Run things: send, restart, kill, reload, call a component.
    Operate,
    /// Change how the host is set up: start and delete children, inject
    /// faults, change strategies, reload plugins, read the audit log.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Read, Role::Operate, Role::Admin];

    /// The role's name: `read`, `operate`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Operate => "operate",
            Self::Admin => "admin",
        }
    }

    /// `true` when a caller with this role may call what needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role: expected `read`, `operate` or `admin`")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Read < Role::Operate && Role::Operate < Role::Admin);
        assert!(Role::Admin.allows(Role::Read) && Role::Admin.allows(Role::Admin));
        assert!(Role::Operate.allows(Role::Read) && !Role::Operate.allows(Role::Admin));
        assert!(!Role::Read.allows(Role::Operate));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        let err = "root".parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("`root`"), "{err}");
        assert!("Admin".parse::<Role>().is_err(), "names are lowercase");
    }
}
