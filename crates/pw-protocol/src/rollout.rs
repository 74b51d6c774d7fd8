//! REST bodies for rollouts: `POST /api/v1/rollouts` and `GET /api/v1/rollouts/{id}`.

use crate::{HealthCheckSpec, PackagePin};

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
