//! A computation of part of a host and the stored ranking's basis (migration 0042) on SQLite
//! and PostgreSQL: a ranking written before the migration reads the same with no basis; a
//! computation stores its basis and a failed re-rank forgets it; a computation of some binaries
//! compares, writes and closes only their open findings, and their first sights are read alone.

use pw_store::{
    Backend, Computation, Covered, CurrentFinding, FindingsSnapshot, HistoryChange, Recorded, Store,
};

#[macro_use]
mod common;

use common::{at, store_with_host};

/// The migration before the basis.
const BEFORE: i64 = 41;

fn finding(binary: &str, advisory: &str, tier: u8) -> CurrentFinding {
    CurrentFinding {
        binary: binary.into(),
        advisory: advisory.into(),
        tier,
        deadline: Some(at("2026-02-01T00:00:00Z")),
        json: format!(r#"{{"binary":"{binary}","advisory":"{advisory}","tier":"T{tier}"}}"#),
    }
}

async fn record(
    store: &Store,
    computed_at: &str,
    current: &[CurrentFinding],
    computation: Computation<'_>,
) -> Recorded {
    let snapshot = FindingsSnapshot {
        host_id: "h1",
        inventory_collected_at: at("2026-01-02T00:00:00Z"),
        computed_at: at(computed_at),
        source: "test",
        findings_json: "[]",
        tier_counts_json: "[0,0,0,0,0]",
        current,
        backported: &[],
    };
    store
        .record_computation(&snapshot, &computation)
        .await
        .unwrap()
}

/// Host h1's history: binary, advisory, tier, whether fixed.
async fn shown(store: &Store) -> Vec<(String, String, u8, bool)> {
    let history = store.finding_history("h1").await.unwrap();
    (history.into_iter())
        .map(|r| (r.binary, r.advisory, r.tier, r.fixed_at.is_some()))
        .collect()
}

fn owned(rows: &[(&str, &str, u8, bool)]) -> Vec<(String, String, u8, bool)> {
    (rows.iter())
        .map(|(b, a, tier, fixed)| ((*b).to_owned(), (*a).to_owned(), *tier, *fixed))
        .collect()
}

async fn a_ranking_from_before_has_no_basis(backend: Backend) {
    let (_dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, BEFORE).await;
    common::insert_host_computed(&pool, "h1", "web-1", "2026-01-02T00:01:00Z").await;
    pool.close().await;
    let store = Store::connect(&url).await.unwrap();
    let stored = store.stored_ranking("h1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.findings.as_str(),
            stored.source.as_str(),
            stored.basis
        ),
        ("[]", "test", None)
    );
    assert_eq!(store.stored_ranking("h2").await.unwrap(), None);
}

async fn the_basis_is_stored_and_forgotten(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let basis = Computation {
        basis: Some(&[7; 32][..]),
        only: None,
        texts: None,
        packed: None,
    };
    record(&store, "2026-01-02T00:01:00Z", &[], basis).await;
    let stored = store.stored_ranking("h1").await.unwrap().unwrap();
    assert_eq!(stored.basis, Some(vec![7; 32]));
    store.forget_ranking_basis("h1").await.unwrap();
    let stored = store.stored_ranking("h1").await.unwrap().unwrap();
    assert_eq!(stored.basis, None);
    // A computation without a basis leaves none.
    record(&store, "2026-01-02T00:02:00Z", &[], basis).await;
    record(&store, "2026-01-02T00:03:00Z", &[], Computation::default()).await;
    assert_eq!(
        store.stored_ranking("h1").await.unwrap().unwrap().basis,
        None
    );
}

async fn a_computation_of_some_binaries_keeps_the_others(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let all = [
        finding("curl", "CVE-1", 1),
        finding("libcurl4", "CVE-1", 1),
        finding("bash", "CVE-2", 3),
        finding("zlib1g", "CVE-3", 3),
    ];
    record(&store, "2026-01-02T00:01:00Z", &all, Computation::default()).await;
    let curl = Covered::binaries(["curl".to_owned(), "libcurl4".to_owned()].into());
    let sights = store.first_sights_of("h1", &curl).await.unwrap();
    assert_eq!(sights.len(), 2);
    assert_eq!(
        sights.get("curl", "CVE-1"),
        Some(at("2026-01-02T00:01:00Z"))
    );
    assert_eq!(sights.get("bash", "CVE-2"), None);
    // curl's finding changed tier, libcurl4's is gone, a new one for curl: bash and zlib1g are
    // not part of the computation and stay open as they were.
    let part = [finding("curl", "CVE-1", 0), finding("curl", "CVE-4", 2)];
    let only = Computation {
        basis: None,
        only: Some(&curl),
        texts: None,
        packed: None,
    };
    let recorded = record(&store, "2026-01-03T00:00:00Z", &part, only).await;
    let change = HistoryChange {
        opened: 1,
        reopened: 0,
        kept: 1,
        fixed: 1,
    };
    assert_eq!(recorded, Recorded::Recorded(change));
    assert_eq!(
        shown(&store).await,
        owned(&[
            ("bash", "CVE-2", 3, false),
            ("curl", "CVE-1", 0, false),
            ("curl", "CVE-4", 2, false),
            ("zlib1g", "CVE-3", 3, false),
            ("libcurl4", "CVE-1", 1, true),
        ])
    );
    let counts = store.open_tier_counts(at("2026-01-01T00:00:00Z")).await;
    assert_eq!(counts.unwrap().map(|(open, _)| open), [1, 0, 1, 2, 0]);
}

/// A computation of some findings by key (a re-rank by advisory) compares, writes and closes
/// only those: the same binaries' other findings stay open as they were.
async fn a_computation_by_key_keeps_the_binaries_other_findings(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    let all = [
        finding("curl", "CVE-1", 1),
        finding("curl", "CVE-5", 2),
        finding("bash", "CVE-2", 3),
    ];
    record(&store, "2026-01-02T00:01:00Z", &all, Computation::default()).await;
    let basis = store.ranking_basis("h1").await.unwrap().unwrap();
    assert_eq!((basis.source.as_str(), basis.findings), ("test", 0));
    let curl_zlib = ["curl".to_owned(), "zlib1g".to_owned()].into();
    let of = store.open_findings_of("h1", &curl_zlib).await.unwrap();
    assert_eq!(of, 2);
    let keys = |keys: &[(&str, &str)]| Covered {
        binaries: Default::default(),
        keys: (keys.iter())
            .map(|(b, a)| ((*b).to_owned(), (*a).to_owned()))
            .collect(),
    };
    let covered = keys(&[("curl", "CVE-5"), ("curl", "CVE-9")]);
    let sights = store.first_sights_of("h1", &covered).await.unwrap();
    assert_eq!(sights.len(), 1);
    assert!(sights.get("curl", "CVE-5").is_some());
    let part = [finding("curl", "CVE-5", 0), finding("curl", "CVE-9", 1)];
    let only = Computation {
        basis: None,
        only: Some(&covered),
        texts: None,
        packed: None,
    };
    let recorded = record(&store, "2026-01-03T00:00:00Z", &part, only).await;
    let change = HistoryChange {
        opened: 1,
        reopened: 0,
        kept: 1,
        fixed: 0,
    };
    assert_eq!(recorded, Recorded::Recorded(change));
    // CVE-1's finding covered and not found again: closed; CVE-5's stays.
    let covered = keys(&[("curl", "CVE-1")]);
    let only = Computation {
        basis: None,
        only: Some(&covered),
        texts: None,
        packed: None,
    };
    record(&store, "2026-01-04T00:00:00Z", &[], only).await;
    assert_eq!(
        shown(&store).await,
        owned(&[
            ("bash", "CVE-2", 3, false),
            ("curl", "CVE-5", 0, false),
            ("curl", "CVE-9", 1, false),
            ("curl", "CVE-1", 1, true),
        ])
    );
}

on_both_backends!(
    a_ranking_from_before_has_no_basis,
    the_basis_is_stored_and_forgotten,
    a_computation_of_some_binaries_keeps_the_others,
    a_computation_by_key_keeps_the_binaries_other_findings,
);
