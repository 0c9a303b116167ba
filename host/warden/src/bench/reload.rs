//! Hot reload: from writing a new `.wasm` over a watched child's file to
//! the new version answering a message with its state restored.
//!
//! Every version is `counter_v2` with one extra custom section: the same
//! code, a different content hash. `cold` writes a version no cache has
//! ever seen (a full compile on every round); `warm` alternates two
//! versions compiled before (the runtime's in-memory cache). Each is
//! measured through the file watcher (a closed write is delivered at once,
//! see [`crate::reload::Watcher`]) and straight
//! through the pipeline (`Reloader::reload`, no watcher).

use std::time::{Duration, Instant};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::events::{EventBus, EventKind, Received, ReloadEvent};
use crate::host::Host;
use crate::reload::{ReloadOutcome, Watcher};

const COLD_ROUNDS: usize = 30;
const WARM_ROUNDS: usize = 100;
const CHILD: &str = "root/counter";
/// The same code, not watched: reloaded by direct calls only.
const DIRECT_CHILD: &str = "root/direct";
const START: u64 = 7;

pub fn reload(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let v2 = env.read_plugin("counter_v2")?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async move {
        let dir = tempfile::tempdir().map_err(fail)?;
        let file = dir.path().join("counter.wasm");
        std::fs::write(&file, &v2).map_err(fail)?;
        let direct_file = dir.path().join("direct.wasm");
        std::fs::write(&direct_file, &v2).map_err(fail)?;
        let config_path = dir.path().join("warden.toml");
        std::fs::write(
            &config_path,
            "[host]\nstate_dir = \"state\"\n[supervisor.root]\nstrategy = \"one_for_one\"\n\
             [[supervisor.root.children]]\nid = \"counter\"\nkind = \"component\"\n\
             path = \"counter.wasm\"\nwatch = true\n\
             [[supervisor.root.children]]\nid = \"direct\"\nkind = \"component\"\n\
             path = \"direct.wasm\"\n",
        )
        .map_err(fail)?;
        let config = crate::config::load(&config_path).map_err(fail)?;
        let bus = EventBus::default();
        let host = Host::start(&config, bus.clone()).await.map_err(fail)?;
        host.reloader.set_probation(Duration::ZERO);
        for child in [CHILD, DIRECT_CHILD] {
            host.router
                .call(child, format!("add {START}").into_bytes())
                .await
                .map_err(fail)?;
        }
        let mut round = 0u64;
        let mut fresh = || {
            round += 1;
            with_custom_section(&v2, &format!("round {round}"))
        };
        let warm = [fresh(), fresh()];
        let mut figures = Vec::new();
        // Through the watcher.
        let mut cold = Samples::with_capacity(COLD_ROUNDS);
        for _ in 0..COLD_ROUNDS {
            cold.push(watched(&host, &bus, &file, &fresh()).await?);
        }
        let mut hot = Samples::with_capacity(WARM_ROUNDS);
        for i in 0..WARM_ROUNDS + 2 {
            let d = watched(&host, &bus, &file, &warm[i % 2]).await?;
            if i >= 2 {
                hot.push(d);
            }
        }
        figures.extend(figures_ms("reload_cold_watched", &mut cold));
        figures.extend(figures_ms("reload_warm_watched", &mut hot));
        // Straight through the pipeline.
        let mut cold = Samples::with_capacity(COLD_ROUNDS);
        for _ in 0..COLD_ROUNDS {
            cold.push(direct(&host, &direct_file, &fresh()).await?);
        }
        let mut hot = Samples::with_capacity(WARM_ROUNDS);
        for i in 0..WARM_ROUNDS {
            hot.push(direct(&host, &direct_file, &warm[i % 2]).await?);
        }
        figures.extend(figures_ms("reload_cold_direct", &mut cold));
        figures.extend(figures_ms("reload_warm_direct", &mut hot));
        figures.push(Figure::new(
            "reload_warm_watched",
            "debounce",
            Watcher::DEFAULT_DEBOUNCE.as_secs_f64() * 1e3,
            "ms",
        ));
        host.stop().await;
        Ok(figures)
    })
}

/// Write → `Reloaded` event → the new version answers `get` with the state.
async fn watched(
    host: &Host,
    bus: &EventBus,
    file: &std::path::Path,
    bytes: &[u8],
) -> Result<Duration, BenchError> {
    let mut events = bus.subscribe();
    let started = Instant::now();
    std::fs::write(file, bytes).map_err(fail)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Err(BenchError::Failed("no reload within 30 s".into())),
            Ok(None) => return Err(BenchError::Failed("event bus closed".into())),
            Ok(Some(Received::Event(e))) => match e.kind {
                EventKind::Reload(ReloadEvent::Reloaded { .. }) => break,
                EventKind::Reload(ReloadEvent::ReloadFailed { stage, reason, .. }) => {
                    return Err(BenchError::Failed(format!(
                        "reload failed at {stage}: {reason}"
                    )));
                }
                _ => {}
            },
            Ok(Some(Received::Missed(_))) => {}
        }
    }
    answered(host, CHILD, started).await
}

/// `Reloader::reload` → the new version answers `get` with the state.
async fn direct(host: &Host, file: &std::path::Path, bytes: &[u8]) -> Result<Duration, BenchError> {
    std::fs::write(file, bytes).map_err(fail)?;
    let started = Instant::now();
    match host.reload(DIRECT_CHILD).await.map_err(fail)? {
        ReloadOutcome::Reloaded { .. } => answered(host, DIRECT_CHILD, started).await,
        other => Err(BenchError::Failed(format!(
            "unexpected reload outcome {other:?}"
        ))),
    }
}

async fn answered(host: &Host, child: &str, started: Instant) -> Result<Duration, BenchError> {
    let reply = host
        .router
        .call(child, b"get".to_vec())
        .await
        .map_err(fail)?;
    let elapsed = started.elapsed();
    if reply != START.to_string().as_bytes() {
        return Err(BenchError::Failed(format!(
            "state lost across the reload: get = {}",
            String::from_utf8_lossy(&reply)
        )));
    }
    Ok(elapsed)
}

fn figures_ms(bench: &str, samples: &mut Samples) -> Vec<Figure> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    vec![
        Figure::new(bench, "p50", ms(samples.quantile(0.50)), "ms"),
        Figure::new(bench, "p99", ms(samples.quantile(0.99)), "ms"),
        Figure::new(bench, "mean", ms(samples.mean()), "ms"),
    ]
}

fn with_custom_section(component: &[u8], payload: &str) -> Vec<u8> {
    crate::component::with_custom_section(component, "warden-bench", payload.as_bytes())
}

fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}
