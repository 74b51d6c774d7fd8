//! Change reports (issue 13 item 5, docs/reports.md): a stored plan and its rollouts, or one
//! rollout, read once from the store — the plan as approved with its history, each rollout's
//! batches, every host's state, the guards' change reports and the operation log from the audit
//! chain — and handed to pw-report's pure builder with the controller's `now`. Rendering is the
//! edge's.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_planner::Plan;
use pw_report::{
    ChangeFacts, ChangeReport, ChangeSubject, HostRun, LogLine, Observation, PlanEventFact,
    PlanFacts, PlannedBatch, PlannedChange, PlannedHost, PlannedRisk, RolloutBatch, RolloutFacts,
};
use pw_rollout::{HostChange, HostState, RolloutPlan};
use pw_store::{ObservationRow, RolloutHostRow, RolloutRow, StoredPlan};

use crate::{Controller, Refusal};

/// The change report of stored plan `plan_id` and every rollout of it.
pub async fn for_plan(state: &Controller, plan_id: i64) -> Result<ChangeReport, Refusal> {
    let stored = state
        .store
        .plan(plan_id)
        .await
        .map_err(Refusal::from_store)?;
    let plan = plan_facts(state, &stored).await?;
    let mut rollouts = Vec::new();
    for row in state.store.rollouts_of_plan(plan_id).await? {
        rollouts.push(rollout_facts(state, row).await?);
    }
    let facts = ChangeFacts {
        subject: ChangeSubject::Plan(plan_id),
        plan: Some(plan),
        rollouts,
    };
    Ok(pw_report::change_report(&facts, state.now()))
}

/// The change report of rollout `id` (with its plan, when it carried one out).
pub async fn for_rollout(state: &Controller, id: &str) -> Result<ChangeReport, Refusal> {
    let row = state
        .store
        .rollout(id)
        .await?
        .ok_or_else(|| Refusal::RolloutNotFound(id.to_owned()))?;
    let plan = match row.change_plan {
        Some(link) => {
            let stored = state
                .store
                .plan(link.id)
                .await
                .map_err(Refusal::from_store)?;
            Some(plan_facts(state, &stored).await?)
        }
        None => None,
    };
    let facts = ChangeFacts {
        subject: ChangeSubject::Rollout(id.to_owned()),
        plan,
        rollouts: vec![rollout_facts(state, row).await?],
    };
    Ok(pw_report::change_report(&facts, state.now()))
}

/// A serde enum's name (`canary`, `service_interruption`).
fn code(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("unnamed ({e})"),
    }
}

fn time(text: &str, what: impl Fn() -> String) -> Result<Timestamp, Refusal> {
    text.parse()
        .map_err(|e| Refusal::Internal(anyhow::anyhow!("{}: {text:?} is not a time: {e}", what())))
}

async fn plan_facts(state: &Controller, stored: &StoredPlan) -> Result<PlanFacts, Refusal> {
    let plan: Plan = serde_json::from_value(stored.plan.clone())
        .map_err(|e| anyhow::anyhow!("plan {}: the stored plan does not read: {e}", stored.id))?;
    let mut history = Vec::new();
    for event in state.store.plan_events(stored.id).await? {
        history.push(PlanEventFact {
            at: time(&event.at, || {
                format!("plan {} history {}", stored.id, event.seq)
            })?,
            actor: event.actor,
            event: event.event,
            to_state: event.to_state,
            comment: event.comment,
        });
    }
    Ok(PlanFacts {
        id: stored.id,
        name: stored.name.clone(),
        author: stored.author.clone(),
        state: stored.approval.name().to_string(),
        version: stored.version,
        created_at: stored.created_at,
        downgrade: crate::plans::is_downgrade(stored)?,
        batches: plan
            .batches
            .iter()
            .map(|b| PlannedBatch {
                number: b.number,
                group: b.group.clone(),
                kind: code(&b.kind),
                hosts: b.hosts.clone(),
                window: b.window.clone(),
                slot_start: b.slot_start,
                slot_end: b.slot_end,
                start: b.start,
                end: b.end,
            })
            .collect(),
        hosts: plan.hosts.iter().map(planned_host).collect(),
        risks: plan
            .risks
            .iter()
            .map(|r| PlannedRisk {
                risk: code(&r.risk),
                level: r.level.as_str().to_owned(),
                evidence: r.evidence.iter().map(|f| f.text.clone()).collect(),
            })
            .collect(),
        history,
        reintroduced: crate::change_rescan::predicted(stored)?,
    })
}

fn planned_host(host: &pw_planner::plan::HostPlan) -> PlannedHost {
    let mut restarts: Vec<String> = host
        .changes
        .iter()
        .flat_map(|c| c.restarts.iter().cloned())
        .collect();
    restarts.sort();
    restarts.dedup();
    PlannedHost {
        host_id: host.id.clone(),
        hostname: host.hostname.clone(),
        group: host.group.clone(),
        batch: host.batch,
        changes: host
            .changes
            .iter()
            .map(|c| PlannedChange {
                package: c.package.clone(),
                from: c.from.clone(),
                to: c.to.clone(),
            })
            .collect(),
        restarts,
        reboot: host.estimate.reboot || host.changes.iter().any(|c| c.reboot),
    }
}

async fn rollout_facts(state: &Controller, row: RolloutRow) -> Result<RolloutFacts, Refusal> {
    let plan: RolloutPlan = pw_rollout::from_json(&row.plan).map_err(anyhow::Error::from)?;
    let mut targets: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for batch in &plan.batches {
        for host in &batch.hosts {
            let pins = host
                .targets
                .iter()
                .map(|t| (t.package.to_string(), t.version.to_string()))
                .collect();
            targets.insert(host.id.0.as_str(), pins);
            groups.insert(host.id.0.as_str(), batch.group.as_str());
        }
    }
    let mut reports: BTreeMap<String, pw_protocol::ChangeReport> = BTreeMap::new();
    for stored in state.store.rollout_change_reports(&row.id).await? {
        // Oldest first: a later attempt's report replaces an earlier one.
        let report: pw_protocol::ChangeReport =
            serde_json::from_str(&stored.report).map_err(|e| {
                anyhow::anyhow!(
                    "the stored report of {} is unreadable: {e}",
                    stored.command_id
                )
            })?;
        if stored.command_id.contains(":rollback:") {
            // The controller's rollback after a red gate (`late_rollback`): where the host
            // ended; the guard's report of the change stays the host's report.
            if let Some(guarded) = reports.get_mut(&stored.host_id) {
                guarded.final_versions = report.final_versions;
            }
            continue;
        }
        reports.insert(stored.host_id, report);
    }
    let mut hosts = Vec::new();
    for host in state.store.rollout_hosts(&row.id).await? {
        let pins = targets
            .get(host.host_id.as_str())
            .cloned()
            .unwrap_or_default();
        let group = groups
            .get(host.host_id.as_str())
            .copied()
            .unwrap_or_default();
        let report = reports.remove(&host.host_id);
        // A downgrade's post-verify re-scan: the host's findings now for its packages.
        let rescan = match report.as_ref().filter(|r| r.downgrade.is_some()) {
            Some(_) => {
                let packages: Vec<String> = pins.iter().map(|(p, _)| p.clone()).collect();
                crate::change_rescan::host_rescan(&state.store, &host.host_id, &packages).await?
            }
            None => None,
        };
        let mut run = host_run(host, pins, group, report)?;
        run.rescan = rescan;
        hosts.push(run);
    }
    let log = crate::rollout_ops::operation_log(state, &row.id).await?;
    let log = log
        .entries
        .into_iter()
        .map(|e| {
            Ok(LogLine {
                at: time(&e.at, || format!("rollout {} log {}", row.id, e.seq))?,
                seq: e.seq,
                actor: e.actor,
                host_id: e.host_id,
                step: e.step,
                result: e.result,
                detail: e.detail,
            })
        })
        .collect::<Result<_, Refusal>>()?;
    let observation = observation(state.store.observations_of(&row.id).await?)?;
    Ok(RolloutFacts {
        created_at: time(&row.created_at, || format!("rollout {} created_at", row.id))?,
        updated_at: time(&row.updated_at, || format!("rollout {} updated_at", row.id))?,
        id: row.id,
        created_by: row.created_by,
        status: row.status,
        plan_version: row.change_plan.map(|p| p.version),
        batches: plan
            .batches
            .iter()
            .map(|b| RolloutBatch {
                group: b.group.clone(),
                kind: code(&b.kind),
                hosts: b.hosts.iter().map(|h| h.id.0.clone()).collect(),
                not_before: b.not_before,
                not_after: b.not_after,
            })
            .collect(),
        hosts,
        log,
        protection_records: None,
        observation,
    })
}

/// The rollout's observation period from its hosts' observations: from the first start to the
/// last end; `rolled_back` when a host was rolled back late, `failed` when a round failed (an
/// alert, a late rollback that failed), `passed` when every host passed, else `observing`; each
/// alert and late rollback as a line. `None` when no host was observed.
fn observation(rows: Vec<ObservationRow>) -> Result<Option<Observation>, Refusal> {
    use pw_rollout::observe::{Observation as Observed, Phase};
    let mut period: Option<Observation> = None;
    let (mut rolled_back, mut failed, mut all_passed) = (false, false, true);
    for row in rows {
        let observed: Observed = serde_json::from_str(&row.state).map_err(|e| {
            anyhow::anyhow!(
                "the observation of {} in {} does not read: {e}",
                row.host_id,
                row.rollout_id
            )
        })?;
        let out = period.get_or_insert_with(|| Observation {
            from: observed.since,
            until: observed.until,
            state: String::new(),
            events: Vec::new(),
        });
        out.from = out.from.min(observed.since);
        out.until = out.until.max(observed.until);
        for alert in &observed.alerts {
            failed = true;
            out.events.push(format!(
                "{} {}: check {} failed: {}",
                alert.at, row.host_id, alert.check, alert.detail
            ));
        }
        match &observed.phase {
            Phase::Passed { .. } => {}
            Phase::RolledBack { at, by } => {
                rolled_back = true;
                all_passed = false;
                out.events.push(format!(
                    "{at} {}: rolled back late to the recorded versions (by {by})",
                    row.host_id
                ));
            }
            Phase::RollbackFailed { at, detail } => {
                failed = true;
                all_passed = false;
                out.events.push(format!(
                    "{at} {}: the late rollback failed: {detail}",
                    row.host_id
                ));
            }
            _ => all_passed = false,
        }
    }
    Ok(period.map(|mut p| {
        p.state = match (rolled_back, failed, all_passed) {
            (true, _, _) => "rolled_back",
            (false, true, _) => "failed",
            (false, false, true) => "passed",
            _ => "observing",
        }
        .to_owned();
        p
    }))
}

fn host_run(
    host: RolloutHostRow,
    targets: Vec<(String, String)>,
    group: &str,
    report: Option<pw_protocol::ChangeReport>,
) -> Result<HostRun, Refusal> {
    let change: HostChange = pw_rollout::from_json(&host.state).map_err(anyhow::Error::from)?;
    let mut run = HostRun {
        host_id: host.host_id,
        hostname: host.hostname,
        group: group.to_owned(),
        targets,
        state: host.state_name,
        finished_at: None,
        cause_kind: None,
        cause: None,
        restarted: vec![],
        rebooted: false,
        deferred: None,
        drilled: false,
        report,
        rescan: None,
    };
    match change.state {
        HostState::Done {
            at,
            drilled,
            cleared,
            ..
        } => {
            run.finished_at = Some(at);
            run.drilled = drilled;
            if let Some(cleared) = cleared {
                run.restarted = cleared.restarted;
                run.rebooted = cleared.rebooted.is_some();
                run.deferred = cleared
                    .deferred
                    .map(|d| format!("{}: {} ({})", d.by, d.reason, d.left.join(", ")));
            }
        }
        HostState::RolledBack { cause, at, .. } => {
            run.finished_at = Some(at);
            (run.cause_kind, run.cause) = cause_of(&cause);
            // A red gate's check is the change's failed check (the guard saw none fail).
            if let pw_rollout::RollbackCause::GateFailed { check, .. } = cause
                && let Some(report) = run.report.as_mut()
                && report.failed_check.is_none()
            {
                report.failed_check = Some(check);
            }
        }
        HostState::Failed { cause, at, .. } => {
            run.finished_at = Some(at);
            (run.cause_kind, run.cause) = cause_of(&cause);
        }
        _ => {}
    }
    Ok(run)
}

/// A rollback or failure cause as its kind and a sentence: `health_check_failed`,
/// `demo-http: answered 500`.
fn cause_of(cause: &impl serde::Serialize) -> (Option<String>, Option<String>) {
    let value = serde_json::to_value(cause).unwrap_or_default();
    let kind = value["kind"].as_str().map(str::to_owned);
    let mut parts = Vec::new();
    for key in ["check", "stage", "detail"] {
        if let Some(text) = value[key].as_str().filter(|s| !s.is_empty()) {
            parts.push(text.to_owned());
        }
    }
    if let Some(inner) = value["cause"]["kind"].as_str() {
        parts.push(format!("after {inner}"));
    }
    if let Some(checks) = value["checks"].as_array() {
        let names: Vec<&str> = checks.iter().filter_map(|c| c.as_str()).collect();
        parts.push(format!("no pass from {}", names.join(", ")));
    }
    let sentence = match (&kind, parts.is_empty()) {
        (Some(kind), true) => kind.clone(),
        (Some(kind), false) => format!("{kind}: {}", parts.join("; ")),
        (None, _) => parts.join("; "),
    };
    (kind, Some(sentence))
}
