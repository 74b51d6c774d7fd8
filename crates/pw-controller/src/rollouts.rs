//! Rollouts: create one (ad hoc: canary batch, then wave batches of `batch_size`; or from a
//! stored approved plan, `crate::plan_rollouts`), read one with every host's durable state,
//! list them with the fleet-wide block list.

use std::collections::BTreeMap;

use pw_model::LinePattern;
use pw_protocol::{
    BlockedVersion, CreateRollout, HealthCheckSpec, ProtectionStep, RolloutHostView, RolloutList,
    RolloutView,
};
use pw_rollout::{HostChange, Policy, RolloutId, RolloutPlan, StepLimits, Target};
use pw_store::{NewRollout, PlanLink, RolloutRow};

use crate::recipe::Recipe;
use crate::scheduler::state_name;
use crate::{Controller, Refusal};

/// Seconds an agent may take to install before its guard starts verifying.
const INSTALL_ALLOWANCE_SECS: u64 = 15 * 60;

/// Creates a rollout, ad hoc (`hosts` + `targets`) or from a stored plan (`plan`), by `actor`;
/// returns it as stored (every host pending) and wakes the scheduler.
pub async fn create(
    state: &Controller,
    actor: &str,
    request: &CreateRollout,
) -> Result<RolloutView, Refusal> {
    let id = format!("ro-{}", uuid::Uuid::now_v7());
    match &request.plan {
        Some(_) => crate::plan_rollouts::create(state, actor, &id, request).await?,
        None => create_ad_hoc(state, actor, &id, request).await?,
    }
    let view = load(state, &id).await?;
    // After the view is read: the answer shows the rollout as created (every host pending).
    state.wake_scheduler();
    Ok(view)
}

/// An ad-hoc rollout (batches: `pw_rollout::ad_hoc`), after the request's own checks and with
/// no read-only host; plans go through `plan_rollouts`.
async fn create_ad_hoc(
    state: &Controller,
    actor: &str,
    id: &str,
    request: &CreateRollout,
) -> Result<(), Refusal> {
    let invalid = |m: String| Refusal::InvalidRequest(m);
    if !request.skip_checks.is_empty() || request.plan_version.is_some() {
        return Err(invalid(
            "skip_checks and plan_version belong to a rollout of a plan (give plan)".into(),
        ));
    }
    let targets = pw_rollout::wire::targets_from_pins("targets", &request.targets)
        .map_err(|e| invalid(e.to_string()))?;
    let ad_hoc = pw_rollout::ad_hoc::AdHoc {
        hosts: &request.hosts,
        targets: &targets,
        canary_size: request.canary_size,
        batch_size: request.batch_size,
        drill: request.drill.map(pw_rollout::wire::drill),
        max_failures: request.max_failures,
        mode: pw_rollout::wire::mode(request.mode),
    };
    let plan =
        pw_rollout::ad_hoc::ad_hoc_plan(RolloutId(id.to_owned()), &ad_hoc).map_err(invalid)?;
    pw_protocol::validate_protection_steps(&request.protection_steps).map_err(invalid)?;
    validate_checks(&request.checks).map_err(invalid)?;
    let mut read_only = Vec::new();
    for host in &request.hosts {
        let row = state
            .store
            .host(host)
            .await?
            .ok_or_else(|| Refusal::HostNotFound(host.clone()))?;
        if row.read_only {
            read_only.push(format!("{} ({})", row.id, row.hostname));
        }
    }
    if !read_only.is_empty() {
        return Err(Refusal::HostReadOnly(format!(
            "read-only agents take no ad-hoc change: {}; a read-only agent started with \
             --allow-approved-plans changes only through the rollout of an approved plan \
             ({{\"plan\": N}})",
            read_only.join(", ")
        )));
    }
    let checks = request.checks.iter().map(|c| c.name().to_owned()).collect();
    let verification_seconds = request.verification_seconds.unwrap_or(300);
    let steps = &request.protection_steps;
    let policy = engine_policy(verification_seconds, checks, steps, plan.drills());
    let recipe = Recipe::AdHoc(request.checks.clone());
    store(state, actor, &plan, &policy, &recipe, steps, None).await
}

/// Check names must be unique and non-empty; a `log_lines` check needs an absolute path and a
/// pattern that compiles (the agent refuses the same, but only after the rollout started).
pub fn validate_checks(checks: &[HealthCheckSpec]) -> Result<(), String> {
    for (index, check) in checks.iter().enumerate() {
        let name = check.name();
        if name.trim().is_empty() {
            return Err(format!("check {} has no name", index + 1));
        }
        if checks[..index].iter().any(|c| c.name() == name) {
            return Err(format!("check {name:?} is listed twice"));
        }
        if let HealthCheckSpec::LogLines {
            path,
            pattern,
            regex,
            ..
        } = check
        {
            if !path.starts_with('/') {
                return Err(format!("check {name:?}: log path {path:?} is not absolute"));
            }
            LinePattern::new(pattern, *regex).map_err(|e| format!("check {name:?}: {e}"))?;
        }
    }
    Ok(())
}

/// The engine's policy for a rollout whose hosts verify for at most `verification_seconds`
/// after the protection steps `steps`; `drill` when some hosts run the rollback drill.
pub fn engine_policy(
    verification_seconds: u64,
    health_checks: Vec<String>,
    steps: &[ProtectionStep],
    drill: bool,
) -> Policy {
    let mut policy = Policy {
        verification_seconds,
        health_checks,
        protection_steps: steps.iter().map(|s| s.name.clone()).collect(),
        ..Policy::default()
    };
    // One `apply_change` covers record, protect, install and verification (twice when rolling
    // back): the claim waits that long, and is never re-sent (a retry would apply again). A
    // drill adds a rollback, a re-apply and their verifications (and a rollback after a failed
    // re-apply, verified too).
    let protection: u64 = steps.iter().map(|s| s.timeout_seconds).sum();
    let (installs, verifications) = if drill { (3, 4) } else { (1, 2) };
    policy.timeouts.record_versions = StepLimits::new(
        installs * INSTALL_ALLOWANCE_SECS + protection + verifications * verification_seconds + 120,
        1,
    );
    policy
}

/// Stores the rollout with every host pending (and, for a plan, the plan link, re-checked in
/// the same transaction).
pub async fn store(
    state: &Controller,
    actor: &str,
    plan: &RolloutPlan,
    policy: &Policy,
    recipe: &Recipe,
    protection_steps: &[ProtectionStep],
    link: Option<PlanLink>,
) -> Result<(), Refusal> {
    let hosts = plan
        .batches
        .iter()
        .flat_map(|b| &b.hosts)
        .map(|host| {
            let change = HostChange::new(plan.id.clone(), host.id.clone());
            let name = state_name(change.state.name());
            Ok((host.id.0.clone(), pw_rollout::to_json(&change)?, name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let new = NewRollout {
        id: plan.id.0.clone(),
        plan_json: pw_rollout::to_json(plan).map_err(anyhow::Error::from)?,
        policy_json: pw_rollout::to_json(policy).map_err(anyhow::Error::from)?,
        checks_json: recipe.to_json()?,
        protection_steps_json: serde_json::to_string(protection_steps)
            .map_err(anyhow::Error::from)?,
        hosts,
        plan: link,
    };
    match state.store.create_rollout(&new, actor).await {
        Ok(()) => Ok(()),
        Err(error) => Err(Refusal::from_store(error)),
    }
}

/// Every rollout and the block list (also used by the page).
pub async fn load_all(state: &Controller) -> Result<RolloutList, Refusal> {
    let mut rollouts = Vec::new();
    for row in state.store.rollouts().await? {
        rollouts.push(view(state, row).await?);
    }
    let blocked = state
        .store
        .blocked_versions()
        .await?
        .into_iter()
        .map(|b| BlockedVersion {
            package: b.package,
            version: b.version,
            reason: b.reason,
            rollout_id: b.rollout_id,
            host_id: b.host_id,
            blocked_at: b.blocked_at,
        })
        .collect();
    Ok(RolloutList { rollouts, blocked })
}

pub async fn load(state: &Controller, id: &str) -> Result<RolloutView, Refusal> {
    let row = state
        .store
        .rollout(id)
        .await?
        .ok_or_else(|| Refusal::RolloutNotFound(id.to_owned()))?;
    view(state, row).await
}

async fn view(state: &Controller, row: RolloutRow) -> Result<RolloutView, Refusal> {
    let plan: RolloutPlan = pw_rollout::from_json(&row.plan).map_err(anyhow::Error::from)?;
    let recipe = Recipe::from_json(&row.checks)?;
    let pins = pw_rollout::wire::pins;
    let specs: BTreeMap<&str, (&str, &[Target])> = plan
        .batches
        .iter()
        .flat_map(|b| {
            b.hosts
                .iter()
                .map(move |h| (h.id.0.as_str(), (b.group.as_str(), h.targets.as_slice())))
        })
        .collect();
    let targets = plan
        .batches
        .first()
        .and_then(|b| b.hosts.first())
        .map(|h| pins(&h.targets))
        .unwrap_or_default();
    let mut observed = crate::observe::views(state, &row.id).await?;
    let mut protection = crate::protection::by_host(&state.store, &row.id).await?;
    let mut hosts = Vec::new();
    for host in state.store.rollout_hosts(&row.id).await? {
        let mut detail: serde_json::Value =
            serde_json::from_str(&host.state).map_err(anyhow::Error::from)?;
        let detail = detail
            .get_mut("state")
            .map(serde_json::Value::take)
            .unwrap_or(detail);
        let (group, host_targets) = specs
            .get(host.host_id.as_str())
            .copied()
            .unwrap_or_default();
        // A downgrade's checks and the hooks' runs are in the agent's stored report.
        let reported = recipe.plan().is_some_and(|p| p.downgrade) || !recipe.hooks().is_empty();
        let report = match (&host.command_id, reported) {
            (Some(command), true) => change_report(state, command).await?,
            _ => None,
        };
        let (downgrade, hooks) = report.map_or((None, None), |r| (r.downgrade, r.hooks));
        hosts.push(RolloutHostView {
            observation: observed.remove(&host.host_id),
            downgrade,
            hooks,
            protection: protection.remove(&host.host_id).unwrap_or_default(),
            targets: pins(host_targets),
            group: group.to_owned(),
            host_id: host.host_id,
            hostname: host.hostname,
            state: host.state_name,
            detail,
            command_id: host.command_id,
            updated_at: host.updated_at,
        });
    }
    Ok(RolloutView {
        detail: serde_json::from_str(&row.detail).map_err(anyhow::Error::from)?,
        control: serde_json::from_str(&row.control).map_err(anyhow::Error::from)?,
        protection_steps: serde_json::from_str(&row.protection_steps)
            .map_err(anyhow::Error::from)?,
        id: row.id,
        status: row.status,
        created_at: row.created_at,
        updated_at: row.updated_at,
        targets,
        plan: recipe.plan().cloned(),
        hosts,
    })
}

/// The change report an `apply_change` command left, if any.
async fn change_report(
    state: &Controller,
    command: &str,
) -> Result<Option<pw_protocol::ChangeReport>, Refusal> {
    let Some(text) = state.store.change_report(command).await? else {
        return Ok(None);
    };
    let report: pw_protocol::ChangeReport = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the stored report of {command} is unreadable: {e}"))?;
    Ok(Some(report))
}
