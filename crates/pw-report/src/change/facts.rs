//! What a change report is built from: a stored plan (when the change had one) and its
//! rollouts, already read by the controller (pw-controller `change_reports.rs`). Plain data:
//! the builder compares them and `now` is its parameter.
//!
//! Sections other helpers add later (protection records, the observation period) are
//! `Option`s on [`RolloutFacts`]: absent facts leave their section out of the report.

use jiff::Timestamp;
use pw_protocol::ChangeReport as AgentReport;

use crate::change::model::ChangeSubject;

/// Everything a change report reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFacts {
    pub subject: ChangeSubject,
    /// The stored change plan (`None`: an ad-hoc rollout).
    pub plan: Option<PlanFacts>,
    /// The rollouts reported on, oldest first (a plan's first rollout and its retries; one
    /// rollout for a rollout's report).
    pub rollouts: Vec<RolloutFacts>,
}

/// A stored change plan: what was planned and approved.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFacts {
    /// The database id ("plan 7").
    pub id: i64,
    /// The plan's own name (`plan-20261123T0000Z`).
    pub name: String,
    pub author: String,
    /// The approval state now (`approved`, `scheduled`, …).
    pub state: String,
    pub version: i64,
    pub created_at: Timestamp,
    /// Every target is older than the installed version (docs/downgrade.md).
    pub downgrade: bool,
    pub batches: Vec<PlannedBatch>,
    pub hosts: Vec<PlannedHost>,
    /// The risk checklist as approved.
    pub risks: Vec<PlannedRisk>,
    /// The plan's history (saved, submitted, approved, rolled out, …), oldest first.
    pub history: Vec<PlanEventFact>,
    /// A downgrade plan's prediction: the advisories matching at the targets but not at the
    /// installed versions, per host (docs/downgrade.md).
    pub reintroduced: Vec<PredictedAdvisory>,
}

/// One advisory a downgrade plan predicted to come back on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictedAdvisory {
    pub host_id: String,
    pub binary: String,
    /// The target version it matches at.
    pub target: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub tier: String,
}

/// A host's vulnerability scan after a downgrade, for the change's packages, as the
/// controller had it when the report was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRescan {
    /// When the host's findings were computed, and when the inventory they scanned was
    /// collected.
    pub scanned_at: Timestamp,
    pub inventory_at: Timestamp,
    /// The change's packages as that inventory has them (`None`: not installed).
    pub installed: Vec<(String, Option<String>)>,
    /// The findings open for those packages.
    pub open: Vec<OpenAdvisory>,
}

/// One finding open on a host after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAdvisory {
    pub binary: String,
    pub installed: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub tier: String,
    /// When its open episode was first seen (`None`: no history recorded).
    pub first_seen: Option<Timestamp>,
}

/// One batch of the plan in its window slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    pub number: usize,
    pub group: String,
    /// `canary` or `wave`.
    pub kind: String,
    /// The plan's host ids.
    pub hosts: Vec<String>,
    pub window: String,
    /// The window slot the batch is placed in.
    pub slot_start: Timestamp,
    pub slot_end: Timestamp,
    /// When the batch starts, and the end of its verification period.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// One host of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedHost {
    /// The plan's host id (the enrolled host id, or a fleet file's id matched by hostname).
    pub host_id: String,
    pub hostname: String,
    pub group: String,
    /// The batch number; `None` when the plan could not place the host.
    pub batch: Option<usize>,
    pub changes: Vec<PlannedChange>,
    /// The checklist's prediction for this host: services restarted and a reboot.
    pub restarts: Vec<String>,
    pub reboot: bool,
}

/// One package change of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub package: String,
    /// The installed version when the plan was built.
    pub from: Option<String>,
    pub to: String,
}

/// One line of the plan's risk checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRisk {
    /// `compatibility`, `service_interruption`, `performance`, `config_overwrite`,
    /// `rollback_failure`.
    pub risk: String,
    /// `ok`, `warn`, `block`.
    pub level: String,
    pub evidence: Vec<String>,
}

/// One entry of the plan's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEventFact {
    pub at: Timestamp,
    pub actor: String,
    /// `saved`, `submitted`, `approved`, `rejected`, `rolled_out`, …
    pub event: String,
    pub to_state: String,
    pub comment: Option<String>,
}

/// One rollout: its batches, each host's end state and the agent's last report, and the
/// operation log from the audit chain.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutFacts {
    pub id: String,
    pub created_at: Timestamp,
    pub created_by: String,
    /// `running`, `paused`, `completed`, `stopped`.
    pub status: String,
    pub updated_at: Timestamp,
    /// The plan version it carried out (`None`: ad hoc).
    pub plan_version: Option<i64>,
    /// In execution order (batch `n` is `batches[n - 1]`).
    pub batches: Vec<RolloutBatch>,
    pub hosts: Vec<HostRun>,
    /// The operation log, oldest first.
    pub log: Vec<LogLine>,
    /// Backups and snapshots recorded for the rollout's hosts (added by the protection
    /// providers; `None`: not recorded by this controller).
    pub protection_records: Option<Vec<ProtectionRecord>>,
    /// The observation period after the last batch (`None`: none recorded).
    pub observation: Option<Observation>,
}

/// One batch of a rollout as the engine ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutBatch {
    pub group: String,
    /// `canary` or `wave`.
    pub kind: String,
    /// Host ids.
    pub hosts: Vec<String>,
    /// The planned slot: no host claimed before `not_before`, carried over past `not_after`.
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
}

/// One host of a rollout: where it ended and what its agent reported.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRun {
    pub host_id: String,
    pub hostname: String,
    pub group: String,
    /// The exact targets, `package=version`.
    pub targets: Vec<(String, String)>,
    /// The engine's state now (`done`, `rolled_back`, `failed`, `pending`, `verifying`, …).
    pub state: String,
    /// When a terminal state was reached.
    pub finished_at: Option<Timestamp>,
    /// Why it rolled back or failed, as the engine recorded it: the cause's kind
    /// (`health_check_failed`, `apply_failed`, `rollback_failed`, `unreachable`, …) and detail.
    pub cause_kind: Option<String>,
    pub cause: Option<String>,
    /// Units restarted after the change (`restart_services`), and whether a reboot was proven.
    pub restarted: Vec<String>,
    pub rebooted: bool,
    /// An operator deferred a restart or reboot: who and why.
    pub deferred: Option<String>,
    /// A rollback drill passed on the host.
    pub drilled: bool,
    /// The agent guard's last report of the change (`None`: it never answered).
    pub report: Option<AgentReport>,
    /// A downgrade's re-scan: the host's findings for the change's packages now (`None`: not
    /// a downgrade, or the host has no scan).
    pub rescan: Option<HostRescan>,
}

/// One step of a rollout's operation log (pw-protocol's `RolloutLogEntry` with its time read).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub host_id: Option<String>,
    pub step: String,
    pub result: String,
    pub detail: String,
}

/// A backup or snapshot taken for a host of the rollout (seed 003: time, size, status,
/// retention).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProtectionRecord {
    pub host_id: String,
    /// `backup`, `snapshot`, `pause_writes`, …
    pub kind: String,
    pub name: String,
    pub at: Timestamp,
    pub size_bytes: Option<u64>,
    /// `verified`, `failed`, `reverted`, …
    pub status: String,
    pub retention: Option<String>,
    pub detail: String,
}

/// The observation period after a rollout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Observation {
    pub from: Timestamp,
    pub until: Timestamp,
    /// `observing`, `passed`, `failed`, `rolled_back`.
    pub state: String,
    /// Checks that failed during observation, and late rollbacks, as lines.
    pub events: Vec<String>,
}
