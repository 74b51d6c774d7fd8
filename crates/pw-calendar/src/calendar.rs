//! A group's validated windows and blackouts, and its usable slots over a time range.

use jiff::{SignedDuration, Timestamp};

use crate::blackout::{Schedule, apply_blackouts};
use crate::{Blackout, CalendarSpec, Error, Window};

/// Validated windows and blackouts of one group. Names are unique within each list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendar {
    windows: Vec<Window>,
    blackouts: Vec<Blackout>,
}

impl Calendar {
    /// Validates every window and blackout and reports all problems at once
    /// ([`Error::Several`]), each with its position, e.g. `windows[1] "sunday": rrule …`.
    /// Unnamed windows are called `window-<n>`, unnamed blackouts `blackout-<n>` (1-based).
    pub fn from_spec(spec: &CalendarSpec) -> Result<Calendar, Error> {
        let mut errors = Vec::new();
        let mut windows: Vec<Window> = Vec::new();
        for (index, window_spec) in spec.windows.iter().enumerate() {
            let path = position("windows", index, window_spec.name.as_deref());
            match Window::from_spec(window_spec) {
                Ok(window) => {
                    let window = match &window_spec.name {
                        Some(_) => window,
                        None => window.with_name(format!("window-{}", index + 1)),
                    };
                    if windows.iter().any(|seen| seen.name() == window.name()) {
                        errors.push(Error::shape("duplicate window name").at(path));
                    } else {
                        windows.push(window);
                    }
                }
                Err(error) => errors.push(error.at(path)),
            }
        }
        let mut blackouts: Vec<Blackout> = Vec::new();
        for (index, blackout_spec) in spec.blackouts.iter().enumerate() {
            let path = position("blackouts", index, blackout_spec.name.as_deref());
            match Blackout::from_spec(blackout_spec) {
                Ok(blackout) => {
                    let blackout = match &blackout_spec.name {
                        Some(_) => blackout,
                        None => blackout.with_name(format!("blackout-{}", index + 1)),
                    };
                    if blackouts.iter().any(|seen| seen.name() == blackout.name()) {
                        errors.push(Error::shape("duplicate blackout name").at(path));
                    } else {
                        blackouts.push(blackout);
                    }
                }
                Err(error) => errors.push(error.at(path)),
            }
        }
        match errors.len() {
            0 => Ok(Calendar { windows, blackouts }),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Several(errors)),
        }
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    pub fn blackouts(&self) -> &[Blackout] {
        &self.blackouts
    }

    /// Slots of all windows that end after `from` and start before `to`, cut by the blackouts;
    /// pieces shorter than `minimum` are dropped with the reason. Slots of different windows may
    /// overlap each other; slots of one window never do.
    pub fn slots_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        minimum: SignedDuration,
    ) -> Schedule {
        let slots: Vec<_> = self
            .windows
            .iter()
            .flat_map(|window| window.slots_between(from, to))
            .collect();
        let (Some(first), Some(last)) = (
            slots.iter().map(|slot| slot.start).min(),
            slots.iter().map(|slot| slot.end).max(),
        ) else {
            return Schedule::default();
        };
        let periods: Vec<_> = self
            .blackouts
            .iter()
            .flat_map(|blackout| blackout.periods_between(first, last))
            .collect();
        apply_blackouts(&slots, &periods, minimum)
    }

    /// The first usable slot (after blackouts, at least `minimum` long) that ends after `from`,
    /// searching at most `horizon` ahead.
    pub fn next_slot(
        &self,
        from: Timestamp,
        minimum: SignedDuration,
        horizon: SignedDuration,
    ) -> Option<crate::Slot> {
        let step = SignedDuration::from_hours(24 * 31);
        let limit = from.checked_add(horizon).unwrap_or(Timestamp::MAX);
        let mut start = from;
        while start < limit {
            let end = start.checked_add(step).unwrap_or(Timestamp::MAX).min(limit);
            let schedule = self.slots_between(start, end, minimum);
            if let Some(slot) = schedule.slots.into_iter().find(|slot| slot.end > from) {
                return Some(slot);
            }
            start = end;
        }
        None
    }
}

fn position(list: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{list}[{index}] {name:?}"),
        None => format!("{list}[{index}]"),
    }
}
