//! Observation's agent side (docs/design/agent-protocol.md "Observation"): a round of the
//! group's checks (`run_checks`, read-only) and the late rollback to the exact recorded
//! versions (`late_rollback`) through the guard's rollback path (`apt::rollback`, then the
//! checks as after a guarded rollback).

use std::time::Duration;

use jiff::Timestamp;
use pw_host::Runner;
use pw_host::apt;
use pw_host::health::{self, Verdict};
use pw_protocol::{
    ChangeOutcome, ChangeReport, CheckRound, CheckVerdict, CommandResult, CommandStatus,
    HealthCheckSpec, LogMarkWire, RollbackReason, VersionSeen,
};

use crate::journal::LogMarkSeen;
use crate::runner::done;

/// Runs every check once. Log checks count the lines after the given marks; a file without
/// one is marked now (nothing counted this round). The marks returned are taken before the
/// checks run, so a line is counted at least once, never missed.
pub(crate) fn run_checks(
    runner: &dyn Runner,
    specs: &[HealthCheckSpec],
    given: &[LogMarkWire],
) -> CommandResult {
    let round = match round(runner, specs, given) {
        Ok(round) => round,
        Err(error) => return done(CommandStatus::Failed, format!("{error:#}")),
    };
    let failures = round.failures();
    let message = if failures.is_empty() {
        format!("{} check(s) passed", round.results.len())
    } else {
        format!(
            "{} of {} check(s) failed",
            failures.len(),
            round.results.len()
        )
    };
    let mut result = done(CommandStatus::Succeeded, message);
    result.checks = Some(Box::new(round));
    result
}

fn round(
    runner: &dyn Runner,
    specs: &[HealthCheckSpec],
    given: &[LogMarkWire],
) -> anyhow::Result<CheckRound> {
    let now_marks = crate::checks::marks(runner, specs)?;
    let since: Vec<LogMarkSeen> = now_marks
        .iter()
        .map(|now| {
            given
                .iter()
                .find(|m| m.path == now.path)
                .map(|m| LogMarkSeen {
                    path: m.path.clone(),
                    size: m.size,
                    inode: m.inode,
                })
                .unwrap_or_else(|| now.clone())
        })
        .collect();
    let checks = crate::checks::build(specs, &since)?;
    let results = checks
        .iter()
        .map(|(name, check)| {
            let (ok, detail) = match health::run_check(runner, check) {
                Verdict::Healthy(what) => (true, what),
                Verdict::NotApplicable(what) => (true, what),
                Verdict::Unhealthy(why) => (false, why),
            };
            CheckVerdict {
                name: name.clone(),
                ok,
                detail,
            }
        })
        .collect();
    let marks = now_marks
        .into_iter()
        .map(|m| LogMarkWire {
            path: m.path,
            size: m.size,
            inode: m.inode,
        })
        .collect();
    Ok(CheckRound { results, marks })
}

/// Reinstalls exactly `recorded` and checks the host there; the report's final versions are
/// what dpkg shows afterwards.
pub(crate) fn late_rollback(
    runner: &dyn Runner,
    recorded: &[VersionSeen],
    specs: &[HealthCheckSpec],
    verification: Duration,
) -> CommandResult {
    let mut report = ChangeReport::untouched(ChangeOutcome::Done);
    report.recorded = recorded.to_vec();
    let outcome = match rollback(runner, recorded, specs, verification, &mut report) {
        Ok(outcome) => outcome,
        Err(error) => ChangeOutcome::Failed {
            detail: format!("{error:#}"),
        },
    };
    let (status, message) = match &outcome {
        ChangeOutcome::RolledBack { detail, .. } => (
            CommandStatus::Succeeded,
            format!("rolled back to the recorded versions: {detail}"),
        ),
        ChangeOutcome::Failed { detail } => (
            CommandStatus::Failed,
            format!("late rollback failed: {detail}"),
        ),
        other => (CommandStatus::Failed, format!("{other:?}")),
    };
    report.outcome = outcome;
    let mut result = done(status, message);
    result.change = Some(report);
    result
}

fn rollback(
    runner: &dyn Runner,
    recorded: &[VersionSeen],
    specs: &[HealthCheckSpec],
    verification: Duration,
    report: &mut ChangeReport,
) -> anyhow::Result<ChangeOutcome> {
    let wanted = crate::guard::to_recorded(recorded)?;
    // Log checks after the rollback count only lines written from here on.
    let marks = crate::checks::marks(runner, specs)?;
    let checks = crate::checks::build(specs, &marks)?;
    let outcome = apt::rollback(runner, &wanted)?;
    let packages: Vec<_> = wanted.iter().map(|r| r.package.clone()).collect();
    report.final_versions = apt::record_versions(runner, &packages)?
        .iter()
        .map(crate::guard::seen)
        .collect();
    report.installed_at = Some(Timestamp::now());
    if !outcome.succeeded() {
        return Ok(ChangeOutcome::Failed {
            detail: format!(
                "apt (exit {:?}, mismatches {:?}): {}",
                outcome.exit_code, outcome.mismatches, outcome.output_tail
            ),
        });
    }
    let detail = match crate::checks::verify(runner, &checks, verification) {
        Ok(passed) => {
            report.passed_checks = passed;
            "healthy on the recorded versions".to_owned()
        }
        Err((check, still)) => {
            report.failed_check = Some(check.clone());
            format!("check {check} still fails on the recorded versions: {still}")
        }
    };
    Ok(ChangeOutcome::RolledBack {
        reason: RollbackReason::HealthCheckFailed,
        detail,
    })
}
