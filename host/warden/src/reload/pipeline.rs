//! The [`Reloader`]: one reload of one child, from the file to the swap.
//!
//! read bytes → hash (unchanged content: nothing) → compile (or the compile
//! cache) → world check → link (`InstancePre`) all happen here, off the
//! child's task, while it keeps serving. Only the swap itself travels to
//! the child, as an envelope in its mailbox, so it happens between two
//! messages. Reloads are serialised: one at a time per host.
//!
//! Reloads come in tiers: bytes with no Cranelift code in memory or the
//! disk cache are compiled by Winch first (the same compile limits, in a
//! compile child) and swapped in at once (`reloaded` with `tier:
//! "baseline"`); a background task then compiles them with Cranelift (the
//! bounded compile path and the cache, as any compile) and swaps that in
//! too (`optimized`), through the mailbox like any swap, so no message is
//! lost or reordered, with the state carried over and the probation of the
//! version left running from its first swap. The optimized step applies
//! only while the child still runs that baseline code: a newer reload or a
//! rollback makes it moot. If the Cranelift step fails, the baseline code
//! keeps serving and `optimize_failed` says why (the version's record
//! keeps the reason). A version whose Cranelift code is cached is swapped
//! in once, optimized. Bytes Winch cannot compile (another architecture,
//! a proposal it lacks) go straight to Cranelift.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;
use warden_clock::{millis, unix_ms};

use crate::component::{
    ActorProgram, ComponentError, Metering, Origin, Runtime, Tier, content_hash, world,
};
use crate::events::{self, EventBus, ReloadEvent};
use crate::host::component_child::{Envelope, SUPERSEDED, SwapFailure, SwapRequest};
use crate::host::{ProgramTable, Router};
use crate::reload::Stage;
use crate::reload::versions::{VersionOutcome, VersionRecord, Versions};
use crate::supervisor::ChildPath;

/// How a reload ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The file holds the code already running: nothing was done.
    Unchanged { version: u64 },
    /// The child runs `version` now, with its state.
    Reloaded {
        version: u64,
        hash: String,
        /// Where the machine code came from (cold compile or cache).
        origin: Origin,
        /// From reading the file to serving the new version.
        duration: Duration,
        /// Of `duration`, compiling (or loading from the cache) and linking.
        compile: Duration,
        /// Of `duration`, the swap in the child: snapshot, instantiate,
        /// init, restore.
        swap: Duration,
        /// The compiler of the code swapped in: `Baseline` is followed by
        /// an optimized step in the background.
        tier: Tier,
    },
    /// The old version is still serving.
    Failed {
        version: u64,
        stage: Stage,
        reason: String,
    },
}

/// Why a reload or rollback could not even be attempted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    #[error("no component child `{0}`")]
    UnknownChild(String),
    #[error("component child `{0}` is not running")]
    NotRunning(String),
    #[error("`{path}` has no version {version} to roll back to")]
    NoSuchVersion { path: String, version: u64 },
    #[error("`{0}` has no earlier version to roll back to")]
    NothingToRollBackTo(String),
    #[error("rollback of `{path}` failed at {stage}: {reason}")]
    RollbackFailed {
        path: String,
        stage: Stage,
        reason: String,
    },
}

/// Reloads component children. Cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    router: Router,
    programs: ProgramTable,
    events: EventBus,
    histories: Mutex<HashMap<String, Versions>>,
    /// Where each changed history is written (the registry, under this
    /// host run's start time), once the host sets it.
    archive: std::sync::OnceLock<(crate::registry::Registry, i64)>,
    /// Milliseconds a new version is on probation; 0 turns it off.
    probation_ms: std::sync::atomic::AtomicU64,
    serial: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// By default a new version is on probation for 5 s.
    pub const DEFAULT_PROBATION: Duration = Duration::from_secs(5);

    pub fn new(runtime: Runtime, router: Router, programs: ProgramTable, events: EventBus) -> Self {
        Reloader {
            inner: Arc::new(Inner {
                runtime,
                router,
                programs,
                events,
                histories: Mutex::new(HashMap::new()),
                archive: std::sync::OnceLock::new(),
                probation_ms: std::sync::atomic::AtomicU64::new(millis(Self::DEFAULT_PROBATION)),
                serial: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A crash of a new version within `probation` after its swap rolls
    /// the child back. Zero turns probation off. By default 5 s.
    pub fn set_probation(&self, probation: Duration) {
        let ms = millis(probation);
        self.inner
            .probation_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn probation(&self) -> Duration {
        Duration::from_millis(
            self.inner
                .probation_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The child's version history.
    pub fn versions(&self, path: &str) -> Result<Versions, ReloadError> {
        self.with_history(path, |h| h.clone())
    }

    /// The current version of the component child at `path` (`None` for
    /// other children); cheaper than [`versions`](Self::versions).
    pub fn current_version(&self, path: &str) -> Option<u64> {
        self.with_history(path, |h| h.current).ok()
    }

    /// Forgets the version history of the child at `path` (a destroyed
    /// sandbox; a config reload removed it, or restarts it with a new spec:
    /// its next history starts from the code it then runs).
    pub(crate) fn forget(&self, path: &str) {
        self.inner
            .histories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }

    /// Component children whose code comes from `source`.
    pub fn children_of(&self, source: &std::path::Path) -> Vec<String> {
        let wanted = source
            .canonicalize()
            .unwrap_or_else(|_| source.to_path_buf());
        self.inner
            .programs
            .paths()
            .into_iter()
            .filter(|p| {
                self.inner.programs.get(p).is_some_and(|e| {
                    e.source.canonicalize().unwrap_or_else(|_| e.source.clone()) == wanted
                })
            })
            .collect()
    }

    /// Writes every version history change to `registry` (metadata only:
    /// the code stays in memory), under `run_ms`, this host run's start.
    /// Set once; later calls change nothing.
    pub fn archive_to(&self, registry: crate::registry::Registry, run_ms: i64) {
        let _ = self.inner.archive.set((registry, run_ms));
    }

    /// The start time of this host run, as [`archive_to`](Self::archive_to)
    /// was told (`None` before).
    pub fn run_ms(&self) -> Option<i64> {
        self.inner.archive.get().map(|(_, run)| *run)
    }

    /// [`with_history`](Self::with_history) for a change: the child's
    /// records are archived after it (an upsert per version, so a rollback
    /// rewrites the outcome of the version it left).
    fn change_history<T>(
        &self,
        path: &str,
        f: impl FnOnce(&mut Versions) -> T,
    ) -> Result<T, ReloadError> {
        let mut rows = Vec::new();
        let out = self.with_history(path, |h| {
            let out = f(h);
            if let Some((_, run_ms)) = self.inner.archive.get() {
                rows = h
                    .records
                    .iter()
                    .map(|r| crate::registry::VersionRow {
                        run_ms: *run_ms,
                        path: path.to_string(),
                        version: r.version,
                        hash: r.hash.clone(),
                        source: r.source.display().to_string(),
                        at_ms: i64::try_from(r.at_ms).unwrap_or(i64::MAX),
                        outcome: serde_json::to_string(&r.outcome)
                            .unwrap_or_else(|_| "{}".to_string()),
                        duration_ms: r.duration_ms,
                    })
                    .collect();
            }
            out
        })?;
        if let Some((registry, _)) = self.inner.archive.get() {
            for row in rows {
                registry.record_version(row);
            }
        }
        Ok(out)
    }

    fn with_history<T>(
        &self,
        path: &str,
        f: impl FnOnce(&mut Versions) -> T,
    ) -> Result<T, ReloadError> {
        let entry = self
            .inner
            .programs
            .get(path)
            .ok_or_else(|| ReloadError::UnknownChild(path.to_string()))?;
        let mut histories = self
            .inner
            .histories
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let history = histories.entry(path.to_string()).or_insert_with(|| {
            let program = entry.slot.read().unwrap_or_else(|e| e.into_inner());
            Versions::new(&program, entry.source.clone())
        });
        Ok(f(history))
    }

    /// Gets the Winch tier ready for reloads of `metering` code: its
    /// engine built and a compile child waiting (see
    /// [`Runtime::warm_baseline`]). Blocks for the engine build; a
    /// failure only costs the first reload that time, and is logged.
    pub fn warm_baseline(&self, metering: Metering) {
        if let Err(err) = self.inner.runtime.warm_baseline(metering) {
            tracing::debug!(error = %err, "cannot get the baseline compiler ready");
        }
    }

    /// Reloads the child at `path` from its source file. With `force`, the
    /// swap happens even when the file holds the running code.
    pub async fn reload(&self, path: &str, force: bool) -> Result<ReloadOutcome, ReloadError> {
        self.reload_from(path, None, force).await
    }

    /// Reloads the child at `path` from `source` (by default its own
    /// source file); once the swap is committed, `source` is the child's
    /// source from then on.
    pub async fn reload_from(
        &self,
        path: &str,
        source: Option<&Path>,
        force: bool,
    ) -> Result<ReloadOutcome, ReloadError> {
        let mut entry = self
            .inner
            .programs
            .get(path)
            .ok_or_else(|| ReloadError::UnknownChild(path.to_string()))?;
        if let Some(source) = source {
            entry.source = source.to_path_buf();
        }
        let _serial = self.inner.serial.lock().await;
        let started = Instant::now();
        let (version, previous) = self.with_history(path, |h| (h.next_version(), h.current))?;
        let (running_hash, metering) = {
            let current = entry.slot.read().unwrap_or_else(|e| e.into_inner());
            (current.hash().to_string(), current.prepared().metering())
        };
        let mut record = VersionRecord {
            version,
            hash: String::new(),
            source: entry.source.clone(),
            at_ms: unix_ms(),
            outcome: VersionOutcome::Reloaded,
            duration_ms: 0,
            tier: Tier::Optimized,
            optimize_failed: None,
            program: None,
        };
        let bytes = match read(&self.inner.runtime, &entry.source).await {
            Ok(bytes) => bytes,
            Err(reason) => return self.failed(path, record, started, Stage::Read, reason),
        };
        let read_took = started.elapsed();
        record.hash = content_hash(&bytes);
        let hash_took = started.elapsed().saturating_sub(read_took);
        if !force && record.hash == running_hash {
            let current = self.with_history(path, |h| h.current)?;
            return Ok(ReloadOutcome::Unchanged { version: current });
        }
        self.emit(path, ReloadEvent::ReloadStarted { version });
        let compile_started = Instant::now();
        let runtime = self.inner.runtime.clone();
        let bytes = Arc::new(bytes);
        let input = bytes.clone();
        let built = tokio::task::spawn_blocking(move || build_first(&runtime, &input, metering))
            .await
            .unwrap_or_else(|join| {
                Err(SwapFailure {
                    stage: Stage::Compile,
                    reason: format!("compile task failed: {join}"),
                })
            });
        let (program, origin) = match built {
            Ok(built) => built,
            Err(f) => return self.failed(path, record, started, f.stage, f.reason),
        };
        let tier = program.prepared().tier();
        let compile = compile_started.elapsed();
        let on_rollback = self.probation_rollback(path, version, previous);
        let swap_started = Instant::now();
        let swapped = self
            .swap(path, program.clone(), None, self.probation(), on_rollback)
            .await?;
        if let Err(f) = swapped {
            return self.failed(path, record, started, f.stage, f.reason);
        }
        let swap = swap_started.elapsed();
        // Where a reload's time goes (`WARDEN_LOG=warden::reload=debug`).
        tracing::debug!(
            child = path,
            version,
            ?tier,
            ?origin,
            read = ?read_took,
            hash = ?hash_took,
            ?compile,
            ?swap,
            total = ?(started.elapsed()),
            "reload stages"
        );
        if source.is_some() {
            self.inner.programs.set_source(path, entry.source.clone());
        }
        let duration = started.elapsed();
        record.duration_ms = millis(duration);
        record.tier = tier;
        record.program = Some(program.clone());
        let hash = record.hash.clone();
        self.change_history(path, |h| h.push(record))?;
        self.emit(
            path,
            ReloadEvent::Reloaded {
                version,
                hash: hash.clone(),
                duration_ms: millis(duration),
                tier: event_tier(tier),
            },
        );
        if tier == Tier::Baseline {
            let this = self.clone();
            let path = path.to_string();
            tokio::spawn(async move {
                this.optimize(&path, version, program, bytes, started).await;
            });
        }
        Ok(ReloadOutcome::Reloaded {
            version,
            hash,
            origin,
            duration,
            compile,
            swap,
            tier,
        })
    }

    /// The second step of a tiered reload: Cranelift code for `version`,
    /// which runs `baseline` now, swapped in if it still does (see the
    /// module doc).
    async fn optimize(
        &self,
        path: &str,
        version: u64,
        baseline: ActorProgram,
        bytes: Arc<Vec<u8>>,
        started: Instant,
    ) {
        let runtime = self.inner.runtime.clone();
        let metering = baseline.prepared().metering();
        let built =
            tokio::task::spawn_blocking(move || build(&runtime, &bytes, metering, Tier::Optimized))
                .await
                .unwrap_or_else(|join| {
                    Err(SwapFailure {
                        stage: Stage::Compile,
                        reason: format!("compile task failed: {join}"),
                    })
                });
        let _serial = self.inner.serial.lock().await;
        let still_current = |this: &Self| {
            this.with_history(path, |h| h.runs(version, &baseline))
                .unwrap_or(false)
        };
        if !still_current(self) {
            tracing::debug!(
                child = path,
                version,
                "a newer version or a rollback made the optimized step moot"
            );
            return;
        }
        let failure = match built {
            Ok((program, _)) => {
                let swapped = self
                    .swap(
                        path,
                        program.clone(),
                        Some(Box::new(baseline.clone())),
                        Duration::ZERO,
                        Box::new(|_| {}),
                    )
                    .await;
                match swapped {
                    Ok(Ok(())) => {
                        let _ = self.change_history(path, |h| h.optimized(version, program));
                        self.emit(
                            path,
                            ReloadEvent::Optimized {
                                version,
                                duration_ms: millis(started.elapsed()),
                            },
                        );
                        return;
                    }
                    Ok(Err(f)) if f.reason == SUPERSEDED => return,
                    Ok(Err(f)) => format!("the swap failed at {}: {}", f.stage, f.reason),
                    Err(e) => e.to_string(),
                }
            }
            Err(f) => format!("{} failed: {}", f.stage, f.reason),
        };
        let _ = self.change_history(path, |h| h.optimize_failed(version, &failure));
        self.emit(
            path,
            ReloadEvent::OptimizeFailed {
                version,
                reason: failure,
            },
        );
    }

    /// Returns the child to `version` (or the one before the current one),
    /// with its state carried over. Returns the version it runs now.
    pub async fn rollback(&self, path: &str, version: Option<u64>) -> Result<u64, ReloadError> {
        let _serial = self.inner.serial.lock().await;
        let target = self.with_history(path, |h| {
            h.rollback_target(version)
                .map(|r| (r.version, r.program.clone()))
        })?;
        let (to, Some(program)) = target.unwrap_or((0, None)) else {
            return Err(match version {
                Some(version) => ReloadError::NoSuchVersion {
                    path: path.to_string(),
                    version,
                },
                None => ReloadError::NothingToRollBackTo(path.to_string()),
            });
        };
        let swapped = self
            .swap(path, program, None, Duration::ZERO, Box::new(|_| {}))
            .await?;
        if let Err(f) = swapped {
            return Err(ReloadError::RollbackFailed {
                path: path.to_string(),
                stage: f.stage,
                reason: f.reason,
            });
        }
        let reason = "requested".to_string();
        self.change_history(path, |h| h.rolled_back(to, &reason))?;
        self.emit(
            path,
            ReloadEvent::RolledBack {
                to_version: to,
                reason,
            },
        );
        Ok(to)
    }

    /// Sends the swap to the child and waits for its verdict.
    async fn swap(
        &self,
        path: &str,
        program: ActorProgram,
        replaces: Option<Box<ActorProgram>>,
        probation: Duration,
        on_rollback: Box<dyn FnOnce(String) + Send>,
    ) -> Result<Result<(), SwapFailure>, ReloadError> {
        let (reply, answer) = oneshot::channel();
        let request = SwapRequest {
            program,
            probation,
            replaces,
            reply,
            on_rollback,
        };
        self.inner
            .router
            .enqueue_wait(path, Envelope::Reload(Box::new(request)))
            .await
            .map_err(|_| ReloadError::NotRunning(path.to_string()))?;
        Ok(answer.await.unwrap_or_else(|_| {
            Err(SwapFailure {
                stage: Stage::Snapshot,
                reason: "the child stopped before the swap".to_string(),
            })
        }))
    }

    /// What the child's task calls when the new version failed on
    /// probation and it went back to the previous one.
    fn probation_rollback(
        &self,
        path: &str,
        version: u64,
        previous: u64,
    ) -> Box<dyn FnOnce(String) + Send> {
        let this = self.clone();
        let path = path.to_string();
        Box::new(move |failure: String| {
            let reason = format!("version {version} failed on probation: {failure}");
            if this
                .change_history(&path, |h| h.rolled_back(previous, &reason))
                .is_err()
            {
                return;
            }
            this.emit(
                &path,
                ReloadEvent::ReloadFailed {
                    version,
                    stage: Stage::Probation,
                    reason: failure,
                },
            );
            this.emit(
                &path,
                ReloadEvent::RolledBack {
                    to_version: previous,
                    reason,
                },
            );
        })
    }

    fn failed(
        &self,
        path: &str,
        mut record: VersionRecord,
        started: Instant,
        stage: Stage,
        reason: String,
    ) -> Result<ReloadOutcome, ReloadError> {
        let version = record.version;
        record.duration_ms = millis(started.elapsed());
        record.outcome = VersionOutcome::Failed {
            stage,
            reason: reason.clone(),
        };
        self.change_history(path, |h| h.push(record))?;
        self.emit(
            path,
            ReloadEvent::ReloadFailed {
                version,
                stage,
                reason: reason.clone(),
            },
        );
        Ok(ReloadOutcome::Failed {
            version,
            stage,
            reason,
        })
    }

    fn emit(&self, path: &str, event: ReloadEvent) {
        self.inner.events.emit(child_path(path), event);
    }
}

/// The whole file, or why not: a regular file within the compile size
/// limit (a FIFO or device planted at the watched path is refused, not
/// read). An empty file is a save in progress (truncate-then-write), not a
/// version.
async fn read(runtime: &Runtime, source: &Path) -> Result<Vec<u8>, String> {
    let runtime = runtime.clone();
    let path = source.to_path_buf();
    let read = tokio::task::spawn_blocking(move || runtime.read_component(&path)).await;
    match read {
        Ok(Ok(bytes)) if bytes.is_empty() => Err(format!(
            "{} is empty (still being written?)",
            source.display()
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err @ (ComponentError::Io { .. } | ComponentError::NotAFile { .. }))) => {
            Err(format!("cannot read {err}"))
        }
        Ok(Err(err)) => Err(format!("{}: {err}", source.display())),
        Err(join) => Err(format!("cannot read {}: {join}", source.display())),
    }
}

/// The code a reload swaps in first: the Cranelift code when memory or
/// the disk cache has it, else Winch's, else (Winch could not compile
/// it) Cranelift's.
fn build_first(
    runtime: &Runtime,
    bytes: &[u8],
    metering: Metering,
) -> Result<(ActorProgram, Origin), SwapFailure> {
    match runtime.lookup(bytes, metering) {
        Ok(Some(compiled)) => return link(compiled),
        Ok(None) => {}
        Err(e) => {
            return Err(SwapFailure {
                stage: Stage::Compile,
                reason: e.to_string(),
            });
        }
    }
    match runtime.compile_baseline(bytes, metering) {
        Ok(compiled) => link(compiled),
        // Not a component, or over a compile limit: Cranelift would
        // refuse it too (and take longer doing so).
        Err(
            e @ (ComponentError::NotWasm { .. }
            | ComponentError::NotAComponent
            | ComponentError::CompileLimit(_)),
        ) => Err(SwapFailure {
            stage: Stage::Compile,
            reason: e.to_string(),
        }),
        // Winch cannot build this engine or compile these bytes (a
        // proposal it lacks fails its validation; truly invalid bytes
        // fail Cranelift's too, and say so).
        Err(e) => {
            tracing::info!(reason = %e, "no baseline code: compiling with Cranelift");
            build(runtime, bytes, metering, Tier::Optimized)
        }
    }
}

/// compile (or cache) → world check → link, with the compiler of `tier`.
fn build(
    runtime: &Runtime,
    bytes: &[u8],
    metering: Metering,
    tier: Tier,
) -> Result<(ActorProgram, Origin), SwapFailure> {
    let compiled = match tier {
        Tier::Baseline => runtime.compile_baseline(bytes, metering),
        Tier::Optimized => runtime.compile(bytes, metering),
    }
    .map_err(|e| SwapFailure {
        stage: Stage::Compile,
        reason: e.to_string(),
    })?;
    link(compiled)
}

/// world check → link.
fn link(compiled: crate::component::Compiled) -> Result<(ActorProgram, Origin), SwapFailure> {
    let fail = |stage| {
        move |e: crate::component::ComponentError| SwapFailure {
            stage,
            reason: e.to_string(),
        }
    };
    let origin = compiled.origin;
    let started = Instant::now();
    world::check(&compiled, world::World::ActorPlugin).map_err(fail(Stage::World))?;
    let checked = started.elapsed();
    let prepared = compiled.prepare().map_err(fail(Stage::World))?;
    let program = ActorProgram::new(prepared).map_err(fail(Stage::World))?;
    tracing::debug!(
        world = ?checked,
        link = ?(started.elapsed().saturating_sub(checked)),
        "reload link stages"
    );
    Ok((program, origin))
}

/// The event stream's name of a tier.
fn event_tier(tier: Tier) -> events::Tier {
    match tier {
        Tier::Baseline => events::Tier::Baseline,
        Tier::Optimized => events::Tier::Optimized,
    }
}

fn child_path(path: &str) -> ChildPath {
    match path.rsplit_once('/') {
        Some((parent, id)) => ChildPath::child(parent.into(), id.into()),
        None => ChildPath::supervisor(path),
    }
}
