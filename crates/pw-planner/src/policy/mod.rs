//! The planning policy: groups (environment, owners, RTO/RPO, windows, blackouts, protection,
//! health checks, rollout rules) and duration estimates, read from TOML in three stages (raw →
//! defaults → validated, see STYLE.md). Every problem is reported at once with its key path, the
//! offending value and the reason. The `[priority]` table of the same file belongs to pw-priority
//! and `[[emergency]]` and `[groups.<name>.members]` to pw-fleet (the controller's fleet
//! document is this file); they are skipped here. docs/planning.md documents every option.

mod checks;
mod group;
mod providers;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use checks::{
    CORE_SERVICE_CHECK, CheckOptions, CompareOp, LateRollback, ObservationPolicy,
    PROMQL_INTERVAL_SECONDS, PromqlCondition, Threshold,
};
pub use providers::{DEFAULT_RETENTION_SECS, DEFAULT_TIMEOUT_SECS, ProvidedStep};
pub use validate::parse_policy;

/// Built-in defaults (documented in docs/planning.md).
pub mod defaults {
    /// Canary batch size in percent of a group's hosts (at least one host).
    pub const CANARY_PERCENT: f64 = 5.0;
    /// Disruption budget: at most this percent of a group's hosts change at once.
    pub const MAX_IN_FLIGHT_PERCENT: f64 = 10.0;
    /// Failures tolerated in a canary batch before the rollout stops: none.
    pub const CANARY_MAX_FAILURES: u32 = 0;
    /// Failures tolerated after the canary, in percent of the remaining hosts.
    pub const MAX_FAILURES_PERCENT: f64 = 10.0;
    /// Health-check period after each batch (the seed's "core services up within 5 minutes",
    /// with margin for the tightened checks).
    pub const VERIFICATION_SECONDS: u64 = 15 * 60;
    /// The seed's minimum rollback buffer: 30% of every window.
    pub const ROLLBACK_BUFFER_PERCENT: f64 = 30.0;
    /// Per-package apply estimate.
    pub const APPLY_SECONDS: u64 = 60;
    /// Per-package rollback estimate (downgrades download again and run maintainer scripts).
    pub const ROLLBACK_SECONDS: u64 = 90;
    /// Cost of one reboot including the time for services to come back.
    pub const REBOOT_SECONDS: u64 = 300;
    /// Fixed cost per host change (apt lists, protection bookkeeping).
    pub const HOST_OVERHEAD_SECONDS: u64 = 60;
    /// An RPO below this makes a snapshot or backup step mandatory.
    pub const PROTECTION_REQUIRED_BELOW_RPO_SECONDS: u64 = 24 * 3_600;
    /// Owners are notified this long before a group's first batch.
    pub const NOTIFY_BEFORE_SECONDS: u64 = 24 * 3_600;
    /// A finding's deadline is announced as near this long before it (`finding.deadline_near`).
    pub const DEADLINE_NEAR_SECONDS: u64 = 24 * 3_600;
    /// An agent not heard from for this long is announced as silent (`agent.silent`).
    pub const AGENT_SILENT_SECONDS: u64 = 30 * 60;
    /// Default timeout of one health check.
    pub const HEALTH_CHECK_TIMEOUT_SECONDS: u64 = 60;
    /// A group's core services must be up this soon after the install (`core-service-up`).
    pub const CORE_UP_WITHIN_SECONDS: u64 = 5 * 60;
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub groups: BTreeMap<String, GroupPolicy>,
    pub health_checks: BTreeMap<String, HealthCheck>,
    pub estimates: Estimates,
    /// Groups whose RPO is below this must have a snapshot or backup step.
    pub protection_required_below_rpo_seconds: u64,
    /// Lead time of the "before" notification.
    pub notify_before_seconds: u64,
    /// `[notifications].deadline_near`: how long before a finding's deadline it is announced.
    pub deadline_near_seconds: u64,
    /// `[notifications].agent_silent`: how long an agent may be silent before it is announced.
    pub agent_silent_seconds: u64,
}

/// One group's validated settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupPolicy {
    pub name: String,
    /// `production`, `staging`, or any other word; `production` brings four-eyes approval and
    /// the staging-first gate.
    pub environment: String,
    pub staging_counterpart: Option<String>,
    pub owners: Vec<String>,
    /// Maximum downtime of one host change.
    pub rto_seconds: Option<u64>,
    /// Data-loss tolerance; decides whether protection is mandatory.
    pub rpo_seconds: Option<u64>,
    /// pw-calendar window specs, untouched (expanded by the caller into [`crate::WindowSlot`]s).
    #[serde(skip)]
    pub windows: Vec<toml::Value>,
    /// pw-calendar blackout specs, untouched.
    #[serde(skip)]
    pub blackouts: Vec<toml::Value>,
    pub protection: Vec<Protection>,
    /// `[[groups.<name>.providers.<protection>]]`: the agent steps carrying out `protection`
    /// (pause writes, then snapshots, then backups; docs/protection.md).
    pub providers: Vec<ProvidedStep>,
    pub health_checks: Vec<String>,
    pub benchmark_hook: Option<String>,
    pub rollout: RolloutPolicy,
    /// Units and `IP:PORT`s that must be up within `core_up_within_seconds` of the install:
    /// the named default check [`CORE_SERVICE_CHECK`] (none listed: no such check).
    pub core_services: Vec<String>,
    pub core_up_within_seconds: u64,
    /// Watching after the rollout's last batch (docs/design/rollout-engine.md "Observation").
    pub observation: ObservationPolicy,
}

impl GroupPolicy {
    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }
}

/// How a group's hosts are rolled out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutPolicy {
    pub canary_percent: f64,
    /// The disruption budget.
    pub max_in_flight: Amount,
    /// Labels no two hosts of one batch may share a value of.
    pub anti_affinity: Vec<String>,
    /// A label whose values batches never mix (waves go value by value).
    pub batch_by: Option<String>,
    pub canary_max_failures: Amount,
    pub max_failures: Amount,
    pub continue_after_failed_batch: bool,
    pub verification_seconds: u64,
    pub rollback_buffer_percent: f64,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        RolloutPolicy {
            canary_percent: defaults::CANARY_PERCENT,
            max_in_flight: Amount::Percent(defaults::MAX_IN_FLIGHT_PERCENT),
            anti_affinity: Vec::new(),
            batch_by: None,
            canary_max_failures: Amount::Count(defaults::CANARY_MAX_FAILURES),
            max_failures: Amount::Percent(defaults::MAX_FAILURES_PERCENT),
            continue_after_failed_batch: false,
            verification_seconds: defaults::VERIFICATION_SECONDS,
            rollback_buffer_percent: defaults::ROLLBACK_BUFFER_PERCENT,
        }
    }
}

/// A number of hosts or a percent of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Count(u32),
    Percent(f64),
}

impl Amount {
    /// The amount out of `total` hosts, rounded down (a percent of 0 hosts is 0).
    pub fn of(self, total: usize) -> usize {
        match self {
            Amount::Count(count) => count as usize,
            Amount::Percent(percent) => ((percent * total as f64) / 100.0 + 1e-9).floor() as usize,
        }
    }

    /// Like [`Amount::of`] but never below one: a disruption budget of zero would stall.
    pub fn at_least_one_of(self, total: usize) -> usize {
        self.of(total).max(1)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Count(count) => write!(f, "{count}"),
            Amount::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The first protection step of every group; the agent's guard always does it.
pub const RECORD_VERSIONS_STEP: &str =
    "record installed versions of every package that will change";

/// A protection step run before a host changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    /// VM or volume snapshot (fastest, most reliable rollback).
    Snapshot,
    /// Backup verified by a test restore.
    Backup,
    /// Pause writes (hook) while the snapshot/backup is taken.
    PauseWrites,
}

impl Protection {
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::Snapshot => "snapshot",
            Protection::Backup => "backup",
            Protection::PauseWrites => "pause-writes",
        }
    }

    /// The step as a plan lists it (`GroupPlan::protection_steps`).
    pub fn step_text(self) -> &'static str {
        match self {
            Protection::PauseWrites => "pause writes (hook)",
            Protection::Snapshot => "take a snapshot",
            Protection::Backup => "back up and verify the backup by a test restore",
        }
    }

    /// The step a plan's text stands for; `None` for [`RECORD_VERSIONS_STEP`] and unknown text.
    pub fn from_step_text(text: &str) -> Option<Self> {
        [
            Protection::PauseWrites,
            Protection::Snapshot,
            Protection::Backup,
        ]
        .into_iter()
        .find(|p| p.step_text() == text)
    }

    /// Whether this step can restore data (pausing writes alone cannot).
    pub fn restores_data(self) -> bool {
        matches!(self, Protection::Snapshot | Protection::Backup)
    }
}

/// Duration estimates used for window capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimates {
    pub apply_seconds: u64,
    pub rollback_seconds: u64,
    pub reboot_seconds: u64,
    pub host_overhead_seconds: u64,
    pub packages: BTreeMap<String, PackageEstimate>,
}

impl Default for Estimates {
    fn default() -> Self {
        Estimates {
            apply_seconds: defaults::APPLY_SECONDS,
            rollback_seconds: defaults::ROLLBACK_SECONDS,
            reboot_seconds: defaults::REBOOT_SECONDS,
            host_overhead_seconds: defaults::HOST_OVERHEAD_SECONDS,
            packages: BTreeMap::new(),
        }
    }
}

/// Per-package overrides; `None` falls back to the defaults and the built-in knowledge.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackageEstimate {
    pub apply_seconds: Option<u64>,
    pub rollback_seconds: Option<u64>,
    pub reboot: Option<bool>,
    pub restarts: Option<Vec<String>>,
}

/// A named health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    pub kind: HealthCheckKind,
    pub target: String,
    pub timeout_seconds: u64,
    /// The kind's own settings (`http`: status, CA file; `promql`: condition, server).
    pub options: CheckOptions,
}

/// Kinds of health checks (DESIGN.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckKind {
    Systemd,
    Tcp,
    Http,
    Command,
    Log,
    Promql,
    /// Every unit and `IP:PORT` of the target (separated by spaces) up within the timeout.
    Services,
}

impl HealthCheckKind {
    pub const NAMES: [&'static str; 7] = [
        "systemd", "tcp", "http", "command", "log", "promql", "services",
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "systemd" => HealthCheckKind::Systemd,
            "tcp" => HealthCheckKind::Tcp,
            "http" => HealthCheckKind::Http,
            "command" => HealthCheckKind::Command,
            "log" => HealthCheckKind::Log,
            "promql" => HealthCheckKind::Promql,
            "services" => HealthCheckKind::Services,
            _ => return None,
        })
    }
}

/// One policy problem: where, what was written, and why it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason} (found {value})")]
pub struct PolicyError {
    /// Dotted key path, e.g. `groups.web.rollout.rollback_buffer_percent`.
    pub path: String,
    /// The offending value as written (or `nothing` when a required key is missing).
    pub value: String,
    pub reason: String,
}

/// Every problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the policy has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl Policy {
    /// Reads and validates a policy from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyErrors> {
        parse_policy(text)
    }

    /// The estimate override for a package, if any.
    pub fn package_estimate(&self, package: &str) -> Option<&PackageEstimate> {
        self.estimates.packages.get(package)
    }
}

#[cfg(test)]
mod tests;
