//! The staging-first gate (DESIGN.md §4): a production group with a staging counterpart may only
//! be approved when every package version the plan installs there passed on the counterpart, and
//! at least one of those passing runs was a rollback drill (apply → roll back → re-apply, each
//! verified). Staging results are input data ([`StagingRun`]): in the controller, [`staging_runs`]
//! over its finished host changes ([`HostChangeResult`], `pw_store::Store::change_results`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::approval::ApprovalGates;
use crate::fleet::StagingRun;
use crate::plan::Plan;

/// The approval gates of a built plan against the staging runs known now (they may have
/// passed since the plan was built): four eyes when any group is production, and the staging
/// gate of every production group with a staging counterpart.
pub fn plan_gates(plan: &Plan, runs: &[StagingRun]) -> ApprovalGates {
    let mut staging_problems = Vec::new();
    for group in plan.groups.iter().filter(|g| g.environment == "production") {
        let Some(counterpart) = &group.staging_counterpart else {
            continue;
        };
        let versions: BTreeSet<(String, String)> = plan
            .hosts
            .iter()
            .filter(|h| h.group == group.name)
            .flat_map(|h| h.changes.iter().map(|c| (c.package.clone(), c.to.clone())))
            .collect();
        staging_problems.extend(staging_gate(&group.name, counterpart, &versions, runs));
    }
    ApprovalGates {
        production: plan.groups.iter().any(|g| g.environment == "production"),
        staging_problems,
        reintroduced: plan.gates.reintroduced.clone(),
    }
}

/// Problems of the gate for one production group; empty when it is satisfied.
///
/// `versions` are the `(package, version)` pairs the plan installs in the production group.
pub fn staging_gate(
    group: &str,
    counterpart: &str,
    versions: &BTreeSet<(String, String)>,
    runs: &[StagingRun],
) -> Vec<String> {
    let passed: Vec<&StagingRun> = runs
        .iter()
        .filter(|run| run.group == counterpart && run.passed)
        .collect();
    let mut problems = Vec::new();
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (package, version) in versions {
        let covered = passed
            .iter()
            .any(|run| run.packages.get(package) == Some(version));
        if !covered {
            missing.entry(package).or_default().push(version);
        }
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(package, versions)| format!("{package} {}", versions.join(", ")))
            .collect();
        problems.push(format!(
            "{group}: not yet passed on staging counterpart {counterpart}: {}",
            list.join("; ")
        ));
    }
    let drilled = passed.iter().any(|run| {
        run.rollback_drill
            && versions
                .iter()
                .any(|(package, version)| run.packages.get(package) == Some(version))
    });
    if !drilled && !versions.is_empty() {
        problems.push(format!(
            "{group}: no passed rollback drill (apply → roll back → re-apply) of these versions on {counterpart}"
        ));
    }
    problems
}

/// One finished host change of a rollout, as the controller's store keeps it
/// (`pw_store::Store::change_results`): the staging gate's raw evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChangeResult {
    pub rollout_id: String,
    pub host_id: String,
    /// Binary package → the exact version the change applied (its targets).
    pub packages: BTreeMap<String, String>,
    /// The host ended `done`: on the exact targets with every health check passed.
    pub passed: bool,
    /// A rollback drill passed on the host (rolled back to the exact recorded versions,
    /// healthy there, re-applied, healthy again).
    pub drill: bool,
    pub finished_at: Timestamp,
}

/// Staging runs from finished host changes: `group_of` maps a host id to its group (the fleet
/// document's resolution; `None` leaves the host out). Hosts of one rollout in one group with
/// the same packages make one run: passed only when every one of them passed, drilled when a
/// drill passed on one of them, finished when the last one finished. Sorted by group, then time.
pub fn staging_runs(
    results: &[HostChangeResult],
    group_of: impl Fn(&str) -> Option<String>,
) -> Vec<StagingRun> {
    let mut runs: BTreeMap<(String, &str, &BTreeMap<String, String>), StagingRun> = BTreeMap::new();
    for result in results {
        let Some(group) = group_of(&result.host_id) else {
            continue;
        };
        let key = (group.clone(), result.rollout_id.as_str(), &result.packages);
        let run = runs.entry(key).or_insert_with(|| StagingRun {
            group,
            packages: result.packages.clone(),
            passed: true,
            rollback_drill: false,
            finished_at: None,
        });
        run.passed &= result.passed;
        run.rollback_drill |= result.drill;
        run.finished_at = run.finished_at.max(Some(result.finished_at));
    }
    let mut runs: Vec<StagingRun> = runs.into_values().collect();
    runs.sort_by(|a, b| (&a.group, a.finished_at).cmp(&(&b.group, b.finished_at)));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_results_become_runs_per_rollout_group_and_packages() {
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        let result =
            |rollout: &str, host: &str, version: &str, passed, drill, time| HostChangeResult {
                rollout_id: rollout.into(),
                host_id: host.into(),
                packages: BTreeMap::from([("pw-demo".to_owned(), version.to_owned())]),
                passed,
                drill,
                finished_at: at(time),
            };
        let results = [
            result("r1", "stg-1", "1.0-2", true, true, "2026-12-01T10:00:00Z"),
            result("r1", "stg-2", "1.0-2", true, false, "2026-12-01T10:05:00Z"),
            result("r1", "prod-1", "1.0-2", true, false, "2026-12-01T11:00:00Z"),
            result("r2", "stg-1", "1.0-3", true, false, "2026-12-02T10:00:00Z"),
            result("r2", "stg-2", "1.0-3", false, false, "2026-12-02T10:01:00Z"),
            result("r3", "lab-9", "1.0-3", true, true, "2026-12-02T10:01:00Z"),
        ];
        let group_of = |host: &str| match host {
            "lab-9" => None,
            host => Some(host.split('-').next().unwrap().to_owned()),
        };
        let runs = staging_runs(&results, group_of);
        let shown: Vec<(&str, &str, bool, bool)> = runs
            .iter()
            .map(|r| {
                let version = r.packages["pw-demo"].as_str();
                (r.group.as_str(), version, r.passed, r.rollback_drill)
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("prod", "1.0-2", true, false),
                ("stg", "1.0-2", true, true),
                ("stg", "1.0-3", false, false),
            ]
        );
        assert_eq!(runs[1].finished_at, Some(at("2026-12-01T10:05:00Z")));
        let wanted = BTreeSet::from([("pw-demo".to_owned(), "1.0-2".to_owned())]);
        assert!(staging_gate("prod", "stg", &wanted, &runs).is_empty());
        let newer = BTreeSet::from([("pw-demo".to_owned(), "1.0-3".to_owned())]);
        assert_eq!(staging_gate("prod", "stg", &newer, &runs).len(), 2);
    }

    fn run(group: &str, packages: &[(&str, &str)], passed: bool, drill: bool) -> StagingRun {
        StagingRun {
            group: group.into(),
            packages: packages
                .iter()
                .map(|(p, v)| ((*p).to_owned(), (*v).to_owned()))
                .collect(),
            passed,
            rollback_drill: drill,
            finished_at: None,
        }
    }

    fn versions(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(p, v)| ((*p).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn satisfied_by_passing_runs_with_one_drill() {
        let wanted = versions(&[
            ("openssl", "3.0.22-1~deb12u2"),
            ("libssl3", "3.0.22-1~deb12u2"),
        ]);
        let runs = [
            run("stg", &[("openssl", "3.0.22-1~deb12u2")], true, true),
            run("stg", &[("libssl3", "3.0.22-1~deb12u2")], true, false),
        ];
        assert!(staging_gate("prod", "stg", &wanted, &runs).is_empty());
    }

    #[test]
    fn names_missing_versions_failed_runs_and_the_missing_drill() {
        let wanted = versions(&[("openssl", "3.0.22-1~deb12u2"), ("bash", "5.2.15-2+b13")]);
        let runs = [
            run("stg", &[("openssl", "3.0.22-1~deb12u2")], true, false),
            run("stg", &[("bash", "5.2.15-2+b13")], false, true),
            run("other", &[("bash", "5.2.15-2+b13")], true, true),
            run("stg", &[("openssl", "3.0.20-1~deb12u2")], true, true),
        ];
        let problems = staging_gate("prod", "stg", &wanted, &runs);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("bash 5.2.15-2+b13"), "{problems:?}");
        assert!(!problems[0].contains("openssl"), "{problems:?}");
        assert!(problems[1].contains("rollback drill"), "{problems:?}");
    }
}
