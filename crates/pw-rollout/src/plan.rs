//! What a rollout executes: batches of hosts with their exact targets (canaries first), per-group
//! disruption budgets and one failure policy — and the checks that make such a plan executable.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{HostId, RolloutId, Target};

/// What the rollout executes, taken from an approved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub id: RolloutId,
    /// In execution order; within a group, its canary batches come before its waves (a plan
    /// may run one group's waves before another group's canary: staging before production).
    pub batches: Vec<BatchSpec>,
    /// Disruption budget per group: hosts changing at once, at least 1.
    pub budgets: BTreeMap<String, usize>,
    pub failure: FailurePolicy,
    /// Strict batches (default) or rolling.
    #[serde(default)]
    pub mode: Mode,
}

/// How hosts follow each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A batch starts when the one before it is complete.
    #[default]
    Batches,
    /// After the canaries, the next host of the group's waves starts as soon as one finishes
    /// (never more in flight than the disruption budget); a wave with an unaccepted failure
    /// stops the stream as a batch boundary would.
    Rolling,
}

impl RolloutPlan {
    /// Whether `host` runs the rollback drill (its batch drills).
    pub fn drills_host(&self, host: &HostId) -> bool {
        self.batches
            .iter()
            .any(|b| b.drill && b.hosts.iter().any(|h| &h.id == host))
    }

    /// Whether any host runs the rollback drill.
    pub fn drills(&self) -> bool {
        self.batches.iter().any(|b| b.drill && !b.hosts.is_empty())
    }
}

/// One batch: hosts of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSpec {
    pub group: String,
    pub kind: BatchKind,
    pub hosts: Vec<HostSpec>,
    /// No host of the batch is claimed before this instant (the plan's slot start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// The end of the batch's planned slot. Past it the batch carries over: its remaining hosts
    /// continue in the group's next open window slots (the live window gate decides;
    /// [`crate::rollout::CarriedOver`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// Every host of the batch runs the rollback drill after its verified install (apply →
    /// roll back to the exact recorded versions → re-apply, each verified): the evidence a
    /// staging-gated approval needs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    Canary,
    Wave,
}

/// One host and its exact targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    pub id: HostId,
    pub targets: Vec<Target>,
}

/// One failure budget for the whole rollout (DESIGN.md §9.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailurePolicy {
    /// Failed canary hosts tolerated (default 0: any canary failure stops the rollout).
    pub canary_max_failures: usize,
    /// Failed hosts tolerated over the whole rollout.
    pub max_failures: usize,
    /// Start the next batch after one with failures without waiting for the operator.
    pub continue_after_failed_batch: bool,
}

impl FailurePolicy {
    /// The defaults: no canary failure, 10% (rounded down) of the hosts after the canaries.
    pub fn default_for(plan_batches: &[BatchSpec]) -> Self {
        let waves: usize = plan_batches
            .iter()
            .filter(|b| b.kind == BatchKind::Wave)
            .map(|b| b.hosts.len())
            .sum();
        FailurePolicy {
            canary_max_failures: 0,
            max_failures: waves / 10,
            continue_after_failed_batch: false,
        }
    }
}

/// Why a plan cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("batch {batch} is a canary after a wave of its group; canaries go first")]
    CanaryAfterWave { batch: usize },
    #[error("batch {batch} has no hosts")]
    EmptyBatch { batch: usize },
    #[error("host {host} is in batches {first} and {second}")]
    DuplicateHost {
        host: HostId,
        first: usize,
        second: usize,
    },
    #[error("host {host} in batch {batch} has no targets")]
    NoTargets { host: HostId, batch: usize },
    #[error("group {group} of batch {batch} has no disruption budget of at least 1")]
    NoBudget { group: String, batch: usize },
}

impl RolloutPlan {
    /// Checks the plan; batches are numbered from 1 in errors.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut waves_seen: BTreeSet<&str> = BTreeSet::new();
        let mut hosts: BTreeMap<&HostId, usize> = BTreeMap::new();
        for (index, batch) in self.batches.iter().enumerate() {
            let number = index + 1;
            match batch.kind {
                BatchKind::Wave => {
                    waves_seen.insert(&batch.group);
                }
                BatchKind::Canary if waves_seen.contains(batch.group.as_str()) => {
                    return Err(PlanError::CanaryAfterWave { batch: number });
                }
                BatchKind::Canary => {}
            }
            if batch.hosts.is_empty() {
                return Err(PlanError::EmptyBatch { batch: number });
            }
            if self.budgets.get(&batch.group).copied().unwrap_or(0) == 0 {
                return Err(PlanError::NoBudget {
                    group: batch.group.clone(),
                    batch: number,
                });
            }
            for host in &batch.hosts {
                if host.targets.is_empty() {
                    return Err(PlanError::NoTargets {
                        host: host.id.clone(),
                        batch: number,
                    });
                }
                if let Some(first) = hosts.insert(&host.id, number) {
                    return Err(PlanError::DuplicateHost {
                        host: host.id.clone(),
                        first,
                        second: number,
                    });
                }
            }
        }
        Ok(())
    }
}
