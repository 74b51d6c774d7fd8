//! What is known about one fix: the input of classification, filled from advisory matches,
//! threat signals (KEV, EPSS) and operator flags.

use jiff::Timestamp;
use jiff::civil::Date;

/// What an advisory fixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixKind {
    /// A security fix. Evidence that names a CVE is treated as security whatever its kind.
    #[default]
    Security,
    /// A bug fix without security impact (AlmaLinux `ALBA`, "bug fix update").
    Bugfix,
    /// New features only (AlmaLinux `ALEA`, "enhancement update").
    Enhancement,
}

pub use pw_model::CvssVersion;

/// A CVSS base score (0.0–10.0). Scores outside that range or NaN are ignored.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CvssScore {
    pub score: f64,
    pub version: CvssVersion,
}

/// A CVE listed in CISA's Known Exploited Vulnerabilities catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KevEntry {
    pub cve: String,
    /// KEV `dateAdded`.
    pub date_added: Date,
}

/// A FIRST EPSS probability (0.0–1.0) for one CVE. Values outside that range or NaN are ignored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpssScore {
    pub cve: String,
    pub probability: f64,
}

/// An operator's emergency flag (0-day intelligence): makes a fix T0.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmergencyFlag {
    /// The CVE (or advisory id) flagged.
    pub cve: String,
    /// Why, in the operator's words; shown as the first reason.
    pub reason: String,
}

/// Everything classification looks at for one fix (one advisory, or several merged by alias).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// The advisory id (`ALSA-2024:4312`, `DSA-5724-1`, `DEBCL-CVE-2024-6387`).
    pub advisory: String,
    pub kind: FixKind,
    /// CVE ids fixed (from OSV `aliases`, `upstream`, `related`).
    pub cves: Vec<String>,
    /// CVSS base scores; the highest counts.
    pub cvss: Vec<CvssScore>,
    /// The distribution's own severity word (AlmaLinux `Important`, Ubuntu priority `high`,
    /// Debian urgency), matched case-insensitively against the policy's `distro_severity` map.
    pub distro_severity: Option<String>,
    /// KEV entries of the CVEs.
    pub kev: Vec<KevEntry>,
    /// EPSS probabilities of the CVEs; the highest counts.
    pub epss: Vec<EpssScore>,
    /// Emergency flags already attached (e.g. from the database); the policy's own
    /// `emergency` list is checked too.
    pub emergency: Vec<EmergencyFlag>,
    /// Set when the advisory or an operator marks a non-security fix as critical (crash, data
    /// corruption): the reason, in plain words.
    pub critical_fix: Option<String>,
    /// When the advisory was published.
    pub published: Option<Timestamp>,
    /// When the fix was first seen as pending on the host.
    pub first_seen: Option<Timestamp>,
}

impl Evidence {
    /// Whether this is a security fix: kind security, or it names a CVE or a KEV entry.
    pub fn is_security(&self) -> bool {
        self.kind == FixKind::Security || !self.cves.is_empty() || !self.kev.is_empty()
    }

    /// The highest valid CVSS score (ties: the newest CVSS version).
    pub fn max_cvss(&self) -> Option<CvssScore> {
        self.cvss
            .iter()
            .filter(|c| (0.0..=10.0).contains(&c.score))
            .copied()
            .max_by(|a, b| a.score.total_cmp(&b.score).then(a.version.cmp(&b.version)))
    }

    /// The highest valid EPSS probability.
    pub fn max_epss(&self) -> Option<&EpssScore> {
        self.epss
            .iter()
            .filter(|e| (0.0..=1.0).contains(&e.probability))
            .max_by(|a, b| a.probability.total_cmp(&b.probability))
    }
}
