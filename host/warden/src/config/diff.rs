//! The difference between the config a host runs and a freshly loaded one:
//! what a config reload would do, as a [`Plan`].
//!
//! Owns: comparing two validated [`Config`]s — per supervisor (by its path
//! in the running tree) its children by id, the supervisors' flags, the
//! operation plugins by id — and refusing, naming the key, a difference
//! the running host cannot take (a `[host]` or `[api]` setting, the shape
//! of the top of the tree). Guarantees: pure (no file, no host, no clock),
//! so the same two configs always give the same plan; a child is
//! `changed` when anything of its validated spec differs (kind, file,
//! limits, capabilities, `send_to`, restart, shutdown, backoff, storm,
//! init config, command, args, env…; not its `groups`, the host's group
//! table follows those in place), a nested supervisor whose own spec
//! is the same is compared child by child instead. Never does: compile,
//! start or stop anything (that is `host::reconfigure`, which follows the
//! plan's [`SupervisorSteps`]).

use std::time::Duration;

use serde::Serialize;

use super::{ChildConfig, ChildKindConfig, Config, SupervisorConfig};
use crate::supervisor::{Restart, Strategy};

/// What a reload does. Paths are the children's paths in the running tree
/// (`root/counter`, `host/tree/child` with several top-level trees); a
/// nested supervisor added, removed or changed is listed once, its subtree
/// goes with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Children started, in start order.
    pub added: Vec<String>,
    /// Children terminated and deleted (they stop in reverse start
    /// order; listed in the old file's order).
    pub removed: Vec<String>,
    /// Children whose spec changed: terminated, deleted and started again
    /// (a new generation, fresh state).
    pub changed: Vec<String>,
    /// Children left running as they are (generation and state kept).
    pub unchanged: Vec<String>,
    /// Supervisors whose strategy, intensity or period changed (in place:
    /// their children keep running).
    pub supervisors_changed: Vec<String>,
    /// `[operations.ID]` plugins.
    pub operations: OperationsPlan,
    /// Whether the plan was carried out (false for a dry run).
    pub applied: bool,
    /// What to do, supervisor by supervisor, parents first.
    #[serde(skip)]
    pub(crate) steps: Vec<SupervisorSteps>,
}

/// The operation plugins a reload registers, unregisters or re-registers,
/// by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OperationsPlan {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Plan {
    /// Whether the reload changes anything at all.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.supervisors_changed.is_empty()
            && self.operations.added.is_empty()
            && self.operations.removed.is_empty()
            && self.operations.changed.is_empty()
    }

    /// One line for logs: the count of each list.
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} removed, {} changed, {} unchanged, {} supervisors changed, \
             operation plugins: {} added, {} removed, {} changed",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            self.unchanged.len(),
            self.supervisors_changed.len(),
            self.operations.added.len(),
            self.operations.removed.len(),
            self.operations.changed.len(),
        )
    }
}

/// What a reload does to one running supervisor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SupervisorSteps {
    /// The supervisor's path in the running tree.
    pub path: String,
    /// Ids to terminate and delete (removed and changed children), in
    /// reverse start order.
    pub stop: Vec<String>,
    /// New flags, when they changed.
    pub flags: Option<FlagChange>,
    /// Children to start, in order: the changed ones, then the added ones,
    /// each in file order.
    pub start: Vec<StartStep>,
}

/// A supervisor's new flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlagChange {
    /// `Some` when the strategy changed.
    pub strategy: Option<Strategy>,
    pub intensity: u32,
    pub period: Duration,
}

/// One child to start with its new spec.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StartStep {
    /// Its path in the running tree.
    pub path: String,
    /// Its key in the new file (`supervisor.root.children[2]`), for errors.
    pub key: String,
    pub config: ChildConfig,
}

/// A difference the running host cannot take: the reload is refused as a
/// whole and nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key} {reason}", file.display())]
pub struct Refusal {
    /// The new config file.
    pub file: std::path::PathBuf,
    /// The key that differs (`host.api_addr`).
    pub key: String,
    /// Why it cannot change live, and what to do instead.
    pub reason: String,
}

const RESTART_IT: &str = "cannot change while the host runs; restart it";

/// The plan taking a host running `old` to `new`, or why it cannot.
pub fn plan(old: &Config, new: &Config) -> Result<Plan, Refusal> {
    let refuse = |key: &str, reason: &str| Refusal {
        file: new.file.clone(),
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if let Some(key) = fixed_setting_changed(old, new) {
        return Err(refuse(key, RESTART_IT));
    }
    let mut plan = Plan::default();
    match (old.trees.as_slice(), new.trees.as_slice()) {
        ([old_tree], [new_tree]) => {
            if old_tree.name != new_tree.name {
                return Err(refuse(
                    "supervisor",
                    &format!(
                        "the top-level supervisor `{}` is now `{}`: the root of a running \
                         host cannot be renamed; restart it",
                        old_tree.name, new_tree.name
                    ),
                ));
            }
            supervisor(old_tree, new_tree, &old_tree.name, &new.file, &mut plan)?;
        }
        (old_trees, new_trees) if old_trees.len() > 1 && new_trees.len() > 1 => {
            // Several trees run under an implicit `host` supervisor (see
            // `host::build`): they are its children, added and removed
            // like any.
            let implicit = |trees: &[SupervisorConfig]| SupervisorConfig {
                name: "host".into(),
                strategy: Strategy::OneForOne,
                intensity: 0,
                period: Duration::from_secs(1),
                children: trees.iter().map(tree_child).collect(),
            };
            supervisor(
                &implicit(old_trees),
                &implicit(new_trees),
                "host",
                &new.file,
                &mut plan,
            )?;
        }
        (old_trees, new_trees) => {
            return Err(refuse(
                "supervisor",
                &format!(
                    "the host runs {} top-level supervisor(s) and the file has {}: going \
                     between one tree and several changes the root; restart it",
                    old_trees.len(),
                    new_trees.len()
                ),
            ));
        }
    }
    operations(old, new, &mut plan.operations);
    Ok(plan)
}

/// A top-level tree as a child of the implicit `host` root, as
/// `host::build` starts it.
fn tree_child(tree: &SupervisorConfig) -> ChildConfig {
    ChildConfig {
        id: tree.name.clone(),
        restart: Restart::Permanent,
        shutdown: None,
        backoff: None,
        storm: None,
        groups: Vec::new(),
        kind: ChildKindConfig::Supervisor(tree.clone()),
    }
}

/// The first `[host]`, `[snapshots]` or `[api]` key whose value differs:
/// these are read once, when the host starts (the API's address and
/// guards, the engine, the state dir, the registry, the monitor, the
/// snapshot store's retention). `[host.policy]` is not among
/// them: it only decides which process children a file may have, and the
/// new file was checked against its own.
fn fixed_setting_changed(old: &Config, new: &Config) -> Option<&'static str> {
    let (o, n) = (&old.host, &new.host);
    let (oa, na) = (&old.api, &new.api);
    [
        ("host.state_dir", o.state_dir == n.state_dir),
        ("host.api_addr", o.api_addr == n.api_addr),
        ("host.token", o.token == n.token),
        ("host.epoch_tick_ms", o.epoch_tick == n.epoch_tick),
        (
            "host.wasm_backtraces",
            o.wasm_backtraces == n.wasm_backtraces,
        ),
        (
            "host.pooling_instances",
            o.pooling_instances == n.pooling_instances,
        ),
        (
            "host.shutdown_grace_ms",
            o.shutdown_grace == n.shutdown_grace,
        ),
        (
            "host.monitor.interval_ms",
            o.monitor_interval == n.monitor_interval,
        ),
        ("host.registry", o.retention == n.retention),
        ("host.compile", o.compile == n.compile),
        ("host.cache", o.cache == n.cache),
        ("host.cgroup.mode", o.cgroup == n.cgroup),
        (
            "snapshots.keep_per_child",
            old.snapshots.keep_per_child == new.snapshots.keep_per_child,
        ),
        (
            "snapshots.max_upload_bytes",
            old.snapshots.max_upload_bytes == new.snapshots.max_upload_bytes,
        ),
        ("history", old.history == new.history),
        ("health", old.health == new.health),
        ("chaos", old.chaos == new.chaos),
        // The host registered on the bus at start, as this name.
        ("fleet", old.fleet == new.fleet),
        (
            "api.max_timeout_ms",
            oa.limits.max_timeout == na.limits.max_timeout,
        ),
        (
            "api.max_memory_mb",
            oa.limits.max_memory_mb == na.limits.max_memory_mb,
        ),
        ("api.max_fuel", oa.limits.max_fuel == na.limits.max_fuel),
        ("api.allowed_hosts", oa.allowed_hosts == na.allowed_hosts),
        (
            "api.allowed_origins",
            oa.allowed_origins == na.allowed_origins,
        ),
        // Who may call and what they may reach: the API server and the
        // built-in operations took these at start.
        ("api.tokens", oa.tokens == na.tokens),
        ("api.audit_keep", oa.audit_keep == na.audit_keep),
        (
            "api.max_component_bytes",
            oa.max_component_bytes == na.max_component_bytes,
        ),
        ("api.path_roots", oa.path_roots == na.path_roots),
        ("api.sandboxes", oa.sandboxes == na.sandboxes),
        ("api.grants", oa.grants == na.grants),
    ]
    .into_iter()
    .find_map(|(key, same)| (!same).then_some(key))
}

/// Compares one supervisor running at `path` with its new config, both
/// found under the same path.
fn supervisor(
    old: &SupervisorConfig,
    new: &SupervisorConfig,
    path: &str,
    file: &std::path::Path,
    plan: &mut Plan,
) -> Result<(), Refusal> {
    let key = format!("supervisor.{}", new.name);
    let dynamic = |s: &SupervisorConfig| s.strategy == Strategy::SimpleOneForOne;
    if (dynamic(old) || dynamic(new)) && old != new {
        // A simple_one_for_one supervisor keeps a template, not children;
        // it cannot switch kinds of bookkeeping or template while it runs.
        return Err(Refusal {
            file: file.to_path_buf(),
            key,
            reason: "a simple_one_for_one supervisor (or one becoming or ceasing to be one) \
                     cannot change in place; nest it under another supervisor so it can be \
                     restarted with its new spec, or restart the host"
                .to_string(),
        });
    }
    let mut steps = SupervisorSteps {
        path: path.to_string(),
        stop: Vec::new(),
        flags: None,
        start: Vec::new(),
    };
    if (old.strategy, old.intensity, old.period) != (new.strategy, new.intensity, new.period) {
        steps.flags = Some(FlagChange {
            strategy: (old.strategy != new.strategy).then_some(new.strategy),
            intensity: new.intensity,
            period: new.period,
        });
        plan.supervisors_changed.push(path.to_string());
    }
    let child_path = |id: &str| format!("{path}/{id}");
    // Removed children, and changed ones, stop in reverse start order.
    for old_child in old.children.iter().rev() {
        match new.children.iter().find(|c| c.id == old_child.id) {
            None => {
                plan.removed.insert(0, child_path(&old_child.id));
                steps.stop.push(old_child.id.clone());
            }
            Some(new_child) if restarts(old_child, new_child) => {
                steps.stop.push(old_child.id.clone());
            }
            Some(_) => {}
        }
    }
    let mut added = Vec::new();
    let mut nested = Vec::new();
    for (i, new_child) in new.children.iter().enumerate() {
        let step = || StartStep {
            path: child_path(&new_child.id),
            key: format!("{key}.children[{i}]"),
            config: new_child.clone(),
        };
        match old.children.iter().find(|c| c.id == new_child.id) {
            None => {
                plan.added.push(child_path(&new_child.id));
                added.push(step());
            }
            Some(old_child) if restarts(old_child, new_child) => {
                plan.changed.push(child_path(&new_child.id));
                steps.start.push(step());
            }
            Some(old_child) => {
                plan.unchanged.push(child_path(&new_child.id));
                if let (ChildKindConfig::Supervisor(o), ChildKindConfig::Supervisor(n)) =
                    (&old_child.kind, &new_child.kind)
                {
                    nested.push((o, n, child_path(&new_child.id)));
                }
            }
        }
    }
    steps.start.extend(added);
    if steps.flags.is_some() || !steps.stop.is_empty() || !steps.start.is_empty() {
        plan.steps.push(steps);
    }
    for (o, n, nested_path) in nested {
        supervisor(o, n, &nested_path, file, plan)?;
    }
    Ok(())
}

/// Whether a child kept by id must restart: any difference in its spec,
/// except inside a nested supervisor whose own spec (restart, shutdown,
/// backoff, storm) is the same and that can change in place (compared
/// child by child instead). A nested simple_one_for_one supervisor that
/// changes at all restarts.
fn restarts(old: &ChildConfig, new: &ChildConfig) -> bool {
    match (&old.kind, &new.kind) {
        (ChildKindConfig::Supervisor(o), ChildKindConfig::Supervisor(n)) => {
            let own_spec = |c: &ChildConfig| (c.restart, c.shutdown, c.backoff, c.storm);
            let dynamic = |s: &SupervisorConfig| s.strategy == Strategy::SimpleOneForOne;
            own_spec(old) != own_spec(new) || ((dynamic(o) || dynamic(n)) && o != n)
        }
        // Groups are the host's table, not the child's spec: joining or
        // leaving one never restarts it.
        _ => without_groups(old) != without_groups(new),
    }
}

fn without_groups(child: &ChildConfig) -> ChildConfig {
    ChildConfig {
        groups: Vec::new(),
        ..child.clone()
    }
}

fn operations(old: &Config, new: &Config, out: &mut OperationsPlan) {
    for plugin in &new.operations {
        match old.operations.iter().find(|o| o.id == plugin.id) {
            None => out.added.push(plugin.id.clone()),
            Some(o) if o != plugin => out.changed.push(plugin.id.clone()),
            Some(_) => {}
        }
    }
    for plugin in &old.operations {
        if !new.operations.iter().any(|n| n.id == plugin.id) {
            out.removed.push(plugin.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with two component files and a data dir, for configs
    /// that name them.
    struct Files(tempfile::TempDir);

    impl Files {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            for name in ["a.wasm", "b.wasm"] {
                std::fs::write(dir.path().join(name), b"\0asm").expect("write wasm");
            }
            Files(dir)
        }

        fn config(&self, text: &str) -> Config {
            crate::config::parse(&self.0.path().join("warden.toml"), text)
                .unwrap_or_else(|e| panic!("valid config: {e}\n{text}"))
        }
    }

    const BASE: &str = r#"
[supervisor.root]
strategy = "one_for_one"
intensity = 3
[[supervisor.root.children]]
id = "a"
kind = "component"
path = "a.wasm"
[[supervisor.root.children]]
id = "b"
kind = "component"
path = "b.wasm"
limits = { memory_mb = 16 }
[[supervisor.root.children]]
id = "inner"
kind = "supervisor"
supervisor = "inner"
[supervisor.inner]
strategy = "one_for_all"
[[supervisor.inner.children]]
id = "c"
kind = "component"
path = "a.wasm"
"#;

    fn plan_of(old: &str, new: &str) -> Result<Plan, Refusal> {
        let files = Files::new();
        plan(&files.config(old), &files.config(new))
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn changing_a_childs_groups_restarts_nothing() {
        let grouped = BASE.replacen(
            "path = \"b.wasm\"\n",
            "path = \"b.wasm\"\ngroups = [\"ingest\"]\n",
            1,
        );
        assert_ne!(grouped, BASE);
        let p = plan_of(BASE, &grouped).unwrap();
        assert!(p.is_empty(), "{p:?}");
        assert!(p.unchanged.contains(&"root/b".to_string()), "{p:?}");
        let limits = grouped.replace("memory_mb = 16", "memory_mb = 32");
        let p = plan_of(BASE, &limits).unwrap();
        assert_eq!(p.changed, strs(&["root/b"]));
    }

    #[test]
    fn the_same_file_is_all_unchanged() {
        let p = plan_of(BASE, BASE).unwrap();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            p.unchanged,
            strs(&["root/a", "root/b", "root/inner", "root/inner/c"])
        );
        assert!(p.steps.is_empty());
    }

    #[test]
    fn children_are_added_removed_and_changed_by_id() {
        let new = BASE
            .replace("memory_mb = 16", "memory_mb = 32")
            .replace(
                "[[supervisor.root.children]]\nid = \"a\"\nkind = \"component\"\npath = \"a.wasm\"\n",
                "",
            )
            .replace(
                "[supervisor.inner]",
                "[[supervisor.root.children]]\nid = \"d\"\nkind = \"component\"\npath = \"b.wasm\"\n\
                 [supervisor.inner]",
            );
        let p = plan_of(BASE, &new).unwrap();
        assert_eq!(p.removed, strs(&["root/a"]));
        assert_eq!(p.changed, strs(&["root/b"]));
        assert_eq!(p.added, strs(&["root/d"]));
        assert_eq!(p.unchanged, strs(&["root/inner", "root/inner/c"]));
        assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
        let root = &p.steps[0];
        assert_eq!(root.path, "root");
        assert_eq!(root.stop, strs(&["b", "a"]), "reverse start order");
        let starts: Vec<(&str, &str)> = root
            .start
            .iter()
            .map(|s| (s.path.as_str(), s.key.as_str()))
            .collect();
        assert_eq!(
            starts,
            [
                ("root/b", "supervisor.root.children[0]"),
                ("root/d", "supervisor.root.children[2]")
            ],
            "changed first, then added, keyed in the new file"
        );
    }

    #[test]
    fn every_part_of_a_childs_spec_counts() {
        for (from, to) in [
            ("path = \"b.wasm\"", "path = \"a.wasm\""),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16, fuel = 5 }",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nsend_to = [\"a\"]",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nrestart = \"transient\"",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nshutdown = 10",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nconfig = \"x\"",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nenv = { A = \"1\" }",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nwatch = true",
            ),
            (
                "limits = { memory_mb = 16 }",
                "limits = { memory_mb = 16 }\nbackoff = { initial_ms = 10, max_ms = 100 }",
            ),
        ] {
            let p = plan_of(BASE, &BASE.replace(from, to)).unwrap();
            assert_eq!(p.changed, strs(&["root/b"]), "{to}");
            assert_eq!(p.unchanged.len(), 3, "{to}");
        }
    }

    #[test]
    fn a_nested_supervisor_is_compared_child_by_child_unless_its_own_spec_changed() {
        let p = plan_of(BASE, &BASE.replace("id = \"c\"", "id = \"e\"")).unwrap();
        assert_eq!(p.removed, strs(&["root/inner/c"]));
        assert_eq!(p.added, strs(&["root/inner/e"]));
        assert!(p.unchanged.contains(&"root/inner".to_string()));
        assert_eq!(p.steps[0].path, "root/inner");

        let own = BASE.replace(
            "supervisor = \"inner\"",
            "supervisor = \"inner\"\nrestart = \"transient\"",
        );
        let p = plan_of(BASE, &own).unwrap();
        assert_eq!(
            p.changed,
            strs(&["root/inner"]),
            "the whole subtree restarts"
        );
        assert!(!p.unchanged.contains(&"root/inner/c".to_string()));
    }

    #[test]
    fn flag_changes_are_listed_and_keep_the_children() {
        let p = plan_of(
            BASE,
            &BASE
                .replace("strategy = \"one_for_one\"", "strategy = \"rest_for_one\"")
                .replace(
                    "strategy = \"one_for_all\"\n",
                    "strategy = \"one_for_all\"\nperiod_ms = 900\n",
                ),
        )
        .unwrap();
        assert_eq!(p.supervisors_changed, strs(&["root", "root/inner"]));
        assert_eq!(p.unchanged.len(), 4);
        let flags: Vec<Option<FlagChange>> = p.steps.iter().map(|s| s.flags).collect();
        assert_eq!(
            flags,
            [
                Some(FlagChange {
                    strategy: Some(Strategy::RestForOne),
                    intensity: 3,
                    period: Duration::from_secs(5)
                }),
                Some(FlagChange {
                    strategy: None,
                    intensity: 1,
                    period: Duration::from_millis(900)
                }),
            ]
        );
    }

    #[test]
    fn a_setting_read_at_start_refuses_the_whole_reload_naming_its_key() {
        for (text, key) in [
            ("[host]\napi_addr = \"127.0.0.1:9999\"\n", "host.api_addr"),
            ("[host]\nstate_dir = \"elsewhere\"\n", "host.state_dir"),
            ("[host]\npooling_instances = 10\n", "host.pooling_instances"),
            ("[host]\nepoch_tick_ms = 2\n", "host.epoch_tick_ms"),
            ("[host]\nwasm_backtraces = true\n", "host.wasm_backtraces"),
            ("[host]\ntoken = \"s3cret\"\n", "host.token"),
            ("[api]\nmax_memory_mb = 5\n", "api.max_memory_mb"),
            ("[api]\npath_roots = [\".\"]\n", "api.path_roots"),
            (
                "[api]\nmax_component_bytes = 1000\n",
                "api.max_component_bytes",
            ),
            ("[api]\naudit_keep = 10\n", "api.audit_keep"),
            (
                "[[api.tokens]]\nname = \"v\"\nrole = \"read\"\ntoken = \"s3cret\"\n",
                "api.tokens",
            ),
            ("[api.grants.g]\nhost = \".\"\n", "api.grants"),
            ("[api.sandboxes]\n", "api.sandboxes"),
            (
                "[fleet]\nnats = \"nats://127.0.0.1:4222\"\nname = \"h\"\n",
                "fleet",
            ),
        ] {
            let err = plan_of(BASE, &format!("{text}{BASE}")).unwrap_err();
            assert_eq!(err.key, key);
            let message = err.to_string();
            assert!(
                message.contains("warden.toml: ")
                    && message.ends_with(&format!(
                        "{key} cannot change while the host runs; restart it"
                    )),
                "{message}"
            );
            assert!(
                !message.contains("s3cret"),
                "never echoes a token: {message}"
            );
        }
        // [host.policy] and [reload] may change.
        let live = format!(
            "[host.policy]\nallow_commands = [\"/bin/sh\"]\n[reload]\nprobation_ms = 0\n{BASE}"
        );
        assert!(plan_of(BASE, &live).unwrap().is_empty());
    }

    #[test]
    fn the_top_of_the_tree_keeps_its_shape() {
        let renamed = BASE.replace("supervisor.root", "supervisor.top");
        assert_eq!(plan_of(BASE, &renamed).unwrap_err().key, "supervisor");
        let second = format!("{BASE}\n[supervisor.other]\nstrategy = \"one_for_one\"\n");
        assert_eq!(plan_of(BASE, &second).unwrap_err().key, "supervisor");
        let third = format!("{second}\n[supervisor.third]\nstrategy = \"one_for_one\"\n");
        let p = plan_of(&second, &third).unwrap();
        assert_eq!(p.added, strs(&["host/third"]));
        for tree in ["host/root", "host/other", "host/root/inner/c"] {
            assert!(p.unchanged.contains(&tree.to_string()), "{tree}: {p:?}");
        }
        let dynamic = "[supervisor.root]\nstrategy = \"simple_one_for_one\"\n\
                       [[supervisor.root.children]]\nid = \"t\"\nkind = \"component\"\npath = \"a.wasm\"\n";
        let err = plan_of(dynamic, &dynamic.replace("a.wasm", "b.wasm")).unwrap_err();
        assert_eq!(err.key, "supervisor.root");
        assert!(plan_of(dynamic, dynamic).unwrap().is_empty());
    }

    #[test]
    fn operation_plugins_are_compared_by_id() {
        let ops = |body: &str| format!("{BASE}\n{body}");
        let old = ops("[operations.x]\npath = \"a.wasm\"\n[operations.y]\npath = \"a.wasm\"\n");
        let new = ops("[operations.x]\npath = \"b.wasm\"\n[operations.z]\npath = \"a.wasm\"\n");
        let p = plan_of(&old, &new).unwrap();
        assert_eq!(
            p.operations,
            OperationsPlan {
                added: strs(&["z"]),
                removed: strs(&["y"]),
                changed: strs(&["x"]),
            }
        );
        assert!(!p.is_empty());
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["operations"]["added"], serde_json::json!(["z"]));
        assert_eq!(json["applied"], false);
        assert!(json.get("steps").is_none(), "steps are internal");
    }
}
