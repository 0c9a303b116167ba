//! Operation plugins from config (`[operations.ID]`): loaded into the
//! host's operation [`Registry`], reloaded on request (`plugin.reload`) or
//! when their file changes (`watch = true`).
//!
//! Owns: which plugins the host has (changed by a config reload through
//! [`OperationPlugins::prepare`] and [`OperationPlugins::apply`]), where
//! their files are, and the step
//! from a file to registered operations — read → compile (or the compile
//! cache) → check the `operation-plugin` world → `describe()` under the
//! plugin's limits → [`Registry::register_plugin`], which swaps the
//! plugin's operations atomically. Guarantees: a load that fails at any
//! step changes nothing (the operations of the previous version stay
//! registered and callable); loads are serialised, so two saves of one
//! file cannot register out of order; every `execute()` is under the
//! host's calls interrupt, so it stops when the host does. Must never: run
//! guest code on an async worker thread (compile and `describe()` run on
//! the blocking pool).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::component::{ComponentError, Interrupt, Metering, OperationProgram, Runtime};
use crate::config::OperationPluginConfig;
use crate::ops::{PluginOperations, RegisterError, Registry};
use crate::reload::{WatchTarget, Watcher};

/// Why an operation plugin could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    /// No `[operations.ID]` table has that id.
    #[error("no operation plugin `{id}` (configured: {known})")]
    Unknown { id: String, known: String },
    /// The file cannot be read, compiled, or does not fit the
    /// `operation-plugin` world.
    #[error("operation plugin `{id}` ({}): {source}", path.display())]
    Load {
        id: String,
        path: PathBuf,
        #[source]
        source: Box<ComponentError>,
    },
    /// `describe()` failed, or what it describes cannot be registered.
    #[error(transparent)]
    Register(#[from] Box<RegisterError>),
    /// The blocking task running the load was lost.
    #[error("operation plugin `{id}`: the load task failed: {reason}")]
    Task { id: String, reason: String },
}

/// The configured operation plugins of one host. Cheap to clone.
#[derive(Clone)]
pub struct OperationPlugins {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    registry: Registry,
    plugins: std::sync::RwLock<IndexMap<String, OperationPluginConfig>>,
    serial: tokio::sync::Mutex<()>,
    /// Every operation call is under it (see [`PluginOperations::within`]).
    calls: Interrupt,
}

impl OperationPlugins {
    /// The plugins of `configs`, none loaded yet; their operation calls
    /// stop once `calls` is fired.
    pub fn new(
        runtime: Runtime,
        registry: Registry,
        configs: &[OperationPluginConfig],
        calls: &Interrupt,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                runtime,
                registry,
                plugins: std::sync::RwLock::new(
                    configs.iter().map(|c| (c.id.clone(), c.clone())).collect(),
                ),
                serial: tokio::sync::Mutex::new(()),
                calls: calls.clone(),
            }),
        }
    }

    fn plugins(&self) -> std::sync::RwLockReadGuard<'_, IndexMap<String, OperationPluginConfig>> {
        self.inner.plugins.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured ids, in file order.
    pub fn ids(&self) -> Vec<String> {
        self.plugins().keys().cloned().collect()
    }

    /// The config of plugin `id`.
    pub fn get(&self, id: &str) -> Option<OperationPluginConfig> {
        self.plugins().get(id).cloned()
    }

    /// Compiles `config`'s file and checks it is an operation plugin,
    /// registering nothing: a config reload prepares every new or changed
    /// plugin before it changes anything.
    pub async fn prepare(
        &self,
        config: &OperationPluginConfig,
    ) -> Result<PreparedPlugin, PluginLoadError> {
        let runtime = self.inner.runtime.clone();
        let config = config.clone();
        let id = config.id.clone();
        tokio::task::spawn_blocking(move || {
            compile(&runtime, &config).map(|program| PreparedPlugin { config, program })
        })
        .await
        .map_err(|join| PluginLoadError::Task {
            id,
            reason: join.to_string(),
        })?
    }

    /// A config reload's change: the `prepared` plugins are registered
    /// (new ones added, changed ones replacing their operations), then the
    /// `removed` ids are unregistered and forgotten. Stops at the first
    /// plugin whose `describe()` fails; those before it stay registered.
    pub async fn apply(
        &self,
        prepared: Vec<PreparedPlugin>,
        removed: &[String],
    ) -> Result<(), PluginLoadError> {
        let _serial = self.inner.serial.lock().await;
        for PreparedPlugin { config, program } in prepared {
            let registry = self.inner.registry.clone();
            let calls = self.inner.calls.clone();
            let id = config.id.clone();
            let config = tokio::task::spawn_blocking(move || {
                register(&registry, &config, program, &calls).map(|_| config)
            })
            .await
            .map_err(|join| PluginLoadError::Task {
                id: id.clone(),
                reason: join.to_string(),
            })??;
            self.inner
                .plugins
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, config);
        }
        for id in removed {
            self.inner.registry.unregister_plugin(id);
            self.inner
                .plugins
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .shift_remove(id);
        }
        Ok(())
    }

    /// Reads plugin `id`'s file again and re-registers its operations
    /// (changed schemas are enforced from the next call; operations it no
    /// longer describes disappear). Returns the registered names.
    pub async fn reload(&self, id: &str) -> Result<Vec<String>, PluginLoadError> {
        let config = self.get(id).ok_or_else(|| PluginLoadError::Unknown {
            id: id.to_string(),
            known: self.ids().join(", "),
        })?;
        let _serial = self.inner.serial.lock().await;
        let runtime = self.inner.runtime.clone();
        let registry = self.inner.registry.clone();
        let calls = self.inner.calls.clone();
        tokio::task::spawn_blocking(move || load(&runtime, &registry, config, &calls))
            .await
            .map_err(|join| PluginLoadError::Task {
                id: id.to_string(),
                reason: join.to_string(),
            })?
    }

    /// Watches the files of `watch = true` plugins (`None` when there are
    /// none); a change re-registers the plugin, a failure is logged and
    /// the previous operations stay.
    pub fn watch(&self, debounce: Duration) -> notify::Result<Option<Watcher>> {
        let targets: Vec<WatchTarget> = self
            .plugins()
            .values()
            .filter(|c| c.watch)
            .map(|c| WatchTarget::File(c.path.clone()))
            .collect();
        if targets.is_empty() {
            return Ok(None);
        }
        let (watcher, mut changes) = Watcher::start(&targets, debounce)?;
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(changed) = changes.recv().await {
                for file in changed {
                    let ids: Vec<String> = this
                        .plugins()
                        .values()
                        .filter(|c| c.watch && c.path == file)
                        .map(|c| c.id.clone())
                        .collect();
                    for id in ids {
                        match this.reload(&id).await {
                            Ok(names) => tracing::info!(
                                plugin = %id, operations = ?names,
                                "operation plugin re-registered after its file changed"
                            ),
                            Err(err) => tracing::warn!(
                                plugin = %id,
                                "operation plugin not reloaded, its previous operations stay: {err}"
                            ),
                        }
                    }
                }
            }
        });
        Ok(Some(watcher))
    }
}

/// A plugin compiled and checked, not registered yet (see
/// [`OperationPlugins::prepare`]).
pub struct PreparedPlugin {
    config: OperationPluginConfig,
    program: OperationProgram,
}

/// file → program → `describe()` → registered. Blocking.
fn load(
    runtime: &Runtime,
    registry: &Registry,
    config: OperationPluginConfig,
    calls: &Interrupt,
) -> Result<Vec<String>, PluginLoadError> {
    let program = compile(runtime, &config)?;
    register(registry, &config, program, calls)
}

/// file → program of the `operation-plugin` world. Blocking.
fn compile(
    runtime: &Runtime,
    config: &OperationPluginConfig,
) -> Result<OperationProgram, PluginLoadError> {
    let metering = if config.limits.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    runtime
        .compile_file(&config.path, metering)
        .and_then(|compiled| compiled.prepare())
        .and_then(OperationProgram::new)
        .map_err(|source| PluginLoadError::Load {
            id: config.id.clone(),
            path: config.path.clone(),
            source: Box::new(source),
        })
}

/// program → `describe()` → registered. Blocking.
fn register(
    registry: &Registry,
    config: &OperationPluginConfig,
    program: OperationProgram,
    calls: &Interrupt,
) -> Result<Vec<String>, PluginLoadError> {
    let source = PluginOperations::new(
        config.id.clone(),
        program,
        config.limits.clone(),
        config.caps.clone(),
    )
    .within(calls);
    registry
        .register_plugin(&config.id, Arc::new(source))
        .map_err(|e| PluginLoadError::Register(Box::new(e)))
}
