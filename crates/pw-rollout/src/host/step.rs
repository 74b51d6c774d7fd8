//! The one transition function of a host change, and the tick that turns passed deadlines into
//! events. Pure: `now` is a parameter; the controller persists `Decision::next` with its commands
//! in one transaction and only then runs the commands.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::host::state::{
    Action, Command, CommandKey, Decision, Event, EventName, FailCause, GateHalt, HostChange,
    HostState, Progress, Rejected, RollbackCause,
};
use crate::model::{Recorded, Target};
use crate::policy::{Policy, StepLimits, after};

/// Moves `change` by `event` at `now`. An event the state does not accept is `Rejected` and
/// changes nothing.
pub fn step(
    change: &HostChange,
    event: &Event,
    now: Timestamp,
    policy: &Policy,
) -> Result<Decision, Rejected> {
    use Event as E;
    use HostState as S;
    let ctx = Ctx {
        change,
        now,
        policy,
    };
    match (&change.state, event) {
        (_, E::GuardReported { report }) => ctx.reported(report, event),
        (_, E::ReportRefused { detail }) => ctx.report_refused(detail, event),
        (S::Pending { attempt }, E::Claimed { targets }) => ctx.claim(*attempt, targets),
        (
            S::Claimed {
                targets,
                progress,
                halted,
            },
            E::GateFailed { check, detail },
        ) => ctx.halt(targets, progress, halted.as_ref(), check, detail),
        (S::Claimed { progress, .. } | S::Protecting { progress, .. }, E::Released { .. }) => {
            Ok(Decision {
                next: S::Pending {
                    attempt: progress.attempt.saturating_add(1),
                },
                commands: Vec::new(),
            })
        }
        (
            S::Claimed {
                targets,
                progress,
                halted,
            },
            E::TimedOut,
        ) => {
            ctx.due(EventName::TimedOut, progress.deadline)?;
            let limits = policy.timeouts.record_versions;
            Ok(match ctx.retry(progress, limits) {
                Some((next, not_before)) => Decision {
                    next: S::Claimed {
                        targets: targets.clone(),
                        progress: next,
                        halted: halted.clone(),
                    },
                    commands: vec![ctx.command(next.attempt, not_before, record_action(targets))],
                },
                None => ctx.fail(targets, FailCause::Unreachable, progress.attempt),
            })
        }
        (
            S::Protecting {
                targets,
                recorded,
                progress,
            },
            event,
        ) => ctx.protecting(targets, recorded, progress, event),
        (
            S::Applying {
                targets,
                recorded,
                progress,
            },
            event,
        ) => ctx.applying(targets, recorded, progress, event),
        (S::Verifying { .. }, _) => ctx.verifying(event),
        (
            S::RollingBack {
                targets,
                recorded,
                cause,
                progress,
            },
            event,
        ) => ctx.rolling_back(targets, recorded, cause, progress, event),
        (
            S::Restarting {
                verified,
                units,
                progress,
            },
            event,
        ) => ctx.restarting(verified, units, progress, event),
        (
            S::RebootQueued {
                verified,
                reasons,
                cleared,
                attempt,
            },
            event,
        ) => ctx.reboot_queued(verified, reasons, cleared, *attempt, event),
        (
            S::Rebooting {
                verified,
                reasons,
                cleared,
                boot,
                progress,
            },
            event,
        ) => ctx.rebooting(verified, reasons, cleared, boot.as_ref(), progress, event),
        (state, event) => Err(wrong(state, event)),
    }
}

/// The event a passed deadline makes: `TimedOut` for a waiting step, `VerificationPeriodElapsed`
/// at the end of verification; `None` when nothing is due (pending and terminal states have no
/// deadline).
pub fn on_tick(state: &HostState, now: Timestamp) -> Option<Event> {
    match state {
        HostState::Claimed { progress, .. }
        | HostState::Protecting { progress, .. }
        | HostState::Applying { progress, .. }
        | HostState::RollingBack { progress, .. }
        | HostState::Restarting { progress, .. }
        | HostState::Rebooting { progress, .. } => {
            (now >= progress.deadline).then_some(Event::TimedOut)
        }
        HostState::Verifying { until, .. } => {
            (now >= *until).then_some(Event::VerificationPeriodElapsed)
        }
        _ => None,
    }
}

/// The earliest instant at which [`on_tick`] will produce an event, for the controller's timer.
pub fn next_deadline(state: &HostState) -> Option<Timestamp> {
    match state {
        HostState::Claimed { progress, .. }
        | HostState::Protecting { progress, .. }
        | HostState::Applying { progress, .. }
        | HostState::RollingBack { progress, .. }
        | HostState::Restarting { progress, .. }
        | HostState::Rebooting { progress, .. } => Some(progress.deadline),
        HostState::Verifying { until, .. } => Some(*until),
        _ => None,
    }
}

pub(super) fn wrong(state: &HostState, event: &Event) -> Rejected {
    Rejected::WrongState {
        state: state.name(),
        event: event.name(),
    }
}

fn record_action(targets: &[Target]) -> Action {
    Action::RecordVersions {
        packages: targets.iter().map(|t| t.package.clone()).collect(),
    }
}

pub(super) fn block_action(targets: &[Target], cause: &RollbackCause) -> Option<Action> {
    match cause {
        RollbackCause::HealthCheckFailed { check, detail } => Some(Action::BlockVersion {
            versions: targets.to_vec(),
            reason: format!("health check {check} failed: {detail}"),
        }),
        _ => None,
    }
}

/// What every transition needs besides the state.
pub(super) struct Ctx<'a> {
    pub(super) change: &'a HostChange,
    pub(super) now: Timestamp,
    pub(super) policy: &'a Policy,
}

impl Ctx<'_> {
    pub(super) fn command(&self, attempt: u32, not_before: Timestamp, action: Action) -> Command {
        Command {
            key: CommandKey {
                rollout: self.change.rollout.clone(),
                host: self.change.host.clone(),
                step: action.step(),
                attempt,
            },
            not_before,
            action,
        }
    }

    pub(super) fn fresh(&self, attempt: u32, limits: StepLimits) -> Progress {
        Progress {
            attempt,
            tries: 1,
            deadline: after(self.now, limits.timeout_seconds),
        }
    }

    /// Refuses a timer event that arrives before its deadline.
    pub(super) fn due(&self, event: EventName, due: Timestamp) -> Result<(), Rejected> {
        if self.now < due {
            return Err(Rejected::NotDue { event, due });
        }
        Ok(())
    }

    /// The next try of a step after a timeout, with its backoff, or `None` when tries are used up.
    pub(super) fn retry(
        &self,
        progress: &Progress,
        limits: StepLimits,
    ) -> Option<(Progress, Timestamp)> {
        if !limits.may_retry(progress.tries) {
            return None;
        }
        let delay = self.policy.timeouts.backoff.delay_seconds(progress.tries);
        let not_before = after(self.now, delay);
        let next = Progress {
            attempt: progress.attempt.saturating_add(1),
            tries: progress.tries.saturating_add(1),
            deadline: after(not_before, limits.timeout_seconds),
        };
        Some((next, not_before))
    }

    fn claim(&self, attempt: u32, targets: &[Target]) -> Result<Decision, Rejected> {
        if targets.is_empty() {
            return Err(Rejected::NoTargets);
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = targets.iter().find(|t| !seen.insert(&t.package)) {
            return Err(Rejected::DuplicateTarget(dup.package.to_string()));
        }
        let mut targets = targets.to_vec();
        targets.sort();
        let command = self.command(attempt, self.now, record_action(&targets));
        Ok(Decision {
            next: HostState::Claimed {
                targets,
                progress: self.fresh(attempt, self.policy.timeouts.record_versions),
                halted: None,
            },
            commands: vec![command],
        })
    }

    fn protecting(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        progress: &Progress,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        match event {
            Event::TimedOut => {
                self.due(EventName::TimedOut, progress.deadline)?;
                let limits = self.policy.timeouts.protect;
                Ok(match self.retry(progress, limits) {
                    Some((next, not_before)) => Decision {
                        next: HostState::Protecting {
                            targets: targets.to_vec(),
                            recorded: recorded.to_vec(),
                            progress: next,
                        },
                        commands: vec![self.command(
                            next.attempt,
                            not_before,
                            Action::Snapshot {
                                steps: self.policy.protection_steps.clone(),
                            },
                        )],
                    },
                    None => self.fail(
                        targets,
                        FailCause::ProtectionFailed {
                            detail: format!("timed out {} times", progress.tries),
                        },
                        progress.attempt,
                    ),
                })
            }
            _ => Err(wrong(&self.change.state, event)),
        }
    }

    fn applying(
        &self,
        targets: &[Target],
        recorded: &[Recorded],
        progress: &Progress,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        let attempt = progress.attempt;
        match event {
            Event::TimedOut => {
                self.due(EventName::TimedOut, progress.deadline)?;
                Ok(match self.retry(progress, self.policy.timeouts.apply) {
                    Some((next, not_before)) => Decision {
                        next: HostState::Applying {
                            targets: targets.to_vec(),
                            recorded: recorded.to_vec(),
                            progress: next,
                        },
                        commands: vec![self.command(
                            next.attempt,
                            not_before,
                            Action::Install {
                                packages: targets.to_vec(),
                            },
                        )],
                    },
                    None => {
                        self.roll_back(targets, recorded, RollbackCause::ApplyTimedOut, attempt)
                    }
                })
            }
            _ => Err(wrong(&self.change.state, event)),
        }
    }

    fn verifying(&self, event: &Event) -> Result<Decision, Rejected> {
        let HostState::Verifying {
            targets,
            recorded,
            attempt,
            until,
            passed,
            drilled,
            aftercare,
            ..
        } = &self.change.state
        else {
            return Err(wrong(&self.change.state, event));
        };
        match event {
            Event::VerificationPeriodElapsed => {
                self.due(EventName::VerificationPeriodElapsed, *until)?;
                let missing: Vec<String> = self
                    .policy
                    .health_checks
                    .iter()
                    .filter(|c| !passed.contains_key(*c))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    let cause = RollbackCause::ChecksMissing { checks: missing };
                    return Ok(self.roll_back(targets, recorded, cause, *attempt));
                }
                let verified = crate::aftercare::Verified {
                    targets: targets.clone(),
                    recorded: recorded.clone(),
                    at: self.now,
                    passed: passed.clone(),
                    drilled: *drilled,
                };
                Ok(self.after_verified(verified, aftercare.as_ref(), *attempt))
            }
            // A check of the group's own failed within the period (`halted.rs`).
            Event::GateFailed { check, detail } => {
                let halt = GateHalt {
                    check: check.clone(),
                    detail: detail.clone(),
                    at: self.now,
                };
                Ok(self.gate_roll_back(targets, recorded, &halt, *attempt))
            }
            _ => Err(wrong(&self.change.state, event)),
        }
    }
}
