//! Tests of the restart and reboot parsers on input captured on the development machine
//! (`tests/data/restart/PROVENANCE.md`) and on short hand-written cases.

use super::*;
use crate::dpkg_query::{DpkgAudit, parse_dpkg_audit, parse_package_states};

const MAPS: &str = include_str!("../tests/data/restart/proc-maps-deleted-lib.txt");
const CGROUP_V1: &str = include_str!("../tests/data/restart/proc-cgroup-v1-nosystemd.txt");
const OSRELEASE: &str = include_str!("../tests/data/restart/osrelease.txt");
const KERNELS: &str = include_str!("../tests/data/restart/dpkg-query-linux-image.txt");
const AUDIT_LOCKED: &str = include_str!("../tests/data/restart/dpkg-audit-locked-triggers.txt");
const AUDIT_HALF: &str = include_str!("../tests/data/apt/dpkg-audit-half-configured.txt");

#[test]
fn a_deleted_library_from_a_real_process() {
    let deleted = parse_deleted_mappings(MAPS);
    assert_eq!(deleted, ["/tmp/pwr/libz.so.1"]);
    assert!(is_shared_library(&deleted[0]));
    // The same process's live libc is mapped too and is not reported.
    assert!(MAPS.contains("/usr/lib/x86_64-linux-gnu/libc.so.6\n"));
}

#[test]
fn deleted_memory_and_odd_lines_are_not_replaced_files() {
    let maps = "7f00-7f01 rw-s 00000000 00:01 7 /memfd:wayland-cursor (deleted)\n\
        7f01-7f02 rw-s 00000000 00:05 9 /dev/shm/pulse-shm-1 (deleted)\n\
        7f02-7f03 rw-s 00000000 00:05 9 /SYSV00000000 (deleted)\n\
        7f03-7f04 r-xp 00000000 fe:00 4 /usr/sbin/nginx (deleted)\n\
        7f04-7f05 r-xp 00000000 fe:00 5 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n\
        7f05-7f06 r--p 00001000 fe:00 5 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n\
        7f06-7f07 rw-p 00000000 00:00 0 \n\
        garbage\n\
        7f07-7f08 r--p 00000000 fe:00 6 /opt/my file.so (deleted)\n";
    assert_eq!(
        parse_deleted_mappings(maps),
        [
            "/usr/sbin/nginx",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "/opt/my file.so"
        ]
    );
    assert!(!is_shared_library("/usr/sbin/nginx"));
    assert!(is_shared_library("/lib/security/pam_unix.so"));
    assert!(!is_shared_library("/usr/share/something.sog"));
}

#[test]
fn cgroup_unit_without_systemd_is_none() {
    // This machine: cgroup v1 plus an empty unified line, no init system of ours.
    assert_eq!(parse_cgroup_unit(CGROUP_V1), None);
}

#[test]
fn cgroup_unit_from_unified_and_named_hierarchies() {
    assert_eq!(
        parse_cgroup_unit("0::/system.slice/cron.service\n").as_deref(),
        Some("cron.service")
    );
    assert_eq!(
        parse_cgroup_unit(
            "12:pids:/system.slice/nginx.service\n1:name=systemd:/system.slice/nginx.service\n0::/\n"
        )
        .as_deref(),
        Some("nginx.service")
    );
    // A delegated service's sub-cgroup, a templated instance.
    assert_eq!(
        parse_cgroup_unit("0::/system.slice/containerd.service/init.scope\n").as_deref(),
        Some("containerd.service")
    );
    assert_eq!(
        parse_cgroup_unit("0::/system.slice/system-getty.slice/getty@tty1.service\n").as_deref(),
        Some("getty@tty1.service")
    );
    for none in [
        "0::/user.slice/user-1000.slice/session-2.scope\n",
        "0::/system.slice/docker-0123abcd.scope\n",
        "0::/\n",
        "",
        "0::/system.slice/.service\n",
    ] {
        assert_eq!(parse_cgroup_unit(none), None, "{none:?}");
    }
}

#[test]
fn running_kernel_against_the_newest_installed() {
    assert_eq!(
        parse_kernel_release(OSRELEASE).as_deref(),
        Some("6.18.44-fc-v1252")
    );
    assert_eq!(parse_kernel_release("\n"), None);
    let (states, problems) = parse_package_states(KERNELS);
    assert!(problems.is_empty(), "{problems:?}");
    let old = kernel_status("6.1.0-50-amd64", &states);
    let newest = old.newest.clone().unwrap();
    assert_eq!(
        (newest.package.as_str(), newest.release.as_str()),
        ("linux-image-6.1.0-57-amd64", "6.1.0-57-amd64")
    );
    assert!(old.needs_reboot());
    assert!(!kernel_status("6.1.0-57-amd64", &states).needs_reboot());
    // This machine (and a container) installs no kernel package: no verdict.
    let none = kernel_status("6.18.44-fc-v1252", &[]);
    assert_eq!(none.newest, None);
    assert!(!none.needs_reboot());
}

#[test]
fn kernel_package_names() {
    for (package, release) in [
        ("linux-image-6.1.0-18-amd64", Some("6.1.0-18-amd64")),
        (
            "linux-image-6.1.0-18-amd64-unsigned",
            Some("6.1.0-18-amd64"),
        ),
        (
            "linux-image-unsigned-5.15.0-91-generic",
            Some("5.15.0-91-generic"),
        ),
        ("linux-image-5.15.0-91-generic", Some("5.15.0-91-generic")),
        ("linux-image-amd64", None),
        ("linux-image-cloud-amd64", None),
        ("linux-image-6.1.0-18-amd64-dbg", None),
        ("linux-headers-6.1.0-18-amd64", None),
        ("linux-image-", None),
    ] {
        assert_eq!(kernel_release_of(package), release, "{package}");
    }
}

#[test]
fn dpkg_audit_problems_with_their_packages() {
    let locked = parse_dpkg_audit(AUDIT_LOCKED);
    assert!(locked.locked);
    let shown: Vec<(&str, Vec<&str>)> = locked
        .problems
        .iter()
        .map(|p| {
            (
                p.summary.as_str(),
                p.packages.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "The following packages are in a mess due to serious problems during",
                vec!["dpkg"]
            ),
            (
                "The following packages have been triggered, but the trigger processing",
                vec!["libc-bin", "man-db"]
            ),
        ]
    );
    let half = parse_dpkg_audit(AUDIT_HALF);
    assert!(!half.locked);
    assert_eq!(half.problems.len(), 1);
    assert_eq!(half.problems[0].packages, ["pw-demo"]);
    assert_eq!(parse_dpkg_audit(""), DpkgAudit::default());
    // The paragraph list leaves the lock note out too.
    assert_eq!(crate::dpkg_query::parse_audit(AUDIT_LOCKED).len(), 2);
}
