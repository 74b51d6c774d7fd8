//! Messages between an agent and the controller: enrollment, heartbeat, inventory, commands.

use std::fmt;

use jiff::Timestamp;
use pw_model::InstalledPackage;

/// `POST /api/v1/enroll` (server TLS only): a one-time token plus the agent's CSR.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnrollRequest {
    pub protocol_version: u32,
    /// The single-use enrollment token (secret: never logged; see the `Debug` impl).
    pub token: String,
    /// The agent's certificate signing request (PEM). Only its public key is used: the
    /// controller chooses subject, validity and usages itself.
    pub csr_pem: String,
    /// The host name the agent reports for its machine.
    pub hostname: String,
}

impl fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("protocol_version", &self.protocol_version)
            .field("token", &"<redacted>")
            .field("csr_pem", &format_args!("<{} bytes>", self.csr_pem.len()))
            .field("hostname", &self.hostname)
            .finish()
    }
}

/// The answer to a successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnrollResponse {
    /// The host id the controller assigned (also the client certificate's common name).
    pub host_id: String,
    /// The signed client certificate (PEM).
    pub certificate_pem: String,
    /// The controller CA's certificate (PEM): the only root the agent trusts from now on.
    pub ca_certificate_pem: String,
}

/// `POST /api/v1/agent/heartbeat` (mTLS).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heartbeat {
    pub protocol_version: u32,
    pub agent_version: String,
    /// Whether the agent refuses change commands (all of them, unless `plan_changes`).
    pub read_only: bool,
    /// A read-only agent that still accepts `apply_change` commands carrying an approved plan
    /// (`--allow-approved-plans`).
    #[serde(default)]
    pub plan_changes: bool,
    /// The agent's own clock, for skew diagnostics.
    pub sent_at: Timestamp,
}

/// The controller's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatAck {
    pub host_id: String,
    pub server_time: Timestamp,
    /// When the controller wants the next heartbeat, in seconds.
    pub next_heartbeat_secs: u64,
}

/// `POST /api/v1/agent/inventory` (mTLS): the full picture of the host, replacing the last one
/// (an agent that holds an acknowledged digest may send an [`crate::InventoryDelta`] instead).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InventoryReport {
    pub protocol_version: u32,
    pub hostname: String,
    /// The OS release in `family:version` form (`debian:12`), as `pw_model::OsRelease` prints it.
    pub os: String,
    pub packages: Vec<InstalledPackage>,
    /// Upgrades the host's package manager offers, when the agent can tell; `None` when it did
    /// not look (the controller then knows only the advisory findings).
    #[serde(default)]
    pub pending_updates: Option<Vec<PendingUpdate>>,
    /// Whether the host asks for a reboot (`/var/run/reboot-required` on Debian/Ubuntu).
    pub reboot_required: bool,
    /// Packages that asked for the reboot, when known.
    #[serde(default)]
    pub reboot_required_by: Vec<String>,
    pub collected_at: Timestamp,
    /// Labels from the agent's own configuration (`--label KEY=VALUE`), replacing the host's
    /// stored ones (an empty map clears them). `None` (older agents) leaves them as they are.
    /// Checked by the controller (`pw_model::check_labels`): a bad one refuses the report (422).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// Debian/Ubuntu: per installed package, the CVE ids its installed changelog names in the
    /// installed version's history (a finding on them was fixed by a backport). `None` when the
    /// agent did not read changelogs (older agents, RPM hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backport_history: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// What the host still needs after its changes: reboot, service restarts, `dpkg --audit`
    /// (docs/restarts.md). `None` from older agents and RPM hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<crate::RestartStatus>,
}

/// One upgrade offered by the package manager.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingUpdate {
    pub package: String,
    pub arch: String,
    pub from_version: String,
    pub to_version: String,
    /// The archive's origin (`Debian`, `Debian-Security`).
    pub origin: String,
    /// The suite or codename the new version comes from (`bookworm-security`).
    pub suite: String,
    /// The CVE ids the candidate's new changelog entries name; `None` when not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cves: Option<Vec<String>>,
}

/// The controller's answer to an inventory report, full or delta.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InventoryAck {
    pub host_id: String,
    /// Packages in the stored inventory (0 when `full_inventory_needed`).
    pub packages: usize,
    /// The digest of the stored content ([`crate::InventoryContent::digest`]): the base the
    /// agent may send its next [`crate::InventoryDelta`] against. Absent from older controllers
    /// (the agent keeps sending full reports) and when `full_inventory_needed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A delta that could not be applied (the stored content is not its base, or the result's
    /// digest differs): nothing was stored; send a full [`InventoryReport`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_inventory_needed: bool,
}

/// `GET /api/v1/agent/commands?wait=SECS` (mTLS): commands not yet finished, oldest first. An
/// empty list after the wait means "nothing to do, ask again".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandBatch {
    pub commands: Vec<CommandEnvelope>,
}

/// One command for one host. The id is the idempotency key: an agent that already finished a
/// command id answers with its recorded result instead of running it again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandEnvelope {
    pub id: String,
    pub issued_at: Timestamp,
    pub command: Command,
}

/// What the controller asks an agent to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Collect and send a fresh inventory. Never changes the host.
    RefreshInventory,
    /// Install exact versions (`apt-get install pkg=ver …`); a change command.
    InstallPackages { packages: Vec<PackagePin> },
    /// The guarded change of a rollout: record exact versions, install the targets, verify
    /// health, roll back on failure (see [`crate::ChangeReport`]). A change command.
    ApplyChange {
        rollout: String,
        targets: Vec<PackagePin>,
        #[serde(default)]
        checks: Vec<crate::HealthCheckSpec>,
        verification_seconds: u64,
        /// Run in order after recording the versions, before installing.
        #[serde(default)]
        protection_steps: Vec<crate::ProtectionStep>,
        /// The approved plan this change carries out; `None` for ad-hoc rollouts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<crate::PlanRef>,
        /// After a verified install, run the rollback drill: roll back to the exact recorded
        /// versions, verify, re-apply the targets, verify again ([`crate::DrillReport`]).
        /// Absent (false) for older controllers; an older agent ignores it and reports no drill.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drill: bool,
        /// The plan's own hooks: conffile policy, units stopped around the install, migrations
        /// forward and reverse, a before/after benchmark ([`crate::ChangeHooks`]). Absent for
        /// ad-hoc rollouts and plans without hooks; an older agent ignores it.
        #[serde(default, skip_serializing_if = "crate::ChangeHooks::is_empty")]
        hooks: crate::ChangeHooks,
    },
    /// Collect the risk checklist's evidence for installing exactly `targets` (dependency
    /// simulation, availability of the installed versions, conffiles, services, reboot): the
    /// result carries an [`crate::EvidenceReport`]. Never changes the host: read-only agents
    /// run it too. `archive`: a downgrade plan's local archive, offered to apt-get and
    /// apt-cache for the simulation and the availability (docs/downgrade.md).
    CollectEvidence {
        targets: Vec<PackagePin>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        archive: Option<String>,
    },
    /// `systemctl restart UNIT…` for the units a rollout's change left running replaced code,
    /// then the restart facts again: the result carries a [`crate::RestartReport`]. A change
    /// command.
    RestartServices {
        rollout: String,
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<crate::PlanRef>,
    },
    /// Reboot the host (the agent's configured reboot command): the result, sent before the
    /// reboot is asked for, carries the boot mark the reboot must change. A change command.
    Reboot {
        rollout: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<crate::PlanRef>,
    },
    /// Observation (docs/design/agent-protocol.md): run each check once; log checks count the
    /// lines after `marks` (a file without a mark is marked now and counts from here). The
    /// result carries a [`crate::CheckRound`]. Never changes the host.
    RunChecks {
        rollout: String,
        checks: Vec<crate::HealthCheckSpec>,
        #[serde(default)]
        marks: Vec<crate::LogMarkWire>,
    },
    /// Observation's late rollback: reinstall exactly `recorded` (a package recorded absent is
    /// removed), then run `checks` until they pass or `verification_seconds` end. The result
    /// carries a [`crate::ChangeReport`] (outcome `rolled_back`, the final versions). A change
    /// command.
    LateRollback {
        rollout: String,
        recorded: Vec<crate::VersionSeen>,
        #[serde(default)]
        checks: Vec<crate::HealthCheckSpec>,
        verification_seconds: u64,
    },
}

impl Command {
    /// Whether running the command changes the host (refused by read-only agents).
    pub fn changes_host(&self) -> bool {
        match self {
            Command::RefreshInventory
            | Command::CollectEvidence { .. }
            | Command::RunChecks { .. } => false,
            Command::InstallPackages { .. }
            | Command::ApplyChange { .. }
            | Command::RestartServices { .. }
            | Command::Reboot { .. }
            | Command::LateRollback { .. } => true,
        }
    }

    /// The command's kind as it appears on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::RefreshInventory => "refresh_inventory",
            Command::InstallPackages { .. } => "install_packages",
            Command::ApplyChange { .. } => "apply_change",
            Command::CollectEvidence { .. } => "collect_evidence",
            Command::RestartServices { .. } => "restart_services",
            Command::Reboot { .. } => "reboot",
            Command::RunChecks { .. } => "run_checks",
            Command::LateRollback { .. } => "late_rollback",
        }
    }
}

/// One package at one exact version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackagePin {
    pub name: String,
    pub version: String,
}

/// `POST /api/v1/agent/commands/{id}/result` (mTLS).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandResult {
    pub status: CommandStatus,
    /// A human-readable explanation (always set for `refused` and `failed`).
    pub message: String,
    pub finished_at: Timestamp,
    /// What an `apply_change` did (absent for other commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::ChangeReport>,
    /// What a `collect_evidence` found (absent for other commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Box<crate::EvidenceReport>>,
    /// What a `restart_services` or `reboot` did (absent for other commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Box<crate::RestartReport>>,
    /// What a `run_checks` found (absent for other commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Box<crate::CheckRound>>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Succeeded,
    Failed,
    /// Not run at all (read-only agent, unsupported command).
    Refused,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Succeeded => "succeeded",
            CommandStatus::Failed => "failed",
            CommandStatus::Refused => "refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enroll_request_debug_redacts_the_token() {
        let request = EnrollRequest {
            protocol_version: 1,
            token: "pwt_secret".into(),
            csr_pem: "-----BEGIN CERTIFICATE REQUEST-----".into(),
            hostname: "web-1".into(),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("pwt_secret"), "{shown}");
        assert!(shown.contains("web-1"));
    }

    #[test]
    fn commands_are_tagged_by_kind() {
        let command = Command::InstallPackages {
            packages: vec![PackagePin {
                name: "openssl".into(),
                version: "3.0.17-1~deb12u2".into(),
            }],
        };
        let json = serde_json::to_value(&command).unwrap();
        assert_eq!(json["kind"], "install_packages");
        assert_eq!(json["packages"][0]["version"], "3.0.17-1~deb12u2");
        let back: Command = serde_json::from_value(json).unwrap();
        assert_eq!(back, command);
        assert!(back.changes_host());
        let refresh: Command = serde_json::from_str(r#"{"kind":"refresh_inventory"}"#).unwrap();
        assert!(!refresh.changes_host());
        let evidence: Command = serde_json::from_str(
            r#"{"kind":"collect_evidence","targets":[{"name":"pw-demo","version":"1.0-2"}]}"#,
        )
        .unwrap();
        assert!(!evidence.changes_host());
        assert_eq!(evidence.kind(), "collect_evidence");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let heartbeat: Heartbeat = serde_json::from_str(
            r#"{"protocol_version":1,"agent_version":"0.1.0","read_only":true,
                "sent_at":"2026-01-01T00:00:00Z","future_field":42}"#,
        )
        .unwrap();
        assert!(heartbeat.read_only);
    }
}
