//! Advisory records: idempotent upserts that never regress a record's modified date, and loading
//! by ecosystem.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

use crate::{ImportCounts, ImportTx, Outcome, Store, parse_time};

/// An advisory ready to store: its identity, dates, and the OSV record text.
#[derive(Debug, Clone)]
pub struct AdvisoryRow {
    pub id: String,
    pub modified: Timestamp,
    pub published: Option<Timestamp>,
    pub withdrawn: Option<Timestamp>,
    pub summary: String,
    /// `(ecosystem, package name)` pairs the record affects.
    pub packages: Vec<(String, String)>,
    /// The OSV JSON text as read.
    pub record: String,
}

/// A stored advisory record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAdvisory {
    pub id: String,
    pub modified: Timestamp,
    pub record: String,
    pub source: String,
}

impl ImportTx {
    /// Inserts a new advisory, or replaces a stored one whose `modified` is older. An equal or
    /// newer stored record is kept as it is (re-imports are idempotent; old snapshots never
    /// overwrite newer data).
    pub async fn upsert_advisory(
        &mut self,
        row: &AdvisoryRow,
        source: &str,
        counts: &mut ImportCounts,
    ) -> anyhow::Result<()> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT modified FROM advisories WHERE id = $1")
                .bind(&row.id)
                .fetch_optional(&mut *self.tx)
                .await
                .with_context(|| format!("reading advisory {}", row.id))?;
        let outcome = match stored {
            None => Outcome::Inserted,
            Some(text) if parse_time(&text)? < row.modified => Outcome::Updated,
            Some(_) => Outcome::Unchanged,
        };
        if outcome == Outcome::Updated && self.changes.is_some() {
            self.note_replaced(&row.id).await?;
        }
        if outcome != Outcome::Unchanged {
            if let Some(changes) = &mut self.changes {
                changes.add_record(
                    &row.id,
                    row.packages.iter().map(|(_, n)| n.as_str()),
                    &row.record,
                );
            }
            self.write_advisory(row, source).await?;
        }
        counts.add(outcome);
        Ok(())
    }

    /// Notes what the stored record of `id`, about to be replaced, named.
    async fn note_replaced(&mut self, id: &str) -> anyhow::Result<()> {
        let context = || format!("reading the stored advisory {id}");
        let record: String = sqlx::query_scalar("SELECT record FROM advisories WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await
            .with_context(context)?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM advisory_packages WHERE advisory_id = $1")
                .bind(id)
                .fetch_all(&mut *self.tx)
                .await
                .with_context(context)?;
        if let Some(changes) = &mut self.changes {
            changes.add_record(id, names.iter().map(String::as_str), &record);
        }
        Ok(())
    }

    async fn write_advisory(&mut self, row: &AdvisoryRow, source: &str) -> anyhow::Result<()> {
        let context = || format!("writing advisory {}", row.id);
        sqlx::query(
            "INSERT INTO advisories (id, modified, published, withdrawn, summary, record, source, imported_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT(id) DO UPDATE SET modified = excluded.modified, published = excluded.published,
               withdrawn = excluded.withdrawn, summary = excluded.summary, record = excluded.record,
               source = excluded.source, imported_at = excluded.imported_at",
        )
        .bind(&row.id)
        .bind(row.modified.to_string())
        .bind(row.published.map(|t| t.to_string()))
        .bind(row.withdrawn.map(|t| t.to_string()))
        .bind(&row.summary)
        .bind(&row.record)
        .bind(source)
        .bind(Timestamp::now().to_string())
        .execute(&mut *self.tx)
        .await
        .with_context(context)?;
        sqlx::query("DELETE FROM advisory_packages WHERE advisory_id = $1")
            .bind(&row.id)
            .execute(&mut *self.tx)
            .await
            .with_context(context)?;
        for (ecosystem, name) in &row.packages {
            sqlx::query(
                "INSERT INTO advisory_packages (advisory_id, ecosystem, name) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&row.id)
            .bind(ecosystem)
            .bind(name)
            .execute(&mut *self.tx)
            .await
            .with_context(context)?;
        }
        Ok(())
    }
}

impl Store {
    /// The OSV records that affect at least one package in an ecosystem starting with one of
    /// `ecosystem_prefixes` (`Debian:`, `Ubuntu:`, `AlmaLinux:9`…), ordered by id.
    pub async fn advisories_for(
        &self,
        ecosystem_prefixes: &[&str],
    ) -> anyhow::Result<Vec<StoredAdvisory>> {
        let mut out = Vec::new();
        for prefix in ecosystem_prefixes {
            let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
            let rows = sqlx::query(
                "SELECT id, modified, record, source FROM advisories
                 WHERE id IN (SELECT advisory_id FROM advisory_packages WHERE lower(ecosystem) LIKE lower($1) ESCAPE '\\')
                 ORDER BY id",
            )
            .bind(pattern)
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("loading advisories for {prefix}"))?;
            for row in rows {
                out.push(StoredAdvisory {
                    id: row.try_get("id")?,
                    modified: parse_time(row.try_get::<&str, _>("modified")?)?,
                    record: row.try_get("record")?,
                    source: row.try_get("source")?,
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }

    /// One stored advisory by id.
    pub async fn advisory(&self, id: &str) -> anyhow::Result<Option<StoredAdvisory>> {
        let row = sqlx::query("SELECT id, modified, record, source FROM advisories WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("loading advisory {id}"))?;
        row.map(|row| {
            Ok(StoredAdvisory {
                id: row.try_get("id")?,
                modified: parse_time(row.try_get::<&str, _>("modified")?)?,
                record: row.try_get("record")?,
                source: row.try_get("source")?,
            })
        })
        .transpose()
    }
}
