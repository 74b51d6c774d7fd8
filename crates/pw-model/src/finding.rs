//! A finding: one installed package affected by one advisory (aliases merged), with its tier,
//! deadline and the reasons for both. This is the stable JSON schema of `patchwarden scan`
//! (docs/scan-json.md); add fields, never rename or remove them.

use jiff::Timestamp;

use crate::Tier;

/// One host package × one vulnerability (advisories sharing an alias are merged into one).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// The installed (binary) package name.
    pub binary: String,
    /// The installed version of `binary`.
    pub installed: String,
    /// The name the advisory is matched on: the source package on Debian/Ubuntu, the binary
    /// package on RPM distributions.
    pub package: String,
    /// The version of `package` compared against the advisory's ranges.
    pub package_version: String,
    /// The advisory id chosen to represent the finding (the first by id among merged records).
    pub advisory: String,
    /// Every other id naming the same problem: CVE ids (from `aliases`, `upstream` and `related`)
    /// and the ids of merged advisories; sorted, without `advisory` itself.
    pub aliases: Vec<String>,
    /// The lowest version that fixes every merged advisory, or `None` when no fix exists.
    pub fixed: Option<String>,
    pub tier: Tier,
    /// When the finding must be resolved; `None` for tiers without a deadline (T4, and T2 which
    /// waits for the next window).
    pub deadline: Option<Timestamp>,
    /// Plain-language reasons for the tier, most important first.
    pub reasons: Vec<String>,
    /// The advisory's one-line summary.
    pub summary: String,
    /// When the advisory was published (or last modified when it has no publication date).
    pub published: Option<Timestamp>,
    /// The highest CVSS base score among the merged records, if any.
    pub cvss: Option<f64>,
    /// The highest EPSS probability among the CVE aliases, if known.
    pub epss: Option<f64>,
    /// Whether any alias is in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: bool,
}
