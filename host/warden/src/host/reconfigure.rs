//! Config reload without a restart: the [`Reconfigurer`] re-reads the
//! host's `warden.toml`, plans the difference ([`crate::config::diff`]) and
//! applies it, in the spirit of OTP's release handling.
//!
//! Owns: the config the host currently runs, and the one path from a new
//! file to a changed host. A reload goes: load and validate the whole file
//! → refuse a change of a setting read at start (naming its key) → build
//! the spec of every child to start, compiling each new component and
//! checking it against its world, and compile every new or changed
//! operation plugin → (a dry run stops here, having changed nothing) →
//! register the new and changed operation plugins and unregister the
//! removed ones → supervisor by supervisor, parents first: terminate and
//! delete the removed and changed children in reverse start order, change
//! the flags (strategy through `SupervisorHandle::change_strategy`,
//! intensity and period in place), start the changed children with their
//! new spec and then the added ones, in file order → the new config
//! becomes the current one, and the file watchers follow it.
//!
//! Guarantees: an invalid file, a refused setting or an unusable new
//! component changes nothing; reloads are serialised (one mutex around
//! the whole of each); unchanged children are never touched (same
//! incarnation, generation and state). What the host keeps per child
//! follows the tree: the program table and the version history of every
//! component child removed or restarted are dropped and those of started
//! ones entered, removed children leave their groups and the file's
//! `groups` replace the old file's (see `host::groups`); routes, `send_to`
//! grants, persistence and process registry entries belong to each
//! incarnation's start, so they follow by construction. A step of the apply that fails (a new child whose `init`
//! refuses) stops the apply there: the steps before it stay done, the
//! host keeps the old config as its current one, and a reload of the
//! fixed file applies the rest (stopping a child already gone, or
//! starting one where it already runs, is not an error then).
//!
//! Never does: read the environment, or decide on its own to reload (the
//! `config.reload` operation, `warden ctl config reload` and `warden
//! run`'s SIGHUP ask).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::component::Runtime;
use crate::config::diff::{self, Plan, Refusal};
use crate::config::{self, Config, ConfigError};
use crate::events::{EventBus, ReloadEvent};
use crate::host::build::{Builder, DynamicStarts, largest_memory_limit};
use crate::host::groups::Groups;
use crate::host::process_child::ProcessRuntime;
use crate::host::{HostError, OperationPlugins, PluginLoadError, ProgramTable, Router};
use crate::reload::{Reloader, Watcher};
use crate::supervisor::{
    AdminError, ChangeOutcome, ChildPath, ChildSpec, StrategyChangeOptions, SupervisorHandle,
};

/// Why a config reload changed nothing, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconfigureError {
    /// The file cannot be read or is invalid (names the file and the key).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The file changes what the running host cannot take.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A new or changed child's component cannot be used (names the file,
    /// the key and the component).
    #[error(transparent)]
    Component(Box<HostError>),
    /// A new or changed operation plugin cannot be loaded.
    #[error("{}: operations.{id}: {source}", file.display())]
    Plugin {
        file: std::path::PathBuf,
        id: String,
        #[source]
        source: Box<PluginLoadError>,
    },
    /// A step of the apply failed; the steps before it were applied.
    #[error(
        "the reload stopped at {step}: {reason} (the steps before it were applied; \
         the host keeps its previous config, and a reload of the fixed file applies the rest)"
    )]
    Apply { step: String, reason: String },
}

impl ReconfigureError {
    /// Whether the new file is at fault (rather than the host failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Apply { .. })
    }
}

/// The host's file watchers, replaced after each applied reload. The
/// [`Host`](crate::host::Host) owns them (they stop when it goes); the
/// reconfigurer only reaches them while it lives.
#[derive(Default)]
pub(crate) struct Watchers {
    pub(crate) children: Option<Watcher>,
    pub(crate) plugins: Option<Watcher>,
}

/// Reloads the host's config. Cheap to clone.
#[derive(Clone)]
pub struct Reconfigurer {
    inner: Arc<Inner>,
}

struct Inner {
    /// The config running now; the lock serialises reloads.
    current: tokio::sync::Mutex<Config>,
    /// The embedder's token over the file's (see
    /// [`Reconfigurer::override_token`]).
    token: Mutex<Option<String>>,
    /// The largest memory limit the runtime was sized for at start (with
    /// pooling, the size of every slot).
    reserved_memory: usize,
    runtime: Runtime,
    router: Router,
    programs: ProgramTable,
    processes: ProcessRuntime,
    /// Starts of sandboxes under `simple_one_for_one` supervisors.
    dynamic: DynamicStarts,
    events: EventBus,
    root: SupervisorHandle,
    reloader: Reloader,
    plugins: OperationPlugins,
    groups: Groups,
    watchers: Weak<Mutex<Watchers>>,
}

/// What [`Host::start`](crate::host::Host::start) hands the reconfigurer.
pub(crate) struct Parts {
    pub(crate) runtime: Runtime,
    pub(crate) router: Router,
    pub(crate) programs: ProgramTable,
    pub(crate) processes: ProcessRuntime,
    pub(crate) dynamic: DynamicStarts,
    pub(crate) events: EventBus,
    pub(crate) root: SupervisorHandle,
    pub(crate) reloader: Reloader,
    pub(crate) plugins: OperationPlugins,
    pub(crate) groups: Groups,
    pub(crate) watchers: Weak<Mutex<Watchers>>,
}

impl Reconfigurer {
    pub(crate) fn new(config: Config, parts: Parts) -> Self {
        Self {
            inner: Arc::new(Inner {
                reserved_memory: largest_memory_limit(&config),
                current: tokio::sync::Mutex::new(config),
                token: Mutex::new(None),
                runtime: parts.runtime,
                router: parts.router,
                programs: parts.programs,
                processes: parts.processes,
                dynamic: parts.dynamic,
                events: parts.events,
                root: parts.root,
                reloader: parts.reloader,
                plugins: parts.plugins,
                groups: parts.groups,
                watchers: parts.watchers,
            }),
        }
    }

    /// The token the embedder set over the file's (`warden run`'s
    /// `WARDEN_TOKEN`): every reloaded file is read with it, so the file's
    /// own token does not count as a change. By default none.
    pub fn override_token(&self, token: Option<String>) {
        *self.inner.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// The file the host's config comes from.
    pub async fn file(&self) -> std::path::PathBuf {
        self.inner.current.lock().await.file.clone()
    }

    /// Re-reads the config file, plans the difference and (unless
    /// `dry_run`) applies it; see the module doc. An applied reload
    /// publishes `config_reloaded`, a failed one `config_reload_failed`.
    pub async fn reload(&self, dry_run: bool) -> Result<Plan, ReconfigureError> {
        // On a task of its own: a caller that goes away (an HTTP client
        // disconnecting) must not cut an apply in half.
        let this = self.clone();
        tokio::spawn(async move { this.reload_serialised(dry_run).await })
            .await
            .unwrap_or_else(|join| Err(apply_failed("the reload task", join)))
    }

    async fn reload_serialised(&self, dry_run: bool) -> Result<Plan, ReconfigureError> {
        let mut current = self.inner.current.lock().await;
        let result = self.reload_locked(&mut current, dry_run).await;
        let about = ChildPath::supervisor(self.inner.root.path());
        match &result {
            Ok(plan) if plan.applied => {
                let count = |v: &[String]| v.len() as u64;
                self.inner.events.emit(
                    about,
                    ReloadEvent::ConfigReloaded {
                        added: count(&plan.added),
                        removed: count(&plan.removed),
                        changed: count(&plan.changed),
                        unchanged: count(&plan.unchanged),
                        supervisors_changed: count(&plan.supervisors_changed),
                        operations_changed: count(&plan.operations.added)
                            + count(&plan.operations.removed)
                            + count(&plan.operations.changed),
                    },
                );
            }
            Ok(_) => {}
            Err(err) if !dry_run => self.inner.events.emit(
                about,
                ReloadEvent::ConfigReloadFailed {
                    reason: err.to_string(),
                },
            ),
            Err(_) => {}
        }
        result
    }

    async fn reload_locked(
        &self,
        current: &mut Config,
        dry_run: bool,
    ) -> Result<Plan, ReconfigureError> {
        let inner = &self.inner;
        let mut new = config::load(&current.file)?;
        if let Some(token) = inner
            .token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            new.host.token = Some(token);
        }
        let mut plan = diff::plan(current, &new)?;
        let reserved = inner.reserved_memory;
        if new.host.pooling_instances > 0 && largest_memory_limit(&new) > reserved {
            // Pooled slots were sized at start for the largest limit then.
            return Err(Refusal {
                file: new.file.clone(),
                key: "host.pooling_instances".into(),
                reason: format!(
                    "pools slots of {} MiB, sized at start: a memory limit above that \
                     cannot come in while the host runs; restart it",
                    reserved >> 20
                ),
            }
            .into());
        }
        // Everything new is compiled and checked before anything changes.
        let staging = ProgramTable::default();
        let mut specs: Vec<Vec<ChildSpec>> = Vec::with_capacity(plan.steps.len());
        {
            let mut builder = Builder::new(
                &new,
                &inner.dynamic,
                &inner.runtime,
                &inner.router,
                &staging,
                &inner.processes,
                &inner.events,
            );
            for steps in &plan.steps {
                let mut built = Vec::with_capacity(steps.start.len());
                for start in &steps.start {
                    built.push(
                        builder
                            .child(&start.config, &start.path, &start.key)
                            .map_err(|e| ReconfigureError::Component(Box::new(e)))?,
                    );
                }
                specs.push(built);
            }
        }
        let mut plugins = Vec::new();
        for id in plan.operations.added.iter().chain(&plan.operations.changed) {
            let Some(config) = new.operations.iter().find(|p| &p.id == id) else {
                continue;
            };
            let prepared =
                inner
                    .plugins
                    .prepare(config)
                    .await
                    .map_err(|source| ReconfigureError::Plugin {
                        file: new.file.clone(),
                        id: id.clone(),
                        source: Box::new(source),
                    })?;
            plugins.push(prepared);
        }
        if dry_run {
            return Ok(plan);
        }

        inner
            .plugins
            .apply(plugins, &plan.operations.removed)
            .await
            .map_err(|e| apply_failed("the operation plugins", e))?;
        for (steps, specs) in plan.steps.iter().zip(specs) {
            let sup = inner
                .root
                .supervisor_at(&steps.path)
                .await
                .map_err(|e| apply_failed(&format!("supervisor `{}`", steps.path), e))?;
            for id in &steps.stop {
                let path = format!("{}/{id}", steps.path);
                let step = format!("stopping `{path}`");
                tolerate_missing(sup.terminate_child(id.as_str()).await)
                    .map_err(|e| apply_failed(&step, e))?;
                tolerate_missing(sup.delete_child(id.as_str()).await)
                    .map_err(|e| apply_failed(&step, e))?;
                for gone in inner.programs.remove_under(&path) {
                    inner.reloader.forget(&gone);
                }
                if plan.removed.contains(&path) {
                    inner.groups.forget_under(&path);
                }
            }
            if let Some(flags) = steps.flags {
                let step = format!("the flags of supervisor `{}`", steps.path);
                if let Some(strategy) = flags.strategy {
                    // No settle window and no risk refusal: the file is the
                    // desired state, and a rollback would leave the tree
                    // unlike it.
                    let options = StrategyChangeOptions {
                        dry_run: false,
                        settle: Duration::ZERO,
                        force: true,
                        ..StrategyChangeOptions::default()
                    };
                    let report = sup
                        .change_strategy(strategy, options)
                        .await
                        .map_err(|e| apply_failed(&step, e))?;
                    if report.outcome != ChangeOutcome::Applied {
                        return Err(apply_failed(&step, format!("{:?}", report.outcome)));
                    }
                }
                sup.set_intensity(flags.intensity, flags.period)
                    .await
                    .map_err(|e| apply_failed(&step, e))?;
            }
            for (start, spec) in steps.start.iter().zip(specs) {
                let step = format!("starting `{}`", start.path);
                // A child left running by an earlier, interrupted reload
                // makes way for its spec from this file.
                if start_is_retry(&sup, &start.config.id).await {
                    tolerate_missing(sup.terminate_child(start.config.id.as_str()).await)
                        .map_err(|e| apply_failed(&step, e))?;
                    tolerate_missing(sup.delete_child(start.config.id.as_str()).await)
                        .map_err(|e| apply_failed(&step, e))?;
                }
                sup.start_child(spec)
                    .await
                    .map_err(|e| apply_failed(&step, e))?;
                let below = format!("{}/", start.path);
                for (path, entry) in staging.entries() {
                    if path == start.path || path.starts_with(&below) {
                        inner.reloader.forget(&path);
                        inner.programs.insert(path, entry);
                    }
                }
            }
        }
        inner.reloader.set_probation(new.reload.probation);
        inner.groups.set_config(&new.group_memberships());
        let debounce = new.reload.debounce;
        *current = new;
        self.rewatch(debounce);
        plan.applied = true;
        Ok(plan)
    }

    /// Watches the files of the `watch = true` children and plugins the
    /// host has now; a watcher that cannot start is logged, the reload
    /// stands.
    fn rewatch(&self, debounce: Duration) {
        let Some(watchers) = self.inner.watchers.upgrade() else {
            return;
        };
        let children =
            crate::reload::watch_children(&self.inner.reloader, &self.inner.programs, debounce)
                .unwrap_or_else(|e| {
                    tracing::warn!("cannot watch the component children's files: {e}");
                    None
                });
        let plugins = self.inner.plugins.watch(debounce).unwrap_or_else(|e| {
            tracing::warn!("cannot watch the operation plugins' files: {e}");
            None
        });
        let mut watchers = watchers.lock().unwrap_or_else(|e| e.into_inner());
        watchers.children = children;
        watchers.plugins = plugins;
    }
}

/// Whether `id` is already under `sup` (a start an interrupted reload did).
async fn start_is_retry(sup: &SupervisorHandle, id: &str) -> bool {
    sup.which_children()
        .await
        .is_ok_and(|children| children.iter().any(|c| c.id.as_str() == id))
}

/// A child already gone is what stopping it wanted.
fn tolerate_missing(result: Result<(), AdminError>) -> Result<(), AdminError> {
    match result {
        Err(AdminError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

fn apply_failed(step: &str, reason: impl std::fmt::Display) -> ReconfigureError {
    ReconfigureError::Apply {
        step: step.to_string(),
        reason: reason.to_string(),
    }
}
