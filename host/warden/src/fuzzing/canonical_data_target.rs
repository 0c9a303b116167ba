//! Case-file text from the fuzzer, loaded as JSON and as TOML against the
//! contract of every example exercise (`examples/exercises/*/exercise.wit`),
//! so that mutations of real case data get past the parser into groups,
//! `reimplements`, argument order and expectations. Any outcome but a
//! panic (or a hang) is fine.

use std::path::{Path, PathBuf};

use crate::grade::{CaseFormat, Contract, Settings, TestCase, parse_cases};

/// One load of a case file: against which exercise's contract, read as
/// which format, and what it gave (the cases, or the error's message).
pub struct Attempt<'a> {
    /// The exercise whose contract the text was loaded against.
    pub exercise: &'a str,
    /// How the text was read.
    pub format: CaseFormat,
    /// The cases, or why the text was refused.
    pub loaded: Result<Vec<TestCase>, String>,
}

/// The contracts the target loads case files against, one per example
/// exercise, by exercise name (the folder's), in name order.
pub struct CanonicalData {
    contracts: Vec<(String, Contract)>,
}

impl CanonicalData {
    /// Reads every `exercise.wit` below `examples` (one folder per
    /// exercise); an error names the folder or file that did not load.
    pub fn load(examples: &Path) -> Result<Self, String> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples)
            .map_err(|e| format!("{}: {e}", examples.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.join("exercise.wit").is_file())
            .collect();
        dirs.sort();
        let contracts = dirs
            .iter()
            .map(|dir| {
                let path = dir.join("exercise.wit");
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let name = dir
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let contract = Contract::parse(&path, &text).map_err(|e| e.to_string())?;
                Ok((name, contract))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { contracts })
    }

    /// The exercises' names and contracts.
    pub fn contracts(&self) -> &[(String, Contract)] {
        &self.contracts
    }

    /// Loads `data` against every contract in both formats. Text that is
    /// not UTF-8 gives no attempt: a folder's reader refuses it before the
    /// loader.
    pub fn load_all(&self, data: &[u8]) -> Vec<Attempt<'_>> {
        let Ok(text) = std::str::from_utf8(data) else {
            return Vec::new();
        };
        let settings = Settings::default();
        let mut outcomes = Vec::with_capacity(self.contracts.len() * 2);
        for (name, contract) in &self.contracts {
            for format in [CaseFormat::Json, CaseFormat::Toml] {
                let loaded = parse_cases(
                    Path::new("canonical-data"),
                    format,
                    text,
                    contract,
                    &settings,
                )
                .map_err(|e| e.to_string());
                outcomes.push(Attempt {
                    exercise: name,
                    format,
                    loaded,
                });
            }
        }
        outcomes
    }

    /// The fuzz target's body: [`load_all`](Self::load_all), whose only
    /// failure that matters is a panic.
    pub fn run(&self, data: &[u8]) {
        drop(self.load_all(data));
    }
}
