//! Instants are whole seconds since the Unix epoch, in UTC. Keeping them as plain
//! integers makes the world model cheap to copy and compare, and keeps every
//! formatting decision in one place.

use chrono::{DateTime, Datelike, NaiveDate, Weekday};

pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 86_400;

/// Seconds since the epoch of midnight UTC on the given date.
pub(crate) fn ymd(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp())
        .unwrap_or(0)
}

fn to_datetime(ts: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or_default()
}

/// `2026-01-05T13:04:05Z`: what DuckDB reads into TIMESTAMPTZ unambiguously.
pub(crate) fn fmt_utc(ts: i64) -> String {
    to_datetime(ts).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Naive `YYYY-MM-DD HH:MM:SS`, for the legacy column that stores wall-clock time.
pub(crate) fn fmt_naive(ts_as_if_utc: i64) -> String {
    to_datetime(ts_as_if_utc)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `YYYY-MM-DD` of the UTC date.
pub(crate) fn fmt_date(ts: i64) -> String {
    to_datetime(ts).format("%Y-%m-%d").to_string()
}

/// `YYYY-MM-01` of the UTC month: the key of the exchange-rate seed and of cohorts.
pub(crate) fn fmt_month(ts: i64) -> String {
    to_datetime(ts).format("%Y-%m-01").to_string()
}

/// (year, month) of the UTC instant.
pub(crate) fn year_month(ts: i64) -> (i32, u32) {
    let dt = to_datetime(ts);
    (dt.year(), dt.month())
}

/// Day number since the epoch (UTC), for grouping by date.
pub(crate) fn day_index(ts: i64) -> i64 {
    ts.div_euclid(DAY)
}

fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    let back = first.weekday().num_days_from_sunday();
    let first_sunday = if back == 0 { 1 } else { 8 - back };
    let day = first_sunday + 7 * (n - 1);
    debug_assert_eq!(
        NaiveDate::from_ymd_opt(year, month, day).map(|d| d.weekday()),
        Some(Weekday::Sun)
    );
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(first)
}

/// UTC offset of America/New_York at the instant, in seconds (-4 h or -5 h).
///
/// US rule since 2007: daylight time from the second Sunday of March at 02:00
/// local standard time (07:00 UTC) to the first Sunday of November at 02:00 local
/// daylight time (06:00 UTC). For 2026 that is 2026-03-08T07:00Z to 2026-11-01T06:00Z.
pub(crate) fn new_york_offset(ts: i64) -> i64 {
    let year = to_datetime(ts).year();
    let start = nth_sunday(year, 3, 2)
        .and_hms_opt(7, 0, 0)
        .map(|d| d.and_utc().timestamp())
        .unwrap_or(i64::MAX);
    let end = nth_sunday(year, 11, 1)
        .and_hms_opt(6, 0, 0)
        .map(|d| d.and_utc().timestamp())
        .unwrap_or(i64::MIN);
    if ts >= start && ts < end {
        -4 * HOUR
    } else {
        -5 * HOUR
    }
}

/// New York wall-clock time of a UTC instant, returned as "seconds since the epoch
/// as if the wall clock were UTC" so that it formats with [`fmt_naive`].
pub(crate) fn utc_to_new_york_wall(ts: i64) -> i64 {
    ts + new_york_offset(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_boundaries_2026() {
        let start = ymd(2026, 3, 8) + 7 * HOUR;
        let end = ymd(2026, 11, 1) + 6 * HOUR;
        assert_eq!(new_york_offset(start - 1), -5 * HOUR);
        assert_eq!(new_york_offset(start), -4 * HOUR);
        assert_eq!(new_york_offset(end - 1), -4 * HOUR);
        assert_eq!(new_york_offset(end), -5 * HOUR);
        // 2025: 9 March and 2 November.
        assert_eq!(new_york_offset(ymd(2025, 3, 9) + 7 * HOUR), -4 * HOUR);
        assert_eq!(new_york_offset(ymd(2025, 3, 9) + 7 * HOUR - 1), -5 * HOUR);
        assert_eq!(new_york_offset(ymd(2025, 11, 2) + 6 * HOUR), -5 * HOUR);
    }

    #[test]
    fn wall_clock_formatting() {
        // 2026-01-15T15:30:00Z is 10:30 EST; 2026-07-01T15:30:00Z is 11:30 EDT.
        let winter = ymd(2026, 1, 15) + 15 * HOUR + 30 * MINUTE;
        assert_eq!(
            fmt_naive(utc_to_new_york_wall(winter)),
            "2026-01-15 10:30:00"
        );
        let summer = ymd(2026, 7, 1) + 15 * HOUR + 30 * MINUTE;
        assert_eq!(
            fmt_naive(utc_to_new_york_wall(summer)),
            "2026-07-01 11:30:00"
        );
        assert_eq!(fmt_utc(summer), "2026-07-01T15:30:00Z");
        assert_eq!(fmt_month(summer), "2026-07-01");
        assert_eq!(fmt_date(summer), "2026-07-01");
    }
}
