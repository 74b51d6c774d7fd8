//! REST bodies for rollouts: `POST /api/v1/rollouts` and `GET /api/v1/rollouts/{id}`.

use crate::{HealthCheckSpec, PackagePin, ProtectionStep};

/// `POST /api/v1/rollouts`: either an ad-hoc rollout (`hosts` + `targets`, batches of
/// `batch_size` after `canary_size` canaries) or the rollout of a stored, approved change plan
/// (`plan`: everything else comes from the plan, and giving it here is an error).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRollout {
    /// The stored plan to roll out: its number (`7` or `"7"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSelector>,
    /// The plan version the operator reviewed; refused when the plan has moved on since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_version: Option<i64>,
    /// Names of plan health checks to leave out on purpose (e.g. `promql` checks the agent
    /// cannot run); any other check of a kind the agent cannot run refuses the rollout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_checks: Vec<String>,
    /// Ad hoc: host ids in rollout order; the first `canary_size` are the canaries.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Ad hoc: exact target versions, the same on every host.
    #[serde(default)]
    pub targets: Vec<PackagePin>,
    /// Ad hoc (default 1).
    #[serde(default)]
    pub canary_size: Option<usize>,
    /// Ad hoc: hosts per wave batch, and the most hosts changed at once (default 2).
    #[serde(default)]
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub checks: Vec<HealthCheckSpec>,
    /// Ad hoc (default 300).
    #[serde(default)]
    pub verification_seconds: Option<u64>,
    /// Ad hoc: snapshot / backup / pause-writes programs the agent runs after recording the
    /// exact versions and before installing; a failing step installs nothing.
    #[serde(default)]
    pub protection_steps: Vec<ProtectionStep>,
    /// Ad hoc: failures of wave hosts tolerated before the rollout stops (default: 10 % rounded
    /// down).
    #[serde(default)]
    pub max_failures: Option<usize>,
    /// `batches` (default: a batch starts when the one before it is complete) or `rolling`
    /// (after the canaries, the next host starts as soon as one finishes, never more in flight
    /// than the budget). Ad hoc and plan rollouts.
    #[serde(default)]
    pub mode: RolloutMode,
    /// Ad hoc: which hosts run the rollback drill after their verified install (apply → roll
    /// back to the exact recorded versions → re-apply, each verified); none when absent.
    /// Rollouts of a plan drill the canaries of staging groups on their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillScope>,
}

/// `POST /api/v1/rollouts/{id}/emergency`: an admin's T0 emergency start outside windows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    /// Why the change cannot wait for a window (audited, shown on the rollout).
    pub reason: String,
}

/// `POST /api/v1/rollouts/{id}/hosts/{host}/defer`: an operator defers the restart or reboot a
/// host's verified change still needs (docs/restarts.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeferRequest {
    /// Why it waits (audited, kept in the host's `done` state).
    pub reason: String,
}

/// How a rollout's hosts follow each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutMode {
    #[default]
    Batches,
    Rolling,
}

/// The hosts of an ad-hoc rollout that run the rollback drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillScope {
    /// The canary batch's hosts.
    Canaries,
    /// Every host.
    All,
}

/// A stored plan's number, written as a JSON number or a string of digits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum PlanSelector {
    Number(i64),
    Text(String),
}

impl PlanSelector {
    /// The plan number, or the text that is not one.
    pub fn number(&self) -> Result<i64, String> {
        match self {
            PlanSelector::Number(n) => Ok(*n),
            PlanSelector::Text(text) => text
                .trim()
                .strip_prefix("plan ")
                .unwrap_or(text.trim())
                .parse()
                .map_err(|_| text.clone()),
        }
    }
}

/// The approved plan an `apply_change` carries out (what a read-only agent that accepts
/// plan-approved changes requires).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanRef {
    /// The stored plan's number.
    pub id: i64,
    /// The plan version that was approved and rolled out.
    pub version: i64,
    pub author: String,
    pub approver: String,
    /// A downgrade plan (docs/downgrade.md): the agent installs these lower versions
    /// (`--allow-downgrades`) after checking that they are lower, available from the host's
    /// sources and installable; no other change installs a lower version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub downgrade: bool,
    /// A downgrade plan's named local archive: a directory of `.deb` files on the host offered
    /// to apt for this change only (`--with-source`), beside the host's sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
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
    /// The targets of the first host (ad-hoc rollouts: of every host; see `hosts[].targets`).
    pub targets: Vec<PackagePin>,
    /// The plan this rollout carries out, if any.
    #[serde(default)]
    pub plan: Option<PlanRef>,
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
    /// The host's exact targets.
    #[serde(default)]
    pub targets: Vec<PackagePin>,
    /// The plan's group (ad hoc: `default`).
    #[serde(default)]
    pub group: String,
    /// The full pw-rollout host state (recorded versions, cause, timestamps).
    pub detail: serde_json::Value,
    /// The agent command the state waits for (or last waited for).
    pub command_id: Option<String>,
    pub updated_at: String,
    /// A downgrade plan's change: the agent's checks and the permission comparison before and
    /// after (from the report of `command_id`; docs/downgrade.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<Box<crate::DowngradeReport>>,
    /// What the plan's hooks did on this host: stops and starts, migrations forward and
    /// reverse, the benchmark before and after (from the report of `command_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Box<crate::HooksReport>>,
    /// Observation after the rollout's last batch, when the host is (or was) observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<ObservationView>,
    /// Backups and snapshots the change's protection providers took, with their restores
    /// (docs/protection.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protection: Vec<crate::ProtectionRecordView>,
}

/// A host's observation after the last batch (docs/design/rollout-engine.md "Observation").
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObservationView {
    /// `observing`, `checking`, `alerted`, `rolling_back`, `passed`, `rolled_back`,
    /// `rollback_failed`.
    pub phase: String,
    pub since: jiff::Timestamp,
    pub until: jiff::Timestamp,
    /// Rounds of checks that passed.
    pub rounds: u32,
    pub alerts: Vec<ObservationAlertView>,
    /// An operator may ask for the late rollback now
    /// (`POST /api/v1/rollouts/{id}/hosts/{host}/late-rollback`).
    pub rollback_offered: bool,
    /// The engine's whole observation state (recorded versions, phase data).
    pub detail: serde_json::Value,
}

/// A failed round of observation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObservationAlertView {
    pub at: jiff::Timestamp,
    pub check: String,
    pub detail: String,
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
