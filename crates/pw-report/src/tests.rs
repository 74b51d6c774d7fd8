//! The builders and renderings on a small fleet with known answers.

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};

use crate::compliance::{HostSection, RiskState};
use crate::controls::Coverage;
use crate::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

const NOW: &str = "2026-12-04T12:00:00Z";

#[allow(clippy::too_many_arguments)]
fn finding(
    binary: &str,
    package: &str,
    advisory: &str,
    tier: Tier,
    deadline: Option<&str>,
    fixed: Option<&str>,
    cvss: Option<f64>,
    epss: Option<f64>,
    kev: bool,
) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "1.0-1".into(),
        package: package.into(),
        package_version: "1.0-1".into(),
        advisory: advisory.into(),
        aliases: vec![],
        fixed: fixed.map(Into::into),
        tier,
        deadline: deadline.map(at),
        reasons: vec![],
        summary: String::new(),
        published: None,
        cvss,
        epss,
        kev,
    }
}

fn current(finding: Finding, first_seen: &str) -> CurrentFinding {
    CurrentFinding {
        finding,
        first_seen: Some(at(first_seen)),
    }
}

fn fixed(advisory: &str, first: &str, fixed_at: &str, deadline: Option<&str>) -> FixedEpisode {
    FixedEpisode {
        binary: "pkg".into(),
        advisory: advisory.into(),
        tier: Tier::T1,
        deadline: deadline.map(at),
        first_seen: at(first),
        fixed_at: at(fixed_at),
        fixed_by: None,
    }
}

fn risk(id: &str, host: Option<&str>, advisory: &str, expires: &str) -> RiskFact {
    RiskFact {
        id: id.into(),
        host_id: host.map(Into::into),
        hostname: host.map(|h| format!("{h}.example")),
        advisory: advisory.into(),
        package: None,
        reason: "compensating control: no network exposure".into(),
        accepted_by: "alice".into(),
        accepted_at: at("2026-11-01T00:00:00Z"),
        expires_at: at(expires),
        revoked_at: None,
        revoked_by: None,
    }
}

/// The KEV-listed T0 finding of both web hosts, first seen at `first`.
fn t0(first: &str) -> CurrentFinding {
    current(
        finding(
            "libssl3",
            "openssl",
            "CVE-2026-0001",
            Tier::T0,
            Some("2026-12-01T12:00:00Z"),
            Some("3.0.15-1"),
            Some(9.8),
            Some(0.7),
            true,
        ),
        first,
    )
}

/// web-1 (group web): a T0 KEV finding overdue by 3 days, a T1 open one, a T3 accepted one,
/// and fixed episodes in and before the period, one of them a backport.
fn web1() -> HostFacts {
    HostFacts {
        host_id: "h-web1".into(),
        hostname: "web-1".into(),
        group: Some("web".into()),
        computed_at: Some(at("2026-12-04T11:00:00Z")),
        findings: vec![
            t0("2026-11-30T12:00:00Z"),
            current(
                finding(
                    "curl",
                    "curl",
                    "CVE-2026-0002",
                    Tier::T1,
                    Some("2026-12-08T00:00:00Z"),
                    Some("7.88.1-10+deb12u9"),
                    Some(7.5),
                    Some(0.15),
                    false,
                ),
                "2026-12-01T00:00:00Z",
            ),
            current(
                finding(
                    "less",
                    "less",
                    "CVE-2026-0003",
                    Tier::T3,
                    Some("2026-12-30T00:00:00Z"),
                    Some("590-2.1~deb12u3"),
                    Some(5.0),
                    None,
                    false,
                ),
                "2026-11-30T00:00:00Z",
            ),
        ],
        fixed: vec![
            // 24 h, on time.
            fixed(
                "CVE-2026-0100",
                "2026-11-01T00:00:00Z",
                "2026-11-02T00:00:00Z",
                Some("2026-11-08T00:00:00Z"),
            ),
            // 96 h, late.
            fixed(
                "CVE-2026-0101",
                "2026-11-01T00:00:00Z",
                "2026-11-05T00:00:00Z",
                Some("2026-11-02T00:00:00Z"),
            ),
            // Before the period (90 days before NOW is 2026-09-05).
            fixed(
                "CVE-2026-0102",
                "2026-06-01T00:00:00Z",
                "2026-06-02T00:00:00Z",
                None,
            ),
            // A backport: not a remediation.
            FixedEpisode {
                fixed_by: Some("changelog of less 590-2.1~deb12u2 names it".into()),
                ..fixed(
                    "CVE-2026-0103",
                    "2026-11-20T00:00:00Z",
                    "2026-11-20T00:00:00Z",
                    None,
                )
            },
        ],
    }
}

/// web-1 (group web): a T0 KEV finding overdue by 3 days, a T1 open one, a T3 accepted one;
/// web-2 (web): the same T0 finding overdue by 3 days; db-1 (db): a T1 without fix, overdue 10
/// days, covered by an expired acceptance; lone (no group): never scanned.
fn fleet() -> ReportFacts {
    let web1 = web1();
    let web2 = HostFacts {
        host_id: "h-web2".into(),
        hostname: "web-2".into(),
        group: Some("web".into()),
        computed_at: Some(at("2026-12-04T11:00:00Z")),
        findings: vec![t0("2026-11-30T12:00:00Z")],
        // 48 h, no deadline: on time.
        fixed: vec![fixed(
            "CVE-2026-0104",
            "2026-11-10T00:00:00Z",
            "2026-11-12T00:00:00Z",
            None,
        )],
    };
    let db1 = HostFacts {
        host_id: "h-db1".into(),
        hostname: "db-1".into(),
        group: Some("db".into()),
        computed_at: Some(at("2026-12-04T10:00:00Z")),
        findings: vec![current(
            finding(
                "libpq5",
                "postgresql-15",
                "CVE-2026-0004",
                Tier::T1,
                Some("2026-11-24T12:00:00Z"),
                None,
                Some(8.1),
                Some(0.02),
                false,
            ),
            "2026-11-17T12:00:00Z",
        )],
        fixed: vec![],
    };
    let lone = HostFacts {
        host_id: "h-lone".into(),
        hostname: "lone".into(),
        group: None,
        computed_at: None,
        findings: vec![],
        fixed: vec![],
    };
    let group = |name: &str, env: &str| GroupFacts {
        name: name.into(),
        environment: env.into(),
        owners: vec!["ops@example.com".into()],
    };
    let mut revoked = risk(
        "r-revoked",
        Some("h-web1"),
        "CVE-2026-0002",
        "2027-01-01T00:00:00Z",
    );
    revoked.revoked_at = Some(at("2026-11-20T00:00:00Z"));
    revoked.revoked_by = Some("bob".into());
    ReportFacts {
        hosts: vec![db1, lone, web2, web1],
        risks: vec![
            risk(
                "r-less",
                Some("h-web1"),
                "CVE-2026-0003",
                "2027-01-31T00:00:00Z",
            ),
            risk(
                "r-expired",
                Some("h-db1"),
                "CVE-2026-0004",
                "2026-12-01T00:00:00Z",
            ),
            risk(
                "r-old",
                Some("h-db1"),
                "CVE-2026-0004",
                "2026-03-01T00:00:00Z",
            ),
            revoked,
        ],
        groups: vec![group("web", "production"), group("db", "production")],
        fleet_version: Some(3),
    }
}

fn scope(group: Option<&str>) -> ReportScope {
    ReportScope::new(group.map(Into::into), at(NOW), None, Some(2)).unwrap()
}

#[test]
fn counts_per_tier_follow_the_status_at_now() {
    let report = compliance_report(&fleet(), &scope(None)).unwrap();
    let s = &report.summary;
    assert_eq!(s.hosts, 4);
    assert_eq!(s.counts.open, [2, 2, 0, 0, 0]);
    // The expired acceptance hides nothing: db-1's T1 is overdue.
    assert_eq!(s.counts.overdue, [2, 1, 0, 0, 0]);
    assert_eq!(s.counts.accepted, [0, 0, 0, 1, 0]);
    assert_eq!((s.open_total, s.overdue_total, s.accepted_total), (4, 3, 1));
    assert_eq!((s.hosts_overdue, s.hosts_never_scanned), (3, 1));
    let oldest = s.oldest_overdue.as_ref().unwrap();
    assert_eq!(
        (oldest.hostname.as_str(), oldest.days_overdue),
        ("db-1", 10)
    );
    let names: Vec<&str> = report.hosts.iter().map(|h| h.hostname.as_str()).collect();
    assert_eq!(names, ["db-1", "lone", "web-1", "web-2"]);
    // Most overdue first; equal days by tier, then host name.
    let overdue: Vec<(&str, i64)> = report
        .overdue
        .iter()
        .map(|o| (o.hostname.as_str(), o.days_overdue))
        .collect();
    assert_eq!(overdue, [("db-1", 10), ("web-1", 3), ("web-2", 3)]);
}

#[test]
fn groups_sum_their_hosts_and_the_ungrouped_come_last() {
    let report = compliance_report(&fleet(), &scope(None)).unwrap();
    let names: Vec<Option<&str>> = report.groups.iter().map(|g| g.name.as_deref()).collect();
    assert_eq!(names, [Some("db"), Some("web"), None]);
    let web = &report.groups[1];
    assert_eq!(web.section.hosts, 2);
    assert_eq!(web.section.counts.overdue, [2, 0, 0, 0, 0]);
    assert_eq!(web.environment.as_deref(), Some("production"));
    assert_eq!(web.section.remediation.fixed, 3);
    assert_eq!(web.section.remediation.median_hours, Some(48.0));
    assert_eq!(report.groups[2].section.hosts_never_scanned, 1);
}

#[test]
fn time_to_remediate_counts_fixes_of_the_period_and_not_backports() {
    let report = compliance_report(&fleet(), &scope(None)).unwrap();
    let r = &report.summary.remediation;
    // 24 h, 96 h (web-1), 48 h (web-2); the June fix is before the period.
    assert_eq!((r.fixed, r.on_time, r.late, r.backported), (3, 2, 1, 1));
    assert_eq!(r.mean_hours, Some(56.0));
    assert_eq!(r.median_hours, Some(48.0));
    let web1 = report.hosts.iter().find(|h| h.hostname == "web-1").unwrap();
    assert_eq!(web1.section.remediation.median_hours, Some(60.0));
    // A 30-day period keeps the same fixes; a 25-day one drops the two of early November.
    let short = ReportScope::new(None, at(NOW), Some("25d"), None).unwrap();
    let report = compliance_report(&fleet(), &short).unwrap();
    assert_eq!(report.summary.remediation.fixed, 1);
    assert_eq!(report.period_from, at("2026-11-09T12:00:00Z"));
}

#[test]
fn accepted_risks_list_what_is_in_force_or_ended_within_the_period() {
    let report = compliance_report(&fleet(), &scope(None)).unwrap();
    let listed: Vec<(&str, RiskState, i64, usize)> = report
        .accepted_risks
        .iter()
        .map(|r| (r.id.as_str(), r.state, r.days_to_expiry, r.findings_covered))
        .collect();
    assert_eq!(
        listed,
        [
            ("r-less", RiskState::InForce, 57, 1),
            ("r-expired", RiskState::Expired, -4, 0),
            ("r-revoked", RiskState::Revoked, 27, 0),
        ]
    );
    assert_eq!(report.accepted_risks[0].accepted_by, "alice");
}

#[test]
fn a_group_report_keeps_its_members_and_their_risks_only() {
    let report = compliance_report(&fleet(), &scope(Some("db"))).unwrap();
    assert_eq!(report.group.as_deref(), Some("db"));
    assert_eq!(report.hosts.len(), 1);
    assert_eq!(report.summary.overdue_total, 1);
    let ids: Vec<&str> = report
        .accepted_risks
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, ["r-expired"]);
    let err = compliance_report(&fleet(), &scope(Some("mail"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "group: unknown group \"mail\" (the fleet document has: web, db)"
    );
}

#[test]
fn scope_checks_period_and_top() {
    let now = at(NOW);
    assert!(ReportScope::new(None, now, Some("731d"), None).is_err());
    assert!(ReportScope::new(None, now, Some("30m"), None).is_err());
    assert!(ReportScope::new(None, now, Some("ninety"), None).is_err());
    assert!(ReportScope::new(None, now, None, Some(0)).is_err());
    assert!(ReportScope::new(None, now, None, Some(101)).is_err());
    let s = ReportScope::new(None, now, Some("2w"), Some(100)).unwrap();
    assert_eq!(s.period, SignedDuration::from_hours(14 * 24));
}

#[test]
fn controls_carry_the_figures_and_say_what_is_not_covered() {
    let report = compliance_report(&fleet(), &scope(None)).unwrap();
    let c = &report.controls[0];
    assert_eq!(c.clause, "8.1.4.4 e)");
    assert_eq!(c.coverage, Coverage::Evidence);
    assert!(c.evidence.contains("3 hosts scanned"), "{}", c.evidence);
    assert!(
        c.evidence.contains("4 open findings, 3 past"),
        "{}",
        c.evidence
    );
    assert!(
        c.evidence.contains("median time to remediate 48.0 h"),
        "{}",
        c.evidence
    );
    assert!(
        report.controls[1]
            .evidence
            .contains("1 findings not patched are covered by 1")
    );
    let change = report
        .controls
        .iter()
        .find(|c| c.clause == "8.1.10.10")
        .unwrap();
    assert_eq!(change.coverage, Coverage::NotCovered);
}

#[test]
fn risk_summary_counts_exposure_by_signal_with_accepted_findings() {
    let report = risk_report(&fleet(), &scope(None)).unwrap();
    assert_eq!((report.hosts, report.hosts_exposed), (4, 3));
    assert_eq!(
        (report.findings, report.overdue, report.accepted),
        (5, 3, 1)
    );
    assert_eq!(report.no_fix, 1);
    let signal = |key: &str| {
        let e = report.signals.iter().find(|e| e.key == key).unwrap();
        (e.findings, e.advisories, e.hosts, e.overdue)
    };
    assert_eq!(signal("kev"), (2, 1, 2, 2));
    assert_eq!(signal("epss_ge_0.5"), (2, 1, 2, 2));
    assert_eq!(signal("epss_ge_0.1"), (3, 2, 2, 2));
    assert_eq!(signal("cvss_ge_9"), (2, 1, 2, 2));
    assert_eq!(signal("cvss_ge_7"), (4, 3, 3, 3));
    assert_eq!(report.by_tier[0].findings, 2);
    assert_eq!(report.by_tier[3].findings, 1);
    // Days since first seen: 4 + 3 + 4 + 4 (web-1, web-2) + 17 (db-1).
    assert_eq!(report.host_days_exposed, 4 + 3 + 4 + 4 + 17);
    assert_eq!(report.longest_exposure_days, Some(17));
    let web = report
        .groups
        .iter()
        .find(|g| g.name.as_deref() == Some("web"))
        .unwrap();
    assert_eq!(
        (web.hosts, web.hosts_exposed, web.kev, web.t0, web.t1),
        (2, 2, 2, 2, 1)
    );
}

#[test]
fn top_updates_rank_by_tier_kev_and_hosts_and_say_how_many_more() {
    let report = risk_report(&fleet(), &scope(None)).unwrap();
    let ranked: Vec<(&str, usize)> = report
        .top_updates
        .iter()
        .map(|u| (u.package.as_str(), u.hosts))
        .collect();
    assert_eq!(ranked, [("openssl", 2), ("curl", 1)]);
    // less is past the top 2; postgresql-15 has no fix and is never ranked.
    assert_eq!(report.more_updates, 1);
    let openssl = &report.top_updates[0];
    assert!(openssl.kev);
    assert_eq!(openssl.hostnames, ["web-1", "web-2"]);
    assert_eq!((openssl.max_cvss, openssl.max_epss), (Some(9.8), Some(0.7)));
}

#[test]
fn csv_tables_have_a_header_and_a_row_each_and_defuse_formulas() {
    let mut facts = fleet();
    facts.hosts[1].hostname = "=HYPERLINK(\"x\")".into();
    let report = compliance_report(&facts, &scope(None)).unwrap();
    let hosts = compliance_csv(&report, CsvTable::Hosts).unwrap();
    let lines: Vec<&str> = hosts.lines().collect();
    // Header, total, 3 groups, 4 hosts.
    assert_eq!(lines.len(), 1 + 1 + 3 + 4);
    assert!(lines[0].starts_with("level,group,hostname,host_id,hosts,computed_at,open_T0"));
    assert!(lines[1].starts_with("total,,,,4,,2,2,0,0,0,2,1,0,0,0,0,0,0,1,0,3,10,3,2,1,56,48,1"));
    assert!(hosts.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{hosts}");
    let overdue = compliance_csv(&report, CsvTable::Overdue).unwrap();
    assert_eq!(overdue.lines().count(), 4);
    assert!(
        overdue
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("db-1,db,libpq5,1.0-1,CVE-2026-0004,T1,")
    );
    let risks = compliance_csv(&report, CsvTable::Risks).unwrap();
    assert_eq!(risks.lines().count(), 4);
    assert!(compliance_csv(&report, CsvTable::Updates).is_none());
    let risk = risk_report(&facts, &scope(None)).unwrap();
    let updates = risk_csv(&risk, CsvTable::Updates).unwrap();
    assert_eq!(
        updates.lines().nth(1).unwrap().split(',').nth(1),
        Some("openssl")
    );
    let signals = risk_csv(&risk, CsvTable::Signals).unwrap();
    assert_eq!(signals.lines().count(), 1 + 5 + 5);
    assert!(signals.contains("\nkev,2,1,2,2\n"), "{signals}");
}

#[test]
fn html_names_hosts_and_counts_escapes_and_speaks_chinese() {
    let mut facts = fleet();
    facts.hosts[1].hostname = "<script>x</script>".into();
    let report = compliance_report(&facts, &scope(None)).unwrap();
    let html = compliance_html(&report, &EN);
    for name in [
        "web-1",
        "web-2",
        "db-1",
        "Patch compliance report",
        "8.1.4.4 e)",
    ] {
        assert!(html.contains(name), "{name} missing");
    }
    assert!(
        html.contains("Open: 4 · Overdue: 3 · Accepted: 1"),
        "{html}"
    );
    assert!(!html.contains("<script>x"));
    assert!(html.contains("&#60;script&#62;x") || html.contains("&lt;script&gt;x"));
    let zh = compliance_html(&report, text_for("zh-CN"));
    assert!(zh.contains("补丁合规报告") && zh.contains("安全计算环境"));
    assert!(zh.contains("lang=\"zh-CN\""));
    let risk = risk_html(&risk_report(&facts, &scope(None)).unwrap(), &EN);
    assert!(
        risk.contains("removes 3 of the 5 findings present (on 2 hosts)"),
        "{risk}"
    );
    assert!(risk.contains("openssl → 3.0.15-1"));
    // Past HTML_OVERDUE_ROWS the least overdue are left to the CSV, and the page says so.
    let mut many = report.clone();
    many.overdue = vec![report.overdue[0].clone(); crate::html::HTML_OVERDUE_ROWS + 7];
    let html = compliance_html(&many, &EN);
    assert_eq!(html.matches("<tr class=\"overdue T1\">").count(), 500);
    assert!(html.contains("The 7 least overdue findings are not listed here"));
    // Past HTML_HOST_ROWS the hosts with most overdue findings are kept, in name order.
    let mut crowd = report.clone();
    let quiet = report
        .hosts
        .iter()
        .find(|h| h.section.open_total == 0)
        .unwrap()
        .clone();
    crowd.hosts = (0..crate::html::HTML_HOST_ROWS + 3)
        .map(|i| HostSection {
            hostname: format!("quiet-{i:04}"),
            ..quiet.clone()
        })
        .chain(
            report
                .hosts
                .iter()
                .filter(|h| h.hostname == "db-1")
                .cloned(),
        )
        .collect();
    let html = compliance_html(&crowd, &EN);
    assert!(html.contains(">db-1</td>"));
    assert!(html.contains(">quiet-0000</td>") && !html.contains(">quiet-1002</td>"));
    assert!(html.contains("Listed: the hosts with the most overdue and open findings; 4 more"));
    let risk_zh = risk_html(&risk_report(&facts, &scope(None)).unwrap(), &ZH_CN);
    assert!(risk_zh.contains("漏洞风险摘要") && risk_zh.contains("维护窗口"));
}
