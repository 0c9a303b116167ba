//! Component benchmarks: instantiation from `InstancePre`, and a 100-byte
//! `handle` call, each awaited as a child's task awaits them.

use std::time::Instant;

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{
    ActorProgram, Capabilities, HostContext, Limits, Metering, PoolingConfig, Runtime,
    RuntimeConfig,
};

const WARMUP: usize = 2_000;
const ROUNDS: usize = 20_000;

/// Instantiation of the `echo` plugin from its `InstancePre`, pooled and
/// on-demand (Store creation included, `init` excluded).
pub fn instantiate(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let bytes = env.read_plugin("echo")?;
    let mut figures = Vec::new();
    for (label, pooling) in [
        (
            "instantiate_pooled",
            Some(PoolingConfig::new(1_000, 64 << 20)),
        ),
        ("instantiate", None),
    ] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })?;
        let program = ActorProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
        let limits = Limits::default();
        let caps = Capabilities::default();
        let mut samples = Samples::with_capacity(ROUNDS);
        current_thread()?.block_on(async {
            for i in 0..WARMUP + ROUNDS {
                let started = Instant::now();
                let instance = program
                    .instantiate(&limits, &caps, HostContext::isolated("bench"))
                    .await?;
                let elapsed = started.elapsed();
                drop(instance);
                if i >= WARMUP {
                    samples.push(elapsed);
                }
            }
            Ok::<_, BenchError>(())
        })?;
        figures.extend(samples.figures_us(label));
    }
    Ok(figures)
}

/// A `handle` call with a 100-byte message to an initialised `echo`.
pub fn call(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let bytes = env.read_plugin("echo")?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let program = ActorProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
    let rounds = ROUNDS * 5;
    let mut samples = Samples::with_capacity(rounds);
    current_thread()?.block_on(async {
        let mut actor = program
            .instantiate(
                &Limits::default(),
                &Capabilities::default(),
                HostContext::isolated("bench"),
            )
            .await?;
        actor
            .init("")
            .await?
            .map_err(|e| BenchError::Failed(format!("echo refused init: {e}")))?;
        let message = [b'x'; 100];
        for i in 0..WARMUP + rounds {
            let started = Instant::now();
            let reply = actor.handle(&message).await?;
            let elapsed = started.elapsed();
            if reply.as_deref().map(<[u8]>::len) != Ok(100) {
                return Err(BenchError::Failed(format!(
                    "unexpected echo reply: {reply:?}"
                )));
            }
            if i >= WARMUP {
                samples.push(elapsed);
            }
        }
        Ok(())
    })?;
    let total: f64 = samples.mean().as_secs_f64();
    let mut figures = samples.figures_us("call");
    figures.push(Figure::new("call", "throughput", 1.0 / total, "per_s"));
    Ok(figures)
}

/// The runtime an actor's calls are awaited on here: this thread's own,
/// as a child's task is its worker's.
fn current_thread() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Failed(format!("cannot start tokio: {e}")))
}
