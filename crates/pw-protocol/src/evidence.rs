//! Evidence for the risk checklist, collected by an agent on request (`collect_evidence`, a
//! read-only command): the dependency simulation of exact targets, the availability of the
//! installed versions (rollback), conffiles and their local modifications, services to restart
//! and the reboot flag. The agent parses the tools' output with pw-inventory and sends these
//! typed values. Pure data: `pw_planner::wire` is the one place that validates them (naming the
//! bad field) and turns them into the planner's `Evidence`, and builds them from parsed output.

use jiff::Timestamp;

use crate::PackagePin;

/// Most targets one evidence request may name.
pub const MAX_EVIDENCE_TARGETS: usize = 500;

/// The `evidence` of a `collect_evidence` result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvidenceReport {
    pub protocol_version: u32,
    /// The targets the evidence is for, as requested.
    pub targets: Vec<PackagePin>,
    /// When the agent finished collecting (its clock).
    pub collected_at: Timestamp,
    pub simulation: SimulationEvidence,
    /// `apt-cache policy` of the targets and of every installed package the simulation changes;
    /// `None` when it could not be read (see `problems`).
    pub availability: Option<Vec<VersionAvailability>>,
    /// Conffiles of the installed packages the simulation changes; `None` when unknown.
    pub conffiles: Option<Vec<ConffileEvidence>>,
    /// systemd service units shipped by the installed packages the simulation changes.
    pub services: Vec<ServiceEvidence>,
    pub reboot: RebootEvidence,
    /// Steps that could not be collected, with the reason.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// `apt-get -s install --no-install-recommends pkg=ver …` in the C locale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimulationEvidence {
    pub actions: Vec<SimulatedAction>,
    /// apt's `E:` lines: it refused (a version no source offers, unmet dependencies).
    pub errors: Vec<String>,
    /// apt's `W:` lines.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One simulated dpkg action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SimulatedAction {
    /// Installed (`from` absent) or upgraded/downgraded to `version`.
    Install {
        package: String,
        #[serde(default)]
        from: Option<String>,
        version: String,
        /// The archives offering `version` (`Debian-Security:12/stable-security`).
        #[serde(default)]
        origin: String,
        #[serde(default)]
        arch: String,
    },
    Remove {
        package: String,
        #[serde(default)]
        from: Option<String>,
        #[serde(default)]
        purge: bool,
    },
    Configure {
        package: String,
        version: String,
    },
}

/// Versions of one package as the host's sources see them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionAvailability {
    pub package: String,
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Versions a repository still offers (not only the dpkg status file).
    pub downloadable: Vec<String>,
}

/// One conffile of a package that changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConffileEvidence {
    pub package: String,
    pub path: String,
    pub md5: String,
    #[serde(default)]
    pub obsolete: bool,
    /// `dpkg --verify` reports it changed or missing; `None` when it did not run.
    pub modified: Option<bool>,
}

/// A service unit restarted by the change (shipped by a package that changes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceEvidence {
    pub package: String,
    /// `cron.service`.
    pub unit: String,
    /// `None` when systemd is not the host's init system.
    pub running: Option<bool>,
}

/// Whether the host needs a reboot now, and whether the change brings a kernel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RebootEvidence {
    /// `/var/run/reboot-required` exists now.
    pub required_now: bool,
    /// Packages that asked for it (`/var/run/reboot-required.pkgs`).
    #[serde(default)]
    pub required_by: Vec<String>,
    /// Kernel packages the simulation installs or upgrades (a reboot after the change).
    #[serde(default)]
    pub kernel_packages: Vec<String>,
}

/// `POST /api/v1/hosts/{id}/evidence`: the exact versions to collect evidence for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEvidence {
    pub targets: Vec<PackagePin>,
}

/// The answer (202): the queued `collect_evidence` command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvidenceQueued {
    pub host_id: String,
    pub command_id: String,
}

/// `GET /api/v1/hosts/{id}/evidence`: the latest evidence the host's agent collected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostEvidence {
    pub host_id: String,
    pub command_id: String,
    pub targets: Vec<PackagePin>,
    /// When the agent collected it (its clock).
    pub collected_at: Timestamp,
    /// When the controller stored it.
    pub received_at: Timestamp,
    pub evidence: EvidenceReport,
}
