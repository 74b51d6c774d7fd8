//! The append-only audit log: every record chained to the previous one by SHA-256.
//!
//! `hash = sha256(prev_hash || canonical JSON of {seq, at, actor, action, subject, details})`,
//! hex-encoded; the first record's `prev_hash` is 64 zeros. Canonical JSON sorts object keys and
//! has no whitespace, so the hash does not depend on how serde_json orders maps. Triggers refuse
//! UPDATE and DELETE; [`verify`] finds the first row whose link does not hold.

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::Store;

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, by whom, to what.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry<'a> {
    /// An operator's name, `agent:<host id>`, `controller`, or `cli:<login>` (offline CLI).
    pub actor: &'a str,
    /// `enrollment_token.created`, `host.enrolled`, `command.created`, …
    pub action: &'a str,
    /// The id of the thing acted on.
    pub subject: &'a str,
    /// Anything else worth keeping (never secrets).
    pub details: serde_json::Value,
}

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every link holds.
    Intact { records: u64 },
    /// The first record whose link does not hold, and why.
    Broken { seq: i64, reason: String },
}

/// Appends one record inside the caller's transaction (which should have begun IMMEDIATE so
/// that two writers never chain onto the same predecessor).
pub async fn append(conn: &mut AnyConnection, entry: &AuditEntry<'_>) -> anyhow::Result<i64> {
    append_many(conn, std::iter::once(entry.clone())).await
}

/// The most records one INSERT statement carries (8 parameters each, bound by position on
/// SQLite: `db::value_rows_in`; SQLite allows 32,766).
const ROWS_PER_INSERT: usize = 500;

/// Appends `entries` in order inside the caller's transaction (begun IMMEDIATE), reading the
/// chain's head once and inserting many records per statement: what a bulk change (thousands
/// of commands for a plan) records, one record each. Returns the last record's `seq` (the
/// head's when `entries` is empty).
pub async fn append_many(
    conn: &mut AnyConnection,
    entries: impl IntoIterator<Item = AuditEntry<'_>>,
) -> anyhow::Result<i64> {
    let (mut seq, mut prev_hash) = head(conn).await?;
    let at = jiff::Timestamp::now().to_string();
    let mut records = Vec::new();
    for entry in entries {
        seq += 1;
        let hash = record_hash(
            &prev_hash,
            seq,
            &at,
            entry.actor,
            entry.action,
            entry.subject,
            &entry.details,
        );
        let details = canonical_json(&entry.details);
        records.push((
            seq,
            entry,
            details,
            std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        ));
    }
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) VALUES {}",
            crate::db::value_rows_in(conn, chunk.len(), 8)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, entry, details, prev, hash) in chunk {
            insert = insert
                .bind(*seq)
                .bind(&at)
                .bind(entry.actor)
                .bind(entry.action)
                .bind(entry.subject)
                .bind(details)
                .bind(prev)
                .bind(hash);
        }
        insert.execute(&mut *conn).await.with_context(|| {
            format!("appending audit records up to {}", chunk[chunk.len() - 1].0)
        })?;
    }
    Ok(seq)
}

/// The last record's `seq` and hash (0 and [`GENESIS_HASH`] for an empty log).
async fn head(conn: &mut AnyConnection) -> anyhow::Result<(i64, String)> {
    let last = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
        .context("reading the last audit record")?;
    Ok(match last {
        Some(row) => (row.try_get("seq")?, row.try_get("hash")?),
        None => (0, GENESIS_HASH.to_owned()),
    })
}

impl Store {
    /// Appends one audit record in its own transaction.
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> anyhow::Result<i64> {
        let mut tx = self.begin_immediate().await?;
        let seq = append(&mut tx, entry).await?;
        tx.commit().await.context("committing the audit record")?;
        Ok(seq)
    }

    /// The last `limit` audit records, newest first.
    pub async fn audit_tail(&self, limit: u32) -> anyhow::Result<Vec<AuditRecord>> {
        self.audit_page(None, limit).await
    }

    /// Up to `limit` audit records older than `before` (a `seq`; the newest when `None`),
    /// newest first.
    pub async fn audit_page(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<AuditRecord>> {
        let rows = sqlx::query("SELECT * FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .context("reading audit records")?;
        rows.iter().map(audit_record).collect()
    }

    /// Walks the whole chain in order and reports the first broken link.
    pub async fn verify_audit(&self) -> anyhow::Result<ChainCheck> {
        let rows = sqlx::query("SELECT * FROM audit ORDER BY seq")
            .fetch_all(self.pool())
            .await
            .context("reading the audit log")?;
        let mut expected_prev = GENESIS_HASH.to_owned();
        for (expected_seq, row) in (1_i64..).zip(rows.iter()) {
            let record = audit_record(row)?;
            if record.seq != expected_seq {
                return Ok(ChainCheck::Broken {
                    seq: record.seq,
                    reason: format!("expected record {expected_seq} here (a record is missing)"),
                });
            }
            if record.prev_hash != expected_prev {
                return Ok(ChainCheck::Broken {
                    seq: record.seq,
                    reason: "prev_hash does not match the previous record's hash".into(),
                });
            }
            let computed = record_hash(
                &record.prev_hash,
                record.seq,
                &record.at,
                &record.actor,
                &record.action,
                &record.subject,
                &record.details,
            );
            if computed != record.hash {
                return Ok(ChainCheck::Broken {
                    seq: record.seq,
                    reason: "its content does not match its hash (the record was altered)".into(),
                });
            }
            expected_prev = record.hash;
        }
        Ok(ChainCheck::Intact {
            records: rows.len() as u64,
        })
    }
}

pub(crate) fn audit_record(row: &sqlx::any::AnyRow) -> anyhow::Result<AuditRecord> {
    let seq: i64 = row.try_get("seq")?;
    let details: String = row.try_get("details")?;
    Ok(AuditRecord {
        seq,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        details: serde_json::from_str(&details)
            .with_context(|| format!("audit record {seq}: details are not JSON"))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// The hash of one record chained to `prev_hash` (what `append` stores and `verify_audit` checks).
pub fn record_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
) -> String {
    let record = serde_json::json!({
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_json(&record).as_bytes());
    hex::encode(hasher.finalize())
}

/// JSON with object keys sorted and no whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = serde_json::json!({"b": [{"z": 1, "a": "x"}], "a": null});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":null,"b":[{"a":"x","z":1}]}"#
        );
    }

    #[test]
    fn hash_depends_on_prev_and_content() {
        let details = serde_json::json!({"k": 1});
        let a = record_hash(GENESIS_HASH, 1, "t", "operator", "x", "s", &details);
        let b = record_hash(GENESIS_HASH, 1, "t", "operator", "x", "s2", &details);
        let c = record_hash(&a, 1, "t", "operator", "x", "s", &details);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
    }
}
