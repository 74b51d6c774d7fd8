//! The simulated hosts' inventories: a pool of distinct hosts from pw-bench's synthetic fleet
//! (the 747 packages of a real Debian 12 machine plus real `main` packages, versions perturbed
//! as on a fleet that lags behind), parsed with the agent's own dpkg status parser and kept as
//! JSON, so ten thousand agents cost a pool, not ten thousand copies. Agent `i` reports pool
//! entry `i % pool size`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use pw_bench::fleet::{Corpus, Shape};

/// One distinct host's packages, ready to send.
pub struct PoolEntry {
    /// The `packages` array of an `InventoryReport`, serialized once.
    packages_json: String,
    pub count: usize,
    /// Installed version per package name (what a simulated change records before installing).
    versions: HashMap<String, String>,
}

pub struct InventoryPool {
    entries: Vec<PoolEntry>,
}

impl InventoryPool {
    /// `distinct` hosts of `packages` packages each from the shared data in `data_dir`.
    pub fn build(data_dir: &Path, packages: usize, distinct: usize) -> anyhow::Result<Self> {
        let corpus = Corpus::load(data_dir)
            .with_context(|| format!("loading the package lists from {}", data_dir.display()))?;
        let shape = Shape {
            packages,
            ..Shape::default()
        };
        let entries = (0..distinct.max(1) as u64)
            .map(|host| {
                let status = corpus.host_status(&shape, host);
                let inventory = pw_inventory::parse_dpkg_status(status.as_bytes());
                anyhow::ensure!(
                    inventory.is_clean(),
                    "the synthetic status of host {host} does not parse: {:?}",
                    inventory.problems.first()
                );
                let versions = inventory
                    .packages
                    .iter()
                    .map(|p| (p.name.clone(), p.version.clone()))
                    .collect();
                Ok(PoolEntry {
                    packages_json: serde_json::to_string(&inventory.packages)?,
                    count: inventory.packages.len(),
                    versions,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(InventoryPool { entries })
    }

    pub fn entry(&self, agent: usize) -> &PoolEntry {
        &self.entries[agent % self.entries.len()]
    }
}

impl PoolEntry {
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

    /// The installed version of `package`, if the host has it.
    pub fn version(&self, package: &str) -> Option<&str> {
        self.versions.get(package).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn report_body_is_an_inventory_report() {
        let entry = super::PoolEntry {
            packages_json: r#"[{"name":"bash","version":"5.2.15-2+b2","arch":"amd64"}]"#.into(),
            count: 1,
            versions: Default::default(),
        };
        let body = entry.report_body("lg-00001", jiff::Timestamp::UNIX_EPOCH);
        let report: pw_protocol::InventoryReport = serde_json::from_slice(&body).unwrap();
        assert_eq!(report.hostname, "lg-00001");
        assert_eq!(report.packages[0].name, "bash");
        assert_eq!(report.pending_updates, None);
    }
}
