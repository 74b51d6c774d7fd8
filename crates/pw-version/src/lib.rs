//! dpkg and rpm version strings: validation, lossless parsing and total ordering.
//!
//! The ordering is exact to the reference implementations and is checked against vectors computed
//! with libapt-pkg (`apt_pkg.version_compare`) and librpm (`rpm.ver`) in `tests/vectors.rs`.
//!
//! Quirks of the subject, all honoured here:
//!
//! - **dpkg** (`[epoch:]upstream[-revision]`): the epoch is the digits before the first `:` and
//!   defaults to 0; the revision is everything after the *last* `-` (so the upstream part may
//!   contain hyphens when a revision exists); a missing revision equals `0`. Comparison alternates
//!   non-digit runs (compared character by character with `~` before the end of the string, the
//!   end before letters, letters before everything else) and digit runs (compared numerically, so
//!   `1.0` = `1.00`). Thus `1.0~rc1 < 1.0 < 1.0a < 1.0+dfsg`, and `1.0-1~deb12u1 < 1.0-1`.
//! - **rpm** (`[epoch:]version-release`): epoch compared numerically (missing = 0), then version
//!   and release with `rpmvercmp`: separators (anything not alphanumeric, `~` or `^`) only split
//!   segments; `~` sorts before everything (even the end), `^` sorts after the end but before any
//!   further segment; a numeric segment is newer than an alphabetic one; numeric segments compare
//!   without leading zeros.
//!
//! Comparison functions work on `&str` without allocating; the validated owned types
//! [`DebVersion`] and [`RpmVersion`] keep the exact input text (parsing is lossless).

mod dpkg;
mod rpm;

use std::cmp::Ordering;
use std::fmt;

pub use dpkg::{DebVersion, compare_dpkg};
pub use rpm::{RpmVersion, compare_rpm, rpmvercmp};

/// Which package manager's version rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg`, `apt`).
    Dpkg,
    /// RHEL-family distributions (`rpm`, `dnf`).
    Rpm,
}

impl Scheme {
    /// Checks that `text` is a well-formed version in this scheme.
    pub fn validate(self, text: &str) -> Result<(), VersionError> {
        match self {
            Scheme::Dpkg => dpkg::validate(text),
            Scheme::Rpm => rpm::validate(text),
        }
    }

    /// Validates both versions, then compares them.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        self.validate(a)?;
        self.validate(b)?;
        Ok(self.compare_unchecked(a, b))
    }

    /// Compares two versions that were validated before (for example when they were stored).
    /// Any input gives a total order; invalid input simply gets an unspecified but stable place.
    pub fn compare_unchecked(self, a: &str, b: &str) -> Ordering {
        match self {
            Scheme::Dpkg => compare_dpkg(a, b),
            Scheme::Rpm => compare_rpm(a, b),
        }
    }

    /// The scheme's name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dpkg" | "deb" => Ok(Scheme::Dpkg),
            "rpm" => Ok(Scheme::Rpm),
            other => Err(format!(
                "unknown version scheme \"{other}\" (expected dpkg or rpm)"
            )),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A malformed version string, with the byte position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version \"{input}\": {problem} (at byte {position})")]
pub struct VersionError {
    pub scheme: Scheme,
    pub input: String,
    pub position: usize,
    pub problem: Problem,
}

/// What is wrong with a version string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the version is empty")]
    Empty,
    #[error("the version is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("the epoch is not a non-negative number")]
    BadEpoch,
    #[error("the epoch is larger than 2147483647")]
    EpochTooLarge,
    #[error("the version part after the epoch is empty")]
    EmptyUpstream,
    #[error("the revision after the last '-' is empty")]
    EmptyRevision,
    #[error("the release after the last '-' is empty")]
    EmptyRelease,
    #[error("an rpm version needs a release after a '-'")]
    MissingRelease,
    #[error("character {0:?} is not allowed here")]
    BadChar(char),
}

/// Longest version string accepted (dpkg itself has no limit; real versions stay under 100).
pub const MAX_LEN: usize = 256;

pub(crate) fn error(
    scheme: Scheme,
    input: &str,
    position: usize,
    problem: Problem,
) -> VersionError {
    VersionError {
        scheme,
        input: input.to_owned(),
        position,
        problem,
    }
}

/// Validates an epoch: ASCII digits, not empty, at most `i32::MAX` (both dpkg and rpm store it
/// in a 32-bit integer).
pub(crate) fn validate_epoch(scheme: Scheme, input: &str, epoch: &str) -> Result<(), VersionError> {
    if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(scheme, input, 0, Problem::BadEpoch));
    }
    let significant = epoch.trim_start_matches('0');
    let too_large = significant.len() > 10
        || (!significant.is_empty()
            && significant
                .parse::<u64>()
                .map_or(true, |n| n > i32::MAX as u64));
    if too_large {
        return Err(error(scheme, input, 0, Problem::EpochTooLarge));
    }
    Ok(())
}

/// Compares two runs of ASCII digits numerically, whatever their length.
pub(crate) fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = trim_zeros(a);
    let b = trim_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_parses_and_prints() {
        assert_eq!("dpkg".parse::<Scheme>(), Ok(Scheme::Dpkg));
        assert_eq!("rpm".parse::<Scheme>(), Ok(Scheme::Rpm));
        assert!("apk".parse::<Scheme>().unwrap_err().contains("apk"));
        assert_eq!(Scheme::Rpm.to_string(), "rpm");
    }

    #[test]
    fn compare_validates_both_sides() {
        let err = Scheme::Dpkg.compare("1.0", "1.0 ").unwrap_err();
        assert_eq!(err.problem, Problem::BadChar(' '));
        assert_eq!(err.position, 3);
        assert_eq!(
            Scheme::Dpkg.compare("1:1.0", "2.0").unwrap(),
            Ordering::Greater
        );
    }

    #[test]
    fn digits_compare_numerically() {
        assert_eq!(compare_digits(b"0010", b"9"), Ordering::Greater);
        assert_eq!(compare_digits(b"000", b""), Ordering::Equal);
        assert_eq!(
            compare_digits(b"99999999999999999999999", b"99999999999999999999998"),
            Ordering::Greater
        );
    }
}
