//! Identifiers and package versions the engine talks about: rollout and host ids, exact target
//! versions and versions recorded before a change.
//!
//! Versions reach `apt-get install pkg=ver` / `dnf install pkg-ver` as argv entries, so they are
//! validated here like package names (no leading `-`, no spaces or shell words). The engine never
//! compares versions: it only checks that what the agent reports equals what was asked or recorded.

use std::collections::BTreeMap;
use std::fmt;

use pw_model::PackageName;
use serde::{Deserialize, Serialize};

/// A rollout's id (the controller's primary key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RolloutId(pub String);

/// A host's id (the inventory's primary key, not its hostname).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostId(pub String);

impl fmt::Display for RolloutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An exact package version with epoch and revision (`1:2.4.57-2+deb12u1`, `3.0.7-27.el9`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ExactVersion(Box<str>);

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version is empty")]
    Empty,
    #[error("version \"{0}\" is longer than 256 bytes")]
    TooLong(String),
    #[error(
        "version \"{text}\" has {found:?} at byte {position}; allowed: letters, digits and . + - ~ : _ ^ (not first)"
    )]
    BadChar {
        text: String,
        position: usize,
        found: char,
    },
}

impl ExactVersion {
    /// Validates an exact version.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        if text.len() > 256 {
            return Err(VersionError::TooLong(text.to_owned()));
        }
        for (position, found) in text.char_indices() {
            let ok = found.is_ascii_alphanumeric()
                || (position > 0 && matches!(found, '.' | '+' | '-' | '~' | ':' | '_' | '^'));
            if !ok {
                return Err(VersionError::BadChar {
                    text: text.to_owned(),
                    position,
                    found,
                });
            }
        }
        Ok(ExactVersion(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExactVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExactVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl<'de> Deserialize<'de> for ExactVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ExactVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One package at the exact version the plan installs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    pub package: PackageName,
    pub version: ExactVersion,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.package, self.version)
    }
}

/// A package's version as found on the host before the change; `None` when it was not installed
/// (rolling back then removes it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Recorded {
    pub package: PackageName,
    pub version: Option<ExactVersion>,
}

/// Versions by package, for comparing a report with what was asked.
pub(crate) fn by_package(versions: &[Recorded]) -> BTreeMap<&PackageName, Option<&ExactVersion>> {
    versions
        .iter()
        .map(|r| (&r.package, r.version.as_ref()))
        .collect()
}

/// Whether `reported` shows every package of `recorded` at its recorded version (a package
/// missing from the report counts as not installed).
pub(crate) fn matches_recorded(recorded: &[Recorded], reported: &[Recorded]) -> bool {
    let reported = by_package(reported);
    recorded
        .iter()
        .all(|r| reported.get(&r.package).copied().flatten() == r.version.as_ref())
}

/// Whether `reported` shows every target installed at its exact version.
pub(crate) fn matches_targets(targets: &[Target], reported: &[Recorded]) -> bool {
    let reported = by_package(reported);
    targets
        .iter()
        .all(|t| reported.get(&t.package).copied().flatten() == Some(&t.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_accept_real_ones_and_refuse_options() {
        for text in ["1:2.4.57-2+deb12u1", "3.0.7-27.el9", "1.0~rc1", "2.0^git1"] {
            assert_eq!(ExactVersion::parse(text).unwrap().as_str(), text);
        }
        assert_eq!(ExactVersion::parse(""), Err(VersionError::Empty));
        assert!(matches!(
            ExactVersion::parse("-1"),
            Err(VersionError::BadChar { position: 0, .. })
        ));
        assert!(matches!(
            ExactVersion::parse("1 ;rm"),
            Err(VersionError::BadChar { position: 1, .. })
        ));
        assert!(matches!(
            ExactVersion::parse(&"1".repeat(257)),
            Err(VersionError::TooLong(_))
        ));
        assert!(serde_json::from_str::<ExactVersion>("\"--force\"").is_err());
    }

    #[test]
    fn reports_match_only_exact_versions() {
        let p = |n: &str| PackageName::parse(n).unwrap();
        let v = |t: &str| ExactVersion::parse(t).unwrap();
        let recorded = vec![
            Recorded {
                package: p("a"),
                version: Some(v("1")),
            },
            Recorded {
                package: p("b"),
                version: None,
            },
        ];
        let same = vec![Recorded {
            package: p("a"),
            version: Some(v("1")),
        }];
        assert!(matches_recorded(&recorded, &same));
        let left_b = vec![
            Recorded {
                package: p("a"),
                version: Some(v("1")),
            },
            Recorded {
                package: p("b"),
                version: Some(v("2")),
            },
        ];
        assert!(!matches_recorded(&recorded, &left_b));
        let targets = vec![Target {
            package: p("a"),
            version: v("2"),
        }];
        assert!(!matches_targets(&targets, &same));
        let upgraded = vec![Recorded {
            package: p("a"),
            version: Some(v("2")),
        }];
        assert!(matches_targets(&targets, &upgraded));
    }
}
