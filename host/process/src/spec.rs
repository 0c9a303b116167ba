//! What to run: [`WorkerSpec`] and its [`ProcessLimits`].
//!
//! Owns: the description of one worker, built from values the
//! [`ProcessPolicy`](super::ProcessPolicy) already accepted.
//!
//! Guarantees: the command and the working directory were checked by the
//! policy (the types [`ResolvedCommand`] and [`AllowedCwd`] cannot be made
//! any other way); the environment starts empty and holds only the variables
//! named to inherit, those set explicitly, and
//! [`INVOCATION_ENV`](super::INVOCATION_ENV).
//!
//! Must never: touch the system. Setters cannot fail.

use std::ffi::OsString;

use serde::{Deserialize, Serialize};

use super::cgroup::CgroupMode;
use super::logs::LogSpec;
use super::policy::{AllowedCwd, ResolvedCommand};
use super::readiness::ReadinessSpec;

/// Resource limits of one worker. `None` means unlimited.
///
/// Each limit is enforced by the [`Monitor`](super::Monitor) at the
/// configured value (stop within one poll, with the matching
/// [`LimitKind`](super::LimitKind)), and, where the kernel can, by an
/// rlimit set right after spawn as a ceiling so that a runaway between two
/// polls cannot hurt the host (see [`KernelCeilings`](super::KernelCeilings)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessLimits {
    /// Resident memory of the worker's processes, in MiB.
    pub memory_mb: Option<u64>,
    /// CPU time of the worker's processes, in seconds.
    pub cpu_secs: Option<u64>,
    /// Time since spawn, in seconds.
    pub wall_secs: Option<u64>,
    /// Open descriptors of any one of the worker's processes.
    pub open_files: Option<u64>,
    /// Number of processes of the worker (itself included).
    pub max_processes: Option<u64>,
}

/// One native worker: a program, its arguments and environment, limits,
/// readiness and log handling.
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    pub(crate) name: String,
    pub(crate) command: ResolvedCommand,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: Option<AllowedCwd>,
    pub(crate) inherit_env: Vec<String>,
    pub(crate) env: Vec<(String, OsString)>,
    pub(crate) limits: ProcessLimits,
    pub(crate) readiness: Option<ReadinessSpec>,
    pub(crate) logs: LogSpec,
    pub(crate) cgroup: CgroupMode,
}

impl WorkerSpec {
    /// A worker named `name` (its path in the tree, used in logs) running
    /// `command` with no arguments.
    pub fn new(name: impl Into<String>, command: ResolvedCommand) -> Self {
        Self {
            name: name.into(),
            command,
            args: Vec::new(),
            cwd: None,
            inherit_env: Vec::new(),
            env: Vec::new(),
            limits: ProcessLimits::default(),
            readiness: None,
            logs: LogSpec::default(),
            cgroup: CgroupMode::default(),
        }
    }

    /// Appends one argument. By default there are none.
    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, A>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command and its arguments as one line, for people (the registry's
    /// `command` column, `warden ctl ps`): not quoted, not for a shell.
    pub fn command_line(&self) -> String {
        let mut line = self.command().path().display().to_string();
        for arg in &self.args {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        line
    }

    /// The working directory. By default `/`.
    pub fn cwd(&mut self, dir: AllowedCwd) -> &mut Self {
        self.cwd = Some(dir);
        self
    }

    /// Passes the host's value of this variable, when it has one. By default
    /// nothing is inherited.
    pub fn inherit_env(&mut self, name: impl Into<String>) -> &mut Self {
        self.inherit_env.push(name.into());
        self
    }

    /// Sets a variable (after inherited ones, so it wins). By default none.
    pub fn env(&mut self, name: impl Into<String>, value: impl Into<OsString>) -> &mut Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Resource limits. By default none.
    pub fn limits(&mut self, limits: ProcessLimits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// A readiness check. By default a worker is ready once spawned.
    pub fn readiness(&mut self, readiness: ReadinessSpec) -> &mut Self {
        self.readiness = Some(readiness);
        self
    }

    /// Log handling. By default the ring buffer only (see [`LogSpec`]).
    pub fn logs(&mut self, logs: LogSpec) -> &mut Self {
        self.logs = logs;
        self
    }

    /// Whether the worker gets a cgroup of its own, which holds every
    /// process it starts whatever they do (see
    /// [`cgroup_support`](super::cgroup_support)). By default
    /// [`CgroupMode::Auto`]: when the host can create one.
    pub fn cgroup(&mut self, mode: CgroupMode) -> &mut Self {
        self.cgroup = mode;
        self
    }

    /// The name given to [`new`](Self::new): the worker's path in the
    /// tree, as logs and events name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program run, as the policy resolved it.
    pub fn command(&self) -> &ResolvedCommand {
        &self.command
    }

    /// The limits set with [`limits`](Self::limits) (all `None` unless set).
    pub fn get_limits(&self) -> &ProcessLimits {
        &self.limits
    }

    /// The log handling set with [`logs`](Self::logs).
    pub fn get_logs(&self) -> &LogSpec {
        &self.logs
    }
}
