//! Operator management (admin role) and `GET /api/v1/me` (any operator).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pw_protocol::{CreateOperator, CreatedOperator, Me, OperatorList, OperatorView};
use pw_store::{OperatorRefusal, Role};

use crate::auth::{Actor, create_operator};
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

pub async fn me(actor: Actor) -> Json<Me> {
    Json(Me {
        name: actor.name,
        role: actor.role.to_string(),
    })
}

pub async fn list(State(state): State<AppState>) -> Result<Json<OperatorList>, ApiError> {
    let operators = state
        .store
        .operators()
        .await?
        .into_iter()
        .map(|row| OperatorView {
            name: row.name,
            role: row.role.to_string(),
            created_at: row.created_at,
            created_by: row.created_by,
            revoked_at: row.revoked_at,
        })
        .collect();
    Ok(Json(OperatorList { operators }))
}

pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<CreateOperator>,
) -> Result<(StatusCode, Json<CreatedOperator>), ApiError> {
    let role: Role = request
        .role
        .parse()
        .map_err(|e: String| ApiError::InvalidBody(format!("role: {e}")))?;
    pw_store::validate_operator_name(&request.name).map_err(ApiError::InvalidBody)?;
    let token = create_operator(&state.store, &request.name, role, &actor.name)
        .await
        .map_err(|e| ApiError::OperatorConflict(format!("{e:#}")))?;
    tracing::info!(operator = %request.name, %role, by = %actor.name, "operator created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedOperator {
            name: request.name,
            role: role.to_string(),
            token,
        }),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.store.revoke_operator(&name, &actor.name).await? {
        Ok(()) => {
            tracing::info!(operator = %name, by = %actor.name, "operator revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(OperatorRefusal::NotFound) => Err(ApiError::OperatorNotFound(name)),
        Err(OperatorRefusal::AlreadyRevoked) => Err(ApiError::OperatorConflict(format!(
            "operator {name:?} is already revoked"
        ))),
        Err(OperatorRefusal::LastAdmin) => Err(ApiError::OperatorConflict(format!(
            "operator {name:?} is the last active admin; create another admin first"
        ))),
        Err(other) => Err(ApiError::OperatorConflict(format!("{other:?}"))),
    }
}
