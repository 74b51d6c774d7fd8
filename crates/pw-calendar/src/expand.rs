//! Expansion of a [`Rule`] into local wall-clock times, the way python-dateutil's `rrule` does.
//!
//! The series is walked period by period (a day, a week starting on WKST, a month or a year,
//! stepping by INTERVAL from DTSTART's period). Each period's days are filtered by BYMONTH,
//! BYMONTHDAY and BYDAY (an ordinal such as `-1SU` counts within the month, or within the year
//! for YEARLY without BYMONTH), combined with the sorted times of day (BYHOUR x BYMINUTE x
//! BYSECOND, defaulting to DTSTART's), and BYSETPOS picks from that period's sorted list. Only
//! times at or after DTSTART are occurrences; COUNT counts them. Like dateutil, the first WEEKLY
//! period starts at DTSTART's date, not at the week start. Wall times come out in ascending
//! order; converting them to instants is the caller's job.

use jiff::civil::{Date, DateTime, Time, Weekday};

use crate::rule::{Freq, Rule};

/// Most periods plus candidate times one walk may examine; a rule that matches nothing (e.g.
/// `BYMONTH=2;BYMONTHDAY=30`) stops here instead of looping forever.
pub const MAX_STEPS: u32 = 500_000;

/// A rule bound to its DTSTART, with the rule's defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expansion {
    freq: Freq,
    interval: i64,
    count: Option<u32>,
    dtstart: DateTime,
    week_start: Weekday,
    by_month: Vec<i8>,
    by_month_day: Vec<i8>,
    plain_days: [bool; 7],
    nth_days: Vec<(i8, Weekday)>,
    times: Vec<Time>,
    by_set_pos: Vec<i16>,
}

/// What the visitor wants after seeing one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

impl Expansion {
    pub fn new(rule: &Rule, dtstart: DateTime) -> Expansion {
        let mut by_month = rule.by_month.clone();
        let mut by_month_day = rule.by_month_day.clone();
        let mut by_day = rule.by_day.clone();
        if by_month_day.is_empty() && by_day.is_empty() {
            match rule.freq {
                Freq::Daily => {}
                Freq::Weekly => by_day.push((None, dtstart.weekday())),
                Freq::Monthly => by_month_day.push(dtstart.day()),
                Freq::Yearly => {
                    if by_month.is_empty() {
                        by_month.push(dtstart.month());
                    }
                    by_month_day.push(dtstart.day());
                }
            }
        }
        let mut plain_days = [false; 7];
        let mut nth_days = Vec::new();
        for (ordinal, day) in by_day {
            match ordinal {
                None => plain_days[day.to_monday_zero_offset() as usize] = true,
                Some(n) => nth_days.push((n, day)),
            }
        }
        let or_default = |list: &[i8], default: i8| {
            if list.is_empty() {
                vec![default]
            } else {
                list.to_vec()
            }
        };
        let mut times = Vec::new();
        for hour in or_default(&rule.by_hour, dtstart.hour()) {
            for minute in or_default(&rule.by_minute, dtstart.minute()) {
                for second in or_default(&rule.by_second, dtstart.second()) {
                    if let Ok(time) = Time::new(hour, minute, second, 0) {
                        times.push(time);
                    }
                }
            }
        }
        times.sort();
        times.dedup();
        Expansion {
            freq: rule.freq,
            interval: i64::from(rule.interval),
            count: rule.count,
            dtstart,
            week_start: rule.week_start(),
            by_month,
            by_month_day,
            plain_days,
            nth_days,
            times,
            by_set_pos: rule.by_set_pos.clone(),
        }
    }

    /// Index of the last period that starts on or before `date` (0 when `date` is early), so a
    /// walk can skip straight to a query. Rules with COUNT always walk from period 0.
    pub fn period_at_or_before(&self, date: Date) -> i64 {
        if self.count.is_some() || date <= self.dtstart.date() {
            return 0;
        }
        let start = self.dtstart.date();
        let units = match self.freq {
            Freq::Daily => days_between(start, date),
            Freq::Weekly => days_between(self.first_week_start(), date) / 7,
            Freq::Monthly => month_number(date) - month_number(start),
            Freq::Yearly => i64::from(date.year()) - i64::from(start.year()),
        };
        (units / self.interval).max(0)
    }

    /// Visits every occurrence from period `first` on, in ascending wall-clock order, until the
    /// visitor stops, COUNT is reached, the calendar ends (year 9999) or [`MAX_STEPS`] is spent.
    pub fn walk(&self, first: i64, mut visit: impl FnMut(DateTime) -> Flow) {
        let first = if self.count.is_some() { 0 } else { first };
        let mut steps: u32 = 0;
        let mut seen: u32 = 0;
        let mut days = Vec::new();
        for period in first.. {
            let Some((start, length)) = self.period(period) else {
                return;
            };
            days.clear();
            for offset in 0..length {
                match add_days(start, offset) {
                    Some(day) if self.day_matches(day) => days.push(day),
                    Some(_) => {}
                    None => break,
                }
            }
            steps = steps.saturating_add(1);
            for index in self.selected_indexes(days.len()) {
                steps = steps.saturating_add(1);
                let times = self.times.len();
                let wall = days[index / times].to_datetime(self.times[index % times]);
                if wall < self.dtstart {
                    continue;
                }
                seen += 1;
                if visit(wall) == Flow::Stop || self.count.is_some_and(|count| seen >= count) {
                    return;
                }
            }
            if steps >= MAX_STEPS {
                return;
            }
        }
    }

    /// First day and number of days of period `index`, or `None` past the calendar's end.
    fn period(&self, index: i64) -> Option<(Date, i64)> {
        let step = index.checked_mul(self.interval)?;
        let start = self.dtstart.date();
        match self.freq {
            Freq::Daily => Some((add_days(start, step)?, 1)),
            Freq::Weekly if index == 0 => {
                let skipped = days_between(self.first_week_start(), start);
                Some((start, 7 - skipped))
            }
            Freq::Weekly => Some((add_days(self.first_week_start(), step.checked_mul(7)?)?, 7)),
            Freq::Monthly => {
                let number = month_number(start).checked_add(step)?;
                let year = i16::try_from(number.div_euclid(12)).ok()?;
                let month = (number.rem_euclid(12) + 1) as i8;
                let first = Date::new(year, month, 1).ok()?;
                Some((first, i64::from(first.days_in_month())))
            }
            Freq::Yearly => {
                let year = i16::try_from(i64::from(start.year()).checked_add(step)?).ok()?;
                let first = Date::new(year, 1, 1).ok()?;
                Some((first, i64::from(first.days_in_year())))
            }
        }
    }

    fn first_week_start(&self) -> Date {
        let start = self.dtstart.date();
        let back = (start.weekday().to_monday_zero_offset()
            - self.week_start.to_monday_zero_offset())
        .rem_euclid(7);
        add_days(start, -i64::from(back)).unwrap_or(start)
    }

    /// Positions in the period's sorted (day, time) list that are occurrences, ascending.
    fn selected_indexes(&self, days: usize) -> Vec<usize> {
        let total = days * self.times.len();
        if self.by_set_pos.is_empty() {
            return (0..total).collect();
        }
        let mut picked: Vec<usize> = self
            .by_set_pos
            .iter()
            .filter_map(|&position| {
                let position = i64::from(position);
                let index = if position > 0 {
                    position - 1
                } else {
                    total as i64 + position
                };
                (0..total as i64).contains(&index).then_some(index as usize)
            })
            .collect();
        picked.sort_unstable();
        picked.dedup();
        picked
    }

    fn day_matches(&self, day: Date) -> bool {
        if !self.by_month.is_empty() && !self.by_month.contains(&day.month()) {
            return false;
        }
        if !self.by_month_day.is_empty() {
            let last = day.days_in_month();
            let matches = self.by_month_day.iter().any(|&wanted| {
                if wanted > 0 {
                    day.day() == wanted
                } else {
                    day.day() == last + wanted + 1
                }
            });
            if !matches {
                return false;
            }
        }
        if self.nth_days.is_empty() && !self.plain_days.contains(&true) {
            return true;
        }
        if self.plain_days[day.weekday().to_monday_zero_offset() as usize] {
            return true;
        }
        let within_year = self.freq == Freq::Yearly && self.by_month.is_empty();
        let (position, length) = if within_year {
            (i64::from(day.day_of_year()), i64::from(day.days_in_year()))
        } else {
            (i64::from(day.day()), i64::from(day.days_in_month()))
        };
        let from_start = (position - 1) / 7 + 1;
        let from_end = -((length - position) / 7 + 1);
        self.nth_days.iter().any(|&(n, weekday)| {
            weekday == day.weekday() && (i64::from(n) == from_start || i64::from(n) == from_end)
        })
    }
}

fn add_days(date: Date, days: i64) -> Option<Date> {
    let span = jiff::Span::new().try_days(days).ok()?;
    date.checked_add(span).ok()
}

fn days_between(from: Date, to: Date) -> i64 {
    to.since(from).map_or(0, |span| i64::from(span.get_days()))
}

fn month_number(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month()) - 1
}
