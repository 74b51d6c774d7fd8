//! What the scans of a group of hosts read before ranking, in a statement each for the group
//! (issue 15: feed import → every host re-ranked in ≤ 30 s; pw-controller's `scan_group.rs`):
//! their inventories with whether they reported pending upgrades, those upgrades, and their
//! stored rankings. Read host by host, that was four round trips to the database a host
//! (SQLite's worker thread and back for each). Rows are decoded when a host's scan asks
//! ([`ScanReads::inventory`], [`ScanReads::ranking`]), on the task ranking that host, and a
//! ranking is unpacked only for a host re-ranked in part.

use std::collections::HashMap;

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::controller::{InventoryRow, PendingRow, pending_row};
use crate::findings_group::rows_in;
use crate::findings_scope::{
    RankingBasis, StoredRanking, ranking_basis_of_row, stored_ranking_of_row,
};
use crate::inventory_codec::{inventory_of_row, inventory_of_row_where};

/// What one host's scan reads: its inventory, pending upgrades and stored ranking, as read
/// together for its group ([`Store::scan_reads`]).
pub struct ScanReads {
    host_id: String,
    inventory: AnyRow,
    /// `None`: its agent did not report them.
    pub pending: Option<Vec<PendingRow>>,
    /// The `host_findings` row, if findings were computed.
    ranking: Option<AnyRow>,
}

impl ScanReads {
    /// The inventory ([`Store::inventory_with_digest`]), decoded.
    pub fn inventory(&self) -> anyhow::Result<(InventoryRow, Option<String>)> {
        inventory_of_row(&self.inventory, &self.host_id)
    }

    /// [`Self::inventory`] with only the packages `keep` takes (by name and source name): a
    /// feed import's re-rank in part reads the few it names and copies no other.
    pub fn inventory_where(
        &self,
        keep: impl FnMut(&str, Option<&str>) -> bool,
    ) -> anyhow::Result<(InventoryRow, Option<String>)> {
        inventory_of_row_where(&self.inventory, &self.host_id, keep)
    }

    /// What the stored ranking was computed from ([`Store::ranking_basis`]).
    pub fn ranking_basis(&self) -> anyhow::Result<Option<RankingBasis>> {
        (self.ranking.as_ref().map(ranking_basis_of_row).transpose())
            .with_context(|| format!("reading the ranking basis of host {}", self.host_id))
    }

    /// The stored ranking, unpacked ([`Store::stored_ranking`]).
    pub fn ranking(&self) -> anyhow::Result<Option<StoredRanking>> {
        (self.ranking.as_ref().map(stored_ranking_of_row).transpose())
            .with_context(|| format!("reading the ranking of host {}", self.host_id))
    }
}

impl Store {
    /// What the scans of `host_ids` read, by host id; a host without an inventory is absent.
    /// Three statements (for up to 100 hosts: `findings_group.rs`' `rows_in`).
    pub async fn scan_reads(
        &self,
        host_ids: &[String],
    ) -> anyhow::Result<HashMap<String, ScanReads>> {
        let mut conn = self.pool().acquire().await?;
        let select = "SELECT host_id, collected_at, os, packages, reboot_required,
                reboot_required_by, restart, backport_history, digest, pending_reported
           FROM inventories WHERE host_id IN";
        let inventories = (rows_in(&mut conn, select, host_ids).await)
            .context("reading the inventories of a group of hosts")?;
        let mut reported = Vec::new();
        let mut out = HashMap::with_capacity(inventories.len());
        for row in inventories {
            let host_id: String = row.try_get("host_id")?;
            let pending = crate::flag(&row, "pending_reported")?.then(Vec::new);
            if pending.is_some() {
                reported.push(host_id.clone());
            }
            let reads = ScanReads {
                host_id: host_id.clone(),
                inventory: row,
                pending,
                ranking: None,
            };
            out.insert(host_id, reads);
        }
        if !reported.is_empty() {
            let select = "SELECT * FROM pending_updates WHERE host_id IN";
            let rows = rows_in(&mut conn, select, &reported).await;
            for row in &rows.context("reading the pending updates of a group of hosts")? {
                let host_id: String = row.try_get("host_id")?;
                if let Some(pending) = out.get_mut(&host_id).and_then(|r| r.pending.as_mut()) {
                    pending.push(pending_row(row)?);
                }
            }
            // As `Store::pending_updates` orders them.
            (out.values_mut().filter_map(|r| r.pending.as_mut()))
                .for_each(|p| p.sort_by(|a, b| (&a.package, &a.arch).cmp(&(&b.package, &b.arch))));
        }
        let select = "SELECT host_id, findings, packed, tier_counts, source, basis
                        FROM host_findings WHERE host_id IN";
        let rankings = rows_in(&mut conn, select, host_ids).await;
        for row in rankings.context("reading the rankings of a group of hosts")? {
            let host_id: String = row.try_get("host_id")?;
            if let Some(reads) = out.get_mut(&host_id) {
                reads.ranking = Some(row);
            }
        }
        Ok(out)
    }
}
