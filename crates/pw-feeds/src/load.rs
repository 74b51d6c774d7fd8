//! Loading stored intelligence back into the same shape as freshly parsed documents, so scans
//! treat the database, files and the snapshot alike.

use anyhow::Context;
use pw_advisory::{EpssScore, EpssScores, KevCatalog, LocatedRecord, OsvRecord, Position};
use pw_store::Store;

use crate::parsed::Parsed;

/// The stored advisories of ecosystems starting with one of `ecosystem_prefixes`, the KEV
/// catalog and the EPSS scores of the CVEs those advisories name.
pub async fn load_from_store(store: &Store, ecosystem_prefixes: &[&str]) -> anyhow::Result<Parsed> {
    let mut parsed = Parsed::default();
    for stored in store.advisories_for(ecosystem_prefixes).await? {
        let record: OsvRecord = serde_json::from_str(&stored.record)
            .with_context(|| format!("stored advisory {} is not valid OSV JSON", stored.id))?;
        let located = LocatedRecord {
            position: Position::line_start(1),
            record,
        };
        parsed.osv.push((format!("db:{}", stored.source), located));
    }
    let kev = store.kev().await?;
    if !kev.is_empty() {
        let entries = kev
            .into_iter()
            .map(crate::kev_rows::to_entry)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let version = store.kev_catalog_version().await?;
        parsed.kev = Some(KevCatalog {
            title: None,
            catalog_version: version.unwrap_or_else(|| "stored".into()),
            date_released: None,
            count: Some(entries.len() as u64),
            entries,
        });
    }
    let mut cves: Vec<String> = Vec::new();
    for advisory in parsed.advisories() {
        cves.extend(advisory.cves);
    }
    cves.sort();
    cves.dedup();
    let refs: Vec<&str> = cves.iter().map(String::as_str).collect();
    let scores = store.epss_for(&refs).await?;
    if !scores.is_empty() {
        parsed.epss.push(EpssScores {
            model_version: None,
            score_date: None,
            scores: scores
                .into_iter()
                .map(|row| EpssScore {
                    cve: row.cve_id,
                    epss: row.probability,
                    percentile: row.percentile,
                })
                .collect(),
        });
    }
    parsed.documents = 1;
    Ok(parsed)
}
