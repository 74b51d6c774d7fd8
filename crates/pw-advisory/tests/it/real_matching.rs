//! Matching on real data against figures computed independently by
//! `tests/data/expected_debian12_matches.py` (python3-apt's `apt_pkg.version_compare` and the
//! OSV algorithm written again in Python).

use pw_advisory::{AdvisoryIndex, parse_advisories};
use pw_model::{InstalledPackage, OsRelease};

use crate::data;
use crate::status::installed_packages;

fn debian_index() -> AdvisoryIndex {
    let batch = parse_advisories(&data("osv-debian12-changelogs.jsonl.gz"));
    assert_eq!(batch.problems, vec![]);
    AdvisoryIndex::new(batch.advisories)
}

fn bookworm() -> OsRelease {
    OsRelease::parse("debian:12").unwrap()
}

#[test]
fn real_dpkg_status_against_debian_changelog_records() {
    let status = String::from_utf8(data("dpkg-status-debian12.txt.gz")).unwrap();
    let installed = installed_packages(&status);
    assert_eq!(installed.len(), 747);
    let index = debian_index();
    let matches = index.match_packages(&bookworm(), false, &installed);
    let mut rows: Vec<String> = matches
        .iter()
        .map(|m| {
            assert_eq!(m.cves.len(), 1, "one CVE per DEBCL record");
            let ids: Vec<&str> = m
                .advisories
                .iter()
                .map(|a| a.advisory.id.as_str())
                .collect();
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                m.installed.name,
                m.package,
                m.package_version,
                m.cves[0],
                ids.join(","),
                m.fixed.unwrap_or("")
            )
        })
        .collect();
    rows.sort();
    let expected = String::from_utf8(data("expected-debian12-matches.tsv")).unwrap();
    let expected: Vec<&str> = expected.lines().skip(1).collect();
    assert_eq!(expected.len(), 20, "the reference's figure");
    assert_eq!(rows, expected);
}

#[test]
fn every_historical_changelog_version_matches_like_the_reference() {
    let text = String::from_utf8(data("debian12-changelog-versions.tsv.gz")).unwrap();
    let installed: Vec<InstalledPackage> = text
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            InstalledPackage {
                name: fields[0].to_owned(),
                version: fields[2].to_owned(),
                arch: String::new(),
                source: Some(fields[1].to_owned()),
                source_version: None,
            }
        })
        .collect();
    assert_eq!(installed.len(), 10_307);
    let index = debian_index();
    let matches = index.match_packages(&bookworm(), false, &installed);
    let mut counts = vec![0usize; installed.len()];
    for m in &matches {
        counts[m.package_index] += 1;
    }
    let expected = String::from_utf8(data("expected-changelog-version-counts.tsv.gz")).unwrap();
    let expected: Vec<usize> = expected
        .lines()
        .skip(1)
        .map(|l| l.rsplit('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(expected.iter().sum::<usize>(), 501_246);
    let differing: Vec<String> = (0..installed.len())
        .filter(|&i| counts[i] != expected[i])
        .take(10)
        .map(|i| format!("{:?}: {} vs {}", installed[i], counts[i], expected[i]))
        .collect();
    assert_eq!(differing, Vec::<String>::new());
}
