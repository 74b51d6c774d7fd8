//! `feeds import`: parse every document first, then write everything in one transaction, so a
//! corrupt file anywhere leaves the database exactly as it was.

use anyhow::Context;
use pw_store::{AdvisoryRow, EpssRow, ImportCounts, KevRow, Store};

use crate::Progress;
use crate::parsed::{Parsed, parse_inputs};
use crate::source::Input;

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub documents: usize,
    pub osv: ImportCounts,
    pub kev: Option<ImportCounts>,
    pub epss: Option<ImportCounts>,
    /// Parts of records that were dropped (bad versions in a range, …), with their position.
    pub warnings: Vec<String>,
}

/// Imports `inputs` into `store`: all or nothing.
pub async fn import(
    store: &Store,
    inputs: &[Input],
    progress: &dyn Progress,
) -> anyhow::Result<ImportReport> {
    let mut parsed = parse_inputs(inputs, progress)?;
    // Normalizing reports dropped parts (bad versions…) as warnings before anything is written.
    let _ = parsed.advisories();
    let rows = advisory_rows(&parsed)?;
    let mut report = ImportReport {
        documents: parsed.documents,
        warnings: std::mem::take(&mut parsed.warnings),
        ..ImportReport::default()
    };

    let mut tx = store.begin_import().await?;
    progress.start("writing", rows.len() as u64);
    for (origin, row) in &rows {
        tx.upsert_advisory(row, origin, &mut report.osv).await?;
        progress.advance(1);
    }
    progress.finish();
    if !rows.is_empty() {
        tx.record_run(
            "osv",
            &sources(rows.iter().map(|(o, _)| o.as_str())),
            report.osv,
        )
        .await?;
    }
    if let Some(catalog) = &parsed.kev {
        let entries: Vec<KevRow> = catalog
            .entries
            .iter()
            .map(crate::kev_rows::to_row)
            .collect();
        let counts = tx.replace_kev(&catalog.catalog_version, &entries).await?;
        tx.record_run("kev", &catalog.catalog_version, counts)
            .await?;
        report.kev = Some(counts);
    }
    for scores in &parsed.epss {
        let rows: Vec<EpssRow> = scores
            .scores
            .iter()
            .map(|s| EpssRow {
                cve_id: s.cve.clone(),
                probability: s.epss,
                percentile: s.percentile,
            })
            .collect();
        let date = scores.score_date.map(|d| d.to_string());
        let counts = tx
            .upsert_epss(scores.model_version.as_deref(), date.as_deref(), &rows)
            .await?;
        tx.record_run(
            "epss",
            scores.model_version.as_deref().unwrap_or("unknown model"),
            counts,
        )
        .await?;
        let total = report.epss.get_or_insert_with(ImportCounts::default);
        total.records += counts.records;
        total.inserted += counts.inserted;
        total.updated += counts.updated;
        total.unchanged += counts.unchanged;
    }
    tx.commit().await?;
    Ok(report)
}

/// Turns parsed OSV records into storable rows; the record text is the record re-serialized.
fn advisory_rows(parsed: &Parsed) -> anyhow::Result<Vec<(String, AdvisoryRow)>> {
    let time = |origin: &str,
                id: &str,
                field: &str,
                value: &Option<String>|
     -> anyhow::Result<Option<jiff::Timestamp>> {
        value
            .as_deref()
            .map(|v| {
                v.parse().with_context(|| {
                    format!("{origin}: {id}: \"{field}\" is not an RFC 3339 timestamp: {v:?}")
                })
            })
            .transpose()
    };
    parsed
        .osv
        .iter()
        .map(|(origin, located)| {
            let record = &located.record;
            let id = &record.id;
            let modified = time(origin, id, "modified", &record.modified)?
                .with_context(|| format!("{origin}: {id}: no \"modified\" date"))?;
            let packages = record
                .affected
                .iter()
                .filter_map(|a| a.package.as_ref())
                .map(|p| (p.ecosystem.clone(), p.name.clone()))
                .collect();
            let row = AdvisoryRow {
                id: id.clone(),
                modified,
                published: time(origin, id, "published", &record.published)?,
                withdrawn: time(origin, id, "withdrawn", &record.withdrawn)?,
                summary: record.summary.clone().unwrap_or_default(),
                packages,
                record: serde_json::to_string(record).context("re-serializing an OSV record")?,
            };
            Ok((origin.clone(), row))
        })
        .collect()
}

/// A short description of where the records came from.
fn sources<'a>(origins: impl Iterator<Item = &'a str>) -> String {
    let mut unique: Vec<&str> = origins.collect();
    unique.dedup();
    match unique.len() {
        0 => String::new(),
        1 => unique[0].to_owned(),
        n => format!("{} and {} more", unique[0], n - 1),
    }
}
