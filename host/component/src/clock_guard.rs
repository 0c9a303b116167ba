//! Keeps guest sleeps inside the call's wall-clock budget.
//!
//! Epoch interruption stops guest *code*, but a guest blocked in a host
//! call — `wasi:clocks/monotonic-clock.subscribe-duration` behind
//! `std::thread::sleep` — is waiting in the host, where no epoch check
//! runs. Left alone, `sleep(one day)` would hold a host thread for a day.
//! So Warden shadows the two subscribe functions with versions that never
//! wait past the call's deadline: the guest wakes early, runs, and the
//! epoch deadline (already passed) stops it at its next check. The same
//! goes for an [`Interrupt`]: a sleeping guest whose call is interrupted
//! (killed, its caller gone, the host stopping) wakes within
//! [`INTERRUPT_POLL`], even with no deadline at all.

use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use crate::interrupt::Interrupt;
use crate::sandbox::GuestState;

/// How often a guest's sleep looks at its interrupt. Interrupts are plain
/// flags (firing one must never block or allocate), so a sleep polls.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// The version of `wasi:clocks` that wasmtime-wasi 48 registers; guests
/// built against any 0.2.x resolve to it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A sleep that ends at a host instant, or earlier once the guest's call
/// is interrupted.
struct BoundedSleep {
    until: tokio::time::Instant,
    interrupt: Interrupt,
}

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedSleep {
    async fn ready(&mut self) {
        while !self.interrupt.is_fired() {
            let now = tokio::time::Instant::now();
            if now >= self.until {
                return;
            }
            tokio::time::sleep_until(self.until.min(now + INTERRUPT_POLL)).await;
        }
    }
}

/// Replaces the monotonic clock's subscribe functions in `linker`.
pub(crate) fn shadow_sleeps(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (nanos,): (u64,)| {
        let state = store.data_mut();
        let wait = bounded(Duration::from_nanos(nanos), state.call_deadline());
        Ok((sleep_resource(state, wait)?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store, (when,): (u64,)| {
        let state = store.data_mut();
        let now = state.monotonic_now();
        let wait = bounded(
            Duration::from_nanos(when.saturating_sub(now)),
            state.call_deadline(),
        );
        Ok((sleep_resource(state, wait)?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

fn bounded(wanted: Duration, deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(deadline) => wanted.min(deadline.saturating_duration_since(Instant::now())),
        None => wanted,
    }
}

fn sleep_resource(
    state: &mut GuestState,
    wait: Duration,
) -> wasmtime::Result<Resource<DynPollable>> {
    let until = tokio::time::Instant::now()
        .checked_add(wait)
        .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400 * 365));
    let interrupt = state.interrupt().clone();
    let table = state.ctx().table;
    let sleep = table.push(BoundedSleep { until, interrupt })?;
    subscribe(table, sleep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_never_outlast_the_deadline() {
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(bounded(Duration::from_secs(3600), Some(soon)) <= Duration::from_millis(50));
        assert_eq!(
            bounded(Duration::from_millis(1), Some(soon)),
            Duration::from_millis(1)
        );
        assert_eq!(
            bounded(Duration::from_secs(7), None),
            Duration::from_secs(7)
        );
    }
}
