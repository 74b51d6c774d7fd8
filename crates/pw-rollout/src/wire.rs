//! The one place where the agent protocol's wire types (`pw_protocol`, plain strings) become the
//! engine's domain types (validated names and exact versions) and back.
//!
//! Wire → domain validates every package name (`pw_model::PackageName`) and version
//! (`ExactVersion`) and names the offending field as a path into the document
//! (`recorded[0].name: package name "<script>" has '<' at byte 0; …`), so the controller can
//! refuse a bad agent report at the edge with a message that says what is wrong and where.
//! Domain → wire cannot fail.

use std::collections::BTreeSet;
use std::fmt;

use pw_model::PackageName;
use pw_protocol::{
    ChangeOutcome, ChangeReport, Command, DrillReport, DrillResult, PackagePin, ProtectionResult,
    RestartReport, RestartStatus, RollbackReason, VersionSeen,
};

use crate::aftercare::{Aftercare, BootMark, RestartResult};
use crate::model::{ExactVersion, Recorded, Target};
use crate::report::{
    DrillRun, DrillStage, DrillVerdict, GuardOutcome, GuardReason, GuardReport, ProtectionRun,
};

/// A wire document the engine cannot take: the field (a path such as `recorded[0].name`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct WireError {
    pub field: String,
    pub problem: String,
}

impl WireError {
    fn new(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        WireError {
            field: field.into(),
            problem: problem.to_string(),
        }
    }

    /// The same error seen from the enclosing document: `targets[2]` + `name` →
    /// `targets[2].name`.
    pub fn within(mut self, outer: &str) -> Self {
        self.field = format!("{outer}.{}", self.field);
        self
    }
}

impl TryFrom<&PackagePin> for Target {
    type Error = WireError;

    fn try_from(pin: &PackagePin) -> Result<Self, WireError> {
        Ok(Target {
            package: PackageName::parse(&pin.name).map_err(|e| WireError::new("name", e))?,
            version: ExactVersion::parse(&pin.version).map_err(|e| WireError::new("version", e))?,
        })
    }
}

impl From<&Target> for PackagePin {
    fn from(target: &Target) -> Self {
        PackagePin {
            name: target.package.to_string(),
            version: target.version.to_string(),
        }
    }
}

impl TryFrom<&VersionSeen> for Recorded {
    type Error = WireError;

    fn try_from(seen: &VersionSeen) -> Result<Self, WireError> {
        Ok(Recorded {
            package: PackageName::parse(&seen.name).map_err(|e| WireError::new("name", e))?,
            version: seen
                .version
                .as_deref()
                .map(ExactVersion::parse)
                .transpose()
                .map_err(|e| WireError::new("version", e))?,
        })
    }
}

impl From<&Recorded> for VersionSeen {
    fn from(recorded: &Recorded) -> Self {
        VersionSeen {
            name: recorded.package.to_string(),
            version: recorded.version.as_ref().map(ToString::to_string),
        }
    }
}

/// Converts a wire list, naming the first bad item by its index under `field`.
pub fn each<'a, W, D>(field: &str, items: &'a [W]) -> Result<Vec<D>, WireError>
where
    D: TryFrom<&'a W, Error = WireError>,
{
    items
        .iter()
        .enumerate()
        .map(|(index, item)| D::try_from(item).map_err(|e| e.within(&format!("{field}[{index}]"))))
        .collect()
}

/// Targets from pins: at least one, every name and version valid, no package twice. The one
/// check of every path that names packages to install (rollouts, commands, evidence).
pub fn targets_from_pins(field: &str, pins: &[PackagePin]) -> Result<Vec<Target>, WireError> {
    if pins.is_empty() {
        return Err(WireError::new(field, "at least one package is needed"));
    }
    let targets: Vec<Target> = each(field, pins)?;
    once_each(field, targets.iter().map(|t| &t.package))?;
    Ok(targets)
}

/// Checks the packages a command names with [`targets_from_pins`]; a command without
/// packages passes.
pub fn check_command(command: &Command) -> Result<(), WireError> {
    match command {
        Command::RefreshInventory => Ok(()),
        Command::InstallPackages { packages } => targets_from_pins("packages", packages).map(drop),
        Command::ApplyChange { targets, .. } | Command::CollectEvidence { targets, .. } => {
            targets_from_pins("targets", targets).map(drop)
        }
        Command::RestartServices { units, .. } => service_units("units", units).map(drop),
        Command::Reboot { .. } | Command::RunChecks { .. } => Ok(()),
        Command::LateRollback { recorded, .. } => {
            let recorded: Vec<Recorded> = each("recorded", recorded)?;
            once_each("recorded", recorded.iter().map(|r| &r.package))
        }
    }
}

/// Pins from targets, for a command to the agent.
pub fn pins(targets: &[Target]) -> Vec<PackagePin> {
    targets.iter().map(PackagePin::from).collect()
}

/// Versions by package from a report: every name and version valid, no package twice (a
/// report that lists a package twice cannot prove which version is installed).
fn versions(field: &str, seen: &[VersionSeen]) -> Result<Vec<Recorded>, WireError> {
    let versions: Vec<Recorded> = each(field, seen)?;
    once_each(field, versions.iter().map(|r| &r.package))?;
    Ok(versions)
}

fn once_each<'a>(
    field: &str,
    packages: impl Iterator<Item = &'a PackageName>,
) -> Result<(), WireError> {
    let mut seen = BTreeSet::new();
    for (index, package) in packages.enumerate() {
        if !seen.insert(package) {
            let field = format!("{field}[{index}].name");
            return Err(WireError::new(field, format!("{package} is listed twice")));
        }
    }
    Ok(())
}

/// The API's drill scope as the engine's.
pub fn drill(scope: pw_protocol::DrillScope) -> crate::ad_hoc::Drill {
    match scope {
        pw_protocol::DrillScope::Canaries => crate::ad_hoc::Drill::Canaries,
        pw_protocol::DrillScope::All => crate::ad_hoc::Drill::All,
    }
}

/// The API's rollout mode as the engine's.
pub fn mode(mode: pw_protocol::RolloutMode) -> crate::plan::Mode {
    match mode {
        pw_protocol::RolloutMode::Batches => crate::plan::Mode::Batches,
        pw_protocol::RolloutMode::Rolling => crate::plan::Mode::Rolling,
    }
}

impl TryFrom<&ChangeReport> for GuardReport {
    type Error = WireError;

    fn try_from(report: &ChangeReport) -> Result<Self, WireError> {
        Ok(GuardReport {
            outcome: GuardOutcome::from(&report.outcome),
            recorded: versions("recorded", &report.recorded)?,
            final_versions: versions("final_versions", &report.final_versions)?,
            installed_at: report.installed_at,
            passed_checks: report.passed_checks.clone(),
            failed_check: report.failed_check.clone(),
            protection: report.protection.iter().map(ProtectionRun::from).collect(),
            drill: report
                .drill
                .as_ref()
                .map(|d| DrillRun::try_from(d).map(Box::new))
                .transpose()
                .map_err(|e| e.within("drill"))?,
            aftercare: report
                .restart
                .as_deref()
                .map(Aftercare::try_from)
                .transpose()
                .map_err(|e| e.within("restart"))?,
        })
    }
}

/// Unit names for `systemctl`: each a service unit name (`pw_model::is_service_unit`).
pub fn service_units(field: &str, units: &[String]) -> Result<Vec<String>, WireError> {
    for (index, unit) in units.iter().enumerate() {
        if !pw_model::is_service_unit(unit) {
            let problem = format!("{unit:?} is not a service unit name");
            return Err(WireError::new(format!("{field}[{index}]"), problem));
        }
    }
    Ok(units.to_vec())
}

impl From<&pw_protocol::BootMark> for BootMark {
    fn from(mark: &pw_protocol::BootMark) -> Self {
        BootMark {
            boot_id: mark.boot_id.clone(),
            init_started: mark.init_started,
        }
    }
}

/// The agent's facts as what the host still needs: the units to restart (names checked), the
/// reasons for a reboot, the boot they were read in.
impl TryFrom<&RestartStatus> for Aftercare {
    type Error = WireError;

    fn try_from(status: &RestartStatus) -> Result<Self, WireError> {
        let units = status.units_to_restart();
        service_units("stale_processes.unit", &units)?;
        Ok(Aftercare {
            units,
            reboot: status.reboot_reasons(),
            boot: status.boot.as_ref().map(BootMark::from),
        })
    }
}

/// The agent's `restart_services` answer. A failed command without a report is a failed
/// restart with the command's message.
pub fn restart_result(
    succeeded: bool,
    message: &str,
    report: Option<&RestartReport>,
) -> Result<RestartResult, WireError> {
    let Some(report) = report else {
        return Ok(RestartResult {
            ok: false,
            detail: message.to_owned(),
            restarted: Vec::new(),
            after: Aftercare::default(),
        });
    };
    Ok(RestartResult {
        ok: succeeded,
        detail: message.to_owned(),
        restarted: service_units("restarted", &report.restarted)?,
        after: Aftercare::try_from(&report.status).map_err(|e| e.within("status"))?,
    })
}

impl TryFrom<&DrillReport> for DrillRun {
    type Error = WireError;

    fn try_from(drill: &DrillReport) -> Result<Self, WireError> {
        Ok(DrillRun {
            rolled_back_to: versions("rolled_back_to", &drill.rolled_back_to)?,
            rollback_checks: drill.rollback_checks.clone(),
            reapply_checks: drill.reapply_checks.clone(),
            result: match &drill.result {
                DrillResult::Passed => DrillVerdict::Passed,
                DrillResult::Failed { stage, detail } => DrillVerdict::Failed {
                    stage: match stage {
                        pw_protocol::DrillStage::Rollback => DrillStage::Rollback,
                        pw_protocol::DrillStage::RollbackChecks => DrillStage::RollbackChecks,
                        pw_protocol::DrillStage::Reapply => DrillStage::Reapply,
                        pw_protocol::DrillStage::ReapplyChecks => DrillStage::ReapplyChecks,
                    },
                    detail: detail.clone(),
                },
            },
        })
    }
}

impl TryFrom<ChangeReport> for GuardReport {
    type Error = WireError;

    fn try_from(report: ChangeReport) -> Result<Self, WireError> {
        GuardReport::try_from(&report)
    }
}

impl From<&ChangeOutcome> for GuardOutcome {
    fn from(outcome: &ChangeOutcome) -> Self {
        match outcome.clone() {
            ChangeOutcome::Done => GuardOutcome::Done,
            ChangeOutcome::RolledBack { reason, detail } => GuardOutcome::RolledBack {
                reason: match reason {
                    RollbackReason::ApplyFailed => GuardReason::ApplyFailed,
                    RollbackReason::HealthCheckFailed => GuardReason::HealthCheckFailed,
                    RollbackReason::Interrupted => GuardReason::Interrupted,
                },
                detail,
            },
            ChangeOutcome::Failed { detail } => GuardOutcome::Failed { detail },
            ChangeOutcome::Refused { detail } => GuardOutcome::Refused { detail },
            ChangeOutcome::NotStarted { detail } => GuardOutcome::NotStarted { detail },
            ChangeOutcome::ProtectionFailed { step, detail } => {
                GuardOutcome::ProtectionFailed { step, detail }
            }
        }
    }
}

impl From<&ProtectionResult> for ProtectionRun {
    fn from(result: &ProtectionResult) -> Self {
        ProtectionRun {
            name: result.name.clone(),
            ok: result.ok,
            detail: result.detail.clone(),
            from_journal: result.from_journal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str, version: Option<&str>) -> VersionSeen {
        VersionSeen {
            name: name.into(),
            version: version.map(str::to_owned),
        }
    }

    fn restart_status(unit: &str) -> RestartStatus {
        RestartStatus {
            collected_at: "2025-03-01T02:00:00Z".parse().unwrap(),
            boot: Some(pw_protocol::BootMark {
                boot_id: "b1".into(),
                init_started: 1,
            }),
            running_kernel: None,
            newest_kernel: None,
            reboot_flag: true,
            reboot_flag_packages: vec!["linux-image-6.1.0-57-amd64".into()],
            stale_processes: vec![pw_protocol::StaleProcess {
                pid: 7,
                command: "nginx".into(),
                unit: Some(unit.into()),
                deleted: vec!["/usr/lib/x86_64-linux-gnu/libssl.so.3".into()],
            }],
            dpkg_audit: None,
            problems: vec![],
        }
    }

    #[test]
    fn restart_facts_name_their_bad_unit() {
        let mut wire = report(vec![], vec![]);
        wire.restart = Some(Box::new(restart_status("--force.service")));
        let error = GuardReport::try_from(&wire).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"restart.stale_processes.unit[0]: "--force.service" is not a service unit name"#
        );
        let result = restart_result(true, "ok", None).unwrap();
        assert!(!result.ok, "a result without a report proves no restart");
        let command = Command::RestartServices {
            rollout: "r".into(),
            units: vec!["ok.service".into(), "a b.service".into()],
            plan: None,
        };
        assert_eq!(check_command(&command).unwrap_err().field, "units[1]");
    }

    fn report(recorded: Vec<VersionSeen>, final_versions: Vec<VersionSeen>) -> ChangeReport {
        ChangeReport {
            recorded,
            final_versions,
            ..ChangeReport::untouched(ChangeOutcome::Done)
        }
    }

    fn check(report: ChangeReport, expected: &str) {
        let error = GuardReport::try_from(report).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_good_report_converts_with_every_field() {
        let wire = ChangeReport {
            outcome: ChangeOutcome::RolledBack {
                reason: RollbackReason::HealthCheckFailed,
                detail: "check web: 502".into(),
            },
            recorded: vec![seen("nginx", Some("1.1")), seen("libssl3", None)],
            final_versions: vec![seen("nginx", Some("1.1"))],
            installed_at: Some("2025-03-01T02:00:00Z".parse().unwrap()),
            passed_checks: vec!["web".into()],
            failed_check: Some("web".into()),
            protection: vec![ProtectionResult {
                name: "snap".into(),
                ok: true,
                detail: "exit 0".into(),
                from_journal: true,
                record: None,
            }],
            restored: vec![],
            resumed: vec![],
            drill: Some(DrillReport {
                rolled_back_to: vec![seen("nginx", Some("1.1"))],
                rollback_checks: vec!["web".into()],
                reapply_checks: vec![],
                result: DrillResult::Failed {
                    stage: pw_protocol::DrillStage::ReapplyChecks,
                    detail: "502".into(),
                },
            }),
            restart: Some(Box::new(restart_status("nginx.service"))),
            downgrade: None,
            hooks: None,
        };
        let report = GuardReport::try_from(&wire).unwrap();
        let aftercare = report.aftercare.clone().unwrap();
        assert_eq!(aftercare.units, ["nginx.service"]);
        assert_eq!(
            aftercare.reboot,
            ["/run/reboot-required (by linux-image-6.1.0-57-amd64)"]
        );
        assert_eq!(aftercare.boot.unwrap().boot_id, "b1");
        let drill = report.drill.as_ref().unwrap();
        assert_eq!(
            drill.rolled_back_to[0].version.as_ref().unwrap().as_str(),
            "1.1"
        );
        assert_eq!(
            drill.result,
            DrillVerdict::Failed {
                stage: DrillStage::ReapplyChecks,
                detail: "502".into()
            }
        );
        assert_eq!(
            report.outcome,
            GuardOutcome::RolledBack {
                reason: GuardReason::HealthCheckFailed,
                detail: "check web: 502".into()
            }
        );
        assert_eq!(report.recorded[1].version, None);
        assert_eq!(
            report.final_versions[0].version.as_ref().unwrap().as_str(),
            "1.1"
        );
        assert_eq!(report.installed_at, wire.installed_at);
        assert_eq!(report.failed_check.as_deref(), Some("web"));
        assert!(report.protection[0].from_journal);
        let back: Vec<VersionSeen> = report.recorded.iter().map(VersionSeen::from).collect();
        assert_eq!(back, wire.recorded);
    }

    #[test]
    fn a_bad_name_or_version_is_refused_naming_the_field() {
        check(
            report(vec![seen("<script>alert(1)</script>", Some("1"))], vec![]),
            "recorded[0].name: package name \"<script>alert(1)</script>\" has '<' at byte 0; \
             allowed: letters, digits and . + - _ (not first)",
        );
        check(
            report(
                vec![],
                vec![seen("nginx", Some("1")), seen("a", Some("1;rm"))],
            ),
            "final_versions[1].version: version \"1;rm\" has ';' at byte 1; \
             allowed: letters, digits and . + - ~ : _ ^ (not first)",
        );
        check(
            report(vec![seen("nginx", Some(""))], vec![]),
            "recorded[0].version: version is empty",
        );
        let mut drilled = report(vec![], vec![]);
        drilled.drill = Some(DrillReport {
            rolled_back_to: vec![seen("nginx", Some("1 2"))],
            ..DrillReport::started()
        });
        check(
            drilled,
            "drill.rolled_back_to[0].version: version \"1 2\" has ' ' at byte 1; \
             allowed: letters, digits and . + - ~ : _ ^ (not first)",
        );
        check(
            report(vec![seen("nginx", Some("1")), seen("nginx", None)], vec![]),
            "recorded[1].name: nginx is listed twice",
        );
    }

    #[test]
    fn pins_and_targets_convert_both_ways() {
        let pins = pw_protocol::pins(&[("nginx", "1.2"), ("libssl3", "3.0.2")]);
        let targets = targets_from_pins("targets", &pins).unwrap();
        assert_eq!(targets[0].to_string(), "nginx=1.2");
        assert_eq!(super::pins(&targets), pins);
        let bad = pw_protocol::pins(&[("nginx", "1.2"), ("libssl3", "--force")]);
        let error = targets_from_pins("targets", &bad).unwrap_err();
        assert_eq!(error.field, "targets[1].version");
        let twice = pw_protocol::pins(&[("nginx", "1.2"), ("nginx", "1.3")]);
        let error = targets_from_pins("targets", &twice).unwrap_err();
        assert_eq!(error.to_string(), "targets[1].name: nginx is listed twice");
    }
}
