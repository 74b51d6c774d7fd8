//! A ranking's **basis**: the digest of what a scan of a host reads besides the advisories —
//! its inventory, pending upgrades, priority policy (with the emergency flags covering the host
//! now) and group — stored with every ranking (`host_findings.basis`, migration 0042). A feed
//! import re-ranks a host in part only while the stored basis is the host's now
//! (`rerank_scan.rs`).
//!
//! Digested from stable encodings, not from `Debug` forms (which a build may change, and
//! which were ~1,500 packages formatted and hashed for every re-rank): the inventory by the
//! content digest stored with it (pw-protocol's `InventoryContent::digest`, over the canonical
//! package list and the changelogs' history), the pending rows as JSON arrays of their columns
//! in (package, arch) order, the policy by its serialized form (pw-priority's `Serialize`), the
//! group as JSON. A row without a content digest (not converted since migration 0034) has no
//! basis: its host is scanned whole.

use pw_priority::PriorityPolicy;
use pw_store::PendingRow;
use sha2::{Digest, Sha256};

/// The encoding's version, digested first: a change of what is digested changes every basis
/// (each host is then scanned whole once).
const VERSION: &str = "patchwarden ranking basis 2";

/// The basis of a scan of an inventory with content digest `inventory` (`None`: unknown) on
/// `os`, with the host's `pending` upgrades (`None`: not reported), ranked by `policy` for
/// `group`; `None` when the inventory's digest is unknown.
pub fn basis(
    inventory: Option<&str>,
    os: &str,
    pending: Option<&[PendingRow]>,
    policy: &PriorityPolicy,
    group: Option<&str>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(inventory) = inventory else {
        return Ok(None);
    };
    let pending = pending.map(|rows| {
        let mut rows: Vec<[Option<&str>; 7]> = rows.iter().map(pending_columns).collect();
        rows.sort();
        rows
    });
    let mut digest = Sha256::new();
    for part in [
        VERSION.as_bytes(),
        inventory.as_bytes(),
        os.as_bytes(),
        &serde_json::to_vec(&pending)?,
        &serde_json::to_vec(policy)?,
        &serde_json::to_vec(&group)?,
    ] {
        // Each part with its length first: no two lists of parts hash the same bytes.
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    Ok(Some(digest.finalize().to_vec()))
}

/// A pending row's columns, the (package, arch) key first.
fn pending_columns(row: &PendingRow) -> [Option<&str>; 7] {
    [
        Some(&row.package),
        Some(&row.arch),
        Some(&row.from_version),
        Some(&row.to_version),
        Some(&row.origin),
        Some(&row.suite),
        row.cves.as_ref(),
    ]
    .map(|column| column.map(String::as_str))
}

#[cfg(test)]
#[path = "ranking_basis_tests.rs"]
mod tests;
