//! `GET /api/v1/reports/compliance` and `GET /api/v1/reports/risk` (viewer; docs/reports.md),
//! and the same at `/reports/…` for the page (a session, linked from its navigation): parse the
//! query, build the report in pw-controller with the controller's clock, render it as JSON,
//! CSV, HTML or PDF.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use pw_report::{CsvTable, ReportScope, Text};

use crate::auth::page_session;
use crate::error::ApiError;
use crate::pdf::PdfError;
use crate::state::AppState;

/// The query of both reports.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    group: Option<String>,
    format: Option<String>,
    lang: Option<String>,
    period: Option<String>,
    top: Option<usize>,
    table: Option<String>,
}

/// The formats a report is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv(CsvTable),
    Html,
    Pdf,
}

struct Request {
    scope: ReportScope,
    format: Format,
    text: &'static Text,
}

fn parse(
    state: &AppState,
    query: Result<Query<ReportQuery>, QueryRejection>,
    headers: &HeaderMap,
    default_table: CsvTable,
) -> Result<Request, ApiError> {
    let Query(query) = query?;
    let table = match query.table.as_deref() {
        None => default_table,
        Some(name) => CsvTable::parse(name).ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "table: unknown table {name:?} (compliance: hosts, overdue, risks; risk: updates, signals)"
            ))
        })?,
    };
    let format = match query.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "csv" => Format::Csv(table),
        "html" => Format::Html,
        "pdf" => Format::Pdf,
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "format: unknown format {other:?} (json, csv, html, pdf)"
            )));
        }
    };
    let scope = pw_controller::reports::scope(
        query.group.filter(|g| !g.is_empty()),
        state.controller.now(),
        query.period.as_deref(),
        query.top,
    )?;
    let lang = super::page::language(query.lang.as_deref(), headers).lang;
    Ok(Request {
        scope,
        format,
        text: pw_report::text_for(lang),
    })
}

pub async fn compliance(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(&state, query, &headers, CsvTable::Hosts)?;
    compliance_answer(&state, request).await
}

pub async fn risk(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(&state, query, &headers, CsvTable::Updates)?;
    risk_answer(&state, request).await
}

/// `/reports/compliance` for the page (a session, else 303 to `/login`); same query and answers
/// as the API's.
pub async fn page_compliance(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(&state, query, &headers, CsvTable::Hosts)?;
    if page_session(&state.store, &headers).await?.is_none() {
        return Ok(to_login(request.text));
    }
    compliance_answer(&state, request).await
}

/// `/reports/risk` for the page.
pub async fn page_risk(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = parse(&state, query, &headers, CsvTable::Updates)?;
    if page_session(&state.store, &headers).await?.is_none() {
        return Ok(to_login(request.text));
    }
    risk_answer(&state, request).await
}

/// No session: to the login form, in the report's language. (A bad query is refused first:
/// its validity tells nothing.)
pub(super) fn to_login(text: &Text) -> Response {
    Redirect::to(&format!("/login?lang={}", text.lang)).into_response()
}

async fn compliance_answer(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let report = pw_controller::reports::compliance(&state.store, &request.scope).await?;
    let name = file_name("compliance", &request.scope);
    match request.format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv(table) => {
            let csv =
                pw_report::compliance_csv(&report, table).ok_or_else(|| wrong_table(table))?;
            Ok(download(
                csv.into_bytes(),
                "text/csv; charset=utf-8",
                &name,
                "csv",
            ))
        }
        Format::Html => Ok(html(pw_report::compliance_html(&report, request.text))),
        Format::Pdf => {
            pdf(
                state,
                &pw_report::compliance_html(&report, request.text),
                &name,
            )
            .await
        }
    }
}

async fn risk_answer(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let report = pw_controller::reports::risk(&state.store, &request.scope).await?;
    let name = file_name("risk", &request.scope);
    match request.format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv(table) => {
            let csv = pw_report::risk_csv(&report, table).ok_or_else(|| wrong_table(table))?;
            Ok(download(
                csv.into_bytes(),
                "text/csv; charset=utf-8",
                &name,
                "csv",
            ))
        }
        Format::Html => Ok(html(pw_report::risk_html(&report, request.text))),
        Format::Pdf => pdf(state, &pw_report::risk_html(&report, request.text), &name).await,
    }
}

fn wrong_table(table: CsvTable) -> ApiError {
    ApiError::InvalidRequest(format!(
        "table: {table:?} is not a table of this report (compliance: hosts, overdue, risks; risk: updates, signals)"
    ).to_lowercase())
}

/// `patchwarden-compliance-20261204` or `…-GROUP-…` (the group name is a fleet document key:
/// letters, digits, `-` and `_`; anything else becomes `_`).
fn file_name(kind: &str, scope: &ReportScope) -> String {
    let date = scope.now.strftime("%Y%m%d");
    match &scope.group {
        Some(group) => {
            let safe: String = group
                .chars()
                .map(
                    |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        true => c,
                        false => '_',
                    },
                )
                .collect();
            format!("patchwarden-{kind}-{safe}-{date}")
        }
        None => format!("patchwarden-{kind}-{date}"),
    }
}

pub(super) fn html(page: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

fn download(body: Vec<u8>, media: &'static str, name: &str, extension: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}.{extension}\"");
    let mut response = ([(header::CONTENT_TYPE, media)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

pub(super) async fn pdf(state: &AppState, page: &str, name: &str) -> Result<Response, ApiError> {
    match state.pdf.render(page).await {
        Ok(bytes) => Ok(download(bytes.to_vec(), "application/pdf", name, "pdf")),
        Err(PdfError::Unavailable) => {
            Err(ApiError::PdfUnavailable(PdfError::Unavailable.to_string()))
        }
        Err(failed @ PdfError::Failed(_)) => Err(ApiError::Internal(anyhow::anyhow!(failed))),
    }
}
