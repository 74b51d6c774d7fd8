//! Unit tests of the downgrade check on a small hand-written feed.

use pw_advisory::parse_advisories;
use pw_model::{InstalledPackage, OsRelease, Tier};
use pw_priority::PriorityPolicy;
use pw_version::Scheme;

use super::*;
use crate::{Intelligence, ScanContext};

fn record(id: &str, cve: &str, source: &str, fixed: &str, score: &str) -> String {
    format!(
        r#"{{"id":"{id}","modified":"2026-01-01T00:00:00Z","published":"2026-01-01T00:00:00Z","aliases":["{cve}"],"summary":"{id}","severity":[{{"type":"CVSS_V3","score":"{score}"}}],"affected":[{{"package":{{"ecosystem":"Debian:12","name":"{source}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
    )
}

const HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"; // 7.5
const LOW: &str = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"; // 1.8

fn intelligence() -> Intelligence {
    let feed = [
        record(
            "DEB-1",
            "CVE-2026-0001",
            "openssl",
            "3.0.15-1~deb12u1",
            HIGH,
        ),
        record("DEB-2", "CVE-2026-0002", "openssl", "3.0.20-1", LOW),
        record("DEB-3", "CVE-2026-0003", "openssl", "3.0.2-1", HIGH),
        record(
            "DEB-4",
            "CVE-2026-0004",
            "util-linux",
            "2.38.1-5+deb12u1",
            LOW,
        ),
    ]
    .join("\n");
    let batch = parse_advisories(feed.as_bytes());
    assert!(batch.problems.is_empty(), "{:?}", batch.problems);
    Intelligence::new(batch.advisories, None, &[])
}

fn package(name: &str, version: &str, source: Option<(&str, &str)>) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: source.map(|s| s.0.into()),
        source_version: source.map(|s| s.1.into()).filter(|v| v != version),
    }
}

fn host() -> Vec<InstalledPackage> {
    vec![
        package(
            "libssl3",
            "3.0.17-1~deb12u2",
            Some(("openssl", "3.0.17-1~deb12u2")),
        ),
        package("openssl", "3.0.17-1~deb12u2", None),
        package(
            "bsdutils",
            "1:2.38.1-5+deb12u3",
            Some(("util-linux", "2.38.1-5+deb12u3")),
        ),
        package("gcc", "4:12.2.0-3", Some(("gcc-defaults", "1.203"))),
    ]
}

fn check(targets: &[&str]) -> Result<DowngradeCheck, Vec<DowngradeError>> {
    let intelligence = intelligence();
    let os: OsRelease = "debian:12".parse().unwrap();
    let mut matcher = intelligence.matcher(&os, false);
    let policy = PriorityPolicy::default();
    let context = ScanContext {
        policy: &policy,
        group: None,
        first_seen: None,
        now: "2026-12-01T00:00:00Z".parse().unwrap(),
    };
    let targets: Vec<DowngradeTarget> = targets
        .iter()
        .map(|t| DowngradeTarget::parse(t, Scheme::Dpkg).unwrap())
        .collect();
    intelligence.downgrade_check(&mut matcher, Scheme::Dpkg, &host(), &targets, &context)
}

#[test]
fn reintroduces_only_what_the_installed_version_fixed() {
    let result = check(&["libssl3=3.0.11-1~deb12u2"]).unwrap();
    let found: Vec<(&str, &str, Tier)> = result
        .reintroduced
        .iter()
        .map(|r| (r.binary.as_str(), r.advisory.as_str(), r.tier))
        .collect();
    // DEB-2 matches at both versions, DEB-3 at neither.
    assert_eq!(found, [("libssl3", "DEB-1", Tier::T1)]);
    let r = &result.reintroduced[0];
    assert_eq!(
        (
            r.installed.as_str(),
            r.target.as_str(),
            r.package.as_str(),
            r.package_version.as_str(),
            r.fixed.as_deref()
        ),
        (
            "3.0.17-1~deb12u2",
            "3.0.11-1~deb12u2",
            "openssl",
            "3.0.11-1~deb12u2",
            Some("3.0.15-1~deb12u1")
        )
    );
    assert_eq!(r.aliases, ["CVE-2026-0001"]);
    assert_eq!(result.by_tier(), [0, 1, 0, 0, 0]);
    assert_eq!(result.at_least(Tier::T1).count(), 1);
}

#[test]
fn a_binary_only_epoch_is_replaced_by_the_sources() {
    let result = check(&["bsdutils=1:2.38.1-5"]).unwrap();
    assert_eq!(result.changes[0].package_target, "2.38.1-5");
    assert_eq!(result.reintroduced[0].advisory, "DEB-4");
    assert_eq!(result.reintroduced[0].package_version, "2.38.1-5");
}

#[test]
fn source_versions_follow_the_installed_relation() {
    let binnmu = package("bash", "5.2.15-2+b8", Some(("bash", "5.2.15-2")));
    assert_eq!(
        target_source_version(&binnmu, "5.2.15-1+b2").as_deref(),
        Some("5.2.15-1")
    );
    assert_eq!(
        target_source_version(&binnmu, "5.2.15-1").as_deref(),
        Some("5.2.15-1")
    );
    let both = package(
        "libcap2",
        "1:2.66-4+deb12u2+b2",
        Some(("libcap2", "1:2.66-4+deb12u2")),
    );
    assert_eq!(
        target_source_version(&both, "1:2.66-4+b1").as_deref(),
        Some("1:2.66-4")
    );
    let gcc = package("gcc", "4:12.2.0-3", Some(("gcc-defaults", "1.203")));
    assert_eq!(target_source_version(&gcc, "4:12.2.0-2"), None);
    let epoch = package(
        "bsdutils",
        "1:2.38.1-5+deb12u3",
        Some(("util-linux", "2.38.1-5+deb12u3")),
    );
    // A target leaving the binary's epoch has no known source version.
    assert_eq!(target_source_version(&epoch, "2.38.1-5"), None);
}

#[test]
fn bad_targets_are_named_all_at_once() {
    let errors = check(&[
        "libssl3=3.0.18-1",
        "openssl=3.0.17-1~deb12u2",
        "nginx=1.0-1",
        "gcc=4:12.2.0-2",
        "libssl3=3.0.1-1",
    ])
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "target libssl3=3.0.18-1: not lower than the installed 3.0.17-1~deb12u2, so not a downgrade",
            "target openssl=3.0.17-1~deb12u2: not lower than the installed 3.0.17-1~deb12u2, so not a downgrade",
            "target nginx: the package is not installed",
            "target gcc=4:12.2.0-2: cannot tell its source version (gcc 4:12.2.0-3 is built from gcc-defaults 1.203, an unrelated version); check the source package's binary instead",
            "target libssl3: named more than once",
        ]
    );
}

#[test]
fn target_syntax_names_and_versions_are_validated() {
    let err = |t: &str| {
        DowngradeTarget::parse(t, Scheme::Dpkg)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("libssl3"),
        "target \"libssl3\": expected PKG=VERSION (e.g. libssl3=3.0.15-1~deb12u1)"
    );
    assert!(err("-oDebug=1=2").starts_with("target \"-oDebug=1=2\": package name"));
    assert!(err("libssl3=1.0 1").starts_with("target libssl3=\"1.0 1\": "));
    assert!(err("libssl3=").starts_with("target libssl3=\"\": "));
}
