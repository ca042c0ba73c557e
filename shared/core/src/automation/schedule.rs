//! Scheduled runs: when a schedule is next due, and the scheduler's tick that starts
//! due runs exactly once (a conditional advance of `next_run_at` decides who starts).
//! The tick starts runs through run control; nothing in run control depends on this.

use serde::{Deserialize, Serialize};

use super::error::AutomationError;
use super::service::AutomationService;
use crate::domain::{Frequency, RunId, Schedule, SiteId};

fn parse_time(time: &str) -> Result<(i8, i8), String> {
    let bad = || format!("time {time:?} is not HH:MM");
    let (h, m) = time.split_once(':').ok_or_else(bad)?;
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(format!("time {time:?} is out of range"));
    }
    Ok((h, m))
}

/// The first due time of the schedule strictly after `after_ms` (Unix ms), in the
/// schedule's time zone (a local time skipped by a DST change moves forward).
pub fn next_after(schedule: &Schedule, after_ms: i64) -> Result<i64, String> {
    let (hour, minute) = parse_time(&schedule.time)?;
    let tz = jiff::tz::TimeZone::get(&schedule.timezone)
        .map_err(|_| format!("unknown time zone {:?}", schedule.timezone))?;
    match (schedule.frequency, schedule.day) {
        (Frequency::Weekly, Some(d)) if !(1..=7).contains(&d) => {
            return Err("weekly day must be 1 (Monday) to 7".into())
        }
        (Frequency::Monthly, Some(d)) if !(1..=28).contains(&d) => return Err("monthly day must be 1 to 28".into()),
        _ => {}
    }
    let after = jiff::Timestamp::from_millisecond(after_ms).map_err(|e| e.to_string())?;
    let mut day = after.to_zoned(tz.clone()).date();
    for _ in 0..62 {
        let matches = match schedule.frequency {
            Frequency::Daily => true,
            Frequency::Weekly => {
                u8::try_from(day.weekday().to_monday_one_offset()).ok() == Some(schedule.day.unwrap_or(1))
            }
            Frequency::Monthly => u8::try_from(day.day()).ok() == Some(schedule.day.unwrap_or(1)),
        };
        if matches {
            let due = day.at(hour, minute, 0, 0).to_zoned(tz.clone()).map_err(|e| e.to_string())?.timestamp();
            if due > after {
                return Ok(due.as_millisecond());
            }
        }
        day = day.tomorrow().map_err(|e| e.to_string())?;
    }
    Err("schedule never comes due".into())
}

/// A run the scheduler started, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledStart {
    /// The site.
    pub site_id: SiteId,
    /// The run, when one started.
    pub run_id: Option<RunId>,
    /// Why none started.
    pub skipped: Option<String>,
}

impl AutomationService {
    /// Starts every due scheduled run once, however many schedulers tick at once.
    pub async fn scheduler_tick(&self) -> Result<Vec<ScheduledStart>, AutomationError> {
        let now = self.now();
        let mut started = Vec::new();
        for config in self.inner.configs.due(now, 100).await? {
            let (Some(due), Some(schedule)) = (config.next_run_at, config.schedule.clone()) else { continue };
            let mut advanced = config.clone();
            advanced.next_run_at = Some(next_after(&schedule, now.max(due)).map_err(AutomationError::Invalid)?);
            if !self.inner.configs.advance(&advanced, due).await? {
                continue;
            }
            let outcome = match self.start(&config.account_id, &config.site_id, "scheduled").await {
                Ok(run) => ScheduledStart { site_id: config.site_id.clone(), run_id: Some(run.id), skipped: None },
                Err(e) => {
                    ScheduledStart { site_id: config.site_id.clone(), run_id: None, skipped: Some(e.to_string()) }
                }
            };
            started.push(outcome);
        }
        Ok(started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_26_2026_1000_UTC: i64 = 1_795_687_200_000;

    const DAY_MS: i64 = 24 * 3_600_000;

    fn at(frequency: Frequency, time: &str, tz: &str, day: Option<u8>) -> Schedule {
        Schedule { frequency, time: time.into(), timezone: tz.into(), day }
    }

    #[test]
    fn daily_weekly_monthly_and_offsets() {
        let now = NOV_26_2026_1000_UTC; // a Thursday
        let daily = next_after(&at(Frequency::Daily, "09:00", "UTC", None), now).expect("daily");
        assert_eq!(daily, now + 23 * 3_600_000, "09:00 already passed today → tomorrow");
        let later = next_after(&at(Frequency::Daily, "11:30", "UTC", None), now).expect("daily");
        assert_eq!(later, now + 90 * 60_000);
        let tz = next_after(&at(Frequency::Daily, "11:30", "Europe/Berlin", None), now).expect("daily");
        assert_eq!(tz, now + 30 * 60_000, "11:30 at UTC+1 is 10:30 UTC");
        let weekly = next_after(&at(Frequency::Weekly, "10:00", "UTC", Some(1)), now).expect("weekly");
        assert_eq!(weekly, now + 4 * DAY_MS, "next Monday");
        let monthly = next_after(&at(Frequency::Monthly, "10:00", "UTC", Some(1)), now).expect("monthly");
        assert_eq!(monthly, now + 5 * DAY_MS, "1 December");
        assert!(next_after(&at(Frequency::Daily, "25:00", "UTC", None), now).is_err());
        assert!(next_after(&at(Frequency::Monthly, "10:00", "UTC", Some(31)), now).is_err());
        assert!(next_after(&at(Frequency::Daily, "10:00", "Mars/Olympus", None), now).is_err());
        // 29 March 2026, 02:30 does not exist in Berlin (clocks jump to 03:00).
        let before_dst = 1_774_742_400_000; // 2026-03-29T00:00:00Z
        let dst = next_after(&at(Frequency::Daily, "02:30", "Europe/Berlin", None), before_dst).expect("dst");
        assert_eq!(dst, before_dst + 90 * 60_000, "02:30 falls in the gap: 03:30 CEST = 01:30 UTC");
    }
}
