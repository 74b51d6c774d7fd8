//! An update's summary over its hosts (`open_updates`: hosts, findings, most urgent tier,
//! earliest deadline, KEV, highest EPSS) kept by the findings write path from the host rows it
//! removes and adds (migration `0056_update_extremes.sql`). Each extreme is stored with how many
//! hosts' rows hold it: a removed row at the extreme lowers the count, an added row at least as
//! extreme raises or replaces it, and only when every holder left and no added row reaches the
//! old value is the extreme unknown: the earliest deadline is then read again by one seek of
//! the index by (update key, deadline) (deadlines follow each host's first sight, so an update's
//! earliest is often one host's), and for another extreme the update's rows are counted whole.
//! The fold is pure ([`after`]); reads and writes are below it.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::Row;

use crate::db;
use crate::update_summary::{HostUpdate, UpdateKey};

/// Rows or keys per statement (bound by position on SQLite: `db::marks_in`; a first report
/// touches ~50 updates, a feed import's re-rank a few).
const ROWS: usize = 400;

/// One of an update's four extremes over its hosts' rows.
#[derive(Debug, Clone, Copy)]
enum Extreme {
    /// The most urgent (lowest) tier.
    Tier,
    /// The earliest deadline; none only when no row has one.
    Deadline,
    /// KEV: 1 when any row has it.
    Kev,
    /// The highest EPSS (parts per billion); none only when no row has one.
    Epss,
}

const EXTREMES: [Extreme; 4] = [
    Extreme::Tier,
    Extreme::Deadline,
    Extreme::Kev,
    Extreme::Epss,
];

impl Extreme {
    /// This extreme's value of a host's row.
    fn of(self, row: &HostUpdate) -> Option<i64> {
        match self {
            Extreme::Tier => Some(row.tier),
            Extreme::Deadline => row.deadline,
            Extreme::Kev => Some(row.kev),
            Extreme::Epss => row.epss,
        }
    }

    /// Orders values, the most extreme first: SQL's MIN and MAX skip NULL, so none comes last.
    fn rank(self, value: Option<i64>) -> (bool, i64) {
        match (self, value) {
            (_, None) => (true, 0),
            (Extreme::Tier | Extreme::Deadline, Some(v)) => (false, v),
            (Extreme::Kev | Extreme::Epss, Some(v)) => (false, -v),
        }
    }
}

/// An update's summary as kept: the EPSS in parts per billion (`epss_parts.rs`; `open_updates`
/// stores the probability), each extreme's holders (hosts' rows at it; 0: not known).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpdateSummary {
    pub(crate) hosts: i64,
    pub(crate) findings: i64,
    /// Tier, deadline, KEV, EPSS, in [`EXTREMES`]' order.
    pub(crate) values: [Option<i64>; 4],
    pub(crate) holders: [i64; 4],
}

/// The host rows a write takes out of an update (a rewritten row's old one included) and puts
/// in (its new one).
#[derive(Debug, Default)]
pub(crate) struct UpdateChange<'a> {
    pub(crate) removed: Vec<&'a HostUpdate>,
    pub(crate) added: Vec<&'a HostUpdate>,
}

/// What becomes of an update's summary.
#[derive(Debug, PartialEq)]
pub(crate) enum After {
    /// Its new summary.
    Kept(UpdateSummary),
    /// No host has an open finding of it any more: its row goes.
    Gone,
    /// The earliest deadline alone cannot be told (its holders all left): the summary but
    /// that, whose value and holders are read through the index by (update key, deadline).
    /// Deadlines follow each host's first sight, so an update's earliest is often one host's.
    Deadline(UpdateSummary),
    /// An extreme cannot be told from the stored summary and the change: read its rows again.
    Recount,
}

/// One extreme while a change is folded in.
#[derive(Debug, Clone, Copy)]
enum State {
    /// No row yet (a new update).
    Empty,
    /// The value and how many rows hold it.
    At(Option<i64>, i64),
    /// Every row at the value left: the others (if any) are all less extreme.
    Left(Option<i64>),
    Unknown,
}

/// The summary of an update after `change`, from `stored` (`None`: the update has no row).
pub(crate) fn after(stored: Option<&UpdateSummary>, change: &UpdateChange<'_>) -> After {
    if stored.is_none() && !change.removed.is_empty() {
        // Rows taken out of a summary never stored: not what was stored.
        return After::Recount;
    }
    let added = change.added.len() as i64;
    let removed = change.removed.len() as i64;
    let sum = |rows: &[&HostUpdate]| rows.iter().map(|row| row.findings).sum::<i64>();
    let (hosts, findings) = match stored {
        Some(s) => (s.hosts, s.findings),
        None => (0, 0),
    };
    let hosts = hosts + added - removed;
    let findings = findings + sum(&change.added) - sum(&change.removed);
    if hosts < 0 || findings < 0 || (hosts == 0) != (findings == 0) {
        return After::Recount;
    }
    if hosts == 0 {
        return After::Gone;
    }
    let mut values = [None; 4];
    let mut holders = [0; 4];
    let mut deadline_unknown = false;
    for (place, extreme) in EXTREMES.into_iter().enumerate() {
        let start = match stored {
            None => State::Empty,
            Some(s) if s.holders[place] > 0 => State::At(s.values[place], s.holders[place]),
            Some(_) => State::Unknown,
        };
        match fold(extreme, start, change) {
            State::At(value, count) => (values[place], holders[place]) = (value, count),
            State::Left(_) if matches!(extreme, Extreme::Deadline) => deadline_unknown = true,
            _ => return After::Recount,
        }
    }
    let summary = UpdateSummary {
        hosts,
        findings,
        values,
        holders,
    };
    match deadline_unknown {
        true => After::Deadline(summary),
        false => After::Kept(summary),
    }
}

/// `start` with the change's removed rows taken out, then its added rows put in.
fn fold(extreme: Extreme, start: State, change: &UpdateChange<'_>) -> State {
    let mut state = start;
    for row in &change.removed {
        let value = extreme.of(row);
        state = match state {
            State::At(at, count) if value == at => match count {
                1 => State::Left(at),
                _ => State::At(at, count - 1),
            },
            // A removed row more extreme than the stored value, or at it past every holder:
            // the summary was wrong.
            State::At(at, _) | State::Left(at) if extreme.rank(value) <= extreme.rank(at) => {
                State::Unknown
            }
            State::At(..) | State::Left(_) => state,
            // Removing from no rows: not what was stored.
            State::Empty | State::Unknown => State::Unknown,
        };
    }
    for row in &change.added {
        let value = extreme.of(row);
        state = match state {
            State::Empty => State::At(value, 1),
            State::At(at, count) if value == at => State::At(at, count + 1),
            State::At(at, _) | State::Left(at) if extreme.rank(value) <= extreme.rank(at) => {
                // The rows left are all less extreme than `at`, so none is at `value`.
                State::At(value, 1)
            }
            other => other,
        };
    }
    state
}

/// Brings the summaries of the updates `changes` touched up to date (in the write's
/// transaction, after the hosts' rows were rewritten).
pub(crate) async fn adjust(
    tx: &mut sqlx::AnyConnection,
    changes: &BTreeMap<UpdateKey, UpdateChange<'_>>,
) -> anyhow::Result<()> {
    let keys: Vec<UpdateKey> = changes.keys().copied().collect();
    let stored = read_stored(tx, &keys).await?;
    let mut kept: Vec<(&Named, UpdateSummary)> = Vec::new();
    let mut gone: Vec<UpdateKey> = Vec::new();
    let mut deadlines: Vec<(UpdateKey, UpdateSummary)> = Vec::new();
    let mut recount: Vec<UpdateKey> = Vec::new();
    for (key, change) in changes {
        let named = stored
            .get(key)
            .with_context(|| format!("update key {key} is unknown"))?;
        match after(named.summary.as_ref(), change) {
            After::Kept(summary) => kept.push((named, summary)),
            After::Gone => gone.push(*key),
            After::Deadline(summary) => deadlines.push((*key, summary)),
            After::Recount => recount.push(*key),
        }
    }
    tracing::debug!(
        updates = changes.len(),
        deadlines_read = deadlines.len(),
        counted_again = recount.len(),
        "update summaries adjusted"
    );
    for (key, summary) in earliest_deadlines(tx, &deadlines).await? {
        kept.push((&stored[&key], summary));
    }
    let mut counted = count_whole(tx, &recount).await?;
    for key in recount {
        match counted.remove(&key) {
            Some(summary) => kept.push((&stored[&key], summary)),
            None => gone.push(key),
        }
    }
    write(tx, &kept).await?;
    remove(tx, &gone).await
}

/// An update's name and its summary as stored (`None`: no row).
struct Named {
    package: String,
    fixed: String,
    summary: Option<UpdateSummary>,
}

/// The rows of `sql` (its keys' marks where `{}` is) for the updates `keys`, a statement per
/// [`ROWS`] keys bound in order; `what` names them in an error.
async fn of_keys(
    tx: &mut sqlx::AnyConnection,
    keys: &[UpdateKey],
    sql: &str,
    what: &str,
) -> anyhow::Result<Vec<sqlx::any::AnyRow>> {
    let mut rows = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS) {
        let text = sql.replacen("{}", &db::marks_in(tx, chunk.len()).join(", "), 1);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for key in chunk {
            query = query.bind(*key);
        }
        let read = (query.fetch_all(&mut *tx).await)
            .with_context(|| format!("{what} of {} updates", chunk.len()))?;
        rows.extend(read);
    }
    Ok(rows)
}

/// A summary read with its columns' names (`hosts`, `findings`, `tier`, `deadline`, `kev`,
/// `tier_hosts`, …), its EPSS in parts given.
fn summary_of(row: &sqlx::any::AnyRow, epss: Option<i64>) -> anyhow::Result<UpdateSummary> {
    Ok(UpdateSummary {
        hosts: row.try_get("hosts")?,
        findings: row.try_get("findings")?,
        values: [
            Some(row.try_get("tier")?),
            row.try_get("deadline")?,
            Some(row.try_get("kev")?),
            epss,
        ],
        holders: [
            row.try_get("tier_hosts")?,
            row.try_get("deadline_hosts")?,
            row.try_get("kev_hosts")?,
            row.try_get("epss_hosts")?,
        ],
    })
}

/// The names and stored summaries of the updates `keys`.
async fn read_stored(
    tx: &mut sqlx::AnyConnection,
    keys: &[UpdateKey],
) -> anyhow::Result<BTreeMap<UpdateKey, Named>> {
    let sql = "SELECT k.id, k.package, k.fixed, u.hosts, u.findings, u.tier, u.deadline, u.kev,
                      u.epss, u.tier_hosts, u.deadline_hosts, u.kev_hosts, u.epss_hosts
               FROM update_keys k
               LEFT JOIN open_updates u ON u.package = k.package AND u.fixed = k.fixed
               WHERE k.id IN ({})";
    let mut named = BTreeMap::new();
    for row in of_keys(tx, keys, sql, "reading the summaries").await? {
        let summary = match row.try_get::<Option<i64>, _>("hosts")? {
            None => None,
            Some(_) => {
                let epss = row.try_get::<Option<f64>, _>("epss")?;
                Some(summary_of(&row, epss.map(crate::epss_parts::parts))?)
            }
        };
        let value = Named {
            package: row.try_get("package")?,
            fixed: row.try_get("fixed")?,
            summary,
        };
        named.insert(row.try_get("id")?, value);
    }
    Ok(named)
}

/// The summaries `deadlines` with their earliest deadline and its holders read: the lowest
/// by one seek of the index by (update key, deadline), its holders by a range of it (none: no
/// row has a deadline, so every row holds none).
async fn earliest_deadlines(
    tx: &mut sqlx::AnyConnection,
    deadlines: &[(UpdateKey, UpdateSummary)],
) -> anyhow::Result<Vec<(UpdateKey, UpdateSummary)>> {
    let sql = "SELECT d.id, d.deadline,
                      (SELECT COUNT(*) FROM open_update_hosts h
                       WHERE h.update_key = d.id AND h.deadline = d.deadline) AS holders
               FROM (SELECT k.id, (SELECT MIN(h.deadline) FROM open_update_hosts h
                                   WHERE h.update_key = k.id) AS deadline
                     FROM update_keys k WHERE k.id IN ({})) AS d";
    let keys: Vec<UpdateKey> = deadlines.iter().map(|(key, _)| *key).collect();
    let mut found: BTreeMap<UpdateKey, (Option<i64>, i64)> = BTreeMap::new();
    for row in of_keys(tx, &keys, sql, "reading the earliest deadlines").await? {
        found.insert(
            row.try_get("id")?,
            (row.try_get("deadline")?, row.try_get("holders")?),
        );
    }
    let mut read = Vec::with_capacity(deadlines.len());
    for (key, mut summary) in deadlines.iter().cloned() {
        let (deadline, holders) = *found.get(&key).context("an update key not read")?;
        summary.values[1] = deadline;
        summary.holders[1] = if deadline.is_some() {
            holders
        } else {
            summary.hosts
        };
        read.push((key, summary));
    }
    Ok(read)
}

/// The summaries of the updates `keys` from all their hosts' rows (an update with none is not
/// in the map), worked out in SQL: an update may have a row on every host, and the rows are
/// not sent over (two passes of its rows by the index by update and deadline: the extremes,
/// then how many rows hold each; a deadline and an EPSS are never negative, so -1 stands for
/// none).
async fn count_whole(
    tx: &mut sqlx::AnyConnection,
    keys: &[UpdateKey],
) -> anyhow::Result<BTreeMap<UpdateKey, UpdateSummary>> {
    let sql = "SELECT a.update_key, a.hosts, a.findings, a.tier, a.deadline, a.kev, a.epss,
                      CAST(SUM(CASE WHEN h.tier = a.tier THEN 1 ELSE 0 END) AS BIGINT)
                        AS tier_hosts,
                      CAST(SUM(CASE WHEN COALESCE(h.deadline, -1) = COALESCE(a.deadline, -1)
                               THEN 1 ELSE 0 END) AS BIGINT) AS deadline_hosts,
                      CAST(SUM(CASE WHEN h.kev = a.kev THEN 1 ELSE 0 END) AS BIGINT)
                        AS kev_hosts,
                      CAST(SUM(CASE WHEN COALESCE(h.epss, -1) = COALESCE(a.epss, -1)
                               THEN 1 ELSE 0 END) AS BIGINT) AS epss_hosts
               FROM (SELECT update_key, CAST(COUNT(*) AS BIGINT) AS hosts,
                            CAST(SUM(findings) AS BIGINT) AS findings, MIN(tier) AS tier,
                            MIN(deadline) AS deadline, MAX(kev) AS kev, MAX(epss) AS epss
                     FROM open_update_hosts WHERE update_key IN ({}) GROUP BY update_key) AS a
               JOIN open_update_hosts h ON h.update_key = a.update_key
               GROUP BY a.update_key, a.hosts, a.findings, a.tier, a.deadline, a.kev, a.epss";
    let mut counted = BTreeMap::new();
    for row in of_keys(tx, keys, sql, "counting the hosts").await? {
        let summary = summary_of(&row, row.try_get("epss")?)?;
        counted.insert(row.try_get("update_key")?, summary);
    }
    Ok(counted)
}

/// Stores the summaries `kept`, a row each (inserted or replaced).
async fn write(
    tx: &mut sqlx::AnyConnection,
    kept: &[(&Named, UpdateSummary)],
) -> anyhow::Result<()> {
    // The EPSS bound in parts and divided in SQL (`epss_parts::probability_sql`).
    let template = format!(
        "(?, ?, ?, ?, ?, ?, ?, {}, ?, ?, ?, ?)",
        crate::epss_parts::probability_sql("?")
    );
    for chunk in kept.chunks(ROWS) {
        let text = format!(
            "INSERT INTO open_updates (package, fixed, hosts, findings, tier, deadline, kev, epss,
               tier_hosts, deadline_hosts, kev_hosts, epss_hosts) VALUES {}
             ON CONFLICT (package, fixed) DO UPDATE SET
               hosts = excluded.hosts, findings = excluded.findings, tier = excluded.tier,
               deadline = excluded.deadline, kev = excluded.kev, epss = excluded.epss,
               tier_hosts = excluded.tier_hosts, deadline_hosts = excluded.deadline_hosts,
               kev_hosts = excluded.kev_hosts, epss_hosts = excluded.epss_hosts",
            db::value_rows_of_in(tx, chunk.len(), &template)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for (named, s) in chunk {
            let [tier, deadline, kev, epss] = s.values;
            query = query
                .bind(named.package.as_str())
                .bind(named.fixed.as_str())
                .bind(s.hosts)
                .bind(s.findings)
                .bind(tier.context("an update summary without a tier")?)
                .bind(deadline)
                .bind(kev.context("an update summary without KEV")?)
                .bind(epss);
            for holders in s.holders {
                query = query.bind(holders);
            }
        }
        (query.execute(&mut *tx).await)
            .with_context(|| format!("writing the summaries of {} updates", chunk.len()))?;
    }
    Ok(())
}

/// Removes the summaries of the updates `keys`, which no host needs any more.
async fn remove(tx: &mut sqlx::AnyConnection, keys: &[UpdateKey]) -> anyhow::Result<()> {
    let sql = "DELETE FROM open_updates WHERE (package, fixed) IN
                 (SELECT k.package, k.fixed FROM update_keys k WHERE k.id IN ({}))";
    of_keys(tx, keys, sql, "removing the summaries").await?;
    Ok(())
}

#[cfg(test)]
#[path = "update_extremes_tests.rs"]
mod tests;
