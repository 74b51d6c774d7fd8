//! A downgrade change's own checks (docs/downgrade.md), run by the guard after recording the
//! versions and before anything changes: every target is lower than its installed version,
//! every target is offered by this host's sources or the plan's local archive (`apt-cache
//! policy`, the archive's `.deb` files given with `--with-source`), apt can install exactly
//! these versions with downgrades allowed (`apt-get -s install --allow-downgrades`, the same
//! files offered; its lines kept as evidence), and the conffiles of the packages that change
//! are read (`dpkg --verify`, `stat`) so that their permissions can be compared after the
//! change. A failed check stops the change before anything is touched.

use anyhow::bail;
use pw_host::Runner;
use pw_host::apt::{LocalArchive, PackageTarget, RecordedVersion};
use pw_host::permissions::{self, FileState};
use pw_inventory::apt::Action;
use pw_protocol::DowngradeReport;
use pw_version::compare_dpkg;

/// A downgrade that passed its checks: the report so far and the files to read again.
pub struct Checked {
    report: DowngradeReport,
    packages: Vec<String>,
    before: Vec<FileState>,
}

/// Checks the targets, with the plan's local `archive` (already opened) offered to apt beside
/// the host's sources; the report so far (simulation, availability, files before).
pub fn check(
    runner: &dyn Runner,
    targets: &[PackageTarget],
    recorded: &[RecordedVersion],
    archive: Option<&LocalArchive>,
) -> anyhow::Result<Checked> {
    for target in targets {
        let installed = recorded
            .iter()
            .find(|r| r.package == target.package)
            .and_then(|r| r.version.as_ref());
        let Some(installed) = installed else {
            bail!(
                "{} is not installed: a downgrade changes installed packages only",
                target.package
            );
        };
        if compare_dpkg(target.version.as_str(), installed.as_str()).is_ge() {
            bail!(
                "{} is not lower than the installed {installed}: not a downgrade",
                target.apt_argument()
            );
        }
    }
    let evidence = pw_host::evidence::collect_with(runner, targets, true, archive)?;
    // Availability first: a target nobody offers is named with where it was looked for.
    let Some(availability) = &evidence.availability else {
        bail!(
            "cannot tell whether the targets are available: {}",
            evidence.problems.join("; ")
        );
    };
    let (mut available, mut from_archive) = (Vec::new(), Vec::new());
    for target in targets {
        let (name, version) = (target.package.as_str(), target.version.as_str());
        if availability.can_download(name, version) != Some(true) {
            let archive = archive.map_or("no local archive named by the plan".to_owned(), |a| {
                format!("nor in the local archive {}", a.describe())
            });
            bail!(
                "{name} {version} is not available: not offered by this host's sources \
                 (apt-cache policy {name}), {archive}"
            );
        }
        let sources = availability.sources_of(name, version);
        if archive.is_some_and(|a| sources.iter().any(|s| a.offers(s))) {
            from_archive.push(target.apt_argument());
        }
        available.push(target.apt_argument());
    }
    if !evidence.simulation.errors.is_empty() {
        bail!(
            "apt refuses the downgrade (apt-get -s install --allow-downgrades{}): {}",
            archive.map_or(String::new(), |a| format!(
                ", local archive {}",
                a.describe()
            )),
            evidence.simulation.errors.join("; ")
        );
    }
    let packages = changed_packages(&evidence.simulation.actions, targets);
    let before = permissions::file_states(runner, &packages)?;
    let report = DowngradeReport {
        simulation: evidence.simulation.actions.iter().map(line).collect(),
        available,
        archive: archive.map(|a| a.dir.clone()),
        archive_files: archive.map(|a| a.debs.clone()).unwrap_or_default(),
        from_archive,
        files_before: files(&before),
        files_after: Vec::new(),
        files_changed: Vec::new(),
    };
    Ok(Checked {
        report,
        packages,
        before,
    })
}

/// Reads the files again after the change (or its rollback) and names what differs.
pub fn finish(runner: &dyn Runner, checked: Checked) -> DowngradeReport {
    let mut report = checked.report;
    match permissions::file_states(runner, &checked.packages) {
        Ok(after) => {
            report.files_changed = permissions::compare(&checked.before, &after);
            report.files_after = files(&after);
        }
        Err(error) => report.files_changed.push(format!(
            "the files could not be read after the change: {error:#}"
        )),
    }
    report
}

/// The installed packages the simulation changes (the targets and what they drag along).
fn changed_packages(actions: &[Action], targets: &[PackageTarget]) -> Vec<String> {
    let mut out: Vec<String> = targets.iter().map(|t| t.package.to_string()).collect();
    out.extend(actions.iter().filter_map(|a| match a {
        Action::Install {
            package,
            from: Some(_),
            ..
        } => Some(package.clone()),
        _ => None,
    }));
    out.sort();
    out.dedup();
    out
}

fn line(action: &Action) -> String {
    match action {
        Action::Install {
            package,
            from,
            version,
            origin,
            ..
        } => match from {
            Some(from) => format!("Inst {package} [{from}] ({version} {origin})"),
            None => format!("Inst {package} ({version} {origin})"),
        },
        Action::Remove { package, from, .. } => {
            format!("Remv {package} [{}]", from.as_deref().unwrap_or(""))
        }
        Action::Configure { package, version } => format!("Conf {package} ({version})"),
    }
}

/// pw-host's file states in wire form.
fn files(states: &[FileState]) -> Vec<pw_protocol::FileState> {
    states
        .iter()
        .map(|s| pw_protocol::FileState {
            path: s.path.clone(),
            mode: s.mode.as_ref().map(|m| m.mode.clone()),
            owner: s.mode.as_ref().map(|m| m.owner.clone()),
            group: s.mode.as_ref().map(|m| m.group.clone()),
            modified: s.modified,
        })
        .collect()
}
