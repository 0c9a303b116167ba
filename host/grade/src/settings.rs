//! An exercise's `grading.toml`: limits per test case, float tolerance,
//! points, hidden cases, output limit and capabilities.
//!
//! Two stages, as everywhere in Warden: `RawSettings` is what the file
//! says (serde, unknown keys rejected), [`Settings`] is the validated form
//! with every default filled in. Checks that need the test cases (hidden
//! uuids exist, group names exist) happen in [`crate::exercise`],
//! which owns both.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use warden_clock::millis;
use warden_component::{Capabilities, Limits, Overflow};

use crate::error::{ExerciseError, toml_problem};

/// Fuel per test case when `grading.toml` sets none: roughly 50–100 ms of
/// guest CPU, far more than any exercise here needs (leap uses ~100).
pub const DEFAULT_FUEL: u64 = 100_000_000;
/// Memory per test case when `grading.toml` sets none.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// Wall-clock limit per test case when `grading.toml` sets none. With a
/// fuel budget this is only a safety net: fuel, which does not depend on
/// the machine's load, decides CPU verdicts.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Guest stdout + stderr per test case when `grading.toml` sets none.
pub const DEFAULT_OUTPUT_LIMIT_BYTES: u64 = 1 << 20;
/// Floats compare equal within this absolute difference by default.
pub const DEFAULT_FLOAT_TOLERANCE: f64 = 1e-9;

/// `grading.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettings {
    pub float_tolerance: Option<f64>,
    pub points_per_test: Option<f64>,
    /// Points for a whole group (its " › "-joined name), split evenly
    /// among the cases in it.
    #[serde(default)]
    pub group_points: BTreeMap<String, f64>,
    #[serde(default)]
    pub hidden: Vec<String>,
    pub hidden_visibility: Option<Visibility>,
    pub output_limit_bytes: Option<u64>,
    /// Functions (kebab-case or the test data's lowerCamelCase) whose
    /// results are compared without regard to list order (sets).
    #[serde(default)]
    pub unordered: Vec<String>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub capabilities: RawCapabilities,
    /// `[languages.python]`, `[languages.javascript]`.
    #[serde(default)]
    pub languages: RawLanguages,
}

/// `[languages]`: limits for solutions graded from source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLanguages {
    pub python: Option<RawLanguageLimits>,
    pub javascript: Option<RawLanguageLimits>,
}

/// `[languages.NAME]`: like `[limits]`, plus the output limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLanguageLimits {
    pub fuel: Option<u64>,
    pub memory_mb: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub output_limit_bytes: Option<u64>,
}

/// `[limits]`: each per test case; `0` switches fuel or the timeout off.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub fuel: Option<u64>,
    pub memory_mb: Option<u64>,
    pub timeout_ms: Option<u64>,
}

/// `[capabilities]`: what the exercise lets solutions use. Nothing by
/// default, which keeps grading reproducible.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapabilities {
    #[serde(default)]
    pub clocks: bool,
    #[serde(default)]
    pub random: bool,
}

/// Gradescope's visibility levels, used for hidden cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Never shown to the student.
    Hidden,
    /// Shown once the assignment's due date has passed.
    AfterDueDate,
    /// Shown once the instructor publishes the grades (the default for
    /// hidden cases).
    AfterPublished,
    /// Always shown.
    Visible,
}

impl Visibility {
    /// Gradescope's spelling (`after_due_date`), as `grading.toml` and
    /// its `results.json` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hidden => "hidden",
            Self::AfterDueDate => "after_due_date",
            Self::AfterPublished => "after_published",
            Self::Visible => "visible",
        }
    }
}

/// Limits for one test case, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CaseLimits {
    /// Fuel budget; `None` runs unmetered (then the timeout decides CPU
    /// verdicts, and they depend on the machine's load).
    pub fuel: Option<u64>,
    /// Linear memories and tables of the instance together, in bytes.
    pub memory_bytes: u64,
    /// `None`: no wall-clock limit. Serialised as `timeout_ms`.
    #[serde(
        rename = "timeout_ms",
        serialize_with = "serialize_ms",
        deserialize_with = "deserialize_ms"
    )]
    pub timeout: Option<Duration>,
    /// Guest stdout + stderr, together.
    pub output_bytes: u64,
}

fn serialize_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(millis(*d)),
        None => s.serialize_none(),
    }
}

fn deserialize_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let ms: Option<u64> = serde::Deserialize::deserialize(d)?;
    Ok(ms.map(Duration::from_millis))
}

impl Default for CaseLimits {
    fn default() -> Self {
        Self {
            fuel: Some(DEFAULT_FUEL),
            memory_bytes: DEFAULT_MEMORY_MB << 20,
            timeout: Some(Duration::from_millis(DEFAULT_TIMEOUT_MS)),
            output_bytes: DEFAULT_OUTPUT_LIMIT_BYTES,
        }
    }
}

impl CaseLimits {
    /// The sandbox limits for one case. Each stream is capped at the
    /// combined limit and fails the call past it, so a flood stops early;
    /// the runner also checks the two streams' sum after the call.
    pub fn sandbox_limits(&self) -> Limits {
        Limits {
            memory_bytes: usize::try_from(self.memory_bytes).unwrap_or(usize::MAX),
            fuel: self.fuel,
            timeout: self.timeout,
            output_bytes: usize::try_from(self.output_bytes).unwrap_or(usize::MAX),
            output_overflow: Overflow::Fail,
        }
    }
}

/// Limits given on the command line or by an API caller, overriding the
/// exercise's. `Some(0)` switches fuel or the timeout off.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitOverrides {
    /// Fuel per case; `Some(0)` runs unmetered.
    pub fuel: Option<u64>,
    /// Memory per case, in MiB.
    pub memory_mb: Option<u64>,
    /// Wall-clock limit per case, in milliseconds; `Some(0)` sets none.
    pub timeout_ms: Option<u64>,
    /// Guest stdout + stderr per case, in bytes.
    pub output_limit_bytes: Option<u64>,
}

impl LimitOverrides {
    /// `limits` with every override that is set put in its place; `None`
    /// keeps the exercise's value.
    pub fn apply(&self, mut limits: CaseLimits) -> CaseLimits {
        if let Some(fuel) = self.fuel {
            limits.fuel = (fuel > 0).then_some(fuel);
        }
        if let Some(mb) = self.memory_mb {
            limits.memory_bytes = mb.saturating_mul(1 << 20);
        }
        if let Some(ms) = self.timeout_ms {
            limits.timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(bytes) = self.output_limit_bytes {
            limits.output_bytes = bytes;
        }
        limits
    }
}

/// The validated settings of an exercise.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What every case runs under (`[limits]`, `output_limit_bytes`).
    pub limits: CaseLimits,
    /// Floats compare equal within this absolute difference; finite,
    /// at least 0. By default [`DEFAULT_FLOAT_TOLERANCE`].
    pub float_tolerance: f64,
    /// Points of a case outside `group_points`; finite, at least 0. By
    /// default 1.
    pub points_per_test: f64,
    /// Points for a whole group (its " › "-joined name), split evenly
    /// among its cases; every name is a group of the test data.
    pub group_points: BTreeMap<String, f64>,
    /// Uuids of the cases not shown to students; each names a case.
    pub hidden: Vec<String>,
    /// When Gradescope shows hidden cases. By default
    /// [`Visibility::AfterPublished`].
    pub hidden_visibility: Visibility,
    /// Functions whose list results compare as sets, by kebab-case name.
    pub unordered: Vec<String>,
    /// What solutions may use: only `clocks` and `random` can be granted
    /// by an exercise, nothing by default.
    pub capabilities: Capabilities,
    /// Limits for Python solutions graded from source (`[languages.python]`,
    /// by default [`LanguageDefaults`] with the exercise's output limit).
    pub python: CaseLimits,
    /// Limits for JavaScript solutions (`[languages.javascript]`).
    pub javascript: CaseLimits,
}

/// Per-language limits when `grading.toml` sets none: an interpreter
/// needs far more memory and fuel than a compiled solution, so the
/// exercise's `[limits]` (sized for components) do not apply.
pub struct LanguageDefaults;

impl LanguageDefaults {
    /// Fuel per case for Python. Loading the solution (CPython compiles
    /// it) and calling it costs 0.8 M fuel for leap and at most 19.6 M for
    /// this repository's references (sum-of-multiples' largest case;
    /// `fuel_used` in a JSON report): 1 G leaves a margin of 50×, and an
    /// endless loop ends in about a second.
    pub const PYTHON_FUEL: u64 = 1_000_000_000;
    /// Memory per case for Python: the runner's image is ~24 MiB.
    pub const PYTHON_MEMORY_MB: u64 = 64;
    /// Fuel per case for JavaScript: 2.5 M for leap, at most 129 M for
    /// the references here (SpiderMonkey interprets, without its JIT):
    /// 2 G leaves a margin of 15×.
    pub const JAVASCRIPT_FUEL: u64 = 2_000_000_000;
    /// Memory per case for JavaScript: SpiderMonkey grows its heap in
    /// large steps.
    pub const JAVASCRIPT_MEMORY_MB: u64 = 128;
    /// Wall-clock limit per case (a safety net; fuel decides).
    pub const TIMEOUT_MS: u64 = 10_000;

    fn limits(fuel: u64, memory_mb: u64, output_bytes: u64) -> CaseLimits {
        CaseLimits {
            fuel: Some(fuel),
            memory_bytes: memory_mb << 20,
            timeout: Some(Duration::from_millis(Self::TIMEOUT_MS)),
            output_bytes,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: CaseLimits::default(),
            float_tolerance: DEFAULT_FLOAT_TOLERANCE,
            points_per_test: 1.0,
            group_points: BTreeMap::new(),
            hidden: Vec::new(),
            hidden_visibility: Visibility::AfterPublished,
            unordered: Vec::new(),
            capabilities: Capabilities::default(),
            python: LanguageDefaults::limits(
                LanguageDefaults::PYTHON_FUEL,
                LanguageDefaults::PYTHON_MEMORY_MB,
                DEFAULT_OUTPUT_LIMIT_BYTES,
            ),
            javascript: LanguageDefaults::limits(
                LanguageDefaults::JAVASCRIPT_FUEL,
                LanguageDefaults::JAVASCRIPT_MEMORY_MB,
                DEFAULT_OUTPUT_LIMIT_BYTES,
            ),
        }
    }
}

impl Settings {
    /// The limits a solution in `language` runs under.
    pub fn language_limits(&self, language: crate::source::Language) -> CaseLimits {
        match language {
            crate::source::Language::Python => self.python,
            crate::source::Language::JavaScript => self.javascript,
        }
    }

    /// Parses the text of `grading.toml` (`path` names it in errors; a
    /// folder without the file gets [`Settings::default`]). Errors quote
    /// no more of `text` than the key and token at fault.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ExerciseError> {
        let mut problems = Vec::new();
        let settings = Self::parse_all(path, text, &mut problems);
        match problems.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(settings),
        }
    }

    /// Like [`Settings::parse`], recording every problem in `problems`
    /// instead of stopping at the first; a value in error keeps its
    /// default. When the file does not parse at all, or has keys of the
    /// wrong type, every unknown key is named as well (serde stops at
    /// the first problem it meets).
    pub(crate) fn parse_all(path: &Path, text: &str, problems: &mut Vec<ExerciseError>) -> Self {
        match toml::from_str::<RawSettings>(text) {
            Ok(raw) => Self::validate(raw, path, problems),
            Err(err) => {
                let first = toml_problem(err, text);
                problems.push(ExerciseError::Toml {
                    path: path.to_path_buf(),
                    message: first.clone(),
                });
                for key in unknown_keys(text) {
                    // serde names the key it stopped at by its last part.
                    let last = key.rsplit('.').next().unwrap_or(&key);
                    if !first.contains(&format!("`{last}`")) {
                        problems.push(ExerciseError::Setting {
                            path: path.to_path_buf(),
                            key,
                            problem: "unknown key".into(),
                        });
                    }
                }
                Settings::default()
            }
        }
    }

    fn validate(raw: RawSettings, path: &Path, problems: &mut Vec<ExerciseError>) -> Self {
        let mut bad = |key: &str, problem: String| {
            problems.push(ExerciseError::Setting {
                path: path.to_path_buf(),
                key: key.to_string(),
                problem,
            });
        };
        let defaults = Settings::default();
        let mut float_tolerance = raw.float_tolerance.unwrap_or(defaults.float_tolerance);
        if !(float_tolerance.is_finite() && float_tolerance >= 0.0) {
            bad(
                "float_tolerance",
                format!("expected a finite number >= 0, found {float_tolerance}"),
            );
            float_tolerance = defaults.float_tolerance;
        }
        let mut points_per_test = raw.points_per_test.unwrap_or(defaults.points_per_test);
        if !(points_per_test.is_finite() && points_per_test >= 0.0) {
            bad(
                "points_per_test",
                format!("expected a finite number >= 0, found {points_per_test}"),
            );
            points_per_test = defaults.points_per_test;
        }
        for (group, points) in &raw.group_points {
            if !(points.is_finite() && *points >= 0.0) {
                bad(
                    &format!("group_points.\"{group}\""),
                    format!("expected a finite number >= 0, found {points}"),
                );
            }
        }
        let mut limits = CaseLimits::default();
        if let Some(fuel) = raw.limits.fuel {
            limits.fuel = (fuel > 0).then_some(fuel);
        }
        match raw.limits.memory_mb {
            Some(0) => bad("limits.memory_mb", "expected at least 1".into()),
            Some(mb) => limits.memory_bytes = mb.saturating_mul(1 << 20),
            None => {}
        }
        if let Some(ms) = raw.limits.timeout_ms {
            limits.timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(bytes) = raw.output_limit_bytes {
            limits.output_bytes = bytes;
        }
        let mut language =
            |name: &str, raw: Option<&RawLanguageLimits>, fuel: u64, memory_mb: u64| {
                let mut out = LanguageDefaults::limits(fuel, memory_mb, limits.output_bytes);
                let Some(raw) = raw else {
                    return out;
                };
                if let Some(fuel) = raw.fuel {
                    out.fuel = (fuel > 0).then_some(fuel);
                }
                match raw.memory_mb {
                    Some(0) => bad(
                        &format!("languages.{name}.memory_mb"),
                        "expected at least 1".into(),
                    ),
                    Some(mb) => out.memory_bytes = mb.saturating_mul(1 << 20),
                    None => {}
                }
                if let Some(ms) = raw.timeout_ms {
                    out.timeout = (ms > 0).then(|| Duration::from_millis(ms));
                }
                if let Some(bytes) = raw.output_limit_bytes {
                    out.output_bytes = bytes;
                }
                out
            };
        let python = language(
            "python",
            raw.languages.python.as_ref(),
            LanguageDefaults::PYTHON_FUEL,
            LanguageDefaults::PYTHON_MEMORY_MB,
        );
        let javascript = language(
            "javascript",
            raw.languages.javascript.as_ref(),
            LanguageDefaults::JAVASCRIPT_FUEL,
            LanguageDefaults::JAVASCRIPT_MEMORY_MB,
        );
        Self {
            python,
            javascript,
            limits,
            float_tolerance,
            points_per_test,
            group_points: raw.group_points,
            hidden: raw.hidden,
            hidden_visibility: raw.hidden_visibility.unwrap_or(defaults.hidden_visibility),
            unordered: raw
                .unordered
                .iter()
                .map(|f| warden_component::values::kebab_case(f))
                .collect(),
            capabilities: Capabilities {
                clocks: raw.capabilities.clocks,
                random: raw.capabilities.random,
                ..Capabilities::default()
            },
        }
    }
}

/// Keys of a `grading.toml` that no version of the file has, with their
/// dotted paths (`limits.fule`); nothing when the text is not TOML.
fn unknown_keys(text: &str) -> Vec<String> {
    const TOP: &[&str] = &[
        "float_tolerance",
        "points_per_test",
        "group_points",
        "hidden",
        "hidden_visibility",
        "output_limit_bytes",
        "unordered",
        "limits",
        "capabilities",
        "languages",
    ];
    const LIMITS: &[&str] = &["fuel", "memory_mb", "timeout_ms"];
    const CAPABILITIES: &[&str] = &["clocks", "random"];
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in &table {
        if !TOP.contains(&key.as_str()) {
            out.push(key.clone());
            continue;
        }
        let known = match key.as_str() {
            "limits" => LIMITS,
            "capabilities" => CAPABILITIES,
            _ => continue,
        };
        if let Some(inner) = value.as_table() {
            out.extend(
                inner
                    .keys()
                    .filter(|k| !known.contains(&k.as_str()))
                    .map(|k| format!("{key}.{k}")),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ExerciseError> {
        Settings::parse(Path::new("grading.toml"), text)
    }

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let s = parse("float_tolerance = 0.01\n[limits]\nfuel = 500\n").unwrap();
        assert_eq!(s.float_tolerance, 0.01);
        assert_eq!(s.limits.fuel, Some(500));
        assert_eq!(s.limits.memory_bytes, DEFAULT_MEMORY_MB << 20);
        assert_eq!(s.points_per_test, 1.0);
        assert_eq!(s.hidden_visibility, Visibility::AfterPublished);
    }

    #[test]
    fn zero_switches_fuel_and_timeout_off() {
        let s = parse("[limits]\nfuel = 0\ntimeout_ms = 0\n").unwrap();
        assert_eq!(s.limits.fuel, None);
        assert_eq!(s.limits.timeout, None);
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = parse("float_tolerance = -1.0").unwrap_err().to_string();
        assert!(err.contains("float_tolerance"), "{err}");
        let err = parse("flaot_tolerance = 1.0").unwrap_err().to_string();
        assert!(err.contains("flaot_tolerance"), "{err}");
        let err = parse("[limits]\nmemory_mb = 0").unwrap_err().to_string();
        assert!(err.contains("limits.memory_mb"), "{err}");
    }

    #[test]
    fn every_problem_is_recorded() {
        let mut problems = Vec::new();
        Settings::parse_all(
            Path::new("grading.toml"),
            "float_tolerance = -1.0\npoints_per_test = -2.0\n[limits]\nmemory_mb = 0\n",
            &mut problems,
        );
        let keys: Vec<String> = problems
            .iter()
            .map(|p| match p {
                ExerciseError::Setting { key, .. } => key.clone(),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(
            keys,
            ["float_tolerance", "points_per_test", "limits.memory_mb"]
        );

        let mut problems = Vec::new();
        Settings::parse_all(
            Path::new("grading.toml"),
            "flaot_tolerance = 1.0\n[limits]\nfule = 5\n",
            &mut problems,
        );
        let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all[0].contains("flaot_tolerance"), "{all:?}");
        assert!(all[1].contains("`limits.fule`: unknown key"), "{all:?}");
    }

    #[test]
    fn overrides_replace_exercise_limits() {
        let limits = LimitOverrides {
            fuel: Some(0),
            timeout_ms: Some(100),
            ..LimitOverrides::default()
        }
        .apply(CaseLimits::default());
        assert_eq!(limits.fuel, None);
        assert_eq!(limits.timeout, Some(Duration::from_millis(100)));
    }
}
