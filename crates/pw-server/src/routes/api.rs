//! Operator endpoints: hosts, findings, enrollment tokens, commands, audit.
//! Every handler here runs after `auth::authenticate` (bearer token, role per `auth::access`).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use pw_protocol::{
    CommandView, CreateCommand, CreateEnrollmentToken, EnrollmentToken, FleetFinding,
    FleetFindings, HostDetail, HostFindings, HostList, HostRestart, HostSummary, RestartStatus,
};
use pw_store::{CommandRow, HostRow};

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::{AppState, DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL};

pub async fn hosts(State(state): State<AppState>) -> Result<Json<HostList>, ApiError> {
    let hosts = state.store.hosts().await?;
    Ok(Json(HostList {
        hosts: host_summaries(hosts),
    }))
}

pub async fn host(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HostDetail>, ApiError> {
    Ok(Json(host_detail(&state, &id).await?))
}

/// A host as listed, with what it still needs after its changes (also the console's).
pub async fn host_detail(state: &AppState, id: &str) -> Result<HostDetail, ApiError> {
    let hosts = host_summaries(state.store.hosts().await?);
    let host = hosts
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| ApiError::HostNotFound(id.to_owned()))?;
    // What the host still needs after its changes, from its agent's last report.
    let stored = state
        .store
        .inventory(id)
        .await?
        .and_then(|i| i.facts.restart);
    let restart = match stored.as_deref().map(serde_json::from_str::<RestartStatus>) {
        Some(Ok(facts)) => Some(HostRestart {
            state: facts.state(),
            facts,
        }),
        Some(Err(error)) => {
            tracing::warn!(host = %id, %error, "stored restart facts unreadable");
            None
        }
        None => None,
    };
    Ok(HostDetail { host, restart })
}

/// `?include=history` on a host's findings.
#[derive(serde::Deserialize)]
pub struct FindingsQuery {
    include: Option<String>,
}

pub async fn host_findings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<FindingsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HostFindings>, ApiError> {
    let Query(query) = query?;
    let include_history = match query.include.as_deref() {
        None => false,
        Some("history") => true,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "include: unknown value {other:?}; expected history"
            )));
        }
    };
    Ok(Json(
        load_host_findings(&state, &id, include_history).await?,
    ))
}

/// A host's findings with their state, and its pending updates (also used by the page).
pub async fn load_host_findings(
    state: &AppState,
    id: &str,
    include_history: bool,
) -> Result<HostFindings, ApiError> {
    let host = state
        .store
        .host(id)
        .await?
        .ok_or_else(|| ApiError::HostNotFound(id.to_owned()))?;
    let compliance =
        pw_controller::compliance::host(&state.store, id, include_history, state.controller.now())
            .await?;
    let pending = state.store.pending_updates(id).await?.map(|rows| {
        rows.into_iter()
            .map(pw_protocol::PendingUpdate::from)
            .collect()
    });
    let (source, computed_at) = compliance.computed.unzip();
    Ok(HostFindings {
        host: host_summary(host),
        source,
        computed_at,
        findings: compliance.findings,
        pending_updates: pending,
        accepted: compliance.accepted,
        summary: compliance.summary,
        fixed: compliance.fixed,
    })
}

pub async fn findings(State(state): State<AppState>) -> Result<Json<FleetFindings>, ApiError> {
    let fleet = pw_controller::compliance::fleet(&state.store, state.controller.now()).await?;
    Ok(Json(FleetFindings {
        findings: fleet.findings,
        accepted: fleet.accepted,
        summary: fleet.summary,
        hosts: fleet.hosts,
    }))
}

/// Every host's open findings, most urgent first (tier, deadline, package, advisory, host).
pub async fn fleet_findings(state: &AppState) -> Result<Vec<FleetFinding>, ApiError> {
    Ok(
        pw_controller::compliance::fleet(&state.store, state.controller.now())
            .await?
            .findings,
    )
}

pub async fn create_token(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<CreateEnrollmentToken>,
) -> Result<(axum::http::StatusCode, Json<EnrollmentToken>), ApiError> {
    let ttl = match request.ttl_secs {
        None => DEFAULT_TOKEN_TTL,
        Some(secs) if secs == 0 || secs > MAX_TOKEN_TTL.as_secs() => {
            return Err(ApiError::InvalidBody(format!(
                "ttl_secs: {secs} is outside 1–{} (7 days)",
                MAX_TOKEN_TTL.as_secs()
            )));
        }
        Some(secs) => Duration::from_secs(secs),
    };
    if let Some(note) = &request.note {
        pw_model::check_text("note", note, pw_model::MAX_NOTE).map_err(ApiError::InvalidBody)?;
    }
    let token = state
        .create_enrollment_token(ttl, request.note.as_deref(), &actor.name)
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(token)))
}

pub async fn create_command(
    State(state): State<AppState>,
    actor: Actor,
    Path(host_id): Path<String>,
    ApiJson(request): ApiJson<CreateCommand>,
) -> Result<(axum::http::StatusCode, Json<CommandView>), ApiError> {
    if state.store.host(&host_id).await?.is_none() {
        return Err(ApiError::HostNotFound(host_id));
    }
    if matches!(
        request.command,
        pw_protocol::Command::ApplyChange { .. }
            | pw_protocol::Command::RestartServices { .. }
            | pw_protocol::Command::Reboot { .. }
            | pw_protocol::Command::RunChecks { .. }
            | pw_protocol::Command::LateRollback { .. }
    ) {
        // A rollout's steps: only the scheduler issues them (and only it may say which plan
        // one carries out). A read-only agent started with --allow-approved-plans trusts that
        // reference, so an operator's forged `plan` would restart services or reboot it.
        return Err(ApiError::InvalidRequest(format!(
            "{} is issued by rollouts only: POST /api/v1/rollouts",
            request.command.kind()
        )));
    }
    if matches!(
        request.command,
        pw_protocol::Command::CollectEvidence { .. }
    ) {
        // Its targets are checked and its result stored there.
        return Err(ApiError::InvalidRequest(format!(
            "collect_evidence is requested with POST /api/v1/hosts/{host_id}/evidence"
        )));
    }
    // The same check as a rollout's targets: names, exact versions, at least one package.
    pw_rollout::wire::check_command(&request.command)
        .map_err(|e| ApiError::InvalidBody(format!("command.{e}")))?;
    if request.command.changes_host() {
        super::rollouts::refuse_production(&state, std::slice::from_ref(&host_id)).await?;
    }
    let id = format!("cmd-{}", uuid::Uuid::now_v7());
    let payload = serde_json::to_string(&request.command).map_err(anyhow::Error::from)?;
    state
        .store
        .create_command(&id, &host_id, request.command.kind(), &payload, &actor.name)
        .await?;
    state.waiter(&host_id).notify_one();
    let row = state
        .store
        .command(&id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("command {id} vanished after it was stored"))?;
    Ok((axum::http::StatusCode::CREATED, Json(command_view(row)?)))
}

pub async fn command(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CommandView>, ApiError> {
    let row = state.store.command(&id).await?;
    match row {
        Some(row) => Ok(Json(command_view(row)?)),
        None => Err(ApiError::CommandNotFound(id)),
    }
}

/// `GET /api/v1/audit?before=SEQ&limit=N`: a page of the audit log, newest first.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

/// Records per audit page: default and most.
const AUDIT_PAGE: u32 = 100;
const AUDIT_PAGE_MAX: u32 = 500;

pub async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(AUDIT_PAGE);
    if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit: {limit} is outside 1–{AUDIT_PAGE_MAX}"
        )));
    }
    if let Some(before) = query.before.filter(|&b| b < 1) {
        return Err(ApiError::InvalidRequest(format!(
            "before: {before} is not a record number (1 or more)"
        )));
    }
    let records = state.store.audit_page(query.before, limit).await?;
    // The next (older) page starts before the oldest record of this one.
    let next_before = match records.last() {
        Some(last) if records.len() == limit as usize && last.seq > 1 => Some(last.seq),
        _ => None,
    };
    Ok(Json(
        serde_json::json!({ "records": records, "next_before": next_before }),
    ))
}

fn command_view(row: CommandRow) -> Result<CommandView, ApiError> {
    Ok(CommandView {
        command: serde_json::from_str(&row.payload)
            .map_err(|e| anyhow::anyhow!("stored command {} is unreadable: {e}", row.id))?,
        created_at: row.created_at.parse().map_err(anyhow::Error::from)?,
        finished_at: row
            .finished_at
            .map(|t| t.parse())
            .transpose()
            .map_err(anyhow::Error::from)?,
        id: row.id,
        host_id: row.host_id,
        state: row.state.as_str().to_owned(),
        result_message: row.result_message,
    })
}

/// Host summaries, each marked when another host reports the same host name.
pub fn host_summaries(rows: Vec<HostRow>) -> Vec<HostSummary> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for row in &rows {
        *seen.entry(row.hostname.clone()).or_default() += 1;
    }
    rows.into_iter()
        .map(|row| {
            let duplicate = seen.get(&row.hostname).is_some_and(|&n| n > 1);
            HostSummary {
                duplicate_hostname: duplicate,
                ..host_summary(row)
            }
        })
        .collect()
}

pub fn host_summary(row: HostRow) -> HostSummary {
    let findings_by_tier = row
        .tier_counts
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    HostSummary {
        id: row.id,
        hostname: row.hostname,
        os: row.os,
        enrolled_at: row.enrolled_at,
        last_seen_at: row.last_seen_at,
        agent_version: row.agent_version,
        read_only: row.read_only,
        reboot_required: row.reboot_required,
        packages: row.package_count,
        findings_by_tier,
        labels: row.labels,
        duplicate_hostname: false,
    }
}
