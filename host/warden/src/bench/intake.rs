//! Taking user code in at run time: a host with `[api.sandboxes]`, its
//! component store and the `sandbox.*` operations, called in-process
//! through the host's operation registry (what the HTTP API calls, minus
//! HTTP).
//!
//! - `intake_uncached`: a `counter` no cache has seen (one more custom
//!   section each round) put in the store, compiled on the bounded path
//!   (`[host.compile]`: a compile child) and started as a sandbox that
//!   answers a message (p50, p99, mean, ms);
//! - `sandbox_create`: `sandbox.create` of a stored component compiled
//!   before (its code in the runtime's cache), until the operation
//!   answers with the child running (p50, p99, mean, µs; goal ≤ 1 ms);
//! - `sandbox_cycles`: create + destroy cycles per second, sequential.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::events::EventBus;
use crate::host::Host;

const UNCACHED_ROUNDS: usize = 12;
const CREATE_ROUNDS: usize = 1_000;
const CYCLES: usize = 1_000;

pub fn intake(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let counter = env.read_plugin("counter")?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async move {
        let dir = tempfile::tempdir().map_err(fail)?;
        let config_path = dir.path().join("warden.toml");
        std::fs::write(
            &config_path,
            "[host]\nstate_dir = \"state\"\n[supervisor.root]\nstrategy = \"one_for_one\"\n\
             [api.sandboxes]\nmax = 2000\n",
        )
        .map_err(fail)?;
        let config = crate::config::load(&config_path).map_err(fail)?;
        let host = Host::start(&config, EventBus::default())
            .await
            .map_err(fail)?;
        let figures = measure(&host, &counter).await;
        host.stop().await;
        figures
    })
}

async fn measure(host: &Host, counter: &[u8]) -> Result<Vec<Figure>, BenchError> {
    let mut figures = Vec::new();
    let mut uncached = Samples::with_capacity(UNCACHED_ROUNDS);
    for round in 0..UNCACHED_ROUNDS {
        let bytes = crate::component::with_custom_section(
            counter,
            "warden-bench",
            format!("intake {round} {:?}", Instant::now()).as_bytes(),
        );
        let started = Instant::now();
        let stored = host.store.put(&bytes).map_err(fail)?;
        let created = call(
            host,
            "sandbox.create",
            json!({"id": format!("cold-{round}"), "component": stored.component.id}),
        )
        .await?;
        let path = path_of(&created)?;
        host.router
            .call(&path, b"inc".to_vec())
            .await
            .map_err(fail)?;
        uncached.push(started.elapsed());
        call(host, "sandbox.destroy", json!({"path": path})).await?;
    }
    figures.extend(ms("intake_uncached", &mut uncached));

    let id = host.store.put(counter).map_err(fail)?.component.id;
    // Compiled once, by a first sandbox.
    let first = call(
        host,
        "sandbox.create",
        json!({"id": "warm", "component": id}),
    )
    .await?;
    call(host, "sandbox.destroy", json!({"path": path_of(&first)?})).await?;
    let mut create = Samples::with_capacity(CREATE_ROUNDS);
    for round in 0..CREATE_ROUNDS {
        let started = Instant::now();
        let created = call(
            host,
            "sandbox.create",
            json!({"id": format!("s{round}"), "component": id}),
        )
        .await?;
        create.push(started.elapsed());
        call(host, "sandbox.destroy", json!({"path": path_of(&created)?})).await?;
    }
    figures.extend(create.figures_us("sandbox_create"));

    let started = Instant::now();
    for round in 0..CYCLES {
        let created = call(
            host,
            "sandbox.create",
            json!({"id": format!("c{round}"), "component": id}),
        )
        .await?;
        call(host, "sandbox.destroy", json!({"path": path_of(&created)?})).await?;
    }
    figures.push(Figure::new(
        "sandbox_cycles",
        "throughput",
        CYCLES as f64 / started.elapsed().as_secs_f64(),
        "per_s",
    ));
    Ok(figures)
}

async fn call(host: &Host, op: &str, params: Value) -> Result<Value, BenchError> {
    host.operations
        .get(op)
        .map_err(fail)?
        .call(params)
        .await
        .map_err(|e| BenchError::Failed(format!("{op}: {e}")))
}

fn path_of(created: &Value) -> Result<String, BenchError> {
    created["path"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BenchError::Failed(format!("sandbox.create answered {created}")))
}

fn ms(bench: &str, samples: &mut Samples) -> Vec<Figure> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    vec![
        Figure::new(bench, "p50", ms(samples.quantile(0.50)), "ms"),
        Figure::new(bench, "p99", ms(samples.quantile(0.99)), "ms"),
        Figure::new(bench, "mean", ms(samples.mean()), "ms"),
    ]
}

fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}
