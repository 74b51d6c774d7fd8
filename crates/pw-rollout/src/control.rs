//! Operator controls of a rollout (pause, resume, stop) as pure transitions of the persisted
//! [`RolloutControl`], refusing the ones that make no sense, and the slots a rollout holds per
//! group (the other rollouts' `Gates::busy_elsewhere`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use jiff::Timestamp;

use crate::block::BlockList;
use crate::host::{AsHostState, HostState};
use crate::model::{HostId, RolloutId};
use crate::plan::RolloutPlan;
use crate::rollout::{
    EmergencyStart, PauseReason, RolloutControl, RolloutStatus, Skip, StopReason, retry_failed,
};

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
    #[error("host {0} is not in this rollout")]
    UnknownHost(HostId),
    #[error("host {host} is {state}: only a pending host can be skipped")]
    NotPending { host: HostId, state: String },
    #[error("host {host} was already skipped by {by}")]
    AlreadySkipped { host: HostId, by: String },
    #[error("the rollout was already started as an emergency by {0}")]
    AlreadyEmergency(String),
    #[error("an emergency start needs a reason")]
    NoReason,
    #[error("the rollout has no failed host to retry")]
    NothingToRetry,
    #[error(
        "every failed host has a target version blocked fleet-wide: {0}; clear the block first"
    )]
    RetryBlocked(String),
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
    /// Refuses any control of a stopped or completed rollout (`name`: what was asked).
    fn still_open(&self, name: &'static str, status: &RolloutStatus) -> Result<(), ControlError> {
        if let Some(by) = &self.stopped_by {
            return Err(ControlError::Stopped(format!("by {by}")));
        }
        match status {
            RolloutStatus::Stopped { reason } => Err(ControlError::Stopped(stop_text(reason))),
            RolloutStatus::Completed => Err(ControlError::Completed(name)),
            _ => Ok(()),
        }
    }

    /// Skips `host` (pending only: a claimed host is already changing) by `operator`; the
    /// engine then leaves it out like a host with a blocked version.
    pub fn skip_host(
        &self,
        host: &HostId,
        operator: &str,
        plan: &RolloutPlan,
        states: &BTreeMap<HostId, HostState>,
        status: &RolloutStatus,
    ) -> Result<RolloutControl, ControlError> {
        self.still_open("skip", status)?;
        if !plan
            .batches
            .iter()
            .any(|b| b.hosts.iter().any(|h| h.id == *host))
        {
            return Err(ControlError::UnknownHost(host.clone()));
        }
        if let Some(by) = self.skipped_hosts.get(host) {
            return Err(ControlError::AlreadySkipped {
                host: host.clone(),
                by: by.clone(),
            });
        }
        match states.get(host) {
            None | Some(HostState::Pending { .. }) => {}
            Some(state) => {
                let name = serde_json::to_value(state.name()).unwrap_or_default();
                return Err(ControlError::NotPending {
                    host: host.clone(),
                    state: name.as_str().unwrap_or("changing").to_owned(),
                });
            }
        }
        let mut next = self.clone();
        next.skipped_hosts.insert(host.clone(), operator.to_owned());
        Ok(next)
    }

    /// A T0 emergency start by `operator` (an admin: the API's access rule) with `reason` at
    /// `at`: the window gate is bypassed for this rollout from now on.
    pub fn start_emergency(
        &self,
        operator: &str,
        reason: &str,
        at: Timestamp,
        status: &RolloutStatus,
    ) -> Result<RolloutControl, ControlError> {
        self.still_open("start as an emergency", status)?;
        if let Some(emergency) = &self.emergency {
            return Err(ControlError::AlreadyEmergency(emergency.by.clone()));
        }
        if reason.trim().is_empty() {
            return Err(ControlError::NoReason);
        }
        let mut next = self.clone();
        next.emergency = Some(EmergencyStart {
            by: operator.to_owned(),
            reason: reason.trim().to_owned(),
            at,
        });
        Ok(next)
    }

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
        self.still_open(name, status)?;
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

/// "Retry failed hosts": a new plan (under `new_id`) with the failed hosts of `plan` in their
/// batches, for a new rollout; hosts with a blocked target stay out (the second list). Refused
/// when there is nothing to retry.
pub fn retry_plan(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, HostState>,
    blocks: &BlockList,
    new_id: RolloutId,
) -> Result<(RolloutPlan, Vec<Skip>), ControlError> {
    let (retry, left_out) = retry_failed(plan, states, blocks, new_id);
    if !retry.batches.is_empty() {
        return Ok((retry, left_out));
    }
    if left_out.is_empty() {
        return Err(ControlError::NothingToRetry);
    }
    let hosts: Vec<String> = left_out.iter().map(|s| s.host.to_string()).collect();
    Err(ControlError::RetryBlocked(hosts.join(", ")))
}

/// Budget slots the hosts of `plan` hold, per group (claimed and not yet terminal).
pub fn slots_by_group<S: AsHostState>(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, S>,
) -> BTreeMap<String, usize> {
    let mut slots = BTreeMap::new();
    for batch in &plan.batches {
        for host in &batch.hosts {
            if (states.get(&host.id)).is_some_and(|s| s.host_state().holds_slot()) {
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

    fn two_host_plan() -> RolloutPlan {
        let target = Target {
            package: pw_model::PackageName::parse("openssl").unwrap(),
            version: ExactVersion::parse("3.0.17-1").unwrap(),
        };
        RolloutPlan {
            id: RolloutId("r".into()),
            batches: vec![BatchSpec {
                group: "web".into(),
                kind: BatchKind::Wave,
                hosts: ["a", "b"]
                    .iter()
                    .map(|h| HostSpec {
                        id: HostId((*h).into()),
                        targets: vec![target.clone()],
                    })
                    .collect(),
                not_before: None,
                not_after: None,
                drill: false,
            }],
            budgets: BTreeMap::from([("web".into(), 1)]),
            failure: FailurePolicy::default_for(&[]),
            mode: crate::plan::Mode::Batches,
        }
    }

    fn failed() -> HostState {
        HostState::Failed {
            targets: vec![],
            cause: crate::FailCause::Unreachable,
            at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn skipping_a_host_and_the_refusals() {
        let plan = two_host_plan();
        let id = |h: &str| HostId(h.into());
        let skipped = RolloutControl {
            skipped_hosts: BTreeMap::from([(id("b"), "bob".into())]),
            ..RolloutControl::default()
        };
        let states = BTreeMap::from([(id("a"), failed())]);
        let completed = RolloutStatus::Completed;
        let stopped = RolloutControl {
            stopped_by: Some("carol".into()),
            ..RolloutControl::default()
        };
        // (control, host, status, expected)
        let table: Vec<(
            RolloutControl,
            &str,
            RolloutStatus,
            Result<(), ControlError>,
        )> = vec![
            (RolloutControl::default(), "b", running(), Ok(())),
            (
                RolloutControl::default(),
                "x",
                running(),
                Err(ControlError::UnknownHost(id("x"))),
            ),
            (
                RolloutControl::default(),
                "a",
                running(),
                Err(ControlError::NotPending {
                    host: id("a"),
                    state: "failed".into(),
                }),
            ),
            (
                skipped.clone(),
                "b",
                running(),
                Err(ControlError::AlreadySkipped {
                    host: id("b"),
                    by: "bob".into(),
                }),
            ),
            (
                RolloutControl::default(),
                "b",
                completed,
                Err(ControlError::Completed("skip")),
            ),
            (
                stopped,
                "b",
                running(),
                Err(ControlError::Stopped("by carol".into())),
            ),
        ];
        for (index, (control, host, status, expected)) in table.into_iter().enumerate() {
            let result = control.skip_host(&id(host), "alice", &plan, &states, &status);
            match (result, expected) {
                (Ok(next), Ok(())) => {
                    assert_eq!(
                        next.skipped_hosts.get(&id(host)).map(String::as_str),
                        Some("alice")
                    );
                }
                (Err(error), Err(expected)) => assert_eq!(error, expected, "row {index}"),
                (got, expected) => panic!("row {index}: {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn emergency_starts_need_a_reason_and_happen_once() {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let control = RolloutControl::default();
        assert_eq!(
            control.start_emergency("root", "  ", at, &running()),
            Err(ControlError::NoReason)
        );
        let started = control
            .start_emergency("root", " CVE-2026-0001 exploited ", at, &running())
            .unwrap();
        let emergency = started.emergency.clone().unwrap();
        assert_eq!(
            (emergency.by.as_str(), emergency.reason.as_str()),
            ("root", "CVE-2026-0001 exploited")
        );
        assert_eq!(
            started.start_emergency("admin2", "again", at, &running()),
            Err(ControlError::AlreadyEmergency("root".into()))
        );
        assert_eq!(
            control.start_emergency("root", "x", at, &RolloutStatus::Completed),
            Err(ControlError::Completed("start as an emergency"))
        );
    }

    #[test]
    fn retrying_takes_the_failed_hosts_or_says_why_not() {
        let plan = two_host_plan();
        let id = |h: &str| HostId(h.into());
        let new = RolloutId("r2".into());
        let none = BlockList::new();
        assert_eq!(
            retry_plan(&plan, &BTreeMap::new(), &none, new.clone()),
            Err(ControlError::NothingToRetry)
        );
        let states = BTreeMap::from([(id("a"), failed())]);
        let (retry, left_out) = retry_plan(&plan, &states, &none, new.clone()).unwrap();
        assert_eq!(retry.id, new);
        assert_eq!(retry.batches[0].hosts.len(), 1);
        assert_eq!(retry.batches[0].hosts[0].id, id("a"));
        assert!(left_out.is_empty());
        let mut blocks = BlockList::new();
        let target = &plan.batches[0].hosts[0].targets[0];
        blocks.insert(crate::Block {
            package: target.package.clone(),
            version: target.version.clone(),
            reason: "health".into(),
            rollout: RolloutId("r".into()),
            host: id("a"),
            at: jiff::Timestamp::UNIX_EPOCH,
        });
        assert_eq!(
            retry_plan(&plan, &states, &blocks, new),
            Err(ControlError::RetryBlocked("a".into()))
        );
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
                    drill: false,
                },
                BatchSpec {
                    group: "db".into(),
                    kind: BatchKind::Wave,
                    hosts: vec![host("b"), host("c"), host("d")],
                    not_before: None,
                    not_after: None,
                    drill: false,
                },
            ],
            budgets: BTreeMap::from([("web".into(), 1), ("db".into(), 2)]),
            failure: FailurePolicy::default_for(&[]),
            mode: crate::plan::Mode::Batches,
        };
        let claimed = HostState::Claimed {
            targets: vec![target.clone()],
            progress: Progress {
                attempt: 1,
                tries: 1,
                deadline: jiff::Timestamp::UNIX_EPOCH,
            },
            halted: None,
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
