//! Operation plugins from config (`[operations.ID]`): loaded into the
//! host's operation [`Registry`], reloaded on request (`plugin.reload`) or
//! when their file changes (`watch = true`).
//!
//! Owns: which plugins the host has, where their files are, and the step
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
    plugins: IndexMap<String, OperationPluginConfig>,
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
                plugins: configs.iter().map(|c| (c.id.clone(), c.clone())).collect(),
                serial: tokio::sync::Mutex::new(()),
                calls: calls.clone(),
            }),
        }
    }

    /// The configured ids, in file order.
    pub fn ids(&self) -> Vec<String> {
        self.inner.plugins.keys().cloned().collect()
    }

    /// The config of plugin `id`.
    pub fn get(&self, id: &str) -> Option<&OperationPluginConfig> {
        self.inner.plugins.get(id)
    }

    /// Reads plugin `id`'s file again and re-registers its operations
    /// (changed schemas are enforced from the next call; operations it no
    /// longer describes disappear). Returns the registered names.
    pub async fn reload(&self, id: &str) -> Result<Vec<String>, PluginLoadError> {
        let config =
            self.inner
                .plugins
                .get(id)
                .cloned()
                .ok_or_else(|| PluginLoadError::Unknown {
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
            .inner
            .plugins
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
                        .inner
                        .plugins
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

/// file → program → `describe()` → registered. Blocking.
fn load(
    runtime: &Runtime,
    registry: &Registry,
    config: OperationPluginConfig,
    calls: &Interrupt,
) -> Result<Vec<String>, PluginLoadError> {
    let metering = if config.limits.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let program = runtime
        .compile_file(&config.path, metering)
        .and_then(|compiled| compiled.prepare())
        .and_then(OperationProgram::new)
        .map_err(|source| PluginLoadError::Load {
            id: config.id.clone(),
            path: config.path.clone(),
            source: Box::new(source),
        })?;
    let source =
        PluginOperations::new(config.id.clone(), program, config.limits, config.caps).within(calls);
    registry
        .register_plugin(&config.id, Arc::new(source))
        .map_err(|e| PluginLoadError::Register(Box::new(e)))
}
