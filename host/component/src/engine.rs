//! The runtime: wasmtime engines, the linker, the epoch ticker, and loading
//! components (with the compile cache).
//!
//! One [`Runtime`] per host. It owns up to two engines, because fuel
//! metering is compiled into the machine code and costs 1.5–2× on tight
//! loops: children that ask for no fuel budget run on the plain engine, and
//! the metered engine is built the first time something asks for fuel
//! (grading, `warden call --fuel`). Each of those has a second,
//! baseline-[`Tier`] engine (Winch instead of Cranelift, built the first
//! time a reload asks for it): a hot reload swaps in Winch code, which
//! compiles 15–20× faster, then the same bytes compiled by Cranelift. A
//! baseline engine has the same limits config (epochs, fuel, memory) as its
//! optimized twin; Winch on x86_64 implements fuel and epoch checks, and an
//! engine that cannot be built (another architecture) is an error the
//! caller answers by compiling with Cranelift. Every engine interrupts on
//! epochs, which one background thread advances every tick; that is what
//! enforces wall-clock timeouts.
//!
//! Every load goes through [`Runtime::compile_as`]: the bytes' hash is
//! looked up in memory ([`resident`](super::resident), bounded by bytes),
//! then in the disk cache ([`CompileCache`], bounded by bytes, checked to
//! be private before loading), and only then compiled: bytes the caller
//! vouches for ([`Trust::Own`]) in this process, everything else in a
//! compile child under CPU, memory, wall-clock and size limits
//! ([`compiler`](super::compiler)).
//!
//! Baseline code is kept in memory only, never in the disk cache: it is a
//! stopgap until the Cranelift code arrives, and a cached version is loaded
//! at Cranelift quality straight away ([`Runtime::lookup`]).
//!
//! Guarantees: a component's bytes are compiled at most once per engine
//! while they stay cached; untrusted bytes are never compiled in the host
//! process; nothing here panics on guest input.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    RegallocAlgorithm, Strategy,
};

use crate::bindings;
use crate::cache::{CompileCache, engine_id};
use crate::compiler::{self, CompileLimits};
use crate::error::{CompileLimit, ComponentError};
use crate::interrupt::Interrupt;
use crate::read::read_component_file;
use crate::resident::{Lease, Resident};
use crate::sandbox::{Calls, GuestState};

/// How a [`Runtime`] is built. Serializable because a compile child gets
/// the whole of it, to build exactly the engine its parent has.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuntimeConfig {
    /// Where compiled components are cached. By default none (compile
    /// every time a process starts).
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances: the resolution of wall-clock
    /// timeouts. By default 5 ms.
    pub epoch_tick: Duration,
    /// Virtual address space reserved per linear memory: set it to the
    /// largest memory limit the runtime serves
    /// ([`RuntimeConfig::for_memory_limit`]). A memory never grows past
    /// its instance's limit, so within the reservation it never moves
    /// (a move copies the whole memory), and a reservation near the limit
    /// rather than 4 GiB lets thousands of instances coexist. Raised to
    /// the pool's largest memory when pooling; at most 4 GiB. By default
    /// 64 MiB (the default limit).
    pub memory_reservation: u64,
    /// Use the pooling allocator with this many instance slots. By default
    /// off (on-demand allocation).
    pub pooling: Option<PoolingConfig>,
    /// Limits on compiling untrusted bytes (`[host.compile]`). By default
    /// [`CompileLimits::default`].
    pub compile: CompileLimits,
    /// The program that compiles untrusted bytes. By default the one
    /// registered with [`set_compiler_program`](super::set_compiler_program)
    /// (the `warden` binary registers itself).
    pub compile_program: Option<PathBuf>,
    /// How much compiled code is kept in memory and on disk
    /// (`[host.cache]`). By default 256 MiB and 1 GiB.
    pub cache_budget: CacheBudget,
    /// Record the wasm call stack of a trap and show it in the error
    /// (`host.wasm_backtraces`). By default off: capturing it costs every
    /// trap, and so every restart, a few microseconds.
    pub wasm_backtraces: bool,
}

/// Bounds on the compiled code a runtime keeps (least recently used goes
/// first; code a live program uses is never dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheBudget {
    /// Compiled images kept in memory, per engine, in bytes. By default
    /// 256 MiB.
    pub memory_bytes: u64,
    /// Artifacts kept in the disk cache directory, all engines together,
    /// in bytes. By default 1 GiB.
    pub disk_bytes: u64,
}

impl Default for CacheBudget {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            disk_bytes: 1 << 30,
        }
    }
}

/// Sizing of the pooling allocator. It reserves address space for every
/// slot up front, so size it from the number of children expected.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct PoolingConfig {
    /// Concurrent instances (component instances and their core instances).
    pub instances: u32,
    /// Largest linear memory of one instance, in bytes.
    pub max_memory_bytes: usize,
    /// Bytes of a freed slot's linear memory reset in place (dirty pages
    /// copied back from the memory image or zeroed) instead of unmapped,
    /// so the next instance in the slot takes no page faults on them.
    /// `None` keeps 2 MiB, enough for a small guest.
    /// Interpreter runners (CPython, SpiderMonkey) dirty tens of MiB of
    /// their heap image per instance: grading them keeps the whole slot
    /// resident ([`PoolingConfig::keep_whole_slot`]).
    #[serde(default)]
    pub keep_resident_bytes: Option<usize>,
}

impl PoolingConfig {
    /// `instances` slots of `max_memory_bytes`, freed slots reset as for
    /// a small guest (see `keep_resident_bytes`).
    pub fn new(instances: u32, max_memory_bytes: usize) -> Self {
        Self {
            instances,
            max_memory_bytes,
            keep_resident_bytes: None,
        }
    }

    /// Keeps every dirty page of a freed slot resident (up to its whole
    /// memory) where the kernel can tell which pages a guest dirtied
    /// (`PAGEMAP_SCAN`, Linux 6.7): only those are copied back, and the
    /// next instance reuses them without a fault. Elsewhere resetting
    /// would `memset` the whole kept range on every free, so this keeps
    /// the default there.
    pub fn keep_whole_slot(mut self) -> Self {
        if pagemap_scan_available() {
            self.keep_resident_bytes = Some(self.max_memory_bytes);
        }
        self
    }
}

/// Whether the kernel has `PAGEMAP_SCAN` (Linux 6.7 and later), which
/// wasmtime uses to reset only the pages a guest dirtied.
fn pagemap_scan_available() -> bool {
    cfg!(target_os = "linux")
        && std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .is_ok_and(|release| release_has_pagemap_scan(&release))
}

/// Whether a Linux release string (`6.8.0-41-generic`) is 6.7 or later.
fn release_has_pagemap_scan(release: &str) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (6, 7),
        _ => false,
    }
}

impl RuntimeConfig {
    /// Sizes the per-memory reservation for instances whose memory limit
    /// is at most `largest_limit` bytes (see `memory_reservation`): the
    /// next power of two, 64 MiB to 4 GiB. The reservation is compiled
    /// into the code, so rounding it lets runtimes sized for similar
    /// limits share compiled code (and the compile cache), for at most
    /// twice the address space.
    pub fn for_memory_limit(mut self, largest_limit: usize) -> Self {
        self.memory_reservation = u64::try_from(largest_limit)
            .ok()
            .and_then(u64::checked_next_power_of_two)
            .unwrap_or(LARGEST_MEMORY)
            .clamp(DEFAULT_RESERVATION, LARGEST_MEMORY);
        self
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(5),
            memory_reservation: DEFAULT_RESERVATION,
            pooling: None,
            compile: CompileLimits::default(),
            compile_program: None,
            cache_budget: CacheBudget::default(),
            wasm_backtraces: false,
        }
    }
}

/// Frames of a trap's backtrace, when backtraces are on (wasmtime's own
/// default).
const WASM_BACKTRACE_FRAMES: Option<std::num::NonZeroUsize> = std::num::NonZeroUsize::new(20);

/// Whether the caller vouches for the bytes it asks to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Bytes the host produced or ships itself (benchmarks and tests on
    /// plugins built from this repository): compiled in this process,
    /// without compile limits.
    Own,
    /// Anything a user, a config file, an upload or a watched file
    /// supplied: compiled in a compile child under [`CompileLimits`].
    Untrusted,
}

/// Whether calls are metered with fuel (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metering {
    /// No fuel instrumentation: fastest.
    Off,
    /// Fuel instrumentation: deterministic CPU budgets.
    Fuel,
}

/// Which compiler made a component's machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Winch, wasmtime's baseline compiler: compiles 15–20× faster, runs
    /// slower. What a hot reload swaps in first.
    Baseline,
    /// Cranelift, the optimizing compiler: what everything else runs.
    Optimized,
}

/// The host's component runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RuntimeConfig,
    plain: Flavor,
    metered: OnceLock<Result<Flavor, String>>,
    /// The Winch twins of `plain` and `metered`, built on first use.
    baseline: OnceLock<Result<Flavor, String>>,
    baseline_metered: OnceLock<Result<Flavor, String>>,
    /// Every sandbox of this runtime is under it (see [`Runtime::interrupt_all`]).
    interrupt: Interrupt,
}

/// One engine with everything built for it.
struct Flavor {
    engine: Engine,
    linker: Linker<GuestState>,
    /// The same imports for actors, whose calls run on fibers inside
    /// their child's task: WASI's async functions, since its blocking ones
    /// start a runtime of their own, which a runtime's thread may not do.
    actor_linker: Linker<GuestState>,
    cache: Option<CompileCache>,
    compiled: Resident,
}

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Compiled from the bytes just now.
    Compiled,
    /// Read back from the on-disk compile cache.
    DiskCache,
    /// Already loaded earlier by this runtime.
    Memory,
}

/// A compiled component, not yet linked.
#[derive(Clone)]
pub struct Compiled {
    /// The machine code, mapped in and bound to one engine.
    pub(crate) component: Component,
    /// SHA-256 of the component's bytes, hex.
    pub hash: String,
    /// Whether this load compiled, read the disk cache or found the code
    /// in memory (a hot reload reports it).
    pub origin: Origin,
    /// Which engine the code was compiled for: only [`Metering::Fuel`]
    /// code can run under a fuel budget.
    pub(crate) metering: Metering,
    /// Which compiler made the code.
    pub tier: Tier,
    pub(crate) runtime: Runtime,
    /// Keeps the runtime from dropping this component from memory while
    /// anything built from it lives.
    pub(crate) _lease: Lease,
}

/// The content hash of a component: SHA-256 of its bytes, 64 lowercase hex
/// digits. The one identity Warden gives a component's code, whoever reads
/// it: [`Compiled::hash`], the compile cache's file names
/// (`<hash>.cwasm`), a reload's "unchanged content" check and the hash in
/// its version history, a grade report's `sha256`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A compiled and linked component: new instances come from here, cheaply.
#[derive(Clone)]
pub struct Prepared {
    /// The component this was linked from: what world checks, export
    /// lookups and `warden inspect` read.
    pub compiled: Compiled,
    pub(crate) pre: InstancePre<GuestState>,
    /// Memories and tables every instance creates, counted once here so
    /// a sandbox can refuse a component that defines too many before
    /// allocating any (`None` when it cannot be known statically).
    pub(crate) defines: Option<Defines>,
}

/// How many linear memories and tables one instance of a component
/// creates, over all its core instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Defines {
    pub memories: usize,
    pub tables: usize,
}

impl Runtime {
    /// Builds the plain engine and linker and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, ComponentError> {
        let plain = Flavor::new(&config, Metering::Off, Tier::Optimized)?;
        let inner = Arc::new(Inner {
            config,
            plain,
            metered: OnceLock::new(),
            baseline: OnceLock::new(),
            baseline_metered: OnceLock::new(),
            interrupt: Interrupt::new(),
        });
        spawn_ticker(Arc::downgrade(&inner), inner.config.epoch_tick);
        Ok(Self { inner })
    }

    /// The epoch period: wall-clock timeouts are accurate to one tick.
    pub fn epoch_tick(&self) -> Duration {
        self.inner.config.epoch_tick
    }

    /// Stops every guest call of this runtime within one epoch tick, and
    /// every later one as soon as it starts: for a host that is going
    /// away. Permanent.
    pub fn interrupt_all(&self) {
        self.inner.interrupt.fire();
    }

    /// The interrupt every sandbox of this runtime is under.
    pub(crate) fn root_interrupt(&self) -> &Interrupt {
        &self.inner.interrupt
    }

    fn flavor(&self, metering: Metering, tier: Tier) -> Result<&Flavor, ComponentError> {
        let lazy = match (metering, tier) {
            (Metering::Off, Tier::Optimized) => return Ok(&self.inner.plain),
            (Metering::Fuel, Tier::Optimized) => &self.inner.metered,
            (Metering::Off, Tier::Baseline) => &self.inner.baseline,
            (Metering::Fuel, Tier::Baseline) => &self.inner.baseline_metered,
        };
        lazy.get_or_init(|| {
            Flavor::new(&self.inner.config, metering, tier).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| ComponentError::Instantiation {
            reason: reason.clone(),
        })
    }

    /// Every engine built so far.
    fn flavors(&self) -> impl Iterator<Item = &Flavor> {
        self.inner.flavors()
    }

    /// The Cranelift code of `bytes` when it is in memory or in the disk
    /// cache (`None` when it would have to be compiled): a reload of a
    /// version compiled before skips the baseline tier.
    pub fn lookup(
        &self,
        bytes: &[u8],
        metering: Metering,
    ) -> Result<Option<Compiled>, ComponentError> {
        sniff(bytes)?;
        let hash = content_hash(bytes);
        let flavor = self.flavor(metering, Tier::Optimized)?;
        let (component, lease, origin) = if let Some((c, lease)) = flavor.compiled.get(&hash) {
            (c, lease, Origin::Memory)
        } else {
            let cached = match &flavor.cache {
                Some(cache) => cache.load(&flavor.engine, &hash)?,
                None => None,
            };
            let Some(c) = cached else { return Ok(None) };
            let (c, lease) = flavor.compiled.insert(&hash, c);
            (c, lease, Origin::DiskCache)
        };
        Ok(Some(Compiled {
            component,
            hash,
            origin,
            metering,
            tier: Tier::Optimized,
            runtime: self.clone(),
            _lease: lease,
        }))
    }

    /// Compiles untrusted `bytes` with Winch (or finds that code in
    /// memory), under the same compile limits as [`Self::compile`]: the
    /// first step of a tiered reload. Never touches the disk cache.
    pub fn compile_baseline(
        &self,
        bytes: &[u8],
        metering: Metering,
    ) -> Result<Compiled, ComponentError> {
        self.compile_tier(bytes, metering, Trust::Untrusted, Tier::Baseline)
    }

    /// Gets a compile child ready for the Winch compiles of `metering`
    /// code (and builds this runtime's Winch engine), so the next
    /// [`Self::compile_baseline`] neither spawns a process nor builds an
    /// engine while someone waits: a host calls it for the children it
    /// watches. The child waits, under the compile limits, until a
    /// compile takes it (see the `compiler` module).
    pub fn warm_baseline(&self, metering: Metering) -> Result<(), ComponentError> {
        let flavor = self.flavor(metering, Tier::Baseline)?;
        let program = compiler::program(&self.inner.config)?;
        compiler::keep_compiler_warm(
            &program,
            &self.inner.config,
            metering,
            &engine_id(&flavor.engine),
        )
    }

    /// Compiles untrusted `bytes` (or finds them already compiled): see
    /// [`Self::compile_as`] with [`Trust::Untrusted`].
    pub fn compile(&self, bytes: &[u8], metering: Metering) -> Result<Compiled, ComponentError> {
        self.compile_as(bytes, metering, Trust::Untrusted)
    }

    /// Compiles bytes the host produced itself in this process (or finds
    /// them already compiled): see [`Trust::Own`].
    pub fn compile_own(
        &self,
        bytes: &[u8],
        metering: Metering,
    ) -> Result<Compiled, ComponentError> {
        self.compile_as(bytes, metering, Trust::Own)
    }

    /// The one path every component takes into the runtime: memory, then
    /// the disk cache, then a compile (in a compile child unless `trust`
    /// is [`Trust::Own`]). Fails with [`ComponentError::CompileLimit`] when
    /// a compile limit stops it, [`ComponentError::Malformed`] when the
    /// bytes are not a valid component.
    pub fn compile_as(
        &self,
        bytes: &[u8],
        metering: Metering,
        trust: Trust,
    ) -> Result<Compiled, ComponentError> {
        self.compile_tier(bytes, metering, trust, Tier::Optimized)
    }

    /// [`Self::compile_as`] with the compiler of `tier`.
    pub fn compile_tier(
        &self,
        bytes: &[u8],
        metering: Metering,
        trust: Trust,
        tier: Tier,
    ) -> Result<Compiled, ComponentError> {
        sniff(bytes)?;
        let limits = &self.inner.config.compile;
        if trust == Trust::Untrusted && bytes.len() as u64 > limits.max_bytes {
            return Err(ComponentError::CompileLimit(CompileLimit::Size {
                limit_bytes: limits.max_bytes,
                actual_bytes: bytes.len() as u64,
            }));
        }
        let hash = content_hash(bytes);
        let flavor = self.flavor(metering, tier)?;
        // Compile outside any lock: different submissions compile in
        // parallel. Two threads racing on the same new bytes both compile
        // once; the memory set keeps the first.
        let (component, lease, origin) = if let Some((c, lease)) = flavor.compiled.get(&hash) {
            (c, lease, Origin::Memory)
        } else {
            let cached = match &flavor.cache {
                Some(cache) => cache.load(&flavor.engine, &hash)?,
                None => None,
            };
            let (c, origin) = match cached {
                Some(c) => (c, Origin::DiskCache),
                None => (
                    self.build(flavor, bytes, &hash, metering, tier, trust)?,
                    Origin::Compiled,
                ),
            };
            let (c, lease) = flavor.compiled.insert(&hash, c);
            (c, lease, origin)
        };
        Ok(Compiled {
            component,
            hash,
            origin,
            metering,
            tier,
            runtime: self.clone(),
            _lease: lease,
        })
    }

    /// Compiles bytes found in no cache.
    fn build(
        &self,
        flavor: &Flavor,
        bytes: &[u8],
        hash: &str,
        metering: Metering,
        tier: Tier,
        trust: Trust,
    ) -> Result<Component, ComponentError> {
        if trust == Trust::Own {
            let c = Component::from_binary(&flavor.engine, bytes).map_err(|err| {
                ComponentError::Malformed {
                    reason: one_line(&err),
                }
            })?;
            if let Some(cache) = &flavor.cache {
                cache.store(hash, &c, &self.in_use());
            }
            return Ok(c);
        }
        let program = compiler::program(&self.inner.config)?;
        // Without a cache the artifact goes to a private temp dir of its
        // own, removed when this compile ends: a dir kept for the runtime's
        // life would outlive every process that never drops its runtime
        // (one held in a static, one killed), one dir each.
        let scratch;
        let dir = match &flavor.cache {
            Some(cache) => cache.private_dir()?.to_path_buf(),
            None => {
                scratch = scratch_dir()?;
                scratch.path().to_path_buf()
            }
        };
        let artifact =
            tempfile::NamedTempFile::new_in(&dir).map_err(|source| ComponentError::Io {
                path: dir.clone(),
                source,
            })?;
        let engine_id = engine_id(&flavor.engine);
        let started = Instant::now();
        compiler::compile_in_child(&compiler::Job {
            program: &program,
            config: &self.inner.config,
            metering,
            tier,
            engine_id: &engine_id,
            bytes,
            out: artifact.path(),
        })?;
        let compiled = started.elapsed();
        let component = match &flavor.cache {
            Some(cache) => {
                let path = cache.adopt(artifact, hash, &self.in_use())?;
                load_artifact(&flavor.engine, &path)
            }
            // The mapping outlives the file, which the drop removes.
            None => load_artifact(&flavor.engine, artifact.path()),
        }?;
        tracing::debug!(
            ?tier,
            child = ?compiled,
            load = ?(started.elapsed().saturating_sub(compiled)),
            "compiled in a child"
        );
        Ok(component)
    }

    /// Hashes of the components something built from this runtime still
    /// uses (never evicted from memory or disk).
    fn in_use(&self) -> HashSet<String> {
        self.flavors().flat_map(|f| f.compiled.in_use()).collect()
    }

    /// Bytes of compiled code this runtime keeps in memory (every engine),
    /// and how many components that is.
    pub fn resident_usage(&self) -> (u64, usize) {
        self.flavors()
            .map(|f| f.compiled.usage())
            .fold((0, 0), |(b, c), (fb, fc)| (b + fb, c + fc))
    }

    /// Reads a component file, refusing anything but a regular file within
    /// the compile size limit (see [`read_component_file`]).
    pub fn read_component(&self, path: &Path) -> Result<Vec<u8>, ComponentError> {
        read_component_file(path, self.inner.config.compile.max_bytes)
    }

    /// The limits untrusted bytes are compiled under (`[host.compile]`).
    pub fn compile_limits(&self) -> &CompileLimits {
        &self.inner.config.compile
    }

    /// Reads and compiles an untrusted file.
    pub fn compile_file(
        &self,
        path: &Path,
        metering: Metering,
    ) -> Result<Compiled, ComponentError> {
        let bytes = self.read_component(path)?;
        self.compile(&bytes, metering)
    }

    /// Compiles and links untrusted bytes in one step.
    pub fn prepare(&self, bytes: &[u8], metering: Metering) -> Result<Prepared, ComponentError> {
        self.compile(bytes, metering)?.prepare()
    }

    /// Compiles and links bytes the host produced itself ([`Trust::Own`]).
    pub fn prepare_own(
        &self,
        bytes: &[u8],
        metering: Metering,
    ) -> Result<Prepared, ComponentError> {
        self.compile_own(bytes, metering)?.prepare()
    }
}

/// A private temp dir for one compile child's artifact (mode 0700, so no
/// other user can swap the file between the child's write and the load).
fn scratch_dir() -> Result<tempfile::TempDir, ComponentError> {
    tempfile::Builder::new()
        .prefix("warden-compile-")
        .tempdir()
        .map_err(|e| ComponentError::Compiler {
            reason: format!("cannot create a private temp dir for compiling: {e}"),
        })
}

/// Loads an artifact a compile child wrote.
// One of the two places the workspace allows `unsafe`: wasmtime's
// `deserialize_file` trusts the file to be its own output.
#[allow(unsafe_code)]
fn load_artifact(engine: &Engine, path: &Path) -> Result<Component, ComponentError> {
    // SAFETY: the file was written by a compile child of this same binary
    // from `Component::serialize`, on an engine whose id it checked against
    // ours, into a directory only this user can write (the checked cache
    // directory or a private temp dir).
    unsafe { Component::deserialize_file(engine, path) }.map_err(|err| ComponentError::Compiler {
        reason: format!("cannot load the compiled component: {}", one_line(&err)),
    })
}

impl Compiled {
    /// The engine the code belongs to (for type lookups and Stores).
    pub(crate) fn engine(&self) -> &Engine {
        self.component.engine()
    }

    /// Links the component against the host's imports (WASI p2 and
    /// `warden:plugin/host`). Fails when it imports anything else.
    pub fn prepare(self) -> Result<Prepared, ComponentError> {
        let flavor = self.runtime.flavor(self.metering, self.tier)?;
        let pre = flavor
            .linker
            .instantiate_pre(&self.component)
            .map_err(|err| ComponentError::Unlinkable {
                reason: one_line(&err),
            })?;
        let defines = self.component.resources_required().map(|r| Defines {
            memories: r.num_memories as usize,
            tables: r.num_tables as usize,
        });
        Ok(Prepared {
            compiled: self,
            pre,
            defines,
        })
    }
}

impl Prepared {
    /// The component linked for actors, whose calls run on fibers.
    pub(crate) fn link_for_fibers(&self) -> Result<InstancePre<GuestState>, ComponentError> {
        let flavor = self
            .compiled
            .runtime
            .flavor(self.compiled.metering, self.compiled.tier)?;
        flavor
            .actor_linker
            .instantiate_pre(&self.compiled.component)
            .map_err(|err| ComponentError::Unlinkable {
                reason: one_line(&err),
            })
    }

    /// SHA-256 of the component's bytes, hex: the identity of a version
    /// in reload history, events and caches.
    pub fn hash(&self) -> &str {
        &self.compiled.hash
    }

    /// Whether the code counts fuel: a sandbox refuses a fuel budget for
    /// code compiled with [`Metering::Off`], where it would not apply.
    pub fn metering(&self) -> Metering {
        self.compiled.metering
    }

    /// Which compiler made the code.
    pub fn tier(&self) -> Tier {
        self.compiled.tier
    }

    /// The runtime that compiled it, whose epoch ticker and root
    /// interrupt every sandbox of it runs under.
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.compiled.runtime
    }
}

/// The largest linear memory this host runs: 32-bit memories (memory64
/// is off) cannot be larger, so reserving more is waste.
const LARGEST_MEMORY: u64 = 4 << 30;

/// The reservation of a runtime not sized for a limit: the default
/// memory limit.
const DEFAULT_RESERVATION: u64 = 64 << 20;

/// Room reserved after a memory that outgrew its reservation is moved.
const GROWTH_AFTER_MOVE: u64 = 256 << 20;

/// `bytes` rounded up to whole wasm pages, at most [`LARGEST_MEMORY`].
fn round_to_page(bytes: u64) -> u64 {
    const PAGE: u64 = 64 << 10;
    bytes
        .div_ceil(PAGE)
        .saturating_mul(PAGE)
        .min(LARGEST_MEMORY)
}

/// Core instances one pooled component instance may hold: a Rust guest
/// uses 3 or 4 (its module and the shims that wire up its imports), an
/// interpreter built by componentize-py more. A core instance slot is only
/// a counter, not reserved memory, so this can be generous.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// Bytes of each pooled linear memory reset with `memset` rather than
/// `madvise` when its slot is freed: enough for the stack, data and first
/// heap pages a small guest touches.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// The engine of `metering` and `tier` for `config`, compiling exactly as
/// a runtime's does: what a compile child compiles with. It has no
/// instance allocator of its own (a pool would reserve address space for
/// every slot in a process that never instantiates) and no linker: the
/// engine id, which covers everything that shapes the machine code, is
/// the same.
pub(crate) fn compile_engine(
    config: &RuntimeConfig,
    metering: Metering,
    tier: Tier,
) -> Result<Engine, ComponentError> {
    new_engine(&wasm_config(config, metering, tier, Allocator::OnDemand))
}

/// The engine a runtime of `config` runs `metering` and `tier` code on,
/// pool included: what [`compile_engine`]'s artifacts must load into.
#[cfg(test)]
pub(crate) fn host_engine(
    config: &RuntimeConfig,
    metering: Metering,
    tier: Tier,
) -> Result<Engine, ComponentError> {
    Flavor::new(config, metering, tier).map(|flavor| flavor.engine)
}

impl Inner {
    /// Every engine built so far: the plain one and those built on use.
    fn flavors(&self) -> impl Iterator<Item = &Flavor> {
        let lazy = [&self.metered, &self.baseline, &self.baseline_metered];
        std::iter::once(&self.plain).chain(
            lazy.into_iter()
                .filter_map(|l| l.get().and_then(|f| f.as_ref().ok())),
        )
    }
}

/// The stacks of dropped actors' Stores, for the next ones: one shelf for
/// the process, since every engine's stacks have the same size.
static STACK_SHELF: std::sync::LazyLock<Arc<crate::fiber_stacks::StackShelf>> =
    std::sync::LazyLock::new(Arc::default);

/// Which instance allocator an engine gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Allocator {
    /// The pool of `RuntimeConfig::pooling`, when set.
    AsConfigured,
    /// On demand whatever the config says (an engine that only compiles).
    OnDemand,
}

/// The wasmtime config of an engine of `metering` and `tier` for `config`.
fn wasm_config(
    config: &RuntimeConfig,
    metering: Metering,
    tier: Tier,
    allocator: Allocator,
) -> Config {
    let pool_memory = config
        .pooling
        .map(|pool| round_to_page(u64::try_from(pool.max_memory_bytes).unwrap_or(u64::MAX)));
    // The pool's slots must fit in the reservation.
    let reservation = round_to_page(config.memory_reservation).max(pool_memory.unwrap_or(0));
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        .consume_fuel(metering == Metering::Fuel)
        .memory_reservation(reservation)
        .memory_guard_size(2 << 20)
        // Only a memory that outgrows the reservation (a call whose
        // limit is above the one the runtime was sized for) moves, and
        // every move copies it: leave room for a lot of growth after
        // it, so growing to 1 GiB moves a few times, not on each grow.
        .memory_reservation_for_growth(reservation.max(GROWTH_AFTER_MOVE))
        // Guests must not be able to exhaust the host thread's stack.
        .max_wasm_stack(1 << 20);
    // A trap's wasm backtrace costs a few microseconds to capture and
    // render on every trap, a restart's largest share; Rust guests print
    // their panic's message and location anyway.
    wasm.wasm_backtrace_max_frames(
        config
            .wasm_backtraces
            .then_some(WASM_BACKTRACE_FRAMES)
            .flatten(),
    );
    // Same limits, other compiler: the engine id (and so the cache
    // directory and the compile child's engine check) differs.
    wasm.strategy(match tier {
        Tier::Baseline => Strategy::Winch,
        Tier::Optimized => Strategy::Cranelift,
    });
    if tier == Tier::Baseline {
        // Under Winch, Cranelift still compiles the trampolines between
        // the host and the guest (one per lowered import and per exported
        // function type): unoptimized, they cost a little per call for the
        // moment the baseline code serves, and compile faster while a hot
        // reload waits for them. Winch itself has no optimization level.
        // A profile of the baseline compile child showed these tiny
        // functions taking more than twice Winch's time, a fifth of it
        // in the backtracking register allocator: the single-pass one is
        // linear and plenty for a trampoline.
        wasm.cranelift_opt_level(OptLevel::None)
            .cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
    }
    // Actors' fiber stacks: from the pool when there is one, else
    // recycled through the process's shelf (see `fiber_stacks`).
    wasm.with_host_stack(Arc::new(crate::fiber_stacks::Stacks(STACK_SHELF.clone())));
    if let (Some(pool), Some(pool_memory), Allocator::AsConfigured) =
        (config.pooling, pool_memory, allocator)
    {
        let mut p = PoolingAllocationConfig::default();
        p.total_component_instances(pool.instances)
            .total_core_instances(pool.instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(pool.instances)
            .total_tables(pool.instances.saturating_mul(2))
            .max_memory_size(usize::try_from(pool_memory).unwrap_or(usize::MAX))
            .max_memories_per_component(2)
            .max_tables_per_component(4)
            // Every actor keeps the fiber stack of its last call.
            .total_stacks(pool.instances)
            // Reset a slot's first pages with memset instead of
            // madvise: each madvise flushes the TLB of every core
            // running the host (an IPI, a VM exit under a hypervisor),
            // which dominated short instances (`warden bench api`).
            .linear_memory_keep_resident(pool.keep_resident_bytes.unwrap_or(KEEP_RESIDENT_BYTES))
            // An interpreter's function tables hold thousands of
            // entries; a small guest's a few.
            .table_keep_resident(if pool.keep_resident_bytes.is_some() {
                1 << 20
            } else {
                64 << 10
            });
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    wasm
}

fn new_engine(wasm: &Config) -> Result<Engine, ComponentError> {
    Engine::new(wasm).map_err(|err| ComponentError::Instantiation {
        reason: format!("cannot build the wasm engine: {}", one_line(&err)),
    })
}

impl Flavor {
    fn new(config: &RuntimeConfig, metering: Metering, tier: Tier) -> Result<Self, ComponentError> {
        let engine = new_engine(&wasm_config(
            config,
            metering,
            tier,
            Allocator::AsConfigured,
        ))?;
        let linker = build_linker(&engine, Calls::Blocking);
        let actor_linker = build_linker(&engine, Calls::OnFibers);
        let (linker, actor_linker) =
            linker.and_then(|l| Ok((l, actor_linker?))).map_err(|err| {
                ComponentError::Instantiation {
                    reason: format!("cannot build the linker: {}", one_line(&err)),
                }
            })?;
        let cache = config
            .cache_dir
            .as_deref()
            .filter(|_| tier == Tier::Optimized)
            .map(|dir| CompileCache::new(dir, &engine, config.cache_budget.disk_bytes));
        Ok(Self {
            engine,
            linker,
            actor_linker,
            cache,
            compiled: Resident::new(config.cache_budget.memory_bytes),
        })
    }
}

/// The linker for guests called `calls`' way.
fn build_linker(engine: &Engine, calls: Calls) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    match calls {
        Calls::Blocking => wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?,
        Calls::OnFibers => wasmtime_wasi::p2::add_to_linker_async(&mut linker)?,
    }
    crate::clock_guard::shadow_sleeps(&mut linker)?;
    bindings::actor::ActorPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Advances every engine's epoch once per tick until the runtime is gone.
fn spawn_ticker(inner: Weak<Inner>, tick: Duration) {
    let spawned = std::thread::Builder::new()
        .name("warden-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                let Some(inner) = inner.upgrade() else { break };
                for flavor in inner.flavors() {
                    flavor.engine.increment_epoch();
                }
                // Off the threads that drop Stores, which a mass stop keeps busy.
                STACK_SHELF.trim(crate::fiber_stacks::UNWANTED_QUIET);
            }
        });
    if let Err(err) = spawned {
        // Without a ticker timeouts cannot fire; say so loudly but keep
        // serving (calls without a timeout still work).
        tracing::error!(error = %err, "cannot start the epoch ticker: wall-clock timeouts are disabled");
    }
}

/// Tells a core module, a component and non-wasm apart from the header.
fn sniff(bytes: &[u8]) -> Result<(), ComponentError> {
    const MAGIC: &[u8; 4] = b"\0asm";
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if bytes.is_empty() {
        return Err(ComponentError::NotWasm {
            reason: "the file is empty".into(),
        });
    }
    if head != &MAGIC[..head.len()] {
        return Err(ComponentError::NotWasm {
            reason: "it does not start with the WebAssembly magic bytes `\\0asm`".into(),
        });
    }
    if bytes.len() < 8 {
        return Err(ComponentError::NotWasm {
            reason: format!(
                "it is truncated: {} bytes, where the WebAssembly header alone (magic `\\0asm` and version) takes 8",
                bytes.len()
            ),
        });
    }
    match &bytes[4..8] {
        [1, 0, 0, 0] => Err(ComponentError::NotAComponent),
        [_, _, 1, 0] => Ok(()),
        other => Err(ComponentError::NotWasm {
            reason: format!("unknown WebAssembly version/layer {other:?}"),
        }),
    }
}

/// wasmtime errors carry a context chain; a user wants the outermost
/// message and the root cause on one line.
pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    let top = err.to_string();
    let root = err.root_cause().to_string();
    let text = if root == top || top.contains(&root) {
        top
    } else {
        format!("{top}: {root}")
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sniff_tells_formats_apart() {
        assert!(matches!(sniff(b""), Err(ComponentError::NotWasm { .. })));
        assert!(matches!(
            sniff(b"hello world"),
            Err(ComponentError::NotWasm { .. })
        ));
        assert!(matches!(
            sniff(b"\0asm\x01\0\0\0"),
            Err(ComponentError::NotAComponent)
        ));
        assert!(sniff(b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn reservations_are_whole_pages_and_at_most_4_gib() {
        assert_eq!(round_to_page(1), 64 << 10);
        assert_eq!(round_to_page(64 << 20), 64 << 20);
        assert_eq!(round_to_page((64 << 20) + 1), (64 << 20) + (64 << 10));
        assert_eq!(round_to_page(u64::MAX), LARGEST_MEMORY);
    }

    #[test]
    fn runtimes_are_sized_in_powers_of_two_from_64_mib_to_4_gib() {
        let sized = |limit: usize| {
            RuntimeConfig::default()
                .for_memory_limit(limit)
                .memory_reservation
        };
        assert_eq!(sized(4 << 20), 64 << 20);
        assert_eq!(sized(64 << 20), 64 << 20);
        assert_eq!(sized((64 << 20) + 1), 128 << 20);
        assert_eq!(sized(1 << 30), 1 << 30);
        assert_eq!(sized(usize::MAX), 4 << 30);
    }

    #[test]
    fn only_kernels_with_pagemap_scan_keep_whole_slots() {
        for (release, has) in [
            ("6.18.44-fc-v1272", true),
            ("6.7.0", true),
            ("7.0.1-arch1", true),
            ("6.6.58-generic", false),
            ("5.15.0-91-generic", false),
            ("", false),
            ("linux", false),
        ] {
            assert_eq!(release_has_pagemap_scan(release), has, "{release}");
        }
        let pool = PoolingConfig::new(4, 128 << 20).keep_whole_slot();
        let expected = pagemap_scan_available().then_some(128 << 20);
        assert_eq!(pool.keep_resident_bytes, expected);
        assert!(
            Runtime::new(RuntimeConfig {
                pooling: Some(pool),
                ..RuntimeConfig::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn a_pool_of_memories_larger_than_the_reservation_still_builds() {
        // The pool's slots must fit in the reservation: it is raised to
        // the pool's memory size instead of the engine refusing to build.
        let runtime = Runtime::new(RuntimeConfig {
            pooling: Some(PoolingConfig::new(4, 256 << 20)),
            ..RuntimeConfig::default()
        });
        assert!(runtime.is_ok(), "{:?}", runtime.err());
    }

    #[test]
    fn the_magic_bytes_alone_are_called_truncated_not_foreign() {
        for short in [&b"\0asm"[..], b"\0as", b"\0asm\x0d\0"] {
            let err = sniff(short).unwrap_err().to_string();
            assert!(err.contains("truncated"), "{err}");
            assert!(!err.contains("does not start"), "{err}");
        }
        let err = sniff(b"\0b").unwrap_err().to_string();
        assert!(err.contains("does not start"), "{err}");
    }
}
