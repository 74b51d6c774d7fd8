//! Operating-system releases and how they map to OSV ecosystem strings.
//!
//! OSV ecosystems carry the release: `Debian:12`, `Ubuntu:22.04:LTS` (interim releases have no
//! `:LTS` suffix; Ubuntu Pro/ESM entries are `Ubuntu:Pro:18.04:LTS`), `AlmaLinux:9`,
//! `Rocky Linux:9`, `Red Hat:…`. A host matches the plain ecosystem of its release, and the Pro
//! ecosystem only when it is attached to Ubuntu Pro.

use std::fmt;

use pw_version::Scheme;

/// A distribution family patchwarden knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    Debian,
    Ubuntu,
    AlmaLinux,
    Rocky,
    Rhel,
}

impl OsFamily {
    /// The version scheme of the family's package manager.
    pub fn scheme(self) -> Scheme {
        match self {
            OsFamily::Debian | OsFamily::Ubuntu => Scheme::Dpkg,
            OsFamily::AlmaLinux | OsFamily::Rocky | OsFamily::Rhel => Scheme::Rpm,
        }
    }

    /// The family's word in `family:release` (`debian`, `almalinux`, …), lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Debian => "debian",
            OsFamily::Ubuntu => "ubuntu",
            OsFamily::AlmaLinux => "almalinux",
            OsFamily::Rocky => "rocky",
            OsFamily::Rhel => "rhel",
        }
    }
}

/// A family and release, written `debian:12`, `ubuntu:22.04`, `almalinux:9`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OsRelease {
    pub family: OsFamily,
    /// The release number as the distribution writes it (`12`, `22.04`, `9`).
    pub release: String,
}

/// An unknown or malformed OS release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid OS release \"{input}\": {problem} (expected e.g. debian:12, ubuntu:22.04, almalinux:9)"
)]
pub struct OsReleaseError {
    pub input: String,
    pub problem: &'static str,
}

impl OsRelease {
    /// Parses `family:release`.
    pub fn parse(text: &str) -> Result<Self, OsReleaseError> {
        let fail = |problem| OsReleaseError {
            input: text.to_owned(),
            problem,
        };
        let (family, release) = text.split_once(':').ok_or_else(|| fail("missing ':'"))?;
        let family = match family.to_ascii_lowercase().as_str() {
            "debian" => OsFamily::Debian,
            "ubuntu" => OsFamily::Ubuntu,
            "almalinux" | "alma" => OsFamily::AlmaLinux,
            "rocky" | "rockylinux" => OsFamily::Rocky,
            "rhel" | "redhat" => OsFamily::Rhel,
            _ => return Err(fail("unknown family")),
        };
        let valid = !release.is_empty()
            && release.len() <= 16
            && release.starts_with(|c: char| c.is_ascii_digit())
            && release.chars().all(|c| c.is_ascii_digit() || c == '.');
        if !valid {
            return Err(fail("the release must be a number like 12 or 22.04"));
        }
        if family == OsFamily::Ubuntu && !release.contains('.') {
            return Err(fail("Ubuntu releases are written YY.MM"));
        }
        Ok(OsRelease {
            family,
            release: release.to_owned(),
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.family.scheme()
    }

    /// Whether an Ubuntu release is a long-term-support one (`YY.04` with an even year).
    fn is_ubuntu_lts(&self) -> bool {
        let mut parts = self.release.split('.');
        let year = parts.next().and_then(|y| y.parse::<u32>().ok());
        matches!((year, parts.next()), (Some(y), Some("04")) if y % 2 == 0)
    }

    /// The OSV ecosystem string of this release (`Debian:12`, `Ubuntu:22.04:LTS`, …). For RHEL
    /// the major version is used, like the RHEL-rebuild OSV feeds.
    pub fn osv_ecosystem(&self) -> String {
        let major = self.release.split('.').next().unwrap_or(&self.release);
        match self.family {
            OsFamily::Debian => format!("Debian:{major}"),
            OsFamily::Ubuntu if self.is_ubuntu_lts() => format!("Ubuntu:{}:LTS", self.release),
            OsFamily::Ubuntu => format!("Ubuntu:{}", self.release),
            OsFamily::AlmaLinux => format!("AlmaLinux:{major}"),
            OsFamily::Rocky => format!("Rocky Linux:{major}"),
            OsFamily::Rhel => format!("Red Hat:enterprise_linux:{major}"),
        }
    }

    /// Whether an OSV ecosystem string applies to a host of this release. `with_pro` admits the
    /// Ubuntu Pro (ESM) ecosystems of the same release.
    pub fn matches_ecosystem(&self, ecosystem: &str, with_pro: bool) -> bool {
        let own = self.osv_ecosystem();
        if ecosystem == own {
            return true;
        }
        if self.family == OsFamily::Debian {
            // Debian point releases: "Debian:12" also covers "Debian:12.4" style strings.
            return ecosystem
                .strip_prefix(&own)
                .is_some_and(|rest| rest.starts_with('.'));
        }
        with_pro
            && self.family == OsFamily::Ubuntu
            && ecosystem.strip_prefix("Ubuntu:Pro:") == own.strip_prefix("Ubuntu:")
    }
}

impl fmt::Display for OsRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.family.as_str(), self.release)
    }
}

impl std::str::FromStr for OsRelease {
    type Err = OsReleaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OsRelease::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecosystem(text: &str) -> String {
        OsRelease::parse(text).unwrap().osv_ecosystem()
    }

    #[test]
    fn maps_releases_to_osv_ecosystems() {
        assert_eq!(ecosystem("debian:12"), "Debian:12");
        assert_eq!(ecosystem("ubuntu:22.04"), "Ubuntu:22.04:LTS");
        assert_eq!(ecosystem("ubuntu:25.04"), "Ubuntu:25.04");
        assert_eq!(ecosystem("ubuntu:23.10"), "Ubuntu:23.10");
        assert_eq!(ecosystem("almalinux:9"), "AlmaLinux:9");
        assert_eq!(ecosystem("almalinux:9.4"), "AlmaLinux:9");
        assert_eq!(
            OsRelease::parse("Debian:12").unwrap().to_string(),
            "debian:12"
        );
    }

    #[test]
    fn matches_pro_only_when_attached() {
        let jammy = OsRelease::parse("ubuntu:22.04").unwrap();
        assert!(jammy.matches_ecosystem("Ubuntu:22.04:LTS", false));
        assert!(!jammy.matches_ecosystem("Ubuntu:Pro:22.04:LTS", false));
        assert!(jammy.matches_ecosystem("Ubuntu:Pro:22.04:LTS", true));
        assert!(!jammy.matches_ecosystem("Ubuntu:20.04:LTS", true));
        let bookworm = OsRelease::parse("debian:12").unwrap();
        assert!(bookworm.matches_ecosystem("Debian:12", false));
        assert!(!bookworm.matches_ecosystem("Debian:11", false));
        assert!(!bookworm.matches_ecosystem("Debian:120", false));
    }

    #[test]
    fn rejects_unknown_releases() {
        for bad in [
            "debian",
            "windows:11",
            "debian:",
            "debian:twelve",
            "ubuntu:22",
            "debian:12;x",
        ] {
            let e = OsRelease::parse(bad).unwrap_err();
            assert_eq!(e.input, bad);
        }
    }
}
