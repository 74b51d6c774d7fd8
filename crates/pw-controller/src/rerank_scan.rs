//! A feed import's re-rank of one host, scanning only what the import can change (issue 15:
//! feed import → every host re-ranked in ≤ 30 s). A finding comes from its own binary's
//! package's advisories, and an upgrade's finding from its CVEs' and its binary's ranked
//! findings (`rerank.rs`), so after an import only the findings of the binaries it names
//! ([`crate::rerank::Affected::binaries`]) can differ from the stored ranking: those binaries
//! are matched and ranked again, and the stored list's other findings are kept as they are
//! (`ranked_list.rs`'s splice); the write path compares and writes only those binaries' open
//! findings (pw-store's `Computation::only`). A scan of the whole host (~800 findings: their
//! first sights and open episodes read, every finding serialized, matched, compared) becomes
//! one of a few dozen.
//!
//! That is exact only when the stored ranking was computed from the same inputs as a scan
//! now: the same inventory, pending upgrades, policy (with the emergency flags covering the host
//! now) and group, and the same source of advisories. Their digest — the **basis** — is stored
//! with every ranking (`host_findings.basis`, migration 0042); a host whose stored basis
//! differs, or is unknown, is scanned whole. A re-rank that fails forgets the basis
//! (`scan_queue.rs`), so the host's next re-rank is whole too: the stored ranking may then lack
//! an import's changes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::Context;
use jiff::Timestamp;
use pw_model::{Finding, InstalledPackage};
use pw_priority::PriorityPolicy;
use pw_scan::Upgrade;
use pw_store::{Computation, CurrentFinding, FindingsSnapshot, InventoryRow, PendingRow, Store};
use sha2::{Digest, Sha256};

use crate::findings::{HostInputs, IntelligenceCache, Scanned};
use crate::ranked_list::StoredList;

/// The digest of what a scan of the host reads besides the advisories. The parts are written
/// with their `Debug` forms: exact for equal inputs within one build (a build that formats them
/// differently scans every host whole once).
pub fn basis(
    inventory: &InventoryRow,
    pending: Option<&[PendingRow]>,
    policy: &PriorityPolicy,
    group: Option<&str>,
) -> Vec<u8> {
    let mut digest = Hashing(Sha256::new());
    // Writing into a hasher cannot fail.
    let _ = write!(
        digest,
        "basis 1\0{}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}",
        inventory.facts.os, inventory.packages, inventory.backport_history, pending, policy, group
    );
    digest.0.finalize().to_vec()
}

/// A `fmt::Write` into a SHA-256: the `Debug` forms hashed without being built as strings.
struct Hashing(Sha256);

impl std::fmt::Write for Hashing {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.update(text.as_bytes());
        Ok(())
    }
}

/// Re-ranks the findings of `binaries` on the host and keeps the others as stored; `None` when
/// the stored ranking's basis is not the host's now (the caller scans the host whole).
pub(crate) async fn rescan_part(
    cache: &IntelligenceCache,
    store: &Store,
    host_id: &str,
    inputs: &HostInputs,
    binaries: &BTreeSet<String>,
    now: Timestamp,
) -> anyhow::Result<Option<Scanned>> {
    let loaded = cache.for_release(&inputs.os).await?;
    let (_, source) = &*loaded;
    let holds = |basis: Option<&[u8]>, stored_source: &str| {
        basis == Some(inputs.basis.as_slice()) && stored_source == source
    };
    // Decided before the stored list is read: a host scanned whole reads it once, to compare.
    let Some(stored) = store.ranking_basis(host_id).await? else {
        return Ok(None);
    };
    if !holds(stored.basis.as_deref(), &stored.source) {
        return Ok(None);
    }
    // An import that touches most of the host's findings (a kernel advisory on a Debian host:
    // the kernel's binaries hold ~90 % of them) saves nothing in part: scanned whole.
    let touched = store.open_findings_of(host_id, binaries).await?;
    if touched * 4 > stored.findings * 3 {
        return Ok(None);
    }
    // The list and its basis read together (another replica may have ranked the host since).
    let Some(stored) = store.stored_ranking(host_id).await? else {
        return Ok(None);
    };
    if !holds(stored.basis.as_deref(), &stored.source) {
        return Ok(None);
    }
    let list = StoredList::parse(&stored.findings)
        .with_context(|| format!("the stored ranking of host {host_id}"))?;
    let first_seen = store.first_sights_of(host_id, binaries).await?;
    let packages: Vec<InstalledPackage> = (inputs.packages.iter())
        .filter(|p| binaries.contains(&p.name))
        .cloned()
        .collect();
    let upgrades: Vec<Upgrade> = (inputs.evidence.upgrades.iter())
        .filter(|u| binaries.contains(&u.binary))
        .cloned()
        .collect();
    let (intelligence, _) = &*loaded;
    let (findings, backported) =
        crate::findings::rank(intelligence, inputs, &packages, &upgrades, &first_seen, now);
    let current = findings
        .iter()
        .map(CurrentFinding::of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fresh: Vec<(&Finding, &str)> = (findings.iter())
        .zip(current.iter().map(|c| c.json.as_str()))
        .collect();
    let spliced = list.splice(binaries, &fresh);
    let backported = crate::findings::backported_findings(&backported)?;
    if backported.is_empty() && spliced.json == stored.findings {
        return Ok(Some(Scanned::Unchanged(spliced.count())));
    }
    let snapshot = FindingsSnapshot {
        host_id,
        inventory_collected_at: inputs.inventory_collected_at,
        computed_at: now,
        source,
        findings_json: &spliced.json,
        tier_counts_json: &serde_json::to_string(&spliced.tiers)?,
        current: &current,
        backported: &backported,
    };
    let computation = Computation {
        basis: Some(&inputs.basis),
        only: Some(binaries),
    };
    let recorded = crate::findings::record(
        store,
        (&snapshot, &computation),
        inputs,
        &findings,
        &first_seen,
        spliced.count(),
    );
    Ok(Some(match recorded.await? {
        Scanned::Stored(count, events) => Scanned::Reranked(count, events),
        other => other,
    }))
}
