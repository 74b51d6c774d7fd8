//! A downgrade's vulnerability re-scan for its change report (seed 003's post-verify,
//! docs/downgrade.md): the plan's prediction (`reintroduced`) and, per host, what the
//! controller's last scan of the host holds for the change's packages — the findings open
//! now with the first sight of their open episode, the versions of the inventory scanned, and
//! when. pw-report compares them (`change/rescan.rs`); nothing is decided here.

use std::collections::BTreeMap;

use pw_model::{Finding, InstalledPackage};
use pw_report::{HostRescan, OpenAdvisory, PredictedAdvisory};
use pw_store::{Store, StoredPlan};

use crate::Refusal;

/// A stored downgrade plan's prediction, per host (empty for other plans).
pub fn predicted(stored: &StoredPlan) -> Result<Vec<PredictedAdvisory>, Refusal> {
    Ok(crate::plans::reintroduced(stored)?
        .into_iter()
        .map(|r| PredictedAdvisory {
            host_id: r.host,
            binary: r.binary,
            target: r.target,
            advisory: r.advisory,
            aliases: r.aliases,
            tier: r.tier,
        })
        .collect())
}

/// The host's last scan for `packages` (`None`: no inventory or no scan stored yet).
pub async fn host_rescan(
    store: &Store,
    host_id: &str,
    packages: &[String],
) -> Result<Option<HostRescan>, Refusal> {
    let (Some(inventory), Some(findings)) = (
        store.inventory(host_id).await?,
        store.findings_of(&[host_id]).await?.remove(host_id),
    ) else {
        return Ok(None);
    };
    let unreadable = |what: &str, e: serde_json::Error| {
        anyhow::anyhow!("host {host_id}: the stored {what} does not read: {e}")
    };
    let installed: Vec<InstalledPackage> = inventory.packages;
    let found: Vec<Finding> =
        serde_json::from_str(&findings.findings).map_err(|e| unreadable("findings", e))?;
    let first_seen: BTreeMap<(String, String), jiff::Timestamp> = store
        .open_episodes(Some(host_id))
        .await?
        .into_iter()
        .map(|e| ((e.binary, e.advisory), e.first_seen))
        .collect();
    let open = found
        .into_iter()
        .filter(|f| packages.contains(&f.binary))
        .map(|f| OpenAdvisory {
            first_seen: first_seen
                .get(&(f.binary.clone(), f.advisory.clone()))
                .copied(),
            binary: f.binary,
            installed: f.installed,
            advisory: f.advisory,
            aliases: f.aliases,
            tier: f.tier.to_string(),
        })
        .collect();
    Ok(Some(HostRescan {
        scanned_at: findings.computed_at,
        inventory_at: inventory.facts.collected_at,
        installed: packages
            .iter()
            .map(|name| {
                let version = installed.iter().find(|p| &p.name == name);
                (name.clone(), version.map(|p| p.version.clone()))
            })
            .collect(),
        open,
    }))
}
