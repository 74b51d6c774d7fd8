//! Building a plan from live data: the hosts (named, or a group of the fleet document), each
//! host's offered upgrades as its agent last reported them, its ranked findings (tier and
//! deadline of each change), the evidence its agent collected for exactly those targets (the
//! risk checklist and what the upgrade pulls in; missing evidence is requested from the agent),
//! the group's policy and window slots from the fleet document, and the staging results the
//! engine recorded. No file and no name taken on trust: everything is read from the store.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use pw_fleet::{FleetDocument, Resolution};
use pw_model::Finding;
use pw_planner::{Evidence, Host, Plan, PlanInput, Scope};
use pw_protocol::{CreatePlan, MAX_EVIDENCE_TARGETS, PackagePin, PlanReintroduced, UpdateSelector};
use pw_store::HostRow;
use serde::{Deserialize, Serialize};

use super::select::{self, Basis};
use crate::fleet::{current_document, facts};
use crate::{Controller, Refusal, evidence};

/// The default and largest planning horizon, in days.
const DEFAULT_HORIZON_DAYS: u32 = 14;
const MAX_HORIZON_DAYS: u32 = 90;
const MAX_NAME_CHARS: usize = 200;

/// What a live plan was built from (the `source` column): the request (for a refresh) and,
/// per host id, the changes with the live versions they were planned on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub request: CreatePlan,
    pub fleet_version: i64,
    pub basis: BTreeMap<String, Vec<Planned>>,
    /// `collect_evidence` commands sent for hosts that had no evidence for their targets.
    pub evidence_requested: Vec<String>,
    /// A downgrade plan's advisories brought back (docs/downgrade.md); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reintroduced: Vec<PlanReintroduced>,
}

/// One change with its live basis and the deadline of the findings it fixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    #[serde(flatten)]
    pub basis: Basis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

/// A plan built, ready to store.
pub struct Built {
    pub plan: Plan,
    pub markdown: String,
    pub source: Source,
}

/// Builds the plan `request` asks for, authored by `actor`, at the controller's `now`.
pub async fn build(
    controller: &Controller,
    actor: &str,
    request: &CreatePlan,
) -> Result<Built, Refusal> {
    let now = controller.now();
    let horizon = check_request(request)?;
    let store = &controller.store;
    let (stored, document) = current_document(store)
        .await?
        .ok_or(Refusal::FleetNotApplied)?;
    let hosts = store.hosts().await?;
    let staging = super::staging::runs(controller, &document, &hosts).await?;
    let selected = select_hosts(&document, hosts, request)?;
    let mut input = PlanInput {
        plan_id: request.name.clone(),
        author: actor.to_owned(),
        hosts: Vec::with_capacity(selected.len()),
        group_evidence: BTreeMap::new(),
        host_evidence: BTreeMap::new(),
        staging,
        slots: BTreeMap::new(),
        scope: Scope::default(),
        from: now,
        until: now + SignedDuration::from_hours(24 * i64::from(horizon)),
    };
    let mut source = Source {
        request: request.clone(),
        fleet_version: stored.version,
        basis: BTreeMap::new(),
        evidence_requested: Vec::new(),
        reintroduced: Vec::new(),
    };
    let mut intel = super::downgrade::Intel::default();
    let mut offers = store.all_pending_updates().await?;
    let mut offered = BTreeSet::new();
    let mut chosen = Vec::with_capacity(selected.len());
    for (host, group) in &selected {
        let picked = if let UpdateSelector::Downgrade { downgrade, .. } = &request.updates {
            let (picked, back) =
                super::downgrade::plan_host(store, &mut intel, host, downgrade, now).await?;
            source.reintroduced.extend(back);
            picked
        } else {
            let Some(pending) = offers.remove(&host.id) else {
                return Err(Refusal::NothingToPlan(format!(
                    "host {} ({}) has not reported the upgrades its package manager offers \
                     (its agent reads them with apt on Debian/Ubuntu); nothing can be planned \
                     for it",
                    host.hostname, host.id
                )));
            };
            select::chosen(&pending, &request.updates)
        };
        offered.extend(picked.iter().map(|b| b.package.clone()));
        chosen.push((host, group, picked));
    }
    check_offered(request, &offered, selected.len())?;
    let wanted: Vec<(String, Vec<PackagePin>)> = chosen
        .iter()
        .map(|(host, _, picked)| (host.id.clone(), select::pins(picked)))
        .filter(|(_, pins)| !pins.is_empty())
        .collect();
    let mut found = evidence::evidence_for_many(store, &wanted).await?;
    let ids: Vec<&str> = chosen.iter().map(|(host, _, _)| host.id.as_str()).collect();
    let mut ranked = store.findings_of(&ids).await?;
    for (host, group, picked) in chosen {
        let (planned, evidence) = with_evidence(picked, found.remove(&host.id))?;
        // A downgrade fixes nothing: what it brings back is `reintroduced`.
        let row = ranked
            .remove(&host.id)
            .filter(|_| !request.updates.is_downgrade());
        let findings = findings_of(host, row, &planned)?;
        input
            .hosts
            .push(planner_host(host, group, &planned, findings.0));
        if let Some(evidence) = evidence {
            input.host_evidence.insert(host.id.clone(), evidence);
        }
        let planned = with_deadlines(planned, &findings.1);
        source.basis.insert(host.id.clone(), planned);
    }
    // Ask the agents without evidence for exactly these targets for it (read-only
    // `collect_evidence`), in one transaction; `refresh` rebuilds the plan with it.
    let missing: Vec<(String, Vec<PackagePin>)> = wanted
        .into_iter()
        .filter(|(host, pins)| {
            !input.host_evidence.contains_key(host) && pins.len() <= MAX_EVIDENCE_TARGETS
        })
        .collect();
    let archive = request.updates.archive();
    for (host, command) in evidence::request_evidence_many(store, &missing, archive, actor).await? {
        controller.waiter(&host).notify_one();
        source.evidence_requested.push(command);
    }
    input.slots =
        pw_fleet::window_slots(&document.policy, input.from, input.until).map_err(|problems| {
            anyhow::anyhow!("fleet document version {}: {problems:?}", stored.version)
        })?;
    let mut plan = pw_planner::build_plan(&input, &document.policy, now);
    plan.gates.reintroduced = super::downgrade::gate(&source.reintroduced);
    let markdown = pw_planner::to_markdown(&plan);
    Ok(Built {
        plan,
        markdown,
        source,
    })
}

/// The request's own checks; returns the horizon in days.
fn check_request(request: &CreatePlan) -> Result<u32, Refusal> {
    let invalid = |m: String| Refusal::InvalidRequest(m);
    let name = request.name.trim();
    if name.is_empty() || request.name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "name: give 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if request.name.chars().any(char::is_control) {
        return Err(invalid("name: control characters are not allowed".into()));
    }
    match (request.hosts.is_empty(), &request.group) {
        (true, None) => return Err(invalid("give hosts (host names) or group".into())),
        (false, Some(_)) => return Err(invalid("give hosts or group, not both".into())),
        _ => {}
    }
    select::check_selector(&request.updates).map_err(invalid)?;
    if let Some(hooks) = &request.hooks {
        hooks
            .validate()
            .map_err(|problems| invalid(problems.join("; ")))?;
    }
    let horizon = request.horizon_days.unwrap_or(DEFAULT_HORIZON_DAYS);
    if !(1..=MAX_HORIZON_DAYS).contains(&horizon) {
        return Err(invalid(format!(
            "horizon_days: {horizon} is outside 1 to {MAX_HORIZON_DAYS}"
        )));
    }
    Ok(horizon)
}

/// The hosts the request names, each with its group; every unknown, ambiguous or ungrouped
/// host is refused by name.
fn select_hosts(
    document: &FleetDocument,
    hosts: Vec<HostRow>,
    request: &CreatePlan,
) -> Result<Vec<(HostRow, String)>, Refusal> {
    let invalid = |m: String| Refusal::InvalidRequest(m);
    if let Some(group) = &request.group {
        if !document.policy.groups.contains_key(group) {
            let known: Vec<&str> = document.policy.groups.keys().map(String::as_str).collect();
            return Err(invalid(format!(
                "group: {group:?} is not a group of the fleet document (groups: {})",
                known.join(", ")
            )));
        }
        let members: Vec<(HostRow, String)> = hosts
            .into_iter()
            .filter(|h| document.resolve(facts(h)).group() == Some(group.as_str()))
            .map(|h| (h, group.clone()))
            .collect();
        if members.is_empty() {
            return Err(Refusal::NothingToPlan(format!(
                "group {group:?} has no enrolled hosts (see GET /api/v1/groups)"
            )));
        }
        return Ok(members);
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, name) in request.hosts.iter().enumerate() {
        if !seen.insert(name.as_str()) {
            return Err(invalid(format!("hosts[{index}]: {name:?} is listed twice")));
        }
        let matching: Vec<&HostRow> = hosts.iter().filter(|h| h.hostname == *name).collect();
        let host = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(invalid(format!(
                    "hosts[{index}]: no enrolled host is named {name:?}"
                )));
            }
            several => {
                let ids: Vec<&str> = several.iter().map(|h| h.id.as_str()).collect();
                return Err(invalid(format!(
                    "hosts[{index}]: {} enrolled hosts are named {name:?} ({}); retire the \
                     stale ones first",
                    several.len(),
                    ids.join(", ")
                )));
            }
        };
        let group = match document.resolve(facts(&host)) {
            Resolution::Member { group, .. } => group,
            Resolution::Conflict { groups, .. } => {
                return Err(invalid(format!(
                    "hosts[{index}]: {name:?} matches several groups ({}); fix the fleet \
                     document's members",
                    groups.join(", ")
                )));
            }
            Resolution::Ungrouped => {
                return Err(invalid(format!(
                    "hosts[{index}]: {name:?} is in no group of the fleet document"
                )));
            }
        };
        out.push((host, group));
    }
    Ok(out)
}

/// Adds what the chosen upgrades pull in, from the evidence the agent collected for exactly
/// these targets (when it did).
fn with_evidence(
    mut chosen: Vec<Basis>,
    found: Option<evidence::LatestEvidence>,
) -> Result<(Vec<Basis>, Option<Evidence>), Refusal> {
    let Some(found) = found else {
        return Ok((chosen, None));
    };
    let input = found.planner_input()?;
    if let Some(simulation) = &input.simulation {
        let extra = select::pulled_in(&chosen, simulation);
        chosen.extend(extra);
    }
    Ok((chosen, Some(input)))
}

/// The host's ranked findings for the planned packages (the planner attaches them to the
/// changes), and the earliest deadline per package.
fn findings_of(
    host: &HostRow,
    row: Option<pw_store::FindingsRow>,
    planned: &[Basis],
) -> Result<(Vec<Finding>, BTreeMap<String, Timestamp>), Refusal> {
    let Some(row) = row else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let all: Vec<Finding> = serde_json::from_str(&row.findings)
        .map_err(|e| anyhow::anyhow!("stored findings of host {} do not read: {e}", host.id))?;
    let packages: BTreeSet<&str> = planned.iter().map(|b| b.package.as_str()).collect();
    let findings: Vec<Finding> = all
        .into_iter()
        .filter(|f| packages.contains(f.binary.as_str()))
        .collect();
    let mut deadlines: BTreeMap<String, Timestamp> = BTreeMap::new();
    for finding in &findings {
        if let Some(deadline) = finding.deadline {
            deadlines
                .entry(finding.binary.clone())
                .and_modify(|d| *d = (*d).min(deadline))
                .or_insert(deadline);
        }
    }
    Ok((findings, deadlines))
}

fn planner_host(host: &HostRow, group: &str, planned: &[Basis], findings: Vec<Finding>) -> Host {
    Host {
        id: host.id.clone(),
        hostname: host.hostname.clone(),
        group: group.to_owned(),
        environment: None,
        labels: host.labels.clone(),
        os: host.os.clone().unwrap_or_default(),
        findings,
        targets: planned
            .iter()
            .map(|b| (b.package.clone(), b.to.clone()))
            .collect(),
        installed: planned
            .iter()
            .filter_map(|b| Some((b.package.clone(), b.from.clone()?)))
            .collect(),
    }
}

fn with_deadlines(planned: Vec<Basis>, deadlines: &BTreeMap<String, Timestamp>) -> Vec<Planned> {
    planned
        .into_iter()
        .map(|basis| Planned {
            deadline: deadlines.get(&basis.package).copied(),
            basis,
        })
        .collect()
}

/// A plan must change something; named packages must be offered somewhere.
fn check_offered(
    request: &CreatePlan,
    offered: &BTreeSet<String>,
    hosts: usize,
) -> Result<(), Refusal> {
    if let pw_protocol::UpdateSelector::Packages { packages } = &request.updates {
        for (index, name) in packages.iter().enumerate() {
            if !offered.contains(name) {
                return Err(Refusal::NothingToPlan(format!(
                    "updates.packages[{index}]: no upgrade of {name:?} is offered on any of the \
                     {hosts} host(s)"
                )));
            }
        }
    }
    if offered.is_empty() {
        return Err(Refusal::NothingToPlan(format!(
            "none of the {hosts} host(s) has a pending upgrade matching updates; nothing to plan"
        )));
    }
    Ok(())
}
