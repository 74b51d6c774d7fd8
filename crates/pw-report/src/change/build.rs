//! The change report's builder: plan vs actual per rollout batch and per host, the totals and
//! the downgrades' post-verify results, from [`ChangeFacts`] and `now` (no I/O, no clock). The
//! postmortem draft is `review.rs`'s.
//!
//! Quirks kept on purpose:
//! - A plan's host is matched to a rollout's host by id, else by hostname (a plan built from a
//!   fleet file names hosts by its own ids; the controller matched them the same way).
//! - A host retried in a second rollout has one row per rollout; a planned host that no rollout
//!   reached has one row with `result: not_reached`.
//! - `before`/`after` are what the agent's guard reported; without its report they are unknown
//!   (`reported: false`), never guessed from the plan.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use pw_protocol::ChangeReport as AgentReport;

use crate::change::facts::{
    ChangeFacts, HostRun, PlanFacts, PlannedBatch, PlannedHost, ProtectionRecord, RolloutFacts,
};
use crate::change::model::{
    BatchRow, ChangeReport, HostRow, LogRow, PlanSummary, Prediction, RolloutSummary, Totals,
    VersionRow,
};
use crate::change::post_verify::{post_verify, rescan};

/// Builds the change report of `facts` at `now`.
pub fn change_report(facts: &ChangeFacts, now: Timestamp) -> ChangeReport {
    let plan = Planned(facts.plan.as_ref());
    let mut hosts = Vec::new();
    let mut batches = Vec::new();
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    for rollout in &facts.rollouts {
        let times = HostTimes::from_log(rollout);
        let rows: Vec<HostRow> = rollout
            .hosts
            .iter()
            .map(|run| {
                let planned = plan.host(&run.host_id, &run.hostname);
                if let Some(p) = planned {
                    reached.insert(p.host_id.as_str());
                }
                host_row(rollout, run, planned, &plan, &times)
            })
            .collect();
        batches.extend(batch_rows(rollout, &rows, &plan, now));
        hosts.extend(rows);
    }
    if let Some(p) = facts.plan.as_ref() {
        hosts.extend(
            p.hosts
                .iter()
                .filter(|h| !reached.contains(h.host_id.as_str()))
                .map(|h| unreached_row(h, &plan)),
        );
    }
    let rollouts: Vec<RolloutSummary> = facts.rollouts.iter().map(rollout_summary).collect();
    let summary = totals(facts, &hosts, &rollouts);
    let postmortem = crate::change::review::postmortem(facts, &hosts, &batches);
    let log = facts
        .rollouts
        .iter()
        .flat_map(|r| {
            r.log.iter().map(|line| LogRow {
                rollout_id: r.id.clone(),
                line: line.clone(),
            })
        })
        .collect();
    ChangeReport {
        generated_at: now,
        subject: facts.subject.clone(),
        plan: facts.plan.as_ref().map(plan_summary),
        rollouts,
        summary,
        batches,
        hosts,
        postmortem,
        log,
    }
}

/// The plan, if any, with host and batch lookups.
pub(crate) struct Planned<'a>(pub(crate) Option<&'a PlanFacts>);

impl<'a> Planned<'a> {
    /// The plan's host: by id, else by hostname.
    pub(crate) fn host(&self, host_id: &str, hostname: &str) -> Option<&'a PlannedHost> {
        let plan = self.0?;
        plan.hosts
            .iter()
            .find(|h| h.host_id == host_id)
            .or_else(|| plan.hosts.iter().find(|h| h.hostname == hostname))
    }

    fn batch(&self, number: Option<usize>) -> Option<&'a PlannedBatch> {
        let number = number?;
        self.0?.batches.iter().find(|b| b.number == number)
    }
}

/// When each host of a rollout was first claimed, from its operation log.
struct HostTimes(BTreeMap<String, Timestamp>);

impl HostTimes {
    fn from_log(rollout: &RolloutFacts) -> Self {
        let mut first = BTreeMap::new();
        for line in &rollout.log {
            let Some(host) = &line.host_id else { continue };
            if line.step == "claimed" || line.result == "claimed" {
                first.entry(host.clone()).or_insert(line.at);
            }
        }
        HostTimes(first)
    }

    fn started(&self, host_id: &str) -> Option<Timestamp> {
        self.0.get(host_id).copied()
    }
}

/// `done`, `rolled_back`, `failed`, `in_progress` or `not_reached` from an engine state.
pub(crate) fn result_of(state: &str) -> &'static str {
    match state {
        "done" => "done",
        "rolled_back" => "rolled_back",
        "failed" => "failed",
        "pending" => "not_reached",
        _ => "in_progress",
    }
}

pub(crate) fn is_terminal(result: &str) -> bool {
    matches!(result, "done" | "rolled_back" | "failed")
}

fn host_row(
    rollout: &RolloutFacts,
    run: &HostRun,
    planned: Option<&PlannedHost>,
    plan: &Planned<'_>,
    times: &HostTimes,
) -> HostRow {
    let report = run.report.as_ref();
    let result = result_of(&run.state);
    let planned_batch = planned.and_then(|p| p.batch);
    let failure = run.cause.clone().or_else(|| match result {
        "rolled_back" | "failed" => report.and_then(outcome_detail),
        _ => None,
    });
    HostRow {
        rollout_id: Some(rollout.id.clone()),
        host_id: run.host_id.clone(),
        hostname: run.hostname.clone(),
        group: run.group.clone(),
        planned_batch,
        batch: rollout
            .batches
            .iter()
            .position(|b| b.hosts.contains(&run.host_id))
            .map(|i| i + 1),
        planned_start: plan.batch(planned_batch).map(|b| b.start),
        started_at: times.started(&run.host_id),
        finished_at: run.finished_at,
        result: result.to_owned(),
        state: run.state.clone(),
        reported: report.is_some(),
        versions: versions(planned, &run.targets, report),
        checks_passed: report.map(|r| r.passed_checks.clone()).unwrap_or_default(),
        check_failed: report.and_then(|r| r.failed_check.clone()),
        cause_kind: run
            .cause_kind
            .clone()
            .or_else(|| report.and_then(reason_of)),
        failure,
        protection: report.map(protection_steps).unwrap_or_default(),
        restarts: Prediction {
            predicted: planned.map(|p| units(p.restarts.iter())),
            observed: observed_restarts(run),
        },
        reboot: Prediction {
            predicted: planned.map(|p| p.reboot),
            observed: observed_reboot(run),
        },
        drilled: run.drilled,
        deferred: run.deferred.clone(),
        post_verify: report.and_then(|r| {
            let d = r.downgrade.as_deref()?;
            Some(post_verify(r, d, rescan(plan.0, run, r)))
        }),
        hooks: report.and_then(|r| r.hooks.as_deref().cloned()),
    }
}

fn unreached_row(planned: &PlannedHost, plan: &Planned<'_>) -> HostRow {
    HostRow {
        rollout_id: None,
        host_id: planned.host_id.clone(),
        hostname: planned.hostname.clone(),
        group: planned.group.clone(),
        planned_batch: planned.batch,
        batch: None,
        planned_start: plan.batch(planned.batch).map(|b| b.start),
        started_at: None,
        finished_at: None,
        result: "not_reached".into(),
        state: "none".into(),
        reported: false,
        versions: versions(Some(planned), &[], None),
        checks_passed: vec![],
        check_failed: None,
        cause_kind: None,
        failure: None,
        protection: vec![],
        restarts: Prediction {
            predicted: Some(units(planned.restarts.iter())),
            observed: None,
        },
        reboot: Prediction {
            predicted: Some(planned.reboot),
            observed: None,
        },
        drilled: false,
        deferred: None,
        post_verify: None,
        hooks: None,
    }
}

/// The protection steps run before the install, then the data restored after a rollback and the
/// paused writes resumed (named `restore: …`, `resume: …`).
fn protection_steps(report: &AgentReport) -> Vec<pw_protocol::ProtectionResult> {
    let named = |prefix: &str, steps: &[pw_protocol::ProtectionResult]| {
        steps
            .iter()
            .map(|step| pw_protocol::ProtectionResult {
                name: format!("{prefix}: {}", step.name),
                ..step.clone()
            })
            .collect::<Vec<_>>()
    };
    let mut steps = report.protection.clone();
    steps.extend(named("restore", &report.restored));
    steps.extend(named("resume", &report.resumed));
    steps
}

/// The outcome's own words when the engine recorded no cause.
fn outcome_detail(report: &AgentReport) -> Option<String> {
    use pw_protocol::ChangeOutcome::*;
    match &report.outcome {
        Done => None,
        RolledBack { detail, .. }
        | Failed { detail }
        | Refused { detail }
        | NotStarted { detail } => Some(detail.clone()),
        ProtectionFailed { step, detail } => Some(format!("{step}: {detail}")),
    }
}

/// The agent's reason, as a cause kind, when the engine recorded none.
fn reason_of(report: &AgentReport) -> Option<String> {
    use pw_protocol::{ChangeOutcome::*, RollbackReason};
    Some(
        match &report.outcome {
            Done => return None,
            RolledBack { reason, .. } => match reason {
                RollbackReason::ApplyFailed => "apply_failed",
                RollbackReason::HealthCheckFailed => "health_check_failed",
                RollbackReason::Interrupted => "interrupted",
            },
            Failed { .. } => "rollback_failed",
            Refused { .. } => "refused",
            NotStarted { .. } => "not_started",
            ProtectionFailed { .. } => "protection_failed",
        }
        .to_owned(),
    )
}

/// Every package named by the plan, the targets or the report, by name.
fn versions(
    planned: Option<&PlannedHost>,
    targets: &[(String, String)],
    report: Option<&AgentReport>,
) -> Vec<VersionRow> {
    let mut rows: BTreeMap<&str, VersionRow> = BTreeMap::new();
    let row = |package: &str| -> VersionRow {
        VersionRow {
            package: package.to_owned(),
            planned_from: None,
            planned_to: None,
            target: None,
            before: None,
            after: None,
            as_planned: None,
        }
    };
    for change in planned.map_or(&[][..], |p| &p.changes) {
        let entry = rows
            .entry(&change.package)
            .or_insert_with(|| row(&change.package));
        entry.planned_from = change.from.clone();
        entry.planned_to = Some(change.to.clone());
    }
    for (package, version) in targets {
        let entry = rows.entry(package).or_insert_with(|| row(package));
        entry.target = Some(version.clone());
    }
    let mut after: BTreeMap<&str, Option<&String>> = BTreeMap::new();
    if let Some(report) = report {
        for seen in &report.recorded {
            let entry = rows.entry(&seen.name).or_insert_with(|| row(&seen.name));
            entry.before = seen.version.clone();
        }
        for seen in &report.final_versions {
            let entry = rows.entry(&seen.name).or_insert_with(|| row(&seen.name));
            entry.after = seen.version.clone();
            after.insert(&seen.name, seen.version.as_ref());
        }
    }
    rows.into_values()
        .map(|mut r| {
            let wanted = r.planned_to.clone().or_else(|| r.target.clone());
            if let (Some(wanted), Some(seen)) = (wanted, after.get(r.package.as_str())) {
                r.as_planned = Some(seen.is_some_and(|v| *v == wanted));
            }
            r
        })
        .collect()
}

/// Unit names without `.service`, sorted, once each (the plan predicts `ssh`, the agent sees
/// `ssh.service`).
pub(crate) fn units<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let set: BTreeSet<String> = names
        .map(|n| n.strip_suffix(".service").unwrap_or(n).to_owned())
        .collect();
    set.into_iter().collect()
}

/// The units that ran replaced code after the install, and those restarted; `None` when the
/// agent did not say (a rollback, an older agent).
fn observed_restarts(run: &HostRun) -> Option<Vec<String>> {
    let status = run.report.as_ref().and_then(|r| r.restart.as_deref());
    if status.is_none() && run.restarted.is_empty() {
        return None;
    }
    let stale = status.map(|s| s.units_to_restart()).unwrap_or_default();
    Some(units(stale.iter().chain(&run.restarted)))
}

fn observed_reboot(run: &HostRun) -> Option<bool> {
    let status = run.report.as_ref().and_then(|r| r.restart.as_deref());
    match status {
        Some(status) => Some(run.rebooted || !status.reboot_reasons().is_empty()),
        None if run.rebooted => Some(true),
        None => None,
    }
}

fn batch_rows(
    rollout: &RolloutFacts,
    hosts: &[HostRow],
    plan: &Planned<'_>,
    now: Timestamp,
) -> Vec<BatchRow> {
    rollout
        .batches
        .iter()
        .enumerate()
        .map(|(index, batch)| {
            let rows: Vec<&HostRow> = hosts
                .iter()
                .filter(|h| batch.hosts.contains(&h.host_id))
                .collect();
            let count = |result: &str| rows.iter().filter(|h| h.result == result).count();
            let planned_number = rows.iter().find_map(|h| h.planned_batch);
            let planned = plan.batch(planned_number);
            let started_at = rows.iter().filter_map(|h| h.started_at).min();
            let finished_at = match rows.iter().all(|h| is_terminal(&h.result)) {
                true => rows.iter().filter_map(|h| h.finished_at).max(),
                false => None,
            };
            let planned_start = planned.map(|b| b.start).or(batch.not_before);
            let planned_end = planned.map(|b| b.slot_end).or(batch.not_after);
            BatchRow {
                rollout_id: rollout.id.clone(),
                number: index + 1,
                planned_number,
                group: batch.group.clone(),
                kind: batch.kind.clone(),
                hosts: batch.hosts.len(),
                window: planned.map(|b| b.window.clone()),
                planned_start,
                planned_end,
                on_schedule: on_schedule(planned_start, planned_end, started_at, finished_at, now),
                started_at,
                finished_at,
                done: count("done"),
                rolled_back: count("rolled_back"),
                failed: count("failed"),
            }
        })
        .collect()
}

/// Started no earlier than planned and finished within the slot; `None` when there is nothing
/// to compare yet.
fn on_schedule(
    planned_start: Option<Timestamp>,
    planned_end: Option<Timestamp>,
    started: Option<Timestamp>,
    finished: Option<Timestamp>,
    now: Timestamp,
) -> Option<bool> {
    let end = planned_end?;
    match (started, finished) {
        (_, Some(finished)) if finished > end => Some(false),
        (Some(started), _) if planned_start.is_some_and(|s| started < s) || started > end => {
            Some(false)
        }
        (_, Some(_)) => Some(true),
        _ if now > end => Some(false),
        _ => None,
    }
}

fn rollout_summary(rollout: &RolloutFacts) -> RolloutSummary {
    let times = HostTimes::from_log(rollout);
    let started_at = times.0.values().min().copied();
    // A running or paused rollout has not finished, whatever its hosts' states.
    let finished_at = match rollout.status.as_str() {
        "running" | "paused" => None,
        _ => rollout.hosts.iter().filter_map(|h| h.finished_at).max(),
    };
    RolloutSummary {
        id: rollout.id.clone(),
        created_at: rollout.created_at,
        created_by: rollout.created_by.clone(),
        status: rollout.status.clone(),
        plan_version: rollout.plan_version,
        started_at,
        finished_at,
        protection_records: rollout
            .protection_records
            .clone()
            .or_else(|| reported_records(rollout)),
        observation: rollout.observation.clone(),
    }
}

/// The backups and snapshots the guards reported with their protection steps (time, size,
/// status, retention); `None` when no step left one.
fn reported_records(rollout: &RolloutFacts) -> Option<Vec<ProtectionRecord>> {
    let records: Vec<ProtectionRecord> = rollout
        .hosts
        .iter()
        .flat_map(|h| {
            let steps = h.report.iter().flat_map(|r| &r.protection);
            steps.filter_map(move |step| {
                let r = step.record.as_ref()?;
                let status = match serde_json::to_value(r.status) {
                    Ok(serde_json::Value::String(s)) => s,
                    _ => format!("{:?}", r.status),
                };
                Some(ProtectionRecord {
                    host_id: h.hostname.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    at: r.taken_at,
                    size_bytes: Some(r.size_bytes),
                    status,
                    retention: Some(format!("until {}", r.expires_at)),
                    detail: format!("{} {}", r.location, r.detail).trim().to_owned(),
                })
            })
        })
        .collect();
    (!records.is_empty()).then_some(records)
}

fn plan_summary(plan: &PlanFacts) -> PlanSummary {
    let approval = plan.history.iter().rev().find(|e| e.event == "approved");
    PlanSummary {
        id: plan.id,
        name: plan.name.clone(),
        author: plan.author.clone(),
        state: plan.state.clone(),
        version: plan.version,
        created_at: plan.created_at,
        downgrade: plan.downgrade,
        approved_by: approval.map(|e| e.actor.clone()),
        approved_at: approval.map(|e| e.at),
        planned_start: plan.batches.iter().map(|b| b.start).min(),
        planned_end: plan.batches.iter().map(|b| b.end).max(),
        hosts: plan.hosts.len(),
        batches: plan.batches.len(),
    }
}

fn totals(facts: &ChangeFacts, hosts: &[HostRow], rollouts: &[RolloutSummary]) -> Totals {
    let count = |result: &str| hosts.iter().filter(|h| h.result == result).count();
    let plan = facts.plan.as_ref();
    let in_rollouts = hosts.iter().filter(|h| h.rollout_id.is_some());
    let not_reached = match plan {
        // A planned host is not reached when no rollout took it past pending.
        Some(p) => p
            .hosts
            .iter()
            .filter(|planned| {
                !hosts.iter().any(|h| {
                    h.rollout_id.is_some()
                        && h.result != "not_reached"
                        && (h.host_id == planned.host_id || h.hostname == planned.hostname)
                })
            })
            .count(),
        None => count("not_reached"),
    };
    Totals {
        hosts_planned: plan.map_or(0, |p| p.hosts.len()),
        host_changes: in_rollouts.clone().count(),
        done: count("done"),
        rolled_back: count("rolled_back"),
        failed: count("failed"),
        in_progress: count("in_progress"),
        not_reached,
        as_planned: in_rollouts
            .clone()
            .filter(|h| {
                h.result == "done"
                    && !h.versions.is_empty()
                    && h.versions.iter().all(|v| {
                        v.as_planned
                            .unwrap_or(v.planned_to.is_none() && v.target.is_none())
                    })
            })
            .count(),
        checks_passed: hosts.iter().map(|h| h.checks_passed.len()).sum(),
        checks_failed: hosts.iter().filter(|h| h.check_failed.is_some()).count(),
        planned_start: plan.and_then(|p| p.batches.iter().map(|b| b.start).min()),
        planned_end: plan.and_then(|p| p.batches.iter().map(|b| b.end).max()),
        started_at: rollouts.iter().filter_map(|r| r.started_at).min(),
        finished_at: match rollouts.iter().all(|r| r.finished_at.is_some()) {
            true => rollouts.iter().filter_map(|r| r.finished_at).max(),
            false => None,
        },
    }
}
