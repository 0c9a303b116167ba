//! Test fixtures for code that spawns workers (compiled for this crate's
//! tests, and with the `testing` feature for the `warden` crate's): process
//! families with escaped descendants, every kind of grandchild, a stand-in
//! for a previous host, and the lock that keeps tests with workers apart
//! from the one test that must run alone.
//!
//! A test that spawns workers holds [`WORKERS`] for reading while they
//! live; a test whose processes another test's workers could disturb holds
//! it for writing. The lock orders the tests of one test binary only.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::identity::{INVOCATION_ENV, ProcessIdentity, WorkerId};

/// Held (shared) by every test that spawns workers, and alone by a test
/// whose processes only the reaper's rule 5 attributes (by the time they
/// started): there, another test's worker ending could stop them early.
pub static WORKERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The lines of a `sh` script that start one grandchild of every kind,
/// each printing `kind pid` (the kinds are [`KINDS`]); each sleeps 300 s.
/// - `group`: a background child, in the worker's group;
/// - `own-group`: left the group (`setpgid`), still in the session;
/// - `own-session`: `setsid`, still a child of the worker;
/// - `double-fork`: `setsid` in a subshell that exits at once, so it is
///   re-parented to the host (the subreaper) immediately;
/// - `no-marker`: `env -i`, in the group, without the invocation marker;
/// - `setsid-env-i`: `setsid env -i`: own session, no marker;
/// - `setsid-env-i-escaped`: the same, double-forked: own session, no
///   marker, re-parented to the host before any sample can see it.
pub const START_EVERY_KIND: &str = r#"s=$(command -v sleep)
sleep 300 & echo "group $!"
python3 -c 'import os, time; os.setpgid(0, 0); print("own-group", os.getpid(), flush=True); time.sleep(300)' &
setsid sleep 300 & echo "own-session $!"
(setsid sleep 300 & echo "double-fork $!")
env -i "$s" 300 & echo "no-marker $!"
setsid env -i "$s" 300 & echo "setsid-env-i $!"
(setsid env -i "$s" 300 & echo "setsid-env-i-escaped $!")
"#;

/// A `sh` worker script: [`START_EVERY_KIND`], then `started`; it exits
/// with status 3 once a file named `go_file` appears in its directory.
/// The wait is bounded (5 minutes), so that a failed test leaves nothing
/// running for long.
pub fn six_kinds_script(go_file: &str) -> String {
    format!(
        "{START_EVERY_KIND}echo started\n\
         n=0; while [ ! -e {go_file} ] && [ $n -lt 6000 ]; do sleep 0.05; n=$((n+1)); done\n\
         exit 3\n"
    )
}

/// The tags [`START_EVERY_KIND`] prints, one per grandchild.
pub const KINDS: [&str; 7] = [
    "group",
    "own-group",
    "own-session",
    "double-fork",
    "no-marker",
    "setsid-env-i",
    "setsid-env-i-escaped",
];

/// A Python worker with a child in its group and a grandchild that
/// double-forked into its own session; each prints `tag pid`. It then
/// sleeps `argv[1]` seconds.
pub const FAMILY: &str = r#"
import os, sys, time
kid = os.fork()
if kid == 0:
    time.sleep(60); os._exit(0)
print('group-child', kid, flush=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print('escaped', os.getpid(), flush=True)
        time.sleep(60)
    os._exit(0)
time.sleep(float(sys.argv[1]))
"#;

/// A stand-in for a host that crashed: itself a child subreaper (so the
/// family's escaped grandchild is adopted by it, not by the test process),
/// it starts [`FAMILY`] in its own process group with the invocation marker
/// and prints `leader pid`.
const OLD_HOST: &str = r#"
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
p = subprocess.Popen([os.readlink('/proc/self/exe'), '-c', sys.argv[2], '60'],
                     env={'WARDEN_INVOCATION_ID': sys.argv[1]}, process_group=0)
print('leader', p.pid, flush=True)
time.sleep(60)
"#;

/// A previous host's worker family, still running. Dropping it kills the
/// stand-in host (and so its remaining children).
pub struct OldHost {
    child: Child,
    /// The stand-in host (no marker: it is not part of the worker).
    pub host: ProcessIdentity,
    /// The worker's leader: [`FAMILY`] in its own process group, with the
    /// invocation marker.
    pub leader: ProcessIdentity,
    /// The leader's child, still in its group (`group-child`).
    pub kid: ProcessIdentity,
    /// The grandchild that double-forked into its own session and was
    /// re-parented to the stand-in host (`escaped`): found only by its
    /// marker.
    pub escaped: ProcessIdentity,
}

impl OldHost {
    /// Starts it and waits until the three pids are known (blocking).
    pub fn start(marker: WorkerId) -> Self {
        assert_eq!(INVOCATION_ENV, "WARDEN_INVOCATION_ID");
        let mut child = Command::new("python3")
            .args(["-c", OLD_HOST, &marker.to_string(), FAMILY])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the stand-in host");
        let host = ProcessIdentity::of(child.id()).expect("host identity");
        let out: ChildStdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let (mut leader, mut kid, mut escaped) = (None, None, None);
        while leader.is_none() || kid.is_none() || escaped.is_none() {
            let line = lines.next().expect("a line").expect("readable");
            let mut words = line.split_whitespace();
            let (Some(tag), Some(pid)) = (words.next(), words.next()) else {
                continue;
            };
            let identity = ProcessIdentity::of(pid.parse().expect("pid")).expect("identity");
            match tag {
                "leader" => leader = Some(identity),
                "group-child" => kid = Some(identity),
                "escaped" => escaped = Some(identity),
                _ => {}
            }
        }
        Self {
            child,
            host,
            leader: leader.expect("leader"),
            kid: kid.expect("kid"),
            escaped: escaped.expect("escaped"),
        }
    }
}

impl Drop for OldHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
