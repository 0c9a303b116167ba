//! `warden.toml` read from strings, with no built plugin: a component's
//! file is only checked to exist at load, so a folder with a dummy
//! `a.wasm` is enough for every rule here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// A folder with a `warden.toml` path in it, `a.wasm` beside it and a
/// `data/` directory to grant.
pub(super) struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wasm"), b"not checked at load").unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        Self { dir }
    }

    pub(super) fn file(&self) -> PathBuf {
        self.dir.path().join("warden.toml")
    }

    /// The error loading `text` gives, which must name this file.
    pub(super) fn error(&self, text: &str) -> String {
        let err = match parse(&self.file(), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(err) => err.to_string(),
        };
        let file = self.file().display().to_string();
        assert!(err.starts_with(&file), "the error names the file: {err}");
        err
    }

    pub(super) fn accepts(&self, text: &str) -> Config {
        parse(&self.file(), text).unwrap_or_else(|err| panic!("refused: {err}\n{text}"))
    }
}

/// `err` names `key` (as `file: key: reason`) and says `words`.
pub(super) fn assert_names(err: &str, key: &str, words: &str) {
    assert!(
        err.contains(&format!(": {key}: ")),
        "names the key `{key}`: {err}"
    );
    assert!(err.contains(words), "says `{words}`: {err}");
}

pub(super) const ROOT: &str = "[supervisor.root]\nstrategy = \"one_for_one\"\n";

/// A tree whose one child is `kind` with the keys `extra`.
fn one_child(kind: &str, extra: &str) -> String {
    let required = match kind {
        "component" => "path = \"a.wasm\"\n",
        "process" => "command = \"/bin/sh\"\n",
        "supervisor" => "supervisor = \"sub\"\n",
        _ => "",
    };
    format!(
        "[host.policy]\nallow_commands = [\"/bin/sh\"]\nallow_cwds = [\"data\"]\n{ROOT}\
         [[supervisor.root.children]]\nid = \"c\"\nkind = \"{kind}\"\n{required}{extra}\n\
         [supervisor.sub]\nstrategy = \"one_for_one\"\n"
    )
}

const CHILD: &str = "supervisor.root.children[0]";

#[test]
fn each_kind_reads_its_own_keys() {
    let f = Folder::new();
    let c = f.accepts(&one_child(
        "component",
        "restart = \"transient\"\nshutdown = 300\nconfig = \"x=1\"\nmailbox = 8\nwatch = true\n\
         limits = { memory_mb = 8, fuel = 100, timeout_ms = 0, output_kb = 4 }\n\
         dirs = [{ host = \"data\", guest = \"/data\", writable = true }]\n\
         env = { A = \"1\" }\nargs = [\"-v\"]\n\
         backoff = { initial_ms = 10, max_ms = 100 }\nstorm = { per_minute = 5, action = \"escalate\" }",
    ));
    let child = &c.trees[0].children[0];
    assert_eq!(child.id, "c");
    assert_eq!(child.restart, Restart::Transient);
    assert_eq!(
        child.shutdown,
        Some(Shutdown::Timeout(Duration::from_millis(300)))
    );
    assert_eq!(
        child.backoff.as_ref().map(|b| b.max),
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        child.storm.as_ref().map(|s| s.action),
        Some(StormAction::Escalate)
    );
    let ChildKindConfig::Component(component) = &child.kind else {
        panic!("a component: {:?}", child.kind);
    };
    assert!(component.path.is_absolute() && component.path.ends_with("a.wasm"));
    assert_eq!(component.init_config, "x=1");
    assert_eq!(component.mailbox, 8);
    assert!(component.watch);
    assert_eq!(component.limits.memory_bytes, 8 << 20);
    assert_eq!(component.limits.fuel, Some(100));
    assert_eq!(component.limits.timeout, None);
    assert_eq!(component.limits.output_bytes, 4 << 10);
    assert!(component.caps.dirs[0].writable);
    assert_eq!(component.caps.env, [("A".to_string(), "1".to_string())]);
    assert_eq!(component.caps.args, ["-v"]);

    let c = f.accepts(&one_child(
        "process",
        "args = [\"-c\", \"true\"]\ncwd = \"data\"\nenv = { A = \"1\" }\ninherit = [\"HOME\"]\n\
         limits = { memory_mb = 64, cpu_secs = 2, wall_secs = 3, open_files = 40, max_processes = 4 }\n\
         readiness = { line = \"up\", timeout_ms = 700 }\nshutdown = \"brutal_kill\"",
    ));
    let child = &c.trees[0].children[0];
    assert_eq!(child.shutdown, Some(Shutdown::BrutalKill));
    let ChildKindConfig::Process(process) = &child.kind else {
        panic!("a process: {:?}", child.kind);
    };
    assert!(process.command.path().is_absolute());
    assert_eq!(process.args, ["-c", "true"]);
    assert!(process.cwd.is_some());
    assert_eq!(process.inherit, ["HOME"]);
    assert_eq!(process.limits.memory_mb, Some(64));
    assert_eq!(process.limits.max_processes, Some(4));
    assert_eq!(
        process.readiness.as_ref().map(|r| r.timeout),
        Some(Duration::from_millis(700))
    );

    let c = f.accepts(&one_child(
        "supervisor",
        "restart = \"temporary\"\nshutdown = \"infinity\"",
    ));
    let child = &c.trees[0].children[0];
    assert_eq!(child.restart, Restart::Temporary);
    assert_eq!(child.shutdown, Some(Shutdown::Infinity));
    let ChildKindConfig::Supervisor(sub) = &child.kind else {
        panic!("a supervisor: {:?}", child.kind);
    };
    assert_eq!(sub.name, "sub");
    assert_eq!(c.trees.len(), 1, "a nested supervisor is not a tree");
}

#[test]
fn a_key_of_another_kind_is_refused_naming_the_key_and_the_kind() {
    let f = Folder::new();
    for (kind, extra, key) in [
        ("component", "command = \"/bin/sh\"", "command"),
        ("component", "supervisor = \"sub\"", "supervisor"),
        ("component", "readiness = { line = \"up\" }", "readiness"),
        ("component", "inherit = []", "inherit"),
        ("component", "limits = { cpu_secs = 1 }", "limits.cpu_secs"),
        ("process", "path = \"a.wasm\"", "path"),
        ("process", "send_to = [\"c\"]", "send_to"),
        ("process", "mailbox = 8", "mailbox"),
        ("process", "watch = false", "watch"),
        ("process", "dirs = []", "dirs"),
        ("process", "limits = { fuel = 9 }", "limits.fuel"),
        ("process", "limits = { output_kb = 9 }", "limits.output_kb"),
        ("supervisor", "path = \"a.wasm\"", "path"),
        ("supervisor", "limits = { memory_mb = 8 }", "limits"),
        ("supervisor", "env = { A = \"1\" }", "env"),
        ("supervisor", "args = [\"x\"]", "args"),
        ("supervisor", "mailbox = 8", "mailbox"),
    ] {
        let err = f.error(&one_child(kind, extra));
        let field = key.rsplit('.').next().unwrap_or(key);
        assert_names(
            &err,
            &format!("{CHILD}.{key}"),
            &format!("unknown field `{field}`, expected "),
        );
        assert!(
            err.contains(&format!("(in a child of kind \"{kind}\")")),
            "names the kind: {err}"
        );
    }
    // What was expected lists the kind's own keys.
    let err = f.error(&one_child("process", "path = \"a.wasm\""));
    assert!(
        err.contains("`command`") && !err.contains("`mailbox`"),
        "{err}"
    );
    let err = f.error(&one_child("component", "limits = { cpu_secs = 1 }"));
    assert!(
        err.contains("`fuel`") && !err.contains("`wall_secs`"),
        "{err}"
    );
}

#[test]
fn kind_is_required_and_must_be_one_of_three() {
    let f = Folder::new();
    let tree = |kind: &str| {
        format!("{ROOT}[[supervisor.root.children]]\nid = \"c\"\npath = \"a.wasm\"\n{kind}\n")
    };
    let expected = "expected one of `component`, `supervisor`, `process`";
    assert_names(&f.error(&tree("")), &format!("{CHILD}.kind"), "missing");
    assert_names(&f.error(&tree("")), &format!("{CHILD}.kind"), expected);
    let err = f.error(&tree("kind = \"thread\""));
    assert_names(&err, &format!("{CHILD}.kind"), "unknown kind `thread`");
    assert_names(&err, &format!("{CHILD}.kind"), expected);
    let err = f.error(&tree("kind = 3"));
    assert_names(&err, &format!("{CHILD}.kind"), "integer is not a kind");
    f.accepts(&tree("kind = \"component\""));
}

#[test]
fn a_value_of_the_wrong_shape_in_a_child_names_its_key() {
    let f = Folder::new();
    for (extra, key, words) in [
        (
            "limits = { memory_mb = \"lots\" }",
            "limits.memory_mb",
            "invalid type",
        ),
        (
            "dirs = [{ host = \"data\" }]",
            "dirs[0]",
            "missing field `guest`",
        ),
        (
            "dirs = [{ host = \"data\", guest = \"/d\", mode = 1 }]",
            "dirs[0].mode",
            "unknown field `mode`",
        ),
        ("env = { \"A B\" = 1 }", "env.\"A B\"", "invalid type"),
        (
            "shutdown = \"whenever\"",
            "shutdown",
            "brutal_kill, infinity or a number",
        ),
        ("restart = \"often\"", "restart", "unknown variant `often`"),
        (
            "backoff = { initial_ms = 1 }",
            "backoff",
            "missing field `max_ms`",
        ),
        ("mailbox = -1", "mailbox", "invalid value"),
    ] {
        let err = f.error(&one_child("component", extra));
        assert_names(&err, &format!("{CHILD}.{key}"), words);
    }
    let err = f.error(&one_child("component", "").replace("id = \"c\"\n", ""));
    assert_names(&err, CHILD, "missing field `id`");
    let err = f.error(&one_child("component", "").replace("id = \"c\"", "id = 3"));
    assert_names(&err, &format!("{CHILD}.id"), "invalid type: integer `3`");
}

#[test]
fn unknown_keys_outside_children_are_refused_where_they_are() {
    let f = Folder::new();
    let base = one_child("component", "");
    for text in [
        format!("bogus = 1\n{base}"),
        format!("[host]\nbogus = 1\n{base}"),
        format!("[host.policy]\nbogus = 1\n{}", component_only()),
        format!("{base}[supervisor.root.bogus]\nx = 1\n"),
        format!("{base}[api]\nbogus = 1\n"),
        format!("{base}[reload]\nbogus = 1\n"),
        format!("{base}[operations.p]\npath = \"a.wasm\"\nbogus = 1\n"),
        format!("{base}[operations.p]\npath = \"a.wasm\"\nlimits = {{ bogus = 1 }}\n"),
    ] {
        let err = f.error(&text);
        assert!(err.contains("unknown field `bogus`"), "{err}");
        // Outside children, toml's location: `file:line:column: …`.
        let location = err
            .strip_prefix(f.file().to_str().unwrap())
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or_default();
        assert!(
            location.starts_with(|c: char| c.is_ascii_digit()),
            "a line: {err}"
        );
    }
}

/// A tree with a component child and no `[host.policy]`.
fn component_only() -> String {
    format!(
        "{ROOT}[[supervisor.root.children]]\nid = \"c\"\nkind = \"component\"\npath = \"a.wasm\"\n"
    )
}

#[test]
fn syntax_errors_name_the_line_and_column() {
    let f = Folder::new();
    let err = f.error(&format!("{ROOT}intensity = \n"));
    let file = f.file().display().to_string();
    assert!(err.starts_with(&format!("{file}:3:")), "{err}");
    let err = f.error(&format!("{ROOT}period_ms = \"long\"\n"));
    assert!(err.starts_with(&format!("{file}:3:13: ")), "{err}");
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn api_addr_is_a_socket_address_checked_at_load() {
    let f = Folder::new();
    let host = |addr: &str| format!("[host]\napi_addr = \"{addr}\"\n{}", component_only());
    assert_eq!(
        f.accepts(&component_only()).host.api_addr,
        SocketAddr::from(([127, 0, 0, 1], 7878)),
        "by default"
    );
    for addr in ["0.0.0.0:80", "[::1]:9000", "127.0.0.1:0"] {
        assert_eq!(
            f.accepts(&host(addr)).host.api_addr,
            addr.parse::<SocketAddr>().unwrap()
        );
    }
    for addr in [
        "localhost:7878",
        "127.0.0.1",
        "::1:80",
        "127.0.0.1:99999",
        "",
    ] {
        assert_names(
            &f.error(&host(addr)),
            "host.api_addr",
            &format!("`{addr}` is not an address like 127.0.0.1:7878"),
        );
    }
    let err = f.error(&format!("[host]\napi_addr = 7878\n{}", component_only()));
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn durations_out_of_range_name_the_key() {
    let f = Folder::new();
    let with_host = |host: &str| format!("[host]\n{host}\n{}", component_only());
    let with_section = |section: &str| format!("{}{section}\n", component_only());
    for (text, key, words) in [
        (
            with_host("epoch_tick_ms = 0"),
            "host.epoch_tick_ms",
            "expected 1 to 1000 milliseconds",
        ),
        (
            with_host("shutdown_grace_ms = 3600001"),
            "host.shutdown_grace_ms",
            "expected 0 to 3600000",
        ),
        (
            with_section("[host.monitor]\ninterval_ms = 9"),
            "host.monitor.interval_ms",
            "expected 10 to 60000",
        ),
        (
            with_section("[reload]\ndebounce_ms = 0"),
            "reload.debounce_ms",
            "expected 1 to 60000",
        ),
        (
            with_section("[reload]\nprobation_ms = 3600001"),
            "reload.probation_ms",
            "expected 0 (off)",
        ),
        (
            with_section("[snapshots]\nkeep_per_child = 0"),
            "snapshots.keep_per_child",
            "expected 1 to 10000",
        ),
        (
            with_section("[snapshots]\nmax_upload_bytes = 0"),
            "snapshots.max_upload_bytes",
            "expected a size in bytes from 1",
        ),
        (
            with_section("[api]\nmax_timeout_ms = 0"),
            "api.max_timeout_ms",
            "there is no \"forever\"",
        ),
        (
            component_only().replace("strategy", "period_ms = 0\nstrategy"),
            "supervisor.root.period_ms",
            "at least 1 ms",
        ),
        (
            one_child("process", "readiness = { line = \"up\", timeout_ms = 0 }"),
            "supervisor.root.children[0].readiness.timeout_ms",
            "at least 1 ms",
        ),
        (
            one_child("component", "backoff = { initial_ms = 100, max_ms = 10 }"),
            "supervisor.root.children[0].backoff",
            "max must be at least initial",
        ),
        (
            one_child(
                "component",
                "storm = { per_minute = 3, action = \"pause\" }",
            ),
            "supervisor.root.children[0].storm.cooldown_ms",
            "needs cooldown_ms",
        ),
    ] {
        assert_names(&f.error(&text), key, words);
    }
}

#[test]
fn a_plugin_id_may_not_take_a_reserved_prefix() {
    let f = Folder::new();
    for id in crate::ops::RESERVED_PREFIXES {
        let text = format!("{}[operations.{id}]\npath = \"a.wasm\"\n", component_only());
        assert_names(
            &f.error(&text),
            &format!("operations.{id}"),
            &format!("`{id}` is taken"),
        );
    }
    let config = f.accepts(&format!(
        "{}[operations.wc]\npath = \"a.wasm\"\n",
        component_only()
    ));
    assert_eq!(config.operations[0].id, "wc");
}

#[test]
fn supervisor_children_name_a_table_once_and_without_cycles() {
    let f = Folder::new();
    let nest = |from: &str, to: &str| {
        format!(
            "[[supervisor.{from}.children]]\nid = \"{to}\"\nkind = \"supervisor\"\nsupervisor = \"{to}\"\n"
        )
    };
    let err = f.error(&one_child("supervisor", "").replace("supervisor = \"sub\"\n", ""));
    assert_names(
        &err,
        &format!("{CHILD}.supervisor"),
        "names its [supervisor.NAME] table",
    );
    let err = f.error(&format!("{ROOT}{}", nest("root", "sub")));
    assert_names(
        &err,
        &format!("{CHILD}.supervisor"),
        "no [supervisor.sub] table",
    );
    let twice = format!(
        "{ROOT}{}[supervisor.sub]\nstrategy = \"one_for_one\"\n{}",
        nest("root", "sub"),
        nest("root", "sub").replace("id = \"sub\"", "id = \"again\"")
    );
    assert_names(
        &f.error(&twice),
        "supervisor.root.children[1].supervisor",
        "already nested at supervisor.root.children[0].supervisor",
    );
    let cycle = format!(
        "[supervisor.a]\nstrategy = \"one_for_one\"\n{}[supervisor.b]\nstrategy = \"one_for_one\"\n{}",
        nest("a", "b"),
        nest("b", "a")
    );
    assert_names(&f.error(&cycle), "supervisor", "the tree has a cycle");
}

/// The one component child of `one_child("component", extra)`.
fn component_of(c: &Config) -> &ComponentChildConfig {
    match &c.trees[0].children[0].kind {
        ChildKindConfig::Component(component) => component,
        other => panic!("a component: {other:?}"),
    }
}

#[test]
fn persist_reads_both_shapes_and_defaults_to_a_clean_restart() {
    let f = Folder::new();
    let none = f.accepts(&one_child("component", ""));
    assert_eq!(
        component_of(&none).persist,
        None,
        "nothing is persisted by default"
    );
    let shutdown = f.accepts(&one_child("component", "persist = \"shutdown\""));
    assert_eq!(
        component_of(&shutdown).persist,
        Some(PersistConfig {
            mode: PersistMode::Shutdown,
            restore_after_crash: false
        })
    );
    let interval = f.accepts(&one_child(
        "component",
        "persist = { interval_ms = 250 }\nrestore_after_crash = true",
    ));
    assert_eq!(
        component_of(&interval).persist,
        Some(PersistConfig {
            mode: PersistMode::Interval(Duration::from_millis(250)),
            restore_after_crash: true
        })
    );
}

#[test]
fn a_wrong_persist_names_the_key_and_the_two_shapes() {
    let f = Folder::new();
    for (extra, key, words) in [
        (
            "persist = \"always\"",
            "persist",
            "expected \"shutdown\" or { interval_ms = N }, found \"always\"",
        ),
        (
            "persist = true",
            "persist",
            "expected \"shutdown\" or { interval_ms = N }, found a boolean",
        ),
        (
            "persist = { every_ms = 5 }",
            "persist.every_ms",
            "unknown key: expected \"shutdown\" or { interval_ms = N }",
        ),
        ("persist = {}", "persist.interval_ms", "missing"),
        (
            "persist = { interval_ms = \"1s\" }",
            "persist.interval_ms",
            "expected milliseconds, found a string",
        ),
        (
            "persist = { interval_ms = 10 }",
            "persist.interval_ms",
            "expected 100 to 2592000000 milliseconds, found 10",
        ),
        (
            "persist = { interval_ms = -1 }",
            "persist.interval_ms",
            "found -1",
        ),
        (
            "restore_after_crash = true",
            "restore_after_crash",
            "only applies with `persist`",
        ),
        (
            "persist = \"shutdown\"\nrestore_after_crash = \"yes\"",
            "restore_after_crash",
            "invalid type: string \"yes\", expected a boolean",
        ),
    ] {
        let err = f.error(&one_child("component", extra));
        assert_names(&err, &format!("{CHILD}.{key}"), words);
    }
    // Only a component has state to persist.
    let err = f.error(&one_child("process", "persist = \"shutdown\""));
    assert!(err.contains("unknown field `persist`"), "{err}");
}

#[test]
fn api_tokens_have_unique_names_and_secrets_a_known_role_and_one_secret() {
    let f = Folder::new();
    let tokens = |entries: &str| format!("{entries}\n{}", component_only());
    let config = f.accepts(&tokens(
        "[host]\ntoken = \"root-secret\"\n\
         [[api.tokens]]\nname = \"viewer\"\nrole = \"read\"\ntoken = \"r\"\n\
         [[api.tokens]]\nname = \"ops\"\nrole = \"operate\"\ntoken = \"o\"\n",
    ));
    let got: Vec<(&str, crate::ops::Role)> = config
        .api
        .tokens
        .iter()
        .map(|t| (t.name.as_str(), t.role))
        .collect();
    assert_eq!(
        got,
        [
            ("viewer", crate::ops::Role::Read),
            ("ops", crate::ops::Role::Operate)
        ]
    );
    assert_eq!(config.api.audit_keep, DEFAULT_AUDIT_KEEP);

    let entry = |name: &str, role: &str, secret: &str| {
        format!("[[api.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\n{secret}\n")
    };
    let cases = [
        (
            entry("a", "read", "token = \"x\"") + &entry("a", "admin", "token = \"y\""),
            "api.tokens[1].name",
            "already the name of api.tokens[0]",
        ),
        (
            entry("a", "read", "token = \"x\"") + &entry("b", "admin", "token = \"x\""),
            "api.tokens[1].token",
            "the same secret as api.tokens[0]",
        ),
        (
            entry("a", "root", "token = \"x\""),
            "api.tokens[0].role",
            "`root` is not a role",
        ),
        (
            entry("admin", "read", "token = \"x\""),
            "api.tokens[0].name",
            "reserved",
        ),
        (
            entry("a b", "read", "token = \"x\""),
            "api.tokens[0].name",
            "not a token name",
        ),
        (
            entry("a", "read", ""),
            "api.tokens[0].token",
            "needs its secret",
        ),
        (
            entry("a", "read", "token = \"x\"\ntoken_env = \"X\""),
            "api.tokens[0].token_env",
            "not both",
        ),
        (
            entry("a", "read", "token = \"\""),
            "api.tokens[0].token",
            "empty",
        ),
        (
            entry(
                "a",
                "read",
                "token_env = \"WARDEN_TEST_CONFIG_TOKEN_THAT_IS_NEVER_SET\"",
            ),
            "api.tokens[0].token_env",
            "`WARDEN_TEST_CONFIG_TOKEN_THAT_IS_NEVER_SET` is not set",
        ),
        (
            "[host]\ntoken = \"x\"\n".to_string() + &entry("a", "read", "token = \"x\""),
            "api.tokens[0].token",
            "the same secret as [host] token",
        ),
        (
            "[api]\naudit_keep = 0\n".to_string(),
            "api.audit_keep",
            "expected 1 to 100000000",
        ),
    ];
    for (text, key, words) in cases {
        assert_names(&f.error(&tokens(&text)), key, words);
    }
    let err = f.error(&tokens(&entry("a", "read", "token = \"x\"\nsecret = 1")));
    assert!(err.contains("secret"), "{err}");
}

const COMPONENT: &str =
    "[[supervisor.root.children]]\nid = \"a\"\nkind = \"component\"\npath = \"a.wasm\"\n";

#[test]
fn sandboxes_are_off_unless_configured_and_get_an_added_supervisor_by_default() {
    let f = Folder::new();
    let off = f.accepts(&format!("{ROOT}{COMPONENT}"));
    assert!(off.api.sandboxes.is_none());
    assert_eq!(off.trees[0].children.len(), 1, "nothing added");

    let on = f.accepts(&format!(
        "{ROOT}{COMPONENT}[api.sandboxes]\nintensity = 7\nperiod_ms = 900\n"
    ));
    let sandboxes = on.api.sandboxes.expect("enabled");
    assert_eq!(sandboxes.path, "root/sandboxes");
    assert!(sandboxes.added);
    assert_eq!(sandboxes.max, SandboxesConfig::DEFAULT_MAX);
    let last = on.trees[0].children.last().expect("a child");
    assert_eq!(last.id, "sandboxes", "the root's last child");
    match &last.kind {
        ChildKindConfig::Supervisor(sup) => {
            assert_eq!(sup.strategy, Strategy::OneForOne);
            assert_eq!((sup.intensity, sup.period), (7, Duration::from_millis(900)));
            assert!(sup.children.is_empty());
        }
        _ => panic!("not a supervisor"),
    }

    // Several trees: the added supervisor is the implicit root's last.
    let two = f.accepts(&format!(
        "{ROOT}{COMPONENT}[supervisor.other]\nstrategy = \"one_for_all\"\n[api.sandboxes]\nmax = 3\n"
    ));
    let sandboxes = two.api.sandboxes.expect("enabled");
    assert_eq!(
        (sandboxes.path.as_str(), sandboxes.max),
        ("host/sandboxes", 3)
    );
    assert_eq!(two.trees.last().map(|t| t.name.as_str()), Some("sandboxes"));
}

#[test]
fn a_named_sandbox_supervisor_must_exist_and_is_found_where_it_is_nested() {
    let f = Folder::new();
    let nested = format!(
        "{ROOT}{COMPONENT}[[supervisor.root.children]]\nid = \"pool-child\"\nkind = \"supervisor\"\nsupervisor = \"pool\"\n\
         [supervisor.pool]\nstrategy = \"simple_one_for_one\"\n[[supervisor.pool.children]]\nid = \"t\"\nkind = \"component\"\npath = \"a.wasm\"\n"
    );
    let c = f.accepts(&format!("{nested}[api.sandboxes]\nsupervisor = \"pool\"\n"));
    let sandboxes = c.api.sandboxes.expect("enabled");
    assert_eq!(sandboxes.path, "root/pool-child");
    assert_eq!(sandboxes.strategy, Strategy::SimpleOneForOne);
    assert!(!sandboxes.added);
    assert_eq!(c.trees[0].children.len(), 2, "nothing added");

    let err = f.error(&format!("{nested}[api.sandboxes]\nsupervisor = \"nope\"\n"));
    assert_names(
        &err,
        "api.sandboxes.supervisor",
        "no [supervisor.nope] table",
    );
    let err = f.error(&format!(
        "{nested}[api.sandboxes]\nsupervisor = \"pool\"\nintensity = 3\n"
    ));
    assert_names(
        &err,
        "api.sandboxes.intensity",
        "only for the supervisor the host adds",
    );
}

#[test]
fn the_host_refuses_to_add_a_sandbox_supervisor_where_it_cannot() {
    let f = Folder::new();
    let simple = format!(
        "[supervisor.root]\nstrategy = \"simple_one_for_one\"\n{COMPONENT}[api.sandboxes]\n"
    );
    assert_names(&f.error(&simple), "api.sandboxes", "is simple_one_for_one");
    let taken = format!(
        "{ROOT}{}[api.sandboxes]\n",
        COMPONENT.replace("\"a\"", "\"sandboxes\"")
    );
    assert_names(
        &f.error(&taken),
        "api.sandboxes",
        "already has a child `sandboxes`",
    );
    for (extra, key, words) in [
        ("max = 0", "api.sandboxes.max", "expected at least 1"),
        ("period_ms = 0", "api.sandboxes.period_ms", "at least 1 ms"),
        ("maximum = 3", "warden.toml:8:1", "unknown field `maximum`"),
    ] {
        let err = f.error(&format!("{ROOT}{COMPONENT}[api.sandboxes]\n{extra}\n"));
        assert!(err.contains(key) && err.contains(words), "{extra}: {err}");
    }
}

#[test]
fn grants_are_existing_directories_made_canonical() {
    let f = Folder::new();
    let c = f.accepts(&format!(
        "{ROOT}{COMPONENT}[api.grants.data]\nhost = \"./data/../data\"\n[api.grants.rw]\nhost = \"data\"\nwritable = true\n"
    ));
    let data = std::fs::canonicalize(f.dir.path().join("data")).unwrap();
    assert_eq!(
        c.api.grants.get("data"),
        Some(&Grant {
            host: data.clone(),
            writable: false
        })
    );
    assert_eq!(
        c.api.grants.get("rw"),
        Some(&Grant {
            host: data,
            writable: true
        })
    );
    for (grant, key, words) in [
        (
            "[api.grants.x]\nhost = \"missing\"",
            "api.grants.x.host",
            "missing",
        ),
        (
            "[api.grants.x]\nhost = \"a.wasm\"",
            "api.grants.x.host",
            "is not a directory",
        ),
        (
            "[api.grants.\"a b\"]\nhost = \"data\"",
            "api.grants.a b",
            "a grant's name",
        ),
        (
            "[api.grants.x]\nhost = \"data\"\nmode = \"rw\"",
            "warden.toml:9:1",
            "unknown field `mode`",
        ),
    ] {
        let err = f.error(&format!("{ROOT}{COMPONENT}{grant}\n"));
        assert!(err.contains(key) && err.contains(words), "{grant}: {err}");
    }
}

#[test]
fn api_path_roots_are_existing_folders_relative_to_the_config_file() {
    let folder = Folder::new();
    let config = folder.accepts(&format!("{ROOT}[api]\npath_roots = [\"data\"]\n"));
    assert_eq!(config.api.path_roots, vec![folder.dir.path().join("data")]);
    assert!(folder.accepts(ROOT).api.path_roots.is_empty());
    let missing = folder.error(&format!("{ROOT}[api]\npath_roots = [\"data\", \"nope\"]\n"));
    assert_names(&missing, "api.path_roots[1]", "not an existing folder");
    let file = folder.error(&format!("{ROOT}[api]\npath_roots = [\"a.wasm\"]\n"));
    assert_names(&file, "api.path_roots[0]", "not an existing folder");
    let empty = folder.error(&format!("{ROOT}[api]\npath_roots = [\"\"]\n"));
    assert_names(&empty, "api.path_roots[0]", "empty path");
}

#[test]
fn groups_are_read_sorted_and_listed_by_tree_path() {
    let f = Folder::new();
    let c = f.accepts(&one_child("component", "groups = [\"ingest\", \"edge-1\"]"));
    assert_eq!(c.trees[0].children[0].groups, ["edge-1", "ingest"]);
    assert_eq!(
        c.group_memberships(),
        [
            ("host/root/c".to_string(), "edge-1".to_string()),
            ("host/root/c".to_string(), "ingest".to_string())
        ]
    );
    let c = f.accepts(&one_child("process", "groups = [\"workers\"]"));
    assert_eq!(
        c.group_memberships(),
        [("host/root/c".to_string(), "workers".to_string())]
    );
    let c = f.accepts(&one_child("component", ""));
    assert!(c.group_memberships().is_empty());
    // One tree: its name starts the paths; a nested supervisor's
    // children are under its id.
    let c = f.accepts(&format!(
        "{ROOT}[[supervisor.root.children]]\nid = \"sub\"\nkind = \"supervisor\"\n\
         supervisor = \"sub\"\ngroups = [\"s\"]\n[supervisor.sub]\nstrategy = \"one_for_one\"\n\
         [[supervisor.sub.children]]\nid = \"c\"\nkind = \"component\"\npath = \"a.wasm\"\n\
         groups = [\"ingest\"]\n"
    ));
    assert_eq!(
        c.group_memberships(),
        [
            ("root/sub".to_string(), "s".to_string()),
            ("root/sub/c".to_string(), "ingest".to_string())
        ]
    );
}

#[test]
fn a_bad_or_repeated_group_name_names_its_key() {
    let f = Folder::new();
    let err = f.error(&one_child("component", "groups = [\"ok\", \"no spaces\"]"));
    assert_names(&err, &format!("{CHILD}.groups[1]"), "not a group name");
    let err = f.error(&one_child("process", "groups = [\"\"]"));
    assert_names(&err, &format!("{CHILD}.groups[0]"), "not a group name");
    let long = "g".repeat(MAX_GROUP_NAME + 1);
    let err = f.error(&one_child("component", &format!("groups = [\"{long}\"]")));
    assert_names(&err, &format!("{CHILD}.groups[0]"), "not a group name");
    let err = f.error(&one_child("component", "groups = [\"a\", \"a\"]"));
    assert_names(&err, &format!("{CHILD}.groups[1]"), "listed twice");
    let err = f.error(&one_child("component", "groups = \"a\""));
    assert!(err.contains("groups"), "{err}");
}

#[test]
fn the_health_section_has_defaults_and_checks_its_thresholds() {
    let f = Folder::new();
    let c = f.accepts(&component_only());
    assert_eq!(c.health.interval, Duration::from_millis(5000));
    assert_eq!(
        (
            c.health.thresholds.warning,
            c.health.thresholds.critical,
            c.health.thresholds.emergency
        ),
        (70, 40, 15)
    );
    let c = f.accepts(&format!(
        "{}[health]\ninterval_ms = 250\nwarning = 80\ncritical = 50\nemergency = 5\n",
        component_only()
    ));
    assert_eq!(c.health.interval, Duration::from_millis(250));
    assert_eq!(
        c.health.thresholds.level(49),
        crate::events::HealthLevel::Critical
    );
    for (section, key, words) in [
        (
            "interval_ms = 5",
            "health.interval_ms",
            "expected 10 to 3600000",
        ),
        (
            "critical = 70",
            "health.critical",
            "expected below warning (70)",
        ),
        (
            "emergency = 40",
            "health.emergency",
            "expected below critical (40)",
        ),
        (
            "warning = 101",
            "health.warning",
            "expected a score of 0 to 100",
        ),
    ] {
        let text = format!("{}[health]\n{section}\n", component_only());
        assert_names(&f.error(&text), key, words);
    }
}

#[test]
fn liveness_takes_one_check_and_names_what_is_wrong() {
    use crate::host::liveness::LivenessCheck;
    let f = Folder::new();
    let process = |c: &Config| match &c.trees[0].children[0].kind {
        ChildKindConfig::Process(p) => p.clone(),
        other => panic!("{other:?}"),
    };
    let c = f.accepts(&one_child(
        "process",
        "liveness = { command = \"/bin/sh -c true\", interval_ms = 200, failures = 2 }\nrestart_unresponsive = true",
    ));
    let p = process(&c);
    assert!(p.restart_unresponsive);
    let l = p.liveness.unwrap();
    assert_eq!(
        (l.interval, l.timeout, l.failures),
        (Duration::from_millis(200), Duration::from_secs(1), 2)
    );
    assert_eq!(
        l.check,
        LivenessCheck::Command {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "true".into()]
        }
    );
    let c = f.accepts(&one_child(
        "process",
        "cwd = \"data\"\nliveness = { file = \"beat\", file_touched_within_ms = 5000 }",
    ));
    let p = process(&c);
    assert!(!p.restart_unresponsive);
    assert!(matches!(
        p.liveness.unwrap().check,
        LivenessCheck::FileTouched { file, within } if file.ends_with("data/beat") && within == Duration::from_secs(5)
    ));
    for (extra, key, words) in [
        (
            "liveness = { command = \"/bin/sh\", http = \"http://x\" }",
            "liveness",
            "exactly one of",
        ),
        (
            "liveness = { interval_ms = 100 }",
            "liveness",
            "exactly one of",
        ),
        (
            "liveness = { command = \"python3 x\" }",
            "liveness.command",
            "python3",
        ),
        (
            "liveness = { http = \"https://x\" }",
            "liveness.http",
            "http:// URL",
        ),
        (
            "liveness = { file_touched_within_ms = 10 }",
            "liveness.file",
            "needs the `file`",
        ),
        (
            "liveness = { http = \"http://x\", failures = 0 }",
            "liveness.failures",
            "expected 1 to 100",
        ),
        (
            "liveness = { http = \"http://x\", interval_ms = 1 }",
            "liveness.interval_ms",
            "expected 10 to",
        ),
    ] {
        assert_names(
            &f.error(&one_child("process", extra)),
            &format!("{CHILD}.{key}"),
            words,
        );
    }
}

#[test]
fn storm_protection_is_on_by_default_and_set_per_supervisor_or_child() {
    let f = Folder::new();
    let c = f.accepts(&component_only());
    assert_eq!(c.trees[0].children[0].storm, Some(StormConfig::default()));
    let c = f.accepts(&component_only().replace(
        "strategy",
        "storm = { per_minute = 3, action = \"log\" }\nstrategy",
    ));
    assert_eq!(
        c.trees[0].children[0].storm,
        Some(StormConfig {
            per_minute: Some(3),
            per_hour: None,
            action: StormAction::Log
        })
    );
    let c = f.accepts(&one_child("component", "storm = { enabled = false }"));
    assert_eq!(c.trees[0].children[0].storm, None);
    let c = f.accepts(&one_child(
        "component",
        "storm = { cooldown_ms = 1000, escalate_after = 3 }",
    ));
    assert_eq!(
        c.trees[0].children[0].storm.unwrap().action,
        StormAction::Tiered {
            cooldown: Duration::from_secs(1),
            escalate_after: 3
        }
    );
    for (extra, key, words) in [
        (
            "storm = { action = \"log\", escalate_after = 3 }",
            "storm.escalate_after",
            "only the \"tiered\"",
        ),
        (
            "storm = { escalate_after = 1 }",
            "storm",
            "escalate_after must be at least 2",
        ),
        (
            "storm = { action = \"calm\" }",
            "storm.action",
            "expected \"tiered\"",
        ),
    ] {
        assert_names(
            &f.error(&one_child("component", extra)),
            &format!("{CHILD}.{key}"),
            words,
        );
    }
}

#[test]
fn chaos_is_off_by_default_and_its_allow_list_holds_tree_paths() {
    let f = Folder::new();
    let c = f.accepts(&component_only());
    assert_eq!(c.chaos, ChaosConfig::default());
    assert!(!c.chaos.enabled);
    let c = f.accepts(&format!(
        "{}[chaos]\nenabled = true\nallow = [\"root/w\"]\n",
        component_only()
    ));
    assert!(c.chaos.enabled);
    assert_eq!(c.chaos.allow, ["root/w"]);
    let err = f.error(&format!(
        "{}[chaos]\nallow = [\"/root\"]\n",
        component_only()
    ));
    assert_names(&err, "chaos.allow[0]", "expected a tree path");
}

#[test]
fn fleet_needs_a_nats_url_a_subject_token_name_and_whole_credentials() {
    let f = Folder::new();
    assert_eq!(f.accepts(&component_only()).fleet, None);
    let c = f.accepts(&format!(
        "{}[fleet]\nnats = \"nats://127.0.0.1:4222\"\nname = \"host-1\"\n",
        component_only()
    ));
    let fleet = c.fleet.expect("[fleet]");
    assert_eq!(fleet.nats, "nats://127.0.0.1:4222");
    assert_eq!(fleet.name, "host-1");
    assert_eq!(fleet.auth, NatsAuth::None);

    let c = f.accepts(&format!(
        "{}[fleet]\nnats = \"nats://n:4222\"\nname = \"h\"\nuser = \"host\"\npassword = \"pw\"\n",
        component_only()
    ));
    let auth = c.fleet.expect("[fleet]").auth;
    assert_eq!(
        auth,
        NatsAuth::UserPassword {
            user: "host".into(),
            password: "pw".into()
        }
    );
    assert!(
        !format!("{auth:?}").contains("pw"),
        "never prints a password"
    );

    for (fleet, key, words) in [
        ("name = \"h\"\n", "fleet.nats", "needs the server's URL"),
        (
            "nats = \"http://n:4222\"\n",
            "fleet.nats",
            "expected a NATS URL",
        ),
        (
            "nats = \"nats://n:4222\"\nname = \"a.b\"\n",
            "fleet.name",
            "cannot be a subject token",
        ),
        (
            "nats = \"nats://n:4222\"\nname = \"h\"\nuser = \"u\"\n",
            "fleet.password",
            "needs `password` or `password_env`",
        ),
        (
            "nats = \"nats://n:4222\"\nname = \"h\"\npassword = \"p\"\n",
            "fleet.user",
            "a password needs its `user`",
        ),
        (
            "nats = \"nats://n:4222\"\nname = \"h\"\nuser = \"u\"\npassword = \"p\"\npassword_env = \"P\"\n",
            "fleet.password_env",
            "not both",
        ),
        (
            "nats = \"nats://n:4222\"\nname = \"h\"\nuser = \"u\"\npassword_env = \"WARDEN_TEST_UNSET_NATS_PW\"\n",
            "fleet.password_env",
            "is not set or empty",
        ),
    ] {
        let err = f.error(&format!("{}[fleet]\n{fleet}", component_only()));
        assert_names(&err, key, words);
    }
    let err = f.error(&format!(
        "{}[fleet]\nnats = \"nats://n:4222\"\nnkey = \"x\"\n",
        component_only()
    ));
    assert!(err.contains("nkey"), "{err}");
}

#[test]
fn hibernate_after_ms_is_read_and_bounded() {
    let f = Folder::new();
    let awake = f.accepts(&one_child("component", ""));
    assert_eq!(
        component_of(&awake).hibernate_after,
        None,
        "a child stays awake by default"
    );
    let sleepy = f.accepts(&one_child("component", "hibernate_after_ms = 250"));
    assert_eq!(
        component_of(&sleepy).hibernate_after,
        Some(Duration::from_millis(250))
    );
    for (extra, words) in [
        (
            "hibernate_after_ms = 0",
            "expected at least 1 millisecond (leave it out to never hibernate)",
        ),
        (
            "hibernate_after_ms = 2592000001",
            "2592000001 is too large: expected at most 2592000000 milliseconds",
        ),
        ("hibernate_after_ms = -5", "invalid value"),
        ("hibernate_after_ms = \"1s\"", "invalid type"),
    ] {
        let err = f.error(&one_child("component", extra));
        assert_names(&err, &format!("{CHILD}.hibernate_after_ms"), words);
    }
    let err = f.error(&one_child("process", "hibernate_after_ms = 5"));
    assert!(err.contains("hibernate_after_ms"), "{err}");
}
