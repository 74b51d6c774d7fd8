//! Accepted risks: accept (approver), list (viewer), revoke (approver). Parsing and rendering
//! only; the use-cases are in `compliance`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use pw_protocol::{AcceptRisk, AcceptedRiskList, AcceptedRiskView};

use crate::auth::Actor;
use crate::compliance;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

pub async fn accept(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<AcceptRisk>,
) -> Result<(StatusCode, Json<AcceptedRiskList>), ApiError> {
    let stored = compliance::accept(&state.store, &actor.name, &request, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<AcceptedRiskList>, ApiError> {
    Ok(Json(
        compliance::risks(&state.store, Timestamp::now()).await?,
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<AcceptedRiskView>, ApiError> {
    let view = compliance::revoke(&state.store, &actor.name, &id, Timestamp::now()).await?;
    Ok(Json(view))
}
