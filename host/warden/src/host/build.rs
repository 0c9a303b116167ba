//! Config → supervisor specs, with every component compiled and checked
//! against the `actor-plugin` world before anything starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::component::world::{self, World};
use crate::component::{ActorProgram, Limits, Metering, Prepared, Runtime};
use crate::config::{
    ChildConfig, ChildKindConfig, ComponentChildConfig, Config, ProcessChildConfig,
    SupervisorConfig,
};
use crate::events::EventBus;
use crate::host::HostError;
use crate::host::component_child::{ComponentChildStart, ProgramSlot};
use crate::host::persist::Persistence;
use crate::host::process_child::{ProcessChildStart, ProcessRuntime};
use crate::host::router::Router;
use crate::process::{LogSpec, WorkerSpec};
use crate::supervisor::Shutdown;
use crate::supervisor::{
    BoxFuture, ChildKind, ChildSpec, ChildStart, StartContext, StartError, Started, Strategy,
    SupervisorFlags, SupervisorSpec,
};

/// The program slot of every component child, by path in the tree, so
/// reloads and operations can find and replace a child's code.
#[derive(Clone, Default)]
pub struct ProgramTable {
    inner: Arc<RwLock<HashMap<String, ProgramEntry>>>,
}

/// One component child's code.
#[derive(Clone)]
pub struct ProgramEntry {
    pub source: PathBuf,
    pub slot: ProgramSlot,
    /// Reload when the source file changes (`watch = true`).
    pub watch: bool,
}

impl ProgramTable {
    pub(crate) fn insert(&self, path: String, entry: ProgramEntry) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path, entry);
    }

    pub fn get(&self, path: &str) -> Option<ProgramEntry> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }

    /// The content hash of the code the child at `path` runs now (for a
    /// sandbox, the store id of its component: after a rollback, not the
    /// last one it was reloaded to).
    pub fn running_hash(&self, path: &str) -> Option<String> {
        self.get(path).map(|entry| {
            entry
                .slot
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .hash()
                .to_string()
        })
    }

    /// Forgets the child at `path` and every child below it (a nested
    /// supervisor's); the paths forgotten.
    pub(crate) fn remove_under(&self, path: &str) -> Vec<String> {
        let below = format!("{path}/");
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> = map
            .keys()
            .filter(|p| *p == path || p.starts_with(&below))
            .cloned()
            .collect();
        for p in &gone {
            map.remove(p);
        }
        gone
    }

    /// Every entry, in no particular order.
    pub(crate) fn entries(&self) -> Vec<(String, ProgramEntry)> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }

    /// Forgets the child at `path` (a destroyed sandbox).
    pub(crate) fn remove(&self, path: &str) -> Option<ProgramEntry> {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path)
    }

    /// The child at `path` takes its code from `source` from now on (a
    /// sandbox reloaded to another stored component).
    pub(crate) fn set_source(&self, path: &str, source: PathBuf) {
        if let Some(entry) = self
            .inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(path)
        {
            entry.source = source;
        }
    }

    /// Paths of every component child, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        paths.sort();
        paths
    }
}

/// The start of each sandbox that is a dynamic child of a
/// `simple_one_for_one` supervisor, by path. Such a supervisor has one
/// child spec; its start ([`Dispatch`]) runs the sandbox's own start when
/// the dynamic child was started as a sandbox, the template's otherwise.
#[derive(Clone, Default)]
pub struct DynamicStarts {
    inner: Arc<RwLock<HashMap<String, Arc<dyn ChildStart>>>>,
}

impl DynamicStarts {
    pub(crate) fn insert(&self, path: String, start: Arc<dyn ChildStart>) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path, start);
    }

    pub(crate) fn remove(&self, path: &str) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }

    fn get(&self, path: &str) -> Option<Arc<dyn ChildStart>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }

    /// The start args that make a dynamic child a sandbox.
    pub(crate) fn sandbox_args() -> serde_json::Value {
        serde_json::json!({ SANDBOX_ARG: true })
    }
}

const SANDBOX_ARG: &str = "warden.sandbox";

/// The start of a `simple_one_for_one` supervisor's child spec: see
/// [`DynamicStarts`].
struct Dispatch {
    template: Arc<dyn ChildStart>,
    sandboxes: DynamicStarts,
}

impl ChildStart for Dispatch {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        let is_sandbox = ctx
            .args
            .as_ref()
            .is_some_and(|args| args.get(SANDBOX_ARG).is_some());
        if !is_sandbox {
            return self.template.start(ctx);
        }
        match self.sandboxes.get(&ctx.path.to_string()) {
            Some(start) => start.start(ctx),
            None => {
                let path = ctx.path.to_string();
                Box::pin(async move {
                    Err(StartError::failed(format!(
                        "sandbox `{path}` was destroyed"
                    )))
                })
            }
        }
    }
}

/// The start of a sandbox: a component child whose program was compiled
/// from the store, registered in `programs` under `path` (its source the
/// store's file, never watched).
#[allow(clippy::too_many_arguments, reason = "one sandbox's every setting")]
pub(crate) fn sandbox_start(
    router: &Router,
    programs: &ProgramTable,
    path: &str,
    program: ActorProgram,
    source: PathBuf,
    init_config: String,
    limits: Limits,
    caps: crate::component::Capabilities,
    send_to: Vec<String>,
    hibernate_after: Option<std::time::Duration>,
) -> ComponentChildStart {
    let slot: ProgramSlot = Arc::new(RwLock::new(program));
    programs.insert(
        path.to_string(),
        ProgramEntry {
            source,
            slot: slot.clone(),
            watch: false,
        },
    );
    ComponentChildStart {
        program: slot,
        init_config,
        limits,
        caps,
        send_to,
        mailbox: SANDBOX_MAILBOX,
        hibernate_after,
        router: router.clone(),
        usage: Default::default(),
        persist: None,
        log: Some(router.logs().slot(path)),
    }
}

/// A sandbox's mailbox capacity: the default of a configured child.
const SANDBOX_MAILBOX: usize = 1024;

/// Child specs from config: every component compiled and checked against
/// its world as its spec is built, and entered in `programs`.
pub(crate) struct Builder<'a> {
    config: &'a Config,
    /// Starts of sandboxes under `simple_one_for_one` supervisors.
    dynamic: &'a DynamicStarts,
    runtime: &'a Runtime,
    router: &'a Router,
    programs: &'a ProgramTable,
    processes: &'a ProcessRuntime,
    /// Where persisted children publish their `persisted`/`restored` events.
    events: &'a EventBus,
    /// One program per file and engine, shared by the children that use
    /// both.
    compiled: HashMap<ProgramKey, ActorProgram>,
}

/// Everything that changes a child's compiled code: the file, and the
/// engine it is compiled for (fuel metering is compiled into the code, so
/// a child with a fuel budget must never get the unmetered program of a
/// sibling that shares its file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProgramKey {
    path: PathBuf,
    metering: Metering,
}

impl ProgramKey {
    fn of(c: &ComponentChildConfig) -> Self {
        Self {
            path: c.path.clone(),
            metering: if c.limits.fuel.is_some() {
                Metering::Fuel
            } else {
                Metering::Off
            },
        }
    }
}

/// The largest memory limit any component of `config` runs under: the
/// children's, the operation plugins', and the API's default for one-off
/// calls. The runtime reserves this much address space per linear memory,
/// so no instance's memory ever moves while it grows to its limit.
pub(crate) fn largest_memory_limit(config: &Config) -> usize {
    fn in_tree(sup: &SupervisorConfig) -> usize {
        sup.children
            .iter()
            .map(|child| match &child.kind {
                ChildKindConfig::Component(c) => c.limits.memory_bytes,
                ChildKindConfig::Supervisor(nested) => in_tree(nested),
                ChildKindConfig::Process(_) => 0,
            })
            .max()
            .unwrap_or(0)
    }
    let trees = config.trees.iter().map(in_tree);
    let plugins = config.operations.iter().map(|p| p.limits.memory_bytes);
    trees
        .chain(plugins)
        .fold(Limits::default().memory_bytes, usize::max)
}

/// The root spec and its name.
pub(crate) fn root_spec(
    config: &Config,
    runtime: &Runtime,
    router: &Router,
    programs: &ProgramTable,
    processes: &ProcessRuntime,
    events: &EventBus,
    dynamic: &DynamicStarts,
) -> Result<(String, SupervisorSpec), HostError> {
    let mut b = Builder::new(
        config, dynamic, runtime, router, programs, processes, events,
    );
    if let [tree] = config.trees.as_slice() {
        return Ok((
            tree.name.clone(),
            b.supervisor(tree, &tree.name, &format!("supervisor.{}", tree.name))?,
        ));
    }
    // Several top-level trees: an implicit root that gives up at the first
    // failure of any of them, which stops the host.
    let mut spec = SupervisorSpec::new(
        SupervisorFlags::new(Strategy::OneForOne)
            .with_intensity(0, std::time::Duration::from_secs(1)),
    );
    for tree in &config.trees {
        let path = format!("host/{}", tree.name);
        let child = b.supervisor(tree, &path, &format!("supervisor.{}", tree.name))?;
        spec = spec.child(ChildSpec::supervisor(tree.name.as_str(), child));
    }
    Ok(("host".to_string(), spec))
}

impl<'a> Builder<'a> {
    /// A builder for the children of `config`, entering component children
    /// in `programs`.
    pub(crate) fn new(
        config: &'a Config,
        dynamic: &'a DynamicStarts,
        runtime: &'a Runtime,
        router: &'a Router,
        programs: &'a ProgramTable,
        processes: &'a ProcessRuntime,
        events: &'a EventBus,
    ) -> Self {
        Builder {
            config,
            dynamic,
            runtime,
            router,
            programs,
            processes,
            events,
            compiled: HashMap::new(),
        }
    }

    fn supervisor(
        &mut self,
        sup: &SupervisorConfig,
        path: &str,
        key: &str,
    ) -> Result<SupervisorSpec, HostError> {
        let flags = SupervisorFlags::new(sup.strategy).with_intensity(sup.intensity, sup.period);
        let mut spec = SupervisorSpec::new(flags);
        let dynamic = sup.strategy == Strategy::SimpleOneForOne;
        for (i, child) in sup.children.iter().enumerate() {
            let child_path = format!("{path}/{}", child.id);
            let child_key = format!("{key}.children[{i}]");
            let mut child = self.child(child, &child_path, &child_key)?;
            if dynamic && child.kind() == ChildKind::Worker {
                let dispatch = Dispatch {
                    template: child.starter().clone(),
                    sandboxes: self.dynamic.clone(),
                };
                child = child.with_starter(Arc::new(dispatch));
            }
            spec = spec.child(child);
        }
        Ok(spec)
    }

    /// The spec of `child` at `path` (`key` is its key in the file, for
    /// errors), with a nested supervisor's whole subtree.
    pub(crate) fn child(
        &mut self,
        child: &ChildConfig,
        path: &str,
        key: &str,
    ) -> Result<ChildSpec, HostError> {
        let mut spec = match &child.kind {
            ChildKindConfig::Supervisor(sup) => {
                let nested = self.supervisor(sup, path, &format!("supervisor.{}", sup.name))?;
                ChildSpec::supervisor(child.id.as_str(), nested)
            }
            ChildKindConfig::Component(component) => {
                let start = self.component(component, path, key)?;
                ChildSpec::worker(child.id.as_str(), start)
            }
            ChildKindConfig::Process(process) => {
                let start = self.process(process, child.shutdown, path);
                ChildSpec::worker(child.id.as_str(), start)
            }
        };
        spec = spec.with_restart(child.restart);
        if let Some(shutdown) = child.shutdown {
            spec = spec.with_shutdown(shutdown);
        }
        if let Some(backoff) = child.backoff {
            spec = spec.with_backoff(backoff);
        }
        if let Some(storm) = child.storm {
            spec = spec.with_storm(storm);
        }
        Ok(spec)
    }

    fn process(
        &self,
        p: &ProcessChildConfig,
        shutdown: Option<Shutdown>,
        path: &str,
    ) -> ProcessChildStart {
        let mut spec = WorkerSpec::new(path, p.command.clone());
        spec.args(&p.args)
            .limits(p.limits)
            .cgroup(self.config.host.cgroup);
        if let Some(cwd) = &p.cwd {
            spec.cwd(cwd.clone());
        }
        for name in &p.inherit {
            spec.inherit_env(name.clone());
        }
        for (name, value) in &p.env {
            spec.env(name.clone(), value.clone());
        }
        if let Some(readiness) = &p.readiness {
            spec.readiness(readiness.clone());
        }
        let slot = self.router.logs().slot(path);
        let mut logs = LogSpec::default();
        logs.dir(self.config.host.state_dir.join("logs"))
            .file_name(format!("{}.log", path.replace('/', "__")))
            .tap(slot.worker_tap());
        spec.logs(logs);
        // The supervisor kills after its own shutdown timeout as well; the
        // worker's grace matches it (OTP's default of 5 s for workers).
        let grace = match shutdown {
            Some(Shutdown::Timeout(t)) => t,
            Some(Shutdown::BrutalKill) => Duration::ZERO,
            Some(Shutdown::Infinity) => Duration::from_secs(24 * 3600),
            None => Duration::from_secs(5),
        };
        ProcessChildStart::new(spec, grace, self.processes.clone())
            .with_log(slot)
            .with_health(
                self.config.health.restart_window,
                p.liveness.clone(),
                p.restart_unresponsive,
            )
    }

    fn component(
        &mut self,
        c: &ComponentChildConfig,
        path: &str,
        key: &str,
    ) -> Result<ComponentChildStart, HostError> {
        let program_key = ProgramKey::of(c);
        let program = match self.compiled.get(&program_key) {
            Some(p) => p.clone(),
            None => {
                let unusable = |source| HostError::Component {
                    file: self.config.file.clone(),
                    key: format!("{key}.path ({})", c.path.display()),
                    source: Box::new(source),
                };
                let prepared = self
                    .runtime
                    .compile_file(&c.path, program_key.metering)
                    .and_then(|compiled| compiled.prepare())
                    .map_err(unusable)?;
                if c.persist.is_some() {
                    let key = format!("{key}.persist");
                    self.keeps_state(&prepared, c, path, &key, "persist its state")?;
                }
                if c.hibernate_after.is_some() {
                    let key = format!("{key}.hibernate_after_ms");
                    self.keeps_state(&prepared, c, path, &key, "hibernate")?;
                }
                let program = ActorProgram::new(prepared).map_err(unusable)?;
                self.compiled.insert(program_key, program.clone());
                program
            }
        };
        let slot: ProgramSlot = Arc::new(RwLock::new(program));
        self.programs.insert(
            path.to_string(),
            ProgramEntry {
                source: c.path.clone(),
                slot: slot.clone(),
                watch: c.watch,
            },
        );
        Ok(ComponentChildStart {
            program: slot,
            init_config: c.init_config.clone(),
            limits: c.limits.clone(),
            caps: c.caps.clone(),
            send_to: c.send_to.clone(),
            mailbox: c.mailbox,
            hibernate_after: c.hibernate_after,
            router: self.router.clone(),
            usage: Default::default(),
            log: Some(self.router.logs().slot(path)),
            persist: c.persist.map(|config| {
                Arc::new(Persistence::new(
                    config,
                    &self.config.host.state_dir,
                    self.events.clone(),
                ))
            }),
        })
    }

    /// A child with `persist` or `hibernate_after_ms` (the setting at
    /// `key`, which `wants` to keep the state) needs the actor's `snapshot`
    /// and `restore`: refused, naming the child, when its component lacks
    /// them (an operation plugin, most likely).
    fn keeps_state(
        &self,
        prepared: &Prepared,
        c: &ComponentChildConfig,
        path: &str,
        key: &str,
        wants: &str,
    ) -> Result<(), HostError> {
        let fit = world::fit(&prepared.compiled, World::ActorPlugin);
        if fit.fits {
            return Ok(());
        }
        let mut lacks = fit.missing;
        lacks.extend(
            fit.mistyped
                .iter()
                .map(|m| format!("`{}` (expected {}, found {})", m.name, m.expected, m.found)),
        );
        let operations = world::fit(&prepared.compiled, World::OperationPlugin).fits;
        Err(HostError::StateNotKept {
            file: self.config.file.clone(),
            key: key.to_string(),
            reason: format!(
                "child `{path}` cannot {wants}: {} does not export the actor's \
                 `snapshot` and `restore` (lacks {}){}",
                c.path.display(),
                lacks.join(", "),
                if operations {
                    "; it is an operation plugin: configure it under [operations.ID]"
                } else {
                    ""
                }
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn config(dir: &std::path::Path, text: &str) -> Config {
        std::fs::write(dir.join("a.wasm"), b"\0asm\x0d\0\x01\0").expect("write a.wasm");
        let file = dir.join("warden.toml");
        crate::config::parse(&file, text).expect("valid config")
    }

    #[test]
    fn the_largest_memory_limit_covers_nested_children_and_plugins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = r#"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "a"
kind = "component"
path = "a.wasm"
limits = { memory_mb = 16 }
[[supervisor.root.children]]
id = "nested"
kind = "supervisor"
supervisor = "inner"
[supervisor.inner]
strategy = "one_for_one"
[[supervisor.inner.children]]
id = "b"
kind = "component"
path = "a.wasm"
limits = { memory_mb = 300 }
"#;
        let c = config(dir.path(), tree);
        assert_eq!(largest_memory_limit(&c), 300 * MIB, "a nested child's");

        let plugin =
            format!("{tree}\n[operations.op]\npath = \"a.wasm\"\nlimits = {{ memory_mb = 400 }}\n");
        let c = config(dir.path(), &plugin);
        assert_eq!(largest_memory_limit(&c), 400 * MIB, "an operation plugin's");

        let small = tree.replace("memory_mb = 300", "memory_mb = 8");
        let c = config(dir.path(), &small);
        assert_eq!(
            largest_memory_limit(&c),
            Limits::default().memory_bytes,
            "never below the API's default for one-off calls"
        );
    }

    #[test]
    fn children_sharing_a_file_share_a_program_only_with_the_same_metering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(
            dir.path(),
            r#"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "free"
kind = "component"
path = "a.wasm"
[[supervisor.root.children]]
id = "metered"
kind = "component"
path = "a.wasm"
limits = { fuel = 1000 }
[[supervisor.root.children]]
id = "also-free"
kind = "component"
path = "a.wasm"
limits = { memory_mb = 8 }
"#,
        );
        let keys: Vec<ProgramKey> = c.trees[0]
            .children
            .iter()
            .map(|child| match &child.kind {
                ChildKindConfig::Component(component) => ProgramKey::of(component),
                _ => unreachable!("only components here"),
            })
            .collect();
        assert_ne!(keys[0], keys[1], "fuel is compiled into the code");
        assert_eq!(keys[0], keys[2], "other limits are not");
    }
}
