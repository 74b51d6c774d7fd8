//! Notifications (docs/notifications.md): the outbox (`GET /api/v1/notifications`, viewer),
//! a channel's secret (`PUT /api/v1/notification-channels/{name}/secret`, admin; never
//! returned), a test message through the outbox (`POST …/{name}/test`, operator) and a retry of
//! a failed notification (`POST /api/v1/notifications/{id}/retry`, operator). Parsing
//! and rendering only; the use-cases are `pw_controller::notify`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pw_controller::notify::{self, NotificationList};
use pw_store::ChannelSecret;

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// The query of `GET /api/v1/notifications`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit: {limit} is outside 1–1000"
        )));
    }
    let list = notify::list(&state.controller, query.status.as_deref(), limit).await?;
    Ok(Json(list))
}

/// The body of `PUT /api/v1/notification-channels/{name}/secret`: both parts are replaced.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    /// The signing secret (webhook, DingTalk, Feishu) or the SMTP password.
    secret: Option<String>,
    /// What replaces `{token}` in the channel's URL.
    token: Option<String>,
}

pub async fn set_secret(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<SetSecret>,
) -> Result<StatusCode, ApiError> {
    let secret = ChannelSecret {
        secret: request.secret,
        token: request.token,
    };
    notify::set_secret(&state.controller, &actor.name, &name, secret).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn test(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let key = notify::test(&state.controller, &actor.name, &name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "key": key, "channel": name })),
    ))
}

pub async fn retry(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    notify::retry(&state.controller, &actor.name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
