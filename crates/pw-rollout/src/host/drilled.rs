//! The rollback drill in a guard report, judged on its evidence before the change's outcome: a
//! drill the agent says failed fails the host with its stage and reason, and records where the
//! host ended (back on the recorded versions or not); a drill the policy asked for and the report
//! lacks fails it too; a passed drill counts only with a `done` outcome, a rollback that ended on
//! exactly the recorded versions, and every check passed on the old versions and after the
//! re-apply (else the report proves nothing: `bad_report`).

use crate::host::reported::{Held, shown};
use crate::host::state::{Decision, FailCause};
use crate::host::step::Ctx;
use crate::model::{Recorded, matches_recorded};
use crate::report::{DrillStage, DrillVerdict, GuardOutcome, GuardReport};

/// The drill's verdict on a finished change.
pub(super) enum Drilled {
    /// No drill ran and none was due (or the change failed before it could run).
    NotDue,
    /// The drill passed on its evidence.
    Passed,
    /// The host fails: the drill failed, was missing, or its report proves nothing.
    Failed(Box<Decision>),
}

impl Ctx<'_> {
    pub(super) fn drilled(
        &self,
        held: &Held<'_>,
        recorded: &[Recorded],
        report: &GuardReport,
    ) -> Drilled {
        let failed = |stage: Option<DrillStage>, detail: String| {
            let cause = FailCause::DrillFailed {
                stage,
                detail,
                ended_on: report.final_versions.clone(),
                back_on_recorded: matches_recorded(recorded, &report.final_versions),
            };
            Drilled::Failed(Box::new(self.fail(held.targets, cause, held.attempt)))
        };
        let bad = |detail: String| Drilled::Failed(Box::new(self.bad_report(held, detail)));
        let Some(drill) = &report.drill else {
            if self.policy.drill && report.outcome == GuardOutcome::Done {
                return failed(
                    None,
                    "the rollout asked for a rollback drill and the agent reported none \
                     (an agent older than the drill option?)"
                        .into(),
                );
            }
            return Drilled::NotDue;
        };
        match &drill.result {
            DrillVerdict::Failed { stage, detail } => failed(Some(*stage), detail.clone()),
            DrillVerdict::Passed if report.outcome != GuardOutcome::Done => bad(format!(
                "the agent reported a passed rollback drill but the change ended {:?}",
                report.outcome
            )),
            DrillVerdict::Passed if !matches_recorded(recorded, &drill.rolled_back_to) => {
                bad(format!(
                    "the agent reported a passed rollback drill whose rollback ended on {}, \
                     not on the recorded {}",
                    shown(&drill.rolled_back_to),
                    shown(recorded)
                ))
            }
            DrillVerdict::Passed => {
                let stages = [
                    ("on the recorded versions", &drill.rollback_checks),
                    ("after the re-apply", &drill.reapply_checks),
                ];
                for (when, passed) in stages {
                    if let Some(missing) = self.missing_checks(passed) {
                        return bad(format!(
                            "the agent reported a passed rollback drill without a pass of the \
                             checks {missing} {when}"
                        ));
                    }
                }
                Drilled::Passed
            }
        }
    }
}
