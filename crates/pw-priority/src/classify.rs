//! Classification: evidence + policy → tier, deadline and reasons (most important first).

use jiff::{SignedDuration, Timestamp};
use pw_model::Tier;

use crate::policy::{PriorityPolicy, TierRules};
use crate::{EmergencyFlag, Evidence, FixKind};

/// When a finding must be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// A fixed instant (T0, T1, T3 with a known start).
    At(Timestamp),
    /// The tier's duration, but neither publication nor first sight is known to start it.
    Within(SignedDuration),
    /// T2: planned into the next available maintenance window.
    NextWindow,
    /// T4: on demand.
    None,
}

/// The outcome of classifying one fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub tier: Tier,
    pub deadline: Deadline,
    /// Plain-language reasons: those that decided the tier first (operator flag, KEV, EPSS,
    /// CVSS, distro severity), then the other facts known.
    pub reasons: Vec<String>,
}

impl Deadline {
    /// A tier's duration ([`Deadline::Within`]) run from the later of the advisory's
    /// publication and the finding's first sight, when either is known; any other deadline as
    /// it is. Classification does nothing else with either instant, so a classification made
    /// without them, then started, is the one made with them.
    pub fn starting(self, published: Option<Timestamp>, first_seen: Option<Timestamp>) -> Deadline {
        let Deadline::Within(duration) = self else {
            return self;
        };
        let start = match (published, first_seen) {
            (Some(p), Some(f)) => p.max(f),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return self,
        };
        Deadline::At(start.checked_add(duration).unwrap_or(Timestamp::MAX))
    }
}

impl Classification {
    /// The deadline as an instant, when there is one (the `deadline` of a finding).
    pub fn deadline_at(&self) -> Option<Timestamp> {
        match self.deadline {
            Deadline::At(at) => Some(at),
            _ => None,
        }
    }

    /// Whether the deadline has passed at `now` (a fix due at `t` is overdue after `t`).
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.deadline_at().is_some_and(|at| now > at)
    }
}

/// Tolerance for comparing scores with thresholds (scores are published with ≤ 5 decimals).
const EPSILON: f64 = 1e-9;

fn at_least(value: f64, threshold: f64) -> bool {
    value + EPSILON >= threshold
}

impl PriorityPolicy {
    /// Classifies a fix with the policy's own rules.
    pub fn classify(&self, evidence: &Evidence) -> Classification {
        self.classify_with(&self.rules, evidence)
    }

    /// Classifies a fix on a host of `group` (the group's overrides, or the policy's rules when
    /// the group has none).
    pub fn classify_for_group(&self, group: &str, evidence: &Evidence) -> Classification {
        self.classify_with(self.rules_for(group), evidence)
    }

    fn classify_with(&self, rules: &TierRules, evidence: &Evidence) -> Classification {
        let mut found = Reasons::default();
        self.emergency_reasons(evidence, &mut found);
        kev_reasons(rules, evidence, &mut found);
        if evidence.is_security() {
            self.security_reasons(rules, evidence, &mut found);
        } else {
            self.other_reasons(rules, evidence, &mut found);
        }
        let tier = found.tier();
        Classification {
            tier,
            deadline: deadline(rules, tier, evidence),
            reasons: found.into_sorted(tier),
        }
    }

    fn emergency_reasons(&self, evidence: &Evidence, found: &mut Reasons) {
        let names = |id: &str| {
            id.eq_ignore_ascii_case(&evidence.advisory)
                || evidence.cves.iter().any(|c| c.eq_ignore_ascii_case(id))
        };
        let from_policy = self.emergency.iter().filter(|f| names(&f.cve));
        let mut seen: Vec<&EmergencyFlag> = Vec::new();
        for flag in evidence.emergency.iter().chain(from_policy) {
            if seen.iter().any(|s| s.cve.eq_ignore_ascii_case(&flag.cve)) {
                continue;
            }
            seen.push(flag);
            found.decide(
                Tier::T0,
                format!("operator emergency flag on {}: {}", flag.cve, flag.reason),
            );
        }
    }

    fn security_reasons(&self, rules: &TierRules, evidence: &Evidence, found: &mut Reasons) {
        let cvss = evidence.max_cvss();
        let epss = evidence.max_epss();
        let mut epss_decided = false;
        if let (Some(e), Some(c)) = (epss, cvss)
            && at_least(e.probability, rules.t0.epss_min)
            && at_least(c.score, rules.t0.epss_cvss_min)
        {
            epss_decided = true;
            found.decide(
                Tier::T0,
                format!(
                    "EPSS {} ≥ {} with CVSS {:.1} ({})",
                    e.probability, rules.t0.epss_min, c.score, e.cve
                ),
            );
        }
        if let Some(c) = cvss {
            let label = format!("CVSS {:.1} ({})", c.score, c.version.label());
            if at_least(c.score, rules.t0.cvss_min) {
                found.decide(Tier::T0, format!("{label} ≥ {:.1}", rules.t0.cvss_min));
            } else if at_least(c.score, rules.t1.cvss_min) {
                found.decide(Tier::T1, format!("{label} ≥ {:.1}", rules.t1.cvss_min));
            } else {
                found.decide(Tier::T3, format!("{label} < {:.1}", rules.t1.cvss_min));
            }
        }
        let mut word_known = false;
        if let Some(word) = &evidence.distro_severity {
            match self.distro_severity.get(&word.trim().to_lowercase()) {
                Some(&tier) => {
                    word_known = true;
                    found.decide(tier, format!("distro severity {word}"));
                }
                None => found.note(format!(
                    "distro severity {word:?} is not in the policy's distro_severity words"
                )),
            }
        }
        if cvss.is_none() && !word_known {
            found.decide(
                rules.unknown_severity,
                "security fix of unknown severity (no CVSS score, no known distro severity)"
                    .to_owned(),
            );
        }
        if let Some(e) = epss.filter(|_| !epss_decided) {
            found.note(format!("EPSS {} ({})", e.probability, e.cve));
        }
    }

    fn other_reasons(&self, rules: &TierRules, evidence: &Evidence, found: &mut Reasons) {
        if let Some(reason) = &evidence.critical_fix {
            found.decide(Tier::T2, format!("critical fix: {reason}"));
        }
        for fix in &self.critical_fixes {
            if fix.advisory.eq_ignore_ascii_case(&evidence.advisory) {
                found.decide(
                    Tier::T2,
                    format!("operator marked {} critical: {}", fix.advisory, fix.reason),
                );
            }
        }
        if let Some(word) = &evidence.distro_severity
            && rules
                .t2
                .severity_words
                .contains(&word.trim().to_lowercase())
        {
            found.decide(
                Tier::T2,
                format!("advisory severity {word} marks a critical fix"),
            );
        }
        match evidence.kind {
            FixKind::Enhancement => found.decide(Tier::T4, "feature enhancement only".to_owned()),
            _ => found.decide(Tier::T3, "bug fix".to_owned()),
        }
    }
}

fn kev_reasons(rules: &TierRules, evidence: &Evidence, found: &mut Reasons) {
    let mut entries: Vec<_> = evidence.kev.iter().collect();
    entries.sort_by(|a, b| (a.date_added, &a.cve).cmp(&(b.date_added, &b.cve)));
    for entry in entries {
        let text = format!("{} is in CISA KEV since {}", entry.cve, entry.date_added);
        if rules.t0.kev {
            found.decide(Tier::T0, text);
        } else {
            found.note(text);
        }
    }
}

fn deadline(rules: &TierRules, tier: Tier, evidence: &Evidence) -> Deadline {
    let duration = match tier {
        Tier::T0 => rules.t0.deadline,
        Tier::T1 => rules.t1.deadline,
        Tier::T3 => rules.t3.deadline,
        Tier::T2 => return Deadline::NextWindow,
        Tier::T4 => return Deadline::None,
    };
    Deadline::Within(duration).starting(evidence.published, evidence.first_seen)
}

/// Reasons collected while classifying: each with the tier it argues for (`None` for facts
/// that argue for nothing).
#[derive(Default)]
struct Reasons(Vec<(Option<Tier>, String)>);

impl Reasons {
    fn decide(&mut self, tier: Tier, text: String) {
        self.0.push((Some(tier), text));
    }

    fn note(&mut self, text: String) {
        self.0.push((None, text));
    }

    fn tier(&self) -> Tier {
        self.0
            .iter()
            .filter_map(|(t, _)| *t)
            .min()
            .unwrap_or(Tier::T3)
    }

    /// Deciding reasons first (in the order found), then the others.
    fn into_sorted(self, tier: Tier) -> Vec<String> {
        let (mut first, rest): (Vec<_>, Vec<_>) =
            self.0.into_iter().partition(|(t, _)| *t == Some(tier));
        first.extend(rest);
        first.into_iter().map(|(_, text)| text).collect()
    }
}
