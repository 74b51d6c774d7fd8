//! The shared RRULE vectors (python-dateutil + IANA 2026f): every case must agree exactly.

use jiff::Timestamp;
use pw_calendar::Window;
use serde_json::Value;

const CASES: &str = include_str!("../data/rrule-cases.jsonl");

fn cases() -> Vec<Value> {
    CASES
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect()
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {case}"))
}

#[test]
fn all_forty_cases_agree_exactly() {
    let cases = cases();
    assert_eq!(cases.len(), 40, "the shared file has 40 cases");
    let mut failures = Vec::new();
    for case in &cases {
        let id = text(case, "id");
        let window = Window::new(
            id,
            text(case, "rrule"),
            text(case, "dtstart_local"),
            text(case, "tz"),
            "1h",
        )
        .unwrap_or_else(|error| panic!("{id}: {error}"));
        let from: Timestamp = text(case, "query_utc").parse().unwrap();
        let got: Vec<String> = window
            .next_starts(from, 5)
            .iter()
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect();
        let expected: Vec<String> = case["expected_next_utc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        if got != expected {
            failures.push(format!("{id}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 40 differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn prefix_is_optional_and_query_before_dtstart_starts_at_dtstart() {
    for case in cases() {
        let id = text(&case, "id");
        let rule = text(&case, "rrule");
        let bare = rule.strip_prefix("RRULE:").unwrap();
        let with = Window::new(
            id,
            rule,
            text(&case, "dtstart_local"),
            text(&case, "tz"),
            "1h",
        )
        .unwrap();
        let without = Window::new(
            id,
            bare,
            text(&case, "dtstart_local"),
            text(&case, "tz"),
            "1h",
        )
        .unwrap();
        assert_eq!(with.rrule(), without.rrule(), "{id}");
        // Every shared case has a DTSTART synchronised with its rule: the first occurrence of
        // the series is DTSTART's instant.
        assert!(with.dtstart_is_occurrence(), "{id}");
        let first = with.next_starts(Timestamp::MIN, 1);
        let dtstart = pw_calendar::time_zone(text(&case, "tz"))
            .unwrap()
            .to_ambiguous_timestamp(with.dtstart())
            .compatible()
            .unwrap();
        assert_eq!(first, vec![dtstart], "{id}");
    }
}
