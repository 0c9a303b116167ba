//! The guest executor: the threads operation plugins run on.
//!
//! Owns a process-wide set of threads that run plugin calls handed over by
//! [`run`]; the async caller awaits the answer on a oneshot channel.
//!
//! Why not tokio's blocking pool: it gives every call that finds no idle
//! thread a thread of its own, so 32 concurrent callers on 2 cores meant
//! ~32 threads taking turns (a futex wake, a wait and a context switch per
//! call, plus contention on the pool's lock). Here there are twice as many
//! resident threads as cores; while calls are queued, a thread takes the
//! next one straight after the last without sleeping.
//!
//! Guarantees:
//! - guest code never runs on an async worker thread;
//! - a queued call whose caller went away (its future dropped) is skipped,
//!   and one already running is stopped by the caller's interrupt (the
//!   [`FireOnDrop`](warden_component::FireOnDrop) guard of the call);
//! - a call never waits for long behind guests that run long: when calls
//!   are queued and none finished for [`STALL`], the watchdog starts one
//!   more thread per queued call (up to [`MAX_THREADS`]), and threads
//!   beyond the resident ones leave after [`KEEP_ALIVE`] idle;
//! - a panic in a call fails that call only (its answer channel is
//!   dropped), never the thread.
//!
//! Never: runs anything but closures handed to [`run`], or blocks the
//! submitting (async) thread on more than one short lock.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long calls may wait with none finishing before the watchdog adds
/// threads: far above one plugin call (tens of µs), far below a timeout.
pub(crate) const STALL: Duration = Duration::from_millis(1);

/// How long a thread beyond the resident ones stays idle before leaving.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Most threads at once, as tokio's blocking pool (512).
pub(crate) const MAX_THREADS: usize = 512;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs `work` on the process's guest executor and awaits its answer;
/// `None` when `work` panicked. Dropping the returned future before `work`
/// started means it never starts.
pub(crate) async fn run<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    executor().run(work).await
}

fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        // Twice the cores: a resident thread preempted by another process
        // mid-call would otherwise hold up the queue for a whole time slice
        // (measured: 32 clients on 2 cores, 4 threads gave a lower p99 and
        // more calls per second than 2, 8 fewer calls per second).
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Executor::new(2 * cores, STALL)
    })
}

/// The threads and their queue.
#[derive(Clone)]
pub(crate) struct Executor {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Idle threads wait here for a call.
    work: Condvar,
    /// The watchdog waits here (see [`State::watchdog_parked`]).
    watch: Condvar,
    /// Threads that never leave.
    resident: usize,
    /// See [`STALL`].
    stall: Duration,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads running (idle or not).
    threads: usize,
    /// Threads waiting for a call.
    idle: usize,
    /// Calls finished so far: the watchdog's sign of progress.
    finished: u64,
    /// True while the watchdog sleeps until a call is queued (it does when
    /// every thread is idle); only then does a submission wake it (a wake
    /// is a syscall).
    watchdog_parked: bool,
    watchdog: bool,
}

impl Executor {
    /// An executor keeping `resident` threads (started on demand), whose
    /// watchdog adds threads after `stall` (see [`STALL`]).
    pub(crate) fn new(resident: usize, stall: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                watch: Condvar::new(),
                resident: resident.max(1),
                stall,
            }),
        }
    }

    /// See [`run`].
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move || {
            // The caller went away while the call was queued: skip it.
            if answer.is_closed() {
                return;
            }
            let _ = answer.send(work());
        }));
        answered.await.ok()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; an idle thread takes it, or a new one while there
    /// are fewer than the resident ones.
    pub(crate) fn submit(&self, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle > 0 {
            drop(state);
            self.shared.work.notify_one();
            return;
        }
        if state.threads < self.shared.resident {
            self.start_thread(&mut state);
        }
        if !state.watchdog {
            let this = self.clone();
            let spawned = std::thread::Builder::new()
                .name("warden-guest-watchdog".into())
                .spawn(move || this.watchdog());
            // Without it calls still run; the next submission tries again.
            match spawned {
                Ok(_) => state.watchdog = true,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot start the guest executor's watchdog");
                }
            }
        } else if state.watchdog_parked {
            state.watchdog_parked = false;
            drop(state);
            self.shared.watch.notify_one();
        }
    }

    fn start_thread(&self, state: &mut State) {
        state.threads += 1;
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("warden-guest".into())
            .spawn(move || this.worker());
        if let Err(err) = spawned {
            state.threads -= 1;
            tracing::warn!(error = %err, "cannot start a guest executor thread");
        }
    }

    fn worker(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The job's answer channel is dropped with it: its caller
                // learns of the panic, and the thread goes on.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                state.finished += 1;
                continue;
            }
            state.idle += 1;
            let extra = state.threads > self.shared.resident;
            let (next, timeout) = if extra {
                let (s, t) = self
                    .shared
                    .work
                    .wait_timeout(state, KEEP_ALIVE)
                    .unwrap_or_else(|p| p.into_inner());
                (s, t.timed_out())
            } else {
                let s = self
                    .shared
                    .work
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
                (s, false)
            };
            state = next;
            state.idle -= 1;
            if timeout && state.queue.is_empty() && state.threads > self.shared.resident {
                state.threads -= 1;
                return;
            }
        }
    }

    /// Adds threads when calls wait and none finishes for [`STALL`]: every
    /// thread is held by a guest that runs long.
    fn watchdog(&self) {
        let mut state = self.lock();
        loop {
            // Parked only while nothing runs: under load a submission
            // then never pays for waking it.
            if state.queue.is_empty() && state.idle == state.threads {
                state.watchdog_parked = true;
                state = self
                    .shared
                    .watch
                    .wait_while(state, |s| s.watchdog_parked)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let finished = state.finished;
            let (next, _) = self
                .shared
                .watch
                .wait_timeout(state, self.shared.stall)
                .unwrap_or_else(|p| p.into_inner());
            state = next;
            let stalled = !state.queue.is_empty() && state.finished == finished && state.idle == 0;
            if stalled {
                let wanted = state
                    .queue
                    .len()
                    .min(MAX_THREADS.saturating_sub(state.threads));
                for _ in 0..wanted {
                    self.start_thread(&mut state);
                }
            }
        }
    }

    #[cfg(test)]
    fn threads(&self) -> usize {
        self.lock().threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Instant;

    #[tokio::test]
    async fn a_call_runs_off_the_async_thread_and_answers() {
        let caller = std::thread::current().id();
        let (ran_on, answer) = run(move || (std::thread::current().id(), 6 * 7))
            .await
            .unwrap();
        assert_ne!(ran_on, caller);
        assert_eq!(answer, 42);
    }

    #[tokio::test]
    async fn a_panicking_call_fails_alone() {
        let panicked = run(|| -> u32 { panic!("a guest call went wrong") }).await;
        assert!(panicked.is_none());
        assert_eq!(run(|| 1).await, Some(1));
    }

    #[test]
    fn calls_queued_behind_long_guests_get_threads_of_their_own() {
        let executor = Executor::new(1, STALL);
        let release = Arc::new(AtomicBool::new(false));
        let long = |release: Arc<AtomicBool>| {
            Box::new(move || {
                while !release.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }) as Job
        };
        // The one resident thread is held by a guest that runs on.
        executor.submit(long(release.clone()));
        let done = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        for _ in 0..3 {
            let done = done.clone();
            executor.submit(Box::new(move || {
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        while done.load(Ordering::SeqCst) < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "calls stuck behind a long guest"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(executor.threads() > 1, "the watchdog added threads");
        release.store(true, Ordering::Relaxed);
    }

    #[tokio::test]
    async fn a_call_whose_caller_left_while_queued_never_starts() {
        // No watchdog within the test: the call must stay queued.
        let executor = Executor::new(1, Duration::from_secs(3600));
        let (holding, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (h, r) = (holding.clone(), release.clone());
        // The one resident thread is held, so the next call queues.
        executor.submit(Box::new(move || {
            h.store(true, Ordering::SeqCst);
            while !r.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_micros(200));
            }
        }));
        while !holding.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(100));
        }
        let started = Arc::new(AtomicBool::new(false));
        let queued = {
            let started = started.clone();
            executor.run(move || started.store(true, Ordering::SeqCst))
        };
        // Polled once (queued), then dropped: its caller went away.
        let polled = tokio::time::timeout(Duration::ZERO, queued).await;
        assert!(polled.is_err(), "the call should still be queued");
        release.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(5);
        while executor.lock().finished < 2 {
            assert!(
                Instant::now() < deadline,
                "the dropped call was never taken"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!started.load(Ordering::SeqCst));
    }
}
