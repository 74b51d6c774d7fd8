//! Tests of the `apt-get -s` parser against output captured on Debian 12 and on the test bed's
//! hosts (`tests/data/apt/PROVENANCE.md`), and on short hand-written cases.

use super::*;

const OPENSSL: &str = include_str!("../../tests/data/apt/apt-s-openssl-upgrade.txt");
const KERNEL: &str = include_str!("../../tests/data/apt/apt-s-kernel.txt");
const CHRONY: &str = include_str!("../../tests/data/apt/apt-s-chrony-removal.txt");
const MISSING: &str = include_str!("../../tests/data/apt/apt-s-missing-version.txt");
const DIST_UPGRADE_PLANNER: &str = include_str!("../../tests/data/apt/apt-s-dist-upgrade.txt");
const DIST_UPGRADE: &str = include_str!("../../tests/data/apt/apt-get-s-dist-upgrade.txt");
const DIST_UPGRADE_SECURITY: &str =
    include_str!("../../tests/data/apt/apt-get-s-dist-upgrade-security-only.txt");

fn origin(label: &str, release: &str, suite: &str) -> AptOrigin {
    AptOrigin {
        label: label.to_owned(),
        release: release.to_owned(),
        suite: suite.to_owned(),
    }
}
#[test]
fn parses_a_security_upgrade() {
    let simulation = Simulation::parse(OPENSSL);
    assert!(simulation.errors.is_empty());
    assert_eq!(
        simulation.upgrades(),
        [
            ("libssl-dev", "3.0.19-1~deb12u2", "3.0.22-1~deb12u2"),
            ("libssl3", "3.0.19-1~deb12u2", "3.0.22-1~deb12u2"),
            ("openssl", "3.0.19-1~deb12u2", "3.0.22-1~deb12u2"),
        ]
    );
    assert!(simulation.new_packages().is_empty());
    assert!(simulation.removed_packages().is_empty());
    assert_eq!(
        simulation.actions[0],
        Action::Install {
            package: "libssl-dev".into(),
            from: Some("3.0.19-1~deb12u2".into()),
            version: "3.0.22-1~deb12u2".into(),
            origin: "Debian-Security:12/oldstable-security".into(),
            arch: "amd64".into(),
        }
    );
    assert_eq!(
        simulation.actions[3],
        Action::Configure {
            package: "libssl-dev".into(),
            version: "3.0.22-1~deb12u2".into()
        }
    );
}

#[test]
fn finds_new_packages_and_the_kernel() {
    let simulation = Simulation::parse(KERNEL);
    let new = simulation.new_packages();
    assert_eq!(new.len(), 13, "{new:?}");
    assert!(new.contains(&"linux-image-6.1.0-56-amd64"));
    assert!(new.contains(&"busybox"));
    assert_eq!(simulation.upgrades().len(), 8);
    assert_eq!(
        simulation.installs().get("busybox"),
        Some(&"1:1.35.0-4+deb12u1+b1")
    );
}

#[test]
fn finds_removals() {
    let simulation = Simulation::parse(CHRONY);
    assert_eq!(simulation.removed_packages(), ["systemd-timesyncd"]);
    assert_eq!(simulation.new_packages(), ["chrony"]);
    assert!(matches!(
        &simulation.actions[0],
        Action::Remove { from: Some(v), purge: false, .. } if v == "252.38-1~deb12u1"
    ));
}

#[test]
fn reports_apt_errors() {
    let simulation = Simulation::parse(MISSING);
    assert_eq!(
        simulation.errors,
        ["Version '0.0.1-1' for 'openssl' was not found"]
    );
    assert!(simulation.actions.is_empty());
}

#[test]
fn parses_multi_origin_lines_of_a_dist_upgrade() {
    let simulation = Simulation::parse(DIST_UPGRADE_PLANNER);
    let inst = DIST_UPGRADE_PLANNER
        .lines()
        .filter(|l| l.starts_with("Inst "))
        .count();
    let conf = DIST_UPGRADE_PLANNER
        .lines()
        .filter(|l| l.starts_with("Conf "))
        .count();
    assert_eq!(simulation.installs().len(), inst);
    assert_eq!(simulation.actions.len(), inst + conf);
    let krb5 = simulation
        .actions
        .iter()
        .find(|a| matches!(a, Action::Install { package, .. } if package == "krb5-locales"));
    assert_eq!(
        krb5,
        Some(&Action::Install {
            package: "krb5-locales".into(),
            from: Some("1.20.1-2+deb12u3".into()),
            version: "1.20.1-2+deb12u5".into(),
            origin: "Debian:12.15/oldstable, Debian-Security:12/oldstable-security".into(),
            arch: "all".into(),
        })
    );
}

#[test]
fn handles_synthetic_edge_lines() {
    let simulation = Simulation::parse(
        "Inst libc6:i386 [2.36-9] (2.36-9+deb12u4 Debian:12/stable [i386])\nPurg foo [1.0]\nInst\nInst x [1\nConf y\n",
    );
    assert_eq!(
        simulation.upgrades(),
        [("libc6", "2.36-9", "2.36-9+deb12u4")]
    );
    assert!(matches!(
        &simulation.actions[1],
        Action::Remove { purge: true, .. }
    ));
    assert_eq!(simulation.actions.len(), 2);
    let problems: Vec<_> = simulation
        .problems
        .iter()
        .map(|p| (p.line, p.verb))
        .collect();
    assert_eq!(problems, [(4, "Inst"), (5, "Conf")]);
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
