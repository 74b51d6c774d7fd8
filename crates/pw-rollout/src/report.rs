//! The agent's report of one guarded change (`apply_change`), as the engine understands it: the
//! one event the host machine takes from the agent (DESIGN.md §10 "the engine's events are the
//! agent's reports"). Built from the wire type by `TryFrom<pw_protocol::ChangeReport>`
//! (`crate::wire`), which validates every package name and version first.
//!
//! The guard records the exact versions, runs the protection steps, installs, verifies and rolls
//! back on its own, then reports once; `crate::step` judges the report on its evidence (the
//! recorded and final versions, the checks that passed) and moves the host to its outcome.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::Recorded;

/// What the agent's guard did with one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardReport {
    #[serde(flatten)]
    pub outcome: GuardOutcome,
    /// Exact versions found before the change (journaled before anything was touched).
    pub recorded: Vec<Recorded>,
    /// Versions found at the end.
    pub final_versions: Vec<Recorded>,
    /// When the install finished (verification counts from here); `None` when nothing was
    /// installed.
    pub installed_at: Option<Timestamp>,
    /// Checks that passed: after the install, or after the rollback when rolled back.
    pub passed_checks: Vec<String>,
    /// The check that failed, when one did.
    pub failed_check: Option<String>,
    /// The protection steps run (or found finished in the agent's journal), in order.
    pub protection: Vec<ProtectionRun>,
    /// The rollback drill, when one ran (asked for, and the install was verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Box<DrillRun>>,
    /// What the host still needs after the verified change (restarts, a reboot); `None` when
    /// the agent did not say (older agents): nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aftercare: Option<crate::aftercare::Aftercare>,
}

impl GuardReport {
    /// A report of a change that never touched the host (refused, not started, or a result
    /// that came without any report).
    pub fn untouched(outcome: GuardOutcome) -> GuardReport {
        GuardReport {
            outcome,
            recorded: Vec::new(),
            final_versions: Vec::new(),
            installed_at: None,
            passed_checks: Vec::new(),
            failed_check: None,
            protection: Vec::new(),
            drill: None,
            aftercare: None,
        }
    }
}

/// How the change ended on the host, as the agent says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum GuardOutcome {
    /// On the exact targets and every check passed within the verification period.
    Done,
    /// Back on the recorded versions.
    RolledBack { reason: GuardReason, detail: String },
    /// Could not install and then could not roll back.
    Failed { detail: String },
    /// A protection step failed or timed out: nothing was installed.
    ProtectionFailed { step: String, detail: String },
    /// Failed before the versions were recorded: nothing was touched.
    NotStarted { detail: String },
    /// Not run at all (a read-only agent): nothing was touched.
    Refused { detail: String },
}

/// Why the guard rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardReason {
    /// The install failed or left other versions than the targets.
    ApplyFailed,
    /// A check failed during the verification period.
    HealthCheckFailed,
    /// The agent restarted before verification passed.
    Interrupted,
}

/// The rollback drill the guard ran after a verified install: rolled back to the recorded
/// versions through its rollback path, checked, re-applied, checked again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillRun {
    /// Versions found after the drill's rollback.
    pub rolled_back_to: Vec<Recorded>,
    /// Checks that passed on the old versions.
    pub rollback_checks: Vec<String>,
    /// Checks that passed after the re-apply.
    pub reapply_checks: Vec<String>,
    #[serde(flatten)]
    pub result: DrillVerdict,
}

/// How the drill ended, as the agent says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DrillVerdict {
    Passed,
    /// The first stage that failed and why.
    Failed {
        stage: DrillStage,
        detail: String,
    },
}

/// A stage of the drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStage {
    Rollback,
    RollbackChecks,
    Reapply,
    ReapplyChecks,
}

/// How one protection step went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionRun {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// Finished before the agent restarted (from its journal): not run again.
    pub from_journal: bool,
}
