//! `/audit`: the audit log, newest first, filtered by actor, action (prefix) and subject and paged
//! by record number in SQL (`Store::audit_filtered`), with the chain's verification state
//! (`Store::verify_audit`, the same walk as `patchwarden audit verify`; the signed checkpoints
//! are checked by that command, whose key lives outside the database).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use pw_store::{AuditFilter, AuditRecord, ChainCheck};

use super::hosts::form_urlencoded;
use super::{Chrome, Display, PAGE_SIZE, Problem, render, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    #[serde(flatten)]
    display: Display,
    actor: Option<String>,
    action: Option<String>,
    subject: Option<String>,
    /// Records older than this record number.
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    actor: String,
    action: String,
    subject: String,
    records: Vec<AuditRecord>,
    chain: ChainCheck,
    /// The link to the next (older) page.
    older: Option<String>,
}

impl AuditPage {
    fn details(&self, record: &AuditRecord) -> String {
        record.details.to_string()
    }
}

fn given(value: &Option<String>) -> String {
    value.as_deref().map(str::trim).unwrap_or("").to_owned()
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match signed_in(&state, &headers, &query.display, "audit", "/audit").await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if let Some(before) = query.before.filter(|&b| b < 1) {
        let error = ApiError::InvalidRequest(format!("before: {before} is not a record number"));
        return super::problem(&c, &Problem::from_api(error)?);
    }
    let (actor, action, subject) = (
        given(&query.actor),
        given(&query.action),
        given(&query.subject),
    );
    let filter = AuditFilter {
        actor: Some(actor.clone()).filter(|v| !v.is_empty()),
        action: Some(action.clone()).filter(|v| !v.is_empty()),
        subject: Some(subject.clone()).filter(|v| !v.is_empty()),
    };
    let records = state
        .store
        .audit_filtered(&filter, query.before, PAGE_SIZE)
        .await?;
    let older = match records.last() {
        Some(last) if records.len() == PAGE_SIZE as usize && last.seq > 1 => {
            let query = form_urlencoded(&[
                ("actor", actor.as_str()),
                ("action", action.as_str()),
                ("subject", subject.as_str()),
                ("before", &last.seq.to_string()),
            ]);
            Some(format!("/audit?{query}"))
        }
        _ => None,
    };
    let chain = state.store.verify_audit().await?;
    render(
        &c,
        &AuditPage {
            c: c.clone(),
            actor,
            action,
            subject,
            records,
            chain,
            older,
        },
    )
}
