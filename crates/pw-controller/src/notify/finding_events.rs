//! The events of a findings computation: T0 and T1 findings that were not open on the host
//! before it, one event per package to upgrade (with every advisory it fixes), the most urgent
//! first, at most [`MAX_PER_HOST`] per computation (a newly enrolled host's backlog is one
//! look at the console, not a flood of messages).

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_notify::{Detail, Event};

/// New-finding events one computation emits for one host at most.
pub const MAX_PER_HOST: usize = 20;

/// `findings` of `host` (named `hostname`, in `group`) computed at `now`; `was_open(binary,
/// advisory)` tells whether a finding was already open before.
pub fn new_findings(
    host: &str,
    hostname: &str,
    group: Option<&str>,
    findings: &[Finding],
    was_open: impl Fn(&str, &str) -> bool,
    now: Timestamp,
) -> Vec<Event> {
    let mut per_package: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in findings {
        if is_new_urgent(finding, &was_open) {
            per_package
                .entry(&finding.binary)
                .or_default()
                .push(finding);
        }
    }
    let mut events: Vec<Event> = per_package
        .into_iter()
        .map(|(package, found)| {
            let tier = found.iter().map(|f| f.tier).min().unwrap_or(Tier::T1);
            let deadline = found.iter().filter_map(|f| f.deadline).min();
            let mut advisories: Vec<String> =
                found.iter().flat_map(|f| advisory_names(f)).collect();
            advisories.sort();
            advisories.dedup();
            let to_version = found.iter().filter_map(|f| f.fixed.clone()).max();
            Event {
                id: format!("finding:{host}:{package}:new:{}", now.as_millisecond()),
                at: now,
                groups: group.map(str::to_owned).into_iter().collect(),
                tier: Some(tier),
                detail: Detail::NewFinding {
                    host: hostname.to_owned(),
                    package: package.to_owned(),
                    to_version,
                    advisories,
                    deadline,
                },
            }
        })
        .collect();
    events.sort_by_key(|e| (e.tier, deadline_of(e)));
    events.truncate(MAX_PER_HOST);
    events
}

/// Whether [`new_findings`] makes an event of `finding`: T0 or T1, and not open before.
pub fn is_new_urgent(finding: &Finding, was_open: impl Fn(&str, &str) -> bool) -> bool {
    finding.tier <= Tier::T1 && !was_open(&finding.binary, &finding.advisory)
}

/// How a message names a finding's advisory: its CVE ids, or its own id when it has none.
pub(crate) fn advisory_names(finding: &Finding) -> Vec<String> {
    let cves: Vec<String> = finding
        .aliases
        .iter()
        .filter(|a| a.starts_with("CVE-"))
        .cloned()
        .collect();
    if cves.is_empty() {
        vec![finding.advisory.clone()]
    } else {
        cves
    }
}

fn deadline_of(event: &Event) -> Option<Timestamp> {
    match &event.detail {
        Detail::NewFinding { deadline, .. } => *deadline,
        _ => None,
    }
}
