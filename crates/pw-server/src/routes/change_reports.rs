//! `GET /api/v1/reports/change/plans/{id}` and `GET /api/v1/reports/change/rollouts/{id}`
//! (viewer; docs/reports.md, *Change reports*), and the same at `/reports/change/…` for the
//! console (a session): parse, build the report in pw-controller with the controller's clock,
//! render it as JSON, HTML (en, zh-CN) or PDF.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use pw_report::ChangeText;

use super::reports::{html, pdf, to_login};
use crate::auth::page_session;
use crate::error::ApiError;
use crate::state::AppState;

/// The query of a change report.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuery {
    format: Option<String>,
    lang: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
    Pdf,
}

/// What the report is of.
enum Subject {
    Plan(i64),
    Rollout(String),
}

struct Request {
    subject: Subject,
    format: Format,
    text: &'static ChangeText,
    /// The console's strings of the same language, for the login redirect.
    page: &'static pw_report::Text,
}

fn parse(
    subject: Subject,
    query: Result<Query<ChangeQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Request, ApiError> {
    let Query(query) = query?;
    let format = match query.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "html" => Format::Html,
        "pdf" => Format::Pdf,
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "format: unknown format {other:?} (json, html, pdf)"
            )));
        }
    };
    let lang = super::page::language(query.lang.as_deref(), headers).lang;
    Ok(Request {
        subject,
        format,
        text: pw_report::change_text_for(lang),
        page: pw_report::text_for(lang),
    })
}

fn plan_id(id: &str) -> Result<Subject, ApiError> {
    id.parse::<i64>()
        .map(Subject::Plan)
        .map_err(|_| ApiError::InvalidRequest(format!("plan id: {id:?} is not a plan number")))
}

pub async fn plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ChangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(plan_id(&id)?, query, &headers)?;
    answer(&state, request).await
}

pub async fn rollout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ChangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(Subject::Rollout(id), query, &headers)?;
    answer(&state, request).await
}

/// `/reports/change/plans/{id}` for the console (a session, else 303 to `/login`).
pub async fn page_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ChangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(plan_id(&id)?, query, &headers)?;
    if page_session(&state.store, &headers).await?.is_none() {
        return Ok(to_login(request.page));
    }
    answer(&state, request).await
}

/// `/reports/change/rollouts/{id}` for the console.
pub async fn page_rollout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ChangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(Subject::Rollout(id), query, &headers)?;
    if page_session(&state.store, &headers).await?.is_none() {
        return Ok(to_login(request.page));
    }
    answer(&state, request).await
}

async fn answer(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let controller = &state.controller;
    let (report, subject) = match &request.subject {
        Subject::Plan(id) => (
            pw_controller::change_reports::for_plan(controller, *id).await?,
            format!("plan-{id}"),
        ),
        Subject::Rollout(id) => (
            pw_controller::change_reports::for_rollout(controller, id).await?,
            safe(id),
        ),
    };
    let name = format!(
        "patchwarden-change-{subject}-{}",
        report.generated_at.strftime("%Y%m%d")
    );
    match request.format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Html => Ok(html(pw_report::change_html(&report, request.text))),
        Format::Pdf => pdf(state, &pw_report::change_html(&report, request.text), &name).await,
    }
}

/// A rollout id in a file name: letters, digits, `-` and `_`; anything else becomes `_`.
fn safe(id: &str) -> String {
    id.chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect()
}
