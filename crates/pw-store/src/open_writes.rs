//! The open episodes' rows a findings computation writes and deletes (`findings_write.rs`),
//! several per statement.

use anyhow::Context;

/// Rows per statement (bound by position on SQLite: `db::value_rows_in`): a host's first scan
/// writes ~1,000 open episodes, 21 a statement when their parameters were numbered.
const ROWS: usize = 500;

/// An `open_episodes` row of host `host_key` but the host: key id, stamp (its first sight,
/// deadline, tier and episode number, `open_stamps.rs`), text id.
pub(crate) type OpenRow = (i64, i64, i64);

/// Inserts `rows` into the host's open findings, several per statement, followed by
/// `conflict` (an `ON CONFLICT` clause, or nothing), in the order of their key ids: the table's
/// own order (host, key id), so each row lands on or after the leaf the one before it did.
/// A computation's findings come most urgent first, whose key ids are in no order; inserted
/// that way each row sought its own leaf across the host's range.
pub(crate) async fn write_open(
    tx: &mut sqlx::AnyConnection,
    host_key: i64,
    rows: &[OpenRow],
    conflict: &str,
) -> anyhow::Result<()> {
    const COLUMNS: usize = 4;
    let mut rows = rows.to_vec();
    rows.sort_unstable_by_key(|(key_id, _, _)| *key_id);
    for chunk in rows.chunks(ROWS) {
        let values = crate::db::value_rows_in(tx, chunk.len(), COLUMNS);
        let text = format!(
            "INSERT INTO open_episodes (host_key, key_id, stamp, text_id)
             VALUES {values} {conflict}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for (key_id, stamp, text_id) in chunk {
            query = query
                .bind(host_key)
                .bind(*key_id)
                .bind(*stamp)
                .bind(*text_id);
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("writing {} open findings of host {host_key}", chunk.len()))?;
    }
    Ok(())
}

/// Removes closed episodes (by key id) from the host's open findings, several hundred per
/// statement (bound by position on SQLite, as [`write_open`]'s: a changed inventory closes
/// ~800, which took 7 statements of numbered parameters), in key id order as [`write_open`]
/// writes.
pub(crate) async fn delete_open(
    tx: &mut sqlx::AnyConnection,
    host_key: i64,
    key_ids: &[i64],
) -> anyhow::Result<()> {
    let mut key_ids = key_ids.to_vec();
    key_ids.sort_unstable();
    for chunk in key_ids.chunks(ROWS) {
        let marks = crate::db::marks_in(tx, 1 + chunk.len());
        let sql = format!(
            "DELETE FROM open_episodes WHERE host_key = {} AND key_id IN ({})",
            marks[0],
            marks[1..].join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(host_key);
        for key_id in chunk {
            query = query.bind(*key_id);
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("closing {} findings of host {host_key}", chunk.len()))?;
    }
    Ok(())
}
