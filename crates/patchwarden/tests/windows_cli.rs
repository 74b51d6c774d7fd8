//! `patchwarden windows` run as a real process: next (against a shared vector), bad input, list, ics.

use std::process::{Command, Output};

fn patchwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(args)
        .output()
        .expect("the patchwarden binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Shared vector rr-0087 (America/New_York, DST gap on 2026-03-08), copied from
/// crates/pw-calendar/tests/data/rrule-cases.jsonl.
const RR_0087: &str = r#"{"dst_edge_targeted": true, "dtstart_local": "2025-09-14T02:30:00", "expected_next_utc": ["2026-03-08T07:30:00Z", "2026-04-12T06:30:00Z", "2026-04-12T07:30:00Z", "2026-05-10T06:30:00Z", "2026-05-10T07:30:00Z"], "id": "rr-0087", "query_utc": "2026-02-16T22:00:00Z", "rrule": "RRULE:FREQ=MONTHLY;BYDAY=2SU;BYHOUR=2,3;BYMINUTE=30", "tz": "America/New_York"}"#;

#[test]
fn next_prints_the_vector_with_and_without_prefix() {
    let case: serde_json::Value = serde_json::from_str(RR_0087).unwrap();
    let field = |key: &str| case[key].as_str().unwrap().to_owned();
    let expected: String = case["expected_next_utc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{}\n", v.as_str().unwrap()))
        .collect();
    let rule = field("rrule");
    for rule in [rule.as_str(), rule.strip_prefix("RRULE:").unwrap()] {
        let output = patchwarden(&[
            "windows",
            "next",
            "--rrule",
            rule,
            "--dtstart",
            &field("dtstart_local"),
            "--tz",
            &field("tz"),
            "--from",
            &field("query_utc"),
            "--count",
            "5",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output), expected);
    }
}

#[test]
fn next_in_a_berlin_gap_prints_whole_seconds_with_z() {
    let output = patchwarden(&[
        "windows",
        "next",
        "--rrule",
        "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0",
        "--dtstart",
        "2026-03-01T02:00:00",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-28T00:00:00+01:00",
        "--count",
        "2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "2026-03-29T01:00:00Z\n2026-04-05T00:00:00Z\n"
    );
}

#[test]
fn bad_input_exits_non_zero_with_a_precise_message() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--rrule", "FREQ=WEEKY;BYDAY=SU"],
            "FREQ=WEEKY: expected DAILY, WEEKLY, MONTHLY or YEARLY",
        ),
        (
            &["--rrule", "FREQ=WEEKLY;BYDAY=SU;BYHOUR=24"],
            "BYHOUR=24: 24 is outside 0..=23",
        ),
        (
            &["--tz", "Europe/Berln"],
            "tz \"Europe/Berln\": unknown IANA time zone",
        ),
        (
            &["--dtstart", "2026-03-01T02:30:00Z"],
            "dtstart \"2026-03-01T02:30:00Z\": has a UTC offset",
        ),
        (
            &["--from", "yesterday"],
            "--from \"yesterday\": expected an RFC 3339 instant",
        ),
    ];
    for (overrides, message) in cases {
        let mut args = [
            ("--rrule", "FREQ=WEEKLY;BYDAY=SU"),
            ("--dtstart", "2026-03-01T02:30:00"),
            ("--tz", "Europe/Berlin"),
            ("--from", "2026-03-01T00:00:00Z"),
            ("--count", "3"),
        ];
        for pair in overrides.chunks(2) {
            args.iter_mut()
                .find(|(flag, _)| *flag == pair[0])
                .unwrap()
                .1 = pair[1];
        }
        let mut argv = vec!["windows", "next"];
        argv.extend(args.iter().flat_map(|(flag, value)| [*flag, *value]));
        let output = patchwarden(&argv);
        assert!(!output.status.success(), "{overrides:?} should fail");
        assert_eq!(stdout(&output), "", "{overrides:?}");
        assert!(
            stderr(&output).contains(message),
            "{overrides:?}: {}",
            stderr(&output)
        );
    }
}

const POLICY: &str = r#"
[groups.web]
max_in_flight = "10%"   # a planner key: ignored by `windows`
windows = [
  { name = "saturday-night", rrule = "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0", dtstart = "2026-10-03T23:00:00", tz = "Europe/Berlin", duration = "4h" },
]
blackouts = [
  { name = "freeze", reason = "release freeze", start = "2026-10-11T00:00:00", end = "2026-10-11T02:00:00", tz = "Europe/Berlin" },
  { reason = "quarter close", start = "2026-10-17T00:00:00Z", end = "2026-10-19T00:00:00Z" },
]

[groups.db]
windows = [ { rrule = "FREQ=DAILY", dtstart = 2026-10-01T01:00:00, tz = "UTC", duration = "1h" } ]
"#;

fn policy_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, POLICY.as_bytes()).unwrap();
    file
}

#[test]
fn list_cuts_slots_and_explains() {
    let file = policy_file();
    let path = file.path().to_str().unwrap();
    let output = patchwarden(&[
        "windows",
        "list",
        "--policy",
        path,
        "--group",
        "web",
        "--from",
        "2026-10-05T00:00:00Z",
        "--to",
        "2026-10-20T00:00:00Z",
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let group = &value[0];
    assert_eq!(group["group"], "web");
    let slots = group["slots"].as_array().unwrap();
    // 10 Oct 23:00 CEST = 21:00Z for 4h, across midnight; the freeze (local 00:00-02:00 =
    // 22:00Z-00:00Z) cuts out its middle. 17 Oct lies inside the quarter close.
    assert_eq!(slots.len(), 2, "{slots:?}");
    assert_eq!(
        (&slots[0]["start"], &slots[0]["end"]),
        (
            &"2026-10-10T21:00:00Z".into(),
            &"2026-10-10T22:00:00Z".into()
        )
    );
    assert_eq!(
        (&slots[1]["start"], &slots[1]["end"]),
        (
            &"2026-10-11T00:00:00Z".into(),
            &"2026-10-11T01:00:00Z".into()
        )
    );
    assert_eq!(slots[0]["cut_by"][0]["blackout"], "freeze");
    assert_eq!(slots[1]["cut_by"][0]["reason"], "release freeze");
    let dropped = group["dropped"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0]["why"]["kind"], "covered");
    assert_eq!(dropped[0]["why"]["by"][0]["reason"], "quarter close");

    let table = patchwarden(&[
        "windows",
        "list",
        "--policy",
        path,
        "--from",
        "2026-10-05T00:00:00Z",
        "--to",
        "2026-10-20T00:00:00Z",
    ]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.contains("cut by blackout \"freeze\" (release freeze)"),
        "{text}"
    );
    assert!(
        text.contains("dropped: inside blackout \"blackout-2\" (quarter close)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line.starts_with("db ") && line.contains("window-1")),
        "{text}"
    );
}

#[test]
fn list_and_ics_name_the_bad_group_entry() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut file,
        b"[groups.web]\nwindows = [ { rrule = \"FREQ=DAILY\", dtstart = \"2026-10-01T01:00:00\", tz = \"Mars/Base\", duration = \"1h\" } ]\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let output = patchwarden(&["windows", "ics", "--policy", path, "--group", "web"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("groups.web: windows[0]: tz \"Mars/Base\""),
        "{message}"
    );
    let output = patchwarden(&["windows", "ics", "--policy", path, "--group", "api"]);
    assert!(
        stderr(&output).contains("no group \"api\" (groups: web)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn ics_prints_a_calendar() {
    let file = policy_file();
    let output = patchwarden(&[
        "windows",
        "ics",
        "--policy",
        file.path().to_str().unwrap(),
        "--group",
        "web",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    assert!(text.contains("DTSTART;TZID=Europe/Berlin:20261003T230000\r\n"));
    assert!(text.contains("RRULE:FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0\r\n"));
    assert_eq!(text.matches("CATEGORIES:BLACKOUT").count(), 2);
}
