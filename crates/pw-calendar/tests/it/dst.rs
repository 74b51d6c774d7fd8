//! DST gaps and overlaps in four zones (expected instants cross-checked with python-dateutil and
//! zoneinfo): a gap time moves forward with the pre-gap offset, an overlap time is the earlier
//! instant, and windows that cross midnight on a DST night last their elapsed duration.

use pw_calendar::Window;

use crate::{at, show};

fn check(tz: &str, rule: &str, dtstart: &str, from: &str, expected: &[&str]) {
    let window = Window::new("w", rule, dtstart, tz, "1h").unwrap();
    let got = show(&window.next_starts(at(from), expected.len()));
    assert_eq!(got, expected, "{tz} {rule} from {dtstart}");
}

fn check_slots(tz: &str, rule: &str, dtstart: &str, duration: &str, expected: &[(&str, &str)]) {
    let window = Window::new("w", rule, dtstart, tz, duration).unwrap();
    let first = window.next_starts(jiff::Timestamp::MIN, 1)[0];
    let last = at(expected.last().unwrap().0);
    let slots = window.slots_between(
        first,
        last.checked_add(jiff::SignedDuration::from_secs(1))
            .unwrap(),
    );
    let got: Vec<(String, String)> = slots
        .iter()
        .map(|s| (show(&[s.start])[0].clone(), show(&[s.end])[0].clone()))
        .collect();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, expected, "{tz} {rule} {duration}");
}

const DAILY_0230: &str = "FREQ=DAILY;BYHOUR=2;BYMINUTE=30";

#[test]
fn berlin_gap_and_overlap() {
    // 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist, read with +01:00.
    let gap = [
        "2026-03-27T01:30:00Z",
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:30:00Z",
        "2026-03-30T00:30:00Z",
    ];
    check(
        "Europe/Berlin",
        DAILY_0230,
        "2026-03-27T02:30:00",
        "2026-03-01T00:00:00Z",
        &gap,
    );
    // 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice, the first (CEST) one counts.
    let overlap = [
        "2026-10-24T00:30:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-26T01:30:00Z",
    ];
    check(
        "Europe/Berlin",
        DAILY_0230,
        "2026-10-24T02:30:00",
        "2026-10-01T00:00:00Z",
        &overlap,
    );
    // The query is inclusive and lands exactly on the gap occurrence.
    check(
        "Europe/Berlin",
        DAILY_0230,
        "2026-03-27T02:30:00",
        "2026-03-29T01:30:00Z",
        &gap[2..],
    );
}

#[test]
fn new_york_gap_and_overlap() {
    let gap = [
        "2026-03-07T07:30:00Z",
        "2026-03-08T07:30:00Z",
        "2026-03-09T06:30:00Z",
    ];
    check(
        "America/New_York",
        DAILY_0230,
        "2026-03-07T02:30:00",
        "2026-01-01T00:00:00Z",
        &gap,
    );
    let overlap = [
        "2026-10-31T05:30:00Z",
        "2026-11-01T05:30:00Z",
        "2026-11-02T06:30:00Z",
    ];
    check(
        "America/New_York",
        "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
        "2026-10-31T01:30:00",
        "2026-10-31T00:00:00Z",
        &overlap,
    );
}

#[test]
fn sydney_gap_and_overlap() {
    // Southern hemisphere: the gap is on the first Sunday of October, the overlap in April.
    let gap = [
        "2026-10-02T16:30:00Z",
        "2026-10-03T16:30:00Z",
        "2026-10-04T15:30:00Z",
    ];
    check(
        "Australia/Sydney",
        DAILY_0230,
        "2026-10-03T02:30:00",
        "2026-09-01T00:00:00Z",
        &gap,
    );
    let overlap = [
        "2026-04-03T15:30:00Z",
        "2026-04-04T15:30:00Z",
        "2026-04-05T16:30:00Z",
    ];
    check(
        "Australia/Sydney",
        DAILY_0230,
        "2026-04-04T02:30:00",
        "2026-04-01T00:00:00Z",
        &overlap,
    );
}

#[test]
fn shanghai_has_no_dst_today_but_had_in_1991() {
    let steady = [
        "2026-03-26T18:30:00Z",
        "2026-03-27T18:30:00Z",
        "2026-03-28T18:30:00Z",
        "2026-03-29T18:30:00Z",
    ];
    check(
        "Asia/Shanghai",
        DAILY_0230,
        "2026-03-27T02:30:00",
        "2026-03-20T00:00:00Z",
        &steady,
    );
    let gap = [
        "1991-04-12T18:30:00Z",
        "1991-04-13T18:30:00Z",
        "1991-04-14T17:30:00Z",
    ];
    check(
        "Asia/Shanghai",
        DAILY_0230,
        "1991-04-13T02:30:00",
        "1991-04-01T00:00:00Z",
        &gap,
    );
    let overlap = [
        "1991-09-13T16:30:00Z",
        "1991-09-14T16:30:00Z",
        "1991-09-15T17:30:00Z",
    ];
    check(
        "Asia/Shanghai",
        "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
        "1991-09-14T01:30:00",
        "1991-09-01T00:00:00Z",
        &overlap,
    );
}

#[test]
fn gap_and_hour_after_meet_at_one_instant() {
    // BYHOUR=2,3 on the gap day: 02:30 (read with +01:00) and 03:30 CEST are both 01:30Z.
    check(
        "Europe/Berlin",
        "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2,3;BYMINUTE=30",
        "2026-03-22T02:30:00",
        "2026-03-29T00:00:00Z",
        &[
            "2026-03-29T01:30:00Z",
            "2026-04-05T00:30:00Z",
            "2026-04-05T01:30:00Z",
        ],
    );
}

#[test]
fn windows_crossing_midnight_on_dst_nights_keep_their_elapsed_length() {
    // Berlin, Saturday 23:00 for 4h: in March it ends 04:00 CEST, in October 02:00 CET.
    check_slots(
        "Europe/Berlin",
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0",
        "2026-03-21T23:00:00",
        "4h",
        &[
            ("2026-03-21T22:00:00Z", "2026-03-22T02:00:00Z"),
            ("2026-03-28T22:00:00Z", "2026-03-29T02:00:00Z"),
            ("2026-04-04T21:00:00Z", "2026-04-05T01:00:00Z"),
        ],
    );
    check_slots(
        "Europe/Berlin",
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0",
        "2026-10-17T23:00:00",
        "4h",
        &[
            ("2026-10-17T21:00:00Z", "2026-10-18T01:00:00Z"),
            ("2026-10-24T21:00:00Z", "2026-10-25T01:00:00Z"),
            ("2026-10-31T22:00:00Z", "2026-11-01T02:00:00Z"),
        ],
    );
    // New York, Saturday 22:00 for 6h across the November fall-back.
    check_slots(
        "America/New_York",
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;BYMINUTE=0",
        "2026-10-24T22:00:00",
        "6h",
        &[
            ("2026-10-25T02:00:00Z", "2026-10-25T08:00:00Z"),
            ("2026-11-01T02:00:00Z", "2026-11-01T08:00:00Z"),
            ("2026-11-08T03:00:00Z", "2026-11-08T09:00:00Z"),
        ],
    );
    // Sydney, Saturday 23:00 for 4h across the October spring-forward.
    check_slots(
        "Australia/Sydney",
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0",
        "2026-09-26T23:00:00",
        "4h",
        &[
            ("2026-09-26T13:00:00Z", "2026-09-26T17:00:00Z"),
            ("2026-10-03T13:00:00Z", "2026-10-03T17:00:00Z"),
            ("2026-10-10T12:00:00Z", "2026-10-10T16:00:00Z"),
        ],
    );
}

#[test]
fn local_end_of_a_slot_on_a_dst_night() {
    let berlin = pw_calendar::time_zone("Europe/Berlin").unwrap();
    let window = Window::new(
        "w",
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0",
        "2026-10-24T23:00:00",
        "Europe/Berlin",
        "4h",
    )
    .unwrap();
    let slot = &window.slots_between(at("2026-10-24T00:00:00Z"), at("2026-10-25T00:00:00Z"))[0];
    assert_eq!(
        slot.end.to_zoned(berlin.clone()).to_string(),
        "2026-10-25T02:00:00+01:00[Europe/Berlin]"
    );
    let window = Window::new(
        "w",
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0",
        "2026-03-28T23:00:00",
        "Europe/Berlin",
        "4h",
    )
    .unwrap();
    let slot = &window.slots_between(at("2026-03-28T00:00:00Z"), at("2026-03-29T00:00:00Z"))[0];
    assert_eq!(
        slot.end.to_zoned(berlin).to_string(),
        "2026-03-29T04:00:00+02:00[Europe/Berlin]"
    );
}
