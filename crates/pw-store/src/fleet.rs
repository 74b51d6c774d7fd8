//! The controller's fleet document, versioned (docs/fleet.md), and the labels agents report.
//!
//! Applying writes the new version and its audit record (`fleet.applied`, operator, version,
//! change summary) in one `BEGIN IMMEDIATE` transaction, guarded by the version the caller read:
//! a stale caller gets [`FleetRefusal::Stale`] and nothing is written. This crate stores the text
//! and never interprets it (pw-fleet validates it before it gets here).

use std::collections::BTreeMap;

use anyhow::Context;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, append};
use crate::{Store, parse_time};

/// One applied version of the fleet document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFleet {
    pub version: i64,
    /// The TOML text as applied (empty in [`Store::fleet_versions`] listings).
    pub document: String,
    pub sha256: String,
    pub operator: String,
    pub applied_at: Timestamp,
    /// What changed against the previous version, one readable line each.
    pub summary: Vec<String>,
}

/// Why a fleet document was not applied; nothing was written. Reaches callers inside
/// `anyhow::Error` (`downcast_ref::<FleetRefusal>()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetRefusal {
    /// The caller read `expected` (0: none applied yet) but the current version is `current`.
    Stale { expected: i64, current: i64 },
}

impl std::fmt::Display for FleetRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetRefusal::Stale { expected, current } => write!(
                f,
                "stale: the fleet document is at version {current}, not {expected}; nothing was \
                 applied — look at the current version (patchwarden fleet show) and apply again"
            ),
        }
    }
}

impl std::error::Error for FleetRefusal {}

impl Store {
    /// Stores `document` as the next version, applied by `operator` at `now`, with its change
    /// `summary` and audit record, if the current version is `expected_version` (0: none yet;
    /// `None`: whatever it is).
    pub async fn apply_fleet(
        &self,
        document: &str,
        operator: &str,
        expected_version: Option<i64>,
        summary: &[String],
        now: Timestamp,
    ) -> anyhow::Result<StoredFleet> {
        let mut tx = self.begin_immediate().await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM fleet_documents")
                .fetch_one(&mut *tx)
                .await
                .context("reading the current fleet version")?;
        if let Some(expected) = expected_version
            && expected != current
        {
            return Err(FleetRefusal::Stale { expected, current }.into());
        }
        let stored = StoredFleet {
            version: current + 1,
            document: document.to_owned(),
            sha256: hex::encode(Sha256::digest(document.as_bytes())),
            operator: operator.to_owned(),
            applied_at: now,
            summary: summary.to_vec(),
        };
        sqlx::query(
            "INSERT INTO fleet_documents (version, document, sha256, operator, applied_at, summary)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(stored.version)
        .bind(&stored.document)
        .bind(&stored.sha256)
        .bind(operator)
        .bind(now.to_string())
        .bind(serde_json::to_string(summary)?)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing fleet document version {}", stored.version))?;
        let entry = AuditEntry {
            actor: operator,
            action: "fleet.applied",
            subject: "fleet",
            details: serde_json::json!({
                "version": stored.version,
                "sha256": stored.sha256,
                "summary": summary,
            }),
        };
        append(&mut tx, &entry).await?;
        tx.commit()
            .await
            .with_context(|| format!("committing fleet document version {}", stored.version))?;
        Ok(stored)
    }

    /// The current fleet document, or `None` before the first apply.
    pub async fn current_fleet(&self) -> anyhow::Result<Option<StoredFleet>> {
        let row = sqlx::query("SELECT * FROM fleet_documents ORDER BY version DESC LIMIT 1")
            .fetch_optional(self.pool())
            .await
            .context("reading the current fleet document")?;
        row.as_ref().map(|row| stored_fleet(row, true)).transpose()
    }

    /// Every enrolled host's facts a fleet document's groups are resolved from: (id, host
    /// name, labels as stored: a JSON object of strings). One narrow read for the scheduler's
    /// passes, which resolve every host of their rollouts (`HostRow` reads its inventory's
    /// and findings' columns too).
    pub async fn host_facts(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        let rows = sqlx::query("SELECT id, hostname, labels FROM hosts")
            .fetch_all(self.pool())
            .await
            .context("reading the hosts' names and labels")?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect()
    }

    /// How many times a host was enrolled or removed or its name or labels changed (migration
    /// 0051's triggers keep it): equal counts mean [`Store::host_facts`] would answer the same.
    pub async fn host_facts_epoch(&self) -> anyhow::Result<i64> {
        sqlx::query_scalar("SELECT n FROM host_facts_epoch WHERE id = 1")
            .fetch_one(self.pool())
            .await
            .context("reading the hosts' facts epoch")
    }

    /// Every applied version without its text, newest first.
    pub async fn fleet_versions(&self) -> anyhow::Result<Vec<StoredFleet>> {
        let rows = sqlx::query(
            "SELECT version, '' AS document, sha256, operator, applied_at, summary
             FROM fleet_documents ORDER BY version DESC",
        )
        .fetch_all(self.pool())
        .await
        .context("listing fleet document versions")?;
        rows.iter().map(|row| stored_fleet(row, false)).collect()
    }

    /// Replaces the labels the host's agent reports; audited (`host.labels_changed`, by the
    /// agent) when they differ from the stored ones. Returns whether they changed.
    pub async fn set_host_labels(
        &self,
        host_id: &str,
        labels: &BTreeMap<String, String>,
    ) -> anyhow::Result<bool> {
        // Every inventory report carries the labels, nearly always unchanged: compare without
        // the writer's lock first, and again under it before writing.
        if stored_labels(self.pool(), host_id).await? == *labels {
            return Ok(false);
        }
        let mut tx = self.begin_immediate().await?;
        if stored_labels(&mut *tx, host_id).await? == *labels {
            return Ok(false);
        }
        sqlx::query("UPDATE hosts SET labels = $1 WHERE id = $2")
            .bind(serde_json::to_string(labels)?)
            .bind(host_id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing the labels of host {host_id}"))?;
        let actor = format!("agent:{host_id}");
        let entry = AuditEntry {
            actor: &actor,
            action: "host.labels_changed",
            subject: host_id,
            details: serde_json::json!({ "labels": labels }),
        };
        append(&mut tx, &entry).await?;
        tx.commit()
            .await
            .with_context(|| format!("committing the labels of host {host_id}"))?;
        Ok(true)
    }
}

/// A host's stored labels; an error when there is no such host.
async fn stored_labels<'e, E>(
    executor: E,
    host_id: &str,
) -> anyhow::Result<BTreeMap<String, String>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let stored: Option<String> = sqlx::query_scalar("SELECT labels FROM hosts WHERE id = $1")
        .bind(host_id)
        .fetch_optional(executor)
        .await
        .with_context(|| format!("reading the labels of host {host_id}"))?;
    match stored {
        Some(stored) => parse_labels(&stored, host_id),
        None => anyhow::bail!("there is no host {host_id}"),
    }
}

/// A host's `labels` column.
pub(crate) fn parse_labels(text: &str, host_id: &str) -> anyhow::Result<BTreeMap<String, String>> {
    serde_json::from_str(text).with_context(|| format!("stored labels of host {host_id}"))
}

fn stored_fleet(row: &AnyRow, with_document: bool) -> anyhow::Result<StoredFleet> {
    let version: i64 = row.try_get("version")?;
    let summary: String = row.try_get("summary")?;
    Ok(StoredFleet {
        version,
        document: if with_document {
            row.try_get("document")?
        } else {
            String::new()
        },
        sha256: row.try_get("sha256")?,
        operator: row.try_get("operator")?,
        applied_at: parse_time(&row.try_get::<String, _>("applied_at")?)?,
        summary: serde_json::from_str(&summary)
            .with_context(|| format!("stored summary of fleet version {version}"))?,
    })
}
