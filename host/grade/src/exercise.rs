//! Loading an exercise folder: its test cases, its contract and its
//! grading settings, validated together so a teacher's mistake is found
//! before any submission runs.
//!
//! The folder holds:
//! - `canonical-data.json` in Exercism's format (or `canonical-data.toml`,
//!   or a `tests.toml` with a `cases` array: the same shape in TOML);
//! - `exercise.wit`, the world a solution exports ([`Contract`]);
//! - optionally `grading.toml` ([`Settings`]);
//! - optionally Exercism's track-side `tests.toml` (tables keyed by uuid):
//!   cases it marks `include = false` are left out.
//!
//! Every file is read through a [`Folder`]: never through a link leading
//! out of the folder, never a FIFO or device, never beyond
//! [`MAX_CASE_DATA_BYTES`] or [`MAX_TEXT_FILE_BYTES`]; errors quote no
//! more of a file than the key or token at fault, since the folder may be
//! anyone's.
//!
//! Case handling: nested groups flatten to names joined by " › "; a case
//! whose uuid a later case lists in `reimplements` is skipped (chains of
//! any depth, since every superseded uuid is listed by its successor);
//! `property` (lowerCamelCase) names a function of the contract; every
//! `input` key names a parameter (in any spelling that kebab-cases to it),
//! and only `option<…>` parameters may be left out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value as Json};

use warden_component::values::kebab_case;

use crate::contract::{Contract, ContractFunc};
use crate::error::{ExerciseError, json_problem, toml_problem};
use crate::folder::Folder;
use crate::settings::Settings;

/// The largest case file (`canonical-data.json`, `.toml`, `tests.toml`)
/// read; Exercism's largest is under 100 KiB.
pub const MAX_CASE_DATA_BYTES: u64 = 16 << 20;
/// The largest `exercise.wit` or `grading.toml` read.
pub const MAX_TEXT_FILE_BYTES: u64 = 1 << 20;

/// The separator of group and case names.
pub const NAME_SEPARATOR: &str = " › ";

/// A loaded, validated exercise.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// The test data's `exercise` field, or the folder's name.
    pub name: String,
    /// The folder as given to [`Exercise::load`].
    pub dir: PathBuf,
    /// The file the cases were read from.
    pub cases_file: PathBuf,
    /// What `exercise.wit` says a solution exports.
    pub contract: Contract,
    /// The cases to run, in file order.
    pub cases: Vec<TestCase>,
    /// `grading.toml`, validated, or the defaults when there is none.
    pub settings: Settings,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// A value (for a `result` function: its `ok` value).
    Value(Json),
    /// `{"error": …}`: a `result::err` with this payload.
    Error(Json),
}

impl Expected {
    /// The expectation as the test data wrote it.
    pub fn to_json(&self) -> Json {
        match self {
            Expected::Value(v) => v.clone(),
            Expected::Error(e) => serde_json::json!({ "error": e }),
        }
    }
}

/// One test case, flattened.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The case's uuid, when the data gives one: what `grading.toml`'s
    /// `hidden`, `reimplements` and `tests.toml` refer to it by.
    pub uuid: Option<String>,
    /// Group descriptions and the case's own, joined by " › ".
    pub name: String,
    /// The case's own description, as written.
    pub description: String,
    /// Enclosing group descriptions, outermost first.
    pub groups: Vec<String>,
    /// As written in the test data (`leapYear`).
    pub property: String,
    /// The contract function it calls ([`ContractFunc::key`]).
    pub function: String,
    /// Arguments in parameter order; `None` where an optional parameter
    /// was left out.
    pub args: Vec<Option<Json>>,
    /// What the call must return.
    pub expected: Expected,
    /// 1-based number of the top-level group the case sits in (Exercism's
    /// task), if it sits in one.
    pub task_id: Option<u32>,
    /// Listed in `grading.toml`'s `hidden`: reports keep its verdict but
    /// may not show students its details.
    pub hidden: bool,
    /// Points for passing.
    pub points: f64,
    /// A one-line rendering of the call and its expectation.
    pub test_code: String,
}

impl Exercise {
    /// Loads and validates the exercise in `dir`. Its files are read
    /// inside the folder only (see [`Folder`]): a link leading out of it,
    /// a FIFO or a device, or a file over its size limit is refused. The
    /// error is the first problem found; [`crate::check_exercise`] lists
    /// them all.
    pub fn load(dir: &Path) -> Result<Self, ExerciseError> {
        let mut problems = Vec::new();
        let parts = Parts::gather(dir, &mut problems)?;
        if let Some(first) = problems.into_iter().next() {
            return Err(first);
        }
        match parts.contract {
            Some(contract) => Ok(Self {
                name: parts.name,
                dir: dir.to_path_buf(),
                cases_file: parts.cases_file,
                contract,
                cases: parts.cases,
                settings: parts.settings,
            }),
            // Without a contract, gathering recorded why.
            None => Err(ExerciseError::Wit {
                path: dir.join("exercise.wit"),
                message: "no usable world".into(),
            }),
        }
    }

    /// Total points on offer.
    pub fn max_score(&self) -> f64 {
        self.cases.iter().map(|c| c.points).sum()
    }
}

/// What could be read of an exercise folder, with every problem found
/// on the way recorded instead of stopping at the first: what both
/// [`Exercise::load`] and [`crate::check_exercise`] start from.
pub(crate) struct Parts {
    /// The test data's `exercise` field, or the folder's name.
    pub name: String,
    /// The case file (or where it was looked for).
    pub cases_file: PathBuf,
    /// `exercise.wit`'s text, when it could be read.
    pub wit: Option<String>,
    /// The contract, when `exercise.wit` parsed.
    pub contract: Option<Contract>,
    /// The cases that were tied to the contract without a problem.
    pub cases: Vec<TestCase>,
    /// `grading.toml`, or the defaults where it is unreadable.
    pub settings: Settings,
}

impl Parts {
    /// Reads everything in `dir` that can be read, pushing each problem
    /// onto `problems`. Fails only when `dir` is not a directory, since
    /// then nothing else can be looked at.
    pub(crate) fn gather(
        dir: &Path,
        problems: &mut Vec<ExerciseError>,
    ) -> Result<Self, ExerciseError> {
        let folder = Folder::open(dir).map_err(|err| ExerciseError::NotADirectory {
            path: dir.to_path_buf(),
            reason: if err.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) {
                "it is a file".into()
            } else {
                err.to_string()
            },
        })?;
        let mut note = |err: ExerciseError| problems.push(err);
        let wit_name = Path::new("exercise.wit");
        let wit = folder
            .read_text(wit_name, MAX_TEXT_FILE_BYTES)
            .map_err(|e| note(e.into()))
            .ok();
        let contract = wit.as_ref().and_then(|text| {
            Contract::parse(&dir.join(wit_name), text)
                .map_err(&mut note)
                .ok()
        });
        let grading_name = Path::new("grading.toml");
        let settings = match folder.read_text_optional(grading_name, MAX_TEXT_FILE_BYTES) {
            Ok(Some(text)) => {
                let mut found = Vec::new();
                let settings = Settings::parse_all(&dir.join(grading_name), &text, &mut found);
                found.into_iter().for_each(&mut note);
                settings
            }
            Ok(None) => Settings::default(),
            Err(e) => {
                note(e.into());
                Settings::default()
            }
        };
        let tests_toml = folder
            .read_text_optional(Path::new("tests.toml"), MAX_CASE_DATA_BYTES)
            .unwrap_or_else(|e| {
                note(e.into());
                None
            });
        let excluded = match &tests_toml {
            Some(text) => track_filter(&dir.join("tests.toml"), text).unwrap_or_else(|e| {
                note(e);
                HashSet::new()
            }),
            None => HashSet::new(),
        };
        let data = read_case_data(&folder, tests_toml.as_deref());
        let (cases_file, data) = match data {
            Ok((file, data)) => (file, Some(data)),
            Err(e) => {
                note(e);
                (dir.join("canonical-data.json"), None)
            }
        };
        let name = data
            .as_ref()
            .and_then(|d| d.get("exercise"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "exercise".into());
        let mut cases = Vec::new();
        if let Some(data) = &data {
            let raw: Vec<RawCase> = flatten(&cases_file, data, problems)
                .into_iter()
                .filter(|c| c.uuid.as_ref().is_none_or(|u| !excluded.contains(u)))
                .collect();
            // Reported after the cases' own problems, as loading meets them.
            let mut references = Vec::new();
            check_settings(dir, &settings, &raw, contract.as_ref(), &mut references);
            if let Some(contract) = &contract {
                cases = build_cases(&cases_file, raw, contract, &settings, problems);
            }
            problems.append(&mut references);
        }
        Ok(Self {
            name,
            cases_file,
            wit,
            contract,
            cases,
            settings,
        })
    }
}

/// How a case file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFormat {
    /// `canonical-data.json`.
    Json,
    /// `canonical-data.toml`, or a `tests.toml` with `cases`.
    Toml,
}

/// The test cases in `text`, the content of the case file `file`, tied to
/// `contract` and `settings`: what [`Exercise::load`] does with the case
/// file it found, without a track's `tests.toml` filter. `file` only names
/// the file in errors, which quote no more of `text` than the token at
/// fault.
pub fn parse_cases(
    file: &Path,
    format: CaseFormat,
    text: &str,
    contract: &Contract,
    settings: &Settings,
) -> Result<Vec<TestCase>, ExerciseError> {
    let data = parse_case_map(file, format, text)?;
    let mut problems = Vec::new();
    let raw = flatten(file, &data, &mut problems);
    let cases = build_cases(file, raw, contract, settings, &mut problems);
    match problems.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(cases),
    }
}

fn parse_case_map(
    file: &Path,
    format: CaseFormat,
    text: &str,
) -> Result<Map<String, Json>, ExerciseError> {
    match format {
        CaseFormat::Json => match serde_json::from_str(text) {
            Ok(Json::Object(map)) => Ok(map),
            Ok(_) => Err(ExerciseError::Json {
                path: file.to_path_buf(),
                message: "expected an object with `cases`".into(),
            }),
            Err(err) => Err(ExerciseError::Json {
                path: file.to_path_buf(),
                message: json_problem(&err),
            }),
        },
        CaseFormat::Toml => toml::from_str(text).map_err(|err| ExerciseError::Toml {
            path: file.to_path_buf(),
            message: toml_problem(err, text),
        }),
    }
}

/// Reads the first case file found, as JSON. `tests_toml` is the folder's
/// `tests.toml`, already read.
fn read_case_data(
    folder: &Folder,
    tests_toml: Option<&str>,
) -> Result<(PathBuf, Map<String, Json>), ExerciseError> {
    let json_name = Path::new("canonical-data.json");
    if let Some(text) = folder.read_text_optional(json_name, MAX_CASE_DATA_BYTES)? {
        let path = folder.path().join(json_name);
        let map = parse_case_map(&path, CaseFormat::Json, &text)?;
        return Ok((path, map));
    }
    let toml_name = Path::new("canonical-data.toml");
    let toml_text = folder.read_text_optional(toml_name, MAX_CASE_DATA_BYTES)?;
    for (name, text) in [
        (toml_name, toml_text.as_deref()),
        (Path::new("tests.toml"), tests_toml),
    ] {
        if let Some(text) = text {
            let path = folder.path().join(name);
            let map = parse_case_map(&path, CaseFormat::Toml, text)?;
            if map.contains_key("cases") {
                return Ok((path, map));
            }
        }
    }
    Err(ExerciseError::NoCases {
        dir: folder.path().to_path_buf(),
    })
}

/// Uuids an Exercism track-side `tests.toml` excludes (`include = false`).
fn track_filter(path: &Path, text: &str) -> Result<HashSet<String>, ExerciseError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| ExerciseError::Toml {
        path: path.to_path_buf(),
        message: toml_problem(err, text),
    })?;
    if table.contains_key("cases") {
        return Ok(HashSet::new());
    }
    Ok(table
        .iter()
        .filter(|(_, v)| v.get("include").and_then(toml::Value::as_bool) == Some(false))
        .map(|(k, _)| k.clone())
        .collect())
}

/// A case as read, before it is tied to the contract.
struct RawCase {
    uuid: Option<String>,
    description: String,
    groups: Vec<String>,
    task_id: Option<u32>,
    property: String,
    input: Map<String, Json>,
    expected: Json,
}

/// Walks the nested groups; returns cases in file order, with the uuids
/// that later cases reimplement removed. A case that does not fit the
/// shape is recorded in `problems` and left out; its siblings are read.
fn flatten(
    path: &Path,
    data: &Map<String, Json>,
    problems: &mut Vec<ExerciseError>,
) -> Vec<RawCase> {
    let Some(top) = data.get("cases").and_then(Json::as_array) else {
        problems.push(ExerciseError::Case {
            path: path.to_path_buf(),
            case: "(top level)".into(),
            problem: "expected a `cases` array".into(),
        });
        return Vec::new();
    };
    let mut walker = Walker {
        path,
        out: Vec::new(),
        reimplemented: HashSet::new(),
        problems,
    };
    let mut groups_seen = 0u32;
    for item in top {
        let task_id = if item.get("cases").is_some() {
            groups_seen += 1;
            Some(groups_seen)
        } else {
            None
        };
        walker.walk(item, &mut Vec::new(), task_id);
    }
    let Walker {
        mut out,
        reimplemented,
        ..
    } = walker;
    out.retain(|c| c.uuid.as_ref().is_none_or(|u| !reimplemented.contains(u)));
    out
}

/// The state of one walk over the case tree.
struct Walker<'a> {
    path: &'a Path,
    out: Vec<RawCase>,
    reimplemented: HashSet<String>,
    problems: &'a mut Vec<ExerciseError>,
}

impl Walker<'_> {
    fn walk(&mut self, item: &Json, groups: &mut Vec<String>, task_id: Option<u32>) {
        if let Err(problem) = self.step(item, groups, task_id) {
            let description = item
                .get("description")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let mut parts = groups.clone();
            parts.push(if description.is_empty() {
                "(no description)".to_string()
            } else {
                description.to_string()
            });
            self.problems.push(ExerciseError::Case {
                path: self.path.to_path_buf(),
                case: format!("\"{}\"", parts.join(NAME_SEPARATOR)),
                problem,
            });
        }
    }

    fn step(
        &mut self,
        item: &Json,
        groups: &mut Vec<String>,
        task_id: Option<u32>,
    ) -> Result<(), String> {
        let description = item
            .get("description")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(obj) = item.as_object() else {
            return Err("expected an object".into());
        };
        if let Some(children) = obj.get("cases") {
            let children = children
                .as_array()
                .ok_or_else(|| "`cases` must be an array".to_string())?;
            groups.push(description);
            for child in children {
                self.walk(child, groups, task_id);
            }
            groups.pop();
            return Ok(());
        }
        if let Some(r) = obj.get("reimplements") {
            let r = r
                .as_str()
                .ok_or_else(|| "`reimplements` must be a uuid string".to_string())?;
            self.reimplemented.insert(r.to_string());
        }
        let uuid = match obj.get("uuid") {
            None => None,
            Some(Json::String(u)) => Some(u.clone()),
            Some(_) => return Err("`uuid` must be a string".into()),
        };
        let property = obj
            .get("property")
            .and_then(Json::as_str)
            .ok_or_else(|| "missing `property` (the function to call)".to_string())?
            .to_string();
        let input = match obj.get("input") {
            None => Map::new(),
            Some(Json::Object(m)) => m.clone(),
            Some(_) => return Err("`input` must be an object".into()),
        };
        let expected = obj
            .get("expected")
            .cloned()
            .ok_or_else(|| "missing `expected`".to_string())?;
        self.out.push(RawCase {
            uuid,
            description,
            groups: groups.clone(),
            task_id,
            property,
            input,
            expected,
        });
        Ok(())
    }
}

/// Ties raw cases to the contract: function, argument order, expectation,
/// points and visibility.
/// A case that does not fit is recorded in `problems` and left out.
fn build_cases(
    path: &Path,
    raw: Vec<RawCase>,
    contract: &Contract,
    settings: &Settings,
    problems: &mut Vec<ExerciseError>,
) -> Vec<TestCase> {
    let group_of = |c: &RawCase| -> Option<String> {
        // The innermost group with points of its own.
        (1..=c.groups.len())
            .rev()
            .map(|n| c.groups[..n].join(NAME_SEPARATOR))
            .find(|g| settings.group_points.contains_key(g))
    };
    let mut per_group: HashMap<String, usize> = HashMap::new();
    for c in &raw {
        if let Some(g) = group_of(c) {
            *per_group.entry(g).or_default() += 1;
        }
    }
    let hidden: HashSet<&str> = settings.hidden.iter().map(String::as_str).collect();
    let mut cases = Vec::with_capacity(raw.len());
    for c in raw {
        let mut parts = c.groups.clone();
        parts.push(c.description.clone());
        let name = parts.join(NAME_SEPARATOR);
        let fail = |problem: String| ExerciseError::Case {
            path: path.to_path_buf(),
            case: match &c.uuid {
                Some(u) => format!("\"{name}\" ({u})"),
                None => format!("\"{name}\""),
            },
            problem,
        };
        let found = contract
            .find(&c.property)
            .and_then(|func| order_args(func, &c.input).map(|args| (func, args)));
        let (func, args) = match found {
            Ok(found) => found,
            Err(problem) => {
                problems.push(fail(problem));
                continue;
            }
        };
        let expected = match &c.expected {
            Json::Object(m) if m.len() == 1 && m.contains_key("error") => {
                Expected::Error(m["error"].clone())
            }
            other => Expected::Value(other.clone()),
        };
        let points = match group_of(&c) {
            Some(g) => settings.group_points[&g] / per_group[&g] as f64,
            None => settings.points_per_test,
        };
        cases.push(TestCase {
            hidden: c.uuid.as_deref().is_some_and(|u| hidden.contains(u)),
            test_code: test_code(func, &args, &expected),
            uuid: c.uuid,
            name,
            description: c.description,
            groups: c.groups,
            property: c.property,
            function: func.key.clone(),
            args,
            expected,
            task_id: c.task_id,
            points,
        });
    }
    cases
}

/// Puts a case's inputs in parameter order.
fn order_args(func: &ContractFunc, input: &Map<String, Json>) -> Result<Vec<Option<Json>>, String> {
    let mut by_param: BTreeMap<usize, Json> = BTreeMap::new();
    for (key, value) in input {
        let kebab = kebab_case(key);
        let index = func
            .params
            .iter()
            .position(|p| p == key || *p == kebab)
            .ok_or_else(|| {
                format!(
                    "input `{key}` is not a parameter of `{}` ({})",
                    func.key, func.signature
                )
            })?;
        if by_param.insert(index, value.clone()).is_some() {
            return Err(format!(
                "two inputs name parameter `{}`",
                func.params[index]
            ));
        }
    }
    func.params
        .iter()
        .enumerate()
        .map(|(i, p)| match by_param.remove(&i) {
            Some(v) => Ok(Some(v)),
            None if func.optional[i] => Ok(None),
            None => Err(format!(
                "no input for parameter `{p}` of `{}` ({})",
                func.key, func.signature
            )),
        })
        .collect()
}

fn test_code(func: &ContractFunc, args: &[Option<Json>], expected: &Expected) -> String {
    let args: Vec<String> = func
        .params
        .iter()
        .zip(args)
        .map(|(p, a)| format!("{p}: {}", a.as_ref().unwrap_or(&Json::Null)))
        .collect();
    format!(
        "{}({}) == {}",
        func.key,
        args.join(", "),
        expected.to_json()
    )
}

/// Settings that refer to cases or functions must refer to real ones;
/// each that does not is recorded in `problems`. Functions are checked
/// only when there is a contract to check them against.
fn check_settings(
    dir: &Path,
    settings: &Settings,
    cases: &[RawCase],
    contract: Option<&Contract>,
    problems: &mut Vec<ExerciseError>,
) {
    let path = dir.join("grading.toml");
    let mut bad = |key: &str, problem: String| {
        problems.push(ExerciseError::Setting {
            path: path.clone(),
            key: key.to_string(),
            problem,
        });
    };
    for uuid in &settings.hidden {
        if !cases.iter().any(|c| c.uuid.as_deref() == Some(uuid)) {
            bad("hidden", format!("no test case has uuid `{uuid}`"));
        }
    }
    for group in settings.group_points.keys() {
        let exists = cases
            .iter()
            .any(|c| (1..=c.groups.len()).any(|n| c.groups[..n].join(NAME_SEPARATOR) == *group));
        if !exists {
            bad(
                "group_points",
                format!(
                    "no group is named \"{group}\" (nested names are joined by \"{NAME_SEPARATOR}\")"
                ),
            );
        }
    }
    let Some(contract) = contract else {
        return;
    };
    for f in &settings.unordered {
        if !contract
            .functions
            .iter()
            .any(|c| c.name == *f || c.key == *f)
        {
            bad(
                "unordered",
                format!("exercise.wit exports no function `{f}`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Contract {
        Contract::parse(
            Path::new("exercise.wit"),
            "package e:x;\nworld solution {\n  export square: func(square: s32) -> result<u64, string>;\n  export total: func() -> u64;\n  export greet: func(name: option<string>, loud: bool) -> string;\n}\n",
        )
        .unwrap()
    }

    fn data() -> Map<String, Json> {
        serde_json::from_str(
            r#"{"exercise": "x", "cases": [
              {"description": "squares", "cases": [
                {"uuid": "a", "description": "one", "property": "square", "input": {"square": 1}, "expected": 1},
                {"description": "bad", "cases": [
                  {"uuid": "b", "description": "zero", "property": "square", "input": {"square": 0}, "expected": {"error": "old"}},
                  {"uuid": "c", "reimplements": "b", "description": "zero", "property": "square", "input": {"square": 0}, "expected": {"error": "mid"}},
                  {"uuid": "d", "reimplements": "c", "description": "zero", "property": "square", "input": {"square": 0}, "expected": {"error": "new"}}
                ]}
              ]},
              {"uuid": "e", "description": "total", "property": "total", "input": {}, "expected": 18446744073709551615},
              {"uuid": "f", "description": "greet", "property": "greet", "input": {"loud": true}, "expected": "HI"}
            ]}"#,
        )
        .unwrap()
    }

    fn cases(settings: &Settings) -> Result<Vec<TestCase>, ExerciseError> {
        let mut problems = Vec::new();
        let raw = flatten(Path::new("c.json"), &data(), &mut problems);
        let cases = build_cases(
            Path::new("c.json"),
            raw,
            &contract(),
            settings,
            &mut problems,
        );
        match problems.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(cases),
        }
    }

    #[test]
    fn groups_flatten_and_reimplemented_chains_are_skipped() {
        let cases = cases(&Settings::default()).unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["squares › one", "squares › bad › zero", "total", "greet"]
        );
        assert_eq!(cases[1].uuid.as_deref(), Some("d"));
        assert_eq!(cases[1].expected, Expected::Error(Json::from("new")));
        assert_eq!(cases[0].task_id, Some(1));
        assert_eq!(cases[2].task_id, None);
        assert_eq!(cases[2].args, Vec::<Option<Json>>::new());
        assert_eq!(cases[3].args, vec![None, Some(Json::Bool(true))]);
        assert_eq!(cases[0].test_code, "square(square: 1) == 1");
        assert_eq!(
            cases[1].test_code,
            r#"square(square: 0) == {"error":"new"}"#
        );
    }

    #[test]
    fn group_points_are_split_among_the_group() {
        let settings = Settings {
            group_points: [("squares".to_string(), 6.0)].into_iter().collect(),
            ..Settings::default()
        };
        let cases = cases(&settings).unwrap();
        let points: Vec<f64> = cases.iter().map(|c| c.points).collect();
        assert_eq!(points, [3.0, 3.0, 1.0, 1.0]);
    }

    #[test]
    fn unknown_inputs_and_properties_are_exercise_errors() {
        let func = contract();
        let f = func.find("square").unwrap();
        let mut input = Map::new();
        input.insert("sqaure".into(), Json::from(1));
        let err = order_args(f, &input).unwrap_err();
        assert!(err.contains("`sqaure` is not a parameter"), "{err}");
        assert!(
            order_args(f, &Map::new())
                .unwrap_err()
                .contains("no input for parameter `square`")
        );
        assert!(func.find("leapYear").is_err());
    }
}
