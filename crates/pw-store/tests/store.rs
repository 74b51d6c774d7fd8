//! pw-store on SQLite and PostgreSQL: idempotent imports, modified dates kept, rollback of a
//! failed import, KEV replacement and EPSS upserts.

use jiff::Timestamp;
use pw_store::{AdvisoryRow, Backend, EpssRow, ImportCounts, KevRow, Store};

#[macro_use]
mod common;

fn advisory(id: &str, modified: &str, ecosystem: &str, name: &str) -> AdvisoryRow {
    AdvisoryRow {
        id: id.into(),
        modified: modified.parse().unwrap(),
        published: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        withdrawn: None,
        summary: format!("{id} summary"),
        packages: vec![(ecosystem.into(), name.into())],
        record: format!(r#"{{"id":"{id}","modified":"{modified}"}}"#),
    }
}

async fn import(store: &Store, rows: &[AdvisoryRow]) -> ImportCounts {
    let mut tx = store.begin_import().await.unwrap();
    let mut counts = ImportCounts::default();
    for row in rows {
        tx.upsert_advisory(row, "test", &mut counts).await.unwrap();
    }
    tx.record_run("osv", "test", counts).await.unwrap();
    tx.commit().await.unwrap();
    counts
}

async fn reimport_is_idempotent_and_keeps_newer_records(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let first = vec![
        advisory("DSA-1", "2024-05-01T00:00:00Z", "Debian:12", "openssl"),
        advisory("ALSA-2", "2024-05-01T10:00:00.5Z", "AlmaLinux:9", "kernel"),
    ];
    let counts = import(&store, &first).await;
    assert_eq!(
        (counts.inserted, counts.updated, counts.unchanged),
        (2, 0, 0)
    );
    let again = import(&store, &first).await;
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 2));

    // An older copy never overwrites; a newer one does (compared as instants, not text).
    let older = advisory("DSA-1", "2024-04-30T23:59:59.999Z", "Debian:12", "openssl");
    let newer = advisory("ALSA-2", "2024-05-01T10:00:01Z", "AlmaLinux:9", "kernel");
    let counts = import(&store, &[older, newer]).await;
    assert_eq!(
        (counts.inserted, counts.updated, counts.unchanged),
        (0, 1, 1)
    );
    let dsa = store.advisory("DSA-1").await.unwrap().unwrap();
    assert_eq!(
        dsa.modified,
        "2024-05-01T00:00:00Z".parse::<Timestamp>().unwrap()
    );
    let alsa = store.advisory("ALSA-2").await.unwrap().unwrap();
    assert_eq!(
        alsa.modified,
        "2024-05-01T10:00:01Z".parse::<Timestamp>().unwrap()
    );
}

async fn loads_by_ecosystem_prefix(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    import(
        &store,
        &[
            advisory("A", "2024-01-01T00:00:00Z", "Debian:12", "openssl"),
            advisory("B", "2024-01-01T00:00:00Z", "AlmaLinux:9", "openssl"),
            advisory("C", "2024-01-01T00:00:00Z", "AlmaLinux:8", "openssl"),
            advisory("D_%", "2024-01-01T00:00:00Z", "Ubuntu:22.04:LTS", "sudo"),
        ],
    )
    .await;
    let ids = |v: Vec<pw_store::StoredAdvisory>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.advisories_for(&["Debian:"]).await.unwrap()),
        ["A"]
    );
    assert_eq!(
        ids(store.advisories_for(&["AlmaLinux:9"]).await.unwrap()),
        ["B"]
    );
    assert_eq!(
        ids(store
            .advisories_for(&["AlmaLinux:", "Debian:"])
            .await
            .unwrap()),
        ["A", "B", "C"]
    );
    assert!(
        store
            .advisories_for(&["Alma_inux"])
            .await
            .unwrap()
            .is_empty(),
        "LIKE wildcards are escaped"
    );
}

async fn a_dropped_import_leaves_the_database_as_it_was(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    import(
        &store,
        &[advisory("A", "2024-01-01T00:00:00Z", "Debian:12", "x")],
    )
    .await;
    {
        let mut tx = store.begin_import().await.unwrap();
        let mut counts = ImportCounts::default();
        tx.upsert_advisory(
            &advisory("A", "2025-01-01T00:00:00Z", "Debian:12", "x"),
            "t",
            &mut counts,
        )
        .await
        .unwrap();
        tx.upsert_advisory(
            &advisory("B", "2025-01-01T00:00:00Z", "Debian:12", "y"),
            "t",
            &mut counts,
        )
        .await
        .unwrap();
        // Dropped here: a parse error later in the same import would do this.
    }
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.advisories, 1);
    let a = store.advisory("A").await.unwrap().unwrap();
    assert_eq!(
        a.modified,
        "2024-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
    );
}

fn kev(cve: &str, added: &str) -> KevRow {
    KevRow {
        cve_id: cve.into(),
        date_added: added.into(),
        due_date: None,
        vendor_project: "v".into(),
        product: "p".into(),
        name: "n".into(),
        ransomware: "Unknown".into(),
        short_description: format!("{cve} description"),
        required_action: "Apply updates per vendor instructions.".into(),
        notes: "https://example.com/advisory".into(),
        cwes: vec!["CWE-20".into(), "CWE-502".into()],
    }
}

async fn kev_is_replaced_by_newer_catalogs_only(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let mut tx = store.begin_import().await.unwrap();
    let c = tx
        .replace_kev(
            "2025.08.25",
            &[kev("CVE-1", "2024-01-01"), kev("CVE-2", "2024-02-01")],
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.unchanged), (2, 0));
    tx.commit().await.unwrap();

    let mut tx = store.begin_import().await.unwrap();
    let c = tx
        .replace_kev("2025.01.01", &[kev("CVE-9", "2024-01-01")])
        .await
        .unwrap();
    assert_eq!(c.unchanged, 1, "an older catalog is ignored");
    let c = tx
        .replace_kev(
            "2025.09.01",
            &[kev("CVE-1", "2024-01-01"), kev("CVE-3", "2025-09-01")],
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.unchanged), (1, 1));
    tx.commit().await.unwrap();
    let stored = store.kev().await.unwrap();
    let ids: Vec<_> = stored.iter().map(|k| k.cve_id.as_str()).collect();
    assert_eq!(
        ids,
        ["CVE-1", "CVE-3"],
        "CVE-2 was removed from the newer catalog"
    );
    // Every field is read back as written.
    assert_eq!(stored[1], kev("CVE-3", "2025-09-01"));
    assert_eq!(
        store.kev_catalog_version().await.unwrap().as_deref(),
        Some("2025.09.01")
    );
}

async fn epss_upserts_and_never_goes_back_in_time(backend: Backend) {
    let (_dir, store) = common::fresh_store(backend).await;
    let row = |p| EpssRow {
        cve_id: "CVE-2024-1".into(),
        probability: p,
        percentile: 0.5,
    };
    let mut tx = store.begin_import().await.unwrap();
    let c = tx
        .upsert_epss(Some("v1"), Some("2026-09-29T00:00:00Z"), &[row(0.1)])
        .await
        .unwrap();
    assert_eq!(c.updated, 1);
    let c = tx
        .upsert_epss(Some("v1"), Some("2026-09-29T00:00:00Z"), &[row(0.1)])
        .await
        .unwrap();
    assert_eq!(c.unchanged, 1);
    let c = tx
        .upsert_epss(Some("v1"), Some("2026-09-01T00:00:00Z"), &[row(0.9)])
        .await
        .unwrap();
    assert_eq!(c.unchanged, 1, "older score date");
    tx.upsert_epss(Some("v1"), Some("2026-10-01T00:00:00Z"), &[row(0.7)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let got = store.epss_for(&["CVE-2024-1", "CVE-2000-0"]).await.unwrap();
    assert_eq!(got, vec![row(0.7)]);
}

#[tokio::test]
async fn opening_uses_wal_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = Store::open(&path).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    import(
        &store,
        &[advisory("A", "2024-01-01T00:00:00Z", "Debian:12", "x")],
    )
    .await;
    store.close().await;
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.counts().await.unwrap().advisories, 1);
}

on_both_backends!(
    reimport_is_idempotent_and_keeps_newer_records,
    loads_by_ecosystem_prefix,
    a_dropped_import_leaves_the_database_as_it_was,
    kev_is_replaced_by_newer_catalogs_only,
    epss_upserts_and_never_goes_back_in_time,
);
