//! Measurements of the supervision core alone, behind `warden bench tree`:
//! a trivial child that starts at once and reports its exit the moment it is
//! asked to stop. They measure the supervisor's own cost (mailbox,
//! bookkeeping, events on a real [`EventBus`]), the floor under every real
//! kind of child. Printing is the caller's.
//!
//! Both need a tokio runtime. Every event is also logged: run them with logging
//! above `info`, or the log lines are what gets measured.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::events::EventBus;
use crate::supervisor::{
    AdminError, BoxFuture, ChildId, ChildSpec, ChildStart, ExitReason, ExitSender, FailureKind,
    Restart, RunningChild, StartContext, StartError, Started, StartedChild, Strategy,
    SupervisorFlags, SupervisorSpec, start_root,
};

/// The timings of [`bench_dynamic_children`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicChildrenBench {
    /// How many children were started and terminated.
    pub children: usize,
    /// Time to start them all, one `start_dynamic_child` call after the other.
    pub start: Duration,
    /// Time to terminate them all, one `terminate_child` call after the other.
    pub terminate: Duration,
}

/// Starts `n` dynamic children of a `simple_one_for_one` supervisor one by one,
/// then terminates them one by one, and times both phases. Both should grow
/// linearly with `n` (10,000 vs 100,000).
pub async fn bench_dynamic_children(n: usize) -> Result<DynamicChildrenBench, AdminError> {
    let spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::SimpleOneForOne))
        .child(ChildSpec::worker("bench", Trivial).with_restart(Restart::Temporary));
    let root = start_root("bench", spec, EventBus::new(1))
        .await
        .map_err(|source| AdminError::StartFailed {
            id: ChildId::from("bench"),
            source,
        })?;
    let mut ids: Vec<ChildId> = Vec::with_capacity(n);
    let t0 = Instant::now();
    for _ in 0..n {
        match root.start_dynamic_child(None).await? {
            StartedChild::Running { id, .. } | StartedChild::Ignored { id } => ids.push(id),
        }
    }
    let start = t0.elapsed();
    let t1 = Instant::now();
    for id in ids {
        root.terminate_child(id).await?;
    }
    let terminate = t1.elapsed();
    root.stop().await;
    Ok(DynamicChildrenBench {
        children: n,
        start,
        terminate,
    })
}

/// Crashes a permanent `one_for_one` child `samples` times and returns, for each
/// crash, the time from the exit report to the new incarnation's start function
/// running.
pub async fn bench_restart_latency(samples: usize) -> Result<Vec<Duration>, AdminError> {
    let child = Probed::default();
    let probe = child.probe.clone();
    let flags = SupervisorFlags::new(Strategy::OneForOne)
        .with_intensity(u32::MAX, Duration::from_millis(1));
    let spec = SupervisorSpec::new(flags).child(ChildSpec::worker("bench", child));
    let root = start_root("bench", spec, EventBus::new(1))
        .await
        .map_err(|source| AdminError::StartFailed {
            id: ChildId::from("bench"),
            source,
        })?;
    // The init start left a wake-up behind; consume it.
    probe.started.notified().await;
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let Some(exits) = probe.take_exits() else {
            break;
        };
        let started = probe.started.notified();
        let t0 = Instant::now();
        exits.exit(ExitReason::abnormal(FailureKind::Crash, "bench"));
        started.await;
        out.push(t0.elapsed());
    }
    root.stop().await;
    Ok(out)
}

/// A child that starts at once and stops the moment it is asked.
struct Trivial;

impl ChildStart for Trivial {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        let handle = TrivialRunning {
            exits: Some(ctx.exits),
        };
        Box::pin(std::future::ready(Ok(Started::Running(Box::new(handle)))))
    }
}

struct TrivialRunning {
    exits: Option<ExitSender>,
}

impl RunningChild for TrivialRunning {
    fn shutdown(&mut self) {
        if let Some(exits) = self.exits.take() {
            exits.exit(ExitReason::Shutdown);
        }
    }

    fn kill(&mut self) {
        if let Some(exits) = self.exits.take() {
            exits.exit(ExitReason::killed());
        }
    }
}

/// What the restart bench sees of its child: the live incarnation's exit sender
/// and a signal when a new incarnation starts.
#[derive(Default)]
struct Probe {
    exits: Mutex<Option<ExitSender>>,
    started: Notify,
}

impl Probe {
    fn take_exits(&self) -> Option<ExitSender> {
        self.exits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Like [`Trivial`], with its exit sender held by the bench.
#[derive(Default, Clone)]
struct Probed {
    probe: Arc<Probe>,
}

impl ChildStart for Probed {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        *self
            .probe
            .exits
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(ctx.exits);
        self.probe.started.notify_one();
        let handle = ProbedRunning {
            probe: self.probe.clone(),
        };
        Box::pin(std::future::ready(Ok(Started::Running(Box::new(handle)))))
    }
}

struct ProbedRunning {
    probe: Arc<Probe>,
}

impl RunningChild for ProbedRunning {
    fn shutdown(&mut self) {
        if let Some(exits) = self.probe.take_exits() {
            exits.exit(ExitReason::Shutdown);
        }
    }

    fn kill(&mut self) {
        if let Some(exits) = self.probe.take_exits() {
            exits.exit(ExitReason::killed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_dynamic_children_benchmark_runs() {
        let small = bench_dynamic_children(1000).await.unwrap();
        assert_eq!(small.children, 1000);
        assert!(small.start > Duration::ZERO && small.terminate > Duration::ZERO);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_restart_latency_benchmark_runs() {
        let samples = bench_restart_latency(200).await.unwrap();
        assert_eq!(samples.len(), 200);
        let mut sorted = samples.clone();
        sorted.sort();
        // Generous: a restart of a trivial child takes microseconds, never 50 ms.
        assert!(
            sorted[100] < Duration::from_millis(50),
            "p50 {:?}",
            sorted[100]
        );
    }
}
