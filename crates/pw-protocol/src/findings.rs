//! REST bodies of the compliance history (`/api/v1/findings`, `/api/v1/hosts/{id}/findings`,
//! `/api/v1/findings/accept`, `/api/v1/accepted-risks`): a finding's lifecycle, accepted risks,
//! counts per tier.

use jiff::Timestamp;
use pw_model::{Finding, FindingStatus, TierTally};

/// Where one finding stands on its host, listed beside the finding's own fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FindingState {
    /// `open`, `overdue`, `accepted` or `fixed`, at the time of the answer.
    pub status: FindingStatus,
    /// When the controller first saw the finding on the host (this episode); `None` for findings
    /// computed before the history existed.
    #[serde(default)]
    pub first_seen: Option<Timestamp>,
    /// The first computation that no longer showed it; only on fixed findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_at: Option<Timestamp>,
    /// Why a fixed finding is fixed when it was not by an upgrade: `fixed by a backport: the
    /// changelog of less 590-2.1~deb12u2 names CVE-2024-32487`. Only on such findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_by: Option<String>,
    /// 1 the first time the finding was seen on the host, 2 after it came back once, …
    #[serde(default)]
    pub episode: Option<u32>,
    /// The accepted risk hiding the finding; only on accepted findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// The accepted risk that covers a finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Acceptance {
    /// The accepted risk's id (`DELETE /api/v1/accepted-risks/{id}` revokes it).
    pub id: String,
    pub by: String,
    pub reason: String,
    pub expires: Timestamp,
}

/// One finding of one host with its state (`GET /api/v1/hosts/{id}/findings`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostFinding {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(flatten)]
    pub state: FindingState,
}

/// One host's counts per tier (`GET /api/v1/findings`, `hosts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostTally {
    pub host_id: String,
    pub hostname: String,
    #[serde(flatten)]
    pub counts: TierTally,
}

/// `POST /api/v1/findings/accept`: accept the risk of an advisory on one host, the hosts of a
/// group, or every host (exactly one of `host`, `group`, `all_hosts`). The answer (201) is an
/// [`AcceptedRiskList`] of what was stored: one acceptance, or one per member of the group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRisk {
    /// A host id or hostname.
    #[serde(default)]
    pub host: Option<String>,
    /// A group of the fleet document: its members now (hosts joining later are not covered).
    #[serde(default)]
    pub group: Option<String>,
    /// Accept on every host, present and future.
    #[serde(default)]
    pub all_hosts: bool,
    /// An advisory id or any of its aliases (a CVE id).
    pub advisory: String,
    /// Only this binary or source package; absent: every package the advisory names.
    #[serde(default)]
    pub package: Option<String>,
    /// Why the risk is accepted (required, at most 1000 characters).
    pub reason: String,
    /// When the acceptance ends (RFC 3339, in the future, at most 365 days away).
    pub expires: Timestamp,
}

/// An accepted risk as stored (`GET /api/v1/accepted-risks`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcceptedRiskView {
    pub id: String,
    /// `None`: every host.
    pub host_id: Option<String>,
    pub hostname: Option<String>,
    pub advisory: String,
    pub package: Option<String>,
    pub reason: String,
    pub accepted_by: String,
    pub accepted_at: Timestamp,
    pub expires: Timestamp,
    /// `in_force`, `expired` or `revoked`, at the time of the answer.
    pub state: AcceptanceState,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    #[serde(default)]
    pub revoked_by: Option<String>,
    /// Findings it hides now.
    pub findings_covered: usize,
}

/// Whether an accepted risk still hides findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptanceState {
    InForce,
    Expired,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcceptedRiskList {
    pub accepted_risks: Vec<AcceptedRiskView>,
}
