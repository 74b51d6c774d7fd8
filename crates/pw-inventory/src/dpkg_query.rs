//! Output of dpkg's query tools and of the files dpkg and its maintainer scripts leave behind:
//! `dpkg-query -W` package states, `dpkg --verify`, `dpkg-query -L` file lists (and the systemd
//! units among them), `dpkg --audit`, `/run/reboot-required.pkgs`, and `systemctl show` for the
//! units found. Run with `LC_ALL=C`. Conffiles are read from the status database by
//! [`crate::parse_dpkg_conffiles`], the same deb822 reader as the inventory.
//!
//! Quirks honoured here (captured output in `tests/data/apt/`):
//! - `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`: the status is three
//!   characters, the third a space when there is no error flag (`ii `, `iF `, `iU `, `rc `); a
//!   package whose configuration failed is `iF`, one stopped at a conffile prompt `iU`. Packages
//!   known only by name (`un`) have an empty version.
//! - `dpkg --verify` prints one line per problem as a 9-character check string (`??5??????`,
//!   `5` = content differs, or `missing  `), a space, an attribute (`c` for a conffile), a space
//!   and the path.
//! - `dpkg-query -L PKG…` lists paths one per line, packages separated by a blank line, and
//!   `package diverts others to: …` / `diverted by …` notes that are not paths.
//! - `/run/reboot-required.pkgs` gets one line per postinst run, so names repeat.

use std::collections::BTreeSet;

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
/// The note that another process holds dpkg's lock is no problem and is left out.
pub fn parse_audit(text: &str) -> Vec<String> {
    audit_paragraphs(text)
        .filter(|p| !p.starts_with(AUDIT_LOCKED))
        .map(str::to_owned)
        .collect()
}

/// The start of the note `dpkg --audit` prints first while another process holds its lock.
const AUDIT_LOCKED: &str = "Another process has locked the database";

fn audit_paragraphs(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n").map(str::trim).filter(|p| !p.is_empty())
}

/// `dpkg --audit` output, each problem with the packages it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpkgAudit {
    /// Another process held dpkg's lock: the problems may be its work in progress.
    pub locked: bool,
    pub problems: Vec<AuditProblem>,
}

/// One paragraph of `dpkg --audit`: dpkg's explanation and the packages listed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProblem {
    /// The explanation's first line (`The following packages are only half configured, …`).
    pub summary: String,
    /// The names of the indented package lines (` pw-demo   description`), in order.
    pub packages: Vec<String>,
}

/// Parses `dpkg --audit` (exit 0 even with problems; empty output: nothing to report).
pub fn parse_dpkg_audit(text: &str) -> DpkgAudit {
    let mut out = DpkgAudit::default();
    for paragraph in audit_paragraphs(text) {
        if paragraph.starts_with(AUDIT_LOCKED) {
            out.locked = true;
            continue;
        }
        let mut lines = paragraph.lines();
        let summary = lines.next().unwrap_or_default().trim().to_owned();
        let packages = lines
            .filter(|l| l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        out.problems.push(AuditProblem { summary, packages });
    }
    out
}

/// Conffiles reported by `dpkg --verify` as changed or missing.
pub fn parse_verify(output: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in output.lines() {
        if line.len() < 13 || !line.is_char_boundary(9) || !line.is_char_boundary(12) {
            continue;
        }
        let (checks, rest) = line.split_at(9);
        let Some(path) = rest.strip_prefix(" c ") else {
            continue;
        };
        let changed = checks.as_bytes().get(2) == Some(&b'5') || checks.trim() == "missing";
        if changed && path.starts_with('/') {
            out.insert(path.to_owned());
        }
    }
    out
}

/// Directories whose `*.service` files are the systemd units a Debian package ships.
pub const SYSTEMD_UNIT_DIRS: [&str; 2] = ["/lib/systemd/system/", "/usr/lib/systemd/system/"];

/// The systemd service units among the paths of `dpkg-query -L PKG…` output (`cron.service`),
/// sorted, without repeats. Template units (`getty@.service`) are left out: no instance of them
/// runs under that name.
pub fn systemd_units(file_list: &str) -> Vec<String> {
    let units: BTreeSet<&str> = file_list
        .lines()
        .map(str::trim_end)
        .filter_map(|path| {
            SYSTEMD_UNIT_DIRS
                .iter()
                .find_map(|dir| path.strip_prefix(dir))
        })
        .filter(|unit| {
            unit.ends_with(".service") && !unit.contains('/') && !unit.ends_with("@.service")
        })
        .collect();
    units.into_iter().map(str::to_owned).collect()
}

/// One unit of `systemctl show -p Id -p ActiveState -p SubState UNIT…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    pub id: String,
    /// `active`, `inactive`, `failed`, `activating`…
    pub active_state: String,
    /// `running`, `exited`, `dead`…
    pub sub_state: String,
}

impl UnitState {
    /// The unit's process runs (what a package upgrade restarts).
    pub fn is_running(&self) -> bool {
        self.active_state == "active" && self.sub_state == "running"
    }
}

/// `systemctl show` output: `Key=value` blocks separated by blank lines, in any key order.
/// Blocks without an `Id` are skipped.
pub fn parse_systemctl_show(text: &str) -> Vec<UnitState> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut unit = UnitState {
            id: String::new(),
            active_state: String::new(),
            sub_state: String::new(),
        };
        for (key, value) in block.lines().filter_map(|l| l.split_once('=')) {
            let slot = match key.trim() {
                "Id" => &mut unit.id,
                "ActiveState" => &mut unit.active_state,
                "SubState" => &mut unit.sub_state,
                _ => continue,
            };
            *slot = value.trim().to_owned();
        }
        if !unit.id.is_empty() {
            out.push(unit);
        }
    }
    out
}

#[cfg(test)]
#[path = "dpkg_query_tests.rs"]
mod tests;
