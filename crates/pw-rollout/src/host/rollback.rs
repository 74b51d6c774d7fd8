//! The rollback half of the host state machine: entering `rolling_back` (blocking the versions
//! after a health failure), its retries, the agent's own rollback reports, the result of the
//! controller's rollback (`RollbackReported`: rolled back only onto exactly the recorded
//! versions), and the terminal `rolled_back` / `failed` states with their page.

use crate::host::state::{
    Action, Command, Decision, Event, EventName, FailCause, HostState, Progress, Rejected,
    RollbackCause,
};
use crate::host::step::{Ctx, block_action, wrong};
use crate::model::{Recorded, Target, matches_recorded};

impl Ctx<'_> {
    pub(super) fn rolling_back(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        cause: &RollbackCause,
        progress: &Progress,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        let attempt = progress.attempt;
        match event {
            Event::TimedOut => {
                self.due(EventName::TimedOut, progress.deadline)?;
                Ok(match self.retry(progress, self.policy.timeouts.rollback) {
                    Some((next, not_before)) => Decision {
                        next: HostState::RollingBack {
                            targets: targets.to_vec(),
                            recorded: recorded.to_vec(),
                            cause: cause.clone(),
                            progress: next,
                        },
                        commands: vec![self.command(
                            next.attempt,
                            not_before,
                            self.rollback_action(recorded),
                        )],
                    },
                    None => {
                        let fail = FailCause::RollbackFailed {
                            cause: cause.clone(),
                            detail: format!("timed out {} times", progress.tries),
                        };
                        self.fail(targets, fail, attempt)
                    }
                })
            }
            // The controller's own rollback (`late_rollback`) finished.
            Event::RollbackReported {
                ok,
                final_versions,
                detail,
            } => Ok(if *ok {
                let cause = cause.clone();
                self.rolled_back(
                    targets,
                    recorded,
                    final_versions,
                    cause,
                    attempt,
                    Vec::new(),
                )
            } else {
                let fail = FailCause::RollbackFailed {
                    cause: cause.clone(),
                    detail: detail.clone(),
                };
                self.fail(targets, fail, attempt)
            }),
            _ => Err(wrong(&self.change.state, event)),
        }
    }

    pub(super) fn rollback_action(&self, recorded: &[Recorded]) -> Action {
        Action::Rollback {
            to: recorded.to_vec(),
            checks: self.policy.health_checks.clone(),
        }
    }

    /// Enters `rolling_back`; a health failure also blocks the targets fleet-wide.
    pub(super) fn roll_back(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        cause: RollbackCause,
        attempt: u32,
    ) -> Decision {
        let mut commands = vec![self.command(attempt, self.now, self.rollback_action(recorded))];
        if let Some(block) = block_action(targets, &cause) {
            commands.push(self.command(attempt, self.now, block));
        }
        Decision {
            next: HostState::RollingBack {
                targets: targets.to_vec(),
                recorded: recorded.to_vec(),
                cause,
                progress: self.fresh(attempt, self.policy.timeouts.rollback),
            },
            commands,
        }
    }

    /// The agent rolled back on its own. `already` is the controller's own rollback cause when
    /// it was rolling back too (its block, if any, was already sent).
    pub(super) fn agent_rolled_back(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        versions: &[Recorded],
        cause: &RollbackCause,
        attempt: u32,
        already: Option<&RollbackCause>,
    ) -> Decision {
        let blocked_before = already.is_some_and(RollbackCause::blocks_versions);
        let commands = match block_action(targets, cause) {
            Some(block) if !blocked_before => vec![self.command(attempt, self.now, block)],
            _ => Vec::new(),
        };
        let cause = match already {
            Some(own) if !cause.blocks_versions() => own.clone(),
            _ => cause.clone(),
        };
        self.rolled_back(targets, recorded, versions, cause, attempt, commands)
    }

    /// `rolled_back` when the reported versions are the recorded ones, else `failed` with a page.
    pub(super) fn rolled_back(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        versions: &[Recorded],
        cause: RollbackCause,
        attempt: u32,
        mut commands: Vec<Command>,
    ) -> Decision {
        if !matches_recorded(recorded, versions) {
            let mut failed = self.fail(targets, FailCause::RollbackMismatch { cause }, attempt);
            commands.append(&mut failed.commands);
            failed.commands = commands;
            return failed;
        }
        Decision {
            next: HostState::RolledBack {
                targets: targets.to_vec(),
                recorded: recorded.to_vec(),
                cause,
                at: self.now,
            },
            commands,
        }
    }

    /// Enters `failed`, paging a human unless nothing was touched.
    pub(super) fn fail(&self, targets: &[Target], cause: FailCause, attempt: u32) -> Decision {
        let mut commands = Vec::new();
        if cause.pages() {
            let reason = format!(
                "host {} in rollout {}: {cause:?}",
                self.change.host, self.change.rollout
            );
            commands.push(self.command(attempt, self.now, Action::Page { reason }));
        }
        Decision {
            next: HostState::Failed {
                targets: targets.to_vec(),
                cause,
                at: self.now,
            },
            commands,
        }
    }
}
