//! Tests of the apt/dpkg output parsers, on output captured from the test bed's Debian 12 hosts
//! (`tests/data/apt/`) and on short hand-written cases.

use super::*;

const STATES: &str = include_str!("../../tests/data/apt/dpkg-query-states.txt");
const DIST_UPGRADE: &str = include_str!("../../tests/data/apt/apt-get-s-dist-upgrade.txt");
const DIST_UPGRADE_SECURITY: &str =
    include_str!("../../tests/data/apt/apt-get-s-dist-upgrade-security-only.txt");
const AUDIT: &str = include_str!("../../tests/data/apt/dpkg-audit-half-configured.txt");

fn origin(label: &str, release: &str, suite: &str) -> AptOrigin {
    AptOrigin {
        label: label.to_owned(),
        release: release.to_owned(),
        suite: suite.to_owned(),
    }
}

#[test]
fn package_states_from_a_real_host() {
    let (states, problems) = parse_package_states(STATES);
    assert_eq!(problems, Vec::<String>::new());
    assert!(states.len() > 100, "{}", states.len());
    let find = |name: &str| states.iter().find(|s| s.package.as_str() == name).unwrap();
    let demo = find("pw-demo");
    assert_eq!(
        (demo.version.as_str(), demo.status.as_str()),
        ("1.0-4", "iF")
    );
    assert!(!demo.is_installed_ok());
    assert!(demo.is_present());
    assert!(find("dpkg").is_installed_ok());
}

#[test]
fn package_states_edge_cases() {
    let text = "a\t1.0\tii \nb\t\tun \nc\t2\trc \nbad line\n-x\t1\tii \n\n";
    let (states, problems) = parse_package_states(text);
    let summary: Vec<_> = states
        .iter()
        .map(|s| (s.package.as_str(), s.is_installed_ok(), s.is_present()))
        .collect();
    assert_eq!(
        summary,
        [("a", true, true), ("b", false, false), ("c", false, false)]
    );
    assert_eq!(problems.len(), 2);
    assert!(
        problems[0].starts_with("line 4: expected 3"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("line 5: package name"),
        "{problems:?}"
    );
}

#[test]
fn pending_updates_with_all_suites() {
    let (updates, problems) = parse_simulated_upgrade(DIST_UPGRADE);
    assert_eq!(problems, Vec::<String>::new());
    let summary: Vec<_> = updates
        .iter()
        .map(|u| {
            (
                u.package.as_str(),
                u.installed.as_str(),
                u.candidate.as_str(),
                u.is_security(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("pw-demo", "1.0-1", "1.0-4", false),
            ("pw-demo-kernel", "1.0-1", "1.0-2", true),
        ]
    );
    assert_eq!(
        updates[1].origins,
        [origin("PatchwardenTest-Security", "12", "security")]
    );
    assert_eq!(
        updates[0].origins,
        [origin("PatchwardenTest", "12", "updates")]
    );
    assert_eq!(updates[0].architecture, "all");
}

#[test]
fn pending_updates_security_only() {
    let (updates, problems) = parse_simulated_upgrade(DIST_UPGRADE_SECURITY);
    assert_eq!(problems, Vec::<String>::new());
    let demo = updates
        .iter()
        .find(|u| u.package.as_str() == "pw-demo")
        .unwrap();
    assert_eq!(demo.candidate, "1.0-2");
    assert!(demo.is_security());
    assert_eq!(demo.origins[0].suite, "security");
}

#[test]
fn inst_line_shapes() {
    let text = "\
Inst libc6 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian:12.6/stable, Debian-Security:12/stable-security [amd64])
Inst pw-demo-lib:amd64 [2.0-1] (1.0-1 PatchwardenTest:12/stable [all]) [pw-demo-web:amd64 ]
Inst newpkg (1.0 Debian:12/stable [amd64])
Conf libc6 (2.36-9+deb12u7 Debian:12.6/stable [amd64])
Remv oldpkg [1.0]
Inst broken
Inst -x [1] (2 A:1/b [all])
";
    let (updates, problems) = parse_simulated_upgrade(text);
    assert_eq!(updates.len(), 2);
    assert_eq!(
        updates[0].origins,
        [
            origin("Debian", "12.6", "stable"),
            origin("Debian-Security", "12", "stable-security")
        ]
    );
    assert!(updates[0].is_security());
    assert_eq!(updates[0].architecture, "amd64");
    assert_eq!(updates[1].package.as_str(), "pw-demo-lib");
    assert_eq!(
        (updates[1].installed.as_str(), updates[1].candidate.as_str()),
        ("2.0-1", "1.0-1")
    );
    assert!(!updates[1].is_security());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("line 6:"));
    assert!(problems[1].starts_with("line 7:"));
}

#[test]
fn origin_without_release_or_suite() {
    assert_eq!(
        AptOrigin::parse("Label/stable"),
        origin("Label", "", "stable")
    );
    assert_eq!(AptOrigin::parse("Label"), origin("Label", "", ""));
    assert!(AptOrigin::parse("Ubuntu:24.04/noble-security").is_security());
    assert!(!AptOrigin::parse("Debian:12.6/stable").is_security());
}

#[test]
fn reboot_packages_dedup() {
    assert_eq!(
        parse_reboot_packages("pw-demo-kernel\n\npw-demo-kernel\nlinux-image\n"),
        ["pw-demo-kernel", "linux-image"]
    );
    assert!(parse_reboot_packages("").is_empty());
}

#[test]
fn audit_paragraphs() {
    let problems = parse_audit(AUDIT);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("pw-demo"), "{problems:?}");
    assert!(parse_audit("").is_empty());
}

#[test]
fn pending_updates_on_a_real_debian_machine() {
    // This development machine's `apt-get -s -q dist-upgrade`: point release and security
    // updates, with the broken-dependency brackets (`[perl:amd64 ]`, `[]`) apt appends.
    let text = include_str!("../../tests/data/apt/apt-get-s-dist-upgrade-debian12.txt");
    let (updates, problems) = parse_simulated_upgrade(text);
    assert_eq!(problems, Vec::<String>::new());
    let inst_lines = text.lines().filter(|l| l.starts_with("Inst ")).count();
    assert_eq!(updates.len(), inst_lines);
    let perl = updates
        .iter()
        .find(|u| u.package.as_str() == "perl")
        .unwrap();
    assert_eq!(perl.candidate, "5.36.0-7+deb12u4");
    assert_eq!(
        perl.origins,
        [origin("Debian-Security", "12", "oldstable-security")]
    );
    assert_eq!(perl.architecture, "amd64");
    assert!(perl.is_security());
    let bash = updates
        .iter()
        .find(|u| u.package.as_str() == "bash")
        .unwrap();
    assert_eq!(bash.origins, [origin("Debian", "12.15", "oldstable")]);
    assert!(!bash.is_security());
    assert!(updates.iter().any(|u| u.is_security()) && updates.iter().any(|u| !u.is_security()));
}
