//! Protection records (backups and snapshots of host changes) on SQLite and PostgreSQL: stored
//! per rollout host and item name, read back in order with their restore; the same item again
//! replaces the first; a host outside the rollout is refused by the foreign key.

use pw_protocol::{ProtectionRecordView, RecordStatus};
use pw_store::Backend;

#[macro_use]
mod common;

use common::{at, rollout_r1, store_with_host};

fn record(name: &str, taken_at: &str, restored: Option<bool>) -> ProtectionRecordView {
    ProtectionRecordView {
        step: "backup".into(),
        kind: "postgres_backup".into(),
        name: name.into(),
        taken_at: at(taken_at),
        size_bytes: 3_000_000_000,
        status: RecordStatus::Verified,
        location: format!("/var/backups/pw/{name}/app.dump"),
        expires_at: at("2026-12-11T10:00:00Z"),
        take_ms: 1234,
        verify_ms: 5678,
        detail: "2 tables, 20002 rows match".into(),
        restored_ok: restored,
        restored: restored.map(|ok| if ok { "restored" } else { "pg_restore failed" }.into()),
    }
}

async fn records_are_stored_replaced_and_read_back_in_order(backend: Backend) {
    let (_dir, store) = store_with_host(backend).await;
    rollout_r1(&store, "pending").await;
    assert!(store.rollout_protection("r1").await.unwrap().is_empty());
    let later = record("pw-2-backup", "2026-12-04T10:05:00Z", None);
    let first = ProtectionRecordView {
        status: RecordStatus::Failed,
        kind: "files_backup".into(),
        ..record("pw-1-backup", "2026-12-04T10:00:00Z", Some(false))
    };
    store
        .record_protection("r1", "h1", "c1", &[later.clone(), first.clone()])
        .await
        .unwrap();
    let read = store.rollout_protection("r1").await.unwrap();
    assert_eq!(
        read,
        [("h1".to_owned(), first.clone()), ("h1".to_owned(), later)]
    );
    // The same item from a later report (restored after the rollback) replaces it.
    let restored = record("pw-2-backup", "2026-12-04T10:05:00Z", Some(true));
    store
        .record_protection("r1", "h1", "c2", std::slice::from_ref(&restored))
        .await
        .unwrap();
    let read = store.rollout_protection("r1").await.unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[1].1, restored);
    assert!(store.rollout_protection("r2").await.unwrap().is_empty());
    // A host that is not part of the rollout.
    let error = store
        .record_protection("r1", "h9", "c3", &[first])
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("host h9 in rollout r1"),
        "{error:#}"
    );
}

on_both_backends!(records_are_stored_replaced_and_read_back_in_order);
