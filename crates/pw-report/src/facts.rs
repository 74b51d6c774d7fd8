//! What a report is built from: the controller's stored facts, already read (no I/O here).
//! The caller (pw-controller's `reports.rs`) reads them from the store; the builders derive
//! every status from these facts and `now` with [`pw_model::finding_status`], as the API does.

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};

/// Everything a report reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFacts {
    /// Every known host, in any order.
    pub hosts: Vec<HostFacts>,
    /// Every acceptance ever stored (in force, expired, revoked).
    pub risks: Vec<RiskFact>,
    /// The fleet document's groups (name, environment, owners); empty before the first apply.
    pub groups: Vec<GroupFacts>,
    /// The fleet document version the groups come from.
    pub fleet_version: Option<i64>,
}

/// One group of the fleet document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFacts {
    pub name: String,
    pub environment: String,
    pub owners: Vec<String>,
}

/// One host: its current findings and its closed episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    pub host_id: String,
    pub hostname: String,
    /// The host's group now (`None`: no group, or a membership conflict).
    pub group: Option<String>,
    /// When its findings were last computed (`None`: never).
    pub computed_at: Option<Timestamp>,
    /// The current findings, each with the first sight of its open episode.
    pub findings: Vec<CurrentFinding>,
    /// Closed episodes (any time; the builder keeps those of the period).
    pub fixed: Vec<FixedEpisode>,
}

/// A current finding and when its open episode began (`None`: computed before the history).
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentFinding {
    pub finding: Finding,
    pub first_seen: Option<Timestamp>,
}

/// A closed episode of a finding on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedEpisode {
    pub binary: String,
    pub advisory: String,
    pub tier: Tier,
    pub deadline: Option<Timestamp>,
    pub first_seen: Timestamp,
    pub fixed_at: Timestamp,
    /// Set when the episode closed because the installed changelog names the fix (a
    /// backport), not by a change: not counted as remediation.
    pub fixed_by: Option<String>,
}

/// One stored acceptance of a risk.
pub type RiskFact = pw_model::AcceptedRisk;

/// What a report covers and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportScope {
    /// Only the members of this group (`None`: the whole fleet).
    pub group: Option<String>,
    /// The controller's clock.
    pub now: Timestamp,
    /// How far back remediation is counted (fixes with `fixed_at` in `[now - period, now]`).
    pub period: SignedDuration,
    /// How many updates the risk summary ranks.
    pub top: usize,
}

/// Default period of a report: 90 days.
pub const DEFAULT_PERIOD: SignedDuration = SignedDuration::from_hours(90 * 24);
/// Longest period of a report: 730 days.
pub const MAX_PERIOD: SignedDuration = SignedDuration::from_hours(730 * 24);
/// Default and largest number of ranked updates in the risk summary.
pub const DEFAULT_TOP: usize = 10;
pub const MAX_TOP: usize = 100;

/// Why a report cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("group: unknown group {group:?} (the fleet document has: {known})")]
    UnknownGroup { group: String, known: String },
    #[error("period: {0}")]
    BadPeriod(String),
    #[error("top: {0} is out of range (1 to {MAX_TOP})")]
    BadTop(usize),
}

impl ReportScope {
    /// Checks `period` (a duration such as `90d`, 1 hour to 730 days) and `top` (1 to 100).
    pub fn new(
        group: Option<String>,
        now: Timestamp,
        period: Option<&str>,
        top: Option<usize>,
    ) -> Result<Self, ReportError> {
        let period = match period {
            None => DEFAULT_PERIOD,
            Some(text) => {
                let parsed = pw_model::parse_duration(text)
                    .map_err(|e| ReportError::BadPeriod(format!("{text:?}: {e}")))?;
                if parsed < SignedDuration::from_hours(1) || parsed > MAX_PERIOD {
                    return Err(ReportError::BadPeriod(format!(
                        "{text:?} is out of range (1h to 730d)"
                    )));
                }
                parsed
            }
        };
        let top = top.unwrap_or(DEFAULT_TOP);
        if top == 0 || top > MAX_TOP {
            return Err(ReportError::BadTop(top));
        }
        Ok(Self {
            group,
            now,
            period,
            top,
        })
    }

    /// The start of the period.
    pub fn since(&self) -> Timestamp {
        self.now
            .saturating_sub(self.period)
            .unwrap_or(Timestamp::MIN)
    }
}

impl ReportFacts {
    /// The hosts in scope: the group's members, or every host. An unknown group is refused,
    /// naming the groups there are.
    pub fn hosts_in(&self, group: Option<&str>) -> Result<Vec<&HostFacts>, ReportError> {
        let Some(group) = group else {
            return Ok(self.hosts.iter().collect());
        };
        if !self.groups.iter().any(|g| g.name == group) {
            let known: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
            return Err(ReportError::UnknownGroup {
                group: group.to_owned(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
        Ok(self
            .hosts
            .iter()
            .filter(|h| h.group.as_deref() == Some(group))
            .collect())
    }
}
