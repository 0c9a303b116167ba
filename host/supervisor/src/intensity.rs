//! OTP's restart intensity: more than `intensity` restarts within `period` and the
//! supervisor gives up.
//!
//! A sliding window of monotonic timestamps in milliseconds (OTP uses seconds),
//! kept in a `VecDeque`: each restart pushes one stamp and pops the expired ones,
//! so the cost is O(1) amortised and the memory is at most `intensity + 1` stamps.
//!
//! Like OTP's `add_restart/3`, a restart exactly `period` ago is still inside the
//! window (`stamp >= now - period`): restarts spaced by more than `period` never
//! trip the limit, restarts spaced by exactly `period` can.

use std::collections::VecDeque;

/// The restart window of one supervisor.
#[derive(Debug)]
pub(crate) struct Intensity {
    max: u32,
    period_ms: u64,
    stamps: VecDeque<u64>,
}

impl Intensity {
    pub(crate) fn new(max: u32, period_ms: u64) -> Self {
        Intensity {
            max,
            period_ms,
            stamps: VecDeque::new(),
        }
    }

    /// New limits; the stamps already recorded stay and are judged by them
    /// at the next restart.
    pub(crate) fn set_limits(&mut self, max: u32, period_ms: u64) {
        self.max = max;
        self.period_ms = period_ms;
    }

    /// Records a restart at `now_ms`; `false` means the intensity is exceeded and
    /// the supervisor must shut down.
    pub(crate) fn add_restart(&mut self, now_ms: u64) -> bool {
        let threshold = now_ms.saturating_sub(self.period_ms);
        while self.stamps.front().is_some_and(|&t| t < threshold) {
            self.stamps.pop_front();
        }
        self.stamps.push_back(now_ms);
        self.stamps.len() <= self.max as usize
    }

    /// Restarts that can be added from `now_ms` on before the intensity is
    /// exceeded. Stamps only leave the window as time goes on, so the
    /// figure holds, or grows, until the next restart.
    pub(crate) fn headroom(&self, now_ms: u64) -> u64 {
        (self.max as u64).saturating_sub(self.in_window(now_ms) as u64)
    }

    /// Restarts currently inside the window (as of the last restart).
    pub(crate) fn in_window(&self, now_ms: u64) -> usize {
        let threshold = now_ms.saturating_sub(self.period_ms);
        self.stamps.iter().filter(|&&t| t >= threshold).count()
    }
}
