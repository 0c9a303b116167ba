//! `did you mean …?` for a child path the host does not know: the closest
//! path of the host's `tree`.
//!
//! Owns the choice of the closest path. Never talks to the host: it is
//! given the tree's JSON.

use serde_json::Value;

/// Every path in a `tree` result, the root's first, depth first.
pub(super) fn tree_paths(tree: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    let root = tree.get("path").and_then(Value::as_str).unwrap_or("root");
    paths.push(root.to_string());
    collect(tree, root, &mut paths);
    paths
}

fn collect(node: &Value, parent: &str, paths: &mut Vec<String>) {
    let children = node
        .get("children")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for child in children {
        // The host sends each child's path; a host that did not would
        // still have its ids.
        let path = match (child.get("path"), child.get("id")) {
            (Some(Value::String(path)), _) => path.clone(),
            (_, Some(Value::String(id))) => format!("{parent}/{id}"),
            _ => continue,
        };
        paths.push(path.clone());
        collect(child, &path, paths);
    }
}

/// The closest of `paths` to `wanted`: a path that ends in `/wanted`
/// (`todo` → `root/todo`; the shortest such), else the one at the smallest
/// edit distance, if that distance is small for the path's length.
pub(super) fn closest<'a>(wanted: &str, paths: &'a [String]) -> Option<&'a str> {
    let wanted = wanted.trim_matches('/');
    let suffix = format!("/{wanted}");
    if let Some(found) = paths
        .iter()
        .filter(|p| p.ends_with(&suffix))
        .min_by_key(|p| p.len())
    {
        return Some(found);
    }
    let (distance, best) = paths
        .iter()
        .map(|p| {
            // A typo in the last segment of an unqualified name counts
            // like one in the whole path (`tod` → `root/todo`).
            let last = p.rsplit('/').next().unwrap_or(p);
            (edit_distance(wanted, p).min(edit_distance(wanted, last)), p)
        })
        .min_by_key(|(d, p)| (*d, p.len()))?;
    // A third of the name may be wrong, at least one letter: more and the
    // "suggestion" is a guess.
    let allowed = (wanted.chars().count() / 3).max(1);
    (distance <= allowed).then_some(best.as_str())
}

/// The text added to a not-found error: `; did you mean \`root/todo\`?`,
/// or the paths there are when none is close.
pub(super) fn hint(wanted: &str, paths: &[String]) -> String {
    match closest(wanted, paths) {
        Some(path) => format!("; did you mean `{path}`?"),
        None if paths.is_empty() => String::new(),
        None => format!(
            "; the tree has {} (see `warden ctl tree`)",
            paths
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths() -> Vec<String> {
        tree_paths(&json!({
            "path": "root", "strategy": "one_for_one",
            "children": [
                {"id": "todo", "path": "root/todo", "type": "component"},
                {"id": "workers", "path": "root/workers", "type": "supervisor", "children": [
                    {"id": "sleeper", "path": "root/workers/sleeper", "type": "process"}
                ]},
                {"id": "counter", "type": "component"}
            ]
        }))
    }

    #[test]
    fn every_path_of_the_tree_is_collected() {
        assert_eq!(
            paths(),
            [
                "root",
                "root/todo",
                "root/workers",
                "root/workers/sleeper",
                "root/counter"
            ]
        );
    }

    #[test]
    fn a_bare_name_finds_its_full_path() {
        assert_eq!(closest("todo", &paths()), Some("root/todo"));
        assert_eq!(
            closest("workers/sleeper", &paths()),
            Some("root/workers/sleeper")
        );
        assert_eq!(closest("sleeper", &paths()), Some("root/workers/sleeper"));
    }

    #[test]
    fn a_typo_finds_the_nearest_path() {
        assert_eq!(closest("root/tood", &paths()), Some("root/todo"));
        assert_eq!(closest("countr", &paths()), Some("root/counter"));
        assert_eq!(
            closest("root/worker/sleeper", &paths()),
            Some("root/workers/sleeper")
        );
    }

    #[test]
    fn nothing_close_lists_the_paths_instead() {
        assert_eq!(closest("zzzzzzzz", &paths()), None);
        assert_eq!(
            hint("zzzzzzzz", &paths()[..2]),
            "; the tree has `root`, `root/todo` (see `warden ctl tree`)"
        );
        assert_eq!(hint("todo", &paths()), "; did you mean `root/todo`?");
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("todo", "todo"), 0);
    }
}
