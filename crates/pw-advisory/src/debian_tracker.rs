//! The Debian Security Tracker's JSON export (`https://security-tracker.debian.org/tracker/data/json`)
//! turned into OSV records, so that it is stored, loaded and matched like every other feed.
//!
//! The export is one object: source package → issue id → `{"description", "scope", "debianbug",
//! "releases": {codename: {"status", "fixed_version", "urgency", "nodsa", "nodsa_reason",
//! "repositories"}}}`. It carries no dates, so the caller passes the document's date (file
//! modification time, HTTP `Last-Modified`), which becomes every record's `modified`.
//!
//! Mapping (docs/feeds.md, "Debian Security Tracker"): one record per source package × CVE, id
//! `DEBTRACKER-<CVE>:<package>`, `aliases: [CVE]`; one `affected[]` entry per release whose
//! codename has a Debian version number (`bookworm` → `Debian:12`; `sid` and unknown codenames
//! are skipped):
//! - `resolved` with a `fixed_version` → `introduced 0` / `fixed V`;
//! - `resolved` with `fixed_version` `"0"` → **not affected**: an entry without ranges, which
//!   affects no version but still names the release (so it outranks other sources there);
//! - `open` and `undetermined` (and any other status) → `introduced 0` alone: affected, no fix;
//! - the urgency goes to `ecosystem_specific.urgency` without its `*` marks; `not yet assigned`
//!   and `end-of-life` give none (end-of-life is kept as `database_specific.end_of_life`).
//!
//! Issues whose id is not a CVE (`TEMP-…` tracker-internal ids) are counted and skipped.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ids::is_cve_id;
use crate::osv::OsvRecord;
use crate::position::Position;

/// Prefix of the ids of records made from the tracker.
pub const DEBIAN_TRACKER_PREFIX: &str = "DEBTRACKER-";

/// Debian codenames with a release number, as OSV names them (`Debian:N`).
const RELEASES: &[(&str, u32)] = &[
    ("buzz", 1),
    ("rex", 1),
    ("bo", 1),
    ("hamm", 2),
    ("slink", 2),
    ("potato", 2),
    ("woody", 3),
    ("sarge", 3),
    ("etch", 4),
    ("lenny", 5),
    ("squeeze", 6),
    ("wheezy", 7),
    ("jessie", 8),
    ("stretch", 9),
    ("buster", 10),
    ("bullseye", 11),
    ("bookworm", 12),
    ("trixie", 13),
    ("forky", 14),
    ("duke", 15),
];

/// The Debian release number of a codename (`bookworm` → 12); `None` for `sid` and unknown names.
pub fn debian_release_number(codename: &str) -> Option<u32> {
    RELEASES
        .iter()
        .find(|(name, _)| *name == codename)
        .map(|(_, n)| *n)
}

/// What [`parse_debian_tracker`] made of a document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackerParse {
    /// One OSV record per source package × CVE with at least one known release.
    pub records: Vec<OsvRecord>,
    /// Issues skipped because their id is not a CVE id (`TEMP-…`).
    pub non_cve_issues: usize,
    /// Issues skipped because none of their releases has a Debian release number (`sid` only).
    pub no_release_issues: usize,
}

/// A document that is not the tracker's JSON, with the position serde_json stopped at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}: not a Debian Security Tracker JSON document: {message}")]
pub struct TrackerError {
    pub position: Position,
    pub message: String,
}

#[derive(Deserialize)]
struct Issue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    debianbug: Option<Value>,
    #[serde(default)]
    releases: BTreeMap<String, Release>,
}

#[derive(Deserialize)]
struct Release {
    #[serde(default)]
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
    // `repositories` (the archive's current version per suite) is not read: matching needs
    // the fixed version only, and the export is large.
}

/// Converts the tracker's JSON into OSV records dated `modified`. Records come sorted by
/// package, then CVE.
pub fn parse_debian_tracker(
    bytes: &[u8],
    modified: Timestamp,
) -> Result<TrackerParse, TrackerError> {
    let document: BTreeMap<String, BTreeMap<String, Issue>> = serde_json::from_slice(bytes)
        .map_err(|e| {
            let text = e.to_string();
            let message = match text.rfind(" at line ") {
                Some(cut) => text[..cut].to_owned(),
                None => text,
            };
            TrackerError {
                position: Position {
                    line: e.line(),
                    column: e.column(),
                },
                message,
            }
        })?;
    let modified = modified.to_string();
    let mut parse = TrackerParse::default();
    // Consumed as it is converted, so the document and the records are not both held whole.
    for (package, issues) in document {
        for (id, issue) in issues {
            if !is_cve_id(&id) {
                parse.non_cve_issues += 1;
                continue;
            }
            match record(&package, &id, &issue, &modified) {
                Some(record) => parse.records.push(record),
                None => parse.no_release_issues += 1,
            }
        }
    }
    Ok(parse)
}

fn record(package: &str, cve: &str, issue: &Issue, modified: &str) -> Option<OsvRecord> {
    let mut releases: Vec<(u32, &str, &Release)> = issue
        .releases
        .iter()
        .filter_map(|(codename, r)| Some((debian_release_number(codename)?, codename.as_str(), r)))
        .collect();
    if releases.is_empty() {
        return None;
    }
    releases.sort_by_key(|(n, _, _)| *n);
    let affected: Vec<Value> = releases
        .iter()
        .map(|(number, codename, release)| entry(package, *number, codename, release, issue))
        .collect();
    let description = issue.description.as_deref().unwrap_or("").trim();
    let summary = if description.is_empty() {
        format!("{cve} in {package} (Debian Security Tracker)")
    } else {
        first_line(description)
    };
    let record = json!({
        "id": format!("{DEBIAN_TRACKER_PREFIX}{cve}:{package}"),
        "modified": modified,
        "aliases": [cve],
        "details": (description != summary).then_some(description),
        "summary": summary,
        "affected": affected,
        "references": [{
            "type": "WEB",
            "url": format!("https://security-tracker.debian.org/tracker/{cve}"),
        }],
        "database_specific": {"source": "debian-security-tracker"},
    });
    serde_json::from_value(record).ok()
}

fn entry(package: &str, number: u32, codename: &str, release: &Release, issue: &Issue) -> Value {
    let fixed = release.fixed_version.as_deref().map(str::trim);
    let status = release.status.trim();
    let not_affected = status == "resolved" && fixed == Some("0");
    let ranges = match (status, fixed) {
        _ if not_affected => json!([]),
        ("resolved", Some(version)) if !version.is_empty() => json!([{
            "type": "ECOSYSTEM",
            "events": [{"introduced": "0"}, {"fixed": version}],
        }]),
        _ => json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]),
    };
    let urgency = release
        .urgency
        .as_deref()
        .map(|u| u.trim().trim_end_matches('*').trim());
    let mut ecosystem_specific = serde_json::Map::new();
    if let Some(word) = urgency.filter(|u| !matches!(*u, "" | "not yet assigned" | "end-of-life")) {
        ecosystem_specific.insert("urgency".into(), word.into());
    }
    let mut database = serde_json::Map::new();
    database.insert("codename".into(), codename.into());
    database.insert(
        "status".into(),
        if not_affected { "not-affected" } else { status }.into(),
    );
    if urgency == Some("end-of-life") {
        database.insert("end_of_life".into(), true.into());
    }
    for (key, value) in [
        ("nodsa", &release.nodsa),
        ("nodsa_reason", &release.nodsa_reason),
        ("scope", &issue.scope),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            database.insert(key.into(), v.into());
        }
    }
    if let Some(bug) = &issue.debianbug {
        database.insert("debianbug".into(), bug.clone());
    }
    json!({
        "package": {"ecosystem": format!("Debian:{number}"), "name": package},
        "ranges": ranges,
        "ecosystem_specific": ecosystem_specific,
        "database_specific": database,
    })
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Whether a document's first bytes look like the tracker's JSON: an object whose first value
/// is an object keyed by a CVE or `TEMP-` id (`{"389-ds-base": {"CVE-2012-0833": {…`).
pub fn looks_like_debian_tracker(head: &[u8]) -> bool {
    let mut rest = head;
    let expect = |rest: &mut &[u8], byte: u8| -> bool {
        *rest = rest.trim_ascii_start();
        match rest.split_first() {
            Some((b, tail)) if *b == byte => {
                *rest = tail;
                true
            }
            _ => false,
        }
    };
    if !(expect(&mut rest, b'{') && expect(&mut rest, b'"')) {
        return false;
    }
    let Some(end) = rest.iter().position(|b| *b == b'"') else {
        return false;
    };
    let key = &rest[..end];
    rest = &rest[end + 1..];
    let package_like = !key.is_empty()
        && key
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b));
    package_like
        && expect(&mut rest, b':')
        && expect(&mut rest, b'{')
        && expect(&mut rest, b'"')
        && (rest.starts_with(b"CVE-") || rest.starts_with(b"TEMP-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Advisory, AdvisoryIndex, Event, Matcher, SeverityLevel};
    use pw_model::{InstalledPackage, OsRelease};

    /// Written by hand from the format's documentation (tests/data/PROVENANCE.md).
    const SAMPLE: &[u8] = include_bytes!("../tests/data/debian-tracker-sample.json");

    fn date() -> Timestamp {
        "2026-11-30T06:00:00Z".parse().unwrap()
    }

    fn advisories() -> Vec<Advisory> {
        let parse = parse_debian_tracker(SAMPLE, date()).unwrap();
        parse
            .records
            .iter()
            .map(|r| {
                let (advisory, problems) = Advisory::from_record(r);
                assert!(problems.is_empty(), "{problems:?}");
                advisory
            })
            .collect()
    }

    fn get<'a>(all: &'a [Advisory], id: &str) -> &'a Advisory {
        all.iter().find(|a| a.id == id).unwrap()
    }

    #[test]
    fn one_record_per_package_and_cve_with_a_known_release() {
        let parse = parse_debian_tracker(SAMPLE, date()).unwrap();
        let ids: Vec<&str> = parse.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "DEBTRACKER-CVE-2010-4756:glibc",
                "DEBTRACKER-CVE-2023-4911:glibc",
                "DEBTRACKER-CVE-2022-48624:less",
                "DEBTRACKER-CVE-2024-32487:less",
                "DEBTRACKER-CVE-2023-0464:openssl",
                "DEBTRACKER-CVE-2024-2511:openssl",
            ]
        );
        assert_eq!((parse.non_cve_issues, parse.no_release_issues), (1, 1));
        let less = &parse.records[3];
        assert_eq!(less.modified.as_deref(), Some("2026-11-30T06:00:00Z"));
        assert_eq!(less.aliases, ["CVE-2024-32487"]);
        assert!(
            less.summary
                .as_deref()
                .unwrap()
                .starts_with("less through 653")
        );
    }

    #[test]
    fn statuses_become_ranges_per_release() {
        let all = advisories();
        let less = get(&all, "DEBTRACKER-CVE-2024-32487:less");
        assert_eq!(less.cves, ["CVE-2024-32487"]);
        let releases: Vec<(&str, &[Event])> = less
            .affected
            .iter()
            .map(|e| (e.ecosystem.as_str(), e.ranges[0].as_slice()))
            .collect();
        // sid has no OSV ecosystem; releases in number order.
        assert_eq!(
            releases,
            [
                (
                    "Debian:11",
                    &[Event::IntroducedZero, Event::Fixed("551-2+deb11u2".into())][..]
                ),
                (
                    "Debian:12",
                    &[
                        Event::IntroducedZero,
                        Event::Fixed("590-2.1~deb12u1".into())
                    ][..]
                ),
            ]
        );
        let glibc = get(&all, "DEBTRACKER-CVE-2023-4911:glibc");
        let by_release = |eco: &str| glibc.affected.iter().find(|e| e.ecosystem == eco).unwrap();
        // resolved with fixed_version "0": not affected, an entry without ranges.
        assert!(by_release("Debian:11").ranges.is_empty());
        // end-of-life: open, no fix, no urgency.
        assert_eq!(
            by_release("Debian:10").ranges,
            [vec![Event::IntroducedZero]]
        );
        assert_eq!(by_release("Debian:10").urgency, None);
        // "high**": the marks are dropped.
        assert_eq!(by_release("Debian:12").urgency.as_deref(), Some("high"));
        assert_eq!(
            glibc.severity.as_ref().unwrap().level,
            Some(SeverityLevel::High)
        );
        let undetermined = get(&all, "DEBTRACKER-CVE-2010-4756:glibc");
        assert_eq!(
            undetermined.affected[0].ranges,
            [vec![Event::IntroducedZero]]
        );
        let unimportant = get(&all, "DEBTRACKER-CVE-2024-2511:openssl");
        assert_eq!(
            unimportant.severity.as_ref().unwrap().level,
            Some(SeverityLevel::Negligible)
        );
    }

    #[test]
    fn a_bookworm_host_is_matched_by_the_release_fix() {
        let index = AdvisoryIndex::new(advisories());
        let os = OsRelease::parse("debian:12").unwrap();
        let package = |name: &str, source: &str, version: &str| InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            source: Some(source.into()),
            source_version: None,
        };
        let installed = vec![
            // The bookworm backport fixes both less CVEs although 590-2.1~deb12u2 < 590-2.1.
            package("less", "less", "590-2.1~deb12u2"),
            package("less-old", "less", "590-2"),
            package("libc6", "glibc", "2.36-9+deb12u1"),
        ];
        let matches = Matcher::new(&index, &os, false).match_packages(&installed);
        let found: Vec<(&str, &str, Option<&str>)> = matches
            .iter()
            .map(|m| {
                (
                    m.installed.name.as_str(),
                    m.advisories[0].advisory.id.as_str(),
                    m.fixed,
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "less-old",
                    "DEBTRACKER-CVE-2022-48624:less",
                    Some("590-2.1~deb12u1")
                ),
                (
                    "less-old",
                    "DEBTRACKER-CVE-2024-32487:less",
                    Some("590-2.1~deb12u1")
                ),
                ("libc6", "DEBTRACKER-CVE-2010-4756:glibc", None),
                (
                    "libc6",
                    "DEBTRACKER-CVE-2023-4911:glibc",
                    Some("2.36-9+deb12u3")
                ),
            ]
        );
    }

    #[test]
    fn other_documents_are_errors_with_a_position() {
        let error = parse_debian_tracker(b"{\"less\": [1]}", date()).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.position.line, 1);
        assert!(text.starts_with("line 1, column "), "{text}");
        assert!(
            text.contains(": not a Debian Security Tracker JSON document: invalid type"),
            "{text}"
        );
        assert!(!text.contains(" at line "), "{text}");
        let error = parse_debian_tracker(b"{\n\"less\": {\"CVE-2024-1\": {\"releases\": {", date());
        assert_eq!(error.unwrap_err().position.line, 2, "truncated input");
        assert!(
            parse_debian_tracker(b"{\"less\": {\"CVE-1\": {\"releases\": 5}}}", date()).is_err()
        );
    }

    #[test]
    fn recognises_the_document_by_its_first_bytes() {
        assert!(looks_like_debian_tracker(SAMPLE));
        assert!(looks_like_debian_tracker(
            b"{\"389-ds-base\": {\"CVE-2012-0833\": {"
        ));
        assert!(looks_like_debian_tracker(b" {\"a\":{\"TEMP-0000000-1\":{"));
        assert!(!looks_like_debian_tracker(
            b"{\"id\":\"DSA-1\",\"affected\":[]}"
        ));
        assert!(!looks_like_debian_tracker(
            b"{\"title\":\"x\",\"catalogVersion\":\"1\"}"
        ));
        assert!(!looks_like_debian_tracker(b"[{\"less\":{\"CVE-1\":{}}}]"));
        assert!(!looks_like_debian_tracker(b"{}"));
    }
}
