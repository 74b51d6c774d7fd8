//! Operators acting on rollouts: pause, resume and stop (a persisted `RolloutControl` that the
//! scheduler hands to `pw_rollout::decide`), clearing a fleet-wide block, and a rollout's
//! operation log read back from the audit chain. Each action is audited; an action that makes
//! no sense for the rollout's state (resuming a stopped rollout) is refused with 409.

use pw_protocol::{BlockedVersion, RolloutLog, RolloutLogEntry, RolloutView};
use std::collections::BTreeMap;

use pw_protocol::ProtectionStep;
use pw_rollout::{
    ControlAction, ControlError, ExactVersion, HostChange, HostId, Policy, RolloutControl,
    RolloutId, RolloutPlan, RolloutStatus,
};
use pw_store::{AuditRecord, ControlChange, RolloutRow};

use crate::recipe::Recipe;
use crate::rollouts::load;
use crate::{Controller, Refusal};

/// Applies an operator's control; the authenticated operator's name is recorded as who paused
/// or stopped, and as the audit actor.
pub async fn control(
    state: &Controller,
    actor: &str,
    id: &str,
    action: ControlAction,
) -> Result<RolloutView, Refusal> {
    let name = match action {
        ControlAction::Pause => "pause",
        ControlAction::Resume => "resume",
        ControlAction::Stop => "stop",
    };
    update_control(state, actor, id, name, |current, row| {
        current.apply(action, actor, &decided_status(row))
    })
    .await
}

/// Skips a pending host of the rollout (audited `rollout.skip_host` with the new control).
pub async fn skip_host(
    state: &Controller,
    actor: &str,
    id: &str,
    host: &str,
) -> Result<RolloutView, Refusal> {
    let host = HostId(host.to_owned());
    let (plan, states) = plan_and_states(state, id).await?;
    update_control(state, actor, id, "skip_host", |current, row| {
        current.skip_host(&host, actor, &plan, &states, &decided_status(row))
    })
    .await
}

/// "Retry failed hosts": a new rollout of the rollout's `rolled_back` and `failed` hosts in
/// their batches, with its policy, checks, protection steps, mode and plan link, created by
/// `actor` (audited `rollout.created`). Hosts whose target is blocked fleet-wide stay out
/// (the answer's `detail.left_out`); 409 when no failed host can be retried, or (a plan's
/// rollout) while the original is still running or paused.
pub async fn retry_failed(
    state: &Controller,
    actor: &str,
    id: &str,
) -> Result<RolloutView, Refusal> {
    let row = state
        .store
        .rollout(id)
        .await?
        .ok_or_else(|| Refusal::RolloutNotFound(id.to_owned()))?;
    let (plan, states) = plan_and_states(state, id).await?;
    let blocks = crate::scheduler::block_list(state).await?;
    let new_id = RolloutId(format!("ro-{}", uuid::Uuid::now_v7()));
    let (retry, left_out) = pw_rollout::retry_plan(&plan, &states, &blocks, new_id.clone())
        .map_err(|e| Refusal::RolloutConflict(format!("cannot retry rollout {id}: {e}")))?;
    let policy: Policy = pw_rollout::from_json(&row.policy).map_err(anyhow::Error::from)?;
    let recipe = Recipe::from_json(&row.checks)?;
    let steps: Vec<ProtectionStep> =
        serde_json::from_str(&row.protection_steps).map_err(anyhow::Error::from)?;
    crate::rollouts::store(
        state,
        actor,
        &retry,
        &policy,
        &recipe,
        &steps,
        row.change_plan,
    )
    .await?;
    tracing::info!(rollout = %id, retry = %new_id, left_out = left_out.len(), "retry of failed hosts");
    state.observer().rollout_control("retry");
    let mut view = load(state, &new_id.0).await?;
    view.detail = serde_json::json!({ "retry_of": id, "left_out": left_out });
    state.wake_scheduler();
    Ok(view)
}

/// A rollout's stored plan and every host's state.
async fn plan_and_states(
    state: &Controller,
    id: &str,
) -> Result<(RolloutPlan, BTreeMap<HostId, pw_rollout::HostState>), Refusal> {
    let row = state
        .store
        .rollout(id)
        .await?
        .ok_or_else(|| Refusal::RolloutNotFound(id.to_owned()))?;
    let plan: RolloutPlan = pw_rollout::from_json(&row.plan).map_err(anyhow::Error::from)?;
    let mut states = BTreeMap::new();
    for host in state.store.rollout_hosts(id).await? {
        let change: HostChange = pw_rollout::from_json(&host.state).map_err(anyhow::Error::from)?;
        states.insert(change.host, change.state);
    }
    Ok((plan, states))
}

/// A T0 emergency start by an admin (the route's access rule) with `reason`: the rollout's
/// window gate is bypassed from now on. Audited `rollout.emergency`, counted in the metrics as
/// the operator control `emergency`, shown in the rollout's `control.emergency` and
/// `detail.emergency`.
pub async fn emergency(
    state: &Controller,
    actor: &str,
    id: &str,
    reason: &str,
) -> Result<RolloutView, Refusal> {
    if reason.trim().is_empty() {
        return Err(Refusal::InvalidRequest(
            "an emergency start needs a reason (\"reason\": \"…\")".into(),
        ));
    }
    let now = state.now();
    let view = update_control(state, actor, id, "emergency", |current, row| {
        current.start_emergency(actor, reason, now, &decided_status(row))
    })
    .await?;
    tracing::warn!(rollout = %id, operator = actor, reason, "T0 emergency start outside windows");
    Ok(view)
}

/// Writes the control `change` computes from the current one, refusing with 409 and the
/// reason; `name` is the audited action (`rollout.<name>`) and the metrics label.
async fn update_control(
    state: &Controller,
    actor: &str,
    id: &str,
    name: &str,
    change: impl Fn(&RolloutControl, &RolloutRow) -> Result<RolloutControl, ControlError>,
) -> Result<RolloutView, Refusal> {
    let verb = name.replace('_', " ");
    // The control is written only if nobody changed it since it was read; retried a few times.
    for _ in 0..5 {
        let row = state
            .store
            .rollout(id)
            .await?
            .ok_or_else(|| Refusal::RolloutNotFound(id.to_owned()))?;
        let current: RolloutControl =
            serde_json::from_str(&row.control).map_err(anyhow::Error::from)?;
        let next = change(&current, &row)
            .map_err(|e| Refusal::RolloutConflict(format!("cannot {verb} rollout {id}: {e}")))?;
        let control_json = serde_json::to_string(&next).map_err(anyhow::Error::from)?;
        let change = ControlChange {
            rollout_id: id,
            expected_json: &row.control,
            control_json: &control_json,
            actor,
            action: name,
        };
        if state.store.set_rollout_control(&change).await? {
            tracing::info!(rollout = %id, action = name, "operator control");
            state.observer().rollout_control(name);
            let view = load(state, id).await?;
            // A resume claims, a stop releases, at once rather than at the next tick.
            state.wake_scheduler();
            return Ok(view);
        }
    }
    Err(Refusal::RolloutConflict(format!(
        "rollout {id} changed while it was being updated; try again"
    )))
}

/// The status of the rollout's last decision (`running` before the first one).
fn decided_status(row: &RolloutRow) -> RolloutStatus {
    if row.status == "completed" {
        return RolloutStatus::Completed;
    }
    serde_json::from_str::<serde_json::Value>(&row.detail)
        .ok()
        .and_then(|detail| serde_json::from_value(detail.get("status")?.clone()).ok())
        .unwrap_or(RolloutStatus::Running)
}

/// Clears the fleet-wide block of `package=version` (audited as `actor`).
pub async fn clear_block(
    state: &Controller,
    actor: &str,
    package: &str,
    version: &str,
) -> Result<BlockedVersion, Refusal> {
    let invalid = |e: String| Refusal::InvalidRequest(e);
    pw_model::PackageName::parse(package).map_err(|e| invalid(format!("package: {e}")))?;
    ExactVersion::parse(version).map_err(|e| invalid(format!("version: {e}")))?;
    let block = state
        .store
        .clear_blocked_version(package, version, actor)
        .await?
        .ok_or_else(|| Refusal::BlockNotFound(format!("{package}={version}")))?;
    tracing::info!(package, version, "operator cleared a fleet-wide block");
    state.observer().block_cleared();
    Ok(BlockedVersion {
        package: block.package,
        version: block.version,
        reason: block.reason,
        rollout_id: block.rollout_id,
        host_id: block.host_id,
        blocked_at: block.blocked_at,
    })
}

/// A rollout's operation log (also shown on the page).
pub async fn operation_log(state: &Controller, id: &str) -> Result<RolloutLog, Refusal> {
    if state.store.rollout(id).await?.is_none() {
        return Err(Refusal::RolloutNotFound(id.to_owned()));
    }
    let records = state.store.rollout_audit(id).await?;
    Ok(RolloutLog {
        rollout_id: id.to_owned(),
        entries: records.iter().map(|r| log_entry(id, r)).collect(),
    })
}

fn text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// What an agent's report says, for its log line: outcome, reason, detail, the failed check and
/// how each protection step went.
fn report_notes(report: &serde_json::Value) -> Vec<String> {
    let mut notes = vec![format!("outcome: {}", text(report.get("outcome")))];
    notes.extend(
        ["reason", "detail"]
            .iter()
            .map(|key| text(report.get(*key)))
            .filter(|s| !s.is_empty()),
    );
    let failed = text(report.get("failed_check"));
    if !failed.is_empty() {
        notes.push(format!("failed check: {failed}"));
    }
    let steps: Vec<String> = report["protection"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| {
            let ok = if step["ok"] == true { "ok" } else { "failed" };
            format!("{} {ok}", text(step.get("name")))
        })
        .collect();
    if !steps.is_empty() {
        notes.push(format!("protection: {}", steps.join(", ")));
    }
    notes
}

/// One audit record as a log line.
fn log_entry(rollout_id: &str, record: &AuditRecord) -> RolloutLogEntry {
    let details = &record.details;
    let host_id = record
        .subject
        .strip_prefix(rollout_id)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(str::to_owned);
    let (step, result, detail) = match record.action.as_str() {
        "rollout.host.transition" => {
            let event = &details["event"];
            let mut notes: Vec<String> = ["detail", "reason", "check"]
                .iter()
                .filter_map(|key| event.get(*key))
                .map(|v| text(Some(v)))
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(cause) = event.get("cause") {
                notes.push(format!("cause: {}", text(cause.get("kind"))));
            }
            if let Some(report) = event.get("report") {
                notes.extend(report_notes(report));
            }
            let blocked = details["blocked"].as_array().filter(|b| !b.is_empty());
            if let Some(blocked) = blocked {
                let list: Vec<String> = blocked.iter().map(|b| text(Some(b))).collect();
                notes.push(format!("blocked fleet-wide: {}", list.join(", ")));
            }
            if let Some(command) = details["command"].as_str() {
                notes.push(format!("command {command}"));
            }
            (
                text(event.get("event")),
                text(details.get("to")),
                notes.join("; "),
            )
        }
        "rollout.status" => (
            "status".to_owned(),
            text(details.get("to")),
            format!("from {}", text(details.get("from"))),
        ),
        "rollout.created" => {
            let hosts: usize = details["plan"]["batches"]
                .as_array()
                .map(|b| {
                    b.iter()
                        .filter_map(|b| b["hosts"].as_array())
                        .map(Vec::len)
                        .sum()
                })
                .unwrap_or(0);
            (
                "created".to_owned(),
                "running".to_owned(),
                format!("{hosts} host(s)"),
            )
        }
        other => {
            let step = other.strip_prefix("rollout.").unwrap_or(other).to_owned();
            (step, "ok".to_owned(), text(details.get("control")))
        }
    };
    RolloutLogEntry {
        seq: record.seq,
        at: record.at.clone(),
        actor: record.actor.clone(),
        host_id,
        step,
        result,
        detail,
    }
}
