//! The scheduler lease between two controllers (two stores, two pools) on one database: on
//! PostgreSQL one holds it, the other does not; when the holder's lease connection ends —
//! dropped, or cut by the server as when its process is killed — the other takes it, and the
//! old holder finds out on its next check. On SQLite (one controller per file) it is always held.

use std::time::{Duration, Instant};

use pw_store::{Backend, DatabaseUrl, SchedulerLease, Store};

mod common;

/// Checks `store`'s lease until it is held, for at most 10 s (PostgreSQL notices a closed
/// connection shortly after it closes).
async fn until_held(store: &Store, lease: &mut Option<SchedulerLease>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.keep_scheduler_lease(lease).await.unwrap() {
        assert!(Instant::now() < deadline, "the lease was never released");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn one_controller_holds_the_lease_and_another_takes_it_over() {
    let cluster = pw_testbed::postgres::shared();
    let url = DatabaseUrl::parse(&cluster.database().unwrap()).unwrap();
    let first = Store::connect(&url).await.unwrap();
    let second = Store::connect(&url).await.unwrap();
    let (mut a, mut b) = (None, None);
    assert!(first.keep_scheduler_lease(&mut a).await.unwrap());
    assert!(!second.keep_scheduler_lease(&mut b).await.unwrap());
    assert!(first.keep_scheduler_lease(&mut a).await.unwrap(), "kept");

    // The holder goes away: the other takes the lease.
    drop(a.take());
    until_held(&second, &mut b).await;
    assert!(!first.keep_scheduler_lease(&mut a).await.unwrap());

    // The server cuts the holder's connection (its process killed): the first takes it back
    // and the second finds out on its next check.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND CAST(objid AS bigint) = $1",
    )
    .bind(0x7077_0002_i64)
    .execute(first.pool())
    .await
    .unwrap();
    until_held(&first, &mut a).await;
    assert!(!second.keep_scheduler_lease(&mut b).await.unwrap());
    assert!(b.is_none());
}

#[tokio::test]
async fn a_sqlite_controller_always_holds_it() {
    let (_guard, store) = common::fresh_store(Backend::Sqlite).await;
    let mut lease = None;
    assert!(store.keep_scheduler_lease(&mut lease).await.unwrap());
    assert!(store.keep_scheduler_lease(&mut lease).await.unwrap());
}
