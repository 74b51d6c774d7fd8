//! Cutting slots by blackouts: pieces outside them survive, short pieces and covered slots are
//! dropped with their reason, windows crossing midnight on DST nights included.

use jiff::SignedDuration;
use pw_calendar::{
    Blackout, BlackoutPeriod, BlackoutSpec, Calendar, CalendarSpec, DropReason, Slot,
    apply_blackouts,
};

use crate::{at, show};

fn slot(start: &str, end: &str) -> Slot {
    Slot {
        start: at(start),
        end: at(end),
        window: "w".into(),
        cut_by: Vec::new(),
    }
}

fn period(name: &str, start: &str, end: &str) -> BlackoutPeriod {
    BlackoutPeriod {
        start: at(start),
        end: at(end),
        blackout: name.into(),
        reason: format!("{name} reason"),
    }
}

fn pieces(slots: &[Slot]) -> Vec<(String, String)> {
    slots
        .iter()
        .map(|s| (show(&[s.start])[0].clone(), show(&[s.end])[0].clone()))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[test]
fn cuts_middle_edges_and_whole() {
    let slots = [
        slot("2026-01-01T00:00:00Z", "2026-01-01T04:00:00Z"),
        slot("2026-01-02T00:00:00Z", "2026-01-02T04:00:00Z"),
        slot("2026-01-03T00:00:00Z", "2026-01-03T04:00:00Z"),
        slot("2026-01-04T00:00:00Z", "2026-01-04T04:00:00Z"),
    ];
    let periods = [
        period("middle", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"),
        period("head", "2026-01-01T23:00:00Z", "2026-01-02T01:00:00Z"),
        period("tail-a", "2026-01-02T03:00:00Z", "2026-01-02T03:30:00Z"),
        period("tail-b", "2026-01-02T03:15:00Z", "2026-01-02T05:00:00Z"),
        period("all", "2026-01-03T00:00:00Z", "2026-01-03T04:00:00Z"),
        period("elsewhere", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"),
    ];
    let schedule = apply_blackouts(&slots, &periods, SignedDuration::ZERO);
    assert_eq!(
        pieces(&schedule.slots),
        [
            pair("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
            pair("2026-01-01T02:00:00Z", "2026-01-01T04:00:00Z"),
            pair("2026-01-02T01:00:00Z", "2026-01-02T03:00:00Z"),
            pair("2026-01-04T00:00:00Z", "2026-01-04T04:00:00Z"),
        ]
    );
    assert_eq!(schedule.slots[0].cut_by[0].blackout, "middle");
    let names: Vec<_> = schedule.slots[2]
        .cut_by
        .iter()
        .map(|p| p.blackout.as_str())
        .collect();
    assert_eq!(names, ["head", "tail-a", "tail-b"]);
    assert!(schedule.slots[3].cut_by.is_empty());
    assert_eq!(schedule.dropped.len(), 1);
    let DropReason::Covered { by } = &schedule.dropped[0].why else {
        panic!("{:?}", schedule.dropped)
    };
    assert_eq!(by[0].reason, "all reason");
}

#[test]
fn pieces_shorter_than_the_minimum_are_dropped_with_reason() {
    let slots = [slot("2026-01-01T00:00:00Z", "2026-01-01T04:00:00Z")];
    let periods = [period(
        "late",
        "2026-01-01T00:20:00Z",
        "2026-01-01T03:00:00Z",
    )];
    let schedule = apply_blackouts(&slots, &periods, SignedDuration::from_mins(30));
    assert_eq!(
        pieces(&schedule.slots),
        [pair("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z")]
    );
    let dropped = &schedule.dropped[0];
    assert_eq!(
        (dropped.start, dropped.end),
        (at("2026-01-01T00:00:00Z"), at("2026-01-01T00:20:00Z"))
    );
    match &dropped.why {
        DropReason::TooShort {
            length,
            minimum,
            by,
        } => {
            assert_eq!(*length, SignedDuration::from_mins(20));
            assert_eq!(*minimum, SignedDuration::from_mins(30));
            assert_eq!(by[0].blackout, "late");
        }
        other => panic!("{other:?}"),
    }
    // Without blackouts a slot shorter than the minimum is dropped too, with no culprit.
    let schedule = apply_blackouts(&slots, &[], SignedDuration::from_hours(5));
    assert!(schedule.slots.is_empty());
    assert!(matches!(&schedule.dropped[0].why, DropReason::TooShort { by, .. } if by.is_empty()));
}

fn calendar(text: &str) -> Calendar {
    let spec: CalendarSpec = toml::from_str(text).unwrap();
    Calendar::from_spec(&spec).unwrap()
}

#[test]
fn local_blackout_cuts_a_window_crossing_midnight_on_the_fall_back_night() {
    // Window: Saturday 23:00 Berlin for 4h = 21:00Z-01:00Z on 2026-10-24/25.
    // Blackout 01:00-02:30 local on the 25th: 01:00 is CEST (23:00Z); 02:30 is ambiguous and
    // means its first occurrence (CEST, 00:30Z).
    let calendar = calendar(
        r#"
        windows = [ { name = "sat", rrule = "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0",
                      dtstart = "2026-10-17T23:00:00", tz = "Europe/Berlin", duration = "4h" } ]
        blackouts = [ { name = "batch", reason = "nightly batch jobs", start = "2026-10-25T01:00:00",
                        end = "2026-10-25T02:30:00", tz = "Europe/Berlin" } ]
        "#,
    );
    let schedule = calendar.slots_between(
        at("2026-10-24T00:00:00Z"),
        at("2026-10-25T12:00:00Z"),
        SignedDuration::from_hours(1),
    );
    assert_eq!(
        pieces(&schedule.slots),
        [pair("2026-10-24T21:00:00Z", "2026-10-24T23:00:00Z")]
    );
    assert_eq!(schedule.slots[0].window, "sat");
    assert_eq!(
        (schedule.dropped[0].start, schedule.dropped[0].end),
        (at("2026-10-25T00:30:00Z"), at("2026-10-25T01:00:00Z"))
    );
}

#[test]
fn recurring_blackouts_cut_each_occurrence() {
    let calendar = calendar(
        r#"
        [[windows]]
        name = "nightly"
        rrule = "FREQ=DAILY;BYHOUR=22;BYMINUTE=0"
        dtstart = "2026-01-01T22:00:00"
        tz = "Asia/Shanghai"
        duration = "4h"

        [[blackouts]]
        reason = "month-end close"
        rrule = "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=0;BYMINUTE=0"
        dtstart = "2026-01-31T00:00:00"
        tz = "Asia/Shanghai"
        duration = "24h"
        "#,
    );
    let schedule = calendar.slots_between(
        at("2026-01-29T00:00:00Z"),
        at("2026-02-02T00:00:00Z"),
        SignedDuration::from_mins(90),
    );
    // Jan 29 22:00 (+08) and Feb 1 22:00 are untouched; Jan 30 22:00-02:00 keeps 22:00-24:00;
    // Jan 31 22:00-02:00 keeps 00:00-02:00 of Feb 1.
    assert_eq!(
        pieces(&schedule.slots),
        [
            pair("2026-01-29T14:00:00Z", "2026-01-29T18:00:00Z"),
            pair("2026-01-30T14:00:00Z", "2026-01-30T16:00:00Z"),
            pair("2026-01-31T16:00:00Z", "2026-01-31T18:00:00Z"),
            pair("2026-02-01T14:00:00Z", "2026-02-01T18:00:00Z"),
        ]
    );
    assert_eq!(schedule.slots[1].cut_by[0].blackout, "blackout-1");
    assert!(schedule.dropped.is_empty());
    let periods = calendar.blackouts()[0]
        .periods_between(at("2026-02-01T00:00:00Z"), at("2026-04-01T00:00:00Z"));
    let starts: Vec<_> = periods.iter().map(|p| p.start).collect();
    assert_eq!(
        show(&starts),
        ["2026-02-27T16:00:00Z", "2026-03-30T16:00:00Z"]
    );
}

#[test]
fn next_slot_skips_blacked_out_occurrences() {
    let calendar = calendar(
        r#"
        windows = [ { rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", dtstart = "2026-11-01T02:00:00",
                      tz = "America/New_York", duration = "3h" } ]
        blackouts = [ { reason = "holiday freeze", start = "2026-11-20T00:00:00Z", end = "2026-12-06T08:00:00Z" } ]
        "#,
    );
    let hour = SignedDuration::from_hours(1);
    let next = calendar
        .next_slot(
            at("2026-11-16T00:00:00Z"),
            hour,
            SignedDuration::from_hours(24 * 365),
        )
        .unwrap();
    // Nov 22 and 29 lie inside the freeze; Dec 6 07:00Z-10:00Z loses its first hour.
    assert_eq!(
        show(&[next.start, next.end]),
        ["2026-12-06T08:00:00Z", "2026-12-06T10:00:00Z"]
    );
    assert_eq!(next.cut_by[0].reason, "holiday freeze");
    assert!(
        calendar
            .next_slot(
                at("2026-11-16T00:00:00Z"),
                hour,
                SignedDuration::from_hours(24)
            )
            .is_none()
    );
}

#[test]
fn blackout_spec_errors_are_precise() {
    let check = |spec: BlackoutSpec, part: &str| {
        let message = Blackout::from_spec(&spec).unwrap_err().to_string();
        assert!(message.contains(part), "{message}");
    };
    let base = BlackoutSpec {
        reason: "freeze".into(),
        name: None,
        start: None,
        end: None,
        rrule: None,
        dtstart: None,
        duration: None,
        tz: None,
    };
    check(base.clone(), "needs start + end");
    check(
        BlackoutSpec {
            reason: " ".into(),
            ..base.clone()
        },
        "reason must be non-empty",
    );
    check(
        BlackoutSpec {
            start: Some("2026-01-01T00:00:00Z".into()),
            ..base.clone()
        },
        "needs `end`",
    );
    check(
        BlackoutSpec {
            start: Some("2026-01-02T00:00:00Z".into()),
            end: Some("2026-01-01T00:00:00Z".into()),
            ..base.clone()
        },
        "end \"2026-01-01T00:00:00Z\": must be after start",
    );
    check(
        BlackoutSpec {
            start: Some("2026-01-01T00:00:00".into()),
            end: Some("2026-01-02T00:00:00".into()),
            ..base.clone()
        },
        "start \"2026-01-01T00:00:00\": a local time needs `tz`",
    );
    check(
        BlackoutSpec {
            start: Some("2026-01-01T00:00:00Z".into()),
            rrule: Some("FREQ=DAILY".into()),
            ..base.clone()
        },
        "not both",
    );
    check(
        BlackoutSpec {
            rrule: Some("FREQ=DAILY".into()),
            ..base.clone()
        },
        "recurring blackout needs `dtstart`",
    );
    check(
        BlackoutSpec {
            rrule: Some("FREQ=DAILY".into()),
            dtstart: Some("2026-01-01T00:00:00".into()),
            tz: Some("UTC".into()),
            duration: Some("0m".into()),
            ..base.clone()
        },
        "duration \"0m\": must be longer than zero",
    );
}
