//! A stored plan as the API shows it: the planner's plan with each change's live basis (why it
//! is there, its suite and deadline), the per-host diff, window slots with their capacity, the
//! rollback plan, the history, and whether the live versions still match (stale).

use std::collections::BTreeMap;

use pw_planner::Plan;
use pw_planner::schedule::capacity;
use pw_protocol::{
    PlanChange, PlanHistoryEntry, PlanHost, PlanRollback, PlanSlot, PlanSummary, PlanView,
};
use pw_store::{PlanListing, StoredPlan};

use super::build::{Planned, Source};
use super::select;
use crate::{Controller, Refusal};

/// The most window slots listed per group.
const MAX_SLOTS_PER_GROUP: usize = 20;

/// The stored plan's planner content and, for a live plan, its source.
pub fn parts(stored: &StoredPlan) -> Result<(Plan, Option<Source>), Refusal> {
    let plan: Plan = serde_json::from_value(stored.plan.clone())
        .map_err(|e| anyhow::anyhow!("plan {}: the stored plan does not read: {e}", stored.id))?;
    Ok((plan, source(stored)?))
}

/// What a live plan was built from, without reading the plan itself (`None`: an offline plan).
pub fn source(stored: &StoredPlan) -> Result<Option<Source>, Refusal> {
    let source = stored
        .source
        .as_deref()
        .map(serde_json::from_str::<Source>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("plan {}: its stored source does not read: {e}", stored.id))?;
    Ok(source)
}

/// Why the live versions no longer match a live plan (empty: they do, or the plan is not live).
pub async fn staleness(controller: &Controller, source: &Source) -> Result<Vec<String>, Refusal> {
    let store = &controller.store;
    let hosts: BTreeMap<String, String> = store
        .hosts()
        .await?
        .into_iter()
        .map(|h| (h.id, h.hostname))
        .collect();
    let mut offers = store.all_pending_updates().await?;
    let mut out = Vec::new();
    for (host_id, planned) in &source.basis {
        let Some(hostname) = hosts.get(host_id) else {
            out.push(format!("host {host_id} is no longer enrolled"));
            continue;
        };
        let basis: Vec<select::Basis> = planned.iter().map(|p| p.basis.clone()).collect();
        if source.request.updates.is_downgrade() {
            // A downgrade is planned on the installed versions, not on offers.
            let packages = match store.inventory(host_id).await? {
                Some(row) => row.packages,
                None => Vec::new(),
            };
            out.extend(super::downgrade::drift(hostname, &basis, &packages));
            continue;
        }
        let pending = offers.remove(host_id).unwrap_or_default();
        out.extend(select::drift(hostname, &basis, &pending));
    }
    Ok(out)
}

/// The full view; `stale` is computed by the caller for the states where it matters.
pub async fn view(
    controller: &Controller,
    stored: StoredPlan,
    stale: Vec<String>,
) -> Result<PlanView, Refusal> {
    let (plan, source) = parts(&stored)?;
    let history = controller
        .store
        .plan_events(stored.id)
        .await
        .map_err(Refusal::from_store)?
        .into_iter()
        .map(|e| PlanHistoryEntry {
            at: e.at,
            actor: e.actor,
            event: e.event,
            to_state: e.to_state,
            version: e.version,
            comment: e.comment,
        })
        .collect();
    let rollout = controller.store.rollout_of_plan(stored.id).await?;
    let mut evidence_at = BTreeMap::new();
    if let Some(source) = &source {
        let wanted: Vec<_> = source
            .basis
            .iter()
            .map(|(host_id, planned)| {
                let basis: Vec<select::Basis> = planned.iter().map(|p| p.basis.clone()).collect();
                (host_id.clone(), select::pins(&basis))
            })
            .filter(|(_, pins)| !pins.is_empty())
            .collect();
        let found = crate::evidence::evidence_for_many(&controller.store, &wanted).await?;
        evidence_at.extend(found.into_iter().map(|(h, e)| (h, e.collected_at)));
    }
    let to_value = |v: serde_json::Result<serde_json::Value>| v.map_err(anyhow::Error::from);
    Ok(PlanView {
        id: stored.id,
        name: stored.name,
        kind: kind(source.as_ref()).to_owned(),
        state: stored.approval.name().to_owned(),
        version: stored.version,
        author: stored.author,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        approval: to_value(serde_json::to_value(&stored.approval))?,
        live: source.is_some(),
        stale,
        production: stored.production,
        environments: stored.environments,
        gates: to_value(serde_json::to_value(&stored.gates))?,
        hosts: hosts(&plan, source.as_ref(), &evidence_at),
        slots: slots(&plan),
        batches: to_value(serde_json::to_value(&plan.batches))?,
        groups: to_value(serde_json::to_value(&plan.groups))?,
        unscheduled: to_value(serde_json::to_value(&plan.unscheduled))?,
        risks: to_value(serde_json::to_value(&plan.risks))?,
        summary: to_value(serde_json::to_value(&plan.summary))?,
        failure_policy: to_value(serde_json::to_value(&plan.failure_policy))?,
        rollback: plan
            .hosts
            .iter()
            .map(|h| PlanRollback {
                host: h.id.clone(),
                hostname: h.hostname.clone(),
                versions: h.rollback_to.clone(),
            })
            .collect(),
        problems: plan.problems.clone(),
        reintroduced: source
            .as_ref()
            .map(|s| s.reintroduced.clone())
            .unwrap_or_default(),
        archive: source
            .as_ref()
            .and_then(|s| s.request.updates.archive().map(str::to_owned)),
        evidence_requested: source
            .as_ref()
            .map(|s| s.evidence_requested.clone())
            .unwrap_or_default(),
        hooks: source.as_ref().and_then(|s| s.request.hooks.clone()),
        rollout,
        history,
    })
}

/// `downgrade` for a downgrade plan, else `update`.
pub fn kind(source: Option<&Source>) -> &'static str {
    if source.is_some_and(|s| s.request.updates.is_downgrade()) {
        "downgrade"
    } else {
        "update"
    }
}

/// One line of the list.
pub fn summary(listing: PlanListing) -> PlanSummary {
    PlanSummary {
        id: listing.id,
        name: listing.name,
        author: listing.author,
        state: listing.state,
        version: listing.version,
        environments: listing.environments,
        created_at: listing.created_at,
        updated_at: listing.updated_at,
    }
}

fn hosts(
    plan: &Plan,
    source: Option<&Source>,
    evidence_at: &BTreeMap<String, jiff::Timestamp>,
) -> Vec<PlanHost> {
    let environment: BTreeMap<&str, &str> = plan
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.environment.as_str()))
        .collect();
    plan.hosts
        .iter()
        .map(|host| {
            let basis: BTreeMap<&str, &Planned> = source
                .and_then(|s| s.basis.get(&host.id))
                .map(|planned| {
                    planned
                        .iter()
                        .map(|p| (p.basis.package.as_str(), p))
                        .collect()
                })
                .unwrap_or_default();
            let changes: Vec<PlanChange> = host
                .changes
                .iter()
                .map(|change| {
                    let planned = basis.get(change.package.as_str());
                    PlanChange {
                        package: change.package.clone(),
                        from: change.from.clone(),
                        to: change.to.clone(),
                        reason: planned
                            .map_or("requested", |p| p.basis.reason.as_str())
                            .to_owned(),
                        suite: planned.and_then(|p| p.basis.suite.clone()),
                        tier: change.tier.map(|t| t.to_string()),
                        deadline: planned.and_then(|p| p.deadline),
                        advisories: change.advisories.clone(),
                        reboot: change.reboot,
                        restarts: change.restarts.clone(),
                    }
                })
                .collect();
            let diff = changes
                .iter()
                .flat_map(|c| {
                    let old = c
                        .from
                        .as_ref()
                        .map(|from| format!("- {} {from}", c.package));
                    old.into_iter().chain([format!("+ {} {}", c.package, c.to)])
                })
                .collect();
            PlanHost {
                id: host.id.clone(),
                hostname: host.hostname.clone(),
                group: host.group.clone(),
                environment: environment
                    .get(host.group.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                batch: host.batch,
                changes,
                diff,
                evidence_collected_at: evidence_at.get(&host.id).copied(),
            }
        })
        .collect()
}

/// The window slots the plan's batches are placed in, per group, each with its capacity under
/// the group's verification time and rollback buffer (the seeds' ≥ 30 %).
fn slots(plan: &Plan) -> Vec<PlanSlot> {
    let mut out: Vec<PlanSlot> = Vec::new();
    for batch in &plan.batches {
        let group = plan.groups.iter().find(|g| g.name == batch.group);
        if let Some(slot) = out.iter_mut().find(|s| {
            s.group == batch.group && s.start == batch.slot_start && s.end == batch.slot_end
        }) {
            slot.batches.push(batch.number);
            continue;
        }
        if out.iter().filter(|s| s.group == batch.group).count() >= MAX_SLOTS_PER_GROUP {
            continue;
        }
        let window = pw_planner::WindowSlot {
            start: batch.slot_start,
            end: batch.slot_end,
            window: batch.window.clone(),
        };
        let (verification, buffer) = group.map_or((0, 30.0), |g| {
            (g.verification_seconds, g.rollback_buffer_percent)
        });
        let capacity = capacity(&window, verification, buffer);
        out.push(PlanSlot {
            group: batch.group.clone(),
            window: batch.window.clone(),
            start: batch.slot_start,
            end: batch.slot_end,
            usable_seconds: capacity.usable_seconds,
            rollback_buffer_seconds: capacity.rollback_buffer_seconds,
            batches: vec![batch.number],
        });
    }
    out
}
