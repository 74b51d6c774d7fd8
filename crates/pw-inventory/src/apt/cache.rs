//! `apt-cache policy` and `apt-cache madison` output: which versions of which packages the
//! host's sources can still deliver (is the installed version downloadable, for a rollback?).

use std::collections::{BTreeMap, BTreeSet};

use super::strip_arch;

/// Which versions of which packages the host's sources can still deliver.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Availability {
    pub packages: BTreeMap<String, PackageAvailability>,
}

/// Versions of one package.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageAvailability {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Versions offered by at least one repository (not only by the dpkg status file).
    pub downloadable: BTreeSet<String>,
    /// Where each downloadable version comes from, as `apt-cache policy` names it
    /// (`file:/repo security/main amd64 Packages`, or a `.deb` file given with
    /// `--with-source`); empty from `madison`.
    pub sources: BTreeMap<String, BTreeSet<String>>,
}

impl Availability {
    /// Whether `version` of `package` can be downloaded; `None` when the package is unknown here.
    pub fn can_download(&self, package: &str, version: &str) -> Option<bool> {
        self.packages
            .get(package)
            .map(|p| p.downloadable.contains(version))
    }

    /// The sources offering `version` of `package` (from `apt-cache policy`).
    pub fn sources_of(&self, package: &str, version: &str) -> Vec<&str> {
        self.packages
            .get(package)
            .and_then(|p| p.sources.get(version))
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Adds the output of `apt-cache madison PKG…` (`NAME | VERSION | SOURCE` lines; source
    /// package lines ending in `Sources` are skipped).
    pub fn add_madison(&mut self, text: &str) {
        for line in text.lines() {
            let mut fields = line.split('|').map(str::trim);
            let (Some(name), Some(version), Some(source)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if name.is_empty() || version.is_empty() || source.ends_with("Sources") {
                continue;
            }
            self.packages
                .entry(strip_arch(name).to_owned())
                .or_default()
                .downloadable
                .insert(version.to_owned());
        }
    }

    /// Adds the output of `apt-cache policy PKG…`.
    pub fn add_policy(&mut self, text: &str) {
        let mut current: Option<String> = None;
        let mut version: Option<String> = None;
        for line in text.lines() {
            if !line.starts_with(' ') {
                current = line
                    .strip_suffix(':')
                    .map(|name| strip_arch(name).to_owned());
                version = None;
                if let Some(name) = &current {
                    self.packages.entry(name.clone()).or_default();
                }
                continue;
            }
            let Some(name) = &current else { continue };
            let entry = self.packages.entry(name.clone()).or_default();
            let trimmed = line.trim();
            if let Some(value) = trimmed.strip_prefix("Installed:") {
                entry.installed = known(value);
            } else if let Some(value) = trimmed.strip_prefix("Candidate:") {
                entry.candidate = known(value);
            } else if trimmed == "Version table:" {
                continue;
            } else if let Some((first, rest)) = version_line(line) {
                // "     3.0.22-1~deb12u2 500" or " *** 3.0.19-1~deb12u2 100"
                version = Some(first);
                let _ = rest;
            } else if let Some(current_version) = &version {
                // "        500 http://… Packages" or "        100 /var/lib/dpkg/status"
                let mut words = trimmed.split_whitespace();
                let _priority = words.next();
                let source = words.collect::<Vec<_>>().join(" ");
                if !source.is_empty() && source != "/var/lib/dpkg/status" {
                    entry.downloadable.insert(current_version.clone());
                    (entry.sources.entry(current_version.clone()).or_default()).insert(source);
                }
            }
        }
    }
}

fn known(value: &str) -> Option<String> {
    let value = value.trim();
    (value != "(none)" && !value.is_empty()).then(|| value.to_owned())
}

/// A version-table line: 5 leading characters (spaces or ` *** `), then `VERSION PRIORITY`.
fn version_line(line: &str) -> Option<(String, String)> {
    let indent = line.len() - line.trim_start().len();
    let body = line
        .trim_start()
        .strip_prefix("*** ")
        .unwrap_or(line.trim_start());
    let is_marked = line.trim_start().starts_with("*** ");
    if !(indent == 5 || is_marked) {
        return None;
    }
    let mut words = body.split_whitespace();
    let version = words.next()?.to_owned();
    let priority = words.next()?;
    if words.next().is_some() || !priority.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return None;
    }
    Some((version, priority.to_owned()))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
