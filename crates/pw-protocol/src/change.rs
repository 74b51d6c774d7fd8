//! The change command (`apply_change`) and its report: the agent-side guard that records exact
//! versions, installs, verifies health and rolls back on its own (docs/design/agent-protocol.md).

use jiff::Timestamp;

use crate::PackagePin;

/// One health check the agent's guard runs on its own host after a change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthCheckSpec {
    /// `GET` answers `expect_status`. Either `url` — `http://` or `https://` by host name (the
    /// URL's name is the TLS server name and the `Host` header; `addr`, when not empty, is an
    /// IP address to connect to instead of resolving the name, the URL's port kept) — or,
    /// without `url`, plain HTTP `GET path` on `addr` (`IP:PORT`, e.g. `127.0.0.1:18080`).
    Http {
        name: String,
        #[serde(default)]
        addr: String,
        #[serde(default)]
        path: String,
        #[serde(default = "default_status")]
        expect_status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// A PEM file on the host of CA certificates trusted instead of the system's roots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<String>,
        /// The whole request's timeout (default 3 s, at most 300 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_seconds: Option<u64>,
    },
    /// A TCP connection to `addr` is accepted.
    Tcp { name: String, addr: String },
    /// The program (argv, never a shell) exits 0.
    Command { name: String, argv: Vec<String> },
    /// `systemctl is-active UNIT` (not applicable without systemd: counts as a pass).
    SystemdUnit { name: String, unit: String },
    /// Lines appended to the file at `path` after the change started (the guard records the
    /// file's length and inode before installing) that contain `pattern` must number at most
    /// `max_matches`. `pattern` is a literal substring, or a regular expression (the `regex`
    /// crate's syntax) when `regex` is true. A file that was rotated or truncated since is
    /// read from its start.
    LogLines {
        name: String,
        path: String,
        pattern: String,
        #[serde(default)]
        regex: bool,
        #[serde(default)]
        max_matches: u64,
    },
    /// Every systemd unit in `units` active (not applicable without systemd) and every
    /// `IP:PORT` in `ports` accepting TCP connections, at the latest `within_seconds` after
    /// the install: still down then, the guard fails the change at once and rolls back, even
    /// when the verification period is longer (the named default check `core-service-up`, the
    /// SOP "core service not up within 5 minutes → roll back").
    ServiceUp {
        name: String,
        #[serde(default)]
        units: Vec<String>,
        #[serde(default)]
        ports: Vec<String>,
        within_seconds: u64,
    },
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
            | HealthCheckSpec::SystemdUnit { name, .. }
            | HealthCheckSpec::LogLines { name, .. }
            | HealthCheckSpec::ServiceUp { name, .. } => name,
        }
    }
}

/// A protection step (snapshot, backup with restore check, pause writes) run by the agent's
/// guard after the exact versions were recorded and before anything is installed: either a bare
/// program (`argv`, never a shell; a non-zero exit or the timeout fails the change before the
/// install) or a `provider` (docs/protection.md) whose backup or snapshot is verified, recorded,
/// and restored when the guard rolls back. Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionStep {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    #[serde(default = "default_step_timeout")]
    pub timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<crate::ProtectionProvider>,
}

/// Longest timeout of one protection step (a day).
pub const MAX_PROTECTION_TIMEOUT_SECS: u64 = 24 * 3600;

fn default_step_timeout() -> u64 {
    600
}

impl ProtectionStep {
    /// Refuses a step without a name, with neither or both of a program and a provider, with an
    /// option-like program, a provider with bad parameters, or a timeout outside
    /// 1 s ..= [`MAX_PROTECTION_TIMEOUT_SECS`]; the message names the step.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Err("a protection step needs a name".into());
        }
        match (&self.provider, self.argv.is_empty()) {
            (Some(_), false) => {
                return Err(format!(
                    "protection step {name:?}: give argv or a provider, not both"
                ));
            }
            (Some(provider), true) => provider
                .validate()
                .map_err(|e| format!("protection step {name:?}: {e}"))?,
            (None, _) => crate::protection::argv("argv", &self.argv).map_err(|e| {
                let e = e.strip_prefix("argv: ").unwrap_or(&e);
                format!("protection step {name:?}: {e}")
            })?,
        }
        if !(1..=MAX_PROTECTION_TIMEOUT_SECS).contains(&self.timeout_seconds) {
            return Err(format!(
                "protection step {name:?}: timeout_seconds must be 1..={MAX_PROTECTION_TIMEOUT_SECS}, got {}",
                self.timeout_seconds
            ));
        }
        Ok(())
    }
}

/// Validates every step and refuses a name used twice.
pub fn validate_protection_steps(steps: &[ProtectionStep]) -> Result<(), String> {
    for (index, step) in steps.iter().enumerate() {
        step.validate()?;
        if steps[..index].iter().any(|s| s.name == step.name) {
            return Err(format!("protection step {:?} is listed twice", step.name));
        }
    }
    Ok(())
}

/// How one protection step went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProtectionResult {
    pub name: String,
    pub ok: bool,
    /// Exit code and output tail, or why it could not run.
    pub detail: String,
    /// Finished before the agent restarted (from its journal): not run again.
    #[serde(default)]
    pub from_journal: bool,
    /// The backup or snapshot a provider step took (docs/protection.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<crate::ProtectionRecord>,
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
    /// Could not install and then could not roll back: the host needs a human.
    Failed { detail: String },
    /// Not run at all (a read-only agent): nothing on the host was touched.
    Refused { detail: String },
    /// Failed before the versions were recorded (bad command, dpkg unreadable): nothing on the
    /// host was touched.
    NotStarted { detail: String },
    /// A protection step failed or timed out: nothing was installed (a "pause writes" hook may
    /// have left a service degraded).
    ProtectionFailed { step: String, detail: String },
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
    /// The protection steps run (or found finished in the journal), in order.
    #[serde(default)]
    pub protection: Vec<ProtectionResult>,
    /// Data put back after a rollback to the recorded versions (backup restored, snapshot
    /// reverted), in reverse order of the steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<ProtectionResult>,
    /// Pause-writes steps resumed when the change ended (or after an agent restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<ProtectionResult>,
    /// The rollback drill, when the command asked for one and the install was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::DrillReport>,
    /// What the host still needs after a verified change (reboot, service restarts), read at
    /// the end of the guard; `None` from older agents or when not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Box<crate::RestartStatus>>,
    /// A downgrade's own checks and the file permission comparison (docs/downgrade.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<Box<DowngradeReport>>,
    /// What the change's hooks did (stops, migrations, the benchmark); `None` without hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Box<crate::HooksReport>>,
}

/// What the agent checked for a downgrade before installing it, and the permissions of the
/// downgraded packages' conffiles before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DowngradeReport {
    /// `apt-get -s install --allow-downgrades pkg=ver …`: what apt would do, one line per
    /// action (`Inst pw-demo [1.0-2] (1.0-1 …)`).
    pub simulation: Vec<String>,
    /// The targets as `pkg=ver`, each offered by the host's sources or the plan's local
    /// archive (`apt-cache policy`, with the archive's files).
    pub available: Vec<String>,
    /// The plan's local archive (docs/downgrade.md), when it named one: the directory and the
    /// `.deb` files in it offered to apt (`--with-source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archive_files: Vec<String>,
    /// The targets (`pkg=ver`) the local archive offers (a subset of `available`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_archive: Vec<String>,
    /// The downgraded packages' conffiles before the change (`dpkg --verify` and `stat`).
    pub files_before: Vec<FileState>,
    /// The same files after the change (also after a rollback).
    pub files_after: Vec<FileState>,
    /// What differs after the change: mode, owner, group, a file gone or newly modified; empty
    /// when nothing did.
    pub files_changed: Vec<String>,
}

/// One file's permissions and ownership, and whether dpkg finds it modified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileState {
    pub path: String,
    /// Octal mode bits (`644`); `None` when the file is missing.
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// `dpkg --verify` reports its checksum changed.
    pub modified: bool,
}

impl ChangeReport {
    /// A report for a change that never touched the host.
    pub fn untouched(outcome: ChangeOutcome) -> ChangeReport {
        ChangeReport {
            outcome,
            recorded: vec![],
            final_versions: vec![],
            installed_at: None,
            passed_checks: vec![],
            failed_check: None,
            protection: vec![],
            restored: vec![],
            resumed: vec![],
            drill: None,
            restart: None,
            downgrade: None,
            hooks: None,
        }
    }
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
                url: None,
                ca_file: None,
                timeout_seconds: None,
            }],
            verification_seconds: 30,
            protection_steps: vec![ProtectionStep {
                name: "snapshot".into(),
                argv: vec!["/usr/local/sbin/snap".into(), "create".into()],
                timeout_seconds: 60,
                provider: None,
            }],
            plan: None,
            drill: true,
            hooks: crate::ChangeHooks::default(),
        };
        let json = serde_json::to_value(&command).unwrap();
        assert_eq!(json["drill"], true);
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
            protection: vec![],
            restored: vec![],
            resumed: vec![],
            drill: None,
            restart: None,
            downgrade: None,
            hooks: None,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outcome"], "rolled_back");
        assert_eq!(json["reason"], "health_check_failed");
        assert_eq!(
            serde_json::from_value::<ChangeReport>(json).unwrap(),
            report
        );
    }

    #[test]
    fn new_fields_default_so_older_peers_keep_working() {
        let command: Command = serde_json::from_str(
            r#"{"kind":"apply_change","rollout":"r1","targets":[],"verification_seconds":5}"#,
        )
        .unwrap();
        let Command::ApplyChange {
            protection_steps,
            drill,
            ..
        } = &command
        else {
            panic!("{command:?}");
        };
        assert!(protection_steps.is_empty());
        assert!(!drill, "no drill unless asked");
        let json = serde_json::to_value(&command).unwrap();
        assert!(json.get("drill").is_none(), "not sent when off: {json}");
        let step: ProtectionStep =
            serde_json::from_str(r#"{"name":"snap","argv":["snap"]}"#).unwrap();
        assert_eq!(step.timeout_seconds, 600);
        let check: HealthCheckSpec = serde_json::from_str(
            r#"{"kind":"log_lines","name":"log","path":"/var/log/x.log","pattern":"ERROR"}"#,
        )
        .unwrap();
        assert_eq!(check.name(), "log");
        assert!(matches!(
            check,
            HealthCheckSpec::LogLines {
                regex: false,
                max_matches: 0,
                ..
            }
        ));
        let refused = ChangeReport::untouched(ChangeOutcome::Refused {
            detail: "read-only".into(),
        });
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(json["outcome"], "refused");
        let old = r#"{"outcome":"done","recorded":[],"final_versions":[],"installed_at":null,
                      "passed_checks":[],"failed_check":null}"#;
        let old = serde_json::from_str::<ChangeReport>(old).unwrap();
        assert!(old.protection.is_empty() && old.drill.is_none());
    }

    #[test]
    fn protection_steps_are_validated_with_their_names() {
        let step = |name: &str, argv: &[&str], timeout_seconds| ProtectionStep {
            name: name.into(),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            timeout_seconds,
            provider: None,
        };
        assert!(validate_protection_steps(&[step("snap", &["lvcreate", "-s"], 60)]).is_ok());
        for (bad, wanted) in [
            (step("", &["x"], 60), "needs a name"),
            (step("snap", &[], 60), "argv is empty"),
            (step("snap", &["--x"], 60), "is not a program"),
            (step("snap", &["x", "a\0b"], 60), "NUL"),
            (step("snap", &["x"], 0), "timeout_seconds"),
            (step("snap", &["x"], 90_000), "timeout_seconds"),
        ] {
            let error = validate_protection_steps(&[bad]).unwrap_err();
            assert!(error.contains(wanted), "{error}");
        }
        let twice = [step("a", &["x"], 1), step("a", &["y"], 1)];
        assert!(
            validate_protection_steps(&twice)
                .unwrap_err()
                .contains("twice")
        );
    }
}
