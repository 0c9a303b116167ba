//! Supervision benchmarks with real component children: restart latency
//! (trap → new incarnation answering), memory per idle child, the
//! supervisor's own dynamic-child scaling, and a message's round trip
//! with and without a trace on the child.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::supervisor::bench_dynamic_children;
use super::{BenchEnv, BenchError, Figure, Samples};
use crate::api::{ChildGauges, render_children};
use crate::component::{
    ActorProgram, Capabilities, Limits, Metering, PoolingConfig, Runtime, RuntimeConfig,
};
use crate::events::{EventBus, EventLog};
use crate::host::component_child::ComponentChildStart;
use crate::host::gauges::HostGauges;
use crate::host::trace::TraceSpec;
use crate::host::{ProgramTable, Router};
use crate::reload::Reloader;
use crate::supervisor::{
    ChildSpec, Restart, Strategy, SupervisorFlags, SupervisorSpec, start_root,
};

pub(super) fn component_start(program: ActorProgram, router: &Router) -> ComponentChildStart {
    ComponentChildStart {
        program: Arc::new(RwLock::new(program)),
        init_config: String::new(),
        limits: Limits::default(),
        caps: Capabilities::default(),
        send_to: Vec::new(),
        mailbox: 64,
        hibernate_after: None,
        router: router.clone(),
        usage: Default::default(),
        persist: None,
        log: None,
    }
}

/// `echo` as the memory benchmarks run it: instances on demand, each
/// reserving 8 MiB (no pool, whose slots would be counted instead).
pub(super) fn idle_echo(env: &BenchEnv) -> Result<(Runtime, ActorProgram), BenchError> {
    let bytes = env.read_plugin("echo")?;
    let runtime = Runtime::new(RuntimeConfig {
        memory_reservation: 8 << 20,
        ..RuntimeConfig::default()
    })?;
    let program = ActorProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
    Ok((runtime, program))
}

/// A `counter` child traps on `crash`; measured from sending `crash` until
/// the next incarnation answers `get`. The client is a task of the host's
/// runtime, as the API's handlers and OTP's client process are (an Erlang
/// process of the same VM, host/warden/src/bench/otp/restart_bench.erl),
/// not a thread outside it that every reply has to wake.
pub fn restart(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let bytes = env.read_plugin("counter")?;
    let runtime = Runtime::new(RuntimeConfig {
        pooling: Some(PoolingConfig::new(64, 64 << 20)),
        ..RuntimeConfig::default()
    })?;
    let program = ActorProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        let router = Router::default();
        let spec = SupervisorSpec::new(
            SupervisorFlags::new(Strategy::OneForOne)
                .with_intensity(u32::MAX, Duration::from_millis(1)),
        )
        .child(ChildSpec::worker(
            "counter",
            component_start(program, &router),
        ));
        let root = start_root("bench", spec, EventBus::new(16))
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        let rounds = 3_000;
        let client = tokio::spawn(async move {
            let mut samples = Samples::with_capacity(rounds);
            for i in 0..rounds + 200 {
                let started = Instant::now();
                if router
                    .call("bench/counter", b"crash".to_vec())
                    .await
                    .is_ok()
                {
                    return Err(BenchError::Failed("counter did not trap on `crash`".into()));
                }
                let deadline = started + Duration::from_secs(5);
                loop {
                    match router.call("bench/counter", b"get".to_vec()).await {
                        Ok(reply) if reply == b"0" => break,
                        Ok(other) => {
                            return Err(BenchError::Failed(format!("unexpected reply {other:?}")));
                        }
                        Err(_) if Instant::now() < deadline => tokio::task::yield_now().await,
                        Err(e) => {
                            return Err(BenchError::Failed(format!("no new incarnation: {e}")));
                        }
                    }
                }
                if i >= 200 {
                    samples.push(started.elapsed());
                }
            }
            Ok(samples)
        });
        let samples = client
            .await
            .map_err(|e| BenchError::Failed(format!("the client task failed: {e}")));
        root.stop().await;
        Ok(samples??.figures_us("restart"))
    })
}

/// A message's round trip through the router to a `counter` child and
/// back (`inc`): `trace_off` with no trace running anywhere, `trace_other`
/// while a trace covers another path (the child's flag stays off),
/// `trace_on` while one covers the child (each message recorded and
/// published on a bus the host's event log follows). The three alternate
/// in blocks, so drift in the machine's load touches them alike.
pub fn trace(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let bytes = env.read_plugin("counter")?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let program = ActorProgram::new(runtime.prepare_own(&bytes, Metering::Off)?)?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        let router = Router::default();
        let bus = EventBus::new(1024);
        let _log = EventLog::start(&bus, EventLog::DEFAULT_CAPACITY);
        router.traces().publish_to(bus.clone());
        let spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::OneForOne)).child(
            ChildSpec::worker("counter", component_start(program, &router)),
        );
        let root = start_root("bench", spec, bus)
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        // The client is a task of the runtime, as the API's handlers are
        // (see `restart`): from a thread outside it, every reply would also
        // wake that thread, and the figure would be the machine's wake-up.
        let client = tokio::spawn(trace_client(router.clone()));
        let measured = client
            .await
            .map_err(|e| BenchError::Failed(format!("the client task failed: {e}")));
        root.stop().await;
        let (mut off, mut other, mut on) = measured??;
        let mut figures = off.figures_us("trace_off");
        figures.extend(other.figures_us("trace_other"));
        figures.extend(on.figures_us("trace_on"));
        Ok(figures)
    })
}

/// Messages in one block of `trace`.
const TRACE_BLOCK: usize = 2_000;
/// Blocks of each kind (no trace, a trace elsewhere, a trace on the child).
const TRACE_BLOCKS: usize = 10;

/// `trace`'s client: the warm-up, then the three kinds in alternating
/// blocks, each trace checked for what it recorded.
async fn trace_client(router: Router) -> Result<(Samples, Samples, Samples), BenchError> {
    let call = || async {
        router
            .call("bench/counter", b"inc".to_vec())
            .await
            .map_err(|e| BenchError::Failed(format!("inc failed: {e}")))
    };
    for _ in 0..TRACE_BLOCK {
        call().await?;
    }
    let traced = |path: &str| TraceSpec {
        paths: vec![path.to_string()],
        duration: Duration::from_secs(600),
        max_messages: 100_000,
    };
    let mut off = Samples::with_capacity(TRACE_BLOCK * TRACE_BLOCKS);
    let mut other = Samples::with_capacity(TRACE_BLOCK * TRACE_BLOCKS);
    let mut on = Samples::with_capacity(TRACE_BLOCK * TRACE_BLOCKS);
    for _ in 0..TRACE_BLOCKS {
        for (samples, path) in [
            (&mut off, None),
            (&mut other, Some("bench/elsewhere")),
            (&mut on, Some("bench/counter")),
        ] {
            let id = path.map(|p| router.traces().start(traced(p)));
            for _ in 0..TRACE_BLOCK {
                let started = Instant::now();
                call().await?;
                samples.push(started.elapsed());
            }
            if let Some(id) = id {
                let view = router
                    .traces()
                    .stop(&id)
                    .map_err(|e| BenchError::Failed(e.to_string()))?;
                let expected = if path == Some("bench/counter") {
                    TRACE_BLOCK
                } else {
                    0
                };
                if view.recorded != expected {
                    return Err(BenchError::Failed(format!(
                        "trace {id} recorded {} messages, not {expected}",
                        view.recorded
                    )));
                }
            }
        }
    }
    Ok((off, other, on))
}

/// RSS per idle component child: 10,000 `echo` children under one
/// `simple_one_for_one` supervisor, each instantiated and initialised;
/// also how fast they start, the `/metrics` scrape over them, and the
/// time per child of stopping the whole tree.
pub fn children(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    const CHILDREN: usize = 10_000;
    let (runtime, program) = idle_echo(env)?;
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        let router = Router::default();
        let spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::SimpleOneForOne)).child(
            ChildSpec::worker("echo", component_start(program, &router))
                .with_restart(Restart::Temporary),
        );
        let root = start_root("bench", spec, EventBus::new(16))
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        // `/metrics`' per-child part over this tree (no program table: the
        // children read as workers, which costs the same walk and reads).
        let gauges = HostGauges::new(
            root.clone(),
            Reloader::new(
                runtime.clone(),
                router.clone(),
                ProgramTable::default(),
                EventBus::new(16),
            ),
        );
        let mut scrape_1k = 0.0;
        // Warm up allocator arenas and the first instances before the baseline.
        let before = rss_bytes();
        let pss_before = pss_bytes();
        let started = Instant::now();
        let mut paused = Duration::ZERO;
        for i in 0..CHILDREN {
            root.start_dynamic_child(None)
                .await
                .map_err(|e| BenchError::Failed(e.to_string()))?;
            if i + 1 == 1_000 {
                let scraping = Instant::now();
                scrape_1k = scrape_seconds(&*gauges, 1_000).await?;
                paused += scraping.elapsed();
            }
        }
        let elapsed = started.elapsed() - paused;
        let after = rss_bytes();
        let pss_after = pss_bytes();
        let scrape_10k = scrape_seconds(&*gauges, CHILDREN).await?;
        let serving = router.paths().len();
        if serving != CHILDREN {
            return Err(BenchError::Failed(format!(
                "{serving} of {CHILDREN} children serving"
            )));
        }
        let stopping = Instant::now();
        root.stop().await;
        let stopped = stopping.elapsed();
        let per_child = after.saturating_sub(before) as f64 / CHILDREN as f64;
        let pss_per_child = pss_after.saturating_sub(pss_before) as f64 / CHILDREN as f64;
        Ok(vec![
            Figure::new("children", "rss_per_child", per_child, "bytes"),
            Figure::new("children", "pss_per_child", pss_per_child, "bytes"),
            Figure::new(
                "children",
                "projected_rss_100k",
                per_child * 100_000.0,
                "bytes",
            ),
            Figure::new(
                "children",
                "start_throughput",
                CHILDREN as f64 / elapsed.as_secs_f64(),
                "per_s",
            ),
            Figure::new(
                "children",
                "stop_per_child",
                stopped.as_secs_f64() * 1e6 / CHILDREN as f64,
                "us",
            ),
            Figure::new("children", "metrics_scrape_1k", scrape_1k * 1e3, "ms"),
            Figure::new("children", "metrics_scrape_10k", scrape_10k * 1e3, "ms"),
        ])
    })
}

/// The median of 5 per-child scrapes (walk and render) of `expected`
/// children, in seconds.
async fn scrape_seconds(gauges: &dyn ChildGauges, expected: usize) -> Result<f64, BenchError> {
    let mut times = Vec::with_capacity(5);
    for _ in 0..5 {
        let started = Instant::now();
        let samples = gauges.sample().await;
        let mut text = String::new();
        render_children(&mut text, &samples);
        times.push(started.elapsed().as_secs_f64());
        // The simple_one_for_one supervisor itself is no sample.
        if samples.len() != expected {
            return Err(BenchError::Failed(format!(
                "scraped {} of {expected} children",
                samples.len()
            )));
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[2])
}

/// The supervisor alone: 10,000 vs 100,000 dynamic children started and
/// terminated; per-child cost should stay flat (linear scaling).
pub fn dynamic(_env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let rt = super::tokio_runtime()?;
    rt.block_on(async {
        let mut figures = Vec::new();
        for n in [10_000usize, 100_000] {
            let r = bench_dynamic_children(n)
                .await
                .map_err(|e| BenchError::Failed(e.to_string()))?;
            let per = |d: Duration| d.as_nanos() as f64 / 1000.0 / n as f64;
            figures.push(Figure::new(
                &format!("dynamic_{n}"),
                "start_per_child",
                per(r.start),
                "us",
            ));
            figures.push(Figure::new(
                &format!("dynamic_{n}"),
                "terminate_per_child",
                per(r.terminate),
                "us",
            ));
        }
        Ok(figures)
    })
}

/// The process's proportional set size: each resident page divided by the
/// number of processes (not mappings) sharing it. A page of a component's
/// read-only data image, mapped once per instance, counts in the RSS once
/// per instance but in the PSS once, as in the machine's memory.
pub(super) fn pss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

pub(super) fn rss_bytes() -> u64 {
    // statm: size resident shared … in pages.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
