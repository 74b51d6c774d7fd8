//! Agents' heartbeats: one written at once (its agent's version or read-only flags changed),
//! or the heartbeats of a second written together (pw-server's `heartbeats.rs`).

use anyhow::Context;
use jiff::Timestamp;

use crate::Store;

/// One agent's heartbeat, as written with others (`Store::record_heartbeats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    pub host_id: String,
    pub at: Timestamp,
    pub agent_version: String,
    pub read_only: bool,
    pub plan_changes: bool,
}

impl Store {
    /// Records that the host's agent is alive, at once.
    pub async fn record_heartbeat(
        &self,
        host_id: &str,
        now: Timestamp,
        agent_version: &str,
        read_only: bool,
        plan_changes: bool,
    ) -> anyhow::Result<()> {
        let beat = HeartbeatRow {
            host_id: host_id.to_owned(),
            at: now,
            agent_version: agent_version.to_owned(),
            read_only,
            plan_changes,
        };
        let _turn = self.single_write_turn().await;
        update(&beat)
            .execute(self.pool())
            .await
            .with_context(|| context(&beat))?;
        Ok(())
    }

    /// The heartbeats of a second in one write (`pw-server`'s `heartbeats.rs`), each as
    /// [`Store::record_heartbeat`] writes it; a host no longer enrolled is skipped.
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
