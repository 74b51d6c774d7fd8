//! `apt-get -s` output: the simulated dpkg actions, apt's messages, and the upgrades of
//! installed packages with the archives offering them.

use std::collections::BTreeMap;

use pw_model::PackageName;

use super::strip_arch;

/// What `apt-get -s` would do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Simulation {
    pub actions: Vec<Action>,
    /// `E:` lines: apt refused (missing version, unmet dependencies).
    pub errors: Vec<String>,
    /// `W:` lines.
    pub warnings: Vec<String>,
    /// Action lines (`Inst`, `Remv`, `Purg`, `Conf`) that could not be read; skipped.
    pub problems: Vec<SimulationProblem>,
}

/// One simulated dpkg action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `Inst`: install or upgrade (or downgrade) `package` to `version`.
    Install {
        package: String,
        from: Option<String>,
        version: String,
        /// The archives offering `version`, as printed (`Debian:12.6/stable, Debian-Security:…`).
        origin: String,
        /// The architecture in the closing bracket (`amd64`, `all`); empty when absent.
        arch: String,
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

/// An action line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: unexpected {verb} line: {text:?}")]
pub struct SimulationProblem {
    /// 1-based.
    pub line: usize,
    /// `Inst`, `Remv`, `Purg` or `Conf`.
    pub verb: &'static str,
    pub text: String,
}

impl Simulation {
    /// Parses `apt-get -s` output; lines that are not actions or messages are skipped, action
    /// lines that cannot be read (or name an invalid package) are kept as problems.
    pub fn parse(text: &str) -> Simulation {
        let mut out = Simulation::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if let Some(message) = line.strip_prefix("E: ") {
                out.errors.push(message.to_owned());
            } else if let Some(message) = line.strip_prefix("W: ") {
                out.warnings.push(message.to_owned());
            } else if let Some((verb, rest)) = action_verb(line) {
                match parse_action(verb, rest) {
                    Some(action) => out.actions.push(action),
                    None => out.problems.push(SimulationProblem {
                        line: index + 1,
                        verb,
                        text: line.to_owned(),
                    }),
                }
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

/// `("Inst", rest)` for an action line.
fn action_verb(line: &str) -> Option<(&'static str, &str)> {
    ["Inst", "Remv", "Purg", "Conf"]
        .into_iter()
        .find_map(|verb| {
            line.strip_prefix(verb)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|rest| (verb, rest))
        })
}

/// The action of one line after its verb; `None` when it cannot be read.
fn parse_action(verb: &str, rest: &str) -> Option<Action> {
    let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let package = strip_arch(name);
    PackageName::parse(package).ok()?;
    let package = package.to_owned();
    let rest = rest.trim();
    let (from, rest) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (old, after) = inner.split_once(']')?;
            (Some(old.to_owned()), after.trim())
        }
        None => (None, rest),
    };
    match verb {
        "Inst" => {
            let (version, origin, arch) = parenthesised(rest)?;
            Some(Action::Install {
                package,
                from,
                version,
                origin,
                arch,
            })
        }
        "Conf" => {
            let (version, _, _) = parenthesised(rest)?;
            Some(Action::Configure { package, version })
        }
        _ => Some(Action::Remove {
            package,
            from,
            purge: verb == "Purg",
        }),
    }
}

/// `(NEW ORIGINS [ARCH])` → `(NEW, ORIGINS, ARCH)`; what follows the `)` is ignored.
fn parenthesised(rest: &str) -> Option<(String, String, String)> {
    let inner = rest.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    let (version, origins) = inner.split_once(' ').unwrap_or((inner, ""));
    if version.is_empty() {
        return None;
    }
    let (origin, arch) = match origins.rfind(" [") {
        Some(at) => (&origins[..at], origins[at + 2..].trim_end_matches(']')),
        None => (origins, ""),
    };
    Some((
        version.to_owned(),
        origin.trim().to_owned(),
        arch.to_owned(),
    ))
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

    /// Every item of a comma-separated `ORIGINS` list.
    pub fn parse_list(text: &str) -> Vec<AptOrigin> {
        text.split(", ")
            .filter(|o| !o.is_empty())
            .map(AptOrigin::parse)
            .collect()
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

/// The upgrades of installed packages in `apt-get -s dist-upgrade` (or `upgrade`) output. New
/// installs (no `[OLD]`), removals and configure steps are not pending updates. Returns the
/// problems of `Inst` lines that could not be understood.
pub fn parse_simulated_upgrade(text: &str) -> (Vec<PendingUpdate>, Vec<String>) {
    let simulation = Simulation::parse(text);
    let problems = simulation
        .problems
        .iter()
        .filter(|p| p.verb == "Inst")
        .map(ToString::to_string)
        .collect();
    let updates = simulation
        .actions
        .into_iter()
        .filter_map(|action| match action {
            Action::Install {
                package,
                from: Some(installed),
                version,
                origin,
                arch,
            } => Some(PendingUpdate {
                // Validated by the parser.
                package: PackageName::parse(&package).ok()?,
                installed,
                candidate: version,
                origins: AptOrigin::parse_list(&origin),
                architecture: arch,
            }),
            _ => None,
        })
        .collect();
    (updates, problems)
}

#[cfg(test)]
#[path = "simulation_tests.rs"]
mod tests;
