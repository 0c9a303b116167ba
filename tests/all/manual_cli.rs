//! `warden completions SHELL` and `warden man`: the scripts and pages come
//! from the real binary's command line, and name its commands and flags.

use crate::support::{stderr, stdout, warden};

#[test]
fn completion_scripts_cover_the_commands_and_their_values() {
    for (shell, marker) in [
        ("bash", "complete -F _warden"),
        ("zsh", "#compdef warden"),
        ("fish", "complete -c warden"),
    ] {
        let out = warden(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        // Subcommands, a nested one, and the values of an enumerated flag.
        for word in ["ctl", "completions", "strategy", "orphan_killed"] {
            assert!(script.contains(word), "{shell}: no `{word}`");
        }
        // The compile child is internal and never offered.
        assert!(!script.contains("__compile"), "{shell}");
    }
    let out = warden(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn man_prints_warden_1_or_writes_a_page_per_command() {
    let out = warden(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH warden 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    assert!(page.contains("warden\\-completions"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = warden(&["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in [
        "warden.1",
        "warden-ctl.1",
        "warden-ctl-tree.1",
        "warden-ps.1",
    ] {
        let text =
            std::fs::read_to_string(pages.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(".TH"), "{name}");
    }
    let ps = std::fs::read_to_string(pages.join("warden-ps.1")).unwrap();
    assert!(ps.contains("orphan_killed"), "{ps}");
    assert!(!pages.join("warden-__compile.1").exists());
}

#[test]
fn enumerated_flags_list_their_values() {
    let out = warden(&["ps", "--status", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[possible values: running, exited, orphan_killed, orphan_gone]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_event_kinds_and_grade_formats_list_their_values() {
    // Before the exercise folder or the submission is looked at.
    let out = warden(&["grade", "--format", "xml", "nowhere", "nothing.wasm"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("invalid value 'xml'"), "{err}");
    assert!(
        err.contains("[possible values: text, json, exercism, gradescope, junit]"),
        "{err}"
    );

    let out = warden(&["bench", "everything"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("invalid value 'everything'"), "{err}");
    assert!(
        err.contains("[possible values: all, instantiate, call, restart, children, hibernate, dynamic, grade, reload, spawn, monitor, api, compile, persist, intake, trace, fleet]"),
        "{err}"
    );

    // Refused before any host is asked (the address is not even tried).
    let out = warden(&[
        "ctl",
        "--addr",
        "http://127.0.0.1:9",
        "events",
        "--kind",
        "child_exited,child_exploded",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("invalid value 'child_exploded'"), "{err}");
    for kind in [
        "child_exited",
        "reloaded",
        "process_health",
        "supervisor_started",
    ] {
        assert!(err.contains(kind), "{kind}: {err}");
    }
    assert!(!err.contains("cannot reach"), "{err}");
}
