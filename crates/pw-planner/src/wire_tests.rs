//! Evidence on the wire: real `apt-get -s` / `apt-cache policy` output through the shared
//! parsers, to the wire and back into the planner's input; validation names the bad field.

use pw_protocol::PackagePin;

use super::*;

const OPENSSL: &str = include_str!("../../pw-inventory/tests/data/apt/apt-s-openssl-upgrade.txt");
const POLICY: &str =
    include_str!("../../pw-inventory/tests/data/apt/apt-cache-policy-openssl-postgresql.txt");
const KERNEL: &str = include_str!("../../pw-inventory/tests/data/apt/apt-s-kernel.txt");

fn pin(name: &str, version: &str) -> PackagePin {
    PackagePin {
        name: name.into(),
        version: version.into(),
    }
}

fn report() -> EvidenceReport {
    let simulation = Simulation::parse(OPENSSL);
    let mut availability = Availability::default();
    availability.add_policy(POLICY);
    EvidenceReport {
        protocol_version: PROTOCOL_VERSION,
        targets: vec![pin("openssl", "3.0.22-1~deb12u2")],
        collected_at: "2026-12-03T20:00:00Z".parse().unwrap(),
        simulation: simulation_to_wire(&simulation),
        availability: Some(availability_to_wire(&availability)),
        conffiles: Some(vec![ConffileEvidence {
            package: "openssl".into(),
            path: "/etc/ssl/openssl.cnf".into(),
            md5: "fe1993ec22f6b8a46cb9706acd8fc68f".into(),
            obsolete: false,
            modified: Some(true),
        }]),
        services: vec![],
        reboot: reboot_to_wire(None, &simulation),
        problems: vec![],
    }
}

#[test]
fn real_output_survives_the_wire_into_the_planner() {
    let sent = report();
    let json = serde_json::to_string(&sent).unwrap();
    let received: EvidenceReport = serde_json::from_str(&json).unwrap();
    assert_eq!(received, sent);
    let evidence = Evidence::try_from(&received).unwrap();
    let simulation = evidence.simulation.unwrap();
    assert_eq!(simulation, Simulation::parse(OPENSSL));
    assert_eq!(
        simulation.upgrades()[2],
        ("openssl", "3.0.19-1~deb12u2", "3.0.22-1~deb12u2")
    );
    let availability = evidence.availability.unwrap();
    // The installed 3.0.19 is gone from the mirrors: no package-level rollback.
    assert_eq!(
        availability.can_download("openssl", "3.0.19-1~deb12u2"),
        Some(false)
    );
    assert_eq!(
        availability.can_download("postgresql-15", "15.18-0+deb12u1"),
        Some(true)
    );
    assert_eq!(evidence.conffiles.unwrap()["openssl"].len(), 1);
    assert_eq!(
        evidence
            .modified_conffiles
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["/etc/ssl/openssl.cnf"]
    );
    assert!(json.contains(r#""action":"install""#), "{json}");
}

#[test]
fn unknown_parts_stay_unknown() {
    let mut sent = report();
    sent.availability = None;
    sent.conffiles.as_mut().unwrap()[0].modified = None;
    let evidence = Evidence::try_from(&sent).unwrap();
    assert!(evidence.availability.is_none());
    assert!(evidence.conffiles.is_some());
    assert!(evidence.modified_conffiles.is_none());
}

#[test]
fn kernels_among_the_installs() {
    let reboot = reboot_to_wire(
        Some(vec!["pw-demo-kernel".into()]),
        &Simulation::parse(KERNEL),
    );
    assert!(reboot.required_now);
    assert_eq!(reboot.required_by, ["pw-demo-kernel"]);
    assert!(
        reboot
            .kernel_packages
            .contains(&"linux-image-6.1.0-56-amd64".to_owned()),
        "{:?}",
        reboot.kernel_packages
    );
}

#[test]
fn validation_names_the_field() {
    let check = |edit: &dyn Fn(&mut EvidenceReport)| {
        let mut bad = report();
        edit(&mut bad);
        Evidence::try_from(&bad).unwrap_err().field
    };
    assert_eq!(check(&|r| r.protocol_version = 2), "protocol_version");
    assert_eq!(
        check(&|r| r.targets[0].version = "9 9".into()),
        "targets[0].version"
    );
    assert_eq!(
        check(&|r| {
            if let SimulatedAction::Install { package, .. } = &mut r.simulation.actions[1] {
                *package = "Bad Name".into();
            }
        }),
        "simulation.actions[1].package"
    );
    assert_eq!(
        check(&|r| r.conffiles.as_mut().unwrap()[0].path = "etc/x".into()),
        "conffiles[0].path"
    );
    assert_eq!(
        check(&|r| r.services.push(ServiceEvidence {
            package: "openssl".into(),
            unit: "../x.service".into(),
            running: None,
        })),
        "services[0].unit"
    );
    assert_eq!(
        check(&|r| r.availability.as_mut().unwrap()[0].downloadable = vec!["1 2".into()]),
        "availability[0].downloadable[0]"
    );
}
