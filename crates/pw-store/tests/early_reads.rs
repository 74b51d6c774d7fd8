//! A group write reads its hosts' open findings before its turn in the writers' line
//! (src/findings_early.rs) and uses them only if the host was not written since: here another
//! replica's write (its own line) changes the host's open findings between the early read and
//! the turn, and the write still compares its computation with the open findings as they are.
//! On SQLite and PostgreSQL.

use std::time::Duration;

#[macro_use]
mod common;

use common::findings::finding;
use common::{at, fresh_store};
use pw_store::{Backend, Computation, CurrentFinding, FindingsSnapshot, Store};

/// The advisories of the host's open findings.
async fn open_advisories(store: &Store) -> Vec<String> {
    let sql = "SELECT advisory FROM open_findings_named WHERE host_id = 'h1' ORDER BY advisory";
    sqlx::query_scalar(sql)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

async fn a_host_written_after_the_early_read_is_read_again(backend: Backend) {
    let (_guard, store) = fresh_store(backend).await;
    common::enroll(&store, "h1").await;
    let all: Vec<CurrentFinding> = (0..4).map(|i| finding(i, "s", false)).collect();
    common::record_round(&store, ("h1", 0), &all, Computation::default()).await;
    assert_eq!(open_advisories(&store).await, ["A0", "A1", "A2", "A3"]);
    // Round 1's inventory, stored before the line is held.
    let collected = at("2026-01-01T01:00:00Z");
    let inventory = common::inventory(&collected.to_string());
    (store.store_inventory("h1", "h1", inventory, None).await).unwrap();

    // Another replica holds the database's write lock; this one's write of round 1 reads
    // early, then waits for it.
    let other = Store::connect(store.url()).await.unwrap();
    let mut held = other.begin_immediate().await.unwrap();
    let writer = store.clone();
    let all_again = all.clone();
    let write = tokio::spawn(async move {
        let snapshot = FindingsSnapshot {
            host_id: "h1",
            inventory_collected_at: collected,
            computed_at: collected + jiff::SignedDuration::from_mins(1),
            source: "test",
            findings_json: "[]",
            tier_counts_json: "[0,0,0,0,0]",
            current: &all_again,
            backported: &[],
        };
        writer
            .record_computation(&snapshot, &Computation::default())
            .await
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!write.is_finished(), "the write did not wait for the lock");
    // The other replica's write: A1 closed, as a findings write would, with its time.
    sqlx::query(
        "DELETE FROM open_episodes WHERE key_id =
           (SELECT id FROM finding_keys WHERE advisory = 'A1')",
    )
    .execute(&mut *held)
    .await
    .unwrap();
    sqlx::query("UPDATE host_findings SET computed_at = $1 WHERE host_id = 'h1'")
        .bind(at("2026-01-01T00:30:00Z").to_string())
        .execute(&mut *held)
        .await
        .unwrap();
    held.commit().await.unwrap();
    write.await.unwrap().unwrap();
    // Compared with the open findings as they were at its turn, A1 is opened again; compared
    // with the early read's, it would have been kept (and stayed closed).
    assert_eq!(open_advisories(&store).await, ["A0", "A1", "A2", "A3"]);
    other.close().await;
}

on_both_backends!(a_host_written_after_the_early_read_is_read_again);
