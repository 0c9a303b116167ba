//! Grading one submission: load it once, check its exports against the
//! contract, then run every test case in a fresh instance.
//!
//! Guarantees:
//! - one `InstancePre` per submission, one new Store and instance per
//!   case: a case's loop, trap, memory bomb or output flood cannot affect
//!   the next case, and every case runs whatever the others did;
//! - nothing a submission does makes this function fail: every problem
//!   (unreadable file, not a component, missing export, trap, …) ends up
//!   in the returned report;
//! - with a fuel limit (the default), CPU verdicts come from fuel and are
//!   the same on every machine and under any load; the wall-clock limit is
//!   only a safety net;
//! - with an [`Interrupt`] in the options, firing it stops the running case
//!   within one epoch tick and runs no further case (an API caller went
//!   away, the host is stopping);
//! - a problem of the whole submission (it cannot be read or compiled, its
//!   initial memory is above the limit, its exports do not match
//!   `exercise.wit`) is told once, in the report's `message`; the cases it
//!   stops say only that they were not run and why in a few words, so a
//!   report never repeats a signature or a compiler error per case.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use warden_component::exports::ExportedFunc;
use warden_component::{
    Capabilities, ComponentError, HostContext, Interrupt, Limits, Metering, Prepared, Runtime,
    Sandbox, Val,
};

use crate::compare::{Rules, display, same};
use crate::exercise::{Exercise, TestCase};
use crate::folder::Folder;
use crate::mapping::{CallPlan, plan};
use crate::settings::{CaseLimits, LimitOverrides};
use crate::source::{Language, MAX_SOURCE_BYTES, Runners, SourceFile, grade_source};
use crate::verdict::{
    ContractProblems, Counts, Output, Status, SubmissionReport, SubmissionTiming, TestResult,
    TestTiming, Verdict,
};

/// The largest submission read: far above any real component (an
/// interpreter inside one is ~20 MB), low enough that a batch's jobs
/// cannot exhaust the grader's memory by reading.
pub const MAX_SUBMISSION_BYTES: u64 = 256 << 20;

/// A submission to grade.
#[derive(Debug, Clone)]
pub enum Submission {
    /// A component file the user named; the report names it by this path.
    /// Links are followed (the path is the user's own choice).
    File(PathBuf),
    /// A file found in a directory of submissions, read inside that
    /// directory only: a link leading out of it is refused, so one
    /// student's link cannot submit another's work or a host file.
    InFolder {
        /// The directory of submissions, opened once.
        folder: Folder,
        /// The file's name inside it.
        name: OsString,
    },
    /// Bytes already in memory (an upload), with the name reports use.
    Bytes {
        /// The name reports give the submission.
        name: String,
        /// The component's bytes.
        bytes: Vec<u8>,
    },
}

impl Submission {
    /// The name reports give it.
    pub fn name(&self) -> String {
        match self {
            Submission::File(path) => path.display().to_string(),
            Submission::InFolder { folder, name } => folder.path().join(name).display().to_string(),
            Submission::Bytes { name, .. } => name.clone(),
        }
    }

    /// The bytes: only a regular file (a FIFO or a device is refused, never
    /// read), of at most the runtime's compile size limit, and for a
    /// submission listed from a folder, never through a link out of it.
    pub fn bytes(&self, runtime: &Runtime) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        match self {
            Submission::File(path) => runtime
                .read_component(path)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| match e {
                    ComponentError::Io { .. } | ComponentError::NotAFile { .. } => {
                        format!("cannot read {e}")
                    }
                    other => format!("{}: {other}", path.display()),
                }),
            Submission::InFolder { folder, name } => {
                let limit = MAX_SUBMISSION_BYTES.min(runtime.compile_limits().max_bytes);
                folder
                    .read(Path::new(name), limit)
                    .map(std::borrow::Cow::Owned)
                    .map_err(|e| format!("cannot read {e}"))
            }
            Submission::Bytes { bytes, .. } => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }
}

/// How to grade, beyond what the exercise says.
#[derive(Debug, Clone, Default)]
pub struct GradeOptions {
    /// Limits that replace the exercise's (command-line flags).
    pub limits: LimitOverrides,
    /// Where a submission goes when it cannot be instantiated on the
    /// runtime it was given: set it when that runtime pools instances (a
    /// submission with more memories, tables or core instances than a
    /// pool slot holds) to an on-demand runtime, so pooling only ever
    /// changes how fast a submission is graded, never its verdicts.
    pub fallback: Option<Runtime>,
    /// Stops the grading once fired: the running case ends as `error`
    /// (killed) and the cases after it are not run. By default none.
    pub interrupt: Option<Interrupt>,
    /// Told when a submission's compile starts and ends (from the worker
    /// thread grading it), so a caller can show progress on a long one. By
    /// default none.
    pub on_compile: Option<CompileHook>,
    /// The language of every submission that is not a `.wasm` file
    /// (`--language`); by default a file's extension decides (`.py`,
    /// `.js`), and other files are components.
    pub language: Option<Language>,
    /// The runners that grade source submissions; without them a `.py` or
    /// `.js` submission's report says grading from source is not set up.
    pub runners: Option<std::sync::Arc<Runners>>,
}

/// A step of loading a submission, for [`GradeOptions::on_compile`].
#[derive(Debug, Clone, Copy)]
pub enum CompileEvent<'a> {
    /// Compiling (or loading from the cache) is about to start.
    Started {
        /// The submission's name ([`Submission::name`]).
        submission: &'a str,
        /// Its size in bytes.
        bytes: u64,
    },
    /// It ended, whether it worked or not.
    Finished {
        /// The submission's name.
        submission: &'a str,
        /// How long compiling and linking took.
        elapsed: std::time::Duration,
        /// False when the submission could not be compiled or linked.
        ok: bool,
    },
}

/// A callback for [`CompileEvent`]s, shared by the worker threads.
#[derive(Clone)]
pub struct CompileHook(pub std::sync::Arc<dyn Fn(CompileEvent<'_>) + Send + Sync>);

impl std::fmt::Debug for CompileHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompileHook(..)")
    }
}

impl CompileHook {
    fn tell(hook: Option<&CompileHook>, event: CompileEvent<'_>) {
        if let Some(hook) = hook {
            (hook.0)(event);
        }
    }
}

/// What a case stopped by a submission-level problem says: the problem
/// itself is in the report's `message`, once.
pub const NOT_RUN_CONTRACT: &str =
    "not run: the submission's exports do not match exercise.wit (see the submission's message)";
/// What a case says when the submission could not be loaded at all.
pub const NOT_RUN_LOAD: &str =
    "not run: the submission could not be loaded (see the submission's message)";

/// Grades one submission against `exercise`. Never fails: see the module
/// docs.
pub fn grade_submission(
    runtime: &Runtime,
    exercise: &Exercise,
    submission: &Submission,
    options: &GradeOptions,
) -> SubmissionReport {
    let started = Instant::now();
    let name = submission.name();
    let language = match options.language {
        Some(language) if !name.ends_with(".wasm") => Some(language),
        _ => Language::of_path(Path::new(&name)),
    };
    let limits = options.limits.apply(match language {
        Some(language) => exercise.settings.language_limits(language),
        None => exercise.settings.limits,
    });
    let mut report = SubmissionReport {
        format: crate::verdict::REPORT_FORMAT,
        exercise: exercise.name.clone(),
        submission: submission.name(),
        sha256: None,
        initial_memory_bytes: None,
        status: Status::Error,
        message: None,
        contract: None,
        score: 0.0,
        max_score: exercise.max_score(),
        counts: Counts::default(),
        limits,
        tests: Vec::new(),
        timing: None,
    };
    if let Some(language) = language {
        grade_source_submission(
            runtime,
            exercise,
            submission,
            options,
            language,
            &mut report,
        );
        return finished(report, 0.0, started);
    }
    let metering = if limits.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let mut sha256 = None;
    let mut initial_memory = None;
    let loaded = submission.bytes(runtime).and_then(|bytes| {
        // Refused before compiling: a compile of a large component takes
        // seconds, and no case could get an instance anyway.
        let initial = initial_memory_bytes(&bytes);
        initial_memory = initial;
        if let Some(initial) = initial
            && initial > limits.memory_bytes
        {
            // The compile hashes the bytes otherwise; not compiled, the
            // report still names them.
            sha256 = Some(warden_component::content_hash(&bytes));
            return Err(format!(
                "the component's initial memory is {}, above the limit of {}; raise --memory-mb \
                 (or `[limits] memory_mb` in grading.toml) to at least {} MiB",
                mib(initial),
                mib(limits.memory_bytes),
                initial.div_ceil(1 << 20)
            ));
        }
        let hook = options.on_compile.as_ref();
        CompileHook::tell(
            hook,
            CompileEvent::Started {
                submission: &name,
                bytes: bytes.len() as u64,
            },
        );
        let compile_started = Instant::now();
        let mut load = |runtime: &Runtime| {
            let compiled = runtime
                .compile(&bytes, metering)
                .map_err(|e| load_error(&e))?;
            sha256 = Some(compiled.hash.clone());
            compiled.prepare().map_err(|e| load_error(&e))
        };
        let first = load(runtime);
        let loaded = match &options.fallback {
            None => first,
            Some(fallback) => match first {
            Ok(prepared) if instantiates(&prepared, &limits, &exercise.settings.capabilities, options.interrupt.as_ref()) => {
                Ok(prepared)
            }
            // The pool refuses some components at compile time already
            // (too many memories); the fallback's verdict is the one that
            // counts, whatever the reason.
            _ => {
                tracing::debug!(submission = %name, "does not fit the instance pool; grading it on demand");
                load(fallback)
            }
            },
        };
        CompileHook::tell(
            hook,
            CompileEvent::Finished {
                submission: &name,
                elapsed: compile_started.elapsed(),
                ok: loaded.is_ok(),
            },
        );
        loaded
    });
    report.sha256 = sha256;
    report.initial_memory_bytes = initial_memory;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    report.tests = match loaded {
        Err(message) => {
            report.message = Some(message);
            not_run(exercise, NOT_RUN_LOAD)
        }
        Ok(prepared) => {
            let check = exercise.contract.check(&prepared.compiled);
            if !check.fits() {
                report.message = check.message();
                report.contract = Some(ContractProblems {
                    missing: check.missing.clone(),
                    mistyped: check.mistyped.clone(),
                });
            }
            let case_runner = CaseRunner {
                prepared: &prepared,
                sandbox_limits: limits.sandbox_limits(),
                limits,
                caps: &exercise.settings.capabilities,
                interrupt: options.interrupt.as_ref(),
            };
            exercise
                .cases
                .iter()
                .map(|case| match check.runs(&case.function) {
                    false => not_run_case(case, NOT_RUN_CONTRACT),
                    true if options.interrupt.as_ref().is_some_and(Interrupt::is_fired) => {
                        not_run_case(case, "not run: grading was interrupted")
                    }
                    true => {
                        let func = &check.resolved[&case.function];
                        let rules = Rules {
                            float_tolerance: exercise.settings.float_tolerance,
                            unordered_lists: exercise
                                .settings
                                .unordered
                                .iter()
                                .any(|f| *f == case.function || *f == func.func),
                        };
                        case_runner.run(case, func, &rules)
                    }
                })
                .collect()
        }
    };
    finished(report, load_ms, started)
}

/// `report` with its cases graded: counts, score, the status its cases
/// give (unless a message already made it an error) and the timing.
fn finished(mut report: SubmissionReport, load_ms: f64, started: Instant) -> SubmissionReport {
    report.counts = Counts::of(&report.tests);
    report.score = report.tests.iter().map(|t| t.score).sum();
    if report.message.is_none() {
        report.status = if report.counts.passed == report.counts.total {
            Status::Pass
        } else {
            Status::Fail
        };
    }
    report.timing = Some(SubmissionTiming {
        load_ms,
        total_ms: started.elapsed().as_secs_f64() * 1e3,
    });
    report
}

/// A source submission: its text read (UTF-8, at most
/// [`MAX_SOURCE_BYTES`]), then graded by its language's runner.
fn grade_source_submission(
    runtime: &Runtime,
    exercise: &Exercise,
    submission: &Submission,
    options: &GradeOptions,
    language: Language,
    report: &mut SubmissionReport,
) {
    let text = submission.bytes(runtime).and_then(|bytes| {
        if bytes.len() as u64 > MAX_SOURCE_BYTES {
            return Err(format!(
                "{} is {} bytes, above the limit of {MAX_SOURCE_BYTES} for a source file",
                report.submission,
                bytes.len()
            ));
        }
        report.sha256 = Some(warden_component::content_hash(&bytes));
        String::from_utf8(bytes.into_owned())
            .map_err(|_| format!("{} is not UTF-8 text", report.submission))
    });
    let runners = options.runners.as_deref().ok_or_else(|| {
        format!(
            "{} is {} source, and this grader is not set up to grade from source",
            report.submission,
            language.name()
        )
    });
    match (text, runners) {
        (Ok(text), Ok(runners)) => {
            let name = report.submission.clone();
            let limits = report.limits;
            grade_source(
                runtime,
                exercise,
                runners,
                &SourceFile {
                    language,
                    name: &name,
                    text: &text,
                    limits,
                    interrupt: options.interrupt.as_ref(),
                },
                report,
            );
        }
        (Err(message), _) | (_, Err(message)) => {
            report.message = Some(message);
            report.tests = not_run(exercise, NOT_RUN_LOAD);
        }
    }
}

/// The bytes of every linear memory a component defines, at their
/// initial sizes (memories imported from another of its modules are the
/// same memory and count once); `None` when the bytes do not parse, which
/// the compile then reports.
pub fn initial_memory_bytes(bytes: &[u8]) -> Option<u64> {
    let mut total = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::MemorySection(reader) = payload.ok()? {
            for memory in reader {
                let memory = memory.ok()?;
                let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                total = total.saturating_add(memory.initial.saturating_mul(page));
            }
        }
    }
    Some(total)
}

/// `17 MiB`, or `17.06 MiB` when not whole.
fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.2} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

/// Whether one instance of `prepared` can be created (the trial that
/// decides whether a pooled runtime can grade it at all).
fn instantiates(
    prepared: &Prepared,
    limits: &CaseLimits,
    caps: &Capabilities,
    interrupt: Option<&Interrupt>,
) -> bool {
    new_sandbox(
        prepared,
        &limits.sandbox_limits(),
        caps,
        HostContext::isolated("load".to_string()),
        interrupt,
    )
    .is_ok()
}

/// A sandbox under `interrupt` when there is one.
fn new_sandbox(
    prepared: &Prepared,
    limits: &Limits,
    caps: &Capabilities,
    host: HostContext,
    interrupt: Option<&Interrupt>,
) -> Result<Sandbox, ComponentError> {
    match interrupt {
        Some(scope) => Sandbox::new_under(prepared, limits, caps, host, scope),
        None => Sandbox::new(prepared, limits, caps, host),
    }
}

fn load_error(err: &ComponentError) -> String {
    match err {
        ComponentError::Unlinkable { reason } | ComponentError::Instantiation { reason } => {
            format!("the component cannot be linked: {reason}")
        }
        other => other.to_string(),
    }
}

pub(crate) fn not_run(exercise: &Exercise, message: &str) -> Vec<TestResult> {
    exercise
        .cases
        .iter()
        .map(|c| not_run_case(c, message))
        .collect()
}

pub(crate) fn not_run_case(case: &TestCase, message: &str) -> TestResult {
    result(case, Verdict::Error, Some(message.to_string()))
}

pub(crate) fn result(case: &TestCase, verdict: Verdict, message: Option<String>) -> TestResult {
    TestResult {
        name: case.name.clone(),
        uuid: case.uuid.clone(),
        property: case.property.clone(),
        function: case.function.clone(),
        verdict,
        message,
        expected: case.expected.to_json(),
        actual: None,
        test_code: case.test_code.clone(),
        task_id: case.task_id,
        hidden: case.hidden,
        score: if verdict == Verdict::Pass {
            case.points
        } else {
            0.0
        },
        max_score: case.points,
        fuel_used: None,
        stdout: Output::default(),
        stderr: Output::default(),
        timing: None,
    }
}

/// Runs cases of one prepared submission.
struct CaseRunner<'a> {
    prepared: &'a Prepared,
    limits: CaseLimits,
    sandbox_limits: Limits,
    caps: &'a Capabilities,
    interrupt: Option<&'a Interrupt>,
}

impl CaseRunner<'_> {
    fn run(&self, case: &TestCase, func: &ExportedFunc, rules: &Rules) -> TestResult {
        let started = Instant::now();
        let mut out = match plan(case, func) {
            Ok(plan) => self.call(case, func, &plan, rules),
            Err(problem) => result(case, Verdict::Error, Some(problem)),
        };
        out.timing = Some(TestTiming {
            duration_us: started.elapsed().as_micros() as u64,
        });
        out
    }

    fn call(
        &self,
        case: &TestCase,
        func: &ExportedFunc,
        plan: &CallPlan,
        rules: &Rules,
    ) -> TestResult {
        let mut sandbox = match new_sandbox(
            self.prepared,
            &self.sandbox_limits,
            self.caps,
            HostContext::isolated(case.function.clone()),
            self.interrupt,
        ) {
            Ok(sandbox) => sandbox,
            Err(err) => return self.failed(case, &err),
        };
        let (outcome, report) = sandbox.call(&func.index, &plan.args, func.result_count());
        let mut out = match outcome {
            Err(err) => self.failed(case, &err),
            Ok(_)
                if report.stdout.total_bytes + report.stderr.total_bytes
                    > self.limits.output_bytes =>
            {
                result(
                    case,
                    Verdict::OutputLimit,
                    Some(format!(
                        "output limit of {} bytes exceeded ({} bytes written)",
                        self.limits.output_bytes,
                        report.stdout.total_bytes + report.stderr.total_bytes
                    )),
                )
            }
            Ok(values) => judge(case, plan, values.first(), rules),
        };
        out.fuel_used = report.fuel_used;
        out.stdout = Output::from_capture(&report.stdout);
        out.stderr = Output::from_capture(&report.stderr);
        out
    }

    fn failed(&self, case: &TestCase, err: &ComponentError) -> TestResult {
        failed(case, &self.limits, err)
    }
}

/// A case's result for a call that did not return: the verdict the error
/// means.
pub(crate) fn failed(case: &TestCase, limits: &CaseLimits, err: &ComponentError) -> TestResult {
    {
        let verdict = match err {
            ComponentError::Timeout { .. } => Verdict::Timeout,
            ComponentError::OutOfFuel { .. } => Verdict::FuelExhausted,
            ComponentError::MemoryLimit { .. } => Verdict::MemoryLimit,
            ComponentError::OutputLimit { .. } => Verdict::OutputLimit,
            _ => Verdict::Error,
        };
        let message = match err {
            // The capture is per stream; the limit is for both together.
            ComponentError::OutputLimit { .. } => {
                format!("output limit of {} bytes exceeded", limits.output_bytes)
            }
            other => other.to_string(),
        };
        result(case, verdict, Some(message))
    }
}

/// Compares what came back with what was expected.
pub(crate) fn judge(
    case: &TestCase,
    plan: &CallPlan,
    value: Option<&Val>,
    rules: &Rules,
) -> TestResult {
    let (Some(expected), Some(ty)) = (&plan.expected, &plan.result_type) else {
        // No result declared, none expected.
        return result(case, Verdict::Pass, None);
    };
    let Some(actual) = value else {
        return result(
            case,
            Verdict::Error,
            Some("the function returned no value".into()),
        );
    };
    let shown = display(actual, ty);
    let mut out = if same(expected, actual, ty, rules) {
        result(case, Verdict::Pass, None)
    } else {
        result(
            case,
            Verdict::Fail,
            Some(format!(
                "expected {}, got {}",
                short(&case.expected.to_json()),
                short(&shown)
            )),
        )
    };
    out.actual = Some(shown);
    out
}

/// Longest value text in a message; reports keep the full values in
/// `expected` and `actual`.
const MESSAGE_VALUE_CHARS: usize = 400;

fn short(value: &serde_json::Value) -> String {
    let text = value.to_string();
    match crate::verdict::truncate_chars(&text, MESSAGE_VALUE_CHARS) {
        (cut, true) => format!("{cut}…"),
        (all, false) => all.to_string(),
    }
}
