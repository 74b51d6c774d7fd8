//! Lossless round trips (property tests) and hostile input: truncation and garbage never panic.

use proptest::prelude::*;
use pw_inventory::apt::{Availability, Simulation, parse_simulated_upgrade};
use pw_inventory::dpkg_query::{
    parse_audit, parse_package_states, parse_reboot_packages, parse_systemctl_show, parse_verify,
    systemd_units,
};
use pw_inventory::{
    InstalledPackage, format_dpkg_stanza, format_rpm_qa_line, parse_dpkg_conffiles,
    parse_dpkg_status, parse_rpm_qa,
};

use crate::data;

fn dpkg_package() -> impl Strategy<Value = InstalledPackage> {
    let name = "[a-z0-9][a-z0-9.+-]{1,20}";
    let version = "([0-9]{1,3}:)?[0-9][A-Za-z0-9.+~]{0,8}(-[A-Za-z0-9.+~]{1,6})?";
    (
        name,
        version,
        prop_oneof![Just("amd64"), Just("all"), Just("arm64"), Just("i386")],
        proptest::option::of(name),
        proptest::option::of(version),
    )
        .prop_map(
            |(name, version, arch, source, source_version)| InstalledPackage {
                source: source.filter(|s| *s != name),
                source_version: source_version.filter(|v| *v != version),
                name,
                version,
                arch: arch.into(),
            },
        )
}

fn rpm_package() -> impl Strategy<Value = InstalledPackage> {
    (
        "[A-Za-z0-9][A-Za-z0-9._+-]{0,20}",
        proptest::option::of(0u32..100),
        "[A-Za-z0-9][A-Za-z0-9._+~^]{0,10}",
        "[A-Za-z0-9._+~^]{1,12}",
        prop_oneof![Just(""), Just("x86_64"), Just("noarch"), Just("aarch64")],
    )
        .prop_map(|(name, epoch, version, release, arch)| InstalledPackage {
            name,
            version: match epoch {
                Some(e) => format!("{e}:{version}-{release}"),
                None => format!("{version}-{release}"),
            },
            arch: arch.into(),
            source: None,
            source_version: None,
        })
}

proptest! {
    #[test]
    fn dpkg_format_then_parse_is_lossless(packages in proptest::collection::vec(dpkg_package(), 0..8)) {
        let text: String = packages.iter().map(format_dpkg_stanza).collect();
        let parsed = parse_dpkg_status(text.as_bytes());
        prop_assert_eq!(parsed.problems, vec![]);
        prop_assert_eq!(parsed.packages, packages);
    }

    #[test]
    fn rpm_format_then_parse_is_lossless(packages in proptest::collection::vec(rpm_package(), 0..8)) {
        let text: String = packages.iter().map(format_rpm_qa_line).collect();
        let parsed = parse_rpm_qa(text.as_bytes());
        prop_assert_eq!(parsed.problems, vec![]);
        prop_assert_eq!(parsed.packages, packages);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dpkg = parse_dpkg_status(&bytes);
        let rpm = parse_rpm_qa(&bytes);
        for problem in dpkg.problems.iter().chain(&rpm.problems) {
            prop_assert!(problem.line().is_some_and(|l| l >= 1));
        }
        let _ = pw_inventory::parse_os_release(&String::from_utf8_lossy(&bytes));
        let conffiles = parse_dpkg_conffiles(&bytes);
        for problem in &conffiles.problems {
            prop_assert!(problem.line().is_some_and(|l| l >= 1));
        }
    }

    /// apt and dpkg tool output parsers on text made of their own tokens (so the deep paths are
    /// reached) never panic and keep their promises.
    #[test]
    fn tool_output_never_panics(
        text in r"((Inst|Remv|Purg|Conf|E:|W:|Id=|ActiveState=|\*\*\*|Installed:|Candidate:|/lib/systemd/system/|\?\?5\?\?\?\?\?\? c|[ \n\[\]():/,|a-z0-9.~+-]|\PC){0,40})"
    ) {
        let simulation = Simulation::parse(&text);
        let (updates, _) = parse_simulated_upgrade(&text);
        prop_assert_eq!(updates.len(), simulation.upgrades().len());
        let mut availability = Availability::default();
        availability.add_policy(&text);
        availability.add_madison(&text);
        let _ = parse_package_states(&text);
        prop_assert!(parse_verify(&text).iter().all(|p| p.starts_with('/')));
        prop_assert!(systemd_units(&text).iter().all(|u| u.ends_with(".service")));
        let _ = (parse_systemctl_show(&text), parse_audit(&text), parse_reboot_packages(&text));
        let audit = pw_inventory::dpkg_query::parse_dpkg_audit(&text);
        prop_assert!(audit.problems.len() <= text.split("\n\n").count());
        prop_assert!(pw_inventory::restart::parse_deleted_mappings(&text).iter().all(|p| p.starts_with('/')));
        if let Some(unit) = pw_inventory::restart::parse_cgroup_unit(&text) {
            prop_assert!(unit.ends_with(".service"));
        }
    }
}

#[test]
fn conffiles_of_the_real_status_file() {
    // Expected numbers from shell tools (tests/data/PROVENANCE.md).
    let conffiles = parse_dpkg_conffiles(&data("dpkg-status-debian12.txt.gz"));
    assert_eq!(conffiles.problems, vec![]);
    assert_eq!(conffiles.packages.len(), 73);
    assert_eq!(
        conffiles.packages.values().map(Vec::len).sum::<usize>(),
        226
    );
    assert!(conffiles.packages.values().flatten().all(|c| !c.obsolete));
}

#[test]
fn real_file_round_trips() {
    let parsed = parse_dpkg_status(&data("dpkg-status-debian12.txt.gz")).packages;
    let text: String = parsed.iter().map(format_dpkg_stanza).collect();
    assert_eq!(parse_dpkg_status(text.as_bytes()).packages, parsed);
}

#[test]
fn truncated_real_file_loses_at_most_the_last_stanza() {
    let full = data("dpkg-status-debian12.txt.gz");
    let complete = parse_dpkg_status(&full).packages;
    for cut in (0..full.len()).step_by(4093) {
        let part = parse_dpkg_status(&full[..cut]);
        // every package before the cut stanza is kept unchanged…
        let kept = part.packages.len();
        assert!(kept <= complete.len());
        let unchanged = part
            .packages
            .iter()
            .zip(&complete)
            .take_while(|(a, b)| a == b)
            .count();
        assert!(unchanged + 1 >= kept, "cut at {cut}");
        // …and at most one stanza (the cut one) is reported.
        assert!(
            part.problems.len() <= 1,
            "cut at {cut}: {:?}",
            part.problems
        );
    }
}

#[test]
fn garbage_is_reported_per_stanza_with_lines() {
    let garbage = b"\x00\x01\x02 binary\n\xff\xfe: x\n\n::::\n\nPackage\n";
    let inventory = parse_dpkg_status(garbage);
    assert_eq!(inventory.packages, vec![]);
    let lines: Vec<_> = inventory.problems.iter().map(|p| p.line()).collect();
    assert_eq!(lines, [Some(1), Some(4), Some(6)]);
}
