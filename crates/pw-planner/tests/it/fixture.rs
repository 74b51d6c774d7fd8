//! A small deterministic fleet: a staging group and its production counterpart on two racks.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use pw_inventory::apt::{Availability, Simulation};
use pw_inventory::dpkg_query::parse_verify;
use pw_inventory::parse_dpkg_conffiles;
use pw_model::{Finding, Tier};
use pw_planner::{Evidence, Host, PlanInput, Policy, Scope, StagingRun, WindowSlot};

pub const POLICY: &str = r#"
[priority]
ignored = "owned by pw-priority"

[rollout]
anti_affinity = ["rack"]
verification = "15m"

[estimates]
apply = "2m"
rollback = "3m"
reboot = "5m"

[health_checks.https]
kind = "http"
target = "https://localhost/healthz"

[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
windows = [{ name = "weeknights", rrule = "FREQ=DAILY;BYHOUR=20", dtstart = "2026-11-01T20:00:00", tz = "UTC", duration = "2h" }]
health_checks = ["https"]

[groups.web-prod]
environment = "production"
staging_counterpart = "web-staging"
owners = ["web-team@example.com", "noc@example.com"]
rto = "30m"
rpo = "1h"
protection = ["snapshot"]
health_checks = ["https"]
benchmark_hook = "/opt/bench/web.sh"
windows = [{ name = "sunday-night", rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }]

[groups.web-prod.rollout]
max_in_flight = "25%"
"#;

pub fn now() -> Timestamp {
    "2026-11-23T09:00:00Z".parse().unwrap()
}

pub fn policy() -> Policy {
    Policy::from_toml_str(POLICY).unwrap()
}

fn finding(binary: &str, advisory: &str, tier: Tier, kev: bool, cvss: f64, epss: f64) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "3.0.19-1~deb12u2".into(),
        package: "openssl".into(),
        package_version: "3.0.19-1~deb12u2".into(),
        advisory: advisory.into(),
        aliases: vec!["CVE-2026-0001".into()],
        fixed: Some("3.0.22-1~deb12u2".into()),
        tier,
        deadline: Some("2026-11-24T00:00:00Z".parse().unwrap()),
        reasons: vec!["in KEV".into()],
        summary: "openssl security update".into(),
        published: Some("2026-11-13T00:00:00Z".parse().unwrap()),
        cvss: Some(cvss),
        epss: Some(epss),
        kev,
    }
}

fn host(id: &str, group: &str, rack: &str) -> Host {
    let mut bash = finding("bash", "DLA-0002-1", Tier::T3, false, 5.0, 0.01);
    bash.installed = "5.2.15-2+b8".into();
    bash.package = "bash".into();
    bash.fixed = None;
    Host {
        id: id.into(),
        hostname: format!("{id}.example.net"),
        group: group.into(),
        environment: None,
        labels: BTreeMap::from([("rack".to_owned(), rack.to_owned())]),
        os: "debian:12".into(),
        findings: vec![
            finding("libssl3", "DSA-0001-1", Tier::T0, true, 9.8, 0.91),
            finding("openssl", "DSA-0001-1", Tier::T0, true, 9.8, 0.91),
            bash,
        ],
        targets: BTreeMap::new(),
        installed: BTreeMap::new(),
    }
}

pub fn hosts() -> Vec<Host> {
    let mut hosts = vec![
        host("stg-1", "web-staging", "r1"),
        host("stg-2", "web-staging", "r2"),
    ];
    for i in 1..=8 {
        hosts.push(host(
            &format!("web-{i:02}"),
            "web-prod",
            if i % 2 == 0 { "r1" } else { "r2" },
        ));
    }
    hosts
}

pub fn evidence() -> Evidence {
    let mut availability = Availability::default();
    availability.add_policy(include_str!(
        "../../../pw-inventory/tests/data/apt/apt-cache-policy-openssl-postgresql.txt"
    ));
    availability.add_madison(include_str!(
        "../../../pw-inventory/tests/data/apt/apt-cache-madison-bash-openssl.txt"
    ));
    Evidence {
        simulation: Some(Simulation::parse(include_str!(
            "../../../pw-inventory/tests/data/apt/apt-s-openssl-upgrade.txt"
        ))),
        availability: Some(availability),
        conffiles: Some(
            parse_dpkg_conffiles(include_bytes!(
                "../../../pw-inventory/tests/data/apt/dpkg-status-excerpt.txt"
            ))
            .packages,
        ),
        modified_conffiles: Some(parse_verify(include_str!(
            "../../../pw-inventory/tests/data/apt/dpkg-verify.txt"
        ))),
    }
}

/// Daily 20:00–22:00 for staging, Sundays 01:00–05:00 for production, over `days`.
pub fn slots(from: Timestamp, days: i64) -> BTreeMap<String, Vec<WindowSlot>> {
    let mut staging = Vec::new();
    let mut production = Vec::new();
    let midnight: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
    for day in 0..days {
        let base = midnight + SignedDuration::from_hours(24 * day);
        let evening = base + SignedDuration::from_hours(20);
        if evening >= from {
            staging.push(WindowSlot {
                start: evening,
                end: evening + SignedDuration::from_hours(2),
                window: "weeknights".into(),
            });
        }
        // 2026-11-29 is a Sunday.
        if (day - 6) % 7 == 0 && day >= 6 {
            let night = base + SignedDuration::from_hours(1);
            production.push(WindowSlot {
                start: night,
                end: night + SignedDuration::from_hours(4),
                window: "sunday-night".into(),
            });
        }
    }
    BTreeMap::from([
        ("web-staging".to_owned(), staging),
        ("web-prod".to_owned(), production),
    ])
}

pub fn input(staging: Vec<StagingRun>) -> PlanInput {
    let from = now();
    PlanInput {
        plan_id: "plan-2026-11-23-web".into(),
        author: "alice".into(),
        hosts: hosts(),
        group_evidence: BTreeMap::from([
            ("web-prod".to_owned(), evidence()),
            ("web-staging".to_owned(), evidence()),
        ]),
        host_evidence: BTreeMap::new(),
        staging,
        slots: slots(from, 30),
        scope: Scope::default(),
        from,
        until: from + SignedDuration::from_hours(24 * 30),
    }
}
