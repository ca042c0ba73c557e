//! Scheduled runs: when a schedule is next due, and the scheduler's tick that starts
//! due runs exactly once (a conditional advance of `next_run_at` decides who starts).

use serde::{Deserialize, Serialize};

use super::error::AutomationError;
use super::service::AutomationService;
use crate::domain::{Frequency, RunId, Schedule, SiteId};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

fn parse_time(time: &str) -> Result<i64, String> {
    let (h, m) = time.split_once(':').ok_or_else(|| format!("time {time:?} is not HH:MM"))?;
    let h: i64 = h.parse().map_err(|_| format!("time {time:?} is not HH:MM"))?;
    let m: i64 = m.parse().map_err(|_| format!("time {time:?} is not HH:MM"))?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(format!("time {time:?} is out of range"));
    }
    Ok(h * 60 + m)
}

/// The first due time of the schedule strictly after `after_ms` (Unix ms).
pub fn next_after(schedule: &Schedule, after_ms: i64) -> Result<i64, String> {
    let minute_of_day = parse_time(&schedule.time)?;
    if !(-14 * 60..=14 * 60).contains(&schedule.utc_offset_minutes) {
        return Err("utc_offset_minutes must be within ±14 hours".into());
    }
    let offset = i64::from(schedule.utc_offset_minutes) * MINUTE_MS;
    match (schedule.frequency, schedule.day) {
        (Frequency::Weekly, Some(d)) if !(1..=7).contains(&d) => return Err("weekly day must be 1 (Monday) to 7".into()),
        (Frequency::Monthly, Some(d)) if !(1..=28).contains(&d) => return Err("monthly day must be 1 to 28".into()),
        _ => {}
    }
    // Walk local days from the day of `after_ms` until a matching day's time is later.
    let local_after = after_ms + offset;
    let first_day = local_after.div_euclid(DAY_MS);
    for day in first_day..first_day + 62 {
        let candidate_local = day * DAY_MS + minute_of_day * MINUTE_MS;
        if candidate_local <= local_after {
            continue;
        }
        let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400).map_err(|e| e.to_string())?;
        let matches = match schedule.frequency {
            Frequency::Daily => true,
            Frequency::Weekly => date.weekday().number_from_monday() == schedule.day.unwrap_or(1),
            Frequency::Monthly => date.day() == schedule.day.unwrap_or(1),
        };
        if matches {
            return Ok(candidate_local - offset);
        }
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
                Err(e) => ScheduledStart { site_id: config.site_id.clone(), run_id: None, skipped: Some(e.to_string()) },
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

    fn at(frequency: Frequency, time: &str, offset: i32, day: Option<u8>) -> Schedule {
        Schedule { frequency, time: time.into(), utc_offset_minutes: offset, day }
    }

    #[test]
    fn daily_weekly_monthly_and_offsets() {
        let now = NOV_26_2026_1000_UTC; // a Thursday
        let daily = next_after(&at(Frequency::Daily, "09:00", 0, None), now).expect("daily");
        assert_eq!(daily, now + 23 * 3_600_000, "09:00 already passed today → tomorrow");
        let later = next_after(&at(Frequency::Daily, "11:30", 0, None), now).expect("daily");
        assert_eq!(later, now + 90 * 60_000);
        let tz = next_after(&at(Frequency::Daily, "11:30", 60, None), now).expect("daily");
        assert_eq!(tz, now + 30 * 60_000, "11:30 at UTC+1 is 10:30 UTC");
        let weekly = next_after(&at(Frequency::Weekly, "10:00", 0, Some(1)), now).expect("weekly");
        assert_eq!(weekly, now + 4 * DAY_MS, "next Monday");
        let monthly = next_after(&at(Frequency::Monthly, "10:00", 0, Some(1)), now).expect("monthly");
        assert_eq!(monthly, now + 5 * DAY_MS, "1 December");
        assert!(next_after(&at(Frequency::Daily, "25:00", 0, None), now).is_err());
        assert!(next_after(&at(Frequency::Monthly, "10:00", 0, Some(31)), now).is_err());
    }
}
