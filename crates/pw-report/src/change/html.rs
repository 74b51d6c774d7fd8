//! The change report as an HTML page (English or Simplified Chinese) in the reports' one
//! document model (`html.rs`, `templates/report.html`); the controller prints it to PDF.

use jiff::Timestamp;
use pw_protocol::FileState;

use crate::change::model::{ChangeReport, ChangeSubject, HostRow};
use crate::change::text::ChangeText;
use crate::html::parts::{Doc, DocRow, DocSection, DocTable, headers, n, render, s};

/// Operation log lines listed in HTML and PDF; the JSON has them all.
pub const HTML_LOG_LINES: usize = 2000;

/// Times to the second: host changes take seconds.
pub(crate) fn at(t: Option<Timestamp>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

pub(crate) fn row(cells: Vec<crate::html::Cell>) -> DocRow {
    DocRow {
        class: String::new(),
        cells,
    }
}

pub(crate) fn section(
    id: &'static str,
    heading: &str,
    paragraphs: Vec<String>,
    table: Option<DocTable>,
) -> DocSection {
    DocSection {
        id,
        heading: heading.to_owned(),
        paragraphs,
        table,
    }
}

/// The change report as an HTML page in `t`'s language.
pub fn change_html(report: &ChangeReport, t: &ChangeText) -> String {
    let mut sections = vec![
        section("summary", t.summary, summary(report, t), None),
        batches(report, t),
        hosts(report, t),
        failures(report, t),
    ];
    sections.extend(post_verify(report, t));
    sections.extend(crate::change::html_rescan::rescan(report, t));
    sections.extend(protection(report, t));
    sections.extend(hooks(report, t));
    sections.extend(observation(report, t));
    sections.extend(crate::change::html_review::postmortem(report, t));
    sections.push(log(report, t));
    render(&Doc {
        lang: t.lang,
        title: title(report, t),
        meta: meta(report, t),
        disclaimer: Some(t.draft_note),
        empty: t.empty,
        sections,
    })
}

fn title(report: &ChangeReport, t: &ChangeText) -> String {
    match (&report.subject, &report.plan) {
        (ChangeSubject::Plan(id), Some(plan)) => {
            format!("{} — {} {id} ({})", t.title, t.plan, plan.name)
        }
        (ChangeSubject::Plan(id), None) => format!("{} — {} {id}", t.title, t.plan),
        (ChangeSubject::Rollout(id), _) => format!("{} — {} {id}", t.title, t.rollout),
    }
}

fn meta(report: &ChangeReport, t: &ChangeText) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {}",
        t.generated,
        at(Some(report.generated_at))
    )];
    if let Some(plan) = &report.plan {
        let mut line = format!(
            "{} {} ({}) · {} {} · {}: {}",
            t.plan, plan.id, plan.name, t.author, plan.author, t.state, plan.state
        );
        if let Some(by) = &plan.approved_by {
            line.push_str(&format!(
                " · {} {by} ({})",
                t.approved_by,
                at(plan.approved_at)
            ));
        }
        if plan.downgrade {
            line.push_str(&format!(" · {}", t.downgrade));
        }
        lines.push(line);
    }
    for rollout in &report.rollouts {
        lines.push(format!(
            "{} {}: {} · {} · {}",
            t.rollout,
            rollout.id,
            rollout.status,
            rollout.created_by,
            at(Some(rollout.created_at))
        ));
    }
    lines
}

fn summary(report: &ChangeReport, t: &ChangeText) -> Vec<String> {
    let s = &report.summary;
    vec![
        format!(
            "{}: {} · {}: {} ({} {}) · {}: {} · {}: {} · {}: {} · {}: {} · {}: {} · {}: {}",
            t.hosts_planned,
            s.hosts_planned,
            t.host_changes,
            s.host_changes,
            s.as_planned,
            t.as_planned,
            t.word("done"),
            s.done,
            t.word("rolled_back"),
            s.rolled_back,
            t.word("failed"),
            s.failed,
            t.word("in_progress"),
            s.in_progress,
            t.not_reached,
            s.not_reached,
            t.checks_passed,
            s.checks_passed,
        ) + &format!(" · {}: {}", t.checks_failed, s.checks_failed),
        format!(
            "{}: {} – {} · {}: {} – {}",
            t.planned,
            at(s.planned_start),
            at(s.planned_end),
            t.actual,
            at(s.started_at),
            at(s.finished_at)
        ),
    ]
}

fn yes_no(t: &ChangeText, value: Option<bool>) -> String {
    match value {
        Some(true) => t.yes.to_owned(),
        Some(false) => t.no.to_owned(),
        None => "–".to_owned(),
    }
}

fn batches(report: &ChangeReport, t: &ChangeText) -> DocSection {
    let rows = report
        .batches
        .iter()
        .map(|b| {
            let mut r = row(vec![
                s(format!("{} #{}", b.rollout_id, b.number)),
                s(b.planned_number.map_or("–".to_owned(), |n| format!("#{n}"))),
                s(b.group.clone()),
                s(t.word(&b.kind)),
                n(b.hosts),
                s(b.window.clone().unwrap_or_else(|| "–".into())),
                s(format!("{} – {}", at(b.planned_start), at(b.planned_end))),
                s(format!("{} – {}", at(b.started_at), at(b.finished_at))),
                s(format!("{} / {} / {}", b.done, b.rolled_back, b.failed)),
                s(yes_no(t, b.on_schedule)),
            ]);
            if b.on_schedule == Some(false) {
                r.class = "overdue".into();
            }
            r
        })
        .collect();
    let outcome = format!(
        "{} / {} / {}",
        t.word("done"),
        t.word("rolled_back"),
        t.word("failed")
    );
    let planned = format!("{} ({})", t.planned, t.batch);
    let planned_time = format!("{}: {} – {}", t.planned, t.started, t.finished);
    let actual_time = format!("{}: {} – {}", t.actual, t.started, t.finished);
    let table = DocTable {
        headers: headers(&[
            t.batch,
            &planned,
            t.group,
            t.kind,
            t.hosts,
            t.window,
            &planned_time,
            &actual_time,
            &outcome,
            t.on_schedule,
        ]),
        rows,
    };
    section("batches", t.batches, vec![], Some(table))
}

/// `pkg 1.0-1 → 1.0-2 (planned 1.0-1 → 1.0-2)`, one package per line.
fn versions(host: &HostRow) -> String {
    host.versions
        .iter()
        .map(|v| {
            let seen = match host.reported {
                true => format!(
                    "{} → {}",
                    v.before.as_deref().unwrap_or("∅"),
                    v.after.as_deref().unwrap_or("∅")
                ),
                false => "? → ?".to_owned(),
            };
            let planned = match (&v.planned_from, &v.planned_to, &v.target) {
                (from, Some(to), _) => format!("{} → {to}", from.as_deref().unwrap_or("?")),
                (_, None, Some(target)) => format!("→ {target}"),
                _ => "–".to_owned(),
            };
            let mark = if v.as_planned == Some(false) {
                " ≠"
            } else {
                ""
            };
            format!("{} {seen}{mark} ({planned})", v.package)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn hosts(report: &ChangeReport, t: &ChangeText) -> DocSection {
    let rows = report
        .hosts
        .iter()
        .map(|h| {
            let mut checks = h.checks_passed.join(", ");
            if let Some(failed) = &h.check_failed {
                checks = format!("{checks} ✗ {failed}");
            }
            let batch = format!(
                "{} / {}",
                h.planned_batch.map_or("–".to_owned(), |b| b.to_string()),
                h.batch.map_or("–".to_owned(), |b| b.to_string())
            );
            let mut r = row(vec![
                s(h.hostname.clone()),
                s(h.group.clone()),
                s(batch),
                s(t.word(&h.result)),
                s(at(h.planned_start)),
                s(at(h.started_at)),
                s(at(h.finished_at)),
                s(versions(h)),
                s(checks),
                s(h.failure.clone().unwrap_or_default()),
            ]);
            if h.result == "rolled_back" || h.result == "failed" {
                r.class = "overdue".into();
            }
            r
        })
        .collect();
    let batch = format!("{} ({} / {})", t.batch, t.planned, t.actual);
    let planned_start = format!("{}: {}", t.planned, t.started);
    let table = DocTable {
        headers: headers(&[
            t.host,
            t.group,
            &batch,
            t.result,
            &planned_start,
            t.started,
            t.finished,
            t.versions,
            t.checks,
            t.failure,
        ]),
        rows,
    };
    section("hosts", t.hosts, vec![], Some(table))
}

fn failures(report: &ChangeReport, t: &ChangeText) -> DocSection {
    let rows = report
        .postmortem
        .failures
        .iter()
        .map(|f| {
            row(vec![
                s(f.hostname.clone()),
                s(f.rollout_id.clone()),
                s(t.word(&f.result)),
                s(at(f.at)),
                s(f.cause_kind.clone().unwrap_or_default()),
                s(f.failed_check.clone().unwrap_or_default()),
                s(f.detail.clone()),
                s(yes_no(t, f.back_on_recorded)),
            ])
        })
        .collect();
    let table = DocTable {
        headers: headers(&[
            t.host,
            t.rollout,
            t.result,
            t.time,
            t.failure,
            t.checks_failed,
            t.detail,
            t.back_on_recorded,
        ]),
        rows,
    };
    section("failures", t.failures, vec![], Some(table))
}

fn file_state(state: Option<&FileState>) -> String {
    match state {
        None => "–".to_owned(),
        Some(f) => match &f.mode {
            None => "missing".to_owned(),
            Some(mode) => format!(
                "{mode} {}:{}{}",
                f.owner.as_deref().unwrap_or("?"),
                f.group.as_deref().unwrap_or("?"),
                if f.modified { " (modified)" } else { "" }
            ),
        },
    }
}

fn post_verify(report: &ChangeReport, t: &ChangeText) -> Option<DocSection> {
    let verified: Vec<&HostRow> = report
        .hosts
        .iter()
        .filter(|h| h.post_verify.is_some())
        .collect();
    if verified.is_empty() {
        return None;
    }
    let mut paragraphs = Vec::new();
    let mut rows = Vec::new();
    for host in verified {
        let Some(v) = &host.post_verify else { continue };
        let mut line = format!(
            "{}: {}: {}",
            host.hostname,
            t.checks_passed,
            v.checks_passed.join(", ")
        );
        if let Some(failed) = &v.check_failed {
            line.push_str(&format!(" · {}: {failed}", t.checks_failed));
        }
        if !v.simulation.is_empty() {
            line.push_str(&format!(
                " · {}: {}",
                t.simulation,
                v.simulation.join(" | ")
            ));
        }
        if let Some(archive) = &v.archive {
            let offered = v.from_archive.join(", ");
            line.push_str(&format!(" · {offered} {} {archive}", t.local_archive));
        }
        paragraphs.push(line);
        rows.extend(v.files.iter().map(|f| {
            let mut r = row(vec![
                s(host.hostname.clone()),
                s(f.path.clone()),
                s(file_state(f.before.as_ref())),
                s(file_state(f.after.as_ref())),
                s(if f.changed { t.yes } else { t.no }),
            ]);
            if f.changed {
                r.class = "overdue".into();
            }
            r
        }));
    }
    let table = DocTable {
        headers: headers(&[t.host, t.file, t.before, t.after, t.changed]),
        rows,
    };
    Some(section(
        "post-verify",
        t.post_verify,
        paragraphs,
        Some(table),
    ))
}

fn protection(report: &ChangeReport, t: &ChangeText) -> Vec<DocSection> {
    let mut out = Vec::new();
    let steps: Vec<DocRow> = report
        .hosts
        .iter()
        .flat_map(|h| {
            h.protection.iter().map(|p| {
                row(vec![
                    s(h.hostname.clone()),
                    s(p.name.clone()),
                    s(if p.ok { t.yes } else { t.no }),
                    s(p.detail.clone()),
                ])
            })
        })
        .collect();
    if !steps.is_empty() {
        let ok = format!("{} ({})", t.result, t.yes);
        let table = DocTable {
            headers: headers(&[t.host, t.step, &ok, t.detail]),
            rows: steps,
        };
        out.push(section("protection", t.protection, vec![], Some(table)));
    }
    let records: Vec<DocRow> = report
        .rollouts
        .iter()
        .flat_map(|r| r.protection_records.iter().flatten())
        .map(|p| {
            row(vec![
                s(p.host_id.clone()),
                s(format!("{} {}", p.kind, p.name)),
                s(at(Some(p.at))),
                s(p.size_bytes.map_or("–".to_owned(), |b| b.to_string())),
                s(p.status.clone()),
                s(p.retention.clone().unwrap_or_default()),
                s(p.detail.clone()),
            ])
        })
        .collect();
    if report
        .rollouts
        .iter()
        .any(|r| r.protection_records.is_some())
    {
        let table = DocTable {
            headers: headers(&[
                t.host,
                t.kind,
                t.time,
                "bytes",
                t.state,
                "retention",
                t.detail,
            ]),
            rows: records,
        };
        out.push(section(
            "protection-records",
            t.protection_records,
            vec![],
            Some(table),
        ));
    }
    out
}

/// Each host's hook runs in order, then its benchmark before and after.
fn hooks(report: &ChangeReport, t: &ChangeText) -> Option<DocSection> {
    let mut rows = Vec::new();
    for host in &report.hosts {
        let Some(hooks) = &host.hooks else { continue };
        rows.extend(hooks.runs.iter().map(|run| {
            row(vec![
                s(host.hostname.clone()),
                s(format!("{} {}", run.phase, run.name)),
                s(if run.ok { t.yes } else { t.no }),
                s(run.detail.clone()),
            ])
        }));
        if let Some(b) = &hooks.benchmark {
            let after = b.after.map_or("–".to_owned(), |a| a.to_string());
            let regression = b
                .regression_percent
                .map_or("–".to_owned(), |r| format!("{r:.1} %"));
            let mut r = row(vec![
                s(host.hostname.clone()),
                s(t.benchmark),
                s(if b.passed { t.yes } else { t.no }),
                s(format!(
                    "{} → {after} ({regression}; ≤ {} %)",
                    b.before, b.max_regression_percent
                )),
            ]);
            if !b.passed {
                r.class = "overdue".into();
            }
            rows.push(r);
        }
    }
    (!rows.is_empty()).then(|| {
        let ok = format!("{} ({})", t.result, t.yes);
        let table = DocTable {
            headers: headers(&[t.host, t.step, &ok, t.detail]),
            rows,
        };
        section("hooks", t.hooks, vec![], Some(table))
    })
}

fn observation(report: &ChangeReport, t: &ChangeText) -> Option<DocSection> {
    let rows: Vec<DocRow> = report
        .rollouts
        .iter()
        .filter_map(|r| {
            let o = r.observation.as_ref()?;
            Some(row(vec![
                s(r.id.clone()),
                s(format!("{} – {}", at(Some(o.from)), at(Some(o.until)))),
                s(o.state.clone()),
                s(o.events.join("; ")),
            ]))
        })
        .collect();
    (!rows.is_empty()).then(|| {
        let table = DocTable {
            headers: headers(&[t.rollout, t.time, t.state, t.detail]),
            rows,
        };
        section("observation", t.observation, vec![], Some(table))
    })
}

fn log(report: &ChangeReport, t: &ChangeText) -> DocSection {
    let more = report.log.len().saturating_sub(HTML_LOG_LINES);
    let rows = report
        .log
        .iter()
        .take(HTML_LOG_LINES)
        .map(|l| {
            let host = l
                .line
                .host_id
                .as_deref()
                .and_then(|id| report.hosts.iter().find(|h| h.host_id == id))
                .map_or_else(
                    || l.line.host_id.clone().unwrap_or_default(),
                    |h| h.hostname.clone(),
                );
            row(vec![
                n(l.line.seq),
                s(at(Some(l.line.at))),
                s(l.line.actor.clone()),
                s(host),
                s(l.line.step.clone()),
                s(l.line.result.clone()),
                s(l.line.detail.clone()),
            ])
        })
        .collect();
    let paragraphs = match more {
        0 => vec![],
        more => vec![format!("{more} {}", t.more_log)],
    };
    let table = DocTable {
        headers: headers(&["#", t.time, t.actor, t.host, t.step, t.result, t.detail]),
        rows,
    };
    section("log", t.log, paragraphs, Some(table))
}

pub(crate) mod parts {
    pub(crate) use super::{at, row, section};
}
