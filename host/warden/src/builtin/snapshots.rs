//! The stored snapshots: `snapshot.list`, `snapshot.get`, `snapshot.diff`,
//! `snapshot.delete` (storing one is `child.snapshot`'s, restoring one
//! `child.restore {snapshot}`'s, both in `children`).
//!
//! Roles: a listing shows only ids, paths, times, sizes and hashes
//! (`read`); `get` and `diff` show a child's state, as `child.snapshot`
//! does (`admin`); `delete` changes what the host keeps (`admin`).
//!
//! Owns the operations' params, results and error statuses; the files,
//! ids, decoding and diffing are the [`SnapshotStore`]'s
//! (`host::snapshots`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, add, failed, invalid, parse};
use crate::host::snapshots::{
    SnapshotMeta, SnapshotStore, SnapshotStoreError, decode, diff, validate_id,
};
use crate::ops::{OpError, OpMeta, RegisterError, Registry, Role};

/// What an id is, for the params schemas.
pub(super) const SNAPSHOT_ID: &str =
    "A snapshot id, as child.snapshot answers it: 13 digits of milliseconds, `-`, 4 digits";

/// An id in a params schema (its form is checked by the store: the
/// schema subset has no `pattern`).
pub(super) fn id_schema() -> Value {
    json!({"type": "string", "minLength": 18, "maxLength": 18, "description": SNAPSHOT_ID})
}

/// An example id (18 characters, as the schema wants).
const EXAMPLE_ID: &str = "1764902400000-0000";

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            "snapshot.list",
            "The stored snapshots, oldest first: id, child path, time, size, component hash, version",
        )
        .role(Role::Read)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": "Only this child's snapshots"}
            },
            "additionalProperties": false
        }))
        .example(json!({"path": "root/counter"}))
        .result(json!({"type": "array", "items": meta_schema()})),
        |ctx, params| async move {
            const OP: &str = "snapshot.list";
            #[derive(Deserialize)]
            struct P {
                path: Option<String>,
            }
            let p: P = parse(OP, params)?;
            let list = blocking(OP, &ctx.snapshots, move |s| s.list(p.path.as_deref())).await?;
            super::to_json(OP, &list)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "snapshot.get",
            "One stored snapshot: its metadata and its state, decoded (JSON for the SDK's envelope, else base64)",
        )
        .role(Role::Admin)
        .read_only(true)
        .params(id_params())
        .example(json!({"id": EXAMPLE_ID}))
        .result(got_schema()),
        |ctx, params| async move {
            const OP: &str = "snapshot.get";
            let id = id_of(OP, params)?;
            let (meta, state) = blocking(OP, &ctx.snapshots, move |s| s.get(&id)).await?;
            let mut out = super::to_json(OP, &meta)?;
            merge(&mut out, decode(&state));
            Ok(out)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new(
            "snapshot.diff",
            "What changed from snapshot a to snapshot b: each added, removed or changed value at its JSON pointer",
        )
        .role(Role::Admin)
        .read_only(true)
        .params(json!({
            "type": "object",
            "properties": {"a": id_schema(), "b": id_schema()},
            "required": ["a", "b"],
            "additionalProperties": false
        }))
        .example(json!({"a": EXAMPLE_ID, "b": "1764902400500-0000"}))
        .result(json!({
            "type": "object",
            "required": ["a", "b", "format", "equal", "changes"],
            "properties": {
                "a": meta_schema(),
                "b": meta_schema(),
                "format": {"enum": ["json", "base64"], "description": "base64 when either state is not the SDK's JSON envelope: then only `equal` says anything"},
                "equal": {"type": "boolean"},
                "changes": {"type": "array", "items": {
                    "type": "object",
                    "required": ["op", "path"],
                    "properties": {
                        "op": {"enum": ["added", "removed", "changed"]},
                        "path": {"type": "string", "description": "JSON pointer into the decoded snapshot (`/state/count`, `/schema`)"},
                        "from": {"description": "The value in a"},
                        "to": {"description": "The value in b"}
                    }
                }}
            }
        })),
        |ctx, params| async move {
            const OP: &str = "snapshot.diff";
            #[derive(Deserialize)]
            struct P {
                a: String,
                b: String,
            }
            let p: P = parse(OP, params)?;
            let (a, b) = (p.a, p.b);
            let ((meta_a, state_a), (meta_b, state_b)) =
                blocking_at(OP, &ctx.snapshots, move |s| {
                    // Both ids' form first: a bad one is a 400 even when
                    // the other is unknown.
                    validate_id(&a).map_err(|e| ("/a", e))?;
                    validate_id(&b).map_err(|e| ("/b", e))?;
                    let first = s.get(&a).map_err(|e| ("/a", e))?;
                    let second = s.get(&b).map_err(|e| ("/b", e))?;
                    Ok((first, second))
                })
                .await?;
            let mut out = diff(&decode(&state_a), &decode(&state_b));
            out["a"] = super::to_json(OP, &meta_a)?;
            out["b"] = super::to_json(OP, &meta_b)?;
            Ok(out)
        },
    )?;
    add(
        registry,
        ctx,
        OpMeta::new("snapshot.delete", "Removes a stored snapshot")
            .role(Role::Admin)
            .params(id_params())
            .example(json!({"id": EXAMPLE_ID}))
            .result(meta_schema()),
        |ctx, params| async move {
            const OP: &str = "snapshot.delete";
            let id = id_of(OP, params)?;
            let meta = blocking(OP, &ctx.snapshots, move |s| s.delete(&id)).await?;
            super::to_json(OP, &meta)
        },
    )?;
    Ok(())
}

fn id_params() -> Value {
    json!({
        "type": "object",
        "properties": {"id": id_schema()},
        "required": ["id"],
        "additionalProperties": false
    })
}

fn id_of(op: &str, params: Value) -> Result<String, OpError> {
    #[derive(Deserialize)]
    struct P {
        id: String,
    }
    parse::<P>(op, params).map(|p| p.id)
}

/// Copies `from`'s fields into the object `into`.
fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// What the store keeps about a snapshot, in results.
pub(super) fn meta_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "path", "at_ms", "size", "hash", "version", "sha256"],
        "properties": {
            "id": {"type": "string"},
            "path": {"type": "string", "description": "The child it was taken from"},
            "at_ms": {"type": "integer", "description": "When it was stored, ms since the Unix epoch"},
            "size": {"type": "integer", "description": "The state's length in bytes"},
            "hash": {"type": "string", "description": "Content hash of the component that gave it"},
            "version": {"type": ["integer", "null"], "description": "The child's reload version then"},
            "sha256": {"type": "string", "description": "SHA-256 of the state"}
        }
    })
}

fn got_schema() -> Value {
    let mut schema = meta_schema();
    if let Some(required) = schema["required"].as_array_mut() {
        required.extend([json!("format"), json!("state")]);
    }
    schema["properties"]["format"] = json!({"enum": ["json", "base64"]});
    schema["properties"]["schema"] = json!({"type": "integer", "description": "The SDK envelope's schema version (format json)"});
    schema["properties"]["state"] =
        json!({"description": "The state: JSON (format json) or a base64 string"});
    schema
}

/// A store error as the status it deserves; `at` is the params field that
/// named the id.
pub(super) fn store_error(op: &str, at: &str, err: SnapshotStoreError) -> OpError {
    match err {
        SnapshotStoreError::InvalidId { .. } => invalid(op, at, "a snapshot id", err.to_string()),
        SnapshotStoreError::NotFound { id } => OpError::NotFound {
            what: format!("snapshot `{id}`"),
        },
        SnapshotStoreError::Corrupt { .. } | SnapshotStoreError::Io { .. } => failed(op, err),
    }
}

/// Runs `f` on the store off the async workers (it reads files).
pub(super) async fn blocking<T: Send + 'static>(
    op: &str,
    store: &SnapshotStore,
    f: impl FnOnce(&SnapshotStore) -> Result<T, SnapshotStoreError> + Send + 'static,
) -> Result<T, OpError> {
    blocking_at(op, store, move |s| f(s).map_err(|e| ("/id", e))).await
}

/// [`blocking`], with the params field each error is about.
pub(super) async fn blocking_at<T: Send + 'static>(
    op: &str,
    store: &SnapshotStore,
    f: impl FnOnce(&SnapshotStore) -> Result<T, (&'static str, SnapshotStoreError)> + Send + 'static,
) -> Result<T, OpError> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err((at, e))) => Err(store_error(op, at, e)),
        Err(e) => Err(failed(op, format!("the snapshot store task failed: {e}"))),
    }
}

/// Stores `state` for `child.snapshot`: the hash and version of what the
/// child at `path` runs now.
pub(super) async fn store(
    op: &str,
    ctx: &Context,
    path: &str,
    state: Vec<u8>,
) -> Result<SnapshotMeta, OpError> {
    let (hash, version) = crate::host::snapshots::running_code(&ctx.programs, &ctx.reloader, path);
    let hash = hash.unwrap_or_default();
    let path = path.to_string();
    blocking(op, &ctx.snapshots, move |s| {
        s.save(&path, &hash, version, &state)
    })
    .await
}
