//! Plans in the controller (docs/planning.md, *Plans in the controller*): `POST /api/v1/plans`
//! builds one from live agent data (operator), `GET /api/v1/plans` and `GET /api/v1/plans/{id}`
//! read them (viewer), `submit` and `refresh` (operator), `approve` and `reject` (approver; the
//! author never approves their own plan). The use-cases are `pw_controller::plans`; the
//! authenticated operator is the actor, never a name from the body.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pw_controller::plans;
use pw_protocol::{
    ApprovePlan, CreatePlan, PlanList, PlanView, RefreshPlan, RejectPlan, SubmitPlan,
};

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<CreatePlan>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let view = plans::create(&state.controller, &actor.name, &request).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<PlanList>, ApiError> {
    Ok(Json(plans::list(&state.controller).await?))
}

pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<PlanView>, ApiError> {
    let Path(id) = id?;
    Ok(Json(plans::get(&state.controller, id).await?))
}

pub async fn submit(
    State(state): State<AppState>,
    actor: Actor,
    id: Result<Path<i64>, PathRejection>,
    ApiJson(request): ApiJson<SubmitPlan>,
) -> Result<Json<PlanView>, ApiError> {
    let Path(id) = id?;
    Ok(Json(
        plans::submit(&state.controller, &actor.name, id, &request).await?,
    ))
}

pub async fn approve(
    State(state): State<AppState>,
    actor: Actor,
    id: Result<Path<i64>, PathRejection>,
    ApiJson(request): ApiJson<ApprovePlan>,
) -> Result<Json<PlanView>, ApiError> {
    let Path(id) = id?;
    let view = plans::approve(&state.controller, &actor.name, id, &request).await?;
    state.controller.wake_scheduler();
    Ok(Json(view))
}

pub async fn reject(
    State(state): State<AppState>,
    actor: Actor,
    id: Result<Path<i64>, PathRejection>,
    ApiJson(request): ApiJson<RejectPlan>,
) -> Result<Json<PlanView>, ApiError> {
    let Path(id) = id?;
    Ok(Json(
        plans::reject(&state.controller, &actor.name, id, &request).await?,
    ))
}

pub async fn refresh(
    State(state): State<AppState>,
    actor: Actor,
    id: Result<Path<i64>, PathRejection>,
    ApiJson(request): ApiJson<RefreshPlan>,
) -> Result<Json<PlanView>, ApiError> {
    let Path(id) = id?;
    Ok(Json(
        plans::refresh(&state.controller, &actor.name, id, &request).await?,
    ))
}
