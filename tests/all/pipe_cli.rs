//! Commands whose reader goes away (`warden inspect x.wasm | head -1`)
//! stop quietly: exit 0 and no panic, whether stdout or stderr is the
//! closed pipe.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::grade_exercises::exercise_dir;
use crate::support::{plugin, warden_cmd, write_tree_config};

/// The write end of a pipe whose read end is already closed: every write
/// to it fails with `EPIPE`, as after `head` has exited.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

/// Runs `cmd` with a closed stdout (and a readable stderr).
fn with_closed_stdout(mut cmd: Command) -> (Output, String) {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run warden");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

fn path(name: &str) -> String {
    plugin(name).to_str().unwrap().to_string()
}

#[test]
fn commands_stop_quietly_when_stdout_is_closed() {
    let leap = exercise_dir("leap");
    let cases: Vec<Vec<String>> = vec![
        vec!["inspect".into(), path("counter")],
        vec!["inspect".into(), path("counter"), "--json".into()],
        vec![
            "call".into(),
            path("counter"),
            "handle".into(),
            "inc".into(),
        ],
        vec![
            "call".into(),
            path("counter"),
            "handle".into(),
            "inc".into(),
            "--json".into(),
        ],
        vec![
            "grade".into(),
            leap.to_str().unwrap().into(),
            path("leap_ref"),
            path("leap_wrong"),
            "--format".into(),
            "json".into(),
        ],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err) = with_closed_stdout(warden_cmd(&args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("error"), "a quiet stop: {args:?}: {err}");
    }
}

#[test]
fn a_call_whose_stdout_and_stderr_are_closed_still_runs_to_the_end() {
    // The guest writes to both streams; warden frames its output on stderr.
    let out = warden_cmd(&["call", &path("misbehave"), "flood-stdout", "1", "--json"])
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .expect("run warden");
    assert_eq!(out.code(), Some(0), "{out:?}");
    let out = warden_cmd(&["call", &path("misbehave"), "flood-stdout", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .expect("run warden");
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "null\n");
}

#[test]
fn a_host_whose_stderr_is_closed_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_tree_config(
        dir.path(),
        "[host]\nstate_dir = \"state\"\napi_addr = \"127.0.0.1:0\"\n\
         [supervisor.root]\nstrategy = \"one_for_one\"\n\
         [[supervisor.root.children]]\nid = \"counter\"\nkind = \"component\"\npath = \"counter.wasm\"\n",
    );
    let mut closed = HostWithClosedStderr::start(&config, &dir.path().join("state"));
    let url = closed.wait_ready();
    let send = warden_cmd(&["ctl", "--addr", &url, "send", "root/counter", "inc"])
        .output()
        .expect("run warden ctl");
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&send.stdout), "1\n");
    let status = closed.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// `warden run CONFIG` with its stderr a closed pipe.
struct HostWithClosedStderr {
    child: std::process::Child,
    addr_file: std::path::PathBuf,
}

impl HostWithClosedStderr {
    fn start(config: &std::path::Path, state: &std::path::Path) -> Self {
        let child = warden_cmd(&["run", config.to_str().unwrap()])
            .env_remove("WARDEN_TOKEN")
            .env("WARDEN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(closed_pipe())
            .spawn()
            .expect("start warden run");
        Self {
            child,
            addr_file: state.join("api.addr"),
        }
    }

    fn wait_ready(&mut self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut text = String::new();
            if let Ok(mut file) = std::fs::File::open(&self.addr_file)
                && file.read_to_string(&mut text).is_ok()
                && text.ends_with('\n')
            {
                return text.trim().to_string();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("warden run exited with a closed stderr: {status}");
            }
            assert!(std::time::Instant::now() < deadline, "no api.addr");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        crate::support::signal(self.child.id(), "TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HostWithClosedStderr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
