//! Priority tiers T0–T4 (DESIGN.md §2): which tier a fix belongs to, its SLA deadline, and the
//! reasons in plain words, under a TOML policy. Pure: no I/O, no clock (`now` is a parameter).
//!
//! The rules, in order (the most urgent tier that applies wins; defaults in brackets):
//!
//! - **T0** emergency security patch [24 h]: an operator's emergency flag on one of the fix's
//!   CVEs (or its advisory id); a CVE in CISA KEV; CVSS ≥ 9.0; EPSS ≥ 0.5 with CVSS ≥ 7.0; or a
//!   distro severity word mapped to T0 (`critical` by default: AlmaLinux "Critical:", Ubuntu
//!   priority critical).
//! - **T1** important security update [7 d]: CVSS ≥ 7.0, or a word mapped to T1 (`important`,
//!   `high`).
//! - **T2** critical functional fix [next available window, no fixed deadline]: a non-security
//!   fix marked critical by the advisory (severity word in `tiers.t2.severity_words`) or by an
//!   operator (`critical_fixes`, or [`Evidence::critical_fix`]).
//! - **T3** recommended update [30 d]: other bug fixes; security fixes with a lower CVSS or a word
//!   mapped to T3; security fixes with neither a CVSS score nor a known word (`unknown_severity`).
//! - **T4** feature enhancement [no deadline].
//!
//! A fix is a security fix when its kind is security or it names a CVE. Thresholds are inclusive
//! (9.0 is T0). The highest CVSS score and the highest EPSS probability among the fix's CVEs are
//! used. The deadline runs from the later of publication and first sight on the host; with
//! neither known it is [`Deadline::Within`] the tier's duration. Days are 24 hours.

mod classify;
mod config;
mod evidence;
mod policy;

pub use classify::{Classification, Deadline};
pub use config::parse_duration;
pub use evidence::{CvssScore, CvssVersion, EmergencyFlag, EpssScore, Evidence, FixKind, KevEntry};
pub use policy::{
    CriticalFix, DEFAULT_DISTRO_SEVERITY, PriorityPolicy, T0Rules, T1Rules, T2Rules, T3Rules,
    TierRules, format_duration,
};
pub use pw_model::Tier;

/// One problem in a priority policy: the key path (relative to the `[priority]` table) and what
/// was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Dotted key path with list indexes, e.g. `groups.db.tiers.t0.deadline`, `emergency[1].cve`;
    /// empty for the whole document.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

/// Every problem of a policy, reported together; one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    /// Prepends a table name to every path (`priority` for the `[priority]` table of a larger
    /// file).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        for error in &mut self.0 {
            error.path = if error.path.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", error.path)
            };
        }
        self
    }
}

fn lines(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
