//! Agent endpoints: enrollment (TLS + token) and, with a client certificate, heartbeat,
//! command long-poll and command results (inventory reports: `inventory.rs`).

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use jiff::Timestamp;
use pw_protocol::{
    CommandBatch, CommandEnvelope, CommandResult, EnrollRequest, EnrollResponse, Heartbeat,
    HeartbeatAck, PROTOCOL_VERSION,
};
use pw_store::{FinishOutcome, NewHost, TokenProblem};

use crate::ca::token_sha256;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::tls::Transport;

/// Seconds between heartbeats the controller asks for, on average; each answer asks for a
/// random interval up to [`HEARTBEAT_SPREAD_SECS`] shorter or longer, and an empty long-poll
/// is answered after a random 75–100 % of its wait. Agents started together (a fleet booted at
/// once, every agent reconnecting after a controller restart) would otherwise check in together
/// for ever: 10,000 heartbeats in the same second every 30 s (issue 15).
const HEARTBEAT_SECS: u64 = 30;
const HEARTBEAT_SPREAD_SECS: u64 = 10;

/// The enrolled host behind a verified client certificate.
pub struct AgentHost(pub String);

impl FromRequestParts<AppState> for AgentHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let fingerprint = match parts.extensions.get::<Transport>() {
            Some(Transport::Tls {
                client_cert_sha256: Some(fingerprint),
            }) => fingerprint.clone(),
            Some(Transport::Tls { .. }) => return Err(ApiError::ClientCertificateRequired),
            _ => return Err(ApiError::TlsRequired),
        };
        let now = std::time::Instant::now();
        match state
            .identities
            .host(&state.store, &fingerprint, now)
            .await?
        {
            Some(host_id) => Ok(AgentHost(host_id)),
            None => Err(ApiError::UnknownAgent),
        }
    }
}

pub async fn enroll(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    // TLS was checked by `auth::authenticate` before the body was read.
    check_protocol(request.protocol_version)?;
    let hostname = checked_hostname(&request.hostname)?;
    let host_id = format!("host-{}", uuid::Uuid::now_v7());
    let cert = state
        .ca
        .sign_csr(&request.csr_pem, &host_id)
        .map_err(|e| ApiError::InvalidCsr(e.to_string()))?;
    let new_host = NewHost {
        id: &host_id,
        hostname,
        fingerprint: &cert.fingerprint,
        not_after: cert.not_after,
    };
    let outcome = state
        .store
        .enroll(&token_sha256(&request.token), Timestamp::now(), &new_host)
        .await?;
    match outcome {
        Ok(()) => {
            let now = std::time::Instant::now();
            state.identities.remember(&cert.fingerprint, &host_id, now);
            state.metrics.enrollment("enrolled");
        }
        Err(problem) => {
            let (label, error) = match problem {
                TokenProblem::Unknown => ("token_unknown", ApiError::TokenUnknown),
                TokenProblem::AlreadyUsed => ("token_already_used", ApiError::TokenAlreadyUsed),
                TokenProblem::Expired => ("token_expired", ApiError::TokenExpired),
                TokenProblem::Revoked => ("token_revoked", ApiError::TokenRevoked),
            };
            state.metrics.enrollment(label);
            return Err(error);
        }
    }
    Ok(Json(EnrollResponse {
        host_id,
        certificate_pem: cert.cert_pem,
        ca_certificate_pem: state.ca.cert_pem().to_owned(),
    }))
}

pub async fn heartbeat(
    State(state): State<AppState>,
    AgentHost(host_id): AgentHost,
    ApiJson(beat): ApiJson<Heartbeat>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    check_protocol(beat.protocol_version)?;
    pw_model::check_text(
        "agent_version",
        &beat.agent_version,
        pw_model::MAX_AGENT_VERSION,
    )
    .map_err(ApiError::InvalidBody)?;
    let now = Timestamp::now();
    let heard = pw_store::HeartbeatRow {
        host_id: host_id.clone(),
        at: now,
        agent_version: beat.agent_version,
        read_only: beat.read_only,
        plan_changes: beat.plan_changes,
    };
    state.heartbeats.record(&state.store, heard).await?;
    state.metrics.heartbeat();
    Ok(Json(HeartbeatAck {
        host_id,
        server_time: now,
        next_heartbeat_secs: heartbeat_interval(random_unit()),
    }))
}

#[derive(serde::Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

pub async fn commands(
    State(state): State<AppState>,
    AgentHost(host_id): AgentHost,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CommandBatch>, ApiError> {
    let Query(query) = query?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(state.max_poll_wait);
    let deadline = tokio::time::Instant::now() + spread_wait(wait, random_unit());
    let waiter = state.waiter(&host_id);
    let mut shutdown = state.shutdown.clone();
    // A host found without commands is read again only when woken (`idle.rs`).
    let mut read = !state.idle.is_idle(&host_id, std::time::Instant::now());
    loop {
        if read {
            let rows = state.store.open_commands(&host_id).await?;
            let now = std::time::Instant::now();
            state
                .idle
                .found(&host_id, rows.is_empty(), now, random_unit());
            if !rows.is_empty() {
                // Marked delivered after this answer (`deliveries.rs`).
                let queued = (rows.iter())
                    .filter(|row| row.state == pw_store::CommandState::Queued)
                    .map(|row| row.id.clone())
                    .collect();
                let commands = rows.into_iter().map(envelope).collect::<Result<_, _>>()?;
                state.deliveries.mark(&state.store, queued);
                return Ok(Json(CommandBatch { commands }));
            }
        }
        read = true;
        if *shutdown.borrow() {
            return Ok(Json(CommandBatch { commands: vec![] }));
        }
        tokio::select! {
            // A wake-up kept from before this long-poll is taken even when it waits 0 s.
            biased;
            _ = waiter.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Ok(Json(CommandBatch { commands: vec![] }));
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// A stored command as the agent receives it.
fn envelope(row: pw_store::CommandRow) -> Result<CommandEnvelope, ApiError> {
    Ok(CommandEnvelope {
        command: serde_json::from_str(&row.payload)
            .map_err(|e| anyhow::anyhow!("stored command {} is unreadable: {e}", row.id))?,
        issued_at: row.created_at.parse().map_err(anyhow::Error::from)?,
        id: row.id,
    })
}

/// Seconds until the next heartbeat for a `unit` in [0, 1): 20 to 40.
fn heartbeat_interval(unit: f64) -> u64 {
    let choices = 2 * HEARTBEAT_SPREAD_SECS + 1;
    let pick = ((unit * choices as f64) as u64).min(choices - 1);
    HEARTBEAT_SECS - HEARTBEAT_SPREAD_SECS + pick
}

/// How long an empty long-poll waits for a `unit` in [0, 1): 75–100 % of what it asked.
fn spread_wait(wait: Duration, unit: f64) -> Duration {
    wait.mul_f64(1.0 - 0.25 * unit.clamp(0.0, 1.0))
}

/// A random number in [0, 1), for spreading check-ins (not for secrets): a hash of the instant
/// under the process's randomly keyed hasher.
fn random_unit() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

pub async fn result(
    State(state): State<AppState>,
    AgentHost(host_id): AgentHost,
    Path(id): Path<String>,
    ApiJson(mut result): ApiJson<CommandResult>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Kept and audited: cut to a bounded length (an agent retries a refused result forever).
    if let std::borrow::Cow::Owned(clipped) =
        pw_model::clip_text(&result.message, pw_model::MAX_RESULT_MESSAGE)
    {
        result.message = clipped;
    }
    let status = result.status.as_str();
    let command = state.store.command(&id).await?;
    if let Some(command) = command.filter(|c| c.host_id == host_id && c.kind == "collect_evidence")
    {
        // Checked (422 naming the field) and stored with the result in one transaction.
        let targets = match serde_json::from_str(&command.payload) {
            Ok(pw_protocol::Command::CollectEvidence { targets, .. }) => targets,
            _ => Err(anyhow::anyhow!(
                "stored command {id} is not collect_evidence"
            ))?,
        };
        let outcome = pw_controller::evidence::record_evidence_result(
            &state.store,
            &host_id,
            &id,
            &targets,
            &result,
        )
        .await?;
        return recorded(&state, id, status, outcome);
    }
    // The report kept with the result (the first of change, checks, restart, as before).
    let mut report = None;
    if let Some(change) = &result.change {
        // Refused at the edge, before anything is stored: a report the engine cannot take
        // (a package name or version that is not one, a package listed twice) would otherwise
        // be stored and fail the host later (issue 14.1). The message names the field.
        pw_rollout::GuardReport::try_from(change)
            .map_err(|e| ApiError::InvalidBody(format!("change.{e}")))?;
        // The backups and snapshots it took (docs/protection.md); losing them must not lose
        // the result, so a failure is logged.
        if let Err(error) =
            pw_controller::protection::record(&state.store, &host_id, &id, change).await
        {
            tracing::warn!(command_id = %id, "protection records not stored: {error:#}");
        }
        report = Some(serde_json::to_string(change).map_err(anyhow::Error::from)?);
    }
    if let Some(round) = result.checks.as_ref().filter(|_| report.is_none()) {
        // `run_checks` (observation): kept under the command id for the scheduler.
        report = Some(serde_json::to_string(round).map_err(anyhow::Error::from)?);
    }
    if let Some(restart) = &result.restart {
        // `restart_services` / `reboot`: checked like a change report (unit names), kept in the
        // same table under the command id for the scheduler.
        pw_rollout::wire::restart_result(true, "", Some(restart))
            .map_err(|e| ApiError::InvalidBody(format!("restart.{e}")))?;
        if report.is_none() {
            report = Some(serde_json::to_string(restart).map_err(anyhow::Error::from)?);
        }
    }
    // The report and the result in one write: the scheduler finds a finished command's report.
    let outcome = state
        .store
        .finish_command_with_report(
            &host_id,
            &id,
            (result.status.into(), &result.message, result.finished_at),
            report.as_deref(),
        )
        .await?;
    recorded(&state, id, status, outcome)
}

/// The answer to a command result: recorded now, already finished before, or unknown.
fn recorded(
    state: &AppState,
    id: String,
    status: &str,
    outcome: FinishOutcome,
) -> Result<Json<serde_json::Value>, ApiError> {
    match outcome {
        FinishOutcome::Recorded => {
            state.metrics.command_result(&id, status);
            // A finished `apply_change` frees a slot: the next claim need not wait for a tick.
            state.wake_scheduler();
            Ok(Json(serde_json::json!({ "id": id, "recorded": true })))
        }
        FinishOutcome::AlreadyFinished { state: first } => Ok(Json(
            serde_json::json!({ "id": id, "recorded": false, "state": first.as_str() }),
        )),
        FinishOutcome::NotFound => Err(ApiError::CommandNotFound(id)),
    }
}

/// A reported host name, checked like every host name (`pw_model::check_hostname`), trimmed.
pub(super) fn checked_hostname(text: &str) -> Result<&str, ApiError> {
    pw_model::check_hostname(text).map_err(|e| ApiError::InvalidBody(format!("hostname: {e}")))
}

pub(super) fn check_protocol(version: u32) -> Result<(), ApiError> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ApiError::UnsupportedProtocol(version, PROTOCOL_VERSION))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_are_asked_for_across_twenty_to_forty_seconds() {
        assert_eq!(heartbeat_interval(0.0), 20);
        assert_eq!(heartbeat_interval(0.5), 30);
        assert_eq!(heartbeat_interval(0.999_999), 40);
        assert_eq!(heartbeat_interval(1.0), 40);
        let asked: std::collections::BTreeSet<u64> = (0..2_000)
            .map(|_| heartbeat_interval(random_unit()))
            .collect();
        assert_eq!(asked, (20..=40).collect(), "every interval is asked for");
    }

    #[test]
    fn an_empty_long_poll_waits_three_quarters_to_all_of_its_wait() {
        let wait = Duration::from_secs(30);
        assert_eq!(spread_wait(wait, 0.0), wait);
        assert_eq!(spread_wait(wait, 1.0), Duration::from_millis(22_500));
        let units: Vec<f64> = (0..2_000).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!((0.45..0.55).contains(&mean), "mean {mean}");
    }
}
