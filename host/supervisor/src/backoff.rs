//! Beyond OTP: restart backoff for one child.
//!
//! OTP restarts at once and relies on intensity to stop a crash loop. A child that
//! depends on something slow to come back (a socket, a file, a peer) does better
//! with spaced attempts: the n-th consecutive restart waits
//! `min(initial × multiplier^(n-1), max)`, scaled by a random factor in
//! `[1 - jitter, 1 + jitter]` and capped again at `max`. The streak resets when an
//! incarnation has run for at least `reset_after`.
//!
//! Guarantees: delays never exceed `max`; computing one never panics (overflow
//! saturates to `max`); the delay is served by a timer message to the supervisor,
//! never by sleeping in its loop.

use std::time::Duration;

/// Backoff settings. By default: 100 ms initial, 30 s max, ×2, ±10 % jitter, reset
/// after 60 s of healthy uptime.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Delay before the first restart of a streak.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
    /// Growth factor per consecutive restart (at least 1).
    pub multiplier: f64,
    /// Random spread, a fraction in `[0, 1]`: 0.1 means ±10 %.
    pub jitter: f64,
    /// Uptime after which an incarnation counts as healthy and the streak resets.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.1,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Checks the settings; the error says which one is wrong.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.initial.is_zero() {
            return Err("initial must be greater than zero");
        }
        if self.max < self.initial {
            return Err("max must be at least initial");
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err("multiplier must be a finite number of at least 1");
        }
        if !self.jitter.is_finite() || !(0.0..=1.0).contains(&self.jitter) {
            return Err("jitter must be between 0 and 1");
        }
        Ok(())
    }

    /// The delay before restart number `attempt` of a streak (0-based), given a
    /// random sample `unit` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let max = self.max.as_secs_f64();
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = (self.initial.as_secs_f64() * self.multiplier.powi(exponent)).min(max);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        let secs = (base * factor).clamp(0.0, max);
        Duration::try_from_secs_f64(secs).unwrap_or(self.max)
    }
}

/// The streak of one child.
#[derive(Debug, Default, Clone)]
pub(crate) struct BackoffState {
    attempt: u32,
}

impl BackoffState {
    /// An incarnation ended after `uptime`: a healthy run resets the streak.
    pub(crate) fn on_exit(&mut self, config: &Backoff, uptime: Duration) {
        if uptime >= config.reset_after {
            self.attempt = 0;
        }
    }

    /// The delay for the next restart; advances the streak.
    pub(crate) fn next_delay(&mut self, config: &Backoff) -> Duration {
        let d = config.delay(self.attempt, fastrand::f64());
        self.attempt = self.attempt.saturating_add(1);
        d
    }
}
