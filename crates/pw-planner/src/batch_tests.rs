//! Unit and property tests of the batcher.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::policy::Amount;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn rollout(max_in_flight: Amount, anti: &[&str]) -> RolloutPolicy {
    RolloutPolicy {
        max_in_flight,
        anti_affinity: anti.iter().map(|s| (*s).to_owned()).collect(),
        ..RolloutPolicy::default()
    }
}

#[test]
fn canary_is_five_percent_rounded_up_and_at_least_one() {
    let policy = RolloutPolicy::default();
    assert_eq!(canary_size(&policy, 1, 10), 1);
    assert_eq!(canary_size(&policy, 20, 10), 1);
    assert_eq!(canary_size(&policy, 21, 10), 2);
    assert_eq!(canary_size(&policy, 200, 10), 10);
    assert_eq!(canary_size(&policy, 200, 4), 4, "capped by the budget");
    assert_eq!(canary_size(&policy, 0, 4), 0);
}

#[test]
fn budget_rounds_percent_down_but_never_to_zero() {
    assert_eq!(budget(&rollout(Amount::Percent(10.0), &[]), 200), 20);
    assert_eq!(budget(&rollout(Amount::Percent(10.0), &[]), 19), 1);
    assert_eq!(budget(&rollout(Amount::Percent(10.0), &[]), 5), 1);
    assert_eq!(budget(&rollout(Amount::Count(3), &[]), 5), 3);
}

#[test]
fn anti_affinity_keeps_racks_apart() {
    let l: Vec<BTreeMap<String, String>> = vec![
        labels(&[("rack", "r1")]),
        labels(&[("rack", "r1")]),
        labels(&[("rack", "r2")]),
        labels(&[("rack", "r2")]),
        labels(&[]),
    ];
    let ids = ["a", "b", "c", "d", "e"];
    let hosts: Vec<BatchHost<'_>> = ids
        .iter()
        .zip(&l)
        .map(|(id, labels)| BatchHost { id, labels })
        .collect();
    let batches = make_batches(&hosts, &rollout(Amount::Count(3), &["rack"]), 5);
    assert_eq!(batches.canary, [0]);
    assert_eq!(batches.waves, [vec![1, 2, 4], vec![3]]);
}

#[test]
fn batch_by_never_mixes_label_values() {
    let l = [
        labels(&[("dc", "fra")]),
        labels(&[("dc", "ams")]),
        labels(&[("dc", "fra")]),
        labels(&[("dc", "ams")]),
        labels(&[]),
    ];
    let ids = ["a", "b", "c", "d", "e"];
    let hosts: Vec<BatchHost<'_>> = ids
        .iter()
        .zip(&l)
        .map(|(id, labels)| BatchHost { id, labels })
        .collect();
    let mut policy = rollout(Amount::Count(5), &[]);
    policy.batch_by = Some("dc".into());
    let batches = make_batches(&hosts, &policy, 5);
    assert_eq!(batches.canary, [0]);
    assert_eq!(batches.waves, [vec![1, 3], vec![2], vec![4]]);
}

/// (id seed, rack, hypervisor, zone) per host, the policy, the group size in the fleet.
type Case = (Vec<(u8, Option<u8>, Option<u8>, u8)>, RolloutPolicy, usize);

fn arb_case() -> impl Strategy<Value = Case> {
    let hosts = proptest::collection::vec(
        (
            0u8..255,
            proptest::option::of(0u8..6),
            proptest::option::of(0u8..4),
            0u8..3,
        ),
        0..80,
    );
    let amount = prop_oneof![
        (1u32..12).prop_map(Amount::Count),
        (1u32..=100).prop_map(|p| Amount::Percent(f64::from(p))),
    ];
    let anti = proptest::sample::subsequence(vec!["rack", "hypervisor"], 0..=2);
    (hosts, amount, anti, 1u32..=100, any::<bool>(), 0usize..40).prop_map(
        |(hosts, amount, anti, canary, by_zone, extra)| {
            let mut policy = rollout(amount, &anti);
            policy.canary_percent = f64::from(canary);
            policy.batch_by = by_zone.then(|| "zone".to_owned());
            let group_size = hosts.len() + extra;
            (hosts, policy, group_size)
        },
    )
}

proptest! {
    #[test]
    fn batches_respect_budget_anti_affinity_and_cover_every_host_once(
        (raw, policy, group_size) in arb_case()
    ) {
        let ids: Vec<String> = raw.iter().enumerate().map(|(i, h)| format!("h{:03}-{}", h.0, i)).collect();
        let label_sets: Vec<BTreeMap<String, String>> = raw
            .iter()
            .map(|(_, rack, hv, zone)| {
                let mut l = BTreeMap::new();
                if let Some(rack) = rack { l.insert("rack".to_owned(), format!("r{rack}")); }
                if let Some(hv) = hv { l.insert("hypervisor".to_owned(), format!("hv{hv}")); }
                l.insert("zone".to_owned(), format!("z{zone}"));
                l
            })
            .collect();
        let hosts: Vec<BatchHost<'_>> = ids.iter().zip(&label_sets)
            .map(|(id, labels)| BatchHost { id, labels }).collect();
        let batches = make_batches(&hosts, &policy, group_size);

        // Every host exactly once.
        let mut seen: Vec<usize> = batches.canary.iter().chain(batches.waves.iter().flatten()).copied().collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..hosts.len()).collect::<Vec<_>>());

        // Canary first: non-empty whenever there are hosts, never empty waves.
        let expected_budget = match policy.max_in_flight {
            Amount::Count(c) => c as usize,
            Amount::Percent(p) => ((p * group_size as f64 / 100.0).floor() as usize).max(1),
        };
        prop_assert_eq!(batches.canary.is_empty(), hosts.is_empty());
        prop_assert!(batches.canary.len() <= expected_budget);
        prop_assert!(batches.waves.iter().all(|w| !w.is_empty()));
        if !hosts.is_empty() && policy.anti_affinity.is_empty() {
            let wanted = ((policy.canary_percent * hosts.len() as f64) / 100.0).ceil() as usize;
            prop_assert_eq!(batches.canary.len(), wanted.clamp(1, expected_budget.min(hosts.len())));
        }

        for batch in std::iter::once(&batches.canary).chain(&batches.waves) {
            prop_assert!(batch.len() <= expected_budget, "batch of {} over budget {}", batch.len(), expected_budget);
            for label in &policy.anti_affinity {
                let values: Vec<&String> = batch.iter().filter_map(|i| hosts[*i].labels.get(label)).collect();
                let unique: std::collections::BTreeSet<&&String> = values.iter().collect();
                prop_assert_eq!(values.len(), unique.len(), "two hosts share {}", label);
            }
        }
        if policy.batch_by.is_some() {
            for wave in &batches.waves {
                let zones: std::collections::BTreeSet<&String> = wave.iter().map(|i| &hosts[*i].labels["zone"]).collect();
                prop_assert_eq!(zones.len(), 1);
            }
        }

        // Deterministic regardless of input order.
        let mut reversed: Vec<BatchHost<'_>> = hosts.clone();
        reversed.reverse();
        let again = make_batches(&reversed, &policy, group_size);
        let names = |b: &Batches, h: &[BatchHost<'_>]| -> Vec<Vec<String>> {
            std::iter::once(&b.canary).chain(&b.waves)
                .map(|batch| batch.iter().map(|i| h[*i].id.to_owned()).collect()).collect()
        };
        prop_assert_eq!(names(&batches, &hosts), names(&again, &reversed));
    }
}
