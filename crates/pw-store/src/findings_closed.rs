//! The closed finding episodes (migration `0037_compact_findings.sql`): one `closed_findings`
//! row per host and computation that closed any, holding them all as a JSON array of tuples
//! ([`ClosedEpisode`]) deflated behind a one-byte tag — or as plain JSON, the form migration
//! 0037 wrote the episodes it carried over in (SQL cannot deflate). A closed episode is final:
//! rows are never changed nor deleted (triggers refuse both).
//!
//! `finding_hosts.episodes` holds, per host, the last closed episode of each finding key in the
//! same format, so the write path numbers a finding that comes back without reading the closed
//! history.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;

use crate::db::placeholders;
use crate::finding_texts::with_deadline;
use crate::findings::HistoryRow;
use crate::findings_write::rows_per_statement;
use crate::zdict::{TEXTS, Unpacker, text_columns};
use crate::{Store, parse_time};

/// The format tag of deflated JSON (plain JSON starts with `[`).
const DEFLATED_JSON: u8 = 1;

/// One closed episode as stored: finding key id, episode, first seen, last seen, fixed at,
/// fixed by, tier, deadline, text id.
pub(crate) type ClosedEpisode = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    i64,
);

/// `value` as JSON, deflated behind the tag (CPU work; the fastest level, as the ranked lists).
pub(crate) fn pack<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<Vec<u8>> {
    let json = serde_json::to_vec(value).context("encoding closed findings")?;
    crate::deflate::deflate(DEFLATED_JSON, &json, flate2::Compression::fast())
        .context("compressing closed findings")
}

/// What [`pack`] packed, or the plain JSON migration 0037 wrote.
pub(crate) fn unpack<T: DeserializeOwned>(bytes: &[u8]) -> anyhow::Result<T> {
    let json = match bytes.split_first() {
        Some((&DEFLATED_JSON, deflated)) => {
            crate::deflate::inflate(deflated).context("stored closed findings")?
        }
        Some((b'[', _)) => bytes.to_vec(),
        other => anyhow::bail!(
            "stored closed findings have an unknown format (tag {:?})",
            other.map(|(tag, _)| tag)
        ),
    };
    serde_json::from_slice(&json).context("stored closed findings: not the expected JSON")
}

/// Stores the episodes one computation closed on host `host_key` and the host's last closed
/// episode per key (`last_closed`, updated with them).
pub(crate) async fn record_closed(
    tx: &mut sqlx::AnyConnection,
    host_key: i64,
    closed: &[ClosedEpisode],
    last_closed: &mut HashMap<i64, i64>,
) -> anyhow::Result<()> {
    if closed.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO closed_findings (host_key, episodes) VALUES ($1, $2)")
        .bind(host_key)
        .bind(pack(closed)?)
        .execute(&mut *tx)
        .await
        .context("storing closed findings")?;
    for episode in closed {
        last_closed.insert(episode.0, episode.1);
    }
    let mut pairs: Vec<(i64, i64)> = last_closed.iter().map(|(k, e)| (*k, *e)).collect();
    pairs.sort_unstable();
    sqlx::query("UPDATE finding_hosts SET episodes = $1 WHERE key = $2")
        .bind(pack(&pairs)?)
        .bind(host_key)
        .execute(&mut *tx)
        .await
        .context("storing the last closed episodes")?;
    Ok(())
}

/// The last closed episode of each finding key, from `finding_hosts.episodes`.
pub(crate) fn last_closed(packed: Option<&[u8]>) -> anyhow::Result<HashMap<i64, i64>> {
    let Some(bytes) = packed else {
        return Ok(HashMap::new());
    };
    let pairs: Vec<(i64, i64)> = unpack(bytes)?;
    Ok(pairs.into_iter().collect())
}

impl Store {
    /// The closed episodes of one host or of every host, unordered.
    pub(crate) async fn closed_episodes(
        &self,
        host_id: Option<&str>,
    ) -> anyhow::Result<Vec<HistoryRow>> {
        let select = "SELECT fh.host_id, h.hostname, c.episodes FROM closed_findings c
             JOIN finding_hosts fh ON fh.key = c.host_key JOIN hosts h ON h.id = fh.host_id";
        let rows = self
            .rows_of_host(select, "fh.host_id", host_id)
            .await
            .context("reading the closed findings")?;
        let mut episodes = Vec::new();
        for row in &rows {
            let host: String = row.try_get("host_id")?;
            let hostname: String = row.try_get("hostname")?;
            let packed: Vec<u8> = row.try_get("episodes")?;
            for episode in unpack::<Vec<ClosedEpisode>>(&packed)? {
                episodes.push((host.clone(), hostname.clone(), episode));
            }
        }
        let keys = (self.named(
            &episodes,
            |e| e.2.0,
            KEYS,
            |row| Ok((row.try_get("binary_name")?, row.try_get("advisory")?)),
        ))
        .await?;
        let mut unpacker = Unpacker::new(&TEXTS);
        let texts = (self.named(
            &episodes,
            |e| e.2.8,
            &texts_sql(),
            |row| unpacker.text_of_row(row),
        ))
        .await?;
        episodes
            .into_iter()
            .map(|(host_id, hostname, e)| {
                let (key, episode, first_seen, last_seen, fixed_at, fixed_by, tier, deadline, text) =
                    e;
                let (binary, advisory): &(String, String) =
                    keys.get(&key).context("unknown finding key")?;
                let text = texts.get(&text).context("unknown finding text")?;
                let finding = with_deadline(text.clone(), deadline.as_deref());
                Ok(HistoryRow {
                    host_id,
                    hostname,
                    binary: binary.clone(),
                    advisory: advisory.clone(),
                    episode: u32::try_from(episode).context("episode out of range")?,
                    first_seen: parse_time(&first_seen)?,
                    last_seen: parse_time(&last_seen)?,
                    fixed_at: Some(parse_time(&fixed_at)?),
                    fixed_by,
                    tier: u8::try_from(tier).context("tier out of range")?,
                    deadline: deadline.as_deref().map(parse_time).transpose()?,
                    finding,
                })
            })
            .collect()
    }

    /// What `read` makes of the rows `select` (`KEYS` or the texts' select) reads with the ids
    /// `id` picks from `items`, by id.
    async fn named<T, V>(
        &self,
        items: &[T],
        id: impl Fn(&T) -> i64,
        select: &str,
        mut read: impl FnMut(&sqlx::any::AnyRow) -> anyhow::Result<V>,
    ) -> anyhow::Result<HashMap<i64, V>> {
        let ids: Vec<i64> = items
            .iter()
            .map(id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut named = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(rows_per_statement(1)) {
            let sql = format!("{select} WHERE id IN ({})", placeholders(1, chunk.len()));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query
                .fetch_all(self.pool())
                .await
                .context("reading the names of closed findings")?
            {
                named.insert(row.try_get("id")?, read(&row)?);
            }
        }
        Ok(named)
    }
}

const KEYS: &str = "SELECT id, binary_name, advisory FROM finding_keys";

/// The texts' select for [`Store::named`].
fn texts_sql() -> String {
    format!("SELECT id, {} FROM finding_texts t", text_columns("t"))
}
