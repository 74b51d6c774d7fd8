//! A feed import's re-rank of one host, scanning only what the import can change (issue 15:
//! feed import → every host re-ranked in ≤ 30 s). A finding comes from its own binary's
//! package's advisories, and an upgrade's finding from its CVEs' and its binary's ranked
//! findings (`rerank.rs`), so after an import only the findings of the binaries it names
//! ([`crate::rerank::Affected::binaries`]) can differ from the stored ranking — and within
//! those, only the findings of the advisories it changed, merged with them or ranked against
//! them (`rerank_advisories.rs`). A binary with a pending upgrade (or every binary named, for
//! imports whose records' ids are not known) is matched and ranked again whole; the others' packages are
//! matched, and only the matches the import can change are ranked. The stored list's other
//! findings are kept as they are (`ranked_list.rs`'s splice); the write path compares and
//! writes only the findings covered (pw-store's `Computation::only`). A scan of the whole host
//! (~800–1,800 findings: their first sights and open episodes read, every finding serialized,
//! matched, compared) becomes one of a few dozen.
//!
//! That is exact only when the stored ranking was computed from the same inputs as a scan
//! now: the same inventory, pending upgrades, policy (with the emergency flags covering the host
//! now) and group, and the same source of advisories. Their digest — the **basis**
//! (`ranking_basis.rs`) — is stored with every ranking (`host_findings.basis`, migration 0042);
//! a host whose stored basis
//! differs, or is unknown, is scanned whole, and so is a host most of whose findings are of the
//! binaries ranked whole — both decided before the stored list is read. A re-rank that fails
//! forgets the basis (`scan_queue.rs`), so the host's next re-rank is whole too: the stored
//! ranking may then lack an import's changes.

use std::collections::BTreeSet;

use anyhow::Context;
use foldhash::HashSet;
use jiff::Timestamp;
use pw_model::{Finding, InstalledPackage};
use pw_scan::Upgrade;
use pw_store::{Covered, FirstSights, ScanReads, Store, StoredRanking};

use crate::findings::{GroupReads, HostInputs, IntelligenceCache, List, Ranked, Ready};
use crate::ranked_list::StoredList;
use crate::rerank::Affected;
use crate::rerank_advisories::Named;

/// Re-ranks the findings a feed import can change among those of `binaries` (the binaries it
/// names: [`Affected::binaries`]) and keeps the others as stored; `None` when the stored
/// ranking's basis is not the host's now, or the import's binaries hold most of its findings
/// (the caller scans the host whole).
pub(crate) async fn rescan_part(
    (cache, group): (&IntelligenceCache, &GroupReads),
    store: &Store,
    (host_id, reads): (&str, &ScanReads),
    inputs: &HostInputs,
    (affected, binaries): (&Affected, &BTreeSet<String>),
    now: Timestamp,
) -> anyhow::Result<Option<Ready>> {
    let loaded = group.intelligence(cache, &inputs.os).await?;
    let (intelligence, source) = &*loaded;
    let (by_binary, by_advisory) = split(inputs, affected, binaries);
    let decided = stored_if_part(store, (host_id, reads), inputs, source, &by_binary);
    let Some(stored) = decided.await? else {
        return Ok(None);
    };
    let list = StoredList::parse(&stored.findings, stored.tiers, binaries)
        .with_context(|| format!("the stored ranking of host {host_id}"))?;
    let advisory_packages = packages_of(inputs, &by_advisory);
    let matches = (intelligence.matcher(&inputs.os, false)).match_packages(&advisory_packages);
    let covered = Covered {
        keys: changed_keys(affected, &list, &by_advisory, &matches),
        binaries: by_binary,
    };
    let first_seen = store.first_sights_of(host_id, &covered).await?;
    let ranked = (&covered, matches.as_slice());
    let (findings, backported) = rank_covered(intelligence, inputs, ranked, &first_seen, now);
    let ranked = Ranked {
        findings,
        backported,
        first_seen,
        source: source.clone(),
    };
    let list = List::Part {
        list: &list,
        stored: &stored.findings,
        covered: &covered,
    };
    let ready = crate::findings::prepare_ranked(store, (host_id, inputs), ranked, list, now);
    Ok(Some(ready.await?))
}

/// The host's stored ranking when it is re-ranked in part: its basis is the host's now, and the
/// binaries re-ranked whole (`by_binary`) hold at most three quarters of its findings. Decided
/// before the list is unpacked when some binaries are ranked whole: a host scanned whole
/// unpacks it once, to compare. The list and its basis were read together, with the group's
/// (`Store::scan_reads`).
async fn stored_if_part(
    store: &Store,
    (host_id, reads): (&str, &ScanReads),
    inputs: &HostInputs,
    source: &str,
    by_binary: &BTreeSet<String>,
) -> anyhow::Result<Option<StoredRanking>> {
    let holds = |basis: Option<&[u8]>, stored_source: &str| {
        basis.is_some() && basis == inputs.basis.as_deref() && stored_source == source
    };
    if by_binary.is_empty() {
        // Nothing ranked whole (the usual import: no pending upgrade of its binaries).
        let stored = reads.ranking()?;
        return Ok(stored.filter(|s| holds(s.basis.as_deref(), &s.source)));
    }
    let Some(stored) = reads.ranking_basis()? else {
        return Ok(None);
    };
    if !holds(stored.basis.as_deref(), &stored.source) {
        return Ok(None);
    }
    // An import that touches most of the host's findings by binary (a kernel advisory on a
    // Debian host when the records' ids are not known: the kernel's binaries hold ~90 % of
    // them) saves nothing in part: scanned whole.
    let touched = store.open_findings_of(host_id, by_binary).await?;
    if touched * 4 > stored.findings * 3 {
        return Ok(None);
    }
    reads.ranking()
}

/// The host's installed packages of `binaries`.
fn packages_of(inputs: &HostInputs, binaries: &BTreeSet<String>) -> Vec<InstalledPackage> {
    let binaries: HashSet<&str> = binaries.iter().map(String::as_str).collect();
    (inputs.packages.iter())
        .filter(|p| binaries.contains(p.name.as_str()))
        .cloned()
        .collect()
}

/// The findings `covered` covers, ranked now (most urgent first), and those a backport fixed:
/// its binaries matched and ranked whole with their pending upgrades, and its keys' `matches`.
fn rank_covered(
    intelligence: &pw_scan::Intelligence,
    inputs: &HostInputs,
    (covered, matches): (&Covered, &[pw_scan::Match<'_>]),
    first_seen: &FirstSights,
    now: Timestamp,
) -> (Vec<Finding>, Vec<pw_scan::Backported>) {
    let upgrades: Vec<Upgrade> = (inputs.evidence.upgrades.iter())
        .filter(|u| covered.binaries.contains(&u.binary))
        .cloned()
        .collect();
    let packages = packages_of(inputs, &covered.binaries);
    let (mut findings, mut backported) =
        crate::findings::rank(intelligence, inputs, &packages, &upgrades, first_seen, now);
    let context = crate::findings::scan_context(inputs, now);
    let keys: HashSet<(&str, &str)> = (covered.keys.iter())
        .map(|(binary, advisory)| (binary.as_str(), advisory.as_str()))
        .collect();
    let taken = (matches.iter())
        .filter(|m| keys.contains(&(m.installed.name.as_str(), m.advisory().id.as_str())));
    let lookup = |binary: &str, advisory: &str| first_seen.get(binary, advisory);
    let by_key = intelligence.findings_with_history(taken, &context, &lookup);
    let (pending, fixed) = pw_scan::split_backported(by_key, &inputs.evidence.history);
    findings.extend(pending);
    pw_scan::sort_findings(&mut findings);
    backported.extend(fixed);
    (findings, backported)
}

/// The import's binaries re-ranked whole (all of them when its records' ids are not known; else
/// those with a pending upgrade: its finding depends on all the binary's others) and by
/// advisory (the others: `rerank_advisories.rs`).
fn split(
    inputs: &HostInputs,
    affected: &Affected,
    binaries: &BTreeSet<String>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    if affected.ids().is_none() {
        return (binaries.clone(), BTreeSet::new());
    }
    let upgraded: HashSet<&str> = (inputs.evidence.upgrades.iter())
        .map(|u| u.binary.as_str())
        .collect();
    (binaries.iter().cloned()).partition(|binary| upgraded.contains(binary.as_str()))
}

/// The keys of the findings of `by_advisory`'s binaries the import can have changed, among
/// those stored in `list` and the `matches` of their packages now.
fn changed_keys(
    affected: &Affected,
    list: &StoredList,
    by_advisory: &BTreeSet<String>,
    matches: &[pw_scan::Match<'_>],
) -> BTreeSet<(String, String)> {
    let Some(ids) = affected.ids() else {
        return BTreeSet::new();
    };
    let mut named = list.named(by_advisory);
    named.extend(matches.iter().map(Named::of_match));
    crate::rerank_advisories::changed_keys(ids, &named)
}
