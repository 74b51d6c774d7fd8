//! An ad-hoc rollout's plan (pure): the same targets on every host, the first `canary_size`
//! hosts as canaries, then waves of `batch_size` in the order the operator gave, one budget.
//! Deliberately simpler than the planner's batching — no fleet labels, windows or percents
//! exist here: the operator chose the order and the sizes. Plans go through the planner.

use std::collections::BTreeMap;

use crate::model::{HostId, RolloutId, Target};
use crate::plan::{BatchKind, BatchSpec, FailurePolicy, HostSpec, Mode, RolloutPlan};

/// Which hosts of an ad-hoc rollout run the rollback drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drill {
    Canaries,
    All,
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdHoc<'a> {
    pub hosts: &'a [String],
    pub targets: &'a [Target],
    /// Default 1.
    pub canary_size: Option<usize>,
    /// Default 2; also the disruption budget (at least the canaries).
    pub batch_size: Option<usize>,
    pub drill: Option<Drill>,
    /// Default: 10 % of the wave hosts, rounded down.
    pub max_failures: Option<usize>,
    pub mode: Mode,
}

/// The group every ad-hoc batch belongs to.
pub const AD_HOC_GROUP: &str = "default";

/// The rollout plan of `request`, or why it cannot be one (a sentence naming the field).
pub fn ad_hoc_plan(id: RolloutId, request: &AdHoc<'_>) -> Result<RolloutPlan, String> {
    let hosts = request.hosts;
    if hosts.is_empty() || request.targets.is_empty() {
        return Err("a rollout needs hosts and targets (or a plan: {\"plan\": 7})".into());
    }
    let canary_size = request.canary_size.unwrap_or(1);
    let batch_size = request.batch_size.unwrap_or(2);
    if batch_size == 0 {
        return Err("batch_size must be at least 1".into());
    }
    if canary_size >= hosts.len() && hosts.len() > 1 {
        return Err("canary_size must leave hosts for the waves".into());
    }
    if canary_size == 0 && request.drill == Some(Drill::Canaries) {
        return Err("drill \"canaries\" needs canary_size of at least 1 (or drill \"all\")".into());
    }
    let canaries = canary_size.min(hosts.len());
    let batch = |kind, hosts: &[String]| BatchSpec {
        group: AD_HOC_GROUP.into(),
        kind,
        hosts: hosts
            .iter()
            .map(|host| HostSpec {
                id: HostId(host.clone()),
                targets: request.targets.to_vec(),
            })
            .collect(),
        not_before: None,
        not_after: None,
        drill: match request.drill {
            None => false,
            Some(Drill::Canaries) => kind == BatchKind::Canary,
            Some(Drill::All) => true,
        },
    };
    let mut batches = Vec::new();
    if canaries > 0 {
        batches.push(batch(BatchKind::Canary, &hosts[..canaries]));
    }
    for chunk in hosts[canaries..].chunks(batch_size) {
        batches.push(batch(BatchKind::Wave, chunk));
    }
    let mut failure = FailurePolicy::default_for(&batches);
    if let Some(max) = request.max_failures {
        failure.max_failures = max;
    }
    let plan = RolloutPlan {
        id,
        batches,
        budgets: BTreeMap::from([(AD_HOC_GROUP.to_owned(), batch_size.max(canaries).max(1))]),
        failure,
        mode: request.mode,
    };
    plan.validate().map_err(|e| format!("rollout plan: {e}"))?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn target() -> Vec<Target> {
        vec![Target {
            package: pw_model::PackageName::parse("pw-demo").unwrap(),
            version: crate::model::ExactVersion::parse("1.0-2").unwrap(),
        }]
    }

    fn request<'a>(hosts: &'a [String], targets: &'a [Target]) -> AdHoc<'a> {
        AdHoc {
            hosts,
            targets,
            canary_size: None,
            batch_size: None,
            drill: None,
            max_failures: None,
            mode: Mode::Batches,
        }
    }

    fn shape(plan: &RolloutPlan) -> Vec<(BatchKind, Vec<&str>, bool)> {
        plan.batches
            .iter()
            .map(|b| {
                let ids = b.hosts.iter().map(|h| h.id.0.as_str()).collect();
                (b.kind, ids, b.drill)
            })
            .collect()
    }

    #[test]
    fn one_canary_then_waves_of_two_in_the_given_order_by_default() {
        let (hosts, targets) = (hosts(6), target());
        let plan = ad_hoc_plan(RolloutId("r".into()), &request(&hosts, &targets)).unwrap();
        assert_eq!(
            shape(&plan),
            [
                (BatchKind::Canary, vec!["h1"], false),
                (BatchKind::Wave, vec!["h2", "h3"], false),
                (BatchKind::Wave, vec!["h4", "h5"], false),
                (BatchKind::Wave, vec!["h6"], false),
            ]
        );
        assert_eq!(plan.budgets[AD_HOC_GROUP], 2);
        assert_eq!(
            plan.failure.max_failures, 0,
            "10 % of 5 wave hosts, rounded down"
        );
        assert!(plan.batches.iter().all(|b| b.hosts[0].targets == targets));
    }

    #[test]
    fn sizes_drills_and_the_failure_budget_follow_the_request() {
        let (hosts, targets) = (hosts(5), target());
        let mut asked = request(&hosts, &targets);
        asked.canary_size = Some(3);
        asked.batch_size = Some(1);
        asked.drill = Some(Drill::Canaries);
        asked.max_failures = Some(1);
        let plan = ad_hoc_plan(RolloutId("r".into()), &asked).unwrap();
        assert_eq!(
            shape(&plan),
            [
                (BatchKind::Canary, vec!["h1", "h2", "h3"], true),
                (BatchKind::Wave, vec!["h4"], false),
                (BatchKind::Wave, vec!["h5"], false),
            ]
        );
        assert_eq!(plan.budgets[AD_HOC_GROUP], 3, "at least the canaries");
        assert_eq!(plan.failure.max_failures, 1);
        asked.drill = Some(Drill::All);
        let plan = ad_hoc_plan(RolloutId("r".into()), &asked).unwrap();
        assert!(plan.batches.iter().all(|b| b.drill));
    }

    #[test]
    fn impossible_requests_are_refused_naming_the_field() {
        let (hosts, targets) = (hosts(3), target());
        let refused = |edit: &dyn Fn(&mut AdHoc<'_>)| {
            let mut asked = request(&hosts, &targets);
            edit(&mut asked);
            ad_hoc_plan(RolloutId("r".into()), &asked).unwrap_err()
        };
        assert!(refused(&|r| r.batch_size = Some(0)).starts_with("batch_size"));
        assert!(refused(&|r| r.canary_size = Some(3)).starts_with("canary_size"));
        let drill = refused(&|r| {
            r.canary_size = Some(0);
            r.drill = Some(Drill::Canaries);
        });
        assert!(drill.starts_with("drill"), "{drill}");
        assert!(refused(&|r| r.targets = &[]).contains("hosts and targets"));
        let one = vec!["h1".to_owned()];
        let single = AdHoc {
            hosts: &one,
            ..request(&hosts, &targets)
        };
        let plan = ad_hoc_plan(RolloutId("r".into()), &single).unwrap();
        assert_eq!(shape(&plan), [(BatchKind::Canary, vec!["h1"], false)]);
    }
}
