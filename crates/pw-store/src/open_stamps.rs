//! A host's stamps (migrations `0045_open_stamps.sql`, `0053_stamped_tiers.sql`): the distinct
//! first sights, deadlines, tiers and episode numbers of its open findings, numbered from 1 per
//! host, each open episode naming its stamp by number instead of holding the four values (a
//! host's ~850 open findings share a handful of stamps). The findings write path numbers the
//! stamps of the episodes it writes ([`Stamps::stamp`]), stores the new ones before the
//! episodes ([`Stamps::store_new`]), and removes the stamps no open episode of the host names
//! any more ([`forget_unused`]).

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use sqlx::Row;

/// What a stamp holds: a first sight and a deadline (nanoseconds since the epoch,
/// `instants.rs`), a tier and an episode number.
pub(crate) type Stamp = (i64, Option<i64>, i64, i64);

/// One host's stamps as the write path numbers them.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    numbers: HashMap<Stamp, i64>,
    /// The next number to give.
    next: i64,
    /// Stamps given by this computation, to store.
    new: Vec<(i64, Stamp)>,
}

impl Stamps {
    /// The stamps stored for host `host_key`.
    pub(crate) async fn read(
        tx: &mut sqlx::AnyConnection,
        host_key: i64,
    ) -> anyhow::Result<Stamps> {
        let sql = "SELECT stamp, first_seen, deadline, tier, episode FROM open_stamps
                   WHERE host_key = $1";
        let rows = sqlx::query(sql)
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

    /// One stored stamp (`stamp, first_seen, deadline, tier, episode`).
    pub(crate) fn add(&mut self, row: &sqlx::any::AnyRow) -> anyhow::Result<()> {
        let number: i64 = row.try_get("stamp")?;
        let stamp = (
            row.try_get("first_seen")?,
            row.try_get("deadline")?,
            row.try_get("tier")?,
            row.try_get("episode")?,
        );
        self.numbers.insert(stamp, number);
        self.next = self.next.max(number + 1);
        Ok(())
    }

    /// The number of `stamp`, given one if the host has none.
    pub(crate) fn stamp(&mut self, stamp: Stamp) -> i64 {
        if let Some(number) = self.numbers.get(&stamp) {
            return *number;
        }
        let number = self.next;
        self.next += 1;
        self.numbers.insert(stamp, number);
        self.new.push((number, stamp));
        number
    }

    /// Stores the stamps given since [`Stamps::read`] (before the episodes naming them).
    pub(crate) async fn store_new(
        &mut self,
        tx: &mut sqlx::AnyConnection,
        host_key: i64,
    ) -> anyhow::Result<()> {
        const COLUMNS: usize = 6;
        // Bound by position on SQLite (`db::value_rows_in`), 500 rows a statement.
        for chunk in self.new.chunks(500) {
            let text = format!(
                "INSERT INTO open_stamps (host_key, stamp, first_seen, deadline, tier, episode)
                 VALUES {}",
                crate::db::value_rows_in(tx, chunk.len(), COLUMNS)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
            for (number, (first_seen, deadline, tier, episode)) in chunk {
                query = query
                    .bind(host_key)
                    .bind(*number)
                    .bind(*first_seen)
                    .bind(*deadline)
                    .bind(*tier)
                    .bind(*episode);
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

/// The stamps a write may have left unused: those the episodes it closed or changed named
/// before (`before`: their first sight, deadline, tier and episode as stored) that none of the
/// episodes it wrote names (`after`: their stamps' numbers); `None` when one of `before` is not
/// among the host's stamps (then every stamp of the host is checked).
pub(crate) fn freed(
    stamps: &Stamps,
    before: impl IntoIterator<Item = Stamp>,
    after: impl IntoIterator<Item = i64>,
) -> Option<BTreeSet<i64>> {
    let mut freed = BTreeSet::new();
    for stamp in before {
        freed.insert(*stamps.numbers.get(&stamp)?);
    }
    for number in after {
        freed.remove(&number);
    }
    Some(freed)
}

/// Removes the host's stamps no open episode names, among `freed` ([`freed`]; `None`: all):
/// each one looked for among the host's episodes until one names it, where all of them were
/// read to find those named (a feed import's re-rank changes a few of a host's ~800 episodes,
/// and the stamps they leave are mostly still named by others).
pub(crate) async fn forget_unused(
    tx: &mut sqlx::AnyConnection,
    host_key: i64,
    freed: Option<&BTreeSet<i64>>,
) -> anyhow::Result<()> {
    let context = || format!("removing the unused stamps of host {host_key}");
    let Some(freed) = freed else {
        sqlx::query(
            "DELETE FROM open_stamps WHERE host_key = $1
               AND stamp NOT IN (SELECT stamp FROM open_episodes WHERE host_key = $1)",
        )
        .bind(host_key)
        .execute(&mut *tx)
        .await
        .with_context(context)?;
        return Ok(());
    };
    // One statement for a few stamps (a round trip to SQLite's thread each was ~40 µs).
    let freed: Vec<i64> = freed.iter().copied().collect();
    for chunk in freed.chunks(FREED_PER_STATEMENT) {
        let sql = format!(
            "DELETE FROM open_stamps WHERE host_key = $1 AND stamp IN ({})
               AND NOT EXISTS (SELECT 1 FROM open_episodes
                               WHERE host_key = $1 AND stamp = open_stamps.stamp)",
            crate::db::placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(host_key);
        for number in chunk {
            query = query.bind(*number);
        }
        query.execute(&mut *tx).await.with_context(context)?;
    }
    Ok(())
}

/// Stamps [`forget_unused`] looks for in one statement (within both backends' bounds on a
/// statement's values).
const FREED_PER_STATEMENT: usize = 500;

#[cfg(test)]
mod tests {
    use super::{Stamps, freed};

    #[test]
    fn a_write_frees_the_stamps_it_left_and_none_it_wrote() {
        let mut stamps = Stamps::none();
        let (a, b, c) = ((1, None, 4, 1), (1, Some(9), 2, 1), (2, Some(9), 2, 1));
        let numbers = [a, b, c].map(|stamp| stamps.stamp(stamp));
        // Episodes of a and b changed; one written names b: only a may be unused.
        let left = freed(&stamps, [a, b, a], [numbers[1]]).unwrap();
        assert_eq!(left.into_iter().collect::<Vec<_>>(), [numbers[0]]);
        assert!(freed(&stamps, [], [numbers[2]]).unwrap().is_empty());
        // A stamp the host does not have: every stamp is checked.
        assert!(freed(&stamps, [(3, None, 1, 1)], []).is_none());
    }

    #[test]
    fn a_stamp_is_its_first_sight_deadline_tier_and_episode() {
        let mut stamps = Stamps::none();
        assert_eq!(stamps.stamp((10, Some(20), 1, 1)), 1);
        assert_eq!(
            stamps.stamp((10, Some(20), 1, 1)),
            1,
            "the same stamp, once"
        );
        assert_eq!(stamps.stamp((10, Some(20), 2, 1)), 2, "another tier");
        assert_eq!(stamps.stamp((10, Some(20), 1, 3)), 3, "another episode");
        assert_eq!(stamps.stamp((10, None, 1, 1)), 4, "no deadline");
        let new: Vec<i64> = stamps.new.iter().map(|(number, _)| *number).collect();
        assert_eq!(new, [1, 2, 3, 4], "each given once, to store");
    }
}
