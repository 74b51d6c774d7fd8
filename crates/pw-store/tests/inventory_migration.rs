//! Migration 0034 on both backends: inventories stored before it (the JSON list of packages)
//! are converted to the compact form when the store opens — the same packages read back, the
//! digest the protocol computes, the package count of the content — and a delta then applies
//! to them.

#[macro_use]
mod common;

use pw_model::InstalledPackage;
use pw_protocol::{BackportHistory, InventoryContent};
use pw_store::{Backend, ContentChange, DatabaseUrl, InventoryStored, Store};
use sqlx::Row;

on_both_backends!(inventories_from_before_0034_are_converted);

const LEGACY: &str = r#"[{"name":"libssl3","version":"3.0.17-1~deb12u2","arch":"amd64","source":"openssl"},
  {"name":"bash","version":"5.2.15-2+b2","arch":"amd64"}]"#;

/// A database migrated up to (not including) 0034 with host `h1` and its inventory as
/// written then; its URL.
async fn old_database(backend: Backend, dir: &std::path::Path) -> String {
    static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
    static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
    let (url, all) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.join("old.db").display()),
            &SQLITE,
        ),
        Backend::Postgres => (
            pw_testbed::postgres::shared().database().unwrap(),
            &POSTGRES,
        ),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let old: Vec<_> = all.iter().filter(|m| m.version < 34).cloned().collect();
    sqlx::migrate::Migrator::with_migrations(old)
        .run(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO hosts (id, hostname, enrolled_at) VALUES ('h1', 'web-1', $1)")
        .bind("2026-01-01T00:00:00Z")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO inventories (host_id, reported_at, collected_at, os, packages,
           package_count, reboot_required, reboot_required_by, pending_reported,
           backport_history)
         VALUES ('h1', $1, $1, 'debian:12', $2, 2, 0, '[]', 0, $3)",
    )
    .bind("2026-01-02T00:00:00Z")
    .bind(LEGACY)
    .bind(r#"{"libssl3":["CVE-2023-0286"]}"#)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    url
}

async fn inventories_from_before_0034_are_converted(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = old_database(backend, dir.path()).await;
    let url = match backend {
        Backend::Sqlite => DatabaseUrl::sqlite_file(&dir.path().join("old.db")),
        Backend::Postgres => DatabaseUrl::parse(&url).unwrap(),
    };
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store.convert_legacy_inventories().await.unwrap(),
        0,
        "done on open"
    );

    let legacy: Vec<InstalledPackage> = serde_json::from_str(LEGACY).unwrap();
    let history = BackportHistory::from([("libssl3".into(), vec!["CVE-2023-0286".into()])]);
    let content = InventoryContent::new(legacy, Some(history.clone()));
    let stored = store.inventory("h1").await.unwrap().unwrap();
    assert_eq!(
        stored.packages,
        content.clone().into_parts().0,
        "in key order"
    );
    assert_eq!(stored.packages[1].source.as_deref(), Some("openssl"));
    assert_eq!(stored.backport_history, Some(history));
    let row = sqlx::query("SELECT packages, digest FROM inventories WHERE host_id = 'h1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let blob: Vec<u8> = row.get("packages");
    assert_eq!(blob[..2], [2, 1], "the compact form's tag and dictionary");
    assert!(blob.len() < LEGACY.len(), "{} bytes", blob.len());
    let digest: String = row.get("digest");
    assert_eq!(digest, content.digest());

    // The converted row is a delta's base like any other.
    let mut newer = content.clone();
    newer.apply(&pw_protocol::ContentDelta {
        removed: vec![pw_protocol::PackageKey {
            name: "bash".into(),
            arch: "amd64".into(),
        }],
        backport_history: Some(Default::default()),
        ..Default::default()
    });
    let changes = content.delta_to(&newer);
    let result = newer.digest();
    let change = ContentChange {
        base: &digest,
        result: &result,
        changes: &changes,
    };
    let facts = common::inventory("2026-01-03T00:00:00Z").facts;
    let applied = store
        .store_inventory_delta(("h1", "web-1"), &facts, change, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.outcome, InventoryStored::Changed);
    assert_eq!(applied.packages, 1);
}
