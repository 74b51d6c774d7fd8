//! Operators acting on rollouts: pause, resume, stop, clearing a fleet-wide block, and a
//! rollout's operation log. The use-cases are `pw_controller::rollout_ops`; the authenticated
//! operator is the actor recorded.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pw_controller::observe::OperatorAction;
use pw_controller::rollout_ops;
use pw_protocol::{BlockedVersion, DeferRequest, EmergencyRequest, RolloutLog, RolloutView};
use pw_rollout::ControlAction;

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
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

/// `POST /api/v1/rollouts/{id}/hosts/{host}/skip`.
pub async fn skip_host(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, host)): Path<(String, String)>,
) -> Result<Json<RolloutView>, ApiError> {
    let view = rollout_ops::skip_host(&state.controller, &actor.name, &id, &host).await?;
    Ok(Json(view))
}

/// `POST /api/v1/rollouts/{id}/hosts/{host}/late-rollback`: observation's late rollback to the
/// recorded versions, asked by an operator.
pub async fn late_rollback(
    state: State<AppState>,
    actor: Actor,
    path: Path<(String, String)>,
) -> Result<Json<RolloutView>, ApiError> {
    observation(state, actor, path, OperatorAction::Rollback).await
}

/// `POST /api/v1/rollouts/{id}/hosts/{host}/dismiss-alert`: keep the change after an
/// observation alert; observation goes on.
pub async fn dismiss_alert(
    state: State<AppState>,
    actor: Actor,
    path: Path<(String, String)>,
) -> Result<Json<RolloutView>, ApiError> {
    observation(state, actor, path, OperatorAction::Dismiss).await
}

async fn observation(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, host)): Path<(String, String)>,
    action: OperatorAction,
) -> Result<Json<RolloutView>, ApiError> {
    pw_controller::observe::request(&state.controller, &id, &host, &actor.name, action).await?;
    Ok(Json(
        pw_controller::rollouts::load(&state.controller, &id).await?,
    ))
}

/// `POST /api/v1/rollouts/{id}/hosts/{host}/defer`: the restart or reboot the host still needs
/// waits; the host is done with the deferral (docs/restarts.md).
pub async fn defer(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, host)): Path<(String, String)>,
    ApiJson(request): ApiJson<DeferRequest>,
) -> Result<Json<RolloutView>, ApiError> {
    let view =
        pw_controller::restarts::defer(&state.controller, &actor.name, &id, &host, &request.reason)
            .await?;
    Ok(Json(view))
}

/// `POST /api/v1/rollouts/{id}/emergency` (admin).
pub async fn emergency(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<EmergencyRequest>,
) -> Result<Json<RolloutView>, ApiError> {
    let view = rollout_ops::emergency(&state.controller, &actor.name, &id, &request.reason).await?;
    Ok(Json(view))
}

/// `POST /api/v1/rollouts/{id}/retry`: 201 with the new rollout of the failed hosts.
pub async fn retry(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    let view = rollout_ops::retry_failed(&state.controller, &actor.name, &id).await?;
    Ok((StatusCode::CREATED, Json(view)))
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
