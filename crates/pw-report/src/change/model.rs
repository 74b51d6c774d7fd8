//! The change report's shape (JSON as serialised here; HTML and PDF render it): plan vs actual
//! per batch and per host, the totals, downgrades' post-verify results, and the postmortem
//! draft. Codes (`result`, `event`, `verdict`) are stable English words; the HTML translates
//! them.

use jiff::Timestamp;
use pw_protocol::{FileState, HooksReport, ProtectionResult};
use serde::Serialize;

use crate::change::facts::{LogLine, Observation, ProtectionRecord};
pub use crate::change::rescan::{AdvisoryLine, VulnerabilityRescan};

/// What the report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ChangeSubject {
    /// A stored change plan and every rollout of it.
    Plan(i64),
    /// One rollout (with its plan, when it carried one out).
    Rollout(String),
}

/// A change report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeReport {
    pub generated_at: Timestamp,
    pub subject: ChangeSubject,
    pub plan: Option<PlanSummary>,
    pub rollouts: Vec<RolloutSummary>,
    pub summary: Totals,
    /// Per rollout batch, in execution order.
    pub batches: Vec<BatchRow>,
    /// Per rollout host, then the planned hosts no rollout reached.
    pub hosts: Vec<HostRow>,
    pub postmortem: Postmortem,
    /// Every rollout's operation log from the audit chain, oldest first.
    pub log: Vec<LogRow>,
}

/// The plan as approved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSummary {
    pub id: i64,
    pub name: String,
    pub author: String,
    pub state: String,
    pub version: i64,
    pub created_at: Timestamp,
    pub downgrade: bool,
    /// Who approved it and when (the last approval in its history).
    pub approved_by: Option<String>,
    pub approved_at: Option<Timestamp>,
    /// The first batch's start and the last batch's end of verification.
    pub planned_start: Option<Timestamp>,
    pub planned_end: Option<Timestamp>,
    pub hosts: usize,
    pub batches: usize,
}

/// One rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutSummary {
    pub id: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub status: String,
    pub plan_version: Option<i64>,
    /// The first host claimed and the last host finished (`None` while one is not finished).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection_records: Option<Vec<ProtectionRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Hosts of the plan (0 without a plan).
    pub hosts_planned: usize,
    /// Host changes in the rollouts (a host retried counts once per rollout).
    pub host_changes: usize,
    pub done: usize,
    pub rolled_back: usize,
    pub failed: usize,
    /// Claimed and not finished.
    pub in_progress: usize,
    /// Planned hosts no rollout changed (never in a rollout, or still pending).
    pub not_reached: usize,
    /// Host changes that ended on exactly the planned versions.
    pub as_planned: usize,
    /// Checks that passed and that failed, over all host changes.
    pub checks_passed: usize,
    pub checks_failed: usize,
    pub planned_start: Option<Timestamp>,
    pub planned_end: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// One rollout batch: planned vs actual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRow {
    pub rollout_id: String,
    /// 1-based, in the rollout's order.
    pub number: usize,
    /// The plan's batch these hosts were planned in.
    pub planned_number: Option<usize>,
    pub group: String,
    pub kind: String,
    pub hosts: usize,
    pub window: Option<String>,
    /// Planned: start of the batch and end of its window slot.
    pub planned_start: Option<Timestamp>,
    pub planned_end: Option<Timestamp>,
    /// Actual: first claim and last finish (`None` while a host is not finished).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub done: usize,
    pub rolled_back: usize,
    pub failed: usize,
    /// Not started, or started past the slot, or finished past it.
    pub on_schedule: Option<bool>,
}

/// One host change (or a planned host no rollout reached): plan vs actual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRow {
    pub rollout_id: Option<String>,
    pub host_id: String,
    pub hostname: String,
    pub group: String,
    pub planned_batch: Option<usize>,
    pub batch: Option<usize>,
    pub planned_start: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// `done`, `rolled_back`, `failed`, `in_progress`, `not_reached`.
    pub result: String,
    /// The engine's state (`done`, `verifying`, …; `none` when not in a rollout).
    pub state: String,
    /// The agent reported the change (its `before` and `after` are known).
    pub reported: bool,
    pub versions: Vec<VersionRow>,
    pub checks_passed: Vec<String>,
    pub check_failed: Option<String>,
    /// The cause's kind (`health_check_failed`, `rollback_failed`, …) and what was said.
    pub cause_kind: Option<String>,
    pub failure: Option<String>,
    /// The agent's protection steps (pause writes, backups, snapshots).
    pub protection: Vec<ProtectionResult>,
    pub restarts: Prediction<Vec<String>>,
    pub reboot: Prediction<bool>,
    pub drilled: bool,
    pub deferred: Option<String>,
    /// A downgrade's post-verify results (seed 003).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_verify: Option<PostVerify>,
    /// What the change's hooks did (units stopped and started, migrations forward and back,
    /// the before/after benchmark), as the agent reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<HooksReport>,
}

/// What the plan predicted and what the host showed (`predicted: None`: no plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Prediction<T> {
    pub predicted: Option<T>,
    /// `None`: not observed (the agent did not report it).
    pub observed: Option<T>,
}

/// One package of a host change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    pub package: String,
    /// Planned: the installed version when the plan was built, and the target.
    pub planned_from: Option<String>,
    pub planned_to: Option<String>,
    /// The rollout's exact target.
    pub target: Option<String>,
    /// Reported by the agent before and after (`None`: not installed, or not reported).
    pub before: Option<String>,
    pub after: Option<String>,
    /// The host ended on the planned (or, without a plan, the targeted) version.
    pub as_planned: Option<bool>,
}

/// A downgrade's post-verify: checks, the simulation, and permissions before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostVerify {
    pub checks_passed: Vec<String>,
    pub check_failed: Option<String>,
    /// `apt-get -s` lines and the targets found available.
    pub simulation: Vec<String>,
    pub available: Vec<String>,
    pub files: Vec<FileRow>,
    /// What differs after the change, as the agent said it.
    pub files_changed: Vec<String>,
    /// The plan's local archive and the targets it offered (docs/downgrade.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_archive: Vec<String>,
    /// The vulnerability re-scan after the change against the plan's `reintroduced`
    /// (`None`: the host has not been scanned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<VulnerabilityRescan>,
}

/// One conffile's permissions before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRow {
    pub path: String,
    pub before: Option<FileState>,
    pub after: Option<FileState>,
    pub changed: bool,
}

/// The postmortem draft (seed 000: deviation from the plan, problems met, whether the risk
/// assessment was accurate; what to improve is for people to write).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Postmortem {
    pub timeline: Vec<TimelineEntry>,
    pub deviations: Vec<Deviation>,
    pub failures: Vec<Failure>,
    /// Predicted vs observed: service restarts, reboots, conffiles.
    pub accuracy: Vec<Accuracy>,
    /// The plan's checklist, each risk with what happened.
    pub checklist: Vec<ChecklistReview>,
}

/// One moment of the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub actor: String,
    /// `plan.approved`, `rollout.created`, `rollout.paused`, `host.claimed`, `host.done`,
    /// `host.rolled_back`, `host.failed`, `rollout.completed`, …
    pub event: String,
    pub rollout_id: Option<String>,
    pub hostname: Option<String>,
    pub detail: String,
}

/// A way the change departed from the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deviation {
    /// `not_reached`, `other_version`, `late_batch`, `unplanned_host`.
    pub kind: String,
    pub subject: String,
    pub detail: String,
}

/// A host change that rolled back or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub rollout_id: String,
    pub hostname: String,
    pub result: String,
    pub at: Option<Timestamp>,
    pub cause_kind: Option<String>,
    pub failed_check: Option<String>,
    pub detail: String,
    /// The host ended on its recorded versions (a rollback that worked).
    pub back_on_recorded: Option<bool>,
}

/// One predicted quantity against what was observed, over the hosts that installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accuracy {
    /// `service_restarts`, `reboots`, `conffiles`.
    pub item: String,
    /// Hosts predicted to need it, hosts that did, both, and hosts compared.
    pub predicted: usize,
    pub observed: usize,
    pub both: usize,
    pub compared: usize,
    /// `accurate`, `over` (predicted, not seen), `under` (seen, not predicted), `mixed`,
    /// `not_observed`, `no_plan`.
    pub verdict: String,
    /// Per host, the differences (`web-1: predicted ssh, observed none`).
    pub notes: Vec<String>,
}

/// One line of the plan's checklist, reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistReview {
    pub risk: String,
    pub level: String,
    pub evidence: Vec<String>,
    /// `Some(true)`: it happened (hosts named in `observed`); `None`: not measured.
    pub materialised: Option<bool>,
    pub observed: Vec<String>,
}

/// One operation log line with its rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRow {
    pub rollout_id: String,
    #[serde(flatten)]
    pub line: LogLine,
}
