//! Compliance history (issue 9 item 7, DESIGN.md §9 items 9 and 11), a use-case of the controller
//! called by the API, /metrics and the console alike: findings listed with their
//! lifecycle (first seen, fixed at, accepted risk, overdue), counts per tier for the API and
//! /metrics, and accepting or revoking a risk (approver role, audited with the operator's name).
//!
//! Status is derived on every read from stored facts and the controller's clock
//! ([`pw_model::finding_status`]): a deadline passes and an acceptance expires without any write.
//! Open and overdue findings are "the open list"; accepted ones are listed apart, each with the
//! acceptance that hides it; fixed ones only in a host's history.

use std::collections::HashMap;

use jiff::Timestamp;
use pw_model::{
    Finding, FindingStatus, PackageName, TierTally, acceptance_covers, check_acceptance,
    finding_status,
};
use pw_protocol::{
    AcceptRisk, Acceptance, AcceptanceState, AcceptedRiskList, AcceptedRiskView, FindingState,
    FleetFinding, HostFinding, HostTally,
};
use pw_store::{AcceptedRiskRow, FindingsRow, NewAcceptedRisk, OpenEpisode, RevokeOutcome, Store};

use crate::Refusal;

/// One host's findings at the controller's `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCompliance {
    /// The stored computation (`None`: findings never computed for the host).
    pub computed: Option<(String, Timestamp)>,
    /// Open and overdue findings, most urgent first.
    pub findings: Vec<HostFinding>,
    pub accepted: Vec<HostFinding>,
    pub summary: TierTally,
    /// Fixed episodes, latest fix first, when asked for.
    pub fixed: Option<Vec<HostFinding>>,
}

/// Every host's findings at the controller's `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetCompliance {
    /// Open and overdue findings, most urgent first (tier, deadline, package, advisory, host).
    pub findings: Vec<FleetFinding>,
    pub accepted: Vec<FleetFinding>,
    pub summary: TierTally,
    pub hosts: Vec<HostTally>,
}

/// One host's findings with their state; `include_history` adds the fixed episodes.
pub async fn host(
    store: &Store,
    host_id: &str,
    include_history: bool,
    now: Timestamp,
) -> Result<HostCompliance, Refusal> {
    let stored = store.findings(host_id).await?;
    let episodes = episodes_by_key(store.open_episodes(Some(host_id)).await?);
    let risks = store.accepted_risks().await?;
    let (computed, assessed) = match stored {
        Some(row) => {
            let assessed = assess(&row, &episodes, &risks, now)?;
            (Some((row.source, row.computed_at)), assessed)
        }
        None => (None, Assessed::default()),
    };
    let fixed = match include_history {
        true => Some(fixed_episodes(store, host_id).await?),
        false => None,
    };
    Ok(HostCompliance {
        computed,
        findings: assessed.open,
        accepted: assessed.accepted,
        summary: assessed.tally,
        fixed,
    })
}

/// Every host's findings with their state, and the counts per tier and per host.
pub async fn fleet(store: &Store, now: Timestamp) -> Result<FleetCompliance, Refusal> {
    let episodes = episodes_by_key(store.open_episodes(None).await?);
    let risks = store.accepted_risks().await?;
    let mut fleet = FleetCompliance {
        findings: Vec::new(),
        accepted: Vec::new(),
        summary: TierTally::default(),
        hosts: Vec::new(),
    };
    for row in store.all_findings().await? {
        let assessed = assess(&row, &episodes, &risks, now)?;
        let listed = |found: HostFinding| FleetFinding {
            host_id: row.host_id.clone(),
            hostname: row.hostname.clone(),
            finding: found.finding,
            state: found.state,
        };
        fleet.findings.extend(assessed.open.into_iter().map(listed));
        fleet
            .accepted
            .extend(assessed.accepted.into_iter().map(listed));
        fleet.summary.merge(&assessed.tally);
        fleet.hosts.push(HostTally {
            host_id: row.host_id.clone(),
            hostname: row.hostname.clone(),
            counts: assessed.tally,
        });
    }
    fleet.findings.sort_by(fleet_order);
    fleet.accepted.sort_by(fleet_order);
    fleet
        .hosts
        .sort_by(|a, b| (&a.hostname, &a.host_id).cmp(&(&b.hostname, &b.host_id)));
    Ok(fleet)
}

/// The fleet-wide counts per tier alone (the /metrics gauges), equal to [`fleet`]'s `summary`
/// but without reading every host's findings: the open and overdue counts are one aggregate over
/// the open episodes, then only the findings naming an advisory of an acceptance in force are
/// read, and those it covers (by the one rule, `acceptance_covers`) move to `accepted`. At
/// 1,000 hosts the old way (parse every host's list) took most of a second per scrape.
pub async fn tally(store: &Store, now: Timestamp) -> Result<TierTally, Refusal> {
    let mut tally = TierTally::default();
    for (tier, (open, overdue)) in store.open_tier_counts(now).await?.into_iter().enumerate() {
        tally.open[tier] = open as usize;
        tally.overdue[tier] = overdue as usize;
    }
    let mut covered: HashMap<(String, String, String), Finding> = HashMap::new();
    for risk in store.accepted_risks_in_force(now).await? {
        for row in store
            .open_findings_naming(&risk.advisory, risk.host_id.as_deref())
            .await?
        {
            let finding: Finding = serde_json::from_str(&row.finding)
                .map_err(|e| anyhow::anyhow!("stored finding of host {}: {e}", row.host_id))?;
            if acceptance_covers(&risk.advisory, risk.package.as_deref(), &finding) {
                covered.insert((row.host_id, row.binary, row.advisory), finding);
            }
        }
    }
    for finding in covered.values() {
        let i = finding.tier.index();
        tally.open[i] = tally.open[i].saturating_sub(1);
        if finding.deadline.is_some_and(|deadline| deadline < now) {
            tally.overdue[i] = tally.overdue[i].saturating_sub(1);
        }
        tally.accepted[i] += 1;
    }
    Ok(tally)
}

/// Accepts a risk for the authenticated approver `actor`: checked (advisory id, package name,
/// reason, expiry within 365 days, one scope), stored and audited in one transaction — one
/// acceptance, or one per member host of a group.
pub async fn accept(
    store: &Store,
    actor: &str,
    request: &AcceptRisk,
    now: Timestamp,
) -> Result<AcceptedRiskList, Refusal> {
    check_acceptance(&request.advisory, &request.reason, request.expires, now)
        .map_err(|e| Refusal::InvalidRequest(e.to_string()))?;
    if let Some(package) = &request.package {
        PackageName::validate(package)
            .map_err(|e| Refusal::InvalidRequest(format!("package: {e}")))?;
    }
    let hosts: Vec<Option<String>> = match (&request.host, &request.group, request.all_hosts) {
        (Some(host), None, false) => vec![Some(resolve_host(store, host).await?)],
        (None, Some(group), false) => group_members(store, group)
            .await?
            .into_iter()
            .map(Some)
            .collect(),
        (None, None, true) => vec![None],
        (None, None, false) => {
            return Err(Refusal::InvalidRequest(
                "host: required (a host id or hostname), or give group, or set all_hosts to true"
                    .into(),
            ));
        }
        _ => {
            return Err(Refusal::InvalidRequest(
                "host, group and all_hosts: give exactly one of them".into(),
            ));
        }
    };
    let ids: Vec<String> = hosts
        .iter()
        .map(|_| format!("risk-{}", uuid::Uuid::now_v7()))
        .collect();
    let risks: Vec<NewAcceptedRisk> = ids
        .iter()
        .zip(&hosts)
        .map(|(id, host_id)| NewAcceptedRisk {
            id,
            host_id: host_id.as_deref(),
            advisory: &request.advisory,
            package: request.package.as_deref(),
            reason: request.reason.trim(),
            accepted_by: actor,
            accepted_at: now,
            expires_at: request.expires,
        })
        .collect();
    store.accept_risks(&risks).await?;
    tracing::info!(advisory = %request.advisory, operator = %actor, acceptances = ids.len(), "risk accepted");
    let snapshots = parsed_snapshots(store).await?;
    let mut accepted_risks = Vec::new();
    for id in &ids {
        let row = store
            .accepted_risk(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("accepted risk {id} vanished after it was stored"))?;
        accepted_risks.push(risk_view(&row, &snapshots, now));
    }
    Ok(AcceptedRiskList { accepted_risks })
}

/// Every accepted risk ever stored (in force, expired, revoked), newest first.
pub async fn risks(store: &Store, now: Timestamp) -> Result<AcceptedRiskList, Refusal> {
    let rows = store.accepted_risks().await?;
    let snapshots = parsed_snapshots(store).await?;
    let accepted_risks = rows
        .iter()
        .map(|row| risk_view(row, &snapshots, now))
        .collect();
    Ok(AcceptedRiskList { accepted_risks })
}

/// Revokes an accepted risk for `actor` (audited; the record stays, with who revoked it).
pub async fn revoke(
    store: &Store,
    actor: &str,
    id: &str,
    now: Timestamp,
) -> Result<AcceptedRiskView, Refusal> {
    match store.revoke_accepted_risk(id, actor, now).await? {
        RevokeOutcome::Revoked => {
            tracing::info!(risk = %id, operator = %actor, "accepted risk revoked");
            load_risk(store, id, now).await
        }
        RevokeOutcome::NotFound => Err(Refusal::AcceptedRiskNotFound(id.to_owned())),
        RevokeOutcome::AlreadyRevoked { by } => Err(Refusal::AcceptedRiskRevoked(format!(
            "accepted risk {id} was already revoked by {by}"
        ))),
    }
}

/// A host's findings split by status at `now`.
#[derive(Debug, Default)]
struct Assessed {
    open: Vec<HostFinding>,
    accepted: Vec<HostFinding>,
    tally: TierTally,
}

/// Open episodes by (host, binary, advisory): episode number and first sight.
type Episodes = HashMap<(String, String, String), (u32, Timestamp)>;

fn episodes_by_key(open: Vec<OpenEpisode>) -> Episodes {
    open.into_iter()
        .map(|e| ((e.host_id, e.binary, e.advisory), (e.episode, e.first_seen)))
        .collect()
}

/// The stored findings of one host with their state at `now`, in stored (ranked) order.
fn assess(
    row: &FindingsRow,
    episodes: &Episodes,
    risks: &[AcceptedRiskRow],
    now: Timestamp,
) -> Result<Assessed, Refusal> {
    let in_force: Vec<&AcceptedRiskRow> = risks
        .iter()
        .filter(|r| r.in_force(now) && r.applies_to_host(&row.host_id))
        .collect();
    let mut assessed = Assessed::default();
    for finding in parse_findings(&row.findings)? {
        let acceptance = in_force
            .iter()
            .filter(|r| acceptance_covers(&r.advisory, r.package.as_deref(), &finding))
            .max_by_key(|r| r.expires_at);
        let status = finding_status(&finding, false, acceptance.map(|r| r.expires_at), now);
        let key = (
            row.host_id.clone(),
            finding.binary.clone(),
            finding.advisory.clone(),
        );
        let episode = episodes.get(&key);
        assessed.tally.add(finding.tier, status);
        let state = FindingState {
            status,
            first_seen: episode.map(|e| e.1),
            fixed_at: None,
            fixed_by: None,
            episode: episode.map(|e| e.0),
            accepted: acceptance
                .filter(|_| status == FindingStatus::Accepted)
                .map(|r| Acceptance {
                    id: r.id.clone(),
                    by: r.accepted_by.clone(),
                    reason: r.reason.clone(),
                    expires: r.expires_at,
                }),
        };
        let listed = HostFinding { finding, state };
        match status {
            FindingStatus::Accepted => assessed.accepted.push(listed),
            _ => assessed.open.push(listed),
        }
    }
    Ok(assessed)
}

/// The fixed episodes of a host, latest fix first.
async fn fixed_episodes(store: &Store, host_id: &str) -> Result<Vec<HostFinding>, Refusal> {
    let mut fixed = Vec::new();
    for row in store.finding_history(host_id).await? {
        let Some(fixed_at) = row.fixed_at else {
            continue;
        };
        let finding: Finding = serde_json::from_str(&row.finding).map_err(|e| {
            anyhow::anyhow!(
                "stored finding {} {} of host {host_id} is unreadable: {e}",
                row.binary,
                row.advisory
            )
        })?;
        let state = FindingState {
            status: FindingStatus::Fixed,
            first_seen: Some(row.first_seen),
            fixed_at: Some(fixed_at),
            fixed_by: row.fixed_by,
            episode: Some(row.episode),
            accepted: None,
        };
        fixed.push(HostFinding { finding, state });
    }
    Ok(fixed)
}

/// Most urgent first: tier, deadline (none last), package, advisory, host.
fn fleet_order(a: &FleetFinding, b: &FleetFinding) -> std::cmp::Ordering {
    let (x, y) = (&a.finding, &b.finding);
    x.tier
        .cmp(&y.tier)
        .then_with(|| match (x.deadline, y.deadline) {
            (Some(p), Some(q)) => p.cmp(&q),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| x.binary.cmp(&y.binary))
        .then_with(|| x.advisory.cmp(&y.advisory))
        .then_with(|| a.hostname.cmp(&b.hostname))
}

/// The member hosts of a group of the fleet document, now.
async fn group_members(store: &Store, group: &str) -> Result<Vec<String>, Refusal> {
    let groups = crate::fleet::groups(store).await?;
    let Some(found) = groups.groups.iter().find(|g| g.name == group) else {
        let known: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
        return Err(Refusal::InvalidRequest(format!(
            "group: unknown group {group:?} (the fleet document has: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    };
    if found.members.is_empty() {
        return Err(Refusal::InvalidRequest(format!(
            "group: {group:?} has no member hosts; nothing to accept"
        )));
    }
    Ok(found.members.iter().map(|m| m.host_id.clone()).collect())
}

/// A host id, or a hostname naming exactly one host.
async fn resolve_host(store: &Store, host: &str) -> Result<String, Refusal> {
    if store.host(host).await?.is_some() {
        return Ok(host.to_owned());
    }
    let named: Vec<String> = store
        .hosts()
        .await?
        .into_iter()
        .filter(|h| h.hostname == host)
        .map(|h| h.id)
        .collect();
    match named.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(Refusal::HostNotFound(host.to_owned())),
        several => Err(Refusal::InvalidRequest(format!(
            "host: hostname {host:?} names {} hosts; give the host id",
            several.len()
        ))),
    }
}

async fn load_risk(store: &Store, id: &str, now: Timestamp) -> Result<AcceptedRiskView, Refusal> {
    let row = store
        .accepted_risk(id)
        .await?
        .ok_or_else(|| Refusal::AcceptedRiskNotFound(id.to_owned()))?;
    let snapshots = parsed_snapshots(store).await?;
    Ok(risk_view(&row, &snapshots, now))
}

/// Every host's current findings, parsed: (host id, findings).
async fn parsed_snapshots(store: &Store) -> Result<Vec<(String, Vec<Finding>)>, Refusal> {
    store
        .all_findings()
        .await?
        .into_iter()
        .map(|row| Ok((row.host_id, parse_findings(&row.findings)?)))
        .collect()
}

fn risk_view(
    row: &AcceptedRiskRow,
    snapshots: &[(String, Vec<Finding>)],
    now: Timestamp,
) -> AcceptedRiskView {
    let state = if row.revoked_at.is_some() {
        AcceptanceState::Revoked
    } else if row.in_force(now) {
        AcceptanceState::InForce
    } else {
        AcceptanceState::Expired
    };
    let findings_covered = match state {
        AcceptanceState::InForce => snapshots
            .iter()
            .filter(|(host_id, _)| row.applies_to_host(host_id))
            .flat_map(|(_, findings)| findings)
            .filter(|f| acceptance_covers(&row.advisory, row.package.as_deref(), f))
            .count(),
        _ => 0,
    };
    AcceptedRiskView {
        id: row.id.clone(),
        host_id: row.host_id.clone(),
        hostname: row.hostname.clone(),
        advisory: row.advisory.clone(),
        package: row.package.clone(),
        reason: row.reason.clone(),
        accepted_by: row.accepted_by.clone(),
        accepted_at: row.accepted_at,
        expires: row.expires_at,
        state,
        revoked_at: row.revoked_at,
        revoked_by: row.revoked_by.clone(),
        findings_covered,
    }
}

/// Stored findings JSON back into findings.
pub fn parse_findings(json: &str) -> Result<Vec<Finding>, Refusal> {
    serde_json::from_str(json)
        .map_err(|e| Refusal::Internal(anyhow::anyhow!("stored findings are unreadable: {e}")))
}
