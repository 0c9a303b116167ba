//! The HTTP API: every operation of the [`Registry`](warden_ops::Registry)
//! over HTTP, the event stream, metrics, and the dashboard.
//!
//! This module owns the HTTP surface and nothing behind it: an operation's
//! behaviour, params schema and error statuses come from [`warden_ops`];
//! events come from the [`EventBus`](warden_events::EventBus). It never
//! reaches into the tree.
//!
//! - [`serve`] / [`ApiServer`] (`server`): binding, per-connection tasks,
//!   header-read timeout, graceful shutdown;
//! - `routes`: the router and the operation dispatch (`POST /ops/{name}`);
//! - `guard`: the cross-site guard (403 for a foreign `Host` or `Origin`),
//!   and the `[api] allowed_hosts` / `allowed_origins` entries it takes;
//! - `auth`: the bearer token (constant-time compare; public assets exempt);
//! - `sse`: `GET /events` as Server-Sent Events with filters;
//! - [`Metrics`] (`metrics`): `GET /metrics` in Prometheus text;
//! - `openapi`: `GET /openapi.json`, the registry's document completed;
//! - `error`: [`ApiError`] and the JSON bodies of HTTP-level failures;
//! - [`client`]: [`ApiClient`](client::ApiClient), the keep-alive client
//!   `warden ctl`, the benchmarks and tests use;
//! - [`dashboard`]: the page and assets served at `/`.
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

mod auth;
pub mod client;
pub mod dashboard;
mod error;
mod guard;
mod metrics;
mod openapi;
mod routes;
mod server;
mod sse;

pub use error::ApiError;
pub use guard::{AccessError, AllowedHost, AllowedOrigin};
pub use metrics::Metrics;
pub use server::{ApiConfig, ApiServer, ApiState, DRAIN_TIMEOUT, HEADER_READ_TIMEOUT, serve};
