//! The fleet document and its groups (docs/fleet.md): `GET /api/v1/fleet` (viewer),
//! `PUT /api/v1/fleet` (admin; the TOML text as `application/toml` or `text/plain`;
//! `?dry_run=true`, `?expected_version=N`), `GET /api/v1/fleet/versions`, `GET /api/v1/groups`.
//! The use-cases are `pw_controller::fleet`; the authenticated operator is who applied.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use pw_controller::fleet;
use pw_protocol::{FleetApplied, FleetVersionList, FleetView, GroupList};

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;

/// The query of `PUT /api/v1/fleet`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Validate and return the diff; store nothing.
    #[serde(default)]
    dry_run: bool,
    /// Apply only when the current version is this one (0: none applied yet).
    expected_version: Option<i64>,
}

pub async fn show(State(state): State<AppState>) -> Result<Json<FleetView>, ApiError> {
    Ok(Json(fleet::current(&state.store).await?))
}

pub async fn versions(State(state): State<AppState>) -> Result<Json<FleetVersionList>, ApiError> {
    Ok(Json(fleet::versions(&state.store).await?))
}

pub async fn groups(State(state): State<AppState>) -> Result<Json<GroupList>, ApiError> {
    Ok(Json(fleet::groups(&state.store).await?))
}

pub async fn apply(
    State(state): State<AppState>,
    actor: Actor,
    query: Result<Query<ApplyQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<FleetApplied>, ApiError> {
    let Query(query) = query?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/toml") && !media.eq_ignore_ascii_case("text/plain")
    {
        return Err(ApiError::NotToml);
    }
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("the fleet document is not UTF-8: {e}")))?;
    let applied = fleet::apply(
        &state.store,
        jiff::Timestamp::now(),
        &actor.name,
        text,
        query.expected_version,
        query.dry_run,
    )
    .await?;
    if !applied.dry_run {
        // Rank the stored inventories again under the new document: every host queued for
        // the scan workers (never scanned beside a scan of it already running).
        let scope = pw_controller::scan_queue::Scope::Report;
        let hosts =
            pw_controller::scan_queue::queue_every_host(&state.store, &state.scans, scope).await?;
        tracing::info!(
            hosts,
            "every host queued to be ranked again after a fleet apply"
        );
    }
    Ok(Json(applied))
}
