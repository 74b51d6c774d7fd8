//! What the agent reports: this machine's inventory (pw-host), the upgrades apt offers with
//! their origin and suite (`apt-get -s dist-upgrade`, read-only), and the reboot flag.
//! Runs blocking commands: call from `spawn_blocking`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use pw_host::{LocalRunner, Runner, apt, changelogs};
use pw_protocol::{InventoryReport, PROTOCOL_VERSION, PendingUpdate};

/// This machine's host name (kernel's, else /etc/hostname, else `localhost`).
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// How long one report may spend downloading candidate packages for their changelogs; the rest
/// follow in the next reports (the cache keeps what was read).
pub const DOWNLOAD_BUDGET: Duration = Duration::from_secs(20);

/// Collects the full report with the agent's `labels`. Pending updates are `None` when apt is
/// not there or failed (logged): the controller then shows advisory findings only. On
/// Debian/Ubuntu the report carries the changelog evidence (installed history; the CVEs of the
/// candidates read so far, cached in `changelog_cache`); the flag is true when candidates are
/// left for a later report.
pub fn collect_inventory(
    labels: BTreeMap<String, String>,
    changelog_cache: &Path,
) -> anyhow::Result<(InventoryReport, bool)> {
    let os = pw_host::read_local_os()?;
    let inventory = pw_host::read_local_inventory(&os)?;
    for problem in inventory.problem_messages().iter().take(5) {
        tracing::warn!(problem = %problem, "inventory problem");
    }
    let dpkg = os.scheme() == pw_version::Scheme::Dpkg;
    let runner = LocalRunner;
    let pending = if dpkg { pending_updates(&runner) } else { None };
    let (pending, backport_history, more) = if dpkg {
        changelog_evidence(&inventory.packages, pending, changelog_cache)
    } else {
        (None, None, false)
    };
    let reboot = if dpkg {
        apt::reboot_required(&runner).unwrap_or_else(|error| {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot tell whether a reboot is required"
            );
            None
        })
    } else {
        None
    };
    let report = InventoryReport {
        protocol_version: PROTOCOL_VERSION,
        hostname: hostname(),
        os: os.to_string(),
        packages: inventory.packages,
        pending_updates: pending,
        reboot_required: reboot.is_some(),
        reboot_required_by: reboot.unwrap_or_default(),
        collected_at: Timestamp::now(),
        labels: Some(labels),
        backport_history,
        restart: dpkg.then(|| crate::restart::collect_status(&runner)),
    };
    Ok((report, more))
}

type Evidence = (
    Option<Vec<PendingUpdate>>,
    Option<BTreeMap<String, Vec<String>>>,
    bool,
);

/// The installed changelogs' history and the candidates' CVEs (pw-host `changelogs`).
fn changelog_evidence(
    packages: &[pw_model::InstalledPackage],
    pending: Option<Vec<apt::PendingUpdate>>,
    cache: &Path,
) -> Evidence {
    let history = changelogs::installed_history(Path::new(changelogs::DOC_ROOT), packages);
    let history: BTreeMap<String, Vec<String>> = history
        .cves
        .into_iter()
        .map(|(binary, cves)| (binary, cves.into_iter().collect()))
        .collect();
    let Some(pending) = pending else {
        return (None, Some(history), false);
    };
    let queries = changelogs::CandidateQuery::for_pending(&pending, packages);
    let news =
        changelogs::candidate_news(cache, &queries, DOWNLOAD_BUDGET).unwrap_or_else(|error| {
            tracing::warn!(
                error = format!("{error:#}"),
                "candidate changelogs not read"
            );
            changelogs::CandidateNews::default()
        });
    let updates = pending
        .into_iter()
        .map(|u| {
            let origin = u.origins.first();
            let cves = news
                .cves
                .get(&(u.package.to_string(), u.candidate.clone()))
                .cloned();
            PendingUpdate {
                package: u.package.to_string(),
                arch: u.architecture,
                from_version: u.installed,
                to_version: u.candidate,
                origin: origin.map(|o| o.label.clone()).unwrap_or_default(),
                suite: origin.map(|o| o.suite.clone()).unwrap_or_default(),
                cves,
            }
        })
        .collect();
    (Some(updates), Some(history), !news.complete)
}

fn pending_updates(runner: &dyn Runner) -> Option<Vec<apt::PendingUpdate>> {
    match apt::pending_updates(runner) {
        Ok(updates) => Some(updates),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "cannot list pending updates");
            None
        }
    }
}
