//! Typed access to components of the `actor-plugin` world.
//!
//! An [`ActorProgram`] is a prepared component checked against the world,
//! with its export indices resolved once; an [`ActorInstance`] is one
//! incarnation of it. Each method returns the guest's own answer
//! (`Ok(Err(msg))` when the actor says no) inside the sandbox's verdict
//! (`Err(ComponentError)` when the instance failed).

use std::sync::Arc;

use crate::bindings::actor::{ActorPlugin, ActorPluginIndices};
use crate::caps::Capabilities;
use crate::engine::Prepared;
use crate::error::ComponentError;
use crate::host_iface::HostContext;
use crate::interrupt::Interrupt;
use crate::limits::Limits;
use crate::sandbox::Sandbox;
use crate::world::{self, World};

/// A component version that fits `actor-plugin`, ready to instantiate.
#[derive(Clone)]
pub struct ActorProgram {
    prepared: Prepared,
    indices: Arc<ActorPluginIndices>,
}

impl ActorProgram {
    /// Checks the world and resolves the actor exports.
    pub fn new(prepared: Prepared) -> Result<Self, ComponentError> {
        world::check(&prepared.compiled, World::ActorPlugin)?;
        let indices = ActorPluginIndices::new(&prepared.pre).map_err(|err| {
            ComponentError::Instantiation {
                reason: crate::engine::one_line(&err),
            }
        })?;
        Ok(Self {
            prepared,
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
    pub fn instantiate(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
    ) -> Result<ActorInstance, ComponentError> {
        let sandbox = Sandbox::new(&self.prepared, limits, caps, host)?;
        self.bind(sandbox)
    }

    /// [`ActorProgram::instantiate`], whose calls also stop once `scope` is
    /// fired: one kill switch for every instance a child runs in turn.
    pub fn instantiate_under(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        scope: &Interrupt,
    ) -> Result<ActorInstance, ComponentError> {
        let sandbox = Sandbox::new_under(&self.prepared, limits, caps, host, scope)?;
        self.bind(sandbox)
    }

    fn bind(&self, mut sandbox: Sandbox) -> Result<ActorInstance, ComponentError> {
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
    /// with [`ComponentError::Poisoned`]. The call blocks the calling
    /// thread while the guest runs, within its [`Limits`]; what the guest
    /// printed goes to the host log, tagged with the child.
    pub fn init(&mut self, config: &str) -> Result<Result<(), String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_init(store, config));
        self.forward_output();
        out
    }

    /// Hands the guest one message and returns its reply bytes. Blocking,
    /// like [`ActorInstance::init`].
    pub fn handle(&mut self, message: &[u8]) -> Result<Result<Vec<u8>, String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_handle(store, message));
        self.forward_output();
        out
    }

    /// Asks the guest for its whole state as bytes (for a hot reload or a
    /// migration, fed to [`ActorInstance::restore`] of the next version).
    /// Blocking.
    pub fn snapshot(&mut self) -> Result<Result<Vec<u8>, String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_snapshot(store));
        self.forward_output();
        out
    }

    /// Replaces the guest's state with bytes from a `snapshot`, possibly
    /// taken by an older version of the plugin. Blocking.
    pub fn restore(&mut self, state: &[u8]) -> Result<Result<(), String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_restore(store, state));
        self.forward_output();
        out
    }

    /// The instance's sandbox: its memory in use and refusals, and the
    /// kill switch that stops a call from another thread.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// A long-lived actor's stdout/stderr goes to the host log, call by call.
    fn forward_output(&mut self) {
        let report = self.sandbox.take_report(std::time::Instant::now(), None);
        crate::capture::log_guest_output(&self.sandbox.store().data().host.child, &report);
    }
}
