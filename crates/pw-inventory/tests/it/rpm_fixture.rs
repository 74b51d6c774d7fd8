//! The AlmaLinux 9 rpm fixture (synthetic from real OSV data, see PROVENANCE.md).

use pw_inventory::parse_rpm_qa;

use crate::data;

#[test]
fn queryformat_fixture() {
    let inventory = parse_rpm_qa(&data("rpm-qa-almalinux9.tsv"));
    assert_eq!(inventory.problems, vec![]);
    assert_eq!(inventory.packages.len(), 384);
    let with_epoch = inventory
        .packages
        .iter()
        .filter(|p| p.version.contains(':'))
        .count();
    assert_eq!(with_epoch, 115);
    let get = |name: &str| {
        let p = inventory.packages.iter().find(|p| p.name == name).unwrap();
        (p.version.as_str(), p.arch.as_str())
    };
    assert_eq!(get("openssl-libs"), ("1:3.0.1-41.el9_0", "x86_64"));
    assert_eq!(
        get("NetworkManager"),
        ("1:1.48.10-2.el9_5.alma.1", "x86_64")
    );
    assert_eq!(get("kernel-core"), ("5.14.0-687.26.1.el9_8", "x86_64"));
    assert_eq!(get("gpg-pubkey"), ("b86b3716-61e69f29", ""));
}

#[test]
fn plain_fixture_has_the_same_packages_without_epochs() {
    let plain = parse_rpm_qa(&data("rpm-qa-almalinux9-plain.txt"));
    let queried = parse_rpm_qa(&data("rpm-qa-almalinux9.tsv"));
    assert_eq!(plain.problems, vec![]);
    assert_eq!(plain.packages.len(), queried.packages.len());
    for (p, q) in plain.packages.iter().zip(&queried.packages) {
        let without_epoch = q
            .version
            .split_once(':')
            .map_or(q.version.as_str(), |(_, rest)| rest);
        assert_eq!(
            (&p.name, p.version.as_str(), &p.arch),
            (&q.name, without_epoch, &q.arch)
        );
    }
}
