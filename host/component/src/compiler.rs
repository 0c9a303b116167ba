//! Compiling untrusted bytes in a child process, under limits.
//!
//! Cranelift's time and memory grow with the input, and a crafted component
//! (one huge function, thousands of functions) makes them grow without
//! bound: a 6 MB component with one huge function compiled for 120 s, a
//! 50 MB one took 2.2 GB. So bytes the host has not compiled before, and
//! that it did not produce itself, are compiled by a child process — the
//! program registered with [`set_compiler_program`] (the `warden` binary
//! itself, hidden subcommand `__compile`, see [`super::compile_child`]) —
//! under:
//! - `RLIMIT_CPU` = `cpu_secs` (soft: `SIGXCPU`; hard one second later:
//!   `SIGKILL`). Parallel compilation counts the CPU time of every thread;
//! - `RLIMIT_DATA` = `memory_mb` (not `RLIMIT_AS`: address space a pooling
//!   engine only reserves is not data, and must not count);
//! - a wall-clock limit `timeout_ms`, after which the child is killed;
//! - `RLIMIT_CORE` = 0 (a limit's signal must not dump a core the size of
//!   the compiler's heap);
//! - and `max_bytes`, checked before anything is read or spawned.
//!
//! At most as many compile children as the machine has CPUs run at once,
//! process-wide (more would share the same cores while multiplying the
//! memory limit); a compile waits for a free slot before its limits start.
//!
//! The limits are set with `prlimit(2)` right after the spawn (no
//! `pre_exec`: it forces `fork`, ~35 ms in a host with a large heap). The
//! child cannot start compiling before they are in place: it compiles only
//! what it reads from its stdin, and the host writes that after `prlimit`.
//!
//! A compile child for Winch (the first step of a hot reload, which a user
//! waits on) is started ahead of need: one standby at a time, process-wide,
//! spawned with the same request and limits as any compile child, and
//! waiting on its stdin with its engine built. A Winch compile whose
//! request (config, limits, engine) is the standby's takes it instead of
//! spawning, and a replacement is spawned once that compile is over;
//! [`keep_compiler_warm`] starts the first. The standby holds no compile
//! slot while it waits (it compiles nothing), and its wall-clock limit
//! starts when it gets its job. It is spawned by a thread that lives as
//! long as the process, so the parent-death signal kills it with the host
//! and never earlier. Cranelift compiles (in the background, or at start)
//! always spawn their own child and leave the standby alone.
//!
//! The child builds its engine from the same [`RuntimeConfig`] as the
//! parent (the whole struct is handed over as JSON) and checks that its
//! engine id (the digest of `precompile_compatibility_hash`) is the one the
//! parent expects; it writes `Component::serialize` into a file the parent
//! created, in a directory only this user can write, and the parent loads
//! it with `Component::deserialize_file`.
//!
//! What this bounds is the *cost* of compiling, not its integrity: the
//! parent trusts the artifact its own binary wrote. A compiler bug that an
//! input could exploit to write a malicious artifact is outside what a
//! resource limit can stop.
//!
//! A compile ends when the child says its artifact is written (a line on
//! stdout), not when it has exited: the kernel freeing a large compiler
//! heap at the exit takes a millisecond or more, which a hot reload would
//! wait for. The child is then killed (it has nothing left to do) and a
//! watcher thread, which drains its stderr all along, reaps it.
//!
//! Must never: spawn a compile of bytes over `max_bytes`; leave a child
//! running after the compile call returned (it has exited or is killed on
//! every path, and dies with the thread that spawned it if the host dies);
//! keep more than one standby, or hand a standby a job whose request or
//! limits differ from the ones it was spawned with.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Condvar, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Resource, Rlimit, Signal, prlimit};
use warden_clock::millis;

use crate::compile_child::{Request, exit};
use crate::engine::{Metering, RuntimeConfig, Tier};
use crate::error::{CompileLimit, ComponentError};

/// Bounds on compiling one component (`[host.compile]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompileLimits {
    /// CPU time of the compile, all threads together. By default 60 s.
    pub cpu_secs: u64,
    /// Data segment (heap) of the compiler process, MiB. By default 1536.
    pub memory_mb: u64,
    /// Wall-clock time of the compile. By default 300 s: the backstop for
    /// a compile that is stuck or starved, the CPU limit being the one
    /// that stops a costly input on a machine that is not overloaded.
    pub timeout: Duration,
    /// Size of the component's bytes, checked before they are read. By
    /// default 64 MiB.
    pub max_bytes: u64,
}

impl Default for CompileLimits {
    /// Room for an 18 MB interpreter component: componentize-py's build of
    /// a one-function Python program (18.3 MB) compiles here with ~20 s of
    /// CPU (37–59 s of wall clock on 2 cores shared with other builds), and
    /// needs between 384 and 512 MiB of data (refused at 384, passes at
    /// 512). The defaults give it 3× that CPU and memory.
    fn default() -> Self {
        Self {
            cpu_secs: 60,
            memory_mb: 1536,
            timeout: Duration::from_secs(300),
            max_bytes: 64 << 20,
        }
    }
}

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Registers the executable that compiles untrusted bytes: it must run
/// [`compile_child::main`](super::compile_child::main) when called as
/// `PROGRAM __compile REQUEST` (the `warden` binary does, and registers
/// itself at start). Runtimes whose [`RuntimeConfig::compile_program`] is
/// unset use it. The first registration wins; returns whether this one did.
pub fn set_compiler_program(program: impl Into<PathBuf>) -> bool {
    PROGRAM.set(program.into()).is_ok()
}

/// The program a runtime compiles with.
pub(crate) fn program(config: &RuntimeConfig) -> Result<PathBuf, ComponentError> {
    config
        .compile_program
        .clone()
        .or_else(|| PROGRAM.get().cloned())
        .ok_or_else(|| ComponentError::Compiler {
            reason: "no compiler program: this executable cannot compile untrusted components \
                     (register the `warden` binary with `warden::component::set_compiler_program`)"
                .into(),
        })
}

/// One compile to run in a child.
pub(crate) struct Job<'a> {
    pub program: &'a Path,
    pub config: &'a RuntimeConfig,
    pub metering: Metering,
    /// The compiler to compile with.
    pub tier: Tier,
    /// The engine id the artifact must be built for.
    pub engine_id: &'a str,
    pub bytes: &'a [u8],
    /// An existing, empty file the child writes the artifact into.
    pub out: &'a Path,
}

/// glibc malloc's settings for a compile child: its heaps grow 16 MiB
/// beyond each request instead of 128 KiB. A compile's heap grows from
/// nothing to tens of MiB in a few milliseconds, and every growth of a
/// thread's heap is an `mprotect` that takes the address space's lock for
/// writing while the other compiling thread faults pages in under it. A
/// Winch compile of `counter` in a compile child (engine built
/// beforehand, as a standby has it), median of 14 alternating runs:
/// 12.2 ms against 13.6 ms; 32 and 64 MiB gained no more. The padding is
/// address space, not memory, but counts against `RLIMIT_DATA`: up to
/// 16 MiB per heap (the main one and one per compiling thread) of
/// `memory_mb` is taken ahead. Other C libraries ignore the variable.
const COMPILER_MALLOC: &str = "glibc.malloc.top_pad=16777216";

/// Most of the child's stderr kept for an error message.
const STDERR_KEEP: u64 = 4096;

/// Compiles `job.bytes` in a child and waits for it, at most the wall-clock
/// limit. On `Ok`, `job.out` holds the serialized component.
pub(crate) fn compile_in_child(job: &Job<'_>) -> Result<(), ComponentError> {
    let limits = job.config.compile;
    let size = job.bytes.len() as u64;
    if size > limits.max_bytes {
        return Err(ComponentError::CompileLimit(CompileLimit::Size {
            limit_bytes: limits.max_bytes,
            actual_bytes: size,
        }));
    }
    let header = out_line(job.out)?;
    let order = Order::new(
        job.program,
        job.config,
        job.metering,
        job.tier,
        job.engine_id,
    )?;
    let _slot = SLOTS.acquire();
    let asked = Instant::now();
    let warm = job.tier == Tier::Baseline;
    let (spawned, from_standby) = match warm.then(|| STANDBY.take(&order)).flatten() {
        Some(spawned) => (spawned, true),
        None => (Spawned::start(&order)?, false),
    };
    let started = Instant::now();
    let Spawned {
        child: mut guard,
        pid,
        pidfd,
        ..
    } = spawned;
    let Pipes {
        stdin,
        stdout,
        stderr,
    } = guard.pipes()?;
    // The watcher owns the child from here: it drains stderr (so a child
    // that writes a lot never blocks on it), then reaps the child.
    let watcher = std::thread::Builder::new()
        .name("warden-compile-watch".into())
        .spawn(move || {
            let stderr = drain(stderr);
            (stderr, guard.wait())
        })
        .map_err(|e| ComponentError::Compiler {
            reason: format!("cannot start a thread to watch the compiler: {e}"),
        })?;
    let ended = std::thread::scope(|scope| {
        // Fed from a helper thread, so a child that stops reading cannot
        // hold this one past the deadline.
        let feeder = std::thread::Builder::new()
            .name("warden-compile-feed".into())
            .spawn_scoped(scope, move || feed(stdin, &header, job.bytes))
            .map_err(|e| ComponentError::Compiler {
                reason: format!("cannot start a thread to feed the compiler: {e}"),
            });
        let ended = match feeder {
            Ok(_) => wait_until(&pidfd, stdout, started + limits.timeout),
            // Unfed, the child would wait for its input forever: it is
            // killed below, and the spawn's error returned.
            Err(_) => Ended::TimedOut,
        };
        if ended != Ended::Exited {
            // Past the deadline: stopped. Done: what is left is the exit,
            // which the kill makes certain and the watcher reaps.
            let _ = rustix::process::pidfd_send_signal(&pidfd, Signal::KILL);
        }
        // The child has read its input, exited, or is killed: the feeder's
        // writes are over.
        feeder.map(|_| ended)
    })?;
    if warm {
        STANDBY.order(order);
    }
    tracing::debug!(
        ?pid,
        from_standby,
        ?ended,
        spawn = ?started.duration_since(asked),
        run = ?started.elapsed(),
        "compile child done"
    );
    match ended {
        // The kernel frees the compiler's memory as it exits (a millisecond
        // or more for a large compile): the artifact does not wait for it.
        Ended::Done => artifact_written(job.out),
        Ended::TimedOut => {
            let _ = watcher.join();
            Err(ComponentError::CompileLimit(CompileLimit::WallClock {
                ms: millis(limits.timeout),
            }))
        }
        Ended::Exited => {
            let (stderr, status) = watcher.join().map_err(|_| ComponentError::Compiler {
                reason: "the thread watching the compiler panicked".into(),
            })?;
            classify(status?, &stderr, &limits, job.out)
        }
    }
}

/// How a compile child's job ended, as the parent saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// It wrote the artifact and said so on stdout; it may still be exiting.
    Done,
    /// It exited without saying so: its status tells why.
    Exited,
    /// The wall-clock limit passed first.
    TimedOut,
}

/// Starts the standby compile child for Winch compiles of `config` and
/// `metering` now, so the first hot reload does not wait for one (later
/// ones find the replacement each compile leaves). Returns at once: the
/// spawn happens on the standby thread; a failure there is only logged
/// (the compile that needs a child then spawns its own, and reports it).
pub(crate) fn keep_compiler_warm(
    program: &Path,
    config: &RuntimeConfig,
    metering: Metering,
    engine_id: &str,
) -> Result<(), ComponentError> {
    let order = Order::new(program, config, metering, Tier::Baseline, engine_id)?;
    if !STANDBY.holds(&order) {
        STANDBY.order(order);
    }
    Ok(())
}

/// The line that tells the child where to write its artifact.
fn out_line(out: &Path) -> Result<Vec<u8>, ComponentError> {
    let path = out.as_os_str().as_bytes();
    if path.contains(&b'\n') {
        return Err(ComponentError::Compiler {
            reason: format!(
                "cannot compile into {}: a newline in the path",
                out.display()
            ),
        });
    }
    let mut line = Vec::with_capacity(path.len() + 1);
    line.extend_from_slice(path);
    line.push(b'\n');
    Ok(line)
}

/// What a compile child is started with: its program, its request and
/// its limits. Two compiles may share a child only when their orders are
/// equal.
#[derive(Clone, PartialEq, Eq)]
struct Order {
    program: PathBuf,
    /// The JSON request, the child's only argument.
    request: String,
    limits: CompileLimits,
}

impl Order {
    fn new(
        program: &Path,
        config: &RuntimeConfig,
        metering: Metering,
        tier: Tier,
        engine_id: &str,
    ) -> Result<Self, ComponentError> {
        let request = Request {
            config: RuntimeConfig {
                cache_dir: None,
                ..config.clone()
            },
            fuel: metering == Metering::Fuel,
            tier,
            engine_id: engine_id.to_string(),
            parent: std::process::id(),
        };
        let request = serde_json::to_string(&request).map_err(|e| ComponentError::Compiler {
            reason: format!("cannot encode the compile request: {e}"),
        })?;
        Ok(Self {
            program: program.to_path_buf(),
            request,
            limits: config.compile,
        })
    }
}

/// A compile child started, under its limits, not yet given its job.
/// Dropped, it is killed and reaped.
struct Spawned {
    order: Order,
    child: Reap,
    pid: Pid,
    pidfd: OwnedFd,
}

impl Spawned {
    /// Spawns the child of `order` and puts its limits in place; on any
    /// failure the child is killed and reaped.
    fn start(order: &Order) -> Result<Self, ComponentError> {
        let child = Command::new(&order.program)
            .arg(crate::compile_child::SUBCOMMAND)
            .arg(&order.request)
            // The compiler needs nothing from the host's environment (no
            // token, no config): it gets none of it.
            .env_clear()
            .env("GLIBC_TUNABLES", COMPILER_MALLOC)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ComponentError::Compiler {
                reason: format!("cannot start {}: {e}", order.program.display()),
            })?;
        let mut guard = Reap(Some(child));
        let pid = guard.pid()?;
        apply_limits(pid, &order.limits).map_err(|e| ComponentError::Compiler {
            reason: format!("cannot set the compile limits: {e}"),
        })?;
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            .map_err(|e| ComponentError::Compiler {
                reason: format!("cannot watch the compiler process: {e}"),
            })?;
        Ok(Self {
            order: order.clone(),
            child: guard,
            pid,
            pidfd,
        })
    }

    /// Whether the child still waits for its job (a standby may have
    /// died: killed from outside, or its engine check failed).
    fn waiting(&mut self) -> bool {
        self.child
            .child()
            .is_ok_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

/// The standby compile child, and the thread that spawns it.
static STANDBY: LazyLock<Standby> = LazyLock::new(Standby::start);

struct Standby {
    ready: Mutex<Option<Spawned>>,
    /// Orders for the spawning thread; `None` when it could not start.
    orders: Mutex<Option<mpsc::Sender<Order>>>,
}

impl Standby {
    fn start() -> Self {
        let (send, orders) = mpsc::channel::<Order>();
        // The parent-death signal fires when the thread that spawned the
        // child exits: this one never does (the sender lives in a static).
        let thread = std::thread::Builder::new()
            .name("warden-compile-standby".into())
            .spawn(move || {
                while let Ok(mut order) = orders.recv() {
                    // Only the latest order matters.
                    while let Ok(newer) = orders.try_recv() {
                        order = newer;
                    }
                    let spawned = match Spawned::start(&order) {
                        Ok(spawned) => spawned,
                        Err(err) => {
                            tracing::debug!(error = %err, "cannot start a standby compile child");
                            continue;
                        }
                    };
                    // The one it replaces (if any) is killed and reaped
                    // here, outside the lock.
                    let _replaced = STANDBY.lock().replace(spawned);
                }
            });
        let orders = match thread {
            Ok(_) => Some(send),
            Err(err) => {
                tracing::warn!(error = %err, "cannot start the standby compiler thread; every compile spawns its own child");
                None
            }
        };
        Self {
            ready: Mutex::new(None),
            orders: Mutex::new(orders),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Spawned>> {
        self.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The standby, if it was spawned for `order` and still waits.
    fn take(&self, order: &Order) -> Option<Spawned> {
        let mut ready = self.lock();
        let mut spawned = ready.take_if(|s| s.order == *order)?;
        drop(ready);
        spawned.waiting().then_some(spawned)
    }

    /// Whether the standby was spawned for `order`.
    fn holds(&self, order: &Order) -> bool {
        self.lock().as_ref().is_some_and(|s| s.order == *order)
    }

    /// Asks for a standby of `order` (replacing the current one).
    fn order(&self, order: Order) {
        let orders = self.orders.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(orders) = orders.as_ref() {
            let _ = orders.send(order);
        }
    }
}

fn apply_limits(pid: Pid, limits: &CompileLimits) -> std::io::Result<()> {
    let bytes = limits.memory_mb.saturating_mul(1 << 20);
    prlimit(
        Some(pid),
        Resource::Data,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )?;
    // SIGXCPU and an allocation failure's SIGABRT would dump a core the
    // size of the compiler's heap.
    prlimit(
        Some(pid),
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    let secs = limits.cpu_secs.max(1);
    prlimit(
        Some(pid),
        Resource::Cpu,
        Rlimit {
            current: Some(secs),
            maximum: Some(secs.saturating_add(1)),
        },
    )?;
    Ok(())
}

/// Writes the output path line and the bytes to the child's stdin, and
/// closes it.
fn feed(mut stdin: std::process::ChildStdin, header: &[u8], bytes: &[u8]) {
    // A child that died early closes its end: the write fails, the exit
    // status says why.
    let _ = stdin
        .write_all(header)
        .and_then(|()| stdin.write_all(bytes));
}

/// Reads the child's stderr to its end (so the child never blocks on it)
/// and keeps its start, as one line.
fn drain(mut stderr: std::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let _ = (&mut stderr).take(STDERR_KEEP).read_to_end(&mut kept);
    let _ = std::io::copy(&mut stderr, &mut std::io::sink());
    String::from_utf8_lossy(&kept)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits until the child says its artifact is written (a line on its
/// stdout, see [`crate::compile_child::DONE`]), exits (`pidfd` turns
/// readable), or `deadline` passes.
fn wait_until(pidfd: &OwnedFd, stdout: std::process::ChildStdout, deadline: Instant) -> Ended {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    // Closed at the child's exit, or by the child; then only the exit counts.
    let mut stdout = Some(stdout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = vec![PollFd::new(pidfd, PollFlags::IN)];
        if let Some(out) = &stdout {
            fds.push(PollFd::new(out, PollFlags::IN));
        }
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => {
                if !fds[0].revents().is_empty() {
                    return Ended::Exited;
                }
                if let Some(mut out) = stdout.take() {
                    // The line is shorter than PIPE_BUF: one write, one read.
                    let mut said = [0; 16];
                    match out.read(&mut said) {
                        Ok(n) if said[..n] == *crate::compile_child::DONE => {
                            return Ended::Done;
                        }
                        // Anything else is not the protocol: wait for the exit.
                        Ok(_) | Err(_) => {}
                    }
                }
            }
            Ok(_) if left.is_zero() => return Ended::TimedOut,
            // Woken early, interrupted: check the clock again.
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(err) => {
                tracing::warn!(error = %err, "cannot poll the compiler process; stopping it");
                return Ended::TimedOut;
            }
        }
    }
}

fn classify(
    status: std::process::ExitStatus,
    stderr: &str,
    limits: &CompileLimits,
    out: &Path,
) -> Result<(), ComponentError> {
    let detail = |what: String| {
        if stderr.is_empty() {
            what
        } else {
            format!("{what}: {stderr}")
        }
    };
    match (status.code(), status.signal()) {
        (Some(exit::OK), _) => artifact_written(out),
        (Some(exit::INVALID), _) => Err(ComponentError::Malformed {
            reason: stderr.to_string(),
        }),
        (Some(exit::OUT_OF_MEMORY), _) => Err(memory(limits)),
        // The soft limit's SIGXCPU, or the hard limit's SIGKILL a second
        // later (the host only kills on the wall-clock deadline, handled
        // before this).
        (_, Some(sig)) if sig == Signal::XCPU.as_raw() || sig == Signal::KILL.as_raw() => {
            Err(ComponentError::CompileLimit(CompileLimit::Cpu {
                secs: limits.cpu_secs.max(1),
            }))
        }
        // Rust aborts the process when an allocation fails, which under
        // RLIMIT_DATA means the compile needed more memory than allowed.
        (_, Some(sig)) if sig == Signal::ABORT.as_raw() => Err(memory(limits)),
        (Some(code), _) => Err(ComponentError::Compiler {
            reason: detail(format!("the compiler exited with status {code}")),
        }),
        (None, sig) => Err(ComponentError::Compiler {
            reason: detail(format!(
                "the compiler was killed by signal {}",
                sig.unwrap_or_default()
            )),
        }),
    }
}

/// `Ok` when the child left an artifact in `out` (not checked further
/// here: loading it checks its engine).
fn artifact_written(out: &Path) -> Result<(), ComponentError> {
    match std::fs::metadata(out) {
        Ok(meta) if meta.len() > 0 => Ok(()),
        _ => Err(ComponentError::Compiler {
            reason: "the compiler ended without writing the compiled component".into(),
        }),
    }
}

fn memory(limits: &CompileLimits) -> ComponentError {
    ComponentError::CompileLimit(CompileLimit::Memory {
        mb: limits.memory_mb,
    })
}

/// The three ends of a compile child's standard streams the parent holds.
struct Pipes {
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    stderr: std::process::ChildStderr,
}

/// Owns the child until it is reaped: dropped early (an error, a panic),
/// it kills and reaps it, so no compiler outlives its compile call.
struct Reap(Option<Child>);

impl Reap {
    fn child(&mut self) -> Result<&mut Child, ComponentError> {
        self.0.as_mut().ok_or_else(|| ComponentError::Compiler {
            reason: "the compiler process is already reaped".into(),
        })
    }

    fn pid(&mut self) -> Result<Pid, ComponentError> {
        let id = self.child()?.id();
        i32::try_from(id)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| ComponentError::Compiler {
                reason: format!("the compiler has an invalid pid {id}"),
            })
    }

    fn pipes(&mut self) -> Result<Pipes, ComponentError> {
        let child = self.child()?;
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(stdin), Some(stdout), Some(stderr)) => Ok(Pipes {
                stdin,
                stdout,
                stderr,
            }),
            _ => Err(ComponentError::Compiler {
                reason: "the compiler's pipes were not set up".into(),
            }),
        }
    }

    fn wait(mut self) -> Result<std::process::ExitStatus, ComponentError> {
        let mut child = self.0.take().ok_or_else(|| ComponentError::Compiler {
            reason: "the compiler process is already reaped".into(),
        })?;
        child.wait().map_err(|e| ComponentError::Compiler {
            reason: format!("cannot collect the compiler's exit status: {e}"),
        })
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Compile children allowed to run at once.
static SLOTS: LazyLock<Slots> =
    LazyLock::new(|| Slots::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

/// A counting semaphore for blocking threads (compiles run on blocking
/// threads or the CLI's main thread, never on an async worker).
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

/// A held slot, given back when dropped.
struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_admit_at_most_their_count() {
        let slots = Slots::new(2);
        let a = slots.acquire();
        let _b = slots.acquire();
        assert_eq!(*slots.free.lock().unwrap(), 0);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let _c = slots.acquire();
            });
            // The third waits until one is given back.
            drop(a);
            waiter.join().unwrap();
        });
        assert_eq!(*slots.free.lock().unwrap(), 1);
    }
}
