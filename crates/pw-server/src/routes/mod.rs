//! The router: every route of the controller, the authentication and metrics middleware and
//! the JSON 404.

mod agent;
mod api;
mod change_reports;
pub mod console;
mod evidence;
mod fleet;
mod inventory;
mod login;
mod notifications;
mod operators;
mod page;
mod plans;
mod reports;
mod risks;
mod rollout_ops;
mod rollouts;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tower::ServiceExt;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Every route (method, path as in the OpenAPI document); a test checks each is documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/login"),
    ("post", "/login"),
    ("post", "/logout"),
    ("get", "/reports/compliance"),
    ("get", "/reports/risk"),
    ("get", "/reports/change/plans/{id}"),
    ("get", "/reports/change/rollouts/{id}"),
    ("get", "/settings"),
    ("get", "/hosts"),
    ("get", "/hosts/{id}"),
    ("get", "/findings"),
    ("get", "/plans"),
    ("post", "/plans"),
    ("get", "/plans/{id}"),
    ("post", "/plans/{id}/{action}"),
    ("get", "/rollouts"),
    ("get", "/rollouts/{id}"),
    ("post", "/rollouts/{id}/{action}"),
    ("post", "/blocked-versions/clear"),
    ("get", "/audit"),
    ("get", "/notifications"),
    ("post", "/notifications/{id}/retry"),
    ("get", "/windows"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/hosts"),
    ("get", "/api/v1/hosts/{id}"),
    ("get", "/api/v1/hosts/{id}/findings"),
    ("post", "/api/v1/hosts/{id}/evidence"),
    ("get", "/api/v1/hosts/{id}/evidence"),
    ("post", "/api/v1/hosts/{id}/commands"),
    ("get", "/api/v1/commands/{id}"),
    ("get", "/api/v1/findings"),
    ("post", "/api/v1/findings/accept"),
    ("get", "/api/v1/accepted-risks"),
    ("get", "/api/v1/reports/compliance"),
    ("get", "/api/v1/reports/risk"),
    ("get", "/api/v1/reports/change/plans/{id}"),
    ("get", "/api/v1/reports/change/rollouts/{id}"),
    ("delete", "/api/v1/accepted-risks/{id}"),
    ("post", "/api/v1/enrollment-tokens"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/rollouts"),
    ("get", "/api/v1/rollouts"),
    ("get", "/api/v1/rollouts/{id}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/operators"),
    ("post", "/api/v1/operators"),
    ("post", "/api/v1/operators/{name}/revoke"),
    ("post", "/api/v1/rollouts/{id}/pause"),
    ("post", "/api/v1/rollouts/{id}/resume"),
    ("post", "/api/v1/rollouts/{id}/stop"),
    ("post", "/api/v1/rollouts/{id}/retry"),
    ("post", "/api/v1/rollouts/{id}/emergency"),
    ("post", "/api/v1/rollouts/{id}/hosts/{host}/skip"),
    ("post", "/api/v1/rollouts/{id}/hosts/{host}/defer"),
    ("post", "/api/v1/rollouts/{id}/hosts/{host}/late-rollback"),
    ("post", "/api/v1/rollouts/{id}/hosts/{host}/dismiss-alert"),
    ("get", "/api/v1/rollouts/{id}/log"),
    ("delete", "/api/v1/blocked-versions/{package}/{version}"),
    ("get", "/api/v1/fleet"),
    ("put", "/api/v1/fleet"),
    ("get", "/api/v1/fleet/versions"),
    ("get", "/api/v1/groups"),
    ("get", "/api/v1/notifications"),
    ("post", "/api/v1/notifications/{id}/retry"),
    ("put", "/api/v1/notification-channels/{name}/secret"),
    ("post", "/api/v1/notification-channels/{name}/test"),
    ("post", "/api/v1/plans"),
    ("get", "/api/v1/plans"),
    ("get", "/api/v1/plans/{id}"),
    ("post", "/api/v1/plans/{id}/submit"),
    ("post", "/api/v1/plans/{id}/approve"),
    ("post", "/api/v1/plans/{id}/reject"),
    ("post", "/api/v1/plans/{id}/refresh"),
    ("post", "/api/v1/enroll"),
    ("post", "/api/v1/agent/heartbeat"),
    ("post", "/api/v1/agent/inventory"),
    ("post", "/api/v1/agent/inventory/delta"),
    ("get", "/api/v1/agent/commands"),
    ("post", "/api/v1/agent/commands/{id}/result"),
];

/// The whole application (also usable in-process with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/reports/compliance", get(reports::page_compliance))
        .route("/reports/risk", get(reports::page_risk))
        .route("/reports/change/plans/{id}", get(change_reports::page_plan))
        .route(
            "/reports/change/rollouts/{id}",
            get(change_reports::page_rollout),
        )
        .route("/settings", get(console::settings))
        .route("/hosts", get(console::hosts::list))
        .route("/hosts/{id}", get(console::hosts::detail))
        .route("/findings", get(console::findings::list))
        .route(
            "/plans",
            get(console::plans::list).post(console::plans::create),
        )
        .route("/plans/{id}", get(console::plans::detail))
        .route("/plans/{id}/{action}", post(console::plans::act))
        .route("/rollouts", get(console::rollouts::list))
        .route("/audit", get(console::audit::list))
        .route("/notifications", get(console::notifications::list))
        .route(
            "/notifications/{id}/retry",
            post(console::notifications::retry),
        )
        .route("/windows", get(console::windows::calendar))
        .route("/rollouts/{id}", get(console::rollouts::detail))
        .route("/rollouts/{id}/{action}", post(console::rollouts::act))
        .route(
            "/blocked-versions/clear",
            post(console::rollouts::clear_block),
        )
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/hosts", get(api::hosts))
        .route("/api/v1/hosts/{id}", get(api::host))
        .route("/api/v1/hosts/{id}/findings", get(api::host_findings))
        .route(
            "/api/v1/hosts/{id}/evidence",
            post(evidence::request).get(evidence::latest),
        )
        .route("/api/v1/hosts/{id}/commands", post(api::create_command))
        .route("/api/v1/commands/{id}", get(api::command))
        .route("/api/v1/findings", get(api::findings))
        .route("/api/v1/findings/accept", post(risks::accept))
        .route("/api/v1/accepted-risks", get(risks::list))
        .route("/api/v1/reports/compliance", get(reports::compliance))
        .route("/api/v1/reports/risk", get(reports::risk))
        .route(
            "/api/v1/reports/change/plans/{id}",
            get(change_reports::plan),
        )
        .route(
            "/api/v1/reports/change/rollouts/{id}",
            get(change_reports::rollout),
        )
        .route("/api/v1/accepted-risks/{id}", delete(risks::revoke))
        .route("/api/v1/enrollment-tokens", post(api::create_token))
        .route("/api/v1/audit", get(api::audit))
        .route(
            "/api/v1/rollouts",
            post(rollouts::create).get(rollouts::list),
        )
        .route("/api/v1/rollouts/{id}", get(rollouts::get))
        .route("/api/v1/me", get(operators::me))
        .route(
            "/api/v1/operators",
            get(operators::list).post(operators::create),
        )
        .route("/api/v1/operators/{name}/revoke", post(operators::revoke))
        .route("/api/v1/rollouts/{id}/pause", post(rollout_ops::pause))
        .route("/api/v1/rollouts/{id}/resume", post(rollout_ops::resume))
        .route("/api/v1/rollouts/{id}/stop", post(rollout_ops::stop))
        .route("/api/v1/rollouts/{id}/retry", post(rollout_ops::retry))
        .route(
            "/api/v1/rollouts/{id}/emergency",
            post(rollout_ops::emergency),
        )
        .route(
            "/api/v1/rollouts/{id}/hosts/{host}/skip",
            post(rollout_ops::skip_host),
        )
        .route(
            "/api/v1/rollouts/{id}/hosts/{host}/defer",
            post(rollout_ops::defer),
        )
        .route(
            "/api/v1/rollouts/{id}/hosts/{host}/late-rollback",
            post(rollout_ops::late_rollback),
        )
        .route(
            "/api/v1/rollouts/{id}/hosts/{host}/dismiss-alert",
            post(rollout_ops::dismiss_alert),
        )
        .route("/api/v1/rollouts/{id}/log", get(rollout_ops::log))
        .route(
            "/api/v1/blocked-versions/{package}/{version}",
            delete(rollout_ops::clear_block),
        )
        .route("/api/v1/fleet", get(fleet::show).put(fleet::apply))
        .route("/api/v1/fleet/versions", get(fleet::versions))
        .route("/api/v1/groups", get(fleet::groups))
        .route("/api/v1/notifications", get(notifications::list))
        .route(
            "/api/v1/notifications/{id}/retry",
            post(notifications::retry),
        )
        .route(
            "/api/v1/notification-channels/{name}/secret",
            put(notifications::set_secret),
        )
        .route(
            "/api/v1/notification-channels/{name}/test",
            post(notifications::test),
        )
        .route("/api/v1/plans", post(plans::create).get(plans::list))
        .route("/api/v1/plans/{id}", get(plans::get))
        .route("/api/v1/plans/{id}/submit", post(plans::submit))
        .route("/api/v1/plans/{id}/approve", post(plans::approve))
        .route("/api/v1/plans/{id}/reject", post(plans::reject))
        .route("/api/v1/plans/{id}/refresh", post(plans::refresh))
        .route("/api/v1/enroll", post(agent::enroll))
        .route("/api/v1/agent/heartbeat", post(agent::heartbeat))
        .route("/api/v1/agent/inventory", post(inventory::full))
        .route("/api/v1/agent/inventory/delta", post(inventory::delta))
        .route("/api/v1/agent/commands", get(agent::commands))
        .route("/api/v1/agent/commands/{id}/result", post(agent::result))
        // Inner: the body cap of the route, applied after authentication (below).
        .route_layer(middleware::from_fn(limit_body))
        // Secure by default: every route above passes `auth::access` first, before any body
        // is read.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(crate::error::uniform_errors))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The request's span: method and path only. Never the query (a login link carries its
/// ticket there) nor headers (tokens, cookies).
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Bounded label values only: a method outside the standard ones is `other`.
    let method = match *request.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::PATCH
        | Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn not_found(request: Request) -> ApiError {
    ApiError::RouteNotFound(format!("{} {}", request.method(), request.uri().path()))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} {}", request.method(), request.uri().path()))
}

/// The largest request body a route accepts (bytes): what it needs, no more. Bodies are read
/// only after [`crate::auth::authenticate`] let the request through.
pub fn body_limit(method: &Method, route: &str) -> usize {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match route {
        // A CSR and a token.
        "/api/v1/enroll" => 64 * KIB,
        "/api/v1/agent/heartbeat" => 16 * KIB,
        // Every installed package and pending update of a large host (~3,000 packages ≈ 1 MB).
        "/api/v1/agent/inventory" | "/api/v1/agent/inventory/delta" => 16 * MIB,
        // A change report or collected evidence (apt simulation, dpkg --verify, units).
        "/api/v1/agent/commands/{id}/result" => 8 * MIB,
        "/login"
        | "/logout"
        | "/plans/{id}/{action}"
        | "/rollouts/{id}/{action}"
        | "/blocked-versions/clear" => 16 * KIB,
        "/api/v1/fleet" if method == Method::PUT => MIB,
        _ if method == Method::GET || method == Method::HEAD => 0,
        _ => MIB,
    }
}

/// Applies [`body_limit`]: a declared length over the cap is refused at once with 413; a body
/// without a length is cut at the cap (413 from the extractor).
async fn limit_body(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let limit = body_limit(request.method(), &route);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|&l| l > limit as u64) {
        return ApiError::BodyTooLarge(format!(
            "{length} bytes; {} {route} accepts at most {limit}",
            request.method()
        ))
        .into_response();
    }
    let limited = tower::Layer::layer(&axum::extract::DefaultBodyLimit::max(limit), next);
    match limited.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // The findings gauges read every open finding of the fleet: computed at the first scrape
    // and then at most every 15 s (a scraper polling faster must not load the database).
    if state.metrics.findings_due() {
        let tally = pw_controller::compliance::tally(&state.store, state.controller.now()).await?;
        state.metrics.findings(&tally);
    }
    state.metrics.scans_pending(state.scans.pending());
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.encode(),
    )
        .into_response())
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::OPENAPI_JSON,
    )
}
