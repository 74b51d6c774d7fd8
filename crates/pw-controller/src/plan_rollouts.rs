//! A rollout of `{"plan": N}`: the rollout of a stored change plan. The plan
//! must be approved (four eyes were enforced by the plans workflow) or scheduled, at the version
//! the operator names (if any), with a live approval and no other running rollout; its hosts are
//! matched to enrolled hosts and everything else comes from the plan (`crate::plan_rollout`).
//! Any refusal names what is wrong and stores nothing.

use pw_planner::{ApprovalState, Plan};
use pw_protocol::{CreateRollout, PlanRef};
use pw_rollout::RolloutId;
use pw_store::PlanLink;

use crate::plan_rollout::{Enrolled, rollout_from_plan};
use crate::recipe::Recipe;
use crate::rollouts::{engine_policy, store};
use crate::{Controller, Refusal};

pub async fn create(
    state: &Controller,
    actor: &str,
    id: &str,
    request: &CreateRollout,
) -> Result<(), Refusal> {
    let invalid = |m: String| Refusal::InvalidRequest(m);
    let given: Vec<&str> = [
        ("hosts", !request.hosts.is_empty()),
        ("targets", !request.targets.is_empty()),
        ("checks", !request.checks.is_empty()),
        ("protection_steps", !request.protection_steps.is_empty()),
        ("canary_size", request.canary_size.is_some()),
        ("batch_size", request.batch_size.is_some()),
        (
            "verification_seconds",
            request.verification_seconds.is_some(),
        ),
        ("max_failures", request.max_failures.is_some()),
        ("drill", request.drill.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !given.is_empty() {
        return Err(invalid(format!(
            "a rollout of a plan takes its hosts, targets, batches, checks and failure policy \
             from the plan; leave out {}",
            given.join(", ")
        )));
    }
    let number = request
        .plan
        .as_ref()
        .map(pw_protocol::PlanSelector::number)
        .transpose()
        .map_err(|text| invalid(format!("plan {text:?} is not a plan number (e.g. 7)")))?
        .unwrap_or_default();
    let stored = match state.store.plan(number).await {
        Ok(stored) => stored,
        Err(error) => return Err(Refusal::from_store(error)),
    };
    if let Some(expected) = request.plan_version
        && expected != stored.version
    {
        return Err(Refusal::PlanStale(format!(
            "stale: plan {number} is at version {} now, not the version {expected} you named; \
             nothing was changed, review the current version and try again",
            stored.version
        )));
    }
    let (author, approver) = match &stored.approval {
        ApprovalState::Approved {
            author, approver, ..
        }
        | ApprovalState::Scheduled {
            author, approver, ..
        } => (author.clone(), approver.clone()),
        other => {
            return Err(Refusal::PlanRefused(format!(
                "plan {number} is {}: only an approved or scheduled plan is rolled out (submit \
                 it and have it approved first)",
                other.name()
            )));
        }
    };
    let plan: Plan = serde_json::from_value(stored.plan.clone()).map_err(|e| {
        anyhow::anyhow!("plan {number}: the stored plan is not a pw-planner plan: {e}")
    })?;
    let mut enrolled = Vec::new();
    for host in state.store.hosts().await? {
        let packages = match state.store.inventory(&host.id).await? {
            Some(inventory) => Some(inventory.packages),
            None => None,
        };
        enrolled.push(Enrolled { host, packages });
    }
    let mut from = rollout_from_plan(
        &plan,
        RolloutId(id.to_owned()),
        &enrolled,
        &request.skip_checks,
    )
    .map_err(|problems| Refusal::PlanNotExecutable(problems.join("; ")))?;
    from.plan.mode = pw_rollout::wire::mode(request.mode);
    let refusing: Vec<String> = enrolled
        .iter()
        .filter(|e| from.hosts.contains(&e.host.id) && e.host.read_only && !e.host.plan_changes)
        .map(|e| format!("{} ({})", e.host.id, e.host.hostname))
        .collect();
    if !refusing.is_empty() {
        return Err(Refusal::HostReadOnly(format!(
            "read-only agents that do not accept plan-approved changes: {}; start them with \
             --read-only --allow-approved-plans, or without --read-only",
            refusing.join(", ")
        )));
    }
    let drill = from.plan.drills();
    let policy = engine_policy(from.verification_seconds, from.check_names, &[], drill);
    let (downgrade, archive, hooks) = crate::plans::change_options(&stored)?;
    let recipe = Recipe::Plan {
        plan: PlanRef {
            id: number,
            version: stored.version,
            author,
            approver,
            downgrade,
            archive,
        },
        groups: from.groups,
        hooks,
    };
    let link = PlanLink {
        id: number,
        version: stored.version,
    };
    store(state, actor, &from.plan, &policy, &recipe, &[], Some(link)).await
}
