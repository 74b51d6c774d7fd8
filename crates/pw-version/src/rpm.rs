//! rpm version rules: `[epoch:]version-release` compared like librpm's `rpmverCmp`/`rpmvercmp`.

use std::cmp::Ordering;
use std::fmt;

use crate::{Problem, Scheme, VersionError, compare_digits, error, validate_epoch};

/// A validated rpm `[epoch:]version-release`; keeps the exact input text.
#[derive(Clone)]
pub struct RpmVersion {
    text: Box<str>,
    version_start: usize,
    release_dash: usize,
}

impl RpmVersion {
    /// Parses and validates an rpm EVR string. The release is required.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        validate(text)?;
        let version_start = text.find(':').map_or(0, |i| i + 1);
        let release_dash = text.rfind('-').expect("validated: a release exists");
        Ok(RpmVersion {
            text: text.into(),
            version_start,
            release_dash,
        })
    }

    /// The exact text that was parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch digits as written, or `None` (meaning 0).
    pub fn epoch(&self) -> Option<&str> {
        (self.version_start > 0).then(|| &self.text[..self.version_start - 1])
    }

    /// The version part.
    pub fn version(&self) -> &str {
        &self.text[self.version_start..self.release_dash]
    }

    /// The release part.
    pub fn release(&self) -> &str {
        &self.text[self.release_dash + 1..]
    }
}

impl fmt::Display for RpmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RpmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RpmVersion({:?})", &*self.text)
    }
}

impl std::str::FromStr for RpmVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RpmVersion::parse(s)
    }
}

impl PartialEq for RpmVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for RpmVersion {}
impl PartialOrd for RpmVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RpmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_rpm(&self.text, &other.text)
    }
}

impl serde::Serialize for RpmVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for RpmVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RpmVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Validates an rpm EVR. Version and release may use `[A-Za-z0-9._+~^]` (rpm forbids `-` inside
/// them and whitespace anywhere); both must be non-empty.
pub(crate) fn validate(text: &str) -> Result<(), VersionError> {
    let err = |position, problem| Err(error(Scheme::Rpm, text, position, problem));
    if text.is_empty() {
        return err(0, Problem::Empty);
    }
    if text.len() > crate::MAX_LEN {
        return err(crate::MAX_LEN, Problem::TooLong);
    }
    let version_start = match text.find(':') {
        Some(colon) => {
            validate_epoch(Scheme::Rpm, text, &text[..colon])?;
            colon + 1
        }
        None => 0,
    };
    let Some(dash) = text.rfind('-') else {
        return err(text.len(), Problem::MissingRelease);
    };
    if dash <= version_start {
        return err(version_start, Problem::EmptyUpstream);
    }
    if dash == text.len() - 1 {
        return err(text.len(), Problem::EmptyRelease);
    }
    for (i, c) in text[version_start..].char_indices() {
        let position = version_start + i;
        let allowed = c.is_ascii_alphanumeric()
            || matches!(c, '.' | '_' | '+' | '~' | '^')
            || position == dash;
        if !allowed {
            return err(position, Problem::BadChar(c));
        }
    }
    Ok(())
}

/// Compares two `[epoch:]version-release` strings like `rpmverCmp`: epoch, then version, then
/// release. A missing epoch is 0; a missing release (not valid here) compares as empty.
pub fn compare_rpm(a: &str, b: &str) -> Ordering {
    let (a_epoch, a_version, a_release) = split_evr(a);
    let (b_epoch, b_version, b_release) = split_evr(b);
    compare_digits(a_epoch.as_bytes(), b_epoch.as_bytes())
        .then_with(|| rpmvercmp(a_version, b_version))
        .then_with(|| rpmvercmp(a_release, b_release))
}

fn split_evr(v: &str) -> (&str, &str, &str) {
    let (epoch, rest) = match v.find(':') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => ("", v),
    };
    match rest.rfind('-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, ""),
    }
}

/// librpm's `rpmvercmp` for one version or release string.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && is_separator(a[i]) {
            i += 1;
        }
        while j < b.len() && is_separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        // Tilde sorts before everything else, even the end of the string.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // Caret sorts after the end of the string but before any other segment.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let in_segment = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let a_end = i + a[i..].iter().take_while(|c| in_segment(c)).count();
        let b_end = j + b[j..].iter().take_while(|c| in_segment(c)).count();
        if b_end == j {
            // Segments of different types: numeric is newer than alphabetic.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ordering = if numeric {
            compare_digits(&a[i..a_end], &b[j..b_end])
        } else {
            a[i..a_end].cmp(&b[j..b_end])
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
        i = a_end;
        j = b_end;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, b: &str, expected: Ordering) {
        assert_eq!(rpmvercmp(a, b), expected, "{a} vs {b}");
        assert_eq!(rpmvercmp(b, a), expected.reverse(), "{b} vs {a}");
    }

    /// Cases from rpm's own test suite (`tests/rpmvercmp.at`).
    #[test]
    fn orders_like_rpmvercmp() {
        use Ordering::*;
        check("1.0", "1.0", Equal);
        check("1.0", "2.0", Less);
        check("2.0.1", "2.0", Greater);
        check("2.0.1a", "2.0.1", Greater);
        check("5.5p1", "5.5p2", Less);
        check("5.5p10", "5.5p1", Greater);
        check("10xyz", "10.1xyz", Less);
        check("xyz10", "xyz10.1", Less);
        check("xyz.4", "8", Less);
        check("1.0aa", "1.0a", Greater);
        check("2.0a", "2.0.1", Less);
        check("1b.fc17", "1.fc17", Less);
        check("1.0~rc1", "1.0", Less);
        check("1.0~rc1", "1.0~rc1~git123", Greater);
        check("1.0^", "1.0", Greater);
        check("1.0^git1", "1.01", Less);
        check("1.0^20160101", "1.0.1", Less);
        check("1.0^20160101^git1", "1.0^20160101", Greater);
        check("1.0~rc1^git1", "1.0~rc1", Greater);
        check("1.0^git1~pre", "1.0^git1", Less);
        check("1_0", "1.0", Equal);
        check("a+", "a_", Equal);
        check("+", "_", Equal);
    }

    #[test]
    fn compares_epoch_version_release() {
        assert_eq!(compare_rpm("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(compare_rpm("0:1.0-1", "1.0-1"), Ordering::Equal);
        assert_eq!(compare_rpm("1.0-1.el9_2", "1.0-1.el9_10"), Ordering::Less);
    }

    #[test]
    fn parses_into_parts_and_rejects_malformed() {
        let v = RpmVersion::parse("2:3.0.7-27.el9").unwrap();
        assert_eq!(
            (v.epoch(), v.version(), v.release()),
            (Some("2"), "3.0.7", "27.el9")
        );
        assert_eq!(v.to_string(), "2:3.0.7-27.el9");
        let problem = |t: &str| RpmVersion::parse(t).unwrap_err().problem;
        assert_eq!(problem("1.0"), Problem::MissingRelease);
        assert_eq!(problem("1.0-"), Problem::EmptyRelease);
        assert_eq!(problem("-1"), Problem::EmptyUpstream);
        assert_eq!(problem("x:1-1"), Problem::BadEpoch);
        assert_eq!(problem("1.0-1 2"), Problem::BadChar(' '));
        assert_eq!(problem("1-0-1;"), Problem::BadChar('-'));
    }
}
