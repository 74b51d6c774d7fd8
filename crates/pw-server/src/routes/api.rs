//! Operator endpoints: hosts, findings, enrollment tokens, commands, audit.
//! Every handler here runs after `auth::authenticate` (bearer token, role per `auth::access`).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use jiff::Timestamp;
use pw_protocol::{
    CommandView, CreateCommand, CreateEnrollmentToken, EnrollmentToken, FleetFinding,
    FleetFindings, HostFindings, HostList, HostSummary, PendingUpdate,
};
use pw_store::{CommandRow, HostRow};

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::{AppState, DEFAULT_TOKEN_TTL};

pub async fn hosts(State(state): State<AppState>) -> Result<Json<HostList>, ApiError> {
    let hosts = state.store.hosts().await?;
    Ok(Json(HostList {
        hosts: hosts.into_iter().map(host_summary).collect(),
    }))
}

pub async fn host(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HostSummary>, ApiError> {
    let host = state.store.host(&id).await?;
    host.map(|h| Json(host_summary(h)))
        .ok_or(ApiError::HostNotFound(id))
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
        crate::compliance::host(&state.store, id, include_history, Timestamp::now()).await?;
    let pending = state.store.pending_updates(id).await?.map(|rows| {
        rows.into_iter()
            .map(|r| PendingUpdate {
                package: r.package,
                arch: r.arch,
                from_version: r.from_version,
                to_version: r.to_version,
                origin: r.origin,
                suite: r.suite,
            })
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
    let fleet = crate::compliance::fleet(&state.store, Timestamp::now()).await?;
    Ok(Json(FleetFindings {
        findings: fleet.findings,
        accepted: fleet.accepted,
        summary: fleet.summary,
        hosts: fleet.hosts,
    }))
}

/// Every host's open findings, most urgent first (tier, deadline, package, advisory, host).
pub async fn fleet_findings(state: &AppState) -> Result<Vec<FleetFinding>, ApiError> {
    Ok(crate::compliance::fleet(&state.store, Timestamp::now())
        .await?
        .findings)
}

pub async fn create_token(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<CreateEnrollmentToken>,
) -> Result<(axum::http::StatusCode, Json<EnrollmentToken>), ApiError> {
    let ttl = match request.ttl_secs {
        None => DEFAULT_TOKEN_TTL,
        Some(0) => return Err(ApiError::InvalidBody("ttl_secs must be positive".into())),
        Some(secs) => Duration::from_secs(secs),
    };
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
    if matches!(request.command, pw_protocol::Command::ApplyChange { .. }) {
        // Only the scheduler issues guarded changes (and only it may say which plan one
        // carries out): a read-only agent trusts that reference.
        return Err(ApiError::InvalidRequest(
            "apply_change is issued by rollouts only: POST /api/v1/rollouts".into(),
        ));
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

pub async fn audit(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let records = state.store.audit_tail(200).await?;
    Ok(Json(serde_json::json!({ "records": records })))
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
        state: row.state,
        result_message: row.result_message,
    })
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
    }
}
