//! Telling "the kernel's mapping limit is reached" apart from "out of
//! memory" when an instance cannot be set up.
//!
//! Every component instance maps a few regions of its own (its linear
//! memory's reservation, the copy-on-write data image inside it, the part
//! made accessible): about 4 per instance, and 2 more for an actor, whose
//! calls run on a fiber stack of its own with a guard page (see
//! `fiber_stacks`). So Linux's default `vm.max_map_count` of 65,530 stops
//! a host near 10,000 awake actors, or 16,000 other live instances.
//! The kernel then answers `mmap`/`mprotect` with `ENOMEM`, which wasmtime
//! reports as "Cannot allocate memory" though memory is plentiful. This
//! module owns only the diagnosis; it never changes the limit, which is
//! the operator's (`sysctl vm.max_map_count`).

use std::io::{BufRead, BufReader};

/// Mappings the kernel allows one process (`/proc/sys/vm/max_map_count`).
const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";
/// One line per mapping of this process.
const OWN_MAPS: &str = "/proc/self/maps";
/// Setting up one instance takes a handful of mappings: within this many
/// of the limit, an `ENOMEM` is the limit's.
const HEADROOM: usize = 64;

/// Why `err` happened, in words an operator can act on, when it is the
/// mapping limit: `None` for any other failure (a real out-of-memory
/// included), or where `/proc` cannot tell.
pub(crate) fn diagnose(err: &wasmtime::Error) -> Option<String> {
    if !is_enomem(err) {
        return None;
    }
    let limit = read_limit()?;
    let mapped = count_own_mappings()?;
    reached(mapped, limit).then(|| explain(mapped, limit))
}

/// An `ENOMEM` from the operating system anywhere in the error's chain:
/// wasmtime maps memory through rustix and passes its `Errno` on.
fn is_enomem(err: &wasmtime::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<rustix::io::Errno>()
            .is_some_and(|errno| *errno == rustix::io::Errno::NOMEM)
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::OutOfMemory)
    })
}

fn read_limit() -> Option<usize> {
    std::fs::read_to_string(MAX_MAP_COUNT)
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn count_own_mappings() -> Option<usize> {
    let maps = std::fs::File::open(OWN_MAPS).ok()?;
    Some(BufReader::new(maps).split(b'\n').count())
}

fn reached(mapped: usize, limit: usize) -> bool {
    mapped.saturating_add(HEADROOM) >= limit
}

fn explain(mapped: usize, limit: usize) -> String {
    format!(
        "the kernel's limit on memory mappings per process is reached \
         (vm.max_map_count = {limit}; this process has {mapped}): each component \
         instance maps 4 to 6 regions, so raise the limit to run more \
         (e.g. `sysctl -w vm.max_map_count={}`)",
        limit.saturating_mul(8)
    )
}

#[cfg(test)]
mod tests {
    use super::{explain, reached};

    #[test]
    fn only_a_count_near_the_limit_is_the_limit() {
        assert!(reached(65_530, 65_530));
        assert!(reached(65_470, 65_530));
        assert!(!reached(65_000, 65_530));
        assert!(!reached(10, 65_530));
    }

    #[test]
    fn the_explanation_names_the_setting_and_a_higher_value() {
        let text = explain(65_529, 65_530);
        assert!(text.contains("vm.max_map_count = 65530"), "{text}");
        assert!(text.contains("this process has 65529"), "{text}");
        assert!(text.contains("sysctl -w vm.max_map_count=524240"), "{text}");
    }
}
