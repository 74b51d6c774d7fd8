//! CISA Known Exploited Vulnerabilities catalog (JSON): `catalogVersion`, `dateReleased`,
//! `count`, `vulnerabilities[]`.
//!
//! Entries are read one by one, so one bad entry (missing `cveID`, malformed date) is reported
//! with its position and the rest are kept. `count` disagreeing with the list is a problem too.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ids::is_cve_id;
use crate::position::{LineCursor, Position, of_json_error, offset_in};

/// The catalog.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KevCatalog {
    pub title: Option<String>,
    pub catalog_version: String,
    pub date_released: Option<Timestamp>,
    /// The `count` field as written (the entries are counted by `entries.len()`).
    pub count: Option<u64>,
    pub entries: Vec<KevEntry>,
}

/// One exploited CVE.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KevEntry {
    pub cve_id: String,
    pub vendor_project: String,
    pub product: String,
    pub vulnerability_name: String,
    pub date_added: Date,
    pub due_date: Option<Date>,
    pub known_ransomware_campaign_use: RansomwareUse,
    pub short_description: String,
    pub required_action: String,
    pub notes: String,
    pub cwes: Vec<String>,
}

/// `knownRansomwareCampaignUse`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RansomwareUse {
    Known,
    Unknown,
    Other(String),
}

impl RansomwareUse {
    /// CISA's text (`Known`, `Unknown`, anything else kept as written); absent reads as
    /// `Unknown`.
    pub fn parse(text: Option<&str>) -> RansomwareUse {
        match text {
            Some("Known") => RansomwareUse::Known,
            None | Some("Unknown") => RansomwareUse::Unknown,
            Some(other) => RansomwareUse::Other(other.to_owned()),
        }
    }

    /// The text as CISA writes it: [`RansomwareUse::parse`] reads it back to the same value.
    pub fn as_str(&self) -> &str {
        match self {
            RansomwareUse::Known => "Known",
            RansomwareUse::Unknown => "Unknown",
            RansomwareUse::Other(text) => text,
        }
    }
}

/// What was read, and the entries that were not.
#[derive(Debug, Clone, PartialEq)]
pub struct KevParse {
    pub catalog: KevCatalog,
    pub problems: Vec<KevError>,
}

/// A KEV problem with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KevError {
    #[error("{position}: the KEV catalog is not valid JSON of the expected shape: {message}")]
    Json { position: Position, message: String },
    #[error("the KEV catalog has no \"catalogVersion\"")]
    MissingVersion,
    #[error("{position}: vulnerabilities[{index}]: {message}")]
    Entry {
        position: Position,
        index: usize,
        message: String,
    },
    #[error("\"count\" is {declared} but the catalog lists {listed} vulnerabilities")]
    CountMismatch { declared: u64, listed: usize },
    #[error("\"dateReleased\" is not an RFC 3339 timestamp: \"{0}\"")]
    BadDateReleased(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog<'a> {
    title: Option<String>,
    catalog_version: Option<String>,
    date_released: Option<String>,
    count: Option<u64>,
    #[serde(borrow)]
    vulnerabilities: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    date_added: String,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default)]
    known_ransomware_campaign_use: Option<String>,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    required_action: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    cwes: Option<Vec<String>>,
}

/// Parses the catalog. A document that is not a catalog at all is an error; bad entries are
/// problems beside the catalog.
pub fn parse_kev(bytes: &[u8]) -> Result<KevParse, KevError> {
    let raw: RawCatalog<'_> = serde_json::from_slice(bytes).map_err(|e| KevError::Json {
        position: of_json_error(&e),
        message: e.to_string(),
    })?;
    let catalog_version = raw
        .catalog_version
        .filter(|v| !v.trim().is_empty())
        .ok_or(KevError::MissingVersion)?;
    let mut problems = Vec::new();
    let date_released = raw
        .date_released
        .and_then(|d| match d.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                problems.push(KevError::BadDateReleased(d));
                None
            }
        });
    let mut cursor = LineCursor::new(bytes);
    let mut entries = Vec::with_capacity(raw.vulnerabilities.len());
    for (index, item) in raw.vulnerabilities.iter().enumerate() {
        let position = cursor.position(offset_in(bytes, item.get()));
        match read_entry(item.get()) {
            Ok(entry) => entries.push(entry),
            Err((relative, message)) => problems.push(KevError::Entry {
                position: relative.map_or(position, |r| position.offset_by(r)),
                index,
                message,
            }),
        }
    }
    if let Some(declared) = raw.count {
        let listed = raw.vulnerabilities.len();
        if declared != listed as u64 {
            problems.push(KevError::CountMismatch { declared, listed });
        }
    }
    Ok(KevParse {
        catalog: KevCatalog {
            title: raw.title,
            catalog_version,
            date_released,
            count: raw.count,
            entries,
        },
        problems,
    })
}

fn read_entry(text: &str) -> Result<KevEntry, (Option<Position>, String)> {
    let raw: RawEntry =
        serde_json::from_str(text).map_err(|e| (Some(of_json_error(&e)), e.to_string()))?;
    let cve_id = raw.cve_id.trim().to_owned();
    if !is_cve_id(&cve_id) {
        return Err((None, format!("\"{cve_id}\" is not a CVE id")));
    }
    let date = |field: &str, value: &str| {
        value.trim().parse::<Date>().map_err(|_| {
            (
                None,
                format!("{field} \"{value}\" is not a YYYY-MM-DD date"),
            )
        })
    };
    let date_added = date("dateAdded", &raw.date_added)?;
    let due_date = match raw.due_date.as_deref() {
        None | Some("") => None,
        Some(d) => Some(date("dueDate", d)?),
    };
    let known_ransomware_campaign_use =
        RansomwareUse::parse(raw.known_ransomware_campaign_use.as_deref());
    Ok(KevEntry {
        cve_id,
        vendor_project: raw.vendor_project,
        product: raw.product,
        vulnerability_name: raw.vulnerability_name,
        date_added,
        due_date,
        known_ransomware_campaign_use,
        short_description: raw.short_description,
        required_action: raw.required_action,
        notes: raw.notes,
        cwes: raw.cwes.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_and_reports_bad_ones_with_position() {
        let text = br#"{"catalogVersion":"1","count":3,"vulnerabilities":[
{"cveID":"CVE-2021-44228","dateAdded":"2021-12-10","dueDate":"2021-12-24","knownRansomwareCampaignUse":"Known"},
{"cveID":"bogus","dateAdded":"2021-12-10"},
{"cveID":"CVE-2024-1","dateAdded":"2021-13-10"}]}"#;
        let parsed = parse_kev(text).unwrap();
        assert_eq!(parsed.catalog.entries.len(), 1);
        assert_eq!(
            parsed.catalog.entries[0].known_ransomware_campaign_use,
            RansomwareUse::Known
        );
        assert_eq!(parsed.problems.len(), 2, "{:?}", parsed.problems);
        assert!(matches!(
            &parsed.problems[0],
            KevError::Entry { position: Position { line: 3, column: 1 }, index: 1, message } if message.contains("bogus")
        ));
    }

    #[test]
    fn reports_count_mismatch_and_missing_version() {
        let parsed =
            parse_kev(br#"{"catalogVersion":"x","count":2,"vulnerabilities":[]}"#).unwrap();
        assert_eq!(
            parsed.problems,
            vec![KevError::CountMismatch {
                declared: 2,
                listed: 0
            }]
        );
        assert_eq!(
            parse_kev(br#"{"vulnerabilities":[]}"#),
            Err(KevError::MissingVersion)
        );
        assert!(matches!(
            parse_kev(b"{\"catalogVersion\":\"x\",\n\"vulnerabilities\":["),
            Err(KevError::Json {
                position: Position { line: 2, .. },
                ..
            })
        ));
    }
}
