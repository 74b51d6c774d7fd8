//! The advisory index: advisories grouped per (ecosystem, package name) with versions
//! pre-validated and pre-sorted, built once and shared by every host's matching.
//!
//! Layout, chosen for matching speed: one table per ecosystem, each a hash map from package name
//! (`Box<str>`, queried with `&str` without allocating) to the claims on that package, split by
//! shape:
//! - `fixed_only`: the common `introduced 0` / `fixed X` entry without an extra versions list,
//!   sorted by `X`; one binary search finds every entry affecting a version (all those whose
//!   fix is above it);
//! - `unfixed`: `introduced 0` alone (no fix in the release): every version is affected;
//! - `general`: everything else, evaluated range by range.

use std::cmp::Ordering;
use std::collections::HashMap;

use pw_version::Scheme;

use crate::advisory::{Advisory, AffectedPackage};
use crate::precedence::apply_precedence;
use crate::range::{CompiledRange, Fix, GeneralClaim};

/// Index of an advisory inside an [`AdvisoryIndex`] (advisories are sorted by id).
pub(crate) type AdvisoryId = u32;

/// Advisories ready for matching. Withdrawn advisories are left out; of several advisories with
/// the same id the one modified last is kept; entries a better-ranked source overrides are
/// dropped ([`crate::apply_precedence`]).
#[derive(Debug, Clone, Default)]
pub struct AdvisoryIndex {
    pub(crate) advisories: Vec<Advisory>,
    /// Per advisory: interned ids that merge advisories (its CVEs and its own id), sorted.
    pub(crate) merge_keys: Vec<Box<[u32]>>,
    /// Per advisory: interned ids it refers to (USN, UBUNTU-CVE, …).
    pub(crate) references: Vec<Box<[u32]>>,
    pub(crate) tables: Vec<EcosystemTable>,
    stats: IndexStats,
}

/// Counts describing what the index holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Advisories kept.
    pub advisories: usize,
    pub withdrawn_skipped: usize,
    /// Advisories replaced by a later-modified record with the same id.
    pub duplicates_replaced: usize,
    /// Affected entries indexed, by shape.
    pub fixed_only_entries: usize,
    pub unfixed_entries: usize,
    pub general_entries: usize,
    /// Entries with neither a range nor a listed version: they affect nothing.
    pub empty_entries: usize,
    /// Entries of non-distro ecosystems, counted when the advisories were built.
    pub ignored_entries: usize,
    /// Entries dropped because a better-ranked source covers their (release, package, CVEs)
    /// (`precedence.rs`: tracker, then official OSV, then changelog-derived records).
    pub superseded_entries: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct EcosystemTable {
    pub(crate) ecosystem: Box<str>,
    pub(crate) scheme: Scheme,
    pub(crate) packages: HashMap<Box<str>, PackageClaims>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PackageClaims {
    fixed_only: Vec<(Box<str>, AdvisoryId)>,
    unfixed: Vec<AdvisoryId>,
    general: Vec<(AdvisoryId, GeneralClaim)>,
}

impl PackageClaims {
    /// Pushes `(advisory, fix)` for every claim affecting `version`.
    pub(crate) fn collect<'a>(
        &'a self,
        scheme: Scheme,
        version: &str,
        hits: &mut Vec<(AdvisoryId, Fix<'a>)>,
    ) {
        let first = self.fixed_only.partition_point(|(fixed, _)| {
            scheme.compare_unchecked(fixed, version) != Ordering::Greater
        });
        hits.extend(
            self.fixed_only[first..]
                .iter()
                .map(|(fixed, id)| (*id, Some(&**fixed))),
        );
        hits.extend(self.unfixed.iter().map(|id| (*id, None)));
        for (id, claim) in &self.general {
            if let Some(fix) = claim.evaluate(scheme, version) {
                hits.push((*id, fix));
            }
        }
    }
}

impl AdvisoryIndex {
    /// Builds the index.
    pub fn new(advisories: impl IntoIterator<Item = Advisory>) -> AdvisoryIndex {
        let mut stats = IndexStats::default();
        let mut kept: Vec<Advisory> = Vec::new();
        for advisory in advisories {
            if advisory.withdrawn {
                stats.withdrawn_skipped += 1;
            } else {
                kept.push(advisory);
            }
        }
        // Stable sort: among equal ids and equal `modified`, the later input wins below.
        kept.sort_by(|a, b| a.id.cmp(&b.id).then(a.modified.cmp(&b.modified)));
        let before = kept.len();
        kept.reverse();
        kept.dedup_by(|later, earlier| later.id == earlier.id);
        kept.reverse();
        stats.duplicates_replaced = before - kept.len();
        stats.superseded_entries = apply_precedence(&mut kept);
        stats.advisories = kept.len();
        stats.ignored_entries = kept.iter().map(|a| a.ignored_entries).sum();

        let mut interner = Interner::default();
        let mut merge_keys = Vec::with_capacity(kept.len());
        let mut references = Vec::with_capacity(kept.len());
        for advisory in &kept {
            let own = interner.intern(&advisory.id);
            let mut keys: Vec<u32> = advisory.cves.iter().map(|c| interner.intern(c)).collect();
            keys.push(own);
            keys.sort_unstable();
            keys.dedup();
            merge_keys.push(keys.into_boxed_slice());
            let refs: Vec<u32> = advisory
                .related_ids
                .iter()
                .map(|r| interner.intern(r))
                .collect();
            references.push(refs.into_boxed_slice());
        }

        let mut tables: Vec<EcosystemTable> = Vec::new();
        for (id, advisory) in kept.iter().enumerate() {
            let id = AdvisoryId::try_from(id).unwrap_or(AdvisoryId::MAX);
            for entry in &advisory.affected {
                let table = table_for(&mut tables, entry);
                let claims = table
                    .packages
                    .entry(entry.name.as_str().into())
                    .or_default();
                add_entry(claims, entry, id, &mut stats);
            }
        }
        for table in &mut tables {
            let scheme = table.scheme;
            for claims in table.packages.values_mut() {
                claims
                    .fixed_only
                    .sort_by(|a, b| scheme.compare_unchecked(&a.0, &b.0).then(a.1.cmp(&b.1)));
                claims.fixed_only.shrink_to_fit();
            }
        }
        AdvisoryIndex {
            advisories: kept,
            merge_keys,
            references,
            tables,
            stats,
        }
    }

    /// The advisories kept, sorted by id.
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// The advisory with this id, if kept.
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.advisories
            .binary_search_by(|a| a.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.advisories[i])
    }

    /// The ecosystems that have at least one indexed entry.
    pub fn ecosystems(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(|t| &*t.ecosystem)
    }

    pub fn stats(&self) -> IndexStats {
        self.stats
    }
}

fn table_for<'t>(
    tables: &'t mut Vec<EcosystemTable>,
    entry: &AffectedPackage,
) -> &'t mut EcosystemTable {
    let position = tables
        .iter()
        .position(|t| *t.ecosystem == *entry.ecosystem)
        .unwrap_or_else(|| {
            tables.push(EcosystemTable {
                ecosystem: entry.ecosystem.as_str().into(),
                scheme: entry.scheme,
                packages: HashMap::new(),
            });
            tables.len() - 1
        });
    &mut tables[position]
}

/// Files one entry under the fastest shape that gives the exact OSV answer.
fn add_entry(
    claims: &mut PackageClaims,
    entry: &AffectedPackage,
    id: AdvisoryId,
    stats: &mut IndexStats,
) {
    let scheme = entry.scheme;
    let ranges: Vec<CompiledRange> = entry
        .ranges
        .iter()
        .map(|events| CompiledRange::compile(scheme, events))
        .collect();
    if ranges.is_empty() && entry.versions.is_empty() {
        stats.empty_entries += 1;
        return;
    }
    if let [only] = &ranges[..] {
        if only.is_everything() {
            stats.unfixed_entries += 1;
            claims.unfixed.push(id);
            return;
        }
        // A versions list below the fix adds nothing to `introduced 0 / fixed X`.
        if let Some(fixed) = only.as_zero_to_fixed() {
            let listed_below = entry
                .versions
                .iter()
                .all(|v| scheme.compare_unchecked(v, fixed) == Ordering::Less);
            if listed_below {
                stats.fixed_only_entries += 1;
                claims.fixed_only.push((fixed.into(), id));
                return;
            }
        }
    }
    stats.general_entries += 1;
    claims
        .general
        .push((id, GeneralClaim::new(scheme, ranges, &entry.versions)));
}

/// Ids to small integers, so that merging compares integers.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.ids.get(id) {
            return n;
        }
        let n = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(id.into(), n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_advisories;

    fn advisories(lines: &[&str]) -> Vec<Advisory> {
        parse_advisories(lines.join("\n").as_bytes()).advisories
    }

    #[test]
    fn keeps_the_last_modified_copy_of_an_id_and_skips_withdrawn() {
        let index = AdvisoryIndex::new(advisories(&[
            r#"{"id":"B-1","modified":"2024-02-01T00:00:00Z","summary":"new"}"#,
            r#"{"id":"B-1","modified":"2024-01-01T00:00:00Z","summary":"old"}"#,
            r#"{"id":"A-1","withdrawn":"2024-01-01T00:00:00Z"}"#,
            r#"{"id":"C-1","summary":"first"}"#,
            r#"{"id":"C-1","summary":"second"}"#,
        ]));
        let stats = index.stats();
        assert_eq!(
            (
                stats.advisories,
                stats.duplicates_replaced,
                stats.withdrawn_skipped
            ),
            (2, 2, 1)
        );
        assert_eq!(index.get("B-1").unwrap().summary, "new");
        assert_eq!(
            index.get("C-1").unwrap().summary,
            "second",
            "equal dates: later input wins"
        );
        assert!(index.get("A-1").is_none());
    }

    #[test]
    fn files_entries_by_shape() {
        let entry = |name: &str, rest: &str| {
            format!(r#"{{"package":{{"ecosystem":"Ubuntu:22.04:LTS","name":"{name}"}},{rest}}}"#)
        };
        let range =
            |events: &str| format!(r#""ranges":[{{"type":"ECOSYSTEM","events":[{events}]}}]"#);
        let zero_fixed = range(r#"{"introduced":"0"},{"fixed":"2.0"}"#);
        let entries = [
            entry("a", &zero_fixed),
            entry("b", &format!(r#"{zero_fixed},"versions":["1.0","1.9"]"#)),
            entry("c", &format!(r#"{zero_fixed},"versions":["2.5"]"#)),
            entry("d", &range(r#"{"introduced":"0"}"#)),
            entry("e", &range(r#"{"introduced":"1.0"},{"fixed":"2.0"}"#)),
            entry("f", r#""versions":[]"#),
        ];
        let record = format!(r#"{{"id":"X-1","affected":[{}]}}"#, entries.join(","));
        let stats = AdvisoryIndex::new(advisories(&[&record])).stats();
        assert_eq!(
            (
                stats.fixed_only_entries,
                stats.unfixed_entries,
                stats.general_entries,
                stats.empty_entries
            ),
            (2, 1, 2, 1)
        );
    }
}
