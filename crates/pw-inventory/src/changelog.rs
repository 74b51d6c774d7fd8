//! Debian changelogs (`/usr/share/doc/<pkg>/changelog.Debian.gz`, deb-changelog(5)): the entries
//! with their versions and the CVE ids each names. The evidence of host-side backport checks: a
//! CVE named in an entry at or below the installed version was fixed by a backport; a CVE named
//! in a candidate's entries above the installed version is what the upgrade fixes.
//!
//! Quirks of the subject:
//!
//! - An entry starts with a header line at column 0: `source (version) dist…; urgency=…`, and
//!   ends with a trailer ` -- Name <email>  date`; every other line of an entry is indented.
//! - Old changelogs end with free text after a line `Old Changelog:` or an Emacs `Local
//!   variables:` block; dpkg-parsechangelog stops there and so does this parser.
//! - Lines starting with `#` are comments. Since Debian 12, dh_installchangelogs trims installed
//!   changelogs to recent entries and says so in a comment ([`Changelog::truncated`]): old CVEs
//!   are then not named, which is harmless for backports (recent by nature) but means absence of
//!   a CVE proves nothing.
//! - Changelogs are mostly UTF-8 but old entries may be Latin-1: lines are read as bytes, and CVE
//!   ids are ASCII.
//! - CVE ids appear in any case and wrapped in punctuation (`(CVE-2023-1234)`, `CVE-2023-1234,`,
//!   `cve-2023-1234`); they are normalised to upper case, each named once per entry.

use pw_version::{DebVersion, compare_dpkg};

use crate::{InventoryError, excerpt};

/// Entries read at most from one changelog (the newest first): a changelog of a package with
/// decades of history has a few thousand entries; past this bound the rest is ignored.
pub const MAX_CHANGELOG_ENTRIES: usize = 20_000;

/// One changelog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// The source package named in the header.
    pub source: String,
    /// The entry's version (validated with [`DebVersion`]).
    pub version: String,
    /// The distributions of the header (`unstable`, `bookworm-security`, …).
    pub distributions: Vec<String>,
    /// The CVE ids named in the entry's lines, upper case, each once, in order of first mention.
    pub cves: Vec<String>,
    /// The 1-based line of the header.
    pub line: usize,
}

/// A parsed changelog: entries newest first (file order) and the lines skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changelog {
    pub entries: Vec<ChangelogEntry>,
    pub problems: Vec<InventoryError>,
    /// Whether dh_installchangelogs removed older entries (its `# Older entries have been
    /// removed…` comment): the history is then only the recent one.
    pub truncated: bool,
}

/// The comment dh_installchangelogs leaves where it cut older entries.
const TRUNCATED: &[u8] = b"# Older entries have been removed from this changelog.";

impl Changelog {
    /// The CVE ids named in the history of `version`: the entry with exactly that version and
    /// every entry below it in the file, sorted and unique; `None` when no entry has that
    /// version (a changelog of another version: its history proves nothing about this one).
    ///
    /// File order, not version order: a stable update `590-2.1~deb12u1` is built from unstable's
    /// `590-2.1`, a *higher* version listed below it, whose fixes it carries.
    pub fn history_of(&self, version: &str) -> Option<Vec<String>> {
        let at = self.position(version)?;
        Some(sorted_cves(&self.entries[at..]))
    }

    /// The CVE ids named in the entries above `installed` (what upgrading to this changelog's
    /// version brings), sorted and unique. When no entry has exactly `installed` (trimmed
    /// history, another branch), the entries whose version is higher than `installed`.
    pub fn news_since(&self, installed: &str) -> Vec<String> {
        match self.position(installed) {
            Some(at) => sorted_cves(&self.entries[..at]),
            None => sorted_cves(
                self.entries
                    .iter()
                    .filter(|e| compare_dpkg(&e.version, installed).is_gt()),
            ),
        }
    }

    fn position(&self, version: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| compare_dpkg(&e.version, version).is_eq())
    }
}

fn sorted_cves<'a>(entries: impl IntoIterator<Item = &'a ChangelogEntry>) -> Vec<String> {
    let mut cves: Vec<String> = entries
        .into_iter()
        .flat_map(|e| e.cves.iter().cloned())
        .collect();
    cves.sort();
    cves.dedup();
    cves
}

/// Parses a Debian changelog. Never fails: unparsable headers and stray lines are problems with
/// their line; text after `Old Changelog:` / `Local variables:` is ignored.
pub fn parse_debian_changelog(bytes: &[u8]) -> Changelog {
    let mut changelog = Changelog::default();
    let mut current: Option<ChangelogEntry> = None;
    // After a bad header its entry's lines are skipped: one problem per bad entry.
    let mut skipping = false;
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let text = raw.strip_suffix(b"\r").unwrap_or(raw);
        match text.first() {
            None => continue,
            Some(b' ' | b'\t') => match current.as_mut() {
                Some(entry) if !text.starts_with(b" -- ") => add_cves(&mut entry.cves, text),
                Some(_) => changelog.entries.extend(current.take()),
                None if skipping || is_blank(text) => {}
                None => changelog.problems.push(InventoryError::BadChangelogLine {
                    line,
                    text: excerpt(text),
                }),
            },
            Some(_) if is_end_marker(text) => break,
            Some(b'#') => {
                changelog.truncated |= text.starts_with(TRUNCATED);
            }
            Some(_) => {
                // A header; an entry without its trailer still counts.
                changelog.entries.extend(current.take());
                if changelog.entries.len() >= MAX_CHANGELOG_ENTRIES {
                    break;
                }
                match parse_header(text, line) {
                    Ok(entry) => current = Some(entry),
                    Err(problem) => changelog.problems.push(problem),
                }
                skipping = current.is_none();
            }
        }
    }
    changelog.entries.extend(current);
    changelog.entries.truncate(MAX_CHANGELOG_ENTRIES);
    changelog
}

fn is_blank(text: &[u8]) -> bool {
    text.iter().all(|b| b.is_ascii_whitespace())
}

fn is_end_marker(text: &[u8]) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with(b"old changelog:")
        || lower.starts_with(b"local variables:")
        || lower.starts_with(b";; local variables:")
        || lower.starts_with(b"# local variables:")
}

/// `source (version) dist1 dist2; urgency=low` → an entry without CVEs yet.
fn parse_header(text: &[u8], line: usize) -> Result<ChangelogEntry, InventoryError> {
    let bad = || InventoryError::BadChangelogLine {
        line,
        text: excerpt(text),
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let (source, rest) = text.split_once(" (").ok_or_else(bad)?;
    let (version, rest) = rest.split_once(')').ok_or_else(bad)?;
    let source = source.trim();
    if source.is_empty() || source.contains(char::is_whitespace) {
        return Err(bad());
    }
    DebVersion::parse(version).map_err(|source| InventoryError::BadVersion {
        line,
        field: "changelog version",
        source,
    })?;
    let dists = rest.split(';').next().unwrap_or_default();
    Ok(ChangelogEntry {
        source: source.to_owned(),
        version: version.to_owned(),
        distributions: dists.split_whitespace().map(str::to_owned).collect(),
        cves: Vec::new(),
        line,
    })
}

/// Appends the CVE ids in `text` not yet in `cves`, upper-cased.
fn add_cves(cves: &mut Vec<String>, text: &[u8]) {
    let mut at = 0;
    while let Some(found) = find_cve_prefix(&text[at..]) {
        let start = at + found;
        at = start + 4;
        // Not part of a longer word (e.g. "XCVE-…").
        if start > 0 && text[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let digits = |from: usize| {
            text[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let year = digits(at);
        if year != 4 || text.get(at + 4) != Some(&b'-') {
            continue;
        }
        let number = digits(at + 5);
        let end = at + 5 + number;
        if !(4..=19).contains(&number) || text.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let id = format!(
            "CVE-{}",
            std::str::from_utf8(&text[at..end]).unwrap_or_default()
        );
        debug_assert!(pw_model::is_cve_id(&id), "{id}");
        if !cves.contains(&id) {
            cves.push(id);
        }
        at = end;
    }
}

/// The offset of the next `CVE-` in any case.
fn find_cve_prefix(text: &[u8]) -> Option<usize> {
    text.windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"CVE-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
openssl (3.0.17-1~deb12u2) bookworm-security; urgency=medium

  * Fix CVE-2025-9230 (out-of-bounds read), cve-2025-9232.
  * Repeat CVE-2025-9230.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Tue, 30 Sep 2025 21:05:14 +0200

openssl (3.0.16-1~deb12u1) bookworm; urgency=medium

  * CVE-2024-13176 (CVE-2024-9143)
  * Not ids: XCVE-2024-1111 CVE-24-1234 CVE-2024-123 CVE-2024-12345x

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 15 Feb 2025 10:16:49 +0100

Old Changelog:
whatever (1.0) this is not parsed CVE-1999-0001
";

    #[test]
    fn entries_versions_and_cves() {
        let log = parse_debian_changelog(SAMPLE.as_bytes());
        assert_eq!(log.problems, vec![]);
        assert_eq!(log.entries.len(), 2);
        let top = &log.entries[0];
        assert_eq!(top.source, "openssl");
        assert_eq!(top.version, "3.0.17-1~deb12u2");
        assert_eq!(top.distributions, ["bookworm-security"]);
        assert_eq!(top.cves, ["CVE-2025-9230", "CVE-2025-9232"]);
        assert_eq!(top.line, 1);
        assert_eq!(log.entries[1].cves, ["CVE-2024-13176", "CVE-2024-9143"]);
        assert_eq!(log.entries[1].line, 8);
    }

    #[test]
    fn history_and_news_split_at_the_installed_version() {
        let log = parse_debian_changelog(SAMPLE.as_bytes());
        let old = "3.0.16-1~deb12u1";
        assert_eq!(
            log.history_of(old).unwrap(),
            ["CVE-2024-13176", "CVE-2024-9143"]
        );
        assert_eq!(log.news_since(old), ["CVE-2025-9230", "CVE-2025-9232"]);
        assert_eq!(log.history_of("3.0.17-1~deb12u2").unwrap().len(), 4);
        assert_eq!(log.history_of("1.0"), None);
        // Not in the file: by version order.
        assert_eq!(log.news_since("3.0.16-1~deb12u2").len(), 2);
        assert_eq!(log.news_since("3.0.15-1").len(), 4);
        assert!(log.news_since("3.0.17-1~deb12u2").is_empty());
    }

    #[test]
    fn bad_lines_are_problems_with_their_line() {
        let log = parse_debian_changelog(
            b"  stray\nfoo (not a version!) x; urgency=low\n  * CVE-2020-1234\nbar 1.0\n",
        );
        let lines: Vec<_> = log.problems.iter().map(|p| p.line()).collect();
        assert_eq!(lines, [Some(1), Some(2), Some(4)]);
        assert!(log.entries.is_empty());
    }

    #[test]
    fn an_entry_without_trailer_and_crlf_lines() {
        let log =
            parse_debian_changelog(b"p (1:2.0-1) unstable; urgency=high\r\n  * CVE-2021-44228\r\n");
        assert_eq!(log.entries[0].version, "1:2.0-1");
        assert_eq!(log.entries[0].cves, ["CVE-2021-44228"]);
    }
}
