//! The console's summaries of open findings (migration `0026_open_updates.sql`), kept by the
//! findings write path in its transaction (issue 12: `/findings` and `/hosts?overdue` at 10,000
//! hosts and 1,000,000 findings without grouping the findings on each request).
//!
//! After a computation changed a host's history (or a group's, written together: their rows in
//! the same few statements), the host's open findings are grouped by update
//! (package, fixed version) — one row per update in `open_update_hosts` — and compared with the
//! rows stored for it; the rows that differ are rewritten from that grouping (one pass over the
//! host's open findings joined with their texts, not a second one to write them). Since migrations 0043–0044
//! an update is named by its key in `update_keys` (given the first time a finding text names
//! the update, never removed), which each text holds: a host's rows are keyed by the host's
//! finding key and the update's key, and grouped by the texts' keys without reading a name.
//! Each update that changed gets its `open_updates` row (by package and fixed version) worked
//! out from the rows taken out and put in (`update_extremes.rs`, since 0056: its most urgent
//! tier, earliest deadline, KEV and highest EPSS kept with how many hosts' rows hold each; a
//! host's EPSS in integer parts per billion since 0054, `epss_parts.rs`). The host's
//! earliest open deadline goes to `host_findings.earliest_deadline` (its open findings per tier
//! and deadline are adjusted by the write's changes: `open_tiers.rs`).
//!
//! `''` is the fixed version of an update that has none (key columns are never NULL).

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::Row;

use crate::covered_updates::CoveredUpdates;
use crate::findings_write::rows_per_statement;
use crate::update_extremes::UpdateChange;
use crate::write_clock::WriteClock;

/// An update's key (`update_keys.id`).
pub(crate) type UpdateKey = i64;

/// One host's open findings of one update.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostUpdate {
    pub(crate) findings: i64,
    pub(crate) tier: i64,
    /// Nanoseconds since the epoch (`instants.rs`).
    pub(crate) deadline: Option<i64>,
    pub(crate) kev: i64,
    /// The highest EPSS in parts per billion (`epss_parts.rs`).
    pub(crate) epss: Option<i64>,
    /// How many of the findings hold the row's tier, deadline, KEV and EPSS, in that order
    /// (migration 0055); `None`: not known (a row stored before it, or a count over
    /// [`MAX_COUNT`]).
    pub(crate) at: [Option<i64>; 4],
}

/// The largest count at an extreme stored (16 bits a count, the last one's top bit the sign);
/// a larger one is stored as not known.
const MAX_COUNT: i64 = i16::MAX as i64;

/// [`HostUpdate::at`] as `open_update_hosts.extreme_counts` stores it: 16 bits a count from
/// the low end, 0 where not known.
fn pack_counts(at: [Option<i64>; 4]) -> i64 {
    (at.iter().enumerate()).fold(0, |packed, (place, count)| {
        let count = count.filter(|n| (1..=MAX_COUNT).contains(n)).unwrap_or(0);
        packed | count << (16 * place)
    })
}

/// [`pack_counts`] undone.
fn unpack_counts(packed: i64) -> [Option<i64>; 4] {
    std::array::from_fn(|place| Some(packed >> (16 * place) & 0xffff).filter(|n| *n > 0))
}

/// A host whose summaries are refreshed: its id, finding key (`finding_hosts`) and, for a
/// computation in part, its covered rows' updates ([`CoveredUpdates`]).
pub(crate) type SummaryHost<'a> = (&'a str, i64, Option<CoveredUpdates>);

/// A host's row of an update: (host key, update key).
pub(crate) type RowKey = (i64, UpdateKey);

/// Brings the summaries up to date with the open findings of `hosts` (call after their
/// histories were written, in the same transaction): a few statements for a group of hosts
/// written together (`Store::record_computations`), not a few per host.
pub(crate) async fn refresh_hosts(
    tx: &mut sqlx::AnyConnection,
    hosts: &[SummaryHost<'_>],
    clock: &mut WriteClock,
) -> anyhow::Result<()> {
    for chunk in hosts.chunks(rows_per_statement(1)) {
        refresh_chunk(tx, chunk, clock).await?;
    }
    Ok(())
}

/// The most updates of a host whose stored rows a refresh reads pair by pair; a host whose
/// covered findings touch more has all its rows read by its key (a re-rank in part touches a
/// few of a host's ~60; a whole computation, all of them: ~0.4 ms a host read by pairs).
const TOUCHED_BY_PAIRS: usize = 8;

async fn refresh_chunk(
    tx: &mut sqlx::AnyConnection,
    hosts: &[SummaryHost<'_>],
    clock: &mut WriteClock,
) -> anyhow::Result<()> {
    let keys: Vec<i64> = hosts.iter().map(|(_, key, _)| *key).collect();
    // Hosts computed from their covered rows, of which only the touched updates' rows are read
    // when they are few (a host has ~60 rows; a re-rank in part touches a few), else all the
    // host's; the others (and a host written twice in the group, whose stored rows are from
    // before its first write) grouped again, their rows read whole.
    let once = |key: &i64| keys.iter().filter(|k| *k == key).count() == 1;
    let mut whole: Vec<i64> = Vec::new();
    let mut touched: Vec<RowKey> = Vec::new();
    let mut by_key: BTreeMap<i64, Vec<UpdateKey>> = BTreeMap::new();
    for (_, key, covered) in hosts {
        let updates = covered.as_ref().filter(|_| once(key)).map(|c| c.touched());
        match updates {
            Some(updates) if updates.len() <= TOUCHED_BY_PAIRS => {
                touched.extend(updates.into_iter().map(|update| (*key, update)))
            }
            // Many updates touched (a whole computation touches all of them): the host's rows
            // read in one range by its key, not pair by pair, and those of the updates not
            // touched set aside (a write in part leaves them as they are).
            Some(updates) => {
                whole.push(*key);
                by_key.insert(*key, updates);
            }
            None => whole.push(*key),
        }
    }
    let mut before = stored(tx, &whole, &touched).await?;
    before.retain(|(host, update), _| {
        (by_key.get(host)).is_none_or(|updates| updates.binary_search(update).is_ok())
    });
    clock.lap("sum_stored");
    let mut now = BTreeMap::new();
    let mut regroup = Vec::new();
    let mut pairs: Vec<RowKey> = Vec::new();
    let mut contradicted = Vec::new();
    for (_, key, covered) in hosts {
        let Some(covered) = covered.as_ref().filter(|_| once(key)) else {
            regroup.push(*key);
            continue;
        };
        match covered.rows(*key, &before) {
            Some(rows) => {
                now.extend(rows.rows);
                pairs.extend(rows.unknown.iter().map(|update| (*key, *update)));
            }
            None => contradicted.push(*key),
        }
    }
    // A stored row contradicts the covered rows: the host is grouped again whole, its rows
    // read whole.
    if !contradicted.is_empty() {
        before.extend(stored(tx, &contradicted, &[]).await?);
        regroup.extend(contradicted);
    }
    clock.lap("sum_covered");
    tracing::debug!(
        hosts = hosts.len(),
        grouped_again = regroup.len(),
        updates_grouped_again = pairs.len(),
        "summaries refreshed"
    );
    if !regroup.is_empty() {
        now.extend(grouped(tx, &regroup, &[]).await?);
    }
    for chunk in pairs.chunks(rows_per_statement(3)) {
        now.extend(grouped(tx, &[], chunk).await?);
    }
    clock.lap("sum_grouped");
    let (changed, by_update) = changes(&before, &now);
    if changed.is_empty() {
        return Ok(());
    }
    rewrite_host_rows(tx, &changed, (&before, &now)).await?;
    clock.lap("sum_rows");
    crate::update_extremes::adjust(tx, &by_update).await?;
    clock.lap("sum_updates");
    let mut summarised: Vec<i64> = changed.iter().map(|(host, _)| *host).collect();
    summarised.sort_unstable();
    summarised.dedup();
    earliest_deadlines(tx, &summarised).await?;
    clock.lap("sum_deadlines");
    Ok(())
}

/// The rows that differ between `before` and `now` (the same hosts' rows, or the same rows of
/// them), and per update touched the rows taken out of its summary and put in.
fn changes<'a>(
    before: &'a BTreeMap<RowKey, HostUpdate>,
    now: &'a BTreeMap<RowKey, HostUpdate>,
) -> (Vec<RowKey>, BTreeMap<UpdateKey, UpdateChange<'a>>) {
    let mut by_update: BTreeMap<UpdateKey, UpdateChange<'a>> = BTreeMap::new();
    let mut changed: Vec<RowKey> = Vec::new();
    for (key, row) in now {
        let old = before.get(key);
        if old == Some(row) {
            continue;
        }
        let change = by_update.entry(key.1).or_default();
        change.removed.extend(old);
        change.added.push(row);
        changed.push(*key);
    }
    for (key, old) in before {
        if !now.contains_key(key) {
            by_update.entry(key.1).or_default().removed.push(old);
            changed.push(*key);
        }
    }
    (changed, by_update)
}

/// The hosts' earliest open deadlines (`host_findings.earliest_deadline`): of their updates'
/// rows, as rewritten.
async fn earliest_deadlines(tx: &mut sqlx::AnyConnection, keys: &[i64]) -> anyhow::Result<()> {
    let sql = format!(
        "UPDATE host_findings SET earliest_deadline =
           (SELECT MIN(u.deadline) FROM open_update_hosts u JOIN finding_hosts h
              ON h.key = u.host_key WHERE h.host_id = host_findings.host_id)
         WHERE host_id IN (SELECT host_id FROM finding_hosts WHERE key IN ({}))",
        crate::db::placeholders(1, keys.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for key in keys {
        query = query.bind(*key);
    }
    query
        .execute(&mut *tx)
        .await
        .with_context(|| format!("summarising the deadlines of {} hosts", keys.len()))?;
    Ok(())
}

/// The hosts' open findings grouped by host and update: the one pass over them joined with
/// their texts (a text's row is large and a host's are spread over the file: this join is the
/// refresh's cost, so the rows that changed are written from its result, not from a second
/// join) — of the hosts `keys`, whole, or of the (host, update) `pairs` only (each host's
/// open findings still joined with their texts, but only the pairs' grouped).
async fn grouped(
    tx: &mut sqlx::AnyConnection,
    keys: &[i64],
    pairs: &[RowKey],
) -> anyhow::Result<BTreeMap<RowKey, HostUpdate>> {
    let mut hosts: Vec<i64> = (keys.iter().copied())
        .chain(pairs.iter().map(|(host, _)| *host))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let only_pairs = match pairs.len() {
        0 => String::new(),
        n => format!(
            "AND (f.host_key, t.update_key) IN (VALUES {})",
            crate::db::value_rows_after(hosts.len(), n, 2)
        ),
    };
    // One pass over the join: the extremes, and what tells how many findings hold each where
    // one pass can (`Source::counts`): the other end of each column and its non-null count,
    // the findings with KEV. A count at an extreme in general takes a second pass (a window over the
    // host's findings of the update: ×2.4 this grouping's time, measured on a first scan).
    let sql = format!(
        "SELECT f.host_key, t.update_key, COUNT(*) AS findings, MIN(f.tier) AS tier,
                MAX(f.tier) AS tier_last, MIN(f.deadline) AS deadline,
                MAX(f.deadline) AS deadline_last, COUNT(f.deadline) AS deadlines,
                MAX(t.kev) AS kev, COUNT(CASE WHEN t.kev = 1 THEN 1 END) AS kevs,
                CAST(MAX(t.epss) AS DOUBLE PRECISION) AS epss,
                CAST(MIN(t.epss) AS DOUBLE PRECISION) AS epss_last, COUNT(t.epss) AS epsses
         FROM open_findings f JOIN finding_texts t ON t.id = f.text_id
         WHERE f.host_key IN ({}) {only_pairs}
         GROUP BY f.host_key, t.update_key",
        crate::db::placeholders(1, hosts.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for key in &hosts {
        query = query.bind(*key);
    }
    for (host, update) in pairs {
        query = query.bind(*host).bind(*update);
    }
    let rows = (query.fetch_all(&mut *tx).await).with_context(|| {
        format!(
            "grouping the open findings of {} hosts by update",
            hosts.len()
        )
    })?;
    read_rows(&rows, Source::Grouped)
}

/// The summary rows stored for the hosts `keys` (all theirs) and the rows `pairs`.
async fn stored(
    tx: &mut sqlx::AnyConnection,
    keys: &[i64],
    pairs: &[RowKey],
) -> anyhow::Result<BTreeMap<RowKey, HostUpdate>> {
    const COLUMNS: &str = "host_key, update_key, findings, tier, deadline, kev, epss, \
                           extreme_counts";
    let mut rows = Vec::new();
    if !keys.is_empty() {
        let sql = format!(
            "SELECT {COLUMNS} FROM open_update_hosts WHERE host_key IN ({})",
            crate::db::placeholders(1, keys.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in keys {
            query = query.bind(*key);
        }
        rows.extend(
            (query.fetch_all(&mut *tx).await)
                .with_context(|| format!("reading the update summaries of {} hosts", keys.len()))?,
        );
    }
    for chunk in pairs.chunks(ROWS) {
        let select = format!("SELECT {COLUMNS} FROM open_update_hosts");
        let query = of_rows(tx, &select, chunk);
        rows.extend(
            (query.fetch_all(&mut *tx).await)
                .with_context(|| format!("reading {} rows of the update summaries", chunk.len()))?,
        );
    }
    read_rows(&rows, Source::Stored)
}

/// Summary rows (or their keys) per statement: bound by position on SQLite
/// (`db::value_rows_in`), so a group of first reports' ~370 rows go in one statement, not 23
/// of 16 rows numbered `$N` (each a round trip to SQLite's thread).
const ROWS: usize = 400;

/// `statement` (on `open_update_hosts`, without a WHERE clause) of the rows `keys`, bound.
fn of_rows(
    tx: &sqlx::AnyConnection,
    statement: &str,
    keys: &[RowKey],
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let sql = format!(
        "{statement} WHERE (host_key, update_key) IN (VALUES {})",
        crate::db::value_rows_in(tx, keys.len(), 2)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (host, update) in keys {
        query = query.bind(*host).bind(*update);
    }
    query
}

fn read_rows(
    rows: &[sqlx::any::AnyRow],
    source: Source,
) -> anyhow::Result<BTreeMap<RowKey, HostUpdate>> {
    rows.iter()
        .map(|row| {
            let key = row
                .try_get::<Option<i64>, _>("update_key")?
                .context("a finding text names no update")?;
            let value = HostUpdate {
                findings: row.try_get("findings")?,
                tier: row.try_get("tier")?,
                deadline: row.try_get("deadline")?,
                kev: row.try_get("kev")?,
                epss: source.epss(row)?,
                at: source.counts(row)?,
            };
            Ok(((row.try_get("host_key")?, key), value))
        })
        .collect()
}

/// Where a row comes from: grouped or stored.
#[derive(Clone, Copy)]
enum Source {
    /// Grouped: the EPSS a probability (the texts' `DOUBLE PRECISION`), the counts at the
    /// extremes from the other ends.
    Grouped,
    /// As `open_update_hosts` stores it: the EPSS in parts per billion (`epss_parts.rs`), the
    /// counts packed ([`pack_counts`]).
    Stored,
}

impl Source {
    /// The row's `epss` in parts per billion.
    fn epss(self, row: &sqlx::any::AnyRow) -> anyhow::Result<Option<i64>> {
        Ok(match self {
            Source::Grouped => {
                (row.try_get::<Option<f64>, _>("epss")?).map(crate::epss_parts::parts)
            }
            Source::Stored => row.try_get("epss")?,
        })
    }

    /// The row's counts at its extremes, as stored (packed), or grouped: a column's count is
    /// known when all its values are one (its non-null count; every finding when all are
    /// null), and KEV's always (the findings with it, or every finding).
    fn counts(self, row: &sqlx::any::AnyRow) -> anyhow::Result<[Option<i64>; 4]> {
        Ok(match self {
            Source::Grouped => {
                let n: i64 = row.try_get("findings")?;
                let one = |ends: bool, non_null: i64| match non_null {
                    0 => Some(n),
                    k => ends.then_some(k),
                };
                let (tier, tier_last): (i64, i64) =
                    (row.try_get("tier")?, row.try_get("tier_last")?);
                let deadlines = (row.try_get::<Option<i64>, _>("deadline")?)
                    == row.try_get::<Option<i64>, _>("deadline_last")?;
                let epsses = (row.try_get::<Option<f64>, _>("epss")?)
                    == row.try_get::<Option<f64>, _>("epss_last")?;
                let kev: i64 = row.try_get("kev")?;
                let at = [
                    one(tier == tier_last, n),
                    one(deadlines, row.try_get("deadlines")?),
                    Some(if kev == 1 { row.try_get("kevs")? } else { n }),
                    one(epsses, row.try_get("epsses")?),
                ];
                at.map(|count| count.filter(|n| *n <= MAX_COUNT))
            }
            Source::Stored => unpack_counts(row.try_get("extreme_counts")?),
        })
    }
}

/// Gives each of `updates` (package, fixed version) its key in `update_keys` unless it has one
/// (before texts naming them are stored: `finding_texts.rs`).
pub(crate) async fn key_updates(
    tx: &mut sqlx::AnyConnection,
    updates: &[(&str, &str)],
) -> anyhow::Result<()> {
    for chunk in updates.chunks(rows_per_statement(2)) {
        let text = format!(
            "INSERT INTO update_keys (package, fixed) VALUES {}
             ON CONFLICT (package, fixed) DO NOTHING",
            crate::db::value_rows(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for (package, fixed) in chunk {
            query = query.bind(*package).bind(*fixed);
        }
        query
            .execute(&mut *tx)
            .await
            .context("keying the updates of new finding texts")?;
    }
    Ok(())
}

/// Replaces the hosts' rows `keys` with their open findings grouped by update (`now`; a row
/// not in it is left out): each row rewritten costs a delete and an insert in the table and its
/// index by update and deadline, so only the rows that changed are, and only those stored
/// (`before`: the rows as stored of every host or pair `keys` names) are deleted — a first
/// report's rows are inserted alone. [`ROWS`] rows a statement.
async fn rewrite_host_rows(
    tx: &mut sqlx::AnyConnection,
    keys: &[RowKey],
    (before, now): (&BTreeMap<RowKey, HostUpdate>, &BTreeMap<RowKey, HostUpdate>),
) -> anyhow::Result<()> {
    let stored: Vec<RowKey> = (keys.iter())
        .filter(|key| before.contains_key(key))
        .copied()
        .collect();
    for chunk in stored.chunks(ROWS) {
        let query = of_rows(tx, "DELETE FROM open_update_hosts", chunk);
        (query.execute(&mut *tx).await)
            .with_context(|| format!("clearing {} rows of the update summary", chunk.len()))?;
    }
    const COLUMNS: usize = 8;
    let rows: Vec<(&RowKey, &HostUpdate)> = (keys.iter())
        .filter_map(|key| now.get_key_value(key))
        .collect();
    for chunk in rows.chunks(ROWS) {
        let values = crate::db::value_rows_in(tx, chunk.len(), COLUMNS);
        let insert = format!(
            "INSERT INTO open_update_hosts (host_key, update_key, findings, tier, deadline, kev,
               epss, extreme_counts) VALUES {values}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
        for ((host_key, update_key), row) in chunk {
            query = query
                .bind(*host_key)
                .bind(*update_key)
                .bind(row.findings)
                .bind(row.tier)
                .bind(row.deadline)
                .bind(row.kev)
                .bind(row.epss)
                .bind(pack_counts(row.at));
        }
        (query.execute(&mut *tx).await)
            .with_context(|| format!("summarising {} rows of open findings", chunk.len()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pack_and_unpack() {
        for at in [
            [Some(1), Some(2), Some(3), Some(4)],
            [None, Some(MAX_COUNT), None, Some(MAX_COUNT)],
            [None; 4],
        ] {
            assert_eq!(unpack_counts(pack_counts(at)), at);
            assert!(pack_counts(at) >= 0);
        }
        // A count too large to keep (or 0) is not known.
        let at = [Some(MAX_COUNT + 1), Some(0), Some(7), Some(65_536)];
        assert_eq!(unpack_counts(pack_counts(at)), [None, None, Some(7), None]);
    }
}
