//! Hot reload: from writing a new `.wasm` over a watched child's file to
//! the new version answering a message with its state restored.
//!
//! Every version is `counter_v2` with one extra custom section: the same
//! code, a different content hash. `cold` writes a version no cache has
//! ever seen: `reload_cold` is the first swap (Winch code), and
//! `reload_optimized` the second (the Cranelift code swapped in by the
//! background step), both from the write to the new code answering with
//! the state; `warm` alternates two versions compiled before (the
//! runtime's in-memory cache: one swap, optimized code). Each is measured
//! through the file watcher (a closed write is delivered at once, see
//! [`crate::reload::Watcher`]) and straight through the pipeline
//! (`Reloader::reload`, no watcher; `_direct`). A round waits for the
//! optimized step of the one before, so the next reload does not share
//! the cores with it.

use std::time::{Duration, Instant};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::events::{EventBus, EventKind, EventStream, Received, ReloadEvent, Tier};
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
        let (mut cold, mut optimized) = tiered_samples();
        for _ in 0..COLD_ROUNDS {
            let (first, second) = watched(&host, &bus, &file, &fresh()).await?;
            cold.push(first);
            optimized.push(second.ok_or_else(|| untiered("a new version"))?);
        }
        let mut hot = Samples::with_capacity(WARM_ROUNDS);
        for i in 0..WARM_ROUNDS + 2 {
            let (d, second) = watched(&host, &bus, &file, &warm[i % 2]).await?;
            if i >= 2 {
                if second.is_some() {
                    return Err(BenchError::Failed(
                        "a version compiled before was swapped in at the baseline tier".into(),
                    ));
                }
                hot.push(d);
            }
        }
        figures.extend(figures_ms("reload_cold", &mut cold));
        figures.extend(figures_ms("reload_optimized", &mut optimized));
        figures.extend(figures_ms("reload_warm_watched", &mut hot));
        // Straight through the pipeline.
        let (mut cold, mut optimized) = tiered_samples();
        for _ in 0..COLD_ROUNDS {
            let (first, second) = direct(&host, &bus, &direct_file, &fresh()).await?;
            cold.push(first);
            optimized.push(second.ok_or_else(|| untiered("a new version"))?);
        }
        let mut hot = Samples::with_capacity(WARM_ROUNDS);
        for i in 0..WARM_ROUNDS {
            hot.push(direct(&host, &bus, &direct_file, &warm[i % 2]).await?.0);
        }
        figures.extend(figures_ms("reload_cold_direct", &mut cold));
        figures.extend(figures_ms("reload_optimized_direct", &mut optimized));
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

/// Samples of the first and the second swap of cold rounds.
fn tiered_samples() -> (Samples, Samples) {
    (
        Samples::with_capacity(COLD_ROUNDS),
        Samples::with_capacity(COLD_ROUNDS),
    )
}

fn untiered(what: &str) -> BenchError {
    BenchError::Failed(format!(
        "{what} was swapped in once, at the optimized tier: no baseline step to measure"
    ))
}

/// Write → `Reloaded` event → the new version answers `get` with the
/// state; then, for baseline code, → `Optimized` → answers again.
async fn watched(
    host: &Host,
    bus: &EventBus,
    file: &std::path::Path,
    bytes: &[u8],
) -> Result<(Duration, Option<Duration>), BenchError> {
    let mut events = bus.subscribe();
    let started = Instant::now();
    std::fs::write(file, bytes).map_err(fail)?;
    let (version, tier) = wait_for(&mut events, CHILD, |e| match e {
        ReloadEvent::Reloaded { version, tier, .. } => Some((*version, *tier)),
        _ => None,
    })
    .await?;
    let first = answered(host, CHILD, started).await?;
    let second = optimized(host, &mut events, CHILD, version, tier, started).await?;
    Ok((first, second))
}

/// `Reloader::reload` → the new version answers `get` with the state;
/// then, for baseline code, → `Optimized` → answers again.
async fn direct(
    host: &Host,
    bus: &EventBus,
    file: &std::path::Path,
    bytes: &[u8],
) -> Result<(Duration, Option<Duration>), BenchError> {
    let mut events = bus.subscribe();
    std::fs::write(file, bytes).map_err(fail)?;
    let started = Instant::now();
    match host.reload(DIRECT_CHILD).await.map_err(fail)? {
        ReloadOutcome::Reloaded { version, tier, .. } => {
            let first = answered(host, DIRECT_CHILD, started).await?;
            let tier = match tier {
                crate::component::Tier::Baseline => Tier::Baseline,
                crate::component::Tier::Optimized => Tier::Optimized,
            };
            let second = optimized(host, &mut events, DIRECT_CHILD, version, tier, started).await?;
            Ok((first, second))
        }
        other => Err(BenchError::Failed(format!(
            "unexpected reload outcome {other:?}"
        ))),
    }
}

/// For baseline code: the time to the `Optimized` event of `version` and
/// the optimized code answering. `None` for code swapped in optimized.
async fn optimized(
    host: &Host,
    events: &mut EventStream,
    child: &str,
    version: u64,
    tier: Tier,
    started: Instant,
) -> Result<Option<Duration>, BenchError> {
    if tier == Tier::Optimized {
        return Ok(None);
    }
    wait_for(events, child, |e| match e {
        ReloadEvent::Optimized { version: v, .. } if *v == version => Some(()),
        _ => None,
    })
    .await?;
    answered(host, child, started).await.map(Some)
}

/// The first reload event of `child` that `pick` takes, within 30 s; a
/// failure is an error.
async fn wait_for<T>(
    events: &mut EventStream,
    child: &str,
    mut pick: impl FnMut(&ReloadEvent) -> Option<T>,
) -> Result<T, BenchError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Err(BenchError::Failed("no reload event within 30 s".into())),
            Ok(None) => return Err(BenchError::Failed("event bus closed".into())),
            Ok(Some(Received::Event(e))) if e.path.to_string() == child => {
                let EventKind::Reload(event) = &e.kind else {
                    continue;
                };
                if let Some(t) = pick(event) {
                    return Ok(t);
                }
                match event {
                    ReloadEvent::ReloadFailed { stage, reason, .. } => {
                        return Err(BenchError::Failed(format!(
                            "reload failed at {stage}: {reason}"
                        )));
                    }
                    ReloadEvent::OptimizeFailed { reason, .. } => {
                        return Err(BenchError::Failed(format!("optimizing failed: {reason}")));
                    }
                    _ => {}
                }
            }
            Ok(Some(_)) => {}
        }
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
