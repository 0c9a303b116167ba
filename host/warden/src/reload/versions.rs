//! Each component child's history of versions: what was loaded, from
//! where, when, how it went and how long it took, plus the code of every
//! version that ran so an operator can go back to it.

use std::path::PathBuf;

use serde::Serialize;
use warden_clock::unix_ms;

use crate::component::{ActorProgram, Tier};
use crate::reload::Stage;

/// One version of a child's code.
#[derive(Clone, Serialize)]
pub struct VersionRecord {
    /// 1 is the version the child started with; each reload attempt that
    /// got past reading and hashing takes the next number.
    pub version: u64,
    /// SHA-256 of the component's bytes, hex (empty if never read).
    pub hash: String,
    pub source: PathBuf,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub outcome: VersionOutcome,
    /// From the start of the reload to the swap (or the failure).
    pub duration_ms: u64,
    /// The compiler of the code it runs: `baseline` (Winch) until its
    /// optimized step swaps in the Cranelift code.
    pub tier: Tier,
    /// Why its optimized step failed (it then stays on baseline code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimize_failed: Option<String>,
    /// The code, kept for rollback; `None` when it never ran.
    #[serde(skip)]
    pub(crate) program: Option<ActorProgram>,
}

/// How a version came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VersionOutcome {
    /// The child started with it.
    Initial,
    /// It was swapped in.
    Reloaded,
    /// It never served: the reload failed at `stage`.
    Failed { stage: Stage, reason: String },
    /// It served, then was rolled back from (probation or an operator).
    RolledBackFrom { reason: String },
}

/// A child's versions and the one it runs.
#[derive(Clone, Serialize)]
pub struct Versions {
    pub current: u64,
    pub records: Vec<VersionRecord>,
}

impl Versions {
    pub(crate) fn new(program: &ActorProgram, source: PathBuf) -> Self {
        Versions {
            current: 1,
            records: vec![VersionRecord {
                version: 1,
                hash: program.hash().to_string(),
                source,
                at_ms: unix_ms(),
                outcome: VersionOutcome::Initial,
                duration_ms: 0,
                tier: program.prepared().tier(),
                optimize_failed: None,
                program: Some(program.clone()),
            }],
        }
    }

    /// The number the next reload attempt gets.
    pub fn next_version(&self) -> u64 {
        self.records.last().map_or(1, |r| r.version + 1)
    }

    pub(crate) fn push(&mut self, record: VersionRecord) {
        if record.program.is_some() {
            self.current = record.version;
        }
        self.records.push(record);
    }

    /// Whether `version` is current and runs exactly `program`.
    pub(crate) fn runs(&self, version: u64, program: &ActorProgram) -> bool {
        self.current == version
            && self
                .get(version)
                .and_then(|r| r.program.as_ref())
                .is_some_and(|p| p.is(program))
    }

    /// `version` now runs `program`, its optimized code.
    pub(crate) fn optimized(&mut self, version: u64, program: ActorProgram) {
        if let Some(r) = self.records.iter_mut().find(|r| r.version == version) {
            r.tier = program.prepared().tier();
            r.program = Some(program);
        }
    }

    /// The optimized step of `version` failed for `reason`.
    pub(crate) fn optimize_failed(&mut self, version: u64, reason: &str) {
        if let Some(r) = self.records.iter_mut().find(|r| r.version == version) {
            r.optimize_failed = Some(reason.to_string());
        }
    }

    pub fn get(&self, version: u64) -> Option<&VersionRecord> {
        self.records.iter().find(|r| r.version == version)
    }

    /// The version to go back to: `version`, or the newest one before the
    /// current one that ran.
    pub(crate) fn rollback_target(&self, version: Option<u64>) -> Option<&VersionRecord> {
        match version {
            Some(v) => self.get(v).filter(|r| r.program.is_some()),
            None => self
                .records
                .iter()
                .rev()
                .find(|r| r.version < self.current && r.program.is_some()),
        }
    }

    /// Marks the current version as left behind and makes `to` current.
    pub(crate) fn rolled_back(&mut self, to: u64, reason: &str) {
        let from = self.current;
        if let Some(r) = self.records.iter_mut().find(|r| r.version == from) {
            r.outcome = VersionOutcome::RolledBackFrom {
                reason: reason.to_string(),
            };
        }
        self.current = to;
    }
}
