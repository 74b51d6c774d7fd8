//! REST API bodies for operators (`/api/v1/hosts`, `/api/v1/findings`, tokens, commands).

use std::fmt;

use jiff::Timestamp;
use pw_model::{Finding, TierTally};

use crate::{Command, CommandStatus, FindingState, HostFinding, HostTally, PendingUpdate};

/// Every error answer: a stable machine code plus a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorDetail {
    /// Stable, snake_case (`token_already_used`, `host_not_found`, `invalid_body`).
    pub code: String,
    pub message: String,
    /// Every problem of an invalid document, each with its key path (`fleet_invalid`); absent
    /// when the error is one sentence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One problem of a submitted document: where (a dotted key path such as
/// `groups.web.members.labels.role`) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// One host as listed by `GET /api/v1/hosts`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostSummary {
    pub id: String,
    pub hostname: String,
    pub os: Option<String>,
    pub enrolled_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    pub agent_version: Option<String>,
    pub read_only: bool,
    pub reboot_required: bool,
    pub packages: usize,
    /// Findings per tier, `[T0, T1, T2, T3, T4]`.
    pub findings_by_tier: [usize; 5],
    /// Labels its agent reports (`patchwarden agent --label KEY=VALUE`).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Another enrolled host reports the same host name (ids tell them apart).
    #[serde(default)]
    pub duplicate_hostname: bool,
}

/// `GET /api/v1/hosts/{id}`: the host as listed, and what it still needs after its changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostDetail {
    #[serde(flatten)]
    pub host: HostSummary,
    /// Absent when its agent does not report it (older agents, RPM hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<HostRestart>,
}

/// A host's restart and reboot state (`state`) from its agent's last facts (`facts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostRestart {
    pub state: crate::RestartState,
    pub facts: crate::RestartStatus,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostList {
    pub hosts: Vec<HostSummary>,
}

/// `GET /api/v1/hosts/{id}/findings`: the host's findings (ranked) and pending updates.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostFindings {
    pub host: HostSummary,
    /// Where the advisories came from (database or built-in snapshot).
    pub source: Option<String>,
    pub computed_at: Option<Timestamp>,
    /// Open and overdue findings, most urgent first (accepted ones are in `accepted`).
    pub findings: Vec<HostFinding>,
    /// `None` when the agent did not report what its package manager offers.
    pub pending_updates: Option<Vec<PendingUpdate>>,
    /// Findings hidden by an accepted risk, each with its `accepted`.
    #[serde(default)]
    pub accepted: Vec<HostFinding>,
    /// Open, overdue and accepted counts per tier at the time of the answer.
    #[serde(default)]
    pub summary: TierTally,
    /// Fixed findings (every episode, latest fix first); only with `?include=history`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<Vec<HostFinding>>,
}

/// One finding of one host, as listed fleet-wide by `GET /api/v1/findings`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetFinding {
    pub host_id: String,
    pub hostname: String,
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(flatten)]
    pub state: FindingState,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetFindings {
    /// Open and overdue findings of every host, most urgent first.
    pub findings: Vec<FleetFinding>,
    /// Findings hidden by an accepted risk.
    #[serde(default)]
    pub accepted: Vec<FleetFinding>,
    /// Open, overdue and accepted counts per tier, fleet-wide.
    #[serde(default)]
    pub summary: TierTally,
    /// The same counts per host with findings computed, by hostname.
    #[serde(default)]
    pub hosts: Vec<HostTally>,
}

/// `POST /api/v1/enrollment-tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollmentToken {
    /// Lifetime in seconds (default 3600, at most 7 days).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// A note for the audit log (who or what the token is for).
    #[serde(default)]
    pub note: Option<String>,
}

/// A new token: shown once, stored only as its SHA-256.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnrollmentToken {
    pub id: String,
    pub token: String,
    pub expires_at: Timestamp,
    /// The CA certificate agents must trust when enrolling (`patchwarden agent --ca-cert`).
    pub ca_certificate_pem: String,
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `POST /api/v1/hosts/{id}/commands` (operator).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCommand {
    pub command: Command,
}

/// A command as the controller tracks it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandView {
    pub id: String,
    pub host_id: String,
    pub command: Command,
    /// `queued`, `delivered`, `succeeded`, `failed` or `refused`.
    pub state: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub result_message: Option<String>,
}

impl CommandView {
    /// The final status, once the agent reported one.
    pub fn status(&self) -> Option<CommandStatus> {
        match self.state.as_str() {
            "succeeded" => Some(CommandStatus::Succeeded),
            "failed" => Some(CommandStatus::Failed),
            "refused" => Some(CommandStatus::Refused),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_token_debug_redacts_the_secret() {
        let token = EnrollmentToken {
            id: "tok-1".into(),
            token: "pwt_very_secret".into(),
            expires_at: Timestamp::UNIX_EPOCH,
            ca_certificate_pem: String::new(),
        };
        assert!(!format!("{token:?}").contains("very_secret"));
    }

    #[test]
    fn token_requests_reject_unknown_fields() {
        let error = serde_json::from_str::<CreateEnrollmentToken>(r#"{"ttl":5}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }
}
