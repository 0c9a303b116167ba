//! Typed access to components of the `operation-plugin` world.
//!
//! An [`OperationProgram`] is a prepared component checked against the
//! world, with its export indices resolved once. Every call
//! ([`describe`](OperationProgram::describe),
//! [`execute`](OperationProgram::execute)) runs in a **fresh** [`Sandbox`]:
//! operations are stateless by contract, a fresh Store costs microseconds
//! (an `InstancePre` instantiation), and it means a call that traps, runs
//! out of fuel or times out can never poison the next one.

use std::sync::Arc;
use std::time::Instant;

use crate::bindings::operation::{OperationPlugin, OperationPluginIndices};
use crate::caps::Capabilities;
use crate::engine::Prepared;
use crate::error::ComponentError;
use crate::host_iface::HostContext;
use crate::interrupt::Interrupt;
use crate::limits::Limits;
use crate::sandbox::Sandbox;
use crate::world::{self, World};

/// One operation as a plugin describes it (names not yet prefixed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpInfo {
    /// The operation's name, unique within the plugin; the registry
    /// prefixes it with the plugin's id (`wc.count`).
    pub name: String,
    /// One line saying what the operation does.
    pub summary: String,
    /// The JSON Schema of the params, as the JSON text the plugin returned.
    pub params_schema: String,
}

/// A component version that fits `operation-plugin`, ready to call.
#[derive(Clone)]
pub struct OperationProgram {
    prepared: Prepared,
    indices: Arc<OperationPluginIndices>,
}

impl OperationProgram {
    /// Checks the world and resolves the operation exports.
    pub fn new(prepared: Prepared) -> Result<Self, ComponentError> {
        world::check(&prepared.compiled, World::OperationPlugin)?;
        let indices = OperationPluginIndices::new(&prepared.pre).map_err(|err| {
            ComponentError::Instantiation {
                reason: crate::engine::one_line(&err),
            }
        })?;
        Ok(Self {
            prepared,
            indices: Arc::new(indices),
        })
    }

    /// The compiled and linked component every call instantiates.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Content hash of this version.
    pub fn hash(&self) -> &str {
        self.prepared.hash()
    }

    /// Calls `describe()` in a fresh sandbox.
    pub fn describe(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
    ) -> Result<Vec<OpInfo>, ComponentError> {
        self.with_fresh(limits, caps, host, None, |store, b| {
            let infos = b.warden_plugin_operation().call_describe(store)?;
            Ok(infos
                .into_iter()
                .map(|i| OpInfo {
                    name: i.name,
                    summary: i.summary,
                    params_schema: i.params_schema,
                })
                .collect())
        })
    }

    /// Calls `execute(name, params)` in a fresh sandbox: the guest's own
    /// answer (`Ok(Err(msg))` when it refuses) inside the sandbox's verdict.
    /// The call stops (`Killed`) once `scope` is fired.
    pub fn execute(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        scope: &Interrupt,
        name: &str,
        params: &str,
    ) -> Result<Result<String, String>, ComponentError> {
        self.with_fresh(limits, caps, host, Some(scope), |store, b| {
            b.warden_plugin_operation()
                .call_execute(store, name, params)
        })
    }

    fn with_fresh<R>(
        &self,
        limits: &Limits,
        caps: &Capabilities,
        host: HostContext,
        scope: Option<&Interrupt>,
        f: impl FnOnce(
            &mut wasmtime::Store<crate::sandbox::GuestState>,
            &OperationPlugin,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, ComponentError> {
        let started = Instant::now();
        let mut sandbox = match scope {
            Some(scope) => Sandbox::new_under(&self.prepared, limits, caps, host, scope)?,
            None => Sandbox::new(&self.prepared, limits, caps, host)?,
        };
        let indices = &self.indices;
        let bindings = sandbox.run(|store, instance| indices.load(store, &instance))?;
        let out = sandbox.run(|store, _| f(store, &bindings));
        forward_output(&mut sandbox, started);
        out
    }
}

/// What the guest printed goes to the host log, tagged with the plugin.
fn forward_output(sandbox: &mut Sandbox, started: Instant) {
    let report = sandbox.take_report(started, None);
    crate::capture::log_guest_output(&sandbox.store().data().host.child, &report);
}
