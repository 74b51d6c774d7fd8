//! Risk checklist rules, fed with the real apt/dpkg output in tests/data/.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::policy::parse_policy;
use crate::targets::{estimate, host_changes};
use pw_inventory::apt::{Availability, Simulation};
use pw_inventory::parse_dpkg_conffiles;

const OPENSSL: &str = include_str!("../../pw-inventory/tests/data/apt/apt-s-openssl-upgrade.txt");
const CHRONY: &str = include_str!("../../pw-inventory/tests/data/apt/apt-s-chrony-removal.txt");
const KERNEL: &str = include_str!("../../pw-inventory/tests/data/apt/apt-s-kernel.txt");
const MISSING: &str = include_str!("../../pw-inventory/tests/data/apt/apt-s-missing-version.txt");
const POLICY_OUT: &str =
    include_str!("../../pw-inventory/tests/data/apt/apt-cache-policy-openssl-postgresql.txt");
const STATUS: &str = include_str!("../../pw-inventory/tests/data/apt/dpkg-status-excerpt.txt");

fn policy(group_body: &str) -> Policy {
    parse_policy(&format!(
        "[health_checks.web]\nkind = \"http\"\ntarget = \"http://localhost/health\"\n[groups.s]\nenvironment = \"staging\"\nowners = [\"o\"]\nwindows = [{{}}]\n[groups.g]\nowners = [\"o\"]\nwindows = [{{}}]\n{group_body}\n"
    ))
    .unwrap()
}

fn openssl_host() -> Host {
    let finding = |binary: &str| pw_model::Finding {
        binary: binary.into(),
        installed: "3.0.19-1~deb12u2".into(),
        package: "openssl".into(),
        package_version: "3.0.19-1~deb12u2".into(),
        advisory: "DSA-0000-1".into(),
        aliases: vec![],
        fixed: Some("3.0.22-1~deb12u2".into()),
        tier: pw_model::Tier::T1,
        deadline: None,
        reasons: vec![],
        summary: String::new(),
        published: None,
        cvss: Some(7.5),
        epss: None,
        kev: false,
    };
    Host {
        id: "web-01".into(),
        hostname: "web-01".into(),
        group: "g".into(),
        environment: None,
        labels: BTreeMap::new(),
        os: "debian:12".into(),
        findings: vec![finding("openssl"), finding("libssl3")],
        targets: BTreeMap::new(),
        installed: BTreeMap::new(),
    }
}

fn evidence(simulation: &str, modified: Option<&[&str]>) -> Evidence {
    let mut availability = Availability::default();
    availability.add_policy(POLICY_OUT);
    Evidence {
        simulation: Some(Simulation::parse(simulation)),
        availability: Some(availability),
        conffiles: Some(parse_dpkg_conffiles(STATUS.as_bytes()).packages),
        modified_conffiles: modified
            .map(|m| m.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>()),
    }
}

fn checklist(
    policy: &Policy,
    host: &Host,
    evidence: Option<&Evidence>,
    staging: &[String],
) -> Vec<RiskItem> {
    let changes = host_changes(host, &Default::default(), policy).unwrap();
    let view = GroupView {
        group: &policy.groups["g"],
        fleet_size: 4,
        budget: 1,
        hosts: vec![HostView {
            host,
            changes: &changes,
            estimate: estimate(&changes, policy),
            evidence,
        }],
        staging_problems: staging,
    };
    group_checklist(&view, policy)
}

fn level(items: &[RiskItem], kind: RiskKind) -> (Level, String) {
    let item = items.iter().find(|i| i.risk == kind).unwrap();
    let text = item
        .evidence
        .iter()
        .map(|e| format!("{}: {}", e.level.as_str(), e.text))
        .collect::<Vec<_>>()
        .join("\n");
    (item.level, text)
}

#[test]
fn openssl_upgrade_on_this_machine() {
    let policy = policy(
        "environment = \"production\"\nhealth_checks = [\"web\"]\nbenchmark_hook = \"/usr/local/bin/bench\"",
    );
    let evidence = evidence(OPENSSL, Some(&[]));
    let items = checklist(&policy, &openssl_host(), Some(&evidence), &[]);
    assert_eq!(
        items.iter().map(|i| i.risk).collect::<Vec<_>>(),
        RiskKind::ALL
    );
    let (compat, text) = level(&items, RiskKind::Compatibility);
    assert_eq!(compat, Level::Ok, "{text}");
    assert!(
        text.contains("dependencies upgraded along: libssl-dev"),
        "{text}"
    );
    let (service, text) = level(&items, RiskKind::ServiceInterruption);
    assert_eq!(service, Level::Warn, "{text}");
    assert!(text.contains("OpenSSL"), "{text}");
    assert_eq!(level(&items, RiskKind::Performance).0, Level::Ok);
    let (config, text) = level(&items, RiskKind::ConfigOverwrite);
    assert_eq!(config, Level::Ok, "{text}");
    assert!(
        text.contains("1 conffile(s) touched, none modified"),
        "{text}"
    );
    // 3.0.19-1~deb12u2 is gone from the mirrors (PROVENANCE.md): rollback impossible.
    let (rollback, text) = level(&items, RiskKind::RollbackFailure);
    assert_eq!(rollback, Level::Block, "{text}");
    assert!(
        text.contains("libssl3 3.0.19-1~deb12u2 (1 host(s))"),
        "{text}"
    );
    assert!(text.contains("no staging counterpart"), "{text}");
}

#[test]
fn a_snapshot_turns_the_missing_old_version_into_a_warning() {
    let policy = policy("environment = \"staging\"\nprotection = [\"snapshot\"]\nrpo = \"1h\"");
    let evidence = evidence(OPENSSL, Some(&["/etc/ssl/openssl.cnf"]));
    let items = checklist(&policy, &openssl_host(), Some(&evidence), &[]);
    let (rollback, text) = level(&items, RiskKind::RollbackFailure);
    assert_eq!(rollback, Level::Warn, "{text}");
    assert!(
        text.contains("RPO 1h requires a snapshot or backup: configured"),
        "{text}"
    );
    let (config, text) = level(&items, RiskKind::ConfigOverwrite);
    assert_eq!(config, Level::Warn, "{text}");
    assert!(text.contains("/etc/ssl/openssl.cnf (openssl)"), "{text}");
}

#[test]
fn removals_errors_and_kernels() {
    let policy = policy("environment = \"staging\"");
    let host = openssl_host();
    let removal = evidence(CHRONY, None);
    let (compat, text) = level(
        &checklist(&policy, &host, Some(&removal), &[]),
        RiskKind::Compatibility,
    );
    assert_eq!(compat, Level::Block, "{text}");
    assert!(text.contains("removes systemd-timesyncd"), "{text}");
    assert!(text.contains("openssl (not in the simulation)"), "{text}");
    let refused = evidence(MISSING, None);
    let (compat, text) = level(
        &checklist(&policy, &host, Some(&refused), &[]),
        RiskKind::Compatibility,
    );
    assert_eq!(compat, Level::Block);
    assert!(
        text.contains("Version '0.0.1-1' for 'openssl' was not found"),
        "{text}"
    );
    let kernel = evidence(KERNEL, None);
    let (compat, text) = level(
        &checklist(&policy, &host, Some(&kernel), &[]),
        RiskKind::Compatibility,
    );
    assert_eq!(compat, Level::Warn, "{text}");
    assert!(
        text.contains("kernel change: linux-image-6.1.0-56-amd64, linux-image-amd64"),
        "{text}"
    );
    assert!(text.contains("11 new package(s)"), "{text}");
}

#[test]
fn no_evidence_warns_everywhere_it_matters() {
    let policy = policy("environment = \"staging\"");
    let items = checklist(&policy, &openssl_host(), None, &[]);
    for kind in [
        RiskKind::Compatibility,
        RiskKind::ConfigOverwrite,
        RiskKind::RollbackFailure,
        RiskKind::ServiceInterruption,
    ] {
        assert_eq!(
            level(&items, kind).0,
            Level::Warn,
            "{kind:?}: {}",
            level(&items, kind).1
        );
    }
}

#[test]
fn rto_rpo_and_staging_block() {
    let policy = policy(
        "environment = \"production\"\nrto = \"2m\"\nrpo = \"4h\"\nstaging_counterpart = \"s\"",
    );
    let problems =
        vec!["g: not yet passed on staging counterpart s: openssl 3.0.22-1~deb12u2".to_owned()];
    let items = checklist(&policy, &openssl_host(), None, &problems);
    let (service, text) = level(&items, RiskKind::ServiceInterruption);
    assert_eq!(service, Level::Block, "{text}");
    assert!(text.contains("exceed the RTO of 2m: web-01"), "{text}");
    let (rollback, text) = level(&items, RiskKind::RollbackFailure);
    assert_eq!(rollback, Level::Block);
    assert!(text.contains("RPO 4h is below 1d"), "{text}");
    assert!(text.contains("not yet passed on staging"), "{text}");
    assert_eq!(level(&items, RiskKind::Performance).0, Level::Warn);
}

#[test]
fn merge_takes_the_worst_level_and_prefixes_groups() {
    let ok = RiskItem {
        risk: RiskKind::Performance,
        level: Level::Ok,
        evidence: vec![RiskFact {
            level: Level::Ok,
            text: "fine".into(),
        }],
    };
    let warn = RiskItem {
        risk: RiskKind::Performance,
        level: Level::Warn,
        evidence: vec![RiskFact {
            level: Level::Warn,
            text: "hmm".into(),
        }],
    };
    let merged = merge(&[("a".into(), vec![ok]), ("b".into(), vec![warn])]);
    let performance = merged
        .iter()
        .find(|i| i.risk == RiskKind::Performance)
        .unwrap();
    assert_eq!(performance.level, Level::Warn);
    assert_eq!(performance.evidence[0].text, "b: hmm");
    assert_eq!(performance.evidence[1].text, "a: fine");
    assert_eq!(merged.len(), 5);
}
