//! Host-side evidence (issue 11): the Debian changelogs of installed packages and of pending
//! upgrades, joined with the advisory findings.
//!
//! - **Backports.** A finding every CVE of which is named in the installed version's changelog
//!   history was fixed by the distribution's backport: it is not pending ([`split_backported`]).
//! - **Pending upgrades.** Every upgrade the host's package sources offer is ranked
//!   ([`Intelligence::upgrade_findings`]): an upgrade whose fix an advisory finding already ranks
//!   adds nothing; otherwise it becomes a finding with the CVEs its candidate changelog names
//!   (tier from CVSS, KEV, EPSS as for advisories), or — from a security suite with no CVE known
//!   — a security fix of unknown severity (the policy's `unknown_severity`, T3 by default). From
//!   other suites it is a bug fix (T3) or, for backports suites and new upstream versions from
//!   third-party sources, a feature enhancement (T4).

use std::collections::{BTreeSet, HashMap};

use pw_model::{Finding, InstalledPackage};
use pw_priority::{Evidence, FixKind};
use pw_version::compare_dpkg;

use crate::{Intelligence, ScanContext, sort_findings};

/// One upgrade the host's package sources offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub binary: String,
    pub installed: String,
    pub candidate: String,
    /// The suite offering the candidate (`bookworm-security`, `bookworm-updates`, …).
    pub suite: String,
    /// The origin's label (`Debian-Security`, `Debian`, a third party's).
    pub label: String,
    /// Whether the suite or label is a security archive.
    pub security: bool,
    /// The CVE ids the candidate's new changelog entries name; `None` when the candidate's
    /// changelog could not be read.
    pub cves: Option<Vec<String>>,
}

/// A finding not pending because the installed version's changelog names its CVEs.
#[derive(Debug, Clone, PartialEq)]
pub struct Backported {
    pub finding: Finding,
    /// Why, in plain words (the CVEs and the installed version).
    pub reason: String,
}

/// The CVE ids a finding is about: its advisory id and aliases that are CVE ids.
fn finding_cves(finding: &Finding) -> BTreeSet<&str> {
    std::iter::once(&finding.advisory)
        .chain(&finding.aliases)
        .map(String::as_str)
        .filter(|id| pw_model::is_cve_id(id))
        .collect()
}

/// Splits findings into pending ones and those fixed by a backport: every CVE of the finding is
/// named in `history[binary]`, the CVE ids of the installed version's changelog history. A
/// finding without a CVE id, or a binary without history, stays pending.
pub fn split_backported(
    findings: Vec<Finding>,
    history: &HashMap<String, BTreeSet<String>>,
) -> (Vec<Finding>, Vec<Backported>) {
    let mut pending = Vec::with_capacity(findings.len());
    let mut backported = Vec::new();
    for finding in findings {
        // Most binaries have no history: their findings' CVE ids are not gathered.
        let Some(named) = history.get(&finding.binary) else {
            pending.push(finding);
            continue;
        };
        let cves = finding_cves(&finding);
        if cves.is_empty() || !cves.iter().all(|c| named.contains(*c)) {
            pending.push(finding);
            continue;
        }
        let reason = format!(
            "fixed by a backport: the changelog of {} {} names {}",
            finding.binary,
            finding.installed,
            cves.iter().copied().collect::<Vec<_>>().join(", ")
        );
        backported.push(Backported { finding, reason });
    }
    (pending, backported)
}

/// How an upgrade from a suite that is not a security archive is classed.
pub fn non_security_kind(upgrade: &Upgrade) -> FixKind {
    let suite = upgrade.suite.as_str();
    if suite.ends_with("-backports") || suite == "backports" {
        return FixKind::Enhancement;
    }
    let label = upgrade.label.to_ascii_lowercase();
    if label == "debian" || label == "ubuntu" {
        // Stable point releases and -updates admit fixes only.
        return FixKind::Bugfix;
    }
    if upstream(&upgrade.installed) == upstream(&upgrade.candidate) {
        FixKind::Bugfix
    } else {
        FixKind::Enhancement
    }
}

/// The upstream part of a dpkg version (epoch and revision removed).
fn upstream(version: &str) -> &str {
    let no_epoch = version.split_once(':').map_or(version, |(_, rest)| rest);
    no_epoch.rsplit_once('-').map_or(no_epoch, |(up, _)| up)
}

impl Intelligence {
    /// Findings for the pending `upgrades` not already ranked by `ranked` (the advisory findings
    /// of the same host): an upgrade whose candidate fixes a ranked finding of the same binary
    /// only adds the CVEs its changelog names beyond those. Each finding's deadline runs from
    /// `first_seen(binary, advisory)` when the host's history knows it, else from
    /// `context.first_seen`. Most urgent first.
    pub fn upgrade_findings(
        &self,
        upgrades: &[Upgrade],
        packages: &[InstalledPackage],
        ranked: &[Finding],
        context: &ScanContext<'_>,
        first_seen: &dyn Fn(&str, &str) -> Option<jiff::Timestamp>,
    ) -> Vec<Finding> {
        let mut out: Vec<Finding> = upgrades
            .iter()
            .filter_map(|u| {
                let seen = ScanContext {
                    first_seen: first_seen(&u.binary, &advisory_id(u)).or(context.first_seen),
                    ..*context
                };
                self.upgrade_finding(u, packages, ranked, &seen)
            })
            .collect();
        sort_findings(&mut out);
        out
    }

    fn upgrade_finding(
        &self,
        upgrade: &Upgrade,
        packages: &[InstalledPackage],
        ranked: &[Finding],
        context: &ScanContext<'_>,
    ) -> Option<Finding> {
        let covering: Vec<&Finding> = ranked
            .iter()
            .filter(|f| f.binary == upgrade.binary)
            .filter(|f| {
                f.fixed
                    .as_deref()
                    .is_some_and(|fixed| compare_dpkg(fixed, &upgrade.candidate).is_le())
            })
            .collect();
        let covered: BTreeSet<&str> = covering.iter().flat_map(|f| finding_cves(f)).collect();
        let cves: Vec<String> = upgrade
            .cves
            .iter()
            .flatten()
            .filter(|c| !covered.contains(c.as_str()))
            .cloned()
            .collect();
        if !covering.is_empty() && cves.is_empty() {
            return None;
        }
        let kind = if upgrade.security {
            FixKind::Security
        } else {
            non_security_kind(upgrade)
        };
        let advisory = advisory_id(upgrade);
        let evidence = self.upgrade_evidence(advisory, kind, cves, context);
        let (classification, deadline) = context.classify(&evidence);
        let installed = packages.iter().find(|p| p.name == upgrade.binary);
        let mut reasons = classification.reasons;
        reasons.push(offered_by(upgrade));
        Some(Finding {
            binary: upgrade.binary.clone(),
            installed: upgrade.installed.clone(),
            package: installed.map_or(upgrade.binary.clone(), |p| p.source_name().to_owned()),
            package_version: installed
                .map_or(upgrade.installed.clone(), |p| p.source_version().to_owned()),
            advisory: evidence.advisory,
            aliases: evidence.cves,
            fixed: Some(upgrade.candidate.clone()),
            tier: classification.tier,
            deadline,
            reasons,
            summary: summary(upgrade, kind),
            published: None,
            cvss: evidence.cvss.iter().map(|c| c.score).reduce(f64::max),
            epss: evidence.epss.iter().map(|e| e.probability).reduce(f64::max),
            kev: !evidence.kev.is_empty(),
        })
    }

    fn upgrade_evidence(
        &self,
        advisory: String,
        kind: FixKind,
        cves: Vec<String>,
        context: &ScanContext<'_>,
    ) -> Evidence {
        let signals = self.cve_signals(&cves);
        Evidence {
            advisory,
            kind,
            cvss: signals.cvss,
            distro_severity: None,
            kev: signals.kev,
            epss: signals.epss,
            emergency: Vec::new(),
            critical_fix: None,
            published: None,
            first_seen: context.first_seen,
            cves,
        }
    }
}

/// The advisory id of an upgrade's finding: `<suite>/<candidate>`.
fn advisory_id(upgrade: &Upgrade) -> String {
    format!("{}/{}", upgrade.suite, upgrade.candidate)
}

fn offered_by(upgrade: &Upgrade) -> String {
    let cves = match &upgrade.cves {
        Some(cves) if !cves.is_empty() => format!(", its changelog names {}", cves.join(", ")),
        Some(_) => ", its changelog names no CVE".to_owned(),
        None => String::new(),
    };
    format!(
        "{} {} offered by {} ({}){cves}",
        upgrade.binary, upgrade.candidate, upgrade.suite, upgrade.label
    )
}

fn summary(upgrade: &Upgrade, kind: FixKind) -> String {
    let what = match kind {
        FixKind::Security => "security update",
        FixKind::Bugfix => "bug-fix update",
        FixKind::Enhancement => "enhancement",
    };
    format!(
        "pending {what} {} → {} from {}",
        upgrade.installed, upgrade.candidate, upgrade.suite
    )
}
