//! What the agent reports: this machine's inventory (pw-host), the upgrades apt offers with
//! their origin and suite (`apt-get -s dist-upgrade`, read-only), and the reboot flag.
//! Runs blocking commands: call from `spawn_blocking`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_host::apt;
use pw_host::{LocalRunner, Runner};
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

/// Collects the full report with the agent's `labels`. Pending updates are `None` when apt is
/// not there or failed (logged): the controller then shows advisory findings only.
pub fn collect_inventory(labels: BTreeMap<String, String>) -> anyhow::Result<InventoryReport> {
    let os = pw_host::read_local_os()?;
    let inventory = pw_host::read_local_inventory(&os)?;
    for problem in inventory.problem_messages().iter().take(5) {
        tracing::warn!(problem = %problem, "inventory problem");
    }
    let dpkg = os.scheme() == pw_version::Scheme::Dpkg;
    let runner = LocalRunner;
    let pending = if dpkg { pending_updates(&runner) } else { None };
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
    Ok(InventoryReport {
        protocol_version: PROTOCOL_VERSION,
        hostname: hostname(),
        os: os.to_string(),
        packages: inventory.packages,
        pending_updates: pending,
        reboot_required: reboot.is_some(),
        reboot_required_by: reboot.unwrap_or_default(),
        collected_at: Timestamp::now(),
        labels: Some(labels),
    })
}

fn pending_updates(runner: &dyn Runner) -> Option<Vec<PendingUpdate>> {
    match apt::pending_updates(runner) {
        Ok(updates) => Some(
            updates
                .into_iter()
                .map(|u| {
                    let origin = u.origins.first();
                    PendingUpdate {
                        package: u.package.to_string(),
                        arch: u.architecture,
                        from_version: u.installed,
                        to_version: u.candidate,
                        origin: origin.map(|o| o.label.clone()).unwrap_or_default(),
                        suite: origin.map(|o| o.suite.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "cannot list pending updates");
            None
        }
    }
}
