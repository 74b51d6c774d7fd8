//! Plans in the controller (issue 9 item 3, docs/planning.md *Plans in the controller*): built
//! from live agent data (`build.rs`), reviewed and approved by authenticated operators, and
//! handed to the rollout engine on approval.
//!
//! The workflow's rules are pw-planner's `transition`; pw-store commits each step with its
//! history and audit record, guarded by the plan's version. On top of that the controller
//! enforces: the author never approves their own plan (four eyes, for every plan — stricter
//! than the planner, which asks it of production plans only); a plan whose live versions moved
//! (`select::drift`) is stale and can be neither submitted nor approved (refresh rebuilds it);
//! the staging gate is evaluated at approval against the staging results recorded by then. An
//! approved plan becomes a rollout whose batches start at their window slots (the scheduler
//! waits for them), and the plan is marked scheduled.

mod build;
mod downgrade;
mod select;
mod staging;
mod view;

use jiff::{SignedDuration, Timestamp};
use pw_notify::Detail;
use pw_planner::{ApprovalEvent, ApprovalState};
use pw_protocol::{
    ApprovePlan, CreatePlan, CreateRollout, PlanList, PlanSelector, PlanView, RefreshPlan,
    RejectPlan, SubmitPlan,
};
use pw_store::StoredPlan;

use crate::{Controller, Refusal};

pub use build::{Planned, Source};

/// Whether a stored plan is a downgrade plan (its agents may then install lower versions).
pub fn is_downgrade(stored: &StoredPlan) -> Result<bool, Refusal> {
    Ok(view::kind(view::source(stored)?.as_ref()) == "downgrade")
}
pub use select::{Basis, drift, is_security};

/// A stored downgrade plan's advisories brought back, per host (empty for other plans).
pub fn reintroduced(stored: &StoredPlan) -> Result<Vec<pw_protocol::PlanReintroduced>, Refusal> {
    Ok(view::source(stored)?
        .map(|s| s.reintroduced)
        .unwrap_or_default())
}

/// What a stored plan's changes carry to the agents: whether it is a downgrade, its local
/// archive, and the hooks they run (none for a plan built without them) — read from its
/// source once.
pub fn change_options(
    stored: &StoredPlan,
) -> Result<(bool, Option<String>, pw_protocol::ChangeHooks), Refusal> {
    let source = view::source(stored)?;
    let downgrade = view::kind(source.as_ref()) == "downgrade";
    Ok(match source {
        Some(s) => (
            downgrade,
            s.request.updates.archive().map(str::to_owned),
            s.request.hooks.unwrap_or_default(),
        ),
        None => (downgrade, None, Default::default()),
    })
}

/// How long an approval stays valid unless the plan is scheduled (it is, at once, when its
/// rollout can be created).
const APPROVAL_VALID_DAYS: i64 = 7;
const DEFAULT_REVIEW_HOURS: u32 = 168;
const MAX_REVIEW_HOURS: u32 = 720;
const MAX_TEXT_CHARS: usize = 2000;

/// `POST /api/v1/plans`: builds and stores a draft authored by `actor`.
pub async fn create(
    controller: &Controller,
    actor: &str,
    request: &CreatePlan,
) -> Result<PlanView, Refusal> {
    let built = build::build(controller, actor, request).await?;
    let source = serde_json::to_string(&built.source).map_err(anyhow::Error::from)?;
    let stored = controller
        .store
        .save_plan_from(
            &built.plan,
            &built.markdown,
            Some(&source),
            controller.now(),
        )
        .await?;
    tracing::info!(
        plan = stored.id,
        actor,
        hosts = built.source.basis.len(),
        "plan built"
    );
    view::view(controller, stored, Vec::new()).await
}

/// `GET /api/v1/plans`.
pub async fn list(controller: &Controller) -> Result<PlanList, Refusal> {
    let plans = controller.store.plans().await?;
    Ok(PlanList {
        plans: plans.into_iter().map(view::summary).collect(),
    })
}

/// `GET /api/v1/plans/{id}`, with its staleness while it is still to be decided.
pub async fn get(controller: &Controller, id: i64) -> Result<PlanView, Refusal> {
    let stored = load(controller, id).await?;
    let stale = stale(controller, &stored).await?;
    view::view(controller, stored, stale).await
}

/// The author asks for review.
pub async fn submit(
    controller: &Controller,
    actor: &str,
    id: i64,
    request: &SubmitPlan,
) -> Result<PlanView, Refusal> {
    let stored = load(controller, id).await?;
    let hours = request.review_hours.unwrap_or(DEFAULT_REVIEW_HOURS);
    if !(1..=MAX_REVIEW_HOURS).contains(&hours) {
        return Err(Refusal::InvalidRequest(format!(
            "review_hours: {hours} is outside 1 to {MAX_REVIEW_HOURS}"
        )));
    }
    refuse_stale(controller, &stored, "submitted").await?;
    let event = ApprovalEvent::Submitted {
        by: actor.to_owned(),
        review_deadline: controller.now() + SignedDuration::from_hours(i64::from(hours)),
    };
    let view = act(
        controller,
        actor,
        &stored,
        request.expected_version,
        &event,
        None,
    )
    .await?;
    let detail = Detail::PlanNeedsApproval {
        plan_id: id.to_string(),
        title: view.name.clone(),
        author: actor.to_owned(),
    };
    notify(controller, &view, detail, "needs_approval").await;
    Ok(view)
}

/// Tells the plan's groups about a workflow step (never fails the step).
async fn notify(controller: &Controller, view: &PlanView, detail: Detail, step: &str) {
    let event = crate::notify::plan_event(view, detail, step, controller.now());
    crate::notify::emit(controller, vec![event]).await;
}

/// An approver approves; the plan is then handed to the rollout engine.
pub async fn approve(
    controller: &Controller,
    actor: &str,
    id: i64,
    request: &ApprovePlan,
) -> Result<PlanView, Refusal> {
    let stored = load(controller, id).await?;
    let comment = checked_text("comment", request.comment.as_deref(), false)?;
    if stored.author == actor {
        return Err(Refusal::FourEyes(format!(
            "{actor} wrote plan {id} and cannot approve it: another approver must (four eyes)"
        )));
    }
    refuse_stale(controller, &stored, "approved").await?;
    let (plan, _) = view::parts(&stored)?;
    let gates = match fleet_runs(controller).await? {
        Some(runs) => pw_planner::staging::plan_gates(&plan, &runs),
        None => stored.gates.clone(),
    };
    let now = controller.now();
    let event = ApprovalEvent::Approved {
        by: actor.to_owned(),
        gates,
        valid_until: now + SignedDuration::from_hours(24 * APPROVAL_VALID_DAYS),
        risk_acceptance: request
            .risk_acceptance
            .as_ref()
            .map(|r| pw_planner::RiskAcceptance {
                reason: r.reason.clone(),
                expires_at: r.expires_at,
            }),
    };
    let approved = act(
        controller,
        actor,
        &stored,
        request.expected_version,
        &event,
        comment,
    )
    .await?;
    let detail = Detail::PlanApproved {
        plan_id: id.to_string(),
        title: approved.name.clone(),
        approver: actor.to_owned(),
    };
    notify(controller, &approved, detail, "approved").await;
    schedule(controller, actor, approved, &plan).await
}

/// An approver turns the plan down, with a reason.
pub async fn reject(
    controller: &Controller,
    actor: &str,
    id: i64,
    request: &RejectPlan,
) -> Result<PlanView, Refusal> {
    let stored = load(controller, id).await?;
    let reason = checked_text("reason", Some(&request.reason), true)?.unwrap_or_default();
    let event = ApprovalEvent::Declined {
        by: actor.to_owned(),
        reason: reason.to_owned(),
    };
    let view = act(
        controller,
        actor,
        &stored,
        request.expected_version,
        &event,
        Some(reason),
    )
    .await?;
    let detail = Detail::PlanRejected {
        plan_id: id.to_string(),
        title: view.name.clone(),
        by: actor.to_owned(),
        reason: reason.to_owned(),
    };
    notify(controller, &view, detail, "rejected").await;
    Ok(view)
}

/// The author rebuilds a live plan from the same request and today's data (a draft, rejected
/// or expired plan; back to draft).
pub async fn refresh(
    controller: &Controller,
    actor: &str,
    id: i64,
    request: &RefreshPlan,
) -> Result<PlanView, Refusal> {
    let stored = load(controller, id).await?;
    let (_, source) = view::parts(&stored)?;
    let Some(source) = source else {
        return Err(Refusal::PlanRefused(format!(
            "plan {id} was saved from files, not built by the controller; build a new one with \
             POST /api/v1/plans"
        )));
    };
    let built = build::build(controller, actor, &source.request).await?;
    let text = serde_json::to_string(&built.source).map_err(anyhow::Error::from)?;
    let expected = request.expected_version.unwrap_or(stored.version);
    let revised = controller
        .store
        .revise_plan_from(
            id,
            expected,
            &built.plan,
            &built.markdown,
            Some(&text),
            controller.now(),
        )
        .await
        .map_err(Refusal::from_store)?;
    view::view(controller, revised, Vec::new()).await
}

async fn load(controller: &Controller, id: i64) -> Result<StoredPlan, Refusal> {
    controller.store.plan(id).await.map_err(Refusal::from_store)
}

/// Staleness matters while the plan is still to be decided or started.
async fn stale(controller: &Controller, stored: &StoredPlan) -> Result<Vec<String>, Refusal> {
    let open = matches!(
        stored.approval,
        ApprovalState::Draft { .. }
            | ApprovalState::InReview { .. }
            | ApprovalState::Approved { .. }
    );
    let (_, source) = view::parts(stored)?;
    match source {
        Some(source) if open => view::staleness(controller, &source).await,
        _ => Ok(Vec::new()),
    }
}

async fn refuse_stale(
    controller: &Controller,
    stored: &StoredPlan,
    what: &str,
) -> Result<(), Refusal> {
    let stale = stale(controller, stored).await?;
    if stale.is_empty() {
        return Ok(());
    }
    Err(Refusal::PlanOutdated(format!(
        "plan {} cannot be {what}: the live versions it was built on changed ({}); rebuild it \
         with POST /api/v1/plans/{}/refresh",
        stored.id,
        stale.join("; "),
        stored.id
    )))
}

/// Applies one workflow event at the version the caller names (default: the current one).
async fn act(
    controller: &Controller,
    actor: &str,
    stored: &StoredPlan,
    expected_version: Option<i64>,
    event: &ApprovalEvent,
    comment: Option<&str>,
) -> Result<PlanView, Refusal> {
    act_at(
        controller,
        actor,
        stored,
        expected_version,
        event,
        comment,
        controller.now(),
    )
    .await
}

/// [`act`] at `now` (the time the event itself was computed for).
async fn act_at(
    controller: &Controller,
    actor: &str,
    stored: &StoredPlan,
    expected_version: Option<i64>,
    event: &ApprovalEvent,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<PlanView, Refusal> {
    let expected = expected_version.unwrap_or(stored.version);
    let next = controller
        .store
        .apply_plan_event(stored.id, expected, actor, event, comment, now)
        .await
        .map_err(Refusal::from_store)?;
    view::view(controller, next, Vec::new()).await
}

/// Marks the approved plan scheduled for its first batch and hands it to the rollout engine
/// (the scheduler starts each batch at its window slot). A plan whose rollout cannot be created
/// (a host gone, an agent that refuses plan changes) stays scheduled and says why in its
/// problems; `POST /api/v1/rollouts {"plan": N}` retries.
async fn schedule(
    controller: &Controller,
    actor: &str,
    approved: PlanView,
    plan: &pw_planner::Plan,
) -> Result<PlanView, Refusal> {
    let now = controller.now();
    let start = plan
        .batches
        .iter()
        .map(|b| b.start)
        .min()
        .map_or(now, |first: Timestamp| first.max(now));
    let event = ApprovalEvent::Scheduled { start };
    let stored = load(controller, approved.id).await?;
    let version = Some(approved.version);
    let scheduled = act_at(controller, actor, &stored, version, &event, None, now).await?;
    let request = CreateRollout {
        plan: Some(PlanSelector::Number(scheduled.id)),
        plan_version: Some(scheduled.version),
        ..CreateRollout::default()
    };
    let created = crate::rollouts::create(controller, actor, &request).await;
    let stored = load(controller, scheduled.id).await?;
    let mut view = view::view(controller, stored, Vec::new()).await?;
    if let Err(refusal) = created {
        tracing::warn!(plan = view.id, error = %refusal, "scheduled plan has no rollout");
        view.problems.push(format!(
            "scheduled, but its rollout was not created: {refusal}; fix it and start it with \
             POST /api/v1/rollouts {{\"plan\": {}}}",
            view.id
        ));
    }
    Ok(view)
}

/// The staging runs under the current fleet document (`None` before one is applied).
async fn fleet_runs(
    controller: &Controller,
) -> Result<Option<Vec<pw_planner::StagingRun>>, Refusal> {
    match crate::fleet::current_document(&controller.store).await? {
        Some((_, document)) => {
            let hosts = controller.store.hosts().await?;
            Ok(Some(staging::runs(controller, &document, &hosts).await?))
        }
        None => Ok(None),
    }
}

/// A free-text field: trimmed, 1 to 2,000 characters when given (or required).
fn checked_text<'a>(
    field: &str,
    text: Option<&'a str>,
    required: bool,
) -> Result<Option<&'a str>, Refusal> {
    match text.map(str::trim) {
        None | Some("") if required => Err(Refusal::InvalidRequest(format!(
            "{field}: required (say why)"
        ))),
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > MAX_TEXT_CHARS => Err(Refusal::InvalidRequest(
            format!("{field}: at most {MAX_TEXT_CHARS} characters"),
        )),
        Some(text) => Ok(Some(text)),
    }
}
