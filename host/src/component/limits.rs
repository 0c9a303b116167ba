//! Per-instance limits, and the memory limiter that enforces them.

use std::time::Duration;

use crate::component::capture::Overflow;

/// What one instance may use. Fuel and the timeout apply to each call
/// (including instantiation), memory to the instance's whole life.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest linear memory, in bytes. By default 64 MiB.
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

/// Refuses memory growth past the limit and remembers that it did, so a
/// guest that aborts on a failed allocation (Rust traps with `unreachable`)
/// is reported as `MemoryLimit`, not as a mystery trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    denied: bool,
    /// Bytes of linear memory granted so far (memories only grow).
    used_bytes: usize,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            denied: false,
            used_bytes: 0,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Linear memory the instance holds, in bytes.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// True once a growth request was refused.
    pub fn denied(&self) -> bool {
        self.denied
    }
}

/// Tables hold function references; a guest has no honest need for more.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.denied = true;
            return Ok(false);
        }
        self.used_bytes = self
            .used_bytes
            .saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
