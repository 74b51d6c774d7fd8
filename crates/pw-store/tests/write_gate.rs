//! The process's line of writers (src/write_gate.rs): writers waiting for their turn hold no
//! database connection, so reads go on while a write transaction is open and many writers
//! wait behind it; each writer gets its turn when the one before it commits or is dropped, and
//! none fails on the database's lock. An agent's inventory report goes ahead of the ordinary
//! writers behind the line's front.

use std::time::Duration;

use pw_store::Backend;

#[macro_use]
mod common;

use common::at;

/// More writers than the pool has connections (4 on SQLite, 10 on PostgreSQL).
const WRITERS: usize = 12;

async fn waiting_writers_leave_the_connections_to_readers(backend: Backend) {
    let (_guard, store) = common::store_with_host(backend).await;
    let open = store.begin_immediate().await.unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let now = at("2026-02-01T00:00:00Z");
                store
                    .record_heartbeats(&[pw_store::HeartbeatRow {
                        host_id: "h1".into(),
                        at: now,
                        agent_version: format!("1.{i}"),
                        read_only: false,
                        plan_changes: false,
                    }])
                    .await?;
                let mut tx = store.begin_immediate().await?;
                sqlx::query("UPDATE hosts SET agent_version = $1 WHERE id = 'h1'")
                    .bind(format!("2.{i}"))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                anyhow::Ok(())
            })
        })
        .collect();
    // Every writer is waiting now (the open transaction holds the turn).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let read = tokio::time::timeout(Duration::from_secs(3), store.hosts()).await;
    let hosts = read.expect("a read waited behind the writers").unwrap();
    assert_eq!(hosts.len(), 1);
    open.commit().await.unwrap();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let host = store.host("h1").await.unwrap().unwrap();
    assert!(host.agent_version.unwrap().starts_with("2."));
}

async fn a_dropped_transaction_rolls_back_and_passes_the_turn(backend: Backend) {
    let (_guard, store) = common::store_with_host(backend).await;
    let mut tx = store.begin_immediate().await.unwrap();
    sqlx::query("UPDATE hosts SET hostname = 'gone' WHERE id = 'h1'")
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    let next = tokio::time::timeout(Duration::from_secs(5), store.begin_immediate()).await;
    next.expect("the turn passed on")
        .unwrap()
        .commit()
        .await
        .unwrap();
    let host = store.host("h1").await.unwrap().unwrap();
    assert_eq!(host.hostname, "web-1");
}

/// Three ordinary writers wait behind an open transaction; an inventory report, which arrives
/// last, goes after the one at the line's front and before the other two, and they all write.
async fn a_report_goes_ahead_of_the_ordinary_writers_behind_the_front(backend: Backend) {
    let (_guard, store) = common::store_with_host(backend).await;
    let order = common::Order::default();
    let open = store.begin_immediate().await.unwrap();
    let writers = common::ordinary_writers(&store, &order, 3).await;
    let report = {
        let (store, order) = (store.clone(), order.clone());
        tokio::spawn(async move {
            let inventory = common::inventory("2026-02-01T00:00:00Z");
            let stored = store.store_inventory("h1", "web-1", inventory, None);
            // Counted once committed: the next ordinary writer may be in its turn already.
            let stored = stored.await.unwrap();
            (stored, order.lock().unwrap().len())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    open.commit().await.unwrap();
    let (stored, before) = report.await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(stored.outcome, pw_store::InventoryStored::Changed);
    assert!(
        before <= 2,
        "the report waited for {before} ordinary writers: {:?}",
        order.lock().unwrap()
    );
    assert_eq!(
        order.lock().unwrap().len(),
        3,
        "every ordinary writer wrote"
    );
}

on_both_backends!(
    waiting_writers_leave_the_connections_to_readers,
    a_dropped_transaction_rolls_back_and_passes_the_turn,
    a_report_goes_ahead_of_the_ordinary_writers_behind_the_front,
);

/// SQLite: no checkpoint inside a commit (the automatic one is off); every 16th write
/// transaction's commit starts one beside the writers, which moves the WAL's pages into the
/// database file.
#[tokio::test]
async fn sqlite_checkpoints_beside_the_writers_every_16_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patchwarden.db");
    let store = pw_store::Store::open(&path).await.unwrap();
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    let expires = at("2100-01-01T00:00:00Z");
    for i in 1..=16 {
        assert_eq!(
            size(),
            before,
            "the database file changed before commit {i}"
        );
        let (id, sha) = (format!("tok-{i}"), format!("sha-{i}"));
        store
            .create_enrollment_token(&id, &sha, expires, None, "alice")
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 16 commits"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
}

/// SQLite: a WAL over its bound (16,384 frames) is truncated by the checkpointer in the
/// writers' line; a passive checkpoint alone leaves the file at its largest (under steady
/// reads it grew without bound: 5.1 GB at 10,000 agents).
#[tokio::test]
async fn sqlite_truncates_a_wal_over_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patchwarden.db");
    let store = pw_store::Store::open(&path).await.unwrap();
    let wal = dir.path().join("patchwarden.db-wal");
    let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    // 16 commits of ~1,100 pages each: over the bound at the 16th commit's checkpoint.
    for i in 0..16 {
        let mut tx = store.begin_immediate().await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS wal_test (n INTEGER, x BLOB)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO wal_test VALUES ($1, randomblob(4500000))")
            .bind(i)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let largest = 4096 * pw_store::WAL_FRAMES_BOUND as u64;
    assert!(wal_size() > largest, "the WAL never passed its bound");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while wal_size() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not truncated: {} bytes",
            wal_size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing was lost: every row is in the database file.
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wal_test")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 16);
    store.close().await;
}

/// SQLite: every write transaction runs on the one writing connection, whose page cache
/// (32 MiB) stays valid from one write to the next — a store on a pool of its own (the
/// scheduler's) writes there too; reads run on the pool with SQLite's default cache.
#[tokio::test]
async fn sqlite_writes_run_on_one_connection_with_its_own_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = pw_store::Store::open(&dir.path().join("patchwarden.db"))
        .await
        .unwrap();
    // A temporary table is seen only by the connection that made it.
    let mut tx = store.begin_immediate().await.unwrap();
    sqlx::query("CREATE TEMP TABLE writer_mark (n INTEGER)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let own = store.with_own_pool(2).await.unwrap();
    for (i, writer) in [&store, &own, &store].into_iter().enumerate() {
        let mut tx = writer.begin_immediate().await.unwrap();
        sqlx::query("INSERT INTO writer_mark VALUES ($1)")
            .bind(i as i64)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("write {i} ran on another connection: {e}"));
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(cache, -32_768, "write {i}: the writing connection's cache");
        tx.commit().await.unwrap();
    }
    // Reads on the pool: SQLite's default cache, and the writer's table is not theirs.
    let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(cache, -2_000);
    let read = sqlx::query("SELECT n FROM writer_mark")
        .fetch_all(store.pool())
        .await;
    assert!(read.is_err(), "a read ran on the writing connection");
    store.close().await;
}
