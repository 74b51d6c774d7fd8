//! The agent-side change guard (`apply_change`): record the exact versions (journaled before
//! anything is installed), install the targets, run the health checks until they all pass or the
//! verification period ends, and on failure roll back to the recorded versions and check again.
//! Every step is journaled (fsync) first, so a restarted agent finishes a half-done change: it
//! rolls back when verification never passed. Package names and versions reach apt as argv
//! entries through pw-host, never through a shell.

use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use pw_host::Runner;
use pw_host::apt::{self, PackageTarget, RecordedVersion};
use pw_host::health::{self, Check, HttpCheck, Verdict};
use pw_model::PackageName;
use pw_protocol::{
    ChangeOutcome, ChangeReport, CommandResult, CommandStatus, HealthCheckSpec, PackagePin,
    RollbackReason, VersionSeen,
};
use pw_version::DebVersion;

use crate::journal::{GuardStep, JournalAppender, JournalEntry};

/// How often a failing check is tried again during the verification period.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// One `apply_change` command.
#[derive(Debug, Clone)]
pub struct ChangeSpec {
    pub id: String,
    pub targets: Vec<PackagePin>,
    pub checks: Vec<HealthCheckSpec>,
    pub verification: Duration,
}

/// Runs (or, with `prior` steps from the journal, finishes) a change and returns its result.
pub fn run_change(
    runner: &dyn Runner,
    log: &mut JournalAppender,
    spec: &ChangeSpec,
    prior: &[GuardStep],
) -> CommandResult {
    let mut guard = Guard {
        runner,
        log,
        spec,
        report: ChangeReport {
            outcome: ChangeOutcome::Failed {
                detail: String::new(),
            },
            recorded: vec![],
            final_versions: vec![],
            installed_at: None,
            passed_checks: vec![],
            failed_check: None,
        },
    };
    let outcome = guard
        .run(prior)
        .unwrap_or_else(|error| ChangeOutcome::Failed {
            detail: format!("{error:#}"),
        });
    let mut report = guard.report;
    if let Ok(found) = guard_versions(runner, &spec.targets) {
        report.final_versions = found;
    }
    let (status, message) = match &outcome {
        ChangeOutcome::Done => (
            CommandStatus::Succeeded,
            "done: on the targets and healthy".into(),
        ),
        ChangeOutcome::RolledBack { reason, detail } => (
            CommandStatus::Failed,
            format!("rolled back ({reason:?}): {detail}"),
        ),
        ChangeOutcome::Failed { detail } => (CommandStatus::Failed, format!("failed: {detail}")),
    };
    report.outcome = outcome;
    CommandResult {
        status,
        message,
        finished_at: Timestamp::now(),
        change: Some(report),
    }
}

struct Guard<'a> {
    runner: &'a dyn Runner,
    log: &'a mut JournalAppender,
    spec: &'a ChangeSpec,
    report: ChangeReport,
}

impl Guard<'_> {
    fn journal(&mut self, step: GuardStep) -> anyhow::Result<()> {
        self.log.record(&JournalEntry::Progress {
            id: self.spec.id.clone(),
            step,
        })
    }

    fn run(&mut self, prior: &[GuardStep]) -> anyhow::Result<ChangeOutcome> {
        let targets = self
            .spec
            .targets
            .iter()
            .map(|p| PackageTarget::parse(&p.name, &p.version))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let checks = self
            .spec
            .checks
            .iter()
            .map(|c| Ok((c.name().to_owned(), to_check(c)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let recorded_before = prior.iter().find_map(|s| match s {
            GuardStep::Recorded { versions } => Some(versions.clone()),
            _ => None,
        });
        if let Some(recorded) = recorded_before {
            // Resuming after a restart: finish what the journal says was started.
            self.report.recorded = recorded.clone();
            let recorded = to_recorded(&recorded)?;
            if let Some(passed) = prior.iter().find_map(|s| match s {
                GuardStep::Verified { passed } => Some(passed.clone()),
                _ => None,
            }) {
                self.report.passed_checks = passed;
                return Ok(ChangeOutcome::Done);
            }
            return self.roll_back(
                &recorded,
                &checks,
                RollbackReason::Interrupted,
                "the agent stopped before verification passed".into(),
            );
        }
        let packages: Vec<PackageName> = targets.iter().map(|t| t.package.clone()).collect();
        let recorded = apt::record_versions(self.runner, &packages)?;
        self.report.recorded = recorded.iter().map(seen).collect();
        self.journal(GuardStep::Recorded {
            versions: self.report.recorded.clone(),
        })?;
        self.journal(GuardStep::Installing)?;
        let outcome = apt::install_exact(self.runner, &targets);
        let at = Timestamp::now();
        self.report.installed_at = Some(at);
        let (ok, detail) = match &outcome {
            Ok(o) if o.succeeded() => (true, o.command.clone()),
            Ok(o) => (
                false,
                format!(
                    "install exit {:?}, not at the targets: {:?}; {}",
                    o.exit_code, o.mismatches, o.output_tail
                ),
            ),
            Err(error) => (false, format!("{error:#}")),
        };
        self.journal(GuardStep::Installed {
            at,
            ok,
            detail: detail.clone(),
        })?;
        if !ok {
            return self.roll_back(&recorded, &checks, RollbackReason::ApplyFailed, detail);
        }
        match verify(self.runner, &checks, self.spec.verification) {
            Ok(passed) => {
                self.journal(GuardStep::Verified {
                    passed: passed.clone(),
                })?;
                self.report.passed_checks = passed;
                Ok(ChangeOutcome::Done)
            }
            Err((check, detail)) => {
                self.report.failed_check = Some(check.clone());
                self.roll_back(
                    &recorded,
                    &checks,
                    RollbackReason::HealthCheckFailed,
                    format!("check {check}: {detail}"),
                )
            }
        }
    }

    fn roll_back(
        &mut self,
        recorded: &[RecordedVersion],
        checks: &[(String, Check)],
        reason: RollbackReason,
        detail: String,
    ) -> anyhow::Result<ChangeOutcome> {
        self.journal(GuardStep::RollingBack {
            detail: detail.clone(),
        })?;
        let outcome = apt::rollback(self.runner, recorded)?;
        if !outcome.succeeded() {
            return Ok(ChangeOutcome::Failed {
                detail: format!(
                    "{detail}; then the rollback failed (exit {:?}, mismatches {:?}): {}",
                    outcome.exit_code, outcome.mismatches, outcome.output_tail
                ),
            });
        }
        let detail = match verify(self.runner, checks, self.spec.verification) {
            Ok(passed) => {
                self.report.passed_checks = passed;
                detail
            }
            Err((check, still)) => {
                format!("{detail}; after the rollback check {check} still fails: {still}")
            }
        };
        Ok(ChangeOutcome::RolledBack { reason, detail })
    }
}

/// Runs every check until each has passed once (or is not applicable here), or the period
/// ends: then the first check without a pass and its last verdict.
fn verify(
    runner: &dyn Runner,
    checks: &[(String, Check)],
    period: Duration,
) -> Result<Vec<String>, (String, String)> {
    let started = Instant::now();
    let mut last: Vec<Option<Verdict>> = vec![None; checks.len()];
    loop {
        for (i, (_, check)) in checks.iter().enumerate() {
            if last[i].as_ref().is_none_or(Verdict::is_unhealthy) {
                last[i] = Some(health::run_check(runner, check));
            }
        }
        let failing = checks
            .iter()
            .zip(&last)
            .find(|(_, v)| v.as_ref().is_none_or(Verdict::is_unhealthy));
        match failing {
            None => return Ok(checks.iter().map(|(name, _)| name.clone()).collect()),
            Some(((name, _), verdict)) if started.elapsed() + CHECK_INTERVAL > period => {
                return Err((name.clone(), format!("{verdict:?}")));
            }
            Some(_) => std::thread::sleep(CHECK_INTERVAL),
        }
    }
}

fn to_check(spec: &HealthCheckSpec) -> anyhow::Result<Check> {
    Ok(match spec {
        HealthCheckSpec::Http {
            addr,
            path,
            expect_status,
            ..
        } => Check::Http(HttpCheck {
            addr: addr
                .parse()
                .with_context(|| format!("check address {addr}"))?,
            path: path.clone(),
            expect_status: *expect_status,
            timeout: Duration::from_secs(3),
        }),
        HealthCheckSpec::Tcp { addr, .. } => Check::TcpPort {
            addr: addr
                .parse()
                .with_context(|| format!("check address {addr}"))?,
            timeout: Duration::from_secs(3),
        },
        HealthCheckSpec::Command { argv, .. } => {
            let (program, args) = argv.split_first().context("empty check command")?;
            Check::Command(pw_host::Invocation::new(program, args.iter().cloned()))
        }
        HealthCheckSpec::SystemdUnit { unit, .. } => Check::SystemdUnit(unit.clone()),
    })
}

fn seen(r: &RecordedVersion) -> VersionSeen {
    VersionSeen {
        name: r.package.to_string(),
        version: r.version.as_ref().map(|v| v.as_str().to_owned()),
    }
}

fn to_recorded(versions: &[VersionSeen]) -> anyhow::Result<Vec<RecordedVersion>> {
    versions
        .iter()
        .map(|v| {
            Ok(RecordedVersion {
                package: PackageName::parse(&v.name)?,
                version: v.version.as_deref().map(DebVersion::parse).transpose()?,
            })
        })
        .collect()
}

fn guard_versions(runner: &dyn Runner, targets: &[PackagePin]) -> anyhow::Result<Vec<VersionSeen>> {
    let packages = targets
        .iter()
        .map(|p| PackageName::parse(&p.name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(apt::record_versions(runner, &packages)?
        .iter()
        .map(seen)
        .collect())
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
