//! `scan --local` on Debian/Ubuntu: this machine's changelog evidence and pending upgrades
//! (issue 11). Findings whose CVEs the installed changelog names are fixed by a backport and
//! leave the pending list; every upgrade apt offers is ranked (pw-scan's `upgrade_findings`),
//! with the CVEs its candidate changelog names when the .deb could be read.

use std::path::Path;
use std::time::Duration;

use pw_host::changelogs::{self, CandidateQuery, DOC_ROOT};
use pw_host::{LocalRunner, apt};
use pw_model::{Finding, InstalledPackage};
use pw_scan::{Backported, Intelligence, ScanContext, Upgrade, split_backported};

/// How long a scan may spend downloading candidate packages for their changelogs.
pub const DOWNLOAD_BUDGET: Duration = Duration::from_secs(180);

/// The evidence of this machine.
pub struct LocalEvidence {
    pub history: changelogs::InstalledHistory,
    pub upgrades: Vec<Upgrade>,
}

/// Reads the installed changelogs, the pending upgrades (`apt-get -s dist-upgrade`) and, when
/// `cache_dir` is given, the candidates' changelogs.
pub fn collect(packages: &[InstalledPackage], cache_dir: Option<&Path>) -> LocalEvidence {
    let history = changelogs::installed_history(Path::new(DOC_ROOT), packages);
    let pending = match apt::pending_updates(&LocalRunner) {
        Ok(pending) => pending,
        Err(error) => {
            eprintln!("warning: cannot list pending upgrades: {error:#}");
            Vec::new()
        }
    };
    let queries = CandidateQuery::for_pending(&pending, packages);
    let news = match cache_dir {
        Some(dir) => match changelogs::candidate_news(dir, &queries, DOWNLOAD_BUDGET) {
            Ok(news) => {
                if !news.complete {
                    eprintln!(
                        "warning: candidate changelogs: time budget spent, the next scan carries on"
                    );
                }
                news.cves
            }
            Err(error) => {
                eprintln!("warning: candidate changelogs not read: {error:#}");
                Default::default()
            }
        },
        None => Default::default(),
    };
    let upgrades = pending
        .iter()
        .map(|u| {
            let origin = u.origins.first();
            Upgrade {
                binary: u.package.to_string(),
                installed: u.installed.clone(),
                candidate: u.candidate.clone(),
                suite: origin.map(|o| o.suite.clone()).unwrap_or_default(),
                label: origin.map(|o| o.label.clone()).unwrap_or_default(),
                security: u.is_security(),
                cves: news
                    .get(&(u.package.to_string(), u.candidate.clone()))
                    .cloned(),
            }
        })
        .collect();
    LocalEvidence { history, upgrades }
}

/// Applies the evidence: backported findings out, pending upgrades ranked in.
pub fn apply(
    intelligence: &Intelligence,
    findings: Vec<Finding>,
    evidence: &LocalEvidence,
    packages: &[InstalledPackage],
    context: &ScanContext<'_>,
) -> (Vec<Finding>, Vec<Backported>) {
    let (mut pending, backported) = split_backported(findings, &evidence.history.cves);
    let upgrades =
        intelligence.upgrade_findings(&evidence.upgrades, packages, &pending, context, &|_, _| {
            None
        });
    pending.extend(upgrades);
    pw_scan::sort_findings(&mut pending);
    (pending, backported)
}
