//! `warden repl` in a real terminal (tmux: keys sent, the screen read),
//! and `warden ctl repl` driven through its stdin against a real `warden
//! run`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{HostProcess, ctl_cmd, plugin, stdout, tool_present};

/// One tmux server of this test's own (its socket named apart), kept
/// while its sessions come and go, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Self {
        let tmux = Self {
            socket: format!("warden-test-{name}-{}", std::process::id()),
        };
        // The server outlives its sessions until dropped: by default it
        // exits with its last session, and a session started right then
        // meets a server on its way out ("server exited unexpectedly").
        let out = tmux.run(&["start-server", ";", "set-option", "-g", "exit-empty", "off"]);
        assert!(out.status.success(), "tmux: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// A detached 120×40 session running `command`.
    fn session(&self, name: &str, command: &str) {
        let out = self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            command,
        ]);
        assert!(out.status.success(), "tmux: {out:?}");
    }

    /// Types `text` as it is (no key names).
    fn type_text(&self, name: &str, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", name, "-l", text])
                .status
                .success()
        );
    }

    /// Presses keys by name (`Enter`, `Tab`, `C-u`).
    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn screen(&self, name: &str) -> String {
        stdout(&self.run(&["capture-pane", "-p", "-t", name]))
    }

    /// Waits (60 s at most: the first load compiles) until the screen
    /// holds `want` `times` times; the screen.
    fn wait_for(&self, name: &str, want: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen(name);
            if screen.matches(want).count() >= times {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {want:?} ×{times}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn tmux_present() -> Result<(), String> {
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("tmux -V failed: {out:?}")),
        Err(e) => Err(format!("no tmux: {e}")),
    }
}

/// `warden repl …` as one shell-quoted command line.
fn repl_command(dir: &Path, plugin_name: &str, history: &Path) -> String {
    let quote = |p: &Path| format!("'{}'", p.display());
    format!(
        "{} repl {} --cache-dir {} --history {}",
        quote(Path::new(env!("CARGO_BIN_EXE_warden"))),
        quote(&plugin(plugin_name)),
        quote(&dir.join("cache")),
        quote(history)
    )
}

#[test]
fn repl_keeps_state_completes_and_recovers_from_a_trap_in_a_terminal() {
    if !tool_present(
        "repl::repl_keeps_state_completes_and_recovers_from_a_trap_in_a_terminal",
        "tmux",
        tmux_present(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("state").join("repl_history");
    let tmux = Tmux::new("repl");

    // State persists from one line to the next: one instance.
    tmux.session("counter", &repl_command(dir.path(), "counter", &history));
    tmux.wait_for("counter", "loaded (an actor: init ran)", 1);
    // Each line once the one before answered, as a person types.
    for count in ["1", "2"] {
        tmux.type_text("counter", "handle(\"inc\")");
        tmux.keys("counter", &["Enter"]);
        tmux.wait_for("counter", &format!(r#"{{"ok":"{count}"}}"#), 1);
    }

    // Tab completes an export's name into a template of its arguments.
    tmux.type_text("counter", "han");
    tmux.keys("counter", &["Tab"]);
    tmux.wait_for("counter", "warden> handle(\"\")", 1);
    tmux.keys("counter", &["C-u"]);
    tmux.type_text("counter", ":snap");
    tmux.keys("counter", &["Tab"]);
    tmux.wait_for("counter", "warden> :snapshot", 1);
    tmux.keys("counter", &["Enter"]);
    tmux.wait_for("counter", "\"count\": 2", 1);
    tmux.type_text("counter", ":quit");
    tmux.keys("counter", &["Enter"]);

    // The history file holds the lines, for the next session.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&history).unwrap_or_default();
        if text.contains(":quit") {
            assert!(text.contains("handle(\"inc\")"), "{text}");
            assert!(text.contains(":snapshot"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "history not written: {text:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The template comes from the parameter types (an enum's first case,
    // a number); a case is named bare.
    tmux.session("age", &repl_command(dir.path(), "space_age_ref", &history));
    tmux.wait_for("age", "loaded", 1);
    tmux.type_text("age", "ag");
    tmux.keys("age", &["Tab"]);
    tmux.wait_for("age", "warden> age(mercury, 0)", 1);
    tmux.keys("age", &["Enter"]);
    tmux.wait_for("age", r#"{"ok":0.0}"#, 1);
    tmux.type_text("age", "age(earth, 1000000000)");
    tmux.keys("age", &["Enter"]);
    tmux.wait_for("age", r#"{"ok":31.688"#, 1);

    // A trap ends the call with its typed error; a fresh instance works.
    tmux.session("trap", &repl_command(dir.path(), "misbehave", &history));
    tmux.wait_for("trap", "loaded", 1);
    tmux.type_text("trap", "handle(\"trap\")");
    tmux.keys("trap", &["Enter"]);
    let screen = tmux.wait_for("trap", "start a fresh one? [Y/n]", 1);
    assert!(
        screen.contains("error (trap): ") && screen.contains("deliberate trap"),
        "{screen}"
    );
    tmux.type_text("trap", "n");
    tmux.keys("trap", &["Enter"]);
    tmux.wait_for("trap", "kept the broken instance", 1);
    tmux.type_text("trap", "handle(\"ok\")");
    tmux.keys("trap", &["Enter"]);
    tmux.wait_for("trap", "the instance failed earlier", 1);
    tmux.type_text("trap", ":reset");
    tmux.keys("trap", &["Enter"]);
    tmux.wait_for("trap", "a fresh instance (init ran)", 1);
    tmux.type_text("trap", "handle(\"ok\")");
    tmux.keys("trap", &["Enter"]);
    tmux.wait_for("trap", r#"{"ok":"ok"}"#, 1);
}

/// Runs `command` with `lines` on its stdin (no terminal); its stdout,
/// once it exited successfully.
fn piped(mut command: std::process::Command, lines: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("write lines");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{command:?}: {out:?}");
    stdout(&out)
}

/// `warden ctl repl PATH` with `lines` on its stdin; its stdout.
fn ctl_repl(host: &HostProcess, path: &str, lines: &str) -> String {
    piped(ctl_cmd(host.url(), &["repl", path]), lines)
}

/// A `warden run` with one `counter` child, `root/counter`, once it
/// answers.
fn counter_host() -> HostProcess {
    let host = HostProcess::start_tree(
        r#"[host]
state_dir = "state"
api_addr = "127.0.0.1:0"

[supervisor.root]
strategy = "one_for_one"

[[supervisor.root.children]]
id = "counter"
kind = "component"
path = "counter.wasm"
"#,
        &[],
    );
    // The child answers once it is started.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !host.ctl(&["send", "root/counter", "get"]).status.success() {
        assert!(Instant::now() < deadline, "root/counter never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    host
}

#[test]
fn ctl_repl_sends_lines_shows_and_restores_the_state() {
    let host = counter_host();

    let out = ctl_repl(&host, "root/counter", "inc\ninc\nadd 5\n:state\n:quit\n");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"1") && lines.contains(&"2") && lines.contains(&"7"),
        "{out}"
    );
    assert!(out.contains("(schema 1):\n{\n  \"count\": 7\n}"), "{out}");

    // An edited state (the JSON `:state` showed) goes back in.
    let edited = host.dir().join("edited.json");
    std::fs::write(&edited, r#"{"count": 41}"#).expect("write state");
    let out = ctl_repl(
        &host,
        "root/counter",
        &format!(":restore {}\ninc\n:bogus\n", edited.display()),
    );
    assert!(out.contains("root/counter: restored from"), "{out}");
    assert!(out.lines().any(|l| l == "42"), "{out}");
    assert!(out.contains("error: no command :bogus"), "{out}");

    // `:state` and `:restore` went through the audited operations (the
    // sends too, but the wait above made some of its own).
    for op in ["child.snapshot", "child.restore"] {
        let rows: serde_json::Value =
            serde_json::from_str(&host.ctl_ok(&["--json", "audit", "--op", op]))
                .expect("audit JSON");
        assert!(
            rows.as_array().is_some_and(|r| !r.is_empty()),
            "{op} not audited: {rows}"
        );
    }

    // A child the tree lacks is refused before any line is read.
    let out = ctl_cmd(host.url(), &["repl", "root/nope"])
        .stdin(Stdio::null())
        .output()
        .expect("ctl repl");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// `warden ctl --json repl PATH`: no banner, no prompt, one JSON object
/// on one line per line in, errors included, so a script pairs them.
#[test]
fn ctl_repl_json_answers_each_line_with_one_json_line() {
    let host = counter_host();
    let edited = host.dir().join("edited.json");
    std::fs::write(&edited, r#"{"count": 41}"#).expect("write state");
    let missing = host.dir().join("missing.json");
    let garbage = host.dir().join("garbage.state");
    std::fs::write(&garbage, "not a state").expect("write garbage");
    let out = piped(
        ctl_cmd(host.url(), &["--json", "repl", "root/counter"]),
        &format!(
            "inc\n\nadd 5\n:state\n:restore {}\n:restore {}\ninc\n:bogus\n:restore {}\n:quit\ninc\n",
            edited.display(),
            missing.display(),
            garbage.display()
        ),
    );
    let answers: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in\n{out}")))
        .collect();
    // Eight lines with something in them before `:quit`; the blank one
    // asks nothing, and nothing after `:quit` is read.
    assert_eq!(answers.len(), 8, "{out}");
    assert!(
        !out.contains("attached to") && !out.contains("root/counter>"),
        "{out}"
    );
    assert_eq!(answers[0]["message"], "inc");
    assert_eq!(answers[0]["reply"]["reply"], "1", "{out}");
    assert_eq!(answers[1]["reply"]["reply"], "6", "{out}");
    assert_eq!(answers[2]["command"], ":state");
    assert_eq!(
        answers[2]["snapshot"]["state"],
        serde_json::json!({"count": 6})
    );
    assert_eq!(answers[2]["snapshot"]["schema"], 1);
    assert_eq!(
        answers[2]["snapshot"]["id"].as_str().map(str::len),
        Some(18)
    );
    assert_eq!(
        answers[3]["restored"],
        edited.display().to_string(),
        "{out}"
    );
    assert!(
        answers[4]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing.json")),
        "{out}"
    );
    assert_eq!(answers[5]["reply"]["reply"], "42", "{out}");
    assert!(
        answers[6]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no command :bogus")),
        "{out}"
    );
    let refused = &answers[7]["error"];
    assert!(
        refused["status"].as_u64().is_some_and(|s| s >= 400),
        "{out}"
    );
    assert!(
        refused["kind"].is_string(),
        "the host's own error object: {out}"
    );
}

/// `warden repl PLUGIN` with `lines` on its stdin (no terminal); stdout.
fn repl_piped(plugin_name: &str, history: &Path, lines: &str) -> String {
    piped(
        crate::support::warden_cmd(&[
            "repl",
            plugin(plugin_name).to_str().expect("utf-8 plugin path"),
            "--history",
            history.to_str().expect("utf-8 history path"),
        ]),
        lines,
    )
}

#[test]
fn repl_snapshots_restores_and_reloads_with_the_state_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("history");
    let saved = dir.path().join("saved.json");
    // A state edited as `:snapshot` shows it, without the SDK's envelope.
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, r#"{"count": 41}"#).expect("write state");
    let out = repl_piped(
        "counter",
        &history,
        &format!(
            "handle(\"inc\")\nhandle [\"add 4\"]\n:snapshot {saved}\nhandle(\"inc\")\n\
             :restore {saved}\nhandle(\"get\")\n:reload\nhandle(\"get\")\n\
             :restore {edited}\nhandle(\"inc\")\n\
             handle(1, 2)\nhandle(\"a\"\nnope()\n:what\n:exports\n:limits\n",
            saved = saved.display(),
            edited = edited.display()
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    let results: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("{\"ok\""))
        .collect();
    assert_eq!(
        results,
        [
            r#"{"ok":"1"}"#,
            r#"{"ok":"5"}"#,
            r#"{"ok":"6"}"#,
            r#"{"ok":"5"}"#,
            r#"{"ok":"5"}"#,
            r#"{"ok":"42"}"#
        ],
        "{out}"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&saved).expect("saved state")).expect("JSON");
    assert_eq!(state["state"]["count"], 5, "{state}");
    assert!(out.contains("(state kept)"), "{out}");
    assert!(
        out.contains("#handle takes 1 argument(s), found 2"),
        "{out}"
    );
    assert!(out.contains("error: column 11: missing `)`"), "{out}");
    assert!(out.contains("error: no command :what"), "{out}");
    assert!(
        out.contains("handle: func(message: list<u8>) -> result<list<u8>, string>"),
        "{out}"
    );
    assert!(out.contains("timeout per call: 10000 ms"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error: ") && l.contains("nope")),
        "{out}"
    );

    // A component that is no actor: plain exports, no state to take.
    let out = repl_piped("misbehave", &history, "add(40, 2)\n");
    assert!(out.lines().any(|l| l == "42"), "{out}");
}
