//! Rollout-level decisions: given the plan's batches (canaries first), every host's state, the
//! operator's controls, the fleet-wide block list and the outside gates, decide the rollout's
//! status, which hosts to claim, which claims to give back and which hosts are skipped.
//!
//! Rules (docs/design/rollout-engine.md "Rollout decisions"):
//! - batches run one after another; a batch is complete when each host is terminal or skipped;
//! - a host is claimed only while the rollout runs, its group's window is open with room for its
//!   change and rollback buffer (or the rollout is a T0 emergency) and its group's health gate is
//!   green ([`crate::gate`]), and only while its group has fewer hosts holding a slot (here and in other rollouts)
//!   than its disruption budget; terminal hosts hold no slot, so timeouts and failures give slots
//!   back;
//! - one failure budget for the whole rollout: any canary failure beyond `canary_max_failures`
//!   stops it, and so do more than `max_failures` failed hosts overall;
//! - a completed batch with failures pauses the rollout unless `continue_after_failed_batch` or
//!   the operator accepted that batch;
//! - a pending host with a blocked target version is skipped (not a failure); a claimed host that
//!   has not installed yet is released when one of its versions gets blocked or the rollout stops.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::block::BlockList;
use crate::claim::{ClaimInput, claim_hosts};
use crate::gate::{HealthGate, WindowGate, WindowHold};
use crate::host::{AsHostState, Event, HostState};
use crate::model::{HostId, RolloutId, Target};
use crate::plan::{BatchKind, BatchSpec, HostSpec, PlanError, RolloutPlan};

/// What operators decided about a rollout (persisted beside it; see [`crate::control`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutControl {
    /// Paused by this operator; resuming clears it.
    pub paused_by: Option<String>,
    /// Stopped by this operator; final for this rollout (retry makes a new one).
    pub stopped_by: Option<String>,
    /// Batches (numbered from 1) whose failures an operator accepted, letting the next batch start.
    pub accepted_failed_batches: BTreeSet<usize>,
    /// Pending hosts an operator skipped, with who did: left out like blocked ones.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_hosts: BTreeMap<HostId, String>,
    /// A T0 emergency start: the window gate is bypassed for this rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency: Option<EmergencyStart>,
}

/// An admin's T0 emergency start of a rollout outside its windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyStart {
    pub by: String,
    pub reason: String,
    pub at: Timestamp,
}

/// Conditions outside the rollout, computed by the controller at `now` on every pass
/// ([`crate::gate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Gates {
    /// Each fleet group's window state; a group missing here is not window-gated.
    pub windows: BTreeMap<String, WindowGate>,
    /// Each fleet group's health gate; a group missing here is green.
    pub health: BTreeMap<String, HealthGate>,
    /// A host's fleet group where it differs from its batch's group (an ad-hoc rollout puts
    /// every host in one batch group); missing: the batch's group. Shared: the controller
    /// keeps it between passes while the fleet does not change.
    pub host_groups: Arc<BTreeMap<HostId, String>>,
    /// Each host's apply estimate in seconds (missing: 0), for the window's remaining time.
    /// Shared as `host_groups` is.
    pub apply_seconds: Arc<BTreeMap<HostId, u64>>,
    /// A T0 emergency rollout: the window gate is bypassed (the health gate is not).
    pub emergency: bool,
    /// Slots held by other rollouts, per group: the budget is per group, not per rollout.
    pub busy_elsewhere: BTreeMap<String, usize>,
    /// The controller's clock, for batch start times and windows; `None` (unknown) keeps every
    /// batch with a `not_before` and every window-gated host waiting.
    pub now: Option<Timestamp>,
}

impl Gates {
    /// The fleet group whose gates apply to `host` of a batch of `batch_group`.
    pub fn group_of<'a>(&'a self, host: &HostId, batch_group: &'a str) -> &'a str {
        self.host_groups
            .get(host)
            .map_or(batch_group, String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RolloutStatus {
    Running,
    Paused { reason: PauseReason },
    Stopped { reason: StopReason },
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PauseReason {
    Operator {
        by: String,
    },
    /// A completed batch had failures; an operator must accept them (or the policy continues).
    BatchFailed {
        batch: usize,
        failures: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    Operator { by: String },
    CanaryFailed { failures: usize, allowed: usize },
    FailureBudgetExceeded { failures: usize, allowed: usize },
}

/// Why a running rollout claims nothing (more) right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitReason {
    /// Hosts of `group` held back by its window: closed (or a blackout) until the next slot,
    /// or too little of the open slot left for their change and rollback buffer (they carry
    /// over to the next slot).
    Window(WindowHold),
    /// `group`'s health checks are red: none of its hosts is claimed.
    HealthGate { group: String, red: Vec<String> },
    /// The group's budget is used; `holders` are this rollout's hosts holding slots.
    BudgetFull {
        group: String,
        budget: usize,
        elsewhere: usize,
        holders: Vec<HostId>,
    },
    /// The current batch's start time (its window slot) has not come yet.
    BatchNotStarted { batch: usize, start: Timestamp },
    /// Every remaining host of the current batch is claimed; waiting for them to finish.
    BatchInProgress { batch: usize },
}

/// The current batch outlived its planned slot: its remaining hosts continue in the group's
/// next open window slots (carry-over, DESIGN.md §9 U5) instead of stalling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedOver {
    pub batch: usize,
    pub planned_end: Timestamp,
}

/// A host to claim: feed [`Claim::event`] to its state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub host: HostId,
    pub group: String,
    pub batch: usize,
    pub targets: Vec<Target>,
}

impl Claim {
    pub fn event(&self) -> Event {
        Event::Claimed {
            targets: self.targets.clone(),
        }
    }
}

/// A claim to give back before anything was installed: feed [`Release::event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub host: HostId,
    pub reason: String,
}

impl Release {
    pub fn event(&self) -> Event {
        Event::Released {
            reason: self.reason.clone(),
        }
    }
}

/// A host left out: some of its target versions are blocked fleet-wide, or an operator
/// skipped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub host: HostId,
    pub blocked: Vec<Target>,
    /// The operator who skipped the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_by: Option<String>,
}

/// Failed hosts so far (`rolled_back` or `failed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub canary: usize,
    pub total: usize,
}

/// Everything [`decide`] concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutDecision {
    pub status: RolloutStatus,
    /// The batch being worked on (from 1), `None` when every batch is complete.
    pub batch: Option<usize>,
    pub claim: Vec<Claim>,
    pub release: Vec<Release>,
    pub skipped: Vec<Skip>,
    pub waiting: Vec<WaitReason>,
    /// Set when the current batch continues past its planned slot.
    pub carried_over: Option<CarriedOver>,
    /// Hosts of this rollout holding a slot, per group.
    pub slots: BTreeMap<String, Vec<HostId>>,
    pub failures: Failures,
}

/// Decides the rollout's next moves. Hosts missing from `states` are pending.
pub fn decide<S: AsHostState>(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, S>,
    control: &RolloutControl,
    blocks: &BlockList,
    gates: &Gates,
) -> Result<RolloutDecision, PlanError> {
    plan.validate()?;
    let state_of = |id: &HostId| state_in(states, id);
    let blocked_of = |host: &HostSpec| -> Vec<Target> {
        blocks.blocked(&host.targets).map(|b| b.target()).collect()
    };

    let mut failures = Failures::default();
    let mut batch_failures = vec![0usize; plan.batches.len()];
    let mut slots: BTreeMap<String, Vec<HostId>> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut blocked_claims = Vec::new();
    let mut current = None;
    for (index, batch) in plan.batches.iter().enumerate() {
        let mut complete = true;
        for host in &batch.hosts {
            let state = state_of(&host.id);
            let blocked = blocked_of(host);
            if state.is_failure() {
                failures.total += 1;
                batch_failures[index] += 1;
                if batch.kind == BatchKind::Canary {
                    failures.canary += 1;
                }
            }
            if state.holds_slot() {
                slots
                    .entry(batch.group.clone())
                    .or_default()
                    .push(host.id.clone());
            }
            let skipped_by = control.skipped_hosts.get(&host.id).cloned();
            let skip = matches!(state, HostState::Pending { .. })
                && (!blocked.is_empty() || skipped_by.is_some());
            if state.before_install() && !blocked.is_empty() {
                blocked_claims.push(Release {
                    host: host.id.clone(),
                    reason: format!("blocked fleet-wide: {}", join(&blocked)),
                });
            }
            if skip {
                skipped.push(Skip {
                    host: host.id.clone(),
                    blocked,
                    skipped_by,
                });
            } else if !state.is_terminal() {
                complete = false;
            }
        }
        if !complete && current.is_none() {
            current = Some(index);
        }
    }

    let stop = stop_reason(plan, control, failures);
    let mut release = blocked_claims;
    if let Some(reason) = &stop {
        let already: BTreeSet<HostId> = release.iter().map(|r| r.host.clone()).collect();
        for host in plan.batches.iter().flat_map(|b| &b.hosts) {
            if state_of(&host.id).before_install() && !already.contains(&host.id) {
                release.push(Release {
                    host: host.id.clone(),
                    reason: format!("rollout stopped: {reason:?}"),
                });
            }
        }
    }
    let status = match (stop, current) {
        (Some(reason), _) => RolloutStatus::Stopped { reason },
        (None, None) => RolloutStatus::Completed,
        (None, Some(current)) => match pause_reason(plan, control, &batch_failures, current) {
            Some(reason) => RolloutStatus::Paused { reason },
            None => RolloutStatus::Running,
        },
    };

    let mut decision = RolloutDecision {
        status,
        batch: current.map(|i| i + 1),
        claim: Vec::new(),
        release,
        skipped,
        waiting: Vec::new(),
        carried_over: None,
        slots,
        failures,
    };
    if let (RolloutStatus::Running, Some(current)) = (&decision.status, current) {
        let unaccepted = unaccepted_failures(plan, control, &batch_failures);
        let input = ClaimInput {
            plan,
            current,
            states,
            blocks,
            gates,
            unaccepted_failures: &unaccepted,
            skipped: &control.skipped_hosts,
        };
        claim_hosts(&input, &mut decision);
    }
    Ok(decision)
}

static PENDING: HostState = HostState::Pending { attempt: 1 };

/// A host's state; pending when the controller has none yet.
pub(crate) fn state_in<'a, S: AsHostState>(
    states: &'a BTreeMap<HostId, S>,
    id: &HostId,
) -> &'a HostState {
    states.get(id).map_or(&PENDING, AsHostState::host_state)
}

fn stop_reason(
    plan: &RolloutPlan,
    control: &RolloutControl,
    failures: Failures,
) -> Option<StopReason> {
    if let Some(by) = &control.stopped_by {
        return Some(StopReason::Operator { by: by.clone() });
    }
    let policy = plan.failure;
    if failures.canary > policy.canary_max_failures {
        return Some(StopReason::CanaryFailed {
            failures: failures.canary,
            allowed: policy.canary_max_failures,
        });
    }
    if failures.total > policy.max_failures {
        return Some(StopReason::FailureBudgetExceeded {
            failures: failures.total,
            allowed: policy.max_failures,
        });
    }
    None
}

/// Failures per batch that pause the rollout: none under `continue_after_failed_batch`, and
/// none of a batch an operator accepted.
fn unaccepted_failures(
    plan: &RolloutPlan,
    control: &RolloutControl,
    batch_failures: &[usize],
) -> Vec<usize> {
    batch_failures
        .iter()
        .enumerate()
        .map(|(index, failures)| {
            let ignored = plan.failure.continue_after_failed_batch
                || control.accepted_failed_batches.contains(&(index + 1));
            if ignored { 0 } else { *failures }
        })
        .collect()
}

fn pause_reason(
    plan: &RolloutPlan,
    control: &RolloutControl,
    batch_failures: &[usize],
    current: usize,
) -> Option<PauseReason> {
    let unaccepted = unaccepted_failures(plan, control, batch_failures);
    let failed = unaccepted[..current]
        .iter()
        .enumerate()
        .find(|(_, failures)| **failures > 0);
    if let Some((index, failures)) = failed {
        return Some(PauseReason::BatchFailed {
            batch: index + 1,
            failures: *failures,
        });
    }
    control
        .paused_by
        .as_ref()
        .map(|by| PauseReason::Operator { by: by.clone() })
}

fn join(targets: &[Target]) -> String {
    targets
        .iter()
        .map(Target::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Retry only the failed hosts: a new plan with the `rolled_back` and `failed` hosts of `plan`,
/// in their batches and order, under a new id. Hosts with a blocked target are left out (the
/// second list) until an operator clears the block.
pub fn retry_failed(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, HostState>,
    blocks: &BlockList,
    new_id: RolloutId,
) -> (RolloutPlan, Vec<Skip>) {
    let mut left_out = Vec::new();
    let batches = plan
        .batches
        .iter()
        .filter_map(|batch| {
            let hosts: Vec<HostSpec> = batch
                .hosts
                .iter()
                .filter(|h| states.get(&h.id).is_some_and(HostState::is_failure))
                .filter(|h| {
                    let blocked: Vec<Target> =
                        blocks.blocked(&h.targets).map(|b| b.target()).collect();
                    if blocked.is_empty() {
                        return true;
                    }
                    left_out.push(Skip {
                        host: h.id.clone(),
                        blocked,
                        skipped_by: None,
                    });
                    false
                })
                .cloned()
                .collect();
            (!hosts.is_empty()).then(|| BatchSpec {
                group: batch.group.clone(),
                kind: batch.kind,
                hosts,
                not_before: batch.not_before,
                not_after: batch.not_after,
                drill: batch.drill,
            })
        })
        .collect();
    let retry = RolloutPlan {
        id: new_id,
        batches,
        budgets: plan.budgets.clone(),
        failure: plan.failure,
        mode: plan.mode,
    };
    (retry, left_out)
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
