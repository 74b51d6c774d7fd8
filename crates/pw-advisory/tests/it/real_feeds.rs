//! Every record of the real samples parses, with the counts stated in PROVENANCE.md (taken from
//! the data README and re-counted there with Python's json module).

use std::collections::{BTreeMap, BTreeSet};

use pw_advisory::{
    Advisory, AdvisoryKind, CvssVersion, Event, SeverityLevel, SeveritySource, parse_advisories,
    parse_epss_csv, parse_kev, parse_osv_bytes,
};

use crate::data;

fn advisories(name: &str) -> Vec<Advisory> {
    let batch = parse_advisories(&data(name));
    assert_eq!(batch.problems, vec![], "{name}");
    batch.advisories
}

#[test]
fn almalinux_records_all_parse_with_the_readme_counts() {
    let all = advisories("osv-almalinux.jsonl.gz");
    assert_eq!(all.len(), 5_680);
    let mut per_release = BTreeMap::new();
    for a in &all {
        *per_release
            .entry(a.affected[0].ecosystem.as_str())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_release,
        BTreeMap::from([
            ("AlmaLinux:10", 675),
            ("AlmaLinux:8", 3_259),
            ("AlmaLinux:9", 1_746)
        ])
    );
    let entries: usize = all.iter().map(|a| a.affected.len()).sum();
    assert_eq!(entries, 71_329);
    let events: Vec<&Event> = all
        .iter()
        .flat_map(|a| &a.affected)
        .flat_map(|e| e.ranges.iter().flatten())
        .collect();
    assert_eq!(events.len(), 142_658);
    let with_epoch = events
        .iter()
        .filter(|e| matches!(e, Event::Fixed(v) | Event::Introduced(v) if v.contains(':')))
        .count();
    assert_eq!(with_epoch, 17_201);
    // "Every affected entry has exactly one ECOSYSTEM range {introduced 0},{fixed}".
    assert!(
        all.iter()
            .flat_map(|a| &a.affected)
            .all(|e| e.ranges.len() == 1
                && matches!(e.ranges[0][..], [Event::IntroducedZero, Event::Fixed(_)]))
    );
    assert!(all.iter().all(|a| !a.withdrawn && a.published.is_some()));
}

#[test]
fn almalinux_kinds_severity_words_and_cves() {
    let all = advisories("osv-almalinux.jsonl.gz");
    let kinds = all.iter().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.kind.as_str()).or_insert(0) += 1;
        m
    });
    // ALSA 4,480 (4,471 with CVEs) + 2 ALBA and 1 ALEA naming CVEs = 4,483 security.
    assert_eq!(
        kinds,
        BTreeMap::from([("bugfix", 976), ("enhancement", 221), ("security", 4_483)])
    );
    let words = all.iter().fold(BTreeMap::new(), |mut m, a| {
        if let Some(s) = &a.severity {
            assert_eq!(s.source, SeveritySource::Summary);
            *m.entry(s.word.as_str()).or_insert(0) += 1;
        }
        m
    });
    assert_eq!(
        words,
        BTreeMap::from([
            ("critical", 34),
            ("important", 2_386),
            ("low", 154),
            ("moderate", 1_908)
        ])
    );
    assert!(all.iter().all(|a| a.cvss.is_none()));
    let with_cves = all.iter().filter(|a| !a.cves.is_empty()).count();
    assert_eq!(with_cves, 4_474);
    let letter_id = all.iter().find(|a| a.id == "ALSA-2026:A009");
    assert!(letter_id.is_some(), "ids with a letter after the colon");
}

#[test]
fn debian_changelog_records_all_parse() {
    let all = advisories("osv-debian12-changelogs.jsonl.gz");
    assert_eq!(all.len(), 3_633);
    let entries: Vec<_> = all.iter().flat_map(|a| &a.affected).collect();
    assert_eq!(entries.len(), 3_641);
    let sources: BTreeSet<_> = entries.iter().map(|e| e.name.as_str()).collect();
    // The changelogs cover 377 source packages; 135 of them mention at least one CVE.
    assert_eq!(sources.len(), 135);
    assert_eq!(entries.iter().filter(|e| e.name == "linux").count(), 2_424);
    assert!(entries.iter().all(|e| e.ecosystem == "Debian:12"));
    assert!(all.iter().all(|a| a.cves.len() == 1
        && a.id == format!("DEBCL-{}", a.cves[0])
        && a.kind == AdvisoryKind::Security));
    let first = &all[0];
    assert_eq!(first.id, "DEBCL-CVE-2004-2541");
    let entry = &first.affected[0];
    assert_eq!(entry.urgency.as_deref(), Some("high"));
    assert_eq!(entry.distribution.as_deref(), Some("unstable"));
    assert_eq!(
        first.severity.as_ref().unwrap().source,
        SeveritySource::DebianUrgency
    );
}

#[test]
fn ubuntu_records_all_parse_in_both_schema_versions() {
    let all = advisories("osv-ubuntu-sample.jsonl.gz");
    let by_id: BTreeMap<&str, &Advisory> = all.iter().map(|a| (a.id.as_str(), a)).collect();
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        [
            "UBUNTU-CVE-2023-4911",
            "UBUNTU-CVE-2024-6387",
            "UBUNTU-CVE-2024-7347",
            "UBUNTU-CVE-2025-32463",
            "USN-6859-1",
            "USN-7604-1"
        ]
    );
    // USN: CVEs only behind UBUNTU-CVE ids in `upstream`; microsecond timestamps.
    let usn = by_id["USN-7604-1"];
    assert_eq!(usn.cves, ["CVE-2025-32462", "CVE-2025-32463"]);
    assert_eq!(
        usn.related_ids,
        ["UBUNTU-CVE-2025-32462", "UBUNTU-CVE-2025-32463"]
    );
    assert_eq!(
        usn.published.unwrap().to_string(),
        "2025-06-30T14:47:26.017117Z"
    );
    assert!(usn.cvss.is_none() && usn.severity.is_none());
    // 1.6.3: CVE and USN in `related`, priority in ecosystem_specific.
    let glibc = by_id["UBUNTU-CVE-2023-4911"];
    assert_eq!(glibc.cves, ["CVE-2023-4911"]);
    assert_eq!(glibc.related_ids, ["USN-6409-1"]);
    let severity = glibc.severity.as_ref().unwrap();
    assert_eq!(
        (severity.word.as_str(), severity.source),
        ("high", SeveritySource::UbuntuPriority)
    );
    assert_eq!(glibc.cvss.as_ref().unwrap().score, 7.8);
    assert_eq!(
        glibc.affected[1].versions,
        Vec::<String>::new(),
        "empty list on 24.04"
    );
    // 1.7.0: two CVSS vectors (9.3 and 7.8: the highest is kept) and an "Ubuntu" severity.
    let sudo = by_id["UBUNTU-CVE-2025-32463"];
    let cvss = sudo.cvss.as_ref().unwrap();
    assert_eq!((cvss.version, cvss.score), (CvssVersion::V3_1, 9.3));
    let severity = sudo.severity.as_ref().unwrap();
    assert_eq!(
        (severity.level, severity.source),
        (Some(SeverityLevel::High), SeveritySource::UbuntuSeverity)
    );
    // Binaries: list of pairs (glibc) and the older name->version map (nginx).
    let libc6 = &glibc.affected[0].binaries;
    assert_eq!(libc6.len(), 28);
    assert!(
        libc6
            .iter()
            .any(|b| b.name == "libc6" && b.version == "2.35-0ubuntu3.4")
    );
    let nginx = by_id["UBUNTU-CVE-2024-7347"];
    let noble = nginx
        .affected
        .iter()
        .find(|e| e.ecosystem == "Ubuntu:24.04:LTS")
        .unwrap();
    assert!(noble.binaries.len() > 10, "{:?}", noble.binaries);
    assert!(
        noble
            .binaries
            .iter()
            .all(|b| b.version == "1.24.0-2ubuntu7.1")
    );
    // Pro entries without a fix: only introduced 0, no binaries.
    let pro: Vec<_> = nginx
        .affected
        .iter()
        .filter(|e| e.ecosystem.starts_with("Ubuntu:Pro:"))
        .collect();
    assert_eq!(pro.len(), 3);
    assert!(
        pro.iter()
            .all(|e| e.ranges == [vec![Event::IntroducedZero]] && e.binaries.is_empty())
    );
    assert_eq!(
        nginx.severity.as_ref().map(|s| s.word.as_str()),
        Some("medium")
    );
}

#[test]
fn raw_records_round_trip_every_ubuntu_field_we_read() {
    let batch = parse_osv_bytes(&data("osv-ubuntu-sample.jsonl.gz"));
    assert_eq!(batch.problems, vec![]);
    assert_eq!(batch.records.len(), 6);
    assert_eq!(batch.records[5].position.line, 6);
    let json = serde_json::to_string(&batch.records[0].record).unwrap();
    let again = parse_osv_bytes(json.as_bytes());
    assert_eq!(again.records[0].record, batch.records[0].record);
}

#[test]
fn kev_catalog_parses_completely() {
    let parsed = parse_kev(&data("kev.json.gz")).unwrap();
    assert_eq!(parsed.problems, vec![]);
    assert_eq!(parsed.catalog.catalog_version, "2025.08.25");
    assert_eq!(parsed.catalog.entries.len(), 1_404);
    assert_eq!(parsed.catalog.count, Some(1_404));
    let first = &parsed.catalog.entries[0];
    assert_eq!(first.cve_id, "CVE-2025-48384");
    assert_eq!(first.date_added.to_string(), "2025-08-25");
    assert_eq!(first.due_date.unwrap().to_string(), "2025-09-15");
}

#[test]
fn epss_slice_parses_completely() {
    let parsed = parse_epss_csv(&data("epss-sample.csv.gz")).unwrap();
    assert_eq!(parsed.problems, vec![]);
    let scores = &parsed.scores;
    assert_eq!(scores.model_version.as_deref(), Some("v2026.06.15"));
    assert_eq!(
        scores.score_date.unwrap().to_string(),
        "2026-09-29T12:00:22Z"
    );
    assert_eq!(scores.scores.len(), 1_071);
    assert_eq!(scores.scores[0].cve, "CVE-1999-0001");
    assert_eq!(scores.scores[0].epss, 0.03351);
    assert_eq!(scores.scores.last().unwrap().cve, "CVE-1999-1123");
}
