//! Each current finding's status at `now` from the stored facts — the same derivation as the
//! API's findings lists (`pw_model::finding_status`: an accepted risk in force outranks overdue).

use jiff::Timestamp;
use pw_model::{Finding, FindingStatus, acceptance_covers, finding_status};

use crate::facts::{CurrentFinding, HostFacts, RiskFact};

/// A current finding of one host with its status and, when accepted, the acceptance.
#[derive(Debug, Clone)]
pub struct Assessed<'a> {
    pub host: &'a HostFacts,
    pub finding: &'a Finding,
    pub first_seen: Option<Timestamp>,
    pub status: FindingStatus,
    pub accepted_by: Option<&'a RiskFact>,
}

/// Every current finding of `host` with its status at `now`.
pub fn assess_host<'a>(
    host: &'a HostFacts,
    risks: &'a [RiskFact],
    now: Timestamp,
) -> Vec<Assessed<'a>> {
    let in_force: Vec<&RiskFact> = risks
        .iter()
        .filter(|r| r.in_force(now) && r.applies_to_host(&host.host_id))
        .collect();
    host.findings
        .iter()
        .map(
            |CurrentFinding {
                 finding,
                 first_seen,
             }| {
                let acceptance = in_force
                    .iter()
                    .copied()
                    .filter(|r| acceptance_covers(&r.advisory, r.package.as_deref(), finding))
                    .max_by_key(|r| r.expires_at);
                let status = finding_status(finding, false, acceptance.map(|r| r.expires_at), now);
                Assessed {
                    host,
                    finding,
                    first_seen: *first_seen,
                    status,
                    accepted_by: acceptance.filter(|_| status == FindingStatus::Accepted),
                }
            },
        )
        .collect()
}

/// Whole days from `from` to `to` (negative when `to` is earlier), rounded down.
pub fn days_between(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs().div_euclid(86_400)
}

/// Hours from `from` to `to` as a float.
pub fn hours_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64() / 3600.0
}

/// The median of `values` (sorted here); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(match values.len() % 2 {
        1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    })
}

/// The mean of `values`; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    match values.len() {
        0 => None,
        n => Some(values.iter().sum::<f64>() / n as f64),
    }
}

/// Rounds to one decimal (reports show hours and days with one decimal; JSON keeps the same).
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
