//! The component store as the HTTP API serves it: [`StoreCatalog`]
//! implements the api crate's [`ComponentCatalog`] over the host's
//! [`ComponentStore`] and [`Runtime`].
//!
//! Owns the order an upload takes: untrusted bytes are compiled first,
//! through the runtime's bounded compile path (a compile child under the
//! `[host.compile]` rlimits, started from a blocking thread so no tokio
//! worker waits on it), linked against the host's imports, and stored
//! only when both worked; and the JSON
//! each route answers (`worlds` as `warden inspect` decides them, the
//! exports as WIT). Never does: HTTP (statuses, bodies, limits of the
//! request: the api crate does), or keep anything itself: the store holds
//! the bytes and the leases.

use serde_json::{Map, Value, json};

use crate::api::{Bytes, CatalogError, CatalogFuture, ComponentCatalog, Uploaded};
use crate::component::{Compiled, ComponentError, Metering, Runtime, World, world};
use crate::store::{ComponentId, ComponentStore, StoreError, StoredComponent};

/// The store behind `/components`.
#[derive(Clone)]
pub struct StoreCatalog {
    store: ComponentStore,
    runtime: Runtime,
}

impl StoreCatalog {
    /// Serves `store`, compiling uploads with `runtime`.
    pub fn new(store: ComponentStore, runtime: Runtime) -> Self {
        Self { store, runtime }
    }

    /// Runs `f` on the blocking pool: compiles wait on a child process,
    /// and the store reads and writes files.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(StoreCatalog) -> Result<T, CatalogError> + Send + 'static,
    ) -> CatalogFuture<'static, T> {
        let this = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(this))
                .await
                .map_err(|e| CatalogError::Failed(format!("the store task failed: {e}")))?
        })
    }

    fn summary(&self, component: &StoredComponent) -> Value {
        json!({
            "id": component.id,
            "size": component.size,
            "stored_at_ms": component.stored_at_ms,
            "users": self.store.users(&component.id),
        })
    }
}

impl ComponentCatalog for StoreCatalog {
    fn max_bytes(&self) -> u64 {
        self.store.max_bytes()
    }

    fn upload(&self, bytes: Bytes) -> CatalogFuture<'_, Uploaded> {
        self.blocking(move |this| {
            this.store
                .check_size(bytes.len() as u64)
                .map_err(store_error)?;
            // Linked too: a component importing what this host lacks could
            // never run here, so it is refused now rather than at its start.
            let prepared = this
                .runtime
                .compile(&bytes, Metering::Off)
                .and_then(Compiled::prepare)
                .map_err(rejected)?;
            let put = this.store.put(&bytes).map_err(store_error)?;
            Ok(Uploaded {
                body: json!({
                    "id": put.component.id,
                    "size": put.component.size,
                    "worlds": worlds(&prepared.compiled),
                }),
                created: put.created,
            })
        })
    }

    fn list(&self) -> CatalogFuture<'_, Value> {
        self.blocking(|this| {
            let components = this.store.list().map_err(store_error)?;
            Ok(Value::Array(
                components.iter().map(|c| this.summary(c)).collect(),
            ))
        })
    }

    fn describe(&self, id: &str) -> CatalogFuture<'_, Value> {
        let id = id.to_string();
        self.blocking(move |this| {
            let id: ComponentId = id.parse().map_err(store_error)?;
            let component = this.store.get(&id).map_err(store_error)?;
            let bytes = this.store.read(&id).map_err(store_error)?;
            // Found in the compile cache when the upload compiled it.
            let compiled = this
                .runtime
                .compile(&bytes, Metering::Off)
                .map_err(rejected)?;
            let inspection = world::inspect(&compiled, &bytes).map_err(rejected)?;
            let mut body = this.summary(&component);
            body["worlds"] = worlds(&compiled);
            body["wit"] = json!(inspection.short_wit);
            body["exports"] = serde_json::to_value(&inspection.exports)
                .map_err(|e| CatalogError::Failed(format!("cannot serialise the exports: {e}")))?;
            Ok(body)
        })
    }

    fn remove(&self, id: &str) -> CatalogFuture<'_, ()> {
        let id = id.to_string();
        self.blocking(move |this| {
            let id: ComponentId = id.parse().map_err(store_error)?;
            this.store.remove(&id).map_err(store_error)
        })
    }
}

/// `{"actor-plugin": bool, "operation-plugin": bool, "plugin": bool}`.
fn worlds(compiled: &Compiled) -> Value {
    let fits: Map<String, Value> = World::ALL
        .iter()
        .map(|w| (w.name().to_string(), world::fit(compiled, *w).fits.into()))
        .collect();
    Value::Object(fits)
}

/// Bytes that are no usable component are the uploader's fault (422);
/// a compiler that broke or a cache that cannot be trusted is the host's.
fn rejected(err: ComponentError) -> CatalogError {
    match err {
        ComponentError::CompileLimit(limit) => CatalogError::Rejected {
            kind: "compile_limit",
            cause: "compile_limit",
            limit: Some(limit.kind()),
            message: err.to_string(),
        },
        ComponentError::NotWasm { .. }
        | ComponentError::NotAComponent
        | ComponentError::Malformed { .. }
        | ComponentError::Unlinkable { .. }
        | ComponentError::NotAFile { .. } => CatalogError::Rejected {
            kind: "invalid_component",
            cause: err.kind(),
            limit: None,
            message: err.to_string(),
        },
        other => CatalogError::Failed(other.to_string()),
    }
}

fn store_error(err: StoreError) -> CatalogError {
    match err {
        StoreError::InvalidId { id } => CatalogError::InvalidId { id },
        StoreError::NotFound { id } => CatalogError::NotFound { id: id.to_string() },
        StoreError::InUse { id, users } => CatalogError::InUse {
            id: id.to_string(),
            users,
        },
        StoreError::TooLarge { limit, actual } => CatalogError::TooLarge { limit, actual },
        io @ StoreError::Io { .. } => CatalogError::Failed(io.to_string()),
    }
}
