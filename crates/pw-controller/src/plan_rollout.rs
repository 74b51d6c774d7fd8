//! A stored change plan (pw-planner) as a rollout (pw-rollout): the plan's batches in their
//! order with their slot start times, per-group disruption budgets, the failure policy, each
//! host's exact targets, and per group the agent checks and verification period. Pure over data
//! the route loaded; every problem is collected so one refusal names them all.
//!
//! Host matching: a plan host is the enrolled host whose id equals the plan host's `id`, else the
//! one enrolled host whose hostname equals the plan host's `hostname` (none, or two such hosts,
//! is an error). Hosts the plan left unscheduled are not part of the rollout.

use std::collections::{BTreeMap, BTreeSet};

use pw_model::{InstalledPackage, PackageName};
use pw_planner::Plan;
use pw_planner::plan::GroupPlan;
use pw_planner::policy::{Protection, RECORD_VERSIONS_STEP};
use pw_planner::schedule::BatchKind as PlannedKind;
use pw_protocol::ProtectionStep;
use pw_rollout::{
    BatchKind, BatchSpec, ExactVersion, FailurePolicy, HostId, HostSpec, RolloutId, RolloutPlan,
    Target,
};
use pw_store::HostRow;

use crate::plan_checks::to_agent_check;
use crate::recipe::GroupRecipe;

/// An enrolled host with its last reported packages (`None`: no inventory yet).
pub struct Enrolled {
    pub host: HostRow,
    pub packages: Option<Vec<InstalledPackage>>,
}

/// What a plan becomes.
#[derive(Debug)]
pub struct FromPlan {
    pub plan: RolloutPlan,
    pub groups: BTreeMap<String, GroupRecipe>,
    /// The longest verification period of the groups (the controller's wait per host).
    pub verification_seconds: u64,
    /// Names of every check that runs, for the engine's policy.
    pub check_names: Vec<String>,
    /// Enrolled host ids in batch order.
    pub hosts: Vec<String>,
}

/// Groups whose canary hosts run the rollback drill: staging groups (environment `staging`, or
/// named as a plan group's staging counterpart) — their passed drills are the evidence the
/// staging gate asks for before production is approved.
fn drilled_groups(plan: &Plan) -> BTreeSet<&str> {
    let counterparts = plan
        .groups
        .iter()
        .filter_map(|g| g.staging_counterpart.as_deref());
    plan.groups
        .iter()
        .filter(|g| g.environment == "staging")
        .map(|g| g.name.as_str())
        .chain(counterparts)
        .collect()
}

/// Maps `plan` onto enrolled hosts; `skip` names plan checks left out on purpose.
pub fn rollout_from_plan(
    plan: &Plan,
    id: RolloutId,
    enrolled: &[Enrolled],
    skip: &[String],
) -> Result<FromPlan, Vec<String>> {
    let mut problems = Vec::new();
    let groups_used: BTreeSet<&str> = plan.batches.iter().map(|b| b.group.as_str()).collect();
    if groups_used.is_empty() {
        problems.push(format!(
            "plan {} has no scheduled batch: nothing to roll out",
            plan.id
        ));
    }
    check_skips(plan, skip, &mut problems);
    let recipes = group_recipes(plan, &groups_used, skip, &mut problems);
    let (batches, order) = batch_specs(plan, enrolled, &mut problems);
    let rollout = RolloutPlan {
        id,
        batches,
        budgets: recipes.budgets,
        failure: recipes.failure,
        mode: pw_rollout::Mode::Batches,
    };
    if problems.is_empty()
        && let Err(error) = rollout.validate()
    {
        problems.push(format!("the plan's batches cannot be executed: {error}"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(FromPlan {
        verification_seconds: recipes
            .groups
            .values()
            .map(|g| g.verification_seconds)
            .max()
            .unwrap_or(0),
        plan: rollout,
        groups: recipes.groups,
        check_names: recipes.check_names.into_iter().collect(),
        hosts: order,
    })
}

/// The agent steps carrying out the group's protection (its providers, pause writes first);
/// a protection step without a provider is a problem naming the fleet document's key.
fn protection_steps(group: &GroupPlan, problems: &mut Vec<String>) -> Vec<ProtectionStep> {
    for step in &group.protection_steps {
        if step == RECORD_VERSIONS_STEP {
            continue;
        }
        let problem = match Protection::from_step_text(step) {
            Some(protection)
                if group
                    .protection_providers
                    .iter()
                    .any(|p| p.protection == protection) =>
            {
                continue;
            }
            Some(protection) => format!(
                "no provider is configured for it (add [[groups.{}.providers.{}]] to the fleet document, docs/protection.md)",
                group.name,
                protection.as_str()
            ),
            None => "unknown protection step".to_owned(),
        };
        problems.push(format!(
            "group {}: protection step {step:?} must run before each host changes: {problem}",
            group.name
        ));
    }
    group
        .protection_providers
        .iter()
        .map(|p| p.step.clone())
        .collect()
}

/// Every skipped check must be one of the plan's.
fn check_skips(plan: &Plan, skip: &[String], problems: &mut Vec<String>) {
    let known_checks: BTreeSet<&str> = plan
        .groups
        .iter()
        .flat_map(|g| g.health_checks.iter().map(|c| c.name.as_str()))
        .collect();
    for name in skip {
        if !known_checks.contains(name.as_str()) {
            problems.push(format!(
                "skip_checks names {name:?}, which is no health check of this plan"
            ));
        }
    }
}

/// What the engine takes from the plan's groups: checks and verification per group, budgets,
/// the failure policy.
struct Recipes {
    groups: BTreeMap<String, GroupRecipe>,
    budgets: BTreeMap<String, usize>,
    check_names: BTreeSet<String>,
    failure: FailurePolicy,
}

fn group_recipes(
    plan: &Plan,
    groups_used: &BTreeSet<&str>,
    skip: &[String],
    problems: &mut Vec<String>,
) -> Recipes {
    let mut out = Recipes {
        groups: BTreeMap::new(),
        budgets: BTreeMap::new(),
        check_names: BTreeSet::new(),
        failure: FailurePolicy {
            canary_max_failures: usize::MAX,
            max_failures: plan.failure_policy.rollout_max_failures,
            continue_after_failed_batch: true,
        },
    };
    for group in plan
        .groups
        .iter()
        .filter(|g| groups_used.contains(g.name.as_str()))
    {
        out.budgets
            .insert(group.name.clone(), group.max_in_flight.max(1));
        out.failure.canary_max_failures = out
            .failure
            .canary_max_failures
            .min(group.canary_max_failures);
        out.failure.continue_after_failed_batch &= group.continue_after_failed_batch;
        let protection = protection_steps(group, problems);
        let mut checks = Vec::new();
        for check in group
            .health_checks
            .iter()
            .filter(|c| !skip.contains(&c.name))
            // PromQL checks are the controller's gate (`gates.rs`), not the agent's.
            .filter(|c| c.kind != pw_planner::policy::HealthCheckKind::Promql)
        {
            match to_agent_check(check) {
                Ok(spec) => {
                    out.check_names.insert(check.name.clone());
                    checks.push(spec);
                }
                Err(problem) => problems.push(format!("group {}: {problem}", group.name)),
            }
        }
        out.groups.insert(
            group.name.clone(),
            GroupRecipe {
                checks,
                verification_seconds: group.verification_seconds,
                protection,
            },
        );
    }
    if !plan.failure_policy.stop_on_canary_failure {
        out.failure.canary_max_failures = usize::MAX;
    }
    out
}

/// The plan's batches over enrolled hosts, each host with its exact targets, and the hosts in
/// rollout order.
fn batch_specs(
    plan: &Plan,
    enrolled: &[Enrolled],
    problems: &mut Vec<String>,
) -> (Vec<BatchSpec>, Vec<String>) {
    let drilled = drilled_groups(plan);
    let matcher = Matcher::new(enrolled);
    let plan_hosts: BTreeMap<&str, &pw_planner::plan::HostPlan> =
        plan.hosts.iter().map(|h| (h.id.as_str(), h)).collect();
    let mut batches = Vec::new();
    let mut order = Vec::new();
    let mut taken: BTreeMap<&str, &str> = BTreeMap::new();
    for batch in &plan.batches {
        let mut hosts = Vec::new();
        for name in &batch.hosts {
            let Some(planned) = plan_hosts.get(name.as_str()) else {
                problems.push(format!(
                    "batch {} lists host {name}, which the plan has no changes for",
                    batch.number
                ));
                continue;
            };
            let Some(found) = matcher.find(planned, problems) else {
                continue;
            };
            if let Some(other) = taken.insert(&found.host.id, &planned.id) {
                problems.push(format!(
                    "plan hosts {other} and {} are both enrolled host {}",
                    planned.id, found.host.id
                ));
                continue;
            }
            let targets = targets_of(planned, found, problems);
            order.push(found.host.id.clone());
            hosts.push(HostSpec {
                id: HostId(found.host.id.clone()),
                targets,
            });
        }
        batches.push(BatchSpec {
            group: batch.group.clone(),
            kind: match batch.kind {
                PlannedKind::Canary => BatchKind::Canary,
                PlannedKind::Wave => BatchKind::Wave,
            },
            hosts,
            not_before: Some(batch.start),
            not_after: Some(batch.last_claim()),
            drill: batch.kind == PlannedKind::Canary && drilled.contains(batch.group.as_str()),
        });
    }
    (batches, order)
}

/// Finds plan hosts among enrolled hosts: by id, else by a unique hostname.
struct Matcher<'a> {
    by_id: BTreeMap<&'a str, &'a Enrolled>,
    by_hostname: BTreeMap<&'a str, Vec<&'a Enrolled>>,
}

impl<'a> Matcher<'a> {
    fn new(enrolled: &'a [Enrolled]) -> Self {
        let mut by_hostname: BTreeMap<&str, Vec<&Enrolled>> = BTreeMap::new();
        for e in enrolled {
            by_hostname
                .entry(e.host.hostname.as_str())
                .or_default()
                .push(e);
        }
        Matcher {
            by_id: enrolled.iter().map(|e| (e.host.id.as_str(), e)).collect(),
            by_hostname,
        }
    }

    fn find(
        &self,
        planned: &pw_planner::plan::HostPlan,
        problems: &mut Vec<String>,
    ) -> Option<&'a Enrolled> {
        if let Some(found) = self.by_id.get(planned.id.as_str()) {
            return Some(found);
        }
        match self
            .by_hostname
            .get(planned.hostname.as_str())
            .map(Vec::as_slice)
        {
            Some([one]) => Some(one),
            Some(many) => {
                let ids: Vec<&str> = many.iter().map(|e| e.host.id.as_str()).collect();
                problems.push(format!(
                    "plan host {} (hostname {}) is ambiguous: enrolled hosts {} share that \
                     hostname; name one of them by id in the fleet file",
                    planned.id,
                    planned.hostname,
                    ids.join(", ")
                ));
                None
            }
            None => {
                problems.push(format!(
                    "plan host {} (hostname {}) is not enrolled: no enrolled host has that id or \
                     hostname",
                    planned.id, planned.hostname
                ));
                None
            }
        }
    }
}

/// The host's exact targets; a change whose recorded `from` version is no longer what the host
/// reports makes the plan stale for that host.
fn targets_of(
    planned: &pw_planner::plan::HostPlan,
    found: &Enrolled,
    problems: &mut Vec<String>,
) -> Vec<Target> {
    let host = &found.host;
    let Some(packages) = &found.packages else {
        problems.push(format!(
            "host {} ({}) has not reported an inventory yet: the plan's recorded versions cannot \
             be checked",
            host.id, host.hostname
        ));
        return Vec::new();
    };
    let mut targets = Vec::new();
    for change in &planned.changes {
        let where_ = format!("host {} ({}), {}", host.id, host.hostname, change.package);
        let (package, version) = match (
            PackageName::parse(&change.package),
            ExactVersion::parse(&change.to),
        ) {
            (Ok(package), Ok(version)) => (package, version),
            (Err(e), _) => {
                problems.push(format!("{where_}: {e}"));
                continue;
            }
            (_, Err(e)) => {
                problems.push(format!("{where_}: target {}: {e}", change.to));
                continue;
            }
        };
        if let Some(from) = &change.from {
            let installed: Vec<&str> = packages
                .iter()
                .filter(|p| p.name == change.package)
                .map(|p| p.version.as_str())
                .collect();
            if !installed.contains(&from.as_str()) {
                let now = match installed.as_slice() {
                    [] => "not installed".to_owned(),
                    versions => format!("at {}", versions.join(", ")),
                };
                problems.push(format!(
                    "stale plan: {where_} was at {from} when the plan was built and is {now} \
                     now; build the plan again from the current inventory"
                ));
                continue;
            }
        }
        targets.push(Target { package, version });
    }
    targets
}
