//! The plans API (`/api/v1/plans…`, docs/planning.md *Plans in the controller*): a plan built
//! by the controller from live agent data, reviewed and approved by authenticated operators.
//!
//! The planner's own structures (risk checklist, batches, groups, summary) travel as JSON
//! values here: pw-protocol is below pw-planner and does not know its types; their shape is
//! pw-planner's `Plan` and is described in openapi.json.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// `POST /api/v1/plans`: which hosts and which updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    /// A name for people (`2026-12 security`), 1 to 200 characters.
    pub name: String,
    /// Host names (as their agents report them); give these or `group`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// A group of the fleet document: its current members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub updates: UpdateSelector,
    /// How far ahead window slots are searched, in days (1 to 90; default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_days: Option<u32>,
    /// The change's own hooks (docs/downgrade.md "Hooks"): conffile policy, units stopped
    /// around the install, migrations forward and reverse, a before/after benchmark. Approved
    /// with the plan and run by every host's agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<crate::ChangeHooks>,
}

/// Which pending upgrades a plan installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UpdateSelector {
    /// `"security"`: every upgrade offered from a security suite; `"all"`: every upgrade.
    Kind(UpdateKind),
    /// `{"packages": [NAME, …]}`: these packages' offered upgrades.
    Packages { packages: Vec<String> },
    /// `{"downgrade": {NAME: VERSION, …}, "archive": DIR}`: a downgrade plan
    /// (docs/downgrade.md): each named installed package goes to this exact lower version.
    /// `archive` names a directory of `.deb` files on the hosts that apt is offered for this
    /// change only, beside the host's sources (a target no configured suite ships any more).
    Downgrade {
        downgrade: std::collections::BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        archive: Option<String>,
    },
}

impl UpdateSelector {
    /// Whether this is a downgrade plan.
    pub fn is_downgrade(&self) -> bool {
        matches!(self, UpdateSelector::Downgrade { .. })
    }

    /// A downgrade plan's named local archive (`None`: the host's sources only).
    pub fn archive(&self) -> Option<&str> {
        match self {
            UpdateSelector::Downgrade { archive, .. } => archive.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateKind {
    Security,
    All,
}

/// `GET /api/v1/plans`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanList {
    pub plans: Vec<PlanSummary>,
}

/// One line of the plan list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub id: i64,
    pub name: String,
    pub author: String,
    pub state: String,
    pub version: i64,
    pub environments: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A plan as the API shows it (`POST /api/v1/plans`, `GET /api/v1/plans/{id}` and the answers
/// of submit, approve, reject and refresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    /// The plan's number: `/api/v1/plans/{id}`, `{"plan": id}` for a rollout.
    pub id: i64,
    pub name: String,
    /// `update` or `downgrade` (docs/downgrade.md).
    pub kind: String,
    /// `draft`, `in_review`, `approved`, `scheduled`, `rejected`, `expired`.
    pub state: String,
    /// Pass it back as `expected_version` to act on what you reviewed.
    pub version: i64,
    pub author: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The approval state with its data (approver, deadlines, reason).
    pub approval: serde_json::Value,
    /// Built by the controller from live data (`false`: saved from files before).
    pub live: bool,
    /// Why the live versions no longer match the plan (empty: they do). A stale plan cannot be
    /// approved or rolled out; `POST …/refresh` rebuilds it.
    pub stale: Vec<String>,
    pub production: bool,
    pub environments: Vec<String>,
    /// Approval requirements: `production` (four eyes) and the staging gate's problems.
    pub gates: serde_json::Value,
    pub hosts: Vec<PlanHost>,
    /// Window slots per group in the horizon with their capacity.
    pub slots: Vec<PlanSlot>,
    /// pw-planner's batches, in time order.
    pub batches: serde_json::Value,
    pub groups: serde_json::Value,
    pub unscheduled: serde_json::Value,
    /// The risk checklist.
    pub risks: serde_json::Value,
    pub summary: serde_json::Value,
    pub failure_policy: serde_json::Value,
    /// Exact versions to return to, per host.
    pub rollback: Vec<PlanRollback>,
    /// Input that could not be used.
    pub problems: Vec<String>,
    /// A downgrade plan's advisories that match at the targets but not at the installed
    /// versions, most urgent first (empty for other plans).
    #[serde(default)]
    pub reintroduced: Vec<PlanReintroduced>,
    /// A downgrade plan's named local archive on the hosts (`updates.archive`): a directory
    /// of `.deb` files offered to apt for this change only, beside the host's sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// Evidence requests the controller sent to agents for this plan's targets.
    pub evidence_requested: Vec<String>,
    /// The hooks every host's agent runs with the change, as requested and approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<crate::ChangeHooks>,
    /// The rollout that carries the plan out, once scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    pub history: Vec<PlanHistoryEntry>,
}

/// One host's part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHost {
    pub id: String,
    pub hostname: String,
    pub group: String,
    pub environment: String,
    /// The batch it is placed in; `None`: not placed (see `unscheduled`).
    pub batch: Option<usize>,
    pub changes: Vec<PlanChange>,
    /// The per-host package diff for review: `- pkg from` / `+ pkg to` lines.
    pub diff: Vec<String>,
    /// When the risk evidence for exactly these targets was collected; `None`: not yet.
    pub evidence_collected_at: Option<Timestamp>,
}

/// One package change on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChange {
    pub package: String,
    /// The installed version (`None`: newly installed).
    pub from: Option<String>,
    /// The exact version the package manager offers.
    pub to: String,
    /// Why it is in the plan: `security`, `update`, `requested` or `pulled_in`.
    pub reason: String,
    /// The suite the version comes from (`bookworm-security`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// The most urgent tier of the findings it fixes.
    pub tier: Option<String>,
    /// The earliest deadline among them.
    pub deadline: Option<Timestamp>,
    pub advisories: Vec<String>,
    pub reboot: bool,
    pub restarts: Vec<String>,
}

/// One maintenance-window slot of a group in the plan's horizon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSlot {
    pub group: String,
    pub window: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Seconds usable for changes: the slot minus the rollback buffer and verification.
    pub usable_seconds: u64,
    /// Seconds kept free for rolling back (at least the policy's percent, ≥ 30).
    pub rollback_buffer_seconds: u64,
    /// Batches of this plan placed in the slot.
    pub batches: Vec<usize>,
}

/// A host's rollback target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRollback {
    pub host: String,
    pub hostname: String,
    /// `package=version`, the exact versions recorded before the change.
    pub versions: Vec<String>,
}

/// One event of a plan's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHistoryEntry {
    pub at: String,
    pub actor: String,
    pub event: String,
    pub to_state: String,
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `POST /api/v1/plans/{id}/submit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitPlan {
    /// Act only on this version (the one reviewed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
    /// The review must be decided within this many hours (1 to 720; default 168).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_hours: Option<u32>,
}

/// `POST /api/v1/plans/{id}/approve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovePlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Required to approve a downgrade that brings back T0/T1 advisories (`gates.reintroduced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_acceptance: Option<RiskAcceptanceRequest>,
}

/// An approver's explicit acceptance of the risk a downgrade brings back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskAcceptanceRequest {
    /// Why (1 to 1,000 characters).
    pub reason: String,
    /// Until when (RFC 3339, in the future, at most 365 days ahead).
    pub expires_at: Timestamp,
}

/// An advisory a downgrade plan brings back on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReintroduced {
    pub host: String,
    pub hostname: String,
    pub binary: String,
    /// Installed now (the advisory does not match there).
    pub installed: String,
    pub target: String,
    /// The package matched (the source package on Debian/Ubuntu) and its version at the target.
    pub package: String,
    pub package_version: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    /// `T0` … `T4`.
    pub tier: String,
    pub fixed: Option<String>,
}

/// `POST /api/v1/plans/{id}/reject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
    /// Why (required, 1 to 2,000 characters).
    pub reason: String,
}

/// `POST /api/v1/plans/{id}/refresh`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
}
