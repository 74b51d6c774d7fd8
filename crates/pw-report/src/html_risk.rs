//! The risk summary as the HTML document model (see `html.rs`).

use crate::html::parts::{Doc, DocRow, DocSection, DocTable, headers, n, on, s, when};
use crate::risk::{Exposure, RiskReport};
use crate::text::Text;

fn criterion(key: &str, t: &Text) -> String {
    let zh = t.lang == "zh-CN";
    match key {
        "kev" if zh => "列入 CISA KEV（已被利用）".to_owned(),
        "kev" => "Listed in CISA KEV (exploited)".to_owned(),
        "epss_ge_0.5" => "EPSS ≥ 0.5".to_owned(),
        "epss_ge_0.1" => "EPSS ≥ 0.1".to_owned(),
        "cvss_ge_9" => "CVSS ≥ 9.0".to_owned(),
        "cvss_ge_7" => "CVSS ≥ 7.0".to_owned(),
        tier => {
            let title = pw_model::Tier::ALL
                .into_iter()
                .find(|x| x.to_string() == tier)
                .map(|x| if zh { x.title_zh() } else { x.title() })
                .unwrap_or("");
            format!("{tier} {title}")
        }
    }
}

fn exposure_rows(list: &[Exposure], t: &Text) -> Vec<DocRow> {
    list.iter()
        .map(|e| DocRow {
            class: String::new(),
            cells: vec![
                s(criterion(&e.key, t)),
                n(e.findings),
                n(e.advisories),
                n(e.hosts),
                n(e.overdue),
            ],
        })
        .collect()
}

/// The management statement: what installing the listed updates removes.
fn statement(report: &RiskReport, t: &Text) -> String {
    let findings: usize = report.top_updates.iter().map(|u| u.findings).sum();
    let kev = report.top_updates.iter().filter(|u| u.kev).count();
    let mut hosts: Vec<&str> = report
        .top_updates
        .iter()
        .flat_map(|u| u.hostnames.iter().map(String::as_str))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    if t.lang == "zh-CN" {
        format!(
            "在一个维护窗口内安装下列 {} 项更新，可消除 {} 项发现中的 {} 项（涉及 {} 台主机），其中 {} 项更新修复已被利用（KEV）的漏洞。",
            report.top_updates.len(),
            report.findings,
            findings,
            hosts.len(),
            kev
        )
    } else {
        format!(
            "Installing the {} updates below in one maintenance window removes {} of the {} findings \
             present (on {} hosts); {} of these updates fix vulnerabilities known to be exploited (KEV).",
            report.top_updates.len(),
            findings,
            report.findings,
            hosts.len(),
            kev
        )
    }
}

fn summary_paragraphs(report: &RiskReport, t: &Text) -> Vec<String> {
    let mut summary = vec![
        format!(
            "{}: {} · {}: {} · {}: {} · {}: {} · {}: {} · {}: {}",
            t.hosts,
            report.hosts,
            t.exposure,
            report.hosts_exposed,
            t.findings,
            report.findings,
            t.overdue,
            report.overdue,
            t.accepted,
            report.accepted,
            t.no_fix,
            report.no_fix
        ),
        format!(
            "{}: {} · {}: {}",
            t.host_days,
            report.host_days_exposed,
            t.longest,
            report
                .longest_exposure_days
                .map_or("–".to_owned(), |d| format!("{d} {}", t.days))
        ),
        t.exposure_note.to_owned(),
    ];
    if !report.top_updates.is_empty() {
        summary.push(statement(report, t));
    }
    summary
}

fn update_rows(report: &RiskReport, t: &Text) -> Vec<DocRow> {
    report
        .top_updates
        .iter()
        .enumerate()
        .map(|(i, u)| DocRow {
            class: u.tier.to_string(),
            cells: vec![
                n(i + 1),
                s(format!("{} → {}", u.package, u.fixed_version)),
                s(u.tier.to_string()),
                s(if u.kev { t.yes } else { t.no }),
                on(u.max_cvss.map(|c| format!("{c:.1}"))),
                on(u.max_epss.map(|e| format!("{e:.3}"))),
                n(u.hosts),
                n(u.findings),
                n(u.overdue),
                s(u.advisories.join(", ")),
                s(u.hostnames.join(", ")),
            ],
        })
        .collect()
}

fn group_rows(report: &RiskReport, t: &Text) -> Vec<DocRow> {
    report
        .groups
        .iter()
        .map(|g| DocRow {
            class: String::new(),
            cells: vec![
                s(g.name.clone().unwrap_or_else(|| t.no_group.to_owned())),
                n(g.hosts),
                n(g.hosts_exposed),
                n(g.findings),
                n(g.kev),
                n(g.t0),
                n(g.t1),
                n(g.overdue),
            ],
        })
        .collect()
}

pub(crate) fn risk_doc(report: &RiskReport, t: &Text, scope: String) -> Doc {
    let exposure_headers = headers(&[
        t.criterion,
        t.findings,
        t.vulnerabilities,
        t.hosts,
        t.overdue,
    ]);
    let summary = summary_paragraphs(report, t);
    let (update_rows, group_rows) = (update_rows(report, t), group_rows(report, t));
    let mut more = Vec::new();
    if report.more_updates > 0 {
        more.push(format!("+{} {}", report.more_updates, t.more_updates));
    }
    Doc {
        lang: t.lang,
        title: t.risk_title.to_owned(),
        meta: vec![
            format!("{}: {}", t.generated, when(report.generated_at)),
            scope,
        ],
        disclaimer: None,
        empty: t.empty,
        sections: vec![
            DocSection {
                id: "summary",
                heading: t.summary.to_owned(),
                paragraphs: summary,
                table: None,
            },
            DocSection {
                id: "signals",
                heading: t.exposure.to_owned(),
                paragraphs: vec![],
                table: Some(DocTable {
                    headers: exposure_headers.clone(),
                    rows: exposure_rows(&report.signals, t),
                }),
            },
            DocSection {
                id: "tiers",
                heading: t.tier.to_owned(),
                paragraphs: vec![],
                table: Some(DocTable {
                    headers: exposure_headers,
                    rows: exposure_rows(&report.by_tier, t),
                }),
            },
            DocSection {
                id: "updates",
                heading: t.top_updates.to_owned(),
                paragraphs: more,
                table: Some(DocTable {
                    headers: headers(&[
                        "#",
                        t.package,
                        t.tier,
                        t.kev,
                        "CVSS",
                        "EPSS",
                        t.hosts,
                        t.findings,
                        t.overdue,
                        t.vulnerabilities,
                        t.host,
                    ]),
                    rows: update_rows,
                }),
            },
            DocSection {
                id: "groups",
                heading: t.by_group.to_owned(),
                paragraphs: vec![],
                table: Some(DocTable {
                    headers: headers(&[
                        t.group, t.hosts, t.exposure, t.findings, t.kev, "T0", "T1", t.overdue,
                    ]),
                    rows: group_rows,
                }),
            },
        ],
    }
}
