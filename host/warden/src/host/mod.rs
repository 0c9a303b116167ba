//! The running host: a validated [`Config`] turned into supervision trees
//! whose children are real components, plus what addresses them.
//!
//! This module is where the generic supervisor meets concrete child kinds:
//! `build` turns config into [`SupervisorSpec`](crate::supervisor::SupervisorSpec)s (compiling and checking
//! every component first, so a bad file stops the start before anything
//! runs), [`component_child`] adapts actor instances to the supervisor's
//! child traits, [`process_child`] does the same for native worker
//! processes (recorded in the [`Registry`], watched by one monitor),
//! [`Router`] delivers messages to children by path, [`logs`] keeps each
//! child's log lines, and
//! [`groups`] keeps the named groups of children,
//! [`OperationPlugins`] keeps the `[operations.ID]` plugins registered in
//! the host's operation registry (built-ins are registered here too, from
//! [`crate::builtin`]), and the [`Reconfigurer`] applies a changed config
//! file to the running host (`config.reload`, SIGHUP), and the
//! [`snapshots`] store keeps the states `child.snapshot` takes under ids
//! (`STATE_DIR/snapshots`). [`run`] is the host's whole life as `warden
//! run` lives it, for any embedder: started from a config, serving the
//! HTTP API, stopped on a [`Shutdown`] request.

mod build;
mod catalog;
pub mod component_child;
pub(crate) mod gauges;
pub mod groups;
pub mod liveness;
pub mod logs;
mod op_plugins;
pub(crate) mod persist;
pub mod process_child;
mod reconfigure;
mod router;
mod run;
pub mod snapshots;
pub mod trace;

use std::sync::{Arc, Mutex};

use warden_clock::millis;

use crate::component::{ComponentError, Interrupt, PoolingConfig, Runtime, RuntimeConfig};
use crate::config::Config;
use crate::events::{EventBus, EventLog};
use crate::reload::{ReloadError, ReloadOutcome, Reloader, Versions};
use crate::store::ComponentStore;
use crate::supervisor::{StartError, SupervisorExit, SupervisorHandle, start_root};

pub(crate) use build::sandbox_start;
pub use build::{DynamicStarts, ProgramEntry, ProgramTable};
pub use catalog::StoreCatalog;
pub use op_plugins::{OperationPlugins, PluginLoadError, PreparedPlugin};
pub use reconfigure::{ReconfigureError, Reconfigurer};
pub use router::{Router, SendError};
pub use run::{RunError, Running, Shutdown, run};

use crate::process::{Monitor, MonitorConfig};
use crate::registry::{EventRecord, OrphanReport, Registry, RegistryConfig, RegistryError};

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A component named in the config cannot be used.
    #[error("{}: {key}: {source}", file.display())]
    Component {
        file: std::path::PathBuf,
        key: String,
        #[source]
        source: Box<ComponentError>,
    },
    /// A child with `persist` or `hibernate_after_ms` runs a component
    /// that cannot snapshot and restore its state.
    #[error("{}: {key}: {reason}", file.display())]
    StateNotKept {
        file: std::path::PathBuf,
        key: String,
        reason: String,
    },
    /// The tree could not start (a child failed to start, an invalid spec).
    #[error("the supervision tree failed to start: {0}")]
    Start(#[from] StartError),
    #[error("cannot start the component runtime: {0}")]
    Runtime(ComponentError),
    /// The pooling allocator (`host.pooling_instances`) cannot be set up.
    #[error("{}: host.pooling_instances: cannot pool {slots} instance slots of {slot_mb} MiB: {source}", file.display())]
    Pooling {
        file: std::path::PathBuf,
        slots: u32,
        slot_mb: u64,
        #[source]
        source: ComponentError,
    },
    /// The component store (`STATE_DIR/components`) cannot be opened.
    #[error("component store: {0}")]
    Store(crate::store::StoreError),
    /// The worker registry cannot be opened, or orphan recovery failed.
    #[error("worker registry: {0}")]
    Registry(#[from] RegistryError),
    /// Process supervision cannot be set up (subreaper, monitor thread).
    #[error("cannot set up process supervision: {0}")]
    Process(std::io::Error),
    /// The files of `watch = true` children cannot be watched.
    #[error("cannot watch component files: {0}")]
    Watch(#[from] notify::Error),
    /// An `[operations.ID]` plugin cannot be loaded or registered.
    #[error("{}: operations.{id}: {source}", file.display())]
    OperationPlugin {
        file: std::path::PathBuf,
        id: String,
        #[source]
        source: Box<PluginLoadError>,
    },
    /// A built-in operation could not be registered (a bug, not a config
    /// problem).
    #[error("cannot register the built-in operations: {0}")]
    Builtins(#[from] crate::ops::RegisterError),
}

/// Applies the strategy changes kept with `persist: true` (the registry's
/// `strategies`) to the tree just started. A supervisor no longer in the
/// tree, or a strategy it cannot take, is skipped with a warning.
async fn apply_persisted_strategies(root: &SupervisorHandle, registry: &Registry) {
    let kept = match registry.strategies() {
        Ok(kept) => kept,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the persisted strategies");
            return;
        }
    };
    for (path, name) in kept {
        let Ok(strategy) = serde_json::from_value::<crate::supervisor::Strategy>(
            serde_json::Value::String(name.clone()),
        ) else {
            tracing::warn!(%path, strategy = %name, "unknown persisted strategy; skipped");
            continue;
        };
        let sup = match root.supervisor_at(&path).await {
            Ok(sup) => sup,
            Err(e) => {
                tracing::warn!(%path, error = %e, "persisted strategy of a supervisor not in the tree; skipped");
                continue;
            }
        };
        // Like a config reload: the kept state is the desired one, applied
        // at once and never rolled back.
        let options = crate::supervisor::StrategyChangeOptions {
            settle: std::time::Duration::ZERO,
            force: true,
            ..Default::default()
        };
        match sup.change_strategy(strategy, options).await {
            Ok(_) => tracing::info!(%path, %strategy, "persisted strategy applied"),
            Err(e) => tracing::warn!(%path, error = %e, "persisted strategy not applied"),
        }
    }
}

/// A running host.
pub struct Host {
    pub runtime: Runtime,
    pub router: Router,
    pub events: EventBus,
    /// The root supervisor (the single top-level tree, or an implicit
    /// `host` supervisor above several).
    pub root: SupervisorHandle,
    /// Every component's current program, by child path.
    pub programs: ProgramTable,
    /// Every native worker incarnation, past and present
    /// (`STATE_DIR/registry.sqlite3`); see [`Registry::query`].
    pub registry: Registry,
    /// What orphan recovery found and did before the tree started.
    pub orphans: OrphanReport,
    /// Hot reload of component children, and their version histories.
    pub reloader: Reloader,
    /// Every operation the host offers (built-ins and plugin operations);
    /// the HTTP API, `warden ctl` and the dashboard call through it.
    pub operations: crate::ops::Registry,
    /// The `[operations.ID]` plugins behind the plugin operations.
    pub plugins: OperationPlugins,
    /// The last events, numbered (`events.recent`).
    pub event_log: EventLog,
    /// Components uploaded over the API (`STATE_DIR/components`).
    pub store: ComponentStore,
    /// Snapshots stored by `child.snapshot` (`STATE_DIR/snapshots`).
    pub snapshots: snapshots::SnapshotStore,
    /// Every guest call an operation started (`component.call`, `grade`,
    /// plugin operations) is under it; [`Host::shutdown`] fires it.
    pub calls: Interrupt,
    /// Applies a changed config file (`config.reload`, SIGHUP).
    pub reconfigure: Reconfigurer,
    /// Named groups of children (`groups = [..]`, `group.join`).
    pub groups: groups::Groups,
    /// Scores the tree every `[health] interval_ms` (stops when the host is dropped).
    _health: crate::health::HealthMonitor,
    /// Watch the files of `watch = true` children and operation plugins
    /// while the host runs (replaced by each applied config reload).
    _watchers: Arc<Mutex<reconfigure::Watchers>>,
}

impl Host {
    /// Compiles every component and registers every operation plugin (the
    /// first failure stops the start before any tree runs), then starts
    /// the trees in file order and registers the built-in operations.
    pub async fn start(config: &Config, events: EventBus) -> Result<Host, HostError> {
        let largest_memory = build::largest_memory_limit(config);
        let pooling = (config.host.pooling_instances > 0).then_some(PoolingConfig::new(
            config.host.pooling_instances,
            // A page more than the largest limit, so that the memory
            // limiter, not the pool, refuses growth past a limit and the
            // error says so.
            largest_memory.saturating_add(WASM_PAGE),
        ));
        let runtime = Runtime::new(
            RuntimeConfig {
                cache_dir: Some(config.host.state_dir.join("cache")),
                epoch_tick: config.host.epoch_tick,
                wasm_backtraces: config.host.wasm_backtraces,
                pooling,
                compile: config.host.compile,
                cache_budget: config.host.cache,
                ..RuntimeConfig::default()
            }
            .for_memory_limit(largest_memory),
        )
        .map_err(|source| match pooling {
            None => HostError::Runtime(source),
            Some(p) => HostError::Pooling {
                file: config.file.clone(),
                slots: p.instances,
                slot_mb: (p.max_memory_bytes >> 20) as u64,
                source,
            },
        })?;
        let operations = crate::ops::Registry::new();
        let calls = Interrupt::new();
        let plugins = OperationPlugins::new(
            runtime.clone(),
            operations.clone(),
            &config.operations,
            &calls,
        );
        for id in plugins.ids() {
            let names = plugins
                .reload(&id)
                .await
                .map_err(|source| HostError::OperationPlugin {
                    file: config.file.clone(),
                    id: id.clone(),
                    source: Box::new(source),
                })?;
            tracing::info!(plugin = %id, operations = ?names, "operation plugin registered");
        }
        let store = ComponentStore::open(
            &config.host.state_dir.join("components"),
            config.api.max_component_bytes,
        )
        .map_err(HostError::Store)?;
        let snapshots =
            snapshots::SnapshotStore::new(&config.host.state_dir, config.snapshots.keep_per_child);
        let router = Router::default();
        router.traces().publish_to(events.clone());
        let programs = ProgramTable::default();
        let dynamic = DynamicStarts::default();
        let (registry, orphans, processes) = start_processes(config, &events).await?;
        let processes_for_ops = processes.clone();
        // Before the tree starts, so its start is logged and archived too.
        let event_log = archived_event_log(&events, &registry);
        let (name, spec) = build::root_spec(
            config, &runtime, &router, &programs, &processes, &events, &dynamic,
        )?;
        let root = start_root(&name, spec, events.clone()).await?;
        let groups = groups::Groups::default();
        groups.set_config(&config.group_memberships());
        let reloader = Reloader::new(
            runtime.clone(),
            router.clone(),
            programs.clone(),
            events.clone(),
        );
        reloader.set_probation(config.reload.probation);
        reloader.archive_to(
            registry.clone(),
            i64::try_from(warden_clock::unix_ms()).unwrap_or(i64::MAX),
        );
        let watcher = crate::reload::watch_children(&reloader, &programs, config.reload.debounce)?;
        let plugin_watcher = plugins.watch(config.reload.debounce)?;
        let watchers = Arc::new(Mutex::new(reconfigure::Watchers {
            children: watcher,
            plugins: plugin_watcher,
        }));
        let reconfigure = Reconfigurer::new(
            config.clone(),
            reconfigure::Parts {
                runtime: runtime.clone(),
                router: router.clone(),
                programs: programs.clone(),
                processes,
                dynamic: dynamic.clone(),
                events: events.clone(),
                root: root.clone(),
                reloader: reloader.clone(),
                plugins: plugins.clone(),
                groups: groups.clone(),
                watchers: Arc::downgrade(&watchers),
            },
        );
        crate::builtin::register(
            &operations,
            &crate::builtin::Context {
                root: root.clone(),
                router: router.clone(),
                programs: programs.clone(),
                reloader: reloader.clone(),
                workers: registry.clone(),
                runtime: runtime.clone(),
                log: event_log.clone(),
                plugins: plugins.clone(),
                calls: calls.clone(),
                api_limits: config.api.limits,
                store: store.clone(),
                snapshots: snapshots.clone(),
                reconfigure: reconfigure.clone(),
                sandboxes: crate::builtin::Sandboxes::new(
                    config.api.sandboxes.clone(),
                    config.api.grants.clone(),
                    dynamic,
                ),
                path_roots: crate::builtin::PathRoots::new(config.api.path_roots.clone()),
                groups: groups.clone(),
                rollouts: crate::builtin::Rollouts::default(),
                events: events.clone(),
                chaos: config.chaos.clone(),
                health_thresholds: config.health.thresholds,
                processes: processes_for_ops,
                runners: Arc::new(crate::grade::Runners::new(crate::builtin::runners_dir())),
            },
        )?;
        apply_persisted_strategies(&root, &registry).await;
        let health =
            crate::health::HealthMonitor::spawn(root.clone(), events.clone(), config.health);
        Ok(Host {
            runtime,
            router,
            events,
            root,
            programs,
            registry,
            orphans,
            reloader,
            operations,
            plugins,
            event_log,
            calls,
            store,
            snapshots,
            reconfigure,
            groups,
            _health: health,
            _watchers: watchers,
        })
    }

    /// Re-reads the config file and applies the difference (or only plans
    /// it, with `dry_run`). See [`Reconfigurer::reload`].
    pub async fn reload_config(
        &self,
        dry_run: bool,
    ) -> Result<crate::config::diff::Plan, ReconfigureError> {
        self.reconfigure.reload(dry_run).await
    }

    /// Reloads the component child at `path` from its file (nothing when
    /// the file holds the running code). See [`crate::reload`].
    pub async fn reload(&self, path: &str) -> Result<ReloadOutcome, ReloadError> {
        self.reloader.reload(path, false).await
    }

    /// Returns the child at `path` to `version` (by default the one before
    /// the current one), state carried over; the version it runs now.
    pub async fn rollback(&self, path: &str, version: Option<u64>) -> Result<u64, ReloadError> {
        self.reloader.rollback(path, version).await
    }

    /// The version history of the component child at `path`.
    pub fn versions(&self, path: &str) -> Result<Versions, ReloadError> {
        self.reloader.versions(path)
    }

    /// Stops every tree in reverse start order.
    pub async fn stop(&self) -> SupervisorExit {
        self.root.stop().await
    }

    /// Stops the host so that it ends: guest calls started by operations
    /// are interrupted at once (their callers are about to lose the API
    /// anyway), the trees stop per their shutdown specs, and once `grace`
    /// has passed every guest call still running — a component child
    /// whose message never ends, with `shutdown = "infinity"` — is
    /// interrupted too (see [`Host::interrupt_guests`]). Native workers
    /// keep their own shutdown specs.
    pub async fn shutdown(&self, grace: std::time::Duration) -> SupervisorExit {
        self.calls.fire();
        let stop = self.root.stop();
        tokio::pin!(stop);
        tokio::select! {
            exit = &mut stop => return exit,
            () = tokio::time::sleep(grace) => {}
        }
        tracing::warn!(
            grace_ms = millis(grace),
            "the trees did not stop within the shutdown grace; interrupting every guest call"
        );
        self.interrupt_guests();
        stop.await
    }

    /// Interrupts every guest call of this host, running or to come, within
    /// one epoch tick: operation calls and component children alike (a
    /// child interrupted so exits as killed). For a host that is going
    /// away; permanent.
    pub fn interrupt_guests(&self) {
        self.calls.fire();
        self.runtime.interrupt_all();
    }
}

/// One page of wasm linear memory.
const WASM_PAGE: usize = 64 << 10;

/// The host's event log, numbering on from the newest event the registry
/// kept (so `seq` stays unique across restarts) and archiving every event
/// there (a queued write: the log's feeder never waits for SQLite).
fn archived_event_log(events: &EventBus, registry: &Registry) -> EventLog {
    let last = registry.last_event_seq().unwrap_or_else(|e| {
        tracing::warn!("cannot read the last archived event's seq ({e}); numbering from 1");
        0
    });
    let archive = registry.clone();
    EventLog::start_archived(
        events,
        EventLog::DEFAULT_CAPACITY,
        last + 1,
        Some(Box::new(move |logged| {
            let body = match serde_json::to_string(logged) {
                Ok(body) => body,
                Err(e) => {
                    tracing::warn!(seq = logged.seq, "event not archived: {e}");
                    return;
                }
            };
            archive.record_event(EventRecord {
                seq: logged.seq,
                at_ms: i64::try_from(logged.event.at_ms).unwrap_or(i64::MAX),
                path: logged.event.path.to_string(),
                kind: logged.event.kind.name().to_string(),
                body,
            });
        })),
    )
}

/// Process supervision set-up, before any tree starts: this host becomes
/// the subreaper of its workers' descendants, the registry is opened and
/// whatever a crashed predecessor left running is killed, then the monitor
/// starts.
async fn start_processes(
    config: &Config,
    events: &EventBus,
) -> Result<(Registry, OrphanReport, process_child::ProcessRuntime), HostError> {
    crate::process::enable_subreaper().map_err(HostError::Process)?;
    if let Err(e) = crate::process::raise_fd_limit() {
        tracing::warn!("cannot raise the open-file limit: {e}");
    }
    let mut registry_config = RegistryConfig::new(config.host.state_dir.join("registry.sqlite3"));
    registry_config
        .retention(config.host.retention)
        .audit_keep(config.api.audit_keep)
        .keep_events(config.history.keep_events)
        .keep_versions(config.history.keep_versions);
    let (registry, orphans) = tokio::task::spawn_blocking(move || {
        let registry = Registry::open(&registry_config)?;
        let orphans = crate::registry::recover_orphans(&registry)?;
        Ok::<_, RegistryError>((registry, orphans))
    })
    .await
    .map_err(|e| HostError::Process(std::io::Error::other(e.to_string())))??;
    if !orphans.orphans.is_empty() {
        tracing::warn!("orphan recovery: {orphans}");
    }
    let mut monitor_config = MonitorConfig::default();
    let t = config.health.thresholds;
    monitor_config
        .interval(config.host.monitor_interval)
        .thresholds(crate::process::HealthThresholds {
            warning: t.warning,
            critical: t.critical,
            emergency: t.emergency,
        });
    let (monitor, monitor_events) = Monitor::start(monitor_config).map_err(HostError::Process)?;
    let processes = process_child::ProcessRuntime::new(
        monitor,
        monitor_events,
        registry.clone(),
        events.clone(),
    );
    Ok((registry, orphans, processes))
}
