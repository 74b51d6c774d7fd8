//! `/notifications`: the notification outbox (docs/notifications.md) — every message routed to a
//! channel, newest first, filtered by status, with the counts per status — and `POST
//! /notifications/{id}/retry`, a failed (or waiting) message due now: the same
//! `pw_controller::notify` reads and use-case as `GET /api/v1/notifications` and `POST
//! /api/v1/notifications/{id}/retry`, the latter's role rule and the session's CSRF token.

use askama::Template;
use axum::Form;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use pw_controller::notify;
use pw_store::{OutboxCounts, OutboxRow};

use super::rollouts::CsrfForm;
use super::{Chrome, Display, allowed, refused, render, signed_in, signed_in_form};
use crate::error::ApiError;
use crate::state::AppState;

/// Rows shown (the newest).
const SHOWN: u32 = 200;
const RETRY_ROUTE: &str = "/api/v1/notifications/{id}/retry";

#[derive(Debug, Default, serde::Deserialize)]
pub struct OutboxQuery {
    #[serde(flatten)]
    display: Display,
    status: Option<String>,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct OutboxPage {
    c: Chrome,
    status: String,
    counts: OutboxCounts,
    rows: Vec<OutboxRow>,
    can_retry: bool,
}

impl OutboxPage {
    /// A status as the page names it.
    fn status_label(&self, status: &str) -> &'static str {
        let t = self.c.t;
        match status {
            "pending" => t.outbox_pending,
            "sending" => t.outbox_sending,
            "sent" => t.outbox_sent,
            "failed" => t.outbox_failed,
            _ => t.none,
        }
    }

    fn statuses(&self) -> [(&'static str, &'static str, u64); 4] {
        let (t, n) = (self.c.t, &self.counts);
        [
            ("failed", t.outbox_failed, n.failed),
            ("pending", t.outbox_pending, n.pending),
            ("sending", t.outbox_sending, n.sending),
            ("sent", t.outbox_sent, n.sent),
        ]
    }

    fn retryable(row: &OutboxRow) -> bool {
        row.status == "failed" || row.status == "pending"
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<OutboxQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = "/notifications";
    let c = match signed_in(&state, &headers, &query.display, "notifications", path).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let status = query.status.unwrap_or_default();
    let wanted = Some(status.as_str()).filter(|s| !s.is_empty());
    let list = match notify::list(&state.controller, wanted, SHOWN).await {
        Ok(list) => list,
        Err(refusal) => return refused(&c, refusal.into()),
    };
    let page = OutboxPage {
        can_retry: allowed(&c, Method::POST, RETRY_ROUTE),
        c: c.clone(),
        status,
        counts: list.counts,
        rows: list.notifications,
    };
    render(&c, &page)
}

/// `POST /notifications/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let Ok(Path(id)) = path else {
        return Ok(Redirect::to("/notifications").into_response());
    };
    let csrf = form.csrf.as_deref();
    let signed = signed_in_form(
        &state,
        &headers,
        "notifications",
        csrf,
        Method::POST,
        RETRY_ROUTE,
    );
    let c = match signed.await? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    match notify::retry(&state.controller, &c.operator, id).await {
        Ok(()) => Ok(Redirect::to("/notifications").into_response()),
        Err(refusal) => refused(&c, refusal.into()),
    }
}
