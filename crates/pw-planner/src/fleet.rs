//! Planner input: hosts with their findings, the fleet description file (TOML or JSON, see
//! docs/planning.md), staging evidence, window slots and the plan scope.
//!
//! The fleet file may name other files (a `patchwarden scan --format json` output, apt/dpkg
//! output captured on a host); this crate only describes those references, the binary reads them
//! and hands the text to pw-inventory's parsers (`pw_inventory::apt`, `pw_inventory::dpkg_query`,
//! `pw_inventory::parse_dpkg_conffiles`). The controller builds [`Evidence`] from what its agents
//! collected instead (`pw_protocol::EvidenceReport`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use serde::{Deserialize, Serialize};

use pw_inventory::Conffile;
use pw_inventory::apt::{Availability, Simulation};

/// A host as the planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub id: String,
    pub hostname: String,
    pub group: String,
    /// Defaults to the group's environment; a different value is reported as a problem.
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `debian:12`, `ubuntu:22.04`, `almalinux:9` (see `pw_model::OsRelease`).
    pub os: String,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Explicit target versions by binary package; they override the findings' `fixed`.
    #[serde(default)]
    pub targets: BTreeMap<String, String>,
    /// Installed versions of target packages no finding names (the controller knows them from
    /// the package manager's offer); recorded as the change's `from` for the rollback.
    #[serde(default)]
    pub installed: BTreeMap<String, String>,
}

/// One host entry of the fleet file: a [`Host`] whose findings may come from a scan file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    pub id: String,
    pub hostname: String,
    pub group: String,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub os: String,
    /// Findings written inline.
    #[serde(default)]
    pub findings: Option<Vec<Finding>>,
    /// Path (relative to the fleet file) of a `patchwarden scan --format json` output.
    #[serde(default)]
    pub scan: Option<String>,
    #[serde(default)]
    pub targets: BTreeMap<String, String>,
    /// Host-specific evidence; overrides the group's.
    #[serde(default)]
    pub evidence: Option<EvidenceFiles>,
}

/// The fleet description file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    pub hosts: Vec<HostEntry>,
    /// Evidence shared by the hosts of a group (hosts built from one image), by group name.
    #[serde(default)]
    pub evidence: BTreeMap<String, EvidenceFiles>,
    /// Results of earlier runs on staging groups.
    #[serde(default)]
    pub staging: Vec<StagingRun>,
}

/// The findings part of a `patchwarden scan --format json` output (other keys are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScanFile {
    pub findings: Vec<Finding>,
}

/// Files holding real tool output for the risk checklist (paths relative to the fleet file),
/// plus data that has no tool output of its own.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceFiles {
    /// `apt-get -s install pkg=ver …` output for the plan's targets.
    #[serde(default)]
    pub apt_simulation: Option<String>,
    /// `apt-cache policy PKG…` output.
    #[serde(default)]
    pub apt_cache_policy: Option<String>,
    /// `apt-cache madison PKG…` output.
    #[serde(default)]
    pub apt_cache_madison: Option<String>,
    /// `/var/lib/dpkg/status` or `dpkg-query -s PKG…` output (for `Conffiles:`).
    #[serde(default)]
    pub dpkg_status: Option<String>,
    /// `dpkg --verify` output (locally modified conffiles).
    #[serde(default)]
    pub dpkg_verify: Option<String>,
    /// Locally modified configuration files, when known from elsewhere.
    #[serde(default)]
    pub modified_conffiles: Option<Vec<String>>,
}

/// Parsed evidence for one host or group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    pub simulation: Option<Simulation>,
    pub availability: Option<Availability>,
    /// Conffiles by installed package.
    pub conffiles: Option<BTreeMap<String, Vec<Conffile>>>,
    /// Paths of configuration files with local modifications.
    pub modified_conffiles: Option<BTreeSet<String>>,
}

/// One run of package versions on a staging group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagingRun {
    /// The staging group the run happened on.
    pub group: String,
    /// Binary package → exact version that was applied.
    pub packages: BTreeMap<String, String>,
    /// Applied and every health check passed.
    pub passed: bool,
    /// The rollback drill ran and passed: apply → roll back → re-apply, each verified.
    #[serde(default)]
    pub rollback_drill: bool,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
}

/// An open maintenance window occurrence, blackouts already removed (from pw-calendar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSlot {
    pub start: Timestamp,
    pub end: Timestamp,
    /// The window's name, for the plan's readers.
    pub window: String,
}

/// Which hosts and findings a plan covers. Empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default)]
    pub groups: Vec<String>,
    /// Every listed label must match (`rack = "r1"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Only findings of this tier or more urgent (`T1` takes T0 and T1).
    #[serde(default)]
    pub max_tier: Option<Tier>,
}

impl Scope {
    /// Whether a host is in scope.
    pub fn admits(&self, host: &Host) -> bool {
        (self.groups.is_empty() || self.groups.contains(&host.group))
            && self
                .labels
                .iter()
                .all(|(key, value)| host.labels.get(key) == Some(value))
    }

    /// Whether a finding is in scope.
    pub fn admits_tier(&self, tier: Tier) -> bool {
        self.max_tier.is_none_or(|max| tier <= max)
    }
}

/// Everything a plan is built from, apart from the policy and `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    pub plan_id: String,
    pub author: String,
    pub hosts: Vec<Host>,
    pub group_evidence: BTreeMap<String, Evidence>,
    pub host_evidence: BTreeMap<String, Evidence>,
    pub staging: Vec<StagingRun>,
    /// Open window slots by group, from `from` to `until`.
    pub slots: BTreeMap<String, Vec<WindowSlot>>,
    pub scope: Scope,
    /// Nothing is scheduled before this instant.
    pub from: Timestamp,
    /// The end of the planning horizon.
    pub until: Timestamp,
}

impl PlanInput {
    /// The evidence that applies to a host: its own, else its group's.
    pub fn evidence_for(&self, host: &Host) -> Option<&Evidence> {
        self.host_evidence
            .get(&host.id)
            .or_else(|| self.group_evidence.get(&host.group))
    }
}

impl FleetFile {
    /// Reads a fleet file; `json` selects JSON instead of TOML.
    pub fn parse(text: &str, json: bool) -> Result<FleetFile, String> {
        if json {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())
        }
    }
}
