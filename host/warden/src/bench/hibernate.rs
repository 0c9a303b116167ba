//! Hibernating component children (`hibernate_after_ms`): the memory one
//! keeps while it sleeps, and what a message that wakes it costs against
//! one to an awake child.
//!
//! Run it alone (`warden bench hibernate`) for the memory figures: under
//! `warden bench all`, memory the benchmarks before it freed stays in the
//! allocator and is reused here, which lowers them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tree::{component_start, idle_echo, pss_bytes, rss_bytes};
use super::{BenchEnv, BenchError, Figure, Samples};
use crate::events::EventBus;
use crate::host::Router;
use crate::supervisor::{
    ChildSpec, Restart, Strategy, SupervisorFlags, SupervisorSpec, start_root,
};

/// Children started, each its own spec (so the bench sees each one's
/// state), under one `one_for_one` supervisor.
const CHILDREN: usize = 10_000;

/// Children woken, one message each, for the wake latency.
const WAKES: usize = 2_000;

/// Their idle time before hibernating.
const AFTER: Duration = Duration::from_millis(1);

/// How long the children may take to fall asleep.
const SETTLE: Duration = Duration::from_secs(60);

/// 10,000 `echo` children with `hibernate_after` 1 ms: RSS and PSS per
/// child once every one hibernates; then a message to each of 2,000 of
/// them, asleep (it wakes the child: a new instance, `init`, `restore`),
/// and at once a second one, awake.
pub fn hibernate(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    // The runtime lives as long as the children do.
    let (_runtime, program) = idle_echo(env)?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        let router = Router::default();
        let mut spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::OneForOne));
        let mut usages = Vec::with_capacity(CHILDREN);
        for i in 0..CHILDREN {
            let mut start = component_start(program.clone(), &router);
            start.hibernate_after = Some(AFTER);
            usages.push(Arc::clone(&start.usage));
            spec = spec
                .child(ChildSpec::worker(format!("c{i}"), start).with_restart(Restart::Temporary));
        }
        let before = rss_bytes();
        let pss_before = pss_bytes();
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
                    "{awake} of {CHILDREN} children still awake after {SETTLE:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let after = rss_bytes();
        let pss_after = pss_bytes();
        let serving = router.paths().len();
        if serving != CHILDREN {
            root.stop().await;
            return Err(BenchError::Failed(format!(
                "{serving} of {CHILDREN} children serving"
            )));
        }

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
        root.stop().await;

        let per_child = after.saturating_sub(before) as f64 / CHILDREN as f64;
        let pss_per_child = pss_after.saturating_sub(pss_before) as f64 / CHILDREN as f64;
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
            Figure::new("hibernate", "wake_p50", us(asleep.quantile(0.5)), "us"),
            Figure::new("hibernate", "wake_p99", us(asleep.quantile(0.99)), "us"),
            Figure::new("hibernate", "awake_p50", us(awake.quantile(0.5)), "us"),
            Figure::new("hibernate", "awake_p99", us(awake.quantile(0.99)), "us"),
        ])
    })
}
