//! The compliance report (DESIGN.md §7, issue 11 item 6): per group and per host, the patch
//! state against deadlines — open and overdue findings per tier, the oldest overdue one —, time
//! to remediate (first seen → fixed at) over the period, the accepted risks with approver,
//! reason and expiry, and the GB/T 22239-2019 controls this evidence speaks to.
//!
//! Quirks kept on purpose:
//! - Statuses come from the facts and `now` exactly as the API's findings lists derive them, so
//!   the report's counts equal `GET /api/v1/findings`'s `summary` at the same instant.
//! - An episode closed because the installed changelog already names the fix (a backport) is not
//!   a remediation: counted apart as `backported`, left out of the time to remediate.
//! - Hosts in no group are reported under a group `null` ("no group").

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_model::{FindingStatus, Tier, TierTally};
use serde::Serialize;

use crate::assess::{Assessed, assess_host, days_between, hours_between, mean, median, round1};
use crate::controls::{ControlEvidence, compliance_controls};
use crate::facts::{HostFacts, ReportError, ReportFacts, ReportScope, RiskFact};

/// The compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub generated_at: Timestamp,
    pub period_from: Timestamp,
    pub period_to: Timestamp,
    /// The group the report is limited to (`None`: the whole fleet).
    pub group: Option<String>,
    pub fleet_version: Option<i64>,
    /// Totals over every host in scope.
    pub summary: Section,
    /// Per group of the hosts in scope, by name; `name: null` is the hosts in no group.
    pub groups: Vec<GroupSection>,
    /// Per host, by host name.
    pub hosts: Vec<HostSection>,
    /// Every overdue finding, most overdue first.
    pub overdue: Vec<OverdueFinding>,
    /// Acceptances in force or that ended (expired, revoked) within the period, for hosts in
    /// scope or every host; expiring soonest first.
    pub accepted_risks: Vec<RiskEntry>,
    /// What this report is evidence for (GB/T 22239-2019, level 3 numbering).
    pub controls: Vec<ControlEvidence>,
}

/// Counts and remediation figures of a set of hosts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Section {
    pub hosts: usize,
    /// Hosts with at least one overdue finding.
    pub hosts_overdue: usize,
    /// Hosts whose findings were never computed.
    pub hosts_never_scanned: usize,
    /// Per tier `[T0..T4]`: `open` includes `overdue`; `accepted` apart.
    pub counts: TierTally,
    pub open_total: usize,
    pub overdue_total: usize,
    pub accepted_total: usize,
    pub oldest_overdue: Option<OverdueFinding>,
    pub remediation: Remediation,
}

/// Time to remediate: episodes fixed within the period (first seen → fixed at).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Remediation {
    /// Episodes fixed by a change within the period.
    pub fixed: usize,
    /// … of them fixed by their deadline.
    pub on_time: usize,
    /// … fixed after their deadline.
    pub late: usize,
    /// Mean and median hours from first seen to fixed, one decimal.
    pub mean_hours: Option<f64>,
    pub median_hours: Option<f64>,
    /// Episodes closed within the period because a backport already fixed them (not counted
    /// above).
    pub backported: usize,
}

/// A group's section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSection {
    /// `None`: the hosts in no group.
    pub name: Option<String>,
    pub environment: Option<String>,
    pub owners: Vec<String>,
    #[serde(flatten)]
    pub section: Section,
}

/// A host's section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSection {
    pub host_id: String,
    pub hostname: String,
    pub group: Option<String>,
    pub computed_at: Option<Timestamp>,
    #[serde(flatten)]
    pub section: Section,
}

/// A finding past its deadline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverdueFinding {
    pub hostname: String,
    pub group: Option<String>,
    pub binary: String,
    pub installed: String,
    pub advisory: String,
    pub tier: Tier,
    pub deadline: Timestamp,
    pub days_overdue: i64,
    pub first_seen: Option<Timestamp>,
    pub fixed_version: Option<String>,
}

/// Where an acceptance stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskState {
    InForce,
    Expired,
    Revoked,
}

/// An accepted risk as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskEntry {
    pub id: String,
    /// `None`: every host.
    pub hostname: Option<String>,
    pub advisory: String,
    pub package: Option<String>,
    pub reason: String,
    pub accepted_by: String,
    pub accepted_at: Timestamp,
    pub expires: Timestamp,
    pub state: RiskState,
    /// Whole days until it expires (negative: expired that long ago).
    pub days_to_expiry: i64,
    pub revoked_by: Option<String>,
    /// Current findings in scope it hides now.
    pub findings_covered: usize,
}

/// Builds the compliance report of `scope` from `facts`.
pub fn compliance_report(
    facts: &ReportFacts,
    scope: &ReportScope,
) -> Result<ComplianceReport, ReportError> {
    let hosts = facts.hosts_in(scope.group.as_deref())?;
    let since = scope.since();
    let mut host_sections = Vec::new();
    let mut overdue = Vec::new();
    let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
    for host in &hosts {
        let assessed = assess_host(host, &facts.risks, scope.now);
        for a in &assessed {
            if let Some(risk) = a.accepted_by {
                *covered.entry(risk.id.as_str()).or_default() += 1;
            }
        }
        let section = host_section(host, &assessed, since, scope.now);
        overdue.extend(
            assessed
                .iter()
                .filter_map(|a| overdue_finding(a, scope.now)),
        );
        host_sections.push(HostSection {
            host_id: host.host_id.clone(),
            hostname: host.hostname.clone(),
            group: host.group.clone(),
            computed_at: host.computed_at,
            section,
        });
    }
    host_sections.sort_by(|a, b| (&a.hostname, &a.host_id).cmp(&(&b.hostname, &b.host_id)));
    overdue.sort_by(|a, b| {
        (b.days_overdue, a.tier, &a.hostname, &a.binary, &a.advisory).cmp(&(
            a.days_overdue,
            b.tier,
            &b.hostname,
            &b.binary,
            &b.advisory,
        ))
    });
    let groups = group_sections(facts, &host_sections, &hosts, since, scope.now);
    let mut summary = merge(host_sections.iter().map(|h| &h.section));
    summary.remediation = remediation(hosts.iter().copied(), since, scope.now);
    let accepted_risks = risk_entries(facts, &hosts, scope, &covered);
    let controls = compliance_controls(&summary, &accepted_risks);
    Ok(ComplianceReport {
        generated_at: scope.now,
        period_from: since,
        period_to: scope.now,
        group: scope.group.clone(),
        fleet_version: facts.fleet_version,
        summary,
        groups,
        hosts: host_sections,
        overdue,
        accepted_risks,
        controls,
    })
}

fn host_section(
    host: &HostFacts,
    assessed: &[Assessed<'_>],
    since: Timestamp,
    now: Timestamp,
) -> Section {
    let mut counts = TierTally::default();
    for a in assessed {
        counts.add(a.finding.tier, a.status);
    }
    let oldest_overdue = assessed
        .iter()
        .filter_map(|a| overdue_finding(a, now))
        .max_by(|a, b| (a.days_overdue, b.tier).cmp(&(b.days_overdue, a.tier)));
    let mut section = Section {
        hosts: 1,
        hosts_overdue: usize::from(oldest_overdue.is_some()),
        hosts_never_scanned: usize::from(host.computed_at.is_none()),
        counts,
        oldest_overdue,
        ..Section::default()
    };
    totals(&mut section);
    section.remediation = remediation(std::iter::once(host), since, now);
    section
}

/// Episodes of `hosts` fixed within `[since, now]`, and their hours to fix.
fn remediation<'a>(
    hosts: impl Iterator<Item = &'a HostFacts>,
    since: Timestamp,
    now: Timestamp,
) -> Remediation {
    let mut r = Remediation::default();
    let mut hours = Vec::new();
    for episode in hosts.flat_map(|h| &h.fixed) {
        if episode.fixed_at < since || episode.fixed_at > now {
            continue;
        }
        if episode.fixed_by.is_some() {
            r.backported += 1;
            continue;
        }
        r.fixed += 1;
        match episode.deadline {
            Some(deadline) if episode.fixed_at > deadline => r.late += 1,
            _ => r.on_time += 1,
        }
        hours.push(hours_between(episode.first_seen, episode.fixed_at));
    }
    r.mean_hours = mean(&hours).map(round1);
    r.median_hours = median(&mut hours).map(round1);
    r
}

fn overdue_finding(a: &Assessed<'_>, now: Timestamp) -> Option<OverdueFinding> {
    let deadline = a
        .finding
        .deadline
        .filter(|_| a.status == FindingStatus::Overdue)?;
    Some(OverdueFinding {
        hostname: a.host.hostname.clone(),
        group: a.host.group.clone(),
        binary: a.finding.binary.clone(),
        installed: a.finding.installed.clone(),
        advisory: a.finding.advisory.clone(),
        tier: a.finding.tier,
        deadline,
        days_overdue: days_between(deadline, now),
        first_seen: a.first_seen,
        fixed_version: a.finding.fixed.clone(),
    })
}

fn totals(section: &mut Section) {
    section.open_total = section.counts.open.iter().sum();
    section.overdue_total = section.counts.overdue.iter().sum();
    section.accepted_total = section.counts.accepted.iter().sum();
}

/// Sums the counts of host sections (remediation is computed from the hosts' facts: a median
/// of a union is not a sum of medians).
fn merge<'a>(sections: impl Iterator<Item = &'a Section>) -> Section {
    let mut total = Section::default();
    for s in sections {
        total.hosts += s.hosts;
        total.hosts_overdue += s.hosts_overdue;
        total.hosts_never_scanned += s.hosts_never_scanned;
        total.counts.merge(&s.counts);
        let older = match (&total.oldest_overdue, &s.oldest_overdue) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(t), Some(o)) => (o.days_overdue, t.tier) > (t.days_overdue, o.tier),
        };
        if older {
            total.oldest_overdue = s.oldest_overdue.clone();
        }
    }
    totals(&mut total);
    total
}

fn group_sections(
    facts: &ReportFacts,
    host_sections: &[HostSection],
    hosts: &[&HostFacts],
    since: Timestamp,
    now: Timestamp,
) -> Vec<GroupSection> {
    let mut names: Vec<Option<&str>> = hosts.iter().map(|h| h.group.as_deref()).collect();
    names.sort();
    names.dedup();
    // Groups first by name, then the hosts in no group.
    names.sort_by_key(|n| (n.is_none(), *n));
    names
        .into_iter()
        .map(|name| {
            let mut section = merge(
                host_sections
                    .iter()
                    .filter(|h| h.group.as_deref() == name)
                    .map(|h| &h.section),
            );
            let members = hosts.iter().copied().filter(|h| h.group.as_deref() == name);
            section.remediation = remediation(members, since, now);
            let group = name.and_then(|n| facts.groups.iter().find(|g| g.name == n));
            GroupSection {
                name: name.map(str::to_owned),
                environment: group.map(|g| g.environment.clone()),
                owners: group.map(|g| g.owners.clone()).unwrap_or_default(),
                section,
            }
        })
        .collect()
}

fn risk_entries(
    facts: &ReportFacts,
    hosts: &[&HostFacts],
    scope: &ReportScope,
    covered: &BTreeMap<&str, usize>,
) -> Vec<RiskEntry> {
    let since = scope.since();
    let in_scope = |r: &RiskFact| match &r.host_id {
        None => true,
        Some(id) => hosts.iter().any(|h| &h.host_id == id),
    };
    let mut entries: Vec<RiskEntry> = facts
        .risks
        .iter()
        .filter(|r| in_scope(r))
        .filter_map(|r| {
            let state = match (r.revoked_at, r.in_force(scope.now)) {
                (Some(_), _) => RiskState::Revoked,
                (None, true) => RiskState::InForce,
                (None, false) => RiskState::Expired,
            };
            let ended = r.revoked_at.unwrap_or(r.expires_at);
            if state != RiskState::InForce && ended < since {
                return None;
            }
            Some(RiskEntry {
                id: r.id.clone(),
                hostname: r.hostname.clone(),
                advisory: r.advisory.clone(),
                package: r.package.clone(),
                reason: r.reason.clone(),
                accepted_by: r.accepted_by.clone(),
                accepted_at: r.accepted_at,
                expires: r.expires_at,
                state,
                days_to_expiry: days_between(scope.now, r.expires_at),
                revoked_by: r.revoked_by.clone(),
                findings_covered: covered.get(r.id.as_str()).copied().unwrap_or(0),
            })
        })
        .collect();
    entries.sort_by(|a, b| (a.state, a.expires, &a.id).cmp(&(b.state, b.expires, &b.id)));
    entries
}
