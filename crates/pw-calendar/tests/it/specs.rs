//! Validation of window and calendar specs: precise errors, caps, COUNT/UNTIL, DTSTART rules.

use jiff::Timestamp;
use pw_calendar::{Calendar, CalendarSpec, Error, Window, WindowSpec};

use crate::{at, show};

fn window(rule: &str, dtstart: &str, tz: &str, duration: &str) -> Result<Window, Error> {
    Window::new("w", rule, dtstart, tz, duration)
}

fn check_err(rule: &str, dtstart: &str, tz: &str, duration: &str, expected: &str) {
    let message = window(rule, dtstart, tz, duration).unwrap_err().to_string();
    assert!(
        message.contains(expected),
        "{rule} {dtstart} {tz} {duration}: {message}"
    );
}

#[test]
fn each_bad_field_is_named_with_its_value() {
    let (rule, dtstart, tz, duration) =
        ("FREQ=DAILY", "2026-03-01T02:30:00", "Europe/Berlin", "4h");
    check_err(
        "FREQ=DAILY;BYMONTH=13",
        dtstart,
        tz,
        duration,
        "rrule \"FREQ=DAILY;BYMONTH=13\": BYMONTH=13: 13 is outside 1..=12",
    );
    check_err(
        rule,
        "2026-03-01",
        tz,
        duration,
        "dtstart \"2026-03-01\": expected a local date-time",
    );
    check_err(
        rule,
        dtstart,
        "Berlin",
        duration,
        "tz \"Berlin\": unknown IANA time zone",
    );
    check_err(
        rule,
        dtstart,
        tz,
        "4 hours",
        "duration \"4 hours\": unexpected ' '",
    );
    check_err(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        dtstart,
        tz,
        duration,
        "has no occurrence",
    );
    check_err(
        "FREQ=DAILY;UNTIL=20260101T000000Z",
        dtstart,
        tz,
        duration,
        "has no occurrence",
    );
}

#[test]
fn count_and_until_end_the_series() {
    let counted = window("FREQ=DAILY;COUNT=3", "2026-03-01T02:30:00", "UTC", "1h").unwrap();
    assert_eq!(
        show(&counted.next_starts(Timestamp::MIN, 10)),
        [
            "2026-03-01T02:30:00Z",
            "2026-03-02T02:30:00Z",
            "2026-03-03T02:30:00Z"
        ]
    );
    assert!(
        counted
            .next_starts(at("2026-03-03T02:30:01Z"), 10)
            .is_empty()
    );
    // UNTIL is inclusive and absolute: 02:30 Berlin on 2026-03-02 is 01:30Z.
    let until = window(
        "FREQ=DAILY;UNTIL=20260302T013000Z",
        "2026-03-01T02:30:00",
        "Europe/Berlin",
        "1h",
    )
    .unwrap();
    assert_eq!(
        show(&until.next_starts(Timestamp::MIN, 10)),
        ["2026-03-01T01:30:00Z", "2026-03-02T01:30:00Z"]
    );
    let before = window(
        "FREQ=DAILY;UNTIL=20260302T012959Z",
        "2026-03-01T02:30:00",
        "Europe/Berlin",
        "1h",
    )
    .unwrap();
    assert_eq!(before.next_starts(Timestamp::MIN, 10).len(), 1);
}

#[test]
fn unsynchronised_dtstart_is_not_an_extra_occurrence() {
    // 2026-03-01 is a Sunday; the rule wants Saturdays.
    let w = window("FREQ=WEEKLY;BYDAY=SA", "2026-03-01T02:30:00", "UTC", "1h").unwrap();
    assert!(!w.dtstart_is_occurrence());
    assert_eq!(
        show(&w.next_starts(Timestamp::MIN, 1)),
        ["2026-03-07T02:30:00Z"]
    );
    let synced = window("FREQ=WEEKLY;BYDAY=SU", "2026-03-01T02:30:00", "UTC", "1h").unwrap();
    assert!(synced.dtstart_is_occurrence());
}

#[test]
fn queries_are_bounded() {
    let w = window("FREQ=DAILY", "2026-01-01T00:00:00", "UTC", "1h").unwrap();
    assert_eq!(
        w.next_starts(Timestamp::MIN, usize::MAX).len(),
        pw_calendar::MAX_RESULTS
    );
    assert!(w.next_starts(Timestamp::MIN, 0).is_empty());
    // Far in the future: the walk skips ahead instead of stepping from 2026.
    assert_eq!(
        show(&w.next_starts(at("9000-06-01T12:00:00Z"), 1)),
        ["9000-06-02T00:00:00Z"]
    );
    // The end of the calendar (year 9999) ends the series without error.
    assert!(w.next_starts(at("9999-12-30T00:00:01Z"), 3).is_empty());
    // A rule that matches once every 28 years (Feb 29 on a Monday) is still found.
    let rare = window(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
        "2044-02-29T00:00:00",
        "UTC",
        "1h",
    )
    .unwrap();
    assert_eq!(
        show(&rare.next_starts(at("2045-01-01T00:00:00Z"), 1)),
        ["2072-02-29T00:00:00Z"]
    );
    assert!(matches!(
        window(
            &format!("FREQ=DAILY;BYHOUR={}", "1,".repeat(600)),
            "2026-01-01T00:00:00",
            "UTC",
            "1h"
        ),
        Err(Error::Rule { .. })
    ));
}

#[test]
fn overlapping_occurrences_of_one_window_merge_into_one_slot() {
    let w = window(
        "FREQ=DAILY;BYHOUR=1,3;BYMINUTE=0",
        "2026-01-01T01:00:00",
        "UTC",
        "3h",
    )
    .unwrap();
    let slots = w.slots_between(at("2026-01-01T00:00:00Z"), at("2026-01-01T23:00:00Z"));
    assert_eq!(slots.len(), 1);
    assert_eq!(
        show(&[slots[0].start, slots[0].end]),
        ["2026-01-01T01:00:00Z", "2026-01-01T06:00:00Z"]
    );
}

#[test]
fn slots_between_includes_a_slot_already_running_at_from() {
    let w = window(
        "FREQ=DAILY;BYHOUR=23;BYMINUTE=0",
        "2026-01-01T23:00:00",
        "UTC",
        "4h",
    )
    .unwrap();
    let slots = w.slots_between(at("2026-01-02T01:00:00Z"), at("2026-01-02T23:00:00Z"));
    assert_eq!(show(&[slots[0].start]), ["2026-01-01T23:00:00Z"]);
    assert_eq!(
        slots.len(),
        1,
        "the slot starting exactly at `to` is excluded"
    );
    assert!(
        w.slots_between(at("2026-01-02T03:00:00Z"), at("2026-01-02T22:59:59Z"))
            .is_empty()
    );
}

#[test]
fn calendar_reports_every_problem_with_its_position() {
    let spec: CalendarSpec = toml::from_str(
        r#"
        windows = [
          { name = "a", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "1h" },
          { name = "a", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "1h" },
          { rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "Nowhere/City", duration = "1h" },
        ]
        blackouts = [ { name = "x", reason = "r", start = "2026-01-01T00:00:00Z" } ]
        "#,
    )
    .unwrap();
    let error = Calendar::from_spec(&spec).unwrap_err();
    let Error::Several(errors) = &error else {
        panic!("{error}")
    };
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "windows[1] \"a\": duplicate window name",
            "windows[2]: tz \"Nowhere/City\": unknown IANA time zone (expected e.g. \"Europe/Berlin\", \"America/New_York\", \"UTC\")",
            "blackouts[0] \"x\": one-off blackout needs `end`",
        ]
    );
}

#[test]
fn names_default_by_position() {
    let spec = CalendarSpec {
        windows: vec![WindowSpec {
            name: None,
            rrule: "FREQ=DAILY".into(),
            dtstart: "2026-01-01T00:00:00".into(),
            tz: "UTC".into(),
            duration: "1h".into(),
        }],
        blackouts: Vec::new(),
    };
    let calendar = Calendar::from_spec(&spec).unwrap();
    assert_eq!(calendar.windows()[0].name(), "window-1");
    assert_eq!(
        Window::from_spec(&spec.windows[0]).unwrap().name(),
        "window"
    );
}
