//! Matcher semantics, one test per rule of docs/matching.md.

use pw_advisory::{AdvisoryIndex, Match, parse_advisories};
use pw_model::{InstalledPackage, OsRelease};

use crate::data;

/// An index of OSV records given as JSON lines.
fn index(records: &[&str]) -> AdvisoryIndex {
    let batch = parse_advisories(records.join("\n").as_bytes());
    assert_eq!(batch.problems, vec![]);
    AdvisoryIndex::new(batch.advisories)
}

/// A record with one affected entry.
fn record(id: &str, aliases: &[&str], ecosystem: &str, name: &str, entry: &str) -> String {
    format!(
        r#"{{"id":"{id}","aliases":{},"affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"{name}"}},{entry}}}]}}"#,
        serde_json::to_string(aliases).unwrap()
    )
}

fn ranges(events: &str) -> String {
    format!(r#""ranges":[{{"type":"ECOSYSTEM","events":[{events}]}}]"#)
}

fn deb(name: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: None,
        source_version: None,
    }
}

fn deb_from(
    name: &str,
    version: &str,
    source: &str,
    source_version: Option<&str>,
) -> InstalledPackage {
    InstalledPackage {
        source: Some(source.into()),
        source_version: source_version.map(Into::into),
        ..deb(name, version)
    }
}

fn os(text: &str) -> OsRelease {
    OsRelease::parse(text).unwrap()
}

/// (advisory ids, fixed) of each match, in order.
fn summary<'a>(matches: &[Match<'a>]) -> Vec<(Vec<&'a str>, Option<&'a str>)> {
    matches
        .iter()
        .map(|m| {
            let ids = m
                .advisories
                .iter()
                .map(|a| a.advisory.id.as_str())
                .collect();
            (ids, m.fixed)
        })
        .collect()
}

/// The fix reported for one Debian package at one version, or `None` when not affected.
fn check_deb(index: &AdvisoryIndex, version: &str) -> Option<Option<String>> {
    let installed = [deb("pkg", version)];
    let matches = index.match_packages(&os("debian:12"), false, &installed);
    assert!(matches.len() <= 1);
    matches.first().map(|m| m.fixed.map(str::to_owned))
}

#[test]
fn introduced_zero_and_fixed() {
    let idx = index(&[&record(
        "A-1",
        &[],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"},{"fixed":"1.2-3"}"#),
    )]);
    assert_eq!(check_deb(&idx, "1.2-2"), Some(Some("1.2-3".into())));
    assert_eq!(
        check_deb(&idx, "1.2-3~deb12u1"),
        Some(Some("1.2-3".into())),
        "~ sorts before"
    );
    assert_eq!(check_deb(&idx, "1.2-3"), None);
    assert_eq!(check_deb(&idx, "1.2-3+deb12u1"), None);
}

#[test]
fn reintroduction_and_several_ranges() {
    let entry = r#""ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-2"},{"introduced":"2.0-1"},{"fixed":"2.0-3"}]},{"type":"ECOSYSTEM","events":[{"introduced":"5.0"}]}]"#;
    let idx = index(&[&record("A-1", &[], "Debian:12", "pkg", entry)]);
    assert_eq!(check_deb(&idx, "1.0-1"), Some(Some("1.0-2".into())));
    assert_eq!(check_deb(&idx, "1.5-1"), None);
    assert_eq!(check_deb(&idx, "2.0-2"), Some(Some("2.0-3".into())));
    assert_eq!(check_deb(&idx, "2.0-3"), None);
    assert_eq!(check_deb(&idx, "5.0"), Some(None), "second range, no fix");
}

#[test]
fn last_affected_is_inclusive() {
    let idx = index(&[&record(
        "A-1",
        &[],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"1.0"},{"last_affected":"1.4-2"}"#),
    )]);
    assert_eq!(check_deb(&idx, "0.9"), None);
    assert_eq!(check_deb(&idx, "1.4-2"), Some(None));
    assert_eq!(check_deb(&idx, "1.4-2+b1"), None);
}

#[test]
fn versions_lists_add_to_ranges() {
    // A list alone: exactly the listed versions (dpkg equality: 0:1.0-1 is 1.0-1).
    let only_list = index(&[&record(
        "A-1",
        &[],
        "Debian:12",
        "pkg",
        r#""versions":["0:1.0-1","1.1-1"]"#,
    )]);
    assert_eq!(check_deb(&only_list, "1.0-1"), Some(None));
    assert_eq!(check_deb(&only_list, "1.1-1"), Some(None));
    assert_eq!(check_deb(&only_list, "1.0-2"), None);
    // A list and a fix: a version below the fix is affected even when the list misses it.
    let entry = format!(
        r#"{},"versions":["1.0-1","3.0-1"]"#,
        ranges(r#"{"introduced":"0"},{"fixed":"2.0-1"}"#)
    );
    let both = index(&[&record("A-1", &[], "Debian:12", "pkg", &entry)]);
    assert_eq!(
        check_deb(&both, "1.5-1"),
        Some(Some("2.0-1".into())),
        "not listed, below fix"
    );
    assert_eq!(
        check_deb(&both, "3.0-1"),
        Some(None),
        "listed above the fix: OSV says affected"
    );
    assert_eq!(check_deb(&both, "2.5-1"), None);
}

#[test]
fn entries_without_fix_affect_every_version() {
    let idx = index(&[&record(
        "A-1",
        &[],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"}"#),
    )]);
    assert_eq!(check_deb(&idx, "0~"), Some(None));
    assert_eq!(check_deb(&idx, "99:1"), Some(None));
}

#[test]
fn withdrawn_records_are_ignored() {
    let live = record(
        "A-1",
        &[],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"},{"fixed":"2"}"#),
    );
    let withdrawn = live.replacen(
        r#""id":"A-1""#,
        r#""id":"A-2","withdrawn":"2024-01-01T00:00:00Z""#,
        1,
    );
    let idx = index(&[&live, &withdrawn]);
    assert_eq!(idx.stats().withdrawn_skipped, 1);
    assert!(idx.get("A-2").is_none());
    let installed = [deb("pkg", "1")];
    let matches = idx.match_packages(&os("debian:12"), false, &installed);
    assert_eq!(summary(&matches), [(vec!["A-1"], Some("2"))]);
}

#[test]
fn records_sharing_a_cve_give_one_match_with_the_fix_for_all() {
    let a = record(
        "DSA-1",
        &["CVE-2024-0001"],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"},{"fixed":"1.0-3"}"#),
    );
    let b = record(
        "DEBIAN-CVE-2024-0001",
        &[],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"},{"fixed":"1.0-5"}"#),
    );
    let other = record(
        "DSA-2",
        &["CVE-2024-0002"],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"},{"fixed":"1.0-4"}"#),
    );
    let idx = index(&[&a, &b, &other]);
    let installed = [deb("pkg", "1.0-1")];
    let matches = idx.match_packages(&os("debian:12"), false, &installed);
    assert_eq!(
        summary(&matches),
        [
            (vec!["DEBIAN-CVE-2024-0001", "DSA-1"], Some("1.0-5")),
            (vec!["DSA-2"], Some("1.0-4")),
        ]
    );
    assert_eq!(matches[0].cves, ["CVE-2024-0001"]);
    assert_eq!(matches[0].aliases(), ["CVE-2024-0001", "DSA-1"]);
    // Between the two fixes only one record still applies.
    let installed = [deb("pkg", "1.0-3")];
    let matches = idx.match_packages(&os("debian:12"), false, &installed);
    assert_eq!(
        summary(&matches),
        [
            (vec!["DEBIAN-CVE-2024-0001"], Some("1.0-5")),
            (vec!["DSA-2"], Some("1.0-4"))
        ]
    );
    // One merged record without a fix: the match has no fix.
    let unfixed = record(
        "UBUNTU-CVE-2024-0001",
        &[],
        "Debian:12",
        "pkg",
        &ranges(r#"{"introduced":"0"}"#),
    );
    let idx = index(&[&a, &unfixed]);
    let installed = [deb("pkg", "1.0-1")];
    let matches = idx.match_packages(&os("debian:12"), false, &installed);
    assert_eq!(
        summary(&matches),
        [(vec!["DSA-1", "UBUNTU-CVE-2024-0001"], None)]
    );
}

#[test]
fn real_usn_and_ubuntu_cve_records_merge_and_versions_lists_differ() {
    let batch = parse_advisories(&data("osv-ubuntu-sample.jsonl.gz"));
    let idx = AdvisoryIndex::new(batch.advisories);
    // 1:9.6p1-3ubuntu3 is listed by UBUNTU-CVE-2024-6387 but not by USN-6859-1; both ranges
    // hold it, so both advisories apply, merged into one match.
    let installed = [deb_from(
        "openssh-server",
        "1:9.6p1-3ubuntu3",
        "openssh",
        None,
    )];
    let matches = idx.match_packages(&os("ubuntu:24.04"), false, &installed);
    assert_eq!(
        summary(&matches),
        [(
            vec!["UBUNTU-CVE-2024-6387", "USN-6859-1"],
            Some("1:9.6p1-3ubuntu13.3")
        )]
    );
    let m = &matches[0];
    assert_eq!(
        (m.package, m.package_version),
        ("openssh", "1:9.6p1-3ubuntu3")
    );
    assert_eq!(m.cves, ["CVE-2024-6387"]);
    assert_eq!(m.cvss(), Some(8.1));
    assert_eq!(m.severity().map(|s| s.word.as_str()), Some("high"));
    assert_eq!(m.published().unwrap().to_string(), "2024-07-01T00:00:00Z");
    // Fixed version: nothing.
    let installed = [deb_from(
        "openssh-server",
        "1:9.6p1-3ubuntu13.3",
        "openssh",
        None,
    )];
    assert!(
        idx.match_packages(&os("ubuntu:24.04"), false, &installed)
            .is_empty()
    );
    // The USN naming two CVEs merges both per-CVE records of sudo on 24.04.
    let installed = [deb("sudo", "1.9.15p5-3ubuntu5")];
    let matches = idx.match_packages(&os("ubuntu:24.04"), false, &installed);
    assert_eq!(
        summary(&matches),
        [(
            vec!["UBUNTU-CVE-2025-32463", "USN-7604-1"],
            Some("1.9.15p5-3ubuntu5.24.04.1")
        )]
    );
    assert_eq!(matches[0].cves, ["CVE-2025-32462", "CVE-2025-32463"]);
    assert_eq!(matches[0].cvss(), Some(9.3));
}

#[test]
fn ubuntu_pro_ecosystems_only_when_attached() {
    let batch = parse_advisories(&data("osv-ubuntu-sample.jsonl.gz"));
    let idx = AdvisoryIndex::new(batch.advisories);
    let installed = [deb("nginx", "1.14.0-0ubuntu1.11")];
    let bionic = os("ubuntu:18.04");
    assert!(idx.match_packages(&bionic, false, &installed).is_empty());
    let matches = idx.match_packages(&bionic, true, &installed);
    assert_eq!(
        summary(&matches),
        [(vec!["UBUNTU-CVE-2024-7347"], None)],
        "no fix in Pro"
    );
    // A plain release is matched with or without Pro.
    let jammy = os("ubuntu:22.04");
    let installed = [deb("nginx", "1.18.0-6ubuntu14.4")];
    for pro in [false, true] {
        let matches = idx.match_packages(&jammy, pro, &installed);
        assert_eq!(
            summary(&matches),
            [(vec!["UBUNTU-CVE-2024-7347"], Some("1.18.0-6ubuntu14.5"))]
        );
    }
    // Interim release: "Ubuntu:25.04" without ":LTS".
    let installed = [deb("sudo", "1.9.16p2-1ubuntu1")];
    let matches = idx.match_packages(&os("ubuntu:25.04"), false, &installed);
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].fixed, Some("1.9.16p2-1ubuntu1.1"));
}

#[test]
fn dpkg_matches_the_source_package_and_its_version() {
    let idx = index(&[
        &record(
            "A-1",
            &["CVE-2024-0001"],
            "Debian:12",
            "gcc-defaults",
            &ranges(r#"{"introduced":"0"},{"fixed":"1.204"}"#),
        ),
        &record(
            "A-2",
            &["CVE-2024-0002"],
            "Debian:12",
            "foo",
            &ranges(r#"{"introduced":"0"},{"fixed":"2.1-3"}"#),
        ),
        &record(
            "A-3",
            &["CVE-2024-0003"],
            "Debian:12",
            "gcc",
            &ranges(r#"{"introduced":"0"}"#),
        ),
    ]);
    let installed = [
        // Binary version 4:12.2.0-3 of source gcc-defaults 1.203: the source version decides.
        deb_from("gcc", "4:12.2.0-3", "gcc-defaults", Some("1.203")),
        // binNMU: binary 2.1-2+b1 built from source 2.1-2.
        deb_from("libfoo1", "2.1-2+b1", "foo", Some("2.1-2")),
        deb_from("libfoo-bin", "2.1-3+b1", "foo", Some("2.1-3")),
        deb("unrelated", "1.0"),
    ];
    let matches = idx.match_packages(&os("debian:12"), false, &installed);
    let got: Vec<_> = matches
        .iter()
        .map(|m| {
            (
                m.package_index,
                m.installed.name.as_str(),
                m.package,
                m.package_version,
                m.advisory().id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, "gcc", "gcc-defaults", "1.203", "A-1"),
            (1, "libfoo1", "foo", "2.1-2", "A-2"),
        ],
        "A-3 names the binary gcc, which is not a source package here"
    );
}

#[test]
fn rpm_matches_binary_names_with_epochs() {
    let idx = index(&[&record(
        "ALSA-2024:0001",
        &[],
        "AlmaLinux:9",
        "openssl-libs",
        &ranges(r#"{"introduced":"0"},{"fixed":"1:3.0.7-25.el9_3"}"#),
    )]);
    let alma = os("almalinux:9");
    let check = |version: &str| {
        let installed = [InstalledPackage {
            name: "openssl-libs".into(),
            version: version.into(),
            arch: "x86_64".into(),
            source: Some("openssl".into()),
            source_version: None,
        }];
        idx.match_packages(&alma, false, &installed).len()
    };
    assert_eq!(check("1:3.0.7-24.el9"), 1);
    assert_eq!(check("3.0.7-27.el9"), 1, "no epoch is epoch 0, below 1:");
    assert_eq!(check("1:3.0.7-25.el9_3"), 0);
    assert_eq!(check("1:3.0.7-25.el9_3.alma.1"), 0);
    assert_eq!(check("1:3.1.0-1.el9"), 0);
    assert!(
        idx.match_packages(&os("almalinux:8"), false, &[])
            .is_empty()
    );
}

#[test]
fn module_streams_any_entry_affects_and_the_highest_fix_is_reported() {
    let entries = r#"{"package":{"ecosystem":"AlmaLinux:8","name":"oci-umount"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2:2.3.4-2.module_el8.5.0+119"}]}]},
        {"package":{"ecosystem":"AlmaLinux:8","name":"oci-umount"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2:2.3.4-2.module_el8.3.0+2044"}]}]}"#;
    let json = format!(
        r#"{{"id":"ALBA-2019:0973","affected":[{}]}}"#,
        entries.replace('\n', "")
    );
    let idx = index(&[&json]);
    let el8 = os("almalinux:8");
    let at = |version: &str| {
        let installed = [InstalledPackage {
            name: "oci-umount".into(),
            version: version.into(),
            arch: "x86_64".into(),
            source: None,
            source_version: None,
        }];
        let matches = idx.match_packages(&el8, false, &installed);
        assert!(matches.len() <= 1, "one match per package per advisory");
        matches.first().map(|m| m.fixed.map(str::to_owned))
    };
    assert_eq!(
        at("2:2.3.4-1.module_el8.3.0+2044"),
        Some(Some("2:2.3.4-2.module_el8.5.0+119".into()))
    );
    assert_eq!(
        at("2:2.3.4-2.module_el8.3.0+2044"),
        Some(Some("2:2.3.4-2.module_el8.5.0+119".into())),
        "only the 8.5 entry"
    );
    assert_eq!(at("2:2.3.4-2.module_el8.5.0+119"), None);
}

#[test]
fn real_almalinux_feed_matches_only_its_release() {
    let batch = parse_advisories(&data("osv-almalinux.jsonl.gz"));
    let idx = AdvisoryIndex::new(batch.advisories);
    // 37 ids appear two or three times (byte-identical lines, one advisory covering two
    // releases): 5,680 lines, 5,637 distinct advisories with 69,160 entries (counted in Python).
    let stats = idx.stats();
    assert_eq!((stats.advisories, stats.duplicates_replaced), (5_637, 43));
    assert_eq!(stats.fixed_only_entries, 69_160);
    assert_eq!(
        stats.unfixed_entries + stats.general_entries + stats.empty_entries,
        0
    );
    let installed = [InstalledPackage {
        name: "kernel-core".into(),
        version: "5.14.0-70.13.1.el9_0".into(),
        arch: "x86_64".into(),
        source: None,
        source_version: None,
    }];
    let nine = idx.match_packages(&os("almalinux:9"), false, &installed);
    assert!(
        nine.len() > 50,
        "an old 9.0 kernel has many advisories: {}",
        nine.len()
    );
    assert!(nine.iter().all(|m| m.advisories.iter().all(|a| {
        a.advisory
            .affected
            .iter()
            .any(|e| e.ecosystem == "AlmaLinux:9")
    })));
    let ten = idx.match_packages(&os("almalinux:10"), false, &installed);
    assert!(ten.len() < nine.len());
}
