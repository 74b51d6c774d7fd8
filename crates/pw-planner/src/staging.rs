//! The staging-first gate (DESIGN.md §4): a production group with a staging counterpart may only
//! be approved when every package version the plan installs there passed on the counterpart, and
//! at least one of those passing runs was a rollback drill (apply → roll back → re-apply, each
//! verified). Staging results are input data ([`StagingRun`]), typically exported by the rollout
//! engine after the staging plan ran.

use std::collections::{BTreeMap, BTreeSet};

use crate::fleet::StagingRun;

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

#[cfg(test)]
mod tests {
    use super::*;

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
