//! Inventory reports: the one write path of an agent's report, full or delta (issue 15,
//! docs/agent.md "Inventory deltas"). The content is compared by its digest (pw-protocol's
//! `InventoryContent::digest`, stored beside the compressed list: inventory_codec.rs): a report
//! equal to the stored one (content, OS, reboot facts, restart facts, pending updates) only
//! moves its times — no audit record, no scan. A delta applies to the stored content only when
//! the stored digest is its base and the result's digest is the one the agent computed; an
//! unchanged delta (no change, base = result) is settled from the digest column alone, without
//! reading the package list. Encoding and compressing happen before the write transaction.

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::ContentDelta;
use sqlx::Row;

use crate::Store;
use crate::audit::{AuditEntry, append};
use crate::controller::{InventoryFacts, InventoryRow, PendingRow, pending_row};
use crate::inventory_codec::{PreparedContent, decode};

/// What [`Store::store_inventory`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryStored {
    /// A new or different inventory: stored and audited; its findings need computing.
    Changed,
    /// The same as the stored one: only its collection time and the host's last sight moved.
    Unchanged,
}

/// A stored report: what happened, and the stored content's digest and package count (the
/// agent's acknowledgement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInventory {
    pub outcome: InventoryStored,
    pub digest: String,
    pub packages: usize,
}

/// A delta report's content part: changes against the content with digest `base`, giving the
/// content with digest `result`.
#[derive(Debug, Clone, Copy)]
pub struct ContentChange<'a> {
    pub base: &'a str,
    pub result: &'a str,
    pub changes: &'a ContentDelta,
}

type Tx = crate::WriteTx;

/// The stored row's digest and facts (not its package list).
struct StoredHead {
    digest: Option<String>,
    count: usize,
    has_history: bool,
    os: String,
    reboot_required: bool,
    reboot_required_by: String,
    restart: Option<String>,
    pending_reported: bool,
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
        inventory: InventoryRow,
        pending: Option<&[PendingRow]>,
    ) -> anyhow::Result<StoredInventory> {
        let mut clock = crate::write_clock::WriteClock::start();
        let InventoryRow {
            facts,
            mut packages,
            backport_history,
        } = inventory;
        let history = backport_history.as_ref();
        let prepared = PreparedContent::of_report(&mut packages, history, &self.packs)?;
        drop((packages, backport_history));
        clock.lap("prepare");
        let mut tx = self.begin_immediate_report().await?;
        clock.lap("turn");
        let head = read_head(&mut tx, host_id).await?;
        clock.lap("head");
        let same_content = head
            .as_ref()
            .is_some_and(|h| h.digest.as_deref() == Some(prepared.digest.as_str()));
        let write = (!same_content).then_some(&prepared);
        let stored = (head.as_ref(), write);
        let outcome = settle(&mut tx, (host_id, hostname), &facts, stored, pending).await?;
        clock.lap("settle");
        let (digest, packages) = (prepared.digest, prepared.count);
        tx.commit().await.context("committing the inventory")?;
        clock.lap("commit");
        clock.log_write("inventory");
        Ok(StoredInventory {
            outcome,
            digest,
            packages,
        })
    }

    /// Applies a delta report to the stored inventory; `None` (nothing stored) when the stored
    /// content is not `change.base` (another content, none, a restored database) or the
    /// result's digest is not `change.result`: the agent must send a full report.
    pub async fn store_inventory_delta(
        &self,
        (host_id, hostname): (&str, &str),
        facts: &InventoryFacts,
        change: ContentChange<'_>,
        pending: Option<&[PendingRow]>,
    ) -> anyhow::Result<Option<StoredInventory>> {
        let prepared = if unchanged_delta(&change) {
            None
        } else {
            match self.applied(host_id, &change).await? {
                Some(prepared) => Some(prepared),
                None => return Ok(None),
            }
        };
        let mut tx = self.begin_immediate_report().await?;
        let Some(head) = read_head(&mut tx, host_id).await? else {
            return Ok(None);
        };
        // Checked again under the write lock: another report may have landed meanwhile.
        if head.digest.as_deref() != Some(change.base) {
            return Ok(None);
        }
        if prepared.is_none() && head.has_history != change.changes.backport_history.is_some() {
            // "Unchanged" would add or drop the history: the result is not the base.
            return Ok(None);
        }
        let stored = (Some(&head), prepared.as_ref());
        let outcome = settle(&mut tx, (host_id, hostname), facts, stored, pending).await?;
        let packages = prepared.as_ref().map_or(head.count, |p| p.count);
        tx.commit().await.context("committing the inventory")?;
        Ok(Some(StoredInventory {
            outcome,
            digest: change.result.to_owned(),
            packages,
        }))
    }

    /// The stored content with `change` applied, encoded, if the stored digest is the base
    /// and the result's is `change.result` (read outside the write transaction; the caller
    /// checks the base again under it).
    async fn applied(
        &self,
        host_id: &str,
        change: &ContentChange<'_>,
    ) -> anyhow::Result<Option<PreparedContent>> {
        let row = sqlx::query(
            "SELECT digest, packages, backport_history FROM inventories WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the inventory of host {host_id}"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        if row.try_get::<Option<String>, _>("digest")?.as_deref() != Some(change.base) {
            return Ok(None);
        }
        let blob: Vec<u8> = row.try_get("packages")?;
        let history: Option<String> = row.try_get("backport_history")?;
        let mut content = decode(&blob, history.as_deref())
            .with_context(|| format!("the inventory of host {host_id}"))?;
        content.apply(change.changes);
        let prepared = PreparedContent::new(&content, &self.packs)?;
        Ok((prepared.digest == change.result).then_some(prepared))
    }
}

/// A delta that claims no change at all: settled from the digest column alone.
fn unchanged_delta(change: &ContentChange<'_>) -> bool {
    let history_unchanged = change
        .changes
        .backport_history
        .as_ref()
        .is_none_or(|h| h.changed.is_empty() && h.removed.is_empty());
    change.base == change.result && change.changes.packages_unchanged() && history_unchanged
}

/// Stores `content` (when it differs from the stored row `head`) and `facts`, or — content the
/// same and the facts too — only the times.
async fn settle(
    tx: &mut Tx,
    (host_id, hostname): (&str, &str),
    facts: &InventoryFacts,
    (head, content): (Option<&StoredHead>, Option<&PreparedContent>),
    pending: Option<&[PendingRow]>,
) -> anyhow::Result<InventoryStored> {
    let now = Timestamp::now().to_string();
    let same = match (head, content) {
        (Some(head), None) => same_facts(tx, host_id, head, facts, pending).await?,
        _ => false,
    };
    if same {
        touch(tx, (host_id, hostname), facts, &now).await?;
        return Ok(InventoryStored::Unchanged);
    }
    match content {
        Some(content) => write_content(tx, host_id, facts, content, (pending, &now)).await?,
        None => write_facts(tx, host_id, facts, (pending, &now)).await?,
    }
    sqlx::query("UPDATE hosts SET os = $1, hostname = $2, last_seen_at = $3 WHERE id = $4")
        .bind(&facts.os)
        .bind(hostname)
        .bind(&now)
        .bind(host_id)
        .execute(&mut **tx)
        .await
        .context("updating the host")?;
    write_pending(tx, host_id, pending).await?;
    let count = content.map(|c| c.count).or(head.map(|h| h.count));
    let actor = format!("agent:{host_id}");
    let details = serde_json::json!({
        "os": facts.os,
        "packages": count,
        "pending_updates": pending.map(|p| p.len()),
        "reboot_required": facts.reboot_required,
    });
    let entry = AuditEntry {
        actor: &actor,
        action: "inventory.reported",
        subject: host_id,
        details,
    };
    append(tx, &entry).await?;
    Ok(InventoryStored::Changed)
}

async fn write_content(
    tx: &mut Tx,
    host_id: &str,
    facts: &InventoryFacts,
    content: &PreparedContent,
    (pending, now): (Option<&[PendingRow]>, &str),
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO inventories (host_id, reported_at, collected_at, os, packages,
           package_count, reboot_required, reboot_required_by, pending_reported,
           backport_history, restart, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (host_id) DO UPDATE SET reported_at = excluded.reported_at,
           collected_at = excluded.collected_at, os = excluded.os,
           packages = excluded.packages, package_count = excluded.package_count,
           reboot_required = excluded.reboot_required,
           reboot_required_by = excluded.reboot_required_by,
           pending_reported = excluded.pending_reported,
           backport_history = excluded.backport_history, restart = excluded.restart,
           digest = excluded.digest",
    )
    .bind(host_id)
    .bind(now)
    .bind(facts.collected_at.to_string())
    .bind(&facts.os)
    .bind(&content.blob)
    .bind(content.count as i64)
    .bind(i64::from(facts.reboot_required))
    .bind(&facts.reboot_required_by)
    .bind(i64::from(pending.is_some()))
    .bind(&content.history)
    .bind(&facts.restart)
    .bind(&content.digest)
    .execute(&mut **tx)
    .await
    .with_context(|| format!("storing the inventory of host {host_id}"))?;
    Ok(())
}

/// The facts of a report whose content is the stored one.
async fn write_facts(
    tx: &mut Tx,
    host_id: &str,
    facts: &InventoryFacts,
    (pending, now): (Option<&[PendingRow]>, &str),
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE inventories SET reported_at = $1, collected_at = $2, os = $3,
           reboot_required = $4, reboot_required_by = $5, pending_reported = $6, restart = $7
         WHERE host_id = $8",
    )
    .bind(now)
    .bind(facts.collected_at.to_string())
    .bind(&facts.os)
    .bind(i64::from(facts.reboot_required))
    .bind(&facts.reboot_required_by)
    .bind(i64::from(pending.is_some()))
    .bind(&facts.restart)
    .bind(host_id)
    .execute(&mut **tx)
    .await
    .with_context(|| format!("storing the inventory of host {host_id}"))?;
    Ok(())
}

async fn write_pending(
    tx: &mut Tx,
    host_id: &str,
    pending: Option<&[PendingRow]>,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM pending_updates WHERE host_id = $1")
        .bind(host_id)
        .execute(&mut **tx)
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
        .execute(&mut **tx)
        .await
        .with_context(|| format!("storing the pending update of {}", update.package))?;
    }
    Ok(())
}

async fn read_head(tx: &mut Tx, host_id: &str) -> anyhow::Result<Option<StoredHead>> {
    let row = sqlx::query(
        "SELECT digest, package_count, os,
                CAST(CASE WHEN backport_history IS NULL THEN 0 ELSE 1 END AS BIGINT)
                  AS has_history,
                reboot_required, reboot_required_by, restart, pending_reported
           FROM inventories WHERE host_id = $1",
    )
    .bind(host_id)
    .fetch_optional(&mut **tx)
    .await
    .with_context(|| format!("reading the inventory of host {host_id}"))?;
    row.map(|row| {
        Ok(StoredHead {
            digest: row.try_get("digest")?,
            count: row.try_get::<i64, _>("package_count")? as usize,
            has_history: crate::flag(&row, "has_history")?,
            os: row.try_get("os")?,
            reboot_required: crate::flag(&row, "reboot_required")?,
            reboot_required_by: row.try_get("reboot_required_by")?,
            restart: row.try_get("restart")?,
            pending_reported: crate::flag(&row, "pending_reported")?,
        })
    })
    .transpose()
}

/// Whether the stored facts (`head`, and the pending updates) equal the report's.
async fn same_facts(
    tx: &mut Tx,
    host_id: &str,
    head: &StoredHead,
    facts: &InventoryFacts,
    pending: Option<&[PendingRow]>,
) -> anyhow::Result<bool> {
    let same = head.os == facts.os
        && head.reboot_required == facts.reboot_required
        && head.reboot_required_by == facts.reboot_required_by
        && head.restart == facts.restart
        && head.pending_reported == pending.is_some();
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
    (host_id, hostname): (&str, &str),
    facts: &InventoryFacts,
    now: &str,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE inventories SET reported_at = $1, collected_at = $2 WHERE host_id = $3")
        .bind(now)
        .bind(facts.collected_at.to_string())
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
