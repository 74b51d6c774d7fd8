//! The management risk summary (DESIGN.md §2, seed 000's FAQ on justifying a maintenance
//! window): the exposure of the hosts in scope quantified by KEV, EPSS and CVSS, per tier and
//! group, host-days exposed, and the updates that would remove the most of it.
//!
//! Quirks kept on purpose:
//! - Exposure counts every finding still present: open, overdue **and accepted** (an accepted
//!   risk is a decision, not a fix); `accepted` says how many of them are accepted.
//! - An "update" is one source package and the version that fixes it (`Finding::fixed`);
//!   findings without a fix are counted in `no_fix` and never ranked.
//! - Ranking of updates: best tier first, then KEV-listed, more hosts, higher EPSS, higher CVSS,
//!   package name (every key total, so the order is stable).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use pw_model::{FindingStatus, Tier};
use serde::Serialize;

use crate::assess::{Assessed, assess_host, days_between};
use crate::facts::{ReportError, ReportFacts, ReportScope};

/// The risk summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskReport {
    pub generated_at: Timestamp,
    pub group: Option<String>,
    pub fleet_version: Option<i64>,
    pub hosts: usize,
    /// Hosts with at least one finding present.
    pub hosts_exposed: usize,
    /// Findings present (open, overdue, accepted).
    pub findings: usize,
    pub overdue: usize,
    pub accepted: usize,
    /// Findings with no fixed version known.
    pub no_fix: usize,
    /// Per tier, T0 first.
    pub by_tier: Vec<Exposure>,
    /// KEV, EPSS ≥ 0.5, EPSS ≥ 0.1, CVSS ≥ 9.0, CVSS ≥ 7.0 (each counted on its own).
    pub signals: Vec<Exposure>,
    /// Days each present finding has been on its host (from first seen), summed and the most.
    pub host_days_exposed: i64,
    pub longest_exposure_days: Option<i64>,
    /// The updates that remove the most exposure, at most `top`.
    pub top_updates: Vec<UpdateExposure>,
    /// Updates with a fix beyond `top_updates`.
    pub more_updates: usize,
    /// Per group (`name: null`: hosts in no group), by name.
    pub groups: Vec<GroupExposure>,
}

/// One exposure figure: findings, distinct advisories and hosts meeting a criterion.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exposure {
    /// `T0`…`T4`, `kev`, `epss_ge_0.5`, `epss_ge_0.1`, `cvss_ge_9`, `cvss_ge_7`.
    pub key: String,
    pub findings: usize,
    pub advisories: usize,
    pub hosts: usize,
    pub overdue: usize,
}

/// One update (source package → fixed version) and what it would remove.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateExposure {
    pub package: String,
    pub fixed_version: String,
    pub tier: Tier,
    pub kev: bool,
    pub max_cvss: Option<f64>,
    pub max_epss: Option<f64>,
    /// Advisory ids (the CVE ids when known), sorted, at most 10; `advisory_count` all.
    pub advisories: Vec<String>,
    pub advisory_count: usize,
    pub hosts: usize,
    /// Host names, sorted, at most 20.
    pub hostnames: Vec<String>,
    pub findings: usize,
    pub overdue: usize,
    pub longest_exposure_days: Option<i64>,
}

/// A group's exposure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupExposure {
    pub name: Option<String>,
    pub hosts: usize,
    pub hosts_exposed: usize,
    pub findings: usize,
    pub kev: usize,
    pub t0: usize,
    pub t1: usize,
    pub overdue: usize,
}

/// The signal criteria, in report order.
const SIGNALS: [&str; 5] = [
    "kev",
    "epss_ge_0.5",
    "epss_ge_0.1",
    "cvss_ge_9",
    "cvss_ge_7",
];

fn meets(key: &str, a: &Assessed<'_>) -> bool {
    let f = a.finding;
    let epss = f.epss.unwrap_or(0.0);
    let cvss = f.cvss.unwrap_or(0.0);
    match key {
        "kev" => f.kev,
        "epss_ge_0.5" => epss >= 0.5,
        "epss_ge_0.1" => epss >= 0.1,
        "cvss_ge_9" => cvss >= 9.0,
        "cvss_ge_7" => cvss >= 7.0,
        tier => f.tier.to_string() == tier,
    }
}

fn exposure(key: &str, present: &[Assessed<'_>]) -> Exposure {
    let mut e = Exposure {
        key: key.to_owned(),
        ..Exposure::default()
    };
    let mut advisories = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for a in present.iter().filter(|a| meets(key, a)) {
        e.findings += 1;
        e.overdue += usize::from(a.status == FindingStatus::Overdue);
        advisories.insert(a.finding.advisory.as_str());
        hosts.insert(a.host.host_id.as_str());
    }
    e.advisories = advisories.len();
    e.hosts = hosts.len();
    e
}

/// Builds the risk summary of `scope` from `facts`.
pub fn risk_report(facts: &ReportFacts, scope: &ReportScope) -> Result<RiskReport, ReportError> {
    let hosts = facts.hosts_in(scope.group.as_deref())?;
    let present: Vec<Assessed<'_>> = hosts
        .iter()
        .flat_map(|h| assess_host(h, &facts.risks, scope.now))
        .filter(|a| a.status != FindingStatus::Fixed)
        .collect();
    let exposed: BTreeSet<&str> = present.iter().map(|a| a.host.host_id.as_str()).collect();
    let days: Vec<i64> = present
        .iter()
        .filter_map(|a| a.first_seen)
        .map(|seen| days_between(seen, scope.now).max(0))
        .collect();
    let (top_updates, more_updates) = ranked_updates(&present, scope);
    let mut groups: Vec<Option<&str>> = hosts.iter().map(|h| h.group.as_deref()).collect();
    groups.sort_by_key(|n| (n.is_none(), *n));
    groups.dedup();
    let groups = groups
        .into_iter()
        .map(|name| {
            let in_group: Vec<Assessed<'_>> = present
                .iter()
                .filter(|a| a.host.group.as_deref() == name)
                .cloned()
                .collect();
            let exposed: BTreeSet<&str> =
                in_group.iter().map(|a| a.host.host_id.as_str()).collect();
            GroupExposure {
                name: name.map(str::to_owned),
                hosts: hosts.iter().filter(|h| h.group.as_deref() == name).count(),
                hosts_exposed: exposed.len(),
                findings: in_group.len(),
                kev: exposure("kev", &in_group).findings,
                t0: exposure("T0", &in_group).findings,
                t1: exposure("T1", &in_group).findings,
                overdue: count(&in_group, FindingStatus::Overdue),
            }
        })
        .collect();
    Ok(RiskReport {
        generated_at: scope.now,
        group: scope.group.clone(),
        fleet_version: facts.fleet_version,
        hosts: hosts.len(),
        hosts_exposed: exposed.len(),
        findings: present.len(),
        overdue: count(&present, FindingStatus::Overdue),
        accepted: count(&present, FindingStatus::Accepted),
        no_fix: present.iter().filter(|a| a.finding.fixed.is_none()).count(),
        by_tier: Tier::ALL
            .iter()
            .map(|t| exposure(&t.to_string(), &present))
            .collect(),
        signals: SIGNALS.iter().map(|k| exposure(k, &present)).collect(),
        host_days_exposed: days.iter().sum(),
        longest_exposure_days: days.iter().copied().max(),
        top_updates,
        more_updates,
        groups,
    })
}

fn count(present: &[Assessed<'_>], status: FindingStatus) -> usize {
    present.iter().filter(|a| a.status == status).count()
}

/// The updates with a fix, ranked; the first `scope.top` and how many more there are.
fn ranked_updates(present: &[Assessed<'_>], scope: &ReportScope) -> (Vec<UpdateExposure>, usize) {
    let mut by_update: BTreeMap<(&str, &str), Vec<&Assessed<'_>>> = BTreeMap::new();
    for a in present {
        if let Some(fixed) = &a.finding.fixed {
            by_update
                .entry((a.finding.package.as_str(), fixed.as_str()))
                .or_default()
                .push(a);
        }
    }
    let mut updates: Vec<UpdateExposure> = by_update
        .into_iter()
        .map(|((package, fixed), found)| update(package, fixed, &found, scope.now))
        .collect();
    updates.sort_by(|a, b| {
        a.tier
            .cmp(&b.tier)
            .then(b.kev.cmp(&a.kev))
            .then(b.hosts.cmp(&a.hosts))
            .then(
                b.max_epss
                    .unwrap_or(0.0)
                    .total_cmp(&a.max_epss.unwrap_or(0.0)),
            )
            .then(
                b.max_cvss
                    .unwrap_or(0.0)
                    .total_cmp(&a.max_cvss.unwrap_or(0.0)),
            )
            .then(a.package.cmp(&b.package))
            .then(a.fixed_version.cmp(&b.fixed_version))
    });
    let more = updates.len().saturating_sub(scope.top);
    updates.truncate(scope.top);
    (updates, more)
}

fn update(package: &str, fixed: &str, found: &[&Assessed<'_>], now: Timestamp) -> UpdateExposure {
    let max = |get: fn(&Assessed<'_>) -> Option<f64>| {
        found.iter().filter_map(|a| get(a)).max_by(f64::total_cmp)
    };
    let advisories: BTreeSet<String> = found
        .iter()
        .map(|a| {
            let f = a.finding;
            f.aliases
                .iter()
                .find(|alias| alias.starts_with("CVE-"))
                .filter(|_| !f.advisory.starts_with("CVE-"))
                .cloned()
                .unwrap_or_else(|| f.advisory.clone())
        })
        .collect();
    let hostnames: BTreeSet<&str> = found.iter().map(|a| a.host.hostname.as_str()).collect();
    let hosts: BTreeSet<&str> = found.iter().map(|a| a.host.host_id.as_str()).collect();
    UpdateExposure {
        package: package.to_owned(),
        fixed_version: fixed.to_owned(),
        tier: found
            .iter()
            .map(|a| a.finding.tier)
            .min()
            .unwrap_or(Tier::T4),
        kev: found.iter().any(|a| a.finding.kev),
        max_cvss: max(|a| a.finding.cvss),
        max_epss: max(|a| a.finding.epss),
        advisory_count: advisories.len(),
        advisories: advisories.into_iter().take(10).collect(),
        hosts: hosts.len(),
        hostnames: hostnames.into_iter().take(20).map(str::to_owned).collect(),
        findings: found.len(),
        overdue: found
            .iter()
            .filter(|a| a.status == FindingStatus::Overdue)
            .count(),
        longest_exposure_days: found
            .iter()
            .filter_map(|a| a.first_seen)
            .map(|seen| days_between(seen, now).max(0))
            .max(),
    }
}
