//! `warden worker --nats URL [--jobs N] [--name NAME]`: join a grading
//! fleet (see `warden::fleet`) and grade jobs until SIGTERM or Ctrl-C,
//! then finish the jobs in hand (or hand them back) and exit 0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden::component::Runtime;
use warden::fleet::worker::{Runtimes, Worker, WorkerConfig};

use super::out::errln;
use super::{CacheArgs, CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The NATS server (with JetStream) of the fleet, e.g. nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL")]
    nats: String,
    /// Jobs graded at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// This worker's name in results and logs (default: host name and pid).
    #[arg(long)]
    name: Option<String>,
    /// After SIGTERM, how long jobs in hand may run on before they are
    /// handed back to the fleet, in seconds.
    #[arg(long, default_value_t = 30)]
    grace_secs: u64,
    #[command(flatten)]
    fleet: FleetArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

/// How the fleet's streams and consumer are made by whoever comes first
/// (shared by `warden worker` and `warden grade --nats`).
#[derive(clap::Args, Clone, Copy)]
pub struct FleetArgs {
    /// Fleet: how long a worker may hold a job without a word before it
    /// goes to another worker, in ms (when this creates the consumer).
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..))]
    ack_wait_ms: u64,
    /// Fleet: deliveries of a job before it becomes a dead letter (when
    /// this creates the consumer).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
    max_deliver: i64,
    /// Fleet: how long results are kept for `--collect`, in seconds (when
    /// this creates the streams).
    #[arg(long, value_name = "SECS", default_value_t = 7 * 24 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    retain_secs: u64,
}

impl FleetArgs {
    pub fn settings(&self) -> warden::fleet::FleetSettings {
        warden::fleet::FleetSettings {
            ack_wait: Duration::from_millis(self.ack_wait_ms),
            max_deliver: self.max_deliver,
            retain: Duration::from_secs(self.retain_secs),
        }
    }
}

/// One wasm page: 64 KiB.
const WASM_PAGE: u64 = 64 << 10;

/// Runtimes as `warden grade` builds them (pooled, with an on-demand
/// fallback), one pair per memory limit met.
struct CliRuntimes {
    cache: CacheArgs,
    jobs: usize,
    made: Mutex<HashMap<u64, (Runtime, Option<Runtime>)>>,
}

impl Runtimes for CliRuntimes {
    fn for_memory(&self, memory_limit: u64) -> Result<(Runtime, Option<Runtime>), String> {
        let mut made = self.made.lock().map_err(|e| e.to_string())?;
        if let Some(pair) = made.get(&memory_limit) {
            return Ok(pair.clone());
        }
        let slots =
            u32::try_from(self.jobs.saturating_mul(2).saturating_add(2)).unwrap_or(u32::MAX);
        let fail = |f: Failure| match f {
            Failure::BadInput(e) | Failure::Failed(e) => e.to_string(),
            Failure::Told(_) | Failure::OutputClosed => "cannot build a runtime".into(),
        };
        let pooled = self
            .cache
            .pooled_runtime(slots, memory_limit + WASM_PAGE, false)
            .map_err(fail)?;
        let fallback = self
            .cache
            .runtime_for_memory(usize::try_from(memory_limit).unwrap_or(usize::MAX))
            .map_err(fail)?;
        let pair = (pooled, Some(fallback));
        made.insert(memory_limit, pair.clone());
        Ok(pair)
    }
}

pub fn run(args: Args) -> CmdResult {
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    let scratch = tempfile::Builder::new()
        .prefix("warden-worker-")
        .tempdir()
        .map_err(|e| Failure::failed(anyhow::anyhow!("a scratch directory: {e}")))?;
    let config = WorkerConfig {
        url: args.nats.clone(),
        name: name.clone(),
        jobs,
        settings: args.fleet.settings(),
        scratch: scratch.path().to_path_buf(),
        grace: Duration::from_secs(args.grace_secs),
    };
    let runtimes = Arc::new(CliRuntimes {
        cache: args.cache,
        jobs,
        made: Mutex::new(HashMap::new()),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let done = rt.block_on(async move {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            let _ = stop_tx.send(true);
        });
        Worker::new(config, runtimes).run(stop).await
    });
    let done = done.map_err(Failure::failed)?;
    errln!("worker {name} stopped: {done} result(s) stored");
    drop(scratch);
    Ok(())
}
