//! The reads of a change report (issue 13 item 5): every rollout of a stored plan, and the
//! change reports agents sent for one rollout's `apply_change` commands.

use anyhow::Context;
use sqlx::Row;

use crate::Store;
use crate::rollouts::{RolloutRow, rollout_row};

/// One agent's change report of a rollout's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChangeReport {
    pub command_id: String,
    pub host_id: String,
    /// `pw_protocol::ChangeReport` JSON.
    pub report: String,
    pub received_at: String,
}

impl Store {
    /// Every rollout carrying out stored plan `plan_id` (the first and its retries), oldest
    /// first.
    pub async fn rollouts_of_plan(&self, plan_id: i64) -> anyhow::Result<Vec<RolloutRow>> {
        let rows = sqlx::query("SELECT * FROM rollouts WHERE plan_id = $1 ORDER BY created_at, id")
            .bind(plan_id)
            .fetch_all(self.pool())
            .await
            .with_context(|| format!("reading the rollouts of plan {plan_id}"))?;
        rows.iter().map(rollout_row).collect()
    }

    /// The guards' change reports of rollout `id`'s `apply_change` commands (ids
    /// `ID:HOST:record_versions:ATTEMPT`; the reports of `restart_services` and `reboot` are
    /// left out), oldest first: a host retried within the rollout has one per attempt.
    pub async fn rollout_change_reports(
        &self,
        id: &str,
    ) -> anyhow::Result<Vec<StoredChangeReport>> {
        // `:` + 1 = `;`: the range covers exactly the command ids `ID:…`, using the key.
        let rows = sqlx::query(
            "SELECT r.command_id, c.host_id, r.report, r.received_at
             FROM change_reports r JOIN commands c ON c.id = r.command_id
             WHERE r.command_id >= $1 AND r.command_id < $2
             ORDER BY r.received_at, r.command_id",
        )
        .bind(format!("{id}:"))
        .bind(format!("{id};"))
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the change reports of rollout {id}"))?;
        rows.iter()
            .filter(|row| {
                row.try_get::<String, _>("command_id")
                    .is_ok_and(|id| id.contains(":record_versions:") || id.contains(":rollback:"))
            })
            .map(|row| {
                Ok(StoredChangeReport {
                    command_id: row.try_get("command_id")?,
                    host_id: row.try_get("host_id")?,
                    report: row.try_get("report")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect()
    }
}
