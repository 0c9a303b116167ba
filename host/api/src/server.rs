//! The listening side: [`serve`] binds, accepts, and runs each connection
//! in its own task until [`ApiServer::shutdown`].
//!
//! Each connection is served by hyper's HTTP/1.1 connection driver with
//! keep-alive and a header-read timeout ([`HEADER_READ_TIMEOUT`]), so a
//! client that sends its request slowly (or not at all) holds only its own
//! task and is dropped after the timeout; other clients never wait for it.
//! Shutdown stops accepting, asks every connection to finish its current
//! request (event streams end at once), waits up to [`DRAIN_TIMEOUT`], then
//! aborts what is left.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::audit::AuditSink;
use crate::auth::{ApiToken, Keyring};
use crate::components::ComponentCatalog;
use crate::error::ApiError;
use crate::guard::{AllowedHost, AllowedOrigin, SiteGuard};
use crate::logs::LogSource;
use crate::metrics::{ChildGauges, Metrics};
use crate::routes::{self, Shared};
use crate::snapshots::SnapshotFiles;
use warden_events::EventBus;
use warden_ops::Registry;

/// How long a client may take to send a request's headers (and how long
/// an idle keep-alive connection waits for the next request).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for connections to finish their request.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// The single `admin` token (`[host] token` / `WARDEN_TOKEN`), named
    /// `admin`; `None` or empty: none.
    pub token: Option<String>,
    /// Named tokens with their roles (`[[api.tokens]]`), besides
    /// [`token`](Self::token). With neither, there is no authentication
    /// (every caller is an `admin` named `anonymous`), allowed only on a
    /// loopback address.
    pub tokens: Vec<ApiToken>,
    /// The largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Host names the API answers to besides `localhost`, loopback IPs
    /// and the bound address: any other `Host` header is refused (403
    /// `forbidden_host`), which defeats DNS rebinding. By default none.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Web origins that may call the API besides its own: a request with
    /// any other `Origin` is refused (403 `forbidden_origin`). By default
    /// none.
    pub allowed_origins: Vec<AllowedOrigin>,
}

impl ApiConfig {
    /// The default body limit, 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

    /// Serve on `addr` without a token, with the default body limit.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token: None,
            tokens: Vec::new(),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// What the API serves: the operations, the event stream, the metrics,
/// and the component store when the host has one.
/// Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<StateInner>,
}

#[derive(Clone)]
struct StateInner {
    operations: Registry,
    events: EventBus,
    metrics: Metrics,
    audit: Option<Arc<dyn AuditSink>>,
    components: Option<Arc<dyn ComponentCatalog>>,
    logs: Option<Arc<dyn LogSource>>,
    snapshots: Option<Arc<dyn SnapshotFiles>>,
    gauges: Option<Arc<dyn ChildGauges>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("operations", &self.inner.operations.operations().len())
            .field("metrics", &self.inner.metrics)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The API of `operations` and `events`. Its [`Metrics`] subscribe to
    /// `events` now; use [`with_metrics`](Self::with_metrics) to count
    /// events from an earlier point (the tree's start).
    pub fn new(operations: Registry, events: EventBus) -> Self {
        let metrics = Metrics::subscribe(&events);
        Self {
            inner: Arc::new(StateInner {
                operations,
                events,
                metrics,
                audit: None,
                components: None,
                logs: None,
                snapshots: None,
                gauges: None,
            }),
        }
    }

    /// The same state with `metrics` (made with [`Metrics::subscribe`] on
    /// the same bus, before the tree started).
    pub fn with_metrics(self, metrics: Metrics) -> Self {
        self.with(|state| state.metrics = metrics)
    }

    /// The same state serving the component store `catalog` at
    /// `/components` (without one, those routes answer 404).
    pub fn with_components(self, catalog: Arc<dyn ComponentCatalog>) -> Self {
        self.with(|state| state.components = Some(catalog))
    }

    /// The same state serving the children's logs from `source` at
    /// `/logs/{path}` (without one, that route answers 404).
    pub fn with_logs(self, source: Arc<dyn LogSource>) -> Self {
        self.with(|state| state.logs = Some(source))
    }

    /// The same state serving the stored snapshots' raw states at
    /// `GET /snapshots/{id}` (without them, that route answers 404).
    pub fn with_snapshots(self, files: Arc<dyn SnapshotFiles>) -> Self {
        self.with(|state| state.snapshots = Some(files))
    }

    /// The same state adding every child's gauges from `gauges` to
    /// `/metrics` (without them, only the event-fed totals are served).
    pub fn with_child_gauges(self, gauges: Arc<dyn ChildGauges>) -> Self {
        self.with(|state| state.gauges = Some(gauges))
    }

    /// The same state, telling `sink` of every call that may change
    /// something (see [`AuditSink`]). By default no calls are audited.
    pub fn with_audit(self, sink: Arc<dyn AuditSink>) -> Self {
        self.with(|state| state.audit = Some(sink))
    }

    /// A copy of the state with `change` made to it.
    fn with(self, change: impl FnOnce(&mut StateInner)) -> Self {
        let mut state = (*self.inner).clone();
        change(&mut state);
        Self {
            inner: Arc::new(state),
        }
    }

    pub(crate) fn audit(&self) -> Option<&Arc<dyn AuditSink>> {
        self.inner.audit.as_ref()
    }

    pub(crate) fn operations(&self) -> &Registry {
        &self.inner.operations
    }

    pub(crate) fn events(&self) -> &EventBus {
        &self.inner.events
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn components(&self) -> Option<&dyn ComponentCatalog> {
        self.inner.components.as_deref()
    }

    pub(crate) fn logs(&self) -> Option<&dyn LogSource> {
        self.inner.logs.as_deref()
    }

    pub(crate) fn child_gauges(&self) -> Option<&dyn ChildGauges> {
        self.inner.gauges.as_deref()
    }

    pub(crate) fn snapshots(&self) -> Option<&dyn SnapshotFiles> {
        self.inner.snapshots.as_deref()
    }
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    metrics: JoinHandle<()>,
}

impl ApiServer {
    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets connections finish their current request (up
    /// to [`DRAIN_TIMEOUT`]), ends event streams, and returns when every
    /// connection is closed.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(accept) = self.accept.take()
            && let Err(e) = accept.await
            && e.is_panic()
        {
            tracing::error!("the API accept loop panicked: {e}");
        }
        self.metrics.abort();
        tracing::info!(addr = %self.addr, "API stopped");
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.metrics.abort();
    }
}

/// Binds `config.addr` and serves `state` until [`ApiServer::shutdown`].
///
/// Refuses a non-loopback address without a token, and tokens that share
/// a name or a secret. Must be called inside a tokio runtime.
pub async fn serve(config: ApiConfig, state: ApiState) -> Result<ApiServer, ApiError> {
    let mut tokens: Vec<ApiToken> = config
        .token
        .filter(|t| !t.is_empty())
        .map(ApiToken::admin)
        .into_iter()
        .collect();
    tokens.extend(config.tokens);
    let keyring = Arc::new(Keyring::new(&tokens)?);
    if keyring.is_empty() && !config.addr.ip().is_loopback() {
        return Err(ApiError::TokenRequired { addr: config.addr });
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| ApiError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ApiError::Bind {
        addr: config.addr,
        source,
    })?;
    let (shutdown, signal) = watch::channel(false);
    let shared = Shared {
        api: state.clone(),
        server_url: Arc::from(format!("http://{addr}")),
        token_required: !keyring.is_empty(),
        max_body_bytes: config.max_body_bytes,
        shutdown: signal.clone(),
    };
    let guard = SiteGuard::new(addr, config.allowed_hosts, config.allowed_origins);
    let auth = !keyring.is_empty();
    let router = routes::router(shared, keyring, guard);
    let metrics = tokio::spawn({
        let metrics = state.metrics().clone();
        async move { metrics.follow().await }
    });
    let accept = tokio::spawn(accept_loop(listener, router, signal));
    tracing::info!(%addr, auth, tokens = tokens.len(), "API listening");
    Ok(ApiServer {
        addr,
        shutdown,
        accept: Some(accept),
        metrics,
    })
}

async fn accept_loop(listener: TcpListener, router: Router, mut signal: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, router.clone(), signal.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = signal.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "API connections still open after the drain timeout; closing them"
        );
        connections.shutdown().await;
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut signal: watch::Receiver<bool>,
) {
    // Answers are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    let mut conn = std::pin::pin!(conn);
    let stopping = async move {
        // An error means the server is gone: stop as well.
        let _ = signal.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "API connection ended with an error");
    }
}
