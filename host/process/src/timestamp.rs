//! Wall-clock timestamps in the process module's log files: RFC 3339 (UTC,
//! milliseconds), formatted from the signed Unix milliseconds its records
//! hold ([`crate::now_ms`]).
//!
//! Owns: the formatting. Must never: read a clock.

use std::fmt::Write;

/// Appends `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn write_rfc3339(ms: i64, out: &mut String) {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let day_secs = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    );
}

/// `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (for people reading records, such
/// as `warden ctl audit`).
pub fn rfc3339(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(ms, &mut out);
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let mut s = String::new();
        write_rfc3339(0, &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
        s.clear();
        // 2024-02-29T12:34:56.789Z
        write_rfc3339(1_709_210_096_789, &mut s);
        assert_eq!(s, "2024-02-29T12:34:56.789Z");
    }
}
