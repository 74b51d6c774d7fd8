//! Property tests over whole plans: random fleets (groups, racks, hypervisors) and policies.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use pw_model::{Finding, Tier};
use pw_planner::schedule::BatchKind;
use pw_planner::{Host, PlanInput, Policy, Scope, WindowSlot, build_plan};

fn finding(binary: &str) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "1.0-1".into(),
        package: binary.into(),
        package_version: "1.0-1".into(),
        advisory: format!("DSA-{binary}"),
        aliases: vec![],
        fixed: Some("1.0-2".into()),
        tier: Tier::T1,
        deadline: None,
        reasons: vec![],
        summary: String::new(),
        published: None,
        cvss: None,
        epss: None,
        kev: false,
    }
}

/// (group, id, rack, hypervisor, packages)
type RawHost = (u8, u8, Option<u8>, Option<u8>, u8);

#[derive(Debug, Clone)]
struct Case {
    hosts: Vec<RawHost>,
    budgets: Vec<String>,
    canary: u8,
    anti: Vec<&'static str>,
    window_hours: i64,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(
            (
                0u8..4,
                any::<u8>(),
                proptest::option::of(0u8..5),
                proptest::option::of(0u8..3),
                1u8..6,
            ),
            0..70,
        ),
        proptest::collection::vec(
            prop_oneof![
                (1u8..6).prop_map(|c| c.to_string()),
                (1u8..=100).prop_map(|p| format!("{p}%"))
            ],
            4,
        ),
        1u8..=100,
        proptest::sample::subsequence(vec!["rack", "hypervisor"], 0..=2),
        1i64..6,
    )
        .prop_map(|(hosts, budgets, canary, anti, window_hours)| Case {
            hosts,
            budgets,
            canary,
            anti,
            window_hours,
        })
}

fn policy(case: &Case) -> Policy {
    let mut text = format!(
        "[rollout]\ncanary_percent = {}\nanti_affinity = {:?}\n[estimates]\napply = \"7m\"\n",
        case.canary, case.anti
    );
    for (g, budget) in case.budgets.iter().enumerate() {
        text.push_str(&format!(
            "[groups.g{g}]\nenvironment = \"{}\"\nowners = [\"o\"]\nwindows = [{{}}]\n[groups.g{g}.rollout]\nmax_in_flight = \"{budget}\"\n",
            if g % 2 == 0 { "staging" } else { "production" }
        ));
    }
    Policy::from_toml_str(&text).unwrap()
}

fn input(case: &Case) -> PlanInput {
    let from: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let hosts = case
        .hosts
        .iter()
        .enumerate()
        .map(|(i, (group, id, rack, hv, packages))| {
            let mut labels = BTreeMap::new();
            if let Some(rack) = rack {
                labels.insert("rack".to_owned(), format!("r{rack}"));
            }
            if let Some(hv) = hv {
                labels.insert("hypervisor".to_owned(), format!("hv{hv}"));
            }
            Host {
                id: format!("h{id:03}-{i}"),
                hostname: String::new(),
                group: format!("g{group}"),
                environment: None,
                labels,
                os: "debian:12".into(),
                findings: (0..*packages)
                    .map(|p| finding(&format!("pkg{p}")))
                    .collect(),
                targets: BTreeMap::new(),
                installed: BTreeMap::new(),
            }
        })
        .collect();
    let slots = (0..4)
        .map(|g| {
            let list = (0..20)
                .map(|day| {
                    let start = from + SignedDuration::from_hours(24 * day + 1);
                    WindowSlot {
                        start,
                        end: start + SignedDuration::from_hours(case.window_hours),
                        window: "w".into(),
                    }
                })
                .collect();
            (format!("g{g}"), list)
        })
        .collect();
    PlanInput {
        plan_id: "p".into(),
        author: "a".into(),
        hosts,
        group_evidence: BTreeMap::new(),
        host_evidence: BTreeMap::new(),
        staging: vec![],
        slots,
        scope: Scope::default(),
        from,
        until: from + SignedDuration::from_hours(24 * 20),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn plans_keep_budgets_anti_affinity_canary_first_and_every_host_once(case in arb_case()) {
        let policy = policy(&case);
        let input = input(&case);
        let plan = build_plan(&input, &policy, "2026-11-30T00:00:00Z".parse().unwrap());
        prop_assert!(plan.problems.is_empty(), "{:?}", plan.problems);

        // Every host exactly once, in a batch or unscheduled.
        let mut seen: Vec<&str> = plan.batches.iter().flat_map(|b| b.hosts.iter())
            .chain(plan.unscheduled.iter().flat_map(|u| u.hosts.iter())).map(String::as_str).collect();
        seen.sort_unstable();
        let mut all: Vec<&str> = input.hosts.iter().map(|h| h.id.as_str()).collect();
        all.sort_unstable();
        prop_assert_eq!(seen, all);

        let labels: BTreeMap<&str, &BTreeMap<String, String>> = input.hosts.iter().map(|h| (h.id.as_str(), &h.labels)).collect();
        let mut group_sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for host in &input.hosts { *group_sizes.entry(host.group.as_str()).or_default() += 1; }
        for batch in &plan.batches {
            // Disruption budget of the group, computed independently.
            let size = group_sizes[batch.group.as_str()];
            let index: usize = batch.group[1..].parse().unwrap();
            let budget = match case.budgets[index].strip_suffix('%') {
                Some(p) => ((p.parse::<f64>().unwrap() * size as f64 / 100.0).floor() as usize).max(1),
                None => case.budgets[index].parse().unwrap(),
            };
            prop_assert!(batch.hosts.len() <= budget, "batch {} has {} hosts, budget {}", batch.number, batch.hosts.len(), budget);
            for label in &case.anti {
                let values: Vec<&String> = batch.hosts.iter().filter_map(|h| labels[h.as_str()].get(*label)).collect();
                let unique: BTreeSet<&&String> = values.iter().collect();
                prop_assert_eq!(values.len(), unique.len(), "batch {} shares a {}", batch.number, label);
            }
            prop_assert!(batch.start >= batch.slot_start && batch.end <= batch.slot_end, "batch {} outside its slot", batch.number);
            let usable_end = batch.slot_end.as_second() - batch.rollback_buffer_seconds as i64 - 15 * 60;
            prop_assert!(batch.start.as_second() + batch.apply_seconds as i64 <= usable_end);
            prop_assert!(batch.rollback_seconds <= batch.rollback_buffer_seconds);
        }
        // Canary first: per group, canary batches end before any wave starts; batches of a group
        // never overlap.
        for group in group_sizes.keys() {
            let batches: Vec<_> = plan.batches.iter().filter(|b| b.group == *group).collect();
            if let Some(first) = batches.first() {
                prop_assert_eq!(first.kind, BatchKind::Canary);
            }
            for pair in batches.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
                prop_assert!(!(pair[0].kind == BatchKind::Wave && pair[1].kind == BatchKind::Canary));
            }
        }
        // Batch numbers follow time.
        for pair in plan.batches.windows(2) {
            prop_assert!(pair[0].start <= pair[1].start && pair[0].number + 1 == pair[1].number);
        }
    }
}
