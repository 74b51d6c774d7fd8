//! Parsers for real apt output: the dependency simulation `apt-get -s install pkg=ver …` and the
//! version availability of `apt-cache madison` / `apt-cache policy`. Run them with `LC_ALL=C`:
//! only the untranslated messages are understood.
//!
//! Quirks honoured here (see tests/data/ for the captured output):
//! - simulation lines are `Inst NAME [OLD] (NEW ORIGIN… [ARCH])` (the `[OLD]` part is missing for
//!   new installs; an upgrade that others depend on ends with ` []`), `Remv NAME [OLD]`,
//!   `Purg NAME [OLD]` and `Conf NAME (NEW ORIGIN… [ARCH])`; names may carry `:arch`;
//! - failures are `E: …` lines (exit status 100) and nothing is simulated then;
//! - in `apt-cache policy`, a version whose only source is `/var/lib/dpkg/status` is installed but
//!   no longer downloadable: a package-level rollback to it is impossible.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What `apt-get -s` would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Simulation {
    pub actions: Vec<Action>,
    /// `E:` lines: apt refused (missing version, unmet dependencies).
    pub errors: Vec<String>,
    /// `W:` lines.
    pub warnings: Vec<String>,
}

/// One simulated dpkg action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// `Inst`: install or upgrade (or downgrade) `package` to `version`.
    Install {
        package: String,
        from: Option<String>,
        version: String,
        origin: String,
    },
    /// `Remv` or `Purg`.
    Remove {
        package: String,
        from: Option<String>,
        purge: bool,
    },
    /// `Conf`.
    Configure { package: String, version: String },
}

impl Simulation {
    /// Parses `apt-get -s` output; lines that are not actions or messages are skipped.
    pub fn parse(text: &str) -> Simulation {
        let mut out = Simulation::default();
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(message) = line.strip_prefix("E: ") {
                out.errors.push(message.to_owned());
            } else if let Some(message) = line.strip_prefix("W: ") {
                out.warnings.push(message.to_owned());
            } else if let Some(action) = parse_action(line) {
                out.actions.push(action);
            }
        }
        out
    }

    /// Installs of packages that were not installed before.
    pub fn new_packages(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Install {
                    package,
                    from: None,
                    ..
                } => Some(package.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Packages removed or purged.
    pub fn removed_packages(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Remove { package, .. } => Some(package.as_str()),
                _ => None,
            })
            .collect()
    }

    /// `(package, from, to)` for every changed installed package.
    pub fn upgrades(&self) -> Vec<(&str, &str, &str)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Install {
                    package,
                    from: Some(from),
                    version,
                    ..
                } => Some((package.as_str(), from.as_str(), version.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Every package installed or upgraded, with its new version.
    pub fn installs(&self) -> BTreeMap<&str, &str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Install {
                    package, version, ..
                } => Some((package.as_str(), version.as_str())),
                _ => None,
            })
            .collect()
    }
}

fn parse_action(line: &str) -> Option<Action> {
    let (verb, rest) = line.split_once(' ')?;
    let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let package = strip_arch(name).to_owned();
    let rest = rest.trim();
    let (from, rest) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (old, after) = inner.split_once(']')?;
            (Some(old.to_owned()), after.trim())
        }
        None => (None, rest),
    };
    let parenthesised = || -> Option<(String, String)> {
        let inner = rest.strip_prefix('(')?;
        let close = inner.rfind(')')?;
        let inner = &inner[..close];
        let (version, origin) = inner.split_once(' ').unwrap_or((inner, ""));
        let origin = match origin.rfind(" [") {
            Some(at) => &origin[..at],
            None => origin,
        };
        Some((version.to_owned(), origin.trim().to_owned()))
    };
    match verb {
        "Inst" => {
            let (version, origin) = parenthesised()?;
            Some(Action::Install {
                package,
                from,
                version,
                origin,
            })
        }
        "Remv" | "Purg" => Some(Action::Remove {
            package,
            from,
            purge: verb == "Purg",
        }),
        "Conf" => {
            let (version, _) = parenthesised()?;
            Some(Action::Configure { package, version })
        }
        _ => None,
    }
}

fn strip_arch(name: &str) -> &str {
    name.split_once(':').map_or(name, |(base, _)| base)
}

/// Which versions of which packages the host's sources can still deliver.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Availability {
    pub packages: BTreeMap<String, PackageAvailability>,
}

/// Versions of one package.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackageAvailability {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Versions offered by at least one repository (not only by the dpkg status file).
    pub downloadable: BTreeSet<String>,
}

impl Availability {
    /// Whether `version` of `package` can be downloaded; `None` when the package is unknown here.
    pub fn can_download(&self, package: &str, version: &str) -> Option<bool> {
        self.packages
            .get(package)
            .map(|p| p.downloadable.contains(version))
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
#[path = "apt_tests.rs"]
mod tests;
