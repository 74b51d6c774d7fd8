//! A findings write's open rows read before its turn in the writers' line (issue 15: a feed
//! import's re-rank is held by the line, and reading each host's open findings was ~a sixth of
//! a group's turn: docs/PERFORMANCE.md, "Feed import re-rank: the writer's own connection, open
//! rows read early").
//!
//! A group write ([`Store::record_computations`](crate::Store::record_computations)) reads its
//! hosts' open rows on a pool connection, in one read transaction (one snapshot), while the
//! write before it holds the line; with them it reads each host's finding key and last
//! computation time. In its turn the group reads those again (`findings_group.rs`, one statement
//! for the group, as before) and uses a host's early rows only when both are unchanged: every
//! write of a host's open findings stores its computation's time in `host_findings` in the same
//! transaction (`findings_write.rs`), so an unchanged time means unchanged open rows — a host
//! written since (another replica's scan) is read again in the turn. Rows of texts and keys,
//! which the rows are joined with, are never changed.

use foldhash::{HashMap, HashMapExt};

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::finding_keys::{Key, KeyCache, key_names};
use crate::finding_texts::SUMMARISED;
use crate::findings::FindingsSnapshot;
use crate::findings_scope::{Computation, Covered, covered_rows, named_keys};
use crate::{Backend, Store};

/// A host's open findings (`$1`: its key) with their texts and keys, for a WHERE clause on the
/// keys' names to extend: walked, and keys first (`findings_scope::covered_rows`).
pub(crate) const COVERED_OPEN: &str = "FROM open_findings o
     JOIN finding_texts t ON t.id = o.text_id JOIN finding_keys k ON k.id = o.key_id
     WHERE o.host_key = $1";
pub(crate) const COVERED_OPEN_BY_KEY: &str = "FROM finding_keys k CROSS JOIN open_findings o
     JOIN finding_texts t ON t.id = o.text_id
     WHERE o.key_id = k.id AND o.host_key = $1";

/// A host's open rows as read, with their keys' names by key id.
#[derive(Default)]
pub(crate) struct OpenRows {
    pub(crate) rows: Vec<AnyRow>,
    pub(crate) names: HashMap<i64, Key>,
}

/// The open episodes of the host `host_key` (of the binaries `only`, else all), with their
/// texts' digests and what the summaries count of the texts.
pub(crate) async fn read_open(
    conn: &mut sqlx::AnyConnection,
    host_key: i64,
    keys: &KeyCache,
    only: Option<&Covered>,
) -> anyhow::Result<OpenRows> {
    // With what the summaries count of the texts (joined anyway, for their digests): a
    // computation's summaries then follow from its findings, before and after, whole or in
    // part (`findings_counted.rs`), instead of grouping the host's open findings again.
    let columns = format!(
        "o.key_id, o.episode, o.first_seen, o.tier, o.deadline, o.text_id, t.digest, \
         {SUMMARISED}"
    );
    let texts = "FROM open_findings o JOIN finding_texts t ON t.id = o.text_id";
    let (rows, names) = match only {
        // Named from the process's keys (`finding_keys.rs`), not joined with them row by row.
        None => {
            let select = format!("SELECT {columns} {texts} WHERE o.host_key = $1");
            let rows = sqlx::query(sqlx::AssertSqlSafe(select))
                .bind(host_key)
                .fetch_all(&mut *conn)
                .await
                .context("reading the host's open findings")?;
            let ids = (rows.iter().map(|row| row.try_get::<i64, _>("key_id")))
                .collect::<Result<Vec<_>, _>>()?;
            let names = key_names(conn, keys, &ids).await?;
            (rows, names)
        }
        // Filtered by the keys' names, so joined with them (`findings_scope::covered_rows`).
        Some(covered) => {
            let columns = format!("SELECT {columns}, k.binary_name, k.advisory");
            let (by_binary, by_key) = (
                format!("{columns} {COVERED_OPEN}"),
                format!("{columns} {COVERED_OPEN_BY_KEY}"),
            );
            let selects = (by_binary.as_str(), by_key.as_str());
            let rows = covered_rows(conn, selects, host_key, covered)
                .await
                .context("reading the host's open findings of some binaries")?;
            let names = named_keys(&rows)?;
            (rows, names)
        }
    };
    Ok(OpenRows { rows, names })
}

/// One host's early read: its finding key and last computation time, and its open rows.
struct EarlyHost {
    key: i64,
    computed_at: Option<String>,
    open: OpenRows,
}

/// A group's hosts' open rows read before its turn, by host id.
#[derive(Default)]
pub(crate) struct Early(HashMap<String, EarlyHost>);

impl Early {
    /// The open rows of the hosts of `computations` that have a finding key, read on a pool
    /// connection in one read transaction.
    pub(crate) async fn read(
        store: &Store,
        computations: &[(&FindingsSnapshot<'_>, &Computation<'_>)],
    ) -> anyhow::Result<Early> {
        let begin = match store.backend() {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        let mut tx = (store.pool().begin_with(begin).await)
            .context("starting a read of a group's open findings")?;
        let ids: Vec<String> = (computations.iter())
            .map(|(snapshot, _)| snapshot.host_id.to_owned())
            .collect();
        let select = "SELECT k.host_id, k.key, f.computed_at FROM finding_hosts k
             LEFT JOIN host_findings f ON f.host_id = k.host_id WHERE k.host_id IN";
        let rows = crate::findings_group::rows_in(&mut tx, select, &ids).await;
        let mut hosts: HashMap<String, (i64, Option<String>)> = HashMap::new();
        for row in &rows.context("reading a group's finding keys")? {
            let id: String = row.try_get("host_id")?;
            hosts.insert(id, (row.try_get("key")?, row.try_get("computed_at")?));
        }
        let mut early = Early::default();
        for (snapshot, computation) in computations {
            let id = snapshot.host_id;
            let Some((key, computed_at)) = hosts.remove(id) else {
                continue;
            };
            let open = read_open(&mut tx, key, &store.keys, computation.only).await?;
            let host = EarlyHost {
                key,
                computed_at,
                open,
            };
            early.0.insert(id.to_owned(), host);
        }
        tx.rollback().await.context("ending a read")?;
        Ok(early)
    }

    /// The open rows of `host_id` read early, once, when its finding key and last computation
    /// time are still `key` and `computed_at` (as read in the write's turn).
    pub(crate) fn take(
        &mut self,
        host_id: &str,
        key: Option<i64>,
        computed_at: Option<&String>,
    ) -> Option<OpenRows> {
        let host = self.0.remove(host_id)?;
        (Some(host.key) == key && host.computed_at.as_ref() == computed_at).then_some(host.open)
    }
}
