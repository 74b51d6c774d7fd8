//! Observation after a rollout's last batch (issue 13 item 4; docs/design/rollout-engine.md
//! "Observation"), driven by the scheduler with the injected clock: when a rollout completes,
//! each `done` host whose fleet group has an observation period (`observation`, default 24 h
//! for production groups) is observed; every `observation_interval` its agent runs the
//! rollout's checks for the host's group once (`run_checks`) with tightened thresholds
//! ([`tighten`]); a failure emits `observation.alert` and — by `late_rollback = "auto"` or an
//! operator's request ([`request`]) — sends `late_rollback` to the exact recorded versions.
//! The decisions are pw-rollout's (`observe`); this module loads, sends and stores.

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::{
    ChangeOutcome, ChangeReport, CheckRound, Command as AgentCommand, HealthCheckSpec, LogMarkWire,
    ObservationAlertView, ObservationView, VersionSeen,
};
use pw_rollout::{
    HostId, HostState, Observation, ObserveAction, ObserveEvent, Phase, RolloutPlan,
    observation_due, observe,
};
use pw_store::{CommandState, NewCommand, NewObservation, ObservationRow, ObservationUpdate};
use serde::{Deserialize, Serialize};

use crate::gates::PassGates;
use crate::recipe::Recipe;
use crate::{Controller, Refusal};

/// What is stored per observed host: the engine's state and the log marks of the last round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    #[serde(flatten)]
    pub observation: Observation,
    #[serde(default)]
    pub marks: Vec<LogMarkWire>,
}

/// Starts observing the `done` hosts of a rollout that just completed.
pub(crate) async fn start(
    state: &Controller,
    plan: &RolloutPlan,
    hosts: impl Iterator<Item = (&HostId, &HostState)>,
    pass: &PassGates,
    now: Timestamp,
) -> anyhow::Result<()> {
    let mut stored = Vec::new();
    for (host, host_state) in hosts {
        let HostState::Done {
            targets, recorded, ..
        } = host_state
        else {
            continue;
        };
        let Some(batch) = plan
            .batches
            .iter()
            .find(|b| b.hosts.iter().any(|h| h.id == *host))
        else {
            continue;
        };
        let Some((group, policy)) = pass.observation_of(host, &batch.group) else {
            continue;
        };
        if policy.seconds == 0 {
            continue;
        }
        let observation = Observation::start(
            &group,
            targets.clone(),
            recorded.clone(),
            now,
            policy.seconds,
            policy.interval_seconds,
            policy.late_rollback == pw_planner::policy::LateRollback::Auto,
        );
        let next_due = observation_due(&observation).map(|t| t.as_second());
        let json = serde_json::to_string(&Stored {
            observation,
            marks: Vec::new(),
        })?;
        stored.push((host.0.clone(), group, json, next_due));
    }
    let rows: Vec<NewObservation<'_>> = stored
        .iter()
        .map(|(host, group, json, next_due)| NewObservation {
            rollout_id: &plan.id.0,
            host_id: host,
            group,
            state_json: json,
            phase: "observing",
            next_due: *next_due,
        })
        .collect();
    if !rows.is_empty() {
        state.store.start_observations(&rows, now).await?;
    }
    Ok(())
}

/// One scheduler pass over the observations due (or whose command finished).
pub async fn pass(state: &Controller, now: Timestamp) -> anyhow::Result<()> {
    for row in state.store.observations_due(now.as_second()).await? {
        if let Err(error) = step_row(state, &row, now).await {
            tracing::warn!(rollout = %row.rollout_id, host = %row.host_id,
                error = format!("{error:#}"), "observation step failed");
        }
    }
    Ok(())
}

/// What an operator may do to an observed host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Roll back to the recorded versions now.
    Rollback,
    /// Keep the change after an alert; observation goes on.
    Dismiss,
}

/// An operator's late rollback or dismissal of an alert.
pub async fn request(
    state: &Controller,
    rollout_id: &str,
    host_id: &str,
    operator: &str,
    action: OperatorAction,
) -> Result<(), Refusal> {
    let now = state.now();
    for _ in 0..3 {
        let row = state
            .store
            .observation(rollout_id, host_id)
            .await?
            .ok_or_else(|| {
                Refusal::RolloutConflict(format!(
                    "host {host_id} of rollout {rollout_id} is not under observation"
                ))
            })?;
        let event = match action {
            OperatorAction::Rollback => ObserveEvent::RollbackRequested {
                by: operator.to_owned(),
            },
            OperatorAction::Dismiss => ObserveEvent::AlertDismissed {
                by: operator.to_owned(),
            },
        };
        match apply(state, &row, &event, operator, now).await {
            Ok(true) => {
                state.wake_scheduler();
                return Ok(());
            }
            Ok(false) => continue,
            Err(Applied::Rejected(why)) => return Err(Refusal::RolloutConflict(why)),
            Err(Applied::Failed(error)) => return Err(error.into()),
        }
    }
    Err(Refusal::RolloutConflict(
        "the observation changed meanwhile; try again".into(),
    ))
}

async fn step_row(state: &Controller, row: &ObservationRow, now: Timestamp) -> anyhow::Result<()> {
    let stored: Stored = serde_json::from_str(&row.state).context("stored observation")?;
    let mut event = None;
    if let Some(id) = &row.command_id
        && matches!(
            stored.observation.phase,
            Phase::Checking { .. } | Phase::RollingBack { .. }
        )
        && let Some(command) = state.store.command(id).await?
        && !matches!(
            command.state,
            CommandState::Queued | CommandState::Delivered
        )
    {
        let report = state.store.change_report(id).await?;
        event = Some(result_event(
            &command.kind,
            command.state,
            command.result_message.as_deref(),
            report.as_deref(),
        ));
    }
    let event = match event {
        Some(event) => event,
        None if observation_due(&stored.observation).is_some_and(|due| due <= now) => {
            ObserveEvent::Tick
        }
        None => return Ok(()),
    };
    match apply(state, row, &event, "controller", now).await {
        Ok(_) => Ok(()),
        Err(Applied::Rejected(why)) => {
            tracing::info!(host = %row.host_id, why, "observation event not taken");
            Ok(())
        }
        Err(Applied::Failed(error)) => Err(error),
    }
}

/// The event a finished `run_checks` or `late_rollback` is.
fn result_event(
    kind: &str,
    command_state: CommandState,
    message: Option<&str>,
    report: Option<&str>,
) -> ObserveEvent {
    let message = message.unwrap_or_default().to_owned();
    if kind == "late_rollback" {
        let (ok, final_versions) = late_rollback_result(command_state, report);
        return ObserveEvent::RollbackReported {
            ok,
            final_versions,
            detail: message,
        };
    }
    let round = report.and_then(|r| serde_json::from_str::<CheckRound>(r).ok());
    let failures = match round {
        Some(round) if command_state == CommandState::Succeeded => round.failures(),
        _ => vec![(
            "agent".to_owned(),
            format!("the round did not run: {message}"),
        )],
    };
    ObserveEvent::RoundReported { failures }
}

/// A finished `late_rollback`: whether it succeeded (the command, and the report's outcome
/// `rolled_back`) and the versions dpkg showed afterwards (none when unreadable). Observation's
/// late rollback and the scheduler's rollback of a halted host both read it so.
pub(crate) fn late_rollback_result(
    command_state: CommandState,
    report: Option<&str>,
) -> (bool, Vec<pw_rollout::Recorded>) {
    let report = report.and_then(|r| serde_json::from_str::<ChangeReport>(r).ok());
    let final_versions = report
        .as_ref()
        .map(|r| pw_rollout::wire::each("final_versions", &r.final_versions))
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_default();
    let ok = command_state == CommandState::Succeeded
        && report
            .as_ref()
            .is_some_and(|r| matches!(r.outcome, ChangeOutcome::RolledBack { .. }));
    (ok, final_versions)
}

enum Applied {
    Rejected(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Applied {
    fn from(error: anyhow::Error) -> Self {
        Applied::Failed(error)
    }
}

/// One transition written with its command and audit record; `Ok(false)` when another writer
/// came first.
async fn apply(
    state: &Controller,
    row: &ObservationRow,
    event: &ObserveEvent,
    actor: &str,
    now: Timestamp,
) -> Result<bool, Applied> {
    let mut stored: Stored = serde_json::from_str(&row.state)
        .context("stored observation")
        .map_err(Applied::Failed)?;
    let (next, actions) = observe(&stored.observation, event, now)
        .map_err(|rejected| Applied::Rejected(rejected.to_string()))?;
    if let (ObserveEvent::RoundReported { .. }, Some(id)) = (event, &row.command_id)
        && let Some(report) = state.store.change_report(id).await?
        && let Ok(round) = serde_json::from_str::<CheckRound>(&report)
    {
        stored.marks = round.marks;
    }
    let mut command = None;
    let mut alerts = Vec::new();
    for action in &actions {
        match action {
            ObserveAction::RunChecks { attempt } => {
                let (checks, _) = checks_of(state, &row.rollout_id, &next.group).await?;
                let payload = AgentCommand::RunChecks {
                    rollout: row.rollout_id.clone(),
                    checks: checks.iter().map(tighten).collect(),
                    marks: stored.marks.clone(),
                };
                command = Some(("run_checks", *attempt, payload));
            }
            ObserveAction::Rollback { attempt } => {
                let (checks, verification_seconds) =
                    checks_of(state, &row.rollout_id, &next.group).await?;
                let payload = AgentCommand::LateRollback {
                    rollout: row.rollout_id.clone(),
                    recorded: next.recorded.iter().map(VersionSeen::from).collect(),
                    checks,
                    verification_seconds,
                };
                command = Some(("late_rollback", *attempt, payload));
            }
            ObserveAction::Alert { check, detail } => alerts.push((check.clone(), detail.clone())),
            ObserveAction::Page { detail } => {
                alerts.push(("late rollback".to_owned(), detail.clone()))
            }
        }
    }
    let phase = next.phase_name();
    let is_final = next.is_final();
    let next_due = observation_due(&next).map(|t| t.as_second());
    stored.observation = next;
    let json = serde_json::to_string(&stored)
        .context("observation JSON")
        .map_err(Applied::Failed)?;
    let encoded = match &command {
        Some((kind, attempt, payload)) => Some((
            format!("{}:{}:{kind}:{attempt}", row.rollout_id, row.host_id),
            *kind,
            serde_json::to_string(payload)
                .context("command JSON")
                .map_err(Applied::Failed)?,
        )),
        None => None,
    };
    let update = ObservationUpdate {
        state_json: &json,
        phase,
        is_final,
        next_due,
        command: encoded.as_ref().map(|(id, kind, payload)| NewCommand {
            id,
            host_id: &row.host_id,
            kind,
            payload_json: payload,
        }),
        actor,
        action: audit_action(event, phase),
        details: serde_json::json!({ "event": event, "phase": phase, "actions": actions }),
    };
    let written = state
        .store
        .update_observation(&row.rollout_id, &row.host_id, row.version, &update, now)
        .await?;
    if written {
        let events = alert_events(state, row, &alerts, now).await;
        crate::notify::emit(state, events).await;
        if update.command.is_some() {
            state.waiter(&row.host_id).notify_one();
        }
    }
    Ok(written)
}

/// `observation.alert` for each alert of a transition (a failed check, or a late rollback that
/// needs a person), named by the host's name as operators know it.
async fn alert_events(
    state: &Controller,
    row: &ObservationRow,
    alerts: &[(String, String)],
    now: Timestamp,
) -> Vec<pw_notify::Event> {
    if alerts.is_empty() {
        return Vec::new();
    }
    let hostname = match state.store.host(&row.host_id).await {
        Ok(Some(host)) => host.hostname,
        _ => row.host_id.clone(),
    };
    (alerts.iter())
        .map(|(check, detail)| {
            crate::notify::observation_alert(
                &row.rollout_id,
                (&row.host_id, &hostname),
                Some(&row.group),
                check,
                detail,
                now,
            )
        })
        .collect()
}

fn audit_action(event: &ObserveEvent, phase: &str) -> &'static str {
    match (event, phase) {
        (_, "alerted") => "observation.alert",
        (ObserveEvent::RollbackRequested { .. }, _) => "observation.rollback_requested",
        (ObserveEvent::AlertDismissed { .. }, _) => "observation.alert_dismissed",
        (ObserveEvent::RollbackReported { .. }, _) => "observation.rollback_reported",
        (_, "rolling_back") => "observation.alert",
        (ObserveEvent::RoundReported { .. }, _) => "observation.round",
        (_, "passed") => "observation.passed",
        _ => "observation.tick",
    }
}

/// The rollout's checks for a host's group, and its verification period.
async fn checks_of(
    state: &Controller,
    rollout_id: &str,
    group: &str,
) -> Result<(Vec<HealthCheckSpec>, u64), Applied> {
    let row = state
        .store
        .rollout(rollout_id)
        .await?
        .with_context(|| format!("rollout {rollout_id} is gone"))?;
    let recipe = Recipe::from_json(&row.checks).context("stored checks")?;
    let policy: pw_rollout::Policy = pw_rollout::from_json(&row.policy).context("stored policy")?;
    Ok(recipe.for_group(group, policy.verification_seconds))
}

/// Observation's tightened thresholds: no new matching log line at all, and short probe
/// timeouts (a service that is slow to answer during observation is a finding too).
pub fn tighten(check: &HealthCheckSpec) -> HealthCheckSpec {
    let mut check = check.clone();
    match &mut check {
        HealthCheckSpec::LogLines { max_matches, .. } => *max_matches = 0,
        HealthCheckSpec::Http {
            timeout_seconds, ..
        } => *timeout_seconds = Some(timeout_seconds.unwrap_or(3).min(3)),
        HealthCheckSpec::ServiceUp { within_seconds, .. } => *within_seconds = 1,
        _ => {}
    }
    check
}

/// The observations of a rollout's hosts, by host id, for the API's rollout view.
pub(crate) async fn views(
    state: &Controller,
    rollout_id: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, ObservationView>> {
    let mut out = std::collections::BTreeMap::new();
    for row in state.store.observations_of(rollout_id).await? {
        let stored: Stored = serde_json::from_str(&row.state)
            .with_context(|| format!("stored observation of {}", row.host_id))?;
        let o = &stored.observation;
        let view = ObservationView {
            phase: o.phase_name().to_owned(),
            since: o.since,
            until: o.until,
            rounds: o.rounds,
            alerts: (o.alerts.iter())
                .map(|a| ObservationAlertView {
                    at: a.at,
                    check: a.check.clone(),
                    detail: a.detail.clone(),
                })
                .collect(),
            rollback_offered: matches!(
                o.phase,
                Phase::Waiting { .. } | Phase::Checking { .. } | Phase::Alerted
            ),
            detail: serde_json::to_value(o)?,
        };
        out.insert(row.host_id, view);
    }
    Ok(out)
}
