//! `warden grade EXERCISE_DIR SUBMISSION… [--format F] [--out DIR] [--jobs N]`
//!
//! Exit status: 0 when every submission was graded and its report
//! written — whatever the verdicts, including submissions whose report
//! says `error` (not a component, wrong exports): a course platform needs
//! those reports too, exactly like Exercism's test runners, which exit 0
//! "regardless of the status of the tests". 1 when some report could not
//! be written. 2 for a bad exercise folder, a missing submission path or
//! bad flags.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use warden::grade::report::{DirSink, Format, Renderer, StreamSink};
use warden::grade::{
    BatchSummary, Exercise, Folder, GradeOptions, LimitOverrides, ReportSink, Submission,
    SubmissionReport, grade_batch,
};

use super::out::{Watched, err, errln};
use super::{CacheArgs, CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The exercise folder (canonical-data.json, exercise.wit, grading.toml).
    exercise: PathBuf,
    /// Submitted components; a directory means every `.wasm` file in it.
    #[arg(required = true, value_name = "SUBMISSION")]
    submissions: Vec<PathBuf>,
    /// Report format (default: text on a terminal, json otherwise).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Write one report per submission into this directory (named after
    /// the submission) instead of printing them.
    #[arg(long, value_name = "DIR")]
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
    /// Memory per test case in MiB, replacing the exercise's.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    memory_mb: Option<u64>,
    /// Wall-clock limit per test case in ms, replacing the exercise's (0: none).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Guest output (stdout + stderr) per test case in bytes, replacing the exercise's.
    #[arg(long)]
    output_limit: Option<u64>,
    #[command(flatten)]
    cache: CacheArgs,
}

/// `--format`: the library's [`Format`]s by their names, as a clap
/// `ValueEnum` so a wrong one is refused with the list of valid ones.
#[derive(Clone, Copy, Debug)]
struct FormatArg(Format);

impl clap::ValueEnum for FormatArg {
    fn value_variants<'a>() -> &'a [Self] {
        const ALL: [FormatArg; Format::ALL.len()] = {
            let mut all = [FormatArg(Format::Text); Format::ALL.len()];
            let mut i = 0;
            while i < all.len() {
                all[i] = FormatArg(Format::ALL[i]);
                i += 1;
            }
            all
        };
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name()))
    }
}

/// One wasm page: 64 KiB.
const WASM_PAGE: u64 = 64 << 10;

pub fn run(args: Args) -> CmdResult {
    let exercise = Exercise::load(&args.exercise).map_err(Failure::bad_input)?;
    let submissions = expand(&args.submissions)?;
    let format = args.format.map(|f| f.0).unwrap_or({
        if args.out.is_none() && std::io::stdout().is_terminal() {
            Format::Text
        } else {
            Format::Json
        }
    });
    let mut renderer = Renderer::new(format, &exercise);
    renderer.timing = !args.no_timing;
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
    let memory_limit = limits.apply(exercise.settings.limits).memory_bytes;
    let slots = u32::try_from(jobs.saturating_mul(2).saturating_add(2)).unwrap_or(u32::MAX);
    let runtime = args.cache.pooled_runtime(slots, memory_limit + WASM_PAGE)?;
    let options = GradeOptions {
        limits,
        fallback: Some(
            args.cache
                .runtime_for_memory(usize::try_from(memory_limit).unwrap_or(usize::MAX))?,
        ),
        interrupt: None,
    };
    let names: Vec<String> = submissions.iter().map(Submission::name).collect();
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| ProgressLine::new(submissions.len()));

    let summary = match &args.out {
        Some(dir) => {
            let inner = DirSink::new(dir, renderer, &names)
                .map_err(|e| Failure::bad_input(anyhow::anyhow!("--out {}: {e}", dir.display())))?;
            let mut sink = WithProgress { inner, progress };
            let summary = grade_batch(&runtime, &exercise, &submissions, &options, jobs, &mut sink);
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
            let summary = grade_batch(&runtime, &exercise, &submissions, &options, jobs, &mut sink);
            sink.clear();
            if closed.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Failure::OutputClosed);
            }
            if format != Format::Text && submissions.len() > 1 {
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

/// Paths as given, with directories replaced by their `.wasm` files
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
            .filter(|name| Path::new(name).extension().is_some_and(|e| e == "wasm"))
            .map(|name| Submission::InFolder {
                folder: folder.clone(),
                name,
            })
            .collect();
        if found.is_empty() {
            return Err(Failure::bad_input(anyhow::anyhow!(
                "{}: no .wasm files in this directory",
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
