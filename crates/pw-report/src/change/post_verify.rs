//! A downgrade's post-verify results in the change report (seed 003): the checks, apt's
//! simulation, the targets found available (and which the plan's local archive offered), the
//! conffiles' permissions before and after, and the vulnerability re-scan compared with the
//! plan's prediction (`rescan.rs`).

use std::collections::BTreeSet;

use pw_protocol::{ChangeReport as AgentReport, DowngradeReport};

use crate::change::facts::{HostRun, PlanFacts};
use crate::change::model::{FileRow, PostVerify};
use crate::change::rescan::VulnerabilityRescan;

/// The host's re-scan against the plan's prediction for it (`rescan.rs`).
pub(crate) fn rescan(
    plan: Option<&PlanFacts>,
    run: &HostRun,
    report: &AgentReport,
) -> Option<VulnerabilityRescan> {
    let scan = run.rescan.as_ref()?;
    let predicted: Vec<_> = plan
        .map(|p| p.reintroduced.iter().filter(|r| r.host_id == run.host_id))
        .into_iter()
        .flatten()
        .collect();
    let finals: Vec<(String, Option<String>)> = (report.final_versions.iter())
        .map(|v| (v.name.clone(), v.version.clone()))
        .collect();
    let installed_at = report.installed_at;
    Some(crate::change::rescan::compare(
        &predicted,
        scan,
        &finals,
        installed_at,
    ))
}

pub(crate) fn post_verify(
    report: &AgentReport,
    downgrade: &DowngradeReport,
    vulnerabilities: Option<VulnerabilityRescan>,
) -> PostVerify {
    let mut paths: BTreeSet<&str> = downgrade
        .files_before
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    paths.extend(downgrade.files_after.iter().map(|f| f.path.as_str()));
    let files = paths
        .into_iter()
        .map(|path| {
            let before = downgrade
                .files_before
                .iter()
                .find(|f| f.path == path)
                .cloned();
            let after = downgrade
                .files_after
                .iter()
                .find(|f| f.path == path)
                .cloned();
            let said = downgrade.files_changed.iter().any(|c| {
                c.strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with(':'))
            });
            FileRow {
                path: path.to_owned(),
                changed: said || before != after,
                before,
                after,
            }
        })
        .collect();
    PostVerify {
        checks_passed: report.passed_checks.clone(),
        check_failed: report.failed_check.clone(),
        simulation: downgrade.simulation.clone(),
        available: downgrade.available.clone(),
        files,
        files_changed: downgrade.files_changed.clone(),
        archive: downgrade.archive.clone(),
        from_archive: downgrade.from_archive.clone(),
        vulnerabilities,
    }
}
