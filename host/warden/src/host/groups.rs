//! Named groups of children across the tree, in the spirit of OTP's `pg`:
//! the host's [`Groups`] table, which `group.*` operations, rollouts and
//! traces by group read.
//!
//! Owns: which child path belongs to which group, and how it got there
//! ([`Source`]: the config file's `groups = [..]`, or `group.join`). A
//! group exists while it has members (the last `group.leave` drops it).
//!
//! Follows the tree: the config's memberships are set at start and
//! replaced by every applied config reload ([`Groups::set_config`]: a
//! child whose `groups` changed moves without restarting, and a member a
//! caller removed with `group.leave` comes back if the file still lists
//! it: the file is the desired state); a child removed from the tree
//! (config reload, `child.delete`, `sandbox.destroy`) leaves every group
//! with its subtree ([`Groups::forget_under`]). A child restarting keeps
//! its memberships: they belong to its path, not to an incarnation.
//!
//! Never does: check that a path exists (the operations do, against the
//! running tree, before [`Groups::join`]), or reach a member.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// How a child came to be in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `groups = [..]` in the config file.
    Config,
    /// `group.join` (or `sandbox.create`'s `groups`).
    Joined,
}

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub path: String,
    pub source: Source,
}

/// A group and its size, as `group.list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    pub name: String,
    pub members: usize,
}

/// The host's groups. Cheap to clone (one shared table).
#[derive(Clone, Default)]
pub struct Groups {
    /// Group name → member path → source; both sorted.
    inner: Arc<RwLock<BTreeMap<String, BTreeMap<String, Source>>>>,
}

impl Groups {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, BTreeMap<String, Source>>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, BTreeMap<String, Source>>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces every membership the config gave with `memberships`
    /// ((path, group) pairs); joined ones stay, and a joined member the
    /// file now lists counts as the file's.
    pub fn set_config(&self, memberships: &[(String, String)]) {
        let mut table = self.write();
        for members in table.values_mut() {
            members.retain(|_, source| *source != Source::Config);
        }
        for (path, group) in memberships {
            table
                .entry(group.clone())
                .or_default()
                .insert(path.clone(), Source::Config);
        }
        table.retain(|_, members| !members.is_empty());
    }

    /// Adds `path` to `group`; false when it was a member already (its
    /// source is left as it was).
    pub fn join(&self, group: &str, path: &str) -> bool {
        let mut table = self.write();
        let members = table.entry(group.to_string()).or_default();
        if members.contains_key(path) {
            return false;
        }
        members.insert(path.to_string(), Source::Joined);
        true
    }

    /// Removes `path` from `group`; false when it was not a member.
    pub fn leave(&self, group: &str, path: &str) -> bool {
        let mut table = self.write();
        let Some(members) = table.get_mut(group) else {
            return false;
        };
        let removed = members.remove(path).is_some();
        if members.is_empty() {
            table.remove(group);
        }
        removed
    }

    /// Removes `path` and every path below it from every group (a child
    /// removed from the tree, with its subtree).
    pub fn forget_under(&self, path: &str) {
        let below = format!("{path}/");
        let mut table = self.write();
        for members in table.values_mut() {
            members.retain(|member, _| member != path && !member.starts_with(&below));
        }
        table.retain(|_, members| !members.is_empty());
    }

    /// Every group with its size, by name.
    pub fn list(&self) -> Vec<GroupSummary> {
        self.read()
            .iter()
            .map(|(name, members)| GroupSummary {
                name: name.clone(),
                members: members.len(),
            })
            .collect()
    }

    /// The members of `group`, by path; `None` when there is no such
    /// group.
    pub fn members(&self, group: &str) -> Option<Vec<Member>> {
        self.read().get(group).map(|members| {
            members
                .iter()
                .map(|(path, source)| Member {
                    path: path.clone(),
                    source: *source,
                })
                .collect()
        })
    }

    /// The paths of `group`'s members, sorted; `None` when there is no
    /// such group.
    pub fn paths(&self, group: &str) -> Option<Vec<String>> {
        self.read()
            .get(group)
            .map(|members| members.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(p, g)| (p.to_string(), g.to_string()))
            .collect()
    }

    #[test]
    fn config_memberships_are_replaced_and_joined_ones_kept() {
        let groups = Groups::default();
        groups.set_config(&pairs(&[("root/a", "ingest"), ("root/b", "ingest")]));
        assert!(groups.join("ingest", "root/c"));
        assert!(!groups.join("ingest", "root/a"), "a member already");
        assert_eq!(
            groups.list(),
            [GroupSummary {
                name: "ingest".into(),
                members: 3
            }]
        );
        // The file drops b and puts a in `edge` too.
        groups.set_config(&pairs(&[("root/a", "ingest"), ("root/a", "edge")]));
        assert_eq!(groups.paths("ingest").unwrap(), ["root/a", "root/c"]);
        assert_eq!(
            groups.members("ingest").unwrap()[1],
            Member {
                path: "root/c".into(),
                source: Source::Joined
            }
        );
        assert_eq!(groups.paths("edge").unwrap(), ["root/a"]);
        groups.set_config(&[]);
        assert_eq!(groups.paths("ingest").unwrap(), ["root/c"]);
        assert_eq!(groups.members("edge"), None, "an empty group is gone");
    }

    #[test]
    fn leaving_and_removal_from_the_tree_drop_members() {
        let groups = Groups::default();
        groups.join("g", "root/sub");
        groups.join("g", "root/sub/x");
        groups.join("g", "root/subway");
        groups.join("h", "root/sub/x");
        groups.join("k", "root/other");
        assert!(groups.leave("k", "root/other"));
        assert!(!groups.leave("k", "root/other"));
        assert!(!groups.leave("nope", "root/sub"));
        assert_eq!(groups.paths("k"), None, "left empty, gone");
        groups.forget_under("root/sub");
        assert_eq!(
            groups.paths("g").unwrap(),
            ["root/subway"],
            "a sibling, not below"
        );
        assert_eq!(groups.paths("h"), None);
    }
}
