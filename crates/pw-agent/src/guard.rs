//! The agent-side change guard (`apply_change`): record the exact versions (journaled before
//! anything is installed), run the protection steps, mark the watched log files, install the
//! targets, run the health checks until they all pass or the verification period ends, and on
//! failure roll back to the recorded versions and check again. Every step is journaled (fsync)
//! first, so a restarted agent finishes a half-done change: it rolls back when the install had
//! started and verification never passed, and otherwise goes on (skipping finished protection
//! steps). A change that fails before anything was touched says so (`not_started`). With
//! `drill`, a verified change then runs the rollback drill (`drill.rs`) through the same
//! rollback path ([`Guard::restore`]). Package names and versions reach apt as argv entries
//! through pw-host, never through a shell.

use std::time::Duration;

use jiff::Timestamp;
use pw_host::Runner;
use pw_host::apt::{self, LocalArchive, PackageTarget, RecordedVersion};
use pw_host::restart::UnitVerb;
use pw_model::PackageName;
use pw_protocol::{
    ChangeHooks, ChangeOutcome, ChangeReport, CommandResult, CommandStatus, DrillResult,
    HealthCheckSpec, PackagePin, ProtectionResult, ProtectionStep, RollbackReason, VersionSeen,
};
use pw_version::DebVersion;

use crate::checks::{self, verify};
use crate::journal::{GuardStep, JournalAppender, JournalEntry};
use crate::protect;

/// One `apply_change` command.
#[derive(Debug, Clone)]
pub struct ChangeSpec {
    pub id: String,
    pub targets: Vec<PackagePin>,
    pub checks: Vec<HealthCheckSpec>,
    pub verification: Duration,
    pub protection: Vec<ProtectionStep>,
    /// Run the rollback drill after a verified install.
    pub drill: bool,
    /// A downgrade plan's change: the targets are checked as lower, available and installable,
    /// then installed with `--allow-downgrades` (docs/downgrade.md). No other change installs
    /// a lower version.
    pub downgrade: bool,
    /// A downgrade plan's local archive: a directory of `.deb` files offered to apt beside the
    /// host's sources in this change's checks, installs and rollbacks (`--with-source`).
    pub archive: Option<String>,
    /// The plan's hooks: conffile policy, units stopped around the install, migrations, the
    /// benchmark (`hooks.rs`).
    pub hooks: ChangeHooks,
}

/// How far a change got: what an unexpected error means for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing run yet that changes the host.
    Untouched,
    /// Protection steps started; nothing installed.
    Protecting,
    /// The install started.
    Installing,
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
        report: ChangeReport::untouched(ChangeOutcome::Done),
        stage: Stage::Untouched,
        downgrade: None,
        archive: None,
        hooks: HookState::from_journal(&spec.hooks, prior),
    };
    let (ran, resumed) = guard.run_resuming(prior);
    let outcome = ran.unwrap_or_else(|error| {
        let detail = format!("{error:#}");
        match guard.stage {
            Stage::Untouched => ChangeOutcome::NotStarted { detail },
            Stage::Protecting => ChangeOutcome::ProtectionFailed {
                step: "protection".into(),
                detail,
            },
            Stage::Installing => ChangeOutcome::Failed { detail },
        }
    });
    let mut report = guard.report;
    if !spec.hooks.is_empty() {
        report.hooks = Some(Box::new(guard.hooks.report));
    }
    report.resumed = resumed;
    if let Some(checked) = guard.downgrade {
        report.downgrade = Some(Box::new(crate::downgrade::finish(runner, checked)));
    }
    if let Ok(found) = guard_versions(runner, &spec.targets) {
        report.final_versions = found;
    }
    let (status, message) = status_and_message(&outcome, &report);
    report.outcome = outcome;
    CommandResult {
        checks: None,
        status,
        message,
        finished_at: Timestamp::now(),
        change: Some(report),
        evidence: None,
        restart: None,
    }
}

/// The command's status and message for how the change ended (a failed resume of paused writes
/// fails it whatever the outcome).
fn status_and_message(outcome: &ChangeOutcome, report: &ChangeReport) -> (CommandStatus, String) {
    let (status, message) = match (outcome, report.drill.as_ref().map(|d| &d.result)) {
        (ChangeOutcome::Done, None) => (
            CommandStatus::Succeeded,
            "done: on the targets and healthy".into(),
        ),
        (ChangeOutcome::Done, Some(DrillResult::Passed)) => (
            CommandStatus::Succeeded,
            "done: on the targets and healthy; the rollback drill passed".into(),
        ),
        (ChangeOutcome::Done, Some(DrillResult::Failed { stage, detail })) => (
            CommandStatus::Failed,
            format!(
                "on the targets and healthy, but the rollback drill failed ({stage:?}): {detail}"
            ),
        ),
        (ChangeOutcome::RolledBack { reason, detail }, _) => (
            CommandStatus::Failed,
            format!("rolled back ({reason:?}): {detail}"),
        ),
        (ChangeOutcome::Failed { detail }, _) => {
            (CommandStatus::Failed, format!("failed: {detail}"))
        }
        (ChangeOutcome::Refused { detail }, _) => (CommandStatus::Refused, detail.clone()),
        (ChangeOutcome::NotStarted { detail }, _) => (
            CommandStatus::Failed,
            format!("failed before the change (nothing touched): {detail}"),
        ),
        (ChangeOutcome::ProtectionFailed { step, detail }, _) => (
            CommandStatus::Failed,
            format!("protection step {step} failed (nothing installed): {detail}"),
        ),
    };
    match report.resumed.iter().find(|r| !r.ok) {
        Some(failed) => (
            CommandStatus::Failed,
            format!(
                "{message}; resuming writes ({}) failed: {}",
                failed.name, failed.detail
            ),
        ),
        None => (status, message),
    }
}

/// One change in progress: what it touched so far and what the report says.
struct Guard<'a> {
    runner: &'a dyn Runner,
    log: &'a mut JournalAppender,
    spec: &'a ChangeSpec,
    report: ChangeReport,
    stage: Stage,
    /// A downgrade's checks, once passed (finished with the files read again at the end).
    downgrade: Option<crate::downgrade::Checked>,
    /// A downgrade's local archive, checked (`LocalArchive::open`) before the change.
    archive: Option<LocalArchive>,
    /// What the change's hooks did so far.
    hooks: HookState,
}

impl Guard<'_> {
    /// [`Guard::run`] between the resumes of paused writes (docs/protection.md): a pause an
    /// agent that stopped mid-change left is resumed first (and the step runs again if the
    /// change goes on); what this run paused is resumed on every path — done, failed, rolled
    /// back, an error, a panic. Returns the run's result and every resume.
    fn run_resuming(
        &mut self,
        prior: &[GuardStep],
    ) -> (anyhow::Result<ChangeOutcome>, Vec<ProtectionResult>) {
        let (runner, spec) = (self.runner, self.spec);
        let (id, steps) = (&spec.id, &spec.protection);
        let left_paused = crate::unprotect::paused_in(prior, steps);
        let mut resumed = crate::unprotect::resume(runner, self.log, id, &left_paused);
        let prior: Vec<GuardStep> = (prior.iter().cloned())
            .chain(resumed.iter().map(|result| GuardStep::Resumed {
                result: result.clone(),
            }))
            .collect();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(&prior)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the change guard panicked")));
        let paused = crate::unprotect::paused_now(&self.report.protection, steps);
        resumed.extend(crate::unprotect::resume(runner, self.log, id, &paused));
        (ran, resumed)
    }

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
        // Refuse bad checks and steps before anything runs.
        checks::build(&self.spec.checks, &[])?;
        pw_protocol::validate_protection_steps(&self.spec.protection)
            .map_err(anyhow::Error::msg)?;
        self.spec
            .hooks
            .validate()
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
        let recorded_before = prior.iter().find_map(|s| match s {
            GuardStep::Recorded { versions } => Some(versions.clone()),
            _ => None,
        });
        let installing = prior.iter().any(|s| matches!(s, GuardStep::Installing));
        if let Some(dir) = self.spec.archive.as_deref().filter(|_| self.spec.downgrade) {
            match LocalArchive::open(self.runner, dir) {
                Ok(archive) => self.archive = Some(archive),
                // Resuming mid-change: the way back to the recorded versions still works.
                Err(_) if installing => {}
                Err(error) => return Err(error),
            }
        }
        let recorded = match recorded_before {
            Some(versions) if installing => {
                // Resuming after a restart mid-change: done if verification had passed, else
                // back to the recorded versions.
                self.stage = Stage::Installing;
                self.report.recorded = versions.clone();
                self.report.protection = protect::journaled(prior);
                let recorded = to_recorded(&versions)?;
                if let Some(passed) = prior.iter().find_map(|s| match s {
                    GuardStep::Verified { passed } => Some(passed.clone()),
                    _ => None,
                }) {
                    self.report.passed_checks = passed;
                    return self.after_verified(&targets, &recorded, prior);
                }
                return self.roll_back(
                    &recorded,
                    RollbackReason::Interrupted,
                    "the agent stopped before verification passed".into(),
                );
            }
            // Stopped before installing: go on from the journaled versions.
            Some(versions) => {
                self.report.recorded = versions.clone();
                to_recorded(&versions)?
            }
            None => {
                let packages: Vec<PackageName> =
                    targets.iter().map(|t| t.package.clone()).collect();
                let recorded = apt::record_versions(self.runner, &packages)?;
                self.report.recorded = recorded.iter().map(seen).collect();
                self.journal(GuardStep::Recorded {
                    versions: self.report.recorded.clone(),
                })?;
                recorded
            }
        };
        if self.spec.downgrade {
            // Before anything changes: a failed check leaves the host untouched.
            let archive = self.archive.as_ref();
            let checked = crate::downgrade::check(self.runner, &targets, &recorded, archive)?;
            self.downgrade = Some(checked);
        }
        // The baseline, before anything (protection included) touches the host.
        self.benchmark_before()?;
        if !self.spec.protection.is_empty() {
            self.stage = Stage::Protecting;
            protect::run_steps(
                self.runner,
                self.log,
                &self.spec.id,
                &self.spec.protection,
                prior,
                &mut self.report.protection,
            )?;
            if let Some(failed) = self.report.protection.last().filter(|r| !r.ok) {
                return Ok(ChangeOutcome::ProtectionFailed {
                    step: failed.name.clone(),
                    detail: failed.detail.clone(),
                });
            }
        }
        // Lines logged from here on count against the log checks.
        let marks = checks::marks(self.runner, &self.spec.checks)?;
        self.journal(GuardStep::LogMarks {
            marks: marks.clone(),
        })?;
        let checks = checks::build(&self.spec.checks, &marks)?;
        self.stage = Stage::Installing;
        self.journal(GuardStep::Installing)?;
        let (ok, detail) = self.install(&targets)?;
        let at = Timestamp::now();
        self.report.installed_at = Some(at);
        self.journal(GuardStep::Installed {
            at,
            ok,
            detail: detail.clone(),
        })?;
        if !ok {
            return self.roll_back(&recorded, RollbackReason::ApplyFailed, detail);
        }
        match verify(self.runner, &checks, self.spec.verification) {
            Ok(passed) => {
                if let Err(detail) = self.benchmark_after() {
                    self.report.failed_check = Some(hooks::BENCHMARK_CHECK.to_owned());
                    return self.roll_back(
                        &recorded,
                        RollbackReason::HealthCheckFailed,
                        format!("{}: {detail}", hooks::BENCHMARK_CHECK),
                    );
                }
                self.journal(GuardStep::Verified {
                    passed: passed.clone(),
                })?;
                self.report.passed_checks = passed;
                self.after_verified(&targets, &recorded, prior)
            }
            Err((check, detail)) => {
                self.report.failed_check = Some(check.clone());
                self.roll_back(
                    &recorded,
                    RollbackReason::HealthCheckFailed,
                    format!("check {check}: {detail}"),
                )
            }
        }
    }

    /// Stops the hooks' units, installs the exact targets, runs the migrations forward and
    /// starts the units again: whether all of it worked, and what happened. `Err` only when
    /// the journal cannot be written.
    fn install(&mut self, targets: &[PackageTarget]) -> anyhow::Result<(bool, String)> {
        if let Err(detail) = self.units(UnitVerb::Stop) {
            return Ok((false, detail));
        }
        let (ok, detail) = self.install_packages(targets);
        if !ok {
            return Ok((false, detail));
        }
        if let Err(failed) = self.migrate_forward()? {
            return Ok((false, failed));
        }
        if let Err(failed) = self.units(UnitVerb::Start) {
            return Ok((false, failed));
        }
        Ok((true, detail))
    }

    /// apt installs the exact targets (lower ones only for a downgrade change), with the
    /// hooks' conffile policy.
    fn install_packages(&self, targets: &[PackageTarget]) -> (bool, String) {
        let replace = self.spec.hooks.conffiles == pw_protocol::ConffilePolicy::Replace;
        let (downgrade, archive) = (self.spec.downgrade, self.archive.as_ref());
        let installed = apt::install_with(self.runner, targets, downgrade, replace, archive);
        match installed {
            Ok(o) if o.succeeded() => (true, o.command),
            Ok(o) => (
                false,
                format!(
                    "install exit {:?}, not at the targets: {:?}; {}",
                    o.exit_code, o.mismatches, o.output_tail
                ),
            ),
            Err(error) => (false, format!("{error:#}")),
        }
    }

    /// A verified change: done, or on to the rollback drill when the command asked for one.
    fn after_verified(
        &mut self,
        targets: &[PackageTarget],
        recorded: &[RecordedVersion],
        prior: &[GuardStep],
    ) -> anyhow::Result<ChangeOutcome> {
        if self.spec.drill {
            self.drill(targets, recorded, prior)
        } else {
            Ok(ChangeOutcome::Done)
        }
    }

    /// The failure path: back to the recorded versions, checked again.
    fn roll_back(
        &mut self,
        recorded: &[RecordedVersion],
        reason: RollbackReason,
        detail: String,
    ) -> anyhow::Result<ChangeOutcome> {
        let detail = match self.restore_with(recorded, &detail, true)? {
            Restored::NotRestored(why) => {
                return Ok(ChangeOutcome::Failed {
                    detail: format!("{detail}; then the rollback failed {why}"),
                });
            }
            Restored::Checked(Ok(passed)) => {
                self.report.passed_checks = passed;
                detail
            }
            Restored::Checked(Err((check, still))) => {
                format!("{detail}; after the rollback check {check} still fails: {still}")
            }
        };
        Ok(ChangeOutcome::RolledBack { reason, detail })
    }

    /// The one rollback path (a failure's and the drill's): journal it, stop the hooks' units,
    /// reverse the migrations that ran, put every package back to its recorded version (apt
    /// checks the versions afterwards), start the units, then run the checks.
    fn restore(&mut self, recorded: &[RecordedVersion], detail: &str) -> anyhow::Result<Restored> {
        self.restore_with(recorded, detail, false)
    }

    /// Puts back the data of the protection steps' backups and snapshots (`unprotect.rs`):
    /// `Ok(Err(why))` when one could not be restored. `Err` only when the journal fails.
    fn restore_data(&mut self) -> anyhow::Result<Result<(), String>> {
        self.report.restored = crate::unprotect::restore_data(
            self.runner,
            self.log,
            &self.spec.id,
            &self.spec.protection,
            &self.report.protection,
        )?;
        Ok(match self.report.restored.iter().find(|r| !r.ok) {
            Some(failed) => Err(format!(
                "(back on the recorded versions, but restoring the data of {} failed): {}",
                failed.name, failed.detail
            )),
            None => Ok(()),
        })
    }

    /// [`Guard::restore`]; with `data` (a failure's rollback, not the drill's) the backups and
    /// snapshots of the protection steps are put back once the versions are, before the units
    /// start and the checks run again (docs/protection.md).
    fn restore_with(
        &mut self,
        recorded: &[RecordedVersion],
        detail: &str,
        data: bool,
    ) -> anyhow::Result<Restored> {
        // Log checks after a rollback count only lines written from the rollback on (the
        // failed version's lines are why we roll back).
        let marks = checks::marks(self.runner, &self.spec.checks)?;
        let checks = checks::build(&self.spec.checks, &marks)?;
        self.journal(GuardStep::RollingBack {
            detail: detail.to_owned(),
        })?;
        // A unit that does not stop is no reason not to go back; its failure is in the report.
        let _ = self.units(UnitVerb::Stop);
        let reverse_failed = self.migrate_reverse()?;
        let outcome = apt::rollback_with(self.runner, recorded, self.archive.as_ref())?;
        // The data goes back once the versions are, before the units start again.
        let data_restored = if data && outcome.succeeded() {
            self.restore_data()?
        } else {
            Ok(())
        };
        let started = self.units(UnitVerb::Start);
        if !outcome.succeeded() {
            return Ok(Restored::NotRestored(format!(
                "(exit {:?}, mismatches {:?}): {}",
                outcome.exit_code, outcome.mismatches, outcome.output_tail
            )));
        }
        if !reverse_failed.is_empty() {
            return Ok(Restored::NotRestored(format!(
                "(the recorded versions are back, but {})",
                reverse_failed.join("; ")
            )));
        }
        if let Err(detail) = started {
            return Ok(Restored::NotRestored(format!(
                "(the recorded versions are back, but {detail})"
            )));
        }
        if let Err(why) = data_restored {
            return Ok(Restored::NotRestored(why));
        }
        Ok(Restored::Checked(verify(
            self.runner,
            &checks,
            self.spec.verification,
        )))
    }
}

/// How a rollback went.
enum Restored {
    /// apt failed or left other versions than the recorded ones (exit, mismatches, output).
    NotRestored(String),
    /// On the recorded versions; the checks' verdict there.
    Checked(Result<Vec<String>, (String, String)>),
}

pub(crate) fn seen(r: &RecordedVersion) -> VersionSeen {
    VersionSeen {
        name: r.package.to_string(),
        version: r.version.as_ref().map(|v| v.as_str().to_owned()),
    }
}

pub(crate) fn to_recorded(versions: &[VersionSeen]) -> anyhow::Result<Vec<RecordedVersion>> {
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

#[path = "drill.rs"]
mod drill;

#[path = "hooks.rs"]
mod hooks;
use hooks::HookState;

#[cfg(test)]
#[path = "hooks_tests.rs"]
mod hooks_tests;

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "guard_core_tests.rs"]
mod core_tests;

#[cfg(test)]
#[path = "guard_protect_tests.rs"]
mod protect_tests;
