//! Compliance and risk reports (issue 11 item 6, docs/reports.md): the stored facts — hosts,
//! their groups under the current fleet document, current findings with their open episodes,
//! closed episodes, accepted risks — read once and handed to pw-report's pure builders with the
//! controller's `now`. Rendering (JSON, CSV, HTML, PDF) is the edge's.

use std::collections::HashMap;

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_report::{
    ComplianceReport, CurrentFinding, FixedEpisode, GroupFacts, HostFacts, ReportFacts,
    ReportScope, RiskReport,
};
use pw_store::{HistoryRow, Store};

use crate::Refusal;

/// Checks the request's scope: the group name against the fleet document happens in the
/// builder; `period` (`90d`, 1 h to 730 d) and `top` (1 to 100) here.
pub fn scope(
    group: Option<String>,
    now: Timestamp,
    period: Option<&str>,
    top: Option<usize>,
) -> Result<ReportScope, Refusal> {
    ReportScope::new(group, now, period, top).map_err(|e| Refusal::InvalidRequest(e.to_string()))
}

/// The compliance report of `scope`.
pub async fn compliance(store: &Store, scope: &ReportScope) -> Result<ComplianceReport, Refusal> {
    let facts = facts(store).await?;
    pw_report::compliance_report(&facts, scope).map_err(|e| Refusal::InvalidRequest(e.to_string()))
}

/// The risk summary of `scope`.
pub async fn risk(store: &Store, scope: &ReportScope) -> Result<RiskReport, Refusal> {
    let facts = facts(store).await?;
    pw_report::risk_report(&facts, scope).map_err(|e| Refusal::InvalidRequest(e.to_string()))
}

/// Everything a report reads, from the store.
pub async fn facts(store: &Store) -> Result<ReportFacts, Refusal> {
    let groups = crate::fleet::groups(store).await?;
    let mut group_of: HashMap<String, String> = HashMap::new();
    for group in &groups.groups {
        for member in &group.members {
            group_of.insert(member.host_id.clone(), group.name.clone());
        }
    }
    let mut first_seen: HashMap<(String, String, String), Timestamp> = store
        .open_episodes(None)
        .await?
        .into_iter()
        .map(|e| ((e.host_id, e.binary, e.advisory), e.first_seen))
        .collect();
    let mut stored: HashMap<String, (Timestamp, Vec<Finding>)> = HashMap::new();
    for row in store.all_findings().await? {
        let findings: Vec<Finding> = serde_json::from_str(&row.findings).map_err(|e| {
            anyhow::anyhow!(
                "stored findings of host {} are unreadable: {e}",
                row.host_id
            )
        })?;
        stored.insert(row.host_id, (row.computed_at, findings));
    }
    let mut fixed: HashMap<String, Vec<FixedEpisode>> = HashMap::new();
    for row in store.fixed_episodes().await? {
        let host_id = row.host_id.clone();
        if let Some(episode) = fixed_episode(row)? {
            fixed.entry(host_id).or_default().push(episode);
        }
    }
    let mut hosts = Vec::new();
    for host in store.hosts().await? {
        let (computed_at, findings) = match stored.remove(&host.id) {
            Some((at, findings)) => (Some(at), findings),
            None => (None, Vec::new()),
        };
        let findings = findings
            .into_iter()
            .map(|finding| {
                let key = (
                    host.id.clone(),
                    finding.binary.clone(),
                    finding.advisory.clone(),
                );
                CurrentFinding {
                    first_seen: first_seen.remove(&key),
                    finding,
                }
            })
            .collect();
        hosts.push(HostFacts {
            group: group_of.get(&host.id).cloned(),
            fixed: fixed.remove(&host.id).unwrap_or_default(),
            host_id: host.id,
            hostname: host.hostname,
            computed_at,
            findings,
        });
    }
    Ok(ReportFacts {
        hosts,
        risks: store.accepted_risks().await?,
        groups: groups
            .groups
            .into_iter()
            .map(|g| GroupFacts {
                name: g.name,
                environment: g.environment,
                owners: g.owners,
            })
            .collect(),
        fleet_version: groups.fleet_version,
    })
}

fn fixed_episode(row: HistoryRow) -> anyhow::Result<Option<FixedEpisode>> {
    let Some(fixed_at) = row.fixed_at else {
        return Ok(None);
    };
    let tier = Tier::ALL
        .get(usize::from(row.tier))
        .copied()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "stored finding {} {} of host {} has tier {} (0 to 4)",
                row.binary,
                row.advisory,
                row.host_id,
                row.tier
            )
        })?;
    Ok(Some(FixedEpisode {
        binary: row.binary,
        advisory: row.advisory,
        tier,
        deadline: row.deadline,
        first_seen: row.first_seen,
        fixed_at,
        fixed_by: row.fixed_by,
    }))
}
