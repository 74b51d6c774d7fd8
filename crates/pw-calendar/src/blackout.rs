//! Blackouts (one-off or recurring periods in which no slot may run) and cutting slots by them.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::recurrence::Recurrence;
use crate::window::Slot;
use crate::zone::{parse_instant_or_local, time_zone};
use crate::{BlackoutSpec, Error};

/// A validated blackout.
#[derive(Debug, Clone, PartialEq)]
pub struct Blackout {
    name: String,
    reason: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Once { start: Timestamp, end: Timestamp },
    Recurring(Box<Recurrence>),
}

/// One concrete blackout period (end exclusive), named so reports can say what cut a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlackoutPeriod {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Name of the blackout.
    pub blackout: String,
    pub reason: String,
}

/// A slot, or the piece of one, that blackouts left unusable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedSlot {
    /// The whole slot (for `Covered`) or the short piece (for `TooShort`).
    pub start: Timestamp,
    pub end: Timestamp,
    pub window: String,
    pub why: DropReason,
}

/// Why a slot or piece was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DropReason {
    /// Blackouts cover the whole slot.
    Covered { by: Vec<BlackoutPeriod> },
    /// What blackouts left of the slot is shorter than the minimum slot length.
    TooShort {
        length: SignedDuration,
        minimum: SignedDuration,
        by: Vec<BlackoutPeriod>,
    },
}

/// Slots after blackouts, plus what was dropped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// Usable slots, sorted by start (then end, then window name).
    pub slots: Vec<Slot>,
    pub dropped: Vec<DroppedSlot>,
}

impl Blackout {
    /// Validates a spec: either `start` + `end`, or `rrule` + `dtstart` + `tz` + `duration`.
    pub fn from_spec(spec: &BlackoutSpec) -> Result<Blackout, Error> {
        let name = match &spec.name {
            Some(name) => check_name(name)?,
            None => "blackout".to_owned(),
        };
        let reason = spec.reason.trim();
        if reason.is_empty() || reason.len() > 500 {
            return Err(Error::shape(
                "reason must be non-empty text of at most 500 bytes",
            ));
        }
        let one_off = spec.start.is_some() || spec.end.is_some();
        let recurring = spec.rrule.is_some() || spec.dtstart.is_some() || spec.duration.is_some();
        let kind = match (one_off, recurring) {
            (true, true) => {
                return Err(Error::shape(
                    "give either start + end (one-off) or rrule + dtstart + tz + duration \
                     (recurring), not both",
                ));
            }
            (false, false) => {
                return Err(Error::shape(
                    "needs start + end (one-off) or rrule + dtstart + tz + duration (recurring)",
                ));
            }
            (true, false) => once(spec)?,
            (false, true) => {
                let missing =
                    |field: &str| Error::shape(format!("recurring blackout needs `{field}`"));
                Kind::Recurring(Box::new(Recurrence::parse(
                    spec.rrule.as_deref().ok_or_else(|| missing("rrule"))?,
                    spec.dtstart.as_deref().ok_or_else(|| missing("dtstart"))?,
                    spec.tz.as_deref().ok_or_else(|| missing("tz"))?,
                    spec.duration
                        .as_deref()
                        .ok_or_else(|| missing("duration"))?,
                )?))
            }
        };
        Ok(Blackout {
            name,
            reason: reason.to_owned(),
            kind,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub(crate) fn with_name(mut self, name: String) -> Blackout {
        self.name = name;
        self
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }

    /// Periods of this blackout that end after `from` and start before `to`, ascending.
    pub fn periods_between(&self, from: Timestamp, to: Timestamp) -> Vec<BlackoutPeriod> {
        let spans = match &self.kind {
            Kind::Once { start, end } if *end > from && *start < to => vec![(*start, *end)],
            Kind::Once { .. } => Vec::new(),
            Kind::Recurring(recurrence) => recurrence.spans_between(from, to),
        };
        spans
            .into_iter()
            .map(|(start, end)| BlackoutPeriod {
                start,
                end,
                blackout: self.name.clone(),
                reason: self.reason.clone(),
            })
            .collect()
    }
}

/// Cuts every slot by the periods that overlap it. Pieces shorter than `minimum` are dropped,
/// as are slots the periods cover entirely; each drop records the periods responsible. Kept
/// pieces carry the periods that cut their slot in [`Slot::cut_by`]. Output is sorted.
pub fn apply_blackouts(
    slots: &[Slot],
    periods: &[BlackoutPeriod],
    minimum: SignedDuration,
) -> Schedule {
    let mut periods: Vec<&BlackoutPeriod> = periods.iter().filter(|p| p.start < p.end).collect();
    periods.sort_by_key(|p| (p.start, p.end));
    let mut schedule = Schedule::default();
    for slot in slots {
        let hits: Vec<BlackoutPeriod> = periods
            .iter()
            .filter(|p| p.start < slot.end && p.end > slot.start)
            .map(|p| (*p).clone())
            .collect();
        if hits.is_empty() {
            if slot.length() >= minimum {
                schedule.slots.push(slot.clone());
            } else {
                schedule
                    .dropped
                    .push(drop_short(slot, slot.start, slot.end, minimum, hits));
            }
            continue;
        }
        let pieces = uncovered(slot.start, slot.end, &hits);
        if pieces.is_empty() {
            schedule.dropped.push(DroppedSlot {
                start: slot.start,
                end: slot.end,
                window: slot.window.clone(),
                why: DropReason::Covered { by: hits },
            });
            continue;
        }
        for (start, end) in pieces {
            if start.duration_until(end) < minimum {
                schedule
                    .dropped
                    .push(drop_short(slot, start, end, minimum, hits.clone()));
            } else {
                let mut cut_by = slot.cut_by.clone();
                cut_by.extend(hits.iter().cloned());
                schedule.slots.push(Slot {
                    start,
                    end,
                    window: slot.window.clone(),
                    cut_by,
                });
            }
        }
    }
    schedule
        .slots
        .sort_by(|a, b| (a.start, a.end, &a.window).cmp(&(b.start, b.end, &b.window)));
    schedule
        .dropped
        .sort_by(|a, b| (a.start, a.end, &a.window).cmp(&(b.start, b.end, &b.window)));
    schedule
}

/// Checks a window or blackout name: 1–100 bytes, no control characters.
pub(crate) fn check_name(name: &str) -> Result<String, Error> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.len() > 100 || trimmed.chars().any(char::is_control) {
        return Err(Error::shape(format!(
            "name {name:?} must be 1 to 100 bytes without control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

fn once(spec: &BlackoutSpec) -> Result<Kind, Error> {
    let (Some(start_text), Some(end_text)) = (&spec.start, &spec.end) else {
        let missing = if spec.start.is_none() { "start" } else { "end" };
        return Err(Error::shape(format!("one-off blackout needs `{missing}`")));
    };
    let zone: Option<TimeZone> = spec.tz.as_deref().map(time_zone).transpose()?;
    let start = parse_instant_or_local("start", start_text, zone.as_ref())?;
    let end = parse_instant_or_local("end", end_text, zone.as_ref())?;
    if end <= start {
        return Err(Error::time(
            "end",
            end_text,
            format!("must be after start {start_text:?} ({start})"),
        ));
    }
    if start.duration_until(end).as_secs() > 3 * 366 * 86_400 {
        return Err(Error::time(
            "end",
            end_text,
            "a one-off blackout may last at most 3 years",
        ));
    }
    Ok(Kind::Once { start, end })
}

fn drop_short(
    slot: &Slot,
    start: Timestamp,
    end: Timestamp,
    minimum: SignedDuration,
    by: Vec<BlackoutPeriod>,
) -> DroppedSlot {
    DroppedSlot {
        start,
        end,
        window: slot.window.clone(),
        why: DropReason::TooShort {
            length: start.duration_until(end),
            minimum,
            by,
        },
    }
}

/// Parts of `[start, end)` outside every period in `hits` (sorted by start).
fn uncovered(
    start: Timestamp,
    end: Timestamp,
    hits: &[BlackoutPeriod],
) -> Vec<(Timestamp, Timestamp)> {
    let mut pieces = Vec::new();
    let mut cursor = start;
    for hit in hits {
        if hit.start > cursor {
            pieces.push((cursor, hit.start.min(end)));
        }
        cursor = cursor.max(hit.end);
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        pieces.push((cursor, end));
    }
    pieces
}
