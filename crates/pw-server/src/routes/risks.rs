//! Accepted risks: accept (approver), list (viewer), revoke (approver). Parsing and rendering
//! only; the use-cases are pw-controller's `compliance`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use pw_protocol::{AcceptRisk, AcceptedRiskList, AcceptedRiskView};

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use pw_controller::compliance;

pub async fn accept(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<AcceptRisk>,
) -> Result<(StatusCode, Json<AcceptedRiskList>), ApiError> {
    let stored =
        compliance::accept(&state.store, &actor.name, &request, state.controller.now()).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<AcceptedRiskList>, ApiError> {
    Ok(Json(
        compliance::risks(&state.store, state.controller.now()).await?,
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<AcceptedRiskView>, ApiError> {
    let view = compliance::revoke(&state.store, &actor.name, &id, state.controller.now()).await?;
    Ok(Json(view))
}
