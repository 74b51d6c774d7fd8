//! A validated rule + DTSTART + zone + duration, shared by windows and recurring blackouts:
//! distinct occurrence instants and the time spans they cover.

use std::collections::BTreeSet;

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::Error;
use crate::duration::parse_duration;
use crate::expand::{Expansion, Flow};
use crate::rule::{Rule, Until};
use crate::zone::{local_to_instant, parse_local, time_zone};

/// Most occurrence starts one query returns.
pub const MAX_RESULTS: usize = 10_000;
/// Most slots one `slots_between` query returns.
pub const MAX_SLOTS: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recurrence {
    pub rule: Rule,
    expansion: Expansion,
    pub dtstart: DateTime,
    pub zone: TimeZone,
    pub duration: SignedDuration,
    /// UNTIL as an instant (a floating UNTIL resolved in `zone`).
    pub until: Option<Timestamp>,
}

impl Recurrence {
    /// Validates the four texts; each error names its field. `rrule_text` may carry `RRULE:`.
    pub fn parse(
        rrule_text: &str,
        dtstart_text: &str,
        tz_text: &str,
        duration_text: &str,
    ) -> Result<Recurrence, Error> {
        let rule = Rule::parse(rrule_text)?;
        let dtstart = parse_local("dtstart", dtstart_text)?;
        let zone = time_zone(tz_text)?;
        let duration = parse_duration("duration", duration_text)?;
        let until = match rule.until {
            None => None,
            Some(Until::Utc(instant)) => Some(instant),
            Some(Until::Local(local)) => Some(local_to_instant("rrule UNTIL", local, &zone)?),
        };
        local_to_instant("dtstart", dtstart, &zone)?;
        let recurrence = Recurrence {
            expansion: Expansion::new(&rule, dtstart),
            rule,
            dtstart,
            zone,
            duration,
            until,
        };
        if recurrence.starts(Timestamp::MIN, None, 1).is_empty() {
            return Err(Error::rule(
                rrule_text,
                format!(
                    "the rule has no occurrence from dtstart {dtstart} on (check UNTIL and that \
                     the BY* parts can meet, e.g. BYMONTH=2 with BYMONTHDAY=30 never does)"
                ),
            ));
        }
        Ok(recurrence)
    }

    /// The rule in canonical form, with UNTIL in UTC.
    pub fn rule_text(&self) -> String {
        self.rule.render(self.until)
    }

    /// Whether DTSTART itself is an occurrence (RFC 5545 wants DTSTART synchronised with the
    /// rule; when it is not, DTSTART is not added as an extra occurrence, as in python-dateutil).
    pub fn dtstart_is_occurrence(&self) -> bool {
        let mut first = None;
        self.expansion.walk(0, |wall| {
            first = Some(wall);
            Flow::Stop
        });
        first == Some(self.dtstart)
    }

    /// Distinct occurrence instants `>= from` (and `< before`, if given), ascending, at most
    /// `max` of them.
    pub fn starts(&self, from: Timestamp, before: Option<Timestamp>, max: usize) -> Vec<Timestamp> {
        let max = max.min(MAX_SLOTS);
        let mut found = BTreeSet::new();
        if max == 0 || before.is_some_and(|before| before <= from) {
            return Vec::new();
        }
        // Start the walk in the period two days before `from` (more than any UTC offset).
        let early = from
            .checked_sub(SignedDuration::from_hours(50))
            .unwrap_or(from);
        let first = self
            .expansion
            .period_at_or_before(early.to_zoned(self.zone.clone()).date());
        // No zone is more than 26 h from UTC, so no later wall time maps below this floor.
        let slack = SignedDuration::from_hours(26);
        self.expansion.walk(first, |wall| {
            let Some(floor) = Offset::UTC
                .to_timestamp(wall)
                .ok()
                .and_then(|t| t.checked_sub(slack).ok())
            else {
                return Flow::Stop;
            };
            if before.is_some_and(|before| floor >= before)
                || (found.len() >= max && found.last().is_some_and(|last| floor > *last))
            {
                return Flow::Stop;
            }
            let Ok(instant) = local_to_instant("occurrence", wall, &self.zone) else {
                return Flow::Stop;
            };
            if self.until.is_some_and(|until| instant > until) {
                return Flow::Stop;
            }
            if instant >= from && before.is_none_or(|before| instant < before) {
                found.insert(instant);
                if found.len() > max {
                    found.pop_last();
                }
            }
            Flow::Continue
        });
        found.into_iter().collect()
    }

    /// `[start, start + duration)` spans that end after `from` and start before `to`, ascending;
    /// spans of one series that overlap (duration longer than the gap) are merged.
    pub fn spans_between(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let early = from.checked_sub(self.duration).unwrap_or(Timestamp::MIN);
        let mut spans: Vec<(Timestamp, Timestamp)> = Vec::new();
        for start in self.starts(early, Some(to), MAX_SLOTS) {
            let end = start.checked_add(self.duration).unwrap_or(Timestamp::MAX);
            if end <= from {
                continue;
            }
            match spans.last_mut() {
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => spans.push((start, end)),
            }
        }
        spans
    }
}
