//! A host's stamps (migration `0045_open_stamps.sql`): the distinct pairs of first sight and
//! deadline of its open findings, numbered from 1 per host, each open episode naming its pair
//! by number instead of holding the two instants (a host's ~800 open findings share a handful
//! of pairs). The findings write path numbers the pairs of the episodes it writes
//! ([`Stamps::stamp`]), stores the new ones before the episodes ([`Stamps::store_new`]), and
//! removes the stamps no open episode of the host names any more ([`forget_unused`]).

use std::collections::HashMap;

use anyhow::Context;
use sqlx::Row;

/// A first sight and a deadline, nanoseconds since the epoch (`instants.rs`).
type Pair = (i64, Option<i64>);

/// One host's stamps as the write path numbers them.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    numbers: HashMap<Pair, i64>,
    /// The next number to give.
    next: i64,
    /// Stamps given by this computation, to store.
    new: Vec<(i64, Pair)>,
}

impl Stamps {
    /// The stamps stored for host `host_key`.
    pub(crate) async fn read(
        tx: &mut sqlx::AnyConnection,
        host_key: i64,
    ) -> anyhow::Result<Stamps> {
        let rows =
            sqlx::query("SELECT stamp, first_seen, deadline FROM open_stamps WHERE host_key = $1")
                .bind(host_key)
                .fetch_all(&mut *tx)
                .await
                .context("reading the host's stamps")?;
        let mut stamps = Stamps::none();
        for row in &rows {
            stamps.add(row)?;
        }
        Ok(stamps)
    }

    /// A host without stamps.
    pub(crate) fn none() -> Stamps {
        Stamps {
            next: 1,
            ..Stamps::default()
        }
    }

    /// One stored stamp (`stamp, first_seen, deadline`).
    pub(crate) fn add(&mut self, row: &sqlx::any::AnyRow) -> anyhow::Result<()> {
        let stamp: i64 = row.try_get("stamp")?;
        let pair = (row.try_get("first_seen")?, row.try_get("deadline")?);
        self.numbers.insert(pair, stamp);
        self.next = self.next.max(stamp + 1);
        Ok(())
    }

    /// The number of the pair (`first_seen`, `deadline`), given one if the host has none.
    pub(crate) fn stamp(&mut self, first_seen: i64, deadline: Option<i64>) -> i64 {
        let pair = (first_seen, deadline);
        if let Some(stamp) = self.numbers.get(&pair) {
            return *stamp;
        }
        let stamp = self.next;
        self.next += 1;
        self.numbers.insert(pair, stamp);
        self.new.push((stamp, pair));
        stamp
    }

    /// Stores the stamps given since [`Stamps::read`] (before the episodes naming them).
    pub(crate) async fn store_new(
        &mut self,
        tx: &mut sqlx::AnyConnection,
        host_key: i64,
    ) -> anyhow::Result<()> {
        const COLUMNS: usize = 4;
        // Bound by position on SQLite (`db::value_rows_in`), 500 rows a statement.
        for chunk in self.new.chunks(500) {
            let text = format!(
                "INSERT INTO open_stamps (host_key, stamp, first_seen, deadline) VALUES {}",
                crate::db::value_rows_in(tx, chunk.len(), COLUMNS)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
            for (stamp, (first_seen, deadline)) in chunk {
                query = query
                    .bind(host_key)
                    .bind(*stamp)
                    .bind(*first_seen)
                    .bind(*deadline);
            }
            query
                .execute(&mut *tx)
                .await
                .with_context(|| format!("storing {} stamps of host {host_key}", chunk.len()))?;
        }
        self.new.clear();
        Ok(())
    }
}

/// Removes the host's stamps no open episode names (after episodes were closed or changed).
pub(crate) async fn forget_unused(
    tx: &mut sqlx::AnyConnection,
    host_key: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "DELETE FROM open_stamps WHERE host_key = $1
           AND stamp NOT IN (SELECT stamp FROM open_episodes WHERE host_key = $1)",
    )
    .bind(host_key)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("removing the unused stamps of host {host_key}"))?;
    Ok(())
}
