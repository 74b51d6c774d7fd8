//! The validated priority policy: thresholds, deadlines, distro severity words, operator flags,
//! per-group overrides. Built by [`crate::PriorityPolicy::from_toml_str`] or
//! [`crate::PriorityPolicy::from_toml_value`]; [`Default`] is DESIGN.md §2 exactly.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use pw_model::Tier;

use crate::EmergencyFlag;

/// Thresholds and deadlines of the tiers; one set for the policy and one per group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TierRules {
    pub t0: T0Rules,
    pub t1: T1Rules,
    pub t2: T2Rules,
    pub t3: T3Rules,
    /// Tier of a security fix with neither a CVSS score nor a known distro severity word.
    /// Default T3 (the seed's "other … fixes"); set T1 to treat the unknown as important.
    pub unknown_severity: Tier,
}

/// T0, emergency security patch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct T0Rules {
    pub deadline: SignedDuration,
    /// CVSS at or above this is T0 (default 9.0).
    pub cvss_min: f64,
    /// EPSS at or above this (default 0.5)…
    pub epss_min: f64,
    /// …together with CVSS at or above this (default 7.0) is T0.
    pub epss_cvss_min: f64,
    /// Whether a CVE in CISA KEV makes a fix T0 (default true).
    pub kev: bool,
}

/// T1, important security update.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct T1Rules {
    pub deadline: SignedDuration,
    /// CVSS at or above this is T1 (default 7.0).
    pub cvss_min: f64,
}

/// T2, critical functional fix: no fixed deadline, the next available window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct T2Rules {
    /// Advisory severity words (lowercase) that mark a non-security fix as critical.
    pub severity_words: Vec<String>,
}

/// T3, recommended update.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct T3Rules {
    pub deadline: SignedDuration,
}

/// An operator's mark that a non-security advisory is a critical fix (T2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CriticalFix {
    pub advisory: String,
    pub reason: String,
}

/// The whole validated policy. Its serialized form (JSON of every field, by name) is the
/// stable encoding the controller digests into a ranking's basis: equal policies, equal bytes,
/// across builds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PriorityPolicy {
    /// The rules for hosts of groups without an override.
    pub rules: TierRules,
    /// Per-group rules (already merged over `rules`).
    pub groups: BTreeMap<String, TierRules>,
    /// Distro severity word (lowercase) → tier of a security fix carrying it (T0, T1 or T3).
    pub distro_severity: BTreeMap<String, Tier>,
    pub emergency: Vec<EmergencyFlag>,
    pub critical_fixes: Vec<CriticalFix>,
}

impl Default for TierRules {
    fn default() -> Self {
        TierRules {
            t0: T0Rules {
                deadline: SignedDuration::from_hours(24),
                cvss_min: 9.0,
                epss_min: 0.5,
                epss_cvss_min: 7.0,
                kev: true,
            },
            t1: T1Rules {
                deadline: SignedDuration::from_hours(7 * 24),
                cvss_min: 7.0,
            },
            t2: T2Rules {
                severity_words: vec!["critical".to_owned()],
            },
            t3: T3Rules {
                deadline: SignedDuration::from_hours(30 * 24),
            },
            unknown_severity: Tier::T3,
        }
    }
}

/// The default distro severity words: AlmaLinux/Red Hat (Critical, Important, Moderate, Low),
/// Ubuntu priorities (critical, high, medium, low, negligible) and Debian's (unimportant).
pub const DEFAULT_DISTRO_SEVERITY: [(&str, Tier); 8] = [
    ("critical", Tier::T0),
    ("important", Tier::T1),
    ("high", Tier::T1),
    ("moderate", Tier::T3),
    ("medium", Tier::T3),
    ("low", Tier::T3),
    ("negligible", Tier::T3),
    ("unimportant", Tier::T3),
];

impl Default for PriorityPolicy {
    fn default() -> Self {
        PriorityPolicy {
            rules: TierRules::default(),
            groups: BTreeMap::new(),
            distro_severity: DEFAULT_DISTRO_SEVERITY
                .iter()
                .map(|&(word, tier)| (word.to_owned(), tier))
                .collect(),
            emergency: Vec::new(),
            critical_fixes: Vec::new(),
        }
    }
}

impl PriorityPolicy {
    /// The rules for a group: its override, or the policy's rules for unknown groups.
    pub fn rules_for(&self, group: &str) -> &TierRules {
        self.groups.get(group).unwrap_or(&self.rules)
    }
}

/// Writes a deadline the way the policy file does: `7d`, `36h` as `1d12h` (pw-model's
/// `format_duration`), except that zero, which no deadline can be, is written `0h`.
pub fn format_duration(duration: SignedDuration) -> String {
    if duration.is_zero() {
        return "0h".to_owned();
    }
    pw_model::format_duration(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_the_policy_file() {
        for (hours, text) in [
            (24, "1d"),
            (7 * 24, "7d"),
            (36, "1d12h"),
            (6, "6h"),
            (0, "0h"),
        ] {
            assert_eq!(format_duration(SignedDuration::from_hours(hours)), text);
        }
    }
}
