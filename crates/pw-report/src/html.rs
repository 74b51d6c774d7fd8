//! HTML renderings (askama, escaped), English or Simplified Chinese; the same page is what the
//! controller prints to PDF. Both reports become one document model — headed sections with
//! paragraphs and a table — rendered by `templates/report.html`.

use askama::Template;
use jiff::Timestamp;
use pw_model::Tier;

use crate::compliance::{ComplianceReport, HostSection, RiskState, Section};
use crate::controls::{Coverage, DISCLAIMER, DISCLAIMER_ZH};
use crate::risk::RiskReport;
use crate::text::Text;

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    doc: &'a Doc,
}

/// A report as headed sections.
pub(crate) struct Doc {
    pub(crate) lang: &'static str,
    pub(crate) title: String,
    pub(crate) meta: Vec<String>,
    pub(crate) disclaimer: Option<&'static str>,
    pub(crate) empty: &'static str,
    pub(crate) sections: Vec<DocSection>,
}

pub(crate) struct DocSection {
    pub(crate) id: &'static str,
    pub(crate) heading: String,
    pub(crate) paragraphs: Vec<String>,
    pub(crate) table: Option<DocTable>,
}

pub(crate) struct DocTable {
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Vec<DocRow>,
}

pub(crate) struct DocRow {
    pub(crate) class: String,
    pub(crate) cells: Vec<Cell>,
}

pub(crate) struct Cell {
    pub(crate) text: String,
    pub(crate) num: bool,
}

pub(crate) fn s(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        num: false,
    }
}

pub(crate) fn n(value: impl ToString) -> Cell {
    Cell {
        text: value.to_string(),
        num: true,
    }
}

pub(crate) fn on(value: Option<impl ToString>) -> Cell {
    value.map_or_else(|| s("–"), n)
}

/// Minutes are noise in an audit report: times are shown to the minute, in UTC.
pub(crate) fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn day(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

pub(crate) fn render(doc: &Doc) -> String {
    // The template only formats strings it was given; rendering to a String cannot fail.
    Page { doc }
        .render()
        .expect("rendering the report template to a String")
}

pub(crate) fn headers(list: &[&str]) -> Vec<String> {
    list.iter().map(|h| (*h).to_owned()).collect()
}

fn scope_line(t: &Text, group: Option<&str>, fleet_version: Option<i64>) -> String {
    let scope = match group {
        Some(g) => format!("{}: {g}", t.group),
        None => t.whole_fleet.to_owned(),
    };
    match fleet_version {
        Some(v) => format!("{}: {scope} ({} {v})", t.scope, t.fleet_version),
        None => format!("{}: {scope}", t.scope),
    }
}

fn ttr(t: &Text, hours: Option<f64>) -> String {
    hours.map_or("–".to_owned(), |h| {
        format!("{h:.1} {} ({:.1} {})", t.hours, h / 24.0, t.days)
    })
}

fn summary_paragraphs(sum: &Section, t: &Text) -> Vec<String> {
    let r = &sum.remediation;
    let mut paragraphs = vec![
        format!(
            "{}: {} · {}: {} · {}: {} · {}: {} · {}: {}",
            t.hosts,
            sum.hosts,
            t.open,
            sum.open_total,
            t.overdue,
            sum.overdue_total,
            t.accepted,
            sum.accepted_total,
            t.hosts_overdue,
            sum.hosts_overdue
        ),
        format!(
            "{}: {} ({} {}, {} {}) · {}: {} · {}: {} · {}: {}",
            t.fixed,
            r.fixed,
            r.on_time,
            t.on_time,
            r.late,
            t.late,
            t.mean_ttr,
            ttr(t, r.mean_hours),
            t.median_ttr,
            ttr(t, r.median_hours),
            t.backported,
            r.backported
        ),
    ];
    if let Some(o) = &sum.oldest_overdue {
        paragraphs.push(format!(
            "{}: {} {} {} ({}, {}) — {} {}",
            t.oldest_overdue,
            o.hostname,
            o.binary,
            o.advisory,
            o.tier,
            day(o.deadline),
            o.days_overdue,
            t.days
        ));
    }
    if sum.hosts_never_scanned > 0 {
        paragraphs.push(format!("{}: {}", t.never_scanned, sum.hosts_never_scanned));
    }
    paragraphs
}

/// A table of counts per tier, one row per (name, section).
fn tally_table<'a>(
    first: &str,
    rows: impl Iterator<Item = (String, &'a Section)>,
    t: &Text,
) -> DocTable {
    let mut headers = vec![first.to_owned(), t.hosts.to_owned()];
    for label in [t.open, t.overdue, t.accepted] {
        headers.extend(Tier::ALL.iter().map(|tier| format!("{label} {tier}")));
    }
    headers.extend([t.fixed.to_owned(), t.median_ttr.to_owned()]);
    let rows = rows
        .map(|(name, section)| {
            let mut cells = vec![s(name), n(section.hosts)];
            for counts in [
                &section.counts.open,
                &section.counts.overdue,
                &section.counts.accepted,
            ] {
                cells.extend(counts.iter().map(n));
            }
            cells.push(n(section.remediation.fixed));
            cells.push(on(section
                .remediation
                .median_hours
                .map(|h| format!("{h:.1}"))));
            DocRow {
                class: match section.overdue_total {
                    0 => String::new(),
                    _ => "overdue".to_owned(),
                },
                cells,
            }
        })
        .collect();
    DocTable { headers, rows }
}

/// The compliance report as an HTML page in `t`'s language.
pub fn compliance_html(report: &ComplianceReport, t: &Text) -> String {
    let zh = t.lang == "zh-CN";
    let groups = report.groups.iter().map(|g| {
        let name = g.name.clone().unwrap_or_else(|| t.no_group.to_owned());
        (name, &g.section)
    });
    let (listed, more_hosts) = hosts_listed(report);
    let hosts = listed.into_iter().map(|h| (h.hostname.clone(), &h.section));
    let sections = vec![
        DocSection {
            id: "summary",
            heading: t.summary.to_owned(),
            paragraphs: summary_paragraphs(&report.summary, t),
            table: None,
        },
        DocSection {
            id: "groups",
            heading: t.by_group.to_owned(),
            paragraphs: vec![],
            table: Some(tally_table(t.group, groups, t)),
        },
        DocSection {
            id: "hosts",
            heading: t.by_host.to_owned(),
            paragraphs: match more_hosts {
                0 => vec![],
                more => vec![format!("{} {more} {}", t.more_hosts.0, t.more_hosts.1)],
            },
            table: Some(tally_table(t.host, hosts, t)),
        },
        overdue_section(report, t),
        risks_section(report, t),
        controls_section(report, t, zh),
    ];
    render(&Doc {
        lang: t.lang,
        title: t.compliance_title.to_owned(),
        meta: vec![
            format!("{}: {}", t.generated, when(report.generated_at)),
            format!(
                "{}: {} – {}",
                t.period,
                when(report.period_from),
                when(report.period_to)
            ),
            scope_line(t, report.group.as_deref(), report.fleet_version),
        ],
        disclaimer: Some(if zh { DISCLAIMER_ZH } else { DISCLAIMER }),
        empty: t.empty,
        sections,
    })
}

/// Hosts listed in HTML and PDF (a print of 10,000 host rows takes Chromium over 100 s and
/// 1.4 GB); past it the hosts with the most overdue, then open findings, in host-name order.
/// JSON and CSV list every host.
pub const HTML_HOST_ROWS: usize = 1000;

fn hosts_listed(report: &ComplianceReport) -> (Vec<&HostSection>, usize) {
    let mut hosts: Vec<&HostSection> = report.hosts.iter().collect();
    let more = hosts.len().saturating_sub(HTML_HOST_ROWS);
    if more > 0 {
        hosts.sort_by_key(|h| {
            let s = &h.section;
            (
                std::cmp::Reverse((s.overdue_total, s.open_total)),
                &h.hostname,
            )
        });
        hosts.truncate(HTML_HOST_ROWS);
        hosts.sort_by_key(|h| (&h.hostname, &h.host_id));
    }
    (hosts, more)
}

/// Overdue findings listed in HTML and PDF, most overdue first; JSON and CSV list them all.
pub const HTML_OVERDUE_ROWS: usize = 500;

fn overdue_section(report: &ComplianceReport, t: &Text) -> DocSection {
    let more = report.overdue.len().saturating_sub(HTML_OVERDUE_ROWS);
    let paragraphs = match more {
        0 => vec![],
        _ => vec![format!("{} {more} {}", t.more_overdue.0, t.more_overdue.1)],
    };
    let rows = report
        .overdue
        .iter()
        .take(HTML_OVERDUE_ROWS)
        .map(|o| DocRow {
            class: format!("overdue {}", o.tier),
            cells: vec![
                s(o.hostname.clone()),
                s(o.binary.clone()),
                s(o.installed.clone()),
                s(o.advisory.clone()),
                s(o.tier.to_string()),
                s(day(o.deadline)),
                n(o.days_overdue),
                s(o.first_seen.map_or("–".to_owned(), day)),
                s(o.fixed_version.clone().unwrap_or_else(|| "–".to_owned())),
            ],
        })
        .collect();
    DocSection {
        id: "overdue",
        heading: t.overdue_findings.to_owned(),
        paragraphs,
        table: Some(DocTable {
            headers: headers(&[
                t.host,
                t.package,
                t.installed,
                t.advisory,
                t.tier,
                t.deadline,
                t.days_overdue,
                t.first_seen,
                t.fix,
            ]),
            rows,
        }),
    }
}

fn risks_section(report: &ComplianceReport, t: &Text) -> DocSection {
    let rows = report
        .accepted_risks
        .iter()
        .map(|r| DocRow {
            class: String::new(),
            cells: vec![
                s(r.hostname.clone().unwrap_or_else(|| t.all_hosts.to_owned())),
                s(match &r.package {
                    Some(p) => format!("{} ({p})", r.advisory),
                    None => r.advisory.clone(),
                }),
                s(r.reason.clone()),
                s(format!("{} · {}", r.accepted_by, day(r.accepted_at))),
                s(format!(
                    "{} ({} {})",
                    day(r.expires),
                    r.days_to_expiry,
                    t.days
                )),
                s(match r.state {
                    RiskState::InForce => t.in_force.to_owned(),
                    RiskState::Expired => t.expired.to_owned(),
                    RiskState::Revoked => {
                        format!("{} ({})", t.revoked, r.revoked_by.as_deref().unwrap_or(""))
                    }
                }),
                n(r.findings_covered),
            ],
        })
        .collect();
    DocSection {
        id: "accepted-risks",
        heading: t.accepted_risks.to_owned(),
        paragraphs: vec![],
        table: Some(DocTable {
            headers: headers(&[
                t.host, t.advisory, t.reason, t.approver, t.expires, t.state, t.covered,
            ]),
            rows,
        }),
    }
}

fn controls_section(report: &ComplianceReport, t: &Text, zh: bool) -> DocSection {
    let rows = report
        .controls
        .iter()
        .map(|c| DocRow {
            class: String::new(),
            cells: vec![
                s(format!(
                    "{} {}",
                    c.clause,
                    if zh { c.title_zh } else { c.title }
                )),
                s(if zh { c.requirement_zh } else { c.requirement }),
                s(match c.coverage {
                    Coverage::Evidence => t.coverage_evidence,
                    Coverage::Partial => t.coverage_partial,
                    Coverage::NotCovered => t.coverage_not_covered,
                }),
                s(if zh { &c.evidence_zh } else { &c.evidence }.clone()),
            ],
        })
        .collect();
    DocSection {
        id: "controls",
        heading: t.controls.to_owned(),
        paragraphs: vec![],
        table: Some(DocTable {
            headers: headers(&[t.clause, t.requirement, t.coverage, t.evidence]),
            rows,
        }),
    }
}

/// The risk summary as an HTML page in `t`'s language.
pub fn risk_html(report: &RiskReport, t: &Text) -> String {
    let scope = scope_line(t, report.group.as_deref(), report.fleet_version);
    render(&crate::html_risk::risk_doc(report, t, scope))
}

pub(crate) mod parts {
    pub(crate) use super::{Doc, DocRow, DocSection, DocTable, headers, n, on, render, s, when};
}
