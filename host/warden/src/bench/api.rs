//! The HTTP API benchmark: a plugin operation (`wordcount`'s `count`)
//! called over HTTP on loopback.
//!
//! An in-process host — the operation registry with the `wordcount`
//! plugin, its event bus and metrics — is served by [`crate::api::serve`]
//! on `127.0.0.1:0`, and driven by [`ApiClient`]s in the same process (so
//! the figures include the client's own cost, on the same cores):
//! - `api`: latency of one `wordcount.count` call from a single sequential
//!   keep-alive client (p50, p99, mean);
//! - `api_32_clients`: requests per second sustained by 32 concurrent
//!   keep-alive clients for [`LOAD`], and the latency they saw;
//! - `api_direct_32_callers`: the same load calling the registry without
//!   HTTP — the cost of the plugin call itself (a fresh sandbox per call);
//! - `api_builtin` (sequential p50) and `api_builtin_32_clients`: the same
//!   over HTTP on a built-in operation that runs no guest — the cost of the
//!   HTTP layer itself.
//!
//! The last two bound the first: HTTP cost plus guest cost.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::api::client::ApiClient;
use crate::api::{self, ApiConfig, ApiState};
use crate::component::{
    Capabilities, Limits, Metering, OperationProgram, PoolingConfig, Runtime, RuntimeConfig,
};
use crate::events::EventBus;
use crate::ops::{OpMeta, PluginOperations, Registry};

/// Sequential calls measured.
const SEQUENTIAL: usize = 5_000;
/// Concurrent clients of the load phases.
const CLIENTS: usize = 32;
/// Warm-up before a load phase is counted.
const WARM_UP: Duration = Duration::from_millis(300);
/// Length of a counted load phase.
const LOAD: Duration = Duration::from_secs(2);

pub fn api(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let bytes = env.read_plugin("wordcount")?;
    // Pooled, as a host with many children would be configured: every call
    // of an operation plugin is a fresh instance.
    let runtime = Runtime::new(RuntimeConfig {
        pooling: Some(PoolingConfig::new(128, 64 << 20)),
        ..RuntimeConfig::default()
    })?;
    let program = OperationProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
    let operations = Registry::new();
    operations
        .register_plugin(
            "wordcount",
            Arc::new(PluginOperations::new(
                "wordcount",
                program,
                Limits::default(),
                Capabilities::default(),
            )),
        )
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    operations
        .register_builtin(
            OpMeta::new("bench.echo", "Returns its params")
                .params(json!({"type": "object"}))
                .read_only(true),
            |params| Box::pin(async move { Ok(params) }),
        )
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async move {
        let state = ApiState::new(operations.clone(), EventBus::default());
        let server = api::serve(ApiConfig::new(([127, 0, 0, 1], 0).into()), state)
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        let measured = measure(&server.url(), &operations).await;
        server.shutdown().await;
        measured
    })
}

async fn measure(url: &str, operations: &Registry) -> Result<Vec<Figure>, BenchError> {
    let client = client(url)?;
    for _ in 0..500 {
        count(&client).await?;
    }
    let mut samples = Samples::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        count(&client).await?;
        samples.push(started.elapsed());
    }
    let mut figures = samples.figures_us("api");
    let mut samples = Samples::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        echo(&client).await?;
        samples.push(started.elapsed());
    }
    figures.push(Figure::new(
        "api_builtin",
        "p50",
        us(samples.quantile(0.50)),
        "us",
    ));

    let clients = (0..CLIENTS)
        .map(|_| self::client(url))
        .collect::<Result<Vec<_>, _>>()?;
    let (throughput, mut seen) = load(&clients, |c| async move { count(&c).await }).await?;
    figures.push(Figure::new(
        "api_32_clients",
        "throughput",
        throughput,
        "per_s",
    ));
    figures.push(Figure::new(
        "api_32_clients",
        "p50",
        us(seen.quantile(0.50)),
        "us",
    ));
    figures.push(Figure::new(
        "api_32_clients",
        "p99",
        us(seen.quantile(0.99)),
        "us",
    ));

    let callers = vec![operations.clone(); CLIENTS];
    let (direct, _) = load(&callers, |registry| async move {
        let result = registry
            .call("wordcount.count", params())
            .await
            .map_err(|e| BenchError::Failed(format!("wordcount.count: {e}")))?;
        check(&result)
    })
    .await?;
    figures.push(Figure::new(
        "api_direct_32_callers",
        "throughput",
        direct,
        "per_s",
    ));

    let (builtin, _) = load(&clients, |c| async move { echo(&c).await }).await?;
    figures.push(Figure::new(
        "api_builtin_32_clients",
        "throughput",
        builtin,
        "per_s",
    ));
    Ok(figures)
}

/// One task per caller, each calling `work` in a loop: the calls per
/// second over [`LOAD`] after [`WARM_UP`], and their latencies.
async fn load<C, F, Fut>(callers: &[C], work: F) -> Result<(f64, Samples), BenchError>
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), BenchError>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(callers.len());
    for caller in callers {
        let (caller, work) = (caller.clone(), work.clone());
        let (stop, measuring, done) = (stop.clone(), measuring.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(1 << 14);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                work(caller.clone()).await?;
                if measuring.load(Ordering::Relaxed) {
                    samples.push(started.elapsed());
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, BenchError>(samples)
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    measuring.store(true, Ordering::Relaxed);
    let (from, started) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(LOAD).await;
    let (to, elapsed) = (done.load(Ordering::Relaxed), started.elapsed());
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut all = Samples::with_capacity(1 << 16);
    for task in tasks {
        let samples = task
            .await
            .map_err(|e| BenchError::Failed(format!("a load task failed: {e}")))??;
        for d in samples {
            all.push(d);
        }
    }
    Ok(((to - from) as f64 / elapsed.as_secs_f64(), all))
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

fn client(url: &str) -> Result<ApiClient, BenchError> {
    ApiClient::new(url, None).map_err(|e| BenchError::Failed(e.to_string()))
}

fn params() -> Value {
    json!({"text": "the quick brown fox jumps over the lazy dog and the cat", "top": 3})
}

/// One `wordcount.count` call over HTTP, its answer checked.
async fn count(client: &ApiClient) -> Result<(), BenchError> {
    let result = client
        .call("wordcount.count", params())
        .await
        .map_err(|e| BenchError::Failed(format!("wordcount.count over HTTP: {e}")))?;
    check(&result)
}

/// One `bench.echo` call over HTTP (a built-in: no guest runs).
async fn echo(client: &ApiClient) -> Result<(), BenchError> {
    client
        .call("bench.echo", params())
        .await
        .map(drop)
        .map_err(|e| BenchError::Failed(format!("bench.echo over HTTP: {e}")))
}

fn check(result: &Value) -> Result<(), BenchError> {
    if result["words"] == 12 {
        Ok(())
    } else {
        Err(BenchError::Failed(format!(
            "wordcount.count answered {result}, expected 12 words"
        )))
    }
}
