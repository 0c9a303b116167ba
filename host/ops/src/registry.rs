//! The registry: every operation the host offers, by name.
//!
//! An [`Operation`] is metadata ([`OpMeta`]: name, summary, params schema,
//! read-only flag, optional result schema), its [`Route`], who owns it
//! ([`Owner`]) and how it runs (a Rust handler, or a plugin's `execute`).
//! [`Registry::call`] validates the params against the schema **before**
//! anything runs and lists every violation.
//!
//! The registry is cheap to clone (one `Arc`) and safe to share between
//! tasks; a lookup clones an `Arc<Operation>` under a short read lock, so a
//! plugin re-registered while a call runs does not disturb that call.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use indexmap::IndexMap;
use serde_json::Value;

use warden_component::{ComponentError, OpInfo};

use crate::error::{OpError, PluginFailure, RegisterError};
use crate::plugin::OperationSource;
use crate::role::Role;
use crate::schema::Schema;

/// A boxed, sendable future (what built-in handlers return).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A built-in operation's code: params (already validated) in, JSON out.
pub type Handler = Arc<dyn Fn(Value) -> BoxFuture<Result<Value, OpError>> + Send + Sync>;

/// What an operation is, before it is registered.
#[derive(Debug, Clone)]
pub struct OpMeta {
    name: String,
    summary: String,
    params: Value,
    result: Option<Value>,
    example: Option<Value>,
    read_only: bool,
    role: Option<Role>,
}

impl OpMeta {
    /// An operation named `name` (`child.restart`). By default it takes no
    /// params (`{}`), is mutating, needs the `admin` role, and documents no
    /// result schema.
    pub fn new(name: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            summary: summary.into(),
            params: serde_json::json!({"type": "object", "additionalProperties": false}),
            result: None,
            example: None,
            read_only: false,
            role: None,
        }
    }

    /// The JSON Schema the params must satisfy (checked at registration
    /// against the supported subset, see [`crate::schema`]).
    pub fn params(mut self, schema: Value) -> Self {
        self.params = schema;
        self
    }

    /// The JSON Schema of the result, for documentation only. By default
    /// none (any JSON).
    pub fn result(mut self, schema: Value) -> Self {
        self.result = Some(schema);
        self
    }

    /// Example params, shown in the OpenAPI document (the request body's
    /// `example`). Registration refuses an example that breaks the params
    /// schema. By default none.
    pub fn example(mut self, params: Value) -> Self {
        self.example = Some(params);
        self
    }

    /// Marks the operation as only reading state. By default `false`.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The role a caller needs (see [`Role`]). Left out, it fails closed:
    /// `admin`, or `read` for an operation marked
    /// [`read_only`](Self::read_only).
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// The role the operation will need once registered.
    pub fn needed_role(&self) -> Role {
        self.role.unwrap_or(if self.read_only {
            Role::Read
        } else {
            Role::Admin
        })
    }
}

/// Who registered an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The host itself: a Rust handler from the `warden` crate.
    Builtin,
    /// The operation plugin with this id (`[operations.ID]`).
    Plugin(String),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin => f.write_str("the host (built-in)"),
            Self::Plugin(id) => write!(f, "plugin `{id}`"),
        }
    }
}

/// The HTTP route of an operation.
///
/// The rule, in one place: **every operation is `POST /ops/{name}`** with
/// its params as the JSON request body (an empty body means `{}`), and
/// answers `200` with the JSON result. Params are JSON documents, often
/// nested, which a query string cannot carry faithfully, and a GET body
/// has no defined meaning in HTTP; read-only operations are marked
/// instead (`x-warden-read-only` in OpenAPI), so clients may retry them
/// and the dashboard can skip its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The URL path, `/ops/` and the operation's name.
    pub path: String,
}

impl Route {
    /// The route of operation `name`: `POST /ops/{name}`.
    pub(crate) fn for_operation(name: &str) -> Self {
        Self {
            method: "POST",
            path: format!("/ops/{name}"),
        }
    }
}

/// A registered operation.
pub struct Operation {
    name: String,
    summary: String,
    params: Schema,
    result: Option<Value>,
    example: Option<Value>,
    read_only: bool,
    role: Role,
    owner: Owner,
    route: Route,
    exec: Exec,
}

enum Exec {
    Builtin(Handler),
    Plugin {
        plugin: String,
        source: Arc<dyn OperationSource>,
        local: String,
    },
}

impl Operation {
    /// The full name (`child.restart`, `wc.count`): what callers and
    /// routes use.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// One line saying what the operation does.
    pub fn summary(&self) -> &str {
        &self.summary
    }
    /// The compiled schema the params are validated against; its
    /// [`Schema::source`] is the JSON document as registered.
    pub fn params_schema(&self) -> &Schema {
        &self.params
    }
    /// The JSON Schema of the result, when the operation documents one
    /// (documentation only: results are not validated).
    pub fn result_schema(&self) -> Option<&Value> {
        self.result.as_ref()
    }
    /// Example params, when the operation documents some.
    pub fn example(&self) -> Option<&Value> {
        self.example.as_ref()
    }
    /// True when the operation only reads state (`x-warden-read-only` in
    /// OpenAPI): clients may retry it.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
    /// The role a caller needs to call it (`x-warden-role` in OpenAPI).
    pub fn role(&self) -> Role {
        self.role
    }
    /// Who registered it.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }
    /// Where the HTTP API serves it (see [`Route`]).
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Validates `params` (every violation) without running anything.
    pub fn validate(&self, params: &Value) -> Result<(), OpError> {
        let violations = self.params.validate(params);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(OpError::InvalidParams {
                op: self.name.clone(),
                violations,
            })
        }
    }

    /// Validates, then runs. Plugin code runs on the guest executor's
    /// threads ([`crate::executor`]), so a guest never holds up the async
    /// workers timers depend on, and is interrupted when this future is
    /// dropped (its caller went away).
    ///
    /// A whole number written with a fraction (`298.0`, `3e2`) where the
    /// schema wants an `integer` is valid JSON Schema; it reaches the
    /// handler or plugin as the integer (`298`), so typed handlers read
    /// what validation accepted.
    pub async fn call(&self, mut params: Value) -> Result<Value, OpError> {
        self.validate(&params)?;
        self.params.normalize_integers(&mut params);
        match &self.exec {
            Exec::Builtin(handler) => handler(params).await,
            Exec::Plugin {
                plugin,
                source,
                local,
            } => {
                let source = source.clone();
                let local_name = local.clone();
                let text = params.to_string();
                // Dropped with this future when the caller goes away: the
                // guest stops instead of running on for nobody.
                let caller = warden_component::Interrupt::new();
                let _gone = caller.fire_on_drop();
                let outcome =
                    crate::executor::run(move || source.execute(&local_name, &text, &caller))
                        .await
                        .ok_or_else(|| OpError::Failed {
                            op: self.name.clone(),
                            message: "the plugin call was aborted: it panicked".into(),
                        })?;
                self.plugin_outcome(plugin, outcome)
            }
        }
    }

    fn plugin_outcome(
        &self,
        plugin: &str,
        outcome: Result<Result<String, String>, ComponentError>,
    ) -> Result<Value, OpError> {
        match outcome {
            Ok(Ok(text)) => serde_json::from_str(&text).map_err(|err| OpError::PluginFailed {
                op: self.name.clone(),
                plugin: plugin.to_string(),
                reason: PluginFailure::BadResult(err.to_string()),
            }),
            // The guest's own answer: its failure, not the host's.
            Ok(Err(message)) => Err(OpError::PluginFailed {
                op: self.name.clone(),
                plugin: plugin.to_string(),
                reason: PluginFailure::Refused(message),
            }),
            Err(ComponentError::Timeout { timeout_ms }) => Err(OpError::Timeout {
                op: self.name.clone(),
                timeout_ms,
            }),
            Err(err) => {
                tracing::warn!(op = %self.name, plugin = %plugin, error = %err, "operation plugin failed");
                Err(OpError::PluginFailed {
                    op: self.name.clone(),
                    plugin: plugin.to_string(),
                    reason: PluginFailure::Component(Box::new(err)),
                })
            }
        }
    }
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("read_only", &self.read_only)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The plugin ids no `[operations.ID]` table may take: the host's built-in
/// operations are named `PREFIX.…` under them (`child.restart`,
/// `events.recent`), and a plugin's operations are named `ID.…`. The
/// registry owns the operation namespace, so the list lives here and
/// config validation asks it, not the built-ins; a test checks that every
/// built-in falls under one.
pub const RESERVED_PREFIXES: &[&str] = &[
    "audit",
    "chaos",
    "child",
    "component",
    "config",
    "events",
    "group",
    "logs",
    "plugin",
    "rollout",
    "sandbox",
    "snapshot",
    "supervisor",
    "supervisors",
    "trace",
];

/// Every operation of the host, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    ops: Arc<RwLock<IndexMap<String, Arc<Operation>>>>,
}

impl Registry {
    /// An empty registry; the host fills it with its built-ins and then
    /// its plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a built-in operation. Registering a built-in name again
    /// replaces it (schema included); a name owned by a plugin is refused.
    ///
    /// ```
    /// # use warden_ops::{Registry, OpMeta};
    /// # use serde_json::json;
    /// let registry = Registry::new();
    /// registry.register_builtin(
    ///     OpMeta::new("echo", "Returns its params").params(json!({"type": "object"})).read_only(true),
    ///     |params| Box::pin(async move { Ok(params) }),
    /// ).unwrap();
    /// ```
    pub fn register_builtin<F>(&self, meta: OpMeta, handler: F) -> Result<(), RegisterError>
    where
        F: Fn(Value) -> BoxFuture<Result<Value, OpError>> + Send + Sync + 'static,
    {
        check_name(&meta.name)?;
        let role = meta.needed_role();
        let params =
            Schema::compile(meta.params).map_err(|source| RegisterError::InvalidSchema {
                plugin: None,
                op: meta.name.clone(),
                source,
            })?;
        if let Some(example) = &meta.example {
            let violations = params.validate(example);
            if !violations.is_empty() {
                return Err(RegisterError::InvalidExample {
                    op: meta.name,
                    violations,
                });
            }
        }
        let op = Operation {
            route: Route::for_operation(&meta.name),
            name: meta.name,
            summary: meta.summary,
            params,
            result: meta.result,
            example: meta.example,
            read_only: meta.read_only,
            role,
            owner: Owner::Builtin,
            exec: Exec::Builtin(Arc::new(handler)),
        };
        let mut ops = self.ops.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = ops.get(&op.name)
            && existing.owner != Owner::Builtin
        {
            return Err(RegisterError::Taken {
                name: op.name,
                owner: existing.owner.to_string(),
            });
        }
        ops.insert(op.name.clone(), Arc::new(op));
        Ok(())
    }

    /// Registers (or re-registers, after a reload) the operations of plugin
    /// `id`: calls `describe()`, prefixes each name with `id.`, compiles
    /// each schema, then atomically replaces every operation the plugin had
    /// before (ops it no longer describes disappear; changed schemas are
    /// enforced from the next call). Nothing changes when any step fails.
    /// Returns the registered names.
    ///
    /// Blocks while the guest's `describe()` runs (under the plugin's
    /// limits): from async code, call it inside `spawn_blocking`.
    pub fn register_plugin(
        &self,
        id: &str,
        source: Arc<dyn OperationSource>,
    ) -> Result<Vec<String>, RegisterError> {
        if id.is_empty() || id.contains('.') {
            return Err(RegisterError::InvalidName {
                name: id.to_string(),
            });
        }
        check_name(id)?;
        let infos = source.describe().map_err(|source| RegisterError::Plugin {
            plugin: id.to_string(),
            source,
        })?;
        let owner = Owner::Plugin(id.to_string());
        let mut fresh = Vec::with_capacity(infos.len());
        let mut seen = HashSet::new();
        for OpInfo {
            name: local,
            summary,
            params_schema,
        } in infos
        {
            let name = format!("{id}.{local}");
            check_name(&name)?;
            if !seen.insert(name.clone()) {
                return Err(RegisterError::Duplicate {
                    plugin: id.to_string(),
                    op: local,
                });
            }
            let params =
                Schema::parse(&params_schema).map_err(|source| RegisterError::InvalidSchema {
                    plugin: Some(id.to_string()),
                    op: local.clone(),
                    source,
                })?;
            fresh.push(Operation {
                route: Route::for_operation(&name),
                name,
                summary,
                params,
                result: None,
                example: None,
                read_only: false,
                // A plugin's operations run its code under its own limits:
                // what operators do, not what changes the host's set-up.
                role: Role::Operate,
                owner: owner.clone(),
                exec: Exec::Plugin {
                    plugin: id.to_string(),
                    source: source.clone(),
                    local,
                },
            });
        }
        let mut ops = self.ops.write().unwrap_or_else(|p| p.into_inner());
        for op in &fresh {
            if let Some(existing) = ops.get(&op.name)
                && existing.owner != owner
            {
                return Err(RegisterError::Taken {
                    name: op.name.clone(),
                    owner: existing.owner.to_string(),
                });
            }
        }
        ops.retain(|_, op| op.owner != owner);
        let names = fresh.iter().map(|op| op.name.clone()).collect();
        for op in fresh {
            ops.insert(op.name.clone(), Arc::new(op));
        }
        Ok(names)
    }

    /// Removes every operation of plugin `id`; returns how many.
    pub fn unregister_plugin(&self, id: &str) -> usize {
        let owner = Owner::Plugin(id.to_string());
        let mut ops = self.ops.write().unwrap_or_else(|p| p.into_inner());
        let before = ops.len();
        ops.retain(|_, op| op.owner != owner);
        before - ops.len()
    }

    /// The operation named `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Operation>, OpError> {
        let ops = self.ops.read().unwrap_or_else(|p| p.into_inner());
        ops.get(name)
            .cloned()
            .ok_or_else(|| OpError::UnknownOperation {
                op: name.to_string(),
            })
    }

    /// Every operation, in registration order.
    pub fn operations(&self) -> Vec<Arc<Operation>> {
        let ops = self.ops.read().unwrap_or_else(|p| p.into_inner());
        ops.values().cloned().collect()
    }

    /// Looks `name` up, validates `params` against its schema (listing
    /// every violation), then runs it.
    pub async fn call(&self, name: &str, params: Value) -> Result<Value, OpError> {
        let op = self.get(name)?;
        op.call(params).await
    }
}

/// `segment(.segment)*`, each segment non-empty `[a-z0-9_-]`.
fn check_name(name: &str) -> Result<(), RegisterError> {
    let ok = !name.is_empty()
        && name.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(RegisterError::InvalidName {
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_must_satisfy_the_params_schema() {
        let registry = Registry::new();
        let meta = |example| {
            OpMeta::new("child.info", "info")
                .params(serde_json::json!({
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                    "additionalProperties": false
                }))
                .example(example)
        };
        let handler =
            |params| -> BoxFuture<Result<Value, OpError>> { Box::pin(async { Ok(params) }) };
        let err = registry
            .register_builtin(meta(serde_json::json!({"path": 1, "x": 2})), handler)
            .unwrap_err();
        match &err {
            RegisterError::InvalidExample { op, violations } => {
                assert_eq!(op, "child.info");
                let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
                assert_eq!(paths, ["/path", "/x"]);
            }
            other => panic!("expected InvalidExample, got {other:?}"),
        }
        assert!(registry.get("child.info").is_err(), "nothing registered");
        registry
            .register_builtin(meta(serde_json::json!({"path": "root/a"})), handler)
            .unwrap();
        assert_eq!(
            registry.get("child.info").unwrap().example(),
            Some(&serde_json::json!({"path": "root/a"}))
        );
    }

    /// A plugin that answers every call the same way.
    struct Answers(Result<String, String>);

    impl OperationSource for Answers {
        fn describe(&self) -> Result<Vec<OpInfo>, ComponentError> {
            Ok(vec![OpInfo {
                name: "go".into(),
                summary: "answers".into(),
                params_schema: r#"{"type": "object", "properties": {"n": {"type": "integer"}}}"#
                    .into(),
            }])
        }

        fn execute(
            &self,
            _name: &str,
            params: &str,
            _caller: &warden_component::Interrupt,
        ) -> Result<Result<String, String>, ComponentError> {
            Ok(self.0.clone().map(|ok| ok.replace("PARAMS", params)))
        }
    }

    #[tokio::test]
    async fn a_plugins_error_reply_is_the_guests_failure_not_the_servers() {
        let registry = Registry::new();
        registry
            .register_plugin("no", Arc::new(Answers(Err("not today".into()))))
            .unwrap();
        let err = registry
            .call("no.go", serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), 422, "{err}");
        let body = err.body();
        assert_eq!(body["error"]["kind"], "plugin_failed");
        assert_eq!(body["error"]["cause"], "error_reply");
        assert_eq!(body["error"]["plugin"], "no");
        assert!(err.to_string().contains("not today"), "{err}");

        registry
            .register_plugin("bad", Arc::new(Answers(Ok("{not json".into()))))
            .unwrap();
        let err = registry
            .call("bad.go", serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!((err.status_code(), err.kind()), (422, "plugin_failed"));
        assert_eq!(err.body()["error"]["cause"], "bad_result");
    }

    #[tokio::test]
    async fn a_whole_float_reaches_a_plugin_as_the_integer_its_schema_wants() {
        let registry = Registry::new();
        registry
            .register_plugin("echo", Arc::new(Answers(Ok("PARAMS".into()))))
            .unwrap();
        let got = registry
            .call("echo.go", serde_json::json!({"n": 298.0}))
            .await
            .unwrap();
        assert_eq!(got, serde_json::json!({"n": 298}));
        assert!(got["n"].is_u64(), "{got}");
    }

    #[test]
    fn an_operation_without_a_role_needs_admin_unless_it_only_reads() {
        let registry = Registry::new();
        let handler =
            |params| -> BoxFuture<Result<Value, OpError>> { Box::pin(async { Ok(params) }) };
        let metas = [
            (OpMeta::new("a.change", "changes"), Role::Admin),
            (OpMeta::new("a.look", "looks").read_only(true), Role::Read),
            (
                OpMeta::new("a.run", "runs").role(Role::Operate),
                Role::Operate,
            ),
            (
                OpMeta::new("a.secret", "reads a secret")
                    .read_only(true)
                    .role(Role::Admin),
                Role::Admin,
            ),
        ];
        for (meta, role) in metas {
            assert_eq!(meta.needed_role(), role);
            let name = meta.name.clone();
            registry.register_builtin(meta, handler).unwrap();
            assert_eq!(registry.get(&name).unwrap().role(), role, "{name}");
        }
        registry
            .register_plugin("echo", Arc::new(Answers(Ok("PARAMS".into()))))
            .unwrap();
        assert_eq!(registry.get("echo.go").unwrap().role(), Role::Operate);
    }

    #[test]
    fn names_and_routes() {
        assert!(check_name("child.restart").is_ok());
        assert!(check_name("wordcount.count_2-x").is_ok());
        for bad in ["", "Child", "a..b", ".a", "a.", "a b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let route = Route::for_operation("child.restart");
        assert_eq!(
            (route.method, route.path.as_str()),
            ("POST", "/ops/child.restart")
        );
    }
}
