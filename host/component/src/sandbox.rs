//! One sandboxed instance: a wasmtime `Store` with its limits, capabilities
//! and captured output, and the single place where guest failures are
//! turned into [`ComponentError`]s.
//!
//! Invariants:
//! - every call (instantiation included) runs with the fuel budget and the
//!   epoch deadline set fresh, so a new Store never starts at zero fuel or
//!   an expired deadline;
//! - after any failure inside the guest the sandbox is poisoned and refuses
//!   further calls: wasmtime does not allow re-entering an instance that
//!   trapped, and a half-updated guest state must not be trusted anyway.
//!   A new incarnation is a new `Sandbox` from the same [`Prepared`].
//!
//! A sandbox is called one of two ways, fixed when it is made:
//! - **blocking** ([`Sandbox::new`]): each call holds the calling thread
//!   until the guest returns (operations, grading, one-off calls);
//! - **on fibers** ([`Sandbox::new_on_fibers`], actors): each call is a
//!   future that runs the guest on a fiber of its own and, once per epoch
//!   tick, yields to the async runtime that polls it, so a guest that
//!   computes for long shares its thread with the host's other tasks
//!   instead of holding it; a guest's sleep waits on the runtime's timer.

use std::time::{Duration, Instant};

use warden_clock::millis;
use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, ResourceTable, Val};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::caps::Capabilities;
use crate::capture::{Capture, CapturedText};
use crate::engine::{Metering, Prepared};
use crate::error::ComponentError;
use crate::host_iface::HostContext;
use crate::interrupt::Interrupt;
use crate::limits::{Held, Limits, MAX_MEMORIES, MAX_TABLES, MemoryLimiter, Refusal};

/// The data every guest's Store carries.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    stdout: Capture,
    stderr: Capture,
    pub(crate) host: HostContext,
    /// Start of the guest's monotonic clock; `None` when frozen.
    clock_base: Option<Instant>,
    /// When the running call's wall-clock budget ends.
    call_deadline: Option<Instant>,
    /// Fired from another thread to stop the running call: this
    /// sandbox's kill switch, its caller's scope or the runtime's root.
    interrupt: Interrupt,
}

impl GuestState {
    /// The guest's monotonic clock reading, in nanoseconds.
    pub(crate) fn monotonic_now(&self) -> u64 {
        self.clock_base
            .map_or(0, |base| base.elapsed().as_nanos() as u64)
    }

    pub(crate) fn call_deadline(&self) -> Option<Instant> {
        self.call_deadline
    }

    /// What stops this guest's calls (host sleeps on its behalf watch it).
    pub(crate) fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A live instance under limits.
pub struct Sandbox {
    store: Store<GuestState>,
    instance: Instance,
    prepared: Prepared,
    limits: Limits,
    poisoned: bool,
    /// Fuel every call so far burned (fuel-metered code only).
    fuel_used: u64,
}

/// Stops a sandbox from another thread (see [`Sandbox::kill_switch`]).
#[derive(Clone, Debug)]
pub struct KillSwitch(Interrupt);

impl KillSwitch {
    /// Stops the sandbox's running call within one epoch tick (it fails
    /// with [`ComponentError::Killed`]), and every later call as soon as
    /// it starts. Permanent; never blocks.
    pub fn kill(&self) {
        self.0.fire();
    }
}

/// What a call produced besides its values.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallReport {
    /// What the guest wrote to stdout, within the output limit.
    pub stdout: CapturedText,
    /// What the guest wrote to stderr, within the output limit.
    pub stderr: CapturedText,
    /// Fuel consumed, when the call was metered.
    pub fuel_used: Option<u64>,
    /// Wall-clock time the call took, from arming its limits to taking
    /// this report.
    pub duration: Duration,
}

/// A frozen wall clock at the Unix epoch: guests see no real time unless
/// granted, which keeps runs reproducible.
struct FrozenClock;

/// The real monotonic clock, counted from a base the host also knows (the
/// sleep guard needs the guest's notion of "now").
struct MonotonicSince(Instant);

impl wasmtime_wasi::HostMonotonicClock for MonotonicSince {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl Sandbox {
    /// Instantiates `prepared` in a fresh Store. Its calls stop when its
    /// kill switch is flipped or its runtime interrupts every guest
    /// ([`Runtime::interrupt_all`](crate::Runtime::interrupt_all)).
    pub fn new(
        prepared: &Prepared,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
    ) -> Result<Self, ComponentError> {
        let interrupt = prepared.runtime().root_interrupt().child();
        Self::build(prepared, limits, caps, host, interrupt)
    }

    /// [`Sandbox::new`], whose calls also stop once `scope` is fired (its
    /// caller went away, the host is stopping): instantiation included.
    pub fn new_under(
        prepared: &Prepared,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        scope: &Interrupt,
    ) -> Result<Self, ComponentError> {
        let interrupt = scope.child_of_either(prepared.runtime().root_interrupt());
        Self::build(prepared, limits, caps, host, interrupt)
    }

    /// An instance whose calls run on fibers (see the module doc): `pre`
    /// is `prepared` linked for them
    /// ([`Prepared::link_for_fibers`](crate::engine::Prepared)). Its calls
    /// also stop once `scope` is fired, instantiation included.
    pub(crate) async fn new_on_fibers(
        prepared: &Prepared,
        pre: &InstancePre<GuestState>,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        scope: &Interrupt,
    ) -> Result<Self, ComponentError> {
        let interrupt = scope.child_of_either(prepared.runtime().root_interrupt());
        let mut store = new_store(prepared, limits, caps, host, interrupt, Calls::OnFibers)?;
        let instantiated = pre.instantiate_async(&mut store).await;
        Self::instantiated(store, instantiated, prepared, limits)
    }

    fn build(
        prepared: &Prepared,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        interrupt: Interrupt,
    ) -> Result<Self, ComponentError> {
        let mut store = new_store(prepared, limits, caps, host, interrupt, Calls::Blocking)?;
        let instantiated = prepared.pre.instantiate(&mut store);
        Self::instantiated(store, instantiated, prepared, limits)
    }

    /// The sandbox around a finished instantiation, or why it failed.
    fn instantiated(
        mut store: Store<GuestState>,
        instantiated: wasmtime::Result<Instance>,
        prepared: &Prepared,
        limits: &Limits,
    ) -> Result<Self, ComponentError> {
        store.data_mut().limiter.set_instantiating(false);
        let instance = match instantiated {
            Ok(instance) => instance,
            Err(err) => {
                if let Some(reason) = crate::map_limit::diagnose(&err) {
                    return Err(ComponentError::Instantiation { reason });
                }
                return Err(match classify(&store, limits, err) {
                    ComponentError::Trap { message, .. } => {
                        ComponentError::Instantiation { reason: message }
                    }
                    other => other,
                });
            }
        };
        let fuel_used = match prepared.metering() {
            Metering::Fuel => limits
                .fuel
                .unwrap_or(u64::MAX)
                .saturating_sub(store.get_fuel().unwrap_or(0)),
            Metering::Off => 0,
        };
        Ok(Self {
            store,
            instance,
            prepared: prepared.clone(),
            limits: limits.clone(),
            poisoned: false,
            fuel_used,
        })
    }

    /// Memory the instance holds now, in bytes: all its linear memories
    /// and tables, as its memory limit counts them.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().limiter.used_bytes()
    }

    /// How many requests for memory (growing a linear memory or a table)
    /// the memory limit refused so far.
    pub fn memory_refusals(&self) -> u64 {
        self.store.data().limiter.refusals()
    }

    /// Fuel this sandbox's calls burned so far (instantiation included);
    /// `None` for code compiled without fuel metering.
    pub fn fuel_used(&self) -> Option<u64> {
        self.fuel_budget().map(|_| self.fuel_used)
    }

    /// True after a failure: every further call returns `Poisoned`.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs `f` against the store under this sandbox's limits and
    /// classifies any failure. The building block for typed calls.
    pub(crate) fn run<R>(
        &mut self,
        f: impl FnOnce(&mut Store<GuestState>, Instance) -> wasmtime::Result<R>,
    ) -> Result<R, ComponentError> {
        self.begin_call()?;
        let outcome = f(&mut self.store, self.instance);
        self.end_call(outcome)
    }

    /// Before a call: refused when poisoned, else fuel and deadline set.
    /// [`Sandbox::end_call`] follows with the call's outcome; together they
    /// are [`Sandbox::run`], for calls awaited on fibers as well.
    pub(crate) fn begin_call(&mut self) -> Result<(), ComponentError> {
        if self.poisoned {
            return Err(ComponentError::Poisoned);
        }
        PreparedStore {
            store: &mut self.store,
            limits: &self.limits,
            metering: self.prepared.metering(),
        }
        .arm()
    }

    /// The Store a call begun with [`Sandbox::begin_call`] runs in.
    pub(crate) fn store_mut(&mut self) -> &mut Store<GuestState> {
        &mut self.store
    }

    /// After a call: fuel booked, a failure classified (and the sandbox
    /// poisoned).
    pub(crate) fn end_call<R>(
        &mut self,
        outcome: wasmtime::Result<R>,
    ) -> Result<R, ComponentError> {
        // `arm` set the budget fresh, so what is left tells what the call
        // burned, whether it succeeded or not.
        if let Some(budget) = self.fuel_budget() {
            let left = self.store.get_fuel().unwrap_or(0);
            self.fuel_used = self.fuel_used.saturating_add(budget.saturating_sub(left));
        }
        match outcome {
            Ok(value) => Ok(value),
            Err(err) => {
                self.poisoned = true;
                Err(classify(&self.store, &self.limits, err))
            }
        }
    }

    /// Calls an exported function with dynamically typed values; returns the
    /// outcome and what the call printed.
    pub fn call(
        &mut self,
        func: &ComponentExportIndex,
        params: &[Val],
        result_count: usize,
    ) -> (Result<Vec<Val>, ComponentError>, CallReport) {
        let started = Instant::now();
        let fuel_before = self.fuel_budget();
        let outcome = self.run(|store, instance| {
            let func = instance
                .get_func(&mut *store, func)
                .ok_or_else(|| wasmtime::format_err!("export is not a function"))?;
            let mut results = vec![Val::Bool(false); result_count];
            func.call(&mut *store, params, &mut results)?;
            Ok(results)
        });
        // The report is taken either way: a failed call's output (a panic
        // message, say) matters most.
        let report = self.take_report(started, fuel_before);
        (outcome, report)
    }

    /// Stdout/stderr of the last call(s), emptied, with timing and fuel.
    pub(crate) fn take_report(&mut self, started: Instant, fuel_before: Option<u64>) -> CallReport {
        let fuel_used = match (fuel_before, self.store.get_fuel().ok()) {
            (Some(before), Some(after)) => Some(before.saturating_sub(after)),
            _ => None,
        };
        let state = self.store.data();
        CallReport {
            stdout: state.stdout.take(),
            stderr: state.stderr.take(),
            fuel_used,
            duration: started.elapsed(),
        }
    }

    fn fuel_budget(&self) -> Option<u64> {
        match self.prepared.metering() {
            Metering::Fuel => Some(self.limits.fuel.unwrap_or(u64::MAX)),
            Metering::Off => None,
        }
    }

    /// A switch another thread can flip to stop this sandbox's running or
    /// next call; the call then fails with `Killed` within one epoch tick.
    pub fn kill_switch(&self) -> KillSwitch {
        KillSwitch(self.store.data().interrupt.clone())
    }

    /// The Store, for what its [`GuestState`] knows (the child's name).
    pub(crate) fn store(&self) -> &Store<GuestState> {
        &self.store
    }
}

/// How a sandbox's calls run (see the module doc); its Store and its
/// linker must agree.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Calls {
    /// `call` on a thread that may block (operations, grading, sandboxes).
    Blocking,
    /// `call_async` on a fiber (actors, see [`crate::actor`]).
    OnFibers,
}

/// A fresh Store for `prepared` under `limits`, armed for instantiation
/// (its memory limit counting what instantiating allocates as such).
fn new_store(
    prepared: &Prepared,
    limits: &Limits,
    caps: &Capabilities,
    host: HostContext,
    interrupt: Interrupt,
    calls: Calls,
) -> Result<Store<GuestState>, ComponentError> {
    check_fits(prepared, limits)?;
    let stdout = Capture::new(limits.output_bytes, limits.output_overflow);
    let stderr = Capture::new(limits.output_bytes, limits.output_overflow);
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        // A blocking sandbox's file I/O may block its thread, which is
        // off the runtime's workers anyway; an actor's goes to tokio's
        // blocking pool, since its thread is a worker.
        .allow_blocking_current_thread(calls == Calls::Blocking);
    let clock_base = if caps.clocks {
        let base = Instant::now();
        builder.monotonic_clock(MonotonicSince(base));
        Some(base)
    } else {
        builder.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        None
    };
    if !caps.random {
        // Seeded generators: reproducible runs, and still fine for
        // hash-map seeds, which is what most guests want randomness for.
        builder
            .secure_random(wasmtime_wasi::Deterministic::new(vec![
                0x5a, 0x17, 0xc3, 0x88,
            ]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0x2b, 0x91, 0x4e]))
            .insecure_random_seed(0x5741_5244_454e);
    }
    caps.apply(&mut builder)?;
    let state = GuestState {
        wasi: builder.build(),
        table: ResourceTable::new(),
        limiter: MemoryLimiter::new(limits.memory_bytes),
        stdout,
        stderr,
        host,
        clock_base,
        call_deadline: None,
        interrupt,
    };
    let mut store = Store::new(prepared.compiled.engine(), state);
    store.limiter(|s| &mut s.limiter);
    // Checked once per epoch tick while guest code runs: the call's
    // wall-clock deadline and every interrupt above it, in one place. A
    // call on a fiber goes on after a yield to its runtime.
    store.epoch_deadline_callback(move |ctx| {
        let state = ctx.data();
        let expired = state.call_deadline.is_some_and(|d| Instant::now() >= d);
        Ok(if expired || state.interrupt.is_fired() {
            UpdateDeadline::Interrupt
        } else if calls == Calls::OnFibers {
            // tokio's own yield: the task runs again only after the
            // runtime has looked at its timers and I/O, so a worker busy
            // with guests still fires timers at every tick (a plain
            // yield is back in the run queue at once, and the runtime
            // looks only every 61 turns: ~300 ms of guest code).
            UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
        } else {
            UpdateDeadline::Continue(1)
        })
    });
    PreparedStore {
        store: &mut store,
        limits,
        metering: prepared.metering(),
    }
    .arm()?;
    store.data_mut().limiter.set_instantiating(true);
    Ok(store)
}

/// Sets fuel and the epoch deadline on a store before a call.
struct PreparedStore<'a> {
    store: &'a mut Store<GuestState>,
    limits: &'a Limits,
    metering: Metering,
}

impl PreparedStore<'_> {
    fn arm(&mut self) -> Result<(), ComponentError> {
        if self.metering == Metering::Fuel {
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            self.store
                .set_fuel(fuel)
                .map_err(|err| ComponentError::Instantiation {
                    reason: crate::engine::one_line(&err),
                })?;
        }
        self.store.data_mut().call_deadline = self.limits.timeout.map(|t| Instant::now() + t);
        // The deadline callback runs at the next tick and decides.
        self.store.set_epoch_deadline(1);
        Ok(())
    }
}

/// Refuses, before any allocation, what can never run under `limits`: a
/// component defining more memories or tables than one instance may have
/// (wasmtime would refuse it too, with an error that does not say it is a
/// memory limit), or a fuel budget for code compiled without fuel
/// metering (the budget would silently not apply).
fn check_fits(prepared: &Prepared, limits: &Limits) -> Result<(), ComponentError> {
    if limits.fuel.is_some() && prepared.metering() == Metering::Off {
        return Err(ComponentError::Instantiation {
            reason: "a fuel budget was given for code compiled without fuel metering \
                     (compile it with `Metering::Fuel`)"
                .into(),
        });
    }
    let Some(defines) = prepared.defines else {
        return Ok(());
    };
    let over = [
        (Held::Memory, defines.memories, MAX_MEMORIES),
        (Held::Table, defines.tables, MAX_TABLES),
    ]
    .into_iter()
    .find(|&(_, count, max)| count > max);
    match over {
        Some((what, count, max)) => Err(ComponentError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
            refused: Refusal::Count { what, count, max },
        }),
        None => Ok(()),
    }
}

/// Turns a failed call into the error a caller can match on. The store's
/// own records (limiter, output capture) take precedence over the trap
/// code, because a refused allocation surfaces as `unreachable` in Rust
/// guests and an output overflow as a host-stream error.
fn classify(store: &Store<GuestState>, limits: &Limits, err: wasmtime::Error) -> ComponentError {
    let state = store.data();
    if let Some(refused) = state.limiter.refusal() {
        return ComponentError::MemoryLimit {
            limit_bytes: state.limiter.max_bytes(),
            refused,
        };
    }
    if state.stdout.overflowed_fatally() || state.stderr.overflowed_fatally() {
        return ComponentError::OutputLimit {
            limit_bytes: state.stdout.limit(),
        };
    }
    let backtrace = err
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| bt.to_string());
    // WASI's `exit` in the middle of a call ends the instance as a trap
    // does. The SDK's panic hook leaves that way after std's report (no
    // CPU fault to catch), so the report names the panic.
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        let message = match guest_panic_message(state) {
            Some(panic) => format!("guest panicked: {panic}"),
            None => format!("guest exited with status {}", exit.0),
        };
        return ComponentError::Trap { message, backtrace };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ComponentError::OutOfFuel {
            budget: limits.fuel.unwrap_or(0),
        },
        Some(Trap::Interrupt) if state.interrupt.is_fired() => ComponentError::Killed,
        Some(Trap::Interrupt) => ComponentError::Timeout {
            timeout_ms: limits.timeout.map_or(0, millis),
        },
        Some(trap) => {
            let mut message = match trap {
                Trap::StackOverflow => "stack overflow (call stack exhausted)".to_string(),
                other => other.to_string(),
            };
            if let Some(panic) = guest_panic_message(state) {
                message = format!("{message}: {panic}");
            }
            ComponentError::Trap { message, backtrace }
        }
        None => ComponentError::Trap {
            message: crate::engine::one_line(&err),
            backtrace,
        },
    }
}

/// Rust guests print `panicked at src/lib.rs:3:5:\nmessage` to stderr
/// before trapping or exiting; find that message without consuming the
/// capture.
fn guest_panic_message(state: &GuestState) -> Option<String> {
    let text = state.stderr.peek();
    let at = text.rfind("panicked at ")?;
    let after = &text[at..];
    let mut lines = after.lines();
    let location = lines
        .next()?
        .trim_end_matches(':')
        .trim_start_matches("panicked at ");
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    let message = message.join(" ").trim().to_string();
    Some(if message.is_empty() {
        format!("panicked at {location}")
    } else {
        format!("{message} (panicked at {location})")
    })
}
