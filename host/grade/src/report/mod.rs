//! Report formats, and the sinks that write them.
//!
//! The grader produces [`SubmissionReport`]s; how they are shown is a
//! format's business, one file each:
//! - [`text`]: a readable table (the default on a terminal);
//! - [`json`]: Warden's own report, every detail (the model serialised);
//! - [`exercism`]: Exercism's `results.json`, version 3;
//! - [`gradescope`]: Gradescope's autograder `results.json`;
//! - [`junit`]: JUnit XML, which CI systems read.
//!
//! Two sinks put them somewhere: [`DirSink`] writes one file per
//! submission the moment it is graded (atomically: a crash never leaves a
//! half-written report), [`StreamSink`] writes one stream (stdout) in
//! input order, whatever order the workers finish in.
//!
//! Several submissions on one stream (stdout): JSON Lines, one object per
//! submission, each carrying the submission's name. Warden's `json` report
//! has it already (`submission`); Exercism's and Gradescope's formats have
//! no place for it, so with [`Renderer::named`] each line wraps the format's
//! own object: `{"submission": NAME, "results": {…results.json…}}`.
//!
//! Timing: only `json` (under `timing` keys), `gradescope`
//! (`execution_time`) and `junit` (`time` attributes) carry wall-clock
//! figures, and [`Renderer::timing`] switches them off; everything else
//! is the same on every run.

pub mod exercism;
pub mod gradescope;
pub mod json;
pub mod junit;
pub mod text;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::batch::{BatchSummary, ReportSink};
use crate::exercise::Exercise;
use crate::settings::Visibility;
use crate::verdict::SubmissionReport;

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A readable table ([`text`]).
    Text,
    /// Warden's own JSON report ([`json`]).
    Json,
    /// Exercism's `results.json`, version 3 ([`exercism`]).
    Exercism,
    /// Gradescope's autograder `results.json` ([`gradescope`]).
    Gradescope,
    /// JUnit XML ([`junit`]).
    Junit,
}

impl Format {
    /// Every format, in the order error messages list them.
    pub const ALL: [Format; 5] = [
        Format::Text,
        Format::Json,
        Format::Exercism,
        Format::Gradescope,
        Format::Junit,
    ];

    /// The name `--format` takes and [`FromStr`] parses (`gradescope`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Exercism => "exercism",
            Format::Gradescope => "gradescope",
            Format::Junit => "junit",
        }
    }

    /// The file name suffix of a report written by [`DirSink`].
    pub fn file_suffix(self) -> &'static str {
        match self {
            Format::Text => ".txt",
            Format::Json => ".json",
            Format::Exercism => ".exercism.json",
            Format::Gradescope => ".gradescope.json",
            Format::Junit => ".xml",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown format `{s}` (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Renders reports in one format.
#[derive(Debug, Clone)]
pub struct Renderer {
    /// The format rendered.
    pub format: Format,
    /// Include wall-clock figures. By default true.
    pub timing: bool,
    /// The exercise's name (JUnit's suite of suites).
    pub exercise: String,
    /// Gradescope visibility of hidden cases.
    pub hidden_visibility: Visibility,
    /// In a stream, wrap each Exercism or Gradescope report with the
    /// submission's name (see the module docs): set when a stream carries
    /// several. By default false.
    pub named: bool,
}

impl Renderer {
    /// A renderer of `format` for reports on `exercise`, with timing on.
    pub fn new(format: Format, exercise: &Exercise) -> Self {
        Self {
            format,
            timing: true,
            exercise: exercise.name.clone(),
            hidden_visibility: exercise.settings.hidden_visibility,
            named: false,
        }
    }

    /// One submission's report as a complete document.
    pub fn document(&self, report: &SubmissionReport) -> String {
        match self.format {
            Format::Text => text::render(report),
            Format::Json => json::render(report, self.timing, true),
            Format::Exercism => exercism::render(report, true),
            Format::Gradescope => gradescope::render(report, self, true),
            Format::Junit => {
                let mut out = junit::header(&self.exercise);
                out.push_str(&junit::suite(report, self.timing));
                out.push_str(junit::FOOTER);
                out
            }
        }
    }

    /// What a stream carrying many reports holds before the first.
    pub fn stream_header(&self) -> String {
        match self.format {
            Format::Junit => junit::header(&self.exercise),
            _ => String::new(),
        }
    }

    /// One report in a stream of many: a table for text, one line of
    /// JSON for the JSON formats (JSON Lines), a `<testsuite>` for JUnit.
    pub fn stream_item(&self, report: &SubmissionReport) -> String {
        match self.format {
            Format::Text => text::render(report),
            Format::Json => json::render(report, self.timing, false) + "\n",
            Format::Exercism => self.line(report, exercism::render(report, false)),
            Format::Gradescope => self.line(report, gradescope::render(report, self, false)),
            Format::Junit => junit::suite(report, self.timing),
        }
    }

    /// One JSON Lines line: `results`, wrapped with the submission's name
    /// when [`Renderer::named`].
    fn line(&self, report: &SubmissionReport, results: String) -> String {
        if !self.named {
            return results + "\n";
        }
        // Spliced in as rendered, so `results` is byte for byte the line
        // a single submission gets.
        let name = serde_json::Value::from(report.submission.as_str());
        format!("{{\"submission\":{name},\"results\":{results}}}\n")
    }

    /// What a stream holds after the last report.
    pub fn stream_footer(&self, summary: &BatchSummary) -> String {
        match self.format {
            Format::Junit => junit::FOOTER.to_string(),
            Format::Text if summary.submissions > 1 => text::summary(summary),
            _ => String::new(),
        }
    }
}

/// Writes every report to one stream, in input order: a report that
/// finishes early waits for those before it.
pub struct StreamSink<W: Write> {
    out: W,
    renderer: Renderer,
    next: usize,
    waiting: BTreeMap<usize, String>,
    started: bool,
}

impl<W: Write> StreamSink<W> {
    /// Writes to `out`; nothing is written before the first report (or
    /// [`ReportSink::finish`]) arrives.
    pub fn new(out: W, renderer: Renderer) -> Self {
        Self {
            out,
            renderer,
            next: 0,
            waiting: BTreeMap::new(),
            started: false,
        }
    }

    fn start(&mut self) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            self.out
                .write_all(self.renderer.stream_header().as_bytes())?;
        }
        Ok(())
    }
}

impl<W: Write> ReportSink for StreamSink<W> {
    fn submission(&mut self, index: usize, report: &SubmissionReport) -> std::io::Result<()> {
        self.start()?;
        self.waiting
            .insert(index, self.renderer.stream_item(report));
        while let Some(text) = self.waiting.remove(&self.next) {
            self.out.write_all(text.as_bytes())?;
            self.next += 1;
        }
        self.out.flush()
    }

    fn finish(&mut self, summary: &BatchSummary) -> std::io::Result<()> {
        self.start()?;
        // Anything still waiting (a gap in the indices) goes out in order.
        for text in std::mem::take(&mut self.waiting).into_values() {
            self.out.write_all(text.as_bytes())?;
        }
        self.out
            .write_all(self.renderer.stream_footer(summary).as_bytes())?;
        self.out.flush()
    }
}

/// Writes one file per submission into a directory, as each is graded.
pub struct DirSink {
    dir: PathBuf,
    renderer: Renderer,
    /// File name per submission index.
    names: Vec<String>,
    /// Files written, in completion order.
    pub written: Vec<PathBuf>,
}

impl DirSink {
    /// `submissions` are the reports' names in input order; each file is
    /// named after its submission's file stem (`alice.wasm` →
    /// `alice.json`), made unique with `-2`, `-3`, … in input order.
    pub fn new(dir: &Path, renderer: Renderer, submissions: &[String]) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut used = HashSet::new();
        let names = submissions
            .iter()
            .map(|s| {
                let stem = file_stem(s);
                let mut name = format!("{stem}{}", renderer.format.file_suffix());
                let mut n = 1;
                while !used.insert(name.clone()) {
                    n += 1;
                    name = format!("{stem}-{n}{}", renderer.format.file_suffix());
                }
                name
            })
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            renderer,
            names,
            written: Vec::new(),
        })
    }

    /// Where submission `index`'s report goes.
    pub fn path_of(&self, index: usize) -> Option<PathBuf> {
        self.names.get(index).map(|n| self.dir.join(n))
    }
}

impl ReportSink for DirSink {
    fn submission(&mut self, index: usize, report: &SubmissionReport) -> std::io::Result<()> {
        let path = self.path_of(index).ok_or_else(|| {
            std::io::Error::other(format!("no file name for submission #{index}"))
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.renderer.document(report))?;
        std::fs::rename(&tmp, &path)?;
        self.written.push(path);
        Ok(())
    }
}

/// A safe file stem for a submission name (its path's last part, without
/// `.wasm`, with anything odd replaced by `_`).
fn file_stem(name: &str) -> String {
    let last = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.starts_with('.') {
        format!("submission{clean}")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("subs/alice.wasm"), "alice");
        assert_eq!(file_stem("bob smith.wasm"), "bob_smith");
        assert_eq!(file_stem(".wasm"), "submission.wasm");
        assert_eq!(file_stem(""), "submission");
    }

    #[test]
    fn formats_parse_by_name() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().unwrap_err().contains("junit"));
    }
}
