//! Migration 0053 (an open episode's tier and episode number kept in its host's stamp,
//! `open_episodes` four integers) on both backends: a database written at 0052 reads back every
//! open finding and summary row as it was, each host has one stamp per distinct first sight,
//! deadline, tier and episode, and the write path keeps them after it; on PostgreSQL an open
//! episode takes a 40-byte tuple.

use pw_model::{Finding, Tier};
use pw_store::{Backend, CurrentFinding, DatabaseUrl, Store};
use sqlx::Row;

#[macro_use]
mod common;

use common::at;
use common::findings::model_finding;

const SEEN: [&str; 2] = ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"];
const DUE: &str = "2026-02-01T00:00:00Z";

fn finding(k: usize, tier: Tier) -> Finding {
    Finding {
        tier,
        deadline: (tier != Tier::T4).then(|| at(DUE)),
        epss: (k == 1).then_some(0.25),
        kev: k == 2,
        ..model_finding(k)
    }
}

fn nanos(text: &str) -> i64 {
    i64::try_from(at(text).as_nanosecond()).unwrap()
}

/// The open episodes at 0052: (host key, finding number, episode, tier, first sight). On h1,
/// lib0–lib2 share a first sight and deadline (one stamp at 0052) with two tiers and three
/// episode numbers.
const OPEN: [(i64, usize, i64, Tier, usize); 7] = [
    (1, 0, 1, Tier::T1, 0),
    (1, 1, 3, Tier::T2, 0),
    (1, 2, 1, Tier::T2, 0),
    (1, 3, 2, Tier::T4, 0),
    (1, 4, 1, Tier::T1, 1),
    (2, 0, 1, Tier::T1, 0),
    (2, 3, 1, Tier::T4, 0),
];

/// A database at 0052 with hosts h1 and h2, the episodes of [`OPEN`] (each host's pairs of
/// first sight and deadline as stamps) and the update summaries grouped from them, written with
/// SQL; and its rows ([`rows`]).
async fn database_at_0052(
    backend: Backend,
) -> (Option<tempfile::TempDir>, DatabaseUrl, Vec<String>) {
    let (dir, url, pool) = common::unmigrated_database(backend).await;
    common::migrate_up_to(backend, &pool, 52).await;
    common::insert_finding_hosts(&pool, 2, SEEN[1]).await;
    common::open_0052::insert_update_keys(&pool).await;
    for (host, k, episode, tier, seen) in OPEN {
        let f = finding(k, tier);
        let key = common::insert_finding_key_once(&pool, &f).await;
        let text = common::insert_finding_text_0047(&pool, &f, 1 + (k as i64 % 2)).await;
        let stamp = 1 + i64::from(f.deadline.is_none()) + 2 * seen as i64;
        let row = (host, key, episode, stamp, tier.index() as i64, text);
        let instants = (nanos(SEEN[seen]), f.deadline.is_some().then(|| nanos(DUE)));
        common::open_0052::insert_episode(&pool, row, instants).await;
    }
    common::insert_update_summaries(&pool).await;
    let before = rows(&pool).await;
    pool.close().await;
    (dir, url, before)
}

/// Every open finding with its names (the view every reader reads) and every summary row, each
/// as a line of text.
async fn rows(pool: &sqlx::AnyPool) -> Vec<String> {
    let open = "SELECT host_id, binary_name, advisory, episode, first_seen, tier, deadline,
                       text_id, host_key, key_id
                FROM open_findings_named ORDER BY host_key, key_id";
    let mut lines: Vec<String> = (sqlx::query(open).fetch_all(pool).await.unwrap().iter())
        .map(|r| {
            let names: (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let numbers: Vec<Option<i64>> = (3..r.len()).map(|i| r.get(i)).collect();
            format!("{names:?} {numbers:?}")
        })
        .collect();
    let (summaries, _) = common::summary_rows(pool).await;
    lines.extend(summaries);
    lines
}

/// Every stamp: (host key, first seen, deadline, tier, episode), in order; and whether each
/// host's stamp numbers are distinct.
async fn stamps(pool: &sqlx::AnyPool) -> Vec<(i64, i64, Option<i64>, i64, i64)> {
    let sql = "SELECT host_key, first_seen, deadline, tier, episode FROM open_stamps";
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    let mut stamps: Vec<_> = (rows.iter())
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    stamps.sort();
    stamps
}

/// The names of `open_episodes`' columns, in order.
async fn episode_columns(pool: &sqlx::AnyPool) -> Vec<String> {
    let row = sqlx::query("SELECT * FROM open_episodes LIMIT 1");
    let row = row.fetch_one(pool).await.unwrap();
    (row.columns().iter())
        .map(|c| sqlx::Column::name(c).to_owned())
        .collect()
}

async fn migration_0053_keeps_the_open_set(backend: Backend) {
    let (_guard, url, before) = database_at_0052(backend).await;
    assert_eq!(before.len(), 7 + 4, "{before:#?}");
    let store = Store::connect(&url).await.unwrap();
    let pool = store.pool();
    assert_eq!(
        rows(pool).await,
        before,
        "every open finding and summary kept"
    );
    assert_eq!(
        episode_columns(pool).await,
        ["host_key", "key_id", "stamp", "text_id"]
    );
    let (s0, s1, due) = (nanos(SEEN[0]), nanos(SEEN[1]), Some(nanos(DUE)));
    assert_eq!(
        stamps(pool).await,
        [
            (1, s0, None, 4, 2),
            (1, s0, due, 1, 1),
            (1, s0, due, 2, 1),
            (1, s0, due, 2, 3),
            (1, s1, due, 1, 1),
            (2, s0, None, 4, 1),
            (2, s0, due, 1, 1),
        ]
    );
    let numbers: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT host_key, COUNT(*), COUNT(DISTINCT stamp) FROM open_stamps GROUP BY host_key
         ORDER BY host_key",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(numbers, [(1, 5, 5), (2, 2, 2)]);

    // h1 computed again: lib0 kept, lib1 from tier 2 to 1 (its episode 3 kept), lib2 gone,
    // lib3 and lib4 kept, lib5 new.
    let now = "2026-02-10T00:00:00Z";
    let current: Vec<CurrentFinding> = [
        finding(0, Tier::T1),
        finding(1, Tier::T1),
        finding(3, Tier::T4),
        finding(4, Tier::T1),
        finding(5, Tier::T3),
    ]
    .iter()
    .map(|f| CurrentFinding::of(f).unwrap())
    .collect();
    common::record_at(&store, "h1", now, &current).await;
    let open: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT host_id, binary_name, episode, tier FROM open_findings_named
         ORDER BY host_id, binary_name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let e = |host: &str, binary: &str, episode, tier| {
        (host.to_owned(), binary.to_owned(), episode, tier)
    };
    assert_eq!(
        open,
        [
            e("h1", "lib0", 1, 1),
            e("h1", "lib1", 3, 1),
            e("h1", "lib3", 2, 4),
            e("h1", "lib4", 1, 1),
            e("h1", "lib5", 1, 3),
            e("h2", "lib0", 1, 1),
            e("h2", "lib3", 1, 4),
        ]
    );
    let h1: Vec<_> = (stamps(pool).await.into_iter())
        .filter(|s| s.0 == 1)
        .collect();
    assert_eq!(
        h1,
        [
            (1, s0, None, 4, 2),
            (1, s0, due, 1, 1),
            (1, s0, due, 1, 3),
            (1, s1, due, 1, 1),
            (1, nanos(now), due, 3, 1),
        ],
        "a changed tier names another stamp; the stamps no open finding names are gone"
    );
    let (stored, grouped) = common::summary_rows(pool).await;
    assert_eq!(stored, grouped);
}

on_both_backends!(migration_0053_keeps_the_open_set);

/// On PostgreSQL, 50,000 open episodes take at most 48 bytes each in the table (a 24-byte tuple
/// header and 16 bytes of values, and a 4-byte line pointer; 52 with the tier and episode on
/// the row, as at 0052) and at most 24 in the primary key.
#[tokio::test]
async fn postgres_keeps_an_open_episode_in_a_40_byte_tuple() {
    let (_guard, store) = common::fresh_store(Backend::Postgres).await;
    let pool = store.pool();
    sqlx::query(
        "INSERT INTO open_episodes (host_key, key_id, stamp, text_id)
         SELECT 1 + n / 800, n, 1 + n % 5, n FROM generate_series(1, 50000) AS n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("VACUUM FULL open_episodes")
        .execute(pool)
        .await
        .unwrap();
    let table = common::bytes_per_row(pool, "open_episodes", 50_000).await;
    let key = common::bytes_per_row(pool, "open_episodes_pkey", 50_000).await;
    assert!(table <= 48, "{table} bytes per row in the table");
    assert!(key <= 24, "{key} bytes per row in the primary key");
}
