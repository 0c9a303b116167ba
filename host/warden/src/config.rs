//! `warden.toml`: reading, validating, and the validated form the host
//! builds its tree from.
//!
//! Two stages, like ripgrep's flags: raw serde types mirror the file
//! (`deny_unknown_fields`, so a typo is an error, not a silent default),
//! then [`load`] checks everything that spans keys — references between
//! supervisors, duplicate ids, contradictory settings, files that must
//! exist — and produces [`Config`] with defaults filled in and paths made
//! absolute. Every error names the file, the key and what was expected;
//! nothing starts until the whole file is valid.
//!
//! A child is read by the struct of its `kind` (one per kind, each
//! denying unknown fields), so a key that belongs to another kind is
//! refused by serde like any typo, with the key's path and the keys the
//! kind has. This module never opens a file a key names (it checks that
//! it exists, resolves commands and directories) and never starts
//! anything. [`diff`] compares two validated configs: what a config
//! reload of a running host would do.
//!
//! ```toml
//! [host]
//! state_dir = ".warden"            # registry, compile cache, logs
//!
//! [supervisor.root]                # a supervisor no other one names is a top-level tree
//! strategy = "one_for_one"         # one_for_all | rest_for_one | simple_one_for_one
//! intensity = 3                    # restarts allowed …
//! period_ms = 5000                 # … within this window
//!
//! [[supervisor.root.children]]
//! id = "counter"
//! kind = "component"               # component | process | supervisor
//! path = "plugins/target/wasm32-wasip2/release/counter.wasm"
//! restart = "permanent"            # transient | temporary
//! shutdown = 2000                  # ms | "brutal_kill" | "infinity"
//! limits = { memory_mb = 32, timeout_ms = 1000 }
//! send_to = ["echo"]
//! persist = "shutdown"             # or { interval_ms = 5000 }: state saved in state_dir/persist, restored at start
//! restore_after_crash = false      # true: a restart after its crash restores the last saved state too
//! hibernate_after_ms = 60000       # idle this long: state kept as a snapshot, instance dropped until the next message
//!
//! [host.policy]                    # what native workers may run, and where
//! allow_commands = ["/usr/bin/python3", "sleep"]   # bare names resolved on PATH once, pinned
//! allow_cwds = ["work"]            # relative to this file
//!
//! [host.monitor]
//! interval_ms = 250                # /proc polling period
//!
//! [host.cgroup]
//! mode = "auto"                    # a cgroup per worker when the host may create one | "off" | "required"
//!
//! [host.registry]
//! keep_per_child = 100             # incarnations kept per child
//! max_age_days = 30
//!
//! [host.compile]                   # compiling a component not seen before, in a child process
//! cpu_secs = 60                    # CPU time (all compiler threads)
//! memory_mb = 1536                 # compiler heap
//! timeout_ms = 300000              # wall clock
//! max_bytes = 67108864             # component size, checked before reading
//!
//! [host.cache]                     # compiled code kept (least recently used goes first)
//! memory_mb = 256                  # in host memory, per engine
//! disk_mb = 1024                   # in state_dir/cache
//!
//! [[supervisor.root.children]]
//! id = "worker"
//! kind = "process"
//! command = "/usr/bin/python3"     # must be allowed by [host.policy]
//! args = ["worker.py"]
//! cwd = "work"
//! env = { MODE = "prod" }          # the environment is empty but for these …
//! inherit = ["HOME"]               # … and these, copied from the host
//! limits = { memory_mb = 256, cpu_secs = 600, wall_secs = 3600, open_files = 256, max_processes = 16 }
//! readiness = { line = "listening", timeout_ms = 5000 }   # or file = "ready.flag"
//! liveness = { http = "http://127.0.0.1:8080/healthz", interval_ms = 1000, timeout_ms = 1000, failures = 3 }
//!                                  # or command = "check-it --quick" (no shell; allowed commands only),
//!                                  # or file = "beat", file_touched_within_ms = 5000
//! restart_unresponsive = false     # true: kill (and so restart) a worker unresponsive `failures` checks in a row
//!
//! [operations.wordcount]           # an operation plugin: ops `wordcount.NAME`
//! path = "plugins/target/wasm32-wasip2/release/wordcount.wasm"
//! limits = { fuel = 10000000, memory_mb = 16, timeout_ms = 1000 }
//! dirs = [{ host = "data", guest = "/data" }]
//! watch = true                     # re-register when the file changes
//!
//! [reload]
//! debounce_ms = 50                 # quiet time that ends a save
//! probation_ms = 5000              # a crash this soon after a swap rolls back
//!
//! [snapshots]                      # snapshots stored by child.snapshot (STATE_DIR/snapshots)
//! keep_per_child = 20              # per child path; the oldest goes first
//! max_upload_bytes = 67108864      # largest state taken by POST /snapshots?path=CHILD
//!
//! [history]                        # durable history in STATE_DIR/registry.sqlite3
//! keep_events = 100000             # events kept (the newest); events.recent reads them after a restart
//! keep_versions = 20               # reload versions kept per child (metadata only, never the code)
//!
//! [health]                         # the periodic health monitor (`health_changed` events)
//! interval_ms = 5000               # how often every supervisor and worker is scored
//! restart_window_ms = 600000       # a worker's restarts count against its stability this long
//! warning = 70                     # a score below this is `warning`
//! critical = 40                    # below this `critical`
//! emergency = 15                   # below this `emergency`
//!
//! [chaos]                          # chaos.run experiments (off by default)
//! enabled = false
//! allow = ["root/workers"]         # subtrees experiments may target; left out: the whole tree
//!
//! [api]                            # the HTTP API's guards and ceilings
//! allowed_hosts = ["warden.lan"]   # Host names answered besides localhost/127.0.0.1/[::1]
//! allowed_origins = ["https://ops.example.com"]   # web pages that may call the API
//! max_timeout_ms = 60000           # ceilings on limits an API caller asks for: per call (per test case for `grade`)
//! max_memory_mb = 1024
//! max_fuel = 1000000000            # left out: no fuel ceiling
//! max_component_bytes = 67108864   # largest upload to the component store (POST /components)
//! audit_keep = 100000              # audit log rows kept (the newest)
//!
//! [[api.tokens]]                   # a named token with a role: read < operate < admin
//! name = "dashboard"
//! role = "read"
//! token_env = "WARDEN_DASHBOARD_TOKEN"   # the secret from the environment, read at load; or token = "…"
//!
//! [api.sandboxes]                  # sandbox.create/destroy/list; absent: sandboxes are off
//! supervisor = "pool"              # a configured supervisor takes them; left out: the host adds a
//! intensity = 100                  #   one_for_one `sandboxes` supervisor as the root's last child,
//! period_ms = 10000                #   with these flags (these are the defaults)
//! max = 1000                       # live sandboxes at most
//!
//! [api.grants.shared]              # a host directory sandboxes may ask for by name
//! host = "shared"                  # relative to this file; must be a directory
//! writable = false
//! path_roots = ["exercises"]       # folders API callers may name host paths under (relative: to this file); default none
//! ```

pub(crate) mod checks;
pub mod diff;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use warden_clock::millis;

use crate::component::{CacheBudget, Capabilities, CompileLimits, DirGrant, Limits, Overflow};
use crate::process::{
    AllowedCwd, ProcessLimits, ProcessPolicy, Readiness, ReadinessSpec, ResolvedCommand,
};
use crate::registry::{DEFAULT_AUDIT_KEEP, Retention};
use crate::supervisor::{Backoff, Restart, Shutdown, StormAction, StormConfig, Strategy};

/// A configuration problem, always naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {key}: {reason}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
    },
}

// ---------------------------------------------------------------- raw form

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    host: RawHost,
    #[serde(default)]
    supervisor: IndexMap<String, RawSupervisor<toml::Table>>,
    #[serde(default)]
    operations: IndexMap<String, RawOperationPlugin>,
    reload: Option<RawReload>,
    snapshots: Option<RawSnapshots>,
    history: Option<RawHistory>,
    health: Option<RawHealth>,
    chaos: Option<RawChaos>,
    api: Option<RawApi>,
    fleet: Option<RawFleet>,
}

/// `[fleet]`: the NATS server the host serves its operations on.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    nats: Option<String>,
    name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
}

/// `[api]`: who may reach the API, and the ceilings on the limits its
/// callers may ask for.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    max_timeout_ms: Option<u64>,
    max_memory_mb: Option<u64>,
    max_fuel: Option<u64>,
    max_component_bytes: Option<u64>,
    #[serde(default)]
    path_roots: Vec<PathBuf>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    audit_keep: Option<u64>,
    sandboxes: Option<RawSandboxes>,
    #[serde(default)]
    grants: IndexMap<String, RawGrant>,
}

/// One `[[api.tokens]]` entry: a named secret with a role.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Option<String>,
    role: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
}

/// `[api.sandboxes]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSandboxes {
    supervisor: Option<String>,
    intensity: Option<u32>,
    period_ms: Option<u64>,
    max: Option<usize>,
}

/// `[api.grants.NAME]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    host: PathBuf,
    #[serde(default)]
    writable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperationPlugin {
    path: Option<PathBuf>,
    limits: Option<RawPluginLimits>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    watch: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPluginLimits {
    memory_mb: Option<usize>,
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChaos {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    allow: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    interval_ms: Option<u64>,
    restart_window_ms: Option<u64>,
    warning: Option<u8>,
    critical: Option<u8>,
    emergency: Option<u8>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    keep_events: Option<u64>,
    keep_versions: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSnapshots {
    keep_per_child: Option<u64>,
    max_upload_bytes: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReload {
    debounce_ms: Option<u64>,
    probation_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHost {
    state_dir: Option<PathBuf>,
    api_addr: Option<String>,
    token: Option<String>,
    epoch_tick_ms: Option<u64>,
    wasm_backtraces: Option<bool>,
    pooling_instances: Option<u32>,
    shutdown_grace_ms: Option<u64>,
    policy: Option<RawPolicy>,
    monitor: Option<RawMonitor>,
    registry: Option<RawRegistry>,
    compile: Option<RawCompile>,
    cache: Option<RawCache>,
    cgroup: Option<RawCgroup>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCompile {
    cpu_secs: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    max_bytes: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    memory_mb: Option<u64>,
    disk_mb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    allow_commands: Vec<String>,
    #[serde(default)]
    allow_cwds: Vec<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    interval_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCgroup {
    mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    keep_per_child: Option<u32>,
    max_age_days: Option<u64>,
}

/// `[supervisor.NAME]`. Its children are read in two steps: as TOML
/// tables with the rest of the file (`C = toml::Table`), then each by the
/// struct of its kind ([`RawChild::from_table`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupervisor<C = RawChild> {
    strategy: Strategy,
    intensity: Option<u32>,
    period_ms: Option<u64>,
    storm: Option<RawStorm>,
    #[serde(default = "Vec::new")]
    children: Vec<C>,
}

/// One `[[supervisor.NAME.children]]` table, read by the struct of its
/// `kind`. Each struct denies unknown fields, so a key of another kind
/// (`command` on a component) is refused by serde like a typo, and the
/// refusal lists the keys the kind has.
///
/// Not `#[serde(tag = "kind")]`: serde buffers an internally tagged
/// table before it knows the variant, and an error inside it is then
/// reported against the whole child, without its key (`limits.fuel`).
/// Reading the tag first, then the variant's struct from the table with
/// its path tracked, names the key.
enum RawChild {
    Component(RawComponentChild),
    Supervisor(RawSupervisorChild),
    Process(RawProcessChild),
}

/// Why a child table does not read as its kind.
struct ChildError {
    /// The key inside the child table (`.limits.fuel`, `[0]`-style
    /// indices included), empty for the table itself: the caller prefixes
    /// the child's own key.
    key: String,
    reason: String,
}

impl RawChild {
    /// Reads `table` by the struct its `kind` names.
    fn from_table(mut table: toml::Table) -> Result<Self, ChildError> {
        let kind = match table.remove("kind") {
            Some(toml::Value::String(name)) => RawKind::ALL
                .into_iter()
                .find(|kind| kind.name() == name)
                .ok_or_else(|| format!("unknown kind `{}`", name.escape_debug())),
            Some(other) => Err(format!("{} is not a kind", other.type_str())),
            None => Err("missing".to_string()),
        }
        .map_err(|reason| ChildError {
            key: ".kind".into(),
            reason: format!("{reason}: expected one of {}", RawKind::names()),
        })?;
        let fields = toml::Value::Table(table);
        Ok(match kind {
            RawKind::Component => Self::Component(of_kind(fields, kind)?),
            RawKind::Supervisor => Self::Supervisor(of_kind(fields, kind)?),
            RawKind::Process => Self::Process(of_kind(fields, kind)?),
        })
    }

    fn kind(&self) -> RawKind {
        match self {
            Self::Component(_) => RawKind::Component,
            Self::Supervisor(_) => RawKind::Supervisor,
            Self::Process(_) => RawKind::Process,
        }
    }

    fn id(&self) -> &str {
        self.common().id
    }

    fn common(&self) -> ChildCommon<'_> {
        match self {
            Self::Component(RawComponentChild {
                id,
                restart,
                shutdown,
                backoff,
                storm,
                groups,
                ..
            })
            | Self::Supervisor(RawSupervisorChild {
                id,
                restart,
                shutdown,
                backoff,
                storm,
                groups,
                ..
            })
            | Self::Process(RawProcessChild {
                id,
                restart,
                shutdown,
                backoff,
                storm,
                groups,
                ..
            }) => ChildCommon {
                id,
                restart: *restart,
                shutdown: *shutdown,
                backoff: backoff.as_ref(),
                storm: storm.as_ref(),
                groups,
            },
        }
    }
}

/// The struct of `kind` read from a child table without its `kind`; an
/// error names the key inside the table and the kind it was read as.
fn of_kind<T: serde::de::DeserializeOwned>(
    fields: toml::Value,
    kind: RawKind,
) -> Result<T, ChildError> {
    use serde_path_to_error::Segment;
    serde_path_to_error::deserialize(fields).map_err(|err| {
        let mut key = String::new();
        for segment in err.path() {
            match segment {
                Segment::Seq { index } => key.push_str(&format!("[{index}]")),
                Segment::Map { key: name } | Segment::Enum { variant: name } => {
                    key.push('.');
                    key.push_str(&checks::toml_key(name));
                }
                Segment::Unknown => key.push_str(".?"),
            }
        }
        ChildError {
            key,
            reason: format!(
                "{} (in a child of kind \"{}\")",
                err.inner().message(),
                kind.name()
            ),
        }
    })
}

/// The keys a child has whatever its kind.
struct ChildCommon<'a> {
    id: &'a str,
    restart: Option<Restart>,
    shutdown: Option<Shutdown>,
    backoff: Option<&'a RawBackoff>,
    storm: Option<&'a RawStorm>,
    groups: &'a [String],
}

/// `kind = "component"`: an actor-world instance under limits.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponentChild {
    id: String,
    restart: Option<Restart>,
    shutdown: Option<Shutdown>,
    backoff: Option<RawBackoff>,
    storm: Option<RawStorm>,
    #[serde(default)]
    groups: Vec<String>,
    path: Option<PathBuf>,
    config: Option<String>,
    limits: Option<RawComponentLimits>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    send_to: Vec<String>,
    mailbox: Option<usize>,
    #[serde(default)]
    watch: bool,
    /// `"shutdown"` or `{ interval_ms = N }`, read by hand
    /// ([`Validator::persist`]) so a wrong shape gets its own message
    /// rather than serde's "did not match any variant".
    persist: Option<toml::Value>,
    restore_after_crash: Option<bool>,
    hibernate_after_ms: Option<u64>,
}

/// `kind = "supervisor"`: a nested `[supervisor.NAME]` tree.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupervisorChild {
    id: String,
    restart: Option<Restart>,
    shutdown: Option<Shutdown>,
    backoff: Option<RawBackoff>,
    storm: Option<RawStorm>,
    #[serde(default)]
    groups: Vec<String>,
    supervisor: Option<String>,
}

/// `kind = "process"`: a native worker under `[host.policy]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcessChild {
    id: String,
    restart: Option<Restart>,
    shutdown: Option<Shutdown>,
    backoff: Option<RawBackoff>,
    storm: Option<RawStorm>,
    #[serde(default)]
    groups: Vec<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    cwd: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    inherit: Vec<String>,
    limits: Option<RawProcessLimits>,
    readiness: Option<RawReadiness>,
    liveness: Option<RawLiveness>,
    #[serde(default)]
    restart_unresponsive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    command: Option<String>,
    http: Option<String>,
    file: Option<PathBuf>,
    file_touched_within_ms: Option<u64>,
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    failures: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReadiness {
    line: Option<String>,
    file: Option<PathBuf>,
    timeout_ms: Option<u64>,
}

/// A child's `kind`: which struct reads the rest of its table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RawKind {
    Component,
    Supervisor,
    Process,
}

impl RawKind {
    const ALL: [Self; 3] = [Self::Component, Self::Supervisor, Self::Process];

    /// The name `kind = "…"` gives it.
    fn name(self) -> &'static str {
        match self {
            Self::Component => "component",
            Self::Supervisor => "supervisor",
            Self::Process => "process",
        }
    }

    /// "`component`, `supervisor`, `process`", for error messages.
    fn names() -> String {
        Self::ALL
            .map(|kind| format!("`{}`", kind.name()))
            .join(", ")
    }
}

/// `limits` of a component child.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawComponentLimits {
    memory_mb: Option<usize>,
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
    output_kb: Option<usize>,
}

/// `limits` of a process child.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProcessLimits {
    memory_mb: Option<u64>,
    cpu_secs: Option<u64>,
    wall_secs: Option<u64>,
    open_files: Option<u64>,
    max_processes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    writable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial_ms: u64,
    max_ms: u64,
    #[serde(default = "default_multiplier")]
    multiplier: f64,
    #[serde(default = "default_jitter")]
    jitter: f64,
    #[serde(default = "default_reset_after_ms")]
    reset_after_ms: u64,
}

fn default_multiplier() -> f64 {
    2.0
}
fn default_jitter() -> f64 {
    0.2
}
fn default_reset_after_ms() -> u64 {
    30_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorm {
    enabled: Option<bool>,
    per_minute: Option<u32>,
    per_hour: Option<u32>,
    action: Option<String>,
    cooldown_ms: Option<u64>,
    escalate_after: Option<u32>,
}

/// The path and strategy of supervisor `name` in the tree `sup` at `path`.
fn find_supervisor(sup: &SupervisorConfig, path: &str, name: &str) -> Option<(String, Strategy)> {
    if sup.name == name {
        return Some((path.to_string(), sup.strategy));
    }
    sup.children.iter().find_map(|child| match &child.kind {
        ChildKindConfig::Supervisor(nested) => {
            find_supervisor(nested, &format!("{path}/{}", child.id), name)
        }
        _ => None,
    })
}

/// A grant's name: what a `sandbox.create` caller types.
pub fn is_grant_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ----------------------------------------------------------- validated form

/// A validated `warden.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    pub host: HostConfig,
    /// Top-level trees, in file order.
    pub trees: Vec<SupervisorConfig>,
    /// Operation plugins (`[operations.ID]`), in file order.
    pub operations: Vec<OperationPluginConfig>,
    /// Hot-reload settings (`[reload]`).
    pub reload: ReloadConfig,
    /// Stored snapshots (`[snapshots]`).
    pub snapshots: SnapshotsConfig,
    /// Durable history (`[history]`).
    pub history: HistoryConfig,
    /// The periodic health monitor (`[health]`).
    pub health: HealthConfig,
    /// Chaos experiments (`[chaos]`).
    pub chaos: ChaosConfig,
    /// The HTTP API's guards and ceilings (`[api]`).
    pub api: ApiSection,
    /// Operations on a fleet over NATS (`[fleet]`); none without it.
    pub fleet: Option<FleetConfig>,
}

/// The `[fleet]` section: the NATS server `warden run` registers its
/// operations on and publishes its events to, as which host, with which
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The server's URL (`nats://127.0.0.1:4222`).
    pub nats: String,
    /// The host's name on the bus: in its service metadata and its
    /// events' subjects. By default the machine's host name.
    pub name: String,
    /// How the host authenticates.
    pub auth: NatsAuth,
}

/// How a host authenticates to the NATS server.
#[derive(Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials (a server that requires none).
    None,
    /// `user` with `password` or `password_env`.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
}

/// Never prints a secret.
impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::UserPassword { user, .. } => write!(f, "UserPassword({user})"),
        }
    }
}

/// The `[api]` ceilings: no parameter of `component.call` or `grade` can
/// lift them. A parameter above one is refused (400 naming it); a limit
/// left out, or `0` ("none"), means the ceiling, never "forever".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Longest wall-clock limit of one call (of one test case, for
    /// `grade`). By default 60 s.
    pub max_timeout: Duration,
    /// Largest memory limit, in MiB. By default 1024.
    pub max_memory_mb: u64,
    /// Largest fuel budget; when set, calls that ask for none run with
    /// this much. By default none (the wall clock bounds them).
    pub max_fuel: Option<u64>,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_timeout: Duration::from_secs(60),
            max_memory_mb: 1024,
            max_fuel: None,
        }
    }
}

/// The `[api]` section: who, besides the API's own address, may reach it
/// (see `api::guard`), and how much its callers may ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSection {
    /// Ceilings on the limits API callers ask for.
    pub limits: ApiLimits,
    /// Host names (optionally with a port) the API answers to besides
    /// `localhost`, loopback IPs and its bound address. By default none.
    pub allowed_hosts: Vec<crate::api::AllowedHost>,
    /// Web origins (`https://ops.example.com`) that may call the API
    /// besides its own. By default none.
    pub allowed_origins: Vec<crate::api::AllowedOrigin>,
    /// The largest component the store takes over the API, in bytes. By
    /// default 64 MiB.
    pub max_component_bytes: u64,
    /// Directories under which API callers may name host paths
    /// (`component.call`'s `component`, `grade`'s `exercise` and
    /// `solution`), absolute (relative entries are resolved against the
    /// config file's folder). By default none: every host path is refused
    /// with 403, and components come from the store.
    pub path_roots: Vec<PathBuf>,
    /// Named tokens with roles (`[[api.tokens]]`), secrets read (from the
    /// environment for `token_env`). By default none.
    pub tokens: Vec<crate::api::ApiToken>,
    /// How many audit log rows the registry keeps (the newest). By
    /// default [`DEFAULT_AUDIT_KEEP`].
    pub audit_keep: u32,
    /// Sandboxes created over the API (`[api.sandboxes]`). By default
    /// `None`: the sandbox operations refuse.
    pub sandboxes: Option<SandboxesConfig>,
    /// Host directories a sandbox may ask for, by name
    /// (`[api.grants.NAME]`). By default none.
    pub grants: BTreeMap<String, Grant>,
}

/// Where sandboxes go and how many there may be (`[api.sandboxes]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxesConfig {
    /// The supervisor that takes them: its name (`[supervisor.NAME]`, or
    /// `sandboxes` when the host added it) …
    pub supervisor: String,
    /// … its path in the tree (`root/sandboxes`) …
    pub path: String,
    /// … and its strategy (a `simple_one_for_one` one takes each sandbox
    /// as a dynamic child).
    pub strategy: Strategy,
    /// Whether the host added it (no `supervisor` key).
    pub added: bool,
    /// Live sandboxes at most. By default 1000.
    pub max: usize,
}

impl SandboxesConfig {
    /// Live sandboxes at most, by default.
    pub const DEFAULT_MAX: usize = 1000;
    /// The id (and name) of the supervisor the host adds.
    pub const ADDED: &str = "sandboxes";
    /// The added supervisor's intensity and period, by default: restarts
    /// of every tenant's sandboxes count together, and each sandbox
    /// restarts with backoff, so one crash-looping tenant cannot use up
    /// the supervisor's intensity and take the others' sandboxes (and a
    /// restart of the root's) with it.
    pub const DEFAULT_INTENSITY: u32 = 100;
    pub const DEFAULT_PERIOD_MS: u64 = 10_000;
}

/// One `[api.grants.NAME]`: a host directory, canonical, that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub host: PathBuf,
    /// Whether a sandbox may create, write and delete in it. By default
    /// false.
    pub writable: bool,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            limits: ApiLimits::default(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_component_bytes: crate::store::DEFAULT_MAX_BYTES,
            tokens: Vec::new(),
            audit_keep: DEFAULT_AUDIT_KEEP,
            sandboxes: None,
            grants: BTreeMap::new(),
            path_roots: Vec::new(),
        }
    }
}

/// The names `[[api.tokens]]` may not take: `admin` is `[host] token`'s,
/// `anonymous` the caller's when there are no tokens.
const RESERVED_TOKEN_NAMES: &[&str] = &["admin", "anonymous"];

/// One `[operations.ID]` table: a component of the `operation-plugin`
/// world whose operations are registered as `ID.NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationPluginConfig {
    /// The table's key: lowercase letters, digits, `_` and `-`.
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub path: PathBuf,
    /// Applied to `describe()` and to each `execute()`, each in a fresh
    /// sandbox. By default 64 MiB, unmetered, 10 s.
    pub limits: Limits,
    /// Directories the plugin may open. By default none.
    pub caps: Capabilities,
    /// Re-register the plugin's operations when its file changes. By
    /// default false.
    pub watch: bool,
}

/// The `[reload]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadConfig {
    /// Quiet time before a batch of file events counts as one save. By
    /// default 50 ms.
    pub debounce: Duration,
    /// A new version failing within this time after its swap is rolled
    /// back; zero turns probation off. By default 5000 ms.
    pub probation: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(50),
            probation: Duration::from_millis(5000),
        }
    }
}

/// The `[chaos]` section: whether `chaos.run` may run experiments, and on
/// which subtrees. Off by default: an experiment kills and stops children
/// for real, so a host opts in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChaosConfig {
    /// `chaos.run` runs experiments. By default false.
    pub enabled: bool,
    /// Tree paths whose subtrees experiments may target; empty: the whole tree.
    pub allow: Vec<String>,
}

/// The `[health]` section: how often the health monitor scores the tree,
/// and the score thresholds of its levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// How often every supervisor and worker is scored. By default 5 s.
    pub interval: Duration,
    /// The score thresholds (warning 70, critical 40, emergency 15), of
    /// supervisors and workers alike.
    pub thresholds: crate::health::Thresholds,
    /// The recent window a native worker's restarts count in, for its
    /// stability score. By default 10 minutes.
    pub restart_window: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(5_000),
            thresholds: crate::health::Thresholds::default(),
            restart_window: Duration::from_secs(600),
        }
    }
}

/// The `[history]` section: what the registry keeps of the host's past
/// (events, reload versions) across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Events kept, the newest. By default 100000.
    pub keep_events: u32,
    /// Reload versions kept per child, the newest. By default 20.
    pub keep_versions: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            keep_events: crate::registry::DEFAULT_KEEP_EVENTS,
            keep_versions: crate::registry::DEFAULT_KEEP_VERSIONS,
        }
    }
}

/// The `[snapshots]` section: what `child.snapshot` keeps in
/// `STATE_DIR/snapshots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotsConfig {
    /// Snapshots kept per child path; storing one more removes the
    /// oldest. By default 20.
    pub keep_per_child: usize,
    /// The largest state `POST /snapshots` takes, in bytes. By default
    /// 64 MiB (a child's memory limit bounds what it can restore anyway).
    pub max_upload_bytes: u64,
}

impl Default for SnapshotsConfig {
    fn default() -> Self {
        Self {
            keep_per_child: 20,
            max_upload_bytes: 64 << 20,
        }
    }
}

/// The `[host]` section with defaults filled in.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Registry, compile cache and logs live here. By default `.warden`
    /// beside the config file.
    pub state_dir: PathBuf,
    /// Where the HTTP API listens (`host.api_addr`, checked at load). By
    /// default `127.0.0.1:7878`.
    pub api_addr: SocketAddr,
    /// Bearer token for the API; required when `api_addr` is not loopback.
    /// `WARDEN_TOKEN` overrides it. By default none.
    pub token: Option<String>,
    /// Resolution of wall-clock limits. By default 5 ms.
    pub epoch_tick: Duration,
    /// A trap's error shows the guest's wasm call stack. By default off
    /// (capturing it slows every trap, and so every restart).
    pub wasm_backtraces: bool,
    /// Pooling-allocator slots; 0 turns pooling off. By default 0.
    pub pooling_instances: u32,
    /// On a stop, how long the trees get to stop per their shutdown specs
    /// before every guest call still running is interrupted. By default
    /// 5 s.
    pub shutdown_grace: Duration,
    /// What native workers may run and where (`[host.policy]`). By default
    /// nothing is allowed.
    pub policy: ProcessPolicy,
    /// How often the monitor polls `/proc`. By default 250 ms.
    pub monitor_interval: Duration,
    /// How much incarnation history the registry keeps. By default 100 per
    /// child and 30 days.
    pub retention: Retention,
    /// Limits on compiling a component the host has not compiled before
    /// (`[host.compile]`). By default [`CompileLimits::default`].
    pub compile: CompileLimits,
    /// Compiled code kept in memory and on disk (`[host.cache]`). By
    /// default 256 MiB and 1 GiB.
    pub cache: CacheBudget,
    /// Whether each native worker gets a cgroup of its own
    /// (`[host.cgroup] mode`). By default `auto`: when the host may create
    /// one.
    pub cgroup: crate::process::CgroupMode,
}

/// One supervisor and its children.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    pub name: String,
    pub strategy: Strategy,
    pub intensity: u32,
    pub period: Duration,
    pub children: Vec<ChildConfig>,
}

/// The longest group name.
pub const MAX_GROUP_NAME: usize = 64;

/// Whether `name` may name a group (`groups = [..]`, `group.join`): 1 to
/// [`MAX_GROUP_NAME`] ASCII letters, digits, `_`, `-` or `.`, starting
/// with a letter or digit; the reason when not.
pub fn group_name(name: &str) -> Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > MAX_GROUP_NAME || !first_ok || !rest_ok {
        return Err(format!(
            "`{}` is not a group name: 1 to {MAX_GROUP_NAME} ASCII letters, digits, `_`, `-` \
             or `.`, starting with a letter or digit",
            name.escape_debug()
        ));
    }
    Ok(())
}

impl Config {
    /// Every `groups = [..]` membership the file declares, as (child
    /// path in the running tree, group), in file order: paths as the host
    /// builds them (`root/counter` under one top-level tree,
    /// `host/TREE/child` under several).
    pub fn group_memberships(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, sup: &SupervisorConfig, out: &mut Vec<(String, String)>) {
            for child in &sup.children {
                let path = format!("{prefix}/{}", child.id);
                for group in &child.groups {
                    out.push((path.clone(), group.clone()));
                }
                if let ChildKindConfig::Supervisor(nested) = &child.kind
                    && nested.strategy != Strategy::SimpleOneForOne
                {
                    walk(&path, nested, out);
                }
            }
        }
        let mut out = Vec::new();
        match self.trees.as_slice() {
            [tree] => walk(&tree.name, tree, &mut out),
            trees => {
                for tree in trees {
                    walk(&format!("host/{}", tree.name), tree, &mut out);
                }
            }
        }
        out
    }
}

/// One child spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildConfig {
    pub id: String,
    pub restart: Restart,
    /// `None`: the supervisor's default for the kind (5000 ms for workers,
    /// infinity for supervisors, as in OTP).
    pub shutdown: Option<Shutdown>,
    pub backoff: Option<Backoff>,
    pub storm: Option<StormConfig>,
    /// The named groups it belongs to from its start (`groups = ["ingest"]`),
    /// sorted, no duplicates; `group.join` adds more at run time.
    pub groups: Vec<String>,
    pub kind: ChildKindConfig,
}

/// What a child is.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildKindConfig {
    Component(ComponentChildConfig),
    Supervisor(SupervisorConfig),
    Process(ProcessChildConfig),
}

/// A native worker process, checked against `[host.policy]` at load: its
/// command is resolved and pinned, its cwd is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessChildConfig {
    pub command: ResolvedCommand,
    pub args: Vec<String>,
    /// By default none: the worker starts in `/`.
    pub cwd: Option<AllowedCwd>,
    /// Variables set for the worker. By default none.
    pub env: Vec<(String, String)>,
    /// Host variables passed through. By default none.
    pub inherit: Vec<String>,
    pub limits: ProcessLimits,
    /// By default none: started as soon as spawned.
    pub readiness: Option<ReadinessSpec>,
    /// By default none: only a stopped process counts as unresponsive.
    pub liveness: Option<crate::host::liveness::LivenessSpec>,
    /// Kill (so the supervisor restarts) a worker found unresponsive
    /// `failures` checks in a row. By default false.
    pub restart_unresponsive: bool,
}

/// A component child: an actor-world instance under limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentChildConfig {
    /// Absolute path of the `.wasm` file.
    pub path: PathBuf,
    /// The string passed to `init`. By default empty.
    pub init_config: String,
    pub limits: Limits,
    pub caps: Capabilities,
    /// Siblings this child may `send` to.
    pub send_to: Vec<String>,
    /// Messages that may wait. By default 1024.
    pub mailbox: usize,
    /// Hot-reload when the file changes. By default false.
    pub watch: bool,
    /// Save the child's state to the state dir and restore it at start
    /// (`persist`, `restore_after_crash`). By default none: every start
    /// is fresh.
    pub persist: Option<PersistConfig>,
    /// Idle time after which the child hibernates: its state is taken
    /// with `snapshot` and its instance dropped, until the next envelope
    /// wakes it (`hibernate_after_ms`). By default none: it stays awake.
    pub hibernate_after: Option<Duration>,
}

/// A component child's `persist`: its `snapshot` written to
/// `STATE_DIR/persist/` and given back to `restore` at the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistConfig {
    /// When the snapshot is written.
    pub mode: PersistMode,
    /// Whether a start after this child's own crash (or kill) restores
    /// the last persisted snapshot too. By default false: as in OTP, a
    /// restart after a failure starts clean, because the state the child
    /// failed with may be what made it fail.
    pub restore_after_crash: bool,
}

/// When a persisted child's snapshot is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistMode {
    /// `persist = "shutdown"`: on every graceful stop (the host stopping,
    /// `child.terminate`, a restart of its siblings).
    Shutdown,
    /// `persist = { interval_ms = N }`: on graceful stops, and every
    /// interval while the state changed since the last write.
    Interval(Duration),
}

/// The shortest `persist.interval_ms`: each write is a guest call between
/// two messages plus an fsync.
pub const MIN_PERSIST_INTERVAL_MS: u64 = 100;

/// Reads and validates a config file.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// Validates config text as if read from `file` (relative paths resolve
/// against the file's directory).
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|err| {
        let (line, column) = err.span().map_or((1, 1), |span| line_col(text, span.start));
        ConfigError::Parse {
            file: file.to_path_buf(),
            line,
            column,
            message: err.message().trim().to_string(),
        }
    })?;
    Validator::new(file).config(raw)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Validator<'a> {
    file: &'a Path,
    base: PathBuf,
    /// `[host.policy]`, built before any child is checked.
    policy: ProcessPolicy,
}

impl<'a> Validator<'a> {
    fn new(file: &'a Path) -> Self {
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = std::fs::canonicalize(&base).unwrap_or(base);
        let policy = ProcessPolicy::builder()
            .build()
            .expect("an empty policy always builds");
        Self { file, base, policy }
    }

    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    fn config(&mut self, raw: RawConfig) -> Result<Config, ConfigError> {
        // Every child is read by its kind first: like the rest of the
        // file's shape, before any value is checked.
        let supervisors = raw
            .supervisor
            .into_iter()
            .map(|(name, sup)| {
                let sup = self.typed_children(&name, sup)?;
                Ok((name, sup))
            })
            .collect::<Result<IndexMap<_, _>, ConfigError>>()?;
        let host = self.host(raw.host)?;
        self.policy = host.policy.clone();
        if supervisors.is_empty() {
            return Err(self.invalid(
                "supervisor",
                "no supervisor is defined; add a [supervisor.NAME] table",
            ));
        }
        // Which supervisors are nested, and where: each at most once.
        let mut referenced: HashMap<&str, String> = HashMap::new();
        for (name, sup) in &supervisors {
            for (i, child) in sup.children.iter().enumerate() {
                let RawChild::Supervisor(child) = child else {
                    continue;
                };
                let key = format!("supervisor.{name}.children[{i}].supervisor");
                let target = child.supervisor.as_deref().ok_or_else(|| {
                    self.invalid(
                        &key,
                        "a child of kind \"supervisor\" names its [supervisor.NAME] table",
                    )
                })?;
                if !supervisors.contains_key(target) {
                    return Err(self.invalid(&key, format!("no [supervisor.{target}] table")));
                }
                if let Some(first) = referenced.insert(target, key.clone()) {
                    return Err(self.invalid(
                        &key,
                        format!("supervisor `{target}` is already nested at {first}"),
                    ));
                }
            }
        }
        let mut trees = Vec::new();
        for name in supervisors.keys() {
            if !referenced.contains_key(name.as_str()) {
                let mut path = Vec::new();
                trees.push(self.supervisor(&supervisors, name, &mut path)?);
            }
        }
        if trees.is_empty() {
            return Err(self.invalid(
                "supervisor",
                "every supervisor is nested in another: the tree has a cycle",
            ));
        }
        self.pool_fits(host.pooling_instances, &trees)?;
        let mut operations = Vec::new();
        for (id, plugin) in &raw.operations {
            operations.push(self.operation_plugin(id, plugin)?);
        }
        let reload = self.reload(raw.reload.unwrap_or_default())?;
        let snapshots = self.snapshots(raw.snapshots.unwrap_or_default())?;
        let history = self.history(raw.history.unwrap_or_default())?;
        let health = self.health(raw.health.unwrap_or_default())?;
        let raw_chaos = raw.chaos.unwrap_or_default();
        for (i, path) in raw_chaos.allow.iter().enumerate() {
            if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
                return Err(self.invalid(
                    format!("chaos.allow[{i}]"),
                    "expected a tree path such as `root/workers`",
                ));
            }
        }
        let chaos = ChaosConfig {
            enabled: raw_chaos.enabled,
            allow: raw_chaos.allow,
        };
        let fleet = match raw.fleet {
            None => None,
            Some(raw) => Some(self.fleet(raw)?),
        };
        let mut raw_api = raw.api.unwrap_or_default();
        let raw_sandboxes = raw_api.sandboxes.take();
        let mut api = self.api(raw_api, host.token.as_deref())?;
        api.sandboxes = match raw_sandboxes {
            None => None,
            Some(raw) => Some(self.sandboxes(raw, &mut trees)?),
        };
        Ok(Config {
            file: self.file.to_path_buf(),
            host,
            trees,
            operations,
            reload,
            snapshots,
            history,
            health,
            chaos,
            api,
            fleet,
        })
    }

    /// `[fleet]`: a NATS URL, a name that is one subject token, and a user
    /// with its password or no credentials.
    fn fleet(&self, raw: RawFleet) -> Result<FleetConfig, ConfigError> {
        let nats = match raw.nats {
            Some(url) if url.starts_with("nats://") || url.starts_with("tls://") => url,
            Some(_) => {
                return Err(self.invalid(
                    "fleet.nats",
                    "expected a NATS URL such as `nats://127.0.0.1:4222`",
                ));
            }
            None => {
                return Err(self.invalid(
                    "fleet.nats",
                    "[fleet] needs the server's URL: `nats = \"nats://HOST:4222\"`",
                ));
            }
        };
        let name = match raw.name {
            Some(name) => name,
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.invalid(
                "fleet.name",
                format!(
                    "`{name}` cannot be a subject token: use letters, digits, `-` and `_` only"
                ),
            ));
        }
        let password = match (raw.password, raw.password_env) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "fleet.password_env",
                    "give the password once: `password` or `password_env`, not both",
                ));
            }
            (Some(p), None) => Some(p),
            (None, Some(var)) => match std::env::var(&var) {
                Ok(value) if !value.is_empty() => Some(value),
                _ => {
                    return Err(self.invalid(
                        "fleet.password_env",
                        format!("the environment variable `{var}` is not set or empty"),
                    ));
                }
            },
            (None, None) => None,
        };
        // Users and passwords only: nkeys need a client feature (and
        // crate) this build does not carry.
        let auth = match (raw.user, password) {
            (Some(user), Some(password)) => NatsAuth::UserPassword { user, password },
            (Some(_), None) => {
                return Err(self.invalid(
                    "fleet.password",
                    "`user` needs `password` or `password_env`",
                ));
            }
            (None, Some(_)) => {
                return Err(self.invalid("fleet.user", "a password needs its `user`"));
            }
            (None, None) => NatsAuth::None,
        };
        Ok(FleetConfig { nats, name, auth })
    }

    /// `[supervisor.NAME]` with each child read by its kind.
    fn typed_children(
        &self,
        name: &str,
        raw: RawSupervisor<toml::Table>,
    ) -> Result<RawSupervisor, ConfigError> {
        let children = raw
            .children
            .into_iter()
            .enumerate()
            .map(|(i, table)| {
                RawChild::from_table(table).map_err(|err| {
                    self.invalid(
                        format!("supervisor.{name}.children[{i}]{}", err.key),
                        err.reason,
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RawSupervisor {
            strategy: raw.strategy,
            intensity: raw.intensity,
            period_ms: raw.period_ms,
            storm: raw.storm,
            children,
        })
    }

    fn api_limits(&self, raw: &RawApi) -> Result<ApiLimits, ConfigError> {
        let defaults = ApiLimits::default();
        let max_timeout = match raw.max_timeout_ms {
            None => defaults.max_timeout,
            Some(ms) if (1..=86_400_000).contains(&ms) => Duration::from_millis(ms),
            Some(_) => {
                return Err(self.invalid(
                    "api.max_timeout_ms",
                    "expected 1 to 86400000 milliseconds (there is no \"forever\")",
                ));
            }
        };
        let max_memory_mb = match raw.max_memory_mb {
            None => defaults.max_memory_mb,
            Some(mb) if (1..=65_536).contains(&mb) => mb,
            Some(_) => return Err(self.invalid("api.max_memory_mb", "expected 1 to 65536 MiB")),
        };
        if raw.max_fuel == Some(0) {
            return Err(self.invalid(
                "api.max_fuel",
                "expected at least 1 (leave it out for no fuel ceiling)",
            ));
        }
        Ok(ApiLimits {
            max_timeout,
            max_memory_mb,
            max_fuel: raw.max_fuel,
        })
    }

    /// `[[api.tokens]]`: names and secrets unique (also against `[host]
    /// token`, whose secret is `host_token`), roles known, each secret
    /// given once, inline or from a set environment variable.
    fn api_tokens(
        &self,
        raw: &[RawToken],
        host_token: Option<&str>,
    ) -> Result<Vec<crate::api::ApiToken>, ConfigError> {
        let mut tokens: Vec<crate::api::ApiToken> = Vec::with_capacity(raw.len());
        let mut secrets: Vec<String> = Vec::with_capacity(raw.len());
        for (i, entry) in raw.iter().enumerate() {
            let key = |field: &str| format!("api.tokens[{i}].{field}");
            let name = entry
                .name
                .as_deref()
                .ok_or_else(|| self.invalid(key("name"), "every token needs a name"))?;
            let name_ok = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !name_ok {
                return Err(self.invalid(
                    key("name"),
                    format!(
                        "`{}` is not a token name: 1 to 64 letters, digits, `_`, `-` or `.`",
                        name.escape_debug()
                    ),
                ));
            }
            if RESERVED_TOKEN_NAMES.contains(&name) {
                return Err(self.invalid(
                    key("name"),
                    format!(
                        "`{name}` is reserved (`admin` is [host] token's, `anonymous` the caller's when there are no tokens)"
                    ),
                ));
            }
            if let Some(first) = tokens.iter().position(|t| t.name == name) {
                return Err(self.invalid(
                    key("name"),
                    format!("`{name}` is already the name of api.tokens[{first}]"),
                ));
            }
            let role = entry
                .role
                .as_deref()
                .ok_or_else(|| {
                    self.invalid(
                        key("role"),
                        "every token needs a role: read, operate or admin",
                    )
                })?
                .parse::<crate::ops::Role>()
                .map_err(|e| self.invalid(key("role"), e.to_string()))?;
            let secret = match (&entry.token, &entry.token_env) {
                (Some(_), Some(_)) => {
                    return Err(self.invalid(
                        key("token_env"),
                        "give the secret once: `token` or `token_env`, not both",
                    ));
                }
                (None, None) => {
                    return Err(self.invalid(
                        key("token"),
                        "every token needs its secret: `token = \"…\"` or `token_env = \"VAR\"`",
                    ));
                }
                (Some(inline), None) => {
                    if inline.is_empty() {
                        return Err(self.invalid(key("token"), "the secret is empty"));
                    }
                    inline.clone()
                }
                (None, Some(var)) => match std::env::var(var) {
                    Ok(value) if !value.is_empty() => value,
                    Ok(_) => {
                        return Err(self.invalid(
                            key("token_env"),
                            format!("the environment variable `{var}` is empty"),
                        ));
                    }
                    Err(_) => {
                        return Err(self.invalid(
                            key("token_env"),
                            format!("the environment variable `{var}` is not set"),
                        ));
                    }
                },
            };
            let secret_key = if entry.token.is_some() {
                key("token")
            } else {
                key("token_env")
            };
            if host_token == Some(secret.as_str()) {
                return Err(self.invalid(
                    secret_key,
                    "the same secret as [host] token: every token needs its own",
                ));
            }
            if let Some(first) = secrets.iter().position(|s| *s == secret) {
                return Err(self.invalid(
                    secret_key,
                    format!("the same secret as api.tokens[{first}]: every token needs its own"),
                ));
            }
            secrets.push(secret.clone());
            tokens.push(crate::api::ApiToken::new(name, role, secret));
        }
        Ok(tokens)
    }

    fn api(&self, raw: RawApi, host_token: Option<&str>) -> Result<ApiSection, ConfigError> {
        fn entries<T: std::str::FromStr<Err = crate::api::AccessError>>(
            v: &Validator<'_>,
            key: &str,
            raw: &[String],
        ) -> Result<Vec<T>, ConfigError> {
            raw.iter()
                .enumerate()
                .map(|(i, entry)| {
                    entry.parse().map_err(|e: crate::api::AccessError| {
                        v.invalid(format!("api.{key}[{i}]"), e.to_string())
                    })
                })
                .collect()
        }
        Ok(ApiSection {
            limits: self.api_limits(&raw)?,
            allowed_hosts: entries(self, "allowed_hosts", &raw.allowed_hosts)?,
            allowed_origins: entries(self, "allowed_origins", &raw.allowed_origins)?,
            max_component_bytes: match raw.max_component_bytes {
                None => crate::store::DEFAULT_MAX_BYTES,
                Some(0) => {
                    return Err(self.invalid(
                        "api.max_component_bytes",
                        "expected a size in bytes above 0",
                    ));
                }
                Some(bytes) => bytes,
            },
            tokens: self.api_tokens(&raw.tokens, host_token)?,
            audit_keep: match raw.audit_keep {
                None => DEFAULT_AUDIT_KEEP,
                Some(n) if (1..=100_000_000).contains(&n) => n as u32,
                Some(_) => {
                    return Err(self.invalid(
                        "api.audit_keep",
                        "expected 1 to 100000000 rows (the newest are kept)",
                    ));
                }
            },
            sandboxes: None,
            grants: self.grants(&raw.grants)?,
            path_roots: self.path_roots(&raw.path_roots)?,
        })
    }

    /// `[api.grants.NAME]`: each a directory that exists, canonical.
    fn grants(
        &self,
        raw: &IndexMap<String, RawGrant>,
    ) -> Result<BTreeMap<String, Grant>, ConfigError> {
        let mut grants = BTreeMap::new();
        for (name, grant) in raw {
            let key = format!("api.grants.{name}");
            if !is_grant_name(name) {
                return Err(self.invalid(
                    &key,
                    "a grant's name is 1 to 64 of a-z, A-Z, 0-9, `_` and `-`",
                ));
            }
            let given = self.resolve(&grant.host);
            let host = std::fs::canonicalize(&given).map_err(|e| {
                self.invalid(format!("{key}.host"), format!("{}: {e}", given.display()))
            })?;
            if !host.is_dir() {
                return Err(self.invalid(
                    format!("{key}.host"),
                    format!("{} is not a directory", host.display()),
                ));
            }
            grants.insert(
                name.clone(),
                Grant {
                    host,
                    writable: grant.writable,
                },
            );
        }
        Ok(grants)
    }

    /// `[api.sandboxes]`: the configured supervisor found in `trees`, or
    /// a `sandboxes` supervisor added as the root's last child.
    fn sandboxes(
        &self,
        raw: RawSandboxes,
        trees: &mut Vec<SupervisorConfig>,
    ) -> Result<SandboxesConfig, ConfigError> {
        const KEY: &str = "api.sandboxes";
        let max = match raw.max {
            None => SandboxesConfig::DEFAULT_MAX,
            Some(0) => return Err(self.invalid(format!("{KEY}.max"), "expected at least 1")),
            Some(max) => max,
        };
        if let Some(name) = raw.supervisor {
            let own_flag = [
                raw.intensity.map(|_| "intensity"),
                raw.period_ms.map(|_| "period_ms"),
            ]
            .into_iter()
            .flatten()
            .next();
            if let Some(flag) = own_flag {
                return Err(self.invalid(
                    format!("{KEY}.{flag}"),
                    format!(
                        "only for the supervisor the host adds; `{name}` has its own flags in [supervisor.{name}]"
                    ),
                ));
            }
            let several = trees.len() > 1;
            let found = trees.iter().find_map(|tree| {
                let path = if several {
                    format!("host/{}", tree.name)
                } else {
                    tree.name.clone()
                };
                find_supervisor(tree, &path, &name)
            });
            let Some((path, strategy)) = found else {
                return Err(self.invalid(
                    format!("{KEY}.supervisor"),
                    format!("no [supervisor.{name}] table"),
                ));
            };
            return Ok(SandboxesConfig {
                supervisor: name,
                path,
                strategy,
                added: false,
                max,
            });
        }
        let period_ms = raw.period_ms.unwrap_or(SandboxesConfig::DEFAULT_PERIOD_MS);
        if period_ms == 0 {
            return Err(self.invalid(
                format!("{KEY}.period_ms"),
                "expected a period of at least 1 ms",
            ));
        }
        let added = SupervisorConfig {
            name: SandboxesConfig::ADDED.to_string(),
            strategy: Strategy::OneForOne,
            intensity: raw.intensity.unwrap_or(SandboxesConfig::DEFAULT_INTENSITY),
            period: Duration::from_millis(period_ms),
            children: Vec::new(),
        };
        let path = if let [root] = trees.as_mut_slice() {
            if root.strategy == Strategy::SimpleOneForOne {
                return Err(self.invalid(
                    KEY,
                    format!(
                        "the root supervisor `{}` is simple_one_for_one, so the host cannot add a \
                         `sandboxes` supervisor to it: name a supervisor with `supervisor = \"NAME\"`",
                        root.name
                    ),
                ));
            }
            if root.children.iter().any(|c| c.id == SandboxesConfig::ADDED) {
                return Err(self.invalid(
                    KEY,
                    format!(
                        "the root supervisor `{}` already has a child `sandboxes`: name the \
                         supervisor that takes sandboxes with `supervisor = \"NAME\"`",
                        root.name
                    ),
                ));
            }
            root.children.push(ChildConfig {
                id: SandboxesConfig::ADDED.to_string(),
                restart: Restart::Permanent,
                shutdown: None,
                backoff: None,
                storm: None,
                groups: Vec::new(),
                kind: ChildKindConfig::Supervisor(added),
            });
            format!("{}/{}", root.name, SandboxesConfig::ADDED)
        } else {
            // Several trees hang from the implicit `host` root: the added
            // supervisor is one more of them, the last.
            if trees.iter().any(|t| t.name == SandboxesConfig::ADDED) {
                return Err(self.invalid(
                    KEY,
                    "a top-level [supervisor.sandboxes] tree exists already: name the supervisor \
                     that takes sandboxes with `supervisor = \"NAME\"`",
                ));
            }
            trees.push(added);
            format!("host/{}", SandboxesConfig::ADDED)
        };
        Ok(SandboxesConfig {
            supervisor: SandboxesConfig::ADDED.to_string(),
            path,
            strategy: Strategy::OneForOne,
            added: true,
            max,
        })
    }

    /// `api.path_roots`: each an existing folder, relative to the config
    /// file's folder; checked here so a typo is not a silent "every path
    /// is forbidden".
    fn path_roots(&self, raw: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
        raw.iter()
            .enumerate()
            .map(|(i, entry)| {
                let key = format!("api.path_roots[{i}]");
                if entry.as_os_str().is_empty() {
                    return Err(self.invalid(key, "expected a folder, not an empty path"));
                }
                let root = self.resolve(entry);
                if root.is_dir() {
                    Ok(root)
                } else {
                    Err(self.invalid(key, format!("{} is not an existing folder", root.display())))
                }
            })
            .collect()
    }

    fn health(&self, raw: RawHealth) -> Result<HealthConfig, ConfigError> {
        let defaults = HealthConfig::default();
        let interval = match raw.interval_ms {
            None => defaults.interval,
            Some(ms) if (10..=3_600_000).contains(&ms) => Duration::from_millis(ms),
            Some(_) => {
                return Err(
                    self.invalid("health.interval_ms", "expected 10 to 3600000 milliseconds")
                );
            }
        };
        let d = defaults.thresholds;
        let thresholds = crate::health::Thresholds {
            warning: raw.warning.unwrap_or(d.warning),
            critical: raw.critical.unwrap_or(d.critical),
            emergency: raw.emergency.unwrap_or(d.emergency),
        };
        if let Err((key, reason)) = thresholds.validate() {
            return Err(self.invalid(format!("health.{key}"), reason));
        }
        let restart_window = match raw.restart_window_ms {
            None => defaults.restart_window,
            Some(ms) if (1_000..=86_400_000).contains(&ms) => Duration::from_millis(ms),
            Some(_) => {
                return Err(self.invalid(
                    "health.restart_window_ms",
                    "expected 1000 to 86400000 milliseconds",
                ));
            }
        };
        Ok(HealthConfig {
            interval,
            thresholds,
            restart_window,
        })
    }

    fn history(&self, raw: RawHistory) -> Result<HistoryConfig, ConfigError> {
        let defaults = HistoryConfig::default();
        let keep = |value: Option<u64>, default: u32, key: &'static str, max: u32| match value {
            None => Ok(default),
            Some(n) if n >= 1 && n <= u64::from(max) => Ok(n as u32),
            Some(_) => Err(self.invalid(key, format!("expected 1 to {max}"))),
        };
        Ok(HistoryConfig {
            keep_events: keep(
                raw.keep_events,
                defaults.keep_events,
                "history.keep_events",
                10_000_000,
            )?,
            keep_versions: keep(
                raw.keep_versions,
                defaults.keep_versions,
                "history.keep_versions",
                10_000,
            )?,
        })
    }

    fn snapshots(&self, raw: RawSnapshots) -> Result<SnapshotsConfig, ConfigError> {
        let defaults = SnapshotsConfig::default();
        let keep_per_child = match raw.keep_per_child {
            None => defaults.keep_per_child,
            Some(keep) if (1..=10_000).contains(&keep) => keep as usize,
            Some(_) => {
                return Err(self.invalid(
                    "snapshots.keep_per_child",
                    "expected 1 to 10000 snapshots per child",
                ));
            }
        };
        let max_upload_bytes = match raw.max_upload_bytes {
            None => defaults.max_upload_bytes,
            Some(bytes) if (1..=4 << 30).contains(&bytes) => bytes,
            Some(_) => {
                return Err(self.invalid(
                    "snapshots.max_upload_bytes",
                    "expected a size in bytes from 1 to 4294967296 (4 GiB)",
                ));
            }
        };
        Ok(SnapshotsConfig {
            keep_per_child,
            max_upload_bytes,
        })
    }

    fn reload(&self, raw: RawReload) -> Result<ReloadConfig, ConfigError> {
        let defaults = ReloadConfig::default();
        let debounce = match raw.debounce_ms {
            None => defaults.debounce,
            Some(ms) if (1..=60_000).contains(&ms) => Duration::from_millis(ms),
            Some(_) => {
                return Err(self.invalid("reload.debounce_ms", "expected 1 to 60000 milliseconds"));
            }
        };
        let probation = match raw.probation_ms {
            None => defaults.probation,
            Some(ms) if ms <= 3_600_000 => Duration::from_millis(ms),
            Some(_) => {
                return Err(self.invalid(
                    "reload.probation_ms",
                    "expected 0 (off) to 3600000 milliseconds",
                ));
            }
        };
        Ok(ReloadConfig {
            debounce,
            probation,
        })
    }

    fn operation_plugin(
        &self,
        id: &str,
        raw: &RawOperationPlugin,
    ) -> Result<OperationPluginConfig, ConfigError> {
        let key = format!("operations.{id}");
        let valid_id = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_id {
            return Err(self.invalid(
                &key,
                format!(
                    "`{id}` cannot prefix operation names: use lowercase letters, digits, `_` and `-`"
                ),
            ));
        }
        if crate::ops::RESERVED_PREFIXES.contains(&id) {
            return Err(self.invalid(
                &key,
                format!("`{id}` is taken: built-in operations are named `{id}.…`"),
            ));
        }
        let path = self.wasm_file(raw.path.as_deref(), &key, "an operation plugin")?;
        let raw_limits = raw.limits.as_ref();
        let limits = self.wasm_limits(
            &key,
            raw_limits.and_then(|l| l.memory_mb),
            raw_limits.and_then(|l| l.fuel),
            raw_limits.and_then(|l| l.timeout_ms),
        )?;
        let dirs = self.dirs(&raw.dirs, &key)?;
        Ok(OperationPluginConfig {
            id: id.to_string(),
            path,
            limits,
            caps: Capabilities {
                dirs,
                ..Capabilities::default()
            },
            watch: raw.watch,
        })
    }

    fn dirs(&self, raw: &[RawDir], key: &str) -> Result<Vec<DirGrant>, ConfigError> {
        let guests: Vec<&str> = raw.iter().map(|d| d.guest.as_str()).collect();
        self.guest_paths(key, &guests)?;
        let mut dirs = Vec::new();
        for (i, d) in raw.iter().enumerate() {
            let host = self.resolve(&d.host);
            if !host.is_dir() {
                return Err(self.invalid(
                    format!("{key}.dirs[{i}].host"),
                    format!("{} is not a directory", host.display()),
                ));
            }
            dirs.push(DirGrant {
                host,
                guest: d.guest.clone(),
                writable: d.writable,
            });
        }
        Ok(dirs)
    }

    fn host(&self, raw: RawHost) -> Result<HostConfig, ConfigError> {
        let api_addr = match raw.api_addr {
            None => SocketAddr::from(([127, 0, 0, 1], 7878)),
            Some(addr) => addr.parse().map_err(|_| {
                self.invalid(
                    "host.api_addr",
                    format!(
                        "`{}` is not an address like 127.0.0.1:7878 or [::1]:7878",
                        addr.escape_debug()
                    ),
                )
            })?,
        };
        let tick = raw.epoch_tick_ms.unwrap_or(5);
        if !(1..=1000).contains(&tick) {
            return Err(self.invalid("host.epoch_tick_ms", "expected 1 to 1000 milliseconds"));
        }
        let shutdown_grace_ms = raw.shutdown_grace_ms.unwrap_or(5_000);
        if shutdown_grace_ms > 3_600_000 {
            return Err(self.invalid(
                "host.shutdown_grace_ms",
                "expected 0 to 3600000 milliseconds",
            ));
        }
        Ok(HostConfig {
            state_dir: self.resolve(&raw.state_dir.unwrap_or_else(|| PathBuf::from(".warden"))),
            api_addr,
            token: raw.token.filter(|t| !t.is_empty()),
            epoch_tick: Duration::from_millis(tick),
            wasm_backtraces: raw.wasm_backtraces.unwrap_or(false),
            pooling_instances: checks::at_most(
                raw.pooling_instances.unwrap_or(0),
                checks::MAX_POOLING_INSTANCES,
                "instance slots (0: no pooling)",
            )
            .map_err(|reason| self.invalid("host.pooling_instances", reason))?,
            shutdown_grace: Duration::from_millis(shutdown_grace_ms),
            policy: self.policy(raw.policy.unwrap_or_default())?,
            monitor_interval: {
                let ms = raw.monitor.and_then(|m| m.interval_ms).unwrap_or(250);
                if !(10..=60_000).contains(&ms) {
                    return Err(self.invalid(
                        "host.monitor.interval_ms",
                        "expected 10 to 60000 milliseconds",
                    ));
                }
                Duration::from_millis(ms)
            },
            retention: {
                let raw = raw.registry.unwrap_or_default();
                let defaults = Retention::default();
                if raw.keep_per_child == Some(0) {
                    return Err(self.invalid(
                        "host.registry.keep_per_child",
                        "expected at least 1 incarnation",
                    ));
                }
                Retention {
                    keep_per_child: raw.keep_per_child.or(defaults.keep_per_child),
                    max_age: raw
                        .max_age_days
                        .map(|d| Duration::from_secs(d.saturating_mul(24 * 3600)))
                        .or(defaults.max_age),
                }
            },
            cgroup: {
                use crate::process::CgroupMode;
                match raw.cgroup.and_then(|c| c.mode).as_deref() {
                    None | Some("auto") => CgroupMode::Auto,
                    Some("off") => CgroupMode::Off,
                    Some("required") => CgroupMode::Required,
                    Some(other) => {
                        return Err(self.invalid(
                            "host.cgroup.mode",
                            format!("expected \"auto\", \"off\" or \"required\", not `{other}`"),
                        ));
                    }
                }
            },
            compile: self.compile_limits(raw.compile.unwrap_or_default())?,
            cache: self.cache_budget(raw.cache.unwrap_or_default())?,
        })
    }

    fn compile_limits(&self, raw: RawCompile) -> Result<CompileLimits, ConfigError> {
        let defaults = CompileLimits::default();
        let within = |key: &str,
                      value: Option<u64>,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>,
                      unit: &str| {
            let value = value.unwrap_or(default);
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(self.invalid(
                    format!("host.compile.{key}"),
                    format!(
                        "expected {} to {} {unit}, found {value}",
                        range.start(),
                        range.end()
                    ),
                ))
            }
        };
        Ok(CompileLimits {
            cpu_secs: within(
                "cpu_secs",
                raw.cpu_secs,
                defaults.cpu_secs,
                1..=86_400,
                "seconds",
            )?,
            memory_mb: within(
                "memory_mb",
                raw.memory_mb,
                defaults.memory_mb,
                16..=1 << 20,
                "MiB",
            )?,
            timeout: Duration::from_millis(within(
                "timeout_ms",
                raw.timeout_ms,
                millis(defaults.timeout),
                10..=86_400_000,
                "milliseconds",
            )?),
            max_bytes: within(
                "max_bytes",
                raw.max_bytes,
                defaults.max_bytes,
                8..=1 << 32,
                "bytes",
            )?,
        })
    }

    fn cache_budget(&self, raw: RawCache) -> Result<CacheBudget, ConfigError> {
        let defaults = CacheBudget::default();
        let mib = |key: &str, value: Option<u64>, default: u64| match value {
            None => Ok(default),
            Some(mb) if mb <= 1 << 30 => Ok(mb << 20),
            Some(mb) => Err(self.invalid(
                format!("host.cache.{key}"),
                format!("expected at most {} MiB, found {mb}", 1u64 << 30),
            )),
        };
        Ok(CacheBudget {
            memory_bytes: mib("memory_mb", raw.memory_mb, defaults.memory_bytes)?,
            disk_bytes: mib("disk_mb", raw.disk_mb, defaults.disk_bytes)?,
        })
    }

    fn policy(&self, raw: RawPolicy) -> Result<ProcessPolicy, ConfigError> {
        let mut builder = ProcessPolicy::builder();
        for (i, command) in raw.allow_commands.iter().enumerate() {
            // A relative path with a slash is relative to the config file;
            // a bare name is looked up on PATH by the policy.
            let command = if command.contains('/') {
                self.resolve(Path::new(command)).into_os_string()
            } else {
                command.into()
            };
            let one = ProcessPolicy::builder().allow_command(&command).build();
            if let Err(e) = one {
                return Err(self.invalid(format!("host.policy.allow_commands[{i}]"), e.to_string()));
            }
            builder.allow_command(command);
        }
        for (i, dir) in raw.allow_cwds.iter().enumerate() {
            let dir = self.resolve(dir);
            if let Err(e) = ProcessPolicy::builder().allow_cwd(&dir).build() {
                return Err(self.invalid(format!("host.policy.allow_cwds[{i}]"), e.to_string()));
            }
            builder.allow_cwd(dir);
        }
        builder
            .build()
            .map_err(|e| self.invalid("host.policy", e.to_string()))
    }

    fn supervisor(
        &self,
        all: &IndexMap<String, RawSupervisor>,
        name: &str,
        path: &mut Vec<String>,
    ) -> Result<SupervisorConfig, ConfigError> {
        let key = format!("supervisor.{name}");
        if path.iter().any(|p| p == name) {
            return Err(self.invalid(
                &key,
                format!("nesting cycle: {} → {name}", path.join(" → ")),
            ));
        }
        let raw = &all[name];
        self.send_to(name, raw)?;
        if raw.strategy == Strategy::SimpleOneForOne && raw.children.len() != 1 {
            return Err(self.invalid(
                format!("{key}.children"),
                format!(
                    "simple_one_for_one takes exactly one child spec, found {}",
                    raw.children.len()
                ),
            ));
        }
        let period_ms = raw.period_ms.unwrap_or(5000);
        if period_ms == 0 {
            return Err(self.invalid(
                format!("{key}.period_ms"),
                "expected a period of at least 1 ms",
            ));
        }
        let sup_storm = self.storm(
            raw.storm.as_ref(),
            Some(StormConfig::default()),
            &format!("{key}.storm"),
        )?;
        path.push(name.to_string());
        let mut seen = HashSet::new();
        let mut children = Vec::new();
        for (i, child) in raw.children.iter().enumerate() {
            let ckey = format!("{key}.children[{i}]");
            let id = child.id();
            if id.trim().is_empty() {
                return Err(self.invalid(format!("{ckey}.id"), "a child needs a non-empty id"));
            }
            if id.contains('/') {
                return Err(self.invalid(
                    format!("{ckey}.id"),
                    "ids may not contain `/` (it separates tree paths)",
                ));
            }
            if !seen.insert(id) {
                return Err(self.invalid(
                    format!("{ckey}.id"),
                    format!("duplicate child id `{id}` in supervisor `{name}`"),
                ));
            }
            children.push(self.child(all, child, &ckey, path, sup_storm)?);
        }
        path.pop();
        Ok(SupervisorConfig {
            name: name.to_string(),
            strategy: raw.strategy,
            intensity: raw.intensity.unwrap_or(1),
            period: Duration::from_millis(period_ms),
            children,
        })
    }

    /// `KEY.storm`: a child's (or a supervisor's, for its children) storm
    /// detector. Left out: `inherited` (the supervisor's, by default the
    /// specification's [`StormConfig::default`]); `enabled = false`: off.
    /// Thresholds left out are the defaults (10 a minute, 100 an hour), the
    /// action `tiered` (log → pause `cooldown_ms`, 30 s → escalate at the
    /// `escalate_after`-th storm within an hour, 5).
    fn storm(
        &self,
        raw: Option<&RawStorm>,
        inherited: Option<StormConfig>,
        key: &str,
    ) -> Result<Option<StormConfig>, ConfigError> {
        let Some(s) = raw else {
            return Ok(inherited);
        };
        if s.enabled == Some(false) {
            return Ok(None);
        }
        let defaults = StormConfig::default();
        let action = match (s.action.as_deref().unwrap_or("tiered"), s.cooldown_ms) {
            ("log", _) => StormAction::Log,
            ("escalate", _) => StormAction::Escalate,
            ("pause", Some(ms)) => StormAction::Pause {
                cooldown: Duration::from_millis(ms),
            },
            ("pause", None) => {
                return Err(self.invalid(
                    format!("{key}.cooldown_ms"),
                    "action \"pause\" needs cooldown_ms",
                ));
            }
            ("tiered", ms) => StormAction::Tiered {
                cooldown: ms.map_or(Duration::from_secs(30), Duration::from_millis),
                escalate_after: s.escalate_after.unwrap_or(5),
            },
            (other, _) => {
                return Err(self.invalid(
                    format!("{key}.action"),
                    format!("`{other}`: expected \"tiered\", \"log\", \"pause\" or \"escalate\""),
                ));
            }
        };
        if s.escalate_after.is_some() && !matches!(action, StormAction::Tiered { .. }) {
            return Err(self.invalid(
                format!("{key}.escalate_after"),
                "only the \"tiered\" action escalates after a number of storms",
            ));
        }
        let (per_minute, per_hour) = if s.per_minute.is_none() && s.per_hour.is_none() {
            (defaults.per_minute, defaults.per_hour)
        } else {
            (s.per_minute, s.per_hour)
        };
        let storm = StormConfig {
            per_minute,
            per_hour,
            action,
        };
        storm
            .validate()
            .map(|()| Some(storm))
            .map_err(|reason| self.invalid(key.to_owned(), reason))
    }

    fn child(
        &self,
        all: &IndexMap<String, RawSupervisor>,
        raw: &RawChild,
        key: &str,
        path: &mut Vec<String>,
        inherited_storm: Option<StormConfig>,
    ) -> Result<ChildConfig, ConfigError> {
        let kind = match raw {
            RawChild::Supervisor(sup) => {
                // `config` checked that it names a table.
                let target = sup.supervisor.as_deref().unwrap_or_default();
                ChildKindConfig::Supervisor(self.supervisor(all, target, path)?)
            }
            RawChild::Component(component) => {
                ChildKindConfig::Component(self.component(component, key)?)
            }
            RawChild::Process(process) => ChildKindConfig::Process(self.process(process, key)?),
        };
        let common = raw.common();
        let backoff = common
            .backoff
            .map(|b| {
                let backoff = Backoff {
                    initial: Duration::from_millis(b.initial_ms),
                    max: Duration::from_millis(b.max_ms),
                    multiplier: b.multiplier,
                    jitter: b.jitter,
                    reset_after: Duration::from_millis(b.reset_after_ms),
                };
                backoff
                    .validate()
                    .map(|()| backoff)
                    .map_err(|reason| self.invalid(format!("{key}.backoff"), reason))
            })
            .transpose()?;
        let storm = self.storm(common.storm, inherited_storm, &format!("{key}.storm"))?;
        let mut groups = Vec::with_capacity(common.groups.len());
        for (i, name) in common.groups.iter().enumerate() {
            group_name(name)
                .map_err(|reason| self.invalid(format!("{key}.groups[{i}]"), reason))?;
            if groups.contains(name) {
                return Err(self.invalid(
                    format!("{key}.groups[{i}]"),
                    format!("group `{name}` is listed twice"),
                ));
            }
            groups.push(name.clone());
        }
        groups.sort();
        Ok(ChildConfig {
            id: common.id.to_string(),
            restart: common.restart.unwrap_or(Restart::Permanent),
            shutdown: common.shutdown,
            backoff,
            storm,
            groups,
            kind,
        })
    }

    fn process(&self, raw: &RawProcessChild, key: &str) -> Result<ProcessChildConfig, ConfigError> {
        let command = raw.command.as_deref().ok_or_else(|| {
            self.invalid(
                format!("{key}.command"),
                "a process child needs the command it runs",
            )
        })?;
        // Same reading as `allow_commands`: a path with a slash is relative
        // to this file, a bare name is looked up on PATH.
        let command = if command.contains('/') {
            self.resolve(Path::new(command)).into_os_string()
        } else {
            command.into()
        };
        let command = self
            .policy
            .resolve_command(&command)
            .map_err(|e| self.invalid(format!("{key}.command"), e.to_string()))?;
        let cwd = raw
            .cwd
            .as_deref()
            .map(|dir| {
                self.policy
                    .check_cwd(self.resolve(dir))
                    .map_err(|e| self.invalid(format!("{key}.cwd"), e.to_string()))
            })
            .transpose()?;
        for (i, name) in raw.inherit.iter().enumerate() {
            checks::env_name(name)
                .map_err(|reason| self.invalid(format!("{key}.inherit[{i}]"), reason))?;
        }
        self.env(key, &raw.env)?;
        self.args(key, &raw.args)?;
        let limits = match raw.limits.as_ref() {
            None => ProcessLimits::default(),
            Some(l) => {
                let limits = ProcessLimits {
                    memory_mb: l
                        .memory_mb
                        .map(|mb| checks::at_most(mb, checks::MAX_PROCESS_MEMORY_MB, "MiB"))
                        .transpose()
                        .map_err(|reason| {
                            self.invalid(format!("{key}.limits.memory_mb"), reason)
                        })?,
                    cpu_secs: l.cpu_secs,
                    wall_secs: l.wall_secs,
                    open_files: l.open_files,
                    max_processes: l.max_processes,
                };
                for (field, value) in [
                    ("memory_mb", limits.memory_mb),
                    ("cpu_secs", limits.cpu_secs),
                    ("wall_secs", limits.wall_secs),
                    ("open_files", limits.open_files),
                    ("max_processes", limits.max_processes),
                ] {
                    if value == Some(0) {
                        return Err(self.invalid(
                            format!("{key}.limits.{field}"),
                            "expected at least 1 (leave it out for no limit)",
                        ));
                    }
                }
                limits
            }
        };
        let readiness = raw
            .readiness
            .as_ref()
            .map(|r| {
                let check = match (&r.line, &r.file) {
                    (Some(line), None) if !line.is_empty() => Readiness::LineMatches(line.clone()),
                    (None, Some(file)) => {
                        // A relative file is relative to the worker's cwd.
                        let base = cwd.as_ref().map_or(Path::new("/"), |c| c.path());
                        Readiness::FileExists(if file.is_absolute() {
                            file.clone()
                        } else {
                            base.join(file)
                        })
                    }
                    _ => {
                        return Err(self.invalid(
                            format!("{key}.readiness"),
                            "expected exactly one of a non-empty `line` or `file`",
                        ));
                    }
                };
                let timeout_ms = checks::at_most(
                    r.timeout_ms.unwrap_or(10_000),
                    checks::MAX_TIMEOUT_MS,
                    "milliseconds",
                )
                .map_err(|reason| self.invalid(format!("{key}.readiness.timeout_ms"), reason))?;
                if timeout_ms == 0 {
                    return Err(self.invalid(
                        format!("{key}.readiness.timeout_ms"),
                        "expected at least 1 ms",
                    ));
                }
                Ok(ReadinessSpec {
                    check,
                    timeout: Duration::from_millis(timeout_ms),
                })
            })
            .transpose()?;
        let liveness = raw
            .liveness
            .as_ref()
            .map(|l| self.liveness(l, &format!("{key}.liveness"), cwd.as_ref()))
            .transpose()?;
        Ok(ProcessChildConfig {
            command,
            args: raw.args.clone(),
            cwd,
            env: raw.env.clone().into_iter().collect(),
            inherit: raw.inherit.clone(),
            limits,
            readiness,
            liveness,
            restart_unresponsive: raw.restart_unresponsive,
        })
    }

    /// `KEY.liveness`: one check (a command, an HTTP GET, or a file touched
    /// recently), how often, how long each may take, and how many failures
    /// in a row make the worker unresponsive.
    fn liveness(
        &self,
        raw: &RawLiveness,
        key: &str,
        cwd: Option<&AllowedCwd>,
    ) -> Result<crate::host::liveness::LivenessSpec, ConfigError> {
        use crate::host::liveness::{LivenessCheck, LivenessSpec};
        let one_of =
            "expected exactly one of `command`, `http` or `file_touched_within_ms` (with `file`)";
        let check = match (&raw.command, &raw.http, raw.file_touched_within_ms) {
            (Some(command), None, None) => {
                let mut words = command.split_whitespace();
                let program = words
                    .next()
                    .ok_or_else(|| self.invalid(format!("{key}.command"), "empty command"))?;
                let program = if program.contains('/') {
                    self.resolve(Path::new(program)).into_os_string()
                } else {
                    program.into()
                };
                let program = self
                    .policy
                    .resolve_command(&program)
                    .map_err(|e| self.invalid(format!("{key}.command"), e.to_string()))?;
                LivenessCheck::Command {
                    program: program.path().to_path_buf(),
                    args: words.map(str::to_owned).collect(),
                }
            }
            (None, Some(url), None) => LivenessCheck::http(url)
                .map_err(|reason| self.invalid(format!("{key}.http"), reason))?,
            (None, None, Some(ms)) => {
                let file = raw.file.as_ref().ok_or_else(|| {
                    self.invalid(
                        format!("{key}.file"),
                        "file_touched_within_ms needs the `file` to watch",
                    )
                })?;
                if ms == 0 {
                    return Err(self.invalid(
                        format!("{key}.file_touched_within_ms"),
                        "expected at least 1 ms",
                    ));
                }
                let base = cwd.map_or(Path::new("/"), |c| c.path());
                LivenessCheck::FileTouched {
                    file: if file.is_absolute() {
                        file.clone()
                    } else {
                        base.join(file)
                    },
                    within: Duration::from_millis(ms),
                }
            }
            _ => return Err(self.invalid(key.to_owned(), one_of)),
        };
        if raw.file.is_some() && !matches!(check, LivenessCheck::FileTouched { .. }) {
            return Err(self.invalid(format!("{key}.file"), one_of));
        }
        let ms = |value: Option<u64>, default: u64, field: &str| match value.unwrap_or(default) {
            ms @ 10..=3_600_000 => Ok(Duration::from_millis(ms)),
            _ => Err(self.invalid(
                format!("{key}.{field}"),
                "expected 10 to 3600000 milliseconds",
            )),
        };
        let failures = raw.failures.unwrap_or(3);
        if !(1..=100).contains(&failures) {
            return Err(self.invalid(format!("{key}.failures"), "expected 1 to 100"));
        }
        Ok(LivenessSpec {
            check,
            interval: ms(raw.interval_ms, 1_000, "interval_ms")?,
            timeout: ms(raw.timeout_ms, 1_000, "timeout_ms")?,
            failures,
        })
    }

    /// `KEY.path`: the `.wasm` file of `what` (a component child, an
    /// operation plugin), resolved against the config's folder.
    fn wasm_file(
        &self,
        raw: Option<&std::path::Path>,
        key: &str,
        what: &str,
    ) -> Result<PathBuf, ConfigError> {
        let path = raw.ok_or_else(|| {
            self.invalid(
                format!("{key}.path"),
                format!("{what} needs the path of its .wasm file"),
            )
        })?;
        let path = self.resolve(path);
        if !path.is_file() {
            return Err(self.invalid(
                format!("{key}.path"),
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
        Ok(path)
    }

    /// `KEY.limits` of a component: memory (at least 1 MiB), fuel (at
    /// least 1; left out, unmetered) and wall clock (0: none; left out,
    /// the default).
    fn wasm_limits(
        &self,
        key: &str,
        memory_mb: Option<usize>,
        fuel: Option<u64>,
        timeout_ms: Option<u64>,
    ) -> Result<Limits, ConfigError> {
        let defaults = Limits::default();
        let memory_mb = memory_mb.unwrap_or(defaults.memory_bytes >> 20);
        if memory_mb == 0 {
            return Err(self.invalid(format!("{key}.limits.memory_mb"), "expected at least 1 MiB"));
        }
        checks::at_most(memory_mb, checks::MAX_WASM_MEMORY_MB, "MiB")
            .map_err(|reason| self.invalid(format!("{key}.limits.memory_mb"), reason))?;
        timeout_ms
            .map(|ms| checks::at_most(ms, checks::MAX_TIMEOUT_MS, "milliseconds (0: none)"))
            .transpose()
            .map_err(|reason| self.invalid(format!("{key}.limits.timeout_ms"), reason))?;
        if fuel == Some(0) {
            return Err(self.invalid(
                format!("{key}.limits.fuel"),
                "expected at least 1 (leave it out to run unmetered)",
            ));
        }
        Ok(Limits {
            memory_bytes: memory_mb << 20,
            fuel,
            timeout: match timeout_ms {
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
                None => defaults.timeout,
            },
            ..defaults
        })
    }

    fn component(
        &self,
        raw: &RawComponentChild,
        key: &str,
    ) -> Result<ComponentChildConfig, ConfigError> {
        let path = self.wasm_file(raw.path.as_deref(), key, "a component child")?;
        let raw_limits = raw.limits.as_ref();
        let output_kb = raw_limits
            .and_then(|l| l.output_kb)
            .map(|kb| checks::at_most(kb, checks::MAX_OUTPUT_KB, "KiB"))
            .transpose()
            .map_err(|reason| self.invalid(format!("{key}.limits.output_kb"), reason))?;
        let limits = Limits {
            output_bytes: output_kb.map_or(Limits::default().output_bytes, |kb| kb << 10),
            output_overflow: Overflow::Truncate,
            ..self.wasm_limits(
                key,
                raw_limits.and_then(|l| l.memory_mb),
                raw_limits.and_then(|l| l.fuel),
                raw_limits.and_then(|l| l.timeout_ms),
            )?
        };
        let dirs = self.dirs(&raw.dirs, key)?;
        let mailbox = checks::at_most(raw.mailbox.unwrap_or(1024), checks::MAX_MAILBOX, "messages")
            .map_err(|reason| self.invalid(format!("{key}.mailbox"), reason))?;
        if mailbox == 0 {
            return Err(self.invalid(
                format!("{key}.mailbox"),
                "expected a capacity of at least 1",
            ));
        }
        self.env(key, &raw.env)?;
        self.args(key, &raw.args)?;
        let persist = self.persist(raw, key)?;
        let hibernate_after = raw
            .hibernate_after_ms
            .map(|ms| match ms {
                0 => Err(self.invalid(
                    format!("{key}.hibernate_after_ms"),
                    "expected at least 1 millisecond (leave it out to never hibernate)",
                )),
                ms => checks::at_most(ms, checks::MAX_TIMEOUT_MS, "milliseconds")
                    .map(Duration::from_millis)
                    .map_err(|reason| self.invalid(format!("{key}.hibernate_after_ms"), reason)),
            })
            .transpose()?;
        Ok(ComponentChildConfig {
            path,
            init_config: raw.config.clone().unwrap_or_default(),
            limits,
            caps: Capabilities {
                dirs,
                env: raw.env.clone().into_iter().collect(),
                args: raw.args.clone(),
                ..Capabilities::default()
            },
            send_to: raw.send_to.clone(),
            mailbox,
            watch: raw.watch,
            persist,
            hibernate_after,
        })
    }

    /// `KEY.persist` and `KEY.restore_after_crash` of a component child.
    fn persist(
        &self,
        raw: &RawComponentChild,
        key: &str,
    ) -> Result<Option<PersistConfig>, ConfigError> {
        const SHAPE: &str = "expected \"shutdown\" or { interval_ms = N }";
        let Some(value) = &raw.persist else {
            if raw.restore_after_crash.is_some() {
                return Err(self.invalid(
                    format!("{key}.restore_after_crash"),
                    "only applies with `persist` (without it nothing is saved to restore)",
                ));
            }
            return Ok(None);
        };
        let mode = match value {
            toml::Value::String(s) if s == "shutdown" => PersistMode::Shutdown,
            toml::Value::String(s) => {
                return Err(self.invalid(
                    format!("{key}.persist"),
                    format!("{SHAPE}, found \"{}\"", s.escape_debug()),
                ));
            }
            toml::Value::Table(table) => {
                if let Some(unknown) = table.keys().find(|k| *k != "interval_ms") {
                    return Err(self.invalid(
                        format!("{key}.persist.{}", checks::toml_key(unknown)),
                        format!("unknown key: {SHAPE}"),
                    ));
                }
                let ikey = format!("{key}.persist.interval_ms");
                let ms = match table.get("interval_ms") {
                    None => return Err(self.invalid(ikey, format!("missing: {SHAPE}"))),
                    Some(toml::Value::Integer(ms)) => *ms,
                    Some(other) => {
                        return Err(self.invalid(
                            ikey,
                            format!("expected milliseconds, found a {}", other.type_str()),
                        ));
                    }
                };
                let max = checks::MAX_TIMEOUT_MS;
                match u64::try_from(ms) {
                    Ok(ms) if (MIN_PERSIST_INTERVAL_MS..=max).contains(&ms) => {
                        PersistMode::Interval(Duration::from_millis(ms))
                    }
                    _ => {
                        return Err(self.invalid(
                            ikey,
                            format!(
                                "expected {MIN_PERSIST_INTERVAL_MS} to {max} milliseconds, found {ms} \
                                 (use persist = \"shutdown\" to save on stops only)"
                            ),
                        ));
                    }
                }
            }
            other => {
                return Err(self.invalid(
                    format!("{key}.persist"),
                    format!("{SHAPE}, found a {}", other.type_str()),
                ));
            }
        };
        Ok(Some(PersistConfig {
            mode,
            restore_after_crash: raw.restore_after_crash.unwrap_or(false),
        }))
    }
}

#[cfg(test)]
mod compile_section_tests {
    use super::*;

    fn host(text: &str) -> Result<HostConfig, ConfigError> {
        let text = format!("{text}\n[supervisor.root]\nstrategy = \"one_for_one\"\n");
        parse(Path::new("/etc/warden/warden.toml"), &text).map(|c| c.host)
    }

    #[test]
    fn compile_and_cache_sections_have_defaults() {
        let h = host("").unwrap();
        assert_eq!(h.compile, CompileLimits::default());
        assert_eq!(h.cache, CacheBudget::default());
    }

    #[test]
    fn compile_and_cache_sections_are_read() {
        let h = host(
            "[host.compile]\ncpu_secs = 5\nmemory_mb = 512\ntimeout_ms = 3000\nmax_bytes = 1000\n\
             [host.cache]\nmemory_mb = 8\ndisk_mb = 0\n",
        )
        .unwrap();
        assert_eq!(
            h.compile,
            CompileLimits {
                cpu_secs: 5,
                memory_mb: 512,
                timeout: Duration::from_secs(3),
                max_bytes: 1000
            }
        );
        assert_eq!(h.cache.memory_bytes, 8 << 20);
        assert_eq!(h.cache.disk_bytes, 0);
    }

    #[test]
    fn out_of_range_compile_limits_name_the_key() {
        for (text, key) in [
            ("[host.compile]\ncpu_secs = 0", "host.compile.cpu_secs"),
            ("[host.compile]\nmemory_mb = 1", "host.compile.memory_mb"),
            ("[host.compile]\ntimeout_ms = 0", "host.compile.timeout_ms"),
            ("[host.compile]\nmax_bytes = 0", "host.compile.max_bytes"),
            ("[host.cache]\ndisk_mb = 99999999999", "host.cache.disk_mb"),
            ("[host.compile]\nnice = 3", "nice"),
        ] {
            let err = host(text).unwrap_err().to_string();
            assert!(
                err.contains("warden.toml") && err.contains(key),
                "{text}: {err}"
            );
        }
    }
}
