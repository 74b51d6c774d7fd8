//! Splitting one group's hosts into batches: a canary batch first, then waves, each within the
//! group's disruption budget (max in flight) and anti-affinity labels.
//!
//! Rules (docs/planning.md "Batches"):
//! - the budget is `max_in_flight` of the group's hosts in the fleet (a percent rounds down, but
//!   never below one host);
//! - the canary takes `canary_percent` of the hosts being changed, rounded up, at least one, at
//!   most the budget;
//! - no two hosts of one batch share a value of an anti-affinity label (hosts without the label
//!   are not constrained by it);
//! - with `batch_by`, waves never mix values of that label (values in sorted order, hosts without
//!   the label last); the canary may mix them;
//! - hosts are taken in id order, first fit: deterministic for the same input.

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::RolloutPolicy;

/// What the batcher needs to know about a host.
#[derive(Debug, Clone, Copy)]
pub struct BatchHost<'a> {
    pub id: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// Batches as indices into the input, canary first (when there is any host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batches {
    pub canary: Vec<usize>,
    pub waves: Vec<Vec<usize>>,
}

/// The disruption budget of a group with `group_size` hosts in the fleet.
pub fn budget(rollout: &RolloutPolicy, group_size: usize) -> usize {
    rollout.max_in_flight.at_least_one_of(group_size)
}

/// The canary size for `changing` hosts under `budget`.
pub fn canary_size(rollout: &RolloutPolicy, changing: usize, budget: usize) -> usize {
    if changing == 0 {
        return 0;
    }
    let wanted = ((rollout.canary_percent * changing as f64) / 100.0 - 1e-9).ceil() as usize;
    wanted.max(1).min(budget).min(changing)
}

/// Splits `hosts` into a canary and waves.
pub fn make_batches(
    hosts: &[BatchHost<'_>],
    rollout: &RolloutPolicy,
    group_size: usize,
) -> Batches {
    let budget = budget(rollout, group_size.max(hosts.len()));
    let mut order: Vec<usize> = (0..hosts.len()).collect();
    order.sort_by(|a, b| hosts[*a].id.cmp(hosts[*b].id));
    let canary_cap = canary_size(rollout, hosts.len(), budget);
    let (canary, rest) = fill_one(hosts, &order, canary_cap, &rollout.anti_affinity);
    let mut waves = Vec::new();
    match &rollout.batch_by {
        None => waves.extend(first_fit(hosts, rest, budget, &rollout.anti_affinity)),
        Some(label) => {
            let mut partitions: BTreeMap<(bool, &str), Vec<usize>> = BTreeMap::new();
            for index in rest {
                let key = match hosts[index].labels.get(label) {
                    Some(value) => (false, value.as_str()),
                    None => (true, ""),
                };
                partitions.entry(key).or_default().push(index);
            }
            for (_, part) in partitions {
                waves.extend(first_fit(hosts, part, budget, &rollout.anti_affinity));
            }
        }
    }
    Batches { canary, waves }
}

/// Repeated passes of [`fill_one`] until every host is placed.
fn first_fit(
    hosts: &[BatchHost<'_>],
    mut remaining: Vec<usize>,
    cap: usize,
    anti_affinity: &[String],
) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    while !remaining.is_empty() {
        let (batch, rest) = fill_one(hosts, &remaining, cap, anti_affinity);
        batches.push(batch);
        remaining = rest;
    }
    batches
}

/// One batch of at most `cap` hosts from `order` without anti-affinity conflicts; returns the
/// batch and the hosts left over, both in input order. The first host always fits.
fn fill_one(
    hosts: &[BatchHost<'_>],
    order: &[usize],
    cap: usize,
    anti_affinity: &[String],
) -> (Vec<usize>, Vec<usize>) {
    let mut used: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); anti_affinity.len()];
    let mut batch = Vec::new();
    let mut rest = Vec::new();
    for &index in order {
        if batch.len() >= cap.max(1) {
            rest.push(index);
            continue;
        }
        let labels = hosts[index].labels;
        let values: Vec<Option<&str>> = anti_affinity
            .iter()
            .map(|label| labels.get(label).map(String::as_str))
            .collect();
        let conflict = values
            .iter()
            .zip(&used)
            .any(|(value, seen)| value.is_some_and(|v| seen.contains(v)));
        if conflict {
            rest.push(index);
            continue;
        }
        for (value, seen) in values.into_iter().zip(used.iter_mut()) {
            if let Some(value) = value {
                seen.insert(value);
            }
        }
        batch.push(index);
    }
    (batch, rest)
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
