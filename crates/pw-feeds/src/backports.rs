//! Building the shipped Debian snapshot (`snapshot/osv-debian12-changelogs.jsonl.gz`): a fix
//! backported to a release is dated by that release's own history, not by the unstable upload
//! that first named the CVE.
//!
//! The snapshot is made in two steps (snapshot/PROVENANCE.md):
//! 1. `shared/data/scripts/make_osv_debian_changelogs.py` reads the changelogs of a real Debian
//!    machine and writes, per (source package, CVE), the lowest changelog version naming the
//!    CVE, and every changelog entry header (`debian12-changelog-versions.tsv.gz`);
//! 2. [`redate_backports`] (run by `cargo run -p pw-feeds --example rebuild_debian_snapshot`)
//!    replaces each fixed version by the lowest version among that entry and the entries of
//!    the release's own suites (`bookworm`, `bookworm-security`, `bookworm-backports`, …)
//!    written after it in the same changelog.
//!
//! Why: `less 590-2.1` (unstable) names CVE-2024-32487; bookworm got the fix as
//! `590-2.1~deb12u1` (bookworm-security), whose entry does not repeat the CVE. Because `~` sorts
//! first, `590-2.1~deb12u2` is *lower* than `590-2.1`, so step 1 alone reports a fixed host as
//! vulnerable. Every entry after the one naming the CVE descends from it (a changelog is the
//! package's ancestry), so the lowest release version among them is the release's fix.

use std::cmp::Ordering;
use std::collections::HashMap;

use anyhow::{Context, bail};
use pw_advisory::{OsvRecord, debian_release_number};
use serde_json::{Value, json};

/// One changelog entry header of `debian12-changelog-versions.tsv.gz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub source: String,
    pub version: String,
    pub distribution: String,
    /// RFC 3339 UTC, or empty when the trailer's date could not be read.
    pub date: String,
}

/// Every package's changelog history in file order (newest first), from the TSV written by the
/// shared data script (`binary, source, version, distribution, date`).
#[derive(Debug, Default)]
pub struct Histories {
    histories: Vec<Vec<HistoryEntry>>,
    /// (source, version) → (history, entry) of its first occurrence.
    index: HashMap<(String, String), (usize, usize)>,
}

impl Histories {
    /// Parses the TSV (with its header line). Rows of one binary are one history.
    pub fn parse(tsv: &str) -> anyhow::Result<Histories> {
        let mut result = Histories::default();
        let mut current: Option<String> = None;
        for (number, line) in tsv.lines().enumerate().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [binary, source, version, distribution, date] = fields[..] else {
                bail!("line {}: expected 5 tab-separated fields", number + 1);
            };
            if current.as_deref() != Some(binary) {
                current = Some(binary.to_owned());
                result.histories.push(Vec::new());
            }
            let history = result.histories.len() - 1;
            let entries = &mut result.histories[history];
            result
                .index
                .entry((source.to_owned(), version.to_owned()))
                .or_insert((history, entries.len()));
            entries.push(HistoryEntry {
                source: source.to_owned(),
                version: version.to_owned(),
                distribution: distribution.to_owned(),
                date: date.to_owned(),
            });
        }
        Ok(result)
    }

    /// The history holding `source`'s `version`, and the entry's position in it.
    fn find(&self, source: &str, version: &str) -> Option<(&[HistoryEntry], usize)> {
        let (h, e) = self
            .index
            .get(&(source.to_owned(), version.to_owned()))
            .copied()?;
        Some((&self.histories[h], e))
    }
}

/// Whether a changelog distribution field names a suite of the release `codename`
/// (`bookworm`, `bookworm-security`, `bookworm-backports`; several words are allowed).
fn is_release_suite(distribution: &str, codename: &str) -> bool {
    distribution.split_whitespace().any(|suite| {
        suite == codename
            || suite
                .strip_prefix(codename)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// The entry that dates, for release `codename`, the fix first named at `history[at]`: the
/// lowest version (dpkg order) among that entry and the release's own entries after it (which
/// come before it in file order).
pub fn release_fix<'h>(history: &'h [HistoryEntry], at: usize, codename: &str) -> &'h HistoryEntry {
    let named = &history[at];
    history[..at]
        .iter()
        .filter(|e| is_release_suite(&e.distribution, codename))
        .fold(named, |best, e| {
            if pw_version::compare_dpkg(&e.version, &best.version) == Ordering::Less {
                e
            } else {
                best
            }
        })
}

/// What [`redate_backports`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RedateReport {
    /// (source, CVE) pairs looked at.
    pub pairs: usize,
    /// (record id, package, old fixed version, new fixed version).
    pub redated: Vec<(String, String, String, String)>,
    /// Pairs whose fixed version is not in any history (left as they are).
    pub not_in_history: usize,
}

/// Rewrites, in records for `Debian:N` (N = `codename`'s number), each `introduced 0 / fixed V`
/// range to the release's fix ([`release_fix`]), with the entry's distribution and date; the
/// entry that named the CVE is kept as `database_specific.cve_named_in`. Idempotent.
pub fn redate_backports(
    records: &mut [OsvRecord],
    histories: &Histories,
    codename: &str,
) -> anyhow::Result<RedateReport> {
    let number = debian_release_number(codename)
        .with_context(|| format!("{codename} is not a Debian release codename"))?;
    let ecosystem = format!("Debian:{number}");
    let mut report = RedateReport::default();
    for record in records.iter_mut() {
        for entry in &mut record.affected {
            let Some(package) = entry.package.as_ref().filter(|p| p.ecosystem == ecosystem) else {
                continue;
            };
            let name = package.name.clone();
            let [range] = &mut entry.ranges[..] else {
                continue;
            };
            let Some(fixed) = range.events.iter_mut().find_map(|e| e.fixed.as_mut()) else {
                continue;
            };
            report.pairs += 1;
            let Some((history, at)) = histories.find(&name, fixed) else {
                report.not_in_history += 1;
                continue;
            };
            let dated = release_fix(history, at, codename);
            if dated.version == *fixed {
                continue;
            }
            let named = &history[at];
            let database = entry.database_specific.get_or_insert_with(|| json!({}));
            if let Value::Object(map) = database {
                map.entry("cve_named_in").or_insert_with(
                    || json!({"version": named.version, "distribution": named.distribution}),
                );
                map.insert("distribution".into(), dated.distribution.clone().into());
                map.insert("changelog_entry_date".into(), dated.date.clone().into());
            }
            report.redated.push((
                record.id.clone(),
                name,
                fixed.clone(),
                dated.version.clone(),
            ));
            *fixed = dated.version.clone();
        }
        let latest = record
            .affected
            .iter()
            .filter_map(|e| e.database_specific_str("changelog_entry_date"))
            .max()
            .map(str::to_owned);
        if let Some(latest) = latest {
            record.modified = Some(latest);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real rows of `debian12-changelog-versions.tsv.gz` (less, in file order).
    const LESS: &str = "binary\tsource\tversion\tdistribution\tdate\n\
        less\tless\t590-2.1~deb12u2\tbookworm-security\t2024-05-02T18:30:51Z\n\
        less\tless\t590-2.1~deb12u1\tbookworm-security\t2024-04-19T18:58:00Z\n\
        less\tless\t590-2.1\tunstable\t2024-04-19T13:09:49Z\n\
        less\tless\t590-2\tsid\t2023-03-12T16:18:18Z\n\
        less\tless\t590-1.2\tunstable\t2023-02-12T10:17:35Z\n";

    #[test]
    fn the_release_backport_dates_an_unstable_fix() {
        let histories = Histories::parse(LESS).unwrap();
        let (history, at) = histories.find("less", "590-2.1").unwrap();
        assert_eq!(
            release_fix(history, at, "bookworm").version,
            "590-2.1~deb12u1"
        );
        // Another release has no entries here: the entry naming the CVE stays.
        assert_eq!(release_fix(history, at, "trixie").version, "590-2.1");
        // An older fix that bookworm inherited stays: the backports are higher.
        let (history, at) = histories.find("less", "590-1.2").unwrap();
        assert_eq!(release_fix(history, at, "bookworm").version, "590-1.2");
    }

    #[test]
    fn suites_of_a_release() {
        assert!(is_release_suite("bookworm-security", "bookworm"));
        assert!(is_release_suite("bookworm-backports", "bookworm"));
        assert!(is_release_suite("unstable bookworm", "bookworm"));
        assert!(!is_release_suite("bookwormish", "bookworm"));
        assert!(!is_release_suite("unstable", "bookworm"));
    }

    #[test]
    fn redating_rewrites_the_fix_keeps_the_naming_entry_and_is_idempotent() {
        let histories = Histories::parse(LESS).unwrap();
        let line = r#"{"id":"DEBCL-CVE-2024-32487","modified":"2024-04-19T13:09:49Z","aliases":["CVE-2024-32487"],"affected":[{"package":{"ecosystem":"Debian:12","name":"less"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"590-2.1"}]}],"database_specific":{"changelog_entry_date":"2024-04-19T13:09:49Z","distribution":"unstable"}}]}"#;
        let mut records: Vec<OsvRecord> = vec![serde_json::from_str(line).unwrap()];
        let report = redate_backports(&mut records, &histories, "bookworm").unwrap();
        assert_eq!(report.pairs, 1);
        assert_eq!(
            report.redated,
            [(
                "DEBCL-CVE-2024-32487".into(),
                "less".into(),
                "590-2.1".into(),
                "590-2.1~deb12u1".into()
            )]
        );
        let entry = &records[0].affected[0];
        assert_eq!(
            entry.ranges[0].events[1].fixed.as_deref(),
            Some("590-2.1~deb12u1")
        );
        assert_eq!(
            entry.database_specific_str("distribution"),
            Some("bookworm-security")
        );
        assert_eq!(
            entry.database_specific.as_ref().unwrap()["cve_named_in"],
            json!({"version": "590-2.1", "distribution": "unstable"})
        );
        assert_eq!(records[0].modified.as_deref(), Some("2024-04-19T18:58:00Z"));
        let once = records.clone();
        let again = redate_backports(&mut records, &histories, "bookworm").unwrap();
        assert!(again.redated.is_empty());
        assert_eq!(records, once);
    }
}
