//! The states after a verified change that still needs something on the host ("patched means
//! patched"): `restarting` (the agent restarts the units still running replaced code),
//! `reboot_queued` (waiting for the rollout's reboot budget), `rebooting` (waiting for the agent
//! to come back from a new boot). Each ends in `done` — with what was cleared — or `failed`
//! with a page; an operator's deferral ends any of them in `done` with the deferral recorded.

use crate::aftercare::{Aftercare, BootMark, Cleared, Deferral, Rebooted, RestartResult, Verified};
use crate::host::state::{
    Action, Decision, Event, EventName, FailCause, HostState, Progress, Rejected,
};
use crate::host::step::{Ctx, wrong};

impl Ctx<'_> {
    /// Where a verified change goes: `done`, or the first step of what it still needs.
    pub(super) fn after_verified(
        &self,
        verified: Verified,
        need: Option<&Aftercare>,
        attempt: u32,
    ) -> Decision {
        let need = need.cloned().unwrap_or_default();
        if !need.units.is_empty() {
            let units = need.units.clone();
            let action = Action::RestartServices {
                units: units.clone(),
            };
            return Decision {
                next: HostState::Restarting {
                    verified,
                    units,
                    progress: self.fresh(attempt, self.policy.timeouts.restart),
                },
                commands: vec![self.command(attempt, self.now, action)],
            };
        }
        if !need.reboot.is_empty() {
            return queued(verified, need.reboot, Cleared::default(), attempt);
        }
        done(verified, None, self.now)
    }

    /// `restarting`: the agent's answer, a timeout (retried), or a deferral.
    pub(super) fn restarting(
        &self,
        verified: &Verified,
        units: &[String],
        progress: &Progress,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        match event {
            Event::RestartReported { result } => {
                Ok(self.restarted(verified, units, result, progress.attempt))
            }
            Event::TimedOut => {
                self.due(EventName::TimedOut, progress.deadline)?;
                Ok(match self.retry(progress, self.policy.timeouts.restart) {
                    Some((next, not_before)) => Decision {
                        next: HostState::Restarting {
                            verified: verified.clone(),
                            units: units.to_vec(),
                            progress: next,
                        },
                        commands: vec![self.command(
                            next.attempt,
                            not_before,
                            Action::RestartServices {
                                units: units.to_vec(),
                            },
                        )],
                    },
                    None => {
                        let detail =
                            format!("the agent did not answer in time, {} tries", progress.tries);
                        self.aftercare_failed(
                            verified,
                            restart_failed(units, detail),
                            progress.attempt,
                        )
                    }
                })
            }
            Event::Deferred { by, reason } => {
                let left = units.iter().map(|u| format!("restart {u}")).collect();
                Ok(self.deferred(verified, Cleared::default(), by, reason, left))
            }
            _ => Err(wrong(&self.change.state, event)),
        }
    }

    fn restarted(
        &self,
        verified: &Verified,
        units: &[String],
        result: &RestartResult,
        attempt: u32,
    ) -> Decision {
        if !result.ok {
            return self.aftercare_failed(
                verified,
                restart_failed(units, result.detail.clone()),
                attempt,
            );
        }
        let still: Vec<&String> = result
            .after
            .units
            .iter()
            .filter(|u| units.contains(u))
            .collect();
        if !still.is_empty() {
            let detail = format!(
                "restarted, but still running replaced code: {}",
                still
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return self.aftercare_failed(verified, restart_failed(units, detail), attempt);
        }
        let cleared = Cleared {
            restarted: result.restarted.clone(),
            ..Cleared::default()
        };
        if result.after.reboot.is_empty() {
            return done(verified.clone(), Some(cleared), self.now);
        }
        queued(
            verified.clone(),
            result.after.reboot.clone(),
            cleared,
            attempt,
        )
    }

    /// `reboot_queued`: a budget slot, or a deferral.
    pub(super) fn reboot_queued(
        &self,
        verified: &Verified,
        reasons: &[String],
        cleared: &Cleared,
        attempt: u32,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        match event {
            Event::RebootGranted => Ok(Decision {
                next: HostState::Rebooting {
                    verified: verified.clone(),
                    reasons: reasons.to_vec(),
                    cleared: cleared.clone(),
                    boot: None,
                    progress: self.fresh(attempt, self.policy.timeouts.reboot),
                },
                commands: vec![self.command(attempt, self.now, Action::Reboot)],
            }),
            Event::Deferred { by, reason } => {
                let left = reasons.iter().map(|r| format!("reboot: {r}")).collect();
                Ok(self.deferred(verified, cleared.clone(), by, reason, left))
            }
            _ => Err(wrong(&self.change.state, event)),
        }
    }

    /// `rebooting`: the agent's answer with the boot mark before, the agent back from a new boot,
    /// the timeout (no retry: a second reboot is an operator's call), or a deferral.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rebooting(
        &self,
        verified: &Verified,
        reasons: &[String],
        cleared: &Cleared,
        boot: Option<&BootMark>,
        progress: &Progress,
        event: &Event,
    ) -> Result<Decision, Rejected> {
        let attempt = progress.attempt;
        match event {
            Event::RebootRequested {
                ok: true,
                boot: Some(mark),
                ..
            } if boot.is_none() => Ok(Decision {
                next: HostState::Rebooting {
                    verified: verified.clone(),
                    reasons: reasons.to_vec(),
                    cleared: cleared.clone(),
                    boot: Some(mark.clone()),
                    progress: *progress,
                },
                commands: Vec::new(),
            }),
            Event::RebootRequested { detail, .. } if boot.is_none() => {
                let detail = format!("the agent could not reboot: {detail}");
                Ok(self.aftercare_failed(verified, FailCause::RebootFailed { detail }, attempt))
            }
            Event::HostSeen { after } => {
                let (Some(before), Some(now)) = (boot, after.boot.as_ref()) else {
                    return Err(wrong(&self.change.state, event));
                };
                if before == now {
                    return Err(Rejected::SameBoot);
                }
                if !after.reboot.is_empty() {
                    let detail = format!(
                        "rebooted, but still needs a reboot: {}",
                        after.reboot.join("; ")
                    );
                    return Ok(self.aftercare_failed(
                        verified,
                        FailCause::RebootFailed { detail },
                        attempt,
                    ));
                }
                let rebooted = Rebooted {
                    from: before.clone(),
                    to: now.clone(),
                    container_restart: before.boot_id == now.boot_id,
                    reasons: reasons.to_vec(),
                };
                let cleared = Cleared {
                    rebooted: Some(rebooted),
                    ..cleared.clone()
                };
                Ok(done(verified.clone(), Some(cleared), self.now))
            }
            Event::TimedOut => {
                self.due(EventName::TimedOut, progress.deadline)?;
                let detail = match boot {
                    None => "the agent did not answer the reboot command in time".to_owned(),
                    Some(_) => "the agent did not come back from a new boot in time".to_owned(),
                };
                Ok(self.aftercare_failed(verified, FailCause::RebootFailed { detail }, attempt))
            }
            Event::Deferred { by, reason } => {
                let left = reasons.iter().map(|r| format!("reboot: {r}")).collect();
                Ok(self.deferred(verified, cleared.clone(), by, reason, left))
            }
            _ => Err(wrong(&self.change.state, event)),
        }
    }

    fn deferred(
        &self,
        verified: &Verified,
        cleared: Cleared,
        by: &str,
        reason: &str,
        left: Vec<String>,
    ) -> Decision {
        let deferral = Deferral {
            by: by.to_owned(),
            reason: reason.to_owned(),
            at: self.now,
            left,
        };
        let cleared = Cleared {
            deferred: Some(deferral),
            ..cleared
        };
        done(verified.clone(), Some(cleared), self.now)
    }

    fn aftercare_failed(&self, verified: &Verified, cause: FailCause, attempt: u32) -> Decision {
        self.fail(&verified.targets, cause, attempt)
    }
}

fn restart_failed(units: &[String], detail: String) -> FailCause {
    FailCause::RestartFailed {
        units: units.to_vec(),
        detail,
    }
}

fn queued(verified: Verified, reasons: Vec<String>, cleared: Cleared, attempt: u32) -> Decision {
    Decision {
        next: HostState::RebootQueued {
            verified,
            reasons,
            cleared,
            attempt,
        },
        commands: Vec::new(),
    }
}

/// `done` at `at` (when the last step finished).
fn done(verified: Verified, cleared: Option<Cleared>, at: jiff::Timestamp) -> Decision {
    Decision {
        next: HostState::Done {
            targets: verified.targets,
            recorded: verified.recorded,
            at,
            passed: verified.passed,
            drilled: verified.drilled,
            cleared,
        },
        commands: Vec::new(),
    }
}
