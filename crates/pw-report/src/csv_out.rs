//! CSV renderings (RFC 4180 through the `csv` crate), one table per file: the compliance report
//! as `hosts` (a total row, one per group, one per host), `overdue` or `risks`; the risk summary
//! as `updates` or `signals`.
//!
//! Text cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab
//! or carriage return) are prefixed with `'`: host names, reasons and package names come from
//! agents and operators.

use jiff::Timestamp;

use crate::compliance::{ComplianceReport, Section};
use crate::risk::RiskReport;

/// Which table of a report a CSV holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvTable {
    Hosts,
    Overdue,
    Risks,
    Updates,
    Signals,
}

impl CsvTable {
    /// Parses `hosts`, `overdue`, `risks`, `updates`, `signals`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "hosts" => Self::Hosts,
            "overdue" => Self::Overdue,
            "risks" => Self::Risks,
            "updates" => Self::Updates,
            "signals" => Self::Signals,
            _ => return None,
        })
    }
}

/// A text cell, defused against spreadsheet formulas.
fn text(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn time(value: Option<Timestamp>) -> String {
    opt(value)
}

fn write(rows: Vec<Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to a Vec cannot fail, and every row has the header's length.
        writer.write_record(&row).expect("a CSV row to memory");
    }
    let bytes = writer.into_inner().expect("flushing a CSV to memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
}

fn tier_columns(prefix: &str) -> Vec<String> {
    (0..5).map(|i| format!("{prefix}_T{i}")).collect()
}

/// The compliance report's `table` as CSV; `None` when the table belongs to the risk summary.
pub fn compliance_csv(report: &ComplianceReport, table: CsvTable) -> Option<String> {
    Some(match table {
        CsvTable::Hosts => hosts_csv(report),
        CsvTable::Overdue => overdue_csv(report),
        CsvTable::Risks => risks_csv(report),
        CsvTable::Updates | CsvTable::Signals => return None,
    })
}

fn hosts_csv(report: &ComplianceReport) -> String {
    let mut header: Vec<String> = [
        "level",
        "group",
        "hostname",
        "host_id",
        "hosts",
        "computed_at",
    ]
    .map(String::from)
    .to_vec();
    header.extend(tier_columns("open"));
    header.extend(tier_columns("overdue"));
    header.extend(tier_columns("accepted"));
    header.extend(
        [
            "hosts_overdue",
            "oldest_overdue_days",
            "fixed_in_period",
            "fixed_on_time",
            "fixed_late",
            "mean_hours_to_remediate",
            "median_hours_to_remediate",
            "closed_as_backported",
        ]
        .map(String::from),
    );
    let row = |level: &str, group: &str, host: (&str, &str), at: Option<Timestamp>, s: &Section| {
        let mut cells = vec![
            level.to_owned(),
            text(group),
            text(host.0),
            text(host.1),
            s.hosts.to_string(),
            time(at),
        ];
        for counts in [&s.counts.open, &s.counts.overdue, &s.counts.accepted] {
            cells.extend(counts.iter().map(ToString::to_string));
        }
        let r = &s.remediation;
        cells.extend([
            s.hosts_overdue.to_string(),
            opt(s.oldest_overdue.as_ref().map(|o| o.days_overdue)),
            r.fixed.to_string(),
            r.on_time.to_string(),
            r.late.to_string(),
            opt(r.mean_hours),
            opt(r.median_hours),
            r.backported.to_string(),
        ]);
        cells
    };
    let scope = report.group.as_deref().unwrap_or("");
    let mut rows = vec![header, row("total", scope, ("", ""), None, &report.summary)];
    for g in &report.groups {
        rows.push(row(
            "group",
            g.name.as_deref().unwrap_or(""),
            ("", ""),
            None,
            &g.section,
        ));
    }
    for h in &report.hosts {
        let group = h.group.as_deref().unwrap_or("");
        let host = (h.hostname.as_str(), h.host_id.as_str());
        rows.push(row("host", group, host, h.computed_at, &h.section));
    }
    write(rows)
}

fn overdue_csv(report: &ComplianceReport) -> String {
    let header = [
        "hostname",
        "group",
        "package",
        "installed",
        "advisory",
        "tier",
        "deadline",
        "days_overdue",
        "first_seen",
        "fixed_version",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for o in &report.overdue {
        rows.push(vec![
            text(&o.hostname),
            text(o.group.as_deref().unwrap_or("")),
            text(&o.binary),
            text(&o.installed),
            text(&o.advisory),
            o.tier.to_string(),
            o.deadline.to_string(),
            o.days_overdue.to_string(),
            time(o.first_seen),
            text(o.fixed_version.as_deref().unwrap_or("")),
        ]);
    }
    write(rows)
}

fn risks_csv(report: &ComplianceReport) -> String {
    let header = [
        "id",
        "hostname",
        "advisory",
        "package",
        "reason",
        "accepted_by",
        "accepted_at",
        "expires",
        "state",
        "days_to_expiry",
        "revoked_by",
        "findings_covered",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for r in &report.accepted_risks {
        let state = serde_json::to_value(r.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        rows.push(vec![
            text(&r.id),
            text(r.hostname.as_deref().unwrap_or("*")),
            text(&r.advisory),
            text(r.package.as_deref().unwrap_or("")),
            text(&r.reason),
            text(&r.accepted_by),
            r.accepted_at.to_string(),
            r.expires.to_string(),
            state,
            r.days_to_expiry.to_string(),
            text(r.revoked_by.as_deref().unwrap_or("")),
            r.findings_covered.to_string(),
        ]);
    }
    write(rows)
}

/// The risk summary's `table` as CSV; `None` when the table belongs to the compliance report.
pub fn risk_csv(report: &RiskReport, table: CsvTable) -> Option<String> {
    match table {
        CsvTable::Updates => Some(updates_csv(report)),
        CsvTable::Signals => Some(signals_csv(report)),
        _ => None,
    }
}

fn updates_csv(report: &RiskReport) -> String {
    let header = [
        "rank",
        "package",
        "fixed_version",
        "tier",
        "kev",
        "max_cvss",
        "max_epss",
        "hosts",
        "findings",
        "overdue",
        "longest_exposure_days",
        "advisories",
        "hostnames",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for (i, u) in report.top_updates.iter().enumerate() {
        rows.push(vec![
            (i + 1).to_string(),
            text(&u.package),
            text(&u.fixed_version),
            u.tier.to_string(),
            u.kev.to_string(),
            opt(u.max_cvss),
            opt(u.max_epss),
            u.hosts.to_string(),
            u.findings.to_string(),
            u.overdue.to_string(),
            opt(u.longest_exposure_days),
            text(&u.advisories.join(" ")),
            text(&u.hostnames.join(" ")),
        ]);
    }
    write(rows)
}

fn signals_csv(report: &RiskReport) -> String {
    let header = ["criterion", "findings", "advisories", "hosts", "overdue"];
    let mut rows = vec![header.map(String::from).to_vec()];
    for e in report.by_tier.iter().chain(&report.signals) {
        rows.push(vec![
            e.key.clone(),
            e.findings.to_string(),
            e.advisories.to_string(),
            e.hosts.to_string(),
            e.overdue.to_string(),
        ]);
    }
    write(rows)
}
