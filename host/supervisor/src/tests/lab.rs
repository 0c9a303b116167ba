//! The in-memory test child, scripted per incarnation, and helpers to drive a tree.
//!
//! A [`Lab`] records a journal of what the supervisor asked of its children
//! (`start a`, `shutdown b`, `kill c`, …) so tests can assert exact orders, and
//! holds every incarnation's exit sender so a test can make any of them exit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::testing::EventRecorder;
use crate::{
    BoxFuture, ChildFailure, ChildSpec, ChildStart, ExitReason, ExitSender, FailureKind, Fault,
    InPlaceClaim, InjectError, RunningChild, StartContext, StartError, Started, SupervisorExit,
    SupervisorHandle, SupervisorSpec, start_root,
};

/// The failure class the test child reports for an injected trap, as a
/// kind of child names its own classes.
pub(crate) const TRAP: ChildFailure = ChildFailure::new("trap");

/// What one start does.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Start, then live as described.
    Run(Life),
    /// Fail to start.
    Fail(&'static str),
    /// Return `ignore`.
    Ignore,
    /// Panic inside the start future.
    Panic,
    /// Start, then drop the exit sender without reporting.
    DropSender,
}

impl Step {
    pub(crate) fn run() -> Step {
        Step::Run(Life::default())
    }
}

/// How a started incarnation behaves.
#[derive(Clone, Debug, Default)]
pub(crate) struct Life {
    /// Exit on its own after a delay.
    pub(crate) exit_after: Option<(Duration, ExitReason)>,
    pub(crate) on_shutdown: OnShutdown,
    pub(crate) on_kill: OnKill,
}

#[derive(Clone, Debug, Default)]
pub(crate) enum OnShutdown {
    /// Exit with `shutdown` at once.
    #[default]
    Exit,
    /// Exit with `shutdown` after a delay.
    ExitAfter(Duration),
    /// Exit with this reason at once.
    ExitWith(ExitReason),
    /// Ignore the request.
    Hang,
}

#[derive(Clone, Debug, Default)]
pub(crate) enum OnKill {
    /// Exit `killed` at once.
    #[default]
    Exit,
    /// Never report.
    Ignore,
}

type Slot = Arc<Mutex<Option<ExitSender>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct LabInner {
    journal: Mutex<Vec<String>>,
    /// Exit senders by child id and generation.
    slots: Mutex<HashMap<String, Vec<(u64, Slot)>>>,
}

/// The test bench: a journal and the exit senders of every incarnation.
#[derive(Clone, Default)]
pub(crate) struct Lab {
    inner: Arc<LabInner>,
}

impl Lab {
    pub(crate) fn new() -> Self {
        Lab::default()
    }

    /// A child that starts fine every time and behaves well.
    pub(crate) fn child(&self) -> TestChild {
        self.scripted([Step::run()])
    }

    /// A child living `life` every time.
    pub(crate) fn living(&self, life: Life) -> TestChild {
        self.scripted([Step::Run(life)])
    }

    /// A child following `steps`, one per start; the last step repeats.
    pub(crate) fn scripted(&self, steps: impl IntoIterator<Item = Step>) -> TestChild {
        let steps: VecDeque<Step> = steps.into_iter().collect();
        TestChild {
            lab: self.clone(),
            script: Arc::new(Mutex::new(steps)),
        }
    }

    fn note(&self, entry: String) {
        lock(&self.inner.journal).push(entry);
    }

    /// Everything noted so far.
    pub(crate) fn journal(&self) -> Vec<String> {
        lock(&self.inner.journal).clone()
    }

    /// Everything noted so far, then forget it.
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.inner.journal))
    }

    /// The newest generation started for `id`.
    pub(crate) fn generation(&self, id: &str) -> Option<u64> {
        lock(&self.inner.slots)
            .get(id)
            .and_then(|v| v.last().map(|(g, _)| *g))
    }

    /// Makes incarnation `generation` of `id` report `reason`; `false` if it
    /// already reported.
    pub(crate) fn exit_generation(&self, id: &str, generation: u64, reason: ExitReason) -> bool {
        let slot = lock(&self.inner.slots).get(id).and_then(|v| {
            v.iter()
                .rev()
                .find(|(g, _)| *g == generation)
                .map(|(_, s)| s.clone())
        });
        match slot.and_then(|s| lock(&s).take()) {
            Some(sender) => {
                sender.exit(reason);
                true
            }
            None => false,
        }
    }

    /// Makes the newest incarnation of `id` exit with `reason`.
    pub(crate) fn exit(&self, id: &str, reason: ExitReason) {
        let generation = self
            .generation(id)
            .unwrap_or_else(|| panic!("no incarnation of {id}"));
        assert!(
            self.exit_generation(id, generation, reason),
            "{id} generation {generation} already exited"
        );
    }

    /// Makes the newest incarnation of `id` crash.
    pub(crate) fn crash(&self, id: &str) {
        self.exit(id, ExitReason::abnormal(FailureKind::Crash, "test crash"));
    }

    /// The newest incarnation of `id` claims a restart in place, as a
    /// component child does after a trap; `None` when not allowed.
    pub(crate) fn claim_in_place(&self, id: &str) -> Option<InPlaceClaim> {
        let slot = self.newest_slot(id);
        let sender = lock(&slot);
        sender.as_ref()?.in_place_claimer()?.claim()
    }

    /// The newest incarnation of `id` crashed and restarted in place with
    /// `claim`: the exit and the new generation go to the supervisor, and
    /// the same sender reports for the new incarnation from now on.
    pub(crate) fn report_in_place(&self, id: &str, claim: InPlaceClaim) {
        let slot = self.newest_slot(id);
        let generation = claim.generation();
        lock(&slot)
            .as_mut()
            .expect("a live incarnation")
            .restarted_in_place(
                ExitReason::abnormal(FailureKind::Crash, "test crash"),
                claim,
            );
        lock(&self.inner.slots)
            .entry(id.to_string())
            .or_default()
            .push((generation, slot));
        self.note(format!("restart-in-place {id}"));
    }

    /// Crashes the newest incarnation of `id`: in place when allowed
    /// (`true`), else with an exit the supervisor restarts from.
    pub(crate) fn crash_in_place(&self, id: &str) -> bool {
        match self.claim_in_place(id) {
            Some(claim) => {
                self.report_in_place(id, claim);
                true
            }
            None => {
                self.crash(id);
                false
            }
        }
    }

    fn newest_slot(&self, id: &str) -> Slot {
        lock(&self.inner.slots)
            .get(id)
            .and_then(|v| v.last().map(|(_, s)| s.clone()))
            .unwrap_or_else(|| panic!("no incarnation of {id}"))
    }
}

/// A scripted child.
#[derive(Clone)]
pub(crate) struct TestChild {
    lab: Lab,
    script: Arc<Mutex<VecDeque<Step>>>,
}

impl TestChild {
    fn next_step(&self) -> Step {
        let mut script = lock(&self.script);
        if script.len() > 1 {
            script.pop_front().unwrap_or_else(Step::run)
        } else {
            script.front().cloned().unwrap_or_else(Step::run)
        }
    }
}

impl ChildStart for TestChild {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        let step = self.next_step();
        let lab = self.lab.clone();
        Box::pin(async move {
            let id = ctx.id.to_string();
            let args = ctx
                .args
                .as_ref()
                .map(|a| format!(" {a}"))
                .unwrap_or_default();
            let life = match step {
                Step::Fail(why) => {
                    lab.note(format!("start-failed {id}"));
                    ctx.exits.discard();
                    return Err(StartError::failed(why));
                }
                Step::Ignore => {
                    lab.note(format!("ignore {id}"));
                    ctx.exits.discard();
                    return Ok(Started::Ignore);
                }
                Step::Panic => {
                    lab.note(format!("start-panicked {id}"));
                    panic!("test child panics in start");
                }
                Step::DropSender => {
                    lab.note(format!("start {id}{args}"));
                    drop(ctx.exits);
                    return Ok(Started::Running(Box::new(TestRunning {
                        lab,
                        id,
                        slot: Arc::new(Mutex::new(None)),
                        life: Life::default(),
                        hung: false,
                    })));
                }
                Step::Run(life) => life,
            };
            lab.note(format!("start {id}{args}"));
            let slot: Slot = Arc::new(Mutex::new(Some(ctx.exits)));
            lock(&lab.inner.slots)
                .entry(id.clone())
                .or_default()
                .push((ctx.generation, slot.clone()));
            if let Some((delay, reason)) = life.exit_after.clone() {
                let slot = slot.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(sender) = lock(&slot).take() {
                        sender.exit(reason);
                    }
                });
            }
            Ok(Started::Running(Box::new(TestRunning {
                lab,
                id,
                slot,
                life,
                hung: false,
            })))
        })
    }
}

struct TestRunning {
    lab: Lab,
    id: String,
    slot: Slot,
    life: Life,
    hung: bool,
}

impl TestRunning {
    fn report(&self, reason: ExitReason) {
        if let Some(sender) = lock(&self.slot).take() {
            sender.exit(reason);
        }
    }
}

impl RunningChild for TestRunning {
    fn shutdown(&mut self) {
        self.lab.note(format!("shutdown {}", self.id));
        if self.hung {
            return;
        }
        match self.life.on_shutdown.clone() {
            OnShutdown::Exit => self.report(ExitReason::Shutdown),
            OnShutdown::ExitWith(reason) => self.report(reason),
            OnShutdown::Hang => {}
            OnShutdown::ExitAfter(delay) => {
                let slot = self.slot.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(sender) = lock(&slot).take() {
                        sender.exit(ExitReason::Shutdown);
                    }
                });
            }
        }
    }

    fn kill(&mut self) {
        self.lab.note(format!("kill {}", self.id));
        if let OnKill::Exit = self.life.on_kill {
            self.report(ExitReason::killed());
        }
    }

    fn inject(&mut self, fault: Fault) -> Result<(), InjectError> {
        self.lab.note(format!("inject {} {fault}", self.id));
        match fault {
            Fault::Kill => self.report(ExitReason::killed()),
            Fault::Trap => self.report(ExitReason::abnormal(TRAP, "injected trap")),
            Fault::Hang => self.hung = true,
        }
        Ok(())
    }

    fn info(&self) -> serde_json::Value {
        serde_json::json!({ "test": self.id })
    }
}

/// Starts a root supervisor named `root`, its events recorded and dropped.
pub(crate) async fn root(spec: SupervisorSpec) -> SupervisorHandle {
    root_on(spec, EventRecorder::new()).await
}

/// Starts a root supervisor named `root`, its events recorded by `events`.
pub(crate) async fn root_on(spec: SupervisorSpec, events: EventRecorder) -> SupervisorHandle {
    match start_root("root", spec, events).await {
        Ok(h) => h,
        Err(e) => panic!("root failed to start: {e}"),
    }
}

/// Waits (one virtual day at most) until `sup` stopped: a test fails, never hangs.
pub(crate) async fn wait(sup: &SupervisorHandle) -> SupervisorExit {
    match tokio::time::timeout(Duration::from_secs(86_400), sup.wait()).await {
        Ok(exit) => exit,
        Err(_) => panic!("supervisor {} did not stop", sup.path()),
    }
}

/// Stops `sup` and waits (one virtual day at most).
pub(crate) async fn stop(sup: &SupervisorHandle) -> SupervisorExit {
    sup.request_stop();
    wait(sup).await
}

/// A worker spec.
pub(crate) fn worker(id: &str, child: TestChild) -> ChildSpec {
    ChildSpec::worker(id, child)
}

/// Lets every ready task run (and paused time advance by `ms`).
pub(crate) async fn settle_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Lets every ready task run.
pub(crate) async fn settle() {
    settle_ms(1).await;
}

/// Takes what `events` recorded: `(path, event name)` pairs, in order.
pub(crate) fn drain(events: &EventRecorder) -> Vec<(String, String)> {
    events
        .take_names()
        .into_iter()
        .map(|(path, name)| (path, name.to_owned()))
        .collect()
}

/// Takes what `events` recorded, as JSON (`path`, `event` and the fields).
pub(crate) fn drain_json(events: &EventRecorder) -> Vec<serde_json::Value> {
    events
        .take()
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect()
}

/// Journal entries as `&str`s, for comparisons.
pub(crate) fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

/// A backoff without jitter: 100, 200, 400, 400 … ms, reset after 10 s up.
pub(crate) fn exact_backoff() -> crate::Backoff {
    crate::Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        multiplier: 2.0,
        jitter: 0.0,
        reset_after: Duration::from_secs(10),
    }
}
