//! Whole milliseconds, the unit of every `*_ms` field Warden writes: event
//! timestamps, API and health JSON, the process registry, reload histories.
//!
//! Two conversions, written once here so every crate rounds and saturates
//! the same way:
//! - [`millis`]: a [`Duration`] as whole milliseconds (truncated, saturating
//!   at `u64::MAX`).
//! - [`unix_ms`] / [`unix_ms_at`]: the wall clock as milliseconds since the
//!   Unix epoch, `0` for any time before it; [`signed_unix_ms`] /
//!   [`signed_unix_ms_at`] for the stores that keep a signed integer
//!   (the process registry's SQLite columns), negative before the epoch.
//!
//! Used by every responsibility crate, including the supervisor and
//! component crates that may depend on no other, hence a crate of its own
//! with no dependencies.
//!
//! Never does: read a monotonic clock (callers measure durations with
//! `Instant` and pass the [`Duration`] here), or round up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `d` in whole milliseconds, sub-millisecond remainder dropped.
///
/// Saturates at `u64::MAX` instead of wrapping: a `Duration` can hold up to
/// `u64::MAX` seconds, a thousand times more than `u64` milliseconds
/// (about 584 million years), which only "no limit" sentinels such as
/// `Duration::MAX` ever reach.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Now, in milliseconds since the Unix epoch (see [`unix_ms_at`]).
pub fn unix_ms() -> u64 {
    unix_ms_at(SystemTime::now())
}

/// `t` in milliseconds since 1970-01-01T00:00:00Z; `0` when `t` is before
/// the epoch (a badly set clock), so timestamps never go negative.
/// Saturates at `u64::MAX` like [`millis`].
pub fn unix_ms_at(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// Now, in signed milliseconds since the Unix epoch (see
/// [`signed_unix_ms_at`]).
pub fn signed_unix_ms() -> i64 {
    signed_unix_ms_at(SystemTime::now())
}

/// `t` in milliseconds since 1970-01-01T00:00:00Z as an `i64` (SQLite's
/// integer): negative before the epoch, saturating at `i64::MAX` after it
/// and at `-i64::MAX` before it.
pub fn signed_unix_ms_at(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_truncates_sub_millisecond_remainders() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_micros(999)), 0);
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
        assert_eq!(millis(Duration::from_secs(5)), 5_000);
    }

    #[test]
    fn millis_saturates_past_u64() {
        assert_eq!(millis(Duration::from_millis(u64::MAX)), u64::MAX);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn unix_ms_counts_from_the_epoch() {
        assert_eq!(unix_ms_at(UNIX_EPOCH), 0);
        // 2024-02-29T12:34:56.789Z
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(unix_ms_at(t), 1_709_210_096_789);
        assert_eq!(signed_unix_ms_at(t), 1_709_210_096_789);
        // Sub-millisecond parts are dropped, not rounded.
        assert_eq!(unix_ms_at(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
    }

    #[test]
    fn before_the_epoch_is_zero_unsigned_and_negative_signed() {
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(unix_ms_at(before), 0);
        assert_eq!(signed_unix_ms_at(before), -1_500);
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        // 2025-01-01T00:00:00Z: a clock reading earlier is not "now".
        const JAN_2025_MS: u64 = 1_735_689_600_000;
        assert!(unix_ms() >= JAN_2025_MS);
        assert!(signed_unix_ms() >= JAN_2025_MS as i64);
    }
}
