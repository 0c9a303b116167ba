//! The runtime: wasmtime engines, the linker, the epoch ticker, and loading
//! components (with the compile cache).
//!
//! One [`Runtime`] per host. It owns up to two engines, because fuel
//! metering is compiled into the machine code and costs 1.5–2× on tight
//! loops: children that ask for no fuel budget run on the plain engine, and
//! the metered engine is built the first time something asks for fuel
//! (grading, `warden call --fuel`). Both engines interrupt on epochs, which
//! one background thread advances every tick; that is what enforces
//! wall-clock timeouts.
//!
//! Guarantees: a component's bytes are compiled at most once per engine
//! (memory map, then disk cache); nothing here panics on guest input.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::component::bindings;
use crate::component::cache::CompileCache;
use crate::component::error::ComponentError;
use crate::component::sandbox::GuestState;

/// How a [`Runtime`] is built.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached. By default none (compile
    /// every time a process starts).
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances: the resolution of wall-clock
    /// timeouts. By default 5 ms.
    pub epoch_tick: Duration,
    /// Virtual address space reserved per linear memory. Keeping it near
    /// the largest memory limit lets thousands of instances coexist
    /// without reserving 4 GiB each. By default 64 MiB.
    pub memory_reservation: u64,
    /// Use the pooling allocator with this many instance slots. By default
    /// off (on-demand allocation).
    pub pooling: Option<PoolingConfig>,
}

/// Sizing of the pooling allocator. It reserves address space for every
/// slot up front, so size it from the number of children expected.
#[derive(Debug, Clone, Copy)]
pub struct PoolingConfig {
    /// Concurrent instances (component instances and their core instances).
    pub instances: u32,
    /// Largest linear memory of one instance, in bytes.
    pub max_memory_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(5),
            memory_reservation: 64 << 20,
            pooling: None,
        }
    }
}

/// Whether calls are metered with fuel (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metering {
    /// No fuel instrumentation: fastest.
    Off,
    /// Fuel instrumentation: deterministic CPU budgets.
    Fuel,
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
}

/// One engine with everything built for it.
struct Flavor {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: Option<CompileCache>,
    compiled: Mutex<HashMap<String, Component>>,
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
    pub component: Component,
    /// SHA-256 of the component's bytes, hex.
    pub hash: String,
    pub origin: Origin,
    pub metering: Metering,
    pub(crate) runtime: Runtime,
}

/// A compiled and linked component: new instances come from here, cheaply.
#[derive(Clone)]
pub struct Prepared {
    pub compiled: Compiled,
    pub(crate) pre: InstancePre<GuestState>,
}

impl Runtime {
    /// Builds the plain engine and linker and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, ComponentError> {
        let plain = Flavor::new(&config, Metering::Off)?;
        let inner = Arc::new(Inner {
            config,
            plain,
            metered: OnceLock::new(),
        });
        spawn_ticker(Arc::downgrade(&inner), inner.config.epoch_tick);
        Ok(Self { inner })
    }

    /// The epoch period: wall-clock timeouts are accurate to one tick.
    pub fn epoch_tick(&self) -> Duration {
        self.inner.config.epoch_tick
    }

    pub fn engine(&self, metering: Metering) -> Result<&Engine, ComponentError> {
        Ok(&self.flavor(metering)?.engine)
    }

    fn flavor(&self, metering: Metering) -> Result<&Flavor, ComponentError> {
        match metering {
            Metering::Off => Ok(&self.inner.plain),
            Metering::Fuel => self
                .inner
                .metered
                .get_or_init(|| {
                    Flavor::new(&self.inner.config, Metering::Fuel).map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(|reason| ComponentError::Instantiation {
                    reason: reason.clone(),
                }),
        }
    }

    /// Compiles `bytes` (or finds them already compiled).
    pub fn compile(&self, bytes: &[u8], metering: Metering) -> Result<Compiled, ComponentError> {
        sniff(bytes)?;
        let hash = hex::encode(Sha256::digest(bytes));
        let flavor = self.flavor(metering)?;
        let known = flavor.compiled_lock().get(&hash).cloned();
        // Compile outside the lock: different submissions compile in parallel.
        // Two threads racing on the same new bytes both compile once; the
        // map keeps one result.
        let (component, origin) = if let Some(c) = known {
            (c, Origin::Memory)
        } else if let Some(c) = flavor
            .cache
            .as_ref()
            .and_then(|cache| cache.load(&flavor.engine, &hash))
        {
            (c, Origin::DiskCache)
        } else {
            let c =
                Component::new(&flavor.engine, bytes).map_err(|err| ComponentError::Malformed {
                    reason: one_line(&err),
                })?;
            if let Some(cache) = &flavor.cache {
                cache.store(&hash, &c);
            }
            (c, Origin::Compiled)
        };
        if origin != Origin::Memory {
            flavor
                .compiled_lock()
                .insert(hash.clone(), component.clone());
        }
        Ok(Compiled {
            component,
            hash,
            origin,
            metering,
            runtime: self.clone(),
        })
    }

    /// Reads and compiles a file.
    pub fn compile_file(
        &self,
        path: &std::path::Path,
        metering: Metering,
    ) -> Result<Compiled, ComponentError> {
        let bytes = std::fs::read(path).map_err(|source| ComponentError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.compile(&bytes, metering)
    }

    /// Compiles and links in one step.
    pub fn prepare(&self, bytes: &[u8], metering: Metering) -> Result<Prepared, ComponentError> {
        self.compile(bytes, metering)?.prepare()
    }
}

impl Compiled {
    pub fn engine(&self) -> &Engine {
        self.component.engine()
    }

    /// Links the component against the host's imports (WASI p2 and
    /// `warden:plugin/host`). Fails when it imports anything else.
    pub fn prepare(self) -> Result<Prepared, ComponentError> {
        let flavor = self.runtime.flavor(self.metering)?;
        let pre = flavor
            .linker
            .instantiate_pre(&self.component)
            .map_err(|err| ComponentError::Instantiation {
                reason: one_line(&err),
            })?;
        Ok(Prepared {
            compiled: self,
            pre,
        })
    }
}

impl Prepared {
    pub fn hash(&self) -> &str {
        &self.compiled.hash
    }

    pub fn metering(&self) -> Metering {
        self.compiled.metering
    }

    pub fn runtime(&self) -> &Runtime {
        &self.compiled.runtime
    }
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

impl Flavor {
    fn compiled_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new(config: &RuntimeConfig, metering: Metering) -> Result<Self, ComponentError> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(true)
            .consume_fuel(metering == Metering::Fuel)
            .memory_reservation(config.memory_reservation)
            .memory_guard_size(2 << 20)
            .memory_reservation_for_growth(1 << 20)
            // Guests must not be able to exhaust the host thread's stack.
            .max_wasm_stack(1 << 20);
        if let Some(pool) = config.pooling {
            let mut p = PoolingAllocationConfig::default();
            p.total_component_instances(pool.instances)
                .total_core_instances(pool.instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
                .total_memories(pool.instances)
                .total_tables(pool.instances.saturating_mul(2))
                .max_memory_size(pool.max_memory_bytes)
                .max_memories_per_component(2)
                .max_tables_per_component(4)
                .total_stacks(0)
                // Reset a slot's first pages with memset instead of
                // madvise: each madvise flushes the TLB of every core
                // running the host (an IPI, a VM exit under a hypervisor),
                // which dominated short instances (`warden bench api`).
                .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                .table_keep_resident(64 << 10);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        }
        let engine = Engine::new(&wasm).map_err(|err| ComponentError::Instantiation {
            reason: format!("cannot build the wasm engine: {}", one_line(&err)),
        })?;
        let linker = build_linker(&engine).map_err(|err| ComponentError::Instantiation {
            reason: format!("cannot build the linker: {}", one_line(&err)),
        })?;
        let cache = config
            .cache_dir
            .as_deref()
            .map(|dir| CompileCache::new(dir, &engine));
        Ok(Self {
            engine,
            linker,
            cache,
            compiled: Mutex::new(HashMap::new()),
        })
    }
}

fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    crate::component::clock_guard::shadow_sleeps(&mut linker)?;
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
                inner.plain.engine.increment_epoch();
                if let Some(Ok(metered)) = inner.metered.get() {
                    metered.engine.increment_epoch();
                }
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
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(ComponentError::NotWasm {
            reason: if bytes.is_empty() {
                "the file is empty".into()
            } else {
                "it does not start with the WebAssembly magic bytes `\\0asm`".into()
            },
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
}
