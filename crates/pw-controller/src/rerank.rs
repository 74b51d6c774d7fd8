//! Ranking again after a feed import (`patchwarden feeds import|sync` while the controller
//! runs; another process, so the controller looks for new imports every [`IMPORT_CHECK`] — one
//! indexed query). What an import changed is stored with it (pw-store's `ImportChanges`: the
//! package names and CVE ids of the records it inserted or replaced), and a host is scanned
//! again only when the import can change its ranking ([`Affected::touches`]):
//!
//! - a finding of a matched advisory comes from the advisories of the host's package (by
//!   binary or source name: OSV records name either), so a record of another package cannot
//!   add, remove or change it — its CVSS, severity, dates and aliases are its own advisories';
//! - a pending upgrade's finding reads the CVSS of the CVEs its changelog names from every
//!   advisory naming them, and the ranked findings of its own binary;
//! - KEV and EPSS runs, and the first advisories stored (scans leave the built-in snapshot),
//!   are unbounded: every host is scanned again.
//!
//! A host the import cannot touch keeps its stored ranking; pw-server's `tests/it/rerank.rs`
//! checks both sides on a running controller, and pw-controller's `tests/rerank_part.rs` and
//! `rerank_whole.rs` compare a re-rank in part with a whole scan through every reader. At start every host is queued (imports made while
//! the controller was down).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use foldhash::HashSet;
use pw_model::InstalledPackage;
use pw_scan::Upgrade;
use pw_store::ImportChanges;
use tokio::sync::watch;

use crate::scan_queue::{ScanQueue, Scope};

/// How often the controller looks for a new feed import.
pub const IMPORT_CHECK: Duration = Duration::from_millis(250);

/// What one or more imports changed, as a host's packages are compared with it: package names
/// in lower case, CVE ids in upper case, and the changed records' ids (`None`: not known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affected {
    packages: HashSet<String>,
    cves: HashSet<String>,
    advisories: Option<HashSet<String>>,
}

impl Affected {
    pub fn new(changes: &ImportChanges) -> Affected {
        Affected {
            packages: changes.packages.iter().map(|p| p.to_lowercase()).collect(),
            cves: changes.cves.iter().map(|c| c.to_uppercase()).collect(),
            advisories: (changes.advisories.as_ref())
                .map(|ids| ids.iter().map(|id| id.trim().to_owned()).collect()),
        }
    }

    /// Both changes at once.
    pub fn merged(&self, other: &Affected) -> Affected {
        let advisories = match (&self.advisories, &other.advisories) {
            (Some(these), Some(those)) => Some(these.union(those).cloned().collect()),
            _ => None,
        };
        Affected {
            packages: self.packages.union(&other.packages).cloned().collect(),
            cves: self.cves.union(&other.cves).cloned().collect(),
            advisories,
        }
    }

    /// The ids the changed records name: theirs and every CVE id in them (`None`: the records
    /// are not known, only their packages and CVEs). A finding none of whose ids is one of
    /// these, nor merged with or ranked against one that is, has not changed
    /// (`rerank_advisories.rs`).
    pub fn ids(&self) -> Option<impl Iterator<Item = &str>> {
        let advisories = self.advisories.as_ref()?;
        Some(advisories.iter().chain(&self.cves).map(String::as_str))
    }

    /// Whether the import changed records of the package `name` (a binary or source name).
    pub fn names(&self, name: &str) -> bool {
        // Lower-cased only when it has an upper-case letter (Debian's names have none): a host's
        // ~1,500 packages are looked up for every import.
        match name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
            true => self.packages.contains(&name.to_lowercase()),
            false => self.packages.contains(name),
        }
    }

    /// Whether the import changed records of an installed package by its binary or source name.
    pub fn names_package(&self, name: &str, source: Option<&str>) -> bool {
        self.names(name) || source.is_some_and(|source| self.names(source))
    }

    /// Whether the ranking of a host with these packages and pending upgrades can change.
    pub fn touches(&self, packages: &[InstalledPackage], upgrades: &[Upgrade]) -> bool {
        !self.binaries(packages, upgrades).is_empty()
    }

    /// The binaries among a host's `packages` and pending `upgrades` whose findings can
    /// change: packages named (binary or source name), upgrades of a binary named or naming a
    /// CVE changed. The host's other findings cannot (`rerank_scan.rs`).
    pub fn binaries(
        &self,
        packages: &[InstalledPackage],
        upgrades: &[Upgrade],
    ) -> BTreeSet<String> {
        let packages = (packages.iter())
            .filter(|p| self.names_package(&p.name, p.source.as_deref()))
            .map(|p| p.name.clone());
        let upgrades = (upgrades.iter())
            .filter(|u| {
                self.names(&u.binary)
                    || (u.cves.iter().flatten()).any(|c| self.cves.contains(&c.to_uppercase()))
            })
            .map(|u| u.binary.clone());
        packages.chain(upgrades).collect()
    }
}

/// Queues every host once at start and, after each new feed import, the hosts it can change.
pub async fn on_import(
    controller: crate::Controller,
    queue: Arc<ScanQueue>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = controller.store.clone();
    // `Some(last import seen)`; `None`: not checked since the start.
    let mut seen: Option<Option<i64>> = None;
    loop {
        match queue_since(&store, &queue, seen).await {
            Ok((last, hosts)) => {
                if seen.is_some() && seen != Some(last) {
                    tracing::info!(
                        import = last,
                        hosts,
                        "new feed import: ranking the hosts it can change again"
                    );
                }
                if let Some(id) = last {
                    controller.observer().feed_import_queued(id);
                }
                seen = Some(last);
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "cannot rank after feed imports"
                )
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(IMPORT_CHECK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Queues what the imports after `seen` need; the last import and how many hosts were queued.
async fn queue_since(
    store: &pw_store::Store,
    queue: &ScanQueue,
    seen: Option<Option<i64>>,
) -> anyhow::Result<(Option<i64>, usize)> {
    let (last, scope) = match seen {
        None => (store.last_feed_import().await?, Some(Scope::Import(None))),
        Some(after) => {
            let since = store.imports_since(after).await?;
            let scope = match since.changes {
                _ if since.last == after => None,
                None => Some(Scope::Import(None)),
                Some(changes) if changes.is_empty() => None,
                Some(changes) => Some(Scope::Import(Some(Arc::new(Affected::new(&changes))))),
            };
            (since.last, scope)
        }
    };
    let Some(scope) = scope else {
        return Ok((last, 0));
    };
    let queued = crate::scan_queue::queue_every_host(store, queue, scope).await?;
    Ok((last, queued))
}

#[cfg(test)]
mod tests {
    use pw_model::InstalledPackage;
    use pw_scan::Upgrade;
    use pw_store::ImportChanges;

    use super::Affected;

    fn package(name: &str, source: Option<&str>) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: "1.0-1".into(),
            arch: "amd64".into(),
            source: source.map(str::to_owned),
            source_version: None,
        }
    }

    fn upgrade(binary: &str, cves: Option<Vec<&str>>) -> Upgrade {
        Upgrade {
            binary: binary.into(),
            installed: "1.0-1".into(),
            candidate: "1.0-2".into(),
            suite: "bookworm-security".into(),
            label: "Debian-Security".into(),
            security: true,
            cves: cves.map(|c| c.into_iter().map(str::to_owned).collect()),
        }
    }

    #[test]
    fn a_host_is_touched_by_its_packages_names_or_its_upgrades_cves() {
        let changes = ImportChanges {
            packages: ["OpenSSL".to_owned()].into(),
            cves: ["CVE-2024-0001".to_owned()].into(),
            advisories: None,
        };
        let affected = Affected::new(&changes);
        let by_source = [package("libssl3", Some("openssl"))];
        let by_name = [package("openssl", None)];
        let other = [package("zlib1g", Some("zlib"))];
        assert!(affected.touches(&by_source, &[]));
        assert!(affected.touches(&by_name, &[]));
        assert!(!affected.touches(&other, &[]));
        assert!(!affected.touches(&other, &[upgrade("zlib1g", Some(vec!["CVE-2024-0002"]))]));
        assert!(affected.touches(&other, &[upgrade("zlib1g", Some(vec!["cve-2024-0001"]))]));
        assert!(affected.touches(&other, &[upgrade("openssl", None)]));
        let host = [by_source[0].clone(), by_name[0].clone(), other[0].clone()];
        let upgrades = [
            upgrade("zlib1g", Some(vec!["CVE-2024-0001"])),
            upgrade("bash", None),
        ];
        let binaries: Vec<String> = affected.binaries(&host, &upgrades).into_iter().collect();
        assert_eq!(binaries, ["libssl3", "openssl", "zlib1g"]);
        let more = affected.merged(&Affected::new(&ImportChanges {
            packages: ["zlib".to_owned()].into(),
            cves: Default::default(),
            advisories: None,
        }));
        assert!(more.touches(&other, &[]));
    }
}
