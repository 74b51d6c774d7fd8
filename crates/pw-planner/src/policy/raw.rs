//! Stage 1 of the policy: the TOML file as written, every field optional, unknown keys refused.
//!
//! Durations, counts and percents stay text or loose values here; `validate.rs` turns them into
//! precise types and reports every problem with its key path.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A number of hosts or a percent of them: `3`, `"3"` or `"10%"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RawAmount {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for RawAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawAmount::Integer(n) => write!(f, "{n}"),
            RawAmount::Float(n) => write!(f, "{n}"),
            RawAmount::Text(text) => write!(f, "{text:?}"),
        }
    }
}

/// A percent given as a number (`30`, `30.5`) or text (`"30%"`).
pub type RawPercent = RawAmount;

/// The `[rollout]` table (top level: defaults for every group) and `[groups.<name>.rollout]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    pub canary_percent: Option<RawPercent>,
    pub max_in_flight: Option<RawAmount>,
    pub anti_affinity: Option<Vec<String>>,
    pub batch_by: Option<String>,
    pub canary_max_failures: Option<RawAmount>,
    pub max_failures: Option<RawAmount>,
    pub continue_after_failed_batch: Option<bool>,
    pub verification: Option<String>,
    pub rollback_buffer_percent: Option<RawPercent>,
}

/// One `[groups.<name>]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub environment: Option<String>,
    pub staging_counterpart: Option<String>,
    pub owners: Option<Vec<String>>,
    pub rto: Option<String>,
    pub rpo: Option<String>,
    /// pw-calendar `WindowSpec` tables, passed through untouched (the CLI expands them).
    pub windows: Option<Vec<toml::Value>>,
    /// pw-calendar `BlackoutSpec` tables, passed through untouched.
    pub blackouts: Option<Vec<toml::Value>>,
    pub protection: Option<Vec<String>>,
    /// `[[groups.<name>.providers.<protection>]]` tables (`providers.rs`).
    pub providers: Option<BTreeMap<String, Vec<super::providers::RawProvider>>>,
    pub health_checks: Option<Vec<String>>,
    pub benchmark_hook: Option<String>,
    pub rollout: Option<RawRollout>,
    pub core_services: Option<Vec<String>>,
    pub core_up_within: Option<String>,
    pub observation: Option<String>,
    pub observation_interval: Option<String>,
    pub late_rollback: Option<String>,
    /// `[groups.<name>.members]`: the controller's membership rules, validated by pw-fleet and
    /// ignored by the planner (whose hosts name their group).
    #[allow(dead_code)]
    pub members: Option<toml::Value>,
}

/// `[estimates.packages.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackageEstimate {
    pub apply: Option<String>,
    pub rollback: Option<String>,
    pub reboot: Option<bool>,
    pub restarts: Option<Vec<String>>,
}

/// `[estimates]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEstimates {
    pub apply: Option<String>,
    pub rollback: Option<String>,
    pub reboot: Option<String>,
    pub host_overhead: Option<String>,
    pub packages: Option<BTreeMap<String, RawPackageEstimate>>,
}

/// `[health_checks.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub kind: Option<String>,
    pub target: Option<String>,
    pub timeout: Option<String>,
    pub expect_status: Option<i64>,
    pub ca_file: Option<String>,
    pub connect_to: Option<String>,
    pub condition: Option<String>,
    pub prometheus: Option<String>,
    pub interval: Option<String>,
}

/// `[protection]`: when protection is mandatory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProtection {
    pub required_below_rpo: Option<String>,
}

/// `[notifications]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    pub before: Option<String>,
    pub deadline_near: Option<String>,
    pub agent_silent: Option<String>,
}
