//! Distribution severity words and advisory kinds.
//!
//! Sources of a distro severity word, first found wins:
//! 1. a `severity[]` item of type `Ubuntu` (schema 1.7: `{"type":"Ubuntu","score":"high"}`);
//! 2. `affected[].ecosystem_specific.ubuntu_priority` (schema 1.6.3), the highest over entries;
//! 3. the word before `:` in the summary of RHEL-family errata (`Important: kernel security
//!    update`), only when it is one of Critical, Important, Moderate, Low;
//! 4. Debian's `urgency` in `ecosystem_specific` (security tracker) or `database_specific`
//!    (`urgency=high` as written in a changelog; that is an upload urgency, not a severity
//!    assessment, and is kept as the weakest source).

use std::fmt;

/// The severity scale the words map to (Ubuntu priorities, Red Hat impacts, Debian urgencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityLevel {
    /// `negligible`, `unimportant`.
    Negligible,
    Low,
    /// `medium`, `moderate`.
    Medium,
    /// `high`, `important`.
    High,
    /// `critical`, `emergency`.
    Critical,
}

impl SeverityLevel {
    /// Maps a distro word (any case) to the scale; `None` for words such as `untriaged` or
    /// `not yet assigned`.
    pub fn from_word(word: &str) -> Option<SeverityLevel> {
        match word.trim().to_ascii_lowercase().as_str() {
            "negligible" | "unimportant" => Some(SeverityLevel::Negligible),
            "low" => Some(SeverityLevel::Low),
            "medium" | "moderate" => Some(SeverityLevel::Medium),
            "high" | "important" => Some(SeverityLevel::High),
            "critical" | "emergency" => Some(SeverityLevel::Critical),
            _ => None,
        }
    }
}

/// Where a distro severity word came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeveritySource {
    UbuntuSeverity,
    UbuntuPriority,
    Summary,
    DebianUrgency,
}

/// The distribution's own severity word, lower-cased (`important`, `high`, `medium`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DistroSeverity {
    pub word: String,
    pub level: Option<SeverityLevel>,
    pub source: SeveritySource,
}

impl DistroSeverity {
    pub(crate) fn new(word: &str, source: SeveritySource) -> Option<DistroSeverity> {
        let word = word.trim();
        let word = word.strip_prefix("urgency=").unwrap_or(word).trim();
        if word.is_empty() {
            return None;
        }
        Some(DistroSeverity {
            word: word.to_ascii_lowercase(),
            level: SeverityLevel::from_word(word),
            source,
        })
    }
}

/// The RHEL-family severity word that opens a summary (`Important: …`), if any.
pub(crate) fn summary_word(summary: &str) -> Option<&str> {
    let (word, _) = summary.split_once(':')?;
    let known = ["critical", "important", "moderate", "low"];
    known
        .iter()
        .any(|k| word.trim().eq_ignore_ascii_case(k))
        .then(|| word.trim())
}

/// What an advisory is about (DESIGN §2 tiers depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvisoryKind {
    Security,
    Bugfix,
    Enhancement,
}

impl AdvisoryKind {
    /// The kind of an advisory: any record naming a CVE is a security advisory; otherwise the
    /// errata prefix decides (`ALSA`/`RHSA`/`RLSA` security, `ALBA`/`RHBA`/`RLBA` bug fix,
    /// `ALEA`/`RHEA`/`RLEA` enhancement); anything else (USN, DSA, DLA, OSV vulnerability ids) is
    /// a security advisory.
    pub fn classify(id: &str, has_cve: bool) -> AdvisoryKind {
        if has_cve {
            return AdvisoryKind::Security;
        }
        let prefix = id.split(['-', ':']).next().unwrap_or("");
        match prefix {
            "ALBA" | "RHBA" | "RLBA" => AdvisoryKind::Bugfix,
            "ALEA" | "RHEA" | "RLEA" => AdvisoryKind::Enhancement,
            _ => AdvisoryKind::Security,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryKind::Security => "security",
            AdvisoryKind::Bugfix => "bugfix",
            AdvisoryKind::Enhancement => "enhancement",
        }
    }
}

impl fmt::Display for AdvisoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_map_to_levels() {
        assert_eq!(
            SeverityLevel::from_word("Important"),
            Some(SeverityLevel::High)
        );
        assert_eq!(
            SeverityLevel::from_word("moderate"),
            Some(SeverityLevel::Medium)
        );
        assert_eq!(SeverityLevel::from_word("not yet assigned"), None);
        assert!(SeverityLevel::Critical > SeverityLevel::High);
        let d = DistroSeverity::new("urgency=high", SeveritySource::DebianUrgency).unwrap();
        assert_eq!(
            (d.word.as_str(), d.level),
            ("high", Some(SeverityLevel::High))
        );
        assert_eq!(DistroSeverity::new(" ", SeveritySource::Summary), None);
    }

    #[test]
    fn summary_words_only_when_known() {
        assert_eq!(
            summary_word("Important: kernel security update"),
            Some("Important")
        );
        assert_eq!(summary_word("new packages: foo"), None);
        assert_eq!(summary_word("container-tools: bug fix"), None);
        assert_eq!(summary_word("no colon"), None);
    }

    #[test]
    fn kinds_from_ids_and_cves() {
        use AdvisoryKind::*;
        assert_eq!(AdvisoryKind::classify("ALSA-2024:1234", false), Security);
        assert_eq!(AdvisoryKind::classify("ALBA-2019:0973", false), Bugfix);
        assert_eq!(AdvisoryKind::classify("ALEA-2023:A001", false), Enhancement);
        assert_eq!(AdvisoryKind::classify("ALBA-2019:0973", true), Security);
        assert_eq!(AdvisoryKind::classify("USN-6859-1", false), Security);
    }
}
