//! The postmortem draft of a change report (seed 000's review questions: how execution departed
//! from the plan, what went wrong, whether the risk assessment was accurate): the timeline, the
//! deviations, the failures, predicted vs observed restarts, reboots and conffiles, and each
//! line of the plan's risk checklist with what happened. What to improve is for people to add.

use jiff::Timestamp;

use crate::change::build::Planned;
use crate::change::facts::{ChangeFacts, PlannedRisk, RolloutFacts};
use crate::change::model::{
    Accuracy, BatchRow, ChecklistReview, Deviation, Failure, HostRow, Postmortem, TimelineEntry,
};

pub(crate) fn postmortem(
    facts: &ChangeFacts,
    hosts: &[HostRow],
    batches: &[BatchRow],
) -> Postmortem {
    Postmortem {
        timeline: timeline(facts),
        deviations: deviations(facts, hosts, batches),
        failures: failures(hosts),
        accuracy: accuracy(facts, hosts),
        checklist: checklist(facts, hosts),
    }
}

fn timeline(facts: &ChangeFacts) -> Vec<TimelineEntry> {
    let mut entries = Vec::new();
    if let Some(plan) = &facts.plan {
        entries.extend(plan.history.iter().map(|e| TimelineEntry {
            at: e.at,
            actor: e.actor.clone(),
            event: format!("plan.{}", e.event),
            rollout_id: None,
            hostname: None,
            detail: e.comment.clone().unwrap_or_default(),
        }));
    }
    for rollout in &facts.rollouts {
        entries.extend(rollout_moments(rollout));
    }
    entries.sort_by_key(|e| e.at);
    entries
}

/// The moments of a rollout worth a line: created, status changes, operators' controls, each
/// host claimed and finished, rollbacks begun.
fn rollout_moments(rollout: &RolloutFacts) -> impl Iterator<Item = TimelineEntry> + '_ {
    let hostname = |id: &str| {
        rollout
            .hosts
            .iter()
            .find(|h| h.host_id == id)
            .map_or_else(|| id.to_owned(), |h| h.hostname.clone())
    };
    rollout.log.iter().filter_map(move |line| {
        let event = match (&line.host_id, line.step.as_str(), line.result.as_str()) {
            (None, "created", _) => "rollout.created".to_owned(),
            (None, "status", to) => format!("rollout.{to}"),
            (None, step, _) => format!("rollout.{step}"),
            (Some(_), _, "claimed") => "host.claimed".to_owned(),
            (Some(_), _, result @ ("done" | "rolled_back" | "failed" | "rolling_back")) => {
                format!("host.{result}")
            }
            (Some(_), _, _) => return None,
        };
        Some(TimelineEntry {
            at: line.at,
            actor: line.actor.clone(),
            event,
            rollout_id: Some(rollout.id.clone()),
            hostname: line.host_id.as_deref().map(hostname),
            detail: line.detail.clone(),
        })
    })
}

fn deviations(facts: &ChangeFacts, hosts: &[HostRow], batches: &[BatchRow]) -> Vec<Deviation> {
    let mut out = Vec::new();
    let plan = Planned(facts.plan.as_ref());
    for batch in batches.iter().filter(|b| b.on_schedule == Some(false)) {
        out.push(Deviation {
            kind: "late_batch".into(),
            subject: format!("{} #{}", batch.rollout_id, batch.number),
            detail: format!(
                "{} {}: planned {} – {}, ran {} – {}",
                batch.group,
                batch.kind,
                show(batch.planned_start),
                show(batch.planned_end),
                show(batch.started_at),
                show(batch.finished_at)
            ),
        });
    }
    for host in hosts {
        if host.result == "not_reached" {
            out.push(Deviation {
                kind: "not_reached".into(),
                subject: host.hostname.clone(),
                detail: match &host.rollout_id {
                    Some(rollout) => format!("still pending in {rollout}"),
                    None => "in no rollout".into(),
                },
            });
        }
        if host.result == "done" {
            for v in host.versions.iter().filter(|v| v.as_planned == Some(false)) {
                out.push(Deviation {
                    kind: "other_version".into(),
                    subject: host.hostname.clone(),
                    detail: format!(
                        "{}: planned {}, ended on {}",
                        v.package,
                        v.planned_to
                            .as_deref()
                            .or(v.target.as_deref())
                            .unwrap_or("–"),
                        v.after.as_deref().unwrap_or("not installed")
                    ),
                });
            }
        }
        if facts.plan.is_some()
            && host.rollout_id.is_some()
            && plan.host(&host.host_id, &host.hostname).is_none()
        {
            out.push(Deviation {
                kind: "unplanned_host".into(),
                subject: host.hostname.clone(),
                detail: format!("in {} but not in the plan", show_id(&host.rollout_id)),
            });
        }
    }
    out
}

fn show(at: Option<Timestamp>) -> String {
    at.map_or_else(
        || "–".to_owned(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn show_id(id: &Option<String>) -> &str {
    id.as_deref().unwrap_or("–")
}

fn failures(hosts: &[HostRow]) -> Vec<Failure> {
    hosts
        .iter()
        .filter(|h| h.result == "rolled_back" || h.result == "failed")
        .map(|h| Failure {
            rollout_id: show_id(&h.rollout_id).to_owned(),
            hostname: h.hostname.clone(),
            result: h.result.clone(),
            at: h.finished_at,
            cause_kind: h.cause_kind.clone(),
            failed_check: h.check_failed.clone(),
            detail: h.failure.clone().unwrap_or_default(),
            back_on_recorded: h
                .reported
                .then(|| h.versions.iter().all(|v| v.before == v.after)),
        })
        .collect()
}

/// Predicted vs observed over the hosts where both are known.
fn accuracy(facts: &ChangeFacts, hosts: &[HostRow]) -> Vec<Accuracy> {
    let restarts = compare(
        "service_restarts",
        hosts.iter().filter_map(|h| {
            let (p, o) = (
                h.restarts.predicted.as_ref()?,
                h.restarts.observed.as_ref()?,
            );
            let note = (p != o).then(|| {
                format!(
                    "{}: predicted {}, observed {}",
                    h.hostname,
                    list(p),
                    list(o)
                )
            });
            Some((!p.is_empty(), !o.is_empty(), note))
        }),
    );
    let reboots = compare(
        "reboots",
        hosts.iter().filter_map(|h| {
            let (p, o) = (h.reboot.predicted?, h.reboot.observed?);
            let note = (p != o).then(|| {
                format!(
                    "{}: predicted {}, observed {}",
                    h.hostname,
                    yes_no(p),
                    yes_no(o)
                )
            });
            Some((p, o, note))
        }),
    );
    let mut out = vec![restarts, reboots, conffiles(facts, hosts)];
    if facts.plan.is_none() {
        for item in &mut out {
            item.verdict = "no_plan".into();
        }
    }
    out
}

fn list(units: &[String]) -> String {
    if units.is_empty() {
        "none".into()
    } else {
        units.join(", ")
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "a reboot" } else { "none" }
}

fn compare(item: &str, pairs: impl Iterator<Item = (bool, bool, Option<String>)>) -> Accuracy {
    let (mut predicted, mut observed, mut both, mut compared) = (0, 0, 0, 0);
    let mut notes = Vec::new();
    for (p, o, note) in pairs {
        compared += 1;
        predicted += usize::from(p);
        observed += usize::from(o);
        both += usize::from(p && o);
        notes.extend(note);
    }
    Accuracy {
        item: item.to_owned(),
        predicted,
        observed,
        both,
        compared,
        verdict: verdict(predicted, observed, both, compared, notes.is_empty()).into(),
        notes,
    }
}

fn verdict(
    predicted: usize,
    observed: usize,
    both: usize,
    compared: usize,
    exact: bool,
) -> &'static str {
    match (compared, predicted == both, observed == both) {
        (0, _, _) => "not_observed",
        (_, true, true) if exact => "accurate",
        (_, true, true) => "mixed",
        (_, false, true) => "over",
        (_, true, false) => "under",
        (_, false, false) => "mixed",
    }
}

/// Conffiles: the checklist's config-overwrite level against the conffiles the agent found
/// changed. The agent compares conffiles for downgrades only; otherwise `not_observed`.
fn conffiles(facts: &ChangeFacts, hosts: &[HostRow]) -> Accuracy {
    let warned = risk(facts, "config_overwrite").is_some_and(|r| r.level != "ok");
    let observed_hosts: Vec<(&HostRow, bool)> = hosts
        .iter()
        .filter_map(|h| {
            let verify = h.post_verify.as_ref()?;
            Some((h, verify.files.iter().any(|f| f.changed)))
        })
        .collect();
    let compared = observed_hosts.len();
    let observed = observed_hosts
        .iter()
        .filter(|(_, changed)| *changed)
        .count();
    let predicted = if warned { compared } else { 0 };
    let both = if warned { observed } else { 0 };
    let notes = observed_hosts
        .iter()
        .filter(|(_, changed)| *changed != warned)
        .map(|(h, changed)| {
            format!(
                "{}: predicted {}, observed {}",
                h.hostname,
                if warned { "conffiles touched" } else { "none" },
                if *changed {
                    "conffiles changed"
                } else {
                    "none"
                }
            )
        })
        .collect::<Vec<_>>();
    Accuracy {
        item: "conffiles".into(),
        predicted,
        observed,
        both,
        compared,
        verdict: verdict(predicted, observed, both, compared, notes.is_empty()).into(),
        notes,
    }
}

fn risk<'a>(facts: &'a ChangeFacts, kind: &str) -> Option<&'a PlannedRisk> {
    facts.plan.as_ref()?.risks.iter().find(|r| r.risk == kind)
}

/// Each checklist line with the hosts where it happened (`None`: not measured here).
fn checklist(facts: &ChangeFacts, hosts: &[HostRow]) -> Vec<ChecklistReview> {
    let Some(plan) = &facts.plan else {
        return vec![];
    };
    let reached: Vec<&HostRow> = hosts.iter().filter(|h| h.reported).collect();
    let named = |kinds: &[&str]| -> Vec<String> {
        reached
            .iter()
            .filter(|h| h.cause_kind.as_deref().is_some_and(|k| kinds.contains(&k)))
            .map(|h| h.hostname.clone())
            .collect()
    };
    plan.risks
        .iter()
        .map(|r| {
            let observed = match r.risk.as_str() {
                "compatibility" => Some(named(&[
                    "apply_failed",
                    "apply_timed_out",
                    "version_mismatch",
                ])),
                "service_interruption" => Some(named(&[
                    "health_check_failed",
                    "checks_missing",
                    "gate_failed",
                ])),
                "rollback_failure" => Some(named(&[
                    "rollback_failed",
                    "rollback_mismatch",
                    "drill_failed",
                ])),
                "config_overwrite" => {
                    let verified: Vec<&&HostRow> =
                        reached.iter().filter(|h| h.post_verify.is_some()).collect();
                    (!verified.is_empty()).then(|| {
                        verified
                            .iter()
                            .filter(|h| {
                                h.post_verify
                                    .as_ref()
                                    .is_some_and(|v| v.files.iter().any(|f| f.changed))
                            })
                            .map(|h| h.hostname.clone())
                            .collect()
                    })
                }
                "performance" => {
                    let measured: Vec<&&HostRow> = reached
                        .iter()
                        .filter(|h| h.hooks.as_ref().is_some_and(|k| k.benchmark.is_some()))
                        .collect();
                    (!measured.is_empty()).then(|| {
                        measured
                            .iter()
                            .filter(|h| {
                                let benchmark = h.hooks.as_ref().and_then(|k| k.benchmark.as_ref());
                                benchmark.is_some_and(|b| !b.passed)
                            })
                            .map(|h| h.hostname.clone())
                            .collect()
                    })
                }
                _ => None,
            };
            let observed = if reached.is_empty() { None } else { observed };
            ChecklistReview {
                risk: r.risk.clone(),
                level: r.level.clone(),
                evidence: r.evidence.clone(),
                materialised: observed.as_ref().map(|hosts| !hosts.is_empty()),
                observed: observed.unwrap_or_default(),
            }
        })
        .collect()
}
