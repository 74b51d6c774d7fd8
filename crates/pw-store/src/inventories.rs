//! Inventory reports: the one write path of an agent's report. A report equal to the stored one
//! (packages, OS, reboot facts, changelog history, restart facts, pending updates) only moves
//! its times: an unchanged fleet costs the controller one small update per report, no audit
//! record and no scan (issue 15).

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

use crate::Store;
use crate::audit::{AuditEntry, append};
use crate::controller::{InventoryRow, PendingRow, pending_row};

/// What [`Store::store_inventory`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryStored {
    /// A new or different inventory: stored and audited; its findings need computing.
    Changed,
    /// The same as the stored one: only its collection time and the host's last sight moved.
    Unchanged,
}

impl Store {
    /// Replaces the host's inventory (and pending updates when reported) in one transaction,
    /// or, when the report equals the stored one in everything but its time, only records when
    /// it was collected and seen ([`InventoryStored::Unchanged`]: no audit record, nothing for
    /// the controller to scan again).
    pub async fn store_inventory(
        &self,
        host_id: &str,
        hostname: &str,
        inventory: &InventoryRow,
        pending: Option<&[PendingRow]>,
    ) -> anyhow::Result<InventoryStored> {
        let mut tx = self.begin_immediate().await?;
        let now = Timestamp::now().to_string();
        if unchanged(&mut tx, host_id, inventory, pending).await? {
            touch(&mut tx, host_id, hostname, inventory, &now).await?;
            tx.commit().await.context("committing the inventory")?;
            return Ok(InventoryStored::Unchanged);
        }
        sqlx::query(
            "INSERT INTO inventories (host_id, reported_at, collected_at, os, packages,
               package_count, reboot_required, reboot_required_by, pending_reported,
               backport_history, restart)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (host_id) DO UPDATE SET reported_at = excluded.reported_at,
               collected_at = excluded.collected_at, os = excluded.os,
               packages = excluded.packages, package_count = excluded.package_count,
               reboot_required = excluded.reboot_required,
               reboot_required_by = excluded.reboot_required_by,
               pending_reported = excluded.pending_reported,
               backport_history = excluded.backport_history, restart = excluded.restart",
        )
        .bind(host_id)
        .bind(&now)
        .bind(inventory.collected_at.to_string())
        .bind(&inventory.os)
        .bind(&inventory.packages)
        .bind(inventory.package_count as i64)
        .bind(i64::from(inventory.reboot_required))
        .bind(&inventory.reboot_required_by)
        .bind(i64::from(pending.is_some()))
        .bind(&inventory.backport_history)
        .bind(&inventory.restart)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing the inventory of host {host_id}"))?;
        sqlx::query("UPDATE hosts SET os = $1, hostname = $2, last_seen_at = $3 WHERE id = $4")
            .bind(&inventory.os)
            .bind(hostname)
            .bind(&now)
            .bind(host_id)
            .execute(&mut *tx)
            .await
            .context("updating the host")?;
        sqlx::query("DELETE FROM pending_updates WHERE host_id = $1")
            .bind(host_id)
            .execute(&mut *tx)
            .await
            .context("clearing pending updates")?;
        for update in pending.unwrap_or_default() {
            sqlx::query(
                "INSERT INTO pending_updates
                   (host_id, package, arch, from_version, to_version, origin, suite, cves)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (host_id, package, arch) DO UPDATE SET
                   from_version = excluded.from_version, to_version = excluded.to_version,
                   origin = excluded.origin, suite = excluded.suite, cves = excluded.cves",
            )
            .bind(host_id)
            .bind(&update.package)
            .bind(&update.arch)
            .bind(&update.from_version)
            .bind(&update.to_version)
            .bind(&update.origin)
            .bind(&update.suite)
            .bind(&update.cves)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing the pending update of {}", update.package))?;
        }
        let actor = format!("agent:{host_id}");
        let details = serde_json::json!({
            "os": inventory.os,
            "packages": inventory.package_count,
            "pending_updates": pending.map(|p| p.len()),
            "reboot_required": inventory.reboot_required,
        });
        let entry = AuditEntry {
            actor: &actor,
            action: "inventory.reported",
            subject: host_id,
            details,
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the inventory")?;
        Ok(InventoryStored::Changed)
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Whether the stored inventory (and pending updates) equal the report in everything but time.
async fn unchanged(
    tx: &mut Tx,
    host_id: &str,
    inventory: &InventoryRow,
    pending: Option<&[PendingRow]>,
) -> anyhow::Result<bool> {
    let Some(row) = sqlx::query(
        "SELECT os, packages, reboot_required, reboot_required_by, backport_history, restart,
                pending_reported
           FROM inventories WHERE host_id = $1",
    )
    .bind(host_id)
    .fetch_optional(&mut **tx)
    .await
    .with_context(|| format!("reading the inventory of host {host_id}"))?
    else {
        return Ok(false);
    };
    let same = row.try_get::<String, _>("os")? == inventory.os
        && crate::flag(&row, "reboot_required")? == inventory.reboot_required
        && row.try_get::<String, _>("reboot_required_by")? == inventory.reboot_required_by
        && row.try_get::<Option<String>, _>("backport_history")? == inventory.backport_history
        && row.try_get::<Option<String>, _>("restart")? == inventory.restart
        && crate::flag(&row, "pending_reported")? == pending.is_some()
        && row.try_get::<String, _>("packages")? == inventory.packages;
    if !same {
        return Ok(false);
    }
    let Some(pending) = pending else {
        return Ok(true);
    };
    let stored = sqlx::query("SELECT * FROM pending_updates WHERE host_id = $1")
        .bind(host_id)
        .fetch_all(&mut **tx)
        .await
        .context("reading pending updates")?
        .iter()
        .map(pending_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(same_set(stored, pending))
}

/// Equal as sets (the stored rows come in any order; a report never repeats a package × arch).
fn same_set(mut stored: Vec<PendingRow>, reported: &[PendingRow]) -> bool {
    let mut reported = reported.to_vec();
    let key = |r: &PendingRow| (r.package.clone(), r.arch.clone());
    stored.sort_by_key(key);
    reported.sort_by_key(key);
    stored == reported
}

/// An unchanged report: its times and the host's name and last sight.
async fn touch(
    tx: &mut Tx,
    host_id: &str,
    hostname: &str,
    inventory: &InventoryRow,
    now: &str,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE inventories SET reported_at = $1, collected_at = $2 WHERE host_id = $3")
        .bind(now)
        .bind(inventory.collected_at.to_string())
        .bind(host_id)
        .execute(&mut **tx)
        .await
        .context("recording the inventory's time")?;
    sqlx::query("UPDATE hosts SET hostname = $1, last_seen_at = $2 WHERE id = $3")
        .bind(hostname)
        .bind(now)
        .bind(host_id)
        .execute(&mut **tx)
        .await
        .context("updating the host")?;
    Ok(())
}
