//! Evidence for the risk checklist, collected on this host without changing it: the dependency
//! simulation of exact targets, the availability of the installed versions (rollback), the
//! conffiles of the packages that change and which of them are locally modified, the systemd
//! services those packages ship (and whether they run), and the reboot flag. Every command is
//! argv through a [`Runner`] (`LC_ALL=C`, a timeout each); the output is read by pw-inventory's
//! parsers. A step that fails is reported in [`CollectedEvidence::problems`] and the others still
//! run: partial evidence is better than none, and the planner marks what is missing.

use std::collections::{BTreeMap, BTreeSet};

use pw_inventory::apt::{Availability, Simulation};
use pw_inventory::dpkg_query::{parse_systemctl_show, parse_verify, systemd_units};
use pw_inventory::{Conffile, parse_dpkg_conffiles};

use crate::apt::{LocalArchive, PackageTarget, QUERY_TIMEOUT, reboot_required};
use crate::runner::{Invocation, Runner};

/// What [`collect`] found, parsed.
#[derive(Debug, Clone, Default)]
pub struct CollectedEvidence {
    /// `apt-get -s install --no-install-recommends pkg=ver …`.
    pub simulation: Simulation,
    /// `apt-cache policy` of the targets and every installed package the simulation changes
    /// (`None`: apt-cache failed, see `problems`).
    pub availability: Option<Availability>,
    /// Conffiles of the installed packages that change, from the dpkg status database.
    pub conffiles: Option<BTreeMap<String, Vec<Conffile>>>,
    /// Their conffiles that `dpkg --verify` reports as changed or missing.
    pub modified_conffiles: Option<BTreeSet<String>>,
    /// Service units shipped by the installed packages that change.
    pub services: Vec<Service>,
    /// `Some(packages that asked)` when `/run/reboot-required` exists.
    pub reboot_required: Option<Vec<String>>,
    /// Steps that failed, with the reason.
    pub problems: Vec<String>,
}

/// A systemd service unit shipped by a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub package: String,
    /// `cron.service`.
    pub unit: String,
    /// `None` when systemd is not the init system (containers): unknown.
    pub running: Option<bool>,
}

/// systemd's own test for "booted with systemd" (`sd_booted`).
const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";

/// Collects the evidence for installing exactly `targets`. Fails only when nothing can run.
pub fn collect(
    runner: &dyn Runner,
    targets: &[PackageTarget],
) -> anyhow::Result<CollectedEvidence> {
    collect_with(runner, targets, false, None)
}

/// [`collect`], simulating with `--allow-downgrades` when `downgrades` (a downgrade change),
/// and with a downgrade plan's local `archive` offered to apt-get and apt-cache beside the
/// host's sources (`--with-source`, for these runs only).
pub fn collect_with(
    runner: &dyn Runner,
    targets: &[PackageTarget],
    downgrades: bool,
    archive: Option<&LocalArchive>,
) -> anyhow::Result<CollectedEvidence> {
    let extra = archive.map(LocalArchive::apt_args).unwrap_or_default();
    let mut out = CollectedEvidence::default();
    let mut args = vec![
        "-s".to_owned(),
        "-q".to_owned(),
        "install".to_owned(),
        "--no-install-recommends".to_owned(),
    ];
    if downgrades {
        args.push("--allow-downgrades".to_owned());
    }
    args.extend(extra.iter().cloned());
    args.extend(targets.iter().map(PackageTarget::apt_argument));
    let simulate = Invocation::new("apt-get", args).timeout(QUERY_TIMEOUT);
    // apt exits 100 with `E:` lines on stderr when it refuses: those are the evidence.
    let output = runner.run(&simulate)?;
    out.simulation = Simulation::parse(&format!(
        "{}\n{}",
        output.stdout_text(),
        output.stderr_text()
    ));
    if !output.success() && out.simulation.errors.is_empty() {
        out.problems.push(format!(
            "{} exited {:?}: {}",
            simulate.display(),
            output.code,
            output.tail(5)
        ));
    }
    // Upgrades and downgrades alike: every installed package whose version changes.
    let changed: Vec<String> = out
        .simulation
        .upgrades()
        .into_iter()
        .map(|(package, _, _)| package.to_owned())
        .collect();
    let mut queried: BTreeSet<String> = changed.iter().cloned().collect();
    queried.extend(targets.iter().map(|t| t.package.to_string()));
    let policy: Vec<&str> = ["policy"]
        .into_iter()
        .chain(extra.iter().map(String::as_str))
        .collect();
    out.availability =
        query(runner, &mut out.problems, "apt-cache", &policy, &queried).map(|text| {
            let mut availability = Availability::default();
            availability.add_policy(&text);
            availability
        });
    conffiles(runner, &changed, &mut out);
    services(runner, &changed, &mut out);
    out.reboot_required = reboot_required(runner).unwrap_or_else(|error| {
        out.problems.push(format!("reboot flag: {error:#}"));
        None
    });
    Ok(out)
}

/// Conffiles of `packages` (`dpkg-query -s`) and the locally modified ones (`dpkg --verify`).
fn conffiles(runner: &dyn Runner, packages: &[String], out: &mut CollectedEvidence) {
    if packages.is_empty() {
        out.conffiles = Some(BTreeMap::new());
        out.modified_conffiles = Some(BTreeSet::new());
        return;
    }
    let Some(status) = query(runner, &mut out.problems, "dpkg-query", &["-s"], packages) else {
        return;
    };
    let parsed = parse_dpkg_conffiles(status.as_bytes());
    out.problems.extend(
        parsed
            .problems
            .iter()
            .map(|p| format!("dpkg-query -s: {p}")),
    );
    let paths: BTreeSet<String> = parsed
        .packages
        .values()
        .flatten()
        .map(|c| c.path.clone())
        .collect();
    out.conffiles = Some(parsed.packages);
    // `dpkg --verify` exits 1 when it finds something: its output is the answer.
    let args = ["--verify".to_owned()]
        .into_iter()
        .chain(packages.iter().cloned());
    let verify = Invocation::new("dpkg", args).timeout(QUERY_TIMEOUT);
    match runner.run(&verify) {
        Ok(output) if output.code.is_some_and(|c| c <= 1) => {
            let modified = parse_verify(&output.stdout_text());
            out.modified_conffiles = Some(modified.intersection(&paths).cloned().collect());
        }
        Ok(output) => out.problems.push(format!(
            "{} exited {:?}: {}",
            verify.display(),
            output.code,
            output.tail(5)
        )),
        Err(error) => out.problems.push(format!("{error:#}")),
    }
}

/// Service units each package ships (`dpkg-query -L`), and whether they run.
fn services(runner: &dyn Runner, packages: &[String], out: &mut CollectedEvidence) {
    for package in packages {
        let Some(files) = query(
            runner,
            &mut out.problems,
            "dpkg-query",
            &["-L"],
            std::slice::from_ref(package),
        ) else {
            continue;
        };
        out.services
            .extend(systemd_units(&files).into_iter().map(|unit| Service {
                package: package.clone(),
                unit,
                running: None,
            }));
    }
    if out.services.is_empty() {
        return;
    }
    let booted = runner
        .run(&Invocation::new("test", ["-d", SYSTEMD_RUNTIME_DIR]))
        .is_ok_and(|o| o.success());
    if !booted {
        return;
    }
    let units: Vec<String> = out.services.iter().map(|s| s.unit.clone()).collect();
    let options = ["show", "-p", "Id", "-p", "ActiveState", "-p", "SubState"];
    let Some(text) = query(runner, &mut out.problems, "systemctl", &options, &units) else {
        return;
    };
    let states = parse_systemctl_show(&text);
    for service in &mut out.services {
        service.running = states
            .iter()
            .find(|s| s.id == service.unit)
            .map(|s| s.is_running());
    }
}

/// Runs `program OPTIONS… ITEMS…` and returns its stdout, or records why not.
fn query<'a>(
    runner: &dyn Runner,
    problems: &mut Vec<String>,
    program: &str,
    options: &[&str],
    items: impl IntoIterator<Item = &'a String>,
) -> Option<String> {
    let args: Vec<String> = options
        .iter()
        .map(|o| (*o).to_owned())
        .chain(items.into_iter().cloned())
        .collect();
    let invocation = Invocation::new(program, args).timeout(QUERY_TIMEOUT);
    match runner.run_ok(&invocation) {
        Ok(output) => Some(output.stdout_text()),
        Err(error) => {
            problems.push(format!("{error:#}"));
            None
        }
    }
}
