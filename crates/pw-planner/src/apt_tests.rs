//! Tests of the apt parsers against output captured on Debian 12 (tests/data/PROVENANCE.md).

use super::*;

const OPENSSL: &str = include_str!("../tests/data/apt-s-openssl-upgrade.txt");
const KERNEL: &str = include_str!("../tests/data/apt-s-kernel.txt");
const CHRONY: &str = include_str!("../tests/data/apt-s-chrony-removal.txt");
const MISSING: &str = include_str!("../tests/data/apt-s-missing-version.txt");
const DIST_UPGRADE: &str = include_str!("../tests/data/apt-s-dist-upgrade.txt");
const MADISON: &str = include_str!("../tests/data/apt-cache-madison-bash-openssl.txt");
const POLICY: &str = include_str!("../tests/data/apt-cache-policy-openssl-postgresql.txt");

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
    let simulation = Simulation::parse(DIST_UPGRADE);
    let inst = DIST_UPGRADE
        .lines()
        .filter(|l| l.starts_with("Inst "))
        .count();
    let conf = DIST_UPGRADE
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
}

#[test]
fn madison_lists_downloadable_versions() {
    let mut availability = Availability::default();
    availability.add_madison(MADISON);
    assert_eq!(
        availability.can_download("bash", "5.2.15-2+b13"),
        Some(true)
    );
    assert_eq!(
        availability.can_download("bash", "5.2.15-2+b8"),
        Some(false)
    );
    assert_eq!(
        availability.can_download("openssl", "3.0.17-1~deb12u2"),
        Some(true)
    );
    assert_eq!(
        availability.can_download("openssl", "3.0.19-1~deb12u2"),
        Some(false)
    );
    assert_eq!(availability.can_download("zsh", "1"), None);
}

#[test]
fn policy_separates_installed_from_downloadable() {
    let mut availability = Availability::default();
    availability.add_policy(POLICY);
    let openssl = &availability.packages["openssl"];
    assert_eq!(openssl.installed.as_deref(), Some("3.0.19-1~deb12u2"));
    assert_eq!(openssl.candidate.as_deref(), Some("3.0.22-1~deb12u2"));
    assert_eq!(
        openssl.downloadable.iter().collect::<Vec<_>>(),
        ["3.0.17-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2"]
    );
    // postgresql-15's installed version is still on the bookworm mirror: rollback possible.
    assert_eq!(
        availability.can_download("postgresql-15", "15.18-0+deb12u1"),
        Some(true)
    );
    assert_eq!(
        availability.can_download("libssl3", "3.0.19-1~deb12u2"),
        Some(false)
    );
}
