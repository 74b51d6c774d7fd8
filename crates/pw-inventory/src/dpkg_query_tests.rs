//! Tests of the dpkg query parsers, on output captured from the test bed's Debian 12 hosts and
//! a Debian 12 machine (`tests/data/apt/PROVENANCE.md`) and on short hand-written cases.

use super::*;

const STATES: &str = include_str!("../tests/data/apt/dpkg-query-states.txt");
const AUDIT: &str = include_str!("../tests/data/apt/dpkg-audit-half-configured.txt");
const VERIFY: &str = include_str!("../tests/data/apt/dpkg-verify.txt");
const FILE_LIST: &str =
    include_str!("../tests/data/apt/dpkg-query-L-dbus-postgresql-common-timesyncd.txt");

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
fn reads_changed_conffiles_from_dpkg_verify() {
    let real = parse_verify(VERIFY);
    assert_eq!(
        real.into_iter().collect::<Vec<_>>(),
        ["/etc/debuginfod/elfutils.urls"]
    );
    let synthetic = parse_verify(
        "??5?????? c /etc/nginx/nginx.conf\n??5??????   /usr/lib/x.pem\n????????? c /etc/ok\nshort\n",
    );
    assert_eq!(
        synthetic.into_iter().collect::<Vec<_>>(),
        ["/etc/nginx/nginx.conf"]
    );
}

#[test]
fn systemd_units_of_real_packages() {
    // Left out: `multi-user.target.wants/dbus.service` (a link), the `pg_*@.service` templates,
    // the `diverts others to:` note.
    assert_eq!(
        systemd_units(FILE_LIST),
        [
            "dbus.service",
            "postgresql.service",
            "systemd-timesyncd.service"
        ]
    );
    assert_eq!(
        systemd_units(
            "/usr/lib/systemd/system/a.service\n/lib/systemd/system/a.service\n/etc/systemd/system/b.service\n/lib/systemd/system/c.timer\n"
        ),
        ["a.service"]
    );
    assert!(systemd_units("").is_empty());
}

#[test]
fn systemctl_show_blocks() {
    let units = parse_systemctl_show(
        "ActiveState=active\nSubState=running\nId=cron.service\n\nId=pw-demo.service\nActiveState=inactive\nSubState=dead\n\nActiveState=active\n",
    );
    let shown: Vec<_> = units
        .iter()
        .map(|u| (u.id.as_str(), u.is_running()))
        .collect();
    assert_eq!(shown, [("cron.service", true), ("pw-demo.service", false)]);
}
