//! Integration tests of pw-priority: every tier rule and boundary, reasons, deadlines, and
//! policy validation (all errors at once, with key paths).

mod classify;
mod policy;

use jiff::Timestamp;
use pw_priority::{CvssScore, CvssVersion, EpssScore, Evidence, KevEntry};

pub fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Security evidence for one CVE with optional CVSS v3.1, EPSS, KEV date and distro word.
pub fn security(
    cvss: Option<f64>,
    epss: Option<f64>,
    kev: Option<&str>,
    word: Option<&str>,
) -> Evidence {
    let cve = "CVE-2024-6387".to_owned();
    Evidence {
        advisory: "ALSA-2024:4312".into(),
        cves: vec![cve.clone()],
        cvss: cvss
            .map(|score| CvssScore {
                score,
                version: CvssVersion::V3_1,
            })
            .into_iter()
            .collect(),
        epss: epss
            .map(|probability| EpssScore {
                cve: cve.clone(),
                probability,
            })
            .into_iter()
            .collect(),
        kev: kev
            .map(|date| KevEntry {
                cve: cve.clone(),
                date_added: date.parse().unwrap(),
            })
            .into_iter()
            .collect(),
        distro_severity: word.map(Into::into),
        published: Some(ts("2024-07-01T08:00:00Z")),
        ..Evidence::default()
    }
}
