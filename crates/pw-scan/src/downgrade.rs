//! Downgrade check (seed 003, issue 13): which advisories a downgrade brings back. Pure: the
//! caller gives the installed packages, the targets and the scan context.
//!
//! - A target is `PKG=VERSION`, the binary package and the exact version to go to; both are
//!   validated (pw-model's `PackageName`, pw-version's scheme) and the package must be installed.
//!   A target that is not lower than the installed version is an error naming it: a downgrade
//!   check of an upgrade would answer a question nobody asked.
//! - Matching is the scan's (pw-advisory's `Matcher`): on dpkg systems by the **source** package
//!   and its version. The target's source version follows the installed package's relation
//!   between binary and source version ([`target_source_version`]): a binNMU suffix `+bN` is
//!   dropped, a binary-only epoch (`bsdutils 1:2.38.1-5` from `util-linux 2.38.1-5`) is replaced
//!   by the source's; a binary whose version is unrelated to its source's (`gcc 4:12.2.0-3` from
//!   `gcc-defaults 1.203`) cannot be checked and is an error naming it.
//! - **Reintroduced**: a match at the target none of whose merged advisories matches at the
//!   installed version (a vulnerability present now is not brought back by the downgrade). Its
//!   tier, reasons and signals are the scan's classification under the same context.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use pw_advisory::Matcher;
use pw_model::{InstalledPackage, PackageName, PackageNameError, Tier};
use pw_version::{DebVersion, Scheme, VersionError};

use crate::{Intelligence, ScanContext, urgency};

/// One requested downgrade: a binary package and the exact version to go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DowngradeTarget {
    pub binary: PackageName,
    pub version: String,
}

impl DowngradeTarget {
    /// Parses `PKG=VERSION`, validating the name and the version in `scheme`.
    pub fn parse(text: &str, scheme: Scheme) -> Result<Self, DowngradeError> {
        let Some((name, version)) = text.split_once('=') else {
            return Err(DowngradeError::Syntax(text.to_owned()));
        };
        let binary = PackageName::parse(name).map_err(|error| DowngradeError::Name {
            given: text.to_owned(),
            error,
        })?;
        Self::new(binary, version, scheme)
    }

    /// A target from a validated name and a version checked here.
    pub fn new(binary: PackageName, version: &str, scheme: Scheme) -> Result<Self, DowngradeError> {
        scheme
            .validate(version)
            .map_err(|error| DowngradeError::Version {
                binary: binary.to_string(),
                version: version.to_owned(),
                error,
            })?;
        Ok(DowngradeTarget {
            binary,
            version: version.to_owned(),
        })
    }
}

impl fmt::Display for DowngradeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.binary, self.version)
    }
}

/// Why a downgrade target cannot be checked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DowngradeError {
    #[error("target {0:?}: expected PKG=VERSION (e.g. libssl3=3.0.15-1~deb12u1)")]
    Syntax(String),
    #[error("target {given:?}: {error}")]
    Name {
        given: String,
        error: PackageNameError,
    },
    #[error("target {binary}={version:?}: {error}")]
    Version {
        binary: String,
        version: String,
        error: VersionError,
    },
    #[error("target {0}: named more than once")]
    Duplicate(String),
    #[error("target {0}: the package is not installed")]
    NotInstalled(String),
    #[error(
        "target {binary}={target}: not lower than the installed {installed}, so not a downgrade"
    )]
    NotLower {
        binary: String,
        target: String,
        installed: String,
    },
    #[error(
        "target {binary}={target}: cannot tell its source version ({binary} {installed} is built from {source_package} {source_version}, an unrelated version); check the source package's binary instead"
    )]
    UnknownSource {
        binary: String,
        target: String,
        installed: String,
        source_package: String,
        source_version: String,
    },
}

/// One installed package and the version it goes to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DowngradeChange {
    pub binary: String,
    pub installed: String,
    pub target: String,
    /// The package advisories name (the source package on dpkg systems).
    pub package: String,
    /// `package`'s version now and at the target.
    pub package_installed: String,
    pub package_target: String,
}

/// An advisory that matches at the target but not at the installed version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reintroduced {
    pub binary: String,
    /// The version installed now, where the advisory does not match.
    pub installed: String,
    /// The binary's target version.
    pub target: String,
    /// The name matched: the source package on dpkg systems.
    pub package: String,
    /// `package`'s version at the target (what the advisory's ranges were compared with).
    pub package_version: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub tier: Tier,
    /// The lowest version fixing every merged advisory (the installed one is at or above it).
    pub fixed: Option<String>,
    pub reasons: Vec<String>,
    pub summary: String,
    pub cvss: Option<f64>,
    pub epss: Option<f64>,
    pub kev: bool,
}

/// The result of a downgrade check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DowngradeCheck {
    pub changes: Vec<DowngradeChange>,
    /// Most urgent first (tier, then binary and advisory).
    pub reintroduced: Vec<Reintroduced>,
}

impl DowngradeCheck {
    /// Reintroduced advisories per tier `[T0..T4]`.
    pub fn by_tier(&self) -> [usize; 5] {
        let mut counts = [0; 5];
        for r in &self.reintroduced {
            counts[r.tier.index()] += 1;
        }
        counts
    }

    /// The reintroduced advisories of tier `max` or more urgent (`T1`: T0 and T1).
    pub fn at_least(&self, max: Tier) -> impl Iterator<Item = &Reintroduced> {
        self.reintroduced.iter().filter(move |r| r.tier <= max)
    }
}

/// The source version of a binary package at `target`, following the installed package's
/// relation between its binary and source versions (module docs); `None` when they are
/// unrelated.
pub fn target_source_version(installed: &InstalledPackage, target: &str) -> Option<String> {
    let binary = strip_binnmu(&installed.version);
    let source = installed.source_version();
    let target = strip_binnmu(target);
    if binary == source {
        return Some(target.to_owned());
    }
    let (Ok(b), Ok(s), Ok(t)) = (
        DebVersion::parse(binary),
        DebVersion::parse(source),
        DebVersion::parse(target),
    ) else {
        return None;
    };
    // Only the epoch differs: the binary carries its own epoch, the source keeps its own.
    let rest = |v: &DebVersion| v.as_str()[v.epoch().map_or(0, |e| e.len() + 1)..].to_owned();
    if rest(&b) == rest(&s) && t.epoch() == b.epoch() {
        return Some(match s.epoch() {
            Some(epoch) => format!("{epoch}:{}", rest(&t)),
            None => rest(&t),
        });
    }
    None
}

/// `version` without a trailing binNMU suffix `+bN`.
fn strip_binnmu(version: &str) -> &str {
    match version.rsplit_once("+b") {
        Some((head, digits))
            if !head.is_empty()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => version,
    }
}

/// The installed packages a target changes and their packages at the target.
fn plan_changes(
    scheme: Scheme,
    packages: &[InstalledPackage],
    targets: &[DowngradeTarget],
) -> Result<(Vec<InstalledPackage>, Vec<InstalledPackage>), Vec<DowngradeError>> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    let (mut now, mut then) = (Vec::new(), Vec::new());
    for target in targets {
        let name = target.binary.as_str();
        if !seen.insert(name) {
            errors.push(DowngradeError::Duplicate(name.to_owned()));
            continue;
        }
        let installed: Vec<&InstalledPackage> =
            packages.iter().filter(|p| p.name == name).collect();
        if installed.is_empty() {
            errors.push(DowngradeError::NotInstalled(name.to_owned()));
        }
        for package in installed {
            match downgraded(scheme, package, &target.version) {
                Ok(lower) => {
                    now.push(package.clone());
                    then.push(lower);
                }
                Err(error) => errors.push(error),
            }
        }
    }
    if errors.is_empty() {
        Ok((now, then))
    } else {
        Err(errors)
    }
}

/// `package` at `target`, which must be lower than its installed version.
fn downgraded(
    scheme: Scheme,
    package: &InstalledPackage,
    target: &str,
) -> Result<InstalledPackage, DowngradeError> {
    if scheme.compare_unchecked(target, &package.version).is_ge() {
        return Err(DowngradeError::NotLower {
            binary: package.name.clone(),
            target: target.to_owned(),
            installed: package.version.clone(),
        });
    }
    let source_version = match scheme {
        Scheme::Rpm => None,
        Scheme::Dpkg => {
            let derived = target_source_version(package, target).ok_or_else(|| {
                DowngradeError::UnknownSource {
                    binary: package.name.clone(),
                    target: target.to_owned(),
                    installed: package.version.clone(),
                    source_package: package.source_name().to_owned(),
                    source_version: package.source_version().to_owned(),
                }
            })?;
            (derived != target).then_some(derived)
        }
    };
    Ok(InstalledPackage {
        version: target.to_owned(),
        source_version,
        ..package.clone()
    })
}

impl Intelligence {
    /// The advisories `targets` bring back on a host with `packages` installed (module docs).
    /// Every bad target is reported, not only the first.
    pub fn downgrade_check(
        &self,
        matcher: &mut Matcher<'_>,
        scheme: Scheme,
        packages: &[InstalledPackage],
        targets: &[DowngradeTarget],
        context: &ScanContext<'_>,
    ) -> Result<DowngradeCheck, Vec<DowngradeError>> {
        let (now, then) = plan_changes(scheme, packages, targets)?;
        let present: BTreeSet<(&str, &str)> = matcher
            .match_packages(&now)
            .iter()
            .flat_map(|m| {
                m.advisories
                    .iter()
                    .map(|a| (m.installed.name.as_str(), a.advisory.id.as_str()))
            })
            .collect();
        let mut reintroduced = Vec::new();
        let mut reported = BTreeSet::new();
        for m in matcher.match_packages(&then) {
            let binary = m.installed.name.as_str();
            if m.advisories
                .iter()
                .any(|a| present.contains(&(binary, a.advisory.id.as_str())))
            {
                continue;
            }
            let f = self.classify(&m, context).into_finding(&m);
            if !reported.insert((f.binary.clone(), f.advisory.clone())) {
                continue; // another architecture of the same binary
            }
            reintroduced.push(Reintroduced {
                installed: now[m.package_index].version.clone(),
                target: f.installed,
                binary: f.binary,
                package: f.package,
                package_version: f.package_version,
                advisory: f.advisory,
                aliases: f.aliases,
                tier: f.tier,
                fixed: f.fixed,
                reasons: f.reasons,
                summary: f.summary,
                cvss: f.cvss,
                epss: f.epss,
                kev: f.kev,
            });
        }
        reintroduced.sort_by(|a, b| {
            urgency(
                (a.tier, None::<Timestamp>, &a.binary, &a.advisory),
                (b.tier, None, &b.binary, &b.advisory),
            )
        });
        let mut changes: Vec<DowngradeChange> = now
            .iter()
            .zip(&then)
            .map(|(n, t)| DowngradeChange {
                binary: n.name.clone(),
                installed: n.version.clone(),
                target: t.version.clone(),
                package: n.source_name().to_owned(),
                package_installed: n.source_version().to_owned(),
                package_target: t.source_version().to_owned(),
            })
            .collect();
        changes.dedup();
        Ok(DowngradeCheck {
            changes,
            reintroduced,
        })
    }
}

#[cfg(test)]
mod tests;
