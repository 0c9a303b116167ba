//! `warden grade EXERCISE_DIR SUBMISSION… [--format F] [--out DIR] [--jobs N]`
//! and `warden grade --check EXERCISE_DIR`; with `--nats URL` the same on
//! a fleet of workers ([`fleet`]), `--detach` and `--collect BATCH`.
//!
//! Exit status: 0 when every submission was graded and its report
//! written — whatever the verdicts, including submissions whose report
//! says `error` (not a component, wrong exports): a course platform needs
//! those reports too, exactly like Exercism's test runners, which exit 0
//! "regardless of the status of the tests". 1 when some report could not
//! be written. 2 for a bad exercise folder, a missing submission path or
//! bad flags. `--check` exits 0 when the exercise has no problem and 2
//! listing every problem otherwise.
//!
//! Stdout carries reports only. Several submissions in a JSON format make
//! JSON Lines, one object per submission with its name (see
//! `warden::grade::report`). Everything else goes to stderr: the summary,
//! the progress bar (on a terminal), and a line for each compile that
//! takes longer than a second ([`CompileWatch`]), terminal or not, since a
//! large component (an interpreter) can take twenty seconds to compile.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use warden::grade::report::{DirSink, Format, Renderer, StreamSink};
use warden::grade::{
    BatchSummary, CompileEvent, CompileHook, Exercise, Folder, GradeOptions, Language,
    LimitOverrides, ReportSink, Runners, Submission, SubmissionReport, check_exercise, grade_batch,
};

use super::out::{Watched, err, errln, out};
use super::{CacheArgs, CmdResult, Failure};

mod fleet;

#[derive(clap::Args)]
pub struct Args {
    /// The exercise folder (canonical-data.json, exercise.wit, grading.toml).
    #[arg(required_unless_present = "collect")]
    exercise: Option<PathBuf>,
    /// Submitted components (`.wasm`) or Python (`.py`) and JavaScript
    /// (`.js`) sources; a directory means every such file in it.
    #[arg(
        required_unless_present_any = ["check", "collect"],
        conflicts_with = "check",
        value_name = "SUBMISSION"
    )]
    submissions: Vec<PathBuf>,
    /// Grade on a fleet: publish the exercise and submissions to the
    /// NATS JetStream server at this URL, where `warden worker`s grade
    /// them; same reports, progress and summary as grading here.
    #[arg(long, value_name = "URL", conflicts_with = "check")]
    nats: Option<String>,
    /// With --nats: publish the batch, print its id and return at once.
    #[arg(long, requires = "nats")]
    detach: bool,
    /// With --nats: print the reports of a batch published before with
    /// --detach (waiting for the ones not graded yet).
    #[arg(
        long,
        value_name = "BATCH",
        requires = "nats",
        conflicts_with_all = ["detach", "exercise", "submissions"]
    )]
    collect: Option<String>,
    #[command(flatten)]
    fleet: super::worker::FleetArgs,
    /// Check the exercise folder alone, with no submission: list every
    /// problem at once (WIT, grading.toml, test cases that do not fit the
    /// WIT types) and exit 2 if there is any, 0 otherwise.
    #[arg(long)]
    check: bool,
    /// Report format (default: text on a terminal, json otherwise). Several
    /// submissions in json, exercism or gradescope print JSON Lines, one
    /// object per submission carrying its name. With --check: text or json.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Write one report per submission into this directory (named after
    /// the submission) instead of printing them.
    #[arg(long, value_name = "DIR", conflicts_with = "check")]
    out: Option<PathBuf>,
    /// Submissions graded in parallel (default: the number of CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Leave wall-clock figures out of the reports, so that grading the
    /// same submission twice gives byte-identical reports.
    #[arg(long)]
    no_timing: bool,
    /// Fuel per test case, replacing the exercise's (0: unmetered).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory per test case in MiB, replacing the exercise's. A component
    /// whose initial memory is above it is refused before it is compiled.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    memory_mb: Option<u64>,
    /// Wall-clock limit per test case in ms, replacing the exercise's (0: none).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Guest output (stdout + stderr) per test case in bytes, replacing the exercise's.
    #[arg(long)]
    output_limit: Option<u64>,
    /// The language of every submission that is not a `.wasm` file
    /// (default: each file's extension decides).
    #[arg(long, value_enum, conflicts_with = "check")]
    language: Option<LanguageArg>,
    #[command(flatten)]
    cache: CacheArgs,
}

/// `--language`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LanguageArg {
    /// Python 3 (CPython, through componentize-py).
    Python,
    /// JavaScript (SpiderMonkey, through componentize-js).
    Javascript,
}

impl From<LanguageArg> for Language {
    fn from(l: LanguageArg) -> Self {
        match l {
            LanguageArg::Python => Language::Python,
            LanguageArg::Javascript => Language::JavaScript,
        }
    }
}

/// `--format`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FormatArg {
    /// A readable table per submission.
    Text,
    /// Warden's own report, every detail.
    Json,
    /// Exercism's results.json (version 3).
    Exercism,
    /// Gradescope's autograder results.json.
    Gradescope,
    /// JUnit XML, for CI systems.
    Junit,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Exercism => Format::Exercism,
            FormatArg::Gradescope => Format::Gradescope,
            FormatArg::Junit => Format::Junit,
        }
    }
}

/// One wasm page: 64 KiB.
const WASM_PAGE: u64 = 64 << 10;

/// A compile is announced on stderr once it has taken this long
/// (`WARDEN_GRADE_PROGRESS_MS` overrides it; 0 announces every compile).
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> CmdResult {
    if args.check {
        return check(&args);
    }
    if args.nats.is_some() {
        return fleet::run(&args);
    }
    let exercise = load_exercise(&args)?;
    let submissions = expand(&args.submissions)?;
    let format = report_format(&args);
    let mut renderer = Renderer::new(format, &exercise);
    renderer.timing = !args.no_timing;
    // Named lines whenever a stream may carry several reports, so that a
    // script reading a directory's reports never meets two shapes.
    renderer.named = submissions.len() > 1 || args.submissions.iter().any(|p| p.is_dir());
    let limits = LimitOverrides {
        fuel: args.fuel,
        memory_mb: args.memory_mb,
        timeout_ms: args.timeout_ms,
        output_limit_bytes: args.output_limit,
    };
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    // Pooled instances: a fresh instance per case costs a tenth of an
    // on-demand one (no mmap/munmap, no TLB shootdowns). Each job holds
    // one instance at a time, plus the load trial; a slot's memory is one
    // page over the limit, so the memory limiter, not the pool, refuses
    // growth and the verdict stays `memory_limit`. Submissions that do
    // not fit a slot are graded on demand.
    let language = args.language.map(Language::from);
    let languages: Vec<Language> = submissions
        .iter()
        .filter_map(|s| {
            let name = s.name();
            match language {
                Some(l) if !name.ends_with(".wasm") => Some(l),
                _ => Language::of_path(Path::new(&name)),
            }
        })
        .collect();
    // Slots big enough for the largest limit any submission runs under.
    let memory_limit = languages
        .iter()
        .map(|l| {
            limits
                .apply(exercise.settings.language_limits(*l))
                .memory_bytes
        })
        .chain(
            (languages.len() < submissions.len())
                .then(|| limits.apply(exercise.settings.limits).memory_bytes),
        )
        .max()
        .unwrap_or(0);
    let slots = u32::try_from(jobs.saturating_mul(2).saturating_add(2)).unwrap_or(u32::MAX);
    let runtime =
        args.cache
            .pooled_runtime(slots, memory_limit + WASM_PAGE, !languages.is_empty())?;
    let watch = CompileWatch::new(progress_after());
    let options = GradeOptions {
        limits,
        fallback: Some(
            args.cache
                .runtime_for_memory(usize::try_from(memory_limit).unwrap_or(usize::MAX))?,
        ),
        interrupt: None,
        on_compile: Some(watch.hook()),
        language,
        runners: (!languages.is_empty()).then(|| Arc::new(Runners::new(runners_dir(&args.cache)))),
    };
    let names: Vec<String> = submissions.iter().map(Submission::name).collect();
    let written = write_reports(&args, renderer, format, &names, |sink| {
        Ok(grade_batch(
            &runtime,
            &exercise,
            &submissions,
            &options,
            jobs,
            sink,
        ))
    });
    watch.finish();
    written
}

/// `--format`, else text on a terminal and JSON otherwise (or into
/// `--out`).
fn report_format(args: &Args) -> Format {
    args.format.map_or_else(
        || {
            if args.out.is_none() && std::io::stdout().is_terminal() {
                Format::Text
            } else {
                Format::Json
            }
        },
        Format::from,
    )
}

/// Writes the reports `collect` hands its sink, one per name in `names`:
/// to the `--out` folder (then the summary on stderr) or to stdout (the
/// summary too, for more than one report not in text), with the progress
/// line on a terminal. Local grading and a fleet's collecting share it, so
/// both print the same bytes. Fails when a report could not be written.
fn write_reports(
    args: &Args,
    renderer: Renderer,
    format: Format,
    names: &[String],
    collect: impl FnOnce(&mut dyn ReportSink) -> Result<BatchSummary, Failure>,
) -> CmdResult {
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| ProgressLine::new(names.len()));
    let summary = match &args.out {
        Some(dir) => {
            let inner = DirSink::new(dir, renderer, names)
                .map_err(|e| Failure::bad_input(anyhow::anyhow!("--out {}: {e}", dir.display())))?;
            let mut sink = WithProgress { inner, progress };
            let summary = collect(&mut sink)?;
            sink.clear();
            err!("{}", warden::grade::report::text::summary(&summary));
            errln!(
                "reports written to {} ({} file(s))",
                dir.display(),
                sink.inner.written.len()
            );
            summary
        }
        None => {
            let (stdout, closed) = Watched::new(std::io::stdout().lock());
            let inner = StreamSink::new(stdout, renderer);
            let mut sink = WithProgress { inner, progress };
            let summary = collect(&mut sink)?;
            sink.clear();
            if closed.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Failure::OutputClosed);
            }
            if format != Format::Text && names.len() > 1 {
                err!("{}", warden::grade::report::text::summary(&summary));
            }
            summary
        }
    };
    if summary.write_failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(anyhow::anyhow!(
            "{} report(s) could not be written; first: {}: {}",
            summary.write_failures.len(),
            summary.write_failures[0].0,
            summary.write_failures[0].1
        )))
    }
}

/// The exercise folder clap made sure is there (`--collect` aside).
fn exercise_dir(args: &Args) -> Result<&Path, Failure> {
    args.exercise
        .as_deref()
        .ok_or_else(|| Failure::bad_input(anyhow::anyhow!("EXERCISE: missing")))
}

fn load_exercise(args: &Args) -> Result<Exercise, Failure> {
    let dir = exercise_dir(args)?;
    Exercise::load(dir).map_err(|e| {
        Failure::bad_input(anyhow::anyhow!(
            "{e}\n(`warden grade --check {}` lists every problem of the exercise at once)",
            dir.display()
        ))
    })
}

/// `--check`: every problem of the exercise folder, or a summary.
fn check(args: &Args) -> CmdResult {
    let format = args.format.unwrap_or(FormatArg::Text);
    if !matches!(format, FormatArg::Text | FormatArg::Json) {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "--check prints text or json, not {}",
            Format::from(format).name()
        )));
    }
    let runtime = args.cache.runtime()?;
    let report = check_exercise(&runtime, exercise_dir(args)?);
    if format == FormatArg::Json {
        out!("{}\n", report.to_json())?;
    } else if report.is_ok() {
        out!(
            "{}: ok — {} function(s) ({}), {} test case(s), {} point(s)\n",
            report.dir.display(),
            report.functions.len(),
            report.functions.join(", "),
            report.cases,
            report.max_score
        )?;
    }
    if report.is_ok() {
        return Ok(());
    }
    // One problem a line: the usual one-line error would run them together.
    errln!(
        "error: {}: {} problem(s):",
        report.dir.display(),
        report.problems.len()
    );
    for problem in &report.problems {
        errln!("  - {problem}");
    }
    Err(Failure::Told(2))
}

/// Where built runners are kept: `runners/` in the compile cache, or a
/// folder under the temporary directory with `--no-cache`.
fn runners_dir(cache: &CacheArgs) -> PathBuf {
    let dir = if cache.no_cache {
        None
    } else {
        cache.cache_dir.clone().or_else(super::default_cache_dir)
    };
    dir.map_or_else(
        || std::env::temp_dir().join("warden-runners"),
        |d| d.join("runners"),
    )
}

/// How long a compile runs before it is announced.
fn progress_after() -> Duration {
    std::env::var("WARDEN_GRADE_PROGRESS_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(PROGRESS_AFTER, Duration::from_millis)
}

/// Announces on stderr every compile that takes longer than `after`:
/// "compiling NAME (18.2 MB)…" once it has, then "compiled NAME in 18.4 s".
/// Each compile gets a watcher thread that waits for its end at most
/// `after` before speaking, so a fast compile (or a cache hit) prints
/// nothing.
struct CompileWatch {
    after: Duration,
    state: Arc<Mutex<WatchState>>,
}

#[derive(Default)]
struct WatchState {
    /// Compiles under way: the submission and where its end goes.
    pending: Vec<(String, mpsc::Sender<(Duration, bool)>)>,
    /// Watcher threads, joined by [`CompileWatch::finish`] so that no
    /// line is lost when the process exits.
    threads: Vec<JoinHandle<()>>,
}

impl CompileWatch {
    fn new(after: Duration) -> Self {
        Self {
            after,
            state: Arc::new(Mutex::new(WatchState::default())),
        }
    }

    fn hook(&self) -> CompileHook {
        let state = Arc::clone(&self.state);
        let after = self.after;
        CompileHook(Arc::new(move |event| {
            let Ok(mut state) = state.lock() else {
                return;
            };
            match event {
                CompileEvent::Started { submission, bytes } => {
                    let (tx, rx) = mpsc::channel();
                    state.pending.push((submission.to_string(), tx));
                    let name = submission.to_string();
                    let thread = std::thread::spawn(move || watch(&name, bytes, after, &rx));
                    state.threads.push(thread);
                }
                CompileEvent::Finished {
                    submission,
                    elapsed,
                    ok,
                } => {
                    if let Some(at) = state.pending.iter().position(|(n, _)| n == submission) {
                        let (_, tx) = state.pending.remove(at);
                        // The watcher may be gone already; nothing to tell then.
                        let _ = tx.send((elapsed, ok));
                    }
                }
            }
        }))
    }

    /// Waits for every watcher to have said its last line.
    fn finish(self) {
        let threads = match self.state.lock() {
            Ok(mut state) => {
                state.pending.clear();
                std::mem::take(&mut state.threads)
            }
            Err(_) => return,
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// One compile's watcher (see [`CompileWatch`]).
fn watch(name: &str, bytes: u64, after: Duration, ended: &mpsc::Receiver<(Duration, bool)>) {
    match ended.recv_timeout(after) {
        Ok(_) | Err(RecvTimeoutError::Disconnected) => return,
        Err(RecvTimeoutError::Timeout) => {}
    }
    errln!("{}compiling {name} ({})…", clear_line(), size(bytes));
    if let Ok((elapsed, ok)) = ended.recv() {
        let secs = elapsed.as_secs_f64();
        if ok {
            errln!("{}compiled {name} in {secs:.1} s", clear_line());
        } else {
            errln!(
                "{}compiling {name} failed after {secs:.1} s (its report says why)",
                clear_line()
            );
        }
    }
}

/// On a terminal, what erases the progress bar a line is written over.
fn clear_line() -> &'static str {
    if std::io::stderr().is_terminal() {
        "\r\x1b[2K"
    } else {
        ""
    }
}

/// `18.2 MB`, `120 KB`: sizes as people read them.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} KB", (b / 1e3).max(1.0))
    }
}

/// Paths as given, with directories replaced by their `.wasm`, `.py` and `.js` files
/// (sorted, so the order never depends on the file system). A file in a
/// directory is read inside it only (see [`Submission::InFolder`]): a
/// link there that leads out of it gets a report saying it was refused.
fn expand(paths: &[PathBuf]) -> Result<Vec<Submission>, Failure> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            Failure::bad_input(anyhow::anyhow!("submission {}: {e}", path.display()))
        })?;
        if !meta.is_dir() {
            out.push(Submission::File(path.clone()));
            continue;
        }
        let folder = Folder::open(path)
            .map_err(|e| Failure::bad_input(anyhow::anyhow!("{}: {e}", path.display())))?;
        let found: Vec<Submission> = folder
            .file_names()
            .map_err(Failure::bad_input)?
            .into_iter()
            .filter(|name| {
                let path = Path::new(name);
                path.extension().is_some_and(|e| e == "wasm") || Language::of_path(path).is_some()
            })
            .map(|name| Submission::InFolder {
                folder: folder.clone(),
                name,
            })
            .collect();
        if found.is_empty() {
            return Err(Failure::bad_input(anyhow::anyhow!(
                "{}: no .wasm files (nor .py or .js sources) in this directory",
                path.display()
            )));
        }
        out.extend(found);
    }
    Ok(out)
}

/// A one-line progress bar on stderr, redrawn with `\r`.
struct ProgressLine {
    total: usize,
    seen: BatchSummary,
    shown: bool,
}

impl ProgressLine {
    fn new(total: usize) -> Self {
        Self {
            total,
            seen: BatchSummary::default(),
            shown: false,
        }
    }

    fn count(&mut self, report: &SubmissionReport) {
        self.seen.record(report);
        let seen = std::mem::take(&mut self.seen);
        self.draw(&seen);
        self.seen = seen;
    }

    fn draw(&mut self, s: &BatchSummary) {
        const WIDTH: usize = 30;
        let filled = (s.submissions * WIDTH)
            .checked_div(self.total)
            .unwrap_or(WIDTH);
        err!(
            "\r[{}{}] {}/{} graded: {} pass, {} fail, {} error",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            s.submissions,
            self.total,
            s.passed,
            s.failed,
            s.errored
        );
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            err!("\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// A sink that also draws the progress line, clearing it before each
/// report so that reports printed on the same terminal stay readable.
struct WithProgress<S> {
    inner: S,
    progress: Option<ProgressLine>,
}

impl<S> WithProgress<S> {
    fn clear(&mut self) {
        if let Some(p) = &mut self.progress {
            p.clear();
        }
    }
}

impl<S: ReportSink> ReportSink for WithProgress<S> {
    fn submission(&mut self, index: usize, report: &SubmissionReport) -> std::io::Result<()> {
        self.clear();
        let written = self.inner.submission(index, report);
        if let Some(p) = &mut self.progress {
            p.count(report);
        }
        written
    }

    fn finish(&mut self, summary: &BatchSummary) -> std::io::Result<()> {
        self.clear();
        self.inner.finish(summary)
    }
}
