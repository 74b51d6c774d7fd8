//! `/plans`: the list; `/plans/{id}`: the review (per-host package diff, risk checklist, batches
//! in their window slots, rollback targets, history) with the forms to submit, approve and reject
//! with a reason; `POST /plans`: a plan from updates selected on `/findings`.
//!
//! Every form is CSRF-protected and authorized by the rule of the API route doing the same
//! (`super::authorize`), then calls the same `pw_controller::plans` use-case as that route with
//! the signed-in operator as the actor: four eyes, stale plans and versions are the domain's.

use askama::Template;
use axum::Form;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use pw_controller::plans;
use pw_planner::plan::Batch;
use pw_planner::risk::RiskItem;
use pw_protocol::{
    ApprovePlan, CreatePlan, PlanList, PlanView, RejectPlan, SubmitPlan, UpdateSelector,
};

use super::findings::parse_update_key;
use super::{Chrome, Display, allowed, refused, render, signed_in, signed_in_form};
use crate::error::ApiError;
use crate::state::AppState;

/// The most hosts a plan built from selected updates takes per update.
const MAX_PLAN_HOSTS: u32 = 10_000;

#[derive(Template)]
#[template(path = "console/plans.html")]
struct PlansPage {
    c: Chrome,
    list: PlanList,
}

pub async fn list(
    State(state): State<AppState>,
    Query(display): Query<Display>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match signed_in(&state, &headers, &display, "plans", "/plans").await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let list = plans::list(&state.controller).await?;
    render(&c, &PlansPage { c: c.clone(), list })
}

/// `POST /plans`: `csrf`, `name` and one `update` per selected update (`package fixed`).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let route = "/api/v1/plans";
    let signed = signed_in_form(
        &state,
        &headers,
        "plans",
        value("csrf"),
        Method::POST,
        route,
    );
    let c = match signed.await? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let selected: Vec<_> = fields
        .iter()
        .filter(|(k, _)| k == "update")
        .map(|(_, key)| parse_update_key(key))
        .collect();
    let mut packages = state.store.updates_binaries(&selected).await?;
    let needing = state.store.updates_hosts(&selected, MAX_PLAN_HOSTS).await?;
    let mut hosts: Vec<String> = needing
        .into_iter()
        .flatten()
        .map(|(_, hostname)| hostname)
        .collect();
    packages.sort();
    packages.dedup();
    hosts.sort();
    hosts.dedup();
    if packages.is_empty() {
        return refused(
            &c,
            ApiError::InvalidRequest("update: select at least one update to plan".into()),
        );
    }
    let request = CreatePlan {
        name: value("name").unwrap_or("").trim().to_owned(),
        hosts,
        group: None,
        updates: UpdateSelector::Packages { packages },
        horizon_days: None,
        hooks: None,
    };
    match plans::create(&state.controller, &c.operator, &request).await {
        Ok(view) => Ok(Redirect::to(&format!("/plans/{}", view.id)).into_response()),
        Err(refusal) => refused(&c, refusal.into()),
    }
}

#[derive(Template)]
#[template(path = "console/plan.html")]
struct PlanPage {
    c: Chrome,
    plan: PlanView,
    risks: Vec<RiskItem>,
    batches: Vec<Batch>,
    can_submit: bool,
    can_decide: bool,
}

impl PlanPage {
    /// The plan's hooks take the package's conffiles (dpkg `--force-confnew`).
    fn replaces_conffiles(&self) -> bool {
        self.plan
            .hooks
            .as_ref()
            .is_some_and(|h| h.conffiles == pw_protocol::ConffilePolicy::Replace)
    }

    /// The hosts of a batch by name.
    fn batch_hosts(&self, batch: &Batch) -> String {
        batch
            .hosts
            .iter()
            .map(|id| {
                self.plan
                    .hosts
                    .iter()
                    .find(|h| &h.id == id)
                    .map_or(id.as_str(), |h| h.hostname.as_str())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub async fn detail(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
    Query(display): Query<Display>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = match &id {
        Ok(Path(id)) => format!("/plans/{id}"),
        Err(_) => "/plans".to_owned(),
    };
    let c = match signed_in(&state, &headers, &display, "plans", &path).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let plan = match id.map_err(ApiError::from) {
        Ok(Path(id)) => plans::get(&state.controller, id)
            .await
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(error) => return refused(&c, error),
    };
    let risks = serde_json::from_value(plan.risks.clone())
        .map_err(|e| anyhow::anyhow!("plan {}: risks do not read: {e}", plan.id))?;
    let batches = serde_json::from_value(plan.batches.clone())
        .map_err(|e| anyhow::anyhow!("plan {}: batches do not read: {e}", plan.id))?;
    let page = PlanPage {
        can_submit: allowed(&c, Method::POST, "/api/v1/plans/{id}/submit"),
        can_decide: allowed(&c, Method::POST, "/api/v1/plans/{id}/approve"),
        c: c.clone(),
        plan,
        risks,
        batches,
    };
    render(&c, &page)
}

/// The fields of the plan forms.
#[derive(Debug, serde::Deserialize)]
pub struct DecisionForm {
    csrf: Option<String>,
    expected_version: Option<i64>,
    /// Approve: a comment; reject: the reason (required by the domain).
    text: Option<String>,
}

/// `POST /plans/{id}/{action}`: submit, approve or reject.
pub async fn act(
    State(state): State<AppState>,
    path: Result<Path<(i64, String)>, PathRejection>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Result<Response, ApiError> {
    let Ok(Path((id, action))) = path else {
        return Ok(Redirect::to("/plans").into_response());
    };
    let api_route = match action.as_str() {
        "submit" => "/api/v1/plans/{id}/submit",
        "approve" => "/api/v1/plans/{id}/approve",
        "reject" => "/api/v1/plans/{id}/reject",
        other => {
            let route = format!("POST /plans/{id}/{other}");
            return Err(ApiError::RouteNotFound(route));
        }
    };
    let csrf = form.csrf.as_deref();
    let signed = signed_in_form(&state, &headers, "plans", csrf, Method::POST, api_route);
    let c = match signed.await? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let text = form
        .text
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let controller = &state.controller;
    let done = match action.as_str() {
        "submit" => {
            let request = SubmitPlan {
                expected_version: form.expected_version,
                review_hours: None,
            };
            plans::submit(controller, &c.operator, id, &request).await
        }
        "approve" => {
            // The console offers no risk acceptance yet: a downgrade bringing back T0/T1
            // advisories is approved through the API or `plans approve --accept-risk`.
            let request = ApprovePlan {
                expected_version: form.expected_version,
                comment: text,
                risk_acceptance: None,
            };
            let approved = plans::approve(controller, &c.operator, id, &request).await;
            if approved.is_ok() {
                controller.wake_scheduler();
            }
            approved
        }
        _ => {
            let request = RejectPlan {
                expected_version: form.expected_version,
                reason: text.unwrap_or_default(),
            };
            plans::reject(controller, &c.operator, id, &request).await
        }
    };
    match done {
        Ok(view) => Ok(Redirect::to(&format!("/plans/{}", view.id)).into_response()),
        Err(refusal) => refused(&c, refusal.into()),
    }
}
