//! Pipeline schedules: a cron expression (5 fields, or 6 with seconds first) in a time zone
//! (by default Asia/Ho_Chi_Minh), and the catch-up rule: after downtime, a missed slot runs once,
//! however many slots were missed.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// A pipeline's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

/// What the scheduler does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A slot passed since the last scheduled run: run now (once).
    CatchUp,
    /// Sleep until then.
    At(DateTime<Utc>),
}

impl Schedule {
    /// Parses a cron expression (5 fields, or 6 with seconds first) and an IANA time zone.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, String> {
        let cron = CronParser::builder().seconds(Seconds::Optional).build().parse(expression).map_err(|e| format!("schedule {expression:?}: {e}"))?;
        let tz = timezone.parse::<Tz>().map_err(|e| format!("timezone {timezone:?}: {e} (write an IANA name such as Asia/Ho_Chi_Minh)"))?;
        Ok(Schedule { cron, tz })
    }

    /// The next slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after.with_timezone(&self.tz), false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// What to do at `now`, given when the last scheduled run started (if ever): catch up once if
    /// a slot passed after it, else wait for the next slot. A first start never catches up.
    pub fn decide(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Next> {
        if let Some(last) = last_run {
            if self.next_after(last).is_some_and(|slot| slot <= now) {
                return Some(Next::CatchUp);
            }
        }
        self.next_after(now).map(Next::At)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn the_nightly_slot_is_2am_in_vietnam() {
        let s = Schedule::parse("0 2 * * *", "Asia/Ho_Chi_Minh").unwrap();
        // 02:00 in Hà Nội is 19:00 UTC the day before.
        assert_eq!(s.next_after(utc(2026, 3, 1, 12, 0)), Some(utc(2026, 3, 1, 19, 0)));
    }

    #[test]
    fn after_three_missed_nights_the_run_happens_once() {
        let s = Schedule::parse("0 2 * * *", "Asia/Ho_Chi_Minh").unwrap();
        let last = utc(2026, 3, 1, 19, 0);
        let now = utc(2026, 3, 4, 21, 0);
        assert_eq!(s.decide(Some(last), now), Some(Next::CatchUp));
        // The catch-up run counts as the last run: the next decision waits for the next slot.
        assert_eq!(s.decide(Some(now), now), Some(Next::At(utc(2026, 3, 5, 19, 0))));
    }

    #[test]
    fn no_catch_up_when_nothing_was_missed_or_on_a_first_start() {
        let s = Schedule::parse("0 2 * * *", "Asia/Ho_Chi_Minh").unwrap();
        assert_eq!(s.decide(Some(utc(2026, 3, 1, 19, 0)), utc(2026, 3, 2, 10, 0)), Some(Next::At(utc(2026, 3, 2, 19, 0))));
        assert_eq!(s.decide(None, utc(2026, 3, 2, 10, 0)), Some(Next::At(utc(2026, 3, 2, 19, 0))));
    }

    #[test]
    fn bad_expressions_and_zones_say_what_to_write() {
        assert!(Schedule::parse("0 25 * * *", "Asia/Ho_Chi_Minh").unwrap_err().contains("schedule"));
        assert!(Schedule::parse("0 2 * * *", "Hanoi").unwrap_err().contains("IANA"));
        assert!(Schedule::parse("*/5 * * * * *", "UTC").is_ok(), "seconds are allowed");
    }
}
