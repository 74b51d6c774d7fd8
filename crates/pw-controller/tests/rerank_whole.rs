//! A feed import's re-rank scans a host whole (`rerank_scan.rs`) when the stored ranking is not
//! the host's now (a changed inventory, a forgotten basis) or the import's binaries hold most of
//! its findings — decided before the stored list is read. On SQLite and PostgreSQL, on the
//! fleet of `rerank_fleet`.

mod rerank_fleet;

use pw_controller::findings::{IntelligenceCache, Scanned, Why, scan_stored};
use pw_controller::rerank::Affected;
use pw_store::{Backend, Computation, CurrentFinding, FindingsSnapshot, Store};
use rerank_fleet::{Path, at, fleet, inventory};

async fn a_changed_inventory_or_a_forgotten_basis_is_scanned_whole(backend: Backend) {
    let (_dir, store, _) = fleet(backend, Path::Part).await;
    let cache = IntelligenceCache::new(store.clone());
    let affected = Affected::new(&pw_store::ImportChanges {
        packages: ["bash".to_owned()].into(),
        cves: Default::default(),
        advisories: None,
    });
    let why = Why::Import(Some(&affected));
    let scan = async |host: &str, now: &str| {
        scan_stored(&cache, &store, host, at(now), why)
            .await
            .unwrap()
    };
    // Nothing changed since the last ranking: the same list, nothing written, whether in part
    // or whole (host-3 has no backported finding, which a whole scan writes).
    assert!(matches!(
        scan("host-3", "2026-03-06T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
    store.forget_ranking_basis("host-3").await.unwrap();
    assert!(matches!(
        scan("host-3", "2026-03-06T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
    assert!(matches!(
        scan("host-0", "2026-03-06T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
    store.forget_ranking_basis("host-0").await.unwrap();
    assert!(matches!(
        scan("host-0", "2026-03-06T00:00:00Z").await,
        Scanned::Stored(..)
    ));
    // A new inventory not yet scanned: its stored ranking is an older inventory's.
    let (mut row, upgrades) = inventory(1);
    row.facts.collected_at = at("2026-03-06T00:00:00Z");
    row.packages.retain(|p| p.name != "curl");
    store
        .store_inventory("host-1", "web-1", row, Some(&upgrades))
        .await
        .unwrap();
    assert!(matches!(
        scan("host-1", "2026-03-07T00:00:00Z").await,
        Scanned::Stored(..)
    ));
    let list = store.findings("host-1").await.unwrap().unwrap().findings;
    assert!(!list.contains(r#""binary":"curl""#), "{list}");
    // Ranked whole, its basis is the new inventory's: the next re-rank is partial again.
    assert!(matches!(
        scan("host-1", "2026-03-08T00:00:00Z").await,
        Scanned::Unchanged(_)
    ));
}

/// The host's stored list replaced by one that cannot be read as findings, its open findings,
/// tier counts and basis kept (returned: how many findings, and how many of `binaries`).
async fn spoil_list(store: &Store, host: &str, binaries: &[&str]) -> (usize, usize) {
    let stored = store.stored_ranking(host).await.unwrap().unwrap();
    let findings: Vec<pw_model::Finding> = serde_json::from_str(&stored.findings).unwrap();
    let current: Vec<CurrentFinding> = (findings.iter())
        .map(|f| CurrentFinding::of(f).unwrap())
        .collect();
    let tiers = pw_controller::findings::tier_counts(&findings);
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: at("2026-02-01T00:00:00Z"),
        computed_at: at("2026-03-05T12:00:00Z"),
        source: &stored.source,
        findings_json: r#"[{"binary":1}]"#,
        tier_counts_json: &serde_json::to_string(&tiers).unwrap(),
        current: &current,
        backported: &[],
    };
    let kept = Computation {
        basis: stored.basis.as_deref(),
        only: None,
        texts: None,
        packed: None,
    };
    store.record_computation(&snapshot, &kept).await.unwrap();
    let of = findings
        .iter()
        .filter(|f| binaries.contains(&f.binary.as_str()));
    (findings.len(), of.count())
}

/// A host whose stored findings are mostly of the import's binaries is scanned whole, and that
/// is decided before its stored list is read: an unreadable list fails a re-rank in part (which
/// splices it), not a host scanned whole (which only compares it).
async fn a_host_mostly_of_the_import_is_scanned_whole_without_its_list(backend: Backend) {
    let (_dir, store, _) = fleet(backend, Path::Part).await;
    let cache = IntelligenceCache::new(store.clone());
    let most = [
        "libssl3",
        "openssl",
        "bash",
        "tar",
        "git",
        "git-man",
        "coreutils",
    ];
    let (all, touched) = spoil_list(&store, "host-0", &most).await;
    assert!(touched * 4 > all * 3, "{touched} of {all}");
    let (all, touched) = spoil_list(&store, "host-2", &["sudo"]).await;
    assert!(touched * 4 <= all * 3, "{touched} of {all}");
    let affected = |packages: &[&str]| {
        Affected::new(&pw_store::ImportChanges {
            packages: packages.iter().map(|p| (*p).to_owned()).collect(),
            cves: Default::default(),
            advisories: None,
        })
    };
    let (most, few) = (
        affected(&["openssl", "bash", "tar", "git", "coreutils"]),
        affected(&["sudo"]),
    );
    let now = at("2026-03-06T00:00:00Z");
    let whole = scan_stored(&cache, &store, "host-0", now, Why::Import(Some(&most))).await;
    assert!(matches!(whole, Ok(Scanned::Stored(..))), "{whole:?}");
    let list = store.findings("host-0").await.unwrap().unwrap().findings;
    assert!(
        list.contains(r#""binary":"sudo""#),
        "ranked whole again: {list}"
    );
    let part = scan_stored(&cache, &store, "host-2", now, Why::Import(Some(&few))).await;
    assert!(part.is_err(), "the list is spliced in part: {part:?}");
}

mod sqlite {
    use pw_store::Backend::Sqlite;

    #[tokio::test]
    async fn a_host_mostly_of_the_import_is_scanned_whole_without_its_list() {
        super::a_host_mostly_of_the_import_is_scanned_whole_without_its_list(Sqlite).await
    }

    #[tokio::test]
    async fn a_changed_inventory_or_a_forgotten_basis_is_scanned_whole() {
        super::a_changed_inventory_or_a_forgotten_basis_is_scanned_whole(Sqlite).await
    }
}

mod postgres {
    use pw_store::Backend::Postgres;

    #[tokio::test]
    async fn a_host_mostly_of_the_import_is_scanned_whole_without_its_list() {
        super::a_host_mostly_of_the_import_is_scanned_whole_without_its_list(Postgres).await
    }

    #[tokio::test]
    async fn a_changed_inventory_or_a_forgotten_basis_is_scanned_whole() {
        super::a_changed_inventory_or_a_forgotten_basis_is_scanned_whole(Postgres).await
    }
}
