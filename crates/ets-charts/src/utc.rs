//! UTC calendar fields of epoch milliseconds for time axes (SVG tick labels, Plotly date
//! strings), through chrono — the calendar library the rest of ETS uses — not by hand.

use chrono::{DateTime, NaiveDate, Utc};

pub use chrono::{Datelike, Timelike};

/// The UTC date and time of `ms` milliseconds since the epoch (`None` outside chrono's range).
pub fn at(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// Milliseconds since the epoch of midnight UTC of a date (`None` for an impossible date).
pub fn midnight_ms(year: i64, month: u32, day: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_midnights_agree() {
        assert_eq!(midnight_ms(1970, 1, 1), Some(0));
        assert_eq!(midnight_ms(2024, 2, 29), Some(19_782 * 86_400_000));
        assert_eq!(midnight_ms(2023, 2, 29), None);
        let before_epoch = at(-1).expect("in range");
        assert_eq!(
            (
                before_epoch.year(),
                before_epoch.month(),
                before_epoch.day()
            ),
            (1969, 12, 31)
        );
        assert_eq!(before_epoch.timestamp_subsec_millis(), 999);
    }
}
