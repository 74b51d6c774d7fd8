//! What the write of several hosts' computations in one transaction
//! ([`Store::record_computations`](crate::Store::record_computations): a feed import's re-rank
//! in groups) reads for all of them at its start, in a statement each for the group instead of
//! three per host, while the group holds the writers' line: each host's last inventory and
//! computation times (is the computation stale?), its finding key with its closed episodes,
//! and its stamps (`open_stamps.rs`). A host's rows are taken once: a host written twice in one
//! group reads its own again for its second computation (after the first one's writes).

use foldhash::{HashMap, HashMapExt};

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::open_stamps::Stamps;
use crate::{FindingsSnapshot, parse_time};

/// Host ids (or keys) per `IN (…)` list (`findings_write.rs`, `PARAMETERS`).
const HOSTS: usize = 100;

/// One host's rows, as read for its group.
pub(crate) struct HostRows {
    /// Its last inventory's collection time and its last computation's time.
    pub(crate) collected_at: Option<String>,
    pub(crate) computed_at: Option<String>,
    /// Its finding key, closed episodes and stamps; `None` before its first computation.
    pub(crate) history: Option<HostHistory>,
}

pub(crate) struct HostHistory {
    pub(crate) key: i64,
    pub(crate) episodes: Option<Vec<u8>>,
    pub(crate) stamps: Stamps,
}

/// The group's enrolled hosts' rows by host id.
pub(crate) struct GroupRows(HashMap<String, HostRows>);

impl GroupRows {
    /// The rows of `host_ids` (the enrolled ones), read in `tx`.
    pub(crate) async fn read(
        tx: &mut sqlx::AnyConnection,
        host_ids: &[String],
    ) -> anyhow::Result<GroupRows> {
        let mut hosts = HashMap::with_capacity(host_ids.len());
        let select = "SELECT h.id, i.collected_at, f.computed_at, k.key, k.episodes FROM hosts h
             LEFT JOIN inventories i ON i.host_id = h.id
             LEFT JOIN host_findings f ON f.host_id = h.id
             LEFT JOIN finding_hosts k ON k.host_id = h.id
             WHERE h.id IN";
        let rows = rows_in(tx, select, host_ids).await;
        let mut by_key = HashMap::new();
        for row in &rows.context("reading a group's hosts before their findings' write")? {
            let id: String = row.try_get("id")?;
            let key: Option<i64> = row.try_get("key")?;
            let history = match key {
                Some(key) => {
                    by_key.insert(key, id.clone());
                    Some(HostHistory {
                        key,
                        episodes: row.try_get("episodes")?,
                        stamps: Stamps::none(),
                    })
                }
                None => None,
            };
            let host = HostRows {
                collected_at: row.try_get("collected_at")?,
                computed_at: row.try_get("computed_at")?,
                history,
            };
            hosts.insert(id, host);
        }
        let keys: Vec<i64> = by_key.keys().copied().collect();
        let select = "SELECT host_key, stamp, first_seen, deadline, tier, episode FROM open_stamps
             WHERE host_key IN";
        let rows = rows_in(tx, select, &keys).await;
        for row in &rows.context("reading a group's stamps")? {
            let key: i64 = row.try_get("host_key")?;
            let history = (by_key.get(&key))
                .and_then(|id| hosts.get_mut(id))
                .and_then(|host| host.history.as_mut());
            if let Some(history) = history {
                history.stamps.add(row)?;
            }
        }
        Ok(GroupRows(hosts))
    }

    /// The rows of `host_id`, once (`None`: not enrolled, or taken already).
    pub(crate) fn take(&mut self, host_id: &str) -> Option<HostRows> {
        self.0.remove(host_id)
    }
}

/// The rows of `select` (ending in `IN`) whose column is one of `values`, a statement per
/// [`HOSTS`] values.
pub(crate) async fn rows_in<T>(
    tx: &mut sqlx::AnyConnection,
    select: &str,
    values: &[T],
) -> sqlx::Result<Vec<AnyRow>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Clone + Send + 'static,
{
    let mut rows = Vec::new();
    for chunk in values.chunks(HOSTS) {
        let sql = format!("{select} ({})", crate::db::placeholders(1, chunk.len()));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in chunk {
            query = query.bind(value.clone());
        }
        rows.extend(query.fetch_all(&mut *tx).await?);
    }
    Ok(rows)
}

/// `None` when a newer inventory or computation than `snapshot`'s is stored for its host (the
/// computation is stale); else the time of the host's previous computation, if any.
///
/// `times`: the host's last inventory's and computation's, as read for its group (`None`: read
/// here).
pub(crate) async fn freshness(
    tx: &mut sqlx::AnyConnection,
    snapshot: &FindingsSnapshot<'_>,
    times: Option<(Option<String>, Option<String>)>,
) -> anyhow::Result<Option<Option<String>>> {
    let (collected, computed) = match times {
        Some(times) => times,
        None => {
            let row = sqlx::query(
                "SELECT i.collected_at, f.computed_at FROM hosts h
                 LEFT JOIN inventories i ON i.host_id = h.id
                 LEFT JOIN host_findings f ON f.host_id = h.id
                 WHERE h.id = $1",
            )
            .bind(snapshot.host_id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading the host's last inventory")?
            .with_context(|| format!("host {} is not enrolled", snapshot.host_id))?;
            (row.try_get("collected_at")?, row.try_get("computed_at")?)
        }
    };
    if let Some(text) = &collected
        && parse_time(text)? > snapshot.inventory_collected_at
    {
        return Ok(None);
    }
    if let Some(text) = &computed
        && parse_time(text)? > snapshot.computed_at
    {
        return Ok(None);
    }
    Ok(Some(computed))
}

/// A host's finding key, as [`host_key`] finds or gives it.
pub(crate) enum HostKey {
    /// Stored before, with the host's closed episodes.
    Known { key: i64, episodes: Option<Vec<u8>> },
    /// Given now: the host has no episode, open or closed, and no stamp — keys come only from
    /// `finding_hosts`, which nothing deletes from, so a new key was never anyone's (SQLite
    /// gives the largest plus one, PostgreSQL's identity never repeats).
    Given(i64),
}

/// The host's finding key, given one if it has none.
pub(crate) async fn host_key(
    tx: &mut sqlx::AnyConnection,
    host_id: &str,
) -> anyhow::Result<HostKey> {
    let row = sqlx::query("SELECT key, episodes FROM finding_hosts WHERE host_id = $1")
        .bind(host_id)
        .fetch_optional(&mut *tx)
        .await
        .context("reading the host's finding key")?;
    if let Some(row) = row {
        let (key, episodes) = (row.try_get("key")?, row.try_get("episodes")?);
        return Ok(HostKey::Known { key, episodes });
    }
    let given = sqlx::query("INSERT INTO finding_hosts (host_id) VALUES ($1) RETURNING key")
        .bind(host_id)
        .fetch_one(&mut *tx)
        .await
        .context("giving the host a finding key")?;
    Ok(HostKey::Given(given.try_get("key")?))
}
