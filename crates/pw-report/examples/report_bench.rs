//! Builds and renders both reports for a synthetic fleet and prints the times (docs/reports.md,
//! docs/PERFORMANCE.md): `cargo run --release -p pw-report --example report_bench -- 10000 20`
//! (hosts, findings per host; 10 groups; every fifth finding KEV-listed, every third overdue);
//! a third argument writes the compliance HTML there (to time a PDF print of it).

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};
use pw_report::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().map_or(10_000, |a| a.parse().expect("hosts"));
    let per_host: usize = args
        .next()
        .map_or(20, |a| a.parse().expect("findings per host"));
    let now: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
    let day = SignedDuration::from_hours(24);
    let facts = ReportFacts {
        hosts: (0..hosts)
            .map(|h| HostFacts {
                host_id: format!("h-{h}"),
                hostname: format!("host-{h:05}"),
                group: Some(format!("g{}", h % 10)),
                computed_at: Some(now),
                findings: (0..per_host)
                    .map(|i| CurrentFinding {
                        finding: Finding {
                            binary: format!("lib{i}"),
                            installed: "1.0-1".into(),
                            package: format!("src{}", i % 50),
                            package_version: "1.0-1".into(),
                            advisory: format!("CVE-2026-{:04}", i * 7 % 400),
                            aliases: vec![],
                            fixed: Some("1.0-2".into()),
                            tier: Tier::ALL[i % 5],
                            deadline: Some(now + day * (i as i32 % 3 - 1)),
                            reasons: vec![],
                            summary: String::new(),
                            published: None,
                            cvss: Some((i % 10) as f64),
                            epss: Some((i % 100) as f64 / 100.0),
                            kev: i % 5 == 0,
                        },
                        first_seen: Some(now - day * 10),
                    })
                    .collect(),
                fixed: (0..5)
                    .map(|i| FixedEpisode {
                        binary: format!("old{i}"),
                        advisory: format!("CVE-2025-{i:04}"),
                        tier: Tier::T1,
                        deadline: Some(now - day * 20),
                        first_seen: now - day * 30,
                        fixed_at: now - day * (25 - i),
                        fixed_by: None,
                    })
                    .collect(),
            })
            .collect(),
        risks: vec![],
        groups: (0..10)
            .map(|g| GroupFacts {
                name: format!("g{g}"),
                environment: "production".into(),
                owners: vec![],
            })
            .collect(),
        fleet_version: Some(1),
    };
    let scope = ReportScope::new(None, now, None, None).unwrap();
    let started = Instant::now();
    let compliance = compliance_report(&facts, &scope).unwrap();
    let built = started.elapsed();
    let html = compliance_html(&compliance, &EN);
    let rendered = started.elapsed() - built;
    if let Some(path) = args.next() {
        std::fs::write(&path, &html).expect("writing the HTML");
    }
    let csv = compliance_csv(&compliance, CsvTable::Hosts).unwrap();
    let json = serde_json::to_vec(&compliance).unwrap();
    let started_risk = Instant::now();
    let risk = risk_report(&facts, &scope).unwrap();
    let risk_built = started_risk.elapsed();
    println!(
        "{hosts} hosts x {per_host} findings: compliance built in {built:?}, HTML ({} KB) in \
         {rendered:?}, CSV {} KB, JSON {} KB; risk summary built in {risk_built:?} ({} findings)",
        html.len() / 1024,
        csv.len() / 1024,
        json.len() / 1024,
        risk.findings
    );
}
