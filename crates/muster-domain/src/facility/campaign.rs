//! Campaigns: a target with a date over a set of facilities ("every car-park shelter has
//! its sign by 2027-06-30"), its progress and when, at the pace so far, it will be done.

use serde::{Deserialize, Serialize};

use crate::organization::string_enum;
use crate::time::CivilDate;

string_enum! {
    /// What counts as done for one facility: its sign is up, or it was inspected on or
    /// after the campaign's start.
    CampaignTarget {
        SignInstalled => "sign_installed",
        Inspected => "inspected",
    }
}

/// The forecast of a campaign from the dates its facilities were done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub total: u64,
    pub done: u64,
    /// Facilities done per day since the start (done before the start are not pace).
    pub pace_per_day: f64,
    /// The day the last one will be done at that pace; `None` with no pace and work left.
    pub completion: Option<CivilDate>,
    /// Whether that day is on or before the target date.
    pub on_track: bool,
}

impl Forecast {
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        }
    }
}

/// Pace is the work done since the start over the days elapsed (at least one), and the
/// remaining work is projected at that pace from today. Linear because a campaign is a
/// steady programme of works; a campaign that has stalled shows no completion at all.
pub fn forecast(
    start: CivilDate,
    target: CivilDate,
    today: CivilDate,
    total: u64,
    done_dates: &[CivilDate],
) -> Forecast {
    let done = done_dates.len() as u64;
    let done_since_start = done_dates
        .iter()
        .filter(|d| **d >= start && **d <= today)
        .count();
    let elapsed = (today.days_since_epoch() - start.days_since_epoch() + 1).max(1);
    let pace_per_day = done_since_start as f64 / elapsed as f64;
    let remaining = total.saturating_sub(done);
    let completion = if remaining == 0 {
        Some(done_dates.iter().copied().max().unwrap_or(today).min(today))
    } else if pace_per_day > 0.0 {
        let days = (remaining as f64 / pace_per_day).ceil();
        (days < 365.0 * 100.0).then(|| today.plus_days(days as i64))
    } else {
        None
    };
    Forecast {
        total,
        done: done.min(total),
        pace_per_day,
        completion,
        on_track: completion.is_some_and(|c| c <= target),
    }
}
