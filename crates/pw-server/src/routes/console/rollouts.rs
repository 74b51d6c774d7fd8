//! `/rollouts`: every rollout with its progress and the fleet-wide blocked versions (cleared
//! with a form); `/rollouts/{id}`: progress per batch and host, pause / resume / stop, retry the
//! failed hosts, the operation log. The page refreshes itself every few seconds while the
//! rollout runs (`<meta http-equiv="refresh">`, no script).
//!
//! The forms call `pw_controller::rollout_ops` as the API routes do, authorized by those routes'
//! rule and the session's CSRF token (`super::authorize`).

use askama::Template;
use axum::Form;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use pw_controller::{rollout_ops, rollouts};
use pw_protocol::{RolloutHostView, RolloutList, RolloutLog, RolloutView};
use pw_rollout::ControlAction;

use super::{Chrome, Display, allowed, refused, render, signed_in, signed_in_form};
use crate::error::ApiError;
use crate::state::AppState;

/// Seconds between refreshes of a running rollout's page.
pub const REFRESH_SECS: u32 = 5;

/// How many hosts of a rollout are in each state, in first-seen order.
pub fn tally(hosts: &[&RolloutHostView]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for host in hosts {
        match out.iter_mut().find(|(s, _)| *s == host.state) {
            Some((_, n)) => *n += 1,
            None => out.push((host.state.clone(), 1)),
        }
    }
    out
}

/// One batch of a rollout with its hosts as they stand.
pub struct BatchLine<'a> {
    pub number: usize,
    pub group: String,
    pub canary: bool,
    pub hosts: Vec<&'a RolloutHostView>,
}

#[derive(Template)]
#[template(path = "console/rollouts.html")]
struct RolloutsPage {
    c: Chrome,
    list: RolloutList,
    can_clear: bool,
}

impl RolloutsPage {
    fn progress(&self, rollout: &RolloutView) -> Vec<(String, usize)> {
        tally(&rollout.hosts.iter().collect::<Vec<_>>())
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(display): Query<Display>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match signed_in(&state, &headers, &display, "rollouts", "/rollouts").await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let list = rollouts::load_all(&state.controller).await?;
    let can_clear = allowed(
        &c,
        Method::DELETE,
        "/api/v1/blocked-versions/{package}/{version}",
    );
    render(
        &c,
        &RolloutsPage {
            c: c.clone(),
            list,
            can_clear,
        },
    )
}

#[derive(Template)]
#[template(path = "console/rollout.html")]
struct RolloutPage<'a> {
    c: Chrome,
    rollout: &'a RolloutView,
    batches: Vec<BatchLine<'a>>,
    log: RolloutLog,
    can_control: bool,
    live: bool,
}

impl RolloutPage<'_> {
    fn hostname(&self, id: &Option<String>) -> String {
        let Some(id) = id else {
            return String::new();
        };
        self.rollout
            .hosts
            .iter()
            .find(|h| &h.host_id == id)
            .map_or_else(|| id.clone(), |h| h.hostname.clone())
    }

    /// The control forms: action and label.
    fn controls(&self) -> [(&'static str, &'static str); 4] {
        let t = self.c.t;
        [
            ("pause", t.pause),
            ("resume", t.resume),
            ("stop", t.stop),
            ("retry", t.retry_failed),
        ]
    }

    fn progress(&self, batch: &BatchLine) -> Vec<(String, usize)> {
        tally(&batch.hosts)
    }

    /// Every host's backups and snapshots (docs/protection.md), by host name.
    fn protection(&self) -> Vec<(&str, &pw_protocol::ProtectionRecordView)> {
        self.rollout
            .hosts
            .iter()
            .flat_map(|h| h.protection.iter().map(|r| (h.hostname.as_str(), r)))
            .collect()
    }

    /// Bytes for people: `512 B`, `3.2 MiB`.
    fn size(&self, bytes: &u64) -> String {
        const KIB: f64 = 1024.0;
        let bytes = *bytes;
        let value = bytes as f64;
        match bytes {
            0..1024 => format!("{bytes} B"),
            1024..1_048_576 => format!("{:.1} KiB", value / KIB),
            1_048_576..1_073_741_824 => format!("{:.1} MiB", value / KIB / KIB),
            _ => format!("{:.1} GiB", value / KIB / KIB / KIB),
        }
    }
}

/// The rollout's batches in order, from its stored plan.
async fn batches<'a>(
    state: &AppState,
    view: &'a RolloutView,
) -> Result<Vec<BatchLine<'a>>, ApiError> {
    let Some(row) = state.store.rollout(&view.id).await? else {
        return Ok(Vec::new());
    };
    let plan: pw_rollout::RolloutPlan = pw_rollout::from_json(&row.plan)
        .map_err(|e| anyhow::anyhow!("rollout {}: stored plan unreadable: {e}", view.id))?;
    Ok(plan
        .batches
        .iter()
        .enumerate()
        .map(|(i, batch)| BatchLine {
            number: i + 1,
            group: batch.group.clone(),
            canary: matches!(batch.kind, pw_rollout::BatchKind::Canary),
            hosts: batch
                .hosts
                .iter()
                .filter_map(|spec| view.hosts.iter().find(|h| h.host_id == spec.id.0))
                .collect(),
        })
        .collect())
}

pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(display): Query<Display>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/rollouts/{id}");
    let c = match signed_in(&state, &headers, &display, "rollouts", &path).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let view = match rollouts::load(&state.controller, &id).await {
        Ok(view) => view,
        Err(refusal) => return refused(&c, refusal.into()),
    };
    let log = rollout_ops::operation_log(&state.controller, &id).await?;
    let page = RolloutPage {
        can_control: allowed(&c, Method::POST, "/api/v1/rollouts/{id}/pause"),
        live: matches!(view.status.as_str(), "running" | "pending"),
        batches: batches(&state, &view).await?,
        c: c.clone(),
        rollout: &view,
        log,
    };
    render(&c, &page)
}

/// A form with the session's CSRF token (and, for a late rollback, the host).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
}

/// `POST /rollouts/{id}/{action}`: pause, resume, stop or retry (the failed hosts).
pub async fn act(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let Ok(Path((id, action))) = path else {
        return Ok(Redirect::to("/rollouts").into_response());
    };
    let (api_route, control) = match action.as_str() {
        "pause" => ("/api/v1/rollouts/{id}/pause", Some(ControlAction::Pause)),
        "resume" => ("/api/v1/rollouts/{id}/resume", Some(ControlAction::Resume)),
        "stop" => ("/api/v1/rollouts/{id}/stop", Some(ControlAction::Stop)),
        "retry" => ("/api/v1/rollouts/{id}/retry", None),
        "late-rollback" => ("/api/v1/rollouts/{id}/hosts/{host}/late-rollback", None),
        other => {
            let route = format!("POST /rollouts/{id}/{other}");
            return Err(ApiError::RouteNotFound(route));
        }
    };
    let csrf = form.csrf.as_deref();
    let signed = signed_in_form(&state, &headers, "rollouts", csrf, Method::POST, api_route);
    let c = match signed.await? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let done = match (control, form.host.as_deref()) {
        (Some(action), _) => {
            rollout_ops::control(&state.controller, &c.operator, &id, action).await
        }
        (None, Some(host)) if action == "late-rollback" => {
            let asked = pw_controller::observe::OperatorAction::Rollback;
            match pw_controller::observe::request(&state.controller, &id, host, &c.operator, asked)
                .await
            {
                Ok(()) => rollouts::load(&state.controller, &id).await,
                Err(refusal) => Err(refusal),
            }
        }
        (None, None) if action == "late-rollback" => Err(pw_controller::Refusal::InvalidRequest(
            "the late rollback form names no host".into(),
        )),
        (None, _) => rollout_ops::retry_failed(&state.controller, &c.operator, &id).await,
    };
    match done {
        Ok(view) => Ok(Redirect::to(&format!("/rollouts/{}", view.id)).into_response()),
        Err(refusal) => refused(&c, refusal.into()),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct ClearForm {
    csrf: Option<String>,
    package: String,
    version: String,
}

/// `POST /blocked-versions/clear`: lifts a fleet-wide block, as
/// `DELETE /api/v1/blocked-versions/{package}/{version}`.
pub async fn clear_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ClearForm>,
) -> Result<Response, ApiError> {
    let route = "/api/v1/blocked-versions/{package}/{version}";
    let csrf = form.csrf.as_deref();
    let signed = signed_in_form(&state, &headers, "rollouts", csrf, Method::DELETE, route);
    let c = match signed.await? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let cleared =
        rollout_ops::clear_block(&state.controller, &c.operator, &form.package, &form.version)
            .await;
    match cleared {
        Ok(_) => Ok(Redirect::to("/rollouts").into_response()),
        Err(refusal) => refused(&c, refusal.into()),
    }
}
