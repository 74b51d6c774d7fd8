//! The agent's `collect_evidence` collector on a real Debian 12 container (pw-testbed) with the
//! local apt repository: the dependency simulation of exact targets, the availability of the
//! installed versions, the conffiles with a local modification, the service unit the change
//! restarts and the reboot flag, all parsed on the agent side by pw-inventory's parsers, then
//! through the one wire → planner conversion. Needs Docker and mmdebstrap.

use jiff::Timestamp;
use pw_host::apt::{self, PackageTarget};
use pw_planner::Evidence;
use pw_protocol::{ConffileEvidence, PackagePin, ServiceEvidence, SimulatedAction};
use pw_testbed::repo::packages::{BASELINE, DEMO, DEMO_CONFFILE, DEMO_KERNEL, SECURITY_FIX};
use pw_testbed::{Suite, Testbed};

fn pin(name: &str, version: &str) -> PackagePin {
    PackagePin {
        name: name.into(),
        version: version.into(),
    }
}

#[test]
fn evidence_from_a_real_host() {
    let fleet = Testbed::shared().fleet(1, &Suite::ALL).unwrap();
    let host = &fleet.hosts[0];
    let baseline = [DEMO, DEMO_KERNEL].map(|p| PackageTarget::parse(p, BASELINE).unwrap());
    let outcome = apt::install_exact(host.runner(), &baseline).unwrap();
    assert!(outcome.succeeded(), "{outcome:#?}");
    host.write_file(DEMO_CONFFILE, b"# edited on this host\nport = 18081\n")
        .unwrap();
    host.write_file("/run/reboot-required", b"").unwrap();
    host.write_file(
        "/run/reboot-required.pkgs",
        b"pw-demo-kernel\npw-demo-kernel\n",
    )
    .unwrap();
    let targets = [pin(DEMO, SECURITY_FIX), pin(DEMO_KERNEL, SECURITY_FIX)];
    let now: Timestamp = "2026-12-03T21:00:00Z".parse().unwrap();

    let report = pw_agent::collect_evidence(host.runner(), &targets, || now).unwrap();

    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.collected_at, now);
    assert_eq!(report.targets, targets);
    assert_eq!(report.simulation.errors, Vec::<String>::new());
    let demo = report
        .simulation
        .actions
        .iter()
        .find(|a| matches!(a, SimulatedAction::Install { package, .. } if package == DEMO));
    assert_eq!(
        demo,
        Some(&SimulatedAction::Install {
            package: DEMO.into(),
            from: Some(BASELINE.into()),
            version: SECURITY_FIX.into(),
            origin: "PatchwardenTest-Security:12/security".into(),
            arch: "all".into(),
        })
    );
    assert_eq!(
        report.conffiles.as_deref().unwrap(),
        [ConffileEvidence {
            package: DEMO.into(),
            path: DEMO_CONFFILE.into(),
            md5: report.conffiles.as_ref().unwrap()[0].md5.clone(),
            obsolete: false,
            modified: Some(true),
        }]
    );
    // No systemd in the containers: the unit is known, whether it runs is not.
    assert_eq!(
        report.services,
        [ServiceEvidence {
            package: DEMO.into(),
            unit: "pw-demo.service".into(),
            running: None,
        }]
    );
    assert!(report.reboot.required_now);
    assert_eq!(report.reboot.required_by, [DEMO_KERNEL]);
    assert_eq!(report.reboot.kernel_packages, Vec::<String>::new());

    let evidence = Evidence::try_from(&report).unwrap();
    let simulation = evidence.simulation.unwrap();
    assert_eq!(
        simulation.upgrades(),
        [
            (DEMO, BASELINE, SECURITY_FIX),
            (DEMO_KERNEL, BASELINE, SECURITY_FIX)
        ]
    );
    let availability = evidence.availability.unwrap();
    // The stable suite still offers the installed 1.0-1: a rollback can download it.
    assert_eq!(availability.can_download(DEMO, BASELINE), Some(true));
    assert_eq!(availability.can_download(DEMO_KERNEL, BASELINE), Some(true));
    assert_eq!(
        availability.packages[DEMO].installed.as_deref(),
        Some(BASELINE)
    );
    assert!(evidence.modified_conffiles.unwrap().contains(DEMO_CONFFILE));

    // A version no source offers: apt's refusal is the evidence, nothing else changes.
    let missing = pw_agent::collect_evidence(host.runner(), &[pin(DEMO, "9.9-9")], || now).unwrap();
    assert_eq!(
        missing.simulation.errors,
        ["Version '9.9-9' for 'pw-demo' was not found"]
    );
    assert!(missing.simulation.actions.is_empty());
    assert_eq!(missing.conffiles.as_deref(), Some(&[][..]));
    let states = apt::package_states(host.runner()).unwrap();
    let demo = states.iter().find(|s| s.package.as_str() == DEMO).unwrap();
    assert_eq!(
        (demo.status.as_str(), demo.version.as_str()),
        ("ii", BASELINE)
    );
}
