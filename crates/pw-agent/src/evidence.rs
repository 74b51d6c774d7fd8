//! `collect_evidence`: the risk checklist's evidence for exact targets, collected through a
//! [`Runner`] by pw-host (read-only commands, parsed with pw-inventory) and sent as the typed
//! [`EvidenceReport`] (built by `pw_planner::wire`, the one place for that conversion). Runs blocking commands: call from `spawn_blocking`.

use jiff::Timestamp;
use pw_host::Runner;
use pw_host::apt::{LocalArchive, PackageTarget};
use pw_host::evidence::{CollectedEvidence, collect_with};
use pw_planner::wire::{availability_to_wire, reboot_to_wire, simulation_to_wire};
use pw_protocol::{
    ConffileEvidence, EvidenceReport, PROTOCOL_VERSION, PackagePin, ServiceEvidence,
};

/// Collects the evidence for installing exactly `targets` on the host behind `runner`; `now`
/// is stamped as `collected_at` once everything ran.
pub fn collect_evidence(
    runner: &dyn Runner,
    targets: &[PackagePin],
    now: impl FnOnce() -> Timestamp,
) -> anyhow::Result<EvidenceReport> {
    collect_evidence_with(runner, targets, None, now)
}

/// [`collect_evidence`] with a downgrade plan's local `archive` offered to apt (checked first:
/// an archive that cannot be used is a problem of the report, and the evidence is collected
/// from the host's sources alone).
pub fn collect_evidence_with(
    runner: &dyn Runner,
    targets: &[PackagePin],
    archive: Option<&str>,
    now: impl FnOnce() -> Timestamp,
) -> anyhow::Result<EvidenceReport> {
    let parsed = targets
        .iter()
        .map(|t| PackageTarget::parse(&t.name, &t.version))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opened = archive.map(|dir| LocalArchive::open(runner, dir));
    let usable = opened.as_ref().and_then(|o| o.as_ref().ok());
    let mut collected = collect_with(runner, &parsed, false, usable)?;
    if let Some(Err(error)) = opened {
        collected.problems.push(format!("{error:#}"));
    }
    Ok(report(targets, collected, now()))
}

/// One line for the command's result message.
pub fn summary(report: &EvidenceReport) -> String {
    let upgrades = report
        .simulation
        .actions
        .iter()
        .filter(|a| matches!(a, pw_protocol::SimulatedAction::Install { .. }))
        .count();
    format!(
        "evidence collected: {upgrades} install(s) simulated, {} apt error(s), {} conffile(s), {} service(s), {} problem(s)",
        report.simulation.errors.len(),
        report.conffiles.as_ref().map_or(0, Vec::len),
        report.services.len(),
        report.problems.len()
    )
}

fn report(targets: &[PackagePin], collected: CollectedEvidence, now: Timestamp) -> EvidenceReport {
    let modified = collected.modified_conffiles.as_ref();
    let conffiles = collected.conffiles.as_ref().map(|by_package| {
        by_package
            .iter()
            .flat_map(|(package, files)| {
                files.iter().map(move |file| ConffileEvidence {
                    package: package.clone(),
                    path: file.path.clone(),
                    md5: file.md5.clone(),
                    obsolete: file.obsolete,
                    modified: modified.map(|m| m.contains(&file.path)),
                })
            })
            .collect()
    });
    EvidenceReport {
        protocol_version: PROTOCOL_VERSION,
        targets: targets.to_vec(),
        collected_at: now,
        simulation: simulation_to_wire(&collected.simulation),
        availability: collected.availability.as_ref().map(availability_to_wire),
        conffiles,
        services: collected
            .services
            .into_iter()
            .map(|s| ServiceEvidence {
                package: s.package,
                unit: s.unit,
                running: s.running,
            })
            .collect(),
        reboot: reboot_to_wire(collected.reboot_required, &collected.simulation),
        problems: collected.problems,
    }
}
