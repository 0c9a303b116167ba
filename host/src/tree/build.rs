//! Config → supervisor specs, with every component compiled and checked
//! against the `actor-plugin` world before anything starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::component::{ActorProgram, Metering, Runtime};
use crate::config::{
    ChildConfig, ChildKindConfig, ComponentChildConfig, Config, ProcessChildConfig,
    SupervisorConfig,
};
use crate::process::{LogSpec, WorkerSpec};
use crate::supervisor::Shutdown;
use crate::supervisor::{ChildSpec, Strategy, SupervisorFlags, SupervisorSpec};
use crate::tree::HostError;
use crate::tree::component_child::{ComponentChildStart, ProgramSlot};
use crate::tree::process_child::{ProcessChildStart, ProcessRuntime};
use crate::tree::router::Router;

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
    fn insert(&self, path: String, entry: ProgramEntry) {
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

    /// Paths of every configured component child, sorted.
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

struct Builder<'a> {
    config: &'a Config,
    runtime: &'a Runtime,
    router: &'a Router,
    programs: &'a ProgramTable,
    processes: &'a ProcessRuntime,
    /// One program per file, shared by every child that uses it.
    compiled: HashMap<PathBuf, ActorProgram>,
}

/// The root spec and its name.
pub(crate) fn root_spec(
    config: &Config,
    runtime: &Runtime,
    router: &Router,
    programs: &ProgramTable,
    processes: &ProcessRuntime,
) -> Result<(String, SupervisorSpec), HostError> {
    let mut b = Builder {
        config,
        runtime,
        router,
        programs,
        processes,
        compiled: HashMap::new(),
    };
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

impl Builder<'_> {
    fn supervisor(
        &mut self,
        sup: &SupervisorConfig,
        path: &str,
        key: &str,
    ) -> Result<SupervisorSpec, HostError> {
        let flags = SupervisorFlags::new(sup.strategy).with_intensity(sup.intensity, sup.period);
        let mut spec = SupervisorSpec::new(flags);
        for (i, child) in sup.children.iter().enumerate() {
            let child_path = format!("{path}/{}", child.id);
            let child_key = format!("{key}.children[{i}]");
            spec = spec.child(self.child(child, &child_path, &child_key)?);
        }
        Ok(spec)
    }

    fn child(
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
        let mut logs = LogSpec::default();
        logs.dir(self.config.host.state_dir.join("logs"))
            .file_name(format!("{}.log", path.replace('/', "__")));
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
    }

    fn component(
        &mut self,
        c: &ComponentChildConfig,
        path: &str,
        key: &str,
    ) -> Result<ComponentChildStart, HostError> {
        let program = match self.compiled.get(&c.path) {
            Some(p) => p.clone(),
            None => {
                let metering = if c.limits.fuel.is_some() {
                    Metering::Fuel
                } else {
                    Metering::Off
                };
                let program = self
                    .runtime
                    .compile_file(&c.path, metering)
                    .and_then(|compiled| compiled.prepare())
                    .and_then(ActorProgram::new)
                    .map_err(|source| HostError::Component {
                        file: self.config.file.clone(),
                        key: format!("{key}.path ({})", c.path.display()),
                        source: Box::new(source),
                    })?;
                self.compiled.insert(c.path.clone(), program.clone());
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
            router: self.router.clone(),
        })
    }
}
