//! Rollout-level decisions: given the plan's batches (canaries first), every host's state, the
//! operator's controls, the fleet-wide block list and the outside gates, decide the rollout's
//! status, which hosts to claim, which claims to give back and which hosts are skipped.
//!
//! Rules (docs/design/rollout-engine.md "Rollout decisions"):
//! - batches run one after another; a batch is complete when each host is terminal or skipped;
//! - a host is claimed only while the rollout runs, its window is open and the health gate is
//!   green, and only while its group has fewer hosts holding a slot (here and in other rollouts)
//!   than its disruption budget; terminal hosts hold no slot, so timeouts and failures give slots
//!   back;
//! - one failure budget for the whole rollout: any canary failure beyond `canary_max_failures`
//!   stops it, and so do more than `max_failures` failed hosts overall;
//! - a completed batch with failures pauses the rollout unless `continue_after_failed_batch` or
//!   the operator accepted that batch;
//! - a pending host with a blocked target version is skipped (not a failure); a claimed host that
//!   has not installed yet is released when one of its versions gets blocked or the rollout stops.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::block::BlockList;
use crate::host::{Event, HostState};
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
}

/// Conditions outside the rollout, evaluated by the controller at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gates {
    /// A maintenance window is open (and no blackout).
    pub window_open: bool,
    /// The pre-start health signals are green (DESIGN.md §9.3).
    pub health_ok: bool,
    /// Slots held by other rollouts, per group: the budget is per group, not per rollout.
    pub busy_elsewhere: BTreeMap<String, usize>,
    /// The controller's clock, for batch start times; `None` (unknown) keeps every batch with a
    /// `not_before` waiting.
    #[serde(default)]
    pub now: Option<Timestamp>,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            window_open: true,
            health_ok: true,
            busy_elsewhere: BTreeMap::new(),
            now: None,
        }
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
    WindowClosed,
    HealthGate,
    /// The group's budget is used; `holders` are this rollout's hosts holding slots.
    BudgetFull {
        group: String,
        budget: usize,
        elsewhere: usize,
        holders: Vec<HostId>,
    },
    /// The current batch's start time (its window slot) has not come yet.
    BatchNotStarted {
        batch: usize,
        start: Timestamp,
    },
    /// The current batch's last claim instant has passed: the rest of it no longer fits in its
    /// window slot. Claimed hosts finish; nothing more is claimed.
    BatchWindowPassed {
        batch: usize,
        end: Timestamp,
    },
    /// Every remaining host of the current batch is claimed; waiting for them to finish.
    BatchInProgress {
        batch: usize,
    },
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

/// A host left out because some of its target versions are blocked fleet-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub host: HostId,
    pub blocked: Vec<Target>,
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
    /// Hosts of this rollout holding a slot, per group.
    pub slots: BTreeMap<String, Vec<HostId>>,
    pub failures: Failures,
}

/// Decides the rollout's next moves. Hosts missing from `states` are pending.
pub fn decide(
    plan: &RolloutPlan,
    states: &BTreeMap<HostId, HostState>,
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
            let skip = matches!(state, HostState::Pending { .. }) && !blocked.is_empty();
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
        slots,
        failures,
    };
    if let (RolloutStatus::Running, Some(current)) = (&decision.status, current) {
        claim_in_batch(plan, current, states, blocks, gates, &mut decision);
    }
    Ok(decision)
}

static PENDING: HostState = HostState::Pending { attempt: 1 };

/// A host's state; pending when the controller has none yet.
fn state_in<'a>(states: &'a BTreeMap<HostId, HostState>, id: &HostId) -> &'a HostState {
    states.get(id).unwrap_or(&PENDING)
}

/// Claims the current batch's free hosts within the group budget, or says why it waits.
fn claim_in_batch(
    plan: &RolloutPlan,
    current: usize,
    states: &BTreeMap<HostId, HostState>,
    blocks: &BlockList,
    gates: &Gates,
    decision: &mut RolloutDecision,
) {
    if !gates.window_open {
        decision.waiting.push(WaitReason::WindowClosed);
    }
    if !gates.health_ok {
        decision.waiting.push(WaitReason::HealthGate);
    }
    let batch = &plan.batches[current];
    if let Some(start) = batch.not_before
        && gates.now.is_none_or(|now| now < start)
    {
        decision.waiting.push(WaitReason::BatchNotStarted {
            batch: current + 1,
            start,
        });
    }
    if let Some(end) = batch.not_after
        && gates.now.is_none_or(|now| now > end)
    {
        decision.waiting.push(WaitReason::BatchWindowPassed {
            batch: current + 1,
            end,
        });
    }
    if !decision.waiting.is_empty() {
        return;
    }
    let budget = plan.budgets.get(&batch.group).copied().unwrap_or(0);
    let elsewhere = gates.busy_elsewhere.get(&batch.group).copied().unwrap_or(0);
    let holding = decision.slots.get(&batch.group).map_or(0, Vec::len);
    let mut free = budget.saturating_sub(holding.saturating_add(elsewhere));
    let mut candidates = batch.hosts.iter().filter(|h| {
        matches!(state_in(states, &h.id), HostState::Pending { .. })
            && blocks.blocked(&h.targets).next().is_none()
    });
    for host in candidates.by_ref() {
        if free == 0 {
            decision.waiting.push(WaitReason::BudgetFull {
                group: batch.group.clone(),
                budget,
                elsewhere,
                holders: decision
                    .slots
                    .get(&batch.group)
                    .cloned()
                    .unwrap_or_default(),
            });
            return;
        }
        free -= 1;
        decision.claim.push(Claim {
            host: host.id.clone(),
            group: batch.group.clone(),
            batch: current + 1,
            targets: host.targets.clone(),
        });
    }
    if decision.claim.is_empty() {
        decision
            .waiting
            .push(WaitReason::BatchInProgress { batch: current + 1 });
    }
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

fn pause_reason(
    plan: &RolloutPlan,
    control: &RolloutControl,
    batch_failures: &[usize],
    current: usize,
) -> Option<PauseReason> {
    if !plan.failure.continue_after_failed_batch {
        let failed = batch_failures[..current]
            .iter()
            .enumerate()
            .find(|(index, failures)| {
                **failures > 0 && !control.accepted_failed_batches.contains(&(index + 1))
            });
        if let Some((index, failures)) = failed {
            return Some(PauseReason::BatchFailed {
                batch: index + 1,
                failures: *failures,
            });
        }
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
            })
        })
        .collect();
    let retry = RolloutPlan {
        id: new_id,
        batches,
        budgets: plan.budgets.clone(),
        failure: plan.failure,
    };
    (retry, left_out)
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
