//! A scan: one host's installed packages × advisories × threat signals (KEV, EPSS) × the
//! priority policy → findings, each with its tier, deadline and reasons. Pure: the caller loads
//! everything and passes `now`.
//!
//! A finding's deadline runs from the later of the advisory's publication and `first_seen` (when
//! the caller knows when the host first had the problem); when neither is known it runs from
//! `now`. Findings are ordered most urgent first: tier, then deadline, then package and id.

mod cache;
mod downgrade;
mod memo;
mod upgrades;

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;
pub use pw_advisory::Match;
use pw_advisory::{Advisory, AdvisoryIndex, AdvisoryKind, EpssScores, KevCatalog, Matcher};
use pw_model::{Finding, InstalledPackage, OsRelease, Tier};
use pw_priority::{Deadline, Evidence, FixKind, PriorityPolicy};

use cache::Classified;
pub use cache::Classifier;
pub use downgrade::{
    DowngradeChange, DowngradeCheck, DowngradeError, DowngradeTarget, Reintroduced,
    target_source_version,
};
pub use upgrades::{Backported, Upgrade, non_security_kind, split_backported};

/// Advisories indexed for matching, with the threat signals of their CVEs.
pub struct Intelligence {
    index: AdvisoryIndex,
    kev: HashMap<String, Date>,
    epss: HashMap<String, f64>,
    /// The highest CVSS score any advisory gives a CVE (for CVEs named by changelogs).
    cvss: HashMap<String, pw_priority::CvssScore>,
    /// What hosts' scans classified, per policy and group (`memo.rs`).
    memos: memo::Memos,
}

/// The threat signals known for a set of CVEs.
pub(crate) struct Signals {
    pub(crate) cvss: Vec<pw_priority::CvssScore>,
    pub(crate) kev: Vec<pw_priority::KevEntry>,
    pub(crate) epss: Vec<pw_priority::EpssScore>,
}

impl Intelligence {
    /// Indexes `advisories` and keeps the KEV dates and EPSS probabilities by CVE (the last EPSS
    /// file given wins for a CVE).
    pub fn new(advisories: Vec<Advisory>, kev: Option<&KevCatalog>, epss: &[EpssScores]) -> Self {
        let kev = kev
            .map(|c| {
                c.entries
                    .iter()
                    .map(|e| (e.cve_id.clone(), e.date_added))
                    .collect()
            })
            .unwrap_or_default();
        let epss = epss
            .iter()
            .flat_map(|file| file.scores.iter())
            .map(|s| (s.cve.clone(), s.epss))
            .collect();
        let mut cvss: HashMap<String, pw_priority::CvssScore> = HashMap::new();
        for advisory in &advisories {
            let Some(score) = &advisory.cvss else {
                continue;
            };
            for cve in &advisory.cves {
                let best = cvss.entry(cve.clone()).or_insert(pw_priority::CvssScore {
                    score: score.score,
                    version: score.version,
                });
                if score.score > best.score {
                    best.score = score.score;
                    best.version = score.version;
                }
            }
        }
        Intelligence {
            index: AdvisoryIndex::new(advisories),
            kev,
            epss,
            cvss,
            memos: memo::Memos::default(),
        }
    }

    /// KEV entries, EPSS probabilities and CVSS scores known for `cves`.
    pub(crate) fn cve_signals(&self, cves: &[String]) -> Signals {
        Signals {
            cvss: cves
                .iter()
                .filter_map(|c| self.cvss.get(c).copied())
                .collect(),
            kev: cves
                .iter()
                .filter_map(|cve| {
                    self.kev.get(cve).map(|date| pw_priority::KevEntry {
                        cve: cve.clone(),
                        date_added: *date,
                    })
                })
                .collect(),
            epss: cves
                .iter()
                .filter_map(|cve| {
                    self.epss.get(cve).map(|p| pw_priority::EpssScore {
                        cve: cve.clone(),
                        probability: *p,
                    })
                })
                .collect(),
        }
    }

    /// The advisory index, for statistics.
    pub fn index(&self) -> &AdvisoryIndex {
        &self.index
    }

    /// A reusable matcher for hosts of one release.
    pub fn matcher(&self, os: &OsRelease, ubuntu_pro: bool) -> Matcher<'_> {
        Matcher::new(&self.index, os, ubuntu_pro)
    }

    /// Scans one host: matches, classifies and orders its findings.
    pub fn scan(
        &self,
        matcher: &mut Matcher<'_>,
        packages: &[InstalledPackage],
        context: &ScanContext<'_>,
    ) -> Vec<Finding> {
        self.findings(&matcher.match_packages(packages), context)
    }

    /// Scans one host whose findings have a history: each finding's deadline runs from the first
    /// sight `first_seen(binary, advisory)` gives (the finding's [`Finding::key`]), or from
    /// `context.first_seen` for a finding never seen before.
    pub fn scan_with_history(
        &self,
        matcher: &mut Matcher<'_>,
        packages: &[InstalledPackage],
        context: &ScanContext<'_>,
        first_seen: &dyn Fn(&str, &str) -> Option<Timestamp>,
    ) -> Vec<Finding> {
        let matches = matcher.match_packages(packages);
        self.findings_with_history(matches.iter(), context, first_seen)
    }

    /// The findings of `matches` (of a host whose findings have a history, as
    /// [`Intelligence::scan_with_history`] gives them), most urgent first.
    pub fn findings_with_history<'m, 'i: 'm>(
        &self,
        matches: impl Iterator<Item = &'m Match<'i>>,
        context: &ScanContext<'_>,
        first_seen: &dyn Fn(&str, &str) -> Option<Timestamp>,
    ) -> Vec<Finding> {
        let memo = self.memos.of(context);
        let mut findings: Vec<Finding> = matches
            .map(|m| {
                let seen = ScanContext {
                    first_seen: first_seen(&m.installed.name, &m.advisory().id)
                        .or(context.first_seen),
                    ..*context
                };
                memo.classify(self, m, &seen).into_finding(m)
            })
            .collect();
        sort_findings(&mut findings);
        findings
    }

    /// Classifies matches into findings, most urgent first. For many hosts under one context, a
    /// [`Classifier`] gives the same findings while classifying each advisory set once.
    pub fn findings(&self, matches: &[Match<'_>], context: &ScanContext<'_>) -> Vec<Finding> {
        let mut findings: Vec<Finding> = matches
            .iter()
            .map(|m| self.classify(m, context).into_finding(m))
            .collect();
        sort_findings(&mut findings);
        findings
    }

    /// A classifier that remembers classifications (see [`Classifier`]).
    pub fn classifier(&self) -> Classifier<'_> {
        Classifier::new(self)
    }

    /// The evidence classification needs for one match.
    pub fn evidence(&self, m: &Match<'_>, first_seen: Option<Timestamp>) -> Evidence {
        let cves: Vec<String> = m.cves.iter().map(|c| c.to_string()).collect();
        let signals = self.cve_signals(&cves);
        Evidence {
            advisory: m.advisory().id.clone(),
            kind: match m.kind() {
                AdvisoryKind::Security => FixKind::Security,
                AdvisoryKind::Bugfix => FixKind::Bugfix,
                AdvisoryKind::Enhancement => FixKind::Enhancement,
            },
            cvss: m
                .advisories
                .iter()
                .filter_map(|a| a.advisory.cvss.as_ref())
                .map(|c| pw_priority::CvssScore {
                    score: c.score,
                    version: c.version,
                })
                .collect(),
            distro_severity: m.severity().map(|s| s.word.clone()),
            kev: signals.kev,
            epss: signals.epss,
            emergency: Vec::new(),
            critical_fix: None,
            published: m.published(),
            first_seen,
            cves,
        }
    }

    /// Everything of a match's finding that depends only on its advisories and the context.
    fn classify(&self, m: &Match<'_>, context: &ScanContext<'_>) -> Classified {
        self.timeless(m, context).at(context)
    }

    /// [`Self::classify`] but where its deadline starts: classified without the publication
    /// and first sight, which only start the tier's duration.
    pub(crate) fn timeless(&self, m: &Match<'_>, context: &ScanContext<'_>) -> memo::Timeless {
        let mut evidence = self.evidence(m, None);
        let published = evidence.published.take();
        let (classification, _) = context.classify(&evidence);
        let classified = Classified {
            epss: evidence.epss.iter().map(|e| e.probability).reduce(f64::max),
            kev: !evidence.kev.is_empty(),
            advisory: evidence.advisory,
            aliases: m.aliases().into_iter().map(str::to_owned).collect(),
            tier: classification.tier,
            deadline: None,
            reasons: classification.reasons,
            published,
            cvss: m.cvss(),
        };
        memo::Timeless {
            classified,
            rule: classification.deadline,
        }
    }
}

/// What a scan needs besides the packages.
#[derive(Clone, Copy)]
pub struct ScanContext<'a> {
    pub policy: &'a PriorityPolicy,
    /// The host's group, for group overrides in the policy.
    pub group: Option<&'a str>,
    /// When the host first had these findings, when known (a stateless scan does not know).
    pub first_seen: Option<Timestamp>,
    pub now: Timestamp,
}

impl ScanContext<'_> {
    /// Classifies `evidence` with the policy (the group's rules when there is a group) and
    /// turns its deadline into an instant (a duration runs from `now`).
    pub(crate) fn classify(
        &self,
        evidence: &Evidence,
    ) -> (pw_priority::Classification, Option<Timestamp>) {
        let classification = match self.group {
            Some(group) => self.policy.classify_for_group(group, evidence),
            None => self.policy.classify(evidence),
        };
        let deadline = self.instant(classification.deadline);
        (classification, deadline)
    }

    /// A deadline as an instant: a duration runs from `now`; none for the next window or
    /// on demand.
    pub(crate) fn instant(&self, deadline: Deadline) -> Option<Timestamp> {
        match deadline {
            Deadline::At(at) => Some(at),
            Deadline::Within(duration) => self.now.checked_add(duration).ok(),
            Deadline::NextWindow | Deadline::None => None,
        }
    }
}

/// Most urgent first: tier, deadline (none last), binary, advisory.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        urgency(
            (a.tier, a.deadline, &a.binary, &a.advisory),
            (b.tier, b.deadline, &b.binary, &b.advisory),
        )
    });
}

/// The order of [`sort_findings`] on (tier, deadline, binary, advisory): for lists merged
/// without sorting them again.
pub fn urgency(
    a: (Tier, Option<Timestamp>, &str, &str),
    b: (Tier, Option<Timestamp>, &str, &str),
) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| match (a.1, b.1) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| a.2.cmp(b.2))
        .then_with(|| a.3.cmp(b.3))
}

/// Counts of findings per tier, and how many are overdue at `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub by_tier: [usize; 5],
    pub overdue: usize,
    pub no_fix: usize,
    pub packages: usize,
}

/// Summarizes findings.
pub fn summarize(findings: &[Finding], now: Timestamp) -> Summary {
    let mut summary = Summary::default();
    let mut packages: Vec<&str> = Vec::new();
    for f in findings {
        summary.by_tier[f.tier.index()] += 1;
        summary.overdue += usize::from(f.deadline.is_some_and(|d| d < now));
        summary.no_fix += usize::from(f.fixed.is_none());
        packages.push(&f.binary);
    }
    packages.sort_unstable();
    packages.dedup();
    summary.packages = packages.len();
    summary
}
