//! Corrupt and truncated input: every parser reports a position and never panics.

use proptest::prelude::*;
use pw_advisory::{
    FeedProblem, OsvError, Position, parse_advisories, parse_epss_csv, parse_kev, parse_osv_bytes,
    parse_osv_record,
};

use crate::data;

#[test]
fn a_bad_jsonl_line_is_reported_and_the_rest_kept() {
    let text =
        b"{\"id\":\"A-1\"}\n{\"id\": 5}\n\n{\"id\":\"A-3\"\n{\"id\":\"A-4\",\"affected\":[]}\n";
    let batch = parse_osv_bytes(text);
    let ids: Vec<_> = batch.records.iter().map(|r| r.record.id.as_str()).collect();
    assert_eq!(ids, ["A-1", "A-4"]);
    assert_eq!(batch.records[1].position, Position::line_start(5));
    assert!(
        matches!(
            &batch.problems[0],
            OsvError::Shape { position: Position { line: 2, column: 8 }, message } if message.contains("invalid type")
        ),
        "{:?}",
        batch.problems
    );
    assert!(matches!(
        &batch.problems[1],
        OsvError::Truncated {
            position: Position { line: 4, .. },
            ..
        }
    ));
}

#[test]
fn a_corrupt_first_jsonl_line_does_not_hide_the_others() {
    let text = b"{\"id\":\"A-1\",\"aliases\":[\n{\"id\":\"A-2\"}\n{\"id\":\"A-3\"}\n";
    let batch = parse_osv_bytes(text);
    let ids: Vec<_> = batch.records.iter().map(|r| r.record.id.as_str()).collect();
    assert_eq!(ids, ["A-2", "A-3"]);
    assert!(matches!(
        batch.problems[..],
        [OsvError::Truncated {
            position: Position { line: 1, .. },
            ..
        }]
    ));
    // A pretty-printed record is still read as one document.
    let pretty = b"{\n  \"id\": \"P-1\",\n  \"aliases\": [\n    \"CVE-2024-0001\"\n  ]\n}\n";
    let batch = parse_osv_bytes(pretty);
    assert_eq!(batch.problems, vec![]);
    assert_eq!(batch.records[0].record.aliases, ["CVE-2024-0001"]);
}

#[test]
fn truncated_real_feed_keeps_the_complete_lines() {
    let full = data("osv-debian12-changelogs.jsonl.gz");
    let cut = &full[..full.len() / 2];
    let batch = parse_osv_bytes(cut);
    let complete_lines = cut.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(batch.records.len(), complete_lines);
    assert_eq!(batch.problems.len(), 1);
    assert_eq!(
        batch.problems[0].position().map(|p| p.line),
        Some(complete_lines + 1)
    );
}

#[test]
fn arrays_keep_the_elements_before_a_syntax_error() {
    let text = b"[\n {\"id\":\"A-1\"},\n {\"id\":\"\"},\n {\"id\":\"A-3\"},\n {\"id\" \"A-4\"}\n]";
    let batch = parse_osv_bytes(text);
    let ids: Vec<_> = batch.records.iter().map(|r| r.record.id.as_str()).collect();
    assert_eq!(ids, ["A-1", "A-3"]);
    assert_eq!(batch.records[1].position, Position { line: 4, column: 2 });
    assert_eq!(batch.problems.len(), 2, "{:?}", batch.problems);
    assert!(matches!(
        batch.problems[0],
        OsvError::Shape {
            position: Position { line: 3, column: 2 },
            ..
        }
    ));
    assert!(matches!(
        batch.problems[1],
        OsvError::Syntax {
            position: Position { line: 5, .. },
            ..
        }
    ));
}

#[test]
fn pretty_documents_report_positions_in_the_whole_input() {
    let text = b"{\n  \"id\": \"A-1\",\n  \"published\": 12\n}\n";
    let batch = parse_osv_bytes(text);
    assert!(batch.records.is_empty());
    assert!(
        matches!(
            batch.problems[..],
            [OsvError::Shape {
                position: Position { line: 3, .. },
                ..
            }]
        ),
        "{:?}",
        batch.problems
    );
    let e = parse_osv_record(b"\n\n  {\"id\":").unwrap_err();
    assert!(
        matches!(
            e,
            OsvError::Truncated {
                position: Position { line: 3, .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(parse_osv_record(b"  \n"), Err(OsvError::Empty));
    assert_eq!(parse_osv_bytes(b"").problems, vec![OsvError::Empty]);
    assert!(matches!(
        parse_osv_bytes(b"\n  id: x").problems[..],
        [OsvError::NotJson {
            position: Position { line: 2, column: 3 },
            found: 'i'
        }]
    ));
}

#[test]
fn bad_values_inside_a_record_are_located_problems_not_failures() {
    let text = br#"{"id":"X-1","published":"yesterday","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:Q"}],"affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0 beta"}]}]},{"package":{"ecosystem":"Debian:12","name":"b"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]},{"package":{"ecosystem":"Debian:12","name":"c"},"ranges":[{"type":"GIT","events":[]}],"versions":["1.0","bad version"]},{"package":{"ecosystem":"PyPI","name":"d"}}]}"#;
    let batch = parse_advisories(text);
    assert_eq!(batch.advisories.len(), 1);
    let a = &batch.advisories[0];
    assert_eq!(a.ignored_entries, 1);
    assert_eq!(a.affected.len(), 1, "only c survives");
    assert_eq!(a.affected[0].versions, ["1.0"]);
    let messages: Vec<String> = batch.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(messages.len(), 6, "{messages:#?}");
    assert!(batch.problems.iter().all(|p| matches!(
        p,
        FeedProblem::Record {
            position: Position { line: 1, column: 1 },
            ..
        }
    )));
    assert!(messages.iter().any(|m| m.contains("\"yesterday\"")));
    assert!(messages.iter().any(|m| m.contains("CVSS:3.1/AV:Q")));
    assert!(messages.iter().any(|m| m.contains("1.0 beta")));
    assert!(messages.iter().any(|m| m.contains("exactly one")));
    assert!(messages.iter().any(|m| m.contains("GIT")));
    assert!(messages.iter().any(|m| m.contains("bad version")));
}

#[test]
fn every_prefix_of_real_files_is_handled_without_panic() {
    let ubuntu = data("osv-ubuntu-sample.jsonl.gz");
    for end in (0..ubuntu.len()).step_by(97) {
        let _ = parse_advisories(&ubuntu[..end]);
    }
    let kev = data("kev.json.gz");
    for end in (0..kev.len()).step_by(4_099) {
        assert!(end == kev.len() || parse_kev(&kev[..end]).is_err() || end == 0);
    }
    let epss = data("epss-sample.csv.gz");
    for end in (0..epss.len()).step_by(333) {
        let _ = parse_epss_csv(&epss[..end]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn osv_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_advisories(&bytes);
        let _ = parse_osv_record(&bytes);
    }

    #[test]
    fn mutated_real_records_never_panic(position in 0usize..5_000, byte in any::<u8>(), cut in 0usize..5_000) {
        let mut bytes = data("osv-ubuntu-sample.jsonl.gz")[..5_000].to_vec();
        bytes[position] = byte;
        bytes.truncate(cut.max(1));
        let _ = parse_advisories(&bytes);
    }

    #[test]
    fn kev_and_epss_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_kev(&bytes);
        let _ = parse_epss_csv(&bytes);
    }

    #[test]
    fn cvss_vectors_of_real_metric_names_never_panic(
        v4 in any::<bool>(),
        values in proptest::collection::vec(prop::sample::select(vec!["N", "L", "H", "P", "A", "U", "C", "R", "X", "M", "S", ""]), 11..14),
        drop in 0usize..16,
    ) {
        let keys: &[&str] = if v4 {
            &["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA", "E", "S"]
        } else {
            &["AV", "AC", "PR", "UI", "S", "C", "I", "A", "E", "RL", "RC"]
        };
        let parts: Vec<String> = keys
            .iter()
            .zip(&values)
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, (k, v))| format!("{k}:{v}"))
            .collect();
        let vector = format!("CVSS:{}/{}", if v4 { "4.0" } else { "3.1" }, parts.join("/"));
        if let Ok(s) = pw_advisory::score_vector(&vector) {
            prop_assert!((0.0..=10.0).contains(&s.score));
        }
    }

    #[test]
    fn cvss_scoring_never_panics(vector in "(CVSS:(3\\.0|3\\.1|4\\.0)/)?([A-Za-z]{1,3}:[A-Za-z]{1,2}/){0,12}[A-Z]{0,2}:?[A-Z]?") {
        if let Ok(s) = pw_advisory::score_vector(&vector) {
            prop_assert!((0.0..=10.0).contains(&s.score));
        }
    }
}
