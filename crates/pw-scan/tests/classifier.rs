//! The remembering [`Classifier`] against the plain [`Intelligence::findings`] on real data: the
//! Debian 12 status file of pw-inventory's tests and the feed snapshot of pw-feeds (OSV for
//! Debian, Ubuntu and AlmaLinux, CISA KEV, EPSS), for several hosts and contexts in a row.

use std::io::Read;
use std::path::Path;

use jiff::Timestamp;
use pw_advisory::{parse_advisories, parse_epss_csv, parse_kev};
use pw_model::{InstalledPackage, OsRelease};
use pw_priority::PriorityPolicy;
use pw_scan::{Intelligence, ScanContext};

fn gunzip(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&std::fs::read(&path).unwrap()[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn intelligence() -> Intelligence {
    let mut advisories = Vec::new();
    for feed in [
        "osv-debian12-changelogs.jsonl.gz",
        "osv-ubuntu-sample.jsonl.gz",
        "osv-almalinux.jsonl.gz",
    ] {
        let batch = parse_advisories(&gunzip(&format!("../pw-feeds/snapshot/{feed}")));
        assert_eq!(batch.problems, vec![], "{feed}");
        advisories.extend(batch.advisories);
    }
    let kev = parse_kev(&gunzip("../pw-feeds/snapshot/kev.json.gz")).unwrap();
    let epss = parse_epss_csv(&gunzip("../pw-feeds/snapshot/epss-sample.csv.gz")).unwrap();
    Intelligence::new(advisories, Some(&kev.catalog), &[epss.scores])
}

/// The real status file, and copies of it with every package older (so that most advisories
/// match, many merged) or with every other package older.
fn hosts() -> Vec<Vec<InstalledPackage>> {
    let inventory = pw_inventory::parse_dpkg_status(&gunzip(
        "../pw-inventory/tests/data/dpkg-status-debian12.txt.gz",
    ));
    assert!(inventory.is_clean());
    let real = inventory.packages;
    let aged = |every: usize| -> Vec<InstalledPackage> {
        real.iter()
            .enumerate()
            .map(|(i, p)| {
                let mut p = p.clone();
                if i % every == 0 {
                    p.source_version = Some("0.1-1".to_owned());
                }
                p
            })
            .collect()
    };
    vec![real.clone(), aged(1), aged(2), real]
}

/// A policy whose `payments` group has its own T0 rules.
fn payments_policy() -> PriorityPolicy {
    PriorityPolicy::from_toml_str(
        r#"
        [groups.payments.tiers.t0]
        deadline = "6h"
        cvss_min = 8.5
        "#,
    )
    .unwrap()
}

#[test]
fn remembered_classification_gives_the_same_findings() {
    let intelligence = intelligence();
    let policy = payments_policy();
    let default_policy = PriorityPolicy::default();
    let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
    let first_seen: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    let contexts = [
        (&default_policy, None, None),
        (&policy, Some("payments"), None),
        (&policy, Some("payments"), Some(first_seen)),
        (&policy, None, Some(first_seen)),
    ];
    let os = OsRelease::parse("debian:12").unwrap();
    let mut matcher = intelligence.matcher(&os, false);
    let mut classifier = intelligence.classifier();
    let (mut findings, mut tiers) = (0, [0usize; 5]);
    for (policy, group, first_seen) in contexts {
        let context = ScanContext {
            policy,
            group,
            first_seen,
            now,
        };
        for host in hosts() {
            let matches = matcher.match_packages(&host);
            let expected = intelligence.findings(&matches, &context);
            assert_eq!(classifier.findings(&matches, &context), expected);
            findings += expected.len();
            expected.iter().for_each(|f| tiers[f.tier.index()] += 1);
        }
    }
    let (hits, misses) = classifier.stats();
    assert_eq!(hits + misses, findings as u64);
    assert!(hits > misses, "{hits} remembered, {misses} classified");
    // The data exercises several tiers, reasons from KEV or EPSS, and merged advisories.
    assert!(findings > 1000, "{findings}");
    assert!(tiers.iter().filter(|&&n| n > 0).count() >= 3, "{tiers:?}");
}

/// A finding with a history keeps the first sight it was given; the others use the context's.
#[test]
fn history_gives_each_finding_its_own_first_sight() {
    let intelligence = intelligence();
    let policy = PriorityPolicy::default();
    let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
    let earlier: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let os = OsRelease::parse("debian:12").unwrap();
    let mut matcher = intelligence.matcher(&os, false);
    let host = &hosts()[1];
    let plain = ScanContext {
        policy: &policy,
        group: None,
        first_seen: Some(now),
        now,
    };
    let seen_earlier = ScanContext {
        first_seen: Some(earlier),
        ..plain
    };
    let matches = matcher.match_packages(host);
    let expected_new = intelligence.findings(&matches, &plain);
    let expected_old = intelligence.findings(&matches, &seen_earlier);
    // Every other binary package (by name) was seen earlier.
    let known = |binary: &str| binary.len().is_multiple_of(2);
    let lookup = |binary: &str, _advisory: &str| known(binary).then_some(earlier);
    let findings = intelligence.scan_with_history(&mut matcher, host, &plain, &lookup);
    assert_eq!(findings.len(), expected_new.len());
    let mut moved = 0;
    for finding in &findings {
        let source = if known(&finding.binary) {
            &expected_old
        } else {
            &expected_new
        };
        let same = source.iter().find(|f| f.key() == finding.key()).unwrap();
        assert_eq!(finding, same);
        let other = if known(&finding.binary) {
            &expected_new
        } else {
            &expected_old
        };
        let other = other.iter().find(|f| f.key() == finding.key()).unwrap();
        moved += usize::from(other.deadline != finding.deadline);
    }
    // The first sight decides the deadline of many findings (those published before it).
    assert!(moved > 10, "{moved}");
}

/// Scans of hosts with histories remember each advisory set's classification across hosts,
/// first sights, instants, policies and groups (the intelligence's memo): every finding is the
/// one its own match classified afresh under its own first sight, in the same order.
#[test]
fn scans_with_history_remember_classifications_across_hosts_and_instants() {
    let intelligence = intelligence();
    let policy = payments_policy();
    let default_policy = PriorityPolicy::default();
    let os = OsRelease::parse("debian:12").unwrap();
    let mut matcher = intelligence.matcher(&os, false);
    let earlier: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    let (mut compared, mut started_late) = (0, 0);
    for (round, (policy, group)) in [
        (&default_policy, None),
        (&policy, Some("payments")),
        (&default_policy, None),
        (&policy, None),
        (&policy, Some("payments")),
    ]
    .into_iter()
    .enumerate()
    {
        // Each round later than the one before: remembered deadlines must move with `now`.
        let now = Timestamp::from_second(1_790_000_000 + 86_400 * round as i64).unwrap();
        let context = ScanContext {
            policy,
            group,
            first_seen: Some(now),
            now,
        };
        for (host, packages) in hosts().iter().enumerate() {
            // Some findings were seen earlier, others never (then first seen `now`).
            let seen = |binary: &str, _: &str| {
                (binary.len() + host + round)
                    .is_multiple_of(3)
                    .then_some(earlier)
            };
            let matches = matcher.match_packages(packages);
            let found = intelligence.findings_with_history(matches.iter(), &context, &seen);
            let mut expected: Vec<_> = (matches.iter())
                .flat_map(|m| {
                    let first_seen = seen(&m.installed.name, &m.advisory().id).or(Some(now));
                    let own = ScanContext {
                        first_seen,
                        ..context
                    };
                    intelligence.findings(std::slice::from_ref(m), &own)
                })
                .collect();
            pw_scan::sort_findings(&mut expected);
            assert_eq!(found, expected, "round {round}, host {host}");
            compared += found.len();
            started_late += (found.iter())
                .filter(|f| f.deadline.is_some_and(|d| d > now))
                .count();
        }
    }
    assert!(compared > 1000, "{compared}");
    assert!(started_late > 100, "{started_late} deadlines after now");
}
