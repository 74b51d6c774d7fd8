//! The postmortem draft's HTML sections: the timeline, deviations, predicted vs observed, the
//! checklist reviewed, and the seed's review questions with the facts that answer them.

use crate::change::html::parts::{at, row, section};
use crate::change::model::ChangeReport;
use crate::change::text::ChangeText;
use crate::html::parts::{DocSection, DocTable, headers, n, s};

pub(crate) fn postmortem(report: &ChangeReport, t: &ChangeText) -> Vec<DocSection> {
    let p = &report.postmortem;
    let heading = |part: &str| format!("{} — {part}", t.postmortem);
    let timeline = DocTable {
        headers: headers(&[t.time, t.actor, t.event, t.host, t.detail]),
        rows: p
            .timeline
            .iter()
            .map(|e| {
                row(vec![
                    s(at(Some(e.at))),
                    s(e.actor.clone()),
                    s(t.word(&e.event)),
                    s(e.hostname.clone().unwrap_or_default()),
                    s(e.detail.clone()),
                ])
            })
            .collect(),
    };
    let deviations = DocTable {
        headers: headers(&[t.kind, t.host, t.detail]),
        rows: p
            .deviations
            .iter()
            .map(|d| {
                row(vec![
                    s(t.word(&d.kind)),
                    s(d.subject.clone()),
                    s(d.detail.clone()),
                ])
            })
            .collect(),
    };
    let accuracy = DocTable {
        headers: headers(&[
            t.item,
            t.predicted,
            t.observed,
            t.both,
            t.compared,
            t.verdict,
            t.detail,
        ]),
        rows: p
            .accuracy
            .iter()
            .map(|a| {
                let mut r = row(vec![
                    s(t.word(&a.item)),
                    n(a.predicted),
                    n(a.observed),
                    n(a.both),
                    n(a.compared),
                    s(t.word(&a.verdict)),
                    s(a.notes.join("; ")),
                ]);
                if matches!(a.verdict.as_str(), "over" | "under" | "mixed") {
                    r.class = "overdue".into();
                }
                r
            })
            .collect(),
    };
    let checklist = DocTable {
        headers: headers(&[t.risk, t.level, t.evidence, t.materialised, t.host]),
        rows: p
            .checklist
            .iter()
            .map(|c| {
                let happened = match c.materialised {
                    Some(true) => t.yes,
                    Some(false) => t.no,
                    None => t.not_measured,
                };
                row(vec![
                    s(t.word(&c.risk)),
                    s(t.word(&c.level)),
                    s(c.evidence.join("; ")),
                    s(happened),
                    s(c.observed.join(", ")),
                ])
            })
            .collect(),
    };
    vec![
        section("timeline", &heading(t.timeline), vec![], Some(timeline)),
        section(
            "deviations",
            &heading(t.deviations),
            vec![],
            Some(deviations),
        ),
        section("accuracy", &heading(t.accuracy), vec![], Some(accuracy)),
        section("checklist", &heading(t.checklist), vec![], Some(checklist)),
        section(
            "questions",
            &heading(t.questions),
            questions(report, t),
            None,
        ),
    ]
}

/// The seed's questions, each with a draft answer from the records.
fn questions(report: &ChangeReport, t: &ChangeText) -> Vec<String> {
    let p = &report.postmortem;
    let listed = |items: Vec<String>| -> String {
        if items.is_empty() {
            t.empty.to_owned()
        } else {
            items.join("; ")
        }
    };
    let deviation = listed(
        p.deviations
            .iter()
            .map(|d| format!("{} {} ({})", t.word(&d.kind), d.subject, d.detail))
            .collect(),
    );
    let problems = listed(
        p.failures
            .iter()
            .map(|f| format!("{}: {} — {}", f.hostname, t.word(&f.result), f.detail))
            .collect(),
    );
    let risks = listed(
        p.accuracy
            .iter()
            .map(|a| format!("{}: {}", t.word(&a.item), t.word(&a.verdict)))
            .chain(
                p.checklist
                    .iter()
                    .filter(|c| c.materialised == Some(true))
                    .map(|c| {
                        format!(
                            "{} ({}): {}",
                            t.word(&c.risk),
                            t.word(&c.level),
                            c.observed.join(", ")
                        )
                    }),
            )
            .collect(),
    );
    vec![
        format!("1. {} {deviation}", t.question_deviation),
        format!("2. {} {problems} {}", t.question_problems, t.to_complete),
        format!("3. {} {risks} {}", t.question_risks, t.to_complete),
        format!("4. {} {}", t.question_automation, t.to_complete),
        format!("5. {} {}", t.question_lessons, t.to_complete),
    ]
}
