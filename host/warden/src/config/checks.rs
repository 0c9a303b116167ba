//! Checks on single values of `warden.toml` that serde's types cannot
//! express: environment names, guest paths, upper bounds on sizes and
//! times, and `send_to` naming a sibling that can receive.
//!
//! Each check returns the reason in words; the caller ([`Validator`])
//! adds the file and the key. What passes here can be handed to the
//! kernel, to WASI and to the runtime as is: no value accepted here makes
//! a later `spawn` fail, a `memory_mb << 20` wrap to 0, or a mailbox
//! channel panic at start.
//!
//! Must never: touch the file system (the caller resolves paths).

use std::collections::{BTreeMap, HashMap};

use super::{
    ChildKindConfig, ConfigError, RawChild, RawKind, RawSupervisor, SupervisorConfig, Validator,
};
use crate::component::DirGrant;
use crate::supervisor::Strategy;

/// Largest `memory_mb` of a component or operation plugin: 16 GiB. A
/// guest addresses at most 4 GiB per linear memory; this leaves room for
/// a few memories and tables, and far more than any sandboxed plugin
/// needs, while `memory_mb << 20` stays exact.
pub(super) const MAX_WASM_MEMORY_MB: usize = 16 << 10;

/// Largest `memory_mb` of a native worker: 4 TiB, more RAM than any host
/// Warden runs on has; a larger number is a typo, not a limit.
pub(super) const MAX_PROCESS_MEMORY_MB: u64 = 4 << 20;

/// Largest `output_kb` kept of a component's stdout and of its stderr:
/// 1 GiB (it is held in host memory).
pub(super) const MAX_OUTPUT_KB: usize = 1 << 20;

/// Largest mailbox: a million messages waiting is a backlog no child
/// catches up with (and tokio's channel panics above 2^61).
pub(super) const MAX_MAILBOX: usize = 1 << 20;

/// Largest wall-clock limit of a guest call and of a worker's readiness
/// wait: 30 days. A longer one is a typo (a unit slip), not a limit;
/// `0` already means "none" for a guest call.
pub(crate) const MAX_TIMEOUT_MS: u64 = 30 * 24 * 3600 * 1000;

/// Largest `host.pooling_instances`: each slot reserves address space for
/// its memories up front, so a pool of a million slots cannot be mapped.
pub(super) const MAX_POOLING_INSTANCES: u32 = 100_000;

/// `value` when it is at most `max`, else why not.
pub(super) fn at_most<T: PartialOrd + std::fmt::Display>(
    value: T,
    max: T,
    unit: &str,
) -> Result<T, String> {
    if value <= max {
        Ok(value)
    } else {
        Err(format!(
            "{value} is too large: expected at most {max} {unit}"
        ))
    }
}

/// An environment variable's name: not empty, no `=` (it ends the name in
/// `NAME=value`), no NUL (it ends the C string).
pub(super) fn env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("an environment variable needs a non-empty name".into())
    } else if name.contains('=') {
        Err(format!(
            "`{}` is not an environment variable name: `=` ends the name",
            name.escape_debug()
        ))
    } else if name.contains('\0') {
        Err(format!(
            "`{}` is not an environment variable name: it contains NUL",
            name.escape_debug()
        ))
    } else {
        Ok(())
    }
}

/// A string the kernel or a guest's C library reads as a C string (an
/// environment value, an argument): no NUL, which would cut it short.
pub(super) fn c_string(value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err(format!(
            "`{}` contains NUL, which would cut it short",
            value.escape_debug()
        ))
    } else {
        Ok(())
    }
}

impl Validator<'_> {
    /// `host.pooling_instances`, when on, has a slot for every component
    /// child the trees start (reloads, one-off calls and operation
    /// plugins take slots of their own while they run).
    pub(super) fn pool_fits(
        &self,
        slots: u32,
        trees: &[SupervisorConfig],
    ) -> Result<(), ConfigError> {
        fn components(sup: &SupervisorConfig) -> u64 {
            sup.children
                .iter()
                .map(|child| match &child.kind {
                    ChildKindConfig::Component(_) => 1,
                    ChildKindConfig::Supervisor(nested) => components(nested),
                    ChildKindConfig::Process(_) => 0,
                })
                .sum()
        }
        let needed: u64 = trees.iter().map(components).sum();
        if slots == 0 || u64::from(slots) >= needed {
            return Ok(());
        }
        Err(self.invalid(
            "host.pooling_instances",
            format!(
                "{slots} slot(s) cannot hold the {needed} component children the trees start: \
                 expected at least {needed}, more to leave room for reloads and calls (0: no pooling)"
            ),
        ))
    }

    /// `KEY.env`: names and values a process or a guest can be given.
    pub(super) fn env(&self, key: &str, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (name, value) in env {
            env_name(name)
                .and_then(|()| c_string(value))
                .map_err(|reason| self.invalid(format!("{key}.env.{}", toml_key(name)), reason))?;
        }
        Ok(())
    }

    /// `KEY.args`: each a C string.
    pub(super) fn args(&self, key: &str, args: &[String]) -> Result<(), ConfigError> {
        for (i, arg) in args.iter().enumerate() {
            c_string(arg).map_err(|reason| self.invalid(format!("{key}.args[{i}]"), reason))?;
        }
        Ok(())
    }

    /// `KEY.dirs[I].guest`: a guest path, each at most once.
    pub(super) fn guest_paths(&self, key: &str, guests: &[&str]) -> Result<(), ConfigError> {
        for (i, guest) in guests.iter().enumerate() {
            let key = format!("{key}.dirs[{i}].guest");
            DirGrant::check_guest(guest).map_err(|reason| self.invalid(&key, reason))?;
            if let Some(first) = guests[..i].iter().position(|g| g == guest) {
                return Err(self.invalid(
                    key,
                    format!("`{guest}` is already granted by dirs[{first}]"),
                ));
            }
        }
        Ok(())
    }

    /// `send_to` of every component child of `[supervisor.NAME]` names a
    /// component sibling: messages go by id to a sibling's mailbox, and
    /// only components have one. A `simple_one_for_one` supervisor's
    /// children are started later under ids chosen then, so there only
    /// the form of the id is checked.
    pub(super) fn send_to(&self, name: &str, raw: &RawSupervisor) -> Result<(), ConfigError> {
        let siblings: HashMap<&str, RawKind> =
            raw.children.iter().map(|c| (c.id(), c.kind())).collect();
        let dynamic = raw.strategy == Strategy::SimpleOneForOne;
        for (i, child) in raw.children.iter().enumerate() {
            // Only a component has `send_to`: its struct has the key.
            let RawChild::Component(component) = child else {
                continue;
            };
            for (j, to) in component.send_to.iter().enumerate() {
                let key = format!("supervisor.{name}.children[{i}].send_to[{j}]");
                if let Some(reason) = send_target(&siblings, dynamic, &component.id, to) {
                    return Err(self.invalid(key, reason));
                }
            }
        }
        Ok(())
    }
}

/// `name` as a TOML key: bare when it can be, else quoted.
pub(super) fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.escape_debug())
    }
}

/// Why child `from` cannot send to `to`, if it cannot.
fn send_target(
    siblings: &HashMap<&str, RawKind>,
    dynamic: bool,
    from: &str,
    to: &str,
) -> Option<String> {
    if to.trim().is_empty() || to.contains('/') {
        return Some(format!(
            "`{}` is not a child id: `send` reaches siblings by id",
            to.escape_debug()
        ));
    }
    if dynamic {
        return None;
    }
    let cannot_receive =
        |kind: &str| format!("`{to}` is a {kind} child: only component children receive messages");
    match siblings.get(to) {
        None => Some(format!(
            "`{to}` is not a sibling of `{from}`: no child of this supervisor has that id"
        )),
        Some(RawKind::Component) => None,
        Some(kind @ (RawKind::Process | RawKind::Supervisor)) => Some(cannot_receive(kind.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{Folder, ROOT, assert_names};

    fn component(extra: &str) -> String {
        format!(
            "{ROOT}[[supervisor.root.children]]\nid = \"a\"\nkind = \"component\"\npath = \"a.wasm\"\n{extra}\n"
        )
    }

    fn process(extra: &str) -> String {
        format!(
            "[host.policy]\nallow_commands = [\"/bin/sh\"]\n{ROOT}[[supervisor.root.children]]\nid = \"w\"\nkind = \"process\"\ncommand = \"/bin/sh\"\n{extra}\n"
        )
    }

    fn plugin(extra: &str) -> String {
        format!("{ROOT}[operations.p]\npath = \"a.wasm\"\n{extra}\n")
    }

    #[test]
    fn send_to_must_name_a_component_sibling() {
        let f = Folder::new();
        let siblings = "[[supervisor.root.children]]\nid = \"b\"\nkind = \"component\"\npath = \"a.wasm\"\n\
                        [[supervisor.root.children]]\nid = \"w\"\nkind = \"process\"\ncommand = \"/bin/sh\"\n\
                        [[supervisor.root.children]]\nid = \"s\"\nkind = \"supervisor\"\nsupervisor = \"sub\"\n\
                        [supervisor.sub]\nstrategy = \"one_for_one\"\n\
                        [[supervisor.sub.children]]\nid = \"deep\"\nkind = \"component\"\npath = \"a.wasm\"\n\
                        [host.policy]\nallow_commands = [\"/bin/sh\"]\n";
        let tree =
            |send_to: &str| format!("{}{siblings}", component(&format!("send_to = {send_to}")));
        f.accepts(&tree("[\"b\"]"));
        let key = "supervisor.root.children[0].send_to[1]";
        let err = f.error(&tree("[\"b\", \"nobody\"]"));
        assert_names(&err, key, "`nobody` is not a sibling of `a`");
        assert_names(&f.error(&tree("[\"b\", \"w\"]")), key, "is a process child");
        assert_names(
            &f.error(&tree("[\"b\", \"s\"]")),
            key,
            "is a supervisor child",
        );
        // A nephew is not a sibling, even spelled as a path.
        assert_names(
            &f.error(&tree("[\"b\", \"s/deep\"]")),
            key,
            "is not a child id",
        );
        assert_names(&f.error(&tree("[\"b\", \"\"]")), key, "is not a child id");
    }

    #[test]
    fn send_to_in_a_simple_one_for_one_supervisor_names_later_siblings() {
        let f = Folder::new();
        let text =
            component("send_to = [\"started-later\"]").replace("one_for_one", "simple_one_for_one");
        f.accepts(&text);
        let err = f.error(&text.replace("started-later", "x/y"));
        assert_names(
            &err,
            "supervisor.root.children[0].send_to[0]",
            "not a child id",
        );
    }

    #[test]
    fn guest_paths_in_dirs_are_checked() {
        let f = Folder::new();
        let dirs = |guest: &str| format!("dirs = [{{ host = \"data\", guest = \"{guest}\" }}]");
        for (text, key) in [
            (
                component(&dirs("/data/../..")),
                "supervisor.root.children[0].dirs[0].guest",
            ),
            (plugin(&dirs("/data/../..")), "operations.p.dirs[0].guest"),
        ] {
            assert_names(&f.error(&text), key, "`/data/../..` is not a guest path");
        }
        f.accepts(&component(&dirs("/data")));
        let twice =
            "dirs = [{ host = \"data\", guest = \"/d\" }, { host = \"data\", guest = \"/d\" }]";
        assert_names(
            &f.error(&component(twice)),
            "supervisor.root.children[0].dirs[1].guest",
            "already granted by dirs[0]",
        );
    }

    #[test]
    fn memory_beyond_any_machine_is_refused() {
        let f = Folder::new();
        // 2^44 MiB shifted to bytes was 0: "no memory at all".
        for mb in ["99999999999", "17592186044416"] {
            let limits = format!("limits = {{ memory_mb = {mb} }}");
            for (text, key) in [
                (
                    component(&limits),
                    "supervisor.root.children[0].limits.memory_mb",
                ),
                (plugin(&limits), "operations.p.limits.memory_mb"),
                (
                    process(&limits),
                    "supervisor.root.children[0].limits.memory_mb",
                ),
            ] {
                assert_names(&f.error(&text), key, "is too large");
            }
        }
        f.accepts(&component("limits = { memory_mb = 16384 }"));
        f.accepts(&process("limits = { memory_mb = 65536 }"));
    }

    #[test]
    fn environment_names_and_values_must_be_passable() {
        let f = Folder::new();
        for (env, key, words) in [
            ("{ \"A=B\" = \"x\" }", "env.\"A=B\"", "`=` ends the name"),
            ("{ \"\" = \"x\" }", "env.\"\"", "non-empty name"),
            ("{ \"A\\u0000B\" = \"x\" }", "env.\"A\\0B\"", "contains NUL"),
            ("{ A = \"x\\u0000y\" }", "env.A", "contains NUL"),
        ] {
            let env = format!("env = {env}");
            for text in [component(&env), process(&env)] {
                assert_names(
                    &f.error(&text),
                    &format!("supervisor.root.children[0].{key}"),
                    words,
                );
            }
        }
        f.accepts(&component(
            "env = { LANG = \"C\", \"dotted.name\" = \"ok\" }",
        ));
        let err = f.error(&process("inherit = [\"HOME\", \"A\\u0000\"]"));
        assert_names(&err, "supervisor.root.children[0].inherit[1]", "NUL");
        let err = f.error(&process("args = [\"-c\", \"x\\u0000\"]"));
        assert_names(&err, "supervisor.root.children[0].args[1]", "NUL");
    }

    #[test]
    fn sizes_and_times_that_would_overflow_are_refused() {
        let f = Folder::new();
        let huge = i64::MAX;
        for (text, key) in [
            (
                component(&format!("mailbox = {huge}")),
                "supervisor.root.children[0].mailbox",
            ),
            (
                component(&format!("limits = {{ output_kb = {huge} }}")),
                "supervisor.root.children[0].limits.output_kb",
            ),
            (
                component(&format!("limits = {{ timeout_ms = {huge} }}")),
                "supervisor.root.children[0].limits.timeout_ms",
            ),
            (
                plugin(&format!("limits = {{ timeout_ms = {huge} }}")),
                "operations.p.limits.timeout_ms",
            ),
            (
                process(&format!(
                    "readiness = {{ line = \"up\", timeout_ms = {huge} }}"
                )),
                "supervisor.root.children[0].readiness.timeout_ms",
            ),
            (
                format!("[host]\npooling_instances = 4000000000\n{}", component("")),
                "host.pooling_instances",
            ),
        ] {
            assert_names(&f.error(&text), key, "is too large");
        }
        f.accepts(&component("limits = { timeout_ms = 0 }\nmailbox = 1048576"));
    }

    #[test]
    fn a_pool_holds_every_component_child() {
        let f = Folder::new();
        let nested = "[[supervisor.root.children]]\nid = \"s\"\nkind = \"supervisor\"\nsupervisor = \"sub\"\n\
                      [supervisor.sub]\nstrategy = \"one_for_one\"\n\
                      [[supervisor.sub.children]]\nid = \"b\"\nkind = \"component\"\npath = \"a.wasm\"\n";
        let tree = |slots: u32| {
            format!(
                "[host]\npooling_instances = {slots}\n{}{nested}",
                component("")
            )
        };
        let err = f.error(&tree(1));
        assert_names(
            &err,
            "host.pooling_instances",
            "cannot hold the 2 component children",
        );
        f.accepts(&tree(2));
        f.accepts(&tree(0));
    }

    #[test]
    fn toml_keys_are_quoted_only_when_they_must_be() {
        assert_eq!(toml_key("LANG_2-x"), "LANG_2-x");
        assert_eq!(toml_key("A=B"), "\"A=B\"");
        assert_eq!(toml_key(""), "\"\"");
    }
}
