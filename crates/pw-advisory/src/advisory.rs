//! The normalized advisory: what the rest of patchwarden needs from an OSV record, with ids,
//! times, severity and versions checked once.
//!
//! Only dpkg and rpm ecosystems are kept (`Debian:*`, `Ubuntu:*` → dpkg; `AlmaLinux:*`,
//! `Rocky Linux:*`, `Red Hat:*` → rpm); entries of other ecosystems are counted in
//! [`Advisory::ignored_entries`]. Only `ECOSYSTEM` ranges are kept (`SEMVER`/`GIT` ranges cannot
//! be compared with distro versions). An entry with a malformed version is dropped and reported:
//! its ranges cannot be evaluated reliably.

use jiff::Timestamp;
use pw_version::{Scheme, VersionError};

use crate::ids::cve_of;
use crate::osv::{Binary, OsvAffected, OsvEvent, OsvRecord, OsvSeverity};
use crate::scoring::{CvssError, CvssScore, score_vector};
use crate::severity::{AdvisoryKind, DistroSeverity, SeveritySource, summary_word};

/// A normalized advisory.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Advisory {
    pub id: String,
    /// Every CVE the record names (its own id, `aliases`, `upstream`, `related`, including the
    /// CVE behind `UBUNTU-CVE-…` style ids), sorted and without duplicates.
    pub cves: Vec<String>,
    /// The other ids it names (USN ids, `UBUNTU-CVE-…` ids, …), sorted, without its own id.
    pub related_ids: Vec<String>,
    pub summary: String,
    pub details: String,
    pub published: Option<Timestamp>,
    pub modified: Option<Timestamp>,
    /// Withdrawn records must not be matched; [`crate::AdvisoryIndex`] skips them.
    pub withdrawn: bool,
    pub withdrawn_at: Option<Timestamp>,
    pub kind: AdvisoryKind,
    /// The highest base score among the record's CVSS vectors (record and entry level).
    pub cvss: Option<CvssScore>,
    pub severity: Option<DistroSeverity>,
    pub affected: Vec<AffectedPackage>,
    /// `affected[]` entries of ecosystems other than dpkg/rpm distributions, or without package.
    pub ignored_entries: usize,
}

/// One `affected[]` entry of a dpkg or rpm ecosystem, with versions validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AffectedPackage {
    /// The OSV ecosystem (`Debian:12`, `Ubuntu:Pro:18.04:LTS`, `AlmaLinux:9`).
    pub ecosystem: String,
    /// The package name: a source package on Debian/Ubuntu, a binary rpm on RHEL-family.
    pub name: String,
    pub scheme: Scheme,
    /// The `ECOSYSTEM` ranges, events in record order.
    pub ranges: Vec<Vec<Event>>,
    /// The explicit `versions` list (empty when absent or empty).
    pub versions: Vec<String>,
    /// Ubuntu's binaries built from the source package (both shapes), for display.
    pub binaries: Vec<Binary>,
    /// `ecosystem_specific.ubuntu_priority`.
    pub ubuntu_priority: Option<String>,
    /// Debian `urgency` (security tracker or changelog), without `urgency=`.
    pub urgency: Option<String>,
    /// `database_specific.distribution` (`bookworm-security`, `unstable`).
    pub distribution: Option<String>,
}

/// A range event with a validated version (`introduced: "0"` is [`Event::IntroducedZero`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    IntroducedZero,
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// Something in a record that was dropped or could not be read; the rest of it is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvisoryProblem {
    #[error("{id}: field \"{field}\" is not an RFC 3339 timestamp: \"{value}\"")]
    BadTimestamp {
        id: String,
        field: &'static str,
        value: String,
    },
    #[error("{id}: {error}")]
    BadCvss { id: String, error: CvssError },
    #[error("{id}: affected[{entry}] ({ecosystem} {package}) dropped: {error}")]
    BadVersion {
        id: String,
        entry: usize,
        ecosystem: String,
        package: String,
        error: VersionError,
    },
    #[error("{id}: affected[{entry}] ({ecosystem} {package}): versions list item dropped: {error}")]
    BadListedVersion {
        id: String,
        entry: usize,
        ecosystem: String,
        package: String,
        error: VersionError,
    },
    #[error(
        "{id}: affected[{entry}] ({ecosystem} {package}) dropped: ranges[{range}].events[{event}] must set exactly one of introduced, fixed, last_affected, limit"
    )]
    BadEvent {
        id: String,
        entry: usize,
        ecosystem: String,
        package: String,
        range: usize,
        event: usize,
    },
    #[error(
        "{id}: affected[{entry}] ({ecosystem} {package}): range type \"{kind}\" ignored (only ECOSYSTEM ranges apply to distro packages)"
    )]
    IgnoredRangeType {
        id: String,
        entry: usize,
        ecosystem: String,
        package: String,
        kind: String,
    },
    #[error("{id}: affected[{entry}] in ecosystem \"{ecosystem}\" has an empty package name")]
    EmptyName {
        id: String,
        entry: usize,
        ecosystem: String,
    },
}

/// The version scheme of a distro ecosystem, or `None` for ecosystems patchwarden ignores.
pub fn ecosystem_scheme(ecosystem: &str) -> Option<Scheme> {
    let family = ecosystem.split(':').next().unwrap_or("");
    if !ecosystem.contains(':') {
        return None;
    }
    match family {
        "Debian" | "Ubuntu" => Some(Scheme::Dpkg),
        "AlmaLinux" | "Rocky Linux" | "Red Hat" => Some(Scheme::Rpm),
        _ => None,
    }
}

impl Advisory {
    /// Normalizes a record. Problems are returned beside the advisory; the advisory keeps
    /// everything that could be read.
    pub fn from_record(record: &OsvRecord) -> (Advisory, Vec<AdvisoryProblem>) {
        let mut problems = Vec::new();
        let id = record.id.trim().to_owned();
        let (cves, related_ids) = collect_ids(record);
        let timestamp = |field: &'static str, value: &Option<String>, problems: &mut Vec<_>| {
            let value = value.as_deref()?;
            match value.trim().parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(_) => {
                    problems.push(AdvisoryProblem::BadTimestamp {
                        id: id.clone(),
                        field,
                        value: value.to_owned(),
                    });
                    None
                }
            }
        };
        let published = timestamp("published", &record.published, &mut problems);
        let modified = timestamp("modified", &record.modified, &mut problems);
        let withdrawn_at = timestamp("withdrawn", &record.withdrawn, &mut problems);
        let summary = record.summary.clone().unwrap_or_default();
        let cvss = highest_cvss(&id, record, &mut problems);
        let severity = distro_severity(record, &summary);
        let mut affected = Vec::new();
        let mut ignored_entries = 0;
        for (entry, raw) in record.affected.iter().enumerate() {
            match normalize_entry(&id, entry, raw, &mut problems) {
                Some(Normalized::Kept(a)) => affected.push(a),
                Some(Normalized::Dropped) => {}
                None => ignored_entries += 1,
            }
        }
        let advisory = Advisory {
            kind: AdvisoryKind::classify(&id, !cves.is_empty()),
            cves,
            related_ids,
            summary,
            details: record.details.clone().unwrap_or_default(),
            published,
            modified,
            withdrawn: record.withdrawn.is_some(),
            withdrawn_at,
            cvss,
            severity,
            affected,
            ignored_entries,
            id,
        };
        (advisory, problems)
    }

    /// `published`, or `modified` when the record has no publication date.
    pub fn published_or_modified(&self) -> Option<Timestamp> {
        self.published.or(self.modified)
    }

    /// The CVSS base score, if any vector could be scored.
    pub fn cvss_score(&self) -> Option<f64> {
        self.cvss.as_ref().map(|c| c.score)
    }
}

/// CVEs and other ids from the record's id, `aliases`, `upstream` and `related`.
fn collect_ids(record: &OsvRecord) -> (Vec<String>, Vec<String>) {
    let own = record.id.trim();
    let mut cves = Vec::new();
    let mut others = Vec::new();
    let all = std::iter::once(own).chain(
        record
            .aliases
            .iter()
            .chain(&record.upstream)
            .chain(&record.related)
            .map(|s| s.trim()),
    );
    for id in all {
        if let Some(cve) = cve_of(id) {
            cves.push(cve.to_owned());
        }
        if !id.is_empty() && id != own && cve_of(id) != Some(id) {
            others.push(id.to_owned());
        }
    }
    cves.sort();
    cves.dedup();
    others.sort();
    others.dedup();
    (cves, others)
}

fn highest_cvss(
    id: &str,
    record: &OsvRecord,
    problems: &mut Vec<AdvisoryProblem>,
) -> Option<CvssScore> {
    let items = record
        .severity
        .iter()
        .chain(record.affected.iter().flat_map(|a| &a.severity));
    let mut best: Option<CvssScore> = None;
    for OsvSeverity { kind, score } in items {
        if !kind.starts_with("CVSS") {
            continue;
        }
        match score_vector(score) {
            Ok(s) if best.as_ref().is_none_or(|b| s.score > b.score) => best = Some(s),
            Ok(_) => {}
            Err(error) => problems.push(AdvisoryProblem::BadCvss {
                id: id.to_owned(),
                error,
            }),
        }
    }
    best
}

fn distro_severity(record: &OsvRecord, summary: &str) -> Option<DistroSeverity> {
    let ubuntu = record
        .severity
        .iter()
        .find(|s| s.kind.eq_ignore_ascii_case("Ubuntu"))
        .and_then(|s| DistroSeverity::new(&s.score, SeveritySource::UbuntuSeverity));
    let priority = || {
        record
            .affected
            .iter()
            .filter_map(|a| a.ecosystem_specific_str("ubuntu_priority"))
            .filter_map(|w| DistroSeverity::new(w, SeveritySource::UbuntuPriority))
            .max_by_key(|d| d.level)
    };
    let from_summary =
        || summary_word(summary).and_then(|w| DistroSeverity::new(w, SeveritySource::Summary));
    let urgency = || {
        record
            .affected
            .iter()
            .filter_map(entry_urgency)
            .filter_map(|w| DistroSeverity::new(w, SeveritySource::DebianUrgency))
            .max_by_key(|d| d.level)
    };
    ubuntu
        .or_else(priority)
        .or_else(from_summary)
        .or_else(urgency)
}

fn entry_urgency(entry: &OsvAffected) -> Option<&str> {
    entry
        .ecosystem_specific_str("urgency")
        .or_else(|| entry.database_specific_str("urgency"))
}

enum Normalized {
    Kept(AffectedPackage),
    Dropped,
}

/// Normalizes one entry; `None` when its ecosystem is not a dpkg/rpm distribution.
fn normalize_entry(
    id: &str,
    entry: usize,
    raw: &OsvAffected,
    problems: &mut Vec<AdvisoryProblem>,
) -> Option<Normalized> {
    let package = raw.package.as_ref()?;
    let ecosystem = package.ecosystem.trim();
    let scheme = ecosystem_scheme(ecosystem)?;
    let name = package.name.trim();
    if name.is_empty() {
        problems.push(AdvisoryProblem::EmptyName {
            id: id.to_owned(),
            entry,
            ecosystem: ecosystem.to_owned(),
        });
        return Some(Normalized::Dropped);
    }
    let mut ranges = Vec::new();
    for (range_index, range) in raw.ranges.iter().enumerate() {
        if range.kind != "ECOSYSTEM" {
            problems.push(AdvisoryProblem::IgnoredRangeType {
                id: id.to_owned(),
                entry,
                ecosystem: ecosystem.to_owned(),
                package: name.to_owned(),
                kind: range.kind.clone(),
            });
            continue;
        }
        let mut events = Vec::with_capacity(range.events.len());
        for (event_index, event) in range.events.iter().enumerate() {
            let result = convert_event(scheme, event).map_err(|bad| match bad {
                None => AdvisoryProblem::BadEvent {
                    id: id.to_owned(),
                    entry,
                    ecosystem: ecosystem.to_owned(),
                    package: name.to_owned(),
                    range: range_index,
                    event: event_index,
                },
                Some(error) => AdvisoryProblem::BadVersion {
                    id: id.to_owned(),
                    entry,
                    ecosystem: ecosystem.to_owned(),
                    package: name.to_owned(),
                    error,
                },
            });
            match result {
                Ok(e) => events.push(e),
                Err(problem) => {
                    problems.push(problem);
                    return Some(Normalized::Dropped);
                }
            }
        }
        ranges.push(events);
    }
    let mut versions = Vec::new();
    for version in raw.versions.iter().flatten() {
        match scheme.validate(version) {
            Ok(()) => versions.push(version.clone()),
            Err(error) => problems.push(AdvisoryProblem::BadListedVersion {
                id: id.to_owned(),
                entry,
                ecosystem: ecosystem.to_owned(),
                package: name.to_owned(),
                error,
            }),
        }
    }
    Some(Normalized::Kept(AffectedPackage {
        ecosystem: ecosystem.to_owned(),
        name: name.to_owned(),
        scheme,
        ranges,
        versions,
        binaries: raw.binaries(),
        ubuntu_priority: raw
            .ecosystem_specific_str("ubuntu_priority")
            .map(str::to_owned),
        urgency: entry_urgency(raw).map(|u| u.strip_prefix("urgency=").unwrap_or(u).to_owned()),
        distribution: raw.database_specific_str("distribution").map(str::to_owned),
    }))
}

/// Converts an event; `Err(None)` when it does not set exactly one field.
fn convert_event(scheme: Scheme, event: &OsvEvent) -> Result<Event, Option<VersionError>> {
    let set = [
        &event.introduced,
        &event.fixed,
        &event.last_affected,
        &event.limit,
    ]
    .iter()
    .filter(|f| f.is_some())
    .count();
    if set != 1 {
        return Err(None);
    }
    let valid = |v: &String| scheme.validate(v).map(|()| v.clone()).map_err(Some);
    match event {
        OsvEvent {
            introduced: Some(v),
            ..
        } if v == "0" => Ok(Event::IntroducedZero),
        OsvEvent {
            introduced: Some(v),
            ..
        } => valid(v).map(Event::Introduced),
        OsvEvent { fixed: Some(v), .. } => valid(v).map(Event::Fixed),
        OsvEvent {
            last_affected: Some(v),
            ..
        } => valid(v).map(Event::LastAffected),
        OsvEvent { limit: Some(v), .. } => {
            // `limit: "*"` means "no limit" in OSV; nothing to validate then.
            if v == "*" {
                Ok(Event::Limit(v.clone()))
            } else {
                valid(v).map(Event::Limit)
            }
        }
        _ => Err(None),
    }
}
