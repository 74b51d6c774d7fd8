//! Threat signals: CISA KEV membership and EPSS probabilities.

use anyhow::Context;
use sqlx::Row;

use crate::{ImportCounts, ImportTx, Outcome, Store};

/// One KEV catalog entry, every field of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevRow {
    pub cve_id: String,
    /// `YYYY-MM-DD`, as CISA publishes it.
    pub date_added: String,
    pub due_date: Option<String>,
    pub vendor_project: String,
    pub product: String,
    pub name: String,
    /// `knownRansomwareCampaignUse` as CISA writes it (`Known`, `Unknown`).
    pub ransomware: String,
    pub short_description: String,
    pub required_action: String,
    pub notes: String,
    pub cwes: Vec<String>,
}

/// One EPSS score.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssRow {
    pub cve_id: String,
    pub probability: f64,
    pub percentile: f64,
}

/// Bound values per `IN (…)` query, well under both databases' limits.
const IDS_PER_QUERY: usize = 1000;

impl ImportTx {
    /// Replaces the KEV catalog with `entries` of `catalog_version`, unless the stored catalog is
    /// newer (versions are `YYYY.MM.DD`, so they order as text). Entries CISA removed disappear.
    pub async fn replace_kev(
        &mut self,
        catalog_version: &str,
        entries: &[KevRow],
    ) -> anyhow::Result<ImportCounts> {
        let mut counts = ImportCounts::default();
        let stored: Option<String> = sqlx::query_scalar("SELECT MAX(catalog_version) FROM kev")
            .fetch_one(&mut *self.tx)
            .await
            .context("reading the stored KEV catalog version")?;
        if stored.as_deref().is_some_and(|v| v > catalog_version) {
            counts.records = entries.len() as u64;
            counts.unchanged = counts.records;
            return Ok(counts);
        }
        let existing: Vec<(String, String)> = sqlx::query("SELECT cve_id, date_added FROM kev")
            .fetch_all(&mut *self.tx)
            .await
            .context("reading the stored KEV catalog")?
            .into_iter()
            .map(|r| anyhow::Ok((r.try_get("cve_id")?, r.try_get("date_added")?)))
            .collect::<anyhow::Result<_>>()?;
        let existing: std::collections::HashMap<_, _> = existing.into_iter().collect();
        sqlx::query("DELETE FROM kev")
            .execute(&mut *self.tx)
            .await
            .context("clearing KEV")?;
        for entry in entries {
            counts.add(match existing.get(&entry.cve_id) {
                None => Outcome::Inserted,
                Some(date) if *date == entry.date_added => Outcome::Unchanged,
                Some(_) => Outcome::Updated,
            });
            sqlx::query(
                "INSERT INTO kev (cve_id, date_added, due_date, vendor_project, product, name, ransomware,
                   catalog_version, short_description, required_action, notes, cwes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (cve_id) DO UPDATE SET date_added = excluded.date_added,
                   due_date = excluded.due_date, vendor_project = excluded.vendor_project,
                   product = excluded.product, name = excluded.name,
                   ransomware = excluded.ransomware, catalog_version = excluded.catalog_version,
                   short_description = excluded.short_description,
                   required_action = excluded.required_action, notes = excluded.notes,
                   cwes = excluded.cwes",
            )
            .bind(&entry.cve_id)
            .bind(&entry.date_added)
            .bind(&entry.due_date)
            .bind(&entry.vendor_project)
            .bind(&entry.product)
            .bind(&entry.name)
            .bind(&entry.ransomware)
            .bind(catalog_version)
            .bind(&entry.short_description)
            .bind(&entry.required_action)
            .bind(&entry.notes)
            .bind(serde_json::to_string(&entry.cwes)?)
            .execute(&mut *self.tx)
            .await
            .with_context(|| format!("writing KEV entry {}", entry.cve_id))?;
        }
        Ok(counts)
    }

    /// Stores EPSS scores of one daily file; a score from an older `score_date` than the stored
    /// one never replaces it.
    pub async fn upsert_epss(
        &mut self,
        model_version: Option<&str>,
        score_date: Option<&str>,
        rows: &[EpssRow],
    ) -> anyhow::Result<ImportCounts> {
        let mut counts = ImportCounts::default();
        for row in rows {
            let result = sqlx::query(
                "INSERT INTO epss (cve_id, probability, percentile, model_version, score_date)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT(cve_id) DO UPDATE SET probability = excluded.probability,
                   percentile = excluded.percentile, model_version = excluded.model_version,
                   score_date = excluded.score_date
                 WHERE (excluded.probability <> epss.probability OR excluded.percentile <> epss.percentile)
                   AND (epss.score_date IS NULL OR excluded.score_date IS NULL OR excluded.score_date >= epss.score_date)",
            )
            .bind(&row.cve_id)
            .bind(row.probability)
            .bind(row.percentile)
            .bind(model_version)
            .bind(score_date)
            .execute(&mut *self.tx)
            .await
            .with_context(|| format!("writing the EPSS score of {}", row.cve_id))?;
            // rows_affected cannot tell an insert from an update; both are "written".
            counts.add(if result.rows_affected() == 0 {
                Outcome::Unchanged
            } else {
                Outcome::Updated
            });
        }
        Ok(counts)
    }
}

impl Store {
    /// The stored KEV catalog's version (`YYYY.MM.DD`); `None` when none was imported.
    pub async fn kev_catalog_version(&self) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT MAX(catalog_version) FROM kev")
            .fetch_one(&self.pool)
            .await
            .context("reading the stored KEV catalog version")
    }

    /// The whole KEV catalog.
    pub async fn kev(&self) -> anyhow::Result<Vec<KevRow>> {
        let rows = sqlx::query("SELECT * FROM kev ORDER BY cve_id")
            .fetch_all(&self.pool)
            .await
            .context("loading KEV")?;
        rows.into_iter()
            .map(|r| {
                Ok(KevRow {
                    cve_id: r.try_get("cve_id")?,
                    date_added: r.try_get("date_added")?,
                    due_date: r.try_get("due_date")?,
                    vendor_project: r.try_get("vendor_project")?,
                    product: r.try_get("product")?,
                    name: r.try_get("name")?,
                    ransomware: r.try_get("ransomware")?,
                    short_description: r.try_get("short_description")?,
                    required_action: r.try_get("required_action")?,
                    notes: r.try_get("notes")?,
                    cwes: serde_json::from_str(&r.try_get::<String, _>("cwes")?)
                        .context("stored KEV CWE ids")?,
                })
            })
            .collect()
    }

    /// EPSS scores for the given CVE ids (missing ids have no score), ordered by CVE id.
    pub async fn epss_for(&self, cve_ids: &[&str]) -> anyhow::Result<Vec<EpssRow>> {
        let mut scores = Vec::new();
        for chunk in cve_ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT cve_id, probability, percentile FROM epss WHERE cve_id IN ({})",
                crate::db::placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .context("loading EPSS scores")?;
            for r in rows {
                scores.push(EpssRow {
                    cve_id: r.try_get("cve_id")?,
                    probability: r.try_get("probability")?,
                    percentile: r.try_get("percentile")?,
                });
            }
        }
        scores.sort_by(|a, b| a.cve_id.cmp(&b.cve_id));
        scores.dedup_by(|a, b| a.cve_id == b.cve_id);
        Ok(scores)
    }
}
