//! Operators acting on rollouts: pause, resume, stop, clearing a fleet-wide block, and a
//! rollout's operation log. The use-cases are `pw_controller::rollout_ops`; the authenticated
//! operator is the actor recorded.

use axum::Json;
use axum::extract::{Path, State};
use pw_controller::rollout_ops;
use pw_protocol::{BlockedVersion, RolloutLog, RolloutView};
use pw_rollout::ControlAction;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn pause(
    state: State<AppState>,
    actor: Actor,
    id: Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    control(state, actor, id, ControlAction::Pause).await
}

pub async fn resume(
    state: State<AppState>,
    actor: Actor,
    id: Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    control(state, actor, id, ControlAction::Resume).await
}

pub async fn stop(
    state: State<AppState>,
    actor: Actor,
    id: Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    control(state, actor, id, ControlAction::Stop).await
}

async fn control(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    action: ControlAction,
) -> Result<Json<RolloutView>, ApiError> {
    let view = rollout_ops::control(&state.controller, &actor.name, &id, action).await?;
    Ok(Json(view))
}

pub async fn clear_block(
    State(state): State<AppState>,
    actor: Actor,
    Path((package, version)): Path<(String, String)>,
) -> Result<Json<BlockedVersion>, ApiError> {
    let block =
        rollout_ops::clear_block(&state.controller, &actor.name, &package, &version).await?;
    Ok(Json(block))
}

pub async fn log(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RolloutLog>, ApiError> {
    Ok(Json(
        rollout_ops::operation_log(&state.controller, &id).await?,
    ))
}
