//! The simulated hosts' inventories: a pool of distinct hosts from pw-bench's synthetic fleet
//! (the 747 packages of a real Debian 12 machine plus real `main` packages, versions perturbed
//! as on a fleet that lags behind), parsed with the agent's own dpkg status parser, so ten
//! thousand agents cost a pool, not ten thousand copies. Agent `i` reports pool entry
//! `i % pool size`, shifted by one per changed round; a small-change round upgrades a few more
//! packages of the entry (as a daily upgrade does). Each state's content and digest are
//! pw-protocol's (`InventoryContent`), computed once per state and shared.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use pw_bench::fleet::{Corpus, Shape};
use pw_protocol::InventoryContent;

/// What one simulated host reports in one round: pool entry and small-change rounds applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostState {
    pub entry: usize,
    pub upgrades: u32,
}

/// One state's content, ready to send: its digest and the `packages` array of a full report.
pub struct Inventory {
    pub content: InventoryContent,
    pub digest: String,
    packages_json: String,
}

pub struct InventoryPool {
    entries: Vec<Arc<Inventory>>,
    /// Installed version per package name of each entry (what a simulated change records).
    versions: Vec<HashMap<String, String>>,
    /// Packages changed per small-change round.
    upgrade_size: usize,
    upgraded: Mutex<HashMap<HostState, Arc<Inventory>>>,
    deltas: Mutex<DeltaCache>,
}

type DeltaCache = HashMap<(HostState, HostState), Arc<pw_protocol::ContentDelta>>;

impl Inventory {
    fn new(content: InventoryContent) -> anyhow::Result<Inventory> {
        let digest = content.digest();
        let packages: Vec<_> = content.packages().collect();
        Ok(Inventory {
            packages_json: serde_json::to_string(&packages)?,
            digest,
            content,
        })
    }

    pub fn count(&self) -> usize {
        self.content.package_count()
    }

    /// An `InventoryReport` body (protocol version 1) for `hostname`, collected `now`. Pending
    /// updates are `null` (the agent did not look): the controller ranks advisory findings.
    pub fn report_body(&self, hostname: &str, now: jiff::Timestamp) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.packages_json.len() + 256);
        body.extend_from_slice(b"{\"protocol_version\":1,\"hostname\":");
        body.extend_from_slice(
            serde_json::to_string(hostname)
                .unwrap_or_default()
                .as_bytes(),
        );
        body.extend_from_slice(b",\"os\":\"debian:12\",\"packages\":");
        body.extend_from_slice(self.packages_json.as_bytes());
        body.extend_from_slice(b",\"pending_updates\":null,\"reboot_required\":false,");
        body.extend_from_slice(format!("\"collected_at\":\"{now}\"}}").as_bytes());
        body
    }
}

impl InventoryPool {
    /// `distinct` hosts of `packages` packages each from the shared data in `data_dir`;
    /// `upgrade_size` packages change per small-change round.
    pub fn build(
        data_dir: &Path,
        (packages, distinct): (usize, usize),
        upgrade_size: usize,
    ) -> anyhow::Result<Self> {
        let corpus = Corpus::load(data_dir)
            .with_context(|| format!("loading the package lists from {}", data_dir.display()))?;
        let shape = Shape {
            packages,
            ..Shape::default()
        };
        let mut entries = Vec::new();
        let mut versions = Vec::new();
        for host in 0..distinct.max(1) as u64 {
            let status = corpus.host_status(&shape, host);
            let inventory = pw_inventory::parse_dpkg_status(status.as_bytes());
            anyhow::ensure!(
                inventory.is_clean(),
                "the synthetic status of host {host} does not parse: {:?}",
                inventory.problems.first()
            );
            versions.push(
                inventory
                    .packages
                    .iter()
                    .map(|p| (p.name.clone(), p.version.clone()))
                    .collect(),
            );
            let content = InventoryContent::new(inventory.packages, None);
            entries.push(Arc::new(Inventory::new(content)?));
        }
        Ok(InventoryPool {
            entries,
            versions,
            upgrade_size,
            upgraded: Mutex::default(),
            deltas: Mutex::default(),
        })
    }

    pub fn packages_per_host(&self) -> usize {
        self.entries[0].count()
    }

    /// The inventory of `state` (an upgraded one built once, then shared).
    pub fn inventory(&self, state: HostState) -> anyhow::Result<Arc<Inventory>> {
        let base = &self.entries[state.entry % self.entries.len()];
        if state.upgrades == 0 {
            return Ok(base.clone());
        }
        let key = self.normal(state);
        // Built under the lock: the agents of one entry ask at once, and one build is enough.
        let mut cache = self.upgraded.lock().expect("pool lock");
        if let Some(found) = cache.get(&key) {
            return Ok(found.clone());
        }
        let built = Arc::new(Inventory::new(self.upgrade(&base.content, state.upgrades))?);
        cache.insert(key, built.clone());
        Ok(built)
    }

    /// The changes from `base` to `state` (pw-protocol's `delta_to`), computed once per pair.
    pub fn changes(
        &self,
        base: HostState,
        state: HostState,
    ) -> anyhow::Result<Arc<pw_protocol::ContentDelta>> {
        let key = (self.normal(base), self.normal(state));
        if let Some(found) = self.deltas.lock().expect("pool lock").get(&key) {
            return Ok(found.clone());
        }
        let changes = Arc::new(
            self.inventory(base)?
                .content
                .delta_to(&self.inventory(state)?.content),
        );
        let mut deltas = self.deltas.lock().expect("pool lock");
        Ok(deltas.entry(key).or_insert(changes).clone())
    }

    fn normal(&self, state: HostState) -> HostState {
        HostState {
            entry: state.entry % self.entries.len(),
            ..state
        }
    }

    /// `content` after `rounds` small-change rounds: each gives `upgrade_size` other packages
    /// a newer version (`+lgN`, N the round).
    fn upgrade(&self, content: &InventoryContent, rounds: u32) -> InventoryContent {
        let (mut packages, history) = content.clone().into_parts();
        let n = packages.len().max(1);
        for round in 1..=rounds as usize {
            for j in 0..self.upgrade_size {
                let at = ((round * self.upgrade_size + j) * 97) % n;
                if let Some(package) = packages.get_mut(at) {
                    package.version = format!("{}+lg{round}", package.version);
                }
            }
        }
        InventoryContent::new(packages, history)
    }

    /// The installed version of `package` on agent `agent`'s first pool entry, if it has it.
    pub fn version(&self, agent: usize, package: &str) -> Option<&str> {
        self.versions[agent % self.versions.len()]
            .get(package)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use pw_model::InstalledPackage;
    use pw_protocol::InventoryContent;

    #[test]
    fn report_body_is_an_inventory_report_with_the_contents_digest() {
        let content = InventoryContent::new(
            vec![InstalledPackage {
                name: "bash".into(),
                version: "5.2.15-2+b2".into(),
                arch: "amd64".into(),
                source: None,
                source_version: None,
            }],
            None,
        );
        let inventory = super::Inventory::new(content).unwrap();
        let body = inventory.report_body("lg-00001", jiff::Timestamp::UNIX_EPOCH);
        let report: pw_protocol::InventoryReport = serde_json::from_slice(&body).unwrap();
        assert_eq!(report.hostname, "lg-00001");
        assert_eq!(report.packages[0].name, "bash");
        assert_eq!(report.pending_updates, None);
        assert_eq!(
            InventoryContent::of_report(&report).digest(),
            inventory.digest
        );
    }
}
