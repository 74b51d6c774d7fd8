//! The rollback drill (`apply_change` with `drill: true`), run after the change was verified:
//! roll back to the exact recorded versions through the guard's one rollback path
//! ([`Guard::restore`]), check that the recorded versions are installed and healthy, install
//! the targets again and verify again. Each stage is journaled (`drill_rolled_back` with the
//! evidence so far, `drill_reapplying`, `drill_verified`), so a restarted agent goes on where it
//! stopped: the rollback runs again when its result was not journaled (apt's rollback is
//! idempotent); a re-apply that started and never verified is rolled back, like any install
//! (the restart may be the new version's doing), and the drill fails at `reapply`.
//!
//! A host unhealthy on its old versions still gets the verified targets back (the drill fails at
//! `rollback_checks`); a rollback apt cannot do leaves the host for a human (`failed`).

use pw_host::apt::{PackageTarget, RecordedVersion};
use pw_protocol::{ChangeOutcome, DrillReport, DrillResult, DrillStage, RollbackReason};

use super::{Guard, Restored, guard_versions, verify};
use crate::checks;
use crate::journal::GuardStep;

impl Guard<'_> {
    /// Runs (or finishes, from the journaled `prior` steps) the drill of a verified change.
    pub(super) fn drill(
        &mut self,
        targets: &[PackageTarget],
        recorded: &[RecordedVersion],
        prior: &[GuardStep],
    ) -> anyhow::Result<ChangeOutcome> {
        let rolled_back = prior.iter().find_map(|s| match s {
            GuardStep::DrillRolledBack { drill } => Some(drill.clone()),
            _ => None,
        });
        let reapplied = prior.iter().find_map(|s| match s {
            GuardStep::DrillVerified { passed } => Some(passed.clone()),
            _ => None,
        });
        let drill = match rolled_back {
            Some(drill) => drill,
            None => {
                let drill = self.drill_rollback(recorded)?;
                self.journal(GuardStep::DrillRolledBack {
                    drill: drill.clone(),
                })?;
                drill
            }
        };
        self.report.drill = Some(drill.clone());
        if let DrillResult::Failed {
            stage: DrillStage::Rollback,
            detail,
        } = &drill.result
        {
            return Ok(ChangeOutcome::Failed {
                detail: format!("rollback drill: the rollback failed {detail}"),
            });
        }
        if let Some(passed) = reapplied {
            return Ok(self.reapplied(passed));
        }
        if prior
            .iter()
            .any(|s| matches!(s, GuardStep::DrillReapplying))
        {
            let detail = "the agent stopped during the drill's re-apply".to_owned();
            self.drill_failed(DrillStage::Reapply, detail.clone());
            return self.roll_back(
                recorded,
                RollbackReason::Interrupted,
                format!("rollback drill: {detail}"),
            );
        }
        self.reapply(targets, recorded)
    }

    /// Back to the recorded versions on purpose, with the evidence: the versions found
    /// afterwards and the checks there.
    fn drill_rollback(&mut self, recorded: &[RecordedVersion]) -> anyhow::Result<DrillReport> {
        let mut drill = DrillReport::started();
        let restored = self.restore(recorded, "rollback drill")?;
        drill.rolled_back_to = guard_versions(self.runner, &self.spec.targets)?;
        match restored {
            Restored::NotRestored(why) => drill.fail(DrillStage::Rollback, why),
            Restored::Checked(Ok(passed)) => drill.rollback_checks = passed,
            Restored::Checked(Err((check, detail))) => drill.fail(
                DrillStage::RollbackChecks,
                format!("check {check} fails on the recorded versions: {detail}"),
            ),
        }
        Ok(drill)
    }

    /// The targets again, verified; a failure rolls back like any failed change.
    fn reapply(
        &mut self,
        targets: &[PackageTarget],
        recorded: &[RecordedVersion],
    ) -> anyhow::Result<ChangeOutcome> {
        let marks = checks::marks(self.runner, &self.spec.checks)?;
        let checks = checks::build(&self.spec.checks, &marks)?;
        self.journal(GuardStep::DrillReapplying)?;
        let (ok, detail) = self.install(targets)?;
        if !ok {
            self.drill_failed(DrillStage::Reapply, detail.clone());
            let detail = format!("rollback drill: installing the targets again failed: {detail}");
            return self.roll_back(recorded, RollbackReason::ApplyFailed, detail);
        }
        match verify(self.runner, &checks, self.spec.verification) {
            Ok(passed) => {
                self.journal(GuardStep::DrillVerified {
                    passed: passed.clone(),
                })?;
                Ok(self.reapplied(passed))
            }
            Err((check, detail)) => {
                self.report.failed_check = Some(check.clone());
                let detail = format!("check {check} after installing the targets again: {detail}");
                self.drill_failed(DrillStage::ReapplyChecks, detail.clone());
                let detail = format!("rollback drill: {detail}");
                self.roll_back(recorded, RollbackReason::HealthCheckFailed, detail)
            }
        }
    }

    /// On the targets again with these checks passed.
    fn reapplied(&mut self, passed: Vec<String>) -> ChangeOutcome {
        if let Some(drill) = &mut self.report.drill {
            drill.reapply_checks = passed.clone();
        }
        self.report.passed_checks = passed;
        ChangeOutcome::Done
    }

    fn drill_failed(&mut self, stage: DrillStage, detail: String) {
        self.report
            .drill
            .get_or_insert_with(DrillReport::started)
            .fail(stage, detail);
    }
}

#[cfg(test)]
#[path = "drill_tests.rs"]
mod tests;
