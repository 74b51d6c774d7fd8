//! Reading a stored ranked list's JSON without parsing all of it (`ranked_list.rs`; issue 15:
//! feed import → every host re-ranked in ≤ 30 s): its elements cut where one finding ends and
//! the next begins (found by `memchr`'s substring search), and a finding's head — what its
//! place in the list and a re-rank by advisory read (binary, advisory, aliases, tier,
//! deadline) — from the leading fields `pw_model::Finding` serializes first, without its
//! reasons and summary (most of its ~400 bytes). A text in another form, or with an escape in
//! those fields, is read by serde whole, so both ways give the same head.

use std::borrow::Cow;

use anyhow::Context;
use jiff::Timestamp;
use pw_model::Tier;

/// What a finding's place in the list (pw-scan's `urgency`) needs and what a re-rank by
/// advisory reads of it, from its JSON.
#[derive(Debug, PartialEq, serde::Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(borrow)]
    pub binary: Cow<'a, str>,
    #[serde(borrow)]
    pub advisory: Cow<'a, str>,
    #[serde(borrow)]
    pub aliases: Vec<Id<'a>>,
    pub tier: Tier,
    pub deadline: Option<Timestamp>,
}

/// An id in a finding's JSON, borrowed from it unless escaped.
#[derive(Debug, PartialEq, serde::Deserialize)]
pub(crate) struct Id<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl<'a> Head<'a> {
    pub fn of(text: &'a str) -> anyhow::Result<Head<'a>> {
        match leading(text) {
            Some(head) => Ok(head),
            None => serde_json::from_str(text).context("a stored finding"),
        }
    }
}

/// `pw_model::Finding`'s fields in the order it serializes them, up to the last one a head
/// reads.
const LEADING: [&str; 9] = [
    "binary",
    "installed",
    "package",
    "package_version",
    "advisory",
    "aliases",
    "fixed",
    "tier",
    "deadline",
];

/// The head from the leading fields of `text` in the compact form `serde_json` writes
/// `pw_model::Finding` (the fields in [`LEADING`]'s order, no escape in them); `None`
/// otherwise. The rest of the text is not read.
fn leading(text: &str) -> Option<Head<'_>> {
    let mut cursor = Cursor {
        text,
        at: text.strip_prefix('{').map(|_| 1)?,
    };
    let (mut binary, mut advisory, mut aliases, mut tier) = ("", "", Vec::new(), None);
    let mut deadline = None;
    for (index, name) in LEADING.iter().enumerate() {
        if index > 0 {
            cursor.expect(",")?;
        }
        cursor.expect("\"")?;
        cursor.expect(name)?;
        cursor.expect("\":")?;
        match *name {
            "binary" => binary = cursor.string()?,
            "advisory" => advisory = cursor.string()?,
            "aliases" => aliases = cursor.strings()?,
            "fixed" => _ = cursor.quoted_or_null()?,
            "tier" => tier = Some(cursor.quoted()?),
            "deadline" => deadline = cursor.quoted_or_null()?,
            _ => _ = cursor.quoted()?,
        }
    }
    Some(Head {
        binary: Cow::Borrowed(binary),
        advisory: Cow::Borrowed(advisory),
        aliases: aliases
            .into_iter()
            .map(|id| Id(Cow::Borrowed(id)))
            .collect(),
        tier: tier_of(tier?)?,
        // What serde reads a `Timestamp` with: jiff's parser, on the string without quotes.
        deadline: match deadline {
            Some(quoted) => Some(quoted[1..quoted.len() - 1].parse().ok()?),
            None => None,
        },
    })
}

/// A tier as serde writes it (`"T0"` … `"T4"`, with its quotes); `None` for anything else.
fn tier_of(quoted: &str) -> Option<Tier> {
    match quoted.as_bytes() {
        [b'"', b'T', digit @ b'0'..=b'4', b'"'] => {
            Tier::ALL.get(usize::from(digit - b'0')).copied()
        }
        _ => None,
    }
}

/// A position in a finding's JSON.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn expect(&mut self, literal: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(literal)
            .then(|| self.at += literal.len())
    }

    /// A string without escapes, with its quotes.
    fn quoted(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.expect("\"")?;
        let end = self.at + memchr::memchr2(b'"', b'\\', &self.text.as_bytes()[self.at..])?;
        (self.text.as_bytes()[end] == b'"').then_some(())?;
        self.at = end + 1;
        Some(&self.text[start..self.at])
    }

    /// A string without escapes, without its quotes.
    fn string(&mut self) -> Option<&'a str> {
        let quoted = self.quoted()?;
        Some(&quoted[1..quoted.len() - 1])
    }

    /// `null`, or a string without escapes with its quotes.
    fn quoted_or_null(&mut self) -> Option<Option<&'a str>> {
        match self.expect("null") {
            Some(()) => Some(None),
            None => self.quoted().map(Some),
        }
    }

    /// An array of strings without escapes.
    fn strings(&mut self) -> Option<Vec<&'a str>> {
        self.expect("[")?;
        let mut out = Vec::new();
        if self.expect("]").is_some() {
            return Some(out);
        }
        loop {
            out.push(self.string()?);
            if self.expect("]").is_some() {
                return Some(out);
            }
            self.expect(",")?;
        }
    }
}

/// A finding's binary, read from the start of its JSON as `ranked_list::list_json` writes it
/// (`binary` is `pw_model::Finding`'s first field) without parsing the rest; `None` in another
/// form or with an escape (then parsed).
pub(crate) fn binary_of(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("{\"binary\":\"")?;
    let binary = &rest[..rest.find('"')?];
    (!binary.contains('\\')).then_some(binary)
}

/// Where one finding ends and the next begins in a list `ranked_list::list_json` writes: each
/// finding is an object whose first member is `binary` (`pw_model::Finding`'s first field).
/// Never inside a string (a quote there is escaped, so never follows `{`), nor inside a finding
/// (no member of one is an object with a `binary` member).
const BETWEEN: &str = r#"},{"binary":""#;

/// The elements of a JSON array, as text (objects, in the compact form
/// `ranked_list::list_json` writes). A list of findings in that form is cut where one ends and
/// the next begins ([`BETWEEN`], found by `memchr`'s substring search); in another form, a
/// string is skipped to its closing quote by `memchr` (most of a finding's bytes are in its
/// strings).
pub(crate) fn elements(list: &str) -> anyhow::Result<Vec<&str>> {
    let inner = (list.trim().strip_prefix('['))
        .and_then(|rest| rest.strip_suffix(']'))
        .context("a stored findings list is not a JSON array")?;
    if inner.starts_with(&BETWEEN[2..]) && inner.ends_with('}') {
        return Ok(findings(inner));
    }
    scanned(inner)
}

/// The elements of a list's `inner` text, each string skipped to its closing quote.
fn scanned(inner: &str) -> anyhow::Result<Vec<&str>> {
    let bytes = inner.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut start, mut at) = (0usize, 0, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                at = string_end(bytes, at + 1).context("unterminated string in a findings list")?
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1).context("unbalanced findings list")?,
            b',' if depth == 0 => {
                out.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    anyhow::ensure!(depth == 0, "unbalanced findings list");
    if !inner.trim().is_empty() {
        out.push(&inner[start..]);
    }
    Ok(out)
}

/// The findings of a list's `inner` text (between its brackets) that starts with a finding's
/// first member and ends with an object's end: cut at each [`BETWEEN`].
fn findings(inner: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for at in memchr::memmem::find_iter(inner.as_bytes(), BETWEEN) {
        out.push(&inner[start..=at]);
        start = at + 2;
    }
    out.push(&inner[start..]);
    out
}

/// The position of the quote closing the string whose contents start at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr::memchr2(b'"', b'\\', &bytes[from..])?;
        if bytes[at] == b'"' {
            return Some(at);
        }
        // An escape: the next byte is part of it (a quote or backslash among them).
        from = at + 2;
        if from > bytes.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use pw_model::Finding;
    use serde_json::json;

    use super::{Head, elements, findings, leading, scanned};

    fn finding(
        binary: &str,
        aliases: &[&str],
        fixed: Option<&str>,
        deadline: Option<&str>,
    ) -> Finding {
        serde_json::from_value(json!({
            "binary": binary, "installed": "1:2.3-4+deb12u1", "package": "src", "package_version": "2.3-4",
            "advisory": "DEBCL-CVE-2026-1", "aliases": aliases, "fixed": fixed, "tier": "T1",
            "deadline": deadline, "reasons": ["a \"quoted\", [reason]}"], "summary": "{,}\\",
            "published": null, "cvss": 7.5, "epss": 0.25, "kev": true
        }))
        .unwrap()
    }

    #[test]
    fn a_head_read_from_the_leading_fields_is_the_one_serde_reads() {
        let cases = [
            (
                finding(
                    "curl",
                    &["CVE-2026-1", "DSA-9"],
                    Some("2.3-5"),
                    Some("2026-12-03T04:05:06.789Z"),
                ),
                true,
            ),
            (finding("curl", &[], None, None), true),
            (
                finding("libc6", &["CVE-2026-2"], None, Some("2026-12-03T00:00:00Z")),
                true,
            ),
            // An escape in a field the head reads or passes: serde reads the whole text.
            (finding("b\\in", &["CVE-2026-1"], None, None), false),
            (finding("curl", &["CVE \"2026\""], None, None), false),
            (finding("curl", &[], Some("1.0\\1"), None), false),
        ];
        for (finding, fast) in cases {
            let text = serde_json::to_string(&finding).unwrap();
            let serde: Head = serde_json::from_str(&text).unwrap();
            assert_eq!(leading(&text).is_some(), fast, "{text}");
            assert_eq!(Head::of(&text).unwrap(), serde, "{text}");
            assert_eq!(serde.binary, finding.binary);
            assert_eq!(serde.deadline, finding.deadline);
        }
        // Another order of fields (not what serde writes for a Finding): read whole.
        let reordered =
            r#"{"advisory":"DSA-1","binary":"curl","aliases":[],"tier":"T0","deadline":null}"#;
        assert!(leading(reordered).is_none());
        assert_eq!(Head::of(reordered).unwrap().advisory, "DSA-1");
        // Broken heads are refused, not guessed.
        assert!(Head::of(r#"{"binary":"curl"}"#).is_err());
        let text = serde_json::to_string(&finding("curl", &[], None, None)).unwrap();
        for tier in pw_model::Tier::ALL {
            let other = text.replace("\"T1\"", &format!("\"{tier}\""));
            assert_eq!(leading(&other).map(|head| head.tier), Some(tier), "{other}");
        }
        // What serde refuses, the hand reader does not accept either.
        for bad in ["\"T9\"", "\"t1\"", "\"T1 \"", "\"T\"", "1"] {
            let bad_tier = text.replace("\"T1\"", bad);
            assert!(leading(&bad_tier).is_none(), "{bad_tier}");
            assert!(Head::of(&bad_tier).is_err(), "{bad_tier}");
        }
        let dated = finding("curl", &[], None, Some("2026-12-03T00:00:00Z"));
        let text = serde_json::to_string(&dated).unwrap();
        for bad in ["2026-13-03T00:00:00Z", "2026-12-03", "2026-12-03T00:00:00"] {
            let bad_deadline = text.replace("2026-12-03T00:00:00Z", bad);
            assert!(leading(&bad_deadline).is_none(), "{bad_deadline}");
            assert!(Head::of(&bad_deadline).is_err(), "{bad_deadline}");
        }
    }

    #[test]
    fn elements_skip_what_strings_hold() {
        let findings = [
            finding("curl", &["CVE-2026-1"], None, None),
            finding("b\\in", &["]", "\\\"", "{,}"], Some("\\"), None),
        ];
        let texts: Vec<String> = findings
            .iter()
            .map(|f| serde_json::to_string(f).unwrap())
            .collect();
        let list = format!("[{}]", texts.join(","));
        assert_eq!(elements(&list).unwrap(), texts);
        assert_eq!(scanned(&list[1..list.len() - 1]).unwrap(), texts);
        assert_eq!(elements("[]").unwrap(), Vec::<&str>::new());
        assert_eq!(
            elements(r#"[{"a":"x\\"},{"b":[1,{"c":"]"}]}]"#).unwrap(),
            [r#"{"a":"x\\"}"#, r#"{"b":[1,{"c":"]"}]}"#]
        );
        for broken in [
            r#"[{"a":"x}]"#,
            r#"[{"a":"x\"}]"#,
            r#"[{"a":1}}]"#,
            r#"[{"a":[1}]"#,
            "{}",
        ] {
            assert!(elements(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn findings_are_cut_where_one_ends_and_the_next_begins() {
        // Strings holding what separates two findings, escaped as serde writes them.
        let cases = [
            finding("curl", &[r#"},{"binary":"x"#], None, None),
            finding(r#"{"binary":"#, &["CVE-2026-1"], Some("},{"), None),
            finding("libc6", &[], None, Some("2026-12-03T00:00:00Z")),
        ];
        let texts: Vec<String> = (cases.iter())
            .map(|f| serde_json::to_string(f).unwrap())
            .collect();
        for count in 1..=texts.len() {
            let inner = texts[..count].join(",");
            assert_eq!(findings(&inner), texts[..count], "{inner}");
            assert_eq!(scanned(&inner).unwrap(), texts[..count]);
            assert_eq!(elements(&format!("[{inner}]")).unwrap(), texts[..count]);
        }
        // Another first member: scanned (a separator escaped in a string is not a cut).
        let other = r#"[{"a":"},{\"binary\":\""},{"b":1}]"#;
        assert_eq!(elements(other).unwrap().len(), 2);
    }
}
