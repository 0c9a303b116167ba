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

    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Content hash of this version.
    pub fn hash(&self) -> &str {
        self.prepared.hash()
    }

    /// A new incarnation in a fresh Store (not yet initialised).
    pub fn instantiate(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
    ) -> Result<ActorInstance, ComponentError> {
        let mut sandbox = Sandbox::new(&self.prepared, limits, caps, host)?;
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
    pub fn init(&mut self, config: &str) -> Result<Result<(), String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_init(store, config));
        self.forward_output();
        out
    }

    pub fn handle(&mut self, message: &[u8]) -> Result<Result<Vec<u8>, String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_handle(store, message));
        self.forward_output();
        out
    }

    pub fn snapshot(&mut self) -> Result<Result<Vec<u8>, String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_snapshot(store));
        self.forward_output();
        out
    }

    pub fn restore(&mut self, state: &[u8]) -> Result<Result<(), String>, ComponentError> {
        let b = &self.bindings;
        let out = self
            .sandbox
            .run(|store, _| b.warden_plugin_actor().call_restore(store, state));
        self.forward_output();
        out
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn is_poisoned(&self) -> bool {
        self.sandbox.is_poisoned()
    }

    /// A long-lived actor's stdout/stderr goes to the host log, call by call.
    fn forward_output(&mut self) {
        let report = self.sandbox.take_report(std::time::Instant::now(), None);
        let child = self.sandbox.store().data().host.child.as_str();
        for (stream, captured) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
            if captured.total_bytes == 0 {
                continue;
            }
            for line in captured.text.lines() {
                tracing::info!(target: "warden::guest", child, stream, "{line}");
            }
            if captured.truncated {
                tracing::warn!(target: "warden::guest", child, stream, total_bytes = captured.total_bytes, "guest output truncated");
            }
        }
    }
}
