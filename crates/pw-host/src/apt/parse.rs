//! Pure parsers for the apt/dpkg output the agent reads (run with `LC_ALL=C`; fixtures captured on
//! real Debian 12 hosts of the test bed live in `tests/data/apt/`).
//!
//! Quirks honoured here:
//! - `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`: the status is three
//!   characters, the third a space when there is no error flag (`ii `, `iF `, `iU `, `rc `); a
//!   package whose configuration failed is `iF`, one stopped at a conffile prompt `iU`. Packages
//!   known only by name (`un`) have an empty version.
//! - `apt-get -s dist-upgrade` lines are `Inst NAME [OLD] (NEW ORIGINS [ARCH])`, where ORIGINS is
//!   a comma-separated list of `Label:Version/Suite` (`Debian-Security:12/stable-security`,
//!   `PatchwardenTest-Security:12/security`); a line may end with a broken-dependency bracket
//!   (`… [all]) [pw-demo-web:amd64 ]`); names may carry `:arch`. `Conf`/`Remv` lines and
//!   messages are skipped. `apt list --upgradable` is not used: apt warns that its CLI is not
//!   stable.
//! - `/run/reboot-required.pkgs` gets one line per postinst run, so names repeat.

use pw_model::PackageName;

/// One line of `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageState {
    pub package: PackageName,
    /// Empty when dpkg knows the name but nothing is installed.
    pub version: String,
    /// The status abbreviation without trailing spaces: `ii`, `iF`, `iU`, `rc`, `un`, `iHR`…
    pub status: String,
}

impl PackageState {
    /// Installed and fully configured, with no error flag.
    pub fn is_installed_ok(&self) -> bool {
        self.status == "ii"
    }

    /// Files of some version are on disk (installed, half-installed or half-configured).
    pub fn is_present(&self) -> bool {
        !self.version.is_empty()
            && matches!(
                self.status.as_bytes().get(1),
                Some(b'i' | b'F' | b'U' | b'H' | b'W' | b't')
            )
    }
}

/// The `dpkg-query` format string matching [`parse_package_states`].
pub const DPKG_QUERY_FORMAT: &str = "${Package}\t${Version}\t${db:Status-Abbrev}\n";

/// Parses `dpkg-query -W -f DPKG_QUERY_FORMAT` output. Lines that do not have three fields or
/// whose name is not a valid package name are returned as problems (`line N: …`).
pub fn parse_package_states(text: &str) -> (Vec<PackageState>, Vec<String>) {
    let mut states = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(name), Some(version), Some(status), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            problems.push(format!(
                "line {}: expected 3 tab-separated fields: {line:?}",
                index + 1
            ));
            continue;
        };
        match PackageName::parse(name) {
            Ok(package) => states.push(PackageState {
                package,
                version: version.to_owned(),
                status: status.trim_end().to_owned(),
            }),
            Err(error) => problems.push(format!("line {}: {error}", index + 1)),
        }
    }
    (states, problems)
}

/// Where a candidate version comes from, as `apt-get -s` prints it: `Label:Version/Suite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptOrigin {
    /// The Release file's `Label` (`Debian-Security`, `PatchwardenTest-Security`).
    pub label: String,
    /// The Release file's `Version` (`12`), empty when the Release has none.
    pub release: String,
    /// The archive (Release `Suite`): `stable-security`, `bookworm-updates`, `security`.
    pub suite: String,
}

impl AptOrigin {
    /// Parses one `Label:Version/Suite` item.
    pub fn parse(text: &str) -> AptOrigin {
        let (head, suite) = text.rsplit_once('/').unwrap_or((text, ""));
        let (label, release) = head.split_once(':').unwrap_or((head, ""));
        AptOrigin {
            label: label.to_owned(),
            release: release.to_owned(),
            suite: suite.to_owned(),
        }
    }

    /// A security archive: the suite is `security` or ends in `-security`, or the label says so
    /// (`Debian-Security`, `Ubuntu` uses `…-security` suites).
    pub fn is_security(&self) -> bool {
        self.suite == "security"
            || self.suite.ends_with("-security")
            || self.label.to_ascii_lowercase().ends_with("-security")
    }
}

/// An installed package with a newer candidate version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpdate {
    pub package: PackageName,
    pub installed: String,
    pub candidate: String,
    /// Every archive that offers the candidate (usually one).
    pub origins: Vec<AptOrigin>,
    pub architecture: String,
}

impl PendingUpdate {
    /// Offered by a security archive.
    pub fn is_security(&self) -> bool {
        self.origins.iter().any(AptOrigin::is_security)
    }
}

/// Parses `apt-get -s dist-upgrade` (or `upgrade`) output into the upgrades of installed
/// packages. New installs (no `[OLD]`), removals and configure steps are not pending updates.
/// Returns problems for `Inst` lines that could not be understood.
pub fn parse_simulated_upgrade(text: &str) -> (Vec<PendingUpdate>, Vec<String>) {
    let mut updates = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        match parse_inst(rest) {
            Some(Some(update)) => updates.push(update),
            Some(None) => {}
            None => problems.push(format!(
                "line {}: unexpected Inst line: {line:?}",
                index + 1
            )),
        }
    }
    (updates, problems)
}

/// `Some(None)` for a new install, `None` when the line cannot be read.
fn parse_inst(rest: &str) -> Option<Option<PendingUpdate>> {
    let (name, rest) = rest.split_once(' ')?;
    let name = name.split_once(':').map_or(name, |(n, _)| n);
    let package = PackageName::parse(name).ok()?;
    let rest = rest.trim_start();
    let Some(after_bracket) = rest.strip_prefix('[') else {
        return rest.starts_with('(').then_some(None);
    };
    let (installed, rest) = after_bracket.split_once(']')?;
    let inner = rest.trim_start().strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    let (candidate, rest) = inner.split_once(' ')?;
    let (origins, architecture) = match rest.rfind(" [") {
        Some(at) => (&rest[..at], rest[at + 2..].trim_end_matches(']')),
        None => (rest, ""),
    };
    Some(Some(PendingUpdate {
        package,
        installed: installed.to_owned(),
        candidate: candidate.to_owned(),
        origins: origins
            .split(", ")
            .filter(|o| !o.is_empty())
            .map(AptOrigin::parse)
            .collect(),
        architecture: architecture.to_owned(),
    }))
}

/// `/run/reboot-required.pkgs`: package names in first-seen order, without repeats or blanks.
pub fn parse_reboot_packages(text: &str) -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for name in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !seen.iter().any(|s| s == name) {
            seen.push(name.to_owned());
        }
    }
    seen
}

/// `dpkg --audit` output as a list of problem paragraphs (empty output: nothing to report).
pub fn parse_audit(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
