//! apt and dpkg on a Debian host, through a [`Runner`]: exact-version installs, rollback to
//! recorded versions, package states, pending updates with their origin/suite, `dpkg --audit`
//! and the reboot-required flag. The output is read by pw-inventory's parsers
//! (`pw_inventory::apt`, `pw_inventory::dpkg_query`), the one home of package-tool parsing. Package names and versions are validated
//! ([`PackageName`], [`DebVersion`]) and passed as single argv entries, never through a shell.
//!
//! Every apt run is non-interactive and keeps locally modified conffiles
//! (`DEBIAN_FRONTEND=noninteractive` only silences debconf; dpkg's conffile prompt needs
//! `--force-confdef --force-confold`, else dpkg fails on the closed stdin and leaves the package
//! `iU`). Success of an install is judged by dpkg's own state afterwards, not by apt's exit code
//! alone: every target must be `ii` at exactly the requested version.

use std::time::Duration;

use anyhow::{Context, bail};
use pw_model::PackageName;
use pw_version::DebVersion;

pub use pw_inventory::apt::{AptOrigin, PendingUpdate};
pub use pw_inventory::dpkg_query::{DPKG_QUERY_FORMAT, PackageState};
use pw_inventory::{apt::parse_simulated_upgrade, dpkg_query};

use crate::runner::{CommandOutput, Invocation, Runner};

mod archive;
pub use archive::LocalArchive;

/// Time limit of one apt-get install/update run (a real upgrade can take minutes).
pub const APT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Time limit of queries (dpkg-query, simulations, dpkg --audit).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Debian's reboot flag and the packages that raised it.
pub const REBOOT_REQUIRED_PATH: &str = "/run/reboot-required";
pub const REBOOT_REQUIRED_PKGS_PATH: &str = "/run/reboot-required.pkgs";

/// The options every changing apt-get run gets (before the package arguments).
pub const APT_INSTALL_OPTIONS: [&str; 9] = [
    "-y",
    "-q",
    "--no-install-recommends",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "DPkg::Lock::Timeout=120",
];

/// A package at an exact version, both validated.
#[derive(Debug, Clone)]
pub struct PackageTarget {
    pub package: PackageName,
    pub version: DebVersion,
}

impl PackageTarget {
    /// Validates a name and a dpkg version.
    pub fn parse(package: &str, version: &str) -> anyhow::Result<Self> {
        Ok(PackageTarget {
            package: PackageName::parse(package)?,
            version: DebVersion::parse(version).with_context(|| format!("version of {package}"))?,
        })
    }

    /// The `pkg=ver` argv entry.
    pub fn apt_argument(&self) -> String {
        format!("{}={}", self.package, self.version)
    }
}

/// A package's state before a change: the exact version present, or `None` when it was not
/// installed (rolling back then removes it).
#[derive(Debug, Clone)]
pub struct RecordedVersion {
    pub package: PackageName,
    pub version: Option<DebVersion>,
}

impl RecordedVersion {
    /// `pkg=ver` to reinstall the version, `pkg-` to remove a package that was absent.
    pub fn apt_argument(&self) -> String {
        match &self.version {
            Some(version) => format!("{}={version}", self.package),
            None => format!("{}-", self.package),
        }
    }
}

/// What an install or rollback did, judged by dpkg's state afterwards.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    /// The argv that ran, for logs.
    pub command: String,
    pub exit_code: Option<i32>,
    /// The end of apt's output (stdout and stderr).
    pub output_tail: String,
    /// Targets not `ii` at the wanted version afterwards: `(package, wanted, found state)`.
    pub mismatches: Vec<(String, String, String)>,
}

impl ApplyOutcome {
    /// apt exited 0 and every package is exactly where it was asked to be.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.mismatches.is_empty()
    }
}

/// `apt-get update`.
pub fn update(runner: &dyn Runner) -> anyhow::Result<CommandOutput> {
    runner.run_ok(&apt_get(["update", "-q"]).timeout(APT_TIMEOUT))
}

/// Every package dpkg knows, with version and status.
pub fn package_states(runner: &dyn Runner) -> anyhow::Result<Vec<PackageState>> {
    let output = runner.run_ok(
        &Invocation::new("dpkg-query", ["-W", "-f", DPKG_QUERY_FORMAT]).timeout(QUERY_TIMEOUT),
    )?;
    let (states, problems) = dpkg_query::parse_package_states(&output.stdout_text());
    if !problems.is_empty() {
        bail!(
            "dpkg-query output on {} not understood: {}",
            runner.target(),
            problems.join("; ")
        );
    }
    Ok(states)
}

/// The exact versions of `packages` now (before a change): `None` for packages not present.
pub fn record_versions(
    runner: &dyn Runner,
    packages: &[PackageName],
) -> anyhow::Result<Vec<RecordedVersion>> {
    let states = package_states(runner)?;
    packages
        .iter()
        .map(|package| {
            let state = states
                .iter()
                .find(|s| &s.package == package && s.is_present());
            let version = match state {
                Some(state) => Some(DebVersion::parse(&state.version).with_context(|| {
                    format!("installed version of {package} on {}", runner.target())
                })?),
                None => None,
            };
            Ok(RecordedVersion {
                package: package.clone(),
                version,
            })
        })
        .collect()
}

/// Installs exactly these lower versions (`--allow-downgrades`): only for a downgrade change,
/// whose targets the agent checked first (lower than installed, available, simulated).
pub fn install_downgrade(
    runner: &dyn Runner,
    targets: &[PackageTarget],
) -> anyhow::Result<ApplyOutcome> {
    install_with(runner, targets, true, false, None)
}

/// Installs exactly these versions (upgrades only: a lower version is refused by apt).
pub fn install_exact(
    runner: &dyn Runner,
    targets: &[PackageTarget],
) -> anyhow::Result<ApplyOutcome> {
    install_with(runner, targets, false, false, None)
}

/// Installs exactly these versions; lower ones only with `allow_downgrades` (a checked
/// downgrade change). With `replace_conffiles`, a conffile both the host and the new package
/// changed takes the package's version (dpkg `--force-confnew`, the host's copy kept as
/// `.dpkg-old`) instead of keeping the host's. A downgrade plan's local `archive` is offered
/// to apt for this run only, beside the host's sources.
pub fn install_with(
    runner: &dyn Runner,
    targets: &[PackageTarget],
    allow_downgrades: bool,
    replace_conffiles: bool,
    archive: Option<&LocalArchive>,
) -> anyhow::Result<ApplyOutcome> {
    apply(
        runner,
        Flags {
            allow_downgrades,
            replace_conffiles,
            archive,
        },
        targets.iter().map(PackageTarget::apt_argument).collect(),
        targets
            .iter()
            .map(|t| (t.package.clone(), Some(t.version.as_str().to_owned())))
            .collect(),
    )
}

/// Puts packages back to their recorded versions (`--allow-downgrades`), removing those that
/// were absent. Works over half-configured packages left by a failed postinst.
pub fn rollback(runner: &dyn Runner, recorded: &[RecordedVersion]) -> anyhow::Result<ApplyOutcome> {
    rollback_with(runner, recorded, None)
}

/// [`rollback`], with a downgrade plan's local `archive` offered to apt beside the host's
/// sources (a recorded version only the archive still has).
pub fn rollback_with(
    runner: &dyn Runner,
    recorded: &[RecordedVersion],
    archive: Option<&LocalArchive>,
) -> anyhow::Result<ApplyOutcome> {
    finish_interrupted(runner)?;
    apply(
        runner,
        Flags {
            allow_downgrades: true,
            replace_conffiles: false,
            archive,
        },
        recorded.iter().map(RecordedVersion::apt_argument).collect(),
        recorded
            .iter()
            .map(|r| {
                (
                    r.package.clone(),
                    r.version.as_ref().map(|v| v.as_str().to_owned()),
                )
            })
            .collect(),
    )
}

/// Installed packages with a newer candidate, and where the candidate comes from
/// (`apt-get -s dist-upgrade`; run [`update`] first for fresh lists).
pub fn pending_updates(runner: &dyn Runner) -> anyhow::Result<Vec<PendingUpdate>> {
    let output = runner.run_ok(&apt_get(["-s", "-q", "dist-upgrade"]).timeout(QUERY_TIMEOUT))?;
    let (updates, problems) = parse_simulated_upgrade(&output.stdout_text());
    if !problems.is_empty() {
        bail!(
            "apt-get -s output on {} not understood: {}",
            runner.target(),
            problems.join("; ")
        );
    }
    Ok(updates)
}

/// `dpkg --configure -a`, keeping local conffiles: finishes a dpkg run that was interrupted (the
/// agent or its host killed mid-install), without which apt refuses every install with "dpkg was
/// interrupted". Its own failure (e.g. the new version's failing postinst again) is not an error:
/// the rollback that follows replaces the half-configured package.
pub fn finish_interrupted(runner: &dyn Runner) -> anyhow::Result<CommandOutput> {
    let invocation = Invocation::new(
        "dpkg",
        ["--force-confdef", "--force-confold", "--configure", "-a"],
    )
    .env("DEBIAN_FRONTEND", "noninteractive")
    .timeout(APT_TIMEOUT);
    runner.run(&invocation)
}

/// `dpkg --audit`: the packages left half-installed or half-configured (empty when clean).
pub fn audit(runner: &dyn Runner) -> anyhow::Result<Vec<String>> {
    let output = runner.run(&Invocation::new("dpkg", ["--audit"]).timeout(QUERY_TIMEOUT))?;
    let problems = dpkg_query::parse_audit(&output.stdout_text());
    if !output.success() && problems.is_empty() {
        bail!(
            "dpkg --audit on {} failed (exit {:?}): {}",
            runner.target(),
            output.code,
            output.tail(10)
        );
    }
    Ok(problems)
}

/// Whether the host asks for a reboot (`/run/reboot-required`), and which packages asked.
pub fn reboot_required(runner: &dyn Runner) -> anyhow::Result<Option<Vec<String>>> {
    let flag = runner.run(&Invocation::new("test", ["-e", REBOOT_REQUIRED_PATH]))?;
    if !flag.success() {
        return Ok(None);
    }
    let packages = runner.run(&Invocation::new("cat", ["--", REBOOT_REQUIRED_PKGS_PATH]))?;
    Ok(Some(if packages.success() {
        dpkg_query::parse_reboot_packages(&packages.stdout_text())
    } else {
        Vec::new()
    }))
}

fn apt_get<const N: usize>(args: [&str; N]) -> Invocation {
    Invocation::new("apt-get", args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("APT_LISTCHANGES_FRONTEND", "none")
}

/// How an install treats lower versions and conffiles, and the local archive it may use.
#[derive(Debug, Clone, Copy)]
struct Flags<'a> {
    allow_downgrades: bool,
    replace_conffiles: bool,
    archive: Option<&'a LocalArchive>,
}

/// Runs `apt-get install <options> [--allow-downgrades] [--with-source DEB…] ARGS…`, then
/// compares dpkg's state with `expected` (`None`: the package must be gone).
fn apply(
    runner: &dyn Runner,
    flags: Flags<'_>,
    package_args: Vec<String>,
    expected: Vec<(PackageName, Option<String>)>,
) -> anyhow::Result<ApplyOutcome> {
    if package_args.is_empty() {
        bail!("nothing to install on {}", runner.target());
    }
    let mut args: Vec<String> = vec!["install".to_owned()];
    args.extend(APT_INSTALL_OPTIONS.iter().map(|option| {
        match (*option, flags.replace_conffiles) {
            ("Dpkg::Options::=--force-confold", true) => "Dpkg::Options::=--force-confnew",
            (option, _) => option,
        }
        .to_owned()
    }));
    if flags.allow_downgrades {
        args.push("--allow-downgrades".to_owned());
    }
    args.extend(
        flags
            .archive
            .map(LocalArchive::apt_args)
            .unwrap_or_default(),
    );
    args.extend(package_args);
    let mut invocation = apt_get([]).timeout(APT_TIMEOUT);
    invocation.args = args;
    let output = runner.run(&invocation)?;
    let states = package_states(runner)?;
    let mismatches = expected
        .into_iter()
        .filter_map(|(package, wanted)| {
            let state = states.iter().find(|s| s.package == package);
            let found = state.map_or("not known to dpkg".to_owned(), |s| {
                format!("{} {}", s.status, s.version)
            });
            let ok = match (&wanted, state) {
                (Some(version), Some(s)) => s.is_installed_ok() && &s.version == version,
                (Some(_), None) => false,
                (None, state) => state.is_none_or(|s| !s.is_present()),
            };
            (!ok).then(|| {
                let wanted = wanted.unwrap_or_else(|| "absent".to_owned());
                (package.to_string(), wanted, found)
            })
        })
        .collect();
    Ok(ApplyOutcome {
        command: invocation.display(),
        exit_code: output.code,
        output_tail: output.tail(25),
        mismatches,
    })
}
