//! The agent's guarded change report as one transition: from `claimed` (or from an intermediate
//! state an older controller left after a crash mid-replay) straight to the outcome the report
//! proves.
//!
//! The report is judged on its evidence, never on its word: `done` needs every target at its
//! exact version and every configured check passed; a rollback counts only when the final
//! versions equal the recorded ones; a change that touched the host needs the recorded version
//! of every target (else nothing could prove a rollback). A report that proves nothing fails
//! the host with a page (`FailCause::BadReport`): the guard reports once and will not roll back
//! again, so waiting would only hold a budget slot until the timeouts. The recorded versions are
//! the state's when it holds them (they came from the same report), else the report's. A
//! rollback drill in the report (or one the policy asked for and the report lacks) is judged
//! first (`drilled.rs`). A verified change that still needs a restart or a reboot (the report's
//! `aftercare`) goes on to `restarting` or `reboot_queued` (`aftercare.rs`). A verified change
//! of a claim a failed gate halted is rolled back instead (`halted.rs`).

use crate::aftercare::Verified;
use crate::host::drilled::Drilled;
use crate::host::state::{
    Decision, Event, FailCause, GateHalt, HostState, Rejected, RollbackCause,
};
use crate::host::step::{Ctx, wrong};
use crate::model::{Recorded, Target, by_package, matches_targets};
use crate::report::{GuardOutcome, GuardReason, GuardReport};

/// What the state brings to a report: targets, the attempt for command keys, the recorded
/// versions when it holds them, and its own rollback cause when it was rolling back.
pub(crate) struct Held<'a> {
    pub(super) targets: &'a [Target],
    pub(super) attempt: u32,
    recorded: Option<&'a [Recorded]>,
    rolling_back: Option<&'a RollbackCause>,
    /// A gate of the group failed while the change was in flight (`halted.rs`).
    halted: Option<&'a GateHalt>,
}

impl Ctx<'_> {
    /// `GuardReported` (the `event`) in any state between the claim and the end.
    pub(super) fn reported(
        &self,
        report: &GuardReport,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        let held = self.held(event)?;
        let touched =
            |what: &str| format!("the agent reported {what} after the versions were recorded");
        match &report.outcome {
            GuardOutcome::Refused { detail } | GuardOutcome::NotStarted { detail }
                if held.recorded.is_none() =>
            {
                let detail = detail.clone();
                let cause = if matches!(report.outcome, GuardOutcome::Refused { .. }) {
                    FailCause::Refused { detail }
                } else {
                    FailCause::NotStarted { detail }
                };
                Ok(self.fail(held.targets, cause, held.attempt))
            }
            GuardOutcome::Refused { detail } => {
                Ok(self.bad_report(&held, format!("{}: {detail}", touched("a refusal"))))
            }
            GuardOutcome::NotStarted { detail } => Ok(self.bad_report(
                &held,
                format!("{}: {detail}", touched("a change not started")),
            )),
            GuardOutcome::ProtectionFailed { step, detail } => {
                let detail = format!("protection step {step}: {detail}");
                let cause = FailCause::ProtectionFailed { detail };
                Ok(self.fail(held.targets, cause, held.attempt))
            }
            GuardOutcome::Done | GuardOutcome::RolledBack { .. } | GuardOutcome::Failed { .. } => {
                let recorded = match held.recorded {
                    Some(recorded) => recorded.to_vec(),
                    None => match every_recorded(held.targets, &report.recorded) {
                        Ok(recorded) => recorded,
                        Err(missing) => {
                            let detail = format!(
                                "the agent reported a change without the recorded versions of {}",
                                missing.join(", ")
                            );
                            return Ok(self.bad_report(&held, detail));
                        }
                    },
                };
                Ok(self.finished(&held, recorded, report))
            }
        }
    }

    /// `ReportRefused`: the controller could not take the report; the host fails with the
    /// reason and a page (the agent may have changed it).
    pub(super) fn report_refused(&self, detail: &str, event: &Event) -> Result<Decision, Rejected> {
        let held = self.held(event)?;
        let detail = format!("the agent's report was refused: {detail}");
        Ok(self.bad_report(&held, detail))
    }

    /// What the current state brings; pending and terminal states take no report.
    fn held(&self, event: &Event) -> Result<Held<'_>, Rejected> {
        let held = |targets, attempt, recorded, rolling_back| Held {
            targets,
            attempt,
            recorded,
            rolling_back,
            halted: None,
        };
        Ok(match &self.change.state {
            HostState::Claimed {
                targets,
                progress,
                halted,
            } => Held {
                halted: halted.as_ref(),
                ..held(targets, progress.attempt, None, None)
            },
            HostState::Protecting {
                targets,
                recorded,
                progress,
            }
            | HostState::Applying {
                targets,
                recorded,
                progress,
            } => held(targets, progress.attempt, Some(recorded.as_slice()), None),
            HostState::Verifying {
                targets,
                recorded,
                attempt,
                ..
            } => held(targets, *attempt, Some(recorded.as_slice()), None),
            HostState::RollingBack {
                targets,
                recorded,
                cause,
                progress,
            } => held(
                targets,
                progress.attempt,
                Some(recorded.as_slice()),
                Some(cause),
            ),
            state => return Err(wrong(state, event)),
        })
    }

    /// A change that touched the host: done, rolled back or failed, on the evidence.
    fn finished(&self, held: &Held<'_>, recorded: Vec<Recorded>, report: &GuardReport) -> Decision {
        let drilled = match self.drilled(held, &recorded, report) {
            Drilled::Failed(decision) => return *decision,
            Drilled::Passed => true,
            Drilled::NotDue => false,
        };
        let targets = held.targets;
        match &report.outcome {
            GuardOutcome::RolledBack { reason, detail } => {
                let cause = self.rollback_cause(*reason, detail, report);
                let versions = &report.final_versions;
                let already = held.rolling_back;
                self.agent_rolled_back(targets, &recorded, versions, &cause, held.attempt, already)
            }
            GuardOutcome::Failed { detail } => {
                let cause = held
                    .rolling_back
                    .cloned()
                    .unwrap_or(RollbackCause::ApplyFailed {
                        detail: detail.clone(),
                    });
                let detail = detail.clone();
                self.fail(
                    targets,
                    FailCause::RollbackFailed { cause, detail },
                    held.attempt,
                )
            }
            _ => self.done(held, recorded, report, drilled),
        }
    }

    fn done(
        &self,
        held: &Held<'_>,
        recorded: Vec<Recorded>,
        report: &GuardReport,
        drilled: bool,
    ) -> Decision {
        if !matches_targets(held.targets, &report.final_versions) {
            let detail = format!(
                "the agent reported done, but not every target is at its exact version: {}",
                shown(&report.final_versions)
            );
            return self.bad_report(held, detail);
        }
        if let Some(missing) = self.missing_checks(&report.passed_checks) {
            let detail = format!("the agent reported done without a pass of the checks {missing}");
            return self.bad_report(held, detail);
        }
        if let Some(halt) = held.halted {
            return self.gate_roll_back(held.targets, &recorded, halt, held.attempt);
        }
        if !self.policy.gate_checks.is_empty() {
            return self.gate_verifying(held, recorded, report, drilled);
        }
        let verified = Verified {
            targets: held.targets.to_vec(),
            recorded,
            at: self.now,
            passed: report
                .passed_checks
                .iter()
                .map(|c| (c.clone(), self.now))
                .collect(),
            drilled,
        };
        self.after_verified(verified, report.aftercare.as_ref(), held.attempt)
    }

    fn rollback_cause(
        &self,
        reason: GuardReason,
        detail: &str,
        report: &GuardReport,
    ) -> RollbackCause {
        let detail = detail.to_owned();
        match reason {
            GuardReason::HealthCheckFailed => RollbackCause::HealthCheckFailed {
                check: report.failed_check.clone().unwrap_or_default(),
                detail,
            },
            GuardReason::ApplyFailed => RollbackCause::ApplyFailed { detail },
            GuardReason::Interrupted => RollbackCause::ChecksMissing {
                checks: self.policy.health_checks.clone(),
            },
        }
    }

    /// The policy's checks without a pass in `passed`, listed; `None` when every one passed.
    pub(super) fn missing_checks(&self, passed: &[String]) -> Option<String> {
        let missing: Vec<&str> = self
            .policy
            .health_checks
            .iter()
            .filter(|c| !passed.contains(c))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| missing.join(", "))
    }

    pub(super) fn bad_report(&self, held: &Held<'_>, detail: String) -> Decision {
        self.fail(held.targets, FailCause::BadReport { detail }, held.attempt)
    }
}

/// The recorded version of every target from a report (extra packages dropped), or the target
/// packages it misses.
fn every_recorded(targets: &[Target], versions: &[Recorded]) -> Result<Vec<Recorded>, Vec<String>> {
    let reported = by_package(versions);
    let missing: Vec<String> = targets
        .iter()
        .filter(|t| !reported.contains_key(&t.package))
        .map(|t| t.package.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(targets
        .iter()
        .map(|t| Recorded {
            package: t.package.clone(),
            version: reported.get(&t.package).copied().flatten().cloned(),
        })
        .collect())
}

/// `nginx=1.2, libssl3 absent` for messages.
pub(super) fn shown(versions: &[Recorded]) -> String {
    if versions.is_empty() {
        return "none reported".into();
    }
    let shown: Vec<String> = versions
        .iter()
        .map(|r| match &r.version {
            Some(version) => format!("{}={version}", r.package),
            None => format!("{} absent", r.package),
        })
        .collect();
    shown.join(", ")
}
