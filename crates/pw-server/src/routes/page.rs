//! The server-rendered page at `/`: hosts, findings ranked by tier with deadlines, rollouts with
//! the tail of each one's operation log.
//! No JavaScript. English, or Simplified Chinese with `?lang=zh-CN` or `Accept-Language: zh`.
//! Needs a session (routes/login.rs); without one it sends the browser to `/login`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use pw_protocol::{FleetFinding, HostSummary, PendingUpdate, RolloutList};

use super::api::{fleet_findings, host_summaries};
pub use super::console::text::{Text, language};
use super::login::html_response;
use crate::auth::page_session;
use crate::error::ApiError;
use crate::state::AppState;

/// Findings shown on the page (the API has all of them).
const PAGE_FINDINGS: usize = 300;

/// Entries of a rollout's operation log shown on the page.
const PAGE_LOG_ENTRIES: usize = 40;

/// The tail of one rollout's operation log, with host names.
pub struct PageLog {
    pub total: usize,
    pub entries: Vec<PageLogEntry>,
}

pub struct PageLogEntry {
    pub at: String,
    pub actor: String,
    pub host: String,
    pub step: String,
    pub result: String,
    pub detail: String,
}

/// The last [`PAGE_LOG_ENTRIES`] entries of every rollout's operation log.
async fn page_logs(state: &AppState, rollouts: &RolloutList) -> Result<Vec<PageLog>, ApiError> {
    let mut logs = Vec::new();
    for rollout in &rollouts.rollouts {
        let log = pw_controller::rollout_ops::operation_log(&state.controller, &rollout.id).await?;
        let total = log.entries.len();
        let entries = log.entries[total.saturating_sub(PAGE_LOG_ENTRIES)..]
            .iter()
            .map(|e| PageLogEntry {
                at: e.at.get(..19).unwrap_or(&e.at).replace('T', " "),
                actor: e.actor.clone(),
                host: e
                    .host_id
                    .as_ref()
                    .map(|id| {
                        rollout
                            .hosts
                            .iter()
                            .find(|h| &h.host_id == id)
                            .map_or_else(|| id.clone(), |h| h.hostname.clone())
                    })
                    .unwrap_or_default(),
                step: e.step.clone(),
                result: e.result.clone(),
                detail: e.detail.clone(),
            })
            .collect();
        logs.push(PageLog { total, entries });
    }
    Ok(logs)
}

pub struct HostPending {
    pub hostname: String,
    pub updates: Option<Vec<PendingUpdate>>,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub t: &'static Text,
    pub hosts: Vec<HostSummary>,
    pub findings: Vec<FleetFinding>,
    pub total_findings: usize,
    pub pending: Vec<HostPending>,
    pub rollouts: RolloutList,
    /// Each rollout's operation log (same order as `rollouts.rollouts`).
    pub logs: Vec<PageLog>,
    /// The signed-in operator, its role, and the CSRF token of the page's forms.
    pub operator: String,
    pub role: String,
    pub csrf: String,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
}

pub async fn index(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = language(query.lang.as_deref(), &headers);
    let Some(session) = page_session(&state.store, &headers).await? else {
        return Ok(Redirect::to(&format!("/login?lang={}", t.lang)).into_response());
    };
    let rows = state.store.hosts().await?;
    let mut pending = Vec::new();
    for row in &rows {
        pending.push(HostPending {
            hostname: row.hostname.clone(),
            updates: state.store.pending_updates(&row.id).await?.map(|rows| {
                rows.into_iter()
                    .map(pw_protocol::PendingUpdate::from)
                    .collect()
            }),
        });
    }
    let mut findings = fleet_findings(&state).await?;
    let total_findings = findings.len();
    findings.truncate(PAGE_FINDINGS);
    let rollouts = pw_controller::rollouts::load_all(&state.controller).await?;
    let page = IndexPage {
        t,
        hosts: host_summaries(rows),
        findings,
        total_findings,
        pending,
        logs: page_logs(&state, &rollouts).await?,
        rollouts,
        operator: session.operator,
        role: session.role.to_string(),
        csrf: session.csrf_token,
    };
    let html = page
        .render()
        .map_err(|e| anyhow::anyhow!("rendering the page: {e}"))?;
    Ok(html_response(axum::http::StatusCode::OK, html))
}
