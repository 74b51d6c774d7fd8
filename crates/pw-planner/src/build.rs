//! Building a plan: scope and targets → batches per group → placement in window slots (staging
//! groups before their production counterparts) → staging gate, risk checklist, notifications,
//! summary. Pure: `now` is a parameter; the same input gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use pw_model::OsRelease;
use pw_version::Scheme;

use crate::approval::{ApprovalGates, ApprovalState};
use crate::batch::{self, BatchHost};
use crate::fleet::{Host, PlanInput};
use crate::plan::{
    Batch, FailurePolicy, GroupPlan, HealthCheckRef, HostPlan, Notification, NotificationKind,
    Plan, Unscheduled,
};
use crate::policy::{GroupPolicy, Policy, Protection, RECORD_VERSIONS_STEP};
use crate::risk::{self, GroupView, HostView};
use crate::schedule::{self, BatchKind, PendingBatch, Rules};
use crate::staging::staging_gate;
use crate::summary::{HostFacts, summarize};
use crate::targets::{self, HostEstimate, PackageChange};

/// One planned host before placement.
struct Planned<'a> {
    host: &'a Host,
    changes: Vec<PackageChange>,
    estimate: HostEstimate,
}

/// The input sorted out: hosts per group with their changes, and what the plan leaves alone.
struct Collected<'a> {
    problems: Vec<String>,
    /// Every listed host per group (in scope or not): the group's size for budgets.
    fleet_sizes: BTreeMap<&'a str, usize>,
    in_scope: usize,
    /// In scope, but nothing to change (or its changes could not be computed).
    unchanged: Vec<&'a Host>,
    /// Hosts with changes, per group, sorted by id.
    per_group: BTreeMap<&'a str, Vec<Planned<'a>>>,
}

/// Each group's batches as placed in its window slots, and the batches that found no slot.
type PlacedGroups<'a> = BTreeMap<&'a str, (Vec<schedule::Placed>, Vec<schedule::NotPlaced>)>;

/// Per group, per host (index in `per_group`): its batch number and the batch's end.
type HostBatches<'a> = BTreeMap<&'a str, Vec<Option<(usize, Timestamp)>>>;

/// Builds a plan; unusable input is listed in `problems`, never a panic or an error.
pub fn build_plan(input: &PlanInput, policy: &Policy, now: Timestamp) -> Plan {
    let collected = collect(input, policy);
    // Staging (and every non-production) group first, so production can wait for it.
    let mut order: Vec<&GroupPolicy> = collected
        .per_group
        .keys()
        .filter_map(|g| policy.groups.get(*g))
        .collect();
    order.sort_by_key(|g| (g.is_production(), g.name.clone()));
    let placed = place_groups(input, &order, &collected);
    let (batches, host_batch) = number_batches(policy, &placed, &collected.per_group);
    let unscheduled = unscheduled(&placed, &collected.per_group);
    let gate_problems = staging_gates(input, &order, &collected.per_group);
    let gates = ApprovalGates {
        production: order.iter().any(|g| g.is_production()),
        staging_problems: gate_problems.values().flatten().cloned().collect(),
        reintroduced: vec![],
    };
    let reviews = review_groups(
        input,
        policy,
        now,
        &order,
        &collected,
        &placed,
        &gate_problems,
    );
    let Collected {
        problems,
        in_scope,
        unchanged,
        per_group,
        ..
    } = collected;
    let (host_plans, facts) = host_plans(per_group, &host_batch, &unchanged, in_scope);
    let mut summary = summarize(&facts, &input.scope, now, input.until);
    summary.package_changes = host_plans.iter().map(|h| h.changes.len()).sum();

    Plan {
        id: input.plan_id.clone(),
        author: input.author.clone(),
        created_at: now,
        from: input.from,
        until: input.until,
        scope: input.scope.clone(),
        approval: ApprovalState::draft(input.author.clone()),
        gates,
        summary,
        risks: risk::merge(&reviews.checklists),
        failure_policy: FailurePolicy {
            rollout_max_failures: reviews.rollout_max_failures,
            stop_on_canary_failure: true,
        },
        groups: reviews.groups,
        batches,
        unscheduled,
        hosts: host_plans,
        notifications: reviews.notifications,
        problems,
    }
}

/// Sorts the listed hosts into groups with their changes; every unusable entry is a problem.
fn collect<'a>(input: &'a PlanInput, policy: &'a Policy) -> Collected<'a> {
    let mut out = Collected {
        problems: Vec::new(),
        fleet_sizes: BTreeMap::new(),
        in_scope: 0,
        unchanged: Vec::new(),
        per_group: BTreeMap::new(),
    };
    let mut seen = BTreeSet::new();
    let mut schemes: BTreeMap<&str, Result<Scheme, String>> = BTreeMap::new();
    for host in &input.hosts {
        if !seen.insert(host.id.as_str()) {
            out.problems.push(format!(
                "host {:?} is listed more than once; the first entry is used",
                host.id
            ));
            continue;
        }
        let Some(group) = policy.groups.get(&host.group) else {
            out.problems.push(format!(
                "host {:?}: group {:?} is not defined in the policy",
                host.id, host.group
            ));
            continue;
        };
        *out.fleet_sizes.entry(group.name.as_str()).or_default() += 1;
        if let Some(environment) = &host.environment
            && *environment != group.environment
        {
            out.problems.push(format!(
                "host {:?} says environment {environment:?} but its group {:?} is {:?}; the group's is used",
                host.id, group.name, group.environment
            ));
        }
        if !input.scope.admits(host) {
            continue;
        }
        out.in_scope += 1;
        let scheme = schemes
            .entry(host.os.as_str())
            .or_insert_with(|| {
                OsRelease::parse(&host.os)
                    .map(|os| os.scheme())
                    .map_err(|e| e.to_string())
            })
            .clone();
        let changes = scheme
            .and_then(|scheme| targets::changes_with_scheme(host, scheme, &input.scope, policy));
        match changes {
            Err(problem) => {
                out.problems.push(format!("host {:?}: {problem}", host.id));
                out.unchanged.push(host);
            }
            Ok(changes) if changes.is_empty() => out.unchanged.push(host),
            Ok(changes) => {
                let estimate = targets::estimate(&changes, policy);
                out.per_group
                    .entry(group.name.as_str())
                    .or_default()
                    .push(Planned {
                        host,
                        changes,
                        estimate,
                    });
            }
        }
    }
    for hosts in out.per_group.values_mut() {
        hosts.sort_by(|a, b| a.host.id.cmp(&b.host.id));
    }
    out
}

/// Batches each group (canaries, then waves) and places them in its window slots, in `order`:
/// a production group starts no earlier than its staging counterpart's last batch ends.
fn place_groups<'a>(
    input: &PlanInput,
    order: &[&'a GroupPolicy],
    collected: &Collected<'_>,
) -> PlacedGroups<'a> {
    let mut placed_by_group = PlacedGroups::new();
    let mut group_end: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for group in order {
        let hosts = &collected.per_group[group.name.as_str()];
        let fleet_size = collected
            .fleet_sizes
            .get(group.name.as_str())
            .copied()
            .unwrap_or(0);
        let batch_hosts: Vec<BatchHost<'_>> = hosts
            .iter()
            .map(|p| BatchHost {
                id: &p.host.id,
                labels: &p.host.labels,
            })
            .collect();
        let batches = batch::make_batches(&batch_hosts, &group.rollout, fleet_size);
        let mut pending = Vec::new();
        if !batches.canary.is_empty() {
            pending.push(PendingBatch {
                kind: BatchKind::Canary,
                hosts: batches.canary,
            });
        }
        pending.extend(batches.waves.into_iter().map(|hosts| PendingBatch {
            kind: BatchKind::Wave,
            hosts,
        }));
        let mut not_before = input.from;
        if group.is_production()
            && let Some(end) = group
                .staging_counterpart
                .as_deref()
                .and_then(|c| group_end.get(c))
        {
            not_before = not_before.max(*end);
        }
        let estimates: Vec<HostEstimate> = hosts.iter().map(|p| p.estimate).collect();
        let slots: Vec<_> = input
            .slots
            .get(&group.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|s| s.start < input.until)
            .cloned()
            .collect();
        let rules = Rules {
            verification_seconds: group.rollout.verification_seconds,
            buffer_percent: group.rollout.rollback_buffer_percent,
            not_before,
        };
        let (placed, not_placed) = schedule::place(pending, &slots, &estimates, rules);
        if let Some(end) = placed.iter().map(|p| p.end).max() {
            group_end.insert(group.name.as_str(), end);
        }
        placed_by_group.insert(group.name.as_str(), (placed, not_placed));
    }
    placed_by_group
}

/// Global batch numbers in time order, and each host's batch.
fn number_batches<'a>(
    policy: &Policy,
    placed_by_group: &PlacedGroups<'a>,
    per_group: &BTreeMap<&str, Vec<Planned<'_>>>,
) -> (Vec<Batch>, HostBatches<'a>) {
    let mut all: Vec<(&str, usize, &schedule::Placed)> = Vec::new();
    for (group, (placed, _)) in placed_by_group {
        all.extend(placed.iter().enumerate().map(|(i, p)| (*group, i, p)));
    }
    all.sort_by(|a, b| (a.2.start, a.0, a.1).cmp(&(b.2.start, b.0, b.1)));
    let mut batches = Vec::with_capacity(all.len());
    let mut host_batch = HostBatches::new();
    for (number, (group, index, placed)) in all.into_iter().enumerate() {
        let hosts = &per_group[group];
        for h in &placed.hosts {
            host_batch
                .entry(group)
                .or_insert_with(|| vec![None; hosts.len()])[*h] = Some((number + 1, placed.end));
        }
        batches.push(Batch {
            number: number + 1,
            group: group.to_owned(),
            index_in_group: index + 1,
            kind: placed.kind,
            hosts: placed
                .hosts
                .iter()
                .map(|h| hosts[*h].host.id.clone())
                .collect(),
            window: placed.window.clone(),
            slot_start: placed.slot_start,
            slot_end: placed.slot_end,
            start: placed.start,
            end: placed.end,
            apply_seconds: placed.apply_seconds,
            rollback_seconds: placed.rollback_seconds,
            rollback_buffer_seconds: placed.rollback_buffer_seconds,
            usable_seconds: placed.usable_seconds,
            max_failures: (placed.kind == BatchKind::Canary).then(|| {
                policy.groups[group]
                    .rollout
                    .canary_max_failures
                    .of(placed.hosts.len())
            }),
            notes: placed.notes.clone(),
        });
    }
    (batches, host_batch)
}

/// The hosts no window slot could take, with the reason.
fn unscheduled(
    placed_by_group: &PlacedGroups<'_>,
    per_group: &BTreeMap<&str, Vec<Planned<'_>>>,
) -> Vec<Unscheduled> {
    let mut out = Vec::new();
    for (group, (_, not_placed)) in placed_by_group {
        let hosts = &per_group[group];
        for entry in not_placed {
            out.push(Unscheduled {
                group: (*group).to_owned(),
                hosts: entry
                    .hosts
                    .iter()
                    .map(|h| hosts[*h].host.id.clone())
                    .collect(),
                reason: entry.reason.clone(),
            });
        }
    }
    out
}

/// The staging gate of each production group with a staging counterpart: what its staging
/// runs have not shown yet (empty: passed).
fn staging_gates<'a>(
    input: &PlanInput,
    order: &[&'a GroupPolicy],
    per_group: &BTreeMap<&str, Vec<Planned<'_>>>,
) -> BTreeMap<&'a str, Vec<String>> {
    let mut gate_problems = BTreeMap::new();
    for group in order.iter().filter(|g| g.is_production()) {
        if let Some(counterpart) = &group.staging_counterpart {
            let versions: BTreeSet<(String, String)> = per_group[group.name.as_str()]
                .iter()
                .flat_map(|p| p.changes.iter().map(|c| (c.package.clone(), c.to.clone())))
                .collect();
            gate_problems.insert(
                group.name.as_str(),
                staging_gate(&group.name, counterpart, &versions, &input.staging),
            );
        }
    }
    gate_problems
}

/// Per group: the risk checklist, the group's plan and its owners' notifications.
struct Reviews {
    checklists: Vec<(String, Vec<crate::risk::RiskItem>)>,
    groups: Vec<GroupPlan>,
    notifications: Vec<Notification>,
    rollout_max_failures: usize,
}

fn review_groups(
    input: &PlanInput,
    policy: &Policy,
    now: Timestamp,
    order: &[&GroupPolicy],
    collected: &Collected<'_>,
    placed_by_group: &PlacedGroups<'_>,
    gate_problems: &BTreeMap<&str, Vec<String>>,
) -> Reviews {
    let no_problems: Vec<String> = Vec::new();
    let mut out = Reviews {
        checklists: Vec::new(),
        groups: Vec::new(),
        notifications: Vec::new(),
        rollout_max_failures: 0,
    };
    for group in order {
        let name = group.name.as_str();
        let hosts = &collected.per_group[name];
        let fleet_size = collected.fleet_sizes.get(name).copied().unwrap_or(0);
        let budget = batch::budget(&group.rollout, fleet_size.max(hosts.len()));
        let view = GroupView {
            group,
            fleet_size,
            budget,
            hosts: hosts
                .iter()
                .map(|p| HostView {
                    host: p.host,
                    changes: &p.changes,
                    estimate: p.estimate,
                    evidence: input.evidence_for(p.host),
                })
                .collect(),
            staging_problems: gate_problems.get(name).unwrap_or(&no_problems),
        };
        out.checklists
            .push((name.to_owned(), risk::group_checklist(&view, policy)));
        let (placed, _) = &placed_by_group[name];
        let canary_size = placed
            .iter()
            .filter(|p| p.kind == BatchKind::Canary)
            .map(|p| p.hosts.len())
            .sum::<usize>();
        let wave_hosts = hosts.len() - canary_size.min(hosts.len());
        let max_failures = group.rollout.max_failures.of(wave_hosts);
        out.rollout_max_failures += max_failures;
        let first_start = placed.iter().map(|p| p.start).min();
        let last_end = placed.iter().map(|p| p.end).max();
        out.notifications.extend(notices(
            group,
            first_start,
            last_end,
            policy,
            hosts.len(),
            now,
        ));
        out.groups.push(group_plan(
            group,
            policy,
            fleet_size,
            hosts.len(),
            budget,
            canary_size,
            max_failures,
            first_start,
            last_end,
        ));
    }
    out.notifications
        .sort_by(|a, b| (a.at, &a.group, a.kind).cmp(&(b.at, &b.group, b.kind)));
    out.groups.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Each host's plan (its batch, changes and rollback versions), sorted by id, and the facts
/// the summary counts (hosts without changes included).
fn host_plans<'a>(
    per_group: BTreeMap<&str, Vec<Planned<'a>>>,
    host_batch: &HostBatches<'_>,
    unchanged: &[&'a Host],
    in_scope: usize,
) -> (Vec<HostPlan>, Vec<HostFacts<'a>>) {
    let mut host_plans = Vec::with_capacity(in_scope);
    let mut facts: Vec<HostFacts<'a>> = unchanged
        .iter()
        .map(|host| HostFacts {
            findings: &host.findings,
            done_at: None,
            has_changes: false,
        })
        .collect();
    for (group, hosts) in per_group {
        let batch_of = host_batch.get(group);
        for (index, planned) in hosts.into_iter().enumerate() {
            let batch = batch_of.and_then(|numbers| numbers[index]);
            let host = planned.host;
            facts.push(HostFacts {
                findings: &host.findings,
                done_at: batch.map(|(_, end)| end),
                has_changes: true,
            });
            host_plans.push(HostPlan {
                id: host.id.clone(),
                hostname: host.hostname.clone(),
                group: host.group.clone(),
                batch: batch.map(|(number, _)| number),
                rollback_to: planned
                    .changes
                    .iter()
                    .filter_map(|c| c.from.as_ref().map(|from| format!("{}={from}", c.package)))
                    .collect(),
                changes: planned.changes,
                estimate: planned.estimate,
            });
        }
    }
    host_plans.sort_by(|a, b| a.id.cmp(&b.id));
    (host_plans, facts)
}

#[allow(clippy::too_many_arguments)]
fn group_plan(
    group: &GroupPolicy,
    policy: &Policy,
    fleet_size: usize,
    planned: usize,
    budget: usize,
    canary_size: usize,
    max_failures: usize,
    first_start: Option<Timestamp>,
    last_end: Option<Timestamp>,
) -> GroupPlan {
    let protection_required = group
        .rpo_seconds
        .is_some_and(|rpo| rpo < policy.protection_required_below_rpo_seconds);
    let mut protection_steps = vec![RECORD_VERSIONS_STEP.to_owned()];
    protection_steps.extend(group.protection.iter().map(|p| p.step_text().to_owned()));
    let snapshot = group.protection.contains(&Protection::Snapshot);
    GroupPlan {
        name: group.name.clone(),
        environment: group.environment.clone(),
        owners: group.owners.clone(),
        staging_counterpart: group.staging_counterpart.clone(),
        hosts_in_fleet: fleet_size,
        hosts_planned: planned,
        max_in_flight: budget,
        canary_size,
        anti_affinity: group.rollout.anti_affinity.clone(),
        rto_seconds: group.rto_seconds,
        rpo_seconds: group.rpo_seconds,
        protection_required,
        protection_steps,
        protection_providers: group.providers.clone(),
        health_checks: group
            .health_checks
            .iter()
            .filter_map(|name| {
                policy.health_checks.get(name).map(|check| HealthCheckRef {
                    name: name.clone(),
                    kind: check.kind,
                    target: check.target.clone(),
                    timeout_seconds: check.timeout_seconds,
                    options: check.options.clone(),
                })
            })
            .chain(core_service_check(group))
            .collect(),
        verification_seconds: group.rollout.verification_seconds,
        rollback_buffer_percent: group.rollout.rollback_buffer_percent,
        canary_max_failures: group.rollout.canary_max_failures.of(canary_size),
        max_failures,
        continue_after_failed_batch: group.rollout.continue_after_failed_batch,
        rollback_method: if snapshot {
            "apt-get install --allow-downgrades PKG=RECORDED_VERSION …; snapshot revert when the downgrade fails".into()
        } else {
            "apt-get install --allow-downgrades PKG=RECORDED_VERSION … (dnf downgrade on RPM hosts)"
                .into()
        },
        first_start,
        last_end,
    }
}

fn notices(
    group: &GroupPolicy,
    first_start: Option<Timestamp>,
    last_end: Option<Timestamp>,
    policy: &Policy,
    hosts: usize,
    now: Timestamp,
) -> Vec<Notification> {
    let (Some(start), Some(end)) = (first_start, last_end) else {
        return Vec::new();
    };
    let lead =
        SignedDuration::from_secs(i64::try_from(policy.notify_before_seconds).unwrap_or(i64::MAX));
    // Never in the past: a plan made at short notice notifies at once.
    let before = start.checked_sub(lead).unwrap_or(start).max(now.min(start));
    let make = |at, kind, subject: String| Notification {
        at,
        kind,
        group: group.name.clone(),
        to: group.owners.clone(),
        subject,
    };
    vec![
        make(
            before,
            NotificationKind::Before,
            format!(
                "{}: {hosts} host(s) will be patched from {start}",
                group.name
            ),
        ),
        make(
            start,
            NotificationKind::Start,
            format!("{}: patching started", group.name),
        ),
        make(
            end,
            NotificationKind::Done,
            format!("{}: patching window done, observation starts", group.name),
        ),
    ]
}

/// The named default check of a group with core services (`core-service-up`).
fn core_service_check(group: &crate::policy::GroupPolicy) -> Option<HealthCheckRef> {
    (!group.core_services.is_empty()).then(|| HealthCheckRef {
        name: crate::policy::CORE_SERVICE_CHECK.to_owned(),
        kind: crate::policy::HealthCheckKind::Services,
        target: group.core_services.join(" "),
        timeout_seconds: group.core_up_within_seconds,
        options: crate::policy::CheckOptions::default(),
    })
}
