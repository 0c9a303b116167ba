//! What a supervisor is asked to run: [`SupervisorSpec`] = [`SupervisorFlags`] +
//! [`ChildSpec`]s, and the one place they are validated ([`SupervisorSpec::validate`],
//! [`ChildSpec::validate`]).
//!
//! Defaults follow OTP: restart `permanent`, type `worker`, shutdown 5000 ms for a
//! worker and `infinity` for a supervisor, strategy `one_for_one`, intensity 1,
//! period 5 s. Every validation error names its offender.
//!
//! The small enums parse from and serialize to OTP's spelling (`one_for_all`,
//! `brutal_kill`, …), so configuration and the API can share them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use warden_clock::millis;

use super::backoff::Backoff;
use super::child::ChildStart;
use super::id::ChildId;
use super::storm::StormConfig;

/// The longest shutdown timeout OTP accepts (`16#ffffffff` ms, about 49.7 days).
pub const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(u32::MAX as u64);

/// OTP's default shutdown timeout for a worker.
pub const DEFAULT_WORKER_SHUTDOWN: Duration = Duration::from_millis(5000);

/// How a supervisor couples its children's fates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Restart only the child that exited.
    OneForOne,
    /// Terminate all other children, then restart all.
    OneForAll,
    /// Terminate the children started after the one that exited, then restart it and them.
    RestForOne,
    /// One spec, many dynamic children started with `start_dynamic_child`.
    SimpleOneForOne,
}

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always restarted, whatever the exit reason.
    Permanent,
    /// Restarted only after an abnormal exit (not `normal`, not `shutdown`).
    Transient,
    /// Never restarted; its spec is dropped when it stops.
    Temporary,
}

/// Whether a child is a worker or a nested supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    /// A worker (component, process, test child, …).
    Worker,
    /// A nested supervisor.
    Supervisor,
}

/// How a supervisor stops a child (OTP's shutdown spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Kill at once.
    BrutalKill,
    /// Ask for a graceful stop, wait this long, then kill.
    Timeout(Duration),
    /// Ask for a graceful stop and wait as long as it takes.
    Infinity,
}

impl Shutdown {
    /// A timeout in milliseconds.
    pub fn millis(ms: u64) -> Self {
        Shutdown::Timeout(Duration::from_millis(ms))
    }
}

macro_rules! word_enum {
    ($ty:ident, $what:literal, $expected:literal, { $($word:literal => $variant:ident),+ $(,)? }) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($ty::$variant => $word),+ })
            }
        }
        impl FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    other => Err(ParseError { what: $what, value: other.to_owned(), expected: $expected }),
                }
            }
        }
    };
}

word_enum!(Strategy, "strategy", "one_for_one, one_for_all, rest_for_one or simple_one_for_one", {
    "one_for_one" => OneForOne,
    "one_for_all" => OneForAll,
    "rest_for_one" => RestForOne,
    "simple_one_for_one" => SimpleOneForOne,
});
word_enum!(Restart, "restart type", "permanent, transient or temporary", {
    "permanent" => Permanent,
    "transient" => Transient,
    "temporary" => Temporary,
});
word_enum!(ChildKind, "child type", "worker or supervisor", {
    "worker" => Worker,
    "supervisor" => Supervisor,
});

impl fmt::Display for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shutdown::BrutalKill => f.write_str("brutal_kill"),
            Shutdown::Infinity => f.write_str("infinity"),
            Shutdown::Timeout(d) => write!(f, "{}", millis(*d)),
        }
    }
}

impl FromStr for Shutdown {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = || ParseError {
            what: "shutdown",
            value: s.to_owned(),
            expected: "brutal_kill, infinity or a number of milliseconds up to 4294967295",
        };
        match s {
            "brutal_kill" => Ok(Shutdown::BrutalKill),
            "infinity" => Ok(Shutdown::Infinity),
            digits => {
                let ms: u64 = digits.parse().map_err(|_| err())?;
                if ms > millis(MAX_SHUTDOWN_TIMEOUT) {
                    return Err(err());
                }
                Ok(Shutdown::millis(ms))
            }
        }
    }
}

impl Serialize for Shutdown {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Shutdown::BrutalKill => s.serialize_str("brutal_kill"),
            Shutdown::Infinity => s.serialize_str("infinity"),
            Shutdown::Timeout(d) => s.serialize_u64(millis(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for Shutdown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(u64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Shutdown::from_str(&ms.to_string()),
            Raw::Word(w) => Shutdown::from_str(&w),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A word that names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: expected {expected}")]
pub struct ParseError {
    /// What was being parsed.
    pub what: &'static str,
    /// The rejected input.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

/// A spec that cannot be run, naming the offender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A child spec has an empty id.
    #[error("child spec #{index} has no id")]
    MissingId {
        /// Position of the spec in the list (0-based).
        index: usize,
    },
    /// A child id contains `/`, the path separator.
    #[error("child id `{id}` contains `/`, which separates the segments of a path")]
    InvalidId {
        /// The offending id.
        id: ChildId,
    },
    /// Two child specs share an id.
    #[error("duplicate child id `{id}`")]
    DuplicateId {
        /// The repeated id.
        id: ChildId,
    },
    /// A shutdown spec is out of range.
    #[error("child `{id}`: invalid shutdown {value}: the timeout must be at most 4294967295 ms")]
    InvalidShutdown {
        /// The offender.
        id: ChildId,
        /// The rejected value, in milliseconds.
        value: u128,
    },
    /// A `simple_one_for_one` supervisor needs exactly one child spec.
    #[error("a simple_one_for_one supervisor needs exactly one child spec, found {count}")]
    SimpleOneForOneSpecs {
        /// How many specs were given.
        count: usize,
    },
    /// The intensity period is shorter than the millisecond resolution.
    #[error("invalid period {period:?}: it must be at least 1 ms")]
    InvalidPeriod {
        /// The rejected period.
        period: Duration,
    },
    /// The kill grace is zero.
    #[error("invalid kill grace {grace:?}: it must be at least 1 ms")]
    InvalidKillGrace {
        /// The rejected grace.
        grace: Duration,
    },
    /// A backoff setting is inconsistent.
    #[error("child `{id}`: invalid backoff: {reason}")]
    InvalidBackoff {
        /// The offender.
        id: ChildId,
        /// What is wrong.
        reason: &'static str,
    },
    /// A storm-detector setting is inconsistent.
    #[error("child `{id}`: invalid storm detector: {reason}")]
    InvalidStorm {
        /// The offender.
        id: ChildId,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Supervisor flags. By default: `one_for_one`, intensity 1, period 5 s, kill grace 5 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupervisorFlags {
    /// The restart strategy. By default `one_for_one`.
    pub strategy: Strategy,
    /// How many restarts are allowed within `period` (OTP's MaxR). By default 1.
    pub intensity: u32,
    /// The sliding window for `intensity` (OTP's MaxT), millisecond resolution.
    /// By default 5 s.
    pub period: Duration,
    /// Beyond OTP: how long to wait for a child to report its exit after `kill()`
    /// before the supervisor considers it dead and moves on (an Erlang kill cannot
    /// fail; an OS process in uninterruptible sleep can). By default 5 s.
    pub kill_grace: Duration,
}

impl Default for SupervisorFlags {
    fn default() -> Self {
        SupervisorFlags {
            strategy: Strategy::OneForOne,
            intensity: 1,
            period: Duration::from_secs(5),
            kill_grace: Duration::from_secs(5),
        }
    }
}

impl SupervisorFlags {
    /// Default flags with the given strategy.
    pub fn new(strategy: Strategy) -> Self {
        SupervisorFlags {
            strategy,
            ..Default::default()
        }
    }

    /// Sets intensity and period (OTP's MaxR within MaxT).
    pub fn with_intensity(mut self, intensity: u32, period: Duration) -> Self {
        self.intensity = intensity;
        self.period = period;
        self
    }

    /// Sets the kill grace.
    pub fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Checks the flags on their own.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.period < Duration::from_millis(1) {
            return Err(SpecError::InvalidPeriod {
                period: self.period,
            });
        }
        if self.kill_grace < Duration::from_millis(1) {
            return Err(SpecError::InvalidKillGrace {
                grace: self.kill_grace,
            });
        }
        Ok(())
    }
}

/// One child: its id, how to start it, and how to treat its exits.
#[derive(Clone)]
pub struct ChildSpec {
    id: ChildId,
    start: Arc<dyn ChildStart>,
    restart: Restart,
    shutdown: Option<Shutdown>,
    kind: ChildKind,
    backoff: Option<Backoff>,
    storm: Option<StormConfig>,
}

impl ChildSpec {
    /// A child of `kind` started by `start`, with OTP's defaults.
    pub fn new(id: impl Into<ChildId>, kind: ChildKind, start: Arc<dyn ChildStart>) -> Self {
        ChildSpec {
            id: id.into(),
            start,
            restart: Restart::Permanent,
            shutdown: None,
            kind,
            backoff: None,
            storm: None,
        }
    }

    /// A worker started by `start`.
    pub fn worker(id: impl Into<ChildId>, start: impl ChildStart) -> Self {
        ChildSpec::new(id, ChildKind::Worker, Arc::new(start))
    }

    /// A nested supervisor running `spec`.
    pub fn supervisor(id: impl Into<ChildId>, spec: super::SupervisorSpec) -> Self {
        ChildSpec::new(id, ChildKind::Supervisor, Arc::new(spec))
    }

    /// Sets the restart type. By default `permanent`.
    pub fn with_restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets the shutdown spec. By default 5000 ms for a worker, `infinity` for a supervisor.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Beyond OTP: delays restarts exponentially. By default none (OTP restarts at once).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Beyond OTP: a restart-storm detector. By default none.
    pub fn with_storm(mut self, storm: StormConfig) -> Self {
        self.storm = Some(storm);
        self
    }

    /// The child's id.
    pub fn id(&self) -> &ChildId {
        &self.id
    }

    /// The restart type.
    pub fn restart(&self) -> Restart {
        self.restart
    }

    /// The effective shutdown spec (the kind's default when none was set).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.unwrap_or(match self.kind {
            ChildKind::Worker => Shutdown::Timeout(DEFAULT_WORKER_SHUTDOWN),
            ChildKind::Supervisor => Shutdown::Infinity,
        })
    }

    /// Worker or supervisor.
    pub fn kind(&self) -> ChildKind {
        self.kind
    }

    /// The backoff settings, if any.
    pub fn backoff(&self) -> Option<&Backoff> {
        self.backoff.as_ref()
    }

    /// The storm-detector settings, if any.
    pub fn storm(&self) -> Option<&StormConfig> {
        self.storm.as_ref()
    }

    /// The start function.
    pub fn starter(&self) -> &Arc<dyn ChildStart> {
        &self.start
    }

    /// The same child, started by `start` instead (a host wrapping the
    /// start of a `simple_one_for_one` spec).
    pub fn with_starter(mut self, start: Arc<dyn ChildStart>) -> Self {
        self.start = start;
        self
    }

    /// Checks this spec on its own (`index` is its position, for the error).
    pub fn validate(&self, index: usize) -> Result<(), SpecError> {
        validate_id(&self.id, index)?;
        if let Some(Shutdown::Timeout(t)) = self.shutdown
            && t > MAX_SHUTDOWN_TIMEOUT
        {
            return Err(SpecError::InvalidShutdown {
                id: self.id.clone(),
                value: t.as_millis(),
            });
        }
        if let Some(b) = &self.backoff {
            b.validate().map_err(|reason| SpecError::InvalidBackoff {
                id: self.id.clone(),
                reason,
            })?;
        }
        if let Some(s) = &self.storm {
            s.validate().map_err(|reason| SpecError::InvalidStorm {
                id: self.id.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown())
            .field("kind", &self.kind)
            .field("backoff", &self.backoff)
            .field("storm", &self.storm)
            .finish_non_exhaustive()
    }
}

/// Checks that `id` can name a child: non-empty, without `/`.
pub(crate) fn validate_id(id: &ChildId, index: usize) -> Result<(), SpecError> {
    if id.as_str().is_empty() {
        return Err(SpecError::MissingId { index });
    }
    if id.as_str().contains('/') {
        return Err(SpecError::InvalidId { id: id.clone() });
    }
    Ok(())
}

/// A whole supervisor: flags and child specs (in start order). Implements
/// [`ChildStart`], so a supervisor nests as a child of another.
#[derive(Clone, Debug, Default)]
pub struct SupervisorSpec {
    /// Strategy, intensity, period.
    pub flags: SupervisorFlags,
    /// The children, in start order (exactly one for `simple_one_for_one`).
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A supervisor with `flags` and no children yet.
    pub fn new(flags: SupervisorFlags) -> Self {
        SupervisorSpec {
            flags,
            children: Vec::new(),
        }
    }

    /// Appends a child spec (start order is insertion order).
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Checks flags and specs: the first problem found, naming the offender.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.flags.validate()?;
        if self.flags.strategy == Strategy::SimpleOneForOne && self.children.len() != 1 {
            return Err(SpecError::SimpleOneForOneSpecs {
                count: self.children.len(),
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(self.children.len());
        for (index, child) in self.children.iter().enumerate() {
            child.validate(index)?;
            if !seen.insert(child.id.clone()) {
                return Err(SpecError::DuplicateId {
                    id: child.id.clone(),
                });
            }
        }
        Ok(())
    }
}
