//! Disclosure control's rules that depend on nothing but dates (`api/contract/INDICATORS.md`,
//! "Disclosure control"): the periods whose figures are published to the protected roles
//! (PARTNER and DASHBOARD). A protected role asking for any other period could difference two
//! overlapping periods down to a few people.

use chrono::{Datelike, NaiveDate};

/// The published periods, in words, for the error that refuses any other.
pub const PUBLISHED_PERIODS: &str = "one calendar month (e.g. 2024-09-01 to 2024-09-30), one \
    calendar quarter (2024-07-01 to 2024-09-30), one calendar year (2024-01-01 to 2024-12-31), \
    or from the programme's start date to the last day of a month or to today (the default)";

/// Whether `from`–`to` (inclusive) is a published period of a programme that started on
/// `start`, on `today`: one calendar month, quarter or year, or from `start` to the last day
/// of a month or to `today`.
pub fn is_published_period(
    from: NaiveDate,
    to: NaiveDate,
    start: NaiveDate,
    today: NaiveDate,
) -> bool {
    let ends_a_month = to.succ_opt().is_none_or(|next| next.day() == 1);
    let whole_months = |months: u32| {
        from.day() == 1 && ends_a_month && months_between(from, to) == Some(months - 1)
    };
    let month = whole_months(1);
    let quarter = whole_months(3) && from.month() % 3 == 1;
    let year = whole_months(12) && from.month() == 1;
    let since_start = from == start && (ends_a_month || to == today);
    month || quarter || year || since_start
}

/// How many months `to`'s month is after `from`'s, or `None` when before.
fn months_between(from: NaiveDate, to: NaiveDate) -> Option<u32> {
    let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    u32::try_from(months).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn published(from: &str, to: &str) -> bool {
        is_published_period(day(from), day(to), day("2021-12-15"), day("2024-10-17"))
    }

    #[test]
    fn months_quarters_years_and_since_the_start_are_published() {
        assert!(published("2024-09-01", "2024-09-30"));
        assert!(published("2024-02-01", "2024-02-29"));
        assert!(published("2024-07-01", "2024-09-30"));
        assert!(published("2024-10-01", "2024-12-31"));
        assert!(published("2023-01-01", "2023-12-31"));
        assert!(published("2021-12-15", "2024-08-31"));
        assert!(published("2021-12-15", "2024-10-17"));
        assert!(published("2021-12-15", "2021-12-31"));
    }

    #[test]
    fn any_other_period_is_not() {
        // Days cut off a month, two months, a quarter not on a calendar quarter.
        assert!(!published("2024-09-02", "2024-09-30"));
        assert!(!published("2024-09-01", "2024-09-29"));
        assert!(!published("2024-08-01", "2024-09-30"));
        assert!(!published("2024-08-01", "2024-10-31"));
        // A year not from January, thirteen months, a period ending before it starts.
        assert!(!published("2023-02-01", "2024-01-31"));
        assert!(!published("2023-01-01", "2024-01-31"));
        assert!(!published("2024-09-30", "2024-09-01"));
        // From the start to a day that is neither a month's end nor today; from another day.
        assert!(!published("2021-12-15", "2024-10-16"));
        assert!(!published("2021-12-16", "2024-08-31"));
    }
}
