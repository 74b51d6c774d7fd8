//! A finding's life on one host (DESIGN.md §1 "Finding", §9 items 9 and 11): the status derived
//! from its history, an operator's accepted risk, and counts per tier.
//!
//! Quirks kept on purpose:
//! - A finding is identified on a host by [`Finding::key`]: the installed binary package and the
//!   representative advisory id. Two architectures of one binary share the key (one problem).
//! - Status is never stored: it is derived from the stored facts (fixed or not, accepted until,
//!   deadline) and `now`, so an acceptance expires and a deadline passes without any write.
//! - An accepted risk outranks overdue: the operator decided, with a reason and an expiry.

use jiff::{SignedDuration, Timestamp};

use crate::{Finding, Tier};

/// Longest reason an operator may give for accepting a risk, in characters.
pub const MAX_ACCEPTANCE_REASON_CHARS: usize = 1000;

/// Longest time a risk may be accepted for: 365 days (a yearly review at least).
pub const MAX_ACCEPTANCE: SignedDuration = SignedDuration::from_hours(365 * 24);

/// An operator's stored acceptance of a risk (one home: pw-store stores it, pw-report reports
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRisk {
    pub id: String,
    /// `None`: every host.
    pub host_id: Option<String>,
    pub hostname: Option<String>,
    pub advisory: String,
    pub package: Option<String>,
    pub reason: String,
    pub accepted_by: String,
    pub accepted_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
}

impl AcceptedRisk {
    /// Not revoked and not expired at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// Whether it applies to `host_id` (its host, or every host).
    pub fn applies_to_host(&self, host_id: &str) -> bool {
        self.host_id.as_deref().is_none_or(|h| h == host_id)
    }
}

/// Where a finding stands at one instant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// Present on the host, deadline not passed (or none).
    Open,
    /// Present on the host and past its deadline.
    Overdue,
    /// Present on the host, covered by an unexpired accepted risk.
    Accepted,
    /// Gone from the host since `fixed_at` (upgraded, removed, or no longer affected).
    Fixed,
}

impl Finding {
    /// The finding's identity on a host: (installed binary package, advisory id).
    pub fn key(&self) -> (&str, &str) {
        (&self.binary, &self.advisory)
    }
}

/// The status of a finding at `now`: `fixed` when a later inventory no longer showed it,
/// `accepted_until` the latest expiry of the accepted risks covering it.
pub fn finding_status(
    finding: &Finding,
    fixed: bool,
    accepted_until: Option<Timestamp>,
    now: Timestamp,
) -> FindingStatus {
    if fixed {
        FindingStatus::Fixed
    } else if accepted_until.is_some_and(|until| until > now) {
        FindingStatus::Accepted
    } else if finding.deadline.is_some_and(|deadline| deadline < now) {
        FindingStatus::Overdue
    } else {
        FindingStatus::Open
    }
}

/// Whether an accepted risk for `advisory` (an advisory id or any alias such as a CVE id) and,
/// when given, `package` (the binary or the source package) covers `finding`.
pub fn acceptance_covers(advisory: &str, package: Option<&str>, finding: &Finding) -> bool {
    let names_advisory = finding.advisory.eq_ignore_ascii_case(advisory)
        || finding
            .aliases
            .iter()
            .any(|alias| alias.eq_ignore_ascii_case(advisory));
    let names_package = package.is_none_or(|p| p == finding.binary || p == finding.package);
    names_advisory && names_package
}

/// Why an acceptance request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptanceError {
    #[error("advisory: empty; name an advisory id or a CVE id")]
    EmptyAdvisory,
    #[error(
        "advisory: {0:?} is not an advisory id (at most 100 letters, digits and . _ : - such as CVE-2024-3094)"
    )]
    BadAdvisory(String),
    #[error("reason: empty; say why the risk is accepted")]
    EmptyReason,
    #[error("reason: {chars} characters, at most {MAX_ACCEPTANCE_REASON_CHARS}")]
    ReasonTooLong { chars: usize },
    #[error("expires: {expires} is not in the future (now {now})")]
    ExpiresInPast { expires: Timestamp, now: Timestamp },
    #[error("expires: {expires} is more than 365 days away (at most {latest})")]
    ExpiresTooFar {
        expires: Timestamp,
        latest: Timestamp,
    },
}

/// Checks an acceptance request: an advisory id (taken as is), a non-empty reason of bounded length (trimmed),
/// and an expiry after `now` and at most [`MAX_ACCEPTANCE`] after it.
pub fn check_acceptance(
    advisory: &str,
    reason: &str,
    expires: Timestamp,
    now: Timestamp,
) -> Result<(), AcceptanceError> {
    if advisory.is_empty() {
        return Err(AcceptanceError::EmptyAdvisory);
    }
    let id_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if advisory.len() > 100 || !advisory.chars().all(id_char) {
        return Err(AcceptanceError::BadAdvisory(advisory.to_owned()));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AcceptanceError::EmptyReason);
    }
    let chars = reason.chars().count();
    if chars > MAX_ACCEPTANCE_REASON_CHARS {
        return Err(AcceptanceError::ReasonTooLong { chars });
    }
    if expires <= now {
        return Err(AcceptanceError::ExpiresInPast { expires, now });
    }
    let latest = now.saturating_add(MAX_ACCEPTANCE).unwrap_or(Timestamp::MAX);
    if expires > latest {
        return Err(AcceptanceError::ExpiresTooFar { expires, latest });
    }
    Ok(())
}

/// Findings per tier `[T0..T4]` by status; fixed findings are not counted. `open` counts every
/// finding that still needs work (overdue ones included); `overdue` is the part of it past its
/// deadline; `accepted` the findings hidden by an accepted risk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierTally {
    pub open: [usize; 5],
    pub overdue: [usize; 5],
    pub accepted: [usize; 5],
}

impl TierTally {
    /// Counts one finding of `tier` in `status`.
    pub fn add(&mut self, tier: Tier, status: FindingStatus) {
        let i = tier.index();
        match status {
            FindingStatus::Open => self.open[i] += 1,
            FindingStatus::Overdue => {
                self.open[i] += 1;
                self.overdue[i] += 1;
            }
            FindingStatus::Accepted => self.accepted[i] += 1,
            FindingStatus::Fixed => {}
        }
    }

    /// Adds another tally (a host's to the fleet's).
    pub fn merge(&mut self, other: &TierTally) {
        for i in 0..5 {
            self.open[i] += other.open[i];
            self.overdue[i] += other.overdue[i];
            self.accepted[i] += other.accepted[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn finding(deadline: Option<&str>) -> Finding {
        Finding {
            binary: "libssl3".into(),
            installed: "3.0.11-1~deb12u1".into(),
            package: "openssl".into(),
            package_version: "3.0.11-1~deb12u1".into(),
            advisory: "DEBIAN-CVE-2024-0727".into(),
            aliases: vec!["CVE-2024-0727".into(), "DSA-5621-1".into()],
            fixed: Some("3.0.13-1~deb12u1".into()),
            tier: Tier::T1,
            deadline: deadline.map(at),
            reasons: vec![],
            summary: String::new(),
            published: None,
            cvss: None,
            epss: None,
            kev: false,
        }
    }

    #[test]
    fn status_from_facts_and_now() {
        let now = at("2026-06-01T00:00:00Z");
        let check = |deadline, fixed, until: Option<&str>, expected| {
            let f = finding(deadline);
            assert_eq!(finding_status(&f, fixed, until.map(at), now), expected);
        };
        check(None, false, None, FindingStatus::Open);
        check(
            Some("2026-06-02T00:00:00Z"),
            false,
            None,
            FindingStatus::Open,
        );
        check(
            Some("2026-05-31T00:00:00Z"),
            false,
            None,
            FindingStatus::Overdue,
        );
        // An accepted risk outranks overdue until it expires; then the finding is overdue again.
        let overdue = Some("2026-05-31T00:00:00Z");
        check(
            overdue,
            false,
            Some("2026-07-01T00:00:00Z"),
            FindingStatus::Accepted,
        );
        check(
            overdue,
            false,
            Some("2026-06-01T00:00:00Z"),
            FindingStatus::Overdue,
        );
        check(
            overdue,
            true,
            Some("2026-07-01T00:00:00Z"),
            FindingStatus::Fixed,
        );
    }

    #[test]
    fn acceptance_matches_advisory_or_alias_and_package() {
        let f = finding(None);
        assert!(acceptance_covers("DEBIAN-CVE-2024-0727", None, &f));
        assert!(acceptance_covers("cve-2024-0727", None, &f));
        assert!(acceptance_covers("CVE-2024-0727", Some("libssl3"), &f));
        assert!(acceptance_covers("CVE-2024-0727", Some("openssl"), &f));
        assert!(!acceptance_covers("CVE-2024-0727", Some("openssl-bin"), &f));
        assert!(!acceptance_covers("CVE-2024-0728", None, &f));
    }

    #[test]
    fn acceptance_requests_are_checked() {
        let now = at("2026-06-01T00:00:00Z");
        let week = at("2026-06-08T00:00:00Z");
        assert_eq!(
            check_acceptance("CVE-1", "vendor fix pending", week, now),
            Ok(())
        );
        assert_eq!(
            check_acceptance("", "r", week, now),
            Err(AcceptanceError::EmptyAdvisory)
        );
        for bad in [" CVE-1", "CVE-1;rm", "CVE 1"] {
            let error = check_acceptance(bad, "r", week, now).unwrap_err();
            assert_eq!(error, AcceptanceError::BadAdvisory(bad.to_owned()));
        }
        assert_eq!(
            check_acceptance("CVE-1", "  \n", week, now),
            Err(AcceptanceError::EmptyReason)
        );
        let long = "x".repeat(MAX_ACCEPTANCE_REASON_CHARS + 1);
        assert_eq!(
            check_acceptance("CVE-1", &long, week, now),
            Err(AcceptanceError::ReasonTooLong { chars: 1001 })
        );
        let past = check_acceptance("CVE-1", "r", now, now).unwrap_err();
        assert!(past.to_string().starts_with("expires: "), "{past}");
        let far = at("2027-06-02T00:00:00Z");
        let error = check_acceptance("CVE-1", "r", far, now).unwrap_err();
        assert!(
            matches!(error, AcceptanceError::ExpiresTooFar { .. }),
            "{error}"
        );
        assert_eq!(
            check_acceptance("CVE-1", "r", at("2027-06-01T00:00:00Z"), now),
            Ok(())
        );
    }

    #[test]
    fn tally_counts_overdue_inside_open() {
        let mut tally = TierTally::default();
        tally.add(Tier::T0, FindingStatus::Overdue);
        tally.add(Tier::T0, FindingStatus::Open);
        tally.add(Tier::T1, FindingStatus::Accepted);
        tally.add(Tier::T1, FindingStatus::Fixed);
        assert_eq!(tally.open, [2, 0, 0, 0, 0]);
        assert_eq!(tally.overdue, [1, 0, 0, 0, 0]);
        assert_eq!(tally.accepted, [0, 1, 0, 0, 0]);
        let mut fleet = tally;
        fleet.merge(&tally);
        assert_eq!(fleet.open, [4, 0, 0, 0, 0]);
    }
}
