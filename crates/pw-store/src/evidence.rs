//! Evidence collected by agents (`collect_evidence`): the latest report per host and target set,
//! stored with the command's result in one transaction and audited (`evidence.recorded`). The
//! report is stored as the JSON the controller validated; pw-controller reads it back.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{AuditEntry, append};
use crate::commands::finish_in;
use crate::controller::FinishOutcome;

/// A validated report to keep with a command's result.
#[derive(Debug, Clone)]
pub struct NewEvidence<'a> {
    /// The targets as sorted `name=version` lines (one row per host and target set).
    pub targets_key: &'a str,
    /// JSON array of `pw_protocol::PackagePin`.
    pub targets: &'a str,
    pub collected_at: Timestamp,
    /// JSON of `pw_protocol::EvidenceReport`.
    pub report: &'a str,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRow {
    pub host_id: String,
    pub targets_key: String,
    pub targets: String,
    pub command_id: String,
    pub collected_at: Timestamp,
    pub received_at: Timestamp,
    pub report: String,
}

impl Store {
    /// Records a `collect_evidence` result and, when the command is still open, its report as the
    /// host's latest for that target set, with a `command.finished` and an `evidence.recorded`
    /// audit record — all in one transaction. A second result for a finished command changes
    /// nothing (the first result stands); a report older than the stored one for the same
    /// targets does not replace it.
    pub async fn finish_evidence_command(
        &self,
        host_id: &str,
        id: &str,
        state: crate::CommandState,
        message: &str,
        finished_at: Timestamp,
        evidence: Option<&NewEvidence<'_>>,
    ) -> anyhow::Result<FinishOutcome> {
        let mut tx = self.begin_immediate().await?;
        let outcome = finish_in(&mut tx, host_id, id, state, message, finished_at).await?;
        if !matches!(outcome, FinishOutcome::Recorded) {
            return Ok(outcome);
        }
        if let Some(evidence) = evidence {
            sqlx::query(
                "INSERT INTO host_evidence
                   (host_id, targets_key, targets, command_id, collected_at, received_at, report)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (host_id, targets_key) DO UPDATE SET
                   targets = excluded.targets, command_id = excluded.command_id,
                   collected_at = excluded.collected_at, received_at = excluded.received_at,
                   report = excluded.report
                 WHERE excluded.collected_at >= host_evidence.collected_at",
            )
            .bind(host_id)
            .bind(evidence.targets_key)
            .bind(evidence.targets)
            .bind(id)
            .bind(evidence.collected_at.to_string())
            .bind(Timestamp::now().to_string())
            .bind(evidence.report)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing the evidence of command {id}"))?;
            let targets: serde_json::Value =
                serde_json::from_str(evidence.targets).context("evidence targets are not JSON")?;
            let details = serde_json::json!({
                "host_id": host_id,
                "targets": targets,
                "collected_at": evidence.collected_at.to_string(),
            });
            let actor = format!("agent:{host_id}");
            let entry = AuditEntry {
                actor: &actor,
                action: "evidence.recorded",
                subject: id,
                details,
            };
            append(&mut tx, &entry).await?;
        }
        tx.commit()
            .await
            .context("committing the evidence result")?;
        Ok(outcome)
    }

    /// The host's most recently collected report (any target set).
    pub async fn latest_evidence(&self, host_id: &str) -> anyhow::Result<Option<EvidenceRow>> {
        let row = sqlx::query(
            "SELECT * FROM host_evidence WHERE host_id = $1
             ORDER BY collected_at DESC, received_at DESC LIMIT 1",
        )
        .bind(host_id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the evidence of host {host_id}"))?;
        row.as_ref().map(evidence_row).transpose()
    }

    /// The host's report for exactly this target set.
    pub async fn evidence_for(
        &self,
        host_id: &str,
        targets_key: &str,
    ) -> anyhow::Result<Option<EvidenceRow>> {
        let row =
            sqlx::query("SELECT * FROM host_evidence WHERE host_id = $1 AND targets_key = $2")
                .bind(host_id)
                .bind(targets_key)
                .fetch_optional(self.pool())
                .await
                .with_context(|| format!("reading the evidence of host {host_id}"))?;
        row.as_ref().map(evidence_row).transpose()
    }
}

impl Store {
    /// The evidence of each (host id, targets key) pair that has some, keyed by host id (one
    /// target set per host: a plan's). Hosts are read in chunks of 500.
    pub async fn evidence_for_many(
        &self,
        wanted: &[(&str, &str)],
    ) -> anyhow::Result<std::collections::HashMap<String, EvidenceRow>> {
        let keys: std::collections::HashMap<&str, &str> = wanted.iter().copied().collect();
        let mut out = std::collections::HashMap::new();
        for chunk in wanted.chunks(500) {
            let marks = crate::db::placeholders(1, chunk.len());
            let sql = format!("SELECT * FROM host_evidence WHERE host_id IN ({marks})");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (host, _) in chunk {
                query = query.bind(*host);
            }
            let rows = query
                .fetch_all(self.pool())
                .await
                .context("reading the evidence of hosts")?;
            for row in &rows {
                let row = evidence_row(row)?;
                if keys.get(row.host_id.as_str()) == Some(&row.targets_key.as_str()) {
                    out.insert(row.host_id.clone(), row);
                }
            }
        }
        Ok(out)
    }
}

fn evidence_row(row: &AnyRow) -> anyhow::Result<EvidenceRow> {
    let time = |column: &str| -> anyhow::Result<Timestamp> {
        let text: String = row.try_get(column)?;
        text.parse()
            .with_context(|| format!("host_evidence.{column} {text:?} is not a timestamp"))
    };
    Ok(EvidenceRow {
        host_id: row.try_get("host_id")?,
        targets_key: row.try_get("targets_key")?,
        targets: row.try_get("targets")?,
        command_id: row.try_get("command_id")?,
        collected_at: time("collected_at")?,
        received_at: time("received_at")?,
        report: row.try_get("report")?,
    })
}
