//! Evidence routes: an operator asks a host's agent for the risk checklist's evidence
//! (`collect_evidence`) and reads the latest it collected. Parsing, validation, storage and the
//! conversion to planner input are pw-controller's (`evidence.rs`); these only parse, call and
//! render.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pw_protocol::{EvidenceQueued, HostEvidence, RequestEvidence};

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

pub async fn request(
    State(state): State<AppState>,
    actor: Actor,
    Path(host_id): Path<String>,
    ApiJson(body): ApiJson<RequestEvidence>,
) -> Result<(StatusCode, Json<EvidenceQueued>), ApiError> {
    let command_id = pw_controller::evidence::request_evidence(
        &state.store,
        &host_id,
        &body.targets,
        &actor.name,
    )
    .await?;
    state.waiter(&host_id).notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(EvidenceQueued {
            host_id,
            command_id,
        }),
    ))
}

pub async fn latest(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<HostEvidence>, ApiError> {
    let latest = pw_controller::evidence::latest_evidence(&state.store, &host_id).await?;
    let latest = latest.ok_or(ApiError::EvidenceNotFound(host_id))?;
    Ok(Json(HostEvidence {
        host_id: latest.host_id,
        command_id: latest.command_id,
        targets: latest.targets,
        collected_at: latest.collected_at,
        received_at: latest.received_at,
        evidence: latest.report,
    }))
}
