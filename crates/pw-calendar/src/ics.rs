//! iCalendar (RFC 5545) export of windows and blackouts, for calendar apps to subscribe to.
//!
//! One VEVENT per window (`DTSTART;TZID=` local start + `DURATION` + `RRULE`) and per blackout
//! (`CATEGORIES:BLACKOUT`, `TRANSP:TRANSPARENT`; one-off blackouts as UTC `DTSTART`/`DTEND`).
//! Every TZID used gets a VTIMEZONE listing the zone's real transitions from a year before the
//! earliest DTSTART to 20 years after the latest, so clients without IANA data (Outlook) agree
//! with those that have it (Google, Apple, Thunderbird read the IANA name in TZID). Output is
//! deterministic: UIDs hash the calendar name and the event's content, and DTSTAMP is the
//! event's first start (this crate reads no clock). Lines end in CRLF and are folded at 75
//! octets without splitting a UTF-8 character.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::blackout::Kind;
use crate::recurrence::Recurrence;
use crate::zone::zone_name;
use crate::{Blackout, Window};

/// Renders a VCALENDAR named `calendar_name` holding `windows` and `blackouts`.
pub fn to_ics(calendar_name: &str, windows: &[Window], blackouts: &[Blackout]) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//patchwarden//pw-calendar//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        format!("X-WR-CALNAME:{}", escape(calendar_name)),
    ];
    // Zone name -> (zone, earliest and latest DTSTART instants).
    let mut zones: BTreeMap<String, (TimeZone, Timestamp, Timestamp)> = BTreeMap::new();
    let recurrences = windows
        .iter()
        .map(Window::recurrence)
        .chain(blackouts.iter().filter_map(|b| match b.kind() {
            Kind::Recurring(recurrence) => Some(recurrence.as_ref()),
            Kind::Once { .. } => None,
        }));
    for recurrence in recurrences {
        let first = first_instant(recurrence);
        let entry = zones
            .entry(zone_name(&recurrence.zone).to_owned())
            .or_insert((recurrence.zone.clone(), first, first));
        entry.1 = entry.1.min(first);
        entry.2 = entry.2.max(first);
    }
    for (name, (zone, earliest, latest)) in &zones {
        vtimezone(&mut lines, name, zone, *earliest, *latest);
    }
    for window in windows {
        let recurrence = window.recurrence();
        let summary = format!("Maintenance window: {}", window.name());
        let description = format!(
            "patchwarden maintenance window {:?} of {calendar_name:?}: {} for {} from {} ({}).",
            window.name(),
            recurrence.rule_text(),
            crate::duration::format_duration(recurrence.duration),
            recurrence.dtstart,
            zone_name(&recurrence.zone),
        );
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!(
            "UID:{}",
            uid(calendar_name, "window", window.name(), recurrence)
        ));
        recurring_event(&mut lines, recurrence);
        lines.push(format!("SUMMARY:{}", escape(&summary)));
        lines.push(format!("DESCRIPTION:{}", escape(&description)));
        lines.push("CATEGORIES:MAINTENANCE".into());
        lines.push("TRANSP:OPAQUE".into());
        lines.push("END:VEVENT".into());
    }
    for blackout in blackouts {
        lines.push("BEGIN:VEVENT".into());
        match blackout.kind() {
            Kind::Recurring(recurrence) => {
                let id = uid(calendar_name, "blackout", blackout.name(), recurrence);
                lines.push(format!("UID:{id}"));
                recurring_event(&mut lines, recurrence);
            }
            Kind::Once { start, end } => {
                let content = format!(
                    "{calendar_name}\0blackout\0{}\0{start}\0{end}",
                    blackout.name()
                );
                lines.push(format!("UID:{}", hash_uid(&content)));
                lines.push(format!("DTSTAMP:{}", utc(*start)));
                lines.push(format!("DTSTART:{}", utc(*start)));
                lines.push(format!("DTEND:{}", utc(*end)));
            }
        }
        lines.push(format!(
            "SUMMARY:{}",
            escape(&format!("Blackout: {}", blackout.reason()))
        ));
        lines.push(format!(
            "DESCRIPTION:{}",
            escape(&format!(
                "patchwarden blackout {:?} of {calendar_name:?}: no maintenance may run. Reason: {}",
                blackout.name(),
                blackout.reason()
            ))
        ));
        lines.push("CATEGORIES:BLACKOUT".into());
        lines.push("TRANSP:TRANSPARENT".into());
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for line in &lines {
        fold_into(&mut out, line);
    }
    out
}

fn recurring_event(lines: &mut Vec<String>, recurrence: &Recurrence) {
    lines.push(format!("DTSTAMP:{}", utc(first_instant(recurrence))));
    lines.push(format!(
        "DTSTART;TZID={}:{}",
        zone_name(&recurrence.zone),
        recurrence.dtstart.strftime("%Y%m%dT%H%M%S")
    ));
    lines.push(format!("DURATION:{}", ics_duration(recurrence.duration)));
    lines.push(format!("RRULE:{}", recurrence.rule_text()));
}

fn first_instant(recurrence: &Recurrence) -> Timestamp {
    crate::zone::local_to_instant("dtstart", recurrence.dtstart, &recurrence.zone)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn uid(calendar: &str, kind: &str, name: &str, recurrence: &Recurrence) -> String {
    let content = format!(
        "{calendar}\0{kind}\0{name}\0{}\0{}\0{}\0{}",
        recurrence.rule_text(),
        recurrence.dtstart,
        zone_name(&recurrence.zone),
        recurrence.duration.as_secs()
    );
    hash_uid(&content)
}

fn hash_uid(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let mut hex = String::new();
    for byte in &digest[..16] {
        let _ = write!(hex, "{byte:02x}");
    }
    format!("{hex}@patchwarden")
}

/// VTIMEZONE with the observance in force at the range start plus every transition after it.
fn vtimezone(
    lines: &mut Vec<String>,
    name: &str,
    zone: &TimeZone,
    earliest: Timestamp,
    latest: Timestamp,
) {
    let year = SignedDuration::from_hours(24 * 366);
    let begin = earliest.checked_sub(year).unwrap_or(earliest);
    let end = latest.checked_add(year * 20).unwrap_or(latest);
    lines.push("BEGIN:VTIMEZONE".into());
    lines.push(format!("TZID:{name}"));
    let info = zone.to_offset_info(begin);
    let local_begin = begin.to_zoned(TimeZone::fixed(info.offset())).datetime();
    observance(
        lines,
        info.dst().is_dst(),
        local_begin,
        info.offset(),
        info.offset(),
        info.abbreviation(),
    );
    let mut previous = info.offset();
    for transition in zone.following(begin) {
        if transition.timestamp() > end {
            break;
        }
        let local = transition
            .timestamp()
            .to_zoned(TimeZone::fixed(previous))
            .datetime();
        let dst = transition.dst().is_dst();
        observance(
            lines,
            dst,
            local,
            previous,
            transition.offset(),
            transition.abbreviation(),
        );
        previous = transition.offset();
    }
    lines.push("END:VTIMEZONE".into());
}

fn observance(
    lines: &mut Vec<String>,
    dst: bool,
    local: jiff::civil::DateTime,
    from: Offset,
    to: Offset,
    abbreviation: &str,
) {
    let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
    lines.push(format!("BEGIN:{kind}"));
    lines.push(format!("DTSTART:{}", local.strftime("%Y%m%dT%H%M%S")));
    lines.push(format!("TZOFFSETFROM:{}", ics_offset(from)));
    lines.push(format!("TZOFFSETTO:{}", ics_offset(to)));
    lines.push(format!("TZNAME:{}", escape(abbreviation)));
    lines.push(format!("END:{kind}"));
}

fn ics_offset(offset: Offset) -> String {
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.unsigned_abs();
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if rest == 0 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}{rest:02}")
    }
}

/// Exact duration (`PT4H`, `PT1H30M`, `PT48H`); `P1D` would be a nominal day in local time.
fn ics_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::from("PT");
    if hours > 0 {
        let _ = write!(out, "{hours}H");
    }
    if minutes > 0 {
        let _ = write!(out, "{minutes}M");
    }
    if rest > 0 || out == "PT" {
        let _ = write!(out, "{rest}S");
    }
    out
}

fn utc(instant: Timestamp) -> String {
    instant.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping of RFC 5545 §3.3.11.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (continuations start with a space), each with CRLF.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}
