//! Grading Python and JavaScript solutions from source.
//!
//! One runner component per language (not per exercise): an interpreter
//! built once per machine by the language's toolchain from Warden's own
//! glue (`runners/`), never from a student's file. It exports a generic
//! `call(name, source, function, args)`: the student's source arrives as
//! an argument, is compiled and run inside the sandbox, and the arguments
//! and the result cross as JSON text. The host maps them to and from the
//! exercise's WIT types, exactly as it maps test data ([`to_guest`],
//! [`from_guest`]): the function types come from a stand-in component
//! built from `exercise.wit` ([`crate::contract::stand_in`]).
//!
//! Why one runner per language: each is a 12–19 MB interpreter that takes
//! seconds to build and 15–20 s of Cranelift to compile; built once and
//! compiled once (through the runtime's compile cache, keyed by content
//! hash), every exercise shares it.
//!
//! The module owns: finding the pinned toolchains and building the
//! runners ([`Runners`]), the language conventions (names, values), and
//! grading one source submission ([`grade_source`]). It never runs a
//! toolchain on anything but the glue and never runs student code outside
//! a sandbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value as Json};

use warden_component::exports::{ExportedFunc, list_functions};
use warden_component::values::{json_to_val, kebab_case};
use warden_component::{
    ComponentError, HostContext, Metering, Prepared, Runtime, Type, Val, content_hash,
};

use crate::compare::Rules;
use crate::contract::{ContractCheck, stand_in};
use crate::exercise::{Exercise, MAX_TEXT_FILE_BYTES, TestCase};
use crate::folder::Folder;
use crate::mapping::{CallPlan, plan};
use crate::settings::CaseLimits;
use crate::verdict::{ContractProblems, Output, TestResult, TestTiming, Verdict};

/// The largest source file graded: far above any exercise's solution.
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// The pinned componentize-py version `scripts/setup.sh` installs.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The pinned `@bytecodealliance/componentize-js` version.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

const RUNNER_WIT: &str = include_str!("../runners/runner.wit");
const PYTHON_GLUE: &str = include_str!("../runners/python/app.py");
const JAVASCRIPT_GLUE: &str = include_str!("../runners/javascript/runner.js");
const JAVASCRIPT_BUILD: &str = include_str!("../runners/javascript/build.mjs");

/// Longest exception text (message and traceback) kept in a case's message.
const EXCEPTION_CHARS: usize = 2000;

/// A language graded from source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// `.py`: CPython inside the runner (componentize-py).
    Python,
    /// `.js`/`.mjs`: SpiderMonkey inside the runner (componentize-js).
    JavaScript,
}

impl Language {
    /// Every language, in the order reports and benches list them.
    pub const ALL: [Language; 2] = [Language::Python, Language::JavaScript];

    /// The language of a file, by its extension; `None` for a component
    /// (or anything else).
    pub fn of_path(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "js" | "mjs" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// `python`, `javascript`: the name in `grading.toml` and on the
    /// command line.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
        }
    }

    /// The language a name (`python`, `py`, `javascript`, `js`) means.
    pub fn parse(name: &str) -> Option<Language> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "py" => Some(Language::Python),
            "javascript" | "js" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// A WIT name in the language's case: `leap-year` → `leap_year` or
    /// `leapYear`.
    pub fn ident(self, wit_name: &str) -> String {
        match self {
            Language::Python => wit_name.replace('-', "_"),
            Language::JavaScript => {
                let mut out = String::with_capacity(wit_name.len());
                let mut upper = false;
                for c in wit_name.chars() {
                    if c == '-' {
                        upper = true;
                    } else if upper {
                        out.extend(c.to_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// What installs the language's toolchain.
    pub fn install_hint(self) -> String {
        match self {
            Language::Python => format!(
                "install it with `python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}` \
                 (or run scripts/setup.sh)"
            ),
            Language::JavaScript => format!(
                "install it with `npm install --prefix {} @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}` \
                 (or run scripts/setup.sh; WARDEN_TOOLS_DIR names another directory)",
                tools_dir().map_or_else(|| "$WARDEN_TOOLS_DIR".into(), |d| d.display().to_string())
            ),
        }
    }
}

/// Where npm tools live: `$WARDEN_TOOLS_DIR`, else
/// `$XDG_DATA_HOME/warden/tools` (`~/.local/share/warden/tools`).
pub fn tools_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WARDEN_TOOLS_DIR") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("warden").join("tools"))
}

/// The runner components, built on first use and kept in a directory
/// (`runners/` under the compile cache by default) by the hash of the
/// glue and the toolchain's version, then compiled once per runtime.
/// One `Runners` serves one runtime (and its fallback): the prepared
/// runners it keeps belong to the runtime that first asked.
pub struct Runners {
    dir: PathBuf,
    built: Mutex<HashMap<(Language, Metering), Built>>,
    /// Function types of each exercise, by the hash of its WIT.
    types: Mutex<HashMap<String, Result<Arc<ContractCheck>, String>>>,
}

impl std::fmt::Debug for Runners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runners").field("dir", &self.dir).finish()
    }
}

/// A runner, or why there is none.
type Built = Result<Arc<Runner>, String>;

/// One language's runner, compiled and ready to instantiate.
pub struct Runner {
    /// The language.
    pub language: Language,
    prepared: Prepared,
    load: ExportedFunc,
    call: ExportedFunc,
    /// How long building the component took (zero when it was found in
    /// the runners directory).
    pub build: std::time::Duration,
    /// How long compiling it took (near zero from the compile cache).
    pub compile: std::time::Duration,
}

impl Runners {
    /// Runners kept in `dir` (created when first needed).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            built: Mutex::new(HashMap::new()),
            types: Mutex::new(HashMap::new()),
        }
    }

    /// The runner for `language` on `runtime`, built and compiled on the
    /// first call; the error names what is missing and how to install it.
    pub fn runner(
        &self,
        runtime: &Runtime,
        language: Language,
        metering: Metering,
    ) -> Result<Arc<Runner>, String> {
        // One build at a time: a batch's jobs all wait for the first.
        let mut built = self
            .built
            .lock()
            .map_err(|_| "the runner cache is poisoned".to_string())?;
        if let Some(found) = built.get(&(language, metering)) {
            return found.clone();
        }
        let made = self.make(runtime, language, metering).map(Arc::new);
        built.insert((language, metering), made.clone());
        made
    }

    fn make(
        &self,
        runtime: &Runtime,
        language: Language,
        metering: Metering,
    ) -> Result<Runner, String> {
        let started = Instant::now();
        let (bytes, built_now) = self.component(language)?;
        let build = if built_now {
            started.elapsed()
        } else {
            std::time::Duration::ZERO
        };
        let compile_started = Instant::now();
        let compiled = runtime
            .compile_own(&bytes, metering)
            .map_err(|e| format!("the {} runner does not compile: {e}", language.name()))?;
        let find = |name: &str| {
            list_functions(&compiled)
                .into_iter()
                .find(|f| f.func == name)
                .ok_or_else(|| format!("the {} runner exports no `{name}`", language.name()))
        };
        let load = find("load")?;
        let call = find("call")?;
        let prepared = compiled
            .prepare()
            .map_err(|e| format!("the {} runner cannot be linked: {e}", language.name()))?;
        Ok(Runner {
            language,
            prepared,
            load,
            call,
            build,
            compile: compile_started.elapsed(),
        })
    }

    /// The runner's bytes, from the directory or built now (and then
    /// whether it was built now).
    fn component(&self, language: Language) -> Result<(Vec<u8>, bool), String> {
        let toolchain = Toolchain::find(language)?;
        let glue: &[&str] = match language {
            Language::Python => &[RUNNER_WIT, PYTHON_GLUE],
            Language::JavaScript => &[RUNNER_WIT, JAVASCRIPT_GLUE, JAVASCRIPT_BUILD],
        };
        let key = content_hash(
            format!(
                "{}\n{}\n{}",
                language.name(),
                toolchain.version,
                glue.join("\n")
            )
            .as_bytes(),
        );
        let path = self
            .dir
            .join(format!("{}-{}.wasm", language.name(), &key[..16]));
        if let Ok(bytes) = std::fs::read(&path) {
            return Ok((bytes, false));
        }
        let bytes = toolchain.build(language)?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        // Written aside and renamed: another process building the same
        // runner at the same time never reads half a file.
        let tmp = self.dir.join(format!(
            ".{}-{}.{}.tmp",
            language.name(),
            &key[..16],
            std::process::id()
        ));
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok((bytes, true))
    }

    /// The exercise's functions with their component types, from a
    /// stand-in component built from its `exercise.wit`.
    pub(crate) fn types(
        &self,
        runtime: &Runtime,
        exercise: &Exercise,
    ) -> Result<Arc<ContractCheck>, String> {
        let wit_path = exercise.dir.join("exercise.wit");
        let text = Folder::open(&exercise.dir)
            .map_err(|e| format!("cannot open {}: {e}", exercise.dir.display()))?
            .read(Path::new("exercise.wit"), MAX_TEXT_FILE_BYTES)
            .map_err(|e| format!("cannot read {e}"))?;
        let text =
            String::from_utf8(text).map_err(|_| format!("{} is not UTF-8", wit_path.display()))?;
        let key = content_hash(text.as_bytes());
        let mut types = self
            .types
            .lock()
            .map_err(|_| "the type cache is poisoned".to_string())?;
        if let Some(found) = types.get(&key) {
            return found.clone();
        }
        let made = stand_in(&wit_path, &text)
            .and_then(|bytes| {
                runtime
                    .compile_own(&bytes, Metering::Off)
                    .map_err(|e| e.to_string())
            })
            .map(|compiled| Arc::new(exercise.contract.check(&compiled)));
        types.insert(key, made.clone());
        made
    }
}

/// A toolchain found on this machine, at the pinned version.
struct Toolchain {
    version: String,
    /// componentize-py's program, or the componentize-js package folder.
    program: PathBuf,
}

impl Toolchain {
    fn find(language: Language) -> Result<Toolchain, String> {
        match language {
            Language::Python => {
                let program = std::env::var_os("WARDEN_COMPONENTIZE_PY")
                    .map_or_else(|| PathBuf::from("componentize-py"), PathBuf::from);
                let out = Command::new(&program)
                    .arg("--version")
                    .output()
                    .map_err(|e| {
                        format!(
                            "grading Python needs componentize-py {COMPONENTIZE_PY_VERSION}, \
                         which cannot be run ({}: {e}); {}",
                            program.display(),
                            language.install_hint()
                        )
                    })?;
                let text = String::from_utf8_lossy(&out.stdout);
                let version = text.split_whitespace().last().unwrap_or("").to_string();
                if version != COMPONENTIZE_PY_VERSION {
                    return Err(format!(
                        "grading Python needs componentize-py {COMPONENTIZE_PY_VERSION}, found {}; {}",
                        text.trim(),
                        language.install_hint()
                    ));
                }
                Ok(Toolchain { version, program })
            }
            Language::JavaScript => {
                let package = tools_dir()
                    .map(|d| d.join("node_modules/@bytecodealliance/componentize-js"))
                    .ok_or_else(|| {
                        format!(
                            "grading JavaScript needs componentize-js {COMPONENTIZE_JS_VERSION}; {}",
                            language.install_hint()
                        )
                    })?;
                let manifest = std::fs::read_to_string(package.join("package.json"));
                let version = manifest
                    .ok()
                    .and_then(|t| serde_json::from_str::<Json>(&t).ok())
                    .and_then(|j| j["version"].as_str().map(str::to_string));
                if version.as_deref() != Some(COMPONENTIZE_JS_VERSION) {
                    return Err(format!(
                        "grading JavaScript needs componentize-js {COMPONENTIZE_JS_VERSION} in {}, found {}; {}",
                        package.display(),
                        version.map_or_else(|| "none".to_string(), |v| format!("version {v}")),
                        language.install_hint()
                    ));
                }
                Ok(Toolchain {
                    version: COMPONENTIZE_JS_VERSION.to_string(),
                    program: package,
                })
            }
        }
    }

    /// Builds the runner from the glue in a fresh temporary folder.
    fn build(&self, language: Language) -> Result<Vec<u8>, String> {
        let dir = tempfile_dir()?;
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text)
                .map_err(|e| format!("cannot write the runner's glue: {e}"))
        };
        write("runner.wit", RUNNER_WIT)?;
        let out = dir.path().join("runner.wasm");
        let mut command = match language {
            Language::Python => {
                write("app.py", PYTHON_GLUE)?;
                let mut c = Command::new(&self.program);
                c.arg("-d")
                    .arg(dir.path().join("runner.wit"))
                    .args(["-w", "runner", "componentize", "-p"])
                    .arg(dir.path())
                    .args(["app", "-o"])
                    .arg(&out);
                c
            }
            Language::JavaScript => {
                write("runner.js", JAVASCRIPT_GLUE)?;
                write("build.mjs", JAVASCRIPT_BUILD)?;
                let mut c =
                    Command::new(std::env::var_os("WARDEN_NODE").unwrap_or_else(|| "node".into()));
                c.arg(dir.path().join("build.mjs"))
                    .arg(self.program.join("src/componentize.js"))
                    .arg(dir.path());
                c
            }
        };
        tracing::info!(language = language.name(), "building the runner component");
        let result = command
            .current_dir(dir.path())
            .output()
            .map_err(|e| format!("cannot run the {} toolchain: {e}", language.name()))?;
        if !result.status.success() {
            let stderr = String::from_utf8_lossy(&result.stderr);
            let tail: String = stderr
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!(
                "building the {} runner failed ({}): {tail}",
                language.name(),
                result.status
            ));
        }
        std::fs::read(&out)
            .map_err(|e| format!("the {} runner was not written: {e}", language.name()))
    }
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TempDir, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "warden-runner-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(TempDir(path))
}

// ---------------------------------------------------------------------
// Values: component values → the language's plain data, and back.

/// A value as the student's function receives it (JSON the glue turns
/// into the language's own values): records are objects keyed by field
/// names in the language's case, enums the case's name, options `null`
/// or the value, `list<tuple<string, T>>` an object (a dict).
pub fn to_guest(val: &Val, ty: &Type, language: Language) -> Json {
    match (val, ty) {
        (Val::List(items), Type::List(list)) if is_map(&list.ty()) => {
            let Type::Tuple(pair) = list.ty() else {
                return Json::Null;
            };
            let value_ty = pair.types().nth(1);
            let mut map = Map::new();
            for item in items {
                if let (Val::Tuple(kv), Some(vt)) = (item, &value_ty)
                    && let [Val::String(k), v] = kv.as_slice()
                {
                    map.insert(k.clone(), to_guest(v, vt, language));
                }
            }
            Json::Object(map)
        }
        (Val::List(items), Type::List(list)) => Json::Array(
            items
                .iter()
                .map(|v| to_guest(v, &list.ty(), language))
                .collect(),
        ),
        (Val::Tuple(items), Type::Tuple(tuple)) => Json::Array(
            items
                .iter()
                .zip(tuple.types())
                .map(|(v, t)| to_guest(v, &t, language))
                .collect(),
        ),
        (Val::Record(fields), Type::Record(record)) => Json::Object(
            fields
                .iter()
                .zip(record.fields())
                .map(|((name, v), f)| (language.ident(name), to_guest(v, &f.ty, language)))
                .collect(),
        ),
        (Val::Option(None), _) => Json::Null,
        (Val::Option(Some(v)), Type::Option(o)) => to_guest(v, &o.ty(), language),
        (Val::Float32(f), _) => finite(f64::from(*f)),
        (Val::Float64(f), _) => finite(*f),
        (other, _) => warden_component::values::val_to_json(other),
    }
}

fn finite(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn is_map(item: &Type) -> bool {
    matches!(item, Type::Tuple(t) if t.types().len() == 2 && matches!(t.types().next(), Some(Type::String)))
}

/// The component value a student's returned data means, by the declared
/// type: what [`json_to_val`] accepts (record keys in any case, enums in
/// any letter case, maps as objects or pairs), and whole-valued floats for
/// integers (`4.0` in Python, every number in JavaScript). Errors say
/// what does not fit.
pub fn from_guest(json: &Json, ty: &Type) -> Result<Val, String> {
    let normal = normalize(json, ty);
    json_to_val(&normal, ty, "result").map_err(|e| {
        format!(
            "the function returned {}, which is not {} (at `{}`)",
            crate::compare::short_json(json),
            e.expected,
            e.path
        )
    })
}

fn normalize(json: &Json, ty: &Type) -> Json {
    match (json, ty) {
        (
            Json::Number(n),
            Type::S8
            | Type::U8
            | Type::S16
            | Type::U16
            | Type::S32
            | Type::U32
            | Type::S64
            | Type::U64,
        ) if n
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15)
            && !n.is_i64()
            && !n.is_u64() =>
        {
            let f = n.as_f64().unwrap_or(0.0);
            if f < 0.0 {
                Json::from(f as i64)
            } else {
                Json::from(f as u64)
            }
        }
        (Json::Array(items), Type::List(list)) => {
            let item = list.ty();
            Json::Array(items.iter().map(|v| normalize(v, &item)).collect())
        }
        (Json::Object(map), Type::List(list)) if is_map(&list.ty()) => {
            let value_ty = match list.ty() {
                Type::Tuple(t) => t.types().nth(1),
                _ => None,
            };
            match value_ty {
                Some(vt) => Json::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), normalize(v, &vt)))
                        .collect(),
                ),
                None => json.clone(),
            }
        }
        (Json::Array(items), Type::Tuple(tuple)) => Json::Array(
            items
                .iter()
                .zip(tuple.types())
                .map(|(v, t)| normalize(v, &t))
                .collect(),
        ),
        (Json::Object(map), Type::Record(record)) => {
            let fields: Vec<_> = record.fields().collect();
            Json::Object(
                map.iter()
                    .map(|(k, v)| {
                        let wanted = kebab_case(k);
                        match fields.iter().find(|f| f.name == wanted) {
                            Some(f) => (k.clone(), normalize(v, &f.ty)),
                            None => (k.clone(), v.clone()),
                        }
                    })
                    .collect(),
            )
        }
        (other, Type::Option(o)) if !other.is_null() => normalize(other, &o.ty()),
        _ => json.clone(),
    }
}

// ---------------------------------------------------------------------
// Grading one source submission.

/// What loading the student's module said.
enum Loaded {
    /// Every function the exercise asks for is there.
    Ok,
    /// The module ran but lacks these functions (the language's names).
    Missing(Vec<String>),
}

/// Grades the source `text` (named `name`) in `language`; fills
/// `report`'s message, contract problems and tests. Never fails: every
/// problem ends in the report.
/// One source submission to grade.
#[derive(Clone, Copy)]
pub(crate) struct SourceFile<'a> {
    pub language: Language,
    /// The name reports give it.
    pub name: &'a str,
    pub text: &'a str,
    pub limits: CaseLimits,
    pub interrupt: Option<&'a warden_component::Interrupt>,
}

pub(crate) fn grade_source(
    runtime: &Runtime,
    exercise: &Exercise,
    runners: &Runners,
    source: &SourceFile<'_>,
    report: &mut crate::verdict::SubmissionReport,
) {
    let SourceFile {
        language,
        name,
        text,
        limits,
        interrupt,
    } = *source;
    let metering = if limits.fuel.is_some() {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let setup = runners
        .runner(runtime, language, metering)
        .and_then(|runner| Ok((runner, runners.types(runtime, exercise)?)));
    let (runner, types) = match setup {
        Ok(found) => found,
        Err(message) => {
            report.message = Some(message);
            report.tests = crate::runner::not_run(exercise, crate::runner::NOT_RUN_LOAD);
            return;
        }
    };
    let file = Path::new(name)
        .file_name()
        .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned());
    let case_runner = SourceRunner {
        runner: &runner,
        limits,
        caps: &exercise.settings.capabilities,
        interrupt,
        file,
        text,
    };
    let wanted: Vec<String> = exercise
        .contract
        .functions
        .iter()
        .map(|f| language.ident(&f.name))
        .collect();
    let missing = match case_runner.load(&wanted) {
        Ok(Loaded::Ok) => Vec::new(),
        Ok(Loaded::Missing(missing)) => missing,
        Err(message) => {
            report.message = Some(message);
            report.tests = crate::runner::not_run(exercise, crate::runner::NOT_RUN_LOAD);
            return;
        }
    };
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        report.message = Some(format!(
            "{} defines no function {}",
            case_runner.file,
            names.join(", ")
        ));
        report.contract = Some(ContractProblems {
            missing: missing.clone(),
            mistyped: Vec::new(),
        });
    }
    report.tests = exercise
        .cases
        .iter()
        .map(|case| {
            let Some(func) = types.resolved.get(&case.function) else {
                return crate::runner::not_run_case(case, crate::runner::NOT_RUN_CONTRACT);
            };
            let ident = language.ident(&func.func);
            if missing.contains(&ident) {
                return crate::runner::not_run_case(
                    case,
                    &format!("not run: the solution defines no function `{ident}`"),
                );
            }
            if interrupt.is_some_and(warden_component::Interrupt::is_fired) {
                return crate::runner::not_run_case(case, "not run: grading was interrupted");
            }
            let rules = Rules {
                float_tolerance: exercise.settings.float_tolerance,
                unordered_lists: exercise
                    .settings
                    .unordered
                    .iter()
                    .any(|f| *f == case.function || *f == func.func),
            };
            case_runner.run(case, func, &ident, &rules)
        })
        .collect();
}

struct SourceRunner<'a> {
    runner: &'a Runner,
    limits: CaseLimits,
    caps: &'a warden_component::Capabilities,
    interrupt: Option<&'a warden_component::Interrupt>,
    file: String,
    text: &'a str,
}

impl SourceRunner<'_> {
    fn sandbox(&self, label: &str) -> Result<warden_component::Sandbox, ComponentError> {
        let limits = self.limits.sandbox_limits();
        let host = HostContext::isolated(label.to_string());
        match self.interrupt {
            Some(scope) => warden_component::Sandbox::new_under(
                &self.runner.prepared,
                &limits,
                self.caps,
                host,
                scope,
            ),
            None => warden_component::Sandbox::new(&self.runner.prepared, &limits, self.caps, host),
        }
    }

    /// Runs the module's top level once and lists the missing functions;
    /// `Err` is the submission-level message (a syntax error naming the
    /// line, an exception at import, a limit hit at import).
    fn load(&self, wanted: &[String]) -> Result<Loaded, String> {
        let mut sandbox = self.sandbox("load").map_err(|e| {
            format!(
                "the {} runner cannot start: {e}",
                self.runner.language.name()
            )
        })?;
        let args = [
            Val::String(self.file.clone()),
            Val::String(self.text.to_string()),
            Val::List(wanted.iter().cloned().map(Val::String).collect()),
        ];
        let (outcome, _) = sandbox.call(&self.runner.load.index, &args, 1);
        match outcome {
            Err(e) => Err(format!("loading {} failed: {e}", self.file)),
            Ok(values) => match values.first() {
                Some(Val::Result(Ok(_))) => Ok(Loaded::Ok),
                Some(Val::Result(Err(Some(failure)))) => match Failure::of(failure) {
                    Failure::Missing(names) => Ok(Loaded::Missing(names)),
                    Failure::Syntax(message) => Err(message),
                    Failure::Raised { message, traceback } => Err(format!(
                        "loading {} raised an exception: {}",
                        self.file,
                        exception_text(&message, &traceback)
                    )),
                },
                other => Err(format!("the runner answered {other:?} to load")),
            },
        }
    }

    fn run(&self, case: &TestCase, func: &ExportedFunc, ident: &str, rules: &Rules) -> TestResult {
        let started = Instant::now();
        let mut out = match plan(case, func) {
            Ok(plan) => self.call(case, ident, &plan, rules),
            Err(problem) => crate::runner::result(case, Verdict::Error, Some(problem)),
        };
        out.timing = Some(TestTiming {
            duration_us: started.elapsed().as_micros() as u64,
        });
        out
    }

    fn call(&self, case: &TestCase, ident: &str, plan: &CallPlan, rules: &Rules) -> TestResult {
        let language = self.runner.language;
        let args = Json::Array(
            plan.args
                .iter()
                .zip(&plan.param_types)
                .map(|(v, t)| to_guest(v, t, language))
                .collect(),
        );
        let mut sandbox = match self.sandbox(&case.function) {
            Ok(s) => s,
            Err(err) => return crate::runner::failed(case, &self.limits, &err),
        };
        let call_args = [
            Val::String(self.file.clone()),
            Val::String(self.text.to_string()),
            Val::String(ident.to_string()),
            Val::String(args.to_string()),
        ];
        let (outcome, report) = sandbox.call(&self.runner.call.index, &call_args, 1);
        let written = report.stdout.total_bytes + report.stderr.total_bytes;
        let mut out = match outcome {
            Err(err) => crate::runner::failed(case, &self.limits, &err),
            // An interpreter turns a refused allocation into an exception
            // (MemoryError, "out of memory"): the verdict is the limit's.
            Ok(values)
                if sandbox.memory_refusals() > 0
                    && matches!(values.first(), Some(Val::Result(Err(_)))) =>
            {
                crate::runner::result(
                    case,
                    Verdict::MemoryLimit,
                    Some(format!(
                        "memory limit of {} MiB reached (the interpreter then raised: {})",
                        self.limits.memory_bytes >> 20,
                        match values.first() {
                            Some(Val::Result(Err(Some(f)))) => match Failure::of(f) {
                                Failure::Raised { message, .. } => message,
                                Failure::Syntax(m) => m,
                                Failure::Missing(m) => m.join(", "),
                            },
                            _ => String::new(),
                        }
                    )),
                )
            }
            Ok(_) if written > self.limits.output_bytes => crate::runner::result(
                case,
                Verdict::OutputLimit,
                Some(format!(
                    "output limit of {} bytes exceeded ({written} bytes written)",
                    self.limits.output_bytes
                )),
            ),
            Ok(values) => self.judge(case, plan, values.first(), rules),
        };
        out.fuel_used = report.fuel_used;
        out.stdout = Output::from_capture(&report.stdout);
        out.stderr = Output::from_capture(&report.stderr);
        out
    }

    /// The runner's answer as the function's value, then judged.
    fn judge(
        &self,
        case: &TestCase,
        plan: &CallPlan,
        answer: Option<&Val>,
        rules: &Rules,
    ) -> TestResult {
        let Some(ty) = &plan.result_type else {
            return match answer {
                Some(Val::Result(Err(Some(failure)))) => self.raised(case, failure),
                _ => crate::runner::judge(case, plan, None, rules),
            };
        };
        let value = match answer {
            Some(Val::Result(Ok(Some(text)))) => {
                let Val::String(text) = text.as_ref() else {
                    return self.strange(case);
                };
                let json: Json = match serde_json::from_str(text) {
                    Ok(json) => json,
                    Err(_) => return self.strange(case),
                };
                let converted = match ty {
                    Type::Result(r) => match r.ok() {
                        Some(ok) => {
                            from_guest(&json, &ok).map(|v| Val::Result(Ok(Some(Box::new(v)))))
                        }
                        None if json.is_null() => Ok(Val::Result(Ok(None))),
                        None => Err(format!(
                            "the function returned {}, where nothing (None/undefined) was expected",
                            crate::compare::short_json(&json)
                        )),
                    },
                    other => from_guest(&json, other),
                };
                match converted {
                    Ok(v) => v,
                    Err(message) => {
                        let mut out = crate::runner::result(case, Verdict::Fail, Some(message));
                        out.actual = Some(json);
                        return out;
                    }
                }
            }
            Some(Val::Result(Err(Some(failure)))) => match (Failure::of(failure), ty) {
                (Failure::Raised { message, .. }, Type::Result(r))
                    if matches!(r.err(), Some(Type::String)) =>
                {
                    Val::Result(Err(Some(Box::new(Val::String(message)))))
                }
                (Failure::Raised { .. }, Type::Result(r)) if r.err().is_none() => {
                    Val::Result(Err(None))
                }
                _ => return self.raised(case, failure),
            },
            _ => return self.strange(case),
        };
        crate::runner::judge(case, plan, Some(&value), rules)
    }

    /// The case's error for an exception (or another failure) the
    /// function's type cannot carry.
    fn raised(&self, case: &TestCase, failure: &Val) -> TestResult {
        let message = match Failure::of(failure) {
            Failure::Raised { message, traceback } => {
                format!(
                    "raised an exception: {}",
                    exception_text(&message, &traceback)
                )
            }
            Failure::Missing(names) => {
                format!("the solution defines no function `{}`", names.join("`, `"))
            }
            Failure::Syntax(message) => message,
        };
        crate::runner::result(case, Verdict::Error, Some(message))
    }

    fn strange(&self, case: &TestCase) -> TestResult {
        crate::runner::result(
            case,
            Verdict::Error,
            Some(format!(
                "the {} runner gave an answer the grader does not understand",
                self.runner.language.name()
            )),
        )
    }
}

/// The traceback (which ends with the exception's type and message), or
/// the message alone when there is none, cut to [`EXCEPTION_CHARS`].
fn exception_text(message: &str, traceback: &str) -> String {
    // A traceback ends with the exception's type and message already.
    let text = if traceback.trim().is_empty() {
        message.to_string()
    } else {
        traceback.trim_end().to_string()
    };
    match crate::verdict::truncate_chars(&text, EXCEPTION_CHARS) {
        (cut, true) => format!("{cut}…"),
        (all, false) => all.to_string(),
    }
}

/// The runner's `failure` variant.
enum Failure {
    Syntax(String),
    Missing(Vec<String>),
    Raised { message: String, traceback: String },
}

impl Failure {
    fn of(val: &Val) -> Failure {
        match val {
            Val::Variant(case, Some(payload)) => match (case.as_str(), payload.as_ref()) {
                ("syntax", Val::String(s)) => Failure::Syntax(s.clone()),
                ("missing", Val::List(names)) => Failure::Missing(
                    names
                        .iter()
                        .filter_map(|n| match n {
                            Val::String(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                ("raised", Val::Record(fields)) => {
                    let field = |name: &str| {
                        fields
                            .iter()
                            .find(|(n, _)| n == name)
                            .and_then(|(_, v)| match v {
                                Val::String(s) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default()
                    };
                    Failure::Raised {
                        message: field("message"),
                        traceback: field("traceback"),
                    }
                }
                _ => Failure::Syntax(format!("the runner failed strangely: {val:?}")),
            },
            other => Failure::Syntax(format!("the runner failed strangely: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warden_component::RuntimeConfig;

    const WIT: &str = "package test:mapping;
world solution {
  record score-card { player-name: string, best-score: u32, tags: list<string> }
  enum planet { mercury, venus }
  export f: func(card: score-card, planet: planet, name: option<string>, counts: list<tuple<string, u32>>) -> result<score-card, string>;
  export g: func() -> list<tuple<string, option<planet>>>;
}";

    /// The parameter and result types of `f` and `g`, from a stand-in.
    fn types() -> (Vec<Type>, Type, Type) {
        let bytes = stand_in(Path::new("exercise.wit"), WIT).expect("stand-in");
        let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
        let compiled = runtime.compile_own(&bytes, Metering::Off).expect("compile");
        let funcs = list_functions(&compiled);
        let f = funcs.iter().find(|f| f.func == "f").expect("f");
        let g = funcs.iter().find(|f| f.func == "g").expect("g");
        (
            f.params().into_iter().map(|(_, t)| t).collect(),
            f.ty.results().next().expect("f's result"),
            g.ty.results().next().expect("g's result"),
        )
    }

    #[test]
    fn arguments_reach_each_language_in_its_own_shape() {
        let (params, _, _) = types();
        let args = [
            json!({"player-name": "Ada", "best-score": 7, "tags": ["x"]}),
            json!("venus"),
            json!(null),
            json!([["a", 1], ["b", 2]]),
        ];
        let vals: Vec<Val> = args
            .iter()
            .zip(&params)
            .map(|(j, t)| json_to_val(j, t, "$").expect("fits"))
            .collect();
        let shown = |language| -> Vec<Json> {
            vals.iter()
                .zip(&params)
                .map(|(v, t)| to_guest(v, t, language))
                .collect()
        };
        assert_eq!(
            shown(Language::Python),
            vec![
                json!({"player_name": "Ada", "best_score": 7, "tags": ["x"]}),
                json!("venus"),
                json!(null),
                json!({"a": 1, "b": 2}),
            ]
        );
        assert_eq!(
            shown(Language::JavaScript)[0],
            json!({"playerName": "Ada", "bestScore": 7, "tags": ["x"]})
        );
    }

    #[test]
    fn results_come_back_in_any_of_the_documented_shapes() {
        let (_, f_result, g_result) = types();
        let Type::Result(r) = &f_result else {
            panic!("f returns a result")
        };
        let record = r.ok().expect("ok type");
        let want = json_to_val(
            &json!({"player-name": "Ada", "best-score": 7, "tags": []}),
            &record,
            "$",
        )
        .expect("fits");
        // Python's snake_case, JavaScript's lowerCamelCase, and a float
        // with no fraction (every JavaScript number) for an integer.
        for returned in [
            json!({"player_name": "Ada", "best_score": 7, "tags": []}),
            json!({"playerName": "Ada", "bestScore": 7.0, "tags": []}),
        ] {
            assert_eq!(from_guest(&returned, &record).expect("fits"), want);
        }
        let wrong = from_guest(
            &json!({"player_name": "Ada", "best_score": 7.5, "tags": []}),
            &record,
        )
        .expect_err("7.5 is no u32");
        assert!(wrong.contains("u32"), "{wrong}");
        // Maps as a dict or as pairs; enums in any letter case; None/null.
        let want =
            json_to_val(&json!([["a", "mercury"], ["b", null]]), &g_result, "$").expect("fits");
        for returned in [
            json!({"a": "MERCURY", "b": null}),
            json!([["a", "Mercury"], ["b", null]]),
        ] {
            assert_eq!(from_guest(&returned, &g_result).expect("fits"), want);
        }
    }

    #[test]
    fn names_follow_each_language() {
        assert_eq!(Language::Python.ident("square-of-sum"), "square_of_sum");
        assert_eq!(Language::JavaScript.ident("square-of-sum"), "squareOfSum");
        assert_eq!(
            Language::of_path(Path::new("a/leap.py")),
            Some(Language::Python)
        );
        assert_eq!(
            Language::of_path(Path::new("leap.mjs")),
            Some(Language::JavaScript)
        );
        assert_eq!(Language::of_path(Path::new("leap.wasm")), None);
    }
}
