//! Maintenance windows: validated [`Window`]s, their occurrence starts and [`Slot`]s.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::blackout::BlackoutPeriod;
use crate::recurrence::{MAX_RESULTS, Recurrence};
use crate::{Error, WindowSpec};

/// A validated maintenance window: a recurrence rule in local time plus a duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    name: String,
    recurrence: Recurrence,
}

/// One occurrence of a window as a UTC time span (end exclusive), possibly cut by blackouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Name of the window this slot belongs to.
    pub window: String,
    /// Blackouts that cut this slot (empty for an untouched occurrence).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cut_by: Vec<BlackoutPeriod>,
}

impl Slot {
    pub fn length(&self) -> SignedDuration {
        self.start.duration_until(self.end)
    }
}

impl Window {
    /// Validates a spec. An unnamed window is called `window`; [`crate::Calendar`] numbers them.
    pub fn from_spec(spec: &WindowSpec) -> Result<Window, Error> {
        let name = match &spec.name {
            Some(name) => crate::blackout::check_name(name)?,
            None => "window".to_owned(),
        };
        let recurrence = Recurrence::parse(&spec.rrule, &spec.dtstart, &spec.tz, &spec.duration)?;
        Ok(Window { name, recurrence })
    }

    /// Builds a window from its parts (as the CLI's `windows next` does).
    pub fn new(
        name: &str,
        rrule: &str,
        dtstart: &str,
        tz: &str,
        duration: &str,
    ) -> Result<Window, Error> {
        Window::from_spec(&WindowSpec {
            name: Some(name.to_owned()),
            rrule: rrule.to_owned(),
            dtstart: dtstart.to_owned(),
            tz: tz.to_owned(),
            duration: duration.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn with_name(mut self, name: String) -> Window {
        self.name = name;
        self
    }

    /// The rule in canonical form without `RRULE:`; a floating UNTIL is rendered in UTC.
    pub fn rrule(&self) -> String {
        self.recurrence.rule_text()
    }

    pub fn dtstart(&self) -> DateTime {
        self.recurrence.dtstart
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.recurrence.zone
    }

    pub fn duration(&self) -> SignedDuration {
        self.recurrence.duration
    }

    /// Whether DTSTART matches the rule (if not, it is not an occurrence; worth a warning).
    pub fn dtstart_is_occurrence(&self) -> bool {
        self.recurrence.dtstart_is_occurrence()
    }

    /// The first `count` distinct occurrence starts at or after `from`, ascending. Fewer when
    /// COUNT or UNTIL ends the series; `count` is capped at 10,000.
    pub fn next_starts(&self, from: Timestamp, count: usize) -> Vec<Timestamp> {
        self.recurrence.starts(from, None, count.min(MAX_RESULTS))
    }

    /// Slots that end after `from` and start before `to`, ascending (at most 100,000). Slots of
    /// one window never overlap: occurrences closer together than the duration are merged.
    pub fn slots_between(&self, from: Timestamp, to: Timestamp) -> Vec<Slot> {
        self.recurrence
            .spans_between(from, to)
            .into_iter()
            .map(|(start, end)| Slot {
                start,
                end,
                window: self.name.clone(),
                cut_by: Vec::new(),
            })
            .collect()
    }

    pub(crate) fn recurrence(&self) -> &Recurrence {
        &self.recurrence
    }
}
