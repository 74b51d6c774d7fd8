//! A feed import's re-rank by advisory, within the binaries it names (issue 15: feed import →
//! every host re-ranked in ≤ 30 s). A finding is one match of the binary's package: one or more
//! advisories merged (pw-advisory's matcher: a shared CVE or other merge key, a reference), its
//! `advisory` the first of their ids and its `aliases` their CVEs, other ids and related ids.
//! Its fields come from those advisories alone (fix, CVSS, severity, publication), from the
//! host's inputs (the ranking's basis, `rerank_scan.rs`) and from KEV and EPSS (whose imports
//! re-rank every host whole). So a finding can change only when one of its advisories is a
//! record the import changed, when the advisories merged into it change (a changed record
//! joined or left the group), or when one of them is left out or kept for a better-ranked
//! source's entry for its CVE (pw-advisory's `precedence.rs`: the better entry is a changed
//! record naming that CVE). Each of these names an id of the import's records or a CVE they
//! name ([`crate::rerank::Affected::ids`]), or shares an id with a finding, stored or matched
//! now, that does.
//!
//! [`changed_keys`] starts from those ids, takes the findings naming one with every id they
//! name, and again until none is added. At that point a match not taken has none of the ids:
//! its advisories are unchanged, ranked as before and merged as before (a group it was merged
//! with before would have been taken with all its ids), so it is the stored finding of its key,
//! which is not taken either. Exact, and the import's other findings of the binary are kept as
//! stored.
//!
//! A binary with a pending upgrade is re-ranked whole (`rerank_scan.rs`): the upgrade's finding
//! depends on every ranked finding of the binary (pw-scan's `upgrade_findings`).

use std::collections::BTreeSet;

use foldhash::HashSet;

/// A finding (stored, or a match ranked now) as [`changed_keys`] sees it: its key (binary,
/// advisory) and every id it names (its advisory's and its aliases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named<'a> {
    pub binary: &'a str,
    pub advisory: &'a str,
    pub ids: Vec<&'a str>,
}

impl<'a> Named<'a> {
    /// A match of the host's package, before it is ranked.
    pub fn of_match(found: &'a pw_scan::Match<'_>) -> Named<'a> {
        let advisory = found.advisory().id.as_str();
        let mut ids = found.aliases();
        ids.push(advisory);
        Named {
            binary: &found.installed.name,
            advisory,
            ids,
        }
    }
}

/// The keys of the findings among `named` the import can have changed, starting from `changed`
/// (the ids its records name) — see the module's comment.
pub(crate) fn changed_keys<'a>(
    changed: impl IntoIterator<Item = &'a str>,
    named: &[Named<'a>],
) -> BTreeSet<(String, String)> {
    let mut known: HashSet<&str> = changed.into_iter().collect();
    let mut taken = vec![false; named.len()];
    loop {
        let mut added = false;
        for (finding, taken) in named.iter().zip(taken.iter_mut()) {
            if !*taken && finding.ids.iter().any(|id| known.contains(id)) {
                *taken = true;
                known.extend(finding.ids.iter().copied());
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    (named.iter().zip(taken))
        .filter(|(_, taken)| *taken)
        .map(|(finding, _)| (finding.binary.to_owned(), finding.advisory.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Named, changed_keys};

    fn named<'a>(binary: &'a str, advisory: &'a str, aliases: &[&'a str]) -> Named<'a> {
        let mut ids = aliases.to_vec();
        ids.push(advisory);
        Named {
            binary,
            advisory,
            ids,
        }
    }

    fn keys(found: &std::collections::BTreeSet<(String, String)>) -> Vec<String> {
        found.iter().map(|(b, a)| format!("{b} {a}")).collect()
    }

    #[test]
    fn the_findings_of_changed_records_are_taken_with_those_they_merge_with() {
        let stored = [
            // The changed record's finding, merged with DSA-2 before the import.
            named("linux-image", "DEBCL-CVE-2024-1", &["CVE-2024-1", "DSA-2"]),
            // A finding the record does not name: kept.
            named("linux-image", "DEBCL-CVE-2024-9", &["CVE-2024-9"]),
            // Left out before for a better source's entry of its CVE (a DSA naming it).
            named("linux-libc-dev", "DEBCL-CVE-2024-5", &["CVE-2024-5"]),
        ];
        let now = [
            // The record no longer merges with DSA-2, which is now a finding of its own, and
            // DSA-2 now merges with DLA-3 (which names it): all three are taken.
            named("linux-image", "DEBCL-CVE-2024-1", &["CVE-2024-1"]),
            named("linux-image", "DLA-3", &["CVE-2024-7", "DSA-2"]),
            named("linux-image", "DEBCL-CVE-2024-9", &["CVE-2024-9"]),
            named("linux-libc-dev", "DEBCL-CVE-2024-5", &["CVE-2024-5"]),
        ];
        let all: Vec<Named> = stored.iter().chain(&now).cloned().collect();
        let changed = ["DEBCL-CVE-2024-1", "CVE-2024-1", "CVE-2024-5"];
        assert_eq!(
            keys(&changed_keys(changed, &all)),
            [
                "linux-image DEBCL-CVE-2024-1",
                "linux-image DLA-3",
                "linux-libc-dev DEBCL-CVE-2024-5"
            ]
        );
        // Taken through DLA-3's other CVE, though named before it: a finding of it elsewhere
        // joins too.
        let more = [
            vec![named("bpftool", "DEBCL-CVE-2024-7", &["CVE-2024-7"])],
            all.clone(),
        ];
        let taken = changed_keys(changed, &more.concat());
        assert!(taken.contains(&("bpftool".to_owned(), "DEBCL-CVE-2024-7".to_owned())));
        // Nothing changed: nothing taken.
        assert!(changed_keys([], &all).is_empty());
    }
}
