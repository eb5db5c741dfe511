//! Timestamps by hand, in UTC: `write!` with padding costs more than the rest of a
//! record's line.

use std::fmt::Write as _;

use super::bytes::Bytes;

/// `HH:MM:SS.mmm` of the UTC day.
pub(super) fn write_clock(out: &mut Bytes<'_>, secs: u64, millis: u32) {
    // By hand: `write!` with padding costs more than the rest of a record's line.
    let day = secs % 86_400;
    let digit = |n: u64| b'0' + (n % 10) as u8;
    let (h, m, s, ms) = (day / 3600, day / 60 % 60, day % 60, u64::from(millis));
    out.0.extend_from_slice(&[
        digit(h / 10),
        digit(h),
        b':',
        digit(m / 10),
        digit(m),
        b':',
        digit(s / 10),
        digit(s),
        b'.',
        digit(ms / 100),
        digit(ms / 10),
        digit(ms),
    ]);
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(super) fn write_rfc3339(out: &mut Bytes<'_>, secs: u64, millis: u32) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T");
    write_clock(out, secs, millis);
    out.push('Z');
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
