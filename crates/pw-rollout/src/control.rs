//! Operator controls of a rollout (pause, resume, stop) as pure transitions of the persisted
//! [`RolloutControl`], refusing the ones that make no sense, and the slots a rollout holds per
//! group (the other rollouts' `Gates::busy_elsewhere`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::host::HostState;
use crate::model::HostId;
use crate::plan::RolloutPlan;
use crate::rollout::{PauseReason, RolloutControl, RolloutStatus, StopReason};

/// What an operator asks of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    /// Claim no more hosts (hosts already changing finish).
    Pause,
    /// Claim again: clears an operator's pause, and accepts the failures of a batch that paused
    /// the rollout.
    Resume,
    /// Final: claim nothing more and give back claims that have not installed.
    Stop,
}

/// Why a control was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error(
        "the rollout is stopped ({0}); a stopped rollout stays stopped: retry its failed hosts in a new rollout"
    )]
    Stopped(String),
    #[error("the rollout has completed; nothing to {0}")]
    Completed(&'static str),
    #[error("the rollout is already paused by {0}")]
    AlreadyPaused(String),
    #[error("the rollout is not paused; nothing to resume")]
    NotPaused,
}

fn stop_text(reason: &StopReason) -> String {
    match reason {
        StopReason::Operator { by } => format!("by {by}"),
        StopReason::CanaryFailed { failures, allowed } => {
            format!("{failures} canary failure(s), {allowed} allowed")
        }
        StopReason::FailureBudgetExceeded { failures, allowed } => {
            format!("{failures} failure(s), {allowed} allowed")
        }
    }
}

impl RolloutControl {
    /// The control after `action` by `operator`, given the rollout's last decided `status`.
    pub fn apply(
        &self,
        action: ControlAction,
        operator: &str,
        status: &RolloutStatus,
    ) -> Result<RolloutControl, ControlError> {
        let name = match action {
            ControlAction::Pause => "pause",
            ControlAction::Resume => "resume",
            ControlAction::Stop => "stop",
        };
        if let Some(by) = &self.stopped_by {
            return Err(ControlError::Stopped(format!("by {by}")));
        }
        match status {
            RolloutStatus::Stopped { reason } => {
                return Err(ControlError::Stopped(stop_text(reason)));
            }
            RolloutStatus::Completed => return Err(ControlError::Completed(name)),
            _ => {}
        }
        let mut next = self.clone();
        match action {
            ControlAction::Pause => {
                if let Some(by) = &self.paused_by {
                    return Err(ControlError::AlreadyPaused(by.clone()));
                }
                next.paused_by = Some(operator.to_owned());
            }
            ControlAction::Resume => {
                let failed_batch = match status {
                    RolloutStatus::Paused {
                        reason: PauseReason::BatchFailed { batch, .. },
                    } => Some(*batch),
                    _ => None,
                };
                if self.paused_by.is_none() && failed_batch.is_none() {
                    return Err(ControlError::NotPaused);
                }
                next.paused_by = None;
                next.accepted_failed_batches.extend(failed_batch);
            }
            ControlAction::Stop => next.stopped_by = Some(operator.to_owned()),
        }
        Ok(next)
    }
}

/// Budget slots the hosts of `plan` hold, per group (claimed and not yet terminal).
pub fn slots_by_group(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, HostState>,
) -> BTreeMap<String, usize> {
    let mut slots = BTreeMap::new();
    for batch in &plan.batches {
        for host in &batch.hosts {
            if states.get(&host.id).is_some_and(HostState::holds_slot) {
                *slots.entry(batch.group.clone()).or_insert(0) += 1;
            }
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BatchKind, BatchSpec, FailurePolicy, HostSpec};
    use crate::{ExactVersion, Progress, RolloutId, Target};

    fn running() -> RolloutStatus {
        RolloutStatus::Running
    }

    #[test]
    fn pause_resume_stop_and_the_refusals() {
        let control = RolloutControl::default();
        let paused = control
            .apply(ControlAction::Pause, "alice", &running())
            .unwrap();
        assert_eq!(paused.paused_by.as_deref(), Some("alice"));
        let status = RolloutStatus::Paused {
            reason: PauseReason::Operator { by: "alice".into() },
        };
        assert_eq!(
            paused.apply(ControlAction::Pause, "bob", &status),
            Err(ControlError::AlreadyPaused("alice".into()))
        );
        let resumed = paused.apply(ControlAction::Resume, "bob", &status).unwrap();
        assert_eq!(resumed, RolloutControl::default());
        assert_eq!(
            resumed.apply(ControlAction::Resume, "bob", &running()),
            Err(ControlError::NotPaused)
        );
        let stopped = resumed
            .apply(ControlAction::Stop, "carol", &running())
            .unwrap();
        assert_eq!(stopped.stopped_by.as_deref(), Some("carol"));
        for action in [
            ControlAction::Pause,
            ControlAction::Resume,
            ControlAction::Stop,
        ] {
            let error = stopped.apply(action, "dave", &running()).unwrap_err();
            assert!(error.to_string().contains("stopped (by carol)"), "{error}");
        }
        let budget = RolloutStatus::Stopped {
            reason: StopReason::CanaryFailed {
                failures: 1,
                allowed: 0,
            },
        };
        let error = control
            .apply(ControlAction::Resume, "bob", &budget)
            .unwrap_err();
        assert!(error.to_string().contains("1 canary failure(s)"), "{error}");
        assert_eq!(
            control.apply(ControlAction::Stop, "bob", &RolloutStatus::Completed),
            Err(ControlError::Completed("stop"))
        );
    }

    #[test]
    fn resuming_a_failed_batch_accepts_its_failures() {
        let status = RolloutStatus::Paused {
            reason: PauseReason::BatchFailed {
                batch: 2,
                failures: 1,
            },
        };
        let control = RolloutControl::default()
            .apply(ControlAction::Resume, "alice", &status)
            .unwrap();
        assert!(control.accepted_failed_batches.contains(&2));
        // Pausing on top of a failed batch and resuming does both at once.
        let paused = RolloutControl::default()
            .apply(ControlAction::Pause, "alice", &status)
            .unwrap();
        let resumed = paused.apply(ControlAction::Resume, "bob", &status).unwrap();
        assert_eq!(resumed.paused_by, None);
        assert!(resumed.accepted_failed_batches.contains(&2));
    }

    #[test]
    fn slots_are_counted_per_group_for_hosts_holding_one() {
        let target = Target {
            package: pw_model::PackageName::parse("openssl").unwrap(),
            version: ExactVersion::parse("3.0.17-1").unwrap(),
        };
        let host = |id: &str| HostSpec {
            id: HostId(id.into()),
            targets: vec![target.clone()],
        };
        let plan = RolloutPlan {
            id: RolloutId("r".into()),
            batches: vec![
                BatchSpec {
                    group: "web".into(),
                    kind: BatchKind::Canary,
                    hosts: vec![host("a")],
                    not_before: None,
                    not_after: None,
                },
                BatchSpec {
                    group: "db".into(),
                    kind: BatchKind::Wave,
                    hosts: vec![host("b"), host("c"), host("d")],
                    not_before: None,
                    not_after: None,
                },
            ],
            budgets: BTreeMap::from([("web".into(), 1), ("db".into(), 2)]),
            failure: FailurePolicy::default_for(&[]),
        };
        let claimed = HostState::Claimed {
            targets: vec![target.clone()],
            progress: Progress {
                attempt: 1,
                tries: 1,
                deadline: jiff::Timestamp::UNIX_EPOCH,
            },
        };
        let states = BTreeMap::from([
            (HostId("a".into()), HostState::Pending { attempt: 1 }),
            (HostId("b".into()), claimed.clone()),
            (HostId("c".into()), claimed),
        ]);
        assert_eq!(
            slots_by_group(&plan, &states),
            BTreeMap::from([("db".into(), 2)])
        );
    }
}
