//! REST bodies of the fleet document and its groups (`/api/v1/fleet`, `/api/v1/groups`;
//! docs/fleet.md). The document itself travels as TOML text (`PUT /api/v1/fleet`, content type
//! `application/toml` or `text/plain`).

use jiff::Timestamp;

/// `GET /api/v1/fleet`: the current document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetView {
    pub version: i64,
    /// The TOML text as applied.
    pub document: String,
    pub sha256: String,
    /// The operator who applied it.
    pub operator: String,
    pub applied_at: Timestamp,
    /// What changed against the previous version, one line each.
    pub summary: Vec<String>,
}

/// One change between two documents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetChange {
    /// Dotted key path (`groups.web.rollout.max_in_flight`).
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub kind: String,
    /// The value before, as TOML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after, as TOML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// The change as one readable line (`~ path: old → new`, `+ path = new`, `- path (was old)`).
    pub text: String,
}

/// The answer to `PUT /api/v1/fleet` (also with `?dry_run=true`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetApplied {
    /// True when nothing was stored (`?dry_run=true`).
    pub dry_run: bool,
    /// The version the document was compared with (0: none applied yet).
    pub previous_version: i64,
    /// The stored version; `None` for a dry run.
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// What changes (changed, for a real apply) against `previous_version`.
    pub changes: Vec<FleetChange>,
}

/// One applied version, without its text (`GET /api/v1/fleet/versions`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetVersionView {
    pub version: i64,
    pub sha256: String,
    pub operator: String,
    pub applied_at: Timestamp,
    pub summary: Vec<String>,
}

/// `GET /api/v1/fleet/versions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetVersionList {
    pub versions: Vec<FleetVersionView>,
}

/// A host as a group lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMember {
    pub host_id: String,
    pub hostname: String,
    /// Which rule matched: `hosts`, `hostnames` or `labels`.
    pub matched_by: String,
}

/// A host by id and name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostRef {
    pub host_id: String,
    pub hostname: String,
}

/// A host two or more groups claim at the same level: it is in none of them until the document
/// is fixed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MembershipConflict {
    pub host_id: String,
    pub hostname: String,
    /// The level at which they tie: `hosts`, `hostnames` or `labels`.
    pub level: String,
    pub groups: Vec<String>,
}

/// One group of the current document, its members resolved against the hosts the controller
/// knows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupView {
    pub name: String,
    pub environment: String,
    #[serde(default)]
    pub staging_counterpart: Option<String>,
    pub owners: Vec<String>,
    pub members: Vec<GroupMember>,
    /// Hosts this group claims together with another group (not members).
    pub conflicts: Vec<MembershipConflict>,
}

/// `GET /api/v1/groups`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupList {
    /// The fleet document version the groups come from; `None` before the first apply (then
    /// there are no groups).
    #[serde(default)]
    pub fleet_version: Option<i64>,
    pub groups: Vec<GroupView>,
    /// Every conflict once.
    pub conflicts: Vec<MembershipConflict>,
    /// Hosts in no group (no rule matches, or a conflict).
    pub ungrouped: Vec<HostRef>,
}
