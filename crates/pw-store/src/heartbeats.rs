//! Agents' heartbeats, written together (pw-server's `heartbeats.rs`), and read back when a
//! controller starts.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

use crate::{Store, flag, parse_time};

/// One agent's heartbeat, as written with others (`Store::record_heartbeats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    pub host_id: String,
    pub at: Timestamp,
    pub agent_version: String,
    pub read_only: bool,
    pub plan_changes: bool,
}

impl HeartbeatRow {
    /// Whether `other` says the same as this heartbeat besides when: the agent's version and
    /// flags as stored (plan changes count only on a read-only host).
    pub fn says_same(&self, other: &HeartbeatRow) -> bool {
        self.agent_version == other.agent_version
            && self.read_only == other.read_only
            && self.stored_plan_changes() == other.stored_plan_changes()
    }

    fn stored_plan_changes(&self) -> bool {
        self.read_only && self.plan_changes
    }
}

impl Store {
    /// The last heartbeat stored for every host heard from (pw-server's `heartbeats.rs`
    /// starts from them, so that a restart does not write every host's next heartbeat at once).
    pub async fn last_heartbeats(&self) -> anyhow::Result<Vec<HeartbeatRow>> {
        let rows = sqlx::query(
            "SELECT id, last_seen_at, agent_version, read_only, plan_changes FROM hosts
             WHERE last_seen_at IS NOT NULL AND agent_version IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await
        .context("reading the hosts' last heartbeats")?;
        rows.iter()
            .map(|row| {
                Ok(HeartbeatRow {
                    host_id: row.try_get("id")?,
                    at: parse_time(&row.try_get::<String, _>("last_seen_at")?)?,
                    agent_version: row.try_get("agent_version")?,
                    read_only: flag(row, "read_only")?,
                    plan_changes: flag(row, "plan_changes")?,
                })
            })
            .collect()
    }

    /// Heartbeats in one write (`pw-server`'s `heartbeats.rs`: those of a second together, or
    /// those changing their host's flags as soon as they come); a host no longer enrolled is
    /// skipped.
    pub async fn record_heartbeats(&self, beats: &[HeartbeatRow]) -> anyhow::Result<()> {
        if beats.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_immediate().await?;
        for beat in beats {
            update(beat)
                .execute(&mut *tx)
                .await
                .with_context(|| context(beat))?;
        }
        tx.commit().await.context("committing the heartbeats")?;
        Ok(())
    }
}

/// The one statement writing a heartbeat.
fn update(beat: &HeartbeatRow) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "UPDATE hosts SET last_seen_at = $1, agent_version = $2, read_only = $3, plan_changes = $4
         WHERE id = $5",
    )
    .bind(beat.at.to_string())
    .bind(&beat.agent_version)
    .bind(i64::from(beat.read_only))
    .bind(i64::from(beat.read_only && beat.plan_changes))
    .bind(&beat.host_id)
}

fn context(beat: &HeartbeatRow) -> String {
    format!("recording the heartbeat of host {}", beat.host_id)
}
