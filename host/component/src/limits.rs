//! Per-instance limits, and the memory limiter that enforces them.
//!
//! A component instance is one wasmtime `Store` holding every core
//! instance the component creates, each with its own linear memories and
//! tables. The [`MemoryLimiter`] keeps **one** budget for all of them: the
//! bytes of every linear memory plus the host bytes of every table
//! element ([`TABLE_ELEMENT_BYTES`]) count against `Limits::memory_bytes`,
//! whether they are asked for at instantiation (initial sizes) or by a
//! later `memory.grow` / `table.grow`. It also bounds how many core
//! instances, memories and tables one Store may create
//! ([`MAX_CORE_INSTANCES`], [`MAX_MEMORIES`], [`MAX_TABLES`]), since each
//! costs the host memory and address space of its own.
//!
//! Guarantees: the bytes granted never exceed the limit (a request that
//! would is refused whole, not in part); every refusal is remembered, so
//! a guest that aborts on a failed allocation (Rust traps with
//! `unreachable`) or an instantiation the limiter stopped is reported as
//! [`ComponentError::MemoryLimit`](crate::ComponentError),
//! never as a mystery trap. Never: release bytes once granted (memories
//! and tables only grow, and live as long as the Store).

use std::time::Duration;

use crate::capture::Overflow;

/// What one instance may use. Fuel and the timeout apply to each call
/// (including instantiation), memory to the instance's whole life.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Bytes of all linear memories and tables of the instance together
    /// (tables at [`TABLE_ELEMENT_BYTES`] per element). By default 64 MiB.
    pub memory_bytes: usize,
    /// Fuel budget per call; `None` runs unmetered. By default `None`.
    pub fuel: Option<u64>,
    /// Wall-clock budget per call; `None` waits forever. By default 10 s.
    pub timeout: Option<Duration>,
    /// Bytes of stdout and of stderr kept per call. By default 64 KiB.
    pub output_bytes: usize,
    /// What happens past `output_bytes`. By default `Truncate`.
    pub output_overflow: Overflow,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            fuel: None,
            timeout: Some(Duration::from_secs(10)),
            output_bytes: 64 << 10,
            output_overflow: Overflow::Truncate,
        }
    }
}

/// Host bytes charged per table element. A funcref element is a pointer
/// to a `VMFuncRef` in wasmtime 48 (`Option<SendSyncPtr<VMFuncRef>>`,
/// 8 bytes on the 64-bit hosts Warden runs on); GC-reference tables would
/// cost 4 bytes each, but this host's engine has no GC, so every table a
/// guest can define is a funcref table. One flat price keeps the limiter
/// from needing the element type, which `ResourceLimiter` does not pass.
pub const TABLE_ELEMENT_BYTES: usize = 8;

/// Core instances one Store may create. Rust components have 3–4 (main
/// module, shims, fixups); interpreter components built by
/// componentize-py link a dozen or two libraries, one instance each.
pub const MAX_CORE_INSTANCES: usize = 100;

/// Linear memories one Store may create. A component has one per
/// language runtime it embeds (usually one, sometimes an adapter's
/// second); each reserves address space of its own.
pub const MAX_MEMORIES: usize = 16;

/// Tables one Store may create: one per module that calls indirectly,
/// plus one per shim module.
pub const MAX_TABLES: usize = 100;

/// What a refused request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// A linear memory (charged at its size in bytes).
    Memory,
    /// A table (charged [`TABLE_ELEMENT_BYTES`] per element).
    Table,
}

impl Held {
    fn noun(self, plural: bool) -> &'static str {
        match (self, plural) {
            (Held::Memory, false) => "linear memory",
            (Held::Memory, true) => "linear memories",
            (Held::Table, false) => "table",
            (Held::Table, true) => "tables",
        }
    }
}

/// Why the memory limit refused, as the error a caller sees says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A memory or table asked for `requested` more bytes while the
    /// instance held `in_use` bytes in all its memories and tables.
    Bytes {
        /// Whether a memory or a table asked.
        what: Held,
        /// Bytes asked for on top of what the instance held.
        requested: usize,
        /// Bytes the instance held in all its memories and tables.
        in_use: usize,
        /// Asked for by the component's initial sizes, not by a guest's
        /// `memory.grow` / `table.grow`.
        at_instantiation: bool,
    },
    /// The component defines more memories or tables than one instance
    /// may have.
    Count {
        /// Memories or tables.
        what: Held,
        /// How many the component defines, over all its core instances.
        count: usize,
        /// How many one instance may have ([`MAX_MEMORIES`] or
        /// [`MAX_TABLES`]).
        max: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Refusal::Bytes {
                what,
                requested,
                in_use,
                at_instantiation,
            } => {
                let asked = if at_instantiation {
                    format!("instantiating it needs a {} of", what.noun(false))
                } else {
                    format!("a {} asked to grow by", what.noun(false))
                };
                write!(
                    f,
                    "{asked} {} with {} already in use by the instance's memories and tables, \
                     which share the limit",
                    human(requested),
                    human(in_use)
                )
            }
            Refusal::Count { what, count, max } => write!(
                f,
                "the component defines {count} {}; an instance may have at most {max}",
                what.noun(true)
            ),
        }
    }
}

/// `1.5 MiB`-style sizes for messages; exact bytes below 1 KiB.
fn human(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Keeps every linear memory and table of one Store within one budget
/// (see the module docs).
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    /// Bytes of linear memory granted so far, all memories together.
    memory_bytes: usize,
    /// Host bytes of table elements granted so far, all tables together.
    table_bytes: usize,
    /// Requests refused so far.
    refusals: u64,
    /// The first refusal, for the error message: later ones are usually
    /// the guest retrying smaller.
    first_refusal: Option<Refusal>,
    /// True while the component is being instantiated.
    instantiating: bool,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            memory_bytes: 0,
            table_bytes: 0,
            refusals: 0,
            first_refusal: None,
            instantiating: false,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Bytes the instance holds now: all its linear memories and tables.
    pub fn used_bytes(&self) -> usize {
        self.memory_bytes.saturating_add(self.table_bytes)
    }

    /// How many requests were refused.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    /// The first refusal, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.first_refusal
    }

    /// Marks the requests that follow as the component's initial sizes
    /// (`true`) or as the guest's own growth (`false`).
    pub(crate) fn set_instantiating(&mut self, instantiating: bool) {
        self.instantiating = instantiating;
    }

    /// Records a refusal the limiter did not see itself (a count checked
    /// before instantiating).
    pub(crate) fn refuse(&mut self, refusal: Refusal) {
        self.refusals += 1;
        self.first_refusal.get_or_insert(refusal);
    }

    /// Grants `requested` more bytes of `what` if the budget has room.
    fn grant(&mut self, what: Held, requested: usize) -> bool {
        let in_use = self.used_bytes();
        if requested > self.max_bytes.saturating_sub(in_use) {
            self.refuse(Refusal::Bytes {
                what,
                requested,
                in_use,
                at_instantiation: self.instantiating,
            });
            return false;
        }
        match what {
            Held::Memory => self.memory_bytes += requested,
            Held::Table => self.table_bytes += requested,
        }
        true
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the memory's own declared maximum wasmtime fails the growth
        // after asking us; say no first, so the bytes are never counted.
        // Not a breach of our limit: the guest's own type forbids it.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self.grant(Held::Memory, desired.saturating_sub(current)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let requested = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(self.grant(Held::Table, requested))
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut l = MemoryLimiter::new(64 * MIB);
        assert!(l.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(l.table_growing(0, MIB, None).unwrap(), "8 MiB of table");
        assert_eq!(l.used_bytes(), 48 * MIB);
        assert!(
            !l.memory_growing(0, 17 * MIB, None).unwrap(),
            "a second memory within its own size but past the shared total"
        );
        assert!(l.memory_growing(0, 16 * MIB, None).unwrap(), "exactly full");
        assert!(
            !l.table_growing(MIB, MIB + 1, None).unwrap(),
            "not one more"
        );
        assert_eq!(l.used_bytes(), 64 * MIB);
        assert_eq!((l.memory_bytes, l.table_bytes), (56 * MIB, 8 * MIB));
        assert_eq!(l.refusals(), 2);
        assert_eq!(
            l.refusal(),
            Some(Refusal::Bytes {
                what: Held::Memory,
                requested: 17 * MIB,
                in_use: 48 * MIB,
                at_instantiation: false,
            }),
            "the first refusal is the one reported"
        );
    }

    #[test]
    fn growth_counts_only_the_difference() {
        let mut l = MemoryLimiter::new(10 * MIB);
        assert!(l.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(l.memory_growing(4 * MIB, 10 * MIB, None).unwrap());
        assert!(!l.memory_growing(10 * MIB, 10 * MIB + 65536, None).unwrap());
        assert_eq!(l.used_bytes(), 10 * MIB);
    }

    #[test]
    fn past_a_declared_maximum_is_refused_without_a_breach() {
        let mut l = MemoryLimiter::new(64 * MIB);
        assert!(!l.memory_growing(0, 2 * MIB, Some(MIB)).unwrap());
        assert!(!l.table_growing(0, 20, Some(10)).unwrap());
        assert_eq!(l.used_bytes(), 0);
        assert_eq!(
            l.refusals(),
            0,
            "the guest's own type said no, not our limit"
        );
    }

    #[test]
    fn absurd_requests_do_not_overflow() {
        let mut l = MemoryLimiter::new(64 * MIB);
        assert!(!l.memory_growing(0, usize::MAX, None).unwrap());
        assert!(!l.table_growing(0, usize::MAX, None).unwrap());
        assert_eq!(l.used_bytes(), 0);
        assert_eq!(l.refusals(), 2);
    }

    #[test]
    fn refusals_say_what_was_asked_and_what_was_held() {
        let mut l = MemoryLimiter::new(64 * MIB);
        l.set_instantiating(true);
        assert!(l.memory_growing(0, 60 * MIB, None).unwrap());
        assert!(!l.memory_growing(0, 60 * MIB, None).unwrap());
        let text = l.refusal().unwrap().to_string();
        assert_eq!(
            text,
            "instantiating it needs a linear memory of 60.0 MiB with 60.0 MiB already in use \
             by the instance's memories and tables, which share the limit"
        );
        let count = Refusal::Count {
            what: Held::Table,
            count: 99,
            max: MAX_TABLES,
        };
        assert_eq!(
            count.to_string(),
            format!("the component defines 99 tables; an instance may have at most {MAX_TABLES}")
        );
    }
}
