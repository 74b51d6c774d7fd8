//! A claimed host whose group's gate failed while its change was in flight (a red PromQL gate;
//! docs/design/rollout-engine.md "A red gate stops the batch in flight"). The claim is marked
//! `halted` (`GateFailed`); the agent's guard is not interrupted (the agent runs one command
//! at a time), so it finishes and reports once. A report that proves a verified change then
//! leads to `rolling_back` with the controller's `Rollback` (the agent's `late_rollback`, the
//! rollback path observation uses) instead of `done`, with the cause `gate_failed` naming the
//! check; a report of anything else is judged as always (the agent already rolled back, or
//! nothing was touched). The result of that rollback is `RollbackReported` (`rollback.rs`).
//!
//! The guard ends its verification as soon as its checks pass, long before a PromQL gate over
//! the group's metrics can see the change. So in a group with such checks
//! (`Policy::gate_checks`) a verified change first stays `verifying` for the group's
//! verification period (the controller's verification of the batch): the host keeps its budget
//! slot, the batch is not complete, and a `GateFailed` meanwhile rolls it back the same way.

use crate::host::reported::Held;
use crate::host::state::{Decision, GateHalt, HostState, Progress, Rejected, RollbackCause};
use crate::host::step::Ctx;
use crate::model::{Recorded, Target};
use crate::policy::after;
use crate::report::GuardReport;

impl Ctx<'_> {
    /// `GateFailed` in `claimed`: the claim is marked, nothing is sent (the guard runs).
    pub(super) fn halt(
        &self,
        targets: &[Target],
        progress: &Progress,
        already: Option<&GateHalt>,
        check: &str,
        detail: &str,
    ) -> Result<Decision, Rejected> {
        if let Some(halt) = already {
            return Err(Rejected::AlreadyHalted {
                check: halt.check.clone(),
            });
        }
        Ok(Decision {
            next: HostState::Claimed {
                targets: targets.to_vec(),
                progress: *progress,
                halted: Some(GateHalt {
                    check: check.to_owned(),
                    detail: detail.to_owned(),
                    at: self.now,
                }),
            },
            commands: Vec::new(),
        })
    }

    /// A change the guard verified, in a group with checks the controller evaluates: the
    /// controller's verification period starts (`verifying` until now + the period).
    pub(super) fn gate_verifying(
        &self,
        held: &Held<'_>,
        recorded: Vec<Recorded>,
        report: &GuardReport,
        drilled: bool,
    ) -> Decision {
        Decision {
            next: HostState::Verifying {
                targets: held.targets.to_vec(),
                recorded,
                attempt: held.attempt,
                since: self.now,
                until: after(self.now, self.policy.verification_seconds),
                passed: (report.passed_checks.iter())
                    .map(|c| (c.clone(), self.now))
                    .collect(),
                drilled,
                aftercare: report.aftercare.clone(),
            },
            commands: Vec::new(),
        }
    }

    /// A verified change of a halted claim: back to the recorded versions (no fleet-wide
    /// block: the group's health is no proof against these versions).
    pub(super) fn gate_roll_back(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        halt: &GateHalt,
        attempt: u32,
    ) -> Decision {
        let cause = RollbackCause::GateFailed {
            check: halt.check.clone(),
            detail: halt.detail.clone(),
        };
        self.roll_back(targets, recorded, cause, attempt)
    }
}
