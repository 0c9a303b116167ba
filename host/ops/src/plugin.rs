//! Operations supplied by plugins (components of the `operation-plugin`
//! world).
//!
//! [`OperationSource`] is the seam between the registry and a plugin: the
//! registry only asks for `describe()` and `execute()`. [`PluginOperations`]
//! is the real source — an [`OperationProgram`] run under the plugin's
//! [`Limits`] and [`Capabilities`], each call in a fresh sandbox (so a trap,
//! a timeout or exhausted fuel fails that call only), stopped when its
//! caller goes away or the host stops. Tests and future sources (a remote
//! plugin, say) implement the trait too.

use warden_component::{
    Capabilities, ComponentError, HostContext, Interrupt, Limits, OpInfo, OperationProgram,
};

/// Where a plugin's operations come from.
pub trait OperationSource: Send + Sync + 'static {
    /// The operations offered, names not yet prefixed.
    fn describe(&self) -> Result<Vec<OpInfo>, ComponentError>;

    /// Runs operation `name` (unprefixed) with JSON `params`: the guest's
    /// JSON result or refusal, inside the sandbox's verdict. Blocking; the
    /// guest must stop soon after `caller` is fired (the caller went away).
    fn execute(
        &self,
        name: &str,
        params: &str,
        caller: &Interrupt,
    ) -> Result<Result<String, String>, ComponentError>;
}

/// A loaded operation plugin with its limits and capabilities.
#[derive(Clone)]
pub struct PluginOperations {
    id: String,
    program: OperationProgram,
    limits: Limits,
    caps: Capabilities,
    /// Fired when the host stops: every `execute` is under it.
    scope: Interrupt,
}

impl PluginOperations {
    /// `id` is the plugin's id from config (the prefix of its operations,
    /// and the name its log lines carry).
    pub fn new(
        id: impl Into<String>,
        program: OperationProgram,
        limits: Limits,
        caps: Capabilities,
    ) -> Self {
        Self {
            id: id.into(),
            program,
            limits,
            caps,
            scope: Interrupt::new(),
        }
    }

    /// Puts every `execute` under `scope` as well (the host's calls, all
    /// stopped when it stops). By default a scope of its own, never fired.
    pub fn within(mut self, scope: &Interrupt) -> Self {
        self.scope = scope.clone();
        self
    }

    fn host(&self) -> HostContext {
        HostContext::isolated(self.id.clone())
    }
}

impl OperationSource for PluginOperations {
    fn describe(&self) -> Result<Vec<OpInfo>, ComponentError> {
        self.program.describe(&self.limits, &self.caps, self.host())
    }

    fn execute(
        &self,
        name: &str,
        params: &str,
        caller: &Interrupt,
    ) -> Result<Result<String, String>, ComponentError> {
        let scope = self.scope.child_of_either(caller);
        self.program
            .execute(&self.limits, &self.caps, self.host(), &scope, name, params)
    }
}
