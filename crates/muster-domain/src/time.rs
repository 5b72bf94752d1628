//! Time as a value. The domain never reads a clock; callers hand it the current time.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Stored as a BIGINT on both databases so that
/// the audit chain hashes the same bytes whichever database holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved forward by `millis` (saturating, never panicking).
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

/// One day in milliseconds.
pub const MILLIS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// This timestamp moved forward by whole days (saturating).
    pub const fn plus_days(self, days: i64) -> Self {
        self.plus_millis(days.saturating_mul(MILLIS_PER_DAY))
    }

    /// The calendar day this instant falls on, in UTC like every deadline in Muster.
    pub const fn date(self) -> CivilDate {
        CivilDate(self.0.div_euclid(MILLIS_PER_DAY))
    }
}

/// A calendar day (proleptic Gregorian, UTC), as days since 1970-01-01. Deadlines, campaign
/// targets and "today" are whole days: an order due on 2027-06-30 is on time all that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CivilDate(i64);

impl CivilDate {
    pub const fn from_days(days: i64) -> Self {
        Self(days)
    }

    pub const fn days_since_epoch(self) -> i64 {
        self.0
    }

    /// A date from year, month and day, or `None` if there is no such day (or it is outside
    /// the years 1970–9999 that Muster accepts from a form).
    pub fn from_ymd(year: i64, month: i64, day: i64) -> Option<Self> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 {
            return None;
        }
        let date = Self(days_from_civil(year, month, day));
        (date.ymd() == (year, month, day)).then_some(date)
    }

    /// `YYYY-MM-DD`, as a date input sends it.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.parse().ok()?;
        Self::from_ymd(year, month, day)
    }

    /// Year, month and day (Howard Hinnant's `civil_from_days`).
    pub const fn ymd(self) -> (i64, i64, i64) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
        (year, month, day)
    }

    pub const fn year(self) -> i64 {
        self.ymd().0
    }

    /// January the first of this date's year.
    pub fn start_of_year(self) -> Self {
        Self(days_from_civil(self.year(), 1, 1))
    }

    pub const fn plus_days(self, days: i64) -> Self {
        Self(self.0.saturating_add(days))
    }

    /// The first millisecond of the day.
    pub const fn start(self) -> Timestamp {
        Timestamp::from_millis(self.0.saturating_mul(MILLIS_PER_DAY))
    }

    /// The last millisecond of the day: a deadline on this date.
    pub const fn end(self) -> Timestamp {
        Timestamp::from_millis(self.0.saturating_add(1).saturating_mul(MILLIS_PER_DAY) - 1)
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// Days since the epoch of a civil date (Howard Hinnant's `days_from_civil`).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_and_refuse_impossible_days() {
        for days in [-1, 0, 59, 60, 365, 10_957, 20_513, 2_932_896] {
            let date = CivilDate::from_days(days);
            let (y, m, d) = date.ymd();
            if (1970..=9999).contains(&y) {
                assert_eq!(CivilDate::from_ymd(y, m, d), Some(date), "{date}");
            }
        }
        assert_eq!(
            CivilDate::parse("2027-06-30")
                .map(|d| d.to_string())
                .as_deref(),
            Some("2027-06-30")
        );
        assert_eq!(
            CivilDate::parse("2028-02-29")
                .map(|d| d.to_string())
                .as_deref(),
            Some("2028-02-29")
        );
        assert_eq!(CivilDate::parse("2027-02-29"), None);
        assert_eq!(CivilDate::parse("2027-13-01"), None);
        assert_eq!(CivilDate::parse("2027-06"), None);
        assert_eq!(CivilDate::parse("x"), None);
        let date = CivilDate::parse("2026-11-25").unwrap_or(CivilDate::from_days(0));
        assert_eq!(date.start().date(), date);
        assert_eq!(date.end().date(), date);
        assert_eq!(date.end().plus_millis(1).date(), date.plus_days(1));
        assert_eq!(date.start_of_year().to_string(), "2026-01-01");
    }
}
