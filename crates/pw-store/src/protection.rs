//! Backups and snapshots of rollout host changes (`0023_protection_records.sql`,
//! docs/protection.md): written from the agent's change report when its result arrives, read
//! back per rollout for the API and the console.

use anyhow::Context;
use pw_protocol::{ProtectionRecordView, RecordStatus};
use sqlx::Row;

use crate::Store;

impl Store {
    /// Stores (or replaces, by item name) the records of one host's change in a rollout. A
    /// rollout host that does not exist fails the foreign key.
    pub async fn record_protection(
        &self,
        rollout_id: &str,
        host_id: &str,
        command_id: &str,
        records: &[ProtectionRecordView],
    ) -> anyhow::Result<()> {
        let what = || format!("recording protection of host {host_id} in rollout {rollout_id}");
        let mut tx = self.begin_immediate().await?;
        for r in records {
            sqlx::query(
                "INSERT INTO protection_records (rollout_id, host_id, name, step, kind, taken_at,
                     size_bytes, status, location, expires_at, take_ms, verify_ms, detail,
                     restored_ok, restored, command_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (rollout_id, host_id, name) DO UPDATE SET step = excluded.step,
                     kind = excluded.kind, taken_at = excluded.taken_at,
                     size_bytes = excluded.size_bytes, status = excluded.status,
                     location = excluded.location, expires_at = excluded.expires_at,
                     take_ms = excluded.take_ms, verify_ms = excluded.verify_ms,
                     detail = excluded.detail, restored_ok = excluded.restored_ok,
                     restored = excluded.restored, command_id = excluded.command_id",
            )
            .bind(rollout_id)
            .bind(host_id)
            .bind(&r.name)
            .bind(&r.step)
            .bind(&r.kind)
            .bind(r.taken_at.to_string())
            .bind(to_i64(r.size_bytes))
            .bind(r.status.as_str())
            .bind(&r.location)
            .bind(r.expires_at.to_string())
            .bind(to_i64(r.take_ms))
            .bind(to_i64(r.verify_ms))
            .bind(&r.detail)
            .bind(r.restored_ok.map(i64::from))
            .bind(r.restored.as_deref())
            .bind(command_id)
            .execute(&mut *tx)
            .await
            .with_context(what)?;
        }
        tx.commit().await.with_context(what)?;
        Ok(())
    }

    /// Every record of a rollout as `(host id, record)`, by host then time taken.
    pub async fn rollout_protection(
        &self,
        rollout_id: &str,
    ) -> anyhow::Result<Vec<(String, ProtectionRecordView)>> {
        let rows = sqlx::query(
            "SELECT host_id, name, step, kind, taken_at, size_bytes, status, location,
                    expires_at, take_ms, verify_ms, detail, restored_ok, restored
             FROM protection_records WHERE rollout_id = $1
             ORDER BY host_id, taken_at, name",
        )
        .bind(rollout_id)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the protection records of rollout {rollout_id}"))?;
        rows.iter()
            .map(|row| {
                let status = match row.try_get::<String, _>("status")?.as_str() {
                    "verified" => RecordStatus::Verified,
                    _ => RecordStatus::Failed,
                };
                let time = |column: &str| -> anyhow::Result<jiff::Timestamp> {
                    let text: String = row.try_get(column)?;
                    text.parse()
                        .with_context(|| format!("protection_records.{column} {text:?}"))
                };
                let record = ProtectionRecordView {
                    step: row.try_get("step")?,
                    kind: row.try_get("kind")?,
                    name: row.try_get("name")?,
                    taken_at: time("taken_at")?,
                    size_bytes: to_u64(row.try_get("size_bytes")?),
                    status,
                    location: row.try_get("location")?,
                    expires_at: time("expires_at")?,
                    take_ms: to_u64(row.try_get("take_ms")?),
                    verify_ms: to_u64(row.try_get("verify_ms")?),
                    detail: row.try_get("detail")?,
                    restored_ok: row
                        .try_get::<Option<i64>, _>("restored_ok")?
                        .map(|v| v != 0),
                    restored: row.try_get("restored")?,
                };
                Ok((row.try_get("host_id")?, record))
            })
            .collect()
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
