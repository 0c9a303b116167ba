//! Hibernating component children (`hibernate_after_ms`): the memory one
//! keeps while it sleeps, and what a message that wakes it costs against
//! one to an awake child, with instances on demand and pooled.
//!
//! Run it alone (`warden bench hibernate`) for the memory figures: under
//! `warden bench all`, memory the benchmarks before it freed stays in the
//! allocator and is reused here, which lowers them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tree::{component_start, idle_echo, pss_bytes, rss_bytes};
use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{ActorProgram, Metering, PoolingConfig, Runtime, RuntimeConfig};
use crate::events::EventBus;
use crate::host::Router;
use crate::host::component_child::MemoryUsage;
use crate::supervisor::{
    ChildSpec, Restart, Strategy, SupervisorFlags, SupervisorHandle, SupervisorSpec, start_root,
};

/// Children started on demand, each its own spec (so the bench sees each
/// one's state), under one `one_for_one` supervisor.
const CHILDREN: usize = 10_000;

/// Children woken, one message each, for the wake latency; also the
/// children and the slots of the pooled run.
const WAKES: usize = 2_000;

/// Their idle time before hibernating.
const AFTER: Duration = Duration::from_millis(1);

/// How long the children may take to fall asleep.
const SETTLE: Duration = Duration::from_secs(60);

/// 10,000 `echo` children with `hibernate_after` 1 ms, instances on
/// demand: RSS and PSS per child once every one hibernates; then a message
/// to each of 2,000 of them, asleep (it wakes the child: a new instance,
/// `init`, `restore`), and at once a second one, awake. Then the wakes
/// again with 2,000 children in a pool of 2,000 slots (its memory is the
/// pool's, so not measured).
pub fn hibernate(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    // The runtimes live as long as their children do.
    let (_runtime, program) = idle_echo(env)?;
    let pool = Runtime::new(RuntimeConfig {
        memory_reservation: 8 << 20,
        pooling: Some(PoolingConfig::new(WAKES as u32, 8 << 20)),
        ..RuntimeConfig::default()
    })?;
    let pooled = ActorProgram::new(pool.prepare_own(&env.read_plugin("echo")?, Metering::Off)?)?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        // The specs (one per child, which `children` does not need) are
        // built before the baseline, as `children` builds its one.
        let tree = Tree::new(program, CHILDREN);
        let before = rss_bytes();
        let pss_before = pss_bytes();
        let (root, router) = tree.asleep().await?;
        let per_child = rss_bytes().saturating_sub(before) as f64 / CHILDREN as f64;
        let pss_per_child = pss_bytes().saturating_sub(pss_before) as f64 / CHILDREN as f64;
        let woken = wake_each(&router).await;
        root.stop().await;
        let (mut asleep_calls, mut awake_calls) = woken?;

        let (root, router) = Tree::new(pooled, WAKES).asleep().await?;
        let woken = wake_each(&router).await;
        root.stop().await;
        let (mut pooled_calls, _) = woken?;

        let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
        Ok(vec![
            Figure::new("hibernate", "rss_per_child", per_child, "bytes"),
            Figure::new("hibernate", "pss_per_child", pss_per_child, "bytes"),
            Figure::new(
                "hibernate",
                "projected_rss_100k",
                per_child * 100_000.0,
                "bytes",
            ),
            Figure::new(
                "hibernate",
                "wake_p50",
                us(asleep_calls.quantile(0.5)),
                "us",
            ),
            Figure::new(
                "hibernate",
                "wake_p99",
                us(asleep_calls.quantile(0.99)),
                "us",
            ),
            Figure::new(
                "hibernate",
                "awake_p50",
                us(awake_calls.quantile(0.5)),
                "us",
            ),
            Figure::new(
                "hibernate",
                "awake_p99",
                us(awake_calls.quantile(0.99)),
                "us",
            ),
            Figure::new(
                "hibernate",
                "wake_pooled_p50",
                us(pooled_calls.quantile(0.5)),
                "us",
            ),
            Figure::new(
                "hibernate",
                "wake_pooled_p99",
                us(pooled_calls.quantile(0.99)),
                "us",
            ),
        ])
    })
}

/// A tree of hibernating `echo` children, not started yet.
struct Tree {
    spec: SupervisorSpec,
    router: Router,
    /// Each child's, to see it asleep.
    usages: Vec<Arc<MemoryUsage>>,
}

impl Tree {
    /// `n` children of `program`, each with its own spec.
    fn new(program: ActorProgram, n: usize) -> Self {
        let router = Router::default();
        let mut spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::OneForOne));
        let mut usages = Vec::with_capacity(n);
        for i in 0..n {
            let mut start = component_start(program.clone(), &router);
            start.hibernate_after = Some(AFTER);
            usages.push(Arc::clone(&start.usage));
            spec = spec
                .child(ChildSpec::worker(format!("c{i}"), start).with_restart(Restart::Temporary));
        }
        Self {
            spec,
            router,
            usages,
        }
    }

    /// The tree under a new root, once every child hibernates.
    async fn asleep(self) -> Result<(SupervisorHandle, Router), BenchError> {
        let Self {
            spec,
            router,
            usages,
        } = self;
        let n = usages.len();
        let root = start_root("bench", spec, EventBus::new(16))
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        let deadline = Instant::now() + SETTLE;
        loop {
            let awake = usages.iter().filter(|u| !u.hibernated()).count();
            if awake == 0 {
                break;
            }
            if Instant::now() > deadline {
                root.stop().await;
                return Err(BenchError::Failed(format!(
                    "{awake} of {n} children still awake after {SETTLE:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let serving = router.paths().len();
        if serving != n {
            root.stop().await;
            return Err(BenchError::Failed(format!(
                "{serving} of {n} children serving"
            )));
        }
        Ok((root, router))
    }
}

/// A message to each of the first [`WAKES`] children, asleep, and at once
/// a second one, awake: the latencies of both.
async fn wake_each(router: &Router) -> Result<(Samples, Samples), BenchError> {
    let mut asleep = Samples::with_capacity(WAKES);
    let mut awake = Samples::with_capacity(WAKES);
    for i in 0..WAKES {
        let path = format!("bench/c{i}");
        let taken = Instant::now();
        router
            .call(&path, b"wake".to_vec())
            .await
            .map_err(|e| BenchError::Failed(format!("waking {path}: {e}")))?;
        asleep.push(taken.elapsed());
        let taken = Instant::now();
        router
            .call(&path, b"again".to_vec())
            .await
            .map_err(|e| BenchError::Failed(format!("calling {path} awake: {e}")))?;
        awake.push(taken.elapsed());
    }
    Ok((asleep, awake))
}
