//! Test fixtures shared by the process and registry tests: process families
//! with escaped descendants, and a stand-in for a previous host.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::identity::{INVOCATION_ENV, ProcessIdentity, WorkerId};

/// A Python worker with a child in its group and a grandchild that
/// double-forked into its own session; each prints `tag pid`. It then
/// sleeps `argv[1]` seconds.
pub(crate) const FAMILY: &str = r#"
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
pub(crate) struct OldHost {
    child: Child,
    /// The stand-in host (no marker: it is not part of the worker).
    pub(crate) host: ProcessIdentity,
    pub(crate) leader: ProcessIdentity,
    pub(crate) kid: ProcessIdentity,
    pub(crate) escaped: ProcessIdentity,
}

impl OldHost {
    /// Starts it and waits until the three pids are known (blocking).
    pub(crate) fn start(marker: WorkerId) -> Self {
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
