//! The quantified risk summary for management (seed FAQ: "quantify the risk"): counts by tier,
//! KEV / EPSS / CVSS, exposure days and hosts affected, now and at the planned completion.
//!
//! Exposure of one host × advisory is the time from the advisory's publication (or, without one,
//! from nothing: it is then left out) to `now`; "at completion" adds the time until the host's
//! batch ends (unscheduled hosts are counted to the end of the horizon).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use serde::{Deserialize, Serialize};

use crate::fleet::Scope;

/// Counts for one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierCount {
    pub tier: Tier,
    /// Host × advisory pairs.
    pub findings: usize,
    /// Distinct advisories.
    pub advisories: usize,
    /// Hosts with at least one such finding.
    pub hosts: usize,
}

/// The numbers management asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RiskSummary {
    pub hosts_in_scope: usize,
    pub hosts_with_changes: usize,
    pub hosts_scheduled: usize,
    pub hosts_unscheduled: usize,
    pub package_changes: usize,
    pub by_tier: Vec<TierCount>,
    pub kev_advisories: usize,
    pub kev_hosts: usize,
    pub epss_max: Option<f64>,
    /// Advisories with EPSS ≥ 0.5.
    pub epss_high_advisories: usize,
    pub cvss_max: Option<f64>,
    /// Advisories with CVSS ≥ 9.0.
    pub cvss_critical_advisories: usize,
    /// Advisories with 7.0 ≤ CVSS < 9.0.
    pub cvss_high_advisories: usize,
    /// The oldest open exposure, in days.
    pub exposure_max_days: f64,
    /// Sum of host × advisory exposure days today.
    pub exposure_host_days_now: f64,
    /// The same sum when the plan has run (every host at its batch end).
    pub exposure_host_days_at_completion: f64,
    /// In-scope findings past their deadline now.
    pub overdue_findings: usize,
    /// Findings whose host is scheduled after their deadline.
    pub planned_after_deadline: usize,
    /// Findings without a fixed version (not planned; listed so nobody forgets them).
    pub no_fix_findings: usize,
}

/// One host's contribution.
#[derive(Debug, Clone, Copy)]
pub struct HostFacts<'a> {
    pub findings: &'a [Finding],
    /// When the host's batch ends (`None`: unscheduled or no change).
    pub done_at: Option<Timestamp>,
    pub has_changes: bool,
}

/// Adds up the summary. `horizon_end` stands in for the completion of unscheduled hosts.
pub fn summarize(
    hosts: &[HostFacts<'_>],
    scope: &Scope,
    now: Timestamp,
    horizon_end: Timestamp,
) -> RiskSummary {
    let mut out = RiskSummary {
        hosts_in_scope: hosts.len(),
        ..RiskSummary::default()
    };
    let mut tiers: BTreeMap<Tier, (usize, BTreeSet<&str>, usize)> = BTreeMap::new();
    let mut advisories: BTreeMap<&str, &Finding> = BTreeMap::new();
    let mut kev_hosts = 0;
    for host in hosts {
        if host.has_changes {
            out.hosts_with_changes += 1;
            if host.done_at.is_some() {
                out.hosts_scheduled += 1;
            } else {
                out.hosts_unscheduled += 1;
            }
        }
        let mut host_tiers = BTreeSet::new();
        let mut host_kev = false;
        for finding in host.findings.iter().filter(|f| scope.admits_tier(f.tier)) {
            if finding.fixed.is_none() {
                out.no_fix_findings += 1;
                continue;
            }
            let entry = tiers.entry(finding.tier).or_default();
            entry.0 += 1;
            entry.1.insert(&finding.advisory);
            host_tiers.insert(finding.tier);
            host_kev |= finding.kev;
            advisories.entry(&finding.advisory).or_insert(finding);
            if let Some(deadline) = finding.deadline {
                if deadline < now {
                    out.overdue_findings += 1;
                }
                if host.done_at.is_none_or(|done| done > deadline) {
                    out.planned_after_deadline += 1;
                }
            }
            if let Some(published) = finding.published {
                let now_days = days(published, now);
                out.exposure_max_days = out.exposure_max_days.max(now_days);
                out.exposure_host_days_now += now_days;
                out.exposure_host_days_at_completion +=
                    days(published, host.done_at.unwrap_or(horizon_end));
            }
        }
        for tier in host_tiers {
            tiers.entry(tier).or_default().2 += 1;
        }
        kev_hosts += usize::from(host_kev);
    }
    out.kev_hosts = kev_hosts;
    out.by_tier = Tier::ALL
        .iter()
        .map(|tier| {
            let (findings, ids, hosts) = tiers.remove(tier).unwrap_or_default();
            TierCount {
                tier: *tier,
                findings,
                advisories: ids.len(),
                hosts,
            }
        })
        .collect();
    for finding in advisories.values() {
        out.kev_advisories += usize::from(finding.kev);
        if let Some(epss) = finding.epss {
            out.epss_max = Some(out.epss_max.map_or(epss, |m: f64| m.max(epss)));
            out.epss_high_advisories += usize::from(epss >= 0.5);
        }
        if let Some(cvss) = finding.cvss {
            out.cvss_max = Some(out.cvss_max.map_or(cvss, |m: f64| m.max(cvss)));
            out.cvss_critical_advisories += usize::from(cvss >= 9.0);
            out.cvss_high_advisories += usize::from((7.0..9.0).contains(&cvss));
        }
    }
    out.exposure_max_days = round1(out.exposure_max_days);
    out.exposure_host_days_now = round1(out.exposure_host_days_now);
    out.exposure_host_days_at_completion = round1(out.exposure_host_days_at_completion);
    out
}

fn days(from: Timestamp, to: Timestamp) -> f64 {
    ((to.as_second() - from.as_second()).max(0) as f64) / 86_400.0
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
