//! dpkg version rules (`deb-version(7)`), exact to dpkg's `verrevcmp` and libapt-pkg.

use std::cmp::Ordering;
use std::fmt;

use crate::{Problem, Scheme, VersionError, compare_digits, error, validate_epoch};

/// A validated dpkg version; keeps the exact input text.
#[derive(Clone)]
pub struct DebVersion {
    text: Box<str>,
    /// Byte offset where the upstream part starts (after `epoch:`), 0 without an epoch.
    upstream_start: usize,
    /// Byte offset of the last `-`, if there is a revision.
    revision_dash: Option<usize>,
}

impl DebVersion {
    /// Parses and validates a dpkg version.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        validate(text)?;
        let upstream_start = text.find(':').map_or(0, |i| i + 1);
        let revision_dash = text[upstream_start..]
            .rfind('-')
            .map(|i| i + upstream_start);
        Ok(DebVersion {
            text: text.into(),
            upstream_start,
            revision_dash,
        })
    }

    /// The exact text that was parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch digits as written, or `None` without an explicit epoch (meaning 0).
    pub fn epoch(&self) -> Option<&str> {
        (self.upstream_start > 0).then(|| &self.text[..self.upstream_start - 1])
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        let end = self.revision_dash.unwrap_or(self.text.len());
        &self.text[self.upstream_start..end]
    }

    /// The Debian revision, or `None` for a native package version.
    pub fn revision(&self) -> Option<&str> {
        self.revision_dash.map(|i| &self.text[i + 1..])
    }
}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebVersion({:?})", &*self.text)
    }
}

impl std::str::FromStr for DebVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DebVersion::parse(s)
    }
}

impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for DebVersion {}
impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_dpkg(&self.text, &other.text)
    }
}

impl serde::Serialize for DebVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for DebVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DebVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Validates a dpkg version. Accepted characters follow `deb-version(7)`: the epoch is digits, the
/// upstream part uses `[A-Za-z0-9.+~-]` (and `:` only after an epoch), the revision `[A-Za-z0-9.+~]`.
/// Like apt (and unlike dpkg's warning), an upstream part not starting with a digit is accepted.
pub(crate) fn validate(text: &str) -> Result<(), VersionError> {
    let err = |position, problem| Err(error(Scheme::Dpkg, text, position, problem));
    if text.is_empty() {
        return err(0, Problem::Empty);
    }
    if text.len() > crate::MAX_LEN {
        return err(crate::MAX_LEN, Problem::TooLong);
    }
    let upstream_start = match text.find(':') {
        Some(colon) => {
            validate_epoch(Scheme::Dpkg, text, &text[..colon])?;
            colon + 1
        }
        None => 0,
    };
    let rest = &text[upstream_start..];
    if rest.is_empty() {
        return err(upstream_start, Problem::EmptyUpstream);
    }
    let dash = rest.rfind('-');
    if dash == Some(0) {
        return err(upstream_start, Problem::EmptyUpstream);
    }
    if dash == Some(rest.len() - 1) {
        return err(text.len(), Problem::EmptyRevision);
    }
    for (i, c) in rest.char_indices() {
        let in_revision = dash.is_some_and(|d| i > d);
        let allowed = c.is_ascii_alphanumeric()
            || matches!(c, '.' | '+' | '~')
            || (!in_revision && c == '-')
            || (!in_revision && c == ':' && upstream_start > 0);
        if !allowed {
            return err(upstream_start + i, Problem::BadChar(c));
        }
    }
    Ok(())
}

/// Compares two dpkg versions; never allocates. Works on any input (invalid strings get a
/// stable place), but callers should validate at the boundary.
pub fn compare_dpkg(a: &str, b: &str) -> Ordering {
    let (a_epoch, a_rest) = split_epoch(a);
    let (b_epoch, b_rest) = split_epoch(b);
    compare_digits(a_epoch.as_bytes(), b_epoch.as_bytes()).then_with(|| {
        let (a_up, a_rev) = split_revision(a_rest);
        let (b_up, b_rev) = split_revision(b_rest);
        verrevcmp(a_up.as_bytes(), b_up.as_bytes())
            .then_with(|| verrevcmp(a_rev.as_bytes(), b_rev.as_bytes()))
    })
}

fn split_epoch(v: &str) -> (&str, &str) {
    match v.find(':') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => ("", v),
    }
}

fn split_revision(v: &str) -> (&str, &str) {
    match v.rfind('-') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    }
}

/// Sort weight of one character in a non-digit run: `~` < end/digit < letters < the rest.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit and digit runs.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let a_digits = digit_run(a, i);
        let b_digits = digit_run(b, j);
        let ordering = compare_digits(&a[i.min(a.len())..a_digits], &b[j.min(b.len())..b_digits]);
        if ordering != Ordering::Equal {
            return ordering;
        }
        i = a_digits;
        j = b_digits;
    }
    Ordering::Equal
}

/// End of the run of ASCII digits starting at `start` (which may be past the end).
fn digit_run(s: &[u8], start: usize) -> usize {
    let start = start.min(s.len());
    start
        + s[start..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(s.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, b: &str, expected: Ordering) {
        assert_eq!(compare_dpkg(a, b), expected, "{a} vs {b}");
        assert_eq!(compare_dpkg(b, a), expected.reverse(), "{b} vs {a}");
    }

    #[test]
    fn orders_like_dpkg() {
        use Ordering::*;
        check("1.0", "1.0", Equal);
        check("1.0", "0:1.0", Equal);
        check("1.0", "1.0-0", Equal);
        check("1.0", "1.00", Equal);
        check("1.0~rc1", "1.0", Less);
        check("1.0~~", "1.0~", Less);
        check("1.0", "1.0a", Less);
        check("1.0a", "1.0+", Less);
        check("1.9", "1.10", Less);
        check("1:0.1", "2.0", Greater);
        check("1.0-1~deb12u1", "1.0-1", Less);
        check("1.0-1+b1", "1.0-1.1", Less);
        check("7.88.1-10+deb12u12", "7.88.1-10+deb12u8", Greater);
        check("1:1.0-1-1", "1:1.0-1", Greater);
        check("2.36-9+deb12u10", "2.36-9+deb12u9", Greater);
    }

    #[test]
    fn parses_losslessly_into_parts() {
        let v = DebVersion::parse("1:2.3-4-5+b1").unwrap();
        assert_eq!(v.to_string(), "1:2.3-4-5+b1");
        assert_eq!(v.epoch(), Some("1"));
        assert_eq!(v.upstream(), "2.3-4");
        assert_eq!(v.revision(), Some("5+b1"));
        let native = DebVersion::parse("20230311").unwrap();
        assert_eq!((native.epoch(), native.revision()), (None, None));
    }

    fn problem(text: &str) -> (Problem, usize) {
        let e = DebVersion::parse(text).unwrap_err();
        (e.problem, e.position)
    }

    #[test]
    fn rejects_malformed_versions() {
        assert_eq!(problem(""), (Problem::Empty, 0));
        assert_eq!(problem("a:1.0"), (Problem::BadEpoch, 0));
        assert_eq!(problem(":1.0"), (Problem::BadEpoch, 0));
        assert_eq!(problem("99999999999:1"), (Problem::EpochTooLarge, 0));
        assert_eq!(problem("1:"), (Problem::EmptyUpstream, 2));
        assert_eq!(problem("-1"), (Problem::EmptyUpstream, 0));
        assert_eq!(problem("1.0-"), (Problem::EmptyRevision, 4));
        assert_eq!(problem("1.0 1"), (Problem::BadChar(' '), 3));
        assert_eq!(problem("1.0;rm"), (Problem::BadChar(';'), 3));
        assert_eq!(
            problem("1.0-1:2"),
            (Problem::BadEpoch, 0),
            "the epoch ends at the first colon"
        );
        assert_eq!(problem("1:1.0-1:2"), (Problem::BadChar(':'), 7));
        assert_eq!(problem("1:1.0-a_b"), (Problem::BadChar('_'), 7));
        assert!(
            DebVersion::parse("1:1.0:2-1").is_ok(),
            "colon allowed after an epoch"
        );
        assert_eq!(problem(&"1".repeat(300)).0, Problem::TooLong);
    }

    #[test]
    fn error_message_names_the_input() {
        let e = DebVersion::parse("1.0 beta").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid dpkg version \"1.0 beta\": character ' ' is not allowed here (at byte 3)"
        );
    }
}
