//! Rollout endpoints: create a rollout (ad hoc or from an approved plan), read one with every
//! host's durable state, list them with the fleet-wide block list. The use-cases are
//! `pw_controller::rollouts`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pw_controller::rollouts;
use pw_protocol::{CreateRollout, RolloutList, RolloutView};

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// `POST /api/v1/rollouts`: ad hoc (`hosts` + `targets`) or from a stored plan (`plan`).
pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<CreateRollout>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    if request.plan.is_none() {
        refuse_production(&state, &request.hosts).await?;
    }
    let view = rollouts::create(&state.controller, &actor.name, &request).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Refuses an ad-hoc change to hosts of a production group (DESIGN.md §10: production changes
/// need an approved plan).
pub async fn refuse_production(state: &AppState, hosts: &[String]) -> Result<(), ApiError> {
    let production = pw_controller::fleet::production_hosts(&state.store, hosts).await?;
    if production.is_empty() {
        Ok(())
    } else {
        Err(ApiError::ProductionNeedsPlan(production.join(", ")))
    }
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    Ok(Json(rollouts::load(&state.controller, &id).await?))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<RolloutList>, ApiError> {
    Ok(Json(rollouts::load_all(&state.controller).await?))
}
