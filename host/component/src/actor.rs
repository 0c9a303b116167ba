//! Typed access to components of the `actor-plugin` world.
//!
//! An [`ActorProgram`] is a prepared component checked against the world,
//! linked for fibers, with its export indices resolved once; an
//! [`ActorInstance`] is one incarnation of it. Each method returns the
//! guest's own answer (`Ok(Err(msg))` when the actor says no) inside the
//! sandbox's verdict (`Err(ComponentError)` when the instance failed).
//!
//! An actor's calls are futures: the guest runs on a fiber inside the task
//! that awaits it (a component child's task), yielding to the runtime
//! once per epoch tick while it computes, and waiting on the runtime's
//! timer while it sleeps. A message therefore costs no hand-off between
//! threads, and a trap restarts the child on the same thread (see
//! `warden::host::component_child`).

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::bindings::actor::{ActorPlugin, ActorPluginIndices};
use crate::caps::Capabilities;
use crate::engine::Prepared;
use crate::error::ComponentError;
use crate::host_iface::HostContext;
use crate::interrupt::Interrupt;
use crate::limits::Limits;
use crate::sandbox::{GuestState, Sandbox};
use crate::world::{self, World};

/// A component version that fits `actor-plugin`, ready to instantiate.
#[derive(Clone)]
pub struct ActorProgram {
    prepared: Prepared,
    /// `prepared` linked for calls on fibers.
    pre: InstancePre<GuestState>,
    indices: Arc<ActorPluginIndices>,
}

impl ActorProgram {
    /// Checks the world, links the component for fibers and resolves the
    /// actor exports.
    pub fn new(prepared: Prepared) -> Result<Self, ComponentError> {
        world::check(&prepared.compiled, World::ActorPlugin)?;
        let pre = prepared.link_for_fibers()?;
        let indices =
            ActorPluginIndices::new(&pre).map_err(|err| ComponentError::Instantiation {
                reason: crate::engine::one_line(&err),
            })?;
        Ok(Self {
            prepared,
            pre,
            indices: Arc::new(indices),
        })
    }

    /// The compiled and linked component every incarnation comes from:
    /// its metering decides whether a fuel budget can apply.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Content hash of this version.
    pub fn hash(&self) -> &str {
        self.prepared.hash()
    }

    /// Whether `other` is this very program (a clone of it), not merely
    /// the same bytes: a baseline and an optimized build of one version
    /// share a hash but are different programs.
    pub fn is(&self, other: &ActorProgram) -> bool {
        Arc::ptr_eq(&self.indices, &other.indices)
    }

    /// A new incarnation in a fresh Store (not yet initialised).
    pub async fn instantiate(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
    ) -> Result<ActorInstance, ComponentError> {
        self.instantiate_under(limits, caps, host, &Interrupt::new())
            .await
    }

    /// [`ActorProgram::instantiate`], whose calls also stop once `scope` is
    /// fired: one kill switch for every instance a child runs in turn.
    pub async fn instantiate_under(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        scope: &Interrupt,
    ) -> Result<ActorInstance, ComponentError> {
        let mut sandbox =
            Sandbox::new_on_fibers(&self.prepared, &self.pre, limits, caps, host, scope).await?;
        let indices = &self.indices;
        let bindings = sandbox.run(|store, instance| indices.load(store, &instance))?;
        Ok(ActorInstance { sandbox, bindings })
    }
}

/// One live actor.
pub struct ActorInstance {
    sandbox: Sandbox,
    bindings: ActorPlugin,
}

impl ActorInstance {
    /// Calls the guest's `init` with the child's `config` string from
    /// warden.toml (empty when none is given). The contract says it comes
    /// before any other call of an incarnation.
    ///
    /// As for every method here: `Ok(Err(msg))` is the guest saying no;
    /// `Err` is the sandbox's verdict (trap, fuel, timeout, memory, kill),
    /// after which the instance is poisoned and every later call fails
    /// with [`ComponentError::Poisoned`]. The guest runs within its
    /// [`Limits`] on a fiber of the task that awaits the call (see the
    /// module doc); what it printed goes to the host log, tagged with the
    /// child.
    pub async fn init(&mut self, config: &str) -> Result<Result<(), String>, ComponentError> {
        self.call(async |store, b| b.warden_plugin_actor().call_init(store, config).await)
            .await
    }

    /// Hands the guest one message and returns its reply bytes.
    pub async fn handle(
        &mut self,
        message: &[u8],
    ) -> Result<Result<Vec<u8>, String>, ComponentError> {
        self.call(async |store, b| b.warden_plugin_actor().call_handle(store, message).await)
            .await
    }

    /// Asks the guest for its whole state as bytes (for a hot reload or a
    /// migration, fed to [`ActorInstance::restore`] of the next version).
    pub async fn snapshot(&mut self) -> Result<Result<Vec<u8>, String>, ComponentError> {
        self.call(async |store, b| b.warden_plugin_actor().call_snapshot(store).await)
            .await
    }

    /// Replaces the guest's state with bytes from a `snapshot`, possibly
    /// taken by an older version of the plugin.
    pub async fn restore(&mut self, state: &[u8]) -> Result<Result<(), String>, ComponentError> {
        self.call(async |store, b| b.warden_plugin_actor().call_restore(store, state).await)
            .await
    }

    /// One call of an export: under the sandbox's limits, its failure
    /// classified, what the guest printed forwarded.
    async fn call<R>(
        &mut self,
        export: impl AsyncFnOnce(&mut Store<GuestState>, &ActorPlugin) -> wasmtime::Result<R>,
    ) -> Result<R, ComponentError> {
        self.sandbox.begin_call()?;
        let called = export(self.sandbox.store_mut(), &self.bindings).await;
        let out = self.sandbox.end_call(called);
        let report = self.sandbox.take_report(std::time::Instant::now(), None);
        crate::capture::log_guest_output(&self.sandbox.store().data().host.child, &report);
        out
    }

    /// The instance's sandbox: its memory in use and refusals, and the
    /// kill switch that stops a call from another thread.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}
