//! What the scans of a group of hosts read in a statement each for the group
//! (`Store::scan_reads`) answers for every host as its own reads do: its inventory and digest,
//! its pending upgrades (none when not reported, in order), its stored ranking and basis; a
//! host without an inventory is absent. On SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::{at, enroll};
use pw_model::InstalledPackage;
use pw_store::{Backend, Computation, FindingsSnapshot, PendingRow, Store};

/// [`common::offer`] naming a CVE.
fn offer(package: &str, to: &str) -> PendingRow {
    PendingRow {
        cves: Some(format!(r#"["CVE-{to}"]"#)),
        ..common::offer(package, to)
    }
}

/// Host `n`'s inventory: its own packages and collection time.
async fn report(store: &Store, host: &str, n: usize, pending: Option<&[PendingRow]>) {
    let mut inventory = common::inventory(&format!("2026-11-0{n}T00:00:00Z"));
    inventory.packages = (0..n + 1)
        .map(|p| InstalledPackage {
            name: format!("pkg-{n}-{p}"),
            version: format!("{p}.0-1"),
            arch: "amd64".into(),
            source: None,
            source_version: None,
        })
        .collect();
    store
        .store_inventory(host, host, inventory, pending)
        .await
        .unwrap();
}

async fn rank(store: &Store, host: &str, list: &str, basis: &[u8]) {
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: at("2026-11-09T00:00:00Z"),
        computed_at: at("2026-11-10T00:00:00Z"),
        source: host,
        findings_json: list,
        tier_counts_json: "[0,0,0,0,0]",
        current: &[],
        backported: &[],
    };
    let computation = Computation {
        basis: Some(basis),
        only: None,
        texts: None,
        packed: None,
    };
    store
        .record_computation(&snapshot, &computation)
        .await
        .unwrap();
}

async fn a_groups_reads_answer_as_each_hosts_own(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let hosts: Vec<String> = (1..=5).map(|n| format!("h{n}")).collect();
    for host in &hosts {
        enroll(&store, host).await;
    }
    // h1: no pending reported, ranked; h2: pending (out of order), ranked; h3: pending
    // reported empty, not ranked; h4: pending, not ranked; h5: no inventory.
    report(&store, "h1", 1, None).await;
    let offers = [offer("zlib1g", "1.0-3"), offer("libssl3", "1.0-2")];
    report(&store, "h2", 2, Some(&offers)).await;
    report(&store, "h3", 3, Some(&[])).await;
    report(&store, "h4", 4, Some(&[offer("curl", "7.0-9")])).await;
    rank(&store, "h1", r#"[{"binary":"pkg-1-0"}]"#, &[1; 32]).await;
    rank(&store, "h2", r#"[{"binary":"pkg-2-1"}]"#, &[2; 32]).await;
    let mut asked = hosts.clone();
    asked.push("unknown".into());
    let mut reads = store.scan_reads(&asked).await.unwrap();
    assert_eq!(reads.len(), 4, "h5 and the unknown host have no inventory");
    for host in &hosts[..4] {
        let read = reads.remove(host).unwrap();
        let own = store.inventory_with_digest(host).await.unwrap().unwrap();
        let (inventory, digest) = read.inventory().unwrap();
        assert_eq!(
            (inventory.packages, digest),
            (own.0.packages, own.1),
            "{host}"
        );
        assert_eq!(inventory.facts, own.0.facts, "{host}");
        let pending = store.pending_updates(host).await.unwrap();
        assert_eq!(read.pending, pending, "{host}");
        let ranking = store.stored_ranking(host).await.unwrap();
        assert_eq!(read.ranking().unwrap(), ranking, "{host}");
        let basis = store.ranking_basis(host).await.unwrap();
        assert_eq!(read.ranking_basis().unwrap(), basis, "{host}");
    }
    // What the hosts' own reads answered, as expected (each host's, not another's).
    let mut reads = store.scan_reads(&hosts).await.unwrap();
    let h2 = reads.remove("h2").unwrap();
    let names: Vec<&str> = (h2.pending.iter().flatten())
        .map(|p| p.package.as_str())
        .collect();
    assert_eq!(names, ["libssl3", "zlib1g"], "sorted by package");
    let ranking = h2.ranking().unwrap().unwrap();
    assert_eq!(ranking.findings, r#"[{"binary":"pkg-2-1"}]"#);
    assert_eq!(
        (ranking.source.as_str(), ranking.basis),
        ("h2", Some(vec![2; 32]))
    );
    assert_eq!(h2.inventory().unwrap().0.packages.len(), 3);
    assert_eq!(reads["h1"].pending, None);
    assert_eq!(reads["h3"].pending, Some(Vec::new()));
    assert_eq!(reads["h3"].ranking().unwrap(), None);
    assert_eq!(reads["h4"].pending.as_ref().map(Vec::len), Some(1));
}

on_both_backends!(a_groups_reads_answer_as_each_hosts_own);
