//! REST bodies for rollouts: `POST /api/v1/rollouts` and `GET /api/v1/rollouts/{id}`.

use crate::{HealthCheckSpec, PackagePin, ProtectionStep};

/// `POST /api/v1/rollouts`: apply exact versions to hosts, canaries first, then batches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRollout {
    /// Host ids in rollout order: the first `canary_size` are the canaries.
    pub hosts: Vec<String>,
    /// Exact target versions, the same on every host.
    pub targets: Vec<PackagePin>,
    #[serde(default = "one")]
    pub canary_size: usize,
    /// Hosts per wave batch, and the most hosts changed at once.
    #[serde(default = "two")]
    pub batch_size: usize,
    #[serde(default)]
    pub checks: Vec<HealthCheckSpec>,
    #[serde(default = "five_minutes")]
    pub verification_seconds: u64,
    /// Snapshot / backup / pause-writes programs the agent runs after recording the exact
    /// versions and before installing; a failing step installs nothing.
    #[serde(default)]
    pub protection_steps: Vec<ProtectionStep>,
    /// Failures of wave hosts tolerated before the rollout stops (default: 10 % rounded down).
    #[serde(default)]
    pub max_failures: Option<usize>,
}

fn one() -> usize {
    1
}

fn two() -> usize {
    2
}

fn five_minutes() -> u64 {
    300
}

/// A rollout with every host's durable state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutView {
    pub id: String,
    /// `running`, `paused`, `completed` or `stopped`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// The engine's last decision: status with reason, waiting reasons, failures, skipped hosts.
    pub detail: serde_json::Value,
    pub targets: Vec<PackagePin>,
    pub hosts: Vec<RolloutHostView>,
    /// Operators' decisions: `paused_by`, `stopped_by`, `accepted_failed_batches`.
    #[serde(default)]
    pub control: serde_json::Value,
    #[serde(default)]
    pub protection_steps: Vec<ProtectionStep>,
}

/// One host of a rollout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutHostView {
    pub host_id: String,
    pub hostname: String,
    /// `pending`, `claimed`, …, `done`, `rolled_back`, `failed`.
    pub state: String,
    /// The full pw-rollout host state (recorded versions, cause, timestamps).
    pub detail: serde_json::Value,
    /// The agent command the state waits for (or last waited for).
    pub command_id: Option<String>,
    pub updated_at: String,
}

/// `GET /api/v1/rollouts`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutList {
    pub rollouts: Vec<RolloutView>,
    /// Versions blocked fleet-wide by health failures.
    pub blocked: Vec<BlockedVersion>,
}

/// A version no rollout installs until an operator clears it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockedVersion {
    pub package: String,
    pub version: String,
    pub reason: String,
    pub rollout_id: String,
    pub host_id: String,
    pub blocked_at: String,
}

/// `GET /api/v1/rollouts/{id}/log`: what happened to a rollout, oldest first, from the audit chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutLog {
    pub rollout_id: String,
    pub entries: Vec<RolloutLogEntry>,
}

/// One step of a rollout's operation log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutLogEntry {
    /// The audit record's sequence number (`GET /api/v1/audit` has the full record).
    pub seq: i64,
    pub at: String,
    /// `operator` (or the operator's name), `controller`, or `agent:<host id>`.
    pub actor: String,
    /// The host the step concerns; `None` for rollout-wide steps.
    pub host_id: Option<String>,
    /// `created`, `pause`, `resume`, `stop`, `status`, or the host event (`claimed`,
    /// `versions_recorded`, `protection_failed`, `agent_reported_rollback`, `not_started`, …).
    pub step: String,
    /// The outcome: the host's new state, the rollout's new status, …
    pub result: String,
    /// Why, when there is more to say (a failure's detail, a block, a command id).
    pub detail: String,
}
