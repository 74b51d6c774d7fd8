//! The change command (`apply_change`) and its report: the agent-side guard that records exact
//! versions, installs, verifies health and rolls back on its own (docs/design/agent-protocol.md).

use jiff::Timestamp;

use crate::PackagePin;

/// One health check the agent's guard runs on its own host after a change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthCheckSpec {
    /// `GET path` on `addr` (e.g. `127.0.0.1:18080`) answers `expect_status`.
    Http {
        name: String,
        addr: String,
        path: String,
        #[serde(default = "default_status")]
        expect_status: u16,
    },
    /// A TCP connection to `addr` is accepted.
    Tcp { name: String, addr: String },
    /// The program (argv, never a shell) exits 0.
    Command { name: String, argv: Vec<String> },
    /// `systemctl is-active UNIT` (not applicable without systemd: counts as a pass).
    SystemdUnit { name: String, unit: String },
}

fn default_status() -> u16 {
    200
}

impl HealthCheckSpec {
    /// The check's name, as the rollout engine and reports call it.
    pub fn name(&self) -> &str {
        match self {
            HealthCheckSpec::Http { name, .. }
            | HealthCheckSpec::Tcp { name, .. }
            | HealthCheckSpec::Command { name, .. }
            | HealthCheckSpec::SystemdUnit { name, .. } => name,
        }
    }
}

/// A package's exact version as found on the host; `None` when it is not installed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionSeen {
    pub name: String,
    pub version: Option<String>,
}

/// How a change ended on the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// On the exact targets and every check passed within the verification period.
    Done,
    /// Back on the recorded versions (and healthy again, when `verified` is true).
    RolledBack {
        reason: RollbackReason,
        detail: String,
    },
    /// Could not record, install or roll back: the host needs a human.
    Failed { detail: String },
}

/// Why the guard rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackReason {
    /// The install failed or left other versions than the targets.
    ApplyFailed,
    /// A check still failed when the verification period ended (a health failure).
    HealthCheckFailed,
    /// The agent restarted before verification passed.
    Interrupted,
}

/// What the guard did, sent with the command result of an `apply_change`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeReport {
    #[serde(flatten)]
    pub outcome: ChangeOutcome,
    /// Exact versions found before the change (journaled before installing).
    pub recorded: Vec<VersionSeen>,
    /// Versions found at the end.
    pub final_versions: Vec<VersionSeen>,
    /// When the install finished (verification counts from here).
    pub installed_at: Option<Timestamp>,
    /// Checks that passed, by name (after the install; after the rollback when rolled back).
    pub passed_checks: Vec<String>,
    /// The failing check, when a check failed.
    pub failed_check: Option<String>,
}

/// Helper for tests and callers: exact targets as pins.
pub fn pins(targets: &[(&str, &str)]) -> Vec<PackagePin> {
    targets
        .iter()
        .map(|(name, version)| PackagePin {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    #[test]
    fn apply_change_round_trips_and_changes_the_host() {
        let command = Command::ApplyChange {
            rollout: "r1".into(),
            targets: pins(&[("pw-demo", "1.0-2")]),
            checks: vec![HealthCheckSpec::Http {
                name: "http".into(),
                addr: "127.0.0.1:18080".into(),
                path: "/cgi-bin/health".into(),
                expect_status: 200,
            }],
            verification_seconds: 30,
        };
        let json = serde_json::to_value(&command).unwrap();
        assert_eq!(json["kind"], "apply_change");
        assert_eq!(json["checks"][0]["kind"], "http");
        assert_eq!(serde_json::from_value::<Command>(json).unwrap(), command);
        assert!(command.changes_host());
        let report = ChangeReport {
            outcome: ChangeOutcome::RolledBack {
                reason: RollbackReason::HealthCheckFailed,
                detail: "500".into(),
            },
            recorded: vec![],
            final_versions: vec![],
            installed_at: None,
            passed_checks: vec![],
            failed_check: Some("http".into()),
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outcome"], "rolled_back");
        assert_eq!(json["reason"], "health_check_failed");
        assert_eq!(
            serde_json::from_value::<ChangeReport>(json).unwrap(),
            report
        );
    }
}
