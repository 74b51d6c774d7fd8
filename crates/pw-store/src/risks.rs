//! Accepted risks (migration `0010_finding_history.sql`): an approver's decision that a finding
//! may stay open until an expiry, with a reason. Accepting and revoking are audited with the
//! operator's name; a revoked acceptance keeps its row. Validation (reason, expiry range) is the
//! caller's: this crate stores what it is given, so tests can write an acceptance that already
//! expired.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, append};
use crate::{Store, optional_time, parse_time};

/// An acceptance to store.
#[derive(Debug, Clone)]
pub struct NewAcceptedRisk<'a> {
    pub id: &'a str,
    /// `None`: every host.
    pub host_id: Option<&'a str>,
    /// An advisory id or an alias (CVE id).
    pub advisory: &'a str,
    /// A binary or source package name; `None`: any package.
    pub package: Option<&'a str>,
    pub reason: &'a str,
    pub accepted_by: &'a str,
    pub accepted_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A stored acceptance (the domain type itself).
pub type AcceptedRiskRow = pw_model::AcceptedRisk;

/// What revoking an acceptance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    NotFound,
    /// Already revoked earlier (by `by`); nothing changed.
    AlreadyRevoked {
        by: String,
    },
}

impl Store {
    /// Stores an acceptance and its audit record (action `risk.accepted`) in one transaction.
    pub async fn accept_risk(&self, risk: &NewAcceptedRisk<'_>) -> anyhow::Result<()> {
        self.accept_risks(std::slice::from_ref(risk)).await
    }

    /// Stores several acceptances (one per host of a group) and their audit records, all or
    /// nothing.
    pub async fn accept_risks(&self, risks: &[NewAcceptedRisk<'_>]) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        for risk in risks {
            insert_risk(&mut tx, risk).await?;
        }
        tx.commit().await.context("committing the accepted risk")
    }

    /// Every acceptance ever stored (revoked and expired ones too), newest first.
    pub async fn accepted_risks(&self) -> anyhow::Result<Vec<AcceptedRiskRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RISK_SELECT} ORDER BY (SELECT a.seq FROM audit a
               WHERE a.subject = r.id AND a.action = 'risk.accepted') DESC"
        )))
        .fetch_all(self.pool())
        .await
        .context("reading accepted risks")?;
        rows.iter().map(risk_row).collect()
    }

    /// The acceptances in force at `now` (not revoked, not expired), newest first.
    pub async fn accepted_risks_in_force(
        &self,
        now: jiff::Timestamp,
    ) -> anyhow::Result<Vec<AcceptedRiskRow>> {
        let mut risks = self.accepted_risks().await?;
        risks.retain(|r| r.in_force(now));
        Ok(risks)
    }

    /// One acceptance.
    pub async fn accepted_risk(&self, id: &str) -> anyhow::Result<Option<AcceptedRiskRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RISK_SELECT} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading accepted risk {id}"))?;
        row.as_ref().map(risk_row).transpose()
    }

    /// Revokes an acceptance (the row stays) and audits it (`risk.revoked`) in one transaction.
    pub async fn revoke_accepted_risk(
        &self,
        id: &str,
        actor: &str,
        now: Timestamp,
    ) -> anyhow::Result<RevokeOutcome> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query("SELECT revoked_by, advisory FROM accepted_risks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .with_context(|| format!("reading accepted risk {id}"))?;
        let Some(row) = row else {
            return Ok(RevokeOutcome::NotFound);
        };
        if let Some(by) = row.try_get::<Option<String>, _>("revoked_by")? {
            return Ok(RevokeOutcome::AlreadyRevoked { by });
        }
        sqlx::query("UPDATE accepted_risks SET revoked_at = $1, revoked_by = $2 WHERE id = $3")
            .bind(now.to_string())
            .bind(actor)
            .bind(id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("revoking accepted risk {id}"))?;
        let advisory: String = row.try_get("advisory")?;
        let entry = AuditEntry {
            actor,
            action: "risk.revoked",
            subject: id,
            details: serde_json::json!({ "advisory": advisory }),
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the revocation")?;
        Ok(RevokeOutcome::Revoked)
    }
}

/// One acceptance and its audit record, inside the caller's transaction.
async fn insert_risk(
    tx: &mut sqlx::AnyConnection,
    risk: &NewAcceptedRisk<'_>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO accepted_risks (id, host_id, advisory, package, reason, accepted_by,
           accepted_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(risk.id)
    .bind(risk.host_id)
    .bind(risk.advisory)
    .bind(risk.package)
    .bind(risk.reason)
    .bind(risk.accepted_by)
    .bind(risk.accepted_at.to_string())
    .bind(risk.expires_at.to_string())
    .execute(&mut *tx)
    .await
    .with_context(|| format!("storing accepted risk {} ({})", risk.id, risk.advisory))?;
    let details = serde_json::json!({
        "host_id": risk.host_id,
        "advisory": risk.advisory,
        "package": risk.package,
        "reason": risk.reason,
        "expires_at": risk.expires_at.to_string(),
    });
    let entry = AuditEntry {
        actor: risk.accepted_by,
        action: "risk.accepted",
        subject: risk.id,
        details,
    };
    append(tx, &entry).await?;
    Ok(())
}

const RISK_SELECT: &str = "SELECT r.*, h.hostname FROM accepted_risks r
     LEFT JOIN hosts h ON h.id = r.host_id";

fn risk_row(row: &AnyRow) -> anyhow::Result<AcceptedRiskRow> {
    Ok(AcceptedRiskRow {
        id: row.try_get("id")?,
        host_id: row.try_get("host_id")?,
        hostname: row.try_get("hostname")?,
        advisory: row.try_get("advisory")?,
        package: row.try_get("package")?,
        reason: row.try_get("reason")?,
        accepted_by: row.try_get("accepted_by")?,
        accepted_at: parse_time(&row.try_get::<String, _>("accepted_at")?)?,
        expires_at: parse_time(&row.try_get::<String, _>("expires_at")?)?,
        revoked_at: optional_time(row, "revoked_at")?,
        revoked_by: row.try_get("revoked_by")?,
    })
}
