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
    /// those changing their host's flags as soon as they come), [`HEARTBEATS_PER_UPDATE`] hosts
    /// a statement; a host heard twice ends as its later heartbeat said; a host no longer
    /// enrolled is skipped.
    pub async fn record_heartbeats(&self, beats: &[HeartbeatRow]) -> anyhow::Result<()> {
        if beats.is_empty() {
            return Ok(());
        }
        let beats = last_per_host(beats);
        let mut tx = self.begin_immediate().await?;
        for chunk in beats.chunks(HEARTBEATS_PER_UPDATE) {
            update(chunk)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("recording the heartbeats of {} hosts", chunk.len()))?;
        }
        tx.commit().await.context("committing the heartbeats")?;
        Ok(())
    }
}

/// Hosts per heartbeat `UPDATE` (5 parameters each). One statement per host was 10,000 round
/// trips in the writers' line for 10,000 agents' first heartbeats on PostgreSQL, and ~330 a
/// second for their steady ones (issue 15).
const HEARTBEATS_PER_UPDATE: usize = 128;

/// Each host's last heartbeat of `beats`, in order (one statement's `FROM (VALUES …)` may not
/// name a row twice: which of two it takes is unspecified on both backends).
fn last_per_host(beats: &[HeartbeatRow]) -> Vec<&HeartbeatRow> {
    let last: std::collections::HashMap<&str, usize> = (beats.iter().enumerate())
        .map(|(at, beat)| (beat.host_id.as_str(), at))
        .collect();
    (beats.iter().enumerate())
        .filter(|(at, beat)| last[beat.host_id.as_str()] == *at)
        .map(|(_, beat)| beat)
        .collect()
}

/// The statement writing a chunk of hosts' heartbeats. The VALUES columns are typed by casts
/// (see `db::value_rows_of`).
fn update<'a>(
    chunk: &[&'a HeartbeatRow],
) -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments> {
    let sql = format!(
        "UPDATE hosts SET last_seen_at = v.column2, agent_version = v.column3,
                read_only = v.column4, plan_changes = v.column5
         FROM (VALUES {}) AS v WHERE hosts.id = v.column1",
        crate::db::value_rows_of(
            chunk.len(),
            "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), \
             CAST(? AS BIGINT))"
        )
    );
    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
    for beat in chunk {
        update = update
            .bind(&beat.host_id)
            .bind(beat.at.to_string())
            .bind(&beat.agent_version)
            .bind(i64::from(beat.read_only))
            .bind(i64::from(beat.read_only && beat.plan_changes));
    }
    update
}
