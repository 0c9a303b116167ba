//! The cost of `persist`: a graceful restart of a `counter` child
//! (`terminate_child` then `restart_child`, what `warden ctl restart`
//! does) until the new incarnation answers `get`, with
//! `persist = "shutdown"` (its snapshot written and synced on the stop,
//! read, checked and restored at the start: the count survives) and,
//! in the same run, without it (the count starts again from `init`).
//! The difference is what keeping state across a stop costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tree::component_start;
use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{ActorProgram, Metering, Runtime, RuntimeConfig};
use crate::config::{PersistConfig, PersistMode};
use crate::events::EventBus;
use crate::host::Router;
use crate::host::persist::Persistence;
use crate::supervisor::{ChildSpec, Strategy, SupervisorFlags, SupervisorSpec, start_root};

/// Restarts measured in each mode, after the warm-up ones.
const ROUNDS: usize = 300;
const WARM_UP: usize = 20;

/// `persist`: figures `p50`, `p99`, `mean` of a graceful restart with the
/// state kept, and `without_p50`, `without_p99`, `without_mean` of the
/// same restart without `persist`.
pub fn persist(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let bytes = env.read_plugin("counter")?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let program = ActorProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
    let state_dir = tempfile::tempdir()
        .map_err(|e| BenchError::Failed(format!("cannot make a state dir: {e}")))?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        let mut figures = Vec::new();
        for kept in [true, false] {
            let mut samples = graceful_restarts(&program, kept.then(|| state_dir.path())).await?;
            figures.extend(samples.figures_us("persist").into_iter().map(|mut f| {
                if !kept {
                    f.metric = format!("without_{}", f.metric);
                }
                f
            }));
        }
        Ok(figures)
    })
}

/// Times [`ROUNDS`] graceful restarts of a `counter` child whose count is
/// 7 (persisted under `state_dir` when given), checking each new
/// incarnation answers with the count it should have.
async fn graceful_restarts(
    program: &ActorProgram,
    state_dir: Option<&std::path::Path>,
) -> Result<Samples, BenchError> {
    let router = Router::default();
    let events = EventBus::new(1024);
    let mut start = component_start(program.clone(), &router);
    start.persist = state_dir.map(|dir| {
        Arc::new(Persistence::new(
            PersistConfig {
                mode: PersistMode::Shutdown,
                restore_after_crash: false,
            },
            dir,
            events.clone(),
        ))
    });
    let spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::OneForOne))
        .child(ChildSpec::worker("counter", start));
    let root = start_root("bench", spec, events)
        .await
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    for _ in 0..7 {
        call(&router, "inc").await?;
    }
    let expected: &[u8] = if state_dir.is_some() { b"7" } else { b"0" };
    let mut samples = Samples::with_capacity(ROUNDS);
    for round in 0..ROUNDS + WARM_UP {
        let started = Instant::now();
        root.terminate_child("counter")
            .await
            .map_err(|e| BenchError::Failed(format!("terminate: {e}")))?;
        root.restart_child("counter")
            .await
            .map_err(|e| BenchError::Failed(format!("restart: {e}")))?;
        let reply = call(&router, "get").await?;
        let elapsed = started.elapsed();
        if reply != expected {
            return Err(BenchError::Failed(format!(
                "after a restart the count was {:?}, not {:?}",
                String::from_utf8_lossy(&reply),
                String::from_utf8_lossy(expected)
            )));
        }
        if round >= WARM_UP {
            samples.push(elapsed);
        }
    }
    root.stop().await;
    Ok(samples)
}

/// `message` to the counter, waiting (5 s at most) for a started
/// incarnation to be routed.
async fn call(router: &Router, message: &str) -> Result<Vec<u8>, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match router
            .call("bench/counter", message.as_bytes().to_vec())
            .await
        {
            Ok(reply) => return Ok(reply),
            Err(_) if Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => return Err(BenchError::Failed(format!("counter: {e}"))),
        }
    }
}
