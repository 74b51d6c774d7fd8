//! A claimed host whose group's gate failed while its change was in flight (a red PromQL gate;
//! docs/design/rollout-engine.md "A red gate stops the batch in flight"). The claim is marked
//! `halted` (`GateFailed`); the agent's guard is not interrupted (the agent runs one command
//! at a time), so it finishes and reports once. A report that proves a verified change then
//! leads to `rolling_back` with the controller's `Rollback` (the agent's `late_rollback`, the
//! rollback path observation uses) instead of `done`, with the cause `gate_failed` naming the
//! check; a report of anything else is judged as always (the agent already rolled back, or
//! nothing was touched). The result of that rollback is `RollbackReported` (`rollback.rs`).

use crate::host::state::{Decision, GateHalt, HostState, Progress, Rejected, RollbackCause};
use crate::host::step::Ctx;
use crate::model::{Recorded, Target};

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
