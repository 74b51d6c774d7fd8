//! The change plan (what will be done, DESIGN.md §1) and its serialisable shape.
//! [`crate::build::build_plan`] makes one; [`crate::render`] turns it into Markdown.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalGates, ApprovalState};
use crate::fleet::Scope;
use crate::policy::HealthCheckKind;
use crate::risk::RiskItem;
use crate::schedule::BatchKind;
use crate::summary::RiskSummary;
use crate::targets::{HostEstimate, PackageChange};

/// A change plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub author: String,
    pub created_at: Timestamp,
    /// The planning horizon.
    pub from: Timestamp,
    pub until: Timestamp,
    pub scope: Scope,
    pub approval: ApprovalState,
    /// What approving this plan requires.
    pub gates: ApprovalGates,
    pub summary: RiskSummary,
    pub risks: Vec<RiskItem>,
    pub failure_policy: FailurePolicy,
    pub groups: Vec<GroupPlan>,
    /// All batches in time order (`number` is 1-based in this order).
    pub batches: Vec<Batch>,
    pub unscheduled: Vec<Unscheduled>,
    pub hosts: Vec<HostPlan>,
    pub notifications: Vec<Notification>,
    /// Input that could not be used (unknown groups, bad versions, duplicate hosts…).
    pub problems: Vec<String>,
}

/// One group's part of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPlan {
    pub name: String,
    pub environment: String,
    pub owners: Vec<String>,
    pub staging_counterpart: Option<String>,
    /// Hosts of the group in the fleet file (the base of percents).
    pub hosts_in_fleet: usize,
    /// Hosts with at least one change.
    pub hosts_planned: usize,
    /// Disruption budget: hosts changing at once.
    pub max_in_flight: usize,
    pub canary_size: usize,
    pub anti_affinity: Vec<String>,
    pub rto_seconds: Option<u64>,
    pub rpo_seconds: Option<u64>,
    /// Whether the RPO makes a snapshot/backup mandatory.
    pub protection_required: bool,
    /// Protection steps run on every host before it changes, in order.
    pub protection_steps: Vec<String>,
    /// The providers that carry out `protection_steps` on the agents (from the fleet
    /// document's `[[groups.<name>.providers.<protection>]]`; docs/protection.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protection_providers: Vec<crate::policy::ProvidedStep>,
    pub health_checks: Vec<HealthCheckRef>,
    pub verification_seconds: u64,
    pub rollback_buffer_percent: f64,
    /// Failures tolerated in the canary batch before the rollout stops.
    pub canary_max_failures: usize,
    /// This group's share of the rollout's failure budget.
    pub max_failures: usize,
    pub continue_after_failed_batch: bool,
    /// How a host of this group is rolled back.
    pub rollback_method: String,
    pub first_start: Option<Timestamp>,
    pub last_end: Option<Timestamp>,
}

/// A health check as used by a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckRef {
    pub name: String,
    pub kind: HealthCheckKind,
    pub target: String,
    pub timeout_seconds: u64,
    #[serde(
        default,
        skip_serializing_if = "crate::policy::CheckOptions::is_default"
    )]
    pub options: crate::policy::CheckOptions,
}

/// One failure budget for the whole rollout (DESIGN.md §9.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailurePolicy {
    /// Failed hosts after the canaries that stop the rollout when exceeded (sum of the groups'
    /// shares).
    pub rollout_max_failures: usize,
    /// Any canary batch with more failures than its group's `canary_max_failures` stops the
    /// rollout at once.
    pub stop_on_canary_failure: bool,
}

/// One batch placed in a window slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub number: usize,
    pub group: String,
    /// Position within the group (1 = its canary).
    pub index_in_group: usize,
    pub kind: BatchKind,
    pub hosts: Vec<String>,
    pub window: String,
    pub slot_start: Timestamp,
    pub slot_end: Timestamp,
    pub start: Timestamp,
    /// End of the batch's verification period.
    pub end: Timestamp,
    pub apply_seconds: u64,
    pub rollback_seconds: u64,
    pub rollback_buffer_seconds: u64,
    pub usable_seconds: u64,
    /// Failures tolerated in this batch alone (canaries), `None` for waves (rollout budget).
    pub max_failures: Option<usize>,
    /// Why the batch was split or moved.
    pub notes: Vec<String>,
}

impl Batch {
    /// The latest instant a host of this batch may start changing so that its apply,
    /// verification and a rollback still end within the window slot (never before `start`).
    pub fn last_claim(&self) -> Timestamp {
        let change = self.end.duration_since(self.start);
        let rollback = jiff::SignedDuration::from_secs(self.rollback_seconds as i64);
        let latest = self
            .slot_end
            .checked_sub(change)
            .and_then(|t| t.checked_sub(rollback))
            .unwrap_or(self.start);
        latest.max(self.start)
    }
}

/// Hosts the plan could not place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unscheduled {
    pub group: String,
    pub hosts: Vec<String>,
    pub reason: String,
}

/// One host's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostPlan {
    pub id: String,
    pub hostname: String,
    pub group: String,
    /// The batch number, `None` when unscheduled.
    pub batch: Option<usize>,
    pub changes: Vec<PackageChange>,
    pub estimate: HostEstimate,
    /// Versions to return to on rollback (`package=version`), recorded from the inventory.
    pub rollback_to: Vec<String>,
}

/// When owners hear about the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    Before,
    Start,
    Done,
}

/// A notice to a group's owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub at: Timestamp,
    pub kind: NotificationKind,
    pub group: String,
    pub to: Vec<String>,
    pub subject: String,
}

impl Plan {
    /// Hosts placed in a batch.
    pub fn scheduled_hosts(&self) -> usize {
        self.batches.iter().map(|b| b.hosts.len()).sum()
    }

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data into a String cannot fail: every key is a string and no
        // Serialize impl here returns an error.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(slot: (&str, &str), start: &str, end: &str, rollback_seconds: u64) -> Batch {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        Batch {
            number: 1,
            group: "web".into(),
            index_in_group: 1,
            kind: BatchKind::Wave,
            hosts: vec!["a".into()],
            window: "night".into(),
            slot_start: t(slot.0),
            slot_end: t(slot.1),
            start: t(start),
            end: t(end),
            apply_seconds: 600,
            rollback_seconds,
            rollback_buffer_seconds: 1800,
            usable_seconds: 4200,
            max_failures: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_last_claim_leaves_room_for_the_change_and_a_rollback() {
        // 02:00–04:00 slot, a 30 min change (apply + verification), 20 min rollback.
        let b = batch(
            ("2026-11-24T02:00:00Z", "2026-11-24T04:00:00Z"),
            "2026-11-24T02:00:00Z",
            "2026-11-24T02:30:00Z",
            1200,
        );
        assert_eq!(b.last_claim().to_string(), "2026-11-24T03:10:00Z");
        // A batch placed late in its slot can still start at its own start, never earlier.
        let late = batch(
            ("2026-11-24T02:00:00Z", "2026-11-24T04:00:00Z"),
            "2026-11-24T03:20:00Z",
            "2026-11-24T03:50:00Z",
            1200,
        );
        assert_eq!(late.last_claim(), late.start);
    }
}
