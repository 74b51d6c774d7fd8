//! The one place where evidence collected by agents (pw-protocol's wire types) becomes the
//! planner's input, and where the agent builds that wire form from pw-inventory's parsed output.
//!
//! Wire → domain (`TryFrom<&EvidenceReport> for Evidence`) validates every package name
//! (`pw_model::PackageName`), every version (dpkg syntax), conffile paths and unit names, and
//! names the offending field as a path into the document (`simulation.actions[3].package: …`),
//! so the controller refuses a malformed report at its edge (422) and only stores what the
//! planner can read. Domain → wire cannot fail. Errors are pw-rollout's [`WireError`], the
//! protocol's one error shape.

use std::collections::{BTreeMap, BTreeSet};

use pw_inventory::Conffile;
use pw_inventory::apt::{Action, Availability, PackageAvailability, Simulation};
use pw_model::PackageName;
use pw_protocol::{
    ConffileEvidence, EvidenceReport, PROTOCOL_VERSION, RebootEvidence, ServiceEvidence,
    SimulatedAction, SimulationEvidence, VersionAvailability,
};
use pw_rollout::wire::{WireError, targets_from_pins};
use pw_version::Scheme;

use crate::fleet::Evidence;
use crate::knowledge::is_kernel;

impl TryFrom<&EvidenceReport> for Evidence {
    type Error = WireError;

    /// The planner's input from a stored or received report: simulation, availability,
    /// conffiles and the locally modified ones (`None` where the agent could not tell).
    fn try_from(report: &EvidenceReport) -> Result<Self, WireError> {
        validate(report)?;
        Ok(Evidence {
            simulation: Some(simulation(&report.simulation)),
            availability: report.availability.as_deref().map(availability),
            conffiles: report.conffiles.as_deref().map(conffiles),
            modified_conffiles: modified_conffiles(report),
        })
    }
}

/// The simulation as sent.
pub fn simulation_to_wire(simulation: &Simulation) -> SimulationEvidence {
    SimulationEvidence {
        actions: simulation.actions.iter().map(action_to_wire).collect(),
        errors: simulation.errors.clone(),
        warnings: simulation.warnings.clone(),
    }
}

/// Availability as sent: one entry per package, versions sorted.
pub fn availability_to_wire(availability: &Availability) -> Vec<VersionAvailability> {
    availability
        .packages
        .iter()
        .map(|(package, versions)| VersionAvailability {
            package: package.clone(),
            installed: versions.installed.clone(),
            candidate: versions.candidate.clone(),
            downloadable: versions.downloadable.iter().cloned().collect(),
        })
        .collect()
}

/// The reboot flag as found (`Some(packages that asked)` when set) and the kernels among the
/// simulation's installs ([`is_kernel`]).
pub fn reboot_to_wire(required: Option<Vec<String>>, simulation: &Simulation) -> RebootEvidence {
    RebootEvidence {
        required_now: required.is_some(),
        required_by: required.unwrap_or_default(),
        kernel_packages: simulation
            .installs()
            .into_keys()
            .filter(|p| is_kernel(p))
            .map(str::to_owned)
            .collect(),
    }
}

fn validate(report: &EvidenceReport) -> Result<(), WireError> {
    if report.protocol_version != PROTOCOL_VERSION {
        let problem = format!("expected {PROTOCOL_VERSION}");
        return Err(error("protocol_version", problem));
    }
    targets_from_pins("targets", &report.targets)?;
    for (index, action) in report.simulation.actions.iter().enumerate() {
        validate_action(action).map_err(|e| e.within(&format!("simulation.actions[{index}]")))?;
    }
    for (index, entry) in report.availability.iter().flatten().enumerate() {
        let at = format!("availability[{index}]");
        package(&format!("{at}.package"), &entry.package)?;
        if let Some(value) = &entry.installed {
            version(&format!("{at}.installed"), value)?;
        }
        if let Some(value) = &entry.candidate {
            version(&format!("{at}.candidate"), value)?;
        }
        for (i, value) in entry.downloadable.iter().enumerate() {
            version(&format!("{at}.downloadable[{i}]"), value)?;
        }
    }
    for (index, conffile) in report.conffiles.iter().flatten().enumerate() {
        let at = format!("conffiles[{index}]");
        package(&format!("{at}.package"), &conffile.package)?;
        if !conffile.path.starts_with('/') || conffile.path.contains('\0') {
            return Err(error(format!("{at}.path"), "not an absolute path"));
        }
    }
    for (index, service) in report.services.iter().enumerate() {
        validate_service(service).map_err(|e| e.within(&format!("services[{index}]")))?;
    }
    let reboot = &report.reboot;
    for (index, name) in reboot.required_by.iter().enumerate() {
        package(&format!("reboot.required_by[{index}]"), name)?;
    }
    for (index, name) in reboot.kernel_packages.iter().enumerate() {
        package(&format!("reboot.kernel_packages[{index}]"), name)?;
    }
    Ok(())
}

fn validate_action(action: &SimulatedAction) -> Result<(), WireError> {
    let (name, from, to) = match action {
        SimulatedAction::Install {
            package,
            from,
            version,
            ..
        } => (package, from.as_ref(), Some(version)),
        SimulatedAction::Remove { package, from, .. } => (package, from.as_ref(), None),
        SimulatedAction::Configure { package, version } => (package, None, Some(version)),
    };
    package("package", name)?;
    if let Some(value) = from {
        version("from", value)?;
    }
    if let Some(value) = to {
        version("version", value)?;
    }
    Ok(())
}

fn validate_service(service: &ServiceEvidence) -> Result<(), WireError> {
    package("package", &service.package)?;
    let name = service.unit.strip_suffix(".service").unwrap_or_default();
    if name.is_empty() || name.contains(['/', '\0', ' ']) {
        return Err(error("unit", "not a NAME.service unit"));
    }
    Ok(())
}

fn error(field: impl Into<String>, problem: impl Into<String>) -> WireError {
    WireError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn package(field: &str, name: &str) -> Result<(), WireError> {
    PackageName::parse(name)
        .map(drop)
        .map_err(|e| error(field, e.to_string()))
}

fn version(field: &str, value: &str) -> Result<(), WireError> {
    Scheme::Dpkg
        .validate(value)
        .map_err(|e| error(field, e.to_string()))
}

fn action_to_wire(action: &Action) -> SimulatedAction {
    match action.clone() {
        Action::Install {
            package,
            from,
            version,
            origin,
            arch,
        } => SimulatedAction::Install {
            package,
            from,
            version,
            origin,
            arch,
        },
        Action::Remove {
            package,
            from,
            purge,
        } => SimulatedAction::Remove {
            package,
            from,
            purge,
        },
        Action::Configure { package, version } => SimulatedAction::Configure { package, version },
    }
}

fn action(action: &SimulatedAction) -> Action {
    match action.clone() {
        SimulatedAction::Install {
            package,
            from,
            version,
            origin,
            arch,
        } => Action::Install {
            package,
            from,
            version,
            origin,
            arch,
        },
        SimulatedAction::Remove {
            package,
            from,
            purge,
        } => Action::Remove {
            package,
            from,
            purge,
        },
        SimulatedAction::Configure { package, version } => Action::Configure { package, version },
    }
}

fn simulation(evidence: &SimulationEvidence) -> Simulation {
    Simulation {
        actions: evidence.actions.iter().map(action).collect(),
        errors: evidence.errors.clone(),
        warnings: evidence.warnings.clone(),
        problems: Vec::new(),
    }
}

fn availability(entries: &[VersionAvailability]) -> Availability {
    Availability {
        packages: entries
            .iter()
            .map(|e| {
                let versions = PackageAvailability {
                    installed: e.installed.clone(),
                    candidate: e.candidate.clone(),
                    downloadable: e.downloadable.iter().cloned().collect(),
                    sources: Default::default(),
                };
                (e.package.clone(), versions)
            })
            .collect(),
    }
}

fn conffiles(entries: &[ConffileEvidence]) -> BTreeMap<String, Vec<Conffile>> {
    let mut by_package: BTreeMap<String, Vec<Conffile>> = BTreeMap::new();
    for e in entries {
        by_package
            .entry(e.package.clone())
            .or_default()
            .push(Conffile {
                path: e.path.clone(),
                md5: e.md5.clone(),
                obsolete: e.obsolete,
            });
    }
    by_package
}

/// Paths `dpkg --verify` found modified; `None` when it did not run for every conffile.
fn modified_conffiles(report: &EvidenceReport) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for conffile in report.conffiles.as_ref()? {
        if conffile.modified? {
            out.insert(conffile.path.clone());
        }
    }
    Some(out)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
