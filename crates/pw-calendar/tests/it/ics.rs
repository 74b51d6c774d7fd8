//! iCalendar export: parses back with the `icalendar` crate, folds at 75 octets with CRLF, and
//! is deterministic (UIDs from content).

use pw_calendar::{Calendar, CalendarSpec, to_ics};

const SPEC: &str = r#"
[[windows]]
name = "sunday-night"
rrule = "RRULE:FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30"
dtstart = "2026-03-01T01:30:00"
tz = "Europe/Berlin"
duration = "1h30m"

[[windows]]
name = "monthly, with a long name; and characters that need escaping \\ like these ünïcödé ones"
rrule = "FREQ=MONTHLY;BYDAY=2SA;BYHOUR=22;BYMINUTE=0;UNTIL=20271231T000000"
dtstart = "2026-01-10T22:00:00"
tz = "America/New_York"
duration = "2d"

[[blackouts]]
name = "freeze"
reason = "Spring Festival freeze"
start = "2026-02-14T00:00:00"
end = "2026-02-24T00:00:00"
tz = "Asia/Shanghai"

[[blackouts]]
reason = "month-end close"
rrule = "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=0;BYMINUTE=0"
dtstart = "2026-01-31T00:00:00"
tz = "Europe/Berlin"
duration = "24h"
"#;

fn calendar(text: &str) -> Calendar {
    let spec: CalendarSpec = toml::from_str(text).unwrap();
    Calendar::from_spec(&spec).unwrap()
}

fn export(text: &str) -> String {
    let calendar = calendar(text);
    to_ics("web", calendar.windows(), calendar.blackouts())
}

#[test]
fn lines_are_crlf_and_folded_at_75_octets() {
    let ics = export(SPEC);
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    let body = ics.strip_suffix("\r\n").unwrap();
    let mut folded = 0;
    for line in body.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "bare line break in {line:?}"
        );
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        folded += usize::from(line.starts_with(' '));
    }
    assert!(folded > 0, "the long description must have been folded");
}

#[test]
fn parses_back_with_the_icalendar_crate() {
    let ics = export(SPEC);
    let unfolded = icalendar::parser::unfold(&ics);
    let parsed = icalendar::parser::read_calendar(&unfolded).unwrap();
    let value = |component: &icalendar::parser::Component, key: &str| {
        component
            .properties
            .iter()
            .find(|p| p.name.as_str() == key)
            .map(|p| p.val.as_str().to_owned())
    };
    let events: Vec<_> = parsed
        .components
        .iter()
        .filter(|c| c.name.as_str() == "VEVENT")
        .collect();
    let zones: Vec<_> = parsed
        .components
        .iter()
        .filter(|c| c.name.as_str() == "VTIMEZONE")
        .filter_map(|c| value(c, "TZID"))
        .collect();
    assert_eq!(zones, ["America/New_York", "Europe/Berlin"]);
    assert_eq!(events.len(), 4);

    let window = events[0];
    assert_eq!(
        value(window, "RRULE").unwrap(),
        "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30"
    );
    assert_eq!(value(window, "DURATION").unwrap(), "PT1H30M");
    assert_eq!(value(window, "DTSTART").unwrap(), "20260301T013000");
    let dtstart = window
        .properties
        .iter()
        .find(|p| p.name.as_str() == "DTSTART")
        .unwrap();
    assert_eq!(dtstart.params[0].key.as_str(), "TZID");
    assert_eq!(
        dtstart.params[0].val.as_ref().unwrap().as_str(),
        "Europe/Berlin"
    );

    let monthly = events[1];
    // The floating UNTIL is resolved in New York (EST, -05:00) and exported in UTC.
    assert_eq!(
        value(monthly, "RRULE").unwrap(),
        "FREQ=MONTHLY;UNTIL=20271231T050000Z;BYDAY=2SA;BYHOUR=22;BYMINUTE=0"
    );
    assert_eq!(value(monthly, "DURATION").unwrap(), "PT48H");
    let summary = value(monthly, "SUMMARY").unwrap();
    // TEXT escaping (\\, \; and \,) round-trips through the parser.
    assert_eq!(
        summary,
        "Maintenance window: monthly, with a long name; and characters that need escaping \\ like these ünïcödé ones"
    );
    assert!(
        unfolded
            .contains("monthly\\, with a long name\\; and characters that need escaping \\\\ like")
    );

    let freeze = events[2];
    assert_eq!(value(freeze, "DTSTART").unwrap(), "20260213T160000Z");
    assert_eq!(value(freeze, "DTEND").unwrap(), "20260223T160000Z");
    for blackout in &events[2..] {
        assert_eq!(value(blackout, "CATEGORIES").unwrap(), "BLACKOUT");
        assert_eq!(value(blackout, "TRANSP").unwrap(), "TRANSPARENT");
    }
    for event in &events {
        assert!(value(event, "UID").unwrap().ends_with("@patchwarden"));
        assert!(
            value(event, "DTSTAMP").is_some(),
            "DTSTAMP is required in VEVENT"
        );
    }
}

#[test]
fn vtimezone_lists_real_transitions() {
    let ics = export(SPEC);
    // Berlin's spring-forward in 2026: 02:00 local (+0100) -> +0200.
    assert!(ics.contains(
        "BEGIN:DAYLIGHT\r\nDTSTART:20260329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\n"
    ));
    assert!(ics.contains(
        "BEGIN:STANDARD\r\nDTSTART:20261025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nEND:STANDARD\r\n"
    ));
}

#[test]
fn uids_are_stable_and_follow_content() {
    let first = export(SPEC);
    assert_eq!(first, export(SPEC), "export is deterministic");
    let uids = |ics: &str| -> Vec<String> {
        ics.lines()
            .filter_map(|l| l.strip_prefix("UID:"))
            .map(str::to_owned)
            .collect()
    };
    let before = uids(&first);
    let mut distinct = before.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "one UID per event");
    let changed = export(&SPEC.replace("duration = \"1h30m\"", "duration = \"2h\""));
    let after = uids(&changed);
    assert_ne!(before[0], after[0], "a changed window gets a new UID");
    assert_eq!(before[1..], after[1..], "other events keep theirs");
    let calendar = calendar(SPEC);
    let other_group = to_ics("db", calendar.windows(), calendar.blackouts());
    assert_ne!(
        uids(&other_group)[0],
        before[0],
        "UIDs differ between groups"
    );
}

#[test]
fn utc_windows_and_empty_calendars() {
    let ics = export(
        "[[windows]]\nrrule = \"FREQ=DAILY\"\ndtstart = \"2026-01-01T03:00:00\"\ntz = \"UTC\"\nduration = \"45m\"\n",
    );
    assert!(ics.contains("DTSTART;TZID=UTC:20260101T030000\r\n"));
    assert!(ics.contains("TZOFFSETTO:+0000\r\n"));
    assert!(ics.contains("SUMMARY:Maintenance window: window-1\r\n"));
    let empty = to_ics("none", &[], &[]);
    assert!(icalendar::parser::read_calendar(&empty).is_ok());
    assert!(!empty.contains("VEVENT"));
}
