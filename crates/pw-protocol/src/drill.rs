//! The rollback drill of an `apply_change` (`drill: true`): after a verified install the agent's
//! guard rolls back to the exact recorded versions on purpose (its one rollback path), verifies
//! them, installs the targets again and verifies again. The evidence a staging-gated approval
//! needs (DESIGN.md §4 "including one rollback drill").

use crate::VersionSeen;

/// What the drill did, in the change report (`drill`; absent when no drill was asked or the
/// change failed before it could run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DrillReport {
    /// Versions found on the host after the drill's rollback: the recorded ones when it worked.
    pub rolled_back_to: Vec<VersionSeen>,
    /// Checks that passed on the old versions.
    pub rollback_checks: Vec<String>,
    /// Checks that passed after the targets were installed again.
    pub reapply_checks: Vec<String>,
    #[serde(flatten)]
    pub result: DrillResult,
}

/// How the drill ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DrillResult {
    /// Rolled back to the exact recorded versions, healthy there, re-applied, healthy again.
    Passed,
    /// The first stage that failed and why (later stages still ran where it was safe: a host
    /// unhealthy on its old versions gets the verified targets back).
    Failed { stage: DrillStage, detail: String },
}

/// A stage of the drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStage {
    /// Returning to the recorded versions (apt failed or left other versions).
    Rollback,
    /// The checks on the old versions.
    RollbackChecks,
    /// Installing the targets again (including an agent restart during it).
    Reapply,
    /// The checks after the re-apply.
    ReapplyChecks,
}

impl DrillReport {
    /// A drill that has not failed yet and has no evidence yet.
    pub fn started() -> DrillReport {
        DrillReport {
            rolled_back_to: Vec::new(),
            rollback_checks: Vec::new(),
            reapply_checks: Vec::new(),
            result: DrillResult::Passed,
        }
    }

    /// Records the first failure; a later one does not replace it.
    pub fn fail(&mut self, stage: DrillStage, detail: String) {
        if self.result == DrillResult::Passed {
            self.result = DrillResult::Failed { stage, detail };
        }
    }

    pub fn passed(&self) -> bool {
        self.result == DrillResult::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_report_round_trips_and_keeps_its_first_failure() {
        let mut drill = DrillReport::started();
        assert!(drill.passed());
        drill.fail(DrillStage::RollbackChecks, "http: 500".into());
        drill.fail(DrillStage::Reapply, "later".into());
        let json = serde_json::to_value(&drill).unwrap();
        assert_eq!(json["result"], "failed");
        assert_eq!(json["stage"], "rollback_checks");
        assert_eq!(json["detail"], "http: 500");
        assert_eq!(serde_json::from_value::<DrillReport>(json).unwrap(), drill);
        let passed = serde_json::to_value(DrillReport::started()).unwrap();
        assert_eq!(passed["result"], "passed");
    }
}
