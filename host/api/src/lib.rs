//! Warden's HTTP API: every operation of a host's operation
//! [`Registry`](warden_ops::Registry) over HTTP, its events as Server-Sent
//! Events, Prometheus metrics and the dashboard page; and the client that
//! `warden ctl`, the benchmarks and the tests use.
//!
//! The nouns, in the order a host meets them:
//! - [`ApiConfig`]: the address, the tokens ([`ApiToken`]: a name, a
//!   [`Role`](warden_ops::Role) and a secret), the body limit, and the
//!   extra [`AllowedHost`]s and [`AllowedOrigin`]s (a bad entry:
//!   [`AccessError`]).
//! - [`ApiState`]: what is served: the operations, the
//!   [`EventBus`](warden_events::EventBus), the [`Metrics`], and the
//!   [`AuditSink`] told of every call that may change something
//!   ([`AuditEntry`]).
//! - [`Identity`]: who a request comes from (a token's name and role).
//! - [`ComponentCatalog`]: the component store behind `/components`, which
//!   the host implements (an upload compiled under the compile limits
//!   before it is stored); its refusals are [`CatalogError`]s.
//! - [`LogSource`]: the children's logs behind `/logs/{path}` ([`LogEntry`]
//!   lines, a [`LogView`] to read or follow, a [`LogError`] to refuse),
//!   which the host implements over its per-child rings.
//! - [`SnapshotFiles`]: the host's stored snapshots, whose raw states
//!   `GET /snapshots/{id}` streams ([`RawState`]; refusals:
//!   [`SnapshotFileError`]).
//! - [`Metrics`]: counters fed by the bus and by every call, rendered at
//!   `GET /metrics` in Prometheus text.
//! - [`serve`]: binds and starts serving, or says why not ([`ApiError`]).
//! - [`ApiServer`]: the running server: its address, and a graceful
//!   [`shutdown`](ApiServer::shutdown) bounded by [`DRAIN_TIMEOUT`].
//! - [`client::ApiClient`]: a keep-alive client of one host's API; its
//!   failures are [`client::ClientError`]s, its event stream
//!   [`client::Events`] yields [`client::SseEvent`]s.
//!
//! The routes: `POST /ops/{name}` (an operation: JSON params in, JSON
//! result out), `GET /events` (the event stream, with filters),
//! `GET /logs/{path}` (a child's log, `?follow=1` as SSE),
//! `GET /metrics`, the component store (`POST`/`GET /components`,
//! `GET`/`DELETE /components/{id}`), a stored snapshot's raw state
//! (`GET /snapshots/{id}`), `GET /openapi.json` (the registry's
//! document completed with the HTTP errors), `GET /whoami` (the caller's
//! token name and role), `GET /healthz`, and the [`dashboard`] at `/` and
//! `/assets/{file}`. Every error answer is `{"error": {"kind", "message",
//! …}}`.
//!
//! Owns: the HTTP surface and nothing behind it: routing, the bearer
//! tokens (compared in constant time; the dashboard's files and `/healthz`
//! are public) and the role each needs (403 `forbidden_role`), the audit
//! hook's entries, the cross-site guard (403 for a foreign `Host` or `Origin`),
//! body limits, the header-read timeout ([`HEADER_READ_TIMEOUT`]), the
//! bodies of HTTP-level errors, graceful shutdown.
//!
//! Never does: decide an operation's behaviour, params schema or error
//! statuses ([`warden_ops`] does), produce events (they come from the
//! [`EventBus`](warden_events::EventBus)), compile or store components
//! (the host's [`ComponentCatalog`] does), keep logs (the host's
//! [`LogSource`] does), or reach into the host: it sees only the operation
//! registry, the bus, the catalog and the log source.
//!
//! ```no_run
//! # async fn demo(
//! #     operations: warden_ops::Registry,
//! #     events: warden_events::EventBus,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use warden_api::{ApiConfig, ApiState, client::ApiClient};
//!
//! // A host's operations and its event bus (`warden::host::Host` has both).
//! let state = ApiState::new(operations, events);
//! let server = warden_api::serve(ApiConfig::new("127.0.0.1:0".parse()?), state).await?;
//! let client = ApiClient::new(&server.url(), None)?;
//! let tree = client.call("tree", serde_json::json!({})).await?;
//! println!("{tree}");
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod audit;
mod auth;
pub mod client;
mod components;
pub mod dashboard;
mod error;
mod guard;
mod logs;
mod metrics;
mod openapi;
mod routes;
mod server;
mod snapshots;
mod sse;

pub use audit::{AuditEntry, AuditSink};
pub use auth::{ADMIN_TOKEN_NAME, ApiToken, Identity};
/// The bytes of an upload, as [`ComponentCatalog::upload`] takes them.
pub use bytes::Bytes;
pub use components::{CatalogError, CatalogFuture, ComponentCatalog, Uploaded};
pub use error::ApiError;
pub use guard::{AccessError, AllowedHost, AllowedOrigin};
pub use logs::{
    DEFAULT_LINES as LOG_DEFAULT_LINES, LogEntry, LogError, LogFuture, LogSource, LogView,
    MAX_LINES as LOG_MAX_LINES,
};
pub use metrics::{ChildGauges, ChildSample, Metrics, SampleFuture, render_children};
pub use server::{ApiConfig, ApiServer, ApiState, DRAIN_TIMEOUT, HEADER_READ_TIMEOUT, serve};
pub use snapshots::{RawState, SnapshotFileError, SnapshotFiles, SnapshotFuture};
