//! A host's open findings counted per tier and deadline (`open_tier_hosts`, migrations 0036 and
//! 0041: the /metrics gauges and the deadline check), kept by the findings write path in its
//! transaction.
//!
//! A count is a sum, so a write adjusts it by what it changed ([`TierDeltas`]: +1 for each
//! episode it opens, −1 for each it closes, both for one whose tier or deadline moved) instead
//! of counting the host's open findings again: a feed import's re-rank changes a handful of a
//! host's ~1,000 open findings, and counting them all again, for each group of hosts, was
//! ~0.8 ms a host in the writers' line (issue 15). The group's stored rows are read, adjusted
//! and the changed hosts' rows rewritten: three statements for the group. A host whose stored
//! counts cannot take its changes (a count would fall below zero: rows not kept by this path)
//! is counted again from its open findings, as before.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use sqlx::Row;

use crate::db::placeholders;

/// A tier and a deadline (nanoseconds since the epoch, `instants.rs`; `None`: none).
type TierDeadline = (i64, Option<i64>);

/// What a write changed in one host's counts: findings to add per tier and deadline (negative:
/// to remove).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct TierDeltas(BTreeMap<TierDeadline, i64>);

impl TierDeltas {
    /// An episode opened (`+1`) or closed (`-1`) with this tier and deadline.
    pub(crate) fn add(&mut self, tier: i64, deadline: Option<i64>, findings: i64) {
        *self.0.entry((tier, deadline)).or_default() += findings;
    }

    /// Whether no count changes.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.values().all(|delta| *delta == 0)
    }

    fn merge(&mut self, other: &TierDeltas) {
        for ((tier, deadline), delta) in &other.0 {
            self.add(*tier, *deadline, *delta);
        }
    }

    /// `counts` with these changes, or `None` when a count would fall below zero.
    fn applied(
        &self,
        mut counts: BTreeMap<TierDeadline, i64>,
    ) -> Option<BTreeMap<TierDeadline, i64>> {
        for (key, delta) in &self.0 {
            let count = counts.entry(*key).or_default();
            *count += delta;
            if *count < 0 {
                return None;
            }
        }
        counts.retain(|_, count| *count > 0);
        Some(counts)
    }
}

/// A host whose counts a write changed: its id, finding key and changes.
pub(crate) type TierHost<'a> = (&'a str, i64, &'a TierDeltas);

/// Adjusts the counts of `hosts` (a host may come more than once: its changes add up) by their
/// changes, in `tx` after their open findings were written.
pub(crate) async fn adjust(
    tx: &mut sqlx::AnyConnection,
    hosts: &[TierHost<'_>],
) -> anyhow::Result<()> {
    let mut changes: BTreeMap<&str, (i64, TierDeltas)> = BTreeMap::new();
    for (host_id, host_key, deltas) in hosts {
        let entry = changes
            .entry(host_id)
            .or_insert((*host_key, TierDeltas::default()));
        entry.1.merge(deltas);
    }
    changes.retain(|_, (_, deltas)| !deltas.is_empty());
    let ids: Vec<&str> = changes.keys().copied().collect();
    let mut stored = stored_counts(tx, &ids).await?;
    let mut rows: Vec<(&str, TierDeadline, i64)> = Vec::new();
    let mut recount: Vec<(&str, i64)> = Vec::new();
    for (host_id, (host_key, deltas)) in &changes {
        let counts = stored.remove(*host_id).unwrap_or_default();
        match deltas.applied(counts) {
            Some(counts) => {
                rows.extend((counts.into_iter()).map(|(key, count)| (*host_id, key, count)))
            }
            None => recount.push((host_id, *host_key)),
        }
    }
    if !recount.is_empty() {
        tracing::warn!(
            hosts = recount.len(),
            "stored open findings per tier disagree with a write's changes: counted again"
        );
    }
    delete_rows(tx, &ids).await?;
    insert_rows(tx, &rows).await?;
    count_again(tx, &recount).await
}

/// The stored counts of `host_ids`, by host.
async fn stored_counts(
    tx: &mut sqlx::AnyConnection,
    host_ids: &[&str],
) -> anyhow::Result<HashMap<String, BTreeMap<TierDeadline, i64>>> {
    let mut counts: HashMap<String, BTreeMap<TierDeadline, i64>> = HashMap::new();
    for chunk in host_ids.chunks(HOSTS) {
        let sql = format!(
            "SELECT host_id, tier, deadline, findings FROM open_tier_hosts
             WHERE host_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for host_id in chunk {
            query = query.bind(*host_id);
        }
        let rows = (query.fetch_all(&mut *tx).await)
            .with_context(|| format!("reading the tier counts of {} hosts", chunk.len()))?;
        for row in &rows {
            let key = (row.try_get("tier")?, row.try_get("deadline")?);
            let host: String = row.try_get("host_id")?;
            counts
                .entry(host)
                .or_default()
                .insert(key, row.try_get("findings")?);
        }
    }
    Ok(counts)
}

/// Host ids per `IN (…)` list (SQLite binds numbered parameters by a linear search:
/// `findings_write.rs`, `PARAMETERS`).
const HOSTS: usize = 100;

async fn delete_rows(tx: &mut sqlx::AnyConnection, host_ids: &[&str]) -> anyhow::Result<()> {
    for chunk in host_ids.chunks(HOSTS) {
        let delete = format!(
            "DELETE FROM open_tier_hosts WHERE host_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(delete));
        for host_id in chunk {
            query = query.bind(*host_id);
        }
        (query.execute(&mut *tx).await)
            .with_context(|| format!("clearing the tier counts of {} hosts", chunk.len()))?;
    }
    Ok(())
}

/// Rows per statement of [`insert_rows`] (bound by position on SQLite: `db::value_rows_in`).
const ROWS: usize = 500;

async fn insert_rows(
    tx: &mut sqlx::AnyConnection,
    rows: &[(&str, TierDeadline, i64)],
) -> anyhow::Result<()> {
    for chunk in rows.chunks(ROWS) {
        let insert = format!(
            "INSERT INTO open_tier_hosts (host_id, tier, deadline, findings) VALUES {}",
            crate::db::value_rows_in(tx, chunk.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
        for (host_id, (tier, deadline), findings) in chunk {
            query = query
                .bind(*host_id)
                .bind(*tier)
                .bind(*deadline)
                .bind(*findings);
        }
        (query.execute(&mut *tx).await)
            .with_context(|| format!("storing {} tier counts", chunk.len()))?;
    }
    Ok(())
}

/// Counts the open findings of `hosts` (id, finding key) per tier and deadline again, from
/// their open findings (their rows cleared before).
async fn count_again(tx: &mut sqlx::AnyConnection, hosts: &[(&str, i64)]) -> anyhow::Result<()> {
    for chunk in hosts.chunks(HOSTS) {
        let insert = format!(
            "INSERT INTO open_tier_hosts (host_id, tier, deadline, findings)
             SELECT h.host_id, o.tier, o.deadline, COUNT(*)
             FROM open_findings o JOIN finding_hosts h ON h.key = o.host_key
             WHERE o.host_key IN ({})
             GROUP BY h.host_id, o.tier, o.deadline",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
        for (_, host_key) in chunk {
            query = query.bind(*host_key);
        }
        query.execute(&mut *tx).await.with_context(|| {
            format!(
                "counting the open findings of {} hosts per tier",
                chunk.len()
            )
        })?;
    }
    Ok(())
}
