//! Property tests of window arithmetic: for random windows (any zone, across DST) and random
//! blackouts, slots are sorted, never overlap, never touch a blackout, respect the minimum,
//! stay inside their occurrence, lose exactly the blacked-out time, and stay bounded.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use pw_calendar::{BlackoutSpec, Calendar, CalendarSpec, DropReason, WindowSpec};

const ZONES: [&str; 6] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Shanghai",
    "Australia/Lord_Howe",
    "UTC",
];

fn rule() -> impl Strategy<Value = String> {
    let days = prop::sample::subsequence(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"], 1..4);
    let hours = prop::sample::subsequence(vec![0u8, 1, 2, 3, 12, 22, 23], 1..3);
    (
        0..3usize,
        days,
        hours,
        prop::sample::select(vec![0u8, 30, 45]),
        1..3u8,
    )
        .prop_map(|(freq, days, hours, minute, interval)| {
            let hours: Vec<String> = hours.iter().map(u8::to_string).collect();
            let head = match freq {
                0 => "FREQ=DAILY".to_owned(),
                1 => format!("FREQ=WEEKLY;BYDAY={}", days.join(",")),
                _ => format!("FREQ=MONTHLY;BYDAY=-1{}", days[0]),
            };
            format!(
                "{head};INTERVAL={interval};BYHOUR={};BYMINUTE={minute}",
                hours.join(",")
            )
        })
}

fn window() -> impl Strategy<Value = WindowSpec> {
    (
        rule(),
        0..1000i64,
        prop::sample::select(ZONES.to_vec()),
        15..(36 * 60i64),
    )
        .prop_map(|(rrule, day, tz, minutes)| {
            let start = jiff::civil::date(2025, 1, 1)
                .checked_add(jiff::Span::new().days(day))
                .unwrap();
            WindowSpec {
                name: Some("w".into()),
                rrule,
                dtstart: format!("{start}T02:30:00"),
                tz: tz.into(),
                duration: format!("{minutes}m"),
            }
        })
}

fn blackout() -> impl Strategy<Value = BlackoutSpec> {
    (0..(60 * 24 * 90i64), 1..(60 * 72i64), any::<bool>()).prop_map(|(offset, minutes, local)| {
        let start = at_minute(offset);
        let end = at_minute(offset + minutes);
        let text = |t: Timestamp| {
            if local {
                t.to_zoned(jiff::tz::TimeZone::UTC).datetime().to_string()
            } else {
                t.to_string()
            }
        };
        BlackoutSpec {
            reason: format!("b{offset}"),
            name: Some(format!("b{offset}-{minutes}")),
            start: Some(text(start)),
            end: Some(text(end)),
            rrule: None,
            dtstart: None,
            duration: None,
            tz: local.then(|| "UTC".to_owned()),
        }
    })
}

/// Query ranges live in 2026-06-01 .. +90 days.
fn at_minute(minute: i64) -> Timestamp {
    crate::at("2026-06-01T00:00:00Z")
        .checked_add(SignedDuration::from_mins(minute))
        .unwrap()
}

fn overlap(a: (Timestamp, Timestamp), b: (Timestamp, Timestamp)) -> i64 {
    let start = a.0.max(b.0);
    let end = a.1.min(b.1);
    if end > start {
        start.duration_until(end).as_secs()
    } else {
        0
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn next_starts_are_increasing_and_consistent(spec in window(), from in 0..(60 * 24 * 90i64), n in 1..40usize) {
        let window = pw_calendar::Window::from_spec(&spec).unwrap();
        let from = at_minute(from);
        let starts = window.next_starts(from, n);
        prop_assert!(starts.len() <= n);
        prop_assert!(starts.iter().all(|t| *t >= from));
        prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
        let fewer = window.next_starts(from, n / 2);
        prop_assert_eq!(&fewer[..], &starts[..fewer.len()]);
        if let Some(middle) = starts.get(starts.len() / 2) {
            let again = window.next_starts(*middle, n);
            prop_assert_eq!(&again[..starts.len() - starts.len() / 2], &starts[starts.len() / 2..]);
        }
    }

    #[test]
    fn slots_after_blackouts_keep_the_invariants(
        spec in window(),
        blackouts in prop::collection::vec(blackout(), 0..6),
        span in (0..(60 * 24 * 60i64), 1..(60 * 24 * 30i64)),
        minimum in 0..180i64,
    ) {
        let (from, to) = (at_minute(span.0), at_minute(span.0 + span.1));
        let minimum = SignedDuration::from_mins(minimum);
        let calendar = Calendar::from_spec(&CalendarSpec { windows: vec![spec], blackouts }).unwrap();
        let original = calendar.windows()[0].slots_between(from, to);
        prop_assert!(original.len() <= pw_calendar::MAX_SLOTS);
        for pair in original.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "occurrences of one window overlap");
        }
        for slot in &original {
            prop_assert!(slot.end > from && slot.start < to);
            prop_assert!(slot.length() >= calendar.windows()[0].duration());
        }
        let schedule = calendar.slots_between(from, to, minimum);
        let periods: Vec<_> = calendar
            .blackouts()
            .iter()
            .flat_map(|b| b.periods_between(Timestamp::MIN, Timestamp::MAX))
            .collect();
        for pair in schedule.slots.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "slots overlap or are unsorted");
        }
        for slot in &schedule.slots {
            prop_assert!(slot.length() >= minimum && slot.length() > SignedDuration::ZERO);
            for period in &periods {
                prop_assert_eq!(overlap((slot.start, slot.end), (period.start, period.end)), 0);
            }
            prop_assert!(original.iter().any(|o| o.start <= slot.start && slot.end <= o.end));
        }
        // Per occurrence: kept + dropped-as-short + blacked-out time = the occurrence's length.
        for occurrence in &original {
            let span = (occurrence.start, occurrence.end);
            let kept: i64 = schedule.slots.iter().map(|s| overlap(span, (s.start, s.end))).sum();
            let short: i64 = schedule
                .dropped
                .iter()
                .filter(|d| matches!(d.why, DropReason::TooShort { .. }))
                .map(|d| overlap(span, (d.start, d.end)))
                .sum();
            let mut covered = 0;
            let mut cursor = occurrence.start;
            let mut sorted = periods.clone();
            sorted.sort_by_key(|p| p.start);
            for period in sorted {
                let start = period.start.max(cursor);
                if period.end > start {
                    covered += overlap(span, (start, period.end));
                    cursor = cursor.max(period.end);
                }
            }
            prop_assert_eq!(kept + short + covered, occurrence.length().as_secs());
        }
    }
}
