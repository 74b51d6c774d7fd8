//! Which source wins when several describe the same (package, CVE, release) — the one place
//! where this is decided (docs/feeds.md, "Which source wins").
//!
//! Sources by rank, best first:
//! 1. the Debian Security Tracker (`DEBTRACKER-…` records, [`crate::parse_debian_tracker`]);
//! 2. official OSV records (Debian `DSA-`/`DLA-`/`DTSA-`/`DEBIAN-CVE-…`, Ubuntu `USN-`/
//!    `UBUNTU-CVE-…`, and every other feed);
//! 3. records derived from Debian changelogs (`DEBCL-…`, the shipped snapshot).
//!
//! For every (release, source package, CVE) the best rank present wins: an entry of a worse
//! rank is dropped when **each** CVE of its advisory is covered, for that release and package,
//! by an entry of a better rank. An advisory naming a CVE no better source covers keeps its
//! entry (a DSA fixing two CVEs, one of them missing from the tracker), and is then merged
//! with the others as usual. Records of the same rank are not ranked against each other: USN
//! and UBUNTU-CVE records of one release are merged (docs/matching.md). A better source that
//! says "not affected" (an entry without ranges) or "no fix yet" wins too.
//!
//! Releases are compared by their major version (`Debian:12.4` is `Debian:12`); other
//! ecosystems by their exact string (Ubuntu's `Ubuntu:22.04:LTS` and `Ubuntu:Pro:22.04:LTS`
//! stay apart: Pro coverage is a separate claim).

use std::collections::HashMap;

use crate::advisory::Advisory;
use crate::debian_tracker::DEBIAN_TRACKER_PREFIX;

/// How much a source is trusted for a (package, CVE, release); lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum SourceRank {
    /// The Debian Security Tracker's per-release status and fixed version.
    DebianTracker,
    /// Official OSV records (Debian DSA/DLA/DEBIAN-CVE, Ubuntu USN/UBUNTU-CVE, RHEL family).
    OfficialOsv,
    /// Derived from Debian changelogs by this project (`DEBCL-…`): the shipped snapshot.
    ChangelogDerived,
}

/// The rank of an advisory, from its id.
pub fn source_rank(id: &str) -> SourceRank {
    if id.starts_with(DEBIAN_TRACKER_PREFIX) {
        SourceRank::DebianTracker
    } else if id.starts_with("DEBCL-") {
        SourceRank::ChangelogDerived
    } else {
        SourceRank::OfficialOsv
    }
}

/// The release an ecosystem string names, for ranking: `Debian:12.4` → `Debian:12`.
fn release_key(ecosystem: &str) -> &str {
    match ecosystem.strip_prefix("Debian:") {
        Some(rest) => match rest.find('.') {
            Some(dot) => &ecosystem[..7 + dot],
            None => ecosystem,
        },
        None => ecosystem,
    }
}

/// Drops the entries that a better-ranked source overrides (see the module notes). Returns how
/// many entries were dropped.
pub fn apply_precedence(advisories: &mut [Advisory]) -> usize {
    let mut best: HashMap<(&str, &str, &str), SourceRank> = HashMap::new();
    for advisory in advisories.iter() {
        let rank = source_rank(&advisory.id);
        for entry in &advisory.affected {
            for cve in &advisory.cves {
                let key = (
                    release_key(&entry.ecosystem),
                    entry.name.as_str(),
                    cve.as_str(),
                );
                best.entry(key)
                    .and_modify(|r| *r = (*r).min(rank))
                    .or_insert(rank);
            }
        }
    }
    let mut drop: Vec<(usize, usize)> = Vec::new();
    for (a, advisory) in advisories.iter().enumerate() {
        let rank = source_rank(&advisory.id);
        if advisory.cves.is_empty() {
            continue;
        }
        for (e, entry) in advisory.affected.iter().enumerate() {
            let release = release_key(&entry.ecosystem);
            let overridden = advisory.cves.iter().all(|cve| {
                best.get(&(release, entry.name.as_str(), cve.as_str()))
                    .is_some_and(|b| *b < rank)
            });
            if overridden {
                drop.push((a, e));
            }
        }
    }
    for &(a, e) in drop.iter().rev() {
        advisories[a].affected.remove(e);
    }
    drop.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_advisories;

    fn record(id: &str, cves: &[&str], entries: &[(&str, &str, Option<&str>)]) -> String {
        let affected: Vec<String> = entries
            .iter()
            .map(|(eco, name, fixed)| {
                let events = match fixed {
                    Some("not-affected") => String::new(),
                    Some(v) => format!(r#"{{"introduced":"0"}},{{"fixed":"{v}"}}"#),
                    None => r#"{"introduced":"0"}"#.to_owned(),
                };
                let ranges = if events.is_empty() {
                    "[]".to_owned()
                } else {
                    format!(r#"[{{"type":"ECOSYSTEM","events":[{events}]}}]"#)
                };
                format!(
                    r#"{{"package":{{"ecosystem":"{eco}","name":"{name}"}},"ranges":{ranges}}}"#
                )
            })
            .collect();
        let aliases: Vec<String> = cves.iter().map(|c| format!("\"{c}\"")).collect();
        format!(
            r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","aliases":[{}],"affected":[{}]}}"#,
            aliases.join(","),
            affected.join(",")
        )
    }

    fn run(records: &[String]) -> (Vec<Advisory>, usize) {
        let mut advisories = parse_advisories(records.join("\n").as_bytes()).advisories;
        let dropped = apply_precedence(&mut advisories);
        (advisories, dropped)
    }

    fn entries(advisories: &[Advisory], id: &str) -> Vec<String> {
        let advisory = advisories.iter().find(|a| a.id == id).unwrap();
        advisory
            .affected
            .iter()
            .map(|e| format!("{}/{}", e.ecosystem, e.name))
            .collect()
    }

    const CVE: &str = "CVE-2024-32487";

    #[test]
    fn ranks_sources_by_id() {
        assert_eq!(
            source_rank("DEBTRACKER-CVE-2024-1:less"),
            SourceRank::DebianTracker
        );
        assert_eq!(source_rank("DSA-5678-1"), SourceRank::OfficialOsv);
        assert_eq!(source_rank("DEBIAN-CVE-2024-1"), SourceRank::OfficialOsv);
        assert_eq!(source_rank("USN-6859-1"), SourceRank::OfficialOsv);
        assert_eq!(
            source_rank("DEBCL-CVE-2024-1"),
            SourceRank::ChangelogDerived
        );
        assert!(SourceRank::DebianTracker < SourceRank::OfficialOsv);
        assert!(SourceRank::OfficialOsv < SourceRank::ChangelogDerived);
    }

    #[test]
    fn tracker_beats_osv_beats_changelog_per_release() {
        let tracker = format!("DEBTRACKER-{CVE}:less");
        let (advisories, dropped) = run(&[
            record(
                &tracker,
                &[CVE],
                &[("Debian:12", "less", Some("590-2.1~deb12u1"))],
            ),
            record(
                "DEBIAN-CVE-2024-32487",
                &[CVE],
                &[
                    ("Debian:12", "less", Some("590-2.1")),
                    ("Debian:11", "less", Some("551-2+deb11u2")),
                ],
            ),
            record(
                "DEBCL-CVE-2024-32487",
                &[CVE],
                &[
                    ("Debian:12.5", "less", Some("590-2.1")),
                    ("Debian:11", "less", Some("551-2+deb11u1")),
                    ("Debian:10", "less", Some("551-1+deb10u1")),
                ],
            ),
        ]);
        assert_eq!(dropped, 3);
        assert_eq!(entries(&advisories, &tracker), ["Debian:12/less"]);
        // Debian 12 is the tracker's; Debian 11 the official OSV record's; Debian 10 only the
        // changelog snapshot knows.
        assert_eq!(
            entries(&advisories, "DEBIAN-CVE-2024-32487"),
            ["Debian:11/less"]
        );
        assert_eq!(
            entries(&advisories, "DEBCL-CVE-2024-32487"),
            ["Debian:10/less"]
        );
    }

    #[test]
    fn not_affected_and_unfixed_tracker_entries_win_too() {
        let (advisories, dropped) = run(&[
            record(
                "DEBTRACKER-CVE-2024-0001:foo",
                &["CVE-2024-0001"],
                &[("Debian:12", "foo", Some("not-affected"))],
            ),
            record(
                "DEBTRACKER-CVE-2024-0002:foo",
                &["CVE-2024-0002"],
                &[("Debian:12", "foo", None)],
            ),
            record(
                "DEBCL-CVE-2024-0001",
                &["CVE-2024-0001"],
                &[("Debian:12", "foo", Some("1.0-2"))],
            ),
            record(
                "DEBCL-CVE-2024-0002",
                &["CVE-2024-0002"],
                &[("Debian:12", "foo", Some("1.0-2"))],
            ),
        ]);
        assert_eq!(dropped, 2);
        assert!(entries(&advisories, "DEBCL-CVE-2024-0001").is_empty());
        assert!(entries(&advisories, "DEBCL-CVE-2024-0002").is_empty());
    }

    #[test]
    fn a_multi_cve_advisory_keeps_its_entry_while_one_cve_is_not_covered() {
        let (advisories, dropped) = run(&[
            record(
                "DEBTRACKER-CVE-2024-0001:foo",
                &["CVE-2024-0001"],
                &[("Debian:12", "foo", Some("1.0-3"))],
            ),
            record(
                "DSA-9999-1",
                &["CVE-2024-0001", "CVE-2024-0002"],
                &[("Debian:12", "foo", Some("1.0-3"))],
            ),
            record(
                "DSA-9998-1",
                &["CVE-2024-0001"],
                &[("Debian:12", "foo", Some("1.0-3"))],
            ),
        ]);
        assert_eq!(dropped, 1);
        assert_eq!(entries(&advisories, "DSA-9999-1"), ["Debian:12/foo"]);
        assert!(entries(&advisories, "DSA-9998-1").is_empty());
    }

    #[test]
    fn other_packages_releases_and_equal_ranks_are_untouched() {
        let (advisories, dropped) = run(&[
            record(
                "DEBTRACKER-CVE-2024-0001:foo",
                &["CVE-2024-0001"],
                &[("Debian:12", "foo", Some("1.0-3"))],
            ),
            record(
                "DEBCL-CVE-2024-0001",
                &["CVE-2024-0001"],
                &[
                    ("Debian:12", "bar", Some("2.0-1")),
                    ("Debian:13", "foo", Some("1.0-3")),
                ],
            ),
            record(
                "USN-1-1",
                &["CVE-2024-0001"],
                &[("Ubuntu:22.04:LTS", "foo", Some("1.0-2ubuntu1"))],
            ),
            record(
                "UBUNTU-CVE-2024-0001",
                &["CVE-2024-0001"],
                &[("Ubuntu:22.04:LTS", "foo", Some("1.0-2ubuntu2"))],
            ),
        ]);
        assert_eq!(dropped, 0);
        assert_eq!(
            entries(&advisories, "DEBCL-CVE-2024-0001"),
            ["Debian:12/bar", "Debian:13/foo"]
        );
        assert_eq!(entries(&advisories, "USN-1-1").len(), 1);
        assert_eq!(entries(&advisories, "UBUNTU-CVE-2024-0001").len(), 1);
    }

    #[test]
    fn release_keys_ignore_debian_point_releases_only() {
        assert_eq!(release_key("Debian:12.4"), "Debian:12");
        assert_eq!(release_key("Debian:12"), "Debian:12");
        assert_eq!(release_key("Ubuntu:22.04:LTS"), "Ubuntu:22.04:LTS");
    }
}
