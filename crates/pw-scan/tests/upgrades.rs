//! Host-side evidence joined with advisory findings, on real data (the Debian 12 status file of
//! pw-inventory's tests and the feed snapshot of pw-feeds): backported fixes leave the pending
//! list, every pending upgrade is ranked once, security suites without a known CVE get the
//! policy's `unknown_severity`, other suites are bug fixes or enhancements.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use jiff::Timestamp;
use pw_advisory::{parse_advisories, parse_kev};
use pw_model::{Finding, InstalledPackage, OsRelease, Tier};
use pw_priority::PriorityPolicy;
use pw_scan::{Intelligence, ScanContext, Upgrade, split_backported};

fn gunzip(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&std::fs::read(&path).unwrap()[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn setup() -> (Intelligence, Vec<InstalledPackage>) {
    let batch = parse_advisories(&gunzip(
        "../pw-feeds/snapshot/osv-debian12-changelogs.jsonl.gz",
    ));
    let kev = parse_kev(&gunzip("../pw-feeds/snapshot/kev.json.gz")).unwrap();
    let intelligence = Intelligence::new(batch.advisories, Some(&kev.catalog), &[]);
    let mut packages = pw_inventory::parse_dpkg_status(&gunzip(
        "../pw-inventory/tests/data/dpkg-status-debian12.txt.gz",
    ))
    .packages;
    // The snapshot dates fixes by bookworm's backports, which this machine has: it has no
    // finding. `less` and `librsvg2-2` go back to bookworm's release versions (real versions of
    // their changelog histories) so that there are findings to work with.
    for (binary, release) in [("less", "590-2"), ("librsvg2-2", "2.54.5+dfsg-1")] {
        let package = packages.iter_mut().find(|p| p.name == binary).unwrap();
        package.version = release.into();
        package.source_version = None;
    }
    (intelligence, packages)
}

fn now() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

fn scan(
    intelligence: &Intelligence,
    packages: &[InstalledPackage],
    policy: &PriorityPolicy,
) -> Vec<Finding> {
    let os: OsRelease = "debian:12".parse().unwrap();
    let context = ScanContext {
        policy,
        group: None,
        first_seen: None,
        now: now(),
    };
    intelligence.scan(&mut intelligence.matcher(&os, false), packages, &context)
}

fn upgrade(binary: &str, installed: &str, candidate: &str, suite: &str, label: &str) -> Upgrade {
    Upgrade {
        binary: binary.into(),
        installed: installed.into(),
        candidate: candidate.into(),
        suite: suite.into(),
        label: label.into(),
        security: suite.ends_with("-security"),
        cves: None,
    }
}

fn cves(finding: &Finding) -> BTreeSet<String> {
    std::iter::once(&finding.advisory)
        .chain(&finding.aliases)
        .filter(|id| pw_model::is_cve_id(id))
        .cloned()
        .collect()
}

#[test]
fn a_finding_whose_cves_the_installed_changelog_names_is_backported() {
    let (intelligence, packages) = setup();
    let findings = scan(&intelligence, &packages, &PriorityPolicy::default());
    let chosen = findings
        .iter()
        .find(|f| !cves(f).is_empty())
        .unwrap()
        .clone();
    let history = HashMap::from([(chosen.binary.clone(), cves(&chosen))]);
    let total = findings.len();
    let (pending, backported) = split_backported(findings, &history);
    assert!(backported.iter().any(|b| b.finding == chosen));
    assert!(!pending.contains(&chosen));
    assert_eq!(pending.len() + backported.len(), total);
    assert!(backported.iter().all(|b| b.finding.binary == chosen.binary));
    assert!(
        backported[0].reason.starts_with(&format!(
            "fixed by a backport: the changelog of {} {} names CVE-",
            chosen.binary, chosen.installed
        )),
        "{}",
        backported[0].reason
    );
    // Only part of a finding's CVEs named, or another binary's changelog: still pending.
    let other = HashMap::from([("no-such-package".to_owned(), cves(&chosen))]);
    let (pending, backported) = split_backported(vec![chosen.clone()], &other);
    assert_eq!((pending.len(), backported.len()), (1, 0));
}

#[test]
fn pending_upgrades_are_ranked_once() {
    let (intelligence, packages) = setup();
    let policy = PriorityPolicy::default();
    let findings = scan(&intelligence, &packages, &policy);
    let ranked = findings.iter().find(|f| f.fixed.is_some()).unwrap();
    let fixed = ranked.fixed.clone().unwrap();
    let context = ScanContext {
        policy: &policy,
        group: None,
        first_seen: Some(now()),
        now: now(),
    };
    let covered = upgrade(
        &ranked.binary,
        &ranked.installed,
        &fixed,
        "bookworm-security",
        "Debian-Security",
    );
    // Its fix is already a ranked advisory finding: nothing added.
    let out = intelligence.upgrade_findings(
        std::slice::from_ref(&covered),
        &packages,
        &findings,
        &context,
        &|_, _| None,
    );
    assert_eq!(out, vec![]);
    // The candidate's changelog names one more CVE, in CISA KEV: one finding for it, T0.
    let mut more = covered;
    more.cves = Some(
        cves(ranked)
            .into_iter()
            .chain(["CVE-2021-44228".to_owned()])
            .collect(),
    );
    let out = intelligence.upgrade_findings(&[more], &packages, &findings, &context, &|_, _| None);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].aliases, ["CVE-2021-44228"]);
    assert_eq!(out[0].tier, Tier::T0);
    assert!(out[0].kev);
    assert_eq!(out[0].advisory, format!("bookworm-security/{fixed}"));
    assert_eq!(out[0].package, ranked.package);
}

#[test]
fn security_suite_without_cve_gets_the_policys_unknown_severity_and_others_are_classed() {
    let (intelligence, packages) = setup();
    let base = PriorityPolicy::default();
    let strict = PriorityPolicy::from_toml_str("unknown_severity = \"T1\"\n").unwrap();
    let upgrades = [
        upgrade(
            "libssl3",
            "3.0.19-1~deb12u1",
            "3.0.19-1~deb12u2",
            "bookworm-security",
            "Debian-Security",
        ),
        upgrade(
            "tzdata",
            "2025a-0+deb12u1",
            "2025b-0+deb12u1",
            "bookworm-updates",
            "Debian",
        ),
        upgrade(
            "curl",
            "7.88.1-10+deb12u12",
            "8.14.1-2~bpo12+1",
            "bookworm-backports",
            "Debian Backports",
        ),
        upgrade(
            "docker-ce",
            "5:27.1.0-1~debian.12~bookworm",
            "5:28.0.0-1~debian.12~bookworm",
            "bookworm",
            "Docker CE",
        ),
        upgrade(
            "docker-ce-cli",
            "5:27.1.0-1~debian.12~bookworm",
            "5:27.1.0-2~debian.12~bookworm",
            "bookworm",
            "Docker CE",
        ),
    ];
    let tiers = |policy: &PriorityPolicy| -> Vec<(String, Tier)> {
        let context = ScanContext {
            policy,
            group: None,
            first_seen: Some(now()),
            now: now(),
        };
        let mut out: Vec<_> = intelligence
            .upgrade_findings(&upgrades, &packages, &[], &context, &|_, _| None)
            .into_iter()
            .map(|f| (f.binary, f.tier))
            .collect();
        out.sort();
        out
    };
    let expected = |security: Tier| {
        vec![
            ("curl".to_owned(), Tier::T4),
            ("docker-ce".to_owned(), Tier::T4),
            ("docker-ce-cli".to_owned(), Tier::T3),
            ("libssl3".to_owned(), security),
            ("tzdata".to_owned(), Tier::T3),
        ]
    };
    assert_eq!(tiers(&base), expected(Tier::T3));
    assert_eq!(tiers(&strict), expected(Tier::T1));
    let context = ScanContext {
        policy: &base,
        group: None,
        first_seen: Some(now()),
        now: now(),
    };
    let libssl =
        &intelligence.upgrade_findings(&upgrades[..1], &packages, &[], &context, &|_, _| None)[0];
    assert!(
        libssl.reasons[0].contains("unknown severity"),
        "{:?}",
        libssl.reasons
    );
    assert!(
        libssl
            .reasons
            .iter()
            .any(|r| r.contains("offered by bookworm-security (Debian-Security)"))
    );
    assert_eq!(libssl.package, "openssl");
    assert!(libssl.deadline.is_some());
}
