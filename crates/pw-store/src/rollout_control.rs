//! Operators' control of rollouts: the persisted `pw_rollout::RolloutControl` (guarded by its
//! previous value, so two operators cannot overwrite each other), clearing a fleet-wide block,
//! and a rollout's operation log read back from the audit chain. Every change is audited in the
//! same transaction.

use anyhow::Context;

use crate::Store;
use crate::audit::{AuditEntry, AuditRecord, append, audit_record};
use crate::rollouts::{BlockedRow, blocked_row};

/// An operator's change of a rollout's control.
#[derive(Debug, Clone)]
pub struct ControlChange<'a> {
    pub rollout_id: &'a str,
    /// The control JSON the change was computed from.
    pub expected_json: &'a str,
    pub control_json: &'a str,
    /// `operator` (or the authenticated operator's name).
    pub actor: &'a str,
    /// `pause`, `resume`, `stop`: audited as `rollout.pause` …
    pub action: &'a str,
}

impl Store {
    /// Writes a rollout's new control with its audit record. `false` (nothing written) when the
    /// rollout's control is no longer `expected_json` or the rollout does not exist.
    pub async fn set_rollout_control(&self, change: &ControlChange<'_>) -> anyhow::Result<bool> {
        let mut tx = self.begin_immediate().await?;
        let updated = sqlx::query(
            "UPDATE rollouts SET control = $1, updated_at = $2 WHERE id = $3 AND control = $4",
        )
        .bind(change.control_json)
        .bind(jiff::Timestamp::now().to_string())
        .bind(change.rollout_id)
        .bind(change.expected_json)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("updating the control of rollout {}", change.rollout_id))?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        let action = format!("rollout.{}", change.action);
        let control: serde_json::Value = serde_json::from_str(change.control_json)?;
        let entry = AuditEntry {
            actor: change.actor,
            action: &action,
            subject: change.rollout_id,
            details: serde_json::json!({ "control": control }),
        };
        append(&mut tx, &entry).await?;
        tx.commit()
            .await
            .context("committing the rollout control")?;
        Ok(true)
    }

    /// Clears a fleet-wide block, audited as `blocked_version.cleared` with the block it
    /// removed. `None` when the version was not blocked (nothing written).
    pub async fn clear_blocked_version(
        &self,
        package: &str,
        version: &str,
        actor: &str,
    ) -> anyhow::Result<Option<BlockedRow>> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query(
            "DELETE FROM blocked_versions WHERE package = $1 AND version = $2 RETURNING *",
        )
        .bind(package)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await
        .with_context(|| format!("clearing the block of {package}={version}"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let block = blocked_row(&row)?;
        let subject = format!("{package}={version}");
        let entry = AuditEntry {
            actor,
            action: "blocked_version.cleared",
            subject: &subject,
            details: serde_json::json!({
                "reason": block.reason,
                "rollout_id": block.rollout_id,
                "host_id": block.host_id,
                "blocked_at": block.blocked_at,
            }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the cleared block")?;
        Ok(Some(block))
    }

    /// The audit records of a rollout (subject `ID`) and of its hosts (`ID/HOST`), oldest
    /// first: the rollout's operation log.
    pub async fn rollout_audit(&self, id: &str) -> anyhow::Result<Vec<AuditRecord>> {
        // `/` + 1 = `0`: the range covers exactly the subjects `ID/…`, using the index.
        let rows = sqlx::query(
            "SELECT * FROM audit WHERE subject = $1 OR (subject >= $2 AND subject < $3) ORDER BY seq",
        )
        .bind(id)
        .bind(format!("{id}/"))
        .bind(format!("{id}0"))
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the operation log of rollout {id}"))?;
        rows.iter().map(audit_record).collect()
    }
}
