//! The notification outbox and the channels' secrets (migration `0020_notifications.sql`).
//!
//! Enqueueing is idempotent on the key (event id × channel). The dispatcher claims due rows
//! under a lease (a row left `sending` by a dead controller is claimed again once the lease has
//! run out), then marks each sent, or failed with the error and either the next attempt time or
//! no more attempts. What to retry and when is the caller's (pw-controller); this module
//! stores it.

use anyhow::Context;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, append};
use crate::{Store, optional_time, parse_time};

/// A row to enqueue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Event id × channel: `"{event_id}/{channel}"`.
    pub key: String,
    pub event_id: String,
    pub event_kind: String,
    pub channel: String,
    /// The event, the rendered message and the recipients, as JSON; never a secret.
    pub payload: serde_json::Value,
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub key: String,
    pub event_id: String,
    pub event: String,
    pub channel: String,
    #[serde(skip)]
    pub payload: serde_json::Value,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// Rows per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
}

/// A channel's stored secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSecret {
    /// The signing secret (webhook, DingTalk, Feishu) or the SMTP password.
    pub secret: Option<String>,
    /// What replaces `{token}` in the channel's URL.
    pub token: Option<String>,
}

const OUTBOX_SELECT: &str = "SELECT id, key, event_id, event_kind, channel, payload, status, \
     attempts, next_attempt_ms, last_error, created_at, sent_at FROM notification_outbox";

impl Store {
    /// Enqueues rows; a key already stored is left as it is. Returns how many rows are new.
    pub async fn enqueue_notifications(
        &self,
        rows: &[NewNotification],
        now: Timestamp,
    ) -> anyhow::Result<u64> {
        let mut tx = self.begin_immediate().await?;
        let mut inserted = 0;
        for row in rows {
            let done = sqlx::query(
                "INSERT INTO notification_outbox (key, event_id, event_kind, channel, payload,
                   status, attempts, next_attempt_ms, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&row.key)
            .bind(&row.event_id)
            .bind(&row.event_kind)
            .bind(&row.channel)
            .bind(row.payload.to_string())
            .bind(now.as_millisecond())
            .bind(now.to_string())
            .execute(&mut *tx)
            .await
            .with_context(|| format!("enqueueing notification {}", row.key))?;
            inserted += done.rows_affected();
        }
        tx.commit().await.context("committing the notifications")?;
        Ok(inserted)
    }

    /// Claims up to `limit` due rows (pending and due at `now`, or sending with an expired
    /// lease): each becomes `sending` until `lease_until`, its attempts counted.
    pub async fn claim_notifications(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxRow>> {
        let mut tx = self.begin_immediate().await?;
        let now_ms = now.as_millisecond();
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM notification_outbox
             WHERE (status = 'pending' AND next_attempt_ms <= $1)
                OR (status = 'sending' AND lease_until_ms <= $2)
             ORDER BY id LIMIT $3",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .context("finding due notifications")?;
        let mut rows = Vec::new();
        for id in ids {
            sqlx::query(
                "UPDATE notification_outbox
                 SET status = 'sending', lease_until_ms = $1, attempts = attempts + 1
                 WHERE id = $2",
            )
            .bind(lease_until.as_millisecond())
            .bind(id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("claiming notification {id}"))?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{OUTBOX_SELECT} WHERE id = $1"
            )))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .with_context(|| format!("reading notification {id}"))?;
            rows.push(outbox_row(&row)?);
        }
        tx.commit().await.context("committing the claim")?;
        Ok(rows)
    }

    /// Marks a claimed row delivered.
    pub async fn notification_sent(&self, id: i64, now: Timestamp) -> anyhow::Result<()> {
        let _turn = self.single_write_turn().await;
        sqlx::query(
            "UPDATE notification_outbox
             SET status = 'sent', sent_at = $1, lease_until_ms = NULL, last_error = NULL
             WHERE id = $2",
        )
        .bind(now.to_string())
        .bind(id)
        .execute(self.write_pool())
        .await
        .with_context(|| format!("marking notification {id} sent"))?;
        Ok(())
    }

    /// Records a failed attempt: `retry_at` is the next attempt, `None` gives up (`failed`).
    pub async fn notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> anyhow::Result<()> {
        let (status, next) = match retry_at {
            Some(at) => ("pending", Some(at.as_millisecond())),
            None => ("failed", None),
        };
        let _turn = self.single_write_turn().await;
        sqlx::query(
            "UPDATE notification_outbox
             SET status = $1, next_attempt_ms = COALESCE($2, next_attempt_ms),
                 lease_until_ms = NULL, last_error = $3
             WHERE id = $4",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(id)
        .execute(self.write_pool())
        .await
        .with_context(|| format!("recording the failure of notification {id}"))?;
        Ok(())
    }

    /// Outbox rows, newest first, optionally of one status.
    pub async fn notifications(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{OUTBOX_SELECT} WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        )))
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .context("reading the notification outbox")?;
        rows.iter().map(outbox_row).collect()
    }

    /// How many rows have each status.
    pub async fn notification_counts(&self) -> anyhow::Result<OutboxCounts> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM notification_outbox GROUP BY status")
                .fetch_all(self.pool())
                .await
                .context("counting notifications")?;
        let mut counts = OutboxCounts::default();
        for row in rows {
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or_default();
            match row.try_get::<String, _>("status")?.as_str() {
                "pending" => counts.pending = n,
                "sending" => counts.sending = n,
                "sent" => counts.sent = n,
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// Stores a channel's secrets (replacing both) and audits `notification.secret_set` with
    /// which parts were set, never their values, in one transaction.
    pub async fn set_channel_secret(
        &self,
        channel: &str,
        secret: &ChannelSecret,
        actor: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        sqlx::query(
            "INSERT INTO notification_secrets (channel, secret, token, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel) DO UPDATE SET secret = excluded.secret,
               token = excluded.token, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at",
        )
        .bind(channel)
        .bind(&secret.secret)
        .bind(&secret.token)
        .bind(actor)
        .bind(now.to_string())
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing the secret of channel {channel}"))?;
        let entry = AuditEntry {
            actor,
            action: "notification.secret_set",
            subject: channel,
            details: serde_json::json!({
                "secret": secret.secret.is_some(),
                "token": secret.token.is_some(),
            }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the channel secret")
    }

    /// An operator's retry of an outbox row that is `failed`, or `pending` and waiting for its
    /// next attempt: due now, with a fresh round of attempts; audited `notification.retry` with
    /// the status it had, in one transaction. A row already `sent` or being sent is left as it
    /// is. Returns the status it had (`None`: no such row).
    pub async fn retry_notification(
        &self,
        id: i64,
        actor: &str,
        now: Timestamp,
    ) -> anyhow::Result<Option<String>> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query("SELECT key, status FROM notification_outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .with_context(|| format!("reading notification {id}"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (key, status): (String, String) = (row.try_get("key")?, row.try_get("status")?);
        if status == "failed" || status == "pending" {
            sqlx::query(
                "UPDATE notification_outbox
                 SET status = 'pending', next_attempt_ms = $1, attempts = 0, lease_until_ms = NULL
                 WHERE id = $2",
            )
            .bind(now.as_millisecond())
            .bind(id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("retrying notification {id}"))?;
            let entry = AuditEntry {
                actor,
                action: "notification.retry",
                subject: &key,
                details: serde_json::json!({ "id": id, "was": status }),
            };
            append(&mut tx, &entry).await?;
        }
        tx.commit().await.context("committing the retry")?;
        Ok(Some(status))
    }

    /// A channel's stored secrets (empty when none were set).
    pub async fn channel_secret(&self, channel: &str) -> anyhow::Result<ChannelSecret> {
        let row = sqlx::query("SELECT secret, token FROM notification_secrets WHERE channel = $1")
            .bind(channel)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading the secret of channel {channel}"))?;
        Ok(match row {
            Some(row) => ChannelSecret {
                secret: row.try_get("secret")?,
                token: row.try_get("token")?,
            },
            None => ChannelSecret::default(),
        })
    }
}

fn outbox_row(row: &AnyRow) -> anyhow::Result<OutboxRow> {
    let payload: String = row.try_get("payload")?;
    Ok(OutboxRow {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        event_id: row.try_get("event_id")?,
        event: row.try_get("event_kind")?,
        channel: row.try_get("channel")?,
        payload: serde_json::from_str(&payload).context("stored notification payload")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: Timestamp::from_millisecond(row.try_get("next_attempt_ms")?)
            .context("stored next attempt time")?,
        last_error: row.try_get("last_error")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        sent_at: optional_time(row, "sent_at")?,
    })
}
