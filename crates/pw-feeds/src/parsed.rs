//! Parsing feed documents into domain values (via pw-advisory), shared by `feeds import` (which
//! stores them) and file-based scans (which use them directly).

use anyhow::bail;
use pw_advisory::{
    Advisory, EpssScores, FeedProblem, KevCatalog, LocatedRecord, Position, parse_debian_tracker,
    parse_epss_csv, parse_kev, parse_osv_bytes,
};

use crate::Progress;
use crate::source::{Input, Kind, classify};

/// Everything read from a set of feed documents.
#[derive(Debug, Default)]
pub struct Parsed {
    /// OSV records with the document they came from.
    pub osv: Vec<(String, LocatedRecord)>,
    /// The newest KEV catalog among the documents.
    pub kev: Option<KevCatalog>,
    /// EPSS files, in input order.
    pub epss: Vec<EpssScores>,
    /// Non-fatal problems: parts of records that were dropped, with document and position.
    pub warnings: Vec<String>,
    /// How many documents were read.
    pub documents: usize,
}

/// Parses every document. Corrupt or truncated documents (bad JSON, bad CSV rows, a KEV file
/// without version) are errors naming the document and the position; nothing is returned then.
pub fn parse_inputs(inputs: &[Input], progress: &dyn Progress) -> anyhow::Result<Parsed> {
    let mut parsed = Parsed::default();
    progress.start("parsing", inputs.len() as u64);
    for input in inputs {
        parse_one(input, &mut parsed)?;
        parsed.documents += 1;
        progress.advance(1);
    }
    progress.finish();
    Ok(parsed)
}

fn parse_one(input: &Input, parsed: &mut Parsed) -> anyhow::Result<()> {
    let origin = &input.origin;
    match classify(input)? {
        Kind::Osv => {
            let batch = parse_osv_bytes(&input.bytes);
            if let Some(problem) = batch.problems.first() {
                bail!("{origin}: {problem}{}", more(batch.problems.len() - 1));
            }
            for located in batch.records {
                if located.record.modified.is_none() {
                    bail!(
                        "{origin}: {}: record {} has no \"modified\" date (required by OSV)",
                        located.position,
                        located.record.id
                    );
                }
                parsed.osv.push((origin.clone(), located));
            }
        }
        Kind::DebianTracker => {
            let date = input.date.unwrap_or_else(jiff::Timestamp::now);
            let result = parse_debian_tracker(&input.bytes, date)
                .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            parsed.osv.extend(result.records.into_iter().map(|record| {
                let located = LocatedRecord {
                    position: Position::START,
                    record,
                };
                (origin.clone(), located)
            }));
        }
        Kind::Kev => {
            let result = parse_kev(&input.bytes).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            if let Some(problem) = result.problems.first() {
                bail!("{origin}: {problem}{}", more(result.problems.len() - 1));
            }
            let newer = parsed
                .kev
                .as_ref()
                .is_none_or(|k| k.catalog_version <= result.catalog.catalog_version);
            if newer {
                parsed.kev = Some(result.catalog);
            }
        }
        Kind::Epss => {
            let result =
                parse_epss_csv(&input.bytes).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            if let Some(problem) = result.problems.first() {
                bail!("{origin}: {problem}{}", more(result.problems.len() - 1));
            }
            parsed.epss.push(result.scores);
        }
    }
    Ok(())
}

fn more(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" (and {n} more problems)")
    }
}

impl Parsed {
    /// Normalizes the OSV records into advisories; dropped parts become warnings.
    pub fn advisories(&mut self) -> Vec<Advisory> {
        let mut advisories = Vec::with_capacity(self.osv.len());
        for (origin, located) in &self.osv {
            let (advisory, problems) = Advisory::from_record(&located.record);
            for problem in problems {
                let problem = FeedProblem::Record {
                    position: located.position,
                    problem,
                };
                self.warnings.push(format!("{origin}: {problem}"));
            }
            advisories.push(advisory);
        }
        advisories
    }
}
